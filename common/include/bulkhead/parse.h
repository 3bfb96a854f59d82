/* SPDX-License-Identifier: MIT */
/*
 * Strict parsing of numbers and small tokens from config files and peers.
 * No signs, no spaces, no trailing junk, no empty strings, no overflow: what
 * strtoul() silently accepts ("  -1", "12abc", "") is an error here.
 *
 * All functions return 0 and write *ret only on success, -EINVAL for a
 * malformed string, -ERANGE for a well-formed value outside [min, max].
 */
#ifndef BULKHEAD_PARSE_H
#define BULKHEAD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decimal, or hex with a "0x" prefix. */
int bh_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int bh_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int bh_parse_u16(const char *s, uint16_t min, uint16_t max, uint16_t *ret);

/*
 * A decimal size with an optional binary suffix K, M, G, T (KiB, MiB, ...), e.g.
 * "512M". Without a suffix the value is multiplied by @default_unit (1 for
 * bytes, 1024*1024 for xl's "memory = 512" in MiB).
 */
int bh_parse_size(const char *s, uint64_t default_unit, uint64_t min, uint64_t max,
		  uint64_t *ret);

/* "1"/"0", "yes"/"no", "true"/"false", "on"/"off" (lower case only). */
int bh_parse_bool(const char *s, bool *ret);

/* Decimal port range "80" or "8000-8080" (lo <= hi, 1..65535). */
int bh_parse_port_range(const char *s, uint16_t *ret_lo, uint16_t *ret_hi);

/*
 * A name usable as a domain, zone or volume name and in file names:
 * 1..63 chars of [a-z0-9_-], starting with a letter. Returns 0 or -EINVAL.
 */
int bh_check_name(const char *s);

#endif
