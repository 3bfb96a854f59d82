/* SPDX-License-Identifier: MIT */
/*
 * vtpmd's manager: the privileged parent. It holds the state key and the
 * instance files, serves dom0's control messages (VTPM_CREATE/START/STOP/
 * DELETE/RESET), and runs one worker per started instance, forked by the spawner
 * it exec'ed at start (zygote.c), so that no worker's address space ever
 * held the key or another instance's state.
 *
 * From a worker it accepts only whole messages of two kinds (the ready
 * RESULT, and STATE_STORE whose body it seals without parsing); anything else
 * ends that worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "vtpm.h"

#define INSTANCES_MAX 256
#define START_TIMEOUT_MS 30000
/* Idle this long: write generation records that are behind, make the spare. */
#define IDLE_MS 10

struct instance {
	char name[BH_MSG_NAME_MAX];
	struct vt_store st;
	pid_t pid;
	int pidfd; /* the worker (a child of the zygote), -1 when stopped */
	int sock;  /* SOCK_SEQPACKET to the worker, -1 when stopped */
};

struct vt_manager {
	struct vt_manager_cfg cfg;
	int dirfd;
	struct vt_key *key;
	char empty_dir[4096];
	struct instance inst[INSTANCES_MAX];
	uint8_t *buf; /* VT_IPC_MAX: one worker message */
	pid_t zpid;   /* the worker spawner (zygote.c), 0 when not running */
	int zfd;      /* SOCK_SEQPACKET to it */
	/* A worker that made a new TPM ahead of time, for the next new instance. */
	struct instance spare;
	bool spare_failed; /* do not retry before the next START */
	int ulfd, ucfd;    /* stordom's UNSEAL socket and its connection, or -1 */
};

static volatile sig_atomic_t stop_requested;

static int zygote_start(struct vt_manager *m);

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int vt_manager_new(const struct vt_manager_cfg *cfg, struct vt_manager **ret)
{
	struct vt_manager *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->dirfd = -1;
	m->zfd = -1;
	m->ulfd = m->ucfd = -1;
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		m->inst[i].sock = m->inst[i].pidfd = -1;
	m->spare.sock = m->spare.pidfd = -1;
	m->spare.st.dirfd = -1;
	m->buf = malloc(VT_IPC_MAX);
	r = m->buf ? vt_key_load(cfg->key_file, &m->key) : -ENOMEM;
	if (r < 0) {
		bh_log_errno(LOG_ERR, r, "key file %s", cfg->key_file);
		goto fail;
	}
	m->dirfd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0) {
		r = bh_log_errno(LOG_ERR, -errno, "state directory %s", cfg->state_dir);
		goto fail;
	}
	/* The workers' root: an empty directory nobody can write. */
	snprintf(m->empty_dir, sizeof(m->empty_dir), "%s/.empty", cfg->state_dir);
	if (mkdir(m->empty_dir, 0555) < 0 && errno != EEXIST) {
		r = bh_log_errno(LOG_ERR, -errno, "%s", m->empty_dir);
		goto fail;
	}
	/* Workers start as forks of this one process (zygote.c). */
	r = zygote_start(m);
	if (r < 0) {
		bh_log_errno(LOG_ERR, r, "starting the worker spawner");
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	vt_manager_free(m);
	return r;
}

static struct instance *find(struct vt_manager *m, const char *name)
{
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (m->inst[i].name[0] && bh_streq(m->inst[i].name, name))
			return &m->inst[i];
	return NULL;
}

/* The instance record, opening its store on first use. */
static int lookup(struct vt_manager *m, const char *name, struct instance **ret)
{
	struct instance *in = find(m, name);
	int r;

	if (in) {
		*ret = in;
		return 0;
	}
	for (size_t i = 0; i < INSTANCES_MAX && !in; i++)
		if (!m->inst[i].name[0])
			in = &m->inst[i];
	if (!in)
		return -ENOSPC;
	r = vt_store_open(m->dirfd, name, &in->st);
	if (r < 0)
		return r;
	snprintf(in->name, sizeof(in->name), "%s", name);
	in->sock = in->pidfd = -1;
	in->pid = 0;
	*ret = in;
	return 0;
}

static void forget(struct instance *in)
{
	vt_store_close(&in->st);
	memset(in->name, 0, sizeof(in->name));
}

/* ---- worker messages ---- */

static int handle_store(struct vt_manager *m, struct instance *in, const uint8_t *blob,
			uint32_t len)
{
	int r = vt_store_save(&in->st, m->key, blob, len);

	if (r < 0)
		bh_log_errno(LOG_ERR, r, "%s: writing state generation %llu", in->name,
			     (unsigned long long)in->st.generation + 1);
	else
		bh_debug("%s: state generation %llu written", in->name,
			 (unsigned long long)in->st.generation);
	/* The record follows when we are idle (records_idle) or the worker stops. */
	return vt_ipc_result(in->sock, 0, r, in->name, "%s", r < 0 ? strerror(-r) : "stored");
}

static void record(struct instance *in)
{
	int r = vt_store_record(&in->st);

	if (r < 0)
		bh_log_errno(LOG_WARNING, r, "%s: generation record", in->name);
}

/* Bring the generation records up to date (a failure is retried when idle again). */
static void records_idle(struct vt_manager *m)
{
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (m->inst[i].name[0] && m->inst[i].st.record != m->inst[i].st.generation)
			record(&m->inst[i]);
}

static bool records_behind(const struct vt_manager *m)
{
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (m->inst[i].name[0] && m->inst[i].st.record != m->inst[i].st.generation)
			return true;
	return false;
}

/*
 * One message from a worker. Returns 1 for its RESULT (status in *ret_status),
 * 0 after a handled store, -errno when the worker must go.
 */
static int worker_message(struct vt_manager *m, struct instance *in, int *ret_status)
{
	struct bh_msg_vtpm_result res;
	const uint8_t *body;
	struct bh_msg_hdr h;
	int r = vt_ipc_recv(in->sock, m->buf, VT_IPC_MAX, &h, &body);

	if (r < 0)
		return r;
	switch (h.type) {
	case BH_MSG_VTPM_STATE_STORE:
		return handle_store(m, in, body, h.length) < 0 ? -EPIPE : 0;
	case BH_MSG_VTPM_RESULT:
		if (bh_msg_vtpm_result_decode(body, h.length, &res) < 0)
			return -EBADMSG;
		*ret_status = res.status;
		if (res.status < 0)
			bh_err("%s: worker: %s", in->name, res.text);
		return 1;
	default:
		return -EPROTO;
	}
}

static void reap(struct instance *in)
{
	record(in);
	if (in->sock >= 0)
		close(in->sock);
	in->sock = -1;
	if (in->pidfd >= 0) {
		/* The zygote reaps it; the pidfd turns readable once it is gone. */
		struct pollfd p = { in->pidfd, POLLIN, 0 };

		syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
		poll(&p, 1, 2000);
		close(in->pidfd);
	}
	in->pidfd = -1;
	in->pid = 0;
	if (in->st.dirfd < 0)
		return; /* the spare: no instance, no sockets */
	unlinkat(in->st.dirfd, "tpm.sock", 0);
	unlinkat(in->st.dirfd, "tpm.sock.ctrl", 0);
	unlinkat(in->st.dirfd, "tpm.chan", 0);
}

/* A worker that went away on its own (crash, guest SHUTDOWN) or misbehaved. */
static void worker_event(struct vt_manager *m, struct instance *in)
{
	int status = 0, r = worker_message(m, in, &status);

	if (r == 0)
		return;
	if (r != -EPIPE)
		bh_err("%s: worker sent %s: stopping it", in->name,
		       r > 0 ? "an unexpected result" : strerror(-r));
	else
		bh_notice("%s: worker exited", in->name);
	reap(in);
}

/* ---- starting a worker ---- */

static int listen_at(const char *state_dir, const char *name, const char *file)
{
	char path[108]; /* sizeof(sun_path): bh_unix_listen() refuses longer */

	if (snprintf(path, sizeof(path), "%s/%s/%s", state_dir, name, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return bh_unix_listen(path, SOCK_STREAM, 16);
}

/* Exec the worker spawner once; its address space never held the key. */
static int zygote_start(struct vt_manager *m)
{
	static char title[80]; /* room the workers' titles are written into */
	char *argv[] = { "vtpmd", "--zygote", "--empty", m->cfg.sandbox ? m->empty_dir : "-",
			 "--title", title, bh_log_get_level() >= LOG_DEBUG ? "-v" : NULL, NULL };
	int sp[2];

	memset(title, ' ', sizeof(title) - 1);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	m->zpid = fork();
	if (m->zpid < 0) {
		m->zpid = 0;
		close(sp[0]);
		close(sp[1]);
		return -errno;
	}
	if (m->zpid == 0) {
		/* dup2 clears close-on-exec on the copy; everything else closes at exec. */
		if (dup2(sp[1], VT_FD_MGR) < 0)
			_exit(127);
		execv(m->cfg.self_exe, argv);
		_exit(127);
	}
	close(sp[1]);
	m->zfd = sp[0];
	return 0;
}

static void zygote_stop(struct vt_manager *m)
{
	if (m->zfd >= 0)
		close(m->zfd); /* it exits at EOF */
	m->zfd = -1;
	if (m->zpid > 0)
		waitpid(m->zpid, NULL, 0);
	m->zpid = 0;
}

/* Fork a worker through the zygote; start a new zygote once if it died. */
static int fork_worker(struct vt_manager *m, struct instance *in, int worker_sock)
{
	int r = m->zfd >= 0 ? vt_zygote_spawn(m->zfd, worker_sock, &in->pid, &in->pidfd) : -EPIPE;

	if (r == -EPIPE || r == -ECONNRESET || r == -EPROTO) {
		bh_warn("worker spawner gone (%s): starting a new one", strerror(-r));
		zygote_stop(m);
		r = zygote_start(m);
		if (r == 0)
			r = vt_zygote_spawn(m->zfd, worker_sock, &in->pid, &in->pidfd);
	}
	return r;
}

/* A new worker, given @pt (empty: it makes a new TPM). Its instance comes later. */
static int worker_new(struct vt_manager *m, struct instance *in, const uint8_t *pt, size_t len)
{
	int sp[2];
	int r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	r = fork_worker(m, in, sp[1]);
	close(sp[1]);
	if (r < 0) {
		close(sp[0]);
		return r;
	}
	in->sock = sp[0];
	return vt_ipc_send(in->sock, BH_MSG_VTPM_STATE_LOAD, pt, len);
}

/*
 * Make the spare: a worker that manufactures a TPM while nothing else runs
 * (nice 19, and only when we are idle), so that a new instance starts
 * without waiting for it. It holds no instance, key or guest byte.
 */
static void spare_make(struct vt_manager *m)
{
	int r = worker_new(m, &m->spare, NULL, 0);

	if (r < 0) {
		bh_log_errno(LOG_WARNING, r, "spare worker");
		reap(&m->spare);
		m->spare_failed = true;
		return;
	}
	/* Only root can give the priority back; otherwise the spare keeps ours. */
	if (geteuid() == 0)
		setpriority(PRIO_PROCESS, (id_t)m->spare.pid, 19);
}

/* The spare becomes @in (a new instance: no state yet). */
static void spare_take(struct vt_manager *m, struct instance *in)
{
	in->pid = m->spare.pid;
	in->pidfd = m->spare.pidfd;
	in->sock = m->spare.sock;
	m->spare.pid = 0;
	m->spare.pidfd = m->spare.sock = -1;
	if (geteuid() == 0)
		setpriority(PRIO_PROCESS, (id_t)in->pid, 0);
}

/* Tell the worker its instance, with the guest's listening sockets. */
static int assign(struct vt_manager *m, struct instance *in)
{
	static const char *const files[] = { "tpm.sock", "tpm.sock.ctrl", "tpm.chan" };
	struct bh_msg_vtpm_ref ref = { { 0 } };
	int fds[3] = { -1, -1, -1 };
	uint8_t body[BH_MSG_NAME_MAX + 8];
	long n;
	int r = 0;

	for (int i = 0; i < 3 && r >= 0; i++)
		r = fds[i] = listen_at(m->cfg.state_dir, in->name, files[i]);
	snprintf(ref.name, sizeof(ref.name), "%s", in->name);
	n = bh_msg_vtpm_ref_encode(&ref, body, sizeof(body));
	if (r >= 0)
		r = n < 0 ? (int)n : vt_ipc_send_fds(in->sock, BH_MSG_VTPM_START, body, (size_t)n,
						     fds, 3);
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r < 0 ? r : 0;
}

/* Wait for the worker's ready RESULT, serving its state stores meanwhile. */
static int wait_ready(struct vt_manager *m, struct instance *in)
{
	for (;;) {
		struct pollfd p = { in->sock, POLLIN, 0 };
		int status = 0, r = poll(&p, 1, START_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		r = worker_message(m, in, &status);
		if (r < 0)
			return r;
		if (r > 0)
			return status;
	}
}

static const char *load_error(int r)
{
	switch (r) {
	case -ESTALE:
		return "state is older than the manager's record: refusing a rolled-back state";
	case -EKEYREJECTED:
		return "state failed authentication: tampered, or not this instance's";
	case -EBADMSG:
		return "state file is malformed";
	default:
		return strerror(-r);
	}
}

static int start(struct vt_manager *m, struct instance *in, char *err, size_t errlen)
{
	uint8_t *pt = NULL;
	size_t len = 0;
	int r;

	if (in->sock >= 0)
		return snprintf(err, errlen, "already running"), -EALREADY;
	r = vt_store_load(&in->st, m->key, &pt, &len);
	if (r < 0)
		return snprintf(err, errlen, "%s", load_error(r)), r;
	if (!pt && m->spare.sock >= 0)
		spare_take(m, in); /* a new instance: its TPM is made already */
	else
		r = worker_new(m, in, pt, len);
	m->spare_failed = false;
	if (pt) {
		explicit_bzero(pt, len);
		free(pt);
	}
	if (r == 0)
		r = assign(m, in);
	if (r == 0)
		r = wait_ready(m, in);
	if (r < 0) {
		snprintf(err, errlen, "worker did not start: %s", strerror(-r));
		reap(in);
		return r;
	}
	snprintf(err, errlen, "started, generation %llu", (unsigned long long)in->st.generation);
	return 0;
}

/* Stop: serve the stores the worker already queued, then end it. */
static void stop(struct vt_manager *m, struct instance *in)
{
	struct pollfd p = { in->sock, POLLIN, 0 };
	int status;

	while (in->sock >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) &&
	       worker_message(m, in, &status) == 0)
		;
	reap(in);
}

/* Power-cycle a running instance's TPM (VTPM_RESET): the worker answers once it is back on. */
static int reset(struct vt_manager *m, struct instance *in, char *err, size_t errlen)
{
	uint8_t body[BH_MSG_NAME_MAX + 8];
	long n = bh_msg_name_body_encode(in->name, body, sizeof(body));
	int r;

	if (in->sock < 0)
		return snprintf(err, errlen, "not running"), -ESRCH;
	r = n < 0 ? (int)n : vt_ipc_send(in->sock, BH_MSG_VTPM_RESET, body, (size_t)n);
	if (r == 0)
		r = wait_ready(m, in);
	snprintf(err, errlen, "%s", r < 0 ? strerror(-r) : "power-cycled");
	return r;
}

/*
 * For mgr-seal.c: send a VTPM_KEY_OP to instance @name's running worker and
 * serve its state stores until its VTPM_KEY_RESULT, whose body goes to
 * @reply. vt_manager_instance_dir(): a running instance's directory (its
 * fd, the manager's), or -ESRCH.
 */
int vt_manager_instance_dir(struct vt_manager *m, const char *name)
{
	struct instance *in = find(m, name);

	return in && in->sock >= 0 ? in->st.dirfd : -ESRCH;
}

int vt_manager_key_call(struct vt_manager *m, const char *name, const void *body, size_t len,
			uint8_t *reply, size_t cap, size_t *ret_len)
{
	struct instance *in = find(m, name);
	int r;

	if (!in || in->sock < 0)
		return -ESRCH;
	r = vt_ipc_send(in->sock, BH_MSG_VTPM_KEY_OP, body, len);
	while (r == 0) {
		struct pollfd p = { in->sock, POLLIN, 0 };
		const uint8_t *rbody;
		struct bh_msg_hdr h;

		r = poll(&p, 1, START_TIMEOUT_MS);
		if (r <= 0) {
			r = r < 0 && errno == EINTR ? 0 : r < 0 ? -errno : -ETIMEDOUT;
			continue;
		}
		r = vt_ipc_recv(in->sock, m->buf, VT_IPC_MAX, &h, &rbody);
		if (r == 0 && h.type == BH_MSG_VTPM_STATE_STORE) {
			r = handle_store(m, in, rbody, h.length) < 0 ? -EPIPE : 0;
			continue;
		}
		if (r == 0 && (h.type != BH_MSG_VTPM_KEY_RESULT || h.length > cap))
			r = -EPROTO;
		if (r < 0)
			break;
		memcpy(reply, rbody, h.length);
		explicit_bzero(m->buf, BH_MSG_HDR_SIZE + h.length);
		*ret_len = h.length;
		return 0;
	}
	bh_err("%s: worker: %s during a sealed-secret request: stopping it", name, strerror(-r));
	reap(in);
	return r;
}

const struct vt_key *vt_manager_key(const struct vt_manager *m)
{
	return m->key;
}

/* ---- control messages ---- */

static int control(struct vt_manager *m, const struct bh_msg_hdr *h, const uint8_t *body,
		   char *err, size_t errlen, const char **ret_name)
{
	static struct bh_msg_vtpm_ref ref;
	struct instance *in = NULL;
	int r;

	if (h->type == BH_MSG_VTPM_RESEAL)
		return vt_reseal_request(m, body, h->length, err, errlen, ret_name);
	if (bh_msg_vtpm_ref_decode(body, h->length, &ref) < 0)
		return snprintf(err, errlen, "malformed request"), -EBADMSG;
	*ret_name = ref.name;
	if (h->type == BH_MSG_VTPM_CREATE) {
		r = vt_store_create(m->dirfd, ref.name);
		snprintf(err, errlen, "%s", r < 0 ? strerror(-r) : "created");
		return r;
	}
	r = lookup(m, ref.name, &in);
	if (r < 0)
		return snprintf(err, errlen, "no such instance: %s", strerror(-r)), r;
	switch (h->type) {
	case BH_MSG_VTPM_START:
		return start(m, in, err, errlen);
	case BH_MSG_VTPM_STOP:
		stop(m, in);
		return snprintf(err, errlen, "stopped"), 0;
	case BH_MSG_VTPM_RESET:
		return reset(m, in, err, errlen);
	default: /* DELETE */
		stop(m, in);
		vt_store_close(&in->st);
		r = vt_store_delete(m->dirfd, ref.name);
		forget(in);
		snprintf(err, errlen, "%s", r < 0 ? strerror(-r) : "deleted");
		return r;
	}
}

/* CHAN_SERVE: one of a created instance's sockets over a channel for its
 * guest, or the UNSEAL socket for the stordom domain. */
static int chan_serve(struct vt_manager *m, const struct bh_msg_hdr *h, const uint8_t *body,
		      char *err, size_t errlen, const char **ret_name)
{
	static struct bh_msg_chan_serve cs;
	int r;

	if (bh_msg_chan_serve_decode(body, h->length, &cs) < 0)
		return snprintf(err, errlen, "malformed request"), -EBADMSG;
	*ret_name = cs.name;
	if (cs.kind != BH_CHAN_SERVE_UNSEAL && !find(m, cs.name))
		return snprintf(err, errlen, "no such instance"), -ENOENT;
	r = vt_chan_serve(&m->cfg, &cs);
	snprintf(err, errlen, "%s%s to domain %u at %s", r < 0 ? strerror(-r) : "served",
		 r < 0 ? ": not served" : "", cs.domid, cs.xs_path);
	return r;
}

/* One control request from dom0 (or the test helper); 0, or -errno to hang up. */
static int control_request(struct vt_manager *m, int fd)
{
	uint8_t body[BH_MSG_NAME_MAX + BH_CHAN_XS_PATH_MAX + 16]; /* >= 2 names + 8 */
	const char *name = NULL;
	struct bh_msg_hdr h;
	char err[BH_MSG_ERROR_TEXT_MAX];
	int r = bh_msg_read(fd, &h, body, sizeof(body));

	if (r == 0 || r == -EPIPE)
		return -EPIPE; /* the peer hung up */
	if (r < 0 || ((h.type < BH_MSG_VTPM_CREATE || h.type > BH_MSG_VTPM_DELETE) &&
		      h.type != BH_MSG_VTPM_RESET && h.type != BH_MSG_VTPM_RESEAL &&
		      h.type != BH_MSG_CHAN_SERVE))
		return bh_log_errno(LOG_ERR, r < 0 ? r : -EBADMSG, "control: bad request");
	if (h.type == BH_MSG_CHAN_SERVE)
		r = chan_serve(m, &h, body, err, sizeof(err), &name);
	else
		r = control(m, &h, body, err, sizeof(err), &name);
	if (r < 0)
		bh_err("%s %s: %s", bh_msg_type_name(h.type), name ? name : "?", err);
	else
		bh_info("%s %s: %s", bh_msg_type_name(h.type), name, err);
	return vt_ipc_result(fd, h.request_id ? h.request_id : 1, r, name, "%s", err);
}

/* ---- the loop ---- */

/*
 * stordom's UNSEAL socket (mgr-seal.c): one connection at a time, one
 * request at a time, each answered before anything else is served.
 */
static void unseal_event(struct vt_manager *m, short lrev, short crev)
{
	if (m->ucfd >= 0 && crev && vt_unseal_request(m, m->ucfd) < 0) {
		close(m->ucfd);
		m->ucfd = -1;
	}
	if (m->ucfd < 0 && lrev)
		m->ucfd = accept4(m->ulfd, NULL, NULL, SOCK_CLOEXEC);
}

static void poll_once(struct vt_manager *m, int lfd, int *cfd)
{
	struct pollfd p[5 + INSTANCES_MAX];
	struct instance *who[INSTANCES_MAX];
	nfds_t n = 4;
	int r;

	p[0] = (struct pollfd){ lfd, POLLIN, 0 };
	p[1] = (struct pollfd){ *cfd, POLLIN, 0 };
	p[2] = (struct pollfd){ m->ulfd, POLLIN, 0 };
	p[3] = (struct pollfd){ m->ucfd, POLLIN, 0 };
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (m->inst[i].sock >= 0) {
			who[n - 4] = &m->inst[i];
			p[n++] = (struct pollfd){ m->inst[i].sock, POLLIN, 0 };
		}
	/* The spare never speaks: anything from it means it died. */
	p[n++] = (struct pollfd){ m->spare.sock, POLLIN, 0 };
	/* Idle for IDLE_MS: write records that are behind, make a spare (off the guests' path). */
	r = poll(p, n, records_behind(m) || (m->spare.sock < 0 && !m->spare_failed) ? IDLE_MS : -1);
	if (r == 0) {
		records_idle(m);
		if (m->spare.sock < 0 && !m->spare_failed)
			spare_make(m);
	}
	if (r <= 0)
		return;
	if (p[n - 1].revents)
		reap(&m->spare);
	for (nfds_t i = 4; i < n - 1; i++)
		if (p[i].revents)
			worker_event(m, who[i - 4]);
	unseal_event(m, p[2].revents, p[3].revents);
	if (*cfd >= 0 && p[1].revents && control_request(m, *cfd) < 0) {
		close(*cfd);
		*cfd = -1;
	}
	if (*cfd < 0 && p[0].revents)
		*cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

int vt_manager_serve(struct vt_manager *m, const char *path)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int cfd = -1, lfd = bh_unix_listen(path, SOCK_STREAM, 4);

	if (lfd < 0)
		return bh_log_errno(LOG_ERR, lfd, "control socket %s", path);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (m->cfg.unseal_path) {
		m->ulfd = bh_unix_listen(m->cfg.unseal_path, SOCK_STREAM, 4);
		if (m->ulfd < 0) {
			close(lfd);
			return bh_log_errno(LOG_ERR, m->ulfd, "unseal socket %s",
					    m->cfg.unseal_path);
		}
	}
	bh_notice("listening on %s, state in %s", path, m->cfg.state_dir);
	while (!stop_requested)
		poll_once(m, lfd, &cfd);
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	unlink(path);
	if (m->ucfd >= 0)
		close(m->ucfd);
	if (m->ulfd >= 0) {
		close(m->ulfd);
		unlink(m->cfg.unseal_path);
	}
	m->ulfd = m->ucfd = -1;
	return 0;
}

void vt_manager_free(struct vt_manager *m)
{
	vt_chan_serve_stop_all();
	if (!m)
		return;
	for (size_t i = 0; i < INSTANCES_MAX; i++)
		if (m->inst[i].name[0]) {
			stop(m, &m->inst[i]);
			forget(&m->inst[i]);
		}
	reap(&m->spare);
	zygote_stop(m);
	vt_key_free(m->key);
	if (m->dirfd >= 0)
		close(m->dirfd);
	free(m->buf);
	free(m);
}
