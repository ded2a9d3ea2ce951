/*
 * The configuration: building a `struct conf`, parsing the config file
 * (a recursive-descent parser in the manner of the OpenBSD daemons'
 * parse.y: the top level and the global statements here, the tokenizer in
 * conf_lex.c, device blocks in conf_block.c), and the checks of the whole
 * configuration.
 *
 * Every error is printed to stderr (to the log on a reload) as
 * "file:line: message" and counted;
 * the parser recovers at the end of the line (or of the block) so one run
 * reports every error.  All input is bounded: the file size, every token,
 * the include depth.  Main thread only.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "conf.h"
#include "conf_priv.h"
#include "log.h"
#include "module.h"
#include "privsep.h"
#include "xmalloc.h"

static void	conf_parse_control(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_workers(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_pc_timeout(struct conf_file *,
		    struct conf_device *, const char *);
static void	conf_parse_include(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_log_level(struct conf_file *, struct conf_device *,
		    const char *);
static void	conf_parse_module_dir(struct conf_file *, struct conf_device *,
		    const char *);
static int	conf_parse_buffer(struct conf_parser *, struct conf_file *,
		    const char *, const char *, size_t);

/* Top-level keywords, sorted for bsearch. */
static const struct conf_keyword conf_global_keywords[] = {
	{ "control", conf_parse_control },
	{ "device", conf_parse_device },
	{ "include", conf_parse_include },
	{ "log-level", conf_parse_log_level },
	{ "module-dir", conf_parse_module_dir },
	{ "postcopy-fault-timeout", conf_parse_pc_timeout },
	{ "workers", conf_parse_workers },
};


/* Where errors go: stderr, or the log once the daemon serves (a
 * reload's errors). */
static int	conf_to_log;

/* Send configuration errors to the log (1) or to stderr (0). */
void
conf_errors_to_log(int on)
{
	conf_to_log = on;
}

/* Print one configuration error line. */
void
conf_report(const char *fmt, ...)
{
	char	 msg[CONF_ERROR_MAX + 64];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (conf_to_log)
		log_line(LOG_LEVEL_ERR, "%s", msg);
	else
		fprintf(stderr, "%s\n", msg);
}

/* Initialise an empty configuration. */
void
conf_init(struct conf *conf)
{
	memset(conf, 0, sizeof *conf);
	conf->log_level = -1;
	TAILQ_INIT(&conf->devices);
}

/* Free everything a configuration holds and leave it empty. */
void
conf_clear(struct conf *conf)
{
	struct conf_device	*cd;
	struct conf_kv		*kv;

	while ((cd = TAILQ_FIRST(&conf->devices)) != NULL) {
		TAILQ_REMOVE(&conf->devices, cd, entry);
		while ((kv = TAILQ_FIRST(&cd->options)) != NULL) {
			TAILQ_REMOVE(&cd->options, kv, entry);
			free(kv->key);
			free(kv->value);
			free(kv->where);
			free(kv);
		}
		free(cd->name);
		free(cd->where);
		free(cd->module);
		free(cd->module_where);
		free(cd->socket);
		free(cd->socket_where);
		free(cd->socket_owner);
		free(cd->socket_group);
		free(cd);
	}
	free(conf->source);
	free(conf->module_dir);
	free(conf->control_path);
	conf_init(conf);
}

/* Compare two optional strings. */
static int
conf_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/* Do two device blocks say the same?  Where they are (file and line)
 * does not count: another block added above must not change this one. */
int
conf_device_equal(const struct conf_device *a, const struct conf_device *b)
{
	const struct conf_kv	*ka, *kb;

	if (!conf_str_equal(a->name, b->name) ||
	    !conf_str_equal(a->module, b->module) ||
	    !conf_str_equal(a->socket, b->socket) ||
	    a->socket_mode != b->socket_mode || a->client != b->client ||
	    !conf_str_equal(a->socket_owner, b->socket_owner) ||
	    !conf_str_equal(a->socket_group, b->socket_group) ||
	    a->nmasks != b->nmasks || memcmp(a->masks, b->masks,
	    a->nmasks * sizeof a->masks[0]) != 0)
		return (0);
	ka = TAILQ_FIRST(&a->options);
	kb = TAILQ_FIRST(&b->options);
	while (ka != NULL && kb != NULL) {
		if (strcmp(ka->key, kb->key) != 0 ||
		    strcmp(ka->value, kb->value) != 0)
			return (0);
		ka = TAILQ_NEXT(ka, entry);
		kb = TAILQ_NEXT(kb, entry);
	}
	return (ka == NULL && kb == NULL);
}

/* Find a device block by name, or NULL. */
struct conf_device *
conf_device_find(struct conf *conf, const char *name)
{
	struct conf_device	*cd;

	TAILQ_FOREACH(cd, &conf->devices, entry) {
		if (strcmp(cd->name, name) == 0)
			return (cd);
	}
	return (NULL);
}

/* Append a new device with default settings. */
struct conf_device *
conf_device_new(struct conf *conf, const char *name, const char *where)
{
	struct conf_device	*cd;

	cd = xcalloc(1, sizeof *cd);
	cd->name = xstrdup(name);
	cd->where = xstrdup(where != NULL ? where : "command line");
	cd->socket_mode = 0600;
	TAILQ_INIT(&cd->options);
	TAILQ_INSERT_TAIL(&conf->devices, cd, entry);
	return (cd);
}

/* Append a module key to a device, keeping the order. */
void
conf_device_option(struct conf_device *cd, const char *key,
    const char *value, const char *where)
{
	struct conf_kv	*kv;

	kv = xcalloc(1, sizeof *kv);
	kv->key = xstrdup(key);
	kv->value = xstrdup(value);
	kv->where = xstrdup(where != NULL ? where : "command line");
	TAILQ_INSERT_TAIL(&cd->options, kv, entry);
}

/* Set the module of a device, remembering where. */
void
conf_device_set_module(struct conf_device *cd, const char *module,
    const char *where)
{
	free(cd->module);
	free(cd->module_where);
	cd->module = xstrdup(module);
	cd->module_where = xstrdup(where != NULL ? where : cd->where);
}

/* Set the socket of a device, remembering where. */
void
conf_device_set_socket(struct conf_device *cd, const char *path,
    const char *where)
{
	free(cd->socket);
	free(cd->socket_where);
	cd->socket = xstrdup(path);
	cd->socket_where = xstrdup(where != NULL ? where : cd->where);
}

/* Parse one mask ("0x3" or "3") of `len` bytes; 0 or -1 with *cause. */
static int
conf_mask_parse(const char *s, size_t len, uint64_t *out, char **cause)
{
	char			 buf[32];
	const char		*digits;
	char			*end;
	unsigned long long	 v;
	int			 base = 10;

	if (len == 0 || len >= sizeof buf) {
		xasprintf(cause, "bad queue mask '%.*s': a hex (0x...) or "
		    "decimal 64-bit number", (int)(len > 64 ? 64 : len), s);
		return (-1);
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	digits = buf;
	if (len > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')) {
		digits = buf + 2;
		base = 16;
	}
	/* strtoull would accept spaces and a sign; the mask may not. */
	if (base == 16 ? !isxdigit((unsigned char)*digits) :
	    !isdigit((unsigned char)*digits))
		goto bad;
	errno = 0;
	v = strtoull(digits, &end, base);
	if (*end != '\0')
		goto bad;
	if (errno == ERANGE) {
		xasprintf(cause, "bad queue mask '%s': more than 64 bits", buf);
		return (-1);
	}
	*out = v;
	return (0);

bad:
	xasprintf(cause, "bad queue mask '%s': a hex (0x...) or decimal "
	    "64-bit number", buf);
	return (-1);
}

/* Append the comma-separated masks in `s` to cd; 0 or -1 with *cause. */
int
conf_masks_add(struct conf_device *cd, const char *s, char **cause)
{
	const char	*p = s, *comma;
	size_t		 len;
	uint64_t	 mask;

	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (conf_mask_parse(p, len, &mask, cause) != 0)
			return (-1);
		if (cd->nmasks >= VHD_MAX_WORKERS) {
			xasprintf(cause, "more than %d queue masks (one per "
			    "worker)", VHD_MAX_WORKERS);
			return (-1);
		}
		cd->masks[cd->nmasks++] = mask;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return (0);
}

/* Parse "0x3,0x4" style queue masks into cd; 0 or -1 with *cause. */
int
conf_parse_masks(struct conf_device *cd, const char *s, char **cause)
{
	cd->nmasks = 0;
	if (conf_masks_add(cd, s, cause) != 0) {
		cd->nmasks = 0;
		return (-1);
	}
	return (0);
}

/* Is this a valid device name: 1..64 of [A-Za-z0-9_.-]? */
static int
conf_name_valid(const char *name)
{
	size_t	 i;

	for (i = 0; name[i] != '\0'; i++) {
		if (i >= CONF_NAME_MAX)
			return (0);
		if (!isalnum((unsigned char)name[i]) && name[i] != '_' &&
		    name[i] != '-' && name[i] != '.')
			return (0);
	}
	return (i > 0);
}

/* Print a "where: message" error and count it. */
static void __printflike(3, 4)
conf_check_error(int *errors, const char *where, const char *fmt, ...)
{
	char	 msg[CONF_ERROR_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	conf_report("%s: %s", where, msg);
	(*errors)++;
}

/* Check one device against itself and the devices before it. */
static void
conf_check_device(struct conf *conf, struct conf_device *cd, int *errors)
{
	struct sockaddr_un	 sun;
	struct conf_device	*o;
	uint64_t		 seen = 0, both;
	unsigned		 i;

	if (!conf_name_valid(cd->name))
		conf_check_error(errors, cd->where, "invalid device name "
		    "\"%s\": 1 to %d letters, digits, '_', '-' or '.'",
		    cd->name, CONF_NAME_MAX);
	if (cd->module == NULL)
		conf_check_error(errors, cd->where, "device \"%s\": no "
		    "module", cd->name);
	else if (!module_name_valid(cd->module))
		conf_check_error(errors, cd->module_where != NULL ?
		    cd->module_where : cd->where, "device \"%s\": invalid "
		    "module name \"%s\": a plain name of letters, digits, "
		    "'_' or '-', not a path (see module-dir)", cd->name,
		    cd->module);
	if (cd->socket == NULL)
		conf_check_error(errors, cd->where, "device \"%s\": no "
		    "socket", cd->name);
	else if (*cd->socket == '\0' ||
	    strlen(cd->socket) >= sizeof sun.sun_path)
		conf_check_error(errors, cd->socket_where != NULL ?
		    cd->socket_where : cd->where, "device \"%s\": socket "
		    "path must be 1 to %zu bytes", cd->name,
		    sizeof sun.sun_path - 1);

	for (i = 0; i < cd->nmasks; i++) {
		both = seen & cd->masks[i];
		if (both != 0) {
			conf_check_error(errors, cd->where, "device \"%s\": "
			    "queue %d is in the queue-mask of more than one "
			    "worker", cd->name, __builtin_ctzll(both));
			break;
		}
		seen |= cd->masks[i];
	}

	TAILQ_FOREACH(o, &conf->devices, entry) {
		if (o == cd)
			break;
		if (strcmp(o->name, cd->name) == 0)
			conf_check_error(errors, cd->where, "duplicate device "
			    "name \"%s\" (first defined at %s)", cd->name,
			    o->where);
		if (o->socket != NULL && cd->socket != NULL &&
		    strcmp(o->socket, cd->socket) == 0)
			conf_check_error(errors, cd->socket_where != NULL ?
			    cd->socket_where : cd->where, "device \"%s\": "
			    "socket \"%s\" is already used by device \"%s\" "
			    "(%s)", cd->name, cd->socket, o->name,
			    o->socket_where != NULL ? o->socket_where :
			    o->where);
	}
}

/*
 * Check the whole configuration: at least one device, each with a valid
 * name, module and socket, no duplicate names or sockets, sane masks.
 * Prints every error and returns their count.
 */
int
conf_check(struct conf *conf)
{
	struct conf_device	*cd;
	int			 errors = 0;

	if (TAILQ_EMPTY(&conf->devices))
		conf_check_error(&errors, conf->source != NULL ?
		    conf->source : "configuration", "no device configured");
	TAILQ_FOREACH(cd, &conf->devices, entry)
		conf_check_device(conf, cd, &errors);
	return (errors);
}


/* Read a whole regular file of at most CONF_FILE_MAX bytes; the text
 * (malloc'd, not NUL-terminated) or NULL with *cause. */
static char *
conf_read(const char *path, size_t *lenp, char **cause)
{
	struct stat	 st;
	char		*text = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	/* O_NONBLOCK: a FIFO must not hang the open. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "not a regular file");
		goto out;
	}
	text = xmalloc(CONF_FILE_MAX + 1);
	while (len <= CONF_FILE_MAX) {
		n = read(fd, text + len, CONF_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_FILE_MAX) {
		xasprintf(cause, "larger than %d bytes", CONF_FILE_MAX);
		goto out;
	}
	close(fd);
	*lenp = len;
	return (text);

fail:
	xasprintf(cause, "%s", strerror(errno));
out:
	if (fd != -1)
		close(fd);
	free(text);
	return (NULL);
}

/* include "FILE": relative to the including file's directory. */
static void
conf_parse_include(struct conf_file *f, struct conf_device *unused __unused,
    const char *key)
{
	struct conf_file	 inc, *o;
	unsigned		 line = f->tok_line;
	char			*value, *path, *dir, *slash, *text = NULL;
	char			*cause;
	char			 real[PATH_MAX];
	size_t			 len;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	if (*value == '\0') {
		conf_error(f, line, "include: empty file name");
		free(value);
		return;
	}
	if (*value == '/' || (slash = strrchr(f->name, '/')) == NULL)
		path = xstrdup(value);
	else {
		dir = xstrdup(f->name);
		dir[slash - f->name] = '\0';
		xasprintf(&path, "%s/%s", *dir == '\0' ? "" : dir, value);
		free(dir);
	}
	free(value);

	if (f->p->depth >= CONF_INCLUDE_DEPTH) {
		conf_error(f, line, "include \"%s\": includes nested more "
		    "than %d deep", path, CONF_INCLUDE_DEPTH);
		goto out;
	}
	if (realpath(path, real) == NULL) {
		conf_error(f, line, "include \"%s\": %s", path,
		    strerror(errno));
		goto out;
	}
	for (o = f; o != NULL; o = o->parent) {
		if (strcmp(o->real, real) == 0) {
			conf_error(f, line, "include \"%s\": include cycle "
			    "(%s is already being read)", path, o->name);
			goto out;
		}
	}

	if ((text = conf_read(path, &len, &cause)) == NULL) {
		conf_error(f, line, "include \"%s\": %s", path, cause);
		free(cause);
		goto out;
	}

	memset(&inc, 0, sizeof inc);
	inc.parent = f;
	inc.real = real;
	f->p->depth++;
	conf_parse_buffer(f->p, &inc, path, text, len);
	f->p->depth--;

out:
	free(text);
	free(path);
}

/* log-level LEVEL. */
static void
conf_parse_log_level(struct conf_file *f, struct conf_device *unused __unused,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value;
	int		 level;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	if ((level = log_level_parse(value)) == -1)
		conf_error(f, line, "log-level: unknown level '%s' (error, "
		    "warning, info or debug)", value);
	else
		f->p->conf->log_level = level;
	free(value);
}

/* module-dir DIR. */
static void
conf_parse_module_dir(struct conf_file *f,
    struct conf_device *unused __unused, const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	if (*value == '\0') {
		conf_error(f, line, "module-dir: empty directory name");
		free(value);
		return;
	}
	free(f->p->conf->module_dir);
	f->p->conf->module_dir = value;
}

/* control PATH: the control socket ("none": no control socket). */
static void
conf_parse_control(struct conf_file *f, struct conf_device *unused __unused,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	if (*value == '\0' || (*value != '/' && strcmp(value, "none") != 0) ||
	    strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		conf_error(f, line, "control: '%s': expected an absolute path "
		    "shorter than %zu bytes, or none", value,
		    sizeof(((struct sockaddr_un *)0)->sun_path));
		free(value);
		return;
	}
	free(f->p->conf->control_path);
	f->p->conf->control_path = value;
}

/* workers N: a shared pool of N worker threads. */
static void
conf_parse_workers(struct conf_file *f, struct conf_device *unused __unused,
    const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value, *end;
	unsigned long	 n;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	n = strtoul(value, &end, 10);
	if (!isdigit((unsigned char)*value) || *end != '\0' || n < 1 ||
	    n > CONF_WORKERS_MAX)
		conf_error(f, line, "workers: '%s': expected a number from 1 "
		    "to %d", value, CONF_WORKERS_MAX);
	else
		f->p->conf->workers = (unsigned)n;
	free(value);
}

/* postcopy-fault-timeout N: seconds a postcopy page fault may wait for
 * the frontend before its device fails (postcopy.h). */
static void
conf_parse_pc_timeout(struct conf_file *f,
    struct conf_device *unused __unused, const char *key)
{
	unsigned	 line = f->tok_line;
	char		*value, *end;
	unsigned long	 n;

	if (conf_parse_value(f, 0, key, &value) != 0)
		return;
	n = strtoul(value, &end, 10);
	if (!isdigit((unsigned char)*value) || *end != '\0' || n < 1 ||
	    n > CONF_PC_TIMEOUT_MAX)
		conf_error(f, line, "postcopy-fault-timeout: '%s': expected "
		    "a number of seconds from 1 to %d", value,
		    CONF_PC_TIMEOUT_MAX);
	else
		f->p->conf->pc_fault_timeout = (unsigned)n;
	free(value);
}

/* Parse the statements of one file's text; returns the error count so
 * far.  `f` must be zeroed except for parent and real. */
static int
conf_parse_buffer(struct conf_parser *p, struct conf_file *f,
    const char *name, const char *text, size_t len)
{
	const struct conf_keyword	*kw;
	enum conf_token			 t;
	char				 desc[CONF_TOKEN_MAX + 8];

	f->p = p;
	f->name = name;
	f->text = text;
	f->len = len;
	f->line = 1;

	for (;;) {
		t = conf_lex_get(f);
		if (t == CONF_T_EOF)
			break;
		if (t == CONF_T_NEWLINE)
			continue;
		if (t == CONF_T_ERROR) {
			conf_skip(f, 0, 0);
			continue;
		}
		if (t == CONF_T_WORD) {
			kw = bsearch(f->tok_text, conf_global_keywords,
			    nitems(conf_global_keywords), sizeof *kw,
			    conf_keyword_cmp);
			if (kw != NULL) {
				kw->parse(f, NULL, kw->name);
				continue;
			}
			conf_error(f, f->tok_line, "unknown keyword '%s' "
			    "(control, device, include, log-level, module-dir "
			    "or workers)",
			    f->tok_text);
		} else
			conf_error(f, f->tok_line, "unexpected %s",
			    conf_lex_desc(f, desc, sizeof desc));
		conf_skip(f, 0, t == CONF_T_LBRACE ? 1 : 0);
	}
	return (p->errors);
}

/* Parse a top-level text named `name`, then check the configuration. */
static int
conf_parse_top(struct conf *conf, const char *name, const char *text,
    size_t len)
{
	struct conf_parser	 p;
	struct conf_file	 f;
	char			 real[PATH_MAX];

	memset(&p, 0, sizeof p);
	p.conf = conf;
	memset(&f, 0, sizeof f);
	if (realpath(name, real) != NULL)
		f.real = real;
	else
		f.real = (char *)(uintptr_t)name;
	if (conf->source == NULL)
		conf->source = xstrdup(name);
	conf_parse_buffer(&p, &f, name, text, len);
	return (p.errors + conf_check(conf));
}

/*
 * Parse a config file into `conf`, printing every error as
 * "file:line: message"; returns the number of errors (0 = OK).
 */
int
conf_parse_file(struct conf *conf, const char *path)
{
	char	*text, *cause;
	size_t	 len;
	int	 errors;

	if ((text = conf_read(path, &len, &cause)) == NULL) {
		conf_report("%s: %s", path, cause);
		free(cause);
		return (1);
	}
	errors = conf_parse_top(conf, path, text, len);
	free(text);
	return (errors);
}

/* Parse a config text (tests); `name` stands for the file name. */
int
conf_parse_string(struct conf *conf, const char *name, const char *text)
{
	return (conf_parse_top(conf, name, text, strlen(text)));
}
