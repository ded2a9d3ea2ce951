/*
 * The device blocks of the configuration file: `device "NAME" { ... }`
 * with the core keys (module, socket, socket-mode, socket-owner,
 * socket-group, queue-mask); every other key is kept, in order, for the
 * module.  Split from conf.c.  Main thread only.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_priv.h"
#include "module.h"
#include "privsep.h"
#include "xmalloc.h"

static void	conf_parse_client(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_module(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_queue_mask(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_socket(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_socket_mode(struct conf_file *,
		    struct conf_device *, const char *);
static void	conf_parse_socket_owner(struct conf_file *,
		    struct conf_device *, const char *);

/* The core keys of a device block, sorted for bsearch; every other key
 * is a module key. */
static const struct conf_keyword conf_device_keywords[] = {
	{ "client", conf_parse_client },
	{ "module", conf_parse_module },
	{ "queue-mask", conf_parse_queue_mask },
	{ "socket", conf_parse_socket },
	{ "socket-group", conf_parse_socket_owner },
	{ "socket-mode", conf_parse_socket_mode },
	{ "socket-owner", conf_parse_socket_owner },
};

/* client yes|no (in a device block): connect to the socket the VMM
 * listens on instead of listening. */
static void
conf_parse_client(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value;

	if (conf_parse_value(f, 1, key, &value) != 0)
		return;
	if (strcmp(value, "yes") == 0)
		cd->client = 1;
	else if (strcmp(value, "no") == 0)
		cd->client = 0;
	else
		conf_error(f, line, "device \"%s\": bad client '%s': yes or "
		    "no", cd->name, value);
	free(value);
}

/* module NAME (in a device block). */
static void
conf_parse_module(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value, *where;

	if (conf_parse_value(f, 1, key, &value) != 0)
		return;
	if (cd->module != NULL)
		conf_error(f, line, "device \"%s\": duplicate module",
		    cd->name);
	else {
		where = conf_where(f, line);
		conf_device_set_module(cd, value, where);
		free(where);
	}
	free(value);
}

/* socket PATH (in a device block). */
static void
conf_parse_socket(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value, *where;

	if (conf_parse_value(f, 1, key, &value) != 0)
		return;
	if (cd->socket != NULL)
		conf_error(f, line, "device \"%s\": duplicate socket",
		    cd->name);
	else {
		where = conf_where(f, line);
		conf_device_set_socket(cd, value, where);
		free(where);
	}
	free(value);
}

/* socket-mode OCTAL (in a device block). */
static void
conf_parse_socket_mode(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value;
	size_t		 i, len;
	unsigned	 mode = 0;

	if (conf_parse_value(f, 1, key, &value) != 0)
		return;
	len = strlen(value);
	for (i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '7')
			break;
		mode = mode * 8 + (unsigned)(value[i] - '0');
		if (mode > 0777)
			break;
	}
	if (len == 0 || i != len)
		conf_error(f, line, "device \"%s\": bad socket-mode '%s': an "
		    "octal mode from 0 to 0777 such as 0600", cd->name, value);
	else
		cd->socket_mode = (mode_t)mode;
	free(value);
}

/* socket-owner USER / socket-group GROUP (in a device block): a name or
 * a number, checked here and applied when the socket is bound. */
static void
conf_parse_socket_owner(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value, *cause = NULL, **dst;
	uid_t		 uid;
	gid_t		 gid;
	int		 rc;

	if (conf_parse_value(f, 1, key, &value) != 0)
		return;
	if (strcmp(key, "socket-owner") == 0) {
		rc = privsep_user(value, &uid, NULL, &cause);
		dst = &cd->socket_owner;
	} else {
		rc = privsep_group(value, &gid, &cause);
		dst = &cd->socket_group;
	}
	if (rc != 0) {
		conf_error(f, line, "device \"%s\": %s: %s", cd->name, key,
		    cause);
		free(cause);
		free(value);
		return;
	}
	free(*dst);
	*dst = value;
}

/* queue-mask MASK... (in a device block): one mask per worker. */
static void
conf_parse_queue_mask(struct conf_file *f, struct conf_device *cd,
    const char *key)
{
	unsigned	 line = f->tok_line;
	enum conf_token	 t;
	char		*cause;
	int		 dup = cd->nmasks != 0, n = 0;

	cd->nmasks = 0;
	for (;;) {
		t = conf_lex_peek(f);
		if (t != CONF_T_WORD && t != CONF_T_STRING)
			break;
		conf_lex_get(f);
		n++;
		if (conf_masks_add(cd, f->tok_text, &cause) != 0) {
			conf_error(f, line, "device \"%s\": %s", cd->name,
			    cause);
			free(cause);
			cd->nmasks = 0;
			conf_skip(f, 1, 0);
			return;
		}
	}
	if (conf_parse_end(f, 1, key) != 0)
		return;
	if (n == 0)
		conf_error(f, line, "device \"%s\": queue-mask: missing value",
		    cd->name);
	else if (dup)
		conf_error(f, line, "device \"%s\": duplicate queue-mask",
		    cd->name);
}

/* device NAME { ... }: a device block. */
void
conf_parse_device(struct conf_file *f, struct conf_device *unused __unused,
    const char *key)
{
	const struct conf_keyword	*kw;
	struct conf_device		*cd;
	enum conf_token			 t;
	unsigned			 line = f->tok_line, kline;
	char				 desc[CONF_TOKEN_MAX + 8];
	char				*where, *name, *value, *okey;

	t = conf_lex_peek(f);
	if (t != CONF_T_WORD && t != CONF_T_STRING) {
		if (t != CONF_T_ERROR)
			conf_error(f, line, "%s: missing name (found %s)", key,
			    conf_lex_desc(f, desc, sizeof desc));
		conf_skip(f, 0, 0);
		return;
	}
	conf_lex_get(f);
	name = xstrdup(f->tok_text);
	where = conf_where(f, line);
	cd = conf_device_new(f->p->conf, name, where);
	free(where);

	t = conf_lex_get(f);
	if (t != CONF_T_LBRACE) {
		if (t != CONF_T_ERROR)
			conf_error(f, line, "device \"%s\": expected '{' "
			    "(found %s)", name, conf_lex_desc(f, desc,
			    sizeof desc));
		/* A forgotten brace: parse the lines below as the block. */
		if (t != CONF_T_NEWLINE) {
			conf_skip(f, 0, 0);
			free(name);
			return;
		}
	}

	for (;;) {
		t = conf_lex_get(f);
		if (t == CONF_T_EOF) {
			conf_error(f, f->tok_line, "device \"%s\": missing '}' "
			    "(block opened at line %u)", name, line);
			break;
		}
		if (t == CONF_T_NEWLINE)
			continue;
		if (t == CONF_T_RBRACE) {
			conf_parse_end(f, 0, "'}'");
			break;
		}
		if (t == CONF_T_ERROR) {
			conf_skip(f, 1, 0);
			continue;
		}
		if (t != CONF_T_WORD) {
			conf_error(f, f->tok_line, "device \"%s\": expected a "
			    "key (found %s)", name, conf_lex_desc(f, desc,
			    sizeof desc));
			conf_skip(f, 1, t == CONF_T_LBRACE ? 1 : 0);
			continue;
		}
		kline = f->tok_line;
		kw = bsearch(f->tok_text, conf_device_keywords,
		    nitems(conf_device_keywords), sizeof *kw,
		    conf_keyword_cmp);
		if (kw != NULL) {
			kw->parse(f, cd, kw->name);
			continue;
		}
		/* Any other key is the module's; it checks it. */
		okey = xstrdup(f->tok_text);
		if (conf_parse_value(f, 1, okey, &value) == 0) {
			where = conf_where(f, kline);
			conf_device_option(cd, okey, value, where);
			free(where);
			free(value);
		}
		free(okey);
	}
	free(name);
}
