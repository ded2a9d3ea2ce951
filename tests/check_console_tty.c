/*
 * Issue 13: the console's stdio backend in a person's terminal.  vhostd
 * runs with `port0=stdio` on a pseudo-terminal (openpty; the slave is its
 * stdin, stdout, stderr and controlling terminal, the test holds the
 * master as the person's terminal emulator), with and without a test
 * frontend attached: guest output appears, typed bytes reach the guest,
 * the window size is the console size, log lines end in CR LF while the
 * terminal is raw, `^] q` and `^C` quit without a frontend, nothing typed
 * for no guest reaches the next one, and the terminal's modes after every
 * exit equal those before.
 */

#include <sys/types.h>
#include <sys/ioctl.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console_drv.h"

#define TTY_COLS	120
#define TTY_ROWS	30
#define TTY_OUT_MAX	(256 * 1024)

/* The person's side of the terminal, and everything it has shown. */
struct tty {
	int		 m, s;
	struct termios	 before;
	char		*out;
	size_t		 len;
	size_t		 mark;		/* where tty_wait searches from */
};

/* Open a 120x30 pseudo-terminal in its default (cooked) modes. */
static void
tty_open(struct tty *t)
{
	struct winsize	 ws;

	memset(t, 0, sizeof(*t));
	memset(&ws, 0, sizeof(ws));
	ws.ws_col = TTY_COLS;
	ws.ws_row = TTY_ROWS;
	ck_assert_int_eq(openpty(&t->m, &t->s, NULL, NULL, &ws), 0);
	ck_assert_int_eq(fcntl(t->m, F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(tcgetattr(t->s, &t->before), 0);
	ck_assert(t->before.c_lflag & ICANON);
	t->out = calloc(1, TTY_OUT_MAX + 1);
	ck_assert_ptr_nonnull(t->out);
}

/* Take what the terminal shows now (the master must be drained: vhostd
 * writes its log to it and would block). */
static void
tty_drain(struct tty *t)
{
	ssize_t	 n;

	while (t->len < TTY_OUT_MAX && (n = read(t->m, t->out + t->len,
	    TTY_OUT_MAX - t->len)) > 0)
		t->len += (size_t)n;
	t->out[t->len] = '\0';
}

/* The last bytes shown, for failure messages. */
static const char *
tty_tail(struct tty *t)
{
	return (t->out + (t->len > 600 ? t->len - 600 : 0));
}

/* Wait until the terminal shows `needle` after the mark; moves the mark
 * past it. */
static void
tty_wait(struct tty *t, const char *needle)
{
	int64_t	 end = fe_now_ms() + TMO;
	char	*at;

	for (;;) {
		tty_drain(t);
		at = memmem(t->out + t->mark, t->len - t->mark, needle,
		    strlen(needle));
		if (at != NULL) {
			t->mark = (size_t)(at - t->out) + strlen(needle);
			return;
		}
		ck_assert_msg(fe_now_ms() < end, "terminal never showed '%s'; "
		    "it shows: ...%s", needle, tty_tail(t));
		(void)poll(NULL, 0, 5);
	}
}

/* Type bytes on the terminal. */
static void
tty_type(struct tty *t, const char *s, size_t len)
{
	ck_assert_int_eq(write(t->m, s, len), (ssize_t)len);
}

/* Every line the terminal showed from `from` on ends in CR LF (no
 * staircase). */
static void
tty_check_crlf(struct tty *t, size_t from)
{
	size_t	 i;

	tty_drain(t);
	for (i = from; i < t->len; i++)
		ck_assert_msg(t->out[i] != '\n' || (i > 0 &&
		    t->out[i - 1] == '\r'), "a bare LF at byte %zu: ...%.*s",
		    i, (int)(i - from < 200 ? i - from : 200),
		    t->out + i - (i - from < 200 ? i - from : 200));
}

/* The terminal's modes now equal those before vhostd ran. */
static void
tty_check_restored(struct tty *t)
{
	struct termios	 now;

	ck_assert_int_eq(tcgetattr(t->s, &now), 0);
	ck_assert_msg(now.c_iflag == t->before.c_iflag, "c_iflag %#x, was "
	    "%#x", now.c_iflag, t->before.c_iflag);
	ck_assert_msg(now.c_oflag == t->before.c_oflag, "c_oflag %#x, was "
	    "%#x", now.c_oflag, t->before.c_oflag);
	ck_assert_msg(now.c_cflag == t->before.c_cflag, "c_cflag %#x, was "
	    "%#x", now.c_cflag, t->before.c_cflag);
	ck_assert_msg(now.c_lflag == t->before.c_lflag, "c_lflag %#x, was "
	    "%#x", now.c_lflag, t->before.c_lflag);
	ck_assert(memcmp(now.c_cc, t->before.c_cc, sizeof(now.c_cc)) == 0);
	ck_assert_uint_eq(cfgetispeed(&now), cfgetispeed(&t->before));
	ck_assert_uint_eq(cfgetospeed(&now), cfgetospeed(&t->before));
}

/* Close the terminal; vhostd wrote no sanitizer report to it. */
static void
tty_close(struct tty *t)
{
	tty_drain(t);
	ck_assert_msg(memmem(t->out, t->len, "Sanitizer", 9) == NULL &&
	    memmem(t->out, t->len, "runtime error:", 14) == NULL,
	    "a sanitizer report: ...%s", tty_tail(t));
	close(t->m);
	close(t->s);
	free(t->out);
}

/* Pass on vhostd's exit status; when it is not 0, print what the
 * terminal showed (a sanitizer writes its report there). */
static int
tty_status(struct tty *t, int status)
{
	tty_drain(t);
	if (status != 0)
		fprintf(stderr, "vhostd exit status %d; the terminal showed:\n"
		    "%s\n", status, t->out);
	return (status);
}

/* Wait for vhostd to exit by itself (draining the terminal); its exit
 * status. */
static int
tty_wait_exit(struct drv *v, struct tty *t)
{
	int64_t	 end = fe_now_ms() + TMO;

	while (fe_daemon_alive(v->d)) {
		tty_drain(t);
		ck_assert_msg(fe_now_ms() < end, "vhostd still runs; the "
		    "terminal shows: ...%s", tty_tail(t));
		(void)poll(NULL, 0, 5);
	}
	return (tty_status(t, fe_daemon_stop(v->d, 1000)));
}

/* Start vhostd with port0=stdio on the terminal; wait until it is raw. */
static struct drv *
tty_launch(const char *name, struct tty *t)
{
	static const char *const opts[] = { "port0=stdio", NULL };
	struct drv	*v;
	struct termios	 now;

	v = drv_launch(name, opts, t->s);
	tty_wait(t, "port 0: stdio (raw terminal");
	ck_assert_int_eq(tcgetattr(t->s, &now), 0);
	ck_assert(!(now.c_lflag & (ICANON | ECHO)));
	return (v);
}

/* Attach a frontend and run the driver's handshake for port 0 (open on
 * the host side: stdio is always attached). */
static void
tty_attach(struct drv *v, struct tty *t)
{
	static const int open0[] = { 1 };

	drv_connect(v, 4);
	drv_handshake(v, 1, NULL, open0);
	tty_wait(t, "queue 3 started");
}

/* Free the driver once vhostd has exited. */
static void
tty_free(struct drv *v)
{
	if (v->fe != NULL)
		fe_free(v->fe);
	fe_daemon_free(v->d);
	free(v->sock);
	free(v);
}

/*
 * With a frontend: the window size is the console size, guest output
 * shows, typed bytes (^C included) reach the guest, log lines end in
 * CR LF, ^] q quits, the modes are restored.
 */
START_TEST(test_tty_attached)
{
	static const int open0[] = { 1 };
	struct tty	 t;
	struct drv	*v;
	uint8_t		 cfg[12];
	uint32_t	 got;
	char		 buf[16];
	size_t		 raw_at;

	tty_open(&t);
	v = tty_launch("tty-attached", &t);
	raw_at = t.mark;
	drv_connect(v, 4);
	ck_assert_int_eq(fe_get_config(v->fe, 0, 12, cfg, &got), 0);
	ck_assert_uint_eq(got, 12);
	ck_assert_uint_eq(cfg[0] | cfg[1] << 8, TTY_COLS);
	ck_assert_uint_eq(cfg[2] | cfg[3] << 8, TTY_ROWS);
	drv_handshake(v, 1, NULL, open0);
	tty_wait(&t, "queue 3 started");
	ck_assert_int_eq(drv_send(v, 1, "guest-says-hi", 13), 0);
	tty_wait(&t, "guest-says-hi");
	tty_type(&t, "typed\003", 6);
	guest_read(v, 0, buf, 6);
	ck_assert(memcmp(buf, "typed\003", 6) == 0);
	tty_check_crlf(&t, raw_at);
	tty_type(&t, "\035q", 2);
	ck_assert_int_eq(tty_wait_exit(v, &t), 0);
	tty_check_crlf(&t, raw_at);
	tty_check_restored(&t);
	tty_free(v);
	tty_close(&t);
}
END_TEST

/* No frontend has ever attached: ^] q quits. */
START_TEST(test_tty_escape_no_frontend)
{
	struct tty	 t;
	struct drv	*v;

	tty_open(&t);
	v = tty_launch("tty-escape-idle", &t);
	tty_type(&t, "abc\035q", 5);
	ck_assert_int_eq(tty_wait_exit(v, &t), 0);
	tty_check_crlf(&t, 0);
	tty_check_restored(&t);
	tty_free(v);
	tty_close(&t);
}
END_TEST

/*
 * The frontend went away: what is typed then is dropped (the next guest
 * gets only what is typed for it), and ^C quits.
 */
START_TEST(test_tty_after_frontend)
{
	struct tty	 t;
	struct drv	*v;
	char		 buf[4];

	tty_open(&t);
	v = tty_launch("tty-after", &t);
	tty_attach(v, &t);
	drv_disconnect(v);
	tty_wait(&t, "no frontend attached: ^C or ^] q quits");
	tty_type(&t, "lost", 4);
	tty_wait(&t, "typed input is discarded");
	tty_attach(v, &t);
	tty_type(&t, "Z", 1);
	guest_read(v, 0, buf, 1);
	ck_assert_msg(buf[0] == 'Z', "the new guest got '%c' first", buf[0]);
	drv_disconnect(v);
	tty_wait(&t, "no frontend attached: ^C or ^] q quits");
	tty_type(&t, "\003", 1);
	ck_assert_int_eq(tty_wait_exit(v, &t), 0);
	ck_assert(memmem(t.out, t.len, "^C with no frontend", 19) != NULL);
	tty_check_restored(&t);
	tty_free(v);
	tty_close(&t);
}
END_TEST

/* SIGTERM with a frontend attached: the modes are restored. */
START_TEST(test_tty_sigterm)
{
	struct tty	 t;
	struct drv	*v;

	tty_open(&t);
	v = tty_launch("tty-sigterm", &t);
	tty_attach(v, &t);
	ck_assert_int_eq(tty_status(&t, fe_daemon_stop(v->d, TMO)), 0);
	tty_check_restored(&t);
	tty_free(v);
	tty_close(&t);
}
END_TEST

/* A startup error after the console device took the terminal: vhostd
 * exits 1 and the modes are restored. */
START_TEST(test_tty_startup_error)
{
	struct fe_daemon *d = fe_daemon_new("tty-startup-error");
	struct tty	 t;
	const char	*args[3], *socks[2], *conf;
	char		*text, *confarg;

	tty_open(&t);
	ck_assert_int_ne(asprintf(&text,
	    "device \"con0\" {\n\tmodule console\n\tsocket \"%s\"\n"
	    "\tport0 \"stdio\"\n}\n"
	    "device \"con1\" {\n\tmodule console\n\tsocket \"%s\"\n"
	    "\tport0 \"unix=%s\"\n}\n", fe_daemon_path(d, "c0.sock"),
	    fe_daemon_path(d, "c1.sock"),
	    fe_daemon_path(d, "no/such/dir/p.sock")), -1);
	conf = fe_daemon_write_file(d, "vhostd.conf", text, strlen(text));
	ck_assert_ptr_nonnull(conf);
	ck_assert_int_ne(asprintf(&confarg, "--config=%s", conf), -1);
	args[0] = confarg;
	args[1] = NULL;
	socks[0] = fe_daemon_path(d, "c1.sock");
	socks[1] = NULL;
	fe_daemon_set_tty(d, t.s);
	ck_assert_int_ne(fe_daemon_start(d, args, socks, TMO), 0);
	(void)fe_daemon_stop(d, TMO);
	tty_wait(&t, "startup failed");
	ck_assert(memmem(t.out, t.len, "stdio (raw terminal", 19) != NULL);
	tty_check_restored(&t);
	free(text);
	free(confarg);
	fe_daemon_free(d);
	tty_close(&t);
}
END_TEST

/* The terminal suite. */
static Suite *
console_tty_suite(void)
{
	Suite	*s = suite_create("console_tty");
	TCase	*tc = tcase_create("tty");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tty_attached);
	tcase_add_test(tc, test_tty_escape_no_frontend);
	tcase_add_test(tc, test_tty_after_frontend);
	tcase_add_test(tc, test_tty_sigterm);
	tcase_add_test(tc, test_tty_startup_error);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	if (fe_tmp_init() != 0) {
		fprintf(stderr, "fe_tmp_init: %s\n", fe_error());
		return (EXIT_FAILURE);
	}
	sr = srunner_create(console_tty_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	(void)fe_tmp_reap();
	fe_tmp_fini();
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
