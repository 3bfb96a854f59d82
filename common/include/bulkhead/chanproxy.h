/* SPDX-License-Identifier: MIT */
/*
 * Byte streams between a channel (chan.h) and a file descriptor.
 *
 * A daemon serves its peers on unix sockets (control, NBD exports, TPM data
 * and control). The channel proxy makes the same sockets reachable over a
 * bulkhead channel, so a daemon's protocol code never knows which transport
 * carried the bytes: dom0 reaches netdomd's control socket over a memfd
 * channel on the host platform and over libxenvchan on Xen, and Xen's own
 * vchan-socket-proxy in another domain can be the far end of a raw stream.
 *
 * A channel spec names the channel, as the daemons' options take it:
 *
 *   fd:N             N is an inherited, connected AF_UNIX socket from the
 *                    parent (dom0), which is the memfd channel's server; we
 *                    attach as its client. One session: when it ends, the
 *                    proxy ends.
 *   xen:DOMID:PATH   we are the libxenvchan server, advertised at PATH
 *                    (relative to our own xenstore home, or absolute) and
 *                    readable by domain DOMID only. One peer at a time; after
 *                    a peer leaves, the channel is advertised again.
 */
#ifndef BULKHEAD_CHANPROXY_H
#define BULKHEAD_CHANPROXY_H

#include "chan.h"

struct bh_chanproxy;

struct bh_chan_spec {
	enum bh_chan_backend backend;
	int fd;		   /* fd:N */
	int domid;	   /* xen:DOMID:PATH */
	char xs_path[256]; /* xen:DOMID:PATH */
};

/*
 * Parse @spec (untrusted: an operator's option). Returns 0 and *ret, or
 * -EINVAL for anything but the two forms above with in-range numbers.
 */
int bh_chan_spec_parse(const char *spec, struct bh_chan_spec *ret);

/*
 * Copy bytes both ways between @c and the stream socket or pipe @fd until one
 * side ends; what the other side still had buffered is delivered first. A
 * readable @stop_fd (-1 for none) ends the copy at once. @c is switched to
 * non-blocking mode and @fd to O_NONBLOCK. The caller keeps ownership of both.
 * Returns 0 when a side closed (or @stop_fd fired), -EPROTO when the channel
 * peer broke the protocol, -ENOMEM or another -errno.
 */
int bh_chan_pump(struct bh_chan *c, int fd, int stop_fd);

/*
 * Start a thread that accepts channel peers per @spec and connects each to
 * the unix stream socket @sock_path, copying bytes both ways (bh_chan_pump).
 * The socket is connected when a peer arrives, so it need only exist by then
 * (a refused connect is retried for a few seconds). @ring_size is the
 * minimum ring size each way for a xen channel (0: 64 KiB). A xen channel
 * is advertised before this returns, so that a failure to is the caller's
 * error (-ENOSPC: the domain's gntalloc device is out of grants; a ring of
 * N KiB each way takes N/2 + 1); later re-advertisements that fail are
 * retried every second and logged.
 * Returns 0 and *ret (stop and free with bh_chanproxy_stop()), or -errno
 * (-EINVAL for a bad spec).
 */
int bh_chanproxy_start(const char *spec, const char *sock_path, size_t ring_size,
		       struct bh_chanproxy **ret);

/*
 * The other way round: listen on the unix stream socket @sock_path (made
 * before this returns) and, for each connection there, open a new session of
 * the channel @spec as its client and copy bytes both ways until either side
 * ends. Only "xen:DOMID:PATH" (PATH absolute, or relative to our own home)
 * names a channel we can join as client; the server re-advertises after each
 * session, so joining is retried for a few seconds. One connection at a time.
 * Returns 0 and *ret (stop with bh_chanproxy_stop(), which also removes the
 * socket), or -errno (-EINVAL for a spec that is not xen:).
 */
int bh_chanproxy_client_start(const char *spec, const char *sock_path,
			      struct bh_chanproxy **ret);

/* Stop the thread, close its channel and free @p. Accepts NULL. */
void bh_chanproxy_stop(struct bh_chanproxy *p);

#endif
