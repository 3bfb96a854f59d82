/* SPDX-License-Identifier: MIT */
/*
 * xen-svc-ctl: dom0's side of a service domain's control channel, for the
 * nested-Xen smoke tests. The service daemon serves its control socket over
 * chan-xen (--control-chan xen:0:PATH); this connects to it with
 * bh_chan_xen_client(), sends control messages and prints the replies. It
 * stands in for the part of `bulkhead` that pushes a service its
 * configuration; the data paths (NBD, TPM) are tested with standard clients.
 *
 *   xen-svc-ctl --domid D --path P [--timeout S] [--withdrawn] policy FILE
 *	send FILE (what `bulkhead policy-export` writes) and wait for the
 *	POLICY_RESULT; prints "result gen=G status=S rule=R text"
 *   xen-svc-ctl --domid D --path P [--timeout S] volume NAME BACKING KEYFILE SIZE
 *	VOLUME_OPEN creating a new LUKS2 volume (test KDF); prints
 *	"result status=S size=N name=NAME text"
 *   xen-svc-ctl --domid D --path P [--timeout S] vtpm OP NAME [OP NAME]...
 *	OP: create start stop delete; prints "OP NAME: status=S text" each
 *
 * P is relative to the service domain's xenstore home (/local/domain/D/P).
 * --withdrawn: once connected, also check that the service stopped
 * advertising the channel (its ring-ref is gone from xenstore within 10 s),
 * so that no other client can attach to this ring while we hold it
 * (bh_chan_withdraw(); the one place this program reads xenstore itself).
 * Exits 0 only if every request succeeded. The whole run is bounded by
 * --timeout (alarm; default 60 s): a hang exits 124 and names the phase.
 * Linked statically, like xen-chan-stress, so dom0 needs no extra libraries.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "bulkhead/chan.h"
#include "bulkhead/msg.h"
#include "bulkhead/parse.h"

static const char *volatile phase = "start";
static uint8_t body[BH_MSG_BODY_MAX], frame[BH_MSG_HDR_SIZE + BH_MSG_BODY_MAX];

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof(buf), "xen-svc-ctl: TIMEOUT in phase '%s'\n", phase);
	if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) < 0)
		_exit(125);
	_exit(124);
}

static int usage(void)
{
	fprintf(stderr, "usage: xen-svc-ctl --domid D --path P [--timeout S] [--withdrawn] "
			"policy FILE | volume NAME BACKING KEYFILE SIZE | vtpm OP NAME...\n");
	return 2;
}

/* The server may not have advertised yet: retry until it has (the alarm bounds it). */
static int connect_chan(int domid, const char *rel, struct bh_chan **ret)
{
	char path[256];
	int r, tries = 0;

	if (snprintf(path, sizeof(path), "/local/domain/%d/%s", domid, rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	phase = "connect";
	for (;;) {
		r = bh_chan_xen_client(domid, path, ret);
		if (r == 0)
			break;
		if (++tries % 50 == 0)
			printf("xen-svc-ctl: still connecting to '%s': %s\n", path, strerror(-r));
		usleep(100000);
	}
	printf("xen-svc-ctl: connected to '%s'%s\n", path, tries ? " after retries" : "");
	return 0;
}

/* The ring-ref of the channel we hold must disappear: the server withdrew it. */
static int check_withdrawn(int domid, const char *rel)
{
	char path[256];
	struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
	int r = -EEXIST;

	if (!xs)
		return -EIO;
	snprintf(path, sizeof(path), "/local/domain/%d/%s/ring-ref", domid, rel);
	phase = "withdrawn";
	for (int i = 0; i < 100; i++) {
		unsigned len;
		char *v = xs_read(xs, XBT_NULL, path, &len);

		if (!v && errno == ENOENT) {
			printf("xen-svc-ctl: advertisement withdrawn while connected\n");
			r = 0;
			break;
		}
		free(v);
		usleep(100000);
	}
	if (r < 0)
		printf("xen-svc-ctl: '%s' still advertised while we hold the channel\n", path);
	xs_close(xs);
	return r;
}

static int read_full(struct bh_chan *c, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = bh_chan_read(c, (uint8_t *)buf + off, len - off);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		off += (size_t)n;
	}
	return 0;
}

/*
 * Next message of type @type into body[]; others (a netdom's unsolicited
 * DROP_EVENTs) are skipped. Returns the body length or -errno.
 */
static long read_reply(struct bh_chan *c, uint16_t type, uint32_t id)
{
	struct bh_msg_hdr h;
	int r;

	phase = "reply";
	for (;;) {
		r = read_full(c, frame, BH_MSG_HDR_SIZE);
		if (r == 0)
			r = bh_msg_hdr_decode(frame, &h);
		if (r == 0)
			r = read_full(c, body, h.length);
		if (r < 0)
			return r;
		if (h.type == type && (!id || h.request_id == id))
			return (long)h.length;
		printf("xen-svc-ctl: skipping a %s\n", bh_msg_type_name(h.type));
	}
}

static int send_frame(struct bh_chan *c, uint16_t type, uint32_t id, long len)
{
	long n;

	if (len < 0)
		return (int)len;
	n = bh_msg_frame(type, 0, id, 1, body, (size_t)len, frame, sizeof(frame));
	if (n < 0)
		return (int)n;
	phase = "send";
	n = bh_chan_write(c, frame, (size_t)n);
	return n < 0 ? (int)n : 0;
}

static int do_policy(struct bh_chan *c, const char *file)
{
	struct bh_msg_policy_result res;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	long len;

	if (fd < 0)
		return -errno;
	phase = "send";
	while ((n = read(fd, frame, sizeof(frame))) > 0) {
		ssize_t w = bh_chan_write(c, frame, (size_t)n);

		if (w < 0) {
			close(fd);
			return (int)w;
		}
	}
	close(fd);
	if (n < 0)
		return -errno;
	len = read_reply(c, BH_MSG_POLICY_RESULT, 0);
	if (len < 0)
		return (int)len;
	if (bh_msg_policy_result_decode(body, (size_t)len, &res) < 0)
		return -EBADMSG;
	printf("result gen=%llu status=%d rule=%u %s\n", (unsigned long long)res.generation,
	       res.status, res.rule_id, res.text);
	return res.status;
}

static int do_volume(struct bh_chan *c, char **argv)
{
	struct bh_msg_volume_open m;
	struct bh_msg_volume_result res;
	long len;
	int r;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", argv[0]);
	snprintf(m.path, sizeof(m.path), "%s", argv[1]);
	snprintf(m.keyfile, sizeof(m.keyfile), "%s", argv[2]);
	m.flags = BH_VOLUME_CREATE | BH_VOLUME_TEST_KDF;
	if (bh_parse_size(argv[3], 1, 1, BH_VOLUME_SIZE_MAX, &m.size) < 0) {
		fprintf(stderr, "xen-svc-ctl: bad size '%s'\n", argv[3]);
		return -EINVAL;
	}
	r = send_frame(c, BH_MSG_VOLUME_OPEN, 1, bh_msg_volume_open_encode(&m, body, sizeof(body)));
	if (r < 0)
		return r;
	len = read_reply(c, BH_MSG_VOLUME_RESULT, 1);
	if (len < 0)
		return (int)len;
	if (bh_msg_volume_result_decode(body, (size_t)len, &res) < 0)
		return -EBADMSG;
	printf("result status=%d size=%llu name=%s %s\n", res.status,
	       (unsigned long long)res.size, res.name, res.text);
	return res.status;
}

static int vtpm_type(const char *op)
{
	static const char *const ops[] = { "create", "start", "stop", "delete" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(op, ops[i]))
			return BH_MSG_VTPM_CREATE + i;
	return -EINVAL;
}

static int do_vtpm(struct bh_chan *c, int argc, char **argv)
{
	int failed = 0;

	for (int i = 0; i + 1 < argc; i += 2) {
		struct bh_msg_vtpm_ref ref;
		struct bh_msg_vtpm_result res;
		uint32_t id = (uint32_t)i / 2 + 1;
		int type = vtpm_type(argv[i]), r;
		long len;

		if (type < 0)
			return -EINVAL;
		memset(&ref, 0, sizeof(ref));
		snprintf(ref.name, sizeof(ref.name), "%s", argv[i + 1]);
		r = send_frame(c, (uint16_t)type, id, bh_msg_vtpm_ref_encode(&ref, body, sizeof(body)));
		if (r < 0)
			return r;
		len = read_reply(c, BH_MSG_VTPM_RESULT, id);
		if (len < 0)
			return (int)len;
		if (bh_msg_vtpm_result_decode(body, (size_t)len, &res) < 0)
			return -EBADMSG;
		printf("%s %s: status=%d %s\n", argv[i], argv[i + 1], res.status, res.text);
		failed |= res.status != 0;
	}
	return failed ? -EIO : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "path", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "withdrawn", no_argument, NULL, 'w' },
		{ 0 },
	};
	const char *path = NULL, *verb;
	uint32_t domid = 0, timeout = 60;
	struct bh_chan *c = NULL;
	bool withdrawn = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "d:p:t:w", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (bh_parse_u32(optarg, 1, 32767, &domid) < 0)
				return usage();
			break;
		case 'p': path = optarg; break;
		case 'w': withdrawn = true; break;
		case 't':
			if (bh_parse_u32(optarg, 1, 3600, &timeout) < 0)
				return usage();
			break;
		default: return usage();
		}
	}
	if (!domid || !path || optind >= argc)
		return usage();
	verb = argv[optind++];
	argc -= optind;
	argv += optind;
	if (!(!strcmp(verb, "policy") && argc == 1) && !(!strcmp(verb, "volume") && argc == 4) &&
	    !(!strcmp(verb, "vtpm") && argc >= 2 && argc % 2 == 0))
		return usage();
	signal(SIGALRM, on_alarm);
	signal(SIGPIPE, SIG_IGN);
	alarm(timeout);
	r = connect_chan((int)domid, path, &c);
	if (r == 0 && withdrawn)
		r = check_withdrawn((int)domid, path);
	if (r == 0) {
		if (!strcmp(verb, "policy"))
			r = do_policy(c, argv[0]);
		else if (!strcmp(verb, "volume"))
			r = do_volume(c, argv);
		else
			r = do_vtpm(c, argc, argv);
	}
	if (r < 0)
		printf("xen-svc-ctl: %s failed in phase '%s': %s\n", verb, phase, strerror(-r));
	bh_chan_close(c);
	return r == 0 ? 0 : 1;
}
