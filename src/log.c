/* log.c: the one place lines are written; secrets are masked here.
 *
 * Lines go to stderr as "TIMESTAMP LEVEL message". When stderr is the
 * systemd journal (JOURNAL_STREAM names our stderr), the timestamp is left
 * to journald and a "<N>" priority prefix is written instead. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "envelope.h"
#include "log.h"

#define MAX_SECRETS 8
#define LINE_MAX_LEN 2048

static int cur_level = LOG_INFO;
static char *secrets[MAX_SECRETS * 2];	/* raw and URL-encoded forms */
static int n_secrets;
static int journal = -1;		/* -1: not checked yet */

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const int journal_prio[] = { 3, 4, 6, 7 };

int
log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, level_names[i]))
			return i;
	return -1;
}

const char *
log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}

void log_set_level(int level) { cur_level = level; }
int log_get_level(void) { return cur_level; }

static char *
url_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

void
log_add_secret(const char *secret)
{
	char *enc;

	if (!secret || !*secret || n_secrets + 2 > MAX_SECRETS * 2)
		return;
	secrets[n_secrets++] = strdup(secret);
	enc = url_encode(secret);
	if (enc && strcmp(enc, secret))
		secrets[n_secrets++] = enc;
	else
		free(enc);
}

void
log_clear_secrets(void)
{
	for (int i = 0; i < n_secrets; i++) {
		if (secrets[i]) {
			volatile char *p = secrets[i];

			while (*p)
				*p++ = 0;
			free(secrets[i]);
		}
		secrets[i] = NULL;
	}
	n_secrets = 0;
}

/* A query value after "token=" runs until '&', whitespace, quote or end. */
static size_t
token_value_len(const char *p)
{
	size_t n = 0;

	while (p[n] && p[n] != '&' && p[n] != ' ' && p[n] != '"' && p[n] != '\'' &&
	       p[n] != '\n' && p[n] != '\r' && p[n] != '\t')
		n++;
	return n;
}

size_t
log_mask(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	if (!dstlen)
		return 0;
	while (*src && o + 1 < dstlen) {
		int hit = 0;

		if (!strncmp(src, "token=", 6)) {
			size_t v = token_value_len(src + 6);

			if (v) {
				const char *rep = "token=***";

				for (; *rep && o + 1 < dstlen; rep++)
					dst[o++] = *rep;
				src += 6 + v;
				continue;
			}
		}
		for (int i = 0; i < n_secrets; i++) {
			size_t sl = strlen(secrets[i]);

			if (sl && !strncmp(src, secrets[i], sl)) {
				for (const char *rep = "***"; *rep && o + 1 < dstlen; rep++)
					dst[o++] = *rep;
				src += sl;
				hit = 1;
				break;
			}
		}
		if (!hit)
			dst[o++] = *src++;
	}
	dst[o] = '\0';
	return o;
}

static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st))
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void
emit(int level, const char *text)
{
	char masked[LINE_MAX_LEN], ts[25];
	struct timeval tv;
	size_t n;

	n = log_mask(masked, sizeof(masked), text);
	while (n && (masked[n - 1] == '\n' || masked[n - 1] == '\r'))
		masked[--n] = '\0';
	/* one event, one line: fold embedded newlines */
	for (size_t i = 0; i < n; i++)
		if (masked[i] == '\n' || masked[i] == '\r')
			masked[i] = ' ';
	if (journal < 0)
		journal = stderr_is_journal();
	if (journal) {
		fprintf(stderr, "<%d>%s\n", journal_prio[level], masked);
		return;
	}
	gettimeofday(&tv, NULL);
	envelope_time((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, ts);
	fprintf(stderr, "%s %s %s\n", ts, level_names[level], masked);
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN];

	if (level > cur_level)
		return;
	if (level < 0)
		level = 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	emit(level, line);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int
log_limited(struct log_ratelimit *rl, uint64_t now_ms, int level, const char *fmt, ...)
{
	va_list ap;

	if (now_ms - rl->window_start_ms >= rl->window_ms || rl->window_start_ms > now_ms) {
		if (rl->suppressed)
			log_msg(level, "(%u similar messages suppressed in the last %u ms)",
				rl->suppressed, rl->window_ms);
		rl->window_start_ms = now_ms;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count >= rl->burst) {
		rl->suppressed++;
		return 0;
	}
	rl->count++;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	return 1;
}

void
log_lws_emit(int lws_level, const char *line)
{
	int level = LOG_DEBUG;

	if (lws_level & LLL_ERR)
		level = LOG_ERR;
	else if (lws_level & LLL_WARN)
		level = LOG_WARN;
	else if (lws_level & (LLL_NOTICE | LLL_USER))
		level = LOG_INFO;
	if (level > cur_level)
		return;
	/* lws' own lines are prefixed so an operator can tell them apart */
	char buf[LINE_MAX_LEN];

	snprintf(buf, sizeof(buf), "lws: %s", line);
	emit(level, buf);
}

int
log_lws_mask(void)
{
	/* lws notices are chatty about routine things: show them at debug */
	switch (cur_level) {
	case LOG_ERR:
		return LLL_ERR;
	case LOG_WARN:
	case LOG_INFO:
		return LLL_ERR | LLL_WARN;
	default:
		return LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO | LLL_USER;
	}
}
