/*
 * vhostd: the command line, the configuration, and the main loop.  Every
 * device is created before anything is served; any startup error exits 1
 * having served nothing.  SIGINT and SIGTERM end the loop and everything
 * is torn down in order (devices, modules, configuration, base).
 */

#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include <vhostd/vhostd.h>

#include "conf.h"
#include "control.h"
#include "device.h"
#include "guest_fault.h"
#include "log.h"
#include "module.h"
#include "pool.h"
#include "postcopy.h"
#include "privsep.h"
#include "sd_listen.h"
#include "sd_notify.h"
#include "serve.h"
#include "worker.h"
#include "xmalloc.h"

/* Long options without a short form. */
enum {
	MAIN_OPT_MODULE = 256,
	MAIN_OPT_QUEUE_MASK,
	MAIN_OPT_CONFIG,
	MAIN_OPT_MODULE_DIR,
	MAIN_OPT_LIST_MODULES,
	MAIN_OPT_LOG_LEVEL,
	MAIN_OPT_SYSLOG,
	MAIN_OPT_VERSION,
	MAIN_OPT_USER,
	MAIN_OPT_GROUP,
	MAIN_OPT_NO_SECCOMP,
	MAIN_OPT_VM,
	MAIN_OPT_LOG,
	MAIN_OPT_CONTROL,
	MAIN_OPT_WORKERS,
	MAIN_OPT_CLIENT,
};

static const struct option main_options[] = {
	{ "module", required_argument, NULL, MAIN_OPT_MODULE },
	{ "socket", required_argument, NULL, 's' },
	{ "socket-path", required_argument, NULL, 's' },
	{ "socket-count", required_argument, NULL, 'c' },
	{ "option", required_argument, NULL, 'o' },
	{ "queue-mask", required_argument, NULL, MAIN_OPT_QUEUE_MASK },
	{ "config", required_argument, NULL, MAIN_OPT_CONFIG },
	{ "check", no_argument, NULL, 'n' },
	{ "module-dir", required_argument, NULL, MAIN_OPT_MODULE_DIR },
	{ "list-modules", no_argument, NULL, MAIN_OPT_LIST_MODULES },
	{ "log-level", required_argument, NULL, MAIN_OPT_LOG_LEVEL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "syslog", no_argument, NULL, MAIN_OPT_SYSLOG },
	{ "log", required_argument, NULL, MAIN_OPT_LOG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, MAIN_OPT_VERSION },
	{ "user", required_argument, NULL, MAIN_OPT_USER },
	{ "group", required_argument, NULL, MAIN_OPT_GROUP },
	{ "no-seccomp", no_argument, NULL, MAIN_OPT_NO_SECCOMP },
	{ "vm", required_argument, NULL, MAIN_OPT_VM },
	{ "control", required_argument, NULL, MAIN_OPT_CONTROL },
	{ "workers", required_argument, NULL, MAIN_OPT_WORKERS },
	{ "client", no_argument, NULL, MAIN_OPT_CLIENT },
	{ NULL, 0, NULL, 0 },
};

/* What the command line asked for. */
struct main_args {
	const char	*module;
	const char	*socket;
	unsigned	 socket_count;		/* 0: not given */
	const char	**options;		/* KEY=VALUE */
	size_t		 noptions;
	const char	*queue_mask;
	const char	*config;
	const char	*module_dir;
	int		 check;
	int		 list;
	int		 log_level;		/* -1: not given */
	int		 log_dest;		/* -1: not given */
	const char	*user;			/* --user: drop to it */
	const char	*group;			/* --group */
	int		 no_seccomp;
	const char	**vms;			/* --vm KEY=V,KEY=V,... */
	size_t		 nvms;
	const char	*control;		/* --control=PATH */
	unsigned	 workers;		/* --workers=N, 0: not given */
	int		 client;		/* --client */
};

static void	main_check_ids(const struct main_args *);

/* Print the usage text to `out`. */
static void
main_usage(FILE *out)
{
	fprintf(out,
"usage: vhostd --module=NAME --socket=PATH [--socket-count=N]\n"
"              [--option=KEY=VALUE]... [--queue-mask=M0[,M1...]] [options]\n"
"       vhostd --config=FILE [options]\n"
"       vhostd -n (--config=FILE | --module=NAME --socket=PATH ...)\n"
"       vhostd --list-modules [--module-dir=DIR]\n"
"       vhostd --help | --version\n"
"\n"
"vhostd serves virtio devices to virtual machines over vhost-user unix\n"
"sockets; each kind of device is a module (NAME.so in the module directory).\n"
"\n"
"Devices:\n"
"  --module=NAME          serve a device of module NAME\n"
"  -s, --socket=PATH      listen on PATH (device NAME0)\n"
"  -c, --socket-count=N   N devices NAME0..NAME{N-1} on PATH0..PATH{N-1}\n"
"                         (1 to %d)\n"
"  --client               connect to the sockets (the VMM listens, as with\n"
"                         QEMU -chardev socket,server=on) instead of\n"
"                         listening; reconnect with backoff when dropped\n"
"  -o, --option=KEY=VALUE a module key, passed to the module (repeatable)\n"
"  --queue-mask=M0[,M1..] one 64-bit queue mask per worker thread, hex or\n"
"                         decimal; \"0x0,0x1\": 2 workers, queue 0 on the\n"
"                         second\n"
"  --vm=KEY=V[,KEY=V...]  one device of --module (default vsock) per --vm:\n"
"                         socket= is its socket, the other keys are module\n"
"                         keys (vhost-device-vsock's form; repeatable)\n"
"  --config=FILE          the devices of a config file instead (see\n"
"                         %s/vhostd.conf)\n"
"\n"
"Other options:\n"
"  -n, --check            check the configuration and the modules, print\n"
"                         \"configuration OK\" and exit 0, else exit 1\n"
"  --module-dir=DIR       load modules from DIR (default: the config file's\n"
"                         module-dir, else $VHOSTD_MODULE_DIR, else\n"
"                         %s)\n"
"  --list-modules         list the modules in the module directory\n"
"  --log-level=LEVEL      error, warning, info (default) or debug\n"
"  -v, --verbose          the same as --log-level=debug\n"
"  --syslog               log to syslog instead of stderr\n"
"  --log=DEST             stderr, syslog or journal (stderr with <N>\n"
"                         priority prefixes; the default when\n"
"                         $JOURNAL_STREAM is stderr, as under systemd)\n"
"  --user=USER            once the sockets are bound, run as USER (name or\n"
"                         uid) with its primary group and no other groups\n"
"  --group=GROUP          run as GROUP (name or gid) instead\n"
"  --no-seccomp           do not confine vhostd to the system calls it\n"
"                         needs (the seccomp filter is on by default)\n"
"  --control=PATH         the control socket for vhostctl (default\n"
"                         $VHOSTD_CONTROL, else " CONTROL_DEFAULT_PATH ";\n"
"                         \"none\": no socket)\n"
"  --workers=N            devices share a pool of N worker threads (1 to\n"
"                         %d) instead of starting their own\n"
"  -h, --help             print this help and exit\n"
"  --version              print the version and exit\n"
"\n"
"vhostd exits 0 after SIGINT or SIGTERM, 1 on any startup error.\n"
"\n"
"A console port on stdio (--module=console --option port0=stdio) makes a\n"
"terminal raw: every key, ^C too, goes to the guest.  The escape is ^]:\n"
"\"^] q\" or \"^] .\" quits vhostd, \"^] ^]\" sends one ^].  While no frontend\n"
"is attached, ^C quits as well and other keys are discarded.\n"
"\n"
"Example:\n"
"  vhostd --module=rng --socket=/run/vhostd/rng.sock --option max-bytes=4096\n"
"  qemu-system-x86_64 ... \\\n"
"      -chardev socket,id=rng0,path=/run/vhostd/rng.sock \\\n"
"      -device vhost-user-rng-pci,chardev=rng0\n",
	    VHD_MAX_WORKERS, SYSCONF_DIR, MODULE_DIR, CONF_WORKERS_MAX);
}

/* Report a command-line error and exit 1. */
static __dead void __printflike(1, 2)
main_badusage(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "vhostd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vhostd --help'.\n");
	exit(1);
}

/* Parse an unsigned decimal number in [min, max] or exit. */
static unsigned
main_number(const char *opt, const char *s, unsigned min, unsigned max)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		main_badusage("%s: '%s' is not a number", opt, s);
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < min || v > max)
		main_badusage("%s: '%s': expected a number from %u to %u", opt,
		    s, min, max);
	return ((unsigned)v);
}

/* Parse the command line into `a`; exits on --help, --version or an
 * error. */
static void
main_parse_args(int argc, char **argv, struct main_args *a)
{
	int	 ch;

	memset(a, 0, sizeof *a);
	a->log_level = -1;
	a->log_dest = -1;
	while ((ch = getopt_long(argc, argv, "c:hno:s:v", main_options,
	    NULL)) != -1) {
		switch (ch) {
		case MAIN_OPT_MODULE:
			a->module = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'c':
			a->socket_count = main_number("--socket-count", optarg,
			    1, VHD_MAX_WORKERS);
			break;
		case 'o':
			if (strchr(optarg, '=') == NULL || *optarg == '=')
				main_badusage("--option: '%s': expected "
				    "KEY=VALUE", optarg);
			a->options = xreallocarray(a->options,
			    a->noptions + 1, sizeof *a->options);
			a->options[a->noptions++] = optarg;
			break;
		case MAIN_OPT_QUEUE_MASK:
			a->queue_mask = optarg;
			break;
		case MAIN_OPT_CONFIG:
			a->config = optarg;
			break;
		case 'n':
			a->check = 1;
			break;
		case MAIN_OPT_MODULE_DIR:
			if (*optarg == '\0')
				main_badusage("--module-dir: empty directory");
			a->module_dir = optarg;
			break;
		case MAIN_OPT_LIST_MODULES:
			a->list = 1;
			break;
		case MAIN_OPT_LOG_LEVEL:
			if ((a->log_level = log_level_parse(optarg)) == -1)
				main_badusage("--log-level: unknown level '%s' "
				    "(error, warning, info or debug)", optarg);
			break;
		case 'v':
			a->log_level = LOG_LEVEL_DEBUG;
			break;
		case MAIN_OPT_SYSLOG:
			a->log_dest = LOG_DEST_SYSLOG;
			break;
		case MAIN_OPT_LOG:
			if ((a->log_dest = log_dest_parse(optarg)) == -1)
				main_badusage("--log: unknown destination "
				    "'%s' (stderr, syslog or journal)", optarg);
			break;
		case MAIN_OPT_USER:
			a->user = optarg;
			break;
		case MAIN_OPT_GROUP:
			a->group = optarg;
			break;
		case MAIN_OPT_NO_SECCOMP:
			a->no_seccomp = 1;
			break;
		case MAIN_OPT_CLIENT:
			a->client = 1;
			break;
		case MAIN_OPT_CONTROL:
			if (*optarg != '/' && strcmp(optarg, "none") != 0)
				main_badusage("--control: '%s': expected an "
				    "absolute path or none", optarg);
			a->control = optarg;
			break;
		case MAIN_OPT_WORKERS:
			a->workers = main_number("--workers", optarg, 1,
			    CONF_WORKERS_MAX);
			break;
		case MAIN_OPT_VM:
			a->vms = xreallocarray(a->vms, a->nvms + 1,
			    sizeof *a->vms);
			a->vms[a->nvms++] = optarg;
			break;
		case 'h':
			main_usage(stdout);
			exit(0);
		case MAIN_OPT_VERSION:
			printf("vhostd %s (module ABI %d.%d)\n",
			    PACKAGE_VERSION, VHD_ABI_MAJOR, VHD_ABI_MINOR);
			exit(0);
		default:
			fprintf(stderr, "Try 'vhostd --help'.\n");
			exit(1);
		}
	}
	if (optind < argc)
		main_badusage("unexpected argument '%s'", argv[optind]);
	main_check_ids(a);

	if (a->list)
		return;
	if (a->config != NULL) {
		if (a->module != NULL || a->socket != NULL ||
		    a->socket_count != 0 || a->noptions != 0 ||
		    a->queue_mask != NULL || a->nvms != 0 || a->client)
			main_badusage("--config cannot be mixed with --module, "
			    "--socket, --socket-count, --option, --vm, "
			    "--client or --queue-mask (use client yes in the "
			    "file)");
		return;
	}
	if (a->nvms != 0) {
		if (a->client)
			main_badusage("--client cannot be used with --vm");
		if (a->socket != NULL || a->socket_count != 0)
			main_badusage("--vm takes its socket from socket=; "
			    "it cannot be mixed with --socket or "
			    "--socket-count");
		if (a->module == NULL)
			a->module = "vsock";
		if (!module_name_valid(a->module))
			main_badusage("--module: invalid module name '%s'",
			    a->module);
		return;
	}
	if (a->module == NULL && a->socket == NULL) {
		if (a->socket_count != 0 || a->noptions != 0 ||
		    a->queue_mask != NULL)
			main_badusage("--socket-count, --option and "
			    "--queue-mask need --module and --socket");
		main_badusage("nothing to serve: give --config=FILE or "
		    "--module=NAME --socket=PATH");
	}
	if (a->module == NULL)
		main_badusage("--socket needs --module");
	if (a->socket == NULL)
		main_badusage("--module needs --socket");
	if (!module_name_valid(a->module))
		main_badusage("--module: invalid module name '%s': a plain "
		    "name of letters, digits, '_' or '-' (see --module-dir)",
		    a->module);
}

/* Check --user and --group now, so a typo fails before serving. */
static void
main_check_ids(const struct main_args *a)
{
	uid_t	 uid;
	gid_t	 gid;
	char	*cause;

	if (a->user != NULL && privsep_user(a->user, &uid, &gid,
	    &cause) == -1)
		main_badusage("--user: %s", cause);
	if (a->group != NULL && privsep_group(a->group, &gid, &cause) == -1)
		main_badusage("--group: %s", cause);
}

/* Build the configuration from --module, --socket and friends; returns
 * the error count (printed). */
static int
main_conf_args(struct conf *conf, const struct main_args *a)
{
	struct conf_device	*cd;
	unsigned		 i, count;
	size_t			 j, klen;
	char			*name, *socket, *key, *cause;
	const char		*eq;

	conf->source = xstrdup("command line");
	count = a->socket_count != 0 ? a->socket_count : 1;
	for (i = 0; i < count; i++) {
		xasprintf(&name, "%s%u", a->module, i);
		cd = conf_device_new(conf, name, "command line");
		free(name);
		conf_device_set_module(cd, a->module, "command line");
		if (a->socket_count != 0) {
			xasprintf(&socket, "%s%u", a->socket, i);
			conf_device_set_socket(cd, socket, "command line");
			free(socket);
		} else
			conf_device_set_socket(cd, a->socket, "command line");
		cd->client = a->client;
		for (j = 0; j < a->noptions; j++) {
			eq = strchr(a->options[j], '=');
			klen = (size_t)(eq - a->options[j]);
			key = xmalloc(klen + 1);
			memcpy(key, a->options[j], klen);
			key[klen] = '\0';
			conf_device_option(cd, key, eq + 1, "command line");
			free(key);
		}
		if (a->queue_mask != NULL &&
		    conf_parse_masks(cd, a->queue_mask, &cause) != 0) {
			fprintf(stderr, "command line: --queue-mask: %s\n",
			    cause);
			free(cause);
			return (1);
		}
	}
	return (conf_check(conf));
}

/*
 * Build the devices of --vm KEY=V,KEY=V,...: one device NAME<i> each,
 * its socket from socket=, every other key a module key after the
 * --option ones.  Returns the error count (printed).
 */
static int
main_conf_vms(struct conf *conf, const struct main_args *a)
{
	struct conf_device	*cd;
	size_t			 i, j;
	char			*name, *copy, *item, *next, *eq, *cause;
	int			 errors = 0, have_socket;

	conf->source = xstrdup("command line");
	for (i = 0; i < a->nvms; i++) {
		xasprintf(&name, "%s%zu", a->module, i);
		cd = conf_device_new(conf, name, "command line");
		free(name);
		conf_device_set_module(cd, a->module, "command line");
		for (j = 0; j < a->noptions; j++) {
			copy = xstrdup(a->options[j]);
			eq = strchr(copy, '=');
			*eq = '\0';
			conf_device_option(cd, copy, eq + 1, "command line");
			free(copy);
		}
		have_socket = 0;
		copy = xstrdup(a->vms[i]);
		for (item = copy; item != NULL; item = next) {
			if ((next = strchr(item, ',')) != NULL)
				*next++ = '\0';
			if (*item == '\0')
				continue;
			if ((eq = strchr(item, '=')) == NULL || eq == item) {
				fprintf(stderr, "command line: --vm: '%s': "
				    "expected KEY=VALUE\n", item);
				errors++;
				continue;
			}
			*eq = '\0';
			if (strcmp(item, "socket") == 0) {
				conf_device_set_socket(cd, eq + 1,
				    "command line");
				have_socket = 1;
			} else
				conf_device_option(cd, item, eq + 1,
				    "command line");
		}
		free(copy);
		if (!have_socket) {
			fprintf(stderr, "command line: --vm '%s': no "
			    "socket=PATH\n", a->vms[i]);
			errors++;
		}
		if (a->queue_mask != NULL &&
		    conf_parse_masks(cd, a->queue_mask, &cause) != 0) {
			fprintf(stderr, "command line: --queue-mask: %s\n",
			    cause);
			free(cause);
			errors++;
		}
	}
	if (errors != 0)
		return (errors);
	return (conf_check(conf));
}

/*
 * Where a device's error comes from: the line of the module key the
 * message names ("unknown key 'foo'", "bad max-bytes '1x'"), else the
 * line of the device block.
 */
static const char *
main_device_where(const struct conf_device *cd, const char *cause)
{
	const struct conf_kv	*kv;
	char			*quoted, *spaced;
	int			 found;

	TAILQ_FOREACH(kv, &cd->options, entry) {
		xasprintf(&quoted, "'%s'", kv->key);
		xasprintf(&spaced, " %s '", kv->key);
		found = strstr(cause, quoted) != NULL ||
		    strstr(cause, spaced) != NULL;
		free(quoted);
		free(spaced);
		if (found)
			return (kv->where);
	}
	return (cd->where);
}

/* Does a message already start with "FILE:LINE: " or "command line: "? */
static int
main_located(const char *cause)
{
	const char	*p = cause;

	if (strncmp(cause, "command line: ", 14) == 0)
		return (1);
	while (*p != '\0' && *p != ' ' && *p != ':')
		p++;
	if (*p != ':' || p == cause || !isdigit((unsigned char)p[1]))
		return (0);
	p++;
	while (isdigit((unsigned char)*p))
		p++;
	return (p[0] == ':' && p[1] == ' ');
}

/* Print a device's startup error ("FILE:LINE: rng0: rng: ..."), to the
 * log when serving, to stderr for -n. */
static void
main_device_error(const struct conf_device *cd, const char *cause, int log)
{
	const char	*where = "", *sep = "";

	if (!main_located(cause)) {
		where = main_device_where(cd, cause);
		sep = ": ";
	}
	if (log)
		log_line(LOG_LEVEL_ERR, "%s%s%s", where, sep, cause);
	else
		fprintf(stderr, "%s%s%s\n", where, sep, cause);
}

/* vhostd -n: check every device's module and keys; the exit status. */
static int
main_check(struct conf *conf, const char *module_dir)
{
	struct conf_device	*cd;
	char			*cause;
	int			 errors = 0;

	TAILQ_FOREACH(cd, &conf->devices, entry) {
		if (device_check(cd, module_dir, &cause) != 0) {
			main_device_error(cd, cause, 0);
			free(cause);
			errors++;
		}
	}
	module_unload_all();
	if (errors != 0)
		return (1);
	printf("configuration OK\n");
	return (0);
}

/* SIGHUP: reload the configuration.  Main thread. */
static void
main_sighup_cb(evutil_socket_t sig __unused, short events __unused,
    void *arg)
{
	char	*cause = NULL;

	log_info("SIGHUP: reloading");
	(void)control_reload(arg, &cause);
	free(cause);
}

/* Start the control socket: the configured path, else the default; a
 * default that cannot be had (another vhostd holds it) is only a
 * warning.  0 or -1 (logged). */
static int
main_control(struct serve *s, const struct main_args *a)
{
	const char	*path;
	uid_t		 uid = (uid_t)PRIVSEP_NOID;
	gid_t		 gid = (gid_t)PRIVSEP_NOID;
	char		*cause;
	int		 dflt = 0;

	path = a->control != NULL ? a->control : s->conf->control_path;
	if (path == NULL && (path = getenv("VHOSTD_CONTROL")) != NULL &&
	    *path == '\0')
		path = NULL;
	if (path == NULL) {
		path = CONTROL_DEFAULT_PATH;
		dflt = 1;
	}
	if (strcmp(path, "none") == 0)
		return (0);
	/* The daemon's user (after --user) may use it too. */
	if (a->user != NULL && privsep_user(a->user, &uid, &gid, &cause) ==
	    -1) {
		log_line(LOG_LEVEL_ERR, "%s", cause);
		free(cause);
		return (-1);
	}
	if (a->group != NULL && privsep_group(a->group, &gid, &cause) == -1) {
		log_line(LOG_LEVEL_ERR, "%s", cause);
		free(cause);
		return (-1);
	}
	if (control_start(s, path, uid, gid, &cause) == -1) {
		if (dflt) {
			log_warnx("%s; serving without one", cause);
			free(cause);
			return (0);
		}
		log_line(LOG_LEVEL_ERR, "%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* SIGINT or SIGTERM: leave the main loop.  Main thread. */
static void
main_signal_cb(evutil_socket_t sig, short events __unused, void *arg)
{
	struct event_base	*base = arg;

	log_info("shutting down on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	sdn_stopping();
	event_base_loopbreak(base);
}

/* Create every device, serve until a signal, tear everything down; the
 * exit status.  Main thread. */
static int
main_serve(struct conf *conf, const char *module_dir,
    const struct main_args *a)
{
	struct serve		 s;
	struct conf_device	*cd;
	struct device		*dev;
	struct event_base	*base;
	struct event		*sigint = NULL, *sigterm = NULL, *sighup = NULL;
	char			*cause;
	unsigned		 ndevices = 0;
	int			 status = 1;
	unsigned		 i, workers;

	/* Before any thread starts: both unset environment variables. */
	sdn_init();
	sd_listen_init();
	if (evthread_use_pthreads() != 0)
		fatalx("libevent: cannot use pthreads");
	if ((base = event_base_new()) == NULL)
		fatalx("libevent: cannot create the main event base");
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal(SIGPIPE)");
	/* Before any worker starts: a frontend shrinking a guest memory
	 * file must cost its device, not the daemon (guest_fault.h). */
	if (guest_fault_init(base, &cause) == -1)
		fatalx("%s", cause);
	postcopy_init();
	sigint = evsignal_new(base, SIGINT, main_signal_cb, base);
	sigterm = evsignal_new(base, SIGTERM, main_signal_cb, base);
	if (sigint == NULL || sigterm == NULL ||
	    evsignal_add(sigint, NULL) != 0 || evsignal_add(sigterm, NULL) != 0)
		fatalx("libevent: cannot watch SIGINT and SIGTERM");

	/* ctl: what reload and the control socket work on. */
	memset(&s, 0, sizeof s);
	s.base = base;
	TAILQ_INIT(&s.devices);
	s.conf = conf;
	s.config_path = a->config;
	s.module_dir_arg = a->module_dir;
	s.log_level_arg = a->log_level;
	s.module_dir = xstrdup(module_dir);
	sighup = evsignal_new(base, SIGHUP, main_sighup_cb, &s);
	if (sighup == NULL || evsignal_add(sighup, NULL) != 0)
		fatalx("libevent: cannot watch SIGHUP");
	postcopy_set_timeout(conf->pc_fault_timeout);
	workers = a->workers != 0 ? a->workers : conf->workers;
	if (workers != 0 && pool_start(base, workers, reload_pool_stuck, &s,
	    &cause) == -1) {
		log_line(LOG_LEVEL_ERR, "%s", cause);
		free(cause);
		goto out;
	}

	log_debug("%s: module directory %s", __func__, module_dir);
	TAILQ_FOREACH(cd, &conf->devices, entry) {
		dev = device_create(base, cd, module_dir, &cause);
		if (dev == NULL) {
			main_device_error(cd, cause, 1);
			free(cause);
			log_line(LOG_LEVEL_ERR, "startup failed: serving "
			    "nothing");
			goto out;
		}
		TAILQ_INSERT_TAIL(&s.devices, dev, entry);
		ndevices++;
	}
	if (main_control(&s, a) == -1) {
		log_line(LOG_LEVEL_ERR, "startup failed: serving nothing");
		goto out;
	}

	/* Everything that needs privileges is done: modules are loaded,
	 * sockets bound, workers running. */
	if (privsep_drop(a->user, a->group, &cause) == -1 ||
	    (!a->no_seccomp && privsep_seccomp(&cause) == -1)) {
		log_line(LOG_LEVEL_ERR, "%s", cause);
		free(cause);
		log_line(LOG_LEVEL_ERR, "startup failed: serving nothing");
		goto out;
	}

	/* Every socket listens: tell the service manager (sd_notify.c). */
	sd_listen_warn_unused();
	(void)sdn_watchdog_start(base);
	sdn_status("serving %u device%s", ndevices, ndevices == 1 ? "" : "s");
	sdn_ready();

	if (event_base_dispatch(base) == -1)
		log_line(LOG_LEVEL_ERR, "main loop failed");
	else
		status = 0;

out:
	control_stop();
	while ((dev = TAILQ_FIRST(&s.devices)) != NULL) {
		TAILQ_REMOVE(&s.devices, dev, entry);
		device_destroy(dev);
	}
	pool_stop();
	/* The configuration in use goes back to main(); the ones reloads
	 * replaced are freed here. */
	if (s.conf != conf) {
		conf_clear(conf);
		*conf = *s.conf;
		TAILQ_INIT(&conf->devices);
		TAILQ_CONCAT(&conf->devices, &s.conf->devices, entry);
		free(s.conf);
		s.old[0] = NULL;	/* that was `conf` itself */
	}
	for (i = 0; i < s.nold; i++) {
		if (s.old[i] != NULL) {
			conf_clear(s.old[i]);
			free(s.old[i]);
		}
	}
	free(s.old);
	free(s.module_dir);
	if (sighup != NULL)
		event_free(sighup);
	/* A worker left running may be inside a module or guest memory:
	 * keep them all. */
	if (worker_abandoned() == 0) {
		module_unload_all();
		guest_fault_fini();
	}
	sdn_fini();
	sd_listen_fini();
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	return (status);
}

/* Parse the command line, build and check the configuration, then check
 * (-n), list modules or serve. */
int
main(int argc, char **argv)
{
	struct main_args	 a;
	struct conf		 conf;
	const char		*module_dir;
	int			 errors, status, level;

	log_setname("main");
	main_parse_args(argc, argv, &a);

	if (a.list) {
		module_dir = a.module_dir != NULL ? a.module_dir :
		    module_default_dir();
		status = module_list(module_dir, stdout) == 0 ? 0 : 1;
		module_unload_all();
		free(a.options);
		free(a.vms);
		return (status);
	}

	conf_init(&conf);
	if (a.config != NULL)
		errors = conf_parse_file(&conf, a.config);
	else if (a.nvms != 0)
		errors = main_conf_vms(&conf, &a);
	else
		errors = main_conf_args(&conf, &a);
	free(a.options);
	free(a.vms);
	if (errors != 0) {
		fprintf(stderr, "vhostd: %d configuration error%s\n", errors,
		    errors == 1 ? "" : "s");
		conf_clear(&conf);
		return (1);
	}

	if (a.module_dir != NULL)
		module_dir = a.module_dir;
	else if (conf.module_dir != NULL)
		module_dir = conf.module_dir;
	else
		module_dir = module_default_dir();
	level = a.log_level != -1 ? a.log_level :
	    conf.log_level != -1 ? conf.log_level : LOG_LEVEL_INFO;

	if (a.check) {
		log_init(level, 0);
		status = main_check(&conf, module_dir);
	} else {
		log_init(level, a.log_dest != -1 ? a.log_dest :
		    log_dest_default());
		status = main_serve(&conf, module_dir, &a);
	}
	conf_clear(&conf);
	return (status);
}
