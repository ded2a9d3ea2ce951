/*
 * The module loader.  A module `NAME` is the file NAME.so in the module
 * directory.  It is loaded only if the file and every directory above it
 * pass the trust rules (module_trust.h), with dlopen(RTLD_NOW |
 * RTLD_LOCAL), which runs its constructors; then its descriptor (symbol
 * vhd_module) is checked for size and ABI before any of its functions is
 * called.
 */

#ifndef VHOSTD_MODULE_H
#define VHOSTD_MODULE_H

#include <stdio.h>
#include <sys/queue.h>

#include "compat.h"

struct vhd_module;

struct module {
	char			*name;
	char			*path;
	void			*handle;
	const struct vhd_module	*desc;
	TAILQ_ENTRY(module)	 entry;
};

/* The directory modules come from when none is configured: the build
 * tree's modules when running from the build tree, else the installed one. */
const char	*module_default_dir(void);
/* Is module `name` loaded already?  Main thread. */
int		 module_is_loaded(const char *name);
/* A plain name: [A-Za-z0-9_-]+, no path components, not too long. */
int		 module_name_valid(const char *name);
/* Load (or find already loaded) module `name` from `dir`.  NULL with
 * *cause naming the file and the reason.  Main thread. */
struct module	*module_load(const char *dir, const char *name, char **cause)
		    __must_check;
/* Load a module from an explicit path (tests, --list-modules), after the
 * same trust checks of the file and every directory above it. */
struct module	*module_load_path(const char *path, const char *name,
		    char **cause) __must_check;
/* dlclose every loaded module.  Main thread, no device left. */
void		 module_unload_all(void);
/* Print every *.so in dir: name, version, description, or why it cannot
 * be loaded (the trust checks come first, so an untrusted file is never
 * opened).  Returns the number that failed. */
int		 module_list(const char *dir, FILE *out);

#endif /* VHOSTD_MODULE_H */
