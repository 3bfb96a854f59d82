/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the memfd channel's consumer and producer against a peer that writes
 * arbitrary values into the shared indices, state words and ring bytes.
 *
 * Input: byte 0 picks the ring sizes; then a sequence of operations, each an
 * opcode byte and its arguments (little-endian), interleaving what the
 * malicious server writes with non-blocking calls of the honest client. Any
 * result outside the API's contract aborts; an out-of-bounds access faults on
 * the rings' guard pages (or under ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bulkhead/chan.h>

#include "fuzz-input.h"

#define MAX_INPUT 4096

struct evil {
	int sock, memfd, evt[2];
	uint8_t *map, *ring[2];
	size_t len;
	uint32_t size[2];
	struct bh_chan_memfd_ctl *ctl;
	struct bh_chan *c;
};

static int evil_open(struct evil *e, uint8_t sizes)
{
	struct bh_chan_memfd_hello h = { BH_CHAN_MEMFD_MAGIC, BH_CHAN_MEMFD_VERSION,
					 { 4096u << (sizes & 3), 4096u << ((sizes >> 2) & 3) } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} u = { 0 };
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	e->sock = sv[0];
	e->size[0] = h.ring_size[0];
	e->size[1] = h.ring_size[1];
	e->len = BH_CHAN_MEMFD_CTL_SIZE + e->size[0] + e->size[1];
	e->memfd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	e->evt[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->evt[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ftruncate(e->memfd, (off_t)e->len) < 0 ||
	    fcntl(e->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		abort();
	e->map = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	if (e->map == MAP_FAILED)
		abort();
	e->ctl = (struct bh_chan_memfd_ctl *)e->map;
	e->ctl->magic = BH_CHAN_MEMFD_MAGIC;
	e->ring[0] = e->map + BH_CHAN_MEMFD_CTL_SIZE;
	e->ring[1] = e->ring[0] + e->size[0];
	for (int i = 0; i < 2; i++)
		e->ctl->ring[i].prod = e->ctl->ring[i].cons = BH_CHAN_MEMFD_START;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * 3);
	memcpy(CMSG_DATA(cm), (int[]){ e->memfd, e->evt[0], e->evt[1] }, sizeof(int) * 3);
	if (sendmsg(e->sock, &msg, 0) != sizeof(h) || bh_chan_memfd_client(sv[1], &e->c) < 0)
		abort();
	bh_chan_set_blocking(e->c, false);
	return 0;
}

static void evil_close(struct evil *e)
{
	bh_chan_close(e->c);
	munmap(e->map, e->len);
	close(e->memfd);
	close(e->evt[0]);
	close(e->evt[1]);
	close(e->sock);
}

/* A peer-written index: relative to the start (plausible) or any value. */
static uint32_t index_arg(struct input *in, uint8_t op)
{
	return op & 0x10 ? take(in, 4) : BH_CHAN_MEMFD_START + take(in, 2);
}

static void honest_io(struct evil *e, uint8_t op, struct input *in)
{
	static uint8_t buf[8u << 20];
	size_t len = take(in, 3) % sizeof(buf);
	ssize_t r;

	switch (op & 3) {
	case 0:
		r = bh_chan_read(e->c, buf, len);
		check(r == -EAGAIN || r == -EPROTO || (r >= 0 && (size_t)r <= len && r <= e->size[0]));
		break;
	case 1:
		r = bh_chan_recv(e->c, buf, len);
		check(r == -EAGAIN || r == -EPROTO || r == -EMSGSIZE || r == -EPIPE || r == 0 ||
		      (size_t)r == len);
		break;
	case 2:
		r = bh_chan_write(e->c, buf, len);
		check(r == -EAGAIN || r == -EPROTO || r == -EPIPE ||
		      (r >= 0 && (size_t)r <= len && r <= e->size[1]));
		break;
	default:
		r = bh_chan_send(e->c, buf, len);
		check(r == -EAGAIN || r == -EPROTO || r == -EMSGSIZE || r == -EPIPE ||
		      (size_t)r == len);
		break;
	}
	check(r != -EPROTO || bh_chan_error(e->c) == -EPROTO);
}

static void step(struct evil *e, uint8_t op, struct input *in)
{
	switch (op & 0x0f) {
	case 0:
		__atomic_store_n(&e->ctl->ring[0].prod, index_arg(in, op), __ATOMIC_RELEASE);
		break;
	case 1:
		__atomic_store_n(&e->ctl->ring[1].cons, index_arg(in, op), __ATOMIC_RELEASE);
		break;
	case 2: {
		uint32_t off = take(in, 3), n = take(in, 1);
		for (uint32_t i = 0; i < n && in->left; i++)
			e->ring[0][(off + i) % e->size[0]] = (uint8_t)take(in, 1);
		break;
	}
	case 3:
		e->ctl->srv_state = take(in, 1);
		break;
	case 4:
		e->ctl->ring[0].cons_wait = take(in, 4);
		e->ctl->ring[1].prod_wait = take(in, 4);
		break;
	case 5:
		check(bh_chan_data_ready(e->c) <= e->size[0]);
		check(bh_chan_buffer_space(e->c) <= e->size[1]);
		check(bh_chan_is_open(e->c) <= 1);
		break;
	default:
		honest_io(e, op, in);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct evil e = { 0 };

	if (size > MAX_INPUT || size < 1)
		return 0;
	if (evil_open(&e, (uint8_t)take(&in, 1)) < 0)
		return 0;
	while (in.left)
		step(&e, (uint8_t)take(&in, 1), &in);
	evil_close(&e);
	return 0;
}
