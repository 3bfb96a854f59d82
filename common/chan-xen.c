/* SPDX-License-Identifier: MIT */
/*
 * Xen channel backend: the channel API over libxenvchan. The only file in
 * common/ that includes libxenvchan or xenstore headers.
 *
 * Kept deliberately thin: libxenvchan already validates the shared ring
 * (private copies of the ring orders, notify bits) and writes ring-ref and
 * event-channel with read permission for the peer domain only. We add the same
 * permissions on the base path, and translate every -1 into an -errno here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxenvchan.h>
#include <xenstore.h>

#include <bulkhead/parse.h>

#include "chan-priv.h"

/* Xen's DOMID_FIRST_RESERVED: ids at or above are not real domains. */
#define XEN_DOMID_MAX 0x7fefu

struct xen_chan {
	struct bh_chan chan;
	struct libxenvchan *v;
	char *xs_path; /* a server's advertisement, for bh_chan_withdraw() */
};

static struct libxenvchan *vchan(struct bh_chan *c)
{
	struct libxenvchan *v = ((struct xen_chan *)c)->v;

	v->blocking = c->blocking;
	return v;
}

/* libxenvchan returned -1: peer closed, interrupted, or another failure. */
static int xen_err(struct libxenvchan *v, int closed_err)
{
	if (!libxenvchan_is_open(v))
		return closed_err;
	return errno == EINTR ? -EINTR : -EIO;
}

static ssize_t xen_read(struct bh_chan *c, void *buf, size_t len)
{
	struct libxenvchan *v = vchan(c);
	int n = libxenvchan_read(v, buf, len);

	if (n < 0)
		return xen_err(v, 0); /* closed and drained: end of stream */
	return n == 0 ? -EAGAIN : n;
}

static ssize_t xen_write(struct bh_chan *c, const void *buf, size_t len)
{
	struct libxenvchan *v = vchan(c);
	int n = libxenvchan_write(v, buf, len);

	if (n < 0)
		return xen_err(v, -EPIPE);
	return n == 0 ? -EAGAIN : n;
}

static ssize_t xen_send(struct bh_chan *c, const void *buf, size_t len)
{
	struct libxenvchan *v = vchan(c);
	int n;

	if (len > (size_t)1 << v->write.order)
		return -EMSGSIZE;
	n = libxenvchan_send(v, buf, len);
	if (n < 0)
		return xen_err(v, -EPIPE);
	return n == 0 ? -EAGAIN : n;
}

static ssize_t xen_recv(struct bh_chan *c, void *buf, size_t len)
{
	struct libxenvchan *v = vchan(c);
	int n;

	if (len > (size_t)1 << v->read.order)
		return -EMSGSIZE;
	n = libxenvchan_recv(v, buf, len);
	if (n < 0) {
		if (libxenvchan_is_open(v))
			return errno == EINTR ? -EINTR : -EIO;
		return libxenvchan_data_ready(v) > 0 ? -EPIPE : 0;
	}
	return n == 0 ? -EAGAIN : n;
}

static int xen_wait(struct bh_chan *c)
{
	struct libxenvchan *v = vchan(c);

	if (libxenvchan_data_ready(v) > 0 || !libxenvchan_is_open(v))
		return 0;
	if (libxenvchan_wait(v) < 0)
		return errno == EINTR ? -EINTR : -EIO;
	return 0;
}

static int xen_fd(const struct bh_chan *c)
{
	return libxenvchan_fd_for_select(((const struct xen_chan *)c)->v);
}

static int xen_is_open(struct bh_chan *c)
{
	return libxenvchan_is_open(vchan(c));
}

static size_t xen_data_ready(struct bh_chan *c)
{
	int n = libxenvchan_data_ready(vchan(c));

	return n > 0 ? (size_t)n : 0;
}

static size_t xen_buffer_space(struct bh_chan *c)
{
	int n = libxenvchan_buffer_space(vchan(c));

	return n > 0 ? (size_t)n : 0;
}

static void xen_close(struct bh_chan *c)
{
	struct xen_chan *x = (struct xen_chan *)c;

	if (x->v)
		libxenvchan_close(x->v);
	free(x->xs_path);
	free(x);
}

/*
 * Remove the server's ring-ref and event-channel (libxenvchan_close() would,
 * but only at the end of the session). The client has mapped the ring and
 * bound the event channel already; they stay valid.
 */
static int xen_withdraw(struct bh_chan *c)
{
	struct xen_chan *x = (struct xen_chan *)c;
	struct xs_handle *xs;
	int r = 0;

	if (!x->xs_path)
		return 0;
	xs = xs_open(0);
	if (!xs)
		return -EIO;
	if (!xs_rm(xs, XBT_NULL, x->xs_path) && errno != ENOENT)
		r = -EIO;
	xs_close(xs);
	return r;
}

static const struct bh_chan_ops xen_ops = {
	.read = xen_read,
	.write = xen_write,
	.send = xen_send,
	.recv = xen_recv,
	.wait = xen_wait,
	.fd = xen_fd,
	.is_open = xen_is_open,
	.data_ready = xen_data_ready,
	.buffer_space = xen_buffer_space,
	.close = xen_close,
	.withdraw = xen_withdraw,
};

/* Our own domain id, as xenstore's relative "domid" node says. */
static int own_domid(struct xs_handle *xs, unsigned *ret)
{
	unsigned len;
	char *s = xs_read(xs, XBT_NULL, "domid", &len);
	uint32_t id;
	int r;

	if (!s)
		return -EIO;
	r = bh_parse_u32(s, 0, XEN_DOMID_MAX, &id);
	free(s);
	if (r < 0)
		return -EIO;
	*ret = id;
	return 0;
}

/* Base path: owned by us, no access for others, read for the peer only. */
static int restrict_path(int peer, const char *xs_path)
{
	struct xs_handle *xs = xs_open(0);
	struct xs_permissions perms[2];
	unsigned self;
	int r;

	if (!xs)
		return -EIO;
	r = own_domid(xs, &self);
	if (r == 0) {
		perms[0] = (struct xs_permissions){ .id = self, .perms = XS_PERM_NONE };
		perms[1] = (struct xs_permissions){ .id = (unsigned)peer, .perms = XS_PERM_READ };
		if (!xs_set_permissions(xs, XBT_NULL, xs_path, perms, 2))
			r = -EIO;
	}
	xs_close(xs);
	return r;
}

static int xen_wrap(struct libxenvchan *v, struct bh_chan **ret)
{
	struct xen_chan *x;

	if (!v)
		return errno > 0 ? -errno : -EIO;
	x = calloc(1, sizeof(*x));
	if (!x) {
		libxenvchan_close(v);
		return -ENOMEM;
	}
	x->chan.ops = &xen_ops;
	x->chan.backend = BH_CHAN_XEN;
	x->chan.blocking = true;
	x->v = v;
	*ret = &x->chan;
	return 0;
}

int bh_chan_xen_server_open(int domid, const char *xs_path, size_t read_min, size_t write_min,
			    struct bh_chan **ret)
{
	struct bh_chan *c;
	int r;

	if (domid < 0 || (unsigned)domid > XEN_DOMID_MAX || !xs_path || !ret)
		return -EINVAL;
	r = xen_wrap(libxenvchan_server_init(NULL, domid, xs_path, read_min, write_min), &c);
	if (r < 0)
		return r;
	r = restrict_path(domid, xs_path);
	if (r == 0 && !(((struct xen_chan *)c)->xs_path = strdup(xs_path)))
		r = -ENOMEM;
	if (r < 0) {
		bh_chan_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

int bh_chan_xen_client_open(int domid, const char *xs_path, struct bh_chan **ret)
{
	char *abs = NULL;
	int r;

	if (domid < 0 || (unsigned)domid > XEN_DOMID_MAX || !xs_path || !ret)
		return -EINVAL;
	/*
	 * A relative path names a node in the *server's* home (chan.h), but
	 * xenstore resolves relative paths against the caller's own home, so
	 * libxenvchan would look in ours: make it absolute first.
	 */
	if (xs_path[0] != '/') {
		if (asprintf(&abs, "/local/domain/%d/%s", domid, xs_path) < 0)
			return -ENOMEM;
		xs_path = abs;
	}
	r = xen_wrap(libxenvchan_client_init(NULL, domid, xs_path), ret);
	free(abs);
	return r;
}
