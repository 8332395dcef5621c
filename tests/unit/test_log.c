/* test_log.c: secret masking, the line format, and the rate limiter.
 * Lines go to stderr, so tests that look at them point fd 2 at a temp file. */
#include <libwebsockets.h>
#include <unistd.h>
#include "log.h"
#include "check.h"

/* ---- capturing stderr ---- */

static FILE *cap_file;
static int cap_saved = -1;

static void
capture_begin(void)
{
	unsetenv("JOURNAL_STREAM");	/* the plain "TIME LEVEL message" format */
	fflush(stderr);
	cap_file = tmpfile();
	cap_saved = dup(2);
	if (!cap_file || cap_saved < 0 || dup2(fileno(cap_file), 2) < 0)
		abort();
}

/* Restores stderr; returns what was written (caller frees). */
static char *
capture_end(void)
{
	long n;
	char *s;

	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	cap_saved = -1;
	n = ftell(cap_file);
	s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	rewind(cap_file);
	if (n > 0 && fread(s, 1, (size_t)n, cap_file) != (size_t)n)
		s[0] = '\0';
	fclose(cap_file);
	cap_file = NULL;
	return s;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The text of line i (0-based) after "TIMESTAMP LEVEL ", in buf. */
static const char *
line_msg(const char *s, int i, char *buf, size_t len)
{
	const char *e, *sp;

	while (i-- > 0 && (s = strchr(s, '\n')))
		s++;
	if (!s || !*s)
		return "(no such line)";
	e = strchr(s, '\n');
	if (!e)
		e = s + strlen(s);
	sp = memchr(s, ' ', (size_t)(e - s));
	sp = sp ? memchr(sp + 1, ' ', (size_t)(e - sp - 1)) : NULL;
	if (!sp)
		return "(malformed line)";
	snprintf(buf, len, "%.*s", (int)(e - sp - 1), sp + 1);
	return buf;
}

static char *
mask(const char *src)
{
	static char out[4096];

	log_mask(out, sizeof(out), src);
	return out;
}

/* ---- levels ---- */

static void
log_level_names_round_trip(void)
{
	CHECK_EQ_INT(log_level_from_name("error"), LOG_ERR);
	CHECK_EQ_INT(log_level_from_name("warn"), LOG_WARN);
	CHECK_EQ_INT(log_level_from_name("info"), LOG_INFO);
	CHECK_EQ_INT(log_level_from_name("debug"), LOG_DEBUG);
	CHECK_EQ_INT(log_level_from_name("INFO"), -1);
	CHECK_EQ_INT(log_level_from_name("warning"), -1);
	CHECK_EQ_INT(log_level_from_name(""), -1);
	for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
		CHECK_EQ_INT(log_level_from_name(log_level_name(l)), l);
	CHECK_STR(log_level_name(-1), "?");
	CHECK_STR(log_level_name(4), "?");
	log_set_level(LOG_DEBUG);
	CHECK_EQ_INT(log_get_level(), LOG_DEBUG);
	log_set_level(LOG_INFO);
	CHECK_EQ_INT(log_get_level(), LOG_INFO);
}

static void
log_lws_mask_follows_level(void)
{
	/* lws errors come out as our warnings, lws warnings as debug */
	log_set_level(LOG_ERR);
	CHECK_EQ_INT(log_lws_mask(), 0);
	log_set_level(LOG_WARN);
	CHECK_EQ_INT(log_lws_mask(), LLL_ERR);
	log_set_level(LOG_INFO);
	CHECK(log_lws_mask() & LLL_ERR);
	CHECK(!(log_lws_mask() & LLL_WARN));
	CHECK(!(log_lws_mask() & LLL_NOTICE));
	log_set_level(LOG_DEBUG);
	CHECK(log_lws_mask() & LLL_NOTICE);
	log_set_level(LOG_INFO);
}

/* ---- log_mask ---- */

static void
log_mask_without_secrets_copies(void)
{
	char out[64];

	CHECK_EQ_INT(log_mask(out, sizeof(out), "plain line, nothing secret"), 26);
	CHECK_STR(out, "plain line, nothing secret");
	CHECK_EQ_INT(log_mask(out, sizeof(out), ""), 0);
	CHECK_STR(out, "");
}

static void
log_mask_registered_secret(void)
{
	char out[128];
	size_t n;

	log_add_secret("Zq9XwLm7Kp2R");
	n = log_mask(out, sizeof(out), "auth Zq9XwLm7Kp2R failed for Zq9XwLm7Kp2R.");
	CHECK_STR(out, "auth *** failed for ***.");
	CHECK_EQ_INT(n, strlen(out));
	CHECK_STR(mask("Zq9XwLm7Kp2R"), "***");
	/* a near miss is left alone */
	CHECK_STR(mask("Zq9XwLm7Kp2 Zq9XwLm7Kp2r"), "Zq9XwLm7Kp2 Zq9XwLm7Kp2r");
	log_clear_secrets();
}

static void
log_mask_url_encoded_form(void)
{
	/* base64-ish tokens carry '+', '/' and '=' */
	log_add_secret("ab+cd/ef=gh~i");
	CHECK_STR(mask("raw ab+cd/ef=gh~i"), "raw ***");
	CHECK_STR(mask("GET /socket?key=ab%2Bcd%2Fef%3Dgh~i HTTP/1.1"), "GET /socket?key=*** HTTP/1.1");
	CHECK_STR(mask("both ab+cd/ef=gh~i ab%2Bcd%2Fef%3Dgh~i"), "both *** ***");
	log_clear_secrets();
}

static void
log_mask_token_query_value(void)
{
	CHECK_STR(mask("GET /socket?token=abc123&x=1 HTTP/1.1"), "GET /socket?token=***&x=1 HTTP/1.1");
	CHECK_STR(mask("wss://api.unusualwhales.com/socket?token=abc123"),
		  "wss://api.unusualwhales.com/socket?token=***");
	CHECK_STR(mask("url=/s?token=abc def"), "url=/s?token=*** def");
	CHECK_STR(mask("{\"url\":\"/s?token=abc\"}"), "{\"url\":\"/s?token=***\"}");
	CHECK_STR(mask("'/s?token=abc'"), "'/s?token=***'");
	CHECK_STR(mask("a=1&token=x%2By&b=2"), "a=1&token=***&b=2");
	CHECK_STR(mask("token=one token=two"), "token=*** token=***");
	CHECK_STR(mask("token=a\tb"), "token=***\tb");
	CHECK_STR(mask("token=a\nb"), "token=***\nb");
	/* an empty value has nothing to hide */
	CHECK_STR(mask("token=&x=1"), "token=&x=1");
	CHECK_STR(mask("token="), "token=");
	CHECK_STR(mask("no tokens here"), "no tokens here");
}

static void
log_mask_adjacent_occurrences(void)
{
	log_add_secret("Q7vT3mW9");
	/* one run of hidden bytes prints as one mask */
	CHECK_STR(mask("Q7vT3mW9Q7vT3mW9"), "***");
	CHECK_STR(mask("[Q7vT3mW9][Q7vT3mW9]"), "[***][***]");
	CHECK_STR(mask("Q7vT3mW9token=Q7vT3mW9"), "***token=***");
	log_clear_secrets();
}

/* No byte of any occurrence of a secret may survive: strip the stars and
 * the result must equal `bare`. */
#define CHECK_MASKED_TO(src, bare)                                                    \
	do {                                                                          \
		const char *m_ = mask(src);                                           \
		char s_[512];                                                         \
		size_t k_ = 0;                                                        \
		for (const char *p_ = m_; *p_ && k_ < sizeof(s_) - 1; p_++)           \
			if (*p_ != '*')                                               \
				s_[k_++] = *p_;                                       \
		s_[k_] = '\0';                                                        \
		if (strcmp(s_, (bare)) || !strchr(m_, '*')) {                         \
			check_fail_hdr(__FILE__, __LINE__);                           \
			printf("mask(%s) = \"%s\": part of a secret shows\n", #src, m_); \
		}                                                                     \
	} while (0)

static void
log_mask_overlapping_occurrences_of_one_secret(void)
{
	/* "abab" occurs at 1 and 3 in "xababab y": both are hidden */
	log_add_secret("abab");
	CHECK_MASKED_TO("xababab y", "x y");
	CHECK_MASKED_TO("aaabababab!", "aa!");
	log_clear_secrets();
	log_add_secret("aaaa");
	CHECK_MASKED_TO("[aaaaa]", "[]");
	log_clear_secrets();
}

static void
log_mask_secret_that_extends_another(void)
{
	/* a shorter secret registered first must not uncover the rest of a
	 * longer one that starts with it */
	log_add_secret("Kx81");
	log_add_secret("Kx81Pz2Rq7Lw");
	CHECK_MASKED_TO("key=Kx81Pz2Rq7Lw.", "key=.");
	CHECK_MASKED_TO("key=Kx81.", "key=.");
	log_clear_secrets();
}

static void
log_mask_secrets_that_overlap(void)
{
	/* the end of one secret is the start of another */
	log_add_secret("Hm4Tz9");
	log_add_secret("Tz9Vb2Nq");
	CHECK_MASKED_TO("[Hm4Tz9Vb2Nq]", "[]");
	log_clear_secrets();
}

static void
log_mask_truncates_to_dstlen(void)
{
	char out[64];
	char full[64];
	const char *src = "id=Wp3Lr8Gz ok token=abc&z";
	size_t n;

	memset(out, 'X', sizeof(out));
	CHECK_EQ_INT(log_mask(out, 0, "abc"), 0);
	CHECK_EQ_INT(out[0], 'X');		/* nothing written */
	CHECK_EQ_INT(log_mask(out, 1, "abc"), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(log_mask(out, 4, "abcdefgh"), 3);
	CHECK_STR(out, "abc");
	log_add_secret("Wp3Lr8Gz");
	n = log_mask(full, sizeof(full), src);
	CHECK_STR(full, "id=*** ok token=***&z");
	/* every shorter buffer gets a NUL-terminated prefix of the full result,
	 * never a piece of the secret */
	for (size_t len = 1; len <= n + 1; len++) {
		memset(out, 'X', sizeof(out));
		size_t k = log_mask(out, len, src);

		CHECK(k < len);
		CHECK_EQ_INT(k, strlen(out));
		CHECK(!strncmp(out, full, k));
		CHECK_EQ_INT(out[len], 'X');	/* nothing past dstlen */
		CHECK_NOT_CONTAINS(out, "Wp3");
		CHECK_NOT_CONTAINS(out, "abc");
	}
	log_clear_secrets();
}

static void
log_mask_ignores_empty_secret(void)
{
	log_add_secret("");
	log_add_secret(NULL);
	log_add_secret_n("abc", 0);
	CHECK_STR(mask("abc"), "abc");
	log_clear_secrets();
}

static void
log_add_secret_n_uses_len(void)
{
	log_add_secret_n("Vn5Jd2Ks7Ya1-and-more", 12);
	CHECK_STR(mask("x Vn5Jd2Ks7Ya1 y"), "x *** y");
	CHECK_STR(mask("Vn5Jd2Ks7Ya1-and-more"), "***-and-more");
	log_clear_secrets();
}

static void
log_clear_secrets_forgets(void)
{
	log_add_secret("Rt6Yh2Bn");
	CHECK_STR(mask("Rt6Yh2Bn"), "***");
	log_clear_secrets();
	CHECK_STR(mask("Rt6Yh2Bn"), "Rt6Yh2Bn");
	log_clear_secrets();	/* twice is fine */
	/* and new ones can be registered after */
	log_add_secret("Gg4Hh5Jj");
	CHECK_STR(mask("Gg4Hh5Jj"), "***");
	log_clear_secrets();
}

static void
log_many_secrets_all_masked(void)
{
	/* e.g. a subscriber tokens file: every registered secret is masked,
	 * whatever their number (log.h sets no limit) */
	enum { N = 100 };
	char s[64], line[128];
	int unmasked = 0;

	for (int i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "tok/%03d+Xq8Lm2Vz", i);
		log_add_secret(s);
	}
	for (int i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "tok/%03d+Xq8Lm2Vz", i);
		snprintf(line, sizeof(line), "bearer %s", s);
		if (strcmp(mask(line), "bearer ***") && !unmasked++)
			printf("  secret #%d of %d (%s) not masked: \"%s\"\n", i + 1, N, s, mask(line));
	}
	CHECK_EQ_INT(unmasked, 0);
	log_clear_secrets();
}

/* ---- lines on stderr ---- */

static void
log_line_format(void)
{
	char *out;

	log_set_level(LOG_INFO);
	capture_begin();
	log_msg(LOG_WARN, "hello %d", 42);
	out = capture_end();
	/* 2025-11-25T14:30:00.123Z warn hello 42 */
	CHECK_EQ_INT(count_lines(out), 1);
	CHECK(strlen(out) > 25 && out[4] == '-' && out[10] == 'T' && out[23] == 'Z' && out[24] == ' ');
	CHECK_STR(out + 24, " warn hello 42\n");
	free(out);
}

static void
log_level_filters_lines(void)
{
	char *out;

	log_set_level(LOG_WARN);
	capture_begin();
	log_msg(LOG_INFO, "not shown");
	log_msg(LOG_DEBUG, "not shown");
	log_msg(LOG_ERR, "shown error");
	log_msg(LOG_WARN, "shown warn");
	out = capture_end();
	CHECK_EQ_INT(count_lines(out), 2);
	CHECK_CONTAINS(out, " error shown error\n");
	CHECK_CONTAINS(out, " warn shown warn\n");
	CHECK_NOT_CONTAINS(out, "not shown");
	free(out);
	log_set_level(LOG_INFO);
}

static void
log_msg_masks_secrets_and_tokens(void)
{
	char *out;

	log_add_secret("Bq2Wc7Xe9Rt4");
	capture_begin();
	log_msg(LOG_INFO, "connecting to wss://api.unusualwhales.com/socket?token=%s", "Bq2Wc7Xe9Rt4");
	log_msg(LOG_INFO, "Authorization: Bearer %s", "Bq2Wc7Xe9Rt4");
	log_lws_emit(LLL_ERR, "GET /socket?token=Bq2Wc7Xe9Rt4 failed\n");
	out = capture_end();
	CHECK_EQ_INT(count_lines(out), 3);
	CHECK_NOT_CONTAINS(out, "Bq2Wc7Xe9Rt4");
	CHECK_CONTAINS(out, "/socket?token=***\n");
	CHECK_CONTAINS(out, "Bearer ***\n");
	CHECK_CONTAINS(out, " warn lws: GET /socket?token=*** failed\n");
	free(out);
	log_clear_secrets();
}

static void
log_msg_folds_newlines(void)
{
	char *out;

	capture_begin();
	log_msg(LOG_INFO, "first\nsecond\r\nthird\n\n");
	out = capture_end();
	CHECK_EQ_INT(count_lines(out), 1);
	CHECK_CONTAINS(out, " info first second  third\n");
	free(out);
}

static void
log_long_line_does_not_leak_a_cut_secret(void)
{
	/* a line longer than the logger's buffer is cut; a secret straddling
	 * the cut must not show its first characters */
	static const char secret[] = "Ns8Kd3Lp5Vq1Zx7";
	static char pad[4096];
	char *out, *line, *save = NULL;
	int lines = 0, leaks = 0;

	log_add_secret(secret);
	capture_begin();
	for (int len = 2030; len < 2050; len++) {
		memset(pad, 'x', (size_t)len);
		pad[len] = '\0';
		log_msg(LOG_INFO, "%s%s end", pad, secret);
	}
	out = capture_end();
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);

		lines++;
		/* does the line end with 4 or more leading chars of the secret? */
		for (size_t k = 4; k < sizeof(secret) - 1 && k <= n; k++)
			if (!memcmp(line + n - k, secret, k)) {
				if (!leaks++)
					printf("  a %zu-char line ends \"...%s\"\n", n, line + n - (k + 8));
				break;
			}
		CHECK_NOT_CONTAINS(line, secret);
	}
	CHECK_EQ_INT(lines, 20);
	CHECK_EQ_INT(leaks, 0);
	free(out);
	log_clear_secrets();
}

/* ---- log_limited ---- */

static void
log_limited_burst_then_suppress_then_report(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 3);
	int printed[8];
	char *out, buf[256];

	log_set_level(LOG_INFO);
	capture_begin();
	printed[0] = log_limited(&rl, 5000, LOG_WARN, "event %d", 1);
	printed[1] = log_limited(&rl, 5001, LOG_WARN, "event %d", 2);
	printed[2] = log_limited(&rl, 5500, LOG_WARN, "event %d", 3);
	printed[3] = log_limited(&rl, 5600, LOG_WARN, "event %d", 4);	/* over the burst */
	printed[4] = log_limited(&rl, 5999, LOG_WARN, "event %d", 5);
	printed[5] = log_limited(&rl, 6000, LOG_WARN, "event %d", 6);	/* next window */
	printed[6] = log_limited(&rl, 6001, LOG_WARN, "event %d", 7);
	out = capture_end();
	CHECK_EQ_INT(printed[0], 1);
	CHECK_EQ_INT(printed[1], 1);
	CHECK_EQ_INT(printed[2], 1);
	CHECK_EQ_INT(printed[3], 0);
	CHECK_EQ_INT(printed[4], 0);
	CHECK_EQ_INT(printed[5], 1);
	CHECK_EQ_INT(printed[6], 1);
	CHECK_EQ_INT(count_lines(out), 6);
	CHECK_STR(line_msg(out, 0, buf, sizeof(buf)), "event 1");
	CHECK_STR(line_msg(out, 2, buf, sizeof(buf)), "event 3");
	CHECK_STR(line_msg(out, 3, buf, sizeof(buf)),
		  "(2 similar messages suppressed in the last 1000 ms)");
	CHECK_STR(line_msg(out, 4, buf, sizeof(buf)), "event 6");
	CHECK_STR(line_msg(out, 5, buf, sizeof(buf)), "event 7");
	CHECK_NOT_CONTAINS(out, "event 4");
	CHECK_NOT_CONTAINS(out, "event 5");
	free(out);
}

static void
log_limited_report_only_once(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(100, 1);
	char *out, buf[256];

	capture_begin();
	log_limited(&rl, 1000, LOG_WARN, "a");
	for (int i = 0; i < 10; i++)
		log_limited(&rl, 1001 + (uint64_t)i, LOG_WARN, "a");
	log_limited(&rl, 1100, LOG_WARN, "b");	/* window 2: report 10, then b */
	log_limited(&rl, 1200, LOG_WARN, "c");	/* window 3: nothing suppressed */
	log_limited(&rl, 5000, LOG_WARN, "d");
	out = capture_end();
	CHECK_EQ_INT(count_lines(out), 5);
	CHECK_STR(line_msg(out, 1, buf, sizeof(buf)), "(10 similar messages suppressed in the last 100 ms)");
	CHECK_STR(line_msg(out, 2, buf, sizeof(buf)), "b");
	CHECK_STR(line_msg(out, 3, buf, sizeof(buf)), "c");
	CHECK_STR(line_msg(out, 4, buf, sizeof(buf)), "d");
	free(out);
}

static void
log_limited_quiet_window_has_no_report(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 5);
	char *out;

	capture_begin();
	for (int w = 0; w < 4; w++)
		for (int i = 0; i < 5; i++)
			CHECK_EQ_INT(log_limited(&rl, 10000 + (uint64_t)w * 1000 + (uint64_t)i, LOG_WARN, "x"), 1);
	out = capture_end();
	CHECK_EQ_INT(count_lines(out), 20);
	CHECK_NOT_CONTAINS(out, "suppressed");
	free(out);
}

static void
log_limited_clock_going_back_starts_a_window(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 1);
	char *out;

	capture_begin();
	CHECK_EQ_INT(log_limited(&rl, 50000, LOG_WARN, "a"), 1);
	CHECK_EQ_INT(log_limited(&rl, 50001, LOG_WARN, "b"), 0);
	CHECK_EQ_INT(log_limited(&rl, 100, LOG_WARN, "c"), 1);	/* earlier than the window */
	out = capture_end();
	CHECK_CONTAINS(out, "(1 similar messages suppressed");
	free(out);
}

static void
log_limited_returns_zero_when_level_hides_it(void)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000, 5);
	char *out;
	int rc;

	log_set_level(LOG_WARN);
	capture_begin();
	rc = log_limited(&rl, 1000, LOG_DEBUG, "hidden");
	out = capture_end();
	log_set_level(LOG_INFO);
	CHECK_EQ_INT(count_lines(out), 0);
	CHECK_EQ_INT(rc, 0);	/* log.h: "Returns 1 if printed" */
	free(out);
}

CHECK_MAIN(
	CHECK_TEST(log_level_names_round_trip),
	CHECK_TEST(log_lws_mask_follows_level),
	CHECK_TEST(log_mask_without_secrets_copies),
	CHECK_TEST(log_mask_registered_secret),
	CHECK_TEST(log_mask_url_encoded_form),
	CHECK_TEST(log_mask_token_query_value),
	CHECK_TEST(log_mask_adjacent_occurrences),
	CHECK_TEST(log_mask_overlapping_occurrences_of_one_secret),
	CHECK_TEST(log_mask_secret_that_extends_another),
	CHECK_TEST(log_mask_secrets_that_overlap),
	CHECK_TEST(log_mask_truncates_to_dstlen),
	CHECK_TEST(log_mask_ignores_empty_secret),
	CHECK_TEST(log_add_secret_n_uses_len),
	CHECK_TEST(log_clear_secrets_forgets),
	CHECK_TEST(log_many_secrets_all_masked),
	CHECK_TEST(log_line_format),
	CHECK_TEST(log_level_filters_lines),
	CHECK_TEST(log_msg_masks_secrets_and_tokens),
	CHECK_TEST(log_msg_folds_newlines),
	CHECK_TEST(log_long_line_does_not_leak_a_cut_secret),
	CHECK_TEST(log_limited_burst_then_suppress_then_report),
	CHECK_TEST(log_limited_report_only_once),
	CHECK_TEST(log_limited_quiet_window_has_no_report),
	CHECK_TEST(log_limited_clock_going_back_starts_a_window),
	CHECK_TEST(log_limited_returns_zero_when_level_hides_it))
