/* SPDX-License-Identifier: MIT */
/* IPv4/IPv6 prefixes and MAC addresses, as written in configuration files. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bulkhead/parse.h"
#include "dom0.h"

int bh_prefix_parse(const char *untrusted_s, struct bh_prefix *ret)
{
	struct bh_prefix p = { 0 };
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	unsigned max;
	uint32_t len;

	if (strlen(untrusted_s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, untrusted_s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, p.addr) == 1)
		p.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p.addr) == 1)
		p.family = AF_INET6;
	else
		return -EINVAL;
	max = p.family == AF_INET ? 32 : 128;
	p.len = max;
	if (slash) {
		if (bh_parse_u32(slash + 1, 0, max, &len) < 0)
			return -EINVAL;
		p.len = len;
	}
	*ret = p;
	return 0;
}

static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned nbits)
{
	unsigned bytes = nbits / 8, rest = nbits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rest)
		return true;
	return ((a[bytes] ^ b[bytes]) & (0xff00u >> rest)) == 0;
}

bool bh_prefix_is_network(const struct bh_prefix *p)
{
	unsigned total = p->family == AF_INET ? 32 : 128;

	for (unsigned bit = p->len; bit < total; bit++)
		if (p->addr[bit / 8] & (0x80u >> (bit % 8)))
			return false;
	return true;
}

bool bh_prefix_overlap(const struct bh_prefix *a, const struct bh_prefix *b)
{
	if (a->family != b->family)
		return false;
	return bits_equal(a->addr, b->addr, a->len < b->len ? a->len : b->len);
}

bool bh_prefix_contains(const struct bh_prefix *outer, const struct bh_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       bits_equal(outer->addr, inner->addr, outer->len);
}

void bh_prefix_format(const struct bh_prefix *p, char *out, size_t outlen)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned max = p->family == AF_INET ? 32 : 128;

	if (!inet_ntop(p->family, p->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	if (p->len == max)
		snprintf(out, outlen, "%s", addr);
	else
		snprintf(out, outlen, "%s/%u", addr, p->len);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bh_mac_parse(const char *untrusted_s, uint8_t ret[6])
{
	uint8_t mac[6];

	if (strlen(untrusted_s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = untrusted_s + 3 * i;
		int hi = hex_digit(p[0]), lo = hex_digit(p[1]);

		if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(ret, mac, sizeof(mac));
	return 0;
}
