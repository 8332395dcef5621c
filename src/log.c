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
#include <time.h>
#include "envelope.h"
#include "log.h"
#include "urlenc.h"

#define LINE_MAX_LEN 2048

static int cur_level = LOG_INFO;
static char **secrets;		/* raw and URL-encoded forms */
static int n_secrets, cap_secrets;
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

static void
push_secret(char *s)
{
	if (!s)
		return;
	if (n_secrets == cap_secrets) {
		int nc = cap_secrets ? cap_secrets * 2 : 8;
		char **ns = realloc(secrets, sizeof(*ns) * (size_t)nc);

		if (!ns) {
			free(s);
			return;
		}
		secrets = ns;
		cap_secrets = nc;
	}
	secrets[n_secrets++] = s;
}

void
log_add_secret(const char *secret)
{
	char *enc;

	if (!secret || !*secret)
		return;
	for (int i = 0; i < n_secrets; i++)
		if (!strcmp(secrets[i], secret))
			return;
	push_secret(strdup(secret));
	enc = urlenc(secret);
	if (enc && strcmp(enc, secret))
		push_secret(enc);
	else
		free(enc);
}

void
log_add_secret_n(const char *secret, size_t len)
{
	char *s = strndup(secret, len);

	if (!s)
		return;
	log_add_secret(s);
	memset(s, 0, len);
	free(s);
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
	free(secrets);
	secrets = NULL;
	n_secrets = cap_secrets = 0;
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

/* Every byte covered by any secret (or by a "token=" value) is hidden; a
 * run of hidden bytes prints as one "***". Marking coverage first, rather
 * than replacing the first match, means overlapping or adjacent secrets
 * leak nothing. */
size_t
log_mask(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src), o = 0;
	unsigned char small[LINE_MAX_LEN], *cover = n <= sizeof(small) ? small : calloc(n, 1);

	if (!dstlen)
		return 0;
	if (!cover) {
		snprintf(dst, dstlen, "(log line dropped: out of memory)");
		return strlen(dst);
	}
	if (cover == small)
		memset(small, 0, n);
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(src + i, "token=", 6)) {
			size_t v = token_value_len(src + i + 6);

			memset(cover + i + 6, 1, v);
		}
		for (int k = 0; k < n_secrets; k++) {
			size_t sl = strlen(secrets[k]);

			if (sl && sl <= n - i && !memcmp(src + i, secrets[k], sl))
				memset(cover + i, 1, sl);
		}
	}
	for (size_t i = 0; i < n && o + 1 < dstlen;) {
		if (!cover[i]) {
			dst[o++] = src[i++];
			continue;
		}
		for (const char *rep = "***"; *rep && o + 1 < dstlen; rep++)
			dst[o++] = *rep;
		while (i < n && cover[i])
			i++;
	}
	dst[o] = '\0';
	if (cover != small)
		free(cover);
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
	char masked[LINE_MAX_LEN], ts[25];	/* masked first, then cut to fit */
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

static void
vmaskf(char *dst, size_t dstlen, const char *fmt, va_list ap)
{
	char raw[512];

	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_mask(dst, dstlen, raw);
}

void
log_maskf(char *dst, size_t dstlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmaskf(dst, dstlen, fmt, ap);
	va_end(ap);
}

void
log_fail(char *dst, size_t dstlen, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmaskf(dst, dstlen, fmt, ap);
	va_end(ap);
	log_msg(LOG_WARN, "%s: %s", module, dst);
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[LINE_MAX_LEN], *big = NULL;
	va_list ap2;
	int n;

	if (level > cur_level)
		return;
	if (level < 0)
		level = 0;
	va_copy(ap2, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	/* a long line is formatted whole, so masking sees every secret whole
	 * before the line is cut */
	if (n >= (int)sizeof(line) && (big = malloc((size_t)n + 1)))
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	emit(level, big ? big : line);
	free(big);
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

	if (level > cur_level)
		return 0;

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
	/* lws is a log source like any other: a storm of its lines (one per
	 * failed accept or handshake) is cut to a few per window */
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(10000, 10);
	struct timespec ts;
	size_t n = strlen(line);
	int level = LOG_DEBUG;

	/* lws' warnings restate failures the relay reports itself, with more
	 * context and rate-limited (a refused upgrade warns on every retry):
	 * they go to debug; lws' errors are warnings here */
	if (lws_level & LLL_ERR)
		level = LOG_WARN;
	if (level > cur_level)
		return;
	/* lws' own lines are prefixed so an operator can tell them apart;
	 * they end in a newline of their own */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	log_limited(&rl, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, level, "lws: %.*s",
		    (int)n, line);
}

int
log_lws_mask(void)
{
	/* lws notices are chatty about routine things: show them at debug */
	switch (cur_level) {
	case LOG_ERR:
		return 0;
	case LOG_WARN:
	case LOG_INFO:
		return LLL_ERR;
	default:
		return LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO | LLL_USER;
	}
}
