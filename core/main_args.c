/*
 * vhostd's command line: the options, the usage text, and the
 * configuration built from --module/--socket/--option or --vm when no
 * --config is given.  Errors in the command line exit 1 before anything
 * is served.  Main thread, before the event loop.
 */

#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "conf.h"
#include "control.h"
#include "log.h"
#include "main_args.h"
#include "module.h"
#include "privsep.h"
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

static const struct option main_args_options[] = {
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


static void	main_args_check_ids(const struct main_args *);

/* Print the usage text to `out`. */
static void
main_args_usage(FILE *out)
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
main_args_badusage(const char *fmt, ...)
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
main_args_number(const char *opt, const char *s, unsigned min, unsigned max)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		main_args_badusage("%s: '%s' is not a number", opt, s);
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < min || v > max)
		main_args_badusage("%s: '%s': expected a number from %u to %u", opt,
		    s, min, max);
	return ((unsigned)v);
}

/* Parse the command line into `a`; exits on --help, --version or an
 * error. */
void
main_args_parse(int argc, char **argv, struct main_args *a)
{
	int	 ch;

	memset(a, 0, sizeof *a);
	a->log_level = -1;
	a->log_dest = -1;
	while ((ch = getopt_long(argc, argv, "c:hno:s:v", main_args_options,
	    NULL)) != -1) {
		switch (ch) {
		case MAIN_OPT_MODULE:
			a->module = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'c':
			a->socket_count = main_args_number("--socket-count", optarg,
			    1, VHD_MAX_WORKERS);
			break;
		case 'o':
			if (strchr(optarg, '=') == NULL || *optarg == '=')
				main_args_badusage("--option: '%s': expected "
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
				main_args_badusage("--module-dir: empty directory");
			a->module_dir = optarg;
			break;
		case MAIN_OPT_LIST_MODULES:
			a->list = 1;
			break;
		case MAIN_OPT_LOG_LEVEL:
			if ((a->log_level = log_level_parse(optarg)) == -1)
				main_args_badusage("--log-level: unknown level '%s' "
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
				main_args_badusage("--log: unknown destination "
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
				main_args_badusage("--control: '%s': expected an "
				    "absolute path or none", optarg);
			a->control = optarg;
			break;
		case MAIN_OPT_WORKERS:
			a->workers = main_args_number("--workers", optarg, 1,
			    CONF_WORKERS_MAX);
			break;
		case MAIN_OPT_VM:
			a->vms = xreallocarray(a->vms, a->nvms + 1,
			    sizeof *a->vms);
			a->vms[a->nvms++] = optarg;
			break;
		case 'h':
			main_args_usage(stdout);
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
		main_args_badusage("unexpected argument '%s'", argv[optind]);
	main_args_check_ids(a);

	if (a->list)
		return;
	if (a->config != NULL) {
		if (a->module != NULL || a->socket != NULL ||
		    a->socket_count != 0 || a->noptions != 0 ||
		    a->queue_mask != NULL || a->nvms != 0 || a->client)
			main_args_badusage("--config cannot be mixed with --module, "
			    "--socket, --socket-count, --option, --vm, "
			    "--client or --queue-mask (use client yes in the "
			    "file)");
		return;
	}
	if (a->nvms != 0) {
		if (a->client)
			main_args_badusage("--client cannot be used with --vm");
		if (a->socket != NULL || a->socket_count != 0)
			main_args_badusage("--vm takes its socket from socket=; "
			    "it cannot be mixed with --socket or "
			    "--socket-count");
		if (a->module == NULL)
			a->module = "vsock";
		if (!module_name_valid(a->module))
			main_args_badusage("--module: invalid module name '%s'",
			    a->module);
		return;
	}
	if (a->module == NULL && a->socket == NULL) {
		if (a->socket_count != 0 || a->noptions != 0 ||
		    a->queue_mask != NULL)
			main_args_badusage("--socket-count, --option and "
			    "--queue-mask need --module and --socket");
		main_args_badusage("nothing to serve: give --config=FILE or "
		    "--module=NAME --socket=PATH");
	}
	if (a->module == NULL)
		main_args_badusage("--socket needs --module");
	if (a->socket == NULL)
		main_args_badusage("--module needs --socket");
	if (!module_name_valid(a->module))
		main_args_badusage("--module: invalid module name '%s': a plain "
		    "name of letters, digits, '_' or '-' (see --module-dir)",
		    a->module);
}

/* Check --user and --group now, so a typo fails before serving. */
static void
main_args_check_ids(const struct main_args *a)
{
	uid_t	 uid;
	gid_t	 gid;
	char	*cause;

	if (a->user != NULL && privsep_user(a->user, &uid, &gid,
	    &cause) == -1)
		main_args_badusage("--user: %s", cause);
	if (a->group != NULL && privsep_group(a->group, &gid, &cause) == -1)
		main_args_badusage("--group: %s", cause);
}

/* Build the configuration from --module, --socket and friends; returns
 * the error count (printed). */
static int
main_args_conf_cmdline(struct conf *conf, const struct main_args *a)
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
main_args_conf_vms(struct conf *conf, const struct main_args *a)
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

/* Build the configuration from the command line: the devices of --vm, or
 * those of --module and --socket.  Returns the error count (printed). */
int
main_args_conf(struct conf *conf, const struct main_args *a)
{
	if (a->nvms != 0)
		return (main_args_conf_vms(conf, a));
	return (main_args_conf_cmdline(conf, a));
}
