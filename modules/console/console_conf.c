/*
 * console: configuration keys.
 *
 * Device keys (config file device block or --option KEY=VALUE):
 *	portN SPEC		declare port N (0..30); SPEC below
 *	cols N, rows N		initial console size, 1..65535 (80x24)
 *	backlog BYTES		default output buffer per port (65536;
 *				4096..64M, k/m suffixes)
 *	resize-order ORDER	RESIZE payload: cols-rows (the spec and
 *				Linux since 5326ab737a47, default) or
 *				rows-cols (older Linux guests)
 *
 * SPEC is a comma-separated list of items: at most one backend (stdio,
 * pty, unix=PATH, tcp=[HOST:]PORT, file=PATH; default pty) and options
 * name=NAME, backlog=BYTES, client=refuse|replace, link=PATH (pty only).
 * Example: "port1 name=org.foo.0,unix=/run/foo.sock,client=replace".
 * Port 0 is the console and always exists (default: a pty).
 * Everything here runs on the main thread, in create.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

/* A device key and its parser. */
struct console_conf_key {
	const char	*name;
	int		(*parse)(struct console *, const char *, char **);
};

/* A port option (name=value) and its parser. */
struct console_conf_opt {
	const char	*name;
	int		(*parse)(struct console_port *, const char *, char **);
};

/* A backend word and its type. */
struct console_conf_be {
	const char	*name;
	enum console_be	 be;
	int		 has_value;	/* unix=PATH; pty and stdio take none */
};

static int	console_conf_cols(struct console *, const char *, char **);
static int	console_conf_rows(struct console *, const char *, char **);
static int	console_conf_backlog(struct console *, const char *, char **);
static int	console_conf_order(struct console *, const char *, char **);
static int	console_conf_opt_name(struct console_port *, const char *,
		    char **);
static int	console_conf_opt_backlog(struct console_port *, const char *,
		    char **);
static int	console_conf_opt_client(struct console_port *, const char *,
		    char **);
static int	console_conf_opt_link(struct console_port *, const char *,
		    char **);

static const struct console_conf_key console_conf_keys[] = {
	{ "backlog",		console_conf_backlog },
	{ "cols",		console_conf_cols },
	{ "resize-order",	console_conf_order },
	{ "rows",		console_conf_rows },
};

static const struct console_conf_opt console_conf_opts[] = {
	{ "backlog",	console_conf_opt_backlog },
	{ "client",	console_conf_opt_client },
	{ "link",	console_conf_opt_link },
	{ "name",	console_conf_opt_name },
};

static const struct console_conf_be console_conf_bes[] = {
	{ "file",	CONSOLE_BE_FILE,	1 },
	{ "pty",	CONSOLE_BE_PTY,		0 },
	{ "stdio",	CONSOLE_BE_STDIO,	0 },
	{ "tcp",	CONSOLE_BE_TCP,		1 },
	{ "unix",	CONSOLE_BE_UNIX,	1 },
};

#define CONSOLE_NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Parse a byte count with an optional k or m suffix; 0 or -1. */
static int
console_conf_bytes(const char *s, size_t *out)
{
	unsigned long long	 v, mul = 1;
	char			*end;

	if (*s < '0' || *s > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	if (*end == 'k' || *end == 'K') {
		mul = 1024;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		mul = 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v > CONSOLE_BACKLOG_MAX / mul)
		return (-1);
	v *= mul;
	if (v < CONSOLE_BACKLOG_MIN)
		return (-1);
	*out = (size_t)v;
	return (0);
}

/* Key cols. */
static int
console_conf_cols(struct console *con, const char *v, char **cause)
{
	uint64_t	 n;

	if (con->api->parse_u64(v, 1, 65535, &n) != 0) {
		*cause = console_cause("console: bad cols '%s': expected "
		    "1..65535", v);
		return (-1);
	}
	con->cols = (uint16_t)n;
	return (0);
}

/* Key rows. */
static int
console_conf_rows(struct console *con, const char *v, char **cause)
{
	uint64_t	 n;

	if (con->api->parse_u64(v, 1, 65535, &n) != 0) {
		*cause = console_cause("console: bad rows '%s': expected "
		    "1..65535", v);
		return (-1);
	}
	con->rows = (uint16_t)n;
	return (0);
}

/* Key backlog: the default for ports without their own. */
static int
console_conf_backlog(struct console *con, const char *v, char **cause)
{
	if (console_conf_bytes(v, &con->backlog) != 0) {
		*cause = console_cause("console: bad backlog '%s': expected "
		    "%d..%d bytes (k and m suffixes allowed)", v,
		    CONSOLE_BACKLOG_MIN, CONSOLE_BACKLOG_MAX);
		return (-1);
	}
	return (0);
}

/* Key resize-order. */
static int
console_conf_order(struct console *con, const char *v, char **cause)
{
	if (strcmp(v, "cols-rows") == 0)
		con->rows_first = 0;
	else if (strcmp(v, "rows-cols") == 0)
		con->rows_first = 1;
	else {
		*cause = console_cause("console: bad resize-order '%s': "
		    "expected cols-rows or rows-cols", v);
		return (-1);
	}
	return (0);
}

/* Replace *dst with a copy of v; 0 or -1 with *cause. */
static int
console_conf_strdup(char **dst, const char *v, char **cause)
{
	char	*s;

	if ((s = strdup(v)) == NULL) {
		*cause = console_cause("console: out of memory");
		return (-1);
	}
	free(*dst);
	*dst = s;
	return (0);
}

/* Port option name: printable, no space, slash or comma. */
static int
console_conf_opt_name(struct console_port *p, const char *v, char **cause)
{
	const unsigned char	*s;
	size_t			 len = strlen(v);

	for (s = (const unsigned char *)v; *s != '\0'; s++) {
		if (*s <= ' ' || *s >= 0x7f || *s == '/')
			break;
	}
	if (len == 0 || len > CONSOLE_NAME_MAX || *s != '\0' ||
	    strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		*cause = console_cause("console: port%u: bad name '%s': "
		    "1..%d printable characters without space or '/'",
		    p->id, v, CONSOLE_NAME_MAX);
		return (-1);
	}
	return (console_conf_strdup(&p->name, v, cause));
}

/* Port option backlog. */
static int
console_conf_opt_backlog(struct console_port *p, const char *v,
    char **cause)
{
	if (console_conf_bytes(v, &p->backlog) != 0) {
		*cause = console_cause("console: port%u: bad backlog '%s': "
		    "expected %d..%d bytes", p->id, v, CONSOLE_BACKLOG_MIN,
		    CONSOLE_BACKLOG_MAX);
		return (-1);
	}
	return (0);
}

/* Port option client. */
static int
console_conf_opt_client(struct console_port *p, const char *v,
    char **cause)
{
	if (strcmp(v, "refuse") == 0)
		p->policy = CONSOLE_CLIENT_REFUSE;
	else if (strcmp(v, "replace") == 0)
		p->policy = CONSOLE_CLIENT_REPLACE;
	else {
		*cause = console_cause("console: port%u: bad client '%s': "
		    "expected refuse or replace", p->id, v);
		return (-1);
	}
	return (0);
}

/* Port option link: a symlink to the pty. */
static int
console_conf_opt_link(struct console_port *p, const char *v, char **cause)
{
	if (*v == '\0') {
		*cause = console_cause("console: port%u: empty link", p->id);
		return (-1);
	}
	return (console_conf_strdup(&p->link, v, cause));
}

/* Parse the backend value: a path, or [HOST:]PORT for tcp. */
static int
console_conf_be_value(struct console_port *p, const char *v, char **cause)
{
	const char	*colon, *close;
	uint64_t	 n;

	if (*v == '\0') {
		*cause = console_cause("console: port%u: empty backend "
		    "value", p->id);
		return (-1);
	}
	if (p->be != CONSOLE_BE_TCP)
		return (console_conf_strdup(&p->path, v, cause));

	free(p->host);
	free(p->service);
	p->host = p->service = NULL;
	if (*v == '[') {
		close = strchr(v, ']');
		if (close == NULL || close[1] != ':') {
			*cause = console_cause("console: port%u: bad tcp "
			    "address '%s': expected [IPV6]:PORT", p->id, v);
			return (-1);
		}
		p->host = strndup(v + 1, (size_t)(close - v - 1));
		colon = close + 1;
	} else if ((colon = strrchr(v, ':')) != NULL)
		p->host = strndup(v, (size_t)(colon - v));
	else {
		colon = v - 1;
		p->host = strdup("127.0.0.1");
	}
	if (p->host == NULL || (p->service = strdup(colon + 1)) == NULL) {
		*cause = console_cause("console: out of memory");
		return (-1);
	}
	if (*p->host == '\0' ||
	    p->con->api->parse_u64(p->service, 0, 65535, &n) != 0) {
		*cause = console_cause("console: port%u: bad tcp address "
		    "'%s': expected [HOST:]PORT, PORT 0..65535", p->id, v);
		return (-1);
	}
	return (0);
}

/* Parse one item of a port SPEC. */
static int
console_conf_item(struct console_port *p, const char *item, char **cause)
{
	const char	*eq = strchr(item, '=');
	const char	*val = eq != NULL ? eq + 1 : NULL;
	size_t		 klen = eq != NULL ? (size_t)(eq - item) : strlen(item);
	size_t		 i;

	for (i = 0; i < CONSOLE_NITEMS(console_conf_bes); i++) {
		if (strlen(console_conf_bes[i].name) != klen ||
		    strncmp(item, console_conf_bes[i].name, klen) != 0)
			continue;
		if (p->be_set) {
			*cause = console_cause("console: port%u: more than "
			    "one backend", p->id);
			return (-1);
		}
		if ((val != NULL) != console_conf_bes[i].has_value) {
			*cause = console_cause("console: port%u: backend "
			    "'%s' %s", p->id, console_conf_bes[i].name,
			    val != NULL ? "takes no value" : "needs a value");
			return (-1);
		}
		p->be = console_conf_bes[i].be;
		p->be_set = 1;
		return (val != NULL ? console_conf_be_value(p, val, cause) :
		    0);
	}
	for (i = 0; i < CONSOLE_NITEMS(console_conf_opts); i++) {
		if (strlen(console_conf_opts[i].name) != klen ||
		    strncmp(item, console_conf_opts[i].name, klen) != 0)
			continue;
		if (val == NULL) {
			*cause = console_cause("console: port%u: option '%s' "
			    "needs a value", p->id, console_conf_opts[i].name);
			return (-1);
		}
		return (console_conf_opts[i].parse(p, val, cause));
	}
	*cause = console_cause("console: port%u: unknown option '%.*s'",
	    p->id, (int)klen, item);
	return (-1);
}

/* Parse a port SPEC into port p. */
static int
console_conf_port(struct console_port *p, const char *spec, char **cause)
{
	char	*copy, *item, *rest;
	int	 rc = 0;

	if (p->be_set) {
		*cause = console_cause("console: port%u given twice", p->id);
		return (-1);
	}
	if ((copy = strdup(spec)) == NULL) {
		*cause = console_cause("console: out of memory");
		return (-1);
	}
	rest = copy;
	while (rc == 0 && (item = strsep(&rest, ",")) != NULL) {
		if (*item == '\0') {
			*cause = console_cause("console: port%u: empty item "
			    "in '%s'", p->id, spec);
			rc = -1;
		} else
			rc = console_conf_item(p, item, cause);
	}
	free(copy);
	if (rc != 0)
		return (-1);
	if (!p->be_set) {
		p->be = CONSOLE_BE_PTY;
		p->be_set = 1;
	}
	if (p->link != NULL && p->be != CONSOLE_BE_PTY) {
		*cause = console_cause("console: port%u: link= is only for "
		    "pty ports", p->id);
		return (-1);
	}
	p->configured = 1;
	return (0);
}

/* Return the port number of a "portN" key, or -1. */
static int
console_conf_port_key(const struct console *con, const char *key)
{
	uint64_t	 n;

	if (strncmp(key, "port", 4) != 0 || key[4] == '\0' ||
	    (key[4] == '0' && key[5] != '\0'))
		return (-1);
	if (con->api->parse_u64(key + 4, 0, CONSOLE_MAX_PORTS - 1, &n) != 0)
		return (-1);
	return ((int)n);
}

/* Check what no single key can: unique names, one stdio port. */
static int
console_conf_check(struct console *con, char **cause)
{
	unsigned	 i, j, nstdio = 0;

	for (i = 0; i < CONSOLE_MAX_PORTS; i++) {
		if (!con->ports[i].configured)
			continue;
		if (con->ports[i].be == CONSOLE_BE_STDIO && ++nstdio > 1) {
			*cause = console_cause("console: port%u: only one "
			    "stdio port is allowed", i);
			return (-1);
		}
		for (j = 0; j < i && con->ports[i].name != NULL; j++) {
			if (con->ports[j].configured &&
			    con->ports[j].name != NULL &&
			    strcmp(con->ports[i].name,
			    con->ports[j].name) == 0) {
				*cause = console_cause("console: port%u: name "
				    "'%s' already used by port%u", i,
				    con->ports[i].name, j);
				return (-1);
			}
		}
	}
	return (0);
}

/*
 * Parse the device keys into con (whose ports array has
 * CONSOLE_MAX_PORTS entries), and set nports.  0, or -1 with *cause
 * naming the key.  Main thread.
 */
int
console_conf_parse(struct console *con, const struct vhd_kv *kv, size_t nkv,
    char **cause)
{
	struct console_port	*p;
	size_t			 i, k;
	int			 id;
	unsigned		 n;

	for (i = 0; i < nkv; i++) {
		if ((id = console_conf_port_key(con, kv[i].key)) >= 0) {
			p = &con->ports[id];
			if (console_conf_port(p, kv[i].value, cause) != 0)
				return (-1);
			continue;
		}
		for (k = 0; k < CONSOLE_NITEMS(console_conf_keys); k++) {
			if (strcmp(kv[i].key, console_conf_keys[k].name) == 0)
				break;
		}
		if (k == CONSOLE_NITEMS(console_conf_keys)) {
			*cause = console_cause("console: unknown key '%s'",
			    kv[i].key);
			return (-1);
		}
		if (console_conf_keys[k].parse(con, kv[i].value, cause) != 0)
			return (-1);
	}

	p = &con->ports[0];
	if (!p->be_set) {
		p->be = CONSOLE_BE_PTY;
		p->be_set = 1;
	}
	p->configured = 1;
	n = 1;
	for (i = 0; i < CONSOLE_MAX_PORTS; i++) {
		p = &con->ports[i];
		if (!p->configured)
			continue;
		n = (unsigned)i + 1;
		if (p->backlog == 0)
			p->backlog = con->backlog;
	}
	con->nports = n;
	return (console_conf_check(con, cause));
}
