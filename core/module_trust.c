/*
 * Module trust, as OpenSSH's StrictModes does for its files.  dlopen runs
 * a module's constructors before the loader can read anything, so a file
 * is judged by where it lies before it is opened: the module file must be
 * a regular file, and it and every directory from / down to it must be
 * owned by root or by the uid vhostd runs as (the one that loads modules,
 * before any --user drop) and not be writable by group or others.  Then
 * nobody else can have put code there or swap it for other code later.
 *
 * A directory writable by group or others is accepted only when it is
 * owned by root and has the sticky bit (/tmp, mode 1777): there nobody can
 * rename or remove an entry they do not own, and the entry below it must
 * pass the checks itself.
 *
 * The --user target does not count as trusted: modules load as root, so
 * a module that account could change would let it run code as root at
 * the next start.
 *
 * The loader then dlopens the resolved path it checked, not a descriptor
 * of the file: glibc names a library loaded from /proc/self/fd/N by that
 * path, so gdb and the sanitizers' symbolizer cannot find it, and a later
 * module opened on the same descriptor number is taken for the first one.
 * Between the check and dlopen only root or vhostd's own uid can change
 * what the path names (no directory on it lets anyone else rename, remove
 * or replace an entry of the path), and either could replace the module
 * anyway.
 *
 * Not checked: the libraries a module needs, which the dynamic linker
 * finds as for any program (the system's directories, LD_LIBRARY_PATH,
 * the module's RUNPATH).  Our modules need only the C library.
 *
 * Main thread.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "module_trust.h"
#include "xmalloc.h"

/* May files or directories owned by `uid` hold our modules? */
static int
module_trust_owner(uid_t uid)
{
	return (uid == 0 || uid == geteuid());
}

/*
 * Check `p`, described by `st` (from lstat): the module file
 * or directory `target` itself when `last`, else a directory above it;
 * `file` says whether target is a module file or a module directory.
 * 0, or -1 with *cause.
 */
static int
module_trust_check(const char *target, const char *p, const struct stat *st,
    int last, int file, char **cause)
{
	const char	*verdict;
	char		*who;
	int		 ok = 0;

	if (last && file)
		xasprintf(&who, "%s", p);
	else if (last)
		xasprintf(&who, "module directory %s", p);
	else if (file)
		xasprintf(&who, "%s: %s", target, p);
	else
		xasprintf(&who, "module directory %s: %s", target, p);
	verdict = file ? "refusing to load it" :
	    "refusing to load modules from it";

	if (last && file && !S_ISREG(st->st_mode))
		xasprintf(cause, "%s: not a regular file", who);
	else if (!(last && file) && !S_ISDIR(st->st_mode))
		xasprintf(cause, "%s: not a directory", who);
	else if (!module_trust_owner(st->st_uid)) {
		xasprintf(cause, "%s is owned by uid %u, neither root nor the "
		    "uid vhostd runs as (%u): %s", who, (unsigned)st->st_uid,
		    (unsigned)geteuid(), verdict);
	} else if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    !(S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) &&
	    st->st_uid == 0)) {
		xasprintf(cause, "%s is writable by group or others (mode "
		    "%04o%s): %s", who, (unsigned)(st->st_mode & 07777),
		    S_ISDIR(st->st_mode) ? ", not a sticky directory of root's" :
		    "", verdict);
	} else
		ok = 1;
	free(who);
	return (ok ? 0 : -1);
}

/*
 * Check every directory from / down to the absolute, resolved path `real`
 * (which has no symbolic link), and real itself unless it is a module
 * file (`file`: the caller checks the file with its own messages).
 * `target` names real in messages.  0, or -1 with *cause.
 */
static int
module_trust_walk(const char *target, const char *real, int file,
    char **cause)
{
	struct stat	 st;
	char		*p;
	size_t		 i;
	int		 error = 0;

	p = xstrdup(real);
	for (i = 0; p[i] != '\0' && error == 0; i++) {
		if (p[i] != '/' || (i > 0 && p[i + 1] == '\0'))
			continue;
		/* "/" itself, then each directory above real. */
		p[i > 0 ? i : 1] = '\0';
		if (lstat(p, &st) == -1) {
			xasprintf(cause, "%s: %s: %s", target, p,
			    strerror(errno));
			error = -1;
		} else
			error = module_trust_check(target, p, &st, 0, file,
			    cause);
		memcpy(p, real, strlen(real) + 1);
		if (strcmp(real, "/") == 0)
			break;
	}
	free(p);
	if (error != 0 || file || strcmp(real, "/") == 0)
		return (error);
	if (lstat(real, &st) == -1) {
		xasprintf(cause, "module directory %s: %s", target,
		    strerror(errno));
		return (-1);
	}
	return (module_trust_check(target, real, &st, 1, 0, cause));
}

/*
 * Check that `dir` and every directory above it can hold trusted
 * modules.  0, or -1 with *cause.
 */
int
module_trust_dir(const char *dir, char **cause)
{
	char	 real[PATH_MAX];

	if (realpath(dir, real) == NULL) {
		xasprintf(cause, "module directory %s: %s (see --module-dir)",
		    dir, strerror(errno));
		return (-1);
	}
	return (module_trust_walk(dir, real, 0, cause));
}

/*
 * Check the module file `path` and every directory above it, and hand
 * back its resolved path in *realp (to free) for dlopen.  0, or -1 with
 * *cause.  Never opens the file, so no code of an untrusted file runs.
 */
int
module_trust_file(const char *path, char **realp, char **cause)
{
	struct stat	 st;
	char		 real[PATH_MAX];

	if (realpath(path, real) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (module_trust_walk(real, real, 1, cause) != 0)
		return (-1);
	if (lstat(real, &st) == -1) {
		xasprintf(cause, "%s: %s", real, strerror(errno));
		return (-1);
	}
	if (module_trust_check(real, real, &st, 1, 1, cause) != 0)
		return (-1);
	*realp = xstrdup(real);
	return (0);
}
