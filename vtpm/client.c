/* SPDX-License-Identifier: MIT */
/*
 * The guest's end of tpm.chan (protocol in worker-chan.c): a channel client,
 * a mux (initiator) and the data and control streams, named by their first
 * byte. Used by the socket bridge a guest runs (tests/unit/vtpm/
 * helper-tpmbridge.c) and by the bench. Everything from the worker is still
 * peer input here: the mux checks the framing, callers check TPM sizes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/chan.h"
#include "bulkhead/fdio.h"
#include "bulkhead/mux.h"
#include "vtpm.h"

int vt_client_open_stream(struct vt_client *c, uint8_t kind, uint32_t *ret_id)
{
	uint32_t id;
	int r = bh_mux_open(c->mux, &id);

	if (r < 0)
		return r;
	r = vt_client_write(c, id, &kind, 1);
	if (r < 0)
		return r;
	*ret_id = id;
	return 0;
}

int vt_client_open(const char *path, struct vt_client **ret)
{
	struct vt_client *c = calloc(1, sizeof(*c));
	int fd, r;

	if (!c)
		return -ENOMEM;
	vt_spin_init(&c->spin, VT_SPIN_CLIENT_NS);
	fd = bh_unix_connect(path, SOCK_STREAM);
	r = fd < 0 ? fd : bh_chan_memfd_client(fd, &c->chan);
	if (r < 0 && fd >= 0)
		close(fd);
	if (r == 0)
		r = bh_mux_new(c->chan, true, &c->mux);
	if (r == 0)
		r = vt_client_open_stream(c, VT_CHAN_STREAM_DATA, &c->data);
	if (r < 0) {
		vt_client_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

void vt_client_close(struct vt_client *c)
{
	if (!c)
		return;
	if (c->mux) {
		bh_mux_poll(c->mux); /* send what is queued, FINs included */
		bh_mux_free(c->mux);
	}
	bh_chan_close(c->chan);
	free(c);
}

static int pull_ready(void *ctx)
{
	struct vt_client *c = ctx;

	return vt_mux_pull(c->mux, c->chan, c->buf, sizeof(c->buf));
}

int vt_client_wait(struct vt_client *c, uint32_t id)
{
	/* Spin without arming: the worker's answer usually comes within the budget. */
	int r = vt_spin(&c->spin, pull_ready, c);

	if (r != 0)
		return r < 0 ? r : 0;
	/* Arm (a read until -EAGAIN), then sleep unless something raced in. */
	r = bh_mux_poll(c->mux);
	if (r == 0 && !bh_mux_pending(c->mux, id) && !bh_chan_data_ready(c->chan)) {
		/* Returns at once if the worker is gone: its hang-up is in the wait set. */
		r = bh_chan_wait(c->chan);
		/* Only a wait that brought nothing pays the system call of the check. */
		if (r == 0 && !bh_chan_data_ready(c->chan) && !bh_chan_is_open(c->chan))
			return 1;
	}
	if (r >= 0)
		vt_spin_woken(&c->spin);
	return r < 0 ? r : 0;
}

int vt_client_write(struct vt_client *c, uint32_t id, const void *buf, size_t len)
{
	return bh_mux_write_all(c->mux, id, buf, len);
}

ssize_t vt_client_read(struct vt_client *c, uint32_t id, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = bh_mux_read(c->mux, id, buf, len);
		int r;

		if (n != -EAGAIN)
			return n;
		r = vt_client_wait(c, id);
		if (r < 0)
			return r;
		if (r > 0) { /* the channel ended: take what it still held */
			r = bh_mux_poll(c->mux);
			n = bh_mux_read(c->mux, id, buf, len);
			return n == -EAGAIN ? -EPIPE : (r < 0 ? r : n);
		}
	}
}

int vt_client_read_full(struct vt_client *c, uint32_t id, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = vt_client_read(c, id, (uint8_t *)buf + off, len - off);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}

ssize_t vt_client_transact(struct vt_client *c, const uint8_t *cmd, size_t len, uint8_t *rsp,
			   size_t cap)
{
	uint32_t untrusted_size;
	int r = vt_client_write(c, c->data, cmd, len);

	if (r == 0)
		r = vt_client_read_full(c, c->data, rsp, VT_TPM_HDR_SIZE);
	if (r < 0)
		return r;
	untrusted_size = vt_be32(rsp + 2);
	if (untrusted_size < VT_TPM_HDR_SIZE || untrusted_size > cap)
		return -EBADMSG;
	r = vt_client_read_full(c, c->data, rsp + VT_TPM_HDR_SIZE,
				untrusted_size - VT_TPM_HDR_SIZE);
	return r < 0 ? r : (ssize_t)untrusted_size;
}
