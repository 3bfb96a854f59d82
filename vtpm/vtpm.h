/* SPDX-License-Identifier: MIT */
/*
 * vtpm internals (DESIGN.md section 6): one manager, vtpmd, that holds the
 * state key and the instances' files, and one sandboxed worker process per
 * guest instance that runs libtpms and talks to the guest.
 *
 *   guest --tpm.sock (raw TPM 2.0)--+
 *   guest --tpm.sock.ctrl (swtpm)---+--> worker (libtpms, no files, no network,
 *   guest --tpm.chan (bulkhead chan,+         seccomp)  --seqpacket--> vtpmd
 *         data + control streams)                                  (key, files)
 *                                     forked by the spawner (zygote.c) that
 *                                     vtpmd exec'ed once
 *
 * Trust: the worker parses guest input and so is assumed compromisable; it
 * never holds the state key and cannot open files. The manager never looks at
 * guest bytes: it receives from its workers only whole control messages
 * (exact length checks), and the state blob inside them is opaque to it: it
 * is sealed and written, never parsed.
 *
 * Adapters: tpm.c is the only libtpms user, seal.c the only OpenSSL user,
 * sandbox.c the only libseccomp user.
 */
#ifndef VTPM_VTPM_H
#define VTPM_VTPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bulkhead/msg.h"
#include "bulkhead/util.h"

/* ---- TPM 2.0 wire format ------------------------------------------------ */

#define VT_TPM_HDR_SIZE 10 /* tag u16, size u32, code u32; all big-endian */
#define VT_TPM_ST_NO_SESSIONS 0x8001
#define VT_TPM_ST_SESSIONS 0x8002
#define VT_TPM_RC_SUCCESS 0x000
#define VT_TPM_RC_FAILURE 0x101
#define VT_TPM_RC_COMMAND_SIZE 0x142
#define VT_TPM_RC_BAD_TAG 0x01e
/* Largest command we accept (libtpms' buffer; tpm2-tss sends at most 4096). */
#define VT_TPM_CMD_MAX 4096u
/* Largest response libtpms may produce at that buffer size. */
#define VT_TPM_RSP_MAX 4096u

static inline uint16_t vt_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vt_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void vt_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Write a 10-byte TPM 2.0 error response with @rc into @out. */
void vt_tpm_error_response(uint8_t out[VT_TPM_HDR_SIZE], uint32_t rc);

/* ---- framing (frame.c): raw TPM commands out of a byte stream ----------- */

/*
 * Incremental framer for the data channel: bytes from the peer are fed in
 * any split; a command is complete once the size in its header has arrived.
 * The header is checked (tag, 10 <= size <= max) as soon as its 10 bytes are
 * in, before any body byte is buffered. After an error the framer is dead
 * (the stream cannot be resynchronised) and the connection must be closed
 * after sending the error response.
 */
struct vt_framer {
	uint32_t max;  /* command size limit, <= VT_TPM_CMD_MAX */
	uint32_t need; /* size from the header, 0 until the header is in */
	uint32_t have;
	uint32_t err_rc; /* TPM rc of the framing error, 0 if none */
	uint8_t buf[VT_TPM_CMD_MAX];
};

void vt_framer_init(struct vt_framer *f, uint32_t max);
/*
 * Consume up to @len bytes of @untrusted_in. Returns the number of bytes
 * consumed (stopping after a complete command), or -EBADMSG after a framing
 * error (f->err_rc says which TPM error to answer). When a command is
 * complete, vt_framer_command() returns its length.
 */
ssize_t vt_framer_feed(struct vt_framer *f, const uint8_t *untrusted_in, size_t len);
/* Length of the complete command in f->buf, or 0. */
uint32_t vt_framer_command(const struct vt_framer *f);
/* Forget the command just handled; start on the next one. */
void vt_framer_next(struct vt_framer *f);
/* True when a command has been started but not completed (for EOF handling). */
bool vt_framer_partial(const struct vt_framer *f);

/* ---- swtpm control channel (ctrl.c) -------------------------------------- */

/* Command codes of swtpm's control channel (swtpm include/swtpm/tpm_ioctl.h). */
enum vt_ctrl_cmd {
	VT_CMD_GET_CAPABILITY = 0x01,
	VT_CMD_INIT = 0x02,
	VT_CMD_SHUTDOWN = 0x03,
	VT_CMD_GET_TPMESTABLISHED = 0x04,
	VT_CMD_SET_LOCALITY = 0x05,
	VT_CMD_HASH_START = 0x06,
	VT_CMD_HASH_DATA = 0x07,
	VT_CMD_HASH_END = 0x08,
	VT_CMD_CANCEL_TPM_CMD = 0x09,
	VT_CMD_STORE_VOLATILE = 0x0a,
	VT_CMD_RESET_TPMESTABLISHED = 0x0b,
	VT_CMD_GET_STATEBLOB = 0x0c,
	VT_CMD_SET_STATEBLOB = 0x0d,
	VT_CMD_STOP = 0x0e,
	VT_CMD_GET_CONFIG = 0x0f,
	VT_CMD_SET_DATAFD = 0x10,
	VT_CMD_SET_BUFFERSIZE = 0x11,
	VT_CMD_GET_INFO = 0x12,
};

/* Capability bits (PTM_CAP_*) of the commands we implement. */
#define VT_CAP_INIT (1u << 0)
#define VT_CAP_SHUTDOWN (1u << 1)
#define VT_CAP_GET_TPMESTABLISHED (1u << 2)
#define VT_CAP_SET_LOCALITY (1u << 3)
#define VT_CAP_CANCEL_TPM_CMD (1u << 5)
#define VT_CAP_RESET_TPMESTABLISHED (1u << 7)
#define VT_CAP_STOP (1u << 10)
#define VT_CAP_GET_CONFIG (1u << 11)
#define VT_CAP_SET_DATAFD (1u << 12)
#define VT_CAP_SET_BUFFERSIZE (1u << 13)

/* swtpm's result codes are TPM 1.2 ones. */
#define VT_PTM_SUCCESS 0u
#define VT_PTM_BAD_PARAMETER 3u
#define VT_PTM_FAIL 9u
#define VT_PTM_BAD_ORDINAL 10u

#define VT_CTRL_REQ_MAX 16  /* code + the largest fixed request (GET_STATEBLOB's three u32) */
#define VT_CTRL_RSP_MAX 16  /* result + SET_BUFFERSIZE's three u32 */

struct vt_ctrl_req {
	uint32_t cmd;
	uint32_t arg; /* INIT flags, locality, buffer size; 0 if none */
};

/*
 * Incremental parser for the control stream: a u32 command code, then that
 * command's fixed-size request. An unknown or unimplemented code is an
 * error (-EOPNOTSUPP): its request length is unknown, so the stream cannot
 * continue; the caller answers BAD_ORDINAL and closes.
 */
struct vt_ctrl_parser {
	uint8_t buf[VT_CTRL_REQ_MAX];
	uint32_t have, need;
};

void vt_ctrl_parser_init(struct vt_ctrl_parser *p);
/*
 * Consume up to @len bytes, stopping after a complete request. Returns the
 * number consumed, or -EOPNOTSUPP (unknown code: p->buf holds it). *ret_done
 * is true when *ret holds a complete request (then the parser is reset).
 */
ssize_t vt_ctrl_feed(struct vt_ctrl_parser *p, const uint8_t *untrusted_in, size_t len,
		     struct vt_ctrl_req *ret, bool *ret_done);
/* Request size (after the code) of command @cmd, or -EOPNOTSUPP. */
int vt_ctrl_req_size(uint32_t cmd);

/* What the control handler may do to the TPM; worker.c passes tpm.c's. */
struct vt_ctrl_ops {
	int (*set_locality)(void *ctx, uint8_t loc);
	int (*cancel)(void *ctx);
	int (*get_established)(void *ctx, bool *ret);
	int (*reset_established)(void *ctx, uint8_t loc);
	uint32_t (*set_buffersize)(void *ctx, uint32_t want, uint32_t *min, uint32_t *max);
	/* Take the fd that came with this request (unix socket only); -EINVAL if none. */
	int (*set_datafd)(void *ctx);
};

/*
 * Run one parsed request and encode the response into @out (at least
 * VT_CTRL_RSP_MAX bytes). Returns the response length.
 */
size_t vt_ctrl_handle(const struct vt_ctrl_req *req, const struct vt_ctrl_ops *ops, void *ctx,
		      uint8_t *out);

/* ---- libtpms adapter (tpm.c) -------------------------------------------- */

/*
 * Called by libtpms (inside vt_tpm_start/process) whenever the permanent
 * state changed: must return 0 only once the blob is durably stored.
 */
typedef int (*vt_store_fn)(void *ctx, const uint8_t *blob, size_t len);

/*
 * Power on the TPM with permanent state @state (@len bytes, 0 for a new TPM
 * that libtpms manufactures). A state change during power-on is stored
 * through @store only when the first command has run, before its response
 * leaves (vt_tpm_process). A copy of the state is kept for vt_tpm_restart().
 * Returns 0 or -EIO (libtpms refused, e.g. a corrupt state), -ENOMEM.
 */
int vt_tpm_start(const uint8_t *state, size_t len, vt_store_fn store, void *ctx);
/* Power cycle (VTPM_RESET from vtpmd): terminate and start again from the last stored state. */
int vt_tpm_restart(void);
/* Power off; commands then fail until a restart. */
void vt_tpm_stop(void);
bool vt_tpm_running(void);
/* Free everything (the kept state copy is wiped). */
void vt_tpm_fini(void);

/*
 * Execute one framed command (@len bytes, as vt_framer checked it). The
 * response goes to @out (cap VT_TPM_RSP_MAX); returns its length. A libtpms
 * failure or a stopped TPM gives a TPM error response, never an errno.
 */
size_t vt_tpm_process(const uint8_t *cmd, uint32_t len, uint8_t *out, size_t cap);
int vt_tpm_set_locality(uint8_t loc);
int vt_tpm_cancel(void);
int vt_tpm_get_established(bool *ret);
int vt_tpm_reset_established(uint8_t loc);
uint32_t vt_tpm_set_buffersize(uint32_t want, uint32_t *min, uint32_t *max);

/* ---- volume secrets sealed in the guest's TPM (keyseal.c) --------------- */

#define VT_DIGEST_LEN 32 /* sha256 */
#define VT_ADMIN_LEN 32  /* the admin branch's password */
#define VT_SECRET_MAX 128
#define VT_SECRET_LEN 64 /* what vt_keyseal_create() makes: a LUKS keyslot passphrase */

/*
 * A sealed secret as vtpmd keeps it (vt_sealed_encode, then vt_seal under the
 * manager key): the admin password, the policy's two branches (PolicyPCR of
 * the golden PCRs, PolicyPassword), and the object's TPM2B_PUBLIC and
 * TPM2B_PRIVATE contents (the private part is encrypted by the TPM itself).
 */
struct vt_sealed {
	uint8_t admin[VT_ADMIN_LEN];
	uint8_t branch[2][VT_DIGEST_LEN];
	uint16_t pub_len, priv_len;
	uint8_t pub[256], priv[256];
};

/* A fresh random secret of @len bytes into @secret, sealed to the PCRs of now. */
int vt_keyseal_create(uint8_t *secret, size_t len, struct vt_sealed *ret, char *err,
		      size_t errlen);
/* Unseal through the PCR branch: -EACCES (why in @err) when the PCRs differ. */
int vt_keyseal_unseal(const struct vt_sealed *s, uint8_t *out, size_t cap, size_t *ret_len,
		      char *err, size_t errlen);
/* Unseal through the admin branch and seal again to the PCRs of now (new password). */
int vt_keyseal_reseal(const struct vt_sealed *old, struct vt_sealed *ret, char *err,
		      size_t errlen);
enum vt_key_op {
	VT_KEY_CREATE = 1, /* a new secret, sealed: record and secret back */
	VT_KEY_UNSEAL = 2, /* the PCR branch: the secret back */
	VT_KEY_RESEAL = 3, /* the admin branch, then sealed to the PCRs of now: record back */
};

/* A worker's answer to a KEY_OP. */
struct vt_keyres {
	int32_t status;
	bool has_record;
	struct vt_sealed rec;
	uint16_t secret_len;
	uint8_t secret[VT_SECRET_MAX];
	char text[BH_MSG_ERROR_TEXT_MAX];
};

void vt_keyop_run(uint8_t op, const struct vt_sealed *rec, struct vt_keyres *res);
long vt_keyop_encode(uint8_t op, const struct vt_sealed *rec, uint8_t *out, size_t cap);
int vt_keyop_decode(const uint8_t *untrusted_body, size_t len, uint8_t *ret_op,
		    struct vt_sealed *ret, bool *ret_has);
long vt_keyres_encode(const struct vt_keyres *m, uint8_t *out, size_t cap);
int vt_keyres_decode(const uint8_t *untrusted_body, size_t len, struct vt_keyres *ret);

struct bh_cursor;
long vt_sealed_encode(const struct vt_sealed *s, uint8_t *out, size_t cap);
int vt_sealed_decode(struct bh_cursor *c, struct vt_sealed *ret);

/* ---- state sealing (seal.c, OpenSSL) ------------------------------------ */

#define VT_KEY_LEN 32

/* The manager key: mlocked, wiped on free. */
struct vt_key {
	uint8_t k[VT_KEY_LEN];
};

/* Load OpenSSL's config and seed its DRBG now (before a sandbox forbids files). */
int vt_crypto_preload(void);
/* In a worker just forked from the zygote: reseed, so no two workers share DRBG state. */
int vt_crypto_after_fork(void);

/*
 * Load the key file: exactly VT_KEY_LEN bytes, a regular file not readable
 * or writable by group or others. -EPERM for loose permissions, -EBADMSG
 * for a wrong size.
 */
int vt_key_load(const char *path, struct vt_key **ret);
/* Create a key file with fresh random bytes (mode 0600, O_EXCL). */
int vt_key_generate(const char *path);
void vt_key_free(struct vt_key *k);

/*
 * Sealed state file:
 *   offset size
 *   0      8    magic "BHVTPMS\0"
 *   8      4    format version (1)
 *   12     8    generation
 *   20     12   GCM nonce (random)
 *   32     4    plaintext length
 *   36     n    ciphertext
 *   36+n   16   GCM tag
 * The AAD is bytes 0..35 plus the instance name, so a file cannot be moved to
 * another instance nor its generation edited.
 */
#define VT_SEAL_HDR 36
#define VT_SEAL_TAG 16
#define VT_STATE_MAX (1u << 20) /* the largest plaintext state we seal */

int vt_seal(const struct vt_key *k, const char *name, uint64_t gen, const uint8_t *pt,
	    size_t len, uint8_t **ret, size_t *ret_len);
/*
 * 0 and a malloc'ed plaintext (caller wipes and frees), -EBADMSG for a
 * malformed file, -EKEYREJECTED when authentication fails (tampered, other
 * instance, other key).
 */
int vt_unseal(const struct vt_key *k, const char *name, const uint8_t *untrusted_in, size_t len,
	      uint64_t *ret_gen, uint8_t **ret_pt, size_t *ret_len);

/* ---- instance files (store.c) ------------------------------------------- */

/*
 * An instance directory DIR/<name>/ holds, readable by vtpmd only:
 *   state        the sealed state (absent until the first store)
 *   generation   the manager's record of the newest generation written
 *   tpm.sock, tpm.sock.ctrl, tpm.chan   the worker's listening sockets
 * Rollback: a state whose generation is below the record is refused; one up
 * to VT_RECORD_LAG_MAX above it is a store whose record was not written yet
 * and is accepted (the record catches up). The manager writes the record when
 * it has been idle for a few milliseconds and whenever an instance stops, so
 * a rollback by a generation or two goes unnoticed only if the file is
 * swapped and the host crashes within that window of a running instance.
 */
struct vt_store {
	int dirfd;      /* DIR/<name>, O_DIRECTORY */
	char name[64];
	uint64_t generation; /* of the newest state written */
	uint64_t record;     /* what the record on disk says: generation - LAG_MAX .. generation */
};
/* How far a state may be ahead of the record (stores acknowledged, record not yet written). */
#define VT_RECORD_LAG_MAX 2u

/* Write @len bytes to @dirfd/@file atomically: temp, fsync, rename, fsync dir. */
int vt_write_atomic(int dirfd, const char *file, const void *data, size_t len);
/* Read a whole small file (at most @max bytes): 0, -ENOENT, -EFBIG, -errno. */
int vt_read_file(int dirfd, const char *file, size_t max, uint8_t **ret, size_t *ret_len);

int vt_store_create(int statedirfd, const char *name);
int vt_store_open(int statedirfd, const char *name, struct vt_store *ret);
void vt_store_close(struct vt_store *s);
/*
 * Load the newest state: 0 with *ret_pt (NULL/0 for a never-stored new
 * instance), -ESTALE for a rollback (older generation, or a missing state
 * file when the record says one was written), -EKEYREJECTED for a tampered
 * file, -EBADMSG for a malformed one.
 */
int vt_store_load(struct vt_store *s, const struct vt_key *k, uint8_t **ret_pt, size_t *ret_len);
/*
 * Seal and write the next generation; on return the state is durable and the
 * record may be behind (vt_store_record() later: a crash in between leaves
 * record < state <= record + VT_RECORD_LAG_MAX, which load accepts). Writes
 * the record first when the new state would be further ahead than that.
 */
int vt_store_save(struct vt_store *s, const struct vt_key *k, const uint8_t *pt, size_t len);
/* Write the generation record if it is behind the state. */
int vt_store_record(struct vt_store *s);
int vt_store_delete(int statedirfd, const char *name);

/* ---- sandbox (sandbox.c) ------------------------------------------------ */

/*
 * Drop into the worker sandbox, in STYLE.md's order: chroot to @empty_dir
 * and drop to uid/gid 65534 (when root), no_new_privs, then a seccomp
 * allow-list with no open(), no socket(), no exec. Returns 0 or -errno.
 */
int vt_sandbox_enter(const char *empty_dir);

/* ---- manager <-> worker messages (ipc.c) -------------------------------- */

struct bh_msg_hdr;
/* Send one whole message (one packet on a SOCK_SEQPACKET). */
int vt_ipc_send_msg(int fd, uint16_t type, uint8_t flags, uint32_t req, const void *body,
		    size_t len);
int vt_ipc_send(int fd, uint16_t type, const void *body, size_t len);
/* The same with @nfds fds as SCM_RIGHTS (a VTPM_START to a worker). */
int vt_ipc_send_fds(int fd, uint16_t type, const void *body, size_t len, const int *fds,
		    int nfds);
/* Receive one packet and check it is exactly one valid message; -EPIPE at EOF. */
int vt_ipc_recv(int fd, uint8_t *buf, size_t cap, struct bh_msg_hdr *ret_hdr,
		const uint8_t **ret_body);
/* Send a VTPM_RESULT; @req != 0 makes it a reply to that request (control socket). */
int vt_ipc_result(int fd, uint32_t req, int status, const char *name, const char *fmt, ...)
	_printf_(5, 6);
/* Largest message on a worker socket: a whole state. */
#define VT_IPC_MAX (16u + VT_STATE_MAX)

/* ---- worker (worker.c, worker-chan.c) and manager (manager.c) ------------ */

/* Where a response goes: a unix socket, or a mux stream of tpm.chan. */
typedef int (*vt_send_fn)(void *sctx, const void *buf, size_t len);

struct vt_wchan;
struct vt_worker {
	char name[BH_MSG_NAME_MAX];
	int data, ctrl;	     /* accepted connections (or a SET_DATAFD socket), or -1 */
	int datafd_pending;  /* an fd received on ctrl, until SET_DATAFD takes it; or -1 */
	struct vt_wchan *wc; /* tpm.chan client, or NULL */
	bool chan_busy;	     /* the channel had input lately: poll the rest without sleeping */
	struct vt_framer data_fr;
	struct vt_ctrl_parser cp;
	uint32_t bufsize;
	bool shutdown;
	uint32_t pending_len; /* a manager request that came while a store waited, or 0 */
	uint8_t pending[BH_MSG_HDR_SIZE + 2048];
	uint8_t msg[BH_MSG_HDR_SIZE + 2048]; /* the manager's requests and replies to a store */
	uint8_t rsp[VT_TPM_RSP_MAX];
};

/*
 * Feed guest bytes of a data stream through @f and run every complete
 * command, answering through @send. 0, or -errno when the stream must close
 * (framing error, already answered with a TPM error; or a failed send).
 */
int vt_worker_data(struct vt_worker *w, struct vt_framer *f, const uint8_t *untrusted_in,
		   size_t len, vt_send_fn send, void *sctx);
/* The same for a control stream; -errno when it must close. */
int vt_worker_ctrl(struct vt_worker *w, struct vt_ctrl_parser *p, const uint8_t *untrusted_in,
		   size_t len, vt_send_fn send, void *sctx);

/*
 * tpm.chan (worker-chan.c): the data and control streams of swtpm over one
 * bulkhead channel, as streams of a mux (bulkhead/mux.h). The client (mux
 * initiator) opens a stream and names it with its first byte:
 */
#define VT_CHAN_STREAM_DATA 0x01 /* raw TPM 2.0 commands, as on tpm.sock */
#define VT_CHAN_STREAM_CTRL 0x02 /* swtpm control requests, as on tpm.sock.ctrl */

/* A client connected on tpm.chan's listening socket @sock (taken). */
void vt_wchan_accept(struct vt_worker *w, int sock);
void vt_wchan_close(struct vt_worker *w);
int vt_wchan_fd(const struct vt_worker *w);
/* The channel's fd fired (consume the event); then serve it while busy. */
void vt_wchan_event(struct vt_worker *w);
/* Serve the channel while input keeps coming; sets w->chan_busy. */
void vt_wchan_run(struct vt_worker *w);

struct bh_mux;
struct bh_chan;
/*
 * Move what @chan holds now into @mux, without arming the channel's wake-up
 * (a read that found nothing would: the peer would then pay an eventfd
 * write for its next message). 1 when bytes moved, 0 when none, or -errno.
 */
int vt_mux_pull(struct bh_mux *mux, struct bh_chan *chan, uint8_t *buf, size_t cap);

/*
 * Spinning before sleeping on tpm.chan (spin.c, with the measurements behind
 * it): the budget is twice what the last wait took, between 20 us and a cap
 * the caller sets; short after a spin that could not have succeeded (the
 * peer needed our CPU); yields hand the CPU to a peer on the same CPU; a
 * spinner that finds a third task wanting its CPU (the kernel switched it
 * out; not the hypervisor) sleeps, and spins little and never yields for a
 * while.
 */
struct vt_spin {
	uint32_t cap_ns;
	uint32_t budget_ns;
	uint64_t start_ns;	/* when the current wait began; 0: none */
	uint64_t slept_ns;	/* when its spin gave up */
	uint64_t busy_until_ns; /* a third task wanted our CPU lately: until then, */
	uint64_t busy_ns;	/* ... for this long */
	bool yield_first;	/* the peer answered in our last yield: it shares our CPU */
	uint64_t switches;	/* this thread's context switches when last counted */
};
/* Client waiting for a response: ECC commands (Quote ~300 us), not RSA or key generation. */
#define VT_SPIN_CLIENT_NS 1000000u
/* Worker waiting for the next command (a client answers within a wake-up). */
#define VT_SPIN_WORKER_NS 100000u
void vt_spin_init(struct vt_spin *s, uint32_t cap_ns);
/*
 * Spin until @ready(@ctx) returns non-zero (returned) or the budget runs out
 * (0: arm the wake-up and sleep, then call vt_spin_woken() once input came).
 */
int vt_spin(struct vt_spin *s, int (*ready)(void *ctx), void *ctx);
void vt_spin_woken(struct vt_spin *s);

/* The guest's end of tpm.chan (client.c). */
struct vt_client {
	struct bh_chan *chan;
	struct bh_mux *mux;
	struct vt_spin spin;
	uint32_t data; /* the data stream, opened by vt_client_open() */
	uint8_t buf[16u << 10];
};
/* Connect to tpm.chan at @path and open the data stream. */
int vt_client_open(const char *path, struct vt_client **ret);
void vt_client_close(struct vt_client *c);
/* Open another stream named @kind (VT_CHAN_STREAM_*). */
int vt_client_open_stream(struct vt_client *c, uint8_t kind, uint32_t *ret_id);
/* Write all of @buf on stream @id. 0 or -errno. */
int vt_client_write(struct vt_client *c, uint32_t id, const void *buf, size_t len);
/* Read at least one byte of stream @id (spin, then sleep); 0 when the worker finished it. */
ssize_t vt_client_read(struct vt_client *c, uint32_t id, void *buf, size_t len);
int vt_client_read_full(struct vt_client *c, uint32_t id, void *buf, size_t len);
/* Spin, then sleep, until input for stream @id may have arrived; 1 when the channel ended. */
int vt_client_wait(struct vt_client *c, uint32_t id);
/*
 * One TPM command on the data stream; the response (size checked against
 * @cap) goes to @rsp. Returns its length or -errno (-EBADMSG: bad size).
 */
ssize_t vt_client_transact(struct vt_client *c, const uint8_t *cmd, size_t len, uint8_t *rsp,
			   size_t cap);

/* Fixed fd numbers in a worker (manager socket, then its three listening sockets). */
#define VT_FD_MGR 3   /* SOCK_SEQPACKET to the manager */
#define VT_FD_DATA 4  /* listening: tpm.sock */
#define VT_FD_CTRL 5  /* listening: tpm.sock.ctrl */
#define VT_FD_CHAN 6  /* listening: tpm.chan (bulkhead memfd channel set-up) */

/*
 * A worker, forked by the zygote with its manager socket at VT_FD_MGR. It
 * takes, in order: STATE_LOAD (the permanent state; empty: manufacture a new
 * TPM, which a spare worker does ahead of time), then VTPM_START (the
 * instance name, with its tpm.sock, tpm.sock.ctrl and tpm.chan listening
 * sockets as SCM_RIGHTS). @title/@title_len: the argv area, rewritten to
 * "--worker NAME" for ps.
 */
int vt_worker_main(const char *empty_dir, char *title, size_t title_len);

/*
 * The worker spawner (zygote.c), exec'ed by the manager with its socket at
 * VT_FD_MGR. Returns when the manager goes away.
 */
int vt_zygote_main(const char *empty_dir, char *title, size_t title_len);
/*
 * Manager side: have the zygote on @zfd fork a worker whose manager socket
 * is @worker_sock. 0 with its pid and a pidfd (owned by the caller), or -errno.
 */
int vt_zygote_spawn(int zfd, int worker_sock, pid_t *ret_pid, int *ret_pidfd);
/* One packet with @nfds fds (SCM_RIGHTS) on a socket. 0 or -errno. */
int vt_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/*
 * One packet with exactly @nfds fds (or none if @opt); the byte count,
 * -EPIPE at EOF, -EBADMSG (fds that came anyway are closed).
 */
ssize_t vt_recv_fds(int sock, void *buf, size_t cap, int *fds, int nfds, bool opt);

struct vt_manager;
struct vt_manager_cfg {
	const char *state_dir;
	const char *key_file;
	const char *self_exe; /* vtpmd, exec'ed once as the worker spawner */
	const char *unseal_path; /* stordom's UNSEAL socket, or NULL */
	bool sandbox;
};
int vt_manager_new(const struct vt_manager_cfg *cfg, struct vt_manager **ret);
/* For mgr-seal.c (see manager.c). */
int vt_manager_instance_dir(struct vt_manager *m, const char *name);
int vt_manager_key_call(struct vt_manager *m, const char *name, const void *body, size_t len,
			uint8_t *reply, size_t cap, size_t *ret_len);
const struct vt_key *vt_manager_key(const struct vt_manager *m);
/*
 * mgr-seal.c: one UNSEAL request on stordom's connection @fd, answered (0),
 * or -errno to hang up; one VTPM_RESEAL from dom0 (its status, why in @err,
 * the guest's name in *ret_name).
 */
int vt_unseal_request(struct vt_manager *m, int fd);
int vt_reseal_request(struct vt_manager *m, const uint8_t *untrusted_body, size_t len,
		      char *err, size_t errlen, const char **ret_name);
/* chan-serve.c: serve instance @m->name's socket, or (BH_CHAN_SERVE_UNSEAL)
 * the UNSEAL socket @cfg->unseal_path, over a xen channel for @m->domid
 * (CHAN_SERVE); 0 or -errno. Stop every such proxy. */
int vt_chan_serve(const struct vt_manager_cfg *cfg, const struct bh_msg_chan_serve *m);
void vt_chan_serve_stop_all(void);
void vt_manager_free(struct vt_manager *m);
/* Serve control messages on a unix socket at @path until SIGTERM. */
int vt_manager_serve(struct vt_manager *m, const char *path);

#endif
