/* SPDX-License-Identifier: MIT */
/*
 * One logger for every bulkhead process. See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "bulkhead/log.h"

static char log_tag[64] = "bulkhead";
static enum bh_log_target log_target = BH_LOG_STDERR;
static int log_max_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

static int clamp_level(int level)
{
	if (level < LOG_EMERG)
		return LOG_EMERG;
	if (level > LOG_DEBUG)
		return LOG_DEBUG;
	return level;
}

void bh_log_init(const char *tag, enum bh_log_target target, int max_level)
{
	if (log_target == BH_LOG_SYSLOG)
		closelog();
	snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "bulkhead");
	log_target = target;
	log_max_level = clamp_level(max_level);
	if (target == BH_LOG_SYSLOG)
		openlog(log_tag, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void bh_log_set_level(int max_level)
{
	log_max_level = clamp_level(max_level);
}

int bh_log_get_level(void)
{
	return log_max_level;
}

void bh_logv(int level, const char *fmt, va_list ap)
{
	char line[1024];

	level = clamp_level(level);
	if (level > log_max_level)
		return;
	/* Format once, then emit with a single write so lines do not interleave. */
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_target == BH_LOG_SYSLOG)
		syslog(level, "%s", line);
	else if (level == LOG_INFO || level == LOG_NOTICE)
		fprintf(stderr, "%s: %s\n", log_tag, line);
	else
		fprintf(stderr, "%s: %s: %s\n", log_tag, level_names[level], line);
}

void bh_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bh_logv(level, fmt, ap);
	va_end(ap);
}

int bh_log_errno(int level, int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bh_log(level, "%s: %s", msg, strerror(err < 0 ? -err : err));
	return err;
}

/* Bytes that @ch takes once quoted: itself, "\\", or "\xNN". */
static size_t quoted_len(unsigned char ch)
{
	if (ch == '\\')
		return 2;
	return (ch >= 0x20 && ch < 0x7f) ? 1 : 4;
}

static size_t quote_byte(char *out, unsigned char ch)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = quoted_len(ch);

	if (n == 1) {
		out[0] = (char)ch;
	} else if (n == 2) {
		out[0] = '\\';
		out[1] = '\\';
	} else {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[ch >> 4];
		out[3] = hex[ch & 15];
	}
	return n;
}

char *bh_log_quote(char *out, size_t outlen, const void *untrusted_data, size_t len)
{
	const unsigned char *p = untrusted_data;
	size_t total = 0, room, o = 0, i;

	if (outlen == 0)
		return out;
	for (i = 0; i < len && total < outlen; i++)
		total += quoted_len(p[i]);
	/* Everything fits: no ellipsis. Else keep room for "..." and the NUL. */
	room = total <= outlen - 1 ? outlen - 1 : (outlen >= 4 ? outlen - 4 : 0);
	for (i = 0; i < len && quoted_len(p[i]) <= room - o; i++)
		o += quote_byte(out + o, p[i]);
	if (i < len && outlen >= 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
