/* SPDX-License-Identifier: MIT */
/*
 * Audit records to syslog for a SIEM: RFC 5424 formatted here (glibc's
 * syslog(3) speaks the old BSD format) and sent as one datagram to an
 * AF_UNIX socket, /dev/log unless host.cfg names another (bh_syslog_socket).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME bulkhead PROCID audit [bulkhead@32473 seq="N"
 *   prev="HEX"] BOM{...record...}
 *
 * Facility authpriv (10); severity notice for granted/ok records, warning
 * for refused/failed ones. 32473 is the private enterprise number RFC 5612
 * reserves for documentation: the SD-ID is ours, not a registered one.
 */
#include <sys/socket.h>

#include "bulkhead/fdio.h"
#include "dom0.h"

#define FACILITY_AUTHPRIV 10

/* RFC 5424 HOSTNAME/APP-NAME: printable US-ASCII without spaces, else "-". */
static const char *header_token(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return "-";
	for (size_t i = 0; i < n; i++)
		if (s[i] < 33 || s[i] > 126)
			return "-";
	return s;
}

long bh_syslog_format(char *out, size_t cap, int severity, const char *ts, const char *host,
		      long pid, uint64_t seq, const char *prev, const char *record, size_t reclen)
{
	/* prev is 64 hex digits (checked by the caller's parser): no SD escaping needed. */
	int n = snprintf(out, cap, "<%d>1 %s %s bulkhead %ld audit [bulkhead@32473 seq=\"%llu\" "
			 "prev=\"%s\"] \xef\xbb\xbf", FACILITY_AUTHPRIV * 8 + (severity & 7),
			 header_token(ts, 32), header_token(host, 255), pid,
			 (unsigned long long)seq, prev);

	if (n < 0 || (size_t)n >= cap || reclen > cap - (size_t)n)
		return -ENOBUFS;
	memcpy(out + n, record, reclen);
	return (long)((size_t)n + reclen);
}

int bh_syslog_send(const char *path, const char *msg, size_t len)
{
	_cleanup_close_ int fd = bh_unix_connect(path, SOCK_DGRAM);

	if (fd < 0)
		return fd;
	if (send(fd, msg, len, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}
