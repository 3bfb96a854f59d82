/* SPDX-License-Identifier: MIT */
/*
 * Channel API dispatch: picks the backend at open time and forwards every call
 * through its ops table, after the checks every backend shares (sticky error,
 * empty buffers).
 */
#include <errno.h>

#include "chan-priv.h"

int bh_chan_server_open(const struct bh_chan_addr *addr, size_t read_min, size_t write_min,
			struct bh_chan **ret)
{
	if (!addr || !ret)
		return -EINVAL;
	switch (addr->backend) {
	case BH_CHAN_MEMFD:
		return bh_chan_memfd_server_open(addr->memfd.sock, read_min, write_min, ret);
	case BH_CHAN_XEN:
		return bh_chan_xen_server_open(addr->xen.domid, addr->xen.xs_path, read_min,
					       write_min, ret);
	}
	return -EINVAL;
}

int bh_chan_client_open(const struct bh_chan_addr *addr, struct bh_chan **ret)
{
	if (!addr || !ret)
		return -EINVAL;
	switch (addr->backend) {
	case BH_CHAN_MEMFD:
		return bh_chan_memfd_client_open(addr->memfd.sock, ret);
	case BH_CHAN_XEN:
		return bh_chan_xen_client_open(addr->xen.domid, addr->xen.xs_path, ret);
	}
	return -EINVAL;
}

int bh_chan_memfd_server(int sock, size_t read_min, size_t write_min, struct bh_chan **ret)
{
	struct bh_chan_addr a = { .backend = BH_CHAN_MEMFD, .memfd.sock = sock };

	return bh_chan_server_open(&a, read_min, write_min, ret);
}

int bh_chan_memfd_client(int sock, struct bh_chan **ret)
{
	struct bh_chan_addr a = { .backend = BH_CHAN_MEMFD, .memfd.sock = sock };

	return bh_chan_client_open(&a, ret);
}

int bh_chan_xen_server(int domid, const char *xs_path, size_t read_min, size_t write_min,
		       struct bh_chan **ret)
{
	struct bh_chan_addr a = { .backend = BH_CHAN_XEN, .xen = { domid, xs_path } };

	return bh_chan_server_open(&a, read_min, write_min, ret);
}

int bh_chan_xen_client(int domid, const char *xs_path, struct bh_chan **ret)
{
	struct bh_chan_addr a = { .backend = BH_CHAN_XEN, .xen = { domid, xs_path } };

	return bh_chan_client_open(&a, ret);
}

void bh_chan_close(struct bh_chan *c)
{
	if (c)
		c->ops->close(c);
}

void bh_chan_set_blocking(struct bh_chan *c, bool blocking)
{
	c->blocking = blocking;
}

ssize_t bh_chan_read(struct bh_chan *c, void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (len == 0)
		return 0;
	return c->ops->read(c, buf, len);
}

ssize_t bh_chan_write(struct bh_chan *c, const void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (len == 0)
		return 0;
	return c->ops->write(c, buf, len);
}

ssize_t bh_chan_send(struct bh_chan *c, const void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (len == 0)
		return 0;
	return c->ops->send(c, buf, len);
}

ssize_t bh_chan_recv(struct bh_chan *c, void *buf, size_t len)
{
	if (c->error)
		return c->error;
	if (len == 0)
		return 0;
	return c->ops->recv(c, buf, len);
}

int bh_chan_wait(struct bh_chan *c)
{
	if (c->error)
		return c->error;
	return c->ops->wait(c);
}

int bh_chan_fd(const struct bh_chan *c)
{
	return c->ops->fd(c);
}

int bh_chan_is_open(struct bh_chan *c)
{
	if (c->error)
		return 0;
	return c->ops->is_open(c);
}

int bh_chan_withdraw(struct bh_chan *c)
{
	return c->ops->withdraw ? c->ops->withdraw(c) : 0;
}

int bh_chan_error(const struct bh_chan *c)
{
	return c->error;
}

size_t bh_chan_data_ready(struct bh_chan *c)
{
	if (c->error)
		return 0;
	return c->ops->data_ready(c);
}

size_t bh_chan_buffer_space(struct bh_chan *c)
{
	if (c->error)
		return 0;
	return c->ops->buffer_space(c);
}

enum bh_chan_backend bh_chan_backend(const struct bh_chan *c)
{
	return c->backend;
}

const char *bh_chan_backend_name(enum bh_chan_backend b)
{
	switch (b) {
	case BH_CHAN_MEMFD:
		return "memfd";
	case BH_CHAN_XEN:
		return "xen";
	}
	return "unknown";
}
