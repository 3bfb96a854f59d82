/* SPDX-License-Identifier: MIT */
/*
 * Logging for every bulkhead process: stderr in the foreground, syslog
 * otherwise, each line tagged with the process role ("stordomd[web]").
 *
 * Library-style code does not log: it returns -errno and the caller logs once,
 * with context. Never log keys, TPM state or payloads; quote peer strings with
 * bh_log_quote().
 */
#ifndef BULKHEAD_LOG_H
#define BULKHEAD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

#include "util.h"

enum bh_log_target {
	BH_LOG_STDERR, /* foreground: "tag: level: message" on stderr */
	BH_LOG_SYSLOG, /* daemon: syslog(3) with the tag as ident */
};

/*
 * Set the process tag (copied, truncated to 63 bytes), the target and the
 * most verbose level printed (LOG_ERR .. LOG_DEBUG). Callable again, e.g.
 * after a fork, to retag a child.
 */
void bh_log_init(const char *tag, enum bh_log_target target, int max_level);
void bh_log_set_level(int max_level);
int bh_log_get_level(void);

void bh_log(int level, const char *fmt, ...) _printf_(2, 3);
void bh_logv(int level, const char *fmt, va_list ap) _printf_(2, 0);

/*
 * Log at @level, append ": strerror(-err)" and return @err (a negative errno),
 * so that a caller can write `return bh_log_errno(LOG_ERR, r, "open %s", p);`.
 */
int bh_log_errno(int level, int err, const char *fmt, ...) _printf_(3, 4);

#define bh_err(...) bh_log(LOG_ERR, __VA_ARGS__)
#define bh_warn(...) bh_log(LOG_WARNING, __VA_ARGS__)
#define bh_notice(...) bh_log(LOG_NOTICE, __VA_ARGS__)
#define bh_info(...) bh_log(LOG_INFO, __VA_ARGS__)
#define bh_debug(...) bh_log(LOG_DEBUG, __VA_ARGS__)

/*
 * Render untrusted bytes for a log line: printable ASCII kept, everything else
 * as \xNN, at most @outlen-1 bytes written (ending in "..." when cut), always
 * NUL-terminated. Returns @out.
 */
char *bh_log_quote(char *out, size_t outlen, const void *untrusted_data, size_t len);

#endif
