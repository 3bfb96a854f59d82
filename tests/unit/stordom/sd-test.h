/* SPDX-License-Identifier: MIT */
/*
 * Shared by the stordom unit tests: temporary files and the independent
 * AES-XTS (tests/unit/stordom/xts-ref.py, Python's `cryptography`), run from
 * the source tree root as `make check` does.
 */
#ifndef SD_TEST_H
#define SD_TEST_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../../stordom/stordom.h"

#define XTS_REF "/usr/bin/python3 tests/unit/stordom/xts-ref.py"

static inline int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

static inline ssize_t read_file(const char *path, void *data, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = pread(fd, data, len, off);
	close(fd);
	return r;
}

/* A fresh directory for one test executable. */
static inline const char *test_dir(void)
{
	static char dir[64];

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/sd-test-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	return dir;
}

static inline void test_dir_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", test_dir());
}

/* Run xts-ref.py over @in (skipping @skip bytes) into @out. 0 on success. */
static inline int xts_ref(bool enc, const char *keyfile, uint32_t ss, uint64_t iv, uint64_t step,
			  const char *in, const char *out, uint64_t skip)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), XTS_REF " %s %s %u %llu %llu %s %s %llu", enc ? "enc" : "dec",
		 keyfile, ss, (unsigned long long)iv, (unsigned long long)step, in, out,
		 (unsigned long long)skip);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
