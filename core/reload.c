/*
 * Reload (SIGHUP, `vhostctl reload`): re-read the configuration file and
 * bring the running devices in line with it without disturbing the ones
 * whose block did not change, so their VMs see nothing.
 *
 * All or nothing: the new file is parsed and checked whole, and every
 * device to be created (added or changed) is checked the way `vhostd -n`
 * does (its module loaded, which makes a module newly dropped into the
 * module directory usable, and its create run and undone) before any
 * running device is touched.  Any error leaves the running set as it was
 * and is logged as file:line.  Then removed and changed devices are
 * destroyed (their sockets unlinked) and added and changed ones created.
 * A device that fails at that late point (a socket path taken meanwhile)
 * is logged and left out; the others go on.
 *
 * What a reload does not change: the worker pool (`workers`) and the
 * control socket path; a change is logged and applies at the next start.
 * Main thread only.
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "device.h"
#include "log.h"
#include "module.h"
#include "postcopy.h"
#include "privsep.h"
#include "sd_notify.h"
#include "serve.h"
#include "worker.h"
#include "xmalloc.h"

/* The device named `name`, or NULL. */
struct device *
reload_find(struct serve *s, const char *name)
{
	struct device	*dev;

	TAILQ_FOREACH(dev, &s->devices, entry) {
		if (strcmp(dev->name, name) == 0)
			return (dev);
	}
	return (NULL);
}

/* A pool worker got stuck: fail every device it serves (their queues are
 * on it and will not be served again).  Main thread. */
void
reload_pool_stuck(struct worker *w, void *arg)
{
	struct serve	*s = arg;
	struct device	*dev;
	unsigned	 i;

	TAILQ_FOREACH(dev, &s->devices, entry) {
		for (i = 0; i < dev->nworkers; i++) {
			if (dev->workers[i] != w)
				continue;
			device_fail(dev, "its pool worker %s does not answer",
			    worker_name(w));
			break;
		}
	}
}

/* Is the running device `dev` kept as it is under the new configuration
 * (same block, same module directory)? */
static int
reload_unchanged(struct serve *s, struct conf *nconf, const char *ndir,
    struct device *dev)
{
	struct conf_device	*ocd, *ncd;

	if ((ncd = conf_device_find(nconf, dev->name)) == NULL)
		return (0);
	if ((ocd = conf_device_find(s->conf, dev->name)) == NULL)
		return (0);
	return (conf_device_equal(ocd, ncd) &&
	    strcmp(ndir, s->module_dir) == 0);
}

/* Re-read and apply the configuration.  0 (with an optional summary in
 * *cause) or -1 with *cause. */
static int
reload_apply(struct serve *s, char **cause)
{
	struct conf		*nconf;
	struct conf_device	*cd;
	struct device		*dev, *next;
	const char		*ndir;
	char			*dcause;
	int			 errors;
	unsigned		 added = 0, removed = 0, changed = 0, kept = 0;
	unsigned		 failed = 0;

	*cause = NULL;
	if (s->config_path == NULL) {
		xasprintf(cause, "vhostd was started from the command line: "
		    "there is no configuration file to reload");
		return (-1);
	}
	log_info("reloading %s", s->config_path);
	nconf = xcalloc(1, sizeof *nconf);
	conf_init(nconf);
	conf_errors_to_log(1);
	errors = conf_parse_file(nconf, s->config_path);
	ndir = s->module_dir_arg != NULL ? s->module_dir_arg :
	    nconf->module_dir != NULL ? nconf->module_dir :
	    module_default_dir();

	/* Check every device that would be created, before touching
	 * any. */
	TAILQ_FOREACH(cd, &nconf->devices, entry) {
		if (errors != 0)
			break;
		dev = reload_find(s, cd->name);
		if (dev != NULL && reload_unchanged(s, nconf, ndir, dev))
			continue;
		if (device_check(cd, ndir, &dcause) == -1) {
			conf_report("%s: %s%s", cd->where, dcause,
			    privsep_confined() && !module_is_loaded(cd->module) ?
			    " (the seccomp filter forbids loading a module "
			    "that was not loaded at startup: restart vhostd, "
			    "or run it with --no-seccomp to add modules by "
			    "reload)" : "");
			free(dcause);
			errors++;
		}
	}
	conf_errors_to_log(0);
	if (errors != 0) {
		xasprintf(cause, "%s: %d error%s: configuration refused, "
		    "nothing changed", s->config_path, errors,
		    errors == 1 ? "" : "s");
		conf_clear(nconf);
		free(nconf);
		return (-1);
	}

	if (nconf->workers != s->conf->workers)
		log_warnx("reload: workers %u -> %u takes effect at the next "
		    "start", s->conf->workers, nconf->workers);
	if ((nconf->control_path == NULL) != (s->conf->control_path ==
	    NULL) || (nconf->control_path != NULL &&
	    strcmp(nconf->control_path, s->conf->control_path) != 0))
		log_warnx("reload: a new control socket path takes effect at "
		    "the next start");

	/* Removed and changed devices go first: a changed one keeps its
	 * socket path, an added one may take a removed one's. */
	for (dev = TAILQ_FIRST(&s->devices); dev != NULL; dev = next) {
		next = TAILQ_NEXT(dev, entry);
		if (reload_unchanged(s, nconf, ndir, dev)) {
			kept++;
			continue;
		}
		if (conf_device_find(nconf, dev->name) != NULL) {
			log_info("%s: configuration changed: restarting it",
			    dev->name);
			changed++;
		} else {
			log_info("%s: removed from the configuration: "
			    "stopping it", dev->name);
			removed++;
		}
		TAILQ_REMOVE(&s->devices, dev, entry);
		device_destroy(dev);
	}
	TAILQ_FOREACH(cd, &nconf->devices, entry) {
		if (reload_find(s, cd->name) != NULL)
			continue;
		dev = device_create(s->base, cd, ndir, &dcause);
		if (dev == NULL) {
			log_warnx("%s: %s", cd->where, dcause);
			free(dcause);
			failed++;
			continue;
		}
		TAILQ_INSERT_TAIL(&s->devices, dev, entry);
		if (conf_device_find(s->conf, cd->name) == NULL) {
			log_info("%s: added", cd->name);
			added++;
		}
	}

	if (s->log_level_arg == -1)
		log_setlevel(nconf->log_level != -1 ? nconf->log_level :
		    LOG_LEVEL_INFO);
	s->old = xreallocarray(s->old, s->nold + 1, sizeof *s->old);
	s->old[s->nold++] = s->conf;
	s->conf = nconf;
	postcopy_set_timeout(nconf->pc_fault_timeout);
	free(s->module_dir);
	s->module_dir = xstrdup(ndir);

	xasprintf(cause, "reloaded: %u added, %u removed, %u changed, %u "
	    "kept%s", added, removed, changed,
	    kept, failed != 0 ? " (some devices failed to start: see the "
	    "log)" : "");
	log_info("%s", *cause);
	return (0);
}

/* Re-read and apply the configuration, telling the service manager
 * (RELOADING=1, then READY=1 with the outcome as STATUS=).  0 (with an
 * optional summary in *cause) or -1 with *cause; see serve.h. */
int
reload_run(struct serve *s, char **cause)
{
	int	 rc;

	sdn_reloading();
	rc = reload_apply(s, cause);
	if (*cause != NULL)
		sdn_status("%s", *cause);
	sdn_ready();
	return (rc);
}
