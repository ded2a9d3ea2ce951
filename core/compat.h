/*
 * Project-wide attribute macros, in one place (STYLE.md rule 8).
 */

#ifndef VHOSTD_COMPAT_H
#define VHOSTD_COMPAT_H

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif
#ifndef __printflike
#define __printflike(a, b) __attribute__((__format__(__printf__, a, b)))
#endif
#ifndef __unused
#define __unused __attribute__((__unused__))
#endif
#ifndef __noinline
#define __noinline __attribute__((__noinline__))
#endif
#define __must_check __attribute__((__warn_unused_result__))
#define FALLTHROUGH  __attribute__((__fallthrough__))
#define NOTREACHED   __builtin_unreachable()

#ifndef nitems
#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#endif

#endif /* VHOSTD_COMPAT_H */
