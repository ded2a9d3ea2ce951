/*
 * vhostd: the configuration, checking it (-n), and the main loop; the
 * command line is parsed in main_args.c.  Every device is created before
 * anything is served; any startup error exits 1 having served nothing.  SIGINT and SIGTERM end the loop and everything
 * is torn down in order (devices, modules, configuration, base).
 */

#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <signal.h>
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
#include "main_args.h"
#include "module.h"
#include "pool.h"
#include "postcopy.h"
#include "privsep.h"
#include "sd_listen.h"
#include "sd_notify.h"
#include "serve.h"
#include "worker.h"
#include "xmalloc.h"

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
	main_args_parse(argc, argv, &a);

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
	else
		errors = main_args_conf(&conf, &a);
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
