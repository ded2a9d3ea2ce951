/*
 * Unit tests for core/guest_mem.c: region mapping checks, table building,
 * translation over region boundaries and gaps; and for core/guest_fault.c:
 * sealing memfds against shrinking, SIGBUS recovery in guest mappings and
 * the default action everywhere else.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "guest_fault.h"
#include "guest_mem.h"

/* Sanitizer runtimes report a fatal SIGBUS themselves and exit. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHECK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHECK_SANITIZED 1
#endif
#endif
#ifndef CHECK_SANITIZED
#define CHECK_SANITIZED 0
#endif

/* A memfd of `size` bytes. */
static int
check_guest_mem_memfd(size_t size)
{
	int	 fd;

	fd = memfd_create("check_guest_mem", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Map a region that must succeed. */
static struct guest_region *
check_guest_mem_map(int fd, uint64_t gpa, uint64_t size, uint64_t uva,
    uint64_t off)
{
	struct guest_region	*r;
	char			*cause = NULL;

	r = guest_region_map(fd, gpa, size, uva, off, &cause);
	ck_assert_msg(r != NULL, "map failed: %s", cause);
	return (r);
}

/* Map a region that must fail with a cause. */
static void
check_guest_mem_map_fails(int fd, uint64_t gpa, uint64_t size, uint64_t uva,
    uint64_t off)
{
	struct guest_region	*r;
	char			*cause = NULL;

	r = guest_region_map(fd, gpa, size, uva, off, &cause);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}

START_TEST(test_map_with_offset)
{
	struct guest_region	*r;
	struct guest_mem	*mem;
	char			*cause = NULL, buf[8];
	uint64_t		 len;
	uint8_t			*p;
	int			 fd;

	fd = check_guest_mem_memfd(0x10000);
	ck_assert_int_eq(pwrite(fd, "hello", 5, 0x4010), 5);
	r = check_guest_mem_map(fd, 0x100000, 0x8000, 0x7f0000000000ULL,
	    0x4000);
	mem = guest_mem_new(&r, 1, &cause);
	ck_assert_ptr_nonnull(mem);
	len = 5;
	p = guest_mem_translate(mem, 0x100010, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(p, "hello", 5), 0);
	/* Writes reach the shared file. */
	memcpy(p, "HELLO", 5);
	ck_assert_int_eq(pread(fd, buf, 5, 0x4010), 5);
	ck_assert_int_eq(memcmp(buf, "HELLO", 5), 0);
	ck_assert_ptr_eq(p, r->host + 0x10);
	close(fd);
	/* Asking for more than the region holds is clamped. */
	len = 0x100000;
	p = guest_mem_translate(mem, 0x107ff0, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 0x10);
	ck_assert_ptr_null(guest_mem_translate(mem, 0x108000, &len));
	guest_mem_free(mem);
	guest_region_unref(r);
}
END_TEST

START_TEST(test_translate_across_regions)
{
	struct guest_region	*r[2];
	struct guest_mem	*mem;
	char			*cause = NULL;
	uint64_t		 len;
	uint8_t			*p, *q;
	int			 fd0, fd1;

	fd0 = check_guest_mem_memfd(0x10000);
	fd1 = check_guest_mem_memfd(0x10000);
	/* Given out of order: the table sorts them. */
	r[0] = check_guest_mem_map(fd1, 0x10000, 0x10000, 0x200000, 0);
	r[1] = check_guest_mem_map(fd0, 0, 0x10000, 0x100000, 0);
	close(fd0);
	close(fd1);
	mem = guest_mem_new(r, 2, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_uint_eq(mem->regions[0]->gpa, 0);
	ck_assert_uint_eq(mem->regions[1]->gpa, 0x10000);

	len = 0x100;
	p = guest_mem_translate(mem, 0xfff0, &len);
	ck_assert_ptr_eq(p, r[1]->host + 0xfff0);
	ck_assert_uint_eq(len, 0x10);
	len = 0x100 - 0x10;
	q = guest_mem_translate(mem, 0x10000, &len);
	ck_assert_ptr_eq(q, r[0]->host);
	ck_assert_uint_eq(len, 0xf0);
	/* A range may not cross the boundary. */
	ck_assert_ptr_null(guest_mem_range(mem, 0xfff0, 0x20));
	ck_assert_ptr_eq(guest_mem_range(mem, 0xfff0, 0x10), p);
	ck_assert_ptr_eq(guest_mem_range(mem, 0x1fff0, 0x10),
	    r[0]->host + 0xfff0);
	ck_assert_ptr_null(guest_mem_range(mem, 0x1fff0, 0x11));
	guest_mem_free(mem);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
}
END_TEST

START_TEST(test_unmapped_gaps)
{
	struct guest_region	*r[3];
	struct guest_mem	*mem;
	char			*cause = NULL;
	uint64_t		 len;
	int			 fd;

	fd = check_guest_mem_memfd(0x3000);
	r[0] = check_guest_mem_map(fd, 0x1000, 0x1000, 0x1000, 0);
	r[1] = check_guest_mem_map(fd, 0x4000, 0x1000, 0x4000, 0x1000);
	r[2] = check_guest_mem_map(fd, 0x9000, 0x1000, 0x9000, 0x2000);
	close(fd);
	mem = guest_mem_new(r, 3, &cause);
	ck_assert_ptr_nonnull(mem);
	len = 1;
	ck_assert_ptr_null(guest_mem_translate(mem, 0, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, 0xfff, &len));
	ck_assert_ptr_nonnull(guest_mem_translate(mem, 0x1000, &len));
	ck_assert_ptr_nonnull(guest_mem_translate(mem, 0x1fff, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, 0x2000, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, 0x3fff, &len));
	ck_assert_ptr_nonnull(guest_mem_translate(mem, 0x4000, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, 0x5000, &len));
	ck_assert_ptr_nonnull(guest_mem_translate(mem, 0x9fff, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, 0xa000, &len));
	ck_assert_ptr_null(guest_mem_translate(mem, UINT64_MAX, &len));
	ck_assert_ptr_null(guest_mem_translate(NULL, 0x1000, &len));
	guest_mem_free(mem);

	mem = guest_mem_new(NULL, 0, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_ptr_null(guest_mem_translate(mem, 0x1000, &len));
	guest_mem_free(mem);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
	guest_region_unref(r[2]);
}
END_TEST

START_TEST(test_overlapping_gpa_rejected)
{
	struct guest_region	*r[2];
	struct guest_mem	*mem;
	char			*cause = NULL;
	int			 fd;

	fd = check_guest_mem_memfd(0x4000);
	r[0] = check_guest_mem_map(fd, 0x0, 0x2000, 0x100000, 0);
	r[1] = check_guest_mem_map(fd, 0x1000, 0x2000, 0x200000, 0x2000);
	close(fd);
	mem = guest_mem_new(r, 2, &cause);
	ck_assert_ptr_null(mem);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "overlap"));
	free(cause);
	/* The failed table took no reference: one unref unmaps each. */
	ck_assert_int_eq(r[0]->refcnt, 1);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
}
END_TEST

START_TEST(test_same_start_rejected)
{
	struct guest_region	*r[2];
	char			*cause = NULL;
	int			 fd;

	fd = check_guest_mem_memfd(0x4000);
	r[0] = check_guest_mem_map(fd, 0x8000, 0x1000, 0x100000, 0);
	r[1] = check_guest_mem_map(fd, 0x8000, 0x1000, 0x200000, 0x1000);
	close(fd);
	ck_assert_ptr_null(guest_mem_new(r, 2, &cause));
	free(cause);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
}
END_TEST

START_TEST(test_overlapping_va_rejected)
{
	struct guest_region	*r[2];
	char			*cause = NULL;
	int			 fd;

	fd = check_guest_mem_memfd(0x4000);
	r[0] = check_guest_mem_map(fd, 0x0, 0x2000, 0x100000, 0);
	r[1] = check_guest_mem_map(fd, 0x10000, 0x2000, 0x101000, 0x2000);
	close(fd);
	ck_assert_ptr_null(guest_mem_new(r, 2, &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "frontend"));
	free(cause);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
}
END_TEST

START_TEST(test_bad_regions_rejected)
{
	int	 fd, p[2];

	fd = check_guest_mem_memfd(0x1000);
	/* Size 0. */
	check_guest_mem_map_fails(fd, 0, 0, 0, 0);
	/* Offset + size past the end of the file. */
	check_guest_mem_map_fails(fd, 0, 0x1000, 0, 0x800);
	check_guest_mem_map_fails(fd, 0, 0x1001, 0, 0);
	/* Offset + size overflowing 64 bits. */
	check_guest_mem_map_fails(fd, 0, 0x100, 0, UINT64_MAX - 0x10);
	/* Guest range wrapping. */
	check_guest_mem_map_fails(fd, UINT64_MAX - 0x10, 0x100, 0, 0);
	/* Frontend range wrapping. */
	check_guest_mem_map_fails(fd, 0, 0x100, UINT64_MAX - 0x10, 0);
	close(fd);
	/* Not a file. */
	ck_assert_int_eq(pipe(p), 0);
	check_guest_mem_map_fails(p[0], 0, 0x1000, 0, 0);
	close(p[0]);
	close(p[1]);
	/* A closed fd. */
	check_guest_mem_map_fails(fd, 0, 0x1000, 0, 0);
}
END_TEST

START_TEST(test_region_at_end_of_space)
{
	struct guest_region	*r;
	struct guest_mem	*mem;
	char			*cause = NULL;
	uint64_t		 len = 0x100;
	int			 fd;

	fd = check_guest_mem_memfd(0x1000);
	r = check_guest_mem_map(fd, UINT64_MAX - 0xfff, 0x1000, 0x1000, 0);
	close(fd);
	mem = guest_mem_new(&r, 1, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_ptr_nonnull(guest_mem_translate(mem, UINT64_MAX - 0x7f,
	    &len));
	ck_assert_uint_eq(len, 0x80);
	guest_mem_free(mem);
	guest_region_unref(r);
}
END_TEST

START_TEST(test_uva_to_gpa)
{
	struct guest_region	*r[2];
	struct guest_mem	*mem;
	char			*cause = NULL;
	uint64_t		 gpa = 0;
	int			 fd;

	fd = check_guest_mem_memfd(0x4000);
	r[0] = check_guest_mem_map(fd, 0x0, 0x2000, 0x7f0000200000ULL, 0);
	r[1] = check_guest_mem_map(fd, 0x100000, 0x2000, 0x7f0000100000ULL,
	    0x2000);
	close(fd);
	mem = guest_mem_new(r, 2, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_int_eq(guest_mem_uva_to_gpa(mem, 0x7f0000200010ULL, &gpa),
	    0);
	ck_assert_uint_eq(gpa, 0x10);
	ck_assert_int_eq(guest_mem_uva_to_gpa(mem, 0x7f0000101fffULL, &gpa),
	    0);
	ck_assert_uint_eq(gpa, 0x101fff);
	ck_assert_int_eq(guest_mem_uva_to_gpa(mem, 0x7f0000102000ULL, &gpa),
	    -1);
	ck_assert_int_eq(guest_mem_uva_to_gpa(mem, 0x7f00001fffffULL, &gpa),
	    -1);
	ck_assert_int_eq(guest_mem_uva_to_gpa(NULL, 0x7f0000200010ULL, &gpa),
	    -1);
	guest_mem_free(mem);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
}
END_TEST

START_TEST(test_find)
{
	struct guest_region	*r[3];
	struct guest_mem	*mem;
	char			*cause = NULL;
	int			 fd;

	fd = check_guest_mem_memfd(0x3000);
	r[0] = check_guest_mem_map(fd, 0x5000, 0x1000, 0x5000, 0);
	r[1] = check_guest_mem_map(fd, 0x1000, 0x1000, 0x1000, 0x1000);
	r[2] = check_guest_mem_map(fd, 0x9000, 0x1000, 0x9000, 0x2000);
	close(fd);
	mem = guest_mem_new(r, 3, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_int_eq(guest_mem_find(mem, 0x1000, 0x1000), 0);
	ck_assert_int_eq(guest_mem_find(mem, 0x5000, 0x1000), 1);
	ck_assert_int_eq(guest_mem_find(mem, 0x9000, 0x1000), 2);
	ck_assert_int_eq(guest_mem_find(mem, 0x9000, 0x800), -1);
	ck_assert_int_eq(guest_mem_find(mem, 0x5800, 0x800), -1);
	ck_assert_int_eq(guest_mem_find(mem, 0x7000, 0x1000), -1);
	ck_assert_int_eq(guest_mem_find(NULL, 0x1000, 0x1000), -1);
	guest_mem_free(mem);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
	guest_region_unref(r[2]);
}
END_TEST

START_TEST(test_region_limit)
{
	struct guest_region	**r;
	struct guest_mem	*mem;
	char			*cause = NULL;
	unsigned		 i, n = GUEST_MEM_MAX_REGIONS + 1;
	long			 pg = sysconf(_SC_PAGESIZE);
	int			 fd;

	fd = check_guest_mem_memfd((size_t)pg * n);
	r = calloc(n, sizeof *r);
	ck_assert_ptr_nonnull(r);
	for (i = 0; i < n; i++)
		r[i] = check_guest_mem_map(fd, (uint64_t)i * 2 * pg, pg,
		    (uint64_t)i * 2 * pg, (uint64_t)i * pg);
	close(fd);
	mem = guest_mem_new(r, n, &cause);
	ck_assert_ptr_null(mem);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	mem = guest_mem_new(r, n - 1, &cause);
	ck_assert_ptr_nonnull(mem);
	ck_assert_uint_eq(mem->nregions, GUEST_MEM_MAX_REGIONS);
	guest_mem_free(mem);
	for (i = 0; i < n; i++)
		guest_region_unref(r[i]);
	free(r);
}
END_TEST

START_TEST(test_shared_regions_and_gen)
{
	struct guest_region	*r[2];
	struct guest_mem	*a, *b;
	char			*cause = NULL;
	uint64_t		 len = 4;
	int			 fd;

	fd = check_guest_mem_memfd(0x2000);
	r[0] = check_guest_mem_map(fd, 0x0, 0x1000, 0x0, 0);
	r[1] = check_guest_mem_map(fd, 0x1000, 0x1000, 0x1000, 0x1000);
	close(fd);
	a = guest_mem_new(r, 1, &cause);
	ck_assert_ptr_nonnull(a);
	/* The ADD_MEM_REG pattern: a new table sharing the old region. */
	b = guest_mem_new(r, 2, &cause);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_ne(a->gen, b->gen);
	ck_assert_uint_ne(a->gen, 0);
	ck_assert_int_eq(r[0]->refcnt, 3);
	guest_region_unref(r[0]);
	guest_region_unref(r[1]);
	guest_mem_free(a);
	/* Still mapped through b. */
	ck_assert_ptr_nonnull(guest_mem_translate(b, 0x10, &len));
	*(volatile uint8_t *)guest_mem_translate(b, 0x10, &len) = 1;
	guest_mem_free(b);
}
END_TEST

/* A memfd of `size` bytes made with `flags` (added to MFD_CLOEXEC). */
static int
check_guest_mem_memfd_flags(size_t size, unsigned flags)
{
	int	 fd;

	fd = memfd_create("check_guest_mem", MFD_CLOEXEC | flags);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	return (fd);
}

/* Is the SIGBUS handler installed in this process? */
static int	 check_guest_mem_fault_done;

/* Install the SIGBUS handler once per process (CK_FORK=no runs every
 * test in one): 0 or -1. */
static int
check_guest_mem_fault_try(void)
{
	char	*cause = NULL;

	if (check_guest_mem_fault_done)
		return (0);
	if (guest_fault_init(NULL, &cause) == -1) {
		free(cause);
		return (-1);
	}
	check_guest_mem_fault_done = 1;
	return (0);
}

/* The same, in a test. */
static void
check_guest_mem_fault_init(void)
{
	ck_assert_int_eq(check_guest_mem_fault_try(), 0);
}

/* Does the line of /proc/self/maps for `addr` name a memfd? */
static int
check_guest_mem_maps_memfd(const void *addr)
{
	char		 line[512];
	FILE		*fp;
	unsigned long	 lo, hi, a = (unsigned long)(uintptr_t)addr;
	int		 found = -1;

	fp = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(fp);
	while (found == -1 && fgets(line, sizeof line, fp) != NULL) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo &&
		    a < hi)
			found = strstr(line, "memfd:") != NULL;
	}
	fclose(fp);
	ck_assert_msg(found != -1, "0x%lx is not mapped", a);
	return (found);
}

/* A memfd that allows sealing is sealed against shrinking (not growing)
 * when mapped; one already sealed that way stays so. */
START_TEST(test_seal_memfd)
{
	struct guest_region	*r, *r2;
	int			 fd, seals;

	fd = check_guest_mem_memfd_flags(0x3000, MFD_ALLOW_SEALING);
	r = check_guest_mem_map(fd, 0, 0x2000, 0x100000, 0x1000);
	ck_assert_int_eq(r->sealed, 1);
	seals = fcntl(fd, F_GET_SEALS);
	ck_assert_int_ne(seals, -1);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL), F_SEAL_SHRINK);
	errno = 0;
	ck_assert_int_eq(ftruncate(fd, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(fd, 0x4000), 0);
	/* Mapping it again: already sealed. */
	r2 = check_guest_mem_map(fd, 0x10000, 0x1000, 0x200000, 0);
	ck_assert_int_eq(r2->sealed, 1);
	r->host[0] = 1;
	guest_region_unref(r2);
	guest_region_unref(r);
	close(fd);
}
END_TEST

/* Files that cannot be sealed are mapped as before, unsealed: a memfd
 * without MFD_ALLOW_SEALING, one the frontend sealed with F_SEAL_SEAL
 * only, a file that has no seals at all. */
START_TEST(test_seal_refused)
{
	struct guest_region	*r;
	char			 path[] = "/tmp/check_guest_mem.XXXXXX";
	int			 fd;

	fd = check_guest_mem_memfd_flags(0x2000, 0);
	r = check_guest_mem_map(fd, 0, 0x2000, 0x100000, 0);
	ck_assert_int_eq(r->sealed, 0);
	guest_region_unref(r);
	ck_assert_int_eq(ftruncate(fd, 0x1000), 0);
	close(fd);

	fd = check_guest_mem_memfd_flags(0x2000, MFD_ALLOW_SEALING);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), 0);
	r = check_guest_mem_map(fd, 0, 0x2000, 0x100000, 0);
	ck_assert_int_eq(r->sealed, 0);
	ck_assert_int_eq(fcntl(fd, F_GET_SEALS), F_SEAL_SEAL);
	guest_region_unref(r);
	close(fd);

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(fd, 0x2000), 0);
	r = check_guest_mem_map(fd, 0, 0x2000, 0x100000, 0);
	ck_assert_int_eq(r->sealed, 0);
	guest_region_unref(r);
	close(fd);
}
END_TEST

/*
 * A region's file shrunk to 0 under the mapping: the read that takes
 * SIGBUS completes with 0, the mapping no longer holds the file, the
 * fault is recorded on that region only, explained to and reported to
 * its owner (device_fail), and the region unmaps as usual.
 */
START_TEST(test_sigbus_recovered)
{
	struct guest_region	*r, *other;
	struct device		 dev, bystander;
	char			 reason[256], name0[] = "dev0";
	char			 name1[] = "dev1";
	unsigned long		 before;
	int			 fd, fd2;

	check_guest_mem_fault_init();
	memset(&dev, 0, sizeof dev);
	memset(&bystander, 0, sizeof bystander);
	dev.name = name0;
	bystander.name = name1;
	atomic_init(&dev.broken, 0);
	atomic_init(&bystander.broken, 0);

	fd = check_guest_mem_memfd_flags(0x4000, 0);
	fd2 = check_guest_mem_memfd_flags(0x1000, 0);
	r = check_guest_mem_map(fd, 0, 0x3000, 0x100000, 0x1000);
	other = check_guest_mem_map(fd2, 0x10000, 0x1000, 0x200000, 0);
	guest_fault_set_owner(r->fault, &dev);
	guest_fault_set_owner(other->fault, &bystander);
	memset(r->host, 0xa5, 0x3000);
	other->host[0] = 0x5a;
	ck_assert(check_guest_mem_maps_memfd(r->host));
	before = guest_fault_count();

	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(((volatile uint8_t *)r->host)[0x1234], 0);
	ck_assert_uint_eq(guest_fault_count(), before + 1);
	ck_assert(guest_fault_faulted(r->fault));
	ck_assert(!guest_fault_faulted(other->fault));
	/* The replacement is writable, and no further fault is taken. */
	((volatile uint8_t *)r->host)[0x2fff] = 7;
	ck_assert_int_eq(((volatile uint8_t *)r->host)[0x2fff], 7);
	ck_assert_uint_eq(guest_fault_count(), before + 1);
	ck_assert(!check_guest_mem_maps_memfd(r->host));
	ck_assert_int_eq(other->host[0], 0x5a);

	snprintf(reason, sizeof reason, "queue 0: something else");
	guest_fault_explain(&bystander, reason, sizeof reason);
	ck_assert_str_eq(reason, "queue 0: something else");
	guest_fault_explain(&dev, reason, sizeof reason);
	ck_assert_msg(strstr(reason, "guest memory at gpa 0x1234 is gone") !=
	    NULL, "reason: %s", reason);

	ck_assert_uint_eq(guest_fault_process(), 1);
	ck_assert_uint_eq(guest_fault_process(), 0);
	ck_assert_int_eq(atomic_load(&dev.broken), 1);
	ck_assert_int_eq(atomic_load(&bystander.broken), 0);

	guest_region_unref(r);
	guest_region_unref(other);
	close(fd);
	close(fd2);
}
END_TEST

/* A mapping that faulted is reused cleanly: unregistering resets its
 * slot, and the next region there faults and recovers anew. */
START_TEST(test_sigbus_slot_reused)
{
	struct guest_region	*r;
	unsigned long		 before;
	unsigned		 i;
	int			 fd;

	check_guest_mem_fault_init();
	for (i = 0; i < 3; i++) {
		fd = check_guest_mem_memfd_flags(0x2000, 0);
		r = check_guest_mem_map(fd, 0, 0x2000, 0x100000, 0);
		ck_assert(!guest_fault_faulted(r->fault));
		before = guest_fault_count();
		ck_assert_int_eq(ftruncate(fd, 0x1000), 0);
		/* The first page is still the file's. */
		r->host[0] = 3;
		ck_assert_uint_eq(guest_fault_count(), before);
		ck_assert_int_eq(((volatile uint8_t *)r->host)[0x1000], 0);
		ck_assert_uint_eq(guest_fault_count(), before + 1);
		ck_assert(guest_fault_faulted(r->fault));
		/* Unregistered with the fault unreported: logged only. */
		guest_region_unref(r);
		close(fd);
	}
	ck_assert_uint_eq(guest_fault_process(), 0);
}
END_TEST

/* Run `fn` in a child and return its wait status. */
static int
check_guest_mem_child(void (*fn)(void))
{
	pid_t	 pid;
	int	 status, null;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A sanitizer's report of the expected SIGBUS is noise. */
		if (CHECK_SANITIZED &&
		    (null = open("/dev/null", O_WRONLY)) != -1)
			dup2(null, STDERR_FILENO);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (status);
}

/* Child: SIGBUS on a shrunk mapping that is not guest memory. */
static void
check_guest_mem_child_other(void)
{
	uint8_t		*p;
	int		 fd;

	if (check_guest_mem_fault_try() == -1)
		_exit(2);
	if ((fd = memfd_create("not-guest", MFD_CLOEXEC)) == -1 ||
	    ftruncate(fd, 0x2000) == -1)
		_exit(3);
	p = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || ftruncate(fd, 0) == -1)
		_exit(4);
	(void)((volatile uint8_t *)p)[0x1000];
}

/* Child: a SIGBUS sent by a process. */
static void
check_guest_mem_child_sent(void)
{
	if (check_guest_mem_fault_try() == -1)
		_exit(2);
	raise(SIGBUS);
}

/* A SIGBUS that is not in guest memory still kills (or is reported by
 * a sanitizer, which then exits non-zero). */
START_TEST(test_sigbus_elsewhere_kills)
{
	void		(*const fns[])(void) = {
			    check_guest_mem_child_other,
			    check_guest_mem_child_sent };
	unsigned	 i;
	int		 status;

	for (i = 0; i < nitems(fns); i++) {
		status = check_guest_mem_child(fns[i]);
		if (CHECK_SANITIZED && WIFEXITED(status))
			ck_assert_msg(WEXITSTATUS(status) > 4, "case %u: "
			    "exit %d", i, WEXITSTATUS(status));
		else
			ck_assert_msg(WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGBUS, "case %u: status "
			    "0x%x", i, status);
	}
}
END_TEST

/* The guest_mem suite. */
static Suite *
check_guest_mem_suite(void)
{
	Suite	*s = suite_create("guest_mem");
	TCase	*tc;

	tc = tcase_create("map");
	tcase_add_test(tc, test_map_with_offset);
	tcase_add_test(tc, test_bad_regions_rejected);
	tcase_add_test(tc, test_region_at_end_of_space);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_overlapping_gpa_rejected);
	tcase_add_test(tc, test_same_start_rejected);
	tcase_add_test(tc, test_overlapping_va_rejected);
	tcase_add_test(tc, test_region_limit);
	tcase_add_test(tc, test_shared_regions_and_gen);
	suite_add_tcase(s, tc);

	tc = tcase_create("translate");
	tcase_add_test(tc, test_translate_across_regions);
	tcase_add_test(tc, test_unmapped_gaps);
	tcase_add_test(tc, test_uva_to_gpa);
	tcase_add_test(tc, test_find);
	suite_add_tcase(s, tc);

	tc = tcase_create("shrink");
	tcase_add_test(tc, test_seal_memfd);
	tcase_add_test(tc, test_seal_refused);
	tcase_add_test(tc, test_sigbus_recovered);
	tcase_add_test(tc, test_sigbus_slot_reused);
	tcase_add_test(tc, test_sigbus_elsewhere_kills);
	suite_add_tcase(s, tc);
	return (s);
}

/* Run the suite; the exit status says whether every test passed. */
int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(check_guest_mem_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
