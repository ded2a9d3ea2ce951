/*
 * Least privilege: user and group names, socket ownership, dropping root
 * after the sockets are bound (--user/--group) and the seccomp filter
 * that allows only the system calls vhostd needs (--no-seccomp).
 */

#ifndef VHOSTD_PRIVSEP_H
#define VHOSTD_PRIVSEP_H

#include <sys/types.h>

#include "compat.h"

/* "Leave unchanged" for an owner or group. */
#define PRIVSEP_NOID	((unsigned)-1)

/*
 * A user name or decimal uid.  Sets *uid and, when gid is not NULL, the
 * user's primary group (the uid itself when given as a number without a
 * passwd entry).  0 or -1 with *cause.  Main thread (getpwnam).
 */
int	 privsep_user(const char *name, uid_t *uid, gid_t *gid,
	    char **cause) __must_check;
/* A group name or decimal gid.  0 or -1 with *cause.  Main thread. */
int	 privsep_group(const char *name, gid_t *gid, char **cause)
	    __must_check;
/*
 * Give the socket at `path` its owner and group (PRIVSEP_NOID: leave it).
 * Done before listen(), like the mode.  0 or -1 with *cause.
 */
int	 privsep_chown(const char *path, uid_t uid, gid_t gid, char **cause)
	    __must_check;
/*
 * Become `user` (and `group`, else the user's primary group): drop the
 * supplementary groups, set real, effective and saved ids, and check that
 * root cannot be regained.  Either may be NULL.  0 or -1 with *cause.
 * Main thread; other threads follow (glibc's setxid broadcast).
 */
int	 privsep_drop(const char *user, const char *group, char **cause)
	    __must_check;
/*
 * Install the seccomp filter on every thread of the process (TSYNC).
 * Call once startup is complete: modules loaded, sockets bound, workers
 * started, privileges dropped.  A forbidden system call kills the process
 * (SECCOMP_RET_KILL_PROCESS); with VHOSTD_SECCOMP_DEBUG set in the
 * environment it is trapped instead and its number logged by the main
 * thread's SIGSYS handler.  0 or -1 with *cause.
 */
int	 privsep_seccomp(char **cause) __must_check;
/* Is the seccomp filter installed (no new executable mappings, so no
 * module can be loaded any more)?  Main thread. */
int	 privsep_confined(void);

#endif /* VHOSTD_PRIVSEP_H */
