/* log.h: one-line-per-event logger with secret masking and rate limiting.
 *
 * Every line goes through one function that masks registered secrets (and
 * their URL-encoded forms) and any "token=" query value before writing, so a
 * secret cannot leak through a caller that forgot to mask, nor through
 * libwebsockets' own log lines, which are routed here too. */
#ifndef UWRELAY_LOG_H
#define UWRELAY_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Returns the level for "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_from_name(const char *name);
const char *log_level_name(int level);
void log_set_level(int level);
int log_get_level(void);

/* Registers a secret to be masked as "***" in every later line (a copy is
 * kept; the URL-encoded form is masked too). Empty strings are ignored. */
void log_add_secret(const char *secret);
/* Same for a secret given by pointer and length. */
void log_add_secret_n(const char *secret, size_t len);
/* Forgets every secret (at exit, so the copies are wiped and freed). */
void log_clear_secrets(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Masks secrets in src into dst (NUL-terminated, truncated to dstlen).
 * Exposed for tests. Returns the length written. */
size_t log_mask(char *dst, size_t dstlen, const char *src);
/* Formats into dst and masks it like a log line: for error texts kept for
 * the status API, which may quote URLs or lws text. */
void log_maskf(char *dst, size_t dstlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, then logs the masked text once as a warning, "module: text":
 * a failure kept for the status API and reported where it happened. */
void log_fail(char *dst, size_t dstlen, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Rate limiting for repeated events: at most `burst` lines per `window_ms`;
 * the rest are counted and reported in the first line of the next window. */
struct log_ratelimit {
	uint64_t window_start_ms;
	unsigned window_ms;
	unsigned burst;
	unsigned count;
	unsigned suppressed;
};
#define LOG_RATELIMIT_INIT(window_ms, burst) { 0, (window_ms), (burst), 0, 0 }

/* Logs like log_msg unless the limiter says no. Returns 1 if printed. */
int log_limited(struct log_ratelimit *rl, uint64_t now_ms, int level,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Emit function for lws_set_log_level(): maps lws levels to ours. */
void log_lws_emit(int lws_level, const char *line);
/* The lws level mask matching our current level. */
int log_lws_mask(void);

#endif
