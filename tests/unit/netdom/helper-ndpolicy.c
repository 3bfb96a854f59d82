/* SPDX-License-Identifier: MIT */
/*
 * Test and bench tool standing in for dom0's side of the netdom protocol:
 * writes the POLICY_* message sequence for a policy given on the command
 * line (what `bulkhead` will derive from a topology), sends a stream to a
 * netdomd control socket and prints the replies.
 *
 *   helper-ndpolicy write OUT GEN ITEM...    ITEM is one of
 *       "zone NAME"  "guest NAME ZONE|- IFNAME MAC ADDR[,ADDR]"
 *       "rule ID FROM TO PROTO PORTS|- ACTION [log]"   FROM/TO: any, g=NAME, z=NAME, CIDR,
 *                                                     self (the netdom; not in nft mode)
 *       "synth GUESTS RULES"   GUESTS guests g<i> (vif<i>.0, 10.<i/250>.<i%250>.2) in zones
 *                              of 10, RULES rules spread over guest pairs (bench)
 *       "bump ID"              move rule ID's first port range up by 2000 (a one-rule change)
 *   helper-ndpolicy nft OUT ITEM...          the same policy as an `nft -f` file written
 *                                            the way nft users do: one rule per policy rule
 *   helper-ndpolicy send SOCKET FILE         prints "result gen=G status=S rule=R text"
 *   helper-ndpolicy counters SOCKET          prints "counter ID PACKETS BYTES"
 *   helper-ndpolicy events SOCKET SECONDS    prints each DROP_EVENT for SECONDS:
 *                         "drop guest=G src=A dst=A proto=P dport=D count=N"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bulkhead/msg.h"
#include "bulkhead/parse.h"

/* The policy being built: items are collected first, then written as messages or nft text. */
static struct bh_msg_policy_zone *zones;
static struct bh_msg_policy_guest *vifs;
static struct bh_msg_policy_rule *rules;
static uint32_t n_zones, n_vifs, n_rules;
static uint8_t buf[BH_MSG_HDR_SIZE + 4096];

static void *push(void *arrayp, uint32_t n, size_t elem)
{
	void **a = arrayp;

	if ((n & (n - 1)) == 0 && !(*a = reallocarray(*a, n ? 2 * n : 1, elem))) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return (uint8_t *)*a + n * elem;
}

static int parse_net(const char *s, struct bh_msg_net *n, bool host)
{
	char a[64];
	const char *slash = strchr(s, '/');
	uint32_t plen;

	memset(n, 0, sizeof(*n));
	snprintf(a, sizeof(a), "%.*s", slash ? (int)(slash - s) : (int)strlen(s), s);
	if (inet_pton(AF_INET, a, n->addr) == 1)
		n->family = 4;
	else if (inet_pton(AF_INET6, a, n->addr) == 1)
		n->family = 6;
	else
		return -1;
	plen = n->family == 4 ? 32 : 128;
	if (slash && (host || bh_parse_u32(slash + 1, 0, plen, &plen) < 0))
		return -1;
	n->plen = (uint8_t)plen;
	return 0;
}

static int parse_ep(const char *s, struct bh_msg_policy_ep *e)
{
	memset(e, 0, sizeof(*e));
	if (!strcmp(s, "any"))
		return 0;
	if (!strcmp(s, "self")) {
		e->kind = BH_POLICY_EP_SELF;
		return 0;
	}
	if (!strncmp(s, "g=", 2) || !strncmp(s, "z=", 2)) {
		e->kind = s[0] == 'g' ? BH_POLICY_EP_GUEST : BH_POLICY_EP_ZONE;
		snprintf(e->name, sizeof(e->name), "%s", s + 2);
		return 0;
	}
	e->kind = BH_POLICY_EP_CIDR;
	return parse_net(s, &e->net, false);
}

static int parse_ports(char *s, struct bh_msg_policy_rule *r)
{
	if (!strcmp(s, "-"))
		return 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (r->n_ports == BH_POLICY_PORTS_MAX)
			return -1;
		char *dash = strchr(tok, '-');
		uint32_t lo, hi;

		if (dash)
			*dash = '\0';
		if (bh_parse_u32(tok, 0, 65535, &lo) < 0 ||
		    bh_parse_u32(dash ? dash + 1 : tok, 0, 65535, &hi) < 0)
			return -1;
		r->ports[r->n_ports++] = (struct bh_msg_port_range){ (uint16_t)lo, (uint16_t)hi };
	}
	return 0;
}

static const char *const protos[] = { "any", "tcp", "udp", "icmp", "icmpv6" };
static const char *const acts[] = { "accept", "drop", "reject" };

static int item_rule(char **f, int nf)
{
	struct bh_msg_policy_rule r = { 0 };

	if (nf < 7 || bh_parse_u32(f[1], 1, UINT32_MAX, &r.id) < 0 || parse_ep(f[2], &r.from) < 0 ||
	    parse_ep(f[3], &r.to) < 0 || parse_ports(f[5], &r) < 0)
		return -1;
	r.proto = 0xff;
	for (uint8_t i = 0; i < 5; i++)
		if (!strcmp(f[4], protos[i]))
			r.proto = i;
	r.action = 0xff;
	for (uint8_t i = 0; i < 3; i++)
		if (!strcmp(f[6], acts[i]))
			r.action = i;
	if (r.proto == 0xff || r.action == 0xff)
		return -1;
	if (nf > 7 && !strcmp(f[7], "log"))
		r.flags = BH_POLICY_RULE_LOG;
	snprintf(r.label, sizeof(r.label), "cli:%s", f[1]);
	*(struct bh_msg_policy_rule *)push(&rules, n_rules++, sizeof(r)) = r;
	return 0;
}

static int item_guest(char **f, int nf)
{
	struct bh_msg_policy_guest g = { 0 };
	unsigned m[6];

	if (nf != 6 || sscanf(f[4], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
			      &m[5]) != 6)
		return -1;
	snprintf(g.name, sizeof(g.name), "%s", f[1]);
	snprintf(g.zone, sizeof(g.zone), "%s", strcmp(f[2], "-") ? f[2] : "");
	snprintf(g.ifname, sizeof(g.ifname), "%s", f[3]);
	for (int i = 0; i < 6; i++)
		g.mac[i] = (uint8_t)m[i];
	for (char *tok = strtok(f[5], ","); tok; tok = strtok(NULL, ","))
		if (g.n_addrs == BH_POLICY_ADDRS_MAX || parse_net(tok, &g.addrs[g.n_addrs++], true))
			return -1;
	*(struct bh_msg_policy_guest *)push(&vifs, n_vifs++, sizeof(g)) = g;
	return 0;
}

static void synth(uint32_t guests, uint32_t n)
{
	uint32_t nz = (guests + 9) / 10;

	for (uint32_t i = 0; i < nz; i++) {
		struct bh_msg_policy_zone *z = push(&zones, n_zones++, sizeof(*z));

		snprintf(z->name, sizeof(z->name), "z%u", i);
	}
	for (uint32_t i = 0; i < guests; i++) {
		struct bh_msg_policy_guest g = { .n_addrs = 1 };

		snprintf(g.name, sizeof(g.name), "g%u", i);
		snprintf(g.zone, sizeof(g.zone), "z%u", i / 10);
		snprintf(g.ifname, sizeof(g.ifname), "vif%u.0", i);
		memcpy(g.mac, (uint8_t[]){ 0x00, 0x16, 0x3e, 0, (uint8_t)(i >> 8), (uint8_t)i }, 6);
		g.addrs[0] = (struct bh_msg_net){ 4, 32, { 10, (uint8_t)(i / 250), (uint8_t)(i % 250), 2 } };
		*(struct bh_msg_policy_guest *)push(&vifs, n_vifs++, sizeof(g)) = g;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct bh_msg_policy_rule r = { .id = i + 1, .proto = BH_POLICY_PROTO_TCP, .n_ports = 1 };

		r.from.kind = BH_POLICY_EP_GUEST;
		r.to.kind = (i % 4 == 3) ? BH_POLICY_EP_ZONE : BH_POLICY_EP_GUEST;
		snprintf(r.from.name, sizeof(r.from.name), "g%u", i % guests);
		if (r.to.kind == BH_POLICY_EP_ZONE)
			snprintf(r.to.name, sizeof(r.to.name), "z%u", (i / guests + 1 + i / 10) % nz);
		else
			snprintf(r.to.name, sizeof(r.to.name), "g%u", (i % guests + 1 + i / guests) % guests);
		r.ports[0].lo = r.ports[0].hi = (uint16_t)(1000 + i / guests);
		snprintf(r.label, sizeof(r.label), "synth:%u", i + 1);
		*(struct bh_msg_policy_rule *)push(&rules, n_rules++, sizeof(r)) = r;
	}
}

/* "bump ID": move rule ID's first port range up by 2000 (a one-rule policy change). */
static int bump(const char *id_s)
{
	uint32_t id;

	if (bh_parse_u32(id_s, 1, UINT32_MAX, &id) < 0)
		return -1;
	for (uint32_t i = 0; i < n_rules; i++)
		if (rules[i].id == id && rules[i].n_ports) {
			rules[i].ports[0].lo += 2000;
			rules[i].ports[0].hi += 2000;
			return 0;
		}
	return -1;
}

static int parse_items(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		char *f[16], *save = NULL;
		int nf = 0, r = -1;
		uint32_t a, b;

		for (char *t = strtok_r(argv[i], " ", &save); t && nf < 16; t = strtok_r(NULL, " ", &save))
			f[nf++] = t;
		if (nf == 2 && !strcmp(f[0], "zone")) {
			struct bh_msg_policy_zone *z = push(&zones, n_zones++, sizeof(*z));

			memset(z, 0, sizeof(*z));
			snprintf(z->name, sizeof(z->name), "%s", f[1]);
			r = 0;
		} else if (nf >= 1 && !strcmp(f[0], "guest")) {
			r = item_guest(f, nf);
		} else if (nf >= 1 && !strcmp(f[0], "rule")) {
			r = item_rule(f, nf);
		} else if (nf == 3 && !strcmp(f[0], "synth") && bh_parse_u32(f[1], 1, 60000, &a) == 0 &&
			   bh_parse_u32(f[2], 0, 1000000, &b) == 0) {
			synth(a, b);
			r = 0;
		} else if (nf == 2 && !strcmp(f[0], "bump")) {
			r = bump(f[1]);
		}
		if (r < 0) {
			fprintf(stderr, "bad item %d\n", i + 1);
			return -1;
		}
	}
	return 0;
}

static void emit(FILE *out, uint16_t type, long len)
{
	long n;

	if (len < 0 || (n = bh_msg_frame(type, 0, 0, 1, buf + BH_MSG_HDR_SIZE, (size_t)len, buf,
					  sizeof(buf))) < 0) {
		fprintf(stderr, "encode failed\n");
		exit(2);
	}
	fwrite(buf, 1, (size_t)n, out);
}

#define BODY (buf + BH_MSG_HDR_SIZE), (sizeof(buf) - BH_MSG_HDR_SIZE)

static int write_policy(int argc, char **argv)
{
	struct bh_msg_policy_begin b = { .default_action = BH_POLICY_DROP };
	struct bh_msg_policy_commit c;
	FILE *out;

	if (argc < 2 || bh_parse_u64(argv[1], 1, UINT64_MAX, &b.generation) < 0 ||
	    parse_items(argc - 2, argv + 2) < 0 || !(out = fopen(argv[0], "wbe")))
		return 2;
	b.n_zones = n_zones;
	b.n_vifs = n_vifs;
	b.n_rules = n_rules;
	emit(out, BH_MSG_POLICY_BEGIN, bh_msg_policy_begin_encode(&b, BODY));
	for (uint32_t i = 0; i < n_zones; i++)
		emit(out, BH_MSG_POLICY_ZONE, bh_msg_policy_zone_encode(&zones[i], BODY));
	for (uint32_t i = 0; i < n_vifs; i++)
		emit(out, BH_MSG_POLICY_GUEST, bh_msg_policy_guest_encode(&vifs[i], BODY));
	for (uint32_t i = 0; i < n_rules; i++)
		emit(out, BH_MSG_POLICY_RULE, bh_msg_policy_rule_encode(&rules[i], BODY));
	c.generation = b.generation;
	emit(out, BH_MSG_POLICY_COMMIT, bh_msg_policy_commit_encode(&c, BODY));
	return fclose(out) == 0 ? 0 : 1;
}

/* ---- the same policy as nft users write it: one rule per policy rule ---- */

static void nft_net(FILE *o, const struct bh_msg_net *n, bool prefix)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(n->family == 4 ? AF_INET : AF_INET6, n->addr, a, sizeof(a));
	fprintf(o, prefix ? "%s/%u" : "%s", a, n->plen);
}

/* iifname/oifname of a guest's or a zone's vifs, or an address match. */
static void nft_ep(FILE *o, const struct bh_msg_policy_ep *e, bool src)
{
	const char *sep = "{ ";

	if (e->kind == BH_POLICY_EP_CIDR) {
		fprintf(o, "%s %s ", e->net.family == 4 ? "ip" : "ip6", src ? "saddr" : "daddr");
		nft_net(o, &e->net, true);
		fputc(' ', o);
		return;
	}
	if (e->kind == BH_POLICY_EP_ANY)
		return;
	uint32_t n = 0, last = 0;

	for (uint32_t i = 0; i < n_vifs; i++)
		if (!strcmp(e->kind == BH_POLICY_EP_GUEST ? vifs[i].name : vifs[i].zone, e->name))
			n++, last = i;
	fprintf(o, "%s ", src ? "iifname" : "oifname");
	if (e->kind == BH_POLICY_EP_ZONE) { /* a named set per zone, declared once */
		fprintf(o, "@zone_%s ", e->name);
		return;
	}
	if (n == 1) { /* a plain comparison, as anyone writes it */
		fprintf(o, "\"%s\" ", vifs[last].ifname);
		return;
	}
	for (uint32_t i = 0; i < n_vifs; i++)
		if (!strcmp(e->kind == BH_POLICY_EP_GUEST ? vifs[i].name : vifs[i].zone, e->name)) {
			fprintf(o, "%s\"%s\"", sep, vifs[i].ifname);
			sep = ", ";
		}
	fputs(n ? " } " : "{ \"-\" } ", o);
}

static void nft_rule(FILE *o, const struct bh_msg_policy_rule *r)
{
	static const char *const l4[] = { "", "tcp", "udp", "icmp", "ipv6-icmp" };

	fputs("\t\t", o);
	nft_ep(o, &r->from, true);
	nft_ep(o, &r->to, false);
	if (r->proto && !r->n_ports)
		fprintf(o, "meta l4proto %s ", l4[r->proto]);
	if (r->n_ports)
		fprintf(o, "%s dport %s", l4[r->proto], r->n_ports > 1 ? "{ " : "");
	for (unsigned i = 0; i < r->n_ports; i++) {
		fprintf(o, "%s%u", i ? ", " : "", r->ports[i].lo);
		if (r->ports[i].hi != r->ports[i].lo)
			fprintf(o, "-%u", r->ports[i].hi);
	}
	fputs(r->n_ports > 1 ? " } " : r->n_ports ? " " : "", o);
	if (r->flags & BH_POLICY_RULE_LOG)
		fputs("log group 7301 ", o);
	fprintf(o, "counter %s\n", acts[r->action]);
}

static int rank(const struct bh_msg_policy_ep *e)
{
	return e->kind == BH_POLICY_EP_GUEST ? 3 : e->kind == BH_POLICY_EP_ZONE ? 2 : e->kind ? 1 : 0;
}

static void nft_set(FILE *o, const char *name, const char *type, int what)
{
	const char *sep = "";

	fprintf(o, "\tset %s {\n\t\ttype %s\n\t\telements = { ", name, type);
	for (uint32_t i = 0; i < n_vifs; i++) {
		const uint8_t *m = vifs[i].mac;

		fprintf(o, "%s\"%s\"", sep, vifs[i].ifname);
		sep = ",\n\t\t\t";
		if (what == 1)
			fprintf(o, " . %02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
		for (unsigned a = 0; what == 2 && a < vifs[i].n_addrs; a++)
			if (vifs[i].addrs[a].family == 4) {
				fputs(" . ", o);
				nft_net(o, &vifs[i].addrs[a], false);
				break;
			}
	}
	fputs(" }\n\t}\n", o);
}

static void nft_zone_set(FILE *o, const char *zone)
{
	const char *sep = "";

	fprintf(o, "\tset zone_%s {\n\t\ttype ifname\n", zone);
	for (uint32_t i = 0; i < n_vifs; i++)
		if (!strcmp(vifs[i].zone, zone)) {
			fprintf(o, "%s\"%s\"", *sep ? sep : "\t\telements = { ", vifs[i].ifname);
			sep = ", ";
		}
	fprintf(o, "%s\t}\n", *sep ? " }\n" : "");
}

/* Rules most specific first (netdom's precedence), then in policy order. */
static int write_nft(int argc, char **argv)
{
	FILE *o;

	if (argc < 1 || parse_items(argc - 1, argv + 1) < 0)
		return 2;
	for (uint32_t i = 0; i < n_rules; i++)
		if (rules[i].from.kind == BH_POLICY_EP_SELF || rules[i].to.kind == BH_POLICY_EP_SELF) {
			fprintf(stderr, "nft: rule %u: self rules are not written in nft mode\n",
				rules[i].id);
			return 2;
		}
	o = fopen(argv[0], "we");
	if (!o)
		return 2;
	fputs("table inet filt\ndelete table inet filt\ntable inet filt {\n", o);
	nft_set(o, "vifs", "ifname", 0);
	nft_set(o, "vif_mac", "ifname . ether_addr", 1);
	nft_set(o, "vif_ip4", "ifname . ipv4_addr", 2);
	for (uint32_t z = 0; z < n_zones; z++)
		nft_zone_set(o, zones[z].name);
	fputs("\tchain prerouting {\n\t\ttype filter hook prerouting priority -300; policy accept;\n"
	      "\t\tiifname @vifs iifname . ether saddr != @vif_mac counter drop\n"
	      "\t\tiifname @vifs meta nfproto ipv4 iifname . ip saddr != @vif_ip4 counter drop\n"
	      "\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n"
	      "\t\tct state invalid drop\n\t\tct state established,related accept\n", o);
	for (int k = 6 * 4 + 3; k >= 0; k--)
		for (uint32_t i = 0; i < n_rules; i++)
			if ((rank(&rules[i].from) + rank(&rules[i].to)) * 4 + rank(&rules[i].from) == k)
				nft_rule(o, &rules[i]);
	fputs("\t\tcounter limit rate 20/second burst 40 packets log group 7301\n\t}\n"
	      "\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n"
	      "\t\tct state established,related accept\n\t\tiiftype loopback accept\n"
	      "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n\t}\n}\n", o);
	return fclose(o) == 0 ? 0 : 1;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

static int read_msg(int fd, struct bh_msg_hdr *h, uint8_t *body)
{
	uint8_t hdr[BH_MSG_HDR_SIZE];

	if (recv(fd, hdr, sizeof(hdr), MSG_WAITALL) != sizeof(hdr) || bh_msg_hdr_decode(hdr, h) < 0)
		return -1;
	return recv(fd, body, h->length, MSG_WAITALL) == (ssize_t)h->length ? 0 : -1;
}

static int send_file(const char *sock, const char *file)
{
	static uint8_t body[BH_MSG_BODY_MAX];
	struct bh_msg_policy_result res;
	struct bh_msg_hdr h;
	int fd = connect_to(sock);
	FILE *f = fopen(file, "rb");
	size_t n;

	while (f && (n = fread(body, 1, sizeof(body), f)) > 0)
		if (write(fd, body, n) != (ssize_t)n)
			return 2;
	if (!f || read_msg(fd, &h, body) < 0 || h.type != BH_MSG_POLICY_RESULT ||
	    bh_msg_policy_result_decode(body, h.length, &res) < 0)
		return 2;
	printf("result gen=%llu status=%d rule=%u %s\n", (unsigned long long)res.generation,
	       res.status, res.rule_id, res.text);
	fclose(f);
	close(fd);
	return res.status ? 1 : 0;
}

static int counters(const char *sock)
{
	static uint8_t body[BH_MSG_BODY_MAX];
	static struct bh_msg_counter v[BH_COUNTERS_PER_MSG];
	struct bh_msg_counters m = { .v = v };
	struct bh_msg_hdr h;
	int fd = connect_to(sock);
	long n = bh_msg_frame(BH_MSG_COUNTERS_GET, 0, 7, 1, NULL, 0, body, sizeof(body));

	if (n < 0 || write(fd, body, (size_t)n) != n)
		return 2;
	do {
		if (read_msg(fd, &h, body) < 0 || h.type != BH_MSG_COUNTERS ||
		    bh_msg_counters_decode(body, h.length, &m) < 0)
			return 2;
		for (uint32_t i = 0; i < m.n; i++)
			printf("counter %u %llu %llu\n", v[i].rule_id,
			       (unsigned long long)v[i].packets, (unsigned long long)v[i].bytes);
	} while (m.first + m.n < m.total);
	printf("generation %llu\n", (unsigned long long)m.generation);
	close(fd);
	return 0;
}

static void print_net(const struct bh_msg_net *n)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(n->family == 4 ? AF_INET : AF_INET6, n->addr, a, sizeof(a));
	fputs(a, stdout);
}

static void on_alarm(int sig)
{
	(void)sig; /* only interrupts recv() */
}

/* Print every DROP_EVENT that arrives within @secs seconds. */
static int events(const char *sock, const char *secs_s)
{
	static uint8_t body[BH_MSG_BODY_MAX];
	struct bh_msg_drop_event ev;
	struct bh_msg_hdr h;
	uint32_t secs;
	int fd;

	if (bh_parse_u32(secs_s, 1, 3600, &secs) < 0)
		return 2;
	fd = connect_to(sock);
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = on_alarm }, NULL); /* no SA_RESTART */
	printf("listening\n");
	fflush(stdout);
	alarm(secs);
	while (read_msg(fd, &h, body) == 0) {
		if (h.type != BH_MSG_DROP_EVENT || bh_msg_drop_event_decode(body, h.length, &ev) < 0)
			return 2;
		printf("drop guest=%s src=", ev.guest[0] ? ev.guest : "-");
		print_net(&ev.src);
		printf(" dst=");
		print_net(&ev.dst);
		printf(" proto=%u dport=%u count=%u\n", ev.l4proto, ev.dport, ev.count);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "write"))
		return write_policy(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "nft"))
		return write_nft(argc - 2, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "send"))
		return send_file(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "counters"))
		return counters(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "events"))
		return events(argv[2], argv[3]);
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
