/* SPDX-License-Identifier: MIT */
/*
 * Small helpers used everywhere: cleanup attributes, array sizes, secure wipe.
 * Header-only so the fuzz and unit builds see exactly what the daemons see.
 */
#ifndef BULKHEAD_UTIL_H
#define BULKHEAD_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* CLOCK_MONOTONIC in nanoseconds: for spin budgets and deadlines. */
static inline uint64_t bh_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CPU's spin-wait hint, between two looks at shared memory. */
static inline void bh_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _warn_unused_ __attribute__((warn_unused_result))

/* Take ownership out of a _cleanup_ variable: the cleanup then sees NULL. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _p_ = (p);                                                           \
		(p) = NULL;                                                                        \
		_p_;                                                                               \
	})

/* The same for a file descriptor: the cleanup then sees -1. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_fd_;                                                                              \
	})

static inline void bh_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(bh_freep)

static inline void bh_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(bh_fclosep)

static inline void bh_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(bh_closep)

static inline int bh_streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline int bh_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

#endif
