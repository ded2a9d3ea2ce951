/*
 * The service manager's notification protocol (sd_notify(3)): READY=1,
 * RELOADING=1, STOPPING=1, STATUS= and the watchdog, written by hand as
 * datagrams to $NOTIFY_SOCKET.  Every call is a no-op when vhostd was not
 * started with $NOTIFY_SOCKET.
 */

#ifndef VHOSTD_SD_NOTIFY_H
#define VHOSTD_SD_NOTIFY_H

#include <stdint.h>

#include "compat.h"

struct event_base;

/* Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID, open the
 * datagram socket and remove the variables from the environment.  Main
 * thread, before any other thread starts (unsetenv). */
void		 sdn_init(void);
/* Close the socket and stop the watchdog timer.  Main thread. */
void		 sdn_fini(void);
/* Is there a service manager to notify? */
int		 sdn_enabled(void);
/* The watchdog interval in microseconds, 0 when there is none. */
uint64_t	 sdn_watchdog_usec(void);
/* Send the raw newline-separated assignments in `text`; 0, or -1 (not
 * enabled or the send failed, logged once).  Any thread. */
int		 sdn_notify(const char *text);
/* READY=1: every device's socket listens.  Main thread. */
void		 sdn_ready(void);
/* RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants); send
 * sdn_ready() when the reload is done.  Main thread. */
void		 sdn_reloading(void);
/* STOPPING=1.  Main thread. */
void		 sdn_stopping(void);
/* STATUS=<text>: one line the manager shows in `systemctl status`. */
void		 sdn_status(const char *fmt, ...) __printflike(1, 2);
/* WATCHDOG=1.  Any thread. */
void		 sdn_watchdog(void);
/* When the manager set a watchdog, ping it from `base` on a timer at
 * half the interval; 0, or -1 when the timer cannot be added.  Main
 * thread. */
int		 sdn_watchdog_start(struct event_base *base);

#endif /* VHOSTD_SD_NOTIFY_H */
