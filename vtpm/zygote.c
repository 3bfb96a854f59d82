/* SPDX-License-Identifier: MIT */
/*
 * The worker spawner. vtpmd execs one "zygote" at start: a fresh process
 * image that loads libtpms and OpenSSL (relocations done, OpenSSL's config
 * read) and then only forks workers on the manager's request. It never sees
 * the key, a state, or a guest byte, so a worker forked from it holds nothing
 * of anyone else, as an exec'ed one would; but starting one costs a fork
 * instead of an exec and dynamic linking, and the pages every worker would
 * otherwise relocate and initialise for itself stay shared between them.
 *
 * Measured here: exec + link of a worker 5-90 ms depending on load, a fork
 * well under 1 ms; libcrypto alone left ~400 KiB private dirty per exec'ed
 * worker. The price: workers share the zygote's address-space layout
 * (ASLR is per zygote, not per worker), as Android's zygote children do. A
 * worker reaches other workers only through its guest-facing sockets, which
 * it does not have for them.
 *
 * Protocol (SOCK_SEQPACKET, manager <-> zygote, one packet each):
 *   request: one byte (0) + SCM_RIGHTS: the worker's manager socket (fd 3 in
 *            the worker; its instance, state and sockets come over it)
 *   reply:   i32 pid or -errno, + SCM_RIGHTS: a pidfd of the worker on success
 * The zygote lets the kernel reap its children (SIGCHLD ignored); the
 * manager signals and watches a worker through its pidfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulkhead/log.h"
#include "bulkhead/msg.h"
#include "vtpm.h"

#define ZY_NFDS 4 /* most fds in one packet (the worker's START has 3) */

int vt_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(ZY_NFDS * sizeof(int))];
	} cm;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
}

/*
 * One packet with exactly @nfds fds (or none when @nfds is 0 and @opt).
 * Returns the byte count, -EPIPE at EOF, -EBADMSG for a malformed packet
 * (fds that came anyway are closed).
 */
ssize_t vt_recv_fds(int sock, void *buf, size_t cap, int *fds, int nfds, bool opt)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(ZY_NFDS * sizeof(int))];
	} cm;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *c;
	int got = 0;
	ssize_t n;

	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -EPIPE;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (got > ZY_NFDS)
			got = ZY_NFDS; /* cannot happen: the buffer holds ZY_NFDS */
		memcpy(fds, CMSG_DATA(c), (size_t)got * sizeof(int));
	}
	if (got == nfds && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return n;
	if (opt && got == 0 && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return n;
	for (int i = 0; i < got; i++)
		close(fds[i]);
	return -EBADMSG;
}

/* ---- the zygote process ---- */

static _Noreturn void child(int mgr, const char *empty, char *title, size_t title_len)
{
	signal(SIGCHLD, SIG_DFL);
	if (dup2(mgr, VT_FD_MGR) < 0) /* replaces our own link to the manager */
		_exit(127);
	close(mgr);
	_exit(vt_crypto_after_fork() < 0 ? 1 : vt_worker_main(empty, title, title_len));
}

/* One request: fork a worker and answer with its pid and pidfd. */
static int spawn_one(const char *empty, char *title, size_t title_len)
{
	uint8_t untrusted_byte;
	int mgr = -1, pidfd = -1, r;
	ssize_t n = vt_recv_fds(VT_FD_MGR, &untrusted_byte, 1, &mgr, 1, false);
	int32_t res;
	pid_t pid;

	if (n == -EPIPE)
		return -EPIPE;
	pid = n == 1 ? fork() : (n < 0 ? (pid_t)n : -EBADMSG);
	if (pid == 0)
		child(mgr, empty, title, title_len);
	r = pid < 0 && n == 1 ? -errno : (pid < 0 ? (int)pid : 0);
	if (mgr >= 0)
		close(mgr);
	if (r == 0) {
		pidfd = pidfd_open(pid, 0);
		if (pidfd < 0) {
			r = -errno;
			kill(pid, SIGKILL);
		}
	}
	res = r < 0 ? r : (int32_t)pid;
	r = vt_send_fds(VT_FD_MGR, &res, sizeof(res), &pidfd, pidfd >= 0 ? 1 : 0);
	if (pidfd >= 0)
		close(pidfd);
	return r == -EPIPE ? -EPIPE : 0;
}

int vt_zygote_main(const char *empty_dir, char *title, size_t title_len)
{
	static char empty[4096];
	int r = vt_crypto_preload();

	/* @empty_dir may live in the argv area that workers overwrite with their title. */
	if (empty_dir && snprintf(empty, sizeof(empty), "%s", empty_dir) >= (int)sizeof(empty))
		r = -ENAMETOOLONG;
	empty_dir = empty_dir ? empty : NULL;
	if (r < 0) {
		bh_log_errno(LOG_ERR, r, "zygote: crypto");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* the kernel reaps the workers */
	while ((r = spawn_one(empty_dir, title, title_len)) == 0)
		;
	return 0; /* the manager went away */
}

/* ---- the manager's side ---- */

int vt_zygote_spawn(int zfd, int worker_sock, pid_t *ret_pid, int *ret_pidfd)
{
	static const uint8_t zero;
	int32_t untrusted_res = 0;
	int pidfd = -1;
	ssize_t n;
	int r = vt_send_fds(zfd, &zero, 1, &worker_sock, 1);

	if (r < 0)
		return r;
	n = vt_recv_fds(zfd, &untrusted_res, sizeof(untrusted_res), &pidfd, 1, true);
	if (n < 0)
		return (int)n;
	if (n != sizeof(untrusted_res) || untrusted_res == 0 || untrusted_res < -4095 ||
	    (untrusted_res > 0) != (pidfd >= 0)) {
		if (pidfd >= 0)
			close(pidfd);
		return -EPROTO;
	}
	if (untrusted_res < 0)
		return untrusted_res;
	*ret_pid = untrusted_res;
	*ret_pidfd = pidfd;
	return 0;
}
