/*
 * Allocation wrappers that die on out-of-memory (tmux's xmalloc.c).
 */

#ifndef VHOSTD_XMALLOC_H
#define VHOSTD_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "compat.h"

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...) __printflike(2, 3);
int	 xvasprintf(char **, const char *, va_list) __printflike(2, 0);

#endif /* VHOSTD_XMALLOC_H */
