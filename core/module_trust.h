/*
 * Module trust (StrictModes): a module file, and every directory from /
 * down to it, must be owned by root or by the uid vhostd runs as and not
 * be writable by group or others (a sticky directory of root's, like
 * /tmp, excepted).  Checked before dlopen (which runs a module's
 * constructors), so no code of an untrusted file runs.  Main thread.
 */

#ifndef VHOSTD_MODULE_TRUST_H
#define VHOSTD_MODULE_TRUST_H

#include "compat.h"

/* Check a module directory and every directory above it.  0, or -1 with
 * *cause. */
int	 module_trust_dir(const char *dir, char **cause) __must_check;
/* Check the module file at `path` and the directories above it; its
 * resolved path for dlopen in *realp (to free).  0, or -1 with *cause. */
int	 module_trust_file(const char *path, char **realp, char **cause)
	    __must_check;

#endif /* VHOSTD_MODULE_TRUST_H */
