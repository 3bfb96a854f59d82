/* SPDX-License-Identifier: MIT */
/*
 * Internals of the channel layer: the ops table every backend implements and
 * the base struct each backend's channel starts with. Only common/chan*.c
 * include this file.
 */
#ifndef BULKHEAD_CHAN_PRIV_H
#define BULKHEAD_CHAN_PRIV_H

#include <bulkhead/chan.h>

/*
 * Backend operations. chan.c checks the sticky error and argument sizes before
 * calling them, so a backend sees len > 0 and c->error == 0.
 */
struct bh_chan_ops {
	ssize_t (*read)(struct bh_chan *c, void *buf, size_t len);
	ssize_t (*write)(struct bh_chan *c, const void *buf, size_t len);
	ssize_t (*send)(struct bh_chan *c, const void *buf, size_t len);
	ssize_t (*recv)(struct bh_chan *c, void *buf, size_t len);
	int (*wait)(struct bh_chan *c);
	int (*fd)(const struct bh_chan *c);
	int (*is_open)(struct bh_chan *c);
	size_t (*data_ready)(struct bh_chan *c);
	size_t (*buffer_space)(struct bh_chan *c);
	void (*close)(struct bh_chan *c);
	int (*withdraw)(struct bh_chan *c); /* optional: NULL when there is nothing to do */
};

struct bh_chan {
	const struct bh_chan_ops *ops;
	enum bh_chan_backend backend;
	bool blocking;
	int error; /* sticky: once set, every call fails with it */
};

/* Record a fatal channel error (first one wins) and return it. */
static inline int bh_chan_fail(struct bh_chan *c, int err)
{
	if (!c->error)
		c->error = err;
	return c->error;
}

int bh_chan_memfd_server_open(int sock, size_t read_min, size_t write_min, struct bh_chan **ret);
int bh_chan_memfd_client_open(int sock, struct bh_chan **ret);
int bh_chan_xen_server_open(int domid, const char *xs_path, size_t read_min, size_t write_min,
			    struct bh_chan **ret);
int bh_chan_xen_client_open(int domid, const char *xs_path, struct bh_chan **ret);

#endif
