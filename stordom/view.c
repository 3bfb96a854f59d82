/* SPDX-License-Identifier: MIT */
/*
 * The read view: a volume's data area mapped read-only (MAP_SHARED, so it is
 * the page cache that pwrite fills: a READ sees every acknowledged WRITE). A
 * READ decrypts from the mapping straight into its reply buffer: no pread
 * copy and no system call. Measured here (bench/stordom): a pread costs a few
 * microseconds of syscall and page-cache lookup even for 4 KiB, and 1 MiB
 * preads ran at ~3 GB/s against ~9 GB/s for reading the mapping.
 *
 * The mapping holds only ciphertext; keys stay in secret.c memory.
 *
 * Faults: touching a page for the first time costs a fault each (~5 us here),
 * so the first READ of each SD_VIEW_CHUNK maps the whole chunk with one
 * madvise(MADV_POPULATE_READ), which also reports, instead of raising SIGBUS,
 * a chunk that cannot be read (EOF moved, I/O error): that READ then goes
 * through pread and gets the real error. Should a populated page still fault
 * later (the backing file truncated under us, or an I/O error after the page
 * was reclaimed), the SIGBUS handler below turns it into a pread retry of that
 * request instead of killing every volume's service.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stordom.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define SD_VIEW_CHUNK (2u << 20)

struct sd_view {
	uint8_t *base;        /* what mmap returned */
	size_t map_len;
	const uint8_t *data;  /* data offset 0 */
	uint64_t len;         /* data bytes covered */
	bool populate;        /* MADV_POPULATE_READ works on this kernel */
	_Atomic uint64_t *ready; /* one bit per chunk already populated */
};

/* The READ in progress on this thread, if it is reading the view. */
static __thread sigjmp_buf *view_jmp;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	(void)uctx;
	if (view_jmp)
		siglongjmp(*view_jmp, 1);
	/* Not a view read: die of it as without this handler. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void sigbus_install(void)
{
	/* NODEFER: the thread leaves by siglongjmp and must not keep SIGBUS blocked. */
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int sd_view_open(struct sd_volume *v)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start, skip;
	size_t n_chunks;
	struct sd_view *w;
	void *p;

	if (page <= 0 || !v->size || v->size > SIZE_MAX / 2)
		return -EINVAL;
	start = v->data_offset / (uint64_t)page * (uint64_t)page;
	skip = v->data_offset - start;
	w = calloc(1, sizeof(*w));
	n_chunks = (size_t)((v->size + SD_VIEW_CHUNK - 1) / SD_VIEW_CHUNK);
	if (w)
		w->ready = calloc((n_chunks + 63) / 64, sizeof(*w->ready));
	if (!w || !w->ready) {
		free(w);
		return -ENOMEM;
	}
	p = mmap(NULL, (size_t)(skip + v->size), PROT_READ, MAP_SHARED, v->fd, (off_t)start);
	if (p == MAP_FAILED) {
		int r = -errno;

		free(w->ready);
		free(w);
		return r;
	}
	pthread_once(&sigbus_once, sigbus_install);
	w->base = p;
	w->map_len = (size_t)(skip + v->size);
	w->data = w->base + skip;
	w->len = v->size;
	w->populate = true;
	v->view = w;
	return 0;
}

void sd_view_close(struct sd_volume *v)
{
	struct sd_view *w = v->view;

	if (!w)
		return;
	munmap(w->base, w->map_len);
	free((void *)w->ready);
	free(w);
	v->view = NULL;
}

/* Map the chunks of [off, off + len) not mapped yet. 0, or -EAGAIN: use pread. */
static int populate(struct sd_view *w, uint64_t off, uint32_t len)
{
	for (uint64_t c = off / SD_VIEW_CHUNK; c <= (off + len - 1) / SD_VIEW_CHUNK; c++) {
		uint64_t bit = 1ull << (c % 64), from = c * SD_VIEW_CHUNK;
		uint64_t n = w->len - from < SD_VIEW_CHUNK ? w->len - from : SD_VIEW_CHUNK;
		/* Two threads may populate one chunk at once: harmless, and rare. */
		if (!w->populate || (atomic_load_explicit(&w->ready[c / 64], memory_order_relaxed) & bit))
			continue;
		if (madvise((void *)(w->data + from), (size_t)n, MADV_POPULATE_READ) < 0) {
			if (errno != EINVAL)
				return -EAGAIN;
			w->populate = false; /* an older kernel: fault page by page */
			continue;
		}
		atomic_fetch_or_explicit(&w->ready[c / 64], bit, memory_order_relaxed);
	}
	return 0;
}

int sd_view_read(const struct sd_volume *v, struct sd_xts *x, uint64_t off, uint32_t len,
		 uint8_t *buf)
{
	struct sd_view *w = v->view;
	sigjmp_buf env;
	int r;

	if (!w || !len || off > w->len || len > w->len - off)
		return -EAGAIN;
	if (populate(w, off, len) < 0)
		return -EAGAIN;
	if (sigsetjmp(env, 0)) {
		view_jmp = NULL;
		return -EAGAIN;
	}
	view_jmp = &env;
	r = sd_xts_decrypt_to(x, buf, w->data + off, len, v->sector_size, sd_volume_iv(v, off),
			      v->iv_step);
	view_jmp = NULL;
	return r;
}
