/* test_httpreq.c: the request-head parser: every status it answers, the
 * size and header-count bounds at their edges, heads arriving a byte at a
 * time, keep-alive rules, and the strict parts of the grammar (obs-fold,
 * NUL, bare CR, repeated Host and Content-Length, target forms). Each head
 * is parsed from an exact-size heap copy, so ASan sees any read past it. */
#include "httpreq.h"
#include "check.h"

#define MAX 4096

/* httpreq_parse on a heap copy of s[0..n). */
static long
parse_n(const char *s, size_t n, size_t max, struct httpreq *r)
{
	char *c = malloc(n ? n : 1);
	long v;

	memcpy(c, s, n);
	v = httpreq_parse(c, n, max, r);
	free(c);
	return v;
}

static long
parse(const char *s, struct httpreq *r)
{
	return parse_n(s, strlen(s), MAX, r);
}

/* Parses s in place (spans stay valid while s does). */
static long
parse_here(const char *s, struct httpreq *r)
{
	return httpreq_parse(s, strlen(s), MAX, r);
}

static void
httpreq_minimal_get(void)
{
	const char *s = "GET /api/stream/ws/flow?access_token=abc&since=5#frag HTTP/1.1\r\n"
			"Host: 127.0.0.1:8080\r\n"
			"User-Agent:  curl/7.88 \r\n"
			"\r\n"
			"body after the head";
	struct httpreq r;
	size_t vl;
	const char *v;

	CHECK_EQ_INT(parse_here(s, &r), (long)(strstr(s, "body") - s));
	CHECK_MEM(r.method, r.method_len, "GET", 3);
	CHECK_MEM(r.target, r.target_len, "/api/stream/ws/flow?access_token=abc&since=5#frag", 49);
	CHECK_MEM(r.path, r.path_len, "/api/stream/ws/flow", 19);
	CHECK_MEM(r.query, r.query_len, "access_token=abc&since=5", 24);
	CHECK_EQ_INT(r.minor, 1);
	CHECK_EQ_INT(r.content_length, -1);
	CHECK_EQ_INT(r.keep_alive, 1);
	CHECK_EQ_INT(r.upgrade_websocket, 0);
	CHECK_EQ_UINT(r.n_headers, 2);
	v = httpreq_header(&r, "host", &vl);
	CHECK_MEM(v, vl, "127.0.0.1:8080", 14);
	/* surrounding spaces trimmed, inner ones kept */
	v = httpreq_header(&r, "USER-AGENT", &vl);
	CHECK_MEM(v, vl, "curl/7.88", 9);
	CHECK(httpreq_header(&r, "accept", &vl) == NULL);
	/* only asking whether a header is there */
	CHECK(httpreq_header(&r, "host", NULL) != NULL);
	CHECK(httpreq_header(&r, "accept", NULL) == NULL);
	CHECK_EQ_UINT(httpreq_header_count(&r, "Host"), 1);
	CHECK_EQ_UINT(httpreq_header_count(&r, "Accept"), 0);
}

static void
httpreq_path_and_query_forms(void)
{
	struct httpreq r;

	CHECK(parse_here("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_MEM(r.path, r.path_len, "/", 1);
	CHECK(r.query == NULL);
	CHECK(parse_here("GET /a? HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_MEM(r.path, r.path_len, "/a", 2);
	CHECK(r.query != NULL);
	CHECK_EQ_UINT(r.query_len, 0);
	CHECK(parse_here("GET /a#x?y HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_MEM(r.path, r.path_len, "/a", 2);
	CHECK(r.query == NULL);
	CHECK(parse_here("GET /a?b?c=d HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_MEM(r.query, r.query_len, "b?c=d", 5);
}

static void
httpreq_statuses_minimal(void)
{
	struct httpreq r;
	struct {
		const char *name, *head;
		long want;
	} cases[] = {
		{ "ok 1.1", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27 },
		{ "ok 1.0 without host", "GET / HTTP/1.0\r\n\r\n", 18 },
		{ "no host in 1.1", "GET / HTTP/1.1\r\n\r\n", -400 },
		{ "no version", "GET /\r\n\r\n", -400 },
		{ "HTTP/0.9 style", "GET / \r\n\r\n", -400 },
		{ "lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "version 1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", -400 },
		{ "two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "tab separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "trailing space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", -400 },
		{ "empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "bad method char", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", -400 },
		{ "space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", -400 },
		{ "empty header name", "GET / HTTP/1.1\r\n: h\r\nHost: h\r\n\r\n", -400 },
		{ "DEL in value", "GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n", -400 },
		{ "control char in value", "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", -400 },
		{ "raw byte in target", "GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", -505 },
		{ "HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", -505 },
		{ "HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", -505 },
		{ "transfer-encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		  -501 },
		{ "transfer-encoding 1.0", "POST / HTTP/1.0\r\ntransfer-encoding: identity\r\n\r\n", -501 },
		{ "content-length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", 48 },
		{ "content-length 0", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 47 },
		{ "content-length 1, 1", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n",
		  -400 },
		{ "content-length twice", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
					  "content-length: 1\r\n\r\n", -400 },
		{ "content-length sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
		  -400 },
		{ "content-length empty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", -400 },
		{ "content-length 19 digits", "POST / HTTP/1.1\r\nHost: h\r\n"
					      "Content-Length: 1000000000000000000\r\n\r\n", -400 },
		{ "content-length 18 digits", "POST / HTTP/1.1\r\nHost: h\r\n"
					      "Content-Length: 999999999999999999\r\n\r\n", 64 },
		{ "host twice", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", -400 },
		{ "host twice 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n", -400 },
		{ "absolute-form", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "authority-form", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 31 },
		{ "GET *", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "OPTIONS *x", "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", -400 },
		{ "obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  b\r\n\r\n", -400 },
		{ "obs-fold tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", -400 },
		{ "space-led first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", -400 },
		{ "bare CR ends nothing", "GET / HTTP/1.1\rHost: h\r\n\r\n", -400 },
		{ "bare CR in value", "GET / HTTP/1.1\r\nHost: h\rx\r\n\r\n", -400 },
		{ "CR CR LF", "GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", -400 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long got = parse(cases[i].head, &r);

		if (got != cases[i].want) {
			printf("  case %s\n", cases[i].name);
			CHECK_EQ_INT(got, cases[i].want);
		}
	}
	CHECK_EQ_INT(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 012\r\n\r\n", &r), 49);
	CHECK_EQ_INT(r.content_length, 12);
	CHECK_EQ_INT(parse_here("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r), 31);
	CHECK_MEM(r.path, r.path_len, "*", 1);
	CHECK(r.query == NULL);
}

static void
httpreq_nul_byte(void)
{
	struct httpreq r;
	const char in_value[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	const char in_name[] = "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n";
	const char in_target[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
	const char in_method[] = "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n";

	CHECK_EQ_INT(parse_n(in_value, sizeof(in_value) - 1, MAX, &r), -400);
	CHECK_EQ_INT(parse_n(in_name, sizeof(in_name) - 1, MAX, &r), -400);
	CHECK_EQ_INT(parse_n(in_target, sizeof(in_target) - 1, MAX, &r), -400);
	CHECK_EQ_INT(parse_n(in_method, sizeof(in_method) - 1, MAX, &r), -400);
}

static void
httpreq_tabs_in_values(void)
{
	const char *s = "GET / HTTP/1.1\r\nHost:\th\t\r\nX-List: \ta\tb ,\tc\t\r\n\r\n";
	struct httpreq r;
	size_t vl;
	const char *v;

	CHECK(parse_here(s, &r) > 0);
	v = httpreq_header(&r, "host", &vl);
	CHECK_MEM(v, vl, "h", 1);
	v = httpreq_header(&r, "x-list", &vl);
	CHECK_MEM(v, vl, "a\tb ,\tc", 7);
	CHECK(httpreq_has_token(&r, "x-list", "c"));
	CHECK(httpreq_has_token(&r, "x-list", "a\tb"));
	CHECK(!httpreq_has_token(&r, "x-list", "a"));
}

static void
httpreq_lf_only(void)
{
	const char *s = "GET /x HTTP/1.1\nHost: h\nConnection: close\n\nrest";
	struct httpreq r;
	size_t vl;

	CHECK_EQ_INT(parse_here(s, &r), (long)(strlen(s) - 4));
	CHECK_MEM(r.path, r.path_len, "/x", 2);
	CHECK_MEM(httpreq_header(&r, "host", &vl), vl, "h", 1);
	CHECK_EQ_INT(r.keep_alive, 0);
	/* mixed endings */
	CHECK_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\n\r\n", &r), 26);
	CHECK_EQ_INT(parse("GET / HTTP/1.1\nHost: h\r\n\n", &r), 25);
}

static void
httpreq_leading_empty_lines(void)
{
	struct httpreq r;

	/* RFC 9112 2.2: empty lines before the request line are skipped */
	CHECK_EQ_INT(parse_here("\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 30);
	CHECK_MEM(r.method, r.method_len, "GET", 3);
	CHECK_EQ_INT(parse("\r\n\r\n", &r), 0);
}

/* Every prefix of a head gives 0, the whole head its result, and the
 * same fields as parsed in one piece. */
static void
check_every_split(const char *s, long want)
{
	size_t n = strlen(s);
	struct httpreq whole, part;
	long got;

	CHECK_EQ_INT(parse_n(s, n, MAX, &whole), want);
	for (size_t k = 0; k < n; k++) {
		char *c = malloc(k ? k : 1);

		memcpy(c, s, k);
		got = httpreq_parse(c, k, MAX, &part);
		free(c);
		if (got != (want > 0 && (size_t)want <= k ? want : 0)) {
			printf("  prefix of %zu bytes of %s\n", k, s);
			CHECK_EQ_INT(got, want);
			return;
		}
	}
	if (want > 0) {
		/* same fields once complete, as offsets into the text */
		CHECK_EQ_INT(httpreq_parse(s, n, MAX, &part), want);
		CHECK_EQ_INT(httpreq_parse(s, (size_t)want, MAX, &whole), want);
		CHECK(part.method == whole.method && part.target_len == whole.target_len);
		CHECK_EQ_UINT(part.n_headers, whole.n_headers);
		CHECK_EQ_INT(part.keep_alive, whole.keep_alive);
		CHECK_EQ_INT(part.upgrade_websocket, whole.upgrade_websocket);
	}
}

static void
httpreq_split_at_every_byte(void)
{
	check_every_split("GET /a?b=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\n\r\n", 73);
	check_every_split("GET / HTTP/1.0\n\n", 16);
	check_every_split("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 29);
	check_every_split("GET / HTTP/1.1\r\nHost h\r\n\r\n", -400);
	check_every_split("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", -501);
	check_every_split("GET / HTTP/3.0\r\n\r\n", -505);
}

/* A head of exactly `total` bytes: request line, padding header, blank. */
static char *
head_of(size_t total)
{
	const char *start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t fixed = strlen(start) + 4;	/* "\r\n\r\n" */
	char *s = malloc(total + 1);

	memcpy(s, start, strlen(start));
	memset(s + strlen(start), 'p', total - fixed);
	memcpy(s + total - 4, "\r\n\r\n", 5);
	return s;
}

static void
httpreq_max_and_max_plus_one(void)
{
	struct httpreq r;
	char *s = head_of(1000);

	CHECK_EQ_UINT(strlen(s), 1000);
	CHECK_EQ_INT(parse_n(s, 1000, 1000, &r), 1000);
	/* more bytes after the head do not matter */
	{
		char *t = malloc(1200);

		memcpy(t, s, 1000);
		memset(t + 1000, 'x', 200);
		CHECK_EQ_INT(httpreq_parse(t, 1200, 1000, &r), 1000);
		free(t);
	}
	free(s);
	s = head_of(1001);
	CHECK_EQ_INT(parse_n(s, 1001, 1000, &r), -431);
	/* 999 bytes of it: incomplete, still under max */
	CHECK_EQ_INT(parse_n(s, 999, 1000, &r), 0);
	/* 1000 bytes of it, no blank line: it can only get too long */
	CHECK_EQ_INT(parse_n(s, 1000, 1000, &r), -431);
	free(s);
}

static void
httpreq_long_line(void)
{
	struct httpreq r;
	char *s = head_of(8192 + 200);
	/* the X-Pad line: "X-Pad: " + padding */
	size_t line = 8192 + 200 - strlen("GET / HTTP/1.1\r\nHost: h\r\n") - 4;

	CHECK(line > 8192);
	CHECK_EQ_INT(parse_n(s, strlen(s), 65536, &r), -431);
	free(s);
	s = head_of(8192 + strlen("GET / HTTP/1.1\r\nHost: h\r\n") + 4);
	CHECK_EQ_INT(parse_n(s, strlen(s), 65536, &r), (long)strlen(s));	/* 8192 exactly */
	free(s);
}

/* A request with n headers X-<i>: v after Host (n counts Host). */
static char *
with_headers(unsigned n)
{
	char *s = malloc(64 + (size_t)n * 16), *p = s;

	p += sprintf(p, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (unsigned i = 1; i < n; i++)
		p += sprintf(p, "X-%u: v\r\n", i);
	sprintf(p, "\r\n");
	return s;
}

static void
httpreq_48_and_49_headers(void)
{
	struct httpreq r;
	char *s = with_headers(48);
	size_t vl;

	CHECK_EQ_INT(parse(s, &r), (long)strlen(s));
	CHECK_EQ_UINT(r.n_headers, 48);
	free(s);
	s = with_headers(49);
	CHECK_EQ_INT(parse(s, &r), -431);
	free(s);
	/* the last of 48 is found */
	s = with_headers(48);
	CHECK(parse_here(s, &r) > 0);
	CHECK_MEM(httpreq_header(&r, "x-47", &vl), vl, "v", 1);
	free(s);
}

static void
httpreq_keep_alive_rules(void)
{
	struct {
		const char *head;
		int keep;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection:  Keep-Alive \r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nKeep-Alive: 1\r\n\r\n", 0 },
	};
	struct httpreq r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(parse(cases[i].head, &r) > 0);
		if (r.keep_alive != cases[i].keep) {
			printf("  head %s\n", cases[i].head);
			CHECK_EQ_INT(r.keep_alive, cases[i].keep);
		}
	}
}

static void
httpreq_upgrade_flag(void)
{
	struct httpreq r;

	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
		    "Connection: keep-alive, Upgrade\r\n\r\n", &r) > 0);
	CHECK_EQ_INT(r.upgrade_websocket, 1);
	CHECK_EQ_INT(r.keep_alive, 1);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &r) > 0);
	CHECK_EQ_INT(r.upgrade_websocket, 0);
	CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", &r) > 0);
	CHECK_EQ_INT(r.upgrade_websocket, 0);
}

static void
httpreq_list_tokens(void)
{
	CHECK(httpreq_list_has("a, b,c", 6, "b"));
	CHECK(httpreq_list_has("a, b,c", 6, "C"));
	CHECK(!httpreq_list_has("a, b,c", 5, "c"));	/* the span ends before it */
	CHECK(!httpreq_list_has("ab", 2, "a"));
	CHECK(!httpreq_list_has("", 0, ""));
	CHECK(httpreq_list_has(",,\t x \t,,", 9, "x"));
}

static void
httpreq_teardown_clean(void)
{
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(httpreq_minimal_get),
	CHECK_TEST(httpreq_path_and_query_forms),
	CHECK_TEST(httpreq_statuses_minimal),
	CHECK_TEST(httpreq_nul_byte),
	CHECK_TEST(httpreq_tabs_in_values),
	CHECK_TEST(httpreq_lf_only),
	CHECK_TEST(httpreq_leading_empty_lines),
	CHECK_TEST(httpreq_split_at_every_byte),
	CHECK_TEST(httpreq_max_and_max_plus_one),
	CHECK_TEST(httpreq_long_line),
	CHECK_TEST(httpreq_48_and_49_headers),
	CHECK_TEST(httpreq_keep_alive_rules),
	CHECK_TEST(httpreq_upgrade_flag),
	CHECK_TEST(httpreq_list_tokens),
	CHECK_TEST(httpreq_teardown_clean))
