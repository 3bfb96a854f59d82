/* SPDX-License-Identifier: MIT */
/*
 * stordom private header (DESIGN.md section 6): encrypted volumes served over
 * NBD.
 *
 *   secret.c   mlocked, wiped-on-free buffers for keys and keyslot secrets
 *   xts.c      AES-XTS data path (the only libgcrypt user)
 *   volume.c   LUKS1/LUKS2 headers and keyslots (the only libcryptsetup user)
 *   nbd.c      NBD protocol: handshake state machine, request parser, reply
 *              encoder; pure (no I/O), fuzzed
 *   io.c       executes one parsed request against a volume (pread/pwrite)
 *   view.c     read-only mapping of a volume's data area: READs decrypt from it
 *   server.c   exports: the unix socket per volume, accept threads, the pool
 *   conn.c     connections: handshake, request reader, workers, replies
 *   bridge.c   NBD connections carried as mux streams over a bulkhead channel
 *   daemon.c   control messages from dom0 -> volumes and exports
 *
 * Trust: everything a guest sends is untrusted_ until nbd.c has checked it;
 * the volume key never leaves secret.c memory, xts.c's cipher contexts and
 * the kernel; nothing here logs a key, a secret or a payload.
 */
#ifndef BULKHEAD_STORDOM_H
#define BULKHEAD_STORDOM_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "bulkhead/chanproxy.h"
#include "bulkhead/msg.h"
#include "bulkhead/util.h"

/* ------------------------------------------------------------------------
 * Secrets (secret.c): page-granular anonymous memory, mlocked, excluded from
 * core dumps, wiped with explicit_bzero before it is unmapped.
 */
struct sd_secret {
	uint8_t *data;
	size_t len;  /* bytes in use */
	size_t size; /* bytes mapped */
};

int sd_secret_new(size_t len, struct sd_secret **ret);
void sd_secret_free(struct sd_secret *s);
/* Read a whole key file (at most @max bytes) into a new secret. */
int sd_secret_read_file(const char *path, size_t max, struct sd_secret **ret);

/* ------------------------------------------------------------------------
 * AES-XTS (xts.c). A context belongs to one thread. The tweak of a sector is
 * its IV number as dm-crypt's plain64 computes it: little-endian u64 in a
 * 16-byte block. Keys are 32 bytes (AES-128-XTS) or 64 (AES-256-XTS).
 */
struct sd_xts;

int sd_xts_new(struct sd_xts **ret);
void sd_xts_free(struct sd_xts *x);
/* (Re)key the context; -EINVAL for a bad length, -EIO for equal halves (or if libgcrypt refuses). */
int sd_xts_set_key(struct sd_xts *x, const uint8_t *key, size_t key_len);
/*
 * Encrypt/decrypt @len bytes in place: @len / @sector_size sectors, sector i
 * with IV number @iv + i * @iv_step. @len must be a multiple of @sector_size.
 */
int sd_xts_encrypt(struct sd_xts *x, uint8_t *buf, size_t len, uint32_t sector_size,
		   uint64_t iv, uint64_t iv_step);
int sd_xts_decrypt(struct sd_xts *x, uint8_t *buf, size_t len, uint32_t sector_size,
		   uint64_t iv, uint64_t iv_step);
/* Decrypt from @in (not modified) into @out: the two must not overlap unless equal. */
int sd_xts_decrypt_to(struct sd_xts *x, uint8_t *out, const uint8_t *in, size_t len,
		      uint32_t sector_size, uint64_t iv, uint64_t iv_step);

/* ------------------------------------------------------------------------
 * Volumes (volume.c).
 */
#define SD_SECTOR_SIZE 4096u
#define SD_KEYFILE_MAX 8192u
#define SD_VOLUME_KEY_BITS 512

struct sd_volume_params {
	uint64_t size;   /* create: data bytes, multiple of SD_SECTOR_SIZE */
	bool test_kdf;   /* PBKDF2 with the fewest iterations allowed: tests only */
	bool readonly;
};

struct sd_volume {
	int fd;               /* backing file or block device */
	bool is_blockdev;
	bool readonly;
	int luks_version;     /* 1 or 2 */
	uint64_t data_offset; /* bytes from the start of the backing store */
	uint64_t size;        /* data bytes */
	uint32_t sector_size; /* encryption unit */
	uint64_t iv_offset;   /* IV number of data sector 0 */
	uint64_t iv_step;     /* IV numbers per sector: 1 (large IVs) or sector_size / 512 */
	struct sd_secret *key; /* the volume key */
	uint64_t key_id;       /* unique per opened volume: lets workers cache a keyed context */
	/*
	 * Buffered writes to one file serialise on its inode lock anyway; waiting
	 * here sleeps instead of spinning in the kernel, which on a 2-vCPU
	 * service domain steals the CPU the cipher needs (bench/stordom).
	 */
	pthread_mutex_t write_lock;
	struct sd_view *view;  /* read-only mapping of the data area, or NULL (view.c) */
	char cipher[64];       /* "aes-xts-plain64" */
};

/*
 * Format @path (a file, created or extended, or a block device) as a new
 * LUKS2 volume: aes-xts-plain64, 512-bit key, 4096-byte sectors, one keyslot
 * opened by the contents of @keyfile. Then open it. 0 and *ret, or -errno.
 */
int sd_volume_create(const char *path, const char *keyfile, const struct sd_volume_params *p,
		     struct sd_volume **ret);
/* Open an existing LUKS1 or LUKS2 volume with the secret in @keyfile. */
int sd_volume_open(const char *path, const char *keyfile, bool readonly, struct sd_volume **ret);
/* The same with the keyslot secret given (a sealed volume's, from vtpm). */
int sd_volume_create_secret(const char *path, const struct sd_secret *pass,
			    const struct sd_volume_params *p, struct sd_volume **ret);
int sd_volume_open_secret(const char *path, const struct sd_secret *pass, bool readonly,
			  struct sd_volume **ret);

/*
 * unseal.c: a sealed volume's keyslot secret from vtpm (DESIGN.md section 4):
 * UNSEAL(@guest, @volume) on vtpmd's unseal socket at @path, the answer read
 * into a new secret (mlocked). -EACCES (why in @err) when the guest's PCRs
 * are not those the secret was sealed to; with @create, vtpm makes and seals
 * a new secret for a volume that has none.
 */
int sd_unseal(const char *path, const char *guest, const char *volume, bool create,
	      struct sd_secret **ret, char *err, size_t errlen);
/* Wipe the key and close. Accepts NULL. */
void sd_volume_close(struct sd_volume *v);
/* Extend the data area to @new_size (a file grows; a block device must be that big). */
int sd_volume_grow(struct sd_volume *v, uint64_t new_size);
/*
 * Crypto-erase the LUKS volume at @path: destroy every keyslot, then overwrite
 * the whole header area (up to the data offset) and sync. The data stays, but
 * without a keyslot nobody can derive its key again.
 */
int sd_volume_erase(const char *path);
/* The IV number of the sector at data offset @offset (a multiple of the sector size). */
uint64_t sd_volume_iv(const struct sd_volume *v, uint64_t offset);

/* ------------------------------------------------------------------------
 * The read view (view.c): the data area mapped read-only, so a READ decrypts
 * straight from the page cache into its reply buffer (no pread copy, no
 * system call). Best effort: without a view, or outside it, reads use pread.
 */
struct sd_view;

/* Map @v's data area as it is now (a later grow is read through pread). 0 or -errno. */
int sd_view_open(struct sd_volume *v);
void sd_view_close(struct sd_volume *v);
/*
 * Decrypt @len bytes at data offset @off into @buf. 0, -EAGAIN when the view
 * cannot serve it (not mapped, beyond the mapping, the page cache could not be
 * filled: read it with pread instead, which reports the real error), or the
 * cipher's -errno.
 */
int sd_view_read(const struct sd_volume *v, struct sd_xts *x, uint64_t off, uint32_t len,
		 uint8_t *buf);

/* ------------------------------------------------------------------------
 * NBD protocol (nbd.c). Wire constants from the NBD protocol document.
 */
#define SD_NBD_REQ_SIZE 28
#define SD_NBD_SIMPLE_REPLY_SIZE 16
#define SD_NBD_CHUNK_HDR_SIZE 20
#define SD_NBD_REPLY_HDR_MAX (SD_NBD_CHUNK_HDR_SIZE + 8)
#define SD_NBD_GREETING_SIZE 18
#define SD_NBD_MAX_PAYLOAD (4u << 20) /* READ/WRITE length cap, advertised */
#define SD_NBD_OPTION_MAX 8192u       /* longer option data: disconnect */
#define SD_NBD_OPTIONS_MAX 256u       /* options per connection */
#define SD_NBD_NAME_MAX 4096u

enum {
	SD_NBD_CMD_READ = 0,
	SD_NBD_CMD_WRITE = 1,
	SD_NBD_CMD_DISC = 2,
	SD_NBD_CMD_FLUSH = 3,
	SD_NBD_CMD_TRIM = 4,
	SD_NBD_CMD_WRITE_ZEROES = 6,
};

enum {
	SD_NBD_CMD_FLAG_FUA = 1u << 0,
	SD_NBD_CMD_FLAG_NO_HOLE = 1u << 1,
};

/* NBD error numbers (fixed by the protocol, not the host's errno values). */
enum {
	SD_NBD_EPERM = 1,
	SD_NBD_EIO = 5,
	SD_NBD_ENOMEM = 12,
	SD_NBD_EINVAL = 22,
	SD_NBD_ENOSPC = 28,
	SD_NBD_EOVERFLOW = 75,
	SD_NBD_ENOTSUP = 95,
	SD_NBD_ESHUTDOWN = 108,
};

/* What a connection can reach: one export (a volume) looked up by name. */
struct sd_nbd_export {
	uint64_t size;
	uint32_t block_min; /* the sector size: smaller or unaligned requests get EINVAL */
	bool readonly;
	bool discard;
};

struct sd_nbd_exports_ops {
	/* 0 and *ret for a known name ("" is the default export), -ENOENT otherwise. */
	int (*lookup)(void *ctx, const char *name, struct sd_nbd_export *ret, void **ret_handle);
	/* The @i-th export name for NBD_OPT_LIST, or NULL past the end. */
	const char *(*list)(void *ctx, size_t i);
};

enum sd_nbd_phase {
	SD_NBD_PHASE_CLIENT_FLAGS,
	SD_NBD_PHASE_OPTIONS,
	SD_NBD_PHASE_TRANSMISSION,
	SD_NBD_PHASE_CLOSED,
};

struct sd_nbd_session {
	enum sd_nbd_phase phase;
	bool no_zeroes;
	bool structured;
	unsigned n_options;
	const struct sd_nbd_exports_ops *ops;
	void *ops_ctx;
	struct sd_nbd_export exp; /* valid in transmission */
	void *handle;             /* lookup's handle of the chosen export */
};

/* Growable output of the handshake (not the hot path). */
struct sd_nbd_out {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void sd_nbd_out_free(struct sd_nbd_out *o);

void sd_nbd_session_init(struct sd_nbd_session *s, const struct sd_nbd_exports_ops *ops,
			 void *ctx);
/* The server's first bytes. */
void sd_nbd_greeting(uint8_t out[SD_NBD_GREETING_SIZE]);
/*
 * Feed handshake input. Returns the bytes consumed (> 0; replies appended to
 * @out), 0 when more input is needed for the next step, or a negative errno:
 * hang up (after sending what @out holds). s->phase says when transmission
 * starts; bytes after that point are not consumed.
 */
ssize_t sd_nbd_handshake(struct sd_nbd_session *s, const uint8_t *untrusted, size_t len,
			 struct sd_nbd_out *out);

/* A checked request. */
struct sd_nbd_req {
	uint16_t flags;
	uint16_t type;
	uint64_t cookie;
	uint64_t offset;
	uint32_t len;
	uint32_t payload; /* bytes of WRITE data that follow the header (even if refused) */
	int error;        /* 0: execute; else the NBD error to answer with */
};

/*
 * Check one 28-byte request header against the session's export. 0 and *ret
 * (ret->error says whether to execute), or -EPROTO: the stream cannot be
 * trusted any more (bad magic, WRITE data beyond the cap), hang up.
 */
int sd_nbd_parse_request(const struct sd_nbd_session *s,
			 const uint8_t untrusted_hdr[SD_NBD_REQ_SIZE], struct sd_nbd_req *ret);
/*
 * Reply header for @r with NBD error @nbd_err (0: success, then @data_len bytes
 * of READ data follow it). Returns its length (<= SD_NBD_REPLY_HDR_MAX, plus
 * error chunk payload, all written into @out).
 */
size_t sd_nbd_reply_header(const struct sd_nbd_session *s, const struct sd_nbd_req *r,
			   int nbd_err, uint32_t data_len, uint8_t out[SD_NBD_REPLY_HDR_MAX]);
/* -errno -> NBD error number. */
int sd_nbd_errno(int err);

/* ------------------------------------------------------------------------
 * Request execution (io.c). @buf holds at least max(r->len, SD_IO_CHUNK)
 * bytes (WRITE: the payload, encrypted in place; READ: receives plaintext).
 * Returns 0 or the NBD error to answer with.
 */
#define SD_IO_CHUNK (256u << 10)

int sd_io_execute(struct sd_volume *v, bool discard, struct sd_xts *x, uint64_t *keyed,
		  const struct sd_nbd_req *r, uint8_t *buf);
/*
 * A WRITE in steps, so that its payload is encrypted and stored while the rest
 * of it is still arriving (each piece while it is in the CPU cache):
 * sd_io_seal encrypts bytes [@from, @to) of the payload in @buf (@from on a
 * sector boundary, @to too unless it is r->len; every byte exactly once),
 * sd_io_store writes sealed bytes [@from, @to) to the backing store, and once
 * all are stored, sd_io_write_finish does FUA's fdatasync. Each returns 0 or
 * the NBD error to answer with (r->error for a refused request).
 */
int sd_io_seal(const struct sd_volume *v, struct sd_xts *x, uint64_t *keyed,
	       const struct sd_nbd_req *r, uint8_t *buf, uint32_t from, uint32_t to);
int sd_io_store(struct sd_volume *v, const struct sd_nbd_req *r, const uint8_t *buf,
		uint32_t from, uint32_t to);
int sd_io_write_finish(const struct sd_volume *v, const struct sd_nbd_req *r);
/* Bytes of buffer a request needs. */
size_t sd_io_bufsize(const struct sd_nbd_req *r);

/* ------------------------------------------------------------------------
 * Server (server.c): exports served on unix sockets, connections, workers.
 */
struct sd_server;
struct sd_export;

int sd_server_new(const char *listen_dir, unsigned n_workers, struct sd_server **ret);
void sd_server_free(struct sd_server *srv);
/*
 * Serve @v (ownership passes to the server on success) as export @name on
 * LISTEN_DIR/NAME.sock. -EEXIST if the name is taken.
 */
int sd_server_add(struct sd_server *srv, const char *name, struct sd_volume *v, bool discard);
/*
 * Stop serving @name: refuse new connections, hang up the open ones, wait for
 * their requests to finish, then wipe the key. -ENOENT for an unknown name.
 */
int sd_server_remove(struct sd_server *srv, const char *name);
/* Run @fn on the volume of export @name while no request is in flight. */
int sd_server_with_volume(struct sd_server *srv, const char *name,
			  int (*fn)(struct sd_volume *v, void *arg), void *arg);
/* Serve one already-connected NBD stream (a unix socket or a socketpair end) on a thread. */
int sd_server_serve_fd(struct sd_server *srv, const char *name, int fd);

/* ------------------------------------------------------------------------
 * Server internals, shared by server.c (exports, accept, the pool) and conn.c
 * (connections, requests, workers).
 */
#define SD_SLOTS 16
#define SD_CONNS_MAX 16
#define SD_RBUF (64u << 10)
/*
 * READs up to this size are executed by the connection's reader itself:
 * handing 4 KiB to a worker costs more in wake-ups than the work (measured:
 * bench/stordom, random 4 KiB). Larger ones go to the pool to run in
 * parallel. WRITEs up to SD_STORE_CHUNK are encrypted and stored by the
 * reader as they arrive (conn.c: read_write); larger ones are cut into
 * SD_STORE_CHUNK pieces that the pool encrypts and stores in parallel while
 * the reader reads the rest (read_write_split): one connection's cipher work
 * spreads over every CPU.
 */
#define SD_INLINE_MAX (64u << 10)
#define SD_STORE_CHUNK (256u << 10)

struct sd_conn;
struct sd_slot;

/*
 * Work for the pool: a whole request (a slot's own job), or one piece of a
 * large WRITE's payload to encrypt and store (conn.c: read_write_split).
 */
struct sd_job {
	struct sd_job *next; /* work queue */
	struct sd_slot *slot;
	bool piece;
	uint32_t from, to; /* a piece: payload bytes [from, to) */
};

/* Pieces of one WRITE: the largest payload in SD_STORE_CHUNK steps. */
#define SD_PIECES_MAX (SD_NBD_MAX_PAYLOAD / SD_STORE_CHUNK)

struct sd_slot {
	struct sd_conn *conn;
	struct sd_nbd_req req;
	uint8_t *buf;
	size_t cap;
	struct sd_slot *next; /* free list */
	struct sd_job job;    /* the whole request */
	/*
	 * A WRITE spread over the pool: its pieces, the references still held
	 * (the reader's until the payload is in, one per queued piece; whoever
	 * drops the last finishes the request), the first error a piece met,
	 * and whether the reader gave up on the stream (no reply then).
	 */
	struct sd_job pieces[SD_PIECES_MAX];
	_Atomic unsigned pending;
	_Atomic int piece_err;
	_Atomic bool abandoned;
};

struct sd_conn {
	struct sd_export *exp;
	int fd;
	struct sd_nbd_session s;
	pthread_mutex_t lock; /* free, inflight */
	pthread_cond_t cond;
	pthread_mutex_t send_lock; /* one reply on the socket at a time */
	struct sd_slot *free;
	unsigned inflight;
	struct sd_slot slots[SD_SLOTS];
	struct sd_xts *xts; /* for requests run inline by the reader */
	uint64_t keyed;
	uint8_t *rbuf; /* bytes read ahead from the socket: rbuf[rpos..rlen) */
	size_t rpos, rlen;
	/* Polling the socket before sleeping (conn.c: sock_read). */
	bool busy;             /* the last sleep was short: bytes come quickly */
	unsigned poll_backoff; /* waits the last empty poll made us skip; doubles per empty poll */
	unsigned poll_skip;    /* waits left to skip */
	/*
	 * Replies of inline requests wait here while more requests are already
	 * buffered, then leave in one sendmsg: a burst of 16 random reads costs
	 * one read and one write system call, not 32.
	 */
	unsigned n_corked;
	struct sd_slot *corked[SD_SLOTS];
	uint8_t cork_hdr[SD_SLOTS][SD_NBD_REPLY_HDR_MAX];
	struct iovec cork_iov[2 * SD_SLOTS];
	struct sd_conn *next; /* the export's connections */
};

struct sd_export {
	char name[BH_MSG_NAME_MAX];
	char sock_path[PATH_MAX];
	struct sd_server *srv;
	struct sd_volume *v;
	bool discard;
	int lfd;
	pthread_t acceptor;
	bool acceptor_started;
	pthread_mutex_t lock; /* conns, n_conns, closing */
	pthread_cond_t cond;
	struct sd_conn *conns;
	unsigned n_conns;
	bool closing;
	struct sd_export *next;
};

struct sd_server {
	char dir[PATH_MAX];
	pthread_mutex_t lock; /* exports */
	struct sd_export *exports;
	pthread_mutex_t qlock; /* work queue */
	pthread_cond_t qcond;
	struct sd_job *qhead, *qtail;
	_Atomic unsigned n_pieces; /* WRITE pieces in the queue */
	unsigned n_awake;          /* workers not waiting for work */
	bool stopping;
	unsigned n_workers;
	pthread_t *workers;
};

/* Start a reader thread serving @fd on @e; the fd is the connection's on success. */
int sd_conn_start(struct sd_export *e, int fd);
/* A worker thread: runs queued slots until the server stops. */
void *sd_worker_main(void *arg);

/* ------------------------------------------------------------------------
 * NBD over a bulkhead channel (bridge.c): one mux stream per NBD connection.
 * stordom's side (@initiator false) asks @stream_fd for an fd to serve each
 * stream the peer opens on; a guest's side (@initiator true) opens a stream
 * for each connection accepted on @listen_fd. Runs until the channel closes
 * with no stream left, or *@stop. 0 or -errno (-EPROTO: the peer broke the
 * mux protocol).
 */
struct bh_chan;
int sd_bridge_run(struct bh_chan *chan, bool initiator, int listen_fd,
		  int (*stream_fd)(void *ctx), void *ctx, const volatile int *stop);

/* ------------------------------------------------------------------------
 * Daemon (daemon.c): dom0's VOLUME_* messages over one msg-framed stream.
 */
#define SD_CHAN_EXPORTS_MAX 16
#define SD_CHAN_RING (1u << 20) /* each direction of an export's channel */

struct sd_daemon {
	struct sd_server *srv;
	const char *unseal_path; /* vtpmd's unseal socket (--unseal), or NULL */
	struct sd_vol_entry *vols; /* what dom0 opened: name -> path */
	size_t n_vols;
	const char *dir; /* the export sockets' directory (--listen) */
	/* CHAN_SERVE: an export's socket served over a channel for one guest */
	struct {
		char name[BH_MSG_NAME_MAX];
		char xs_path[BH_CHAN_XS_PATH_MAX];
		struct bh_chanproxy *proxy;
	} chans[SD_CHAN_EXPORTS_MAX];
	/* CHAN_SERVE UNSEAL_PEER (xen): vtpm's UNSEAL channel behind unseal_path */
	struct bh_chanproxy *unseal_proxy;
};

int sd_daemon_handle(struct sd_daemon *d, int out_fd, const struct bh_msg_hdr *h,
		     const uint8_t *untrusted_body);
/* Read messages from @in_fd until EOF, answering on @out_fd. */
int sd_daemon_stream(struct sd_daemon *d, int in_fd, int out_fd);
void sd_daemon_fini(struct sd_daemon *d);

#endif
