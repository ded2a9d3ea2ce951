/*
 * The test frontend library: shared helpers (errors, clocks, request
 * names) and the default guest layout.  The rest lives in the other
 * fe_*.c files (fe_daemon.c, fe_sock.c, fe_conn.c, fe_queue.c, fe_ring.c...).
 * See fe.h.
 */

#include <sys/types.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fe.h"
#include "fe_priv.h"

static char	fe_errbuf[512];

const struct fe_region_spec fe_default_layout[] = {
	{ 0x0, 2u << 20, 0 },
	{ 2u << 20, 1u << 20, 64u << 10 },
	{ 16u << 20, 2u << 20, 0 },
};
const unsigned fe_default_layout_n = 3;

/* Record an error message for fe_error(). */
void
fe_seterr(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	vsnprintf(fe_errbuf, sizeof fe_errbuf, fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Return the last error message. */
const char *
fe_error(void)
{
	return (fe_errbuf);
}

/* Return the monotonic clock in milliseconds. */
int64_t
fe_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Return the monotonic clock in nanoseconds. */
uint64_t
fe_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* Sleep for `ms` milliseconds. */
void
fe_sleep_ms(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static const char *const fe_request_names[] = {
	"NONE", "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER",
	"SET_MEM_TABLE", "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM",
	"SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE",
	"SET_VRING_KICK", "SET_VRING_CALL", "SET_VRING_ERR",
	"GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM",
	"SET_VRING_ENABLE", "SEND_RARP", "NET_SET_MTU", "SET_BACKEND_REQ_FD",
	"IOTLB_MSG", "SET_VRING_ENDIAN", "GET_CONFIG", "SET_CONFIG",
	"CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION", "POSTCOPY_ADVISE",
	"POSTCOPY_LISTEN", "POSTCOPY_END", "GET_INFLIGHT_FD",
	"SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK",
	"GET_MAX_MEM_SLOTS", "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS",
	"GET_STATUS", "GET_SHARED_OBJECT", "SET_DEVICE_STATE_FD",
	"CHECK_DEVICE_STATE", "GET_SHMEM_CONFIG",
};

/* Return the name of a request. */
const char *
fe_request_name(uint32_t request)
{
	if (request >= sizeof fe_request_names / sizeof fe_request_names[0])
		return ("unknown");
	return (fe_request_names[request]);
}

/* Say whether a request has a reply of its own. */
int
fe_request_has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_GET_STATUS:
	case VHOST_USER_GET_SHARED_OBJECT:
	case VHOST_USER_SET_DEVICE_STATE_FD:
	case VHOST_USER_CHECK_DEVICE_STATE:
	case VHOST_USER_GET_SHMEM_CONFIG:
	case VHOST_USER_POSTCOPY_ADVISE:
	case VHOST_USER_POSTCOPY_END:
	case VHOST_USER_IOTLB_MSG:
	case VHOST_USER_SET_LOG_BASE:
		return (1);
	default:
		return (0);
	}
}
