/* SPDX-License-Identifier: MIT */
/*
 * The management socket server. The caller is who SO_PEERCRED says; what it
 * may do is what bh_manage grants it (rbac.c), whatever the socket's file
 * mode. Every request is audit-logged: a refusal as "refused"; a read-only
 * request (status, logs) once, with its outcome; a request that changes
 * something once as "granted" before acting, then with its outcome. If the
 * audit log cannot be written the request is refused: nothing happens here
 * that the log does not show.
 *
 * One request per connection, served in turn; a client gets 2 s to send it.
 * Under `bulkhead up` (m->sup set) the requests act on the running
 * topology: status reports it, restart restarts a domain, policy pushes the
 * policy again, down stops every domain before it answers. Under `bulkhead
 * serve` nothing runs, and it says so: status shows every domain "stopped",
 * restart and policy answer that the domain is not running, down stops the
 * server.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "dom0.h"

/* The status of the last final response: whether a change succeeded, for the audit. */
static int last_status;

static int send_resp(int cfd, int status, const char *text, size_t len, bool final)
{
	static uint8_t buf[BH_MGMT_PACKET_MAX];
	struct bh_mgmt_resp r = { final ? BH_MGMT_R_FINAL : 0, status, text, len };
	long n = bh_mgmt_resp_encode(&r, buf, sizeof(buf));

	if (final)
		last_status = status;
	if (n < 0)
		return (int)n;
	if (send(cfd, buf, (size_t)n, MSG_NOSIGNAL) != n)
		return -errno;
	return 0;
}

/* Send @len bytes of text in packets, the last one FINAL with @status. */
static int send_text(int cfd, int status, const char *text, size_t len)
{
	int r = 0;

	while (r == 0 && len > BH_MGMT_TEXT_MAX) {
		r = send_resp(cfd, 0, text, BH_MGMT_TEXT_MAX, false);
		text += BH_MGMT_TEXT_MAX;
		len -= BH_MGMT_TEXT_MAX;
	}
	return r ? r : send_resp(cfd, status, text, len, true);
}

static int send_msg(int cfd, int status, const char *msg)
{
	return send_text(cfd, status, msg, strlen(msg));
}

static void status_text(const struct bh_topology *t, bool json, FILE *out)
{
	if (json)
		fprintf(out, "{\"running\":false,\"domains\":[");
	else
		fprintf(out, "nothing is running (this server manages; `bulkhead up` starts "
			"domains)\n%-20s %-8s %-8s %8s %8s\n", "DOMAIN", "ROLE", "STATE", "UPTIME",
			"RESTARTS");
	for (size_t i = 0; i < t->n_domains; i++) {
		const struct bh_domain *d = &t->domains[i];

		/* Names are validated ([a-z0-9_-]): nothing to escape. */
		if (json)
			fprintf(out, "%s{\"name\":\"%s\",\"role\":\"%s\",\"state\":\"stopped\","
				"\"uptime\":0,\"restarts\":0}", i ? "," : "", d->name,
				bh_role_cfg_name(d->role));
		else
			fprintf(out, "%-20s %-8s %-8s %8s %8d\n", d->name, bh_role_cfg_name(d->role),
				"stopped", "-", 0);
	}
	if (json)
		fprintf(out, "]}\n");
}

static int do_status(struct bh_mgmt *m, int cfd, const struct bh_mgmt_req *req)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return send_msg(cfd, -ENOMEM, "out of memory");
	if (m->sup)
		bh_sup_status(m->sup, req->flags & BH_MGMT_F_JSON, out);
	else
		status_text(m->t, req->flags & BH_MGMT_F_JSON, out);
	if (fclose(out) != 0)
		return send_msg(cfd, -ENOMEM, "out of memory");
	return send_text(cfd, 0, text, len);
}

static int do_verify(struct bh_mgmt *m, int cfd)
{
	struct bh_audit_verify v;
	char msg[512];
	int r = bh_audit_verify_file(m->audit_path, &v);

	if (r < 0)
		return send_msg(cfd, r, "cannot read the audit log");
	if (v.bad_line) {
		snprintf(msg, sizeof(msg), "line %llu: %s\n", (unsigned long long)v.bad_line, v.why);
		return send_msg(cfd, -EBADMSG, msg);
	}
	snprintf(msg, sizeof(msg), "audit log OK: %llu records, head %s\n",
		 (unsigned long long)v.n_records, v.head);
	return send_msg(cfd, 0, msg);
}

/* The log as stored, in packets. */
static int do_logs(struct bh_mgmt *m, int cfd, const struct bh_mgmt_req *req)
{
	_cleanup_fclose_ FILE *f = NULL;
	static char buf[BH_MGMT_TEXT_MAX];
	size_t n;
	int r = 0;

	if (req->flags & BH_MGMT_F_VERIFY)
		return do_verify(m, cfd);
	f = fopen(m->audit_path, "re");
	if (!f)
		return send_msg(cfd, -errno, "cannot read the audit log");
	while (r == 0 && (n = fread(buf, 1, sizeof(buf), f)) == sizeof(buf))
		r = send_resp(cfd, 0, buf, n, false);
	if (r == 0 && ferror(f))
		return send_msg(cfd, -EIO, "error reading the audit log");
	return r ? r : send_resp(cfd, 0, buf, n, true);
}

/* The same requests against a running topology (bulkhead up). */
static int do_change_running(struct bh_mgmt *m, int cfd, const struct bh_mgmt_req *req,
			     char *detail, size_t dlen)
{
	struct bh_svc *nd = NULL;
	char text[768];
	int r;

	switch (req->op) {
	case BH_MGMT_DOWN:
		bh_sup_down(m->sup);
		m->stop = true;
		snprintf(detail, dlen, "every domain stopped");
		return send_msg(cfd, 0, "every domain stopped; management server stopping\n");
	case BH_MGMT_RESTART:
		r = bh_sup_restart(m->sup, req->target, detail, dlen);
		return send_text(cfd, r, text, (size_t)snprintf(text, sizeof(text), "%.100s: %s\n",
								 req->target, detail));
	case BH_MGMT_RESEAL:
		r = bh_seal_reseal(m->sup, req->target, detail, dlen);
		return send_text(cfd, r, text, (size_t)snprintf(text, sizeof(text), "%.60s: %.500s\n",
								 req->target, detail));
	default: /* BH_MGMT_POLICY: push the topology's policy again, a new generation */
		for (size_t i = 0; i < m->sup->n_svc; i++)
			if (m->sup->svc[i].dom->role == BH_DOM_NETDOM)
				nd = &m->sup->svc[i];
		if (!nd || nd->state != BH_SVC_RUNNING)
			return snprintf(detail, dlen, "netdom not running"),
			       send_msg(cfd, -ESRCH, "netdom is not running");
		nd->deadline_ms = bh_now_ms() + 5000;
		r = bh_push_netdom(m->sup, nd);
		snprintf(detail, dlen, "%.100s", r < 0 ? nd->note : "policy pushed");
		return send_msg(cfd, r, r < 0 ? nd->note : "policy pushed\n");
	}
}

static int do_change(struct bh_mgmt *m, int cfd, const struct bh_mgmt_req *req, char *detail,
		     size_t dlen)
{
	const struct bh_domain *d;

	if (m->sup)
		return do_change_running(m, cfd, req, detail, dlen);

	switch (req->op) {
	case BH_MGMT_DOWN:
		m->stop = true;
		snprintf(detail, dlen, "no domain was running; server stopping");
		return send_msg(cfd, 0, "nothing was running; management server stopping\n");
	case BH_MGMT_RESTART:
	case BH_MGMT_RESEAL:
		d = bh_topology_domain(m->t, req->target);
		snprintf(detail, dlen, "%s", d ? "not running" : "no such domain");
		return send_msg(cfd, d ? -ESRCH : -ENOENT,
				d ? "that domain is not running" : "no such domain");
	default: /* BH_MGMT_POLICY */
		snprintf(detail, dlen, "netdom not running");
		return send_msg(cfd, -ESRCH, "netdom is not running: no policy to change");
	}
}

static int audit(struct bh_mgmt *m, const struct bh_peer *p, const char *action,
		 const char *target, const char *result, const char *detail)
{
	struct bh_audit_actor a = { p->uid, p->pid };
	int r = bh_audit_append(m->audit, &a, action, target, result, detail);

	if (r < 0)
		bh_log_errno(LOG_ERR, r, "cannot write the audit log %s", m->audit_path);
	return r;
}

static int dispatch(struct bh_mgmt *m, int cfd, const struct bh_peer *p,
		    const struct bh_mgmt_req *req)
{
	const char *op = bh_mgmt_op_name(req->op);
	char detail[512] = "";
	int r;

	if (req->op == BH_MGMT_STATUS || req->op == BH_MGMT_LOGS) {
		if (audit(m, p, op, req->target, "ok", "") < 0)
			return send_msg(cfd, -EIO, "audit log unavailable: request refused");
		return req->op == BH_MGMT_STATUS ? do_status(m, cfd, req) : do_logs(m, cfd, req);
	}
	if (audit(m, p, op, req->target, "granted", "") < 0)
		return send_msg(cfd, -EIO, "audit log unavailable: request refused");
	r = do_change(m, cfd, req, detail, sizeof(detail));
	audit(m, p, op, req->target,
	      m->stop || req->op == BH_MGMT_DOWN || (m->sup && r == 0 && last_status == 0) ? "ok" :
											 "failed",
	      detail);
	return r;
}

static int recv_request(int cfd, struct bh_mgmt_req *ret)
{
	uint8_t untrusted_buf[256];
	struct timeval tv = { .tv_sec = 2 };
	ssize_t n;

	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(cfd, untrusted_buf, sizeof(untrusted_buf), MSG_TRUNC);
	if (n < 0)
		return -errno;
	if ((size_t)n > sizeof(untrusted_buf))
		return -EMSGSIZE;
	return bh_mgmt_req_decode(untrusted_buf, (size_t)n, ret);
}

int bh_mgmt_handle(struct bh_mgmt *m, int cfd)
{
	struct bh_mgmt_req req;
	struct bh_peer p;
	char detail[128];
	unsigned need;
	int r = bh_peer_from_socket(cfd, &p);

	if (r < 0)
		return r;
	r = recv_request(cfd, &req);
	if (r < 0) {
		snprintf(detail, sizeof(detail), "malformed request: %s", strerror(-r));
		audit(m, &p, "request", "", "refused", detail);
		return send_msg(cfd, r, "malformed request");
	}
	need = bh_mgmt_op_perm(req.op);
	if (!(bh_rbac_perms(m->t->grants, m->t->n_grants, &p) & need)) {
		snprintf(detail, sizeof(detail), "uid %u gid %u lacks permission '%s'", p.uid, p.gid,
			 bh_perm_name(need));
		audit(m, &p, bh_mgmt_op_name(req.op), req.target, "refused", detail);
		return send_msg(cfd, -EACCES, detail);
	}
	return dispatch(m, cfd, &p, &req);
}

int bh_mgmt_listen(const char *path, int *ret_fd)
{
	_cleanup_close_ int fd = bh_unix_listen(path, SOCK_SEQPACKET, 16);

	if (fd < 0)
		return fd;
	/* Anyone may connect: the access decision is RBAC on SO_PEERCRED. */
	if (chmod(path, 0666) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int bh_mgmt_serve(struct bh_mgmt *m, int lfd, volatile int *stop_signal)
{
	while (!m->stop && !*stop_signal) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int cfd, r = poll(&pfd, 1, 500);

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		r = bh_mgmt_handle(m, cfd);
		if (r < 0)
			bh_debug("management request: %s", strerror(-r));
		close(cfd);
	}
	return 0;
}
