/*
 * The module loader.  A module NAME is the file NAME.so in the module
 * directory.  Before the file is opened, it and every directory above it
 * must pass the trust rules of module_trust.c, so no code of a file that
 * someone else could have written runs; the resolved path that was
 * checked is what dlopen gets.  dlopen runs the module's constructors (and
 * those of the libraries it needs), so a trusted module's code does run
 * before the loader sees its descriptor; after dlopen the descriptor
 * `vhd_module` is read and checked (size, ABI major and minor, name,
 * operations) before any function of the module is called.  Loaded
 * modules are kept in a list and loaded once.  Main thread.
 */

#include <sys/types.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vhostd/vhostd.h>

#include "log.h"
#include "module.h"
#include "module_trust.h"
#include "xmalloc.h"

#define MODULE_NAME_MAX		64
#define MODULE_LIST_MAX		1024	/* files --list-modules looks at */
#define MODULE_STRUCT_MAX	65536	/* sane descriptor sizes */
/* The smallest ops table of ABI 1.x: the 1.0 callbacks. */
#define MODULE_OPS_MIN \
	(offsetof(struct vhd_device_ops, get_shared_object) + sizeof(void *))

/* The smallest descriptor whose first fields can be read. */
#define MODULE_DESC_HEAD \
	(offsetof(struct vhd_module, abi_minor) + sizeof(uint16_t))

static TAILQ_HEAD(, module) module_loaded =
    TAILQ_HEAD_INITIALIZER(module_loaded);

/* A hint for common dlopen failures (collectd does the same). */
static const struct {
	const char	*text;
	const char	*hint;
} module_dlerror_hints[] = {
	{ "invalid ELF header", "not a shared object" },
	{ "file too short", "not a shared object" },
	{ "wrong ELF class", "built for another architecture" },
	{ "undefined symbol", "the module needs a symbol this vhostd lacks: "
	    "rebuild it against this vhostd" },
	{ "No such file", "a library the module needs is missing" },
	{ "cannot open shared object", "a library the module needs is "
	    "missing" },
};

/*
 * The module directory used when none is configured: $VHOSTD_MODULE_DIR,
 * else the build tree's modules when this binary is the build tree's,
 * else the installed directory.
 */
const char *
module_default_dir(void)
{
	static char	 exe[PATH_MAX], build[PATH_MAX];
	const char	*env;
	char		*slash;

	env = getenv("VHOSTD_MODULE_DIR");
	if (env != NULL && *env != '\0')
		return (env);
	if (realpath("/proc/self/exe", exe) == NULL ||
	    realpath(BUILD_DIR, build) == NULL)
		return (MODULE_DIR);
	if ((slash = strrchr(exe, '/')) == NULL)
		return (MODULE_DIR);
	*slash = '\0';
	if (strcmp(exe, build) == 0)
		return (BUILD_MODULE_DIR);
	/* libtool may put the real binary in .libs. */
	slash = strrchr(exe, '/');
	if (slash != NULL && strcmp(slash, "/.libs") == 0) {
		*slash = '\0';
		if (strcmp(exe, build) == 0)
			return (BUILD_MODULE_DIR);
	}
	return (MODULE_DIR);
}

/* Is this a plain module name: 1..64 of [A-Za-z0-9_-]? */
int
module_name_valid(const char *name)
{
	size_t	 i;

	if (name == NULL)
		return (0);
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= MODULE_NAME_MAX)
			return (0);
		if ((name[i] < 'a' || name[i] > 'z') &&
		    (name[i] < 'A' || name[i] > 'Z') &&
		    (name[i] < '0' || name[i] > '9') &&
		    name[i] != '_' && name[i] != '-')
			return (0);
	}
	return (i > 0);
}

/* Find a loaded module by name. */
static struct module *
module_find(const char *name)
{
	struct module	*mod;

	TAILQ_FOREACH(mod, &module_loaded, entry) {
		if (strcmp(mod->name, name) == 0)
			return (mod);
	}
	return (NULL);
}

/* Is module `name` loaded already?  Main thread. */
int
module_is_loaded(const char *name)
{
	return (module_find(name) != NULL);
}

/* Append a hint to a dlerror() text, if one fits. */
static const char *
module_dlerror_hint(const char *err)
{
	size_t	 i;

	for (i = 0; i < nitems(module_dlerror_hints); i++) {
		if (strstr(err, module_dlerror_hints[i].text) != NULL)
			return (module_dlerror_hints[i].hint);
	}
	return (NULL);
}

/*
 * Check the descriptor of a freshly opened module without calling any of
 * its code: the symbol must be the module's own, big enough, for our ABI
 * major, named after the file, with a usable operations table.  0, or -1
 * with *cause.
 */
static int
module_check_desc(void *handle, const char *file, const char *name,
    const struct vhd_module **descp, char **cause)
{
	const struct vhd_module	*desc;
	const struct vhd_device_ops *ops;
	struct link_map		*lm;
	const ElfW(Sym)		*sym = NULL;
	Dl_info			 info;
	void			*p, *symp = NULL;

	dlerror();
	p = dlsym(handle, VHD_MODULE_SYMBOL);
	if (p == NULL) {
		xasprintf(cause, "%s: no %s symbol: not a vhostd module (build "
		    "it with VHD_MODULE())", file, VHD_MODULE_SYMBOL);
		return (-1);
	}
	/* dlsym also searches the module's libraries: it must be its own. */
	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 ||
	    dladdr1(p, &info, &symp, RTLD_DL_SYMENT) == 0 ||
	    info.dli_fname == NULL || lm->l_name == NULL ||
	    strcmp(info.dli_fname, lm->l_name) != 0) {
		xasprintf(cause, "%s: no %s symbol of its own: not a vhostd "
		    "module (build it with VHD_MODULE())", file,
		    VHD_MODULE_SYMBOL);
		return (-1);
	}
	sym = symp;
	if (sym != NULL && sym->st_size != 0 &&
	    sym->st_size < MODULE_DESC_HEAD) {
		xasprintf(cause, "%s: %s is only %zu bytes: not built with "
		    "VHD_MODULE()", file, VHD_MODULE_SYMBOL,
		    (size_t)sym->st_size);
		return (-1);
	}
	desc = p;
	if (desc->abi_major != VHD_ABI_MAJOR) {
		xasprintf(cause, "%s: built for vhostd module ABI %u.%u, this "
		    "vhostd has ABI %d.%d: rebuild the module", file,
		    desc->abi_major, desc->abi_minor, VHD_ABI_MAJOR,
		    VHD_ABI_MINOR);
		return (-1);
	}
	/*
	 * The function table only grows, so a module built for an older minor
	 * finds everything it knows; one built for a newer minor may need a
	 * function or a behaviour this vhostd lacks.
	 */
	if (desc->abi_minor > VHD_ABI_MINOR) {
		xasprintf(cause, "%s: built for vhostd module ABI %u.%u, newer "
		    "than this vhostd's ABI %d.%d: upgrade vhostd, or rebuild "
		    "the module against this vhostd's SDK", file,
		    desc->abi_major, desc->abi_minor, VHD_ABI_MAJOR,
		    VHD_ABI_MINOR);
		return (-1);
	}
	/* Every 1.x descriptor holds at least the 1.0 fields. */
	if (desc->size < sizeof *desc || desc->size > MODULE_STRUCT_MAX ||
	    (sym != NULL && sym->st_size != 0 && sym->st_size < sizeof *desc)) {
		xasprintf(cause, "%s: bad descriptor size %u (expected at "
		    "least %zu): not built with VHD_MODULE()", file,
		    desc->size, sizeof *desc);
		return (-1);
	}
	if (desc->name == NULL || strcmp(desc->name, name) != 0) {
		xasprintf(cause, "%s: the module calls itself \"%.64s\", not "
		    "\"%s\": the file must be named after the module", file,
		    desc->name != NULL ? desc->name : "", name);
		return (-1);
	}
	ops = desc->ops;
	if (ops == NULL) {
		xasprintf(cause, "%s: no device operations", file);
		return (-1);
	}
	/* A module built for an older minor has a shorter table (the
	 * daemon copies it by its size); every 1.x table holds the 1.0
	 * callbacks, which end with get_shared_object. */
	if (ops->size < MODULE_OPS_MIN || ops->size > MODULE_STRUCT_MAX) {
		xasprintf(cause, "%s: bad device operations size %u (expected "
		    "at least %zu)", file, ops->size, MODULE_OPS_MIN);
		return (-1);
	}
	if (ops->create == NULL || ops->queue_handler == NULL) {
		xasprintf(cause, "%s: no %s callback", file,
		    ops->create == NULL ? "create" : "queue_handler");
		return (-1);
	}
	*descp = desc;
	return (0);
}

/*
 * Load a module from an explicit path under the name `name` (or find it
 * loaded already).  NULL with *cause.  Main thread.
 */
struct module *
module_load_path(const char *path, const char *name, char **cause)
{
	const struct vhd_module	*desc;
	struct module		*mod;
	const char		*file, *err, *hint;
	char			*real;
	void			*handle;

	if ((file = strrchr(path, '/')) != NULL)
		file++;
	else
		file = path;
	if (!module_name_valid(name)) {
		xasprintf(cause, "invalid module name \"%.64s\": a plain name "
		    "of letters, digits, '_' or '-'", name);
		return (NULL);
	}
	if ((mod = module_find(name)) != NULL) {
		if (strcmp(mod->path, path) == 0)
			return (mod);
		xasprintf(cause, "%s: module \"%s\" is already loaded from %s",
		    path, name, mod->path);
		return (NULL);
	}
	/*
	 * Judge the file by where it lies before dlopen runs anything of it
	 * (its constructors run inside dlopen), then load the resolved path
	 * that was checked; module_trust.c says why not a descriptor.  The
	 * path has a slash, so dlopen searches nothing.
	 */
	if (module_trust_file(path, &real, cause) != 0)
		return (NULL);
	dlerror();
	handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	free(real);
	if (handle == NULL) {
		err = dlerror();
		if (err == NULL)
			err = "unknown dlopen error";
		hint = module_dlerror_hint(err);
		xasprintf(cause, "%s: dlopen: %s%s%s", file, err,
		    hint != NULL ? ": " : "", hint != NULL ? hint : "");
		return (NULL);
	}
	if (module_check_desc(handle, file, name, &desc, cause) != 0) {
		dlclose(handle);
		return (NULL);
	}

	mod = xcalloc(1, sizeof *mod);
	mod->name = xstrdup(name);
	mod->path = xstrdup(path);
	mod->handle = handle;
	mod->desc = desc;
	TAILQ_INSERT_TAIL(&module_loaded, mod, entry);
	log_debug("%s: loaded %s %s from %s", __func__, name,
	    desc->version != NULL ? desc->version : "", path);
	return (mod);
}

/*
 * Load (or find already loaded) module `name` from `dir` after checking
 * the directory.  NULL with *cause naming the file and the reason.  Main
 * thread.
 */
struct module *
module_load(const char *dir, const char *name, char **cause)
{
	struct module	*mod;
	char		*path;

	if (!module_name_valid(name)) {
		xasprintf(cause, "invalid module name \"%.64s\": a plain name "
		    "of letters, digits, '_' or '-', not a path (see "
		    "--module-dir)", name != NULL ? name : "");
		return (NULL);
	}
	if (dir == NULL || *dir == '\0') {
		xasprintf(cause, "%s: no module directory", name);
		return (NULL);
	}
	if ((mod = module_find(name)) != NULL)
		return (mod);
	if (module_trust_dir(dir, cause) != 0)
		return (NULL);
	xasprintf(&path, "%s/%s.so", dir, name);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		xasprintf(cause, "%s.so: file not found: is the module "
		    "installed in %s? see --module-dir", name, dir);
		free(path);
		return (NULL);
	}
	mod = module_load_path(path, name, cause);
	free(path);
	return (mod);
}

/* dlclose every loaded module.  Main thread, no device left. */
void
module_unload_all(void)
{
	struct module	*mod;

	while ((mod = TAILQ_FIRST(&module_loaded)) != NULL) {
		TAILQ_REMOVE(&module_loaded, mod, entry);
		dlclose(mod->handle);
		free(mod->name);
		free(mod->path);
		free(mod);
	}
}

/* Compare two file names (qsort). */
static int
module_list_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * Print every *.so in dir, sorted: "NAME VERSION  DESCRIPTION" or
 * "NAME: cannot load: CAUSE".  Returns the number that failed, or -1
 * (reported on stderr) when the directory cannot be used.  Main thread.
 */
int
module_list(const char *dir, FILE *out)
{
	DIR			*d;
	struct dirent		*de;
	struct module		*mod;
	char			**names = NULL, *path, *name, *cause;
	size_t			 n = 0, i, len;
	int			 failed = 0;

	if (module_trust_dir(dir, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (-1);
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "module directory %s: %s\n", dir,
		    strerror(errno));
		return (-1);
	}
	while ((de = readdir(d)) != NULL && n < MODULE_LIST_MAX) {
		len = strlen(de->d_name);
		if (len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, module_list_cmp);

	for (i = 0; i < n; i++) {
		name = names[i];
		name[strlen(name) - 3] = '\0';
		xasprintf(&path, "%s/%s.so", dir, name);
		mod = module_load_path(path, name, &cause);
		if (mod == NULL) {
			fprintf(out, "%s: cannot load: %s\n", name, cause);
			free(cause);
			failed++;
		} else
			fprintf(out, "%s %s  %s\n", name,
			    mod->desc->version != NULL ? mod->desc->version :
			    "?", mod->desc->description != NULL ?
			    mod->desc->description : "");
		free(path);
		free(name);
	}
	free(names);
	return (failed);
}
