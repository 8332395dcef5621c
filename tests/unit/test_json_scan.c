/* test_json_scan.c: the validating JSON skipper (RFC 8259, UTF-8 checked). */
#include "json_scan.h"
#include "check.h"

/* json_valid on exactly n bytes copied to the heap, so ASan catches any
 * read past the end */
static int
jvn(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);
	int ok;

	memcpy(b, s, n);
	ok = json_valid(b, n);
	free(b);
	return ok;
}

#define CHECK_VALID(s)                                                                \
	do {                                                                          \
		if (!jvn((s), sizeof(s) - 1)) {                                       \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fputs("expected valid: ", stdout);                            \
			check_print_bytes((s), sizeof(s) - 1);                        \
			fputc('\n', stdout);                                          \
		}                                                                     \
	} while (0)

#define CHECK_INVALID(s)                                                              \
	do {                                                                          \
		if (jvn((s), sizeof(s) - 1)) {                                        \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fputs("expected invalid: ", stdout);                          \
			check_print_bytes((s), sizeof(s) - 1);                        \
			fputc('\n', stdout);                                          \
		}                                                                     \
	} while (0)

static void
json_every_value_type(void)
{
	CHECK_VALID("{}");
	CHECK_VALID("[]");
	CHECK_VALID("\"\"");
	CHECK_VALID("\"abc\"");
	CHECK_VALID("0");
	CHECK_VALID("-1");
	CHECK_VALID("3.25");
	CHECK_VALID("true");
	CHECK_VALID("false");
	CHECK_VALID("null");
	CHECK_VALID("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"},\"f\":-0.5e3}");
	CHECK_VALID("[1,\"two\",{\"three\":3},[4],null,true,false]");
}

static void
json_whitespace_around_and_inside(void)
{
	CHECK_VALID(" \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n\r\t ");
	CHECK_VALID("[ ]");
	CHECK_VALID("{ }");
	CHECK_VALID("[\n1\n]");
	CHECK_INVALID("");
	CHECK_INVALID("   ");
	CHECK_INVALID("\f1");		/* form feed is not JSON whitespace */
	CHECK_INVALID("1\v");
	CHECK_INVALID("[1,\xc2\xa0" "2]");	/* nor is U+00A0 */
}

static void
json_trailing_garbage_rejected(void)
{
	CHECK_INVALID("{} x");
	CHECK_INVALID("{}}");
	CHECK_INVALID("[]]");
	CHECK_INVALID("1 2");
	CHECK_INVALID("\"a\" \"b\"");
	CHECK_INVALID("truex");
	CHECK_INVALID("null,");
	CHECK_INVALID("{}\0");
	CHECK_INVALID("[1]\0");
}

static void
json_structural_errors_rejected(void)
{
	CHECK_INVALID("{");
	CHECK_INVALID("[");
	CHECK_INVALID("}");
	CHECK_INVALID("]");
	CHECK_INVALID("[1,]");
	CHECK_INVALID("[,1]");
	CHECK_INVALID("[1 2]");
	CHECK_INVALID("[1,,2]");
	CHECK_INVALID("{\"a\":1,}");
	CHECK_INVALID("{,\"a\":1}");
	CHECK_INVALID("{\"a\" 1}");
	CHECK_INVALID("{\"a\":}");
	CHECK_INVALID("{\"a\"}");
	CHECK_INVALID("{a:1}");
	CHECK_INVALID("{1:1}");
	CHECK_INVALID("{'a':1}");
	CHECK_INVALID("{\"a\":1 \"b\":2}");
	CHECK_INVALID("[1}");
	CHECK_INVALID("{\"a\":1]");
	CHECK_INVALID("[{]}");
	CHECK_INVALID("[\"a\":1]");
}

static void
json_literals(void)
{
	CHECK_INVALID("tru");
	CHECK_INVALID("True");
	CHECK_INVALID("nul");
	CHECK_INVALID("NULL");
	CHECK_INVALID("fals");
	CHECK_INVALID("nan");
	CHECK_INVALID("NaN");
	CHECK_INVALID("Infinity");
	CHECK_INVALID("-Infinity");
	CHECK_INVALID("undefined");
	CHECK_INVALID("[tru]");
	CHECK_INVALID("[truex]");
}

static void
json_numbers(void)
{
	CHECK_VALID("0");
	CHECK_VALID("-0");
	CHECK_VALID("10");
	CHECK_VALID("1234567890");
	CHECK_VALID("0.5");
	CHECK_VALID("-0.0");
	CHECK_VALID("1e5");
	CHECK_VALID("1E5");
	CHECK_VALID("1e+5");
	CHECK_VALID("1e-5");
	CHECK_VALID("1.5e10");
	CHECK_VALID("-1.25E-007");
	CHECK_VALID("0e0");
	CHECK_VALID("123456789012345678901234567890");

	CHECK_INVALID("01");		/* leading zeros */
	CHECK_INVALID("-01");
	CHECK_INVALID("00");
	CHECK_INVALID("[01]");
	CHECK_INVALID("{\"a\":00}");
	CHECK_INVALID("1.");
	CHECK_INVALID("[1.]");
	CHECK_INVALID(".5");
	CHECK_INVALID("-");
	CHECK_INVALID("[-]");
	CHECK_INVALID("-.5");
	CHECK_INVALID("+1");
	CHECK_INVALID("1e");
	CHECK_INVALID("1e+");
	CHECK_INVALID("1E-");
	CHECK_INVALID("[1e]");
	CHECK_INVALID("1.e5");
	CHECK_INVALID("1e5.5");
	CHECK_INVALID("0x10");
	CHECK_INVALID("1_000");
	CHECK_INVALID("- 1");
	CHECK_INVALID("1.5.5");
}

static void
json_string_escapes(void)
{
	CHECK_VALID("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"");
	CHECK_VALID("\"\\u0041\\u00e9\\u00E9\\uFFFF\"");
	CHECK_VALID("\"\\ud83d\\ude00\"");	/* a surrogate pair, escaped */
	CHECK_INVALID("\"\\x41\"");
	CHECK_INVALID("\"\\a\"");
	CHECK_INVALID("\"\\'\"");
	CHECK_INVALID("\"\\U0041\"");
	CHECK_INVALID("\"\\u00G1\"");
	CHECK_INVALID("\"\\u12\"");		/* too few hex digits */
	CHECK_INVALID("\"\\u");
	CHECK_INVALID("\"\\u123");
	CHECK_INVALID("\"\\");
	CHECK_INVALID("\"\\\"");		/* the escaped quote does not close */
	CHECK_INVALID("\"abc");
	CHECK_INVALID("\"");
}

static void
json_string_control_chars_rejected(void)
{
	CHECK_INVALID("\"a\nb\"");
	CHECK_INVALID("\"a\tb\"");
	CHECK_INVALID("\"a\rb\"");
	CHECK_INVALID("\"a\x01" "b\"");
	CHECK_INVALID("\"a\x1f" "b\"");
	CHECK_INVALID("\"a\0b\"");
	CHECK_VALID("\"a\x7f" "b\"");		/* DEL is allowed */
}

static void
json_valid_utf8_accepted(void)
{
	CHECK_VALID("\"caf\xc3\xa9\"");			/* U+00E9 */
	CHECK_VALID("\"\xc2\x80\"");			/* U+0080, smallest 2-byte */
	CHECK_VALID("\"\xdf\xbf\"");			/* U+07FF */
	CHECK_VALID("\"\xe0\xa0\x80\"");		/* U+0800, smallest 3-byte */
	CHECK_VALID("\"\xe2\x82\xac\"");		/* euro sign */
	CHECK_VALID("\"\xed\x9f\xbf\"");		/* U+D7FF, just below surrogates */
	CHECK_VALID("\"\xee\x80\x80\"");		/* U+E000, just above */
	CHECK_VALID("\"\xef\xbf\xbf\"");		/* U+FFFF */
	CHECK_VALID("\"\xf0\x90\x80\x80\"");		/* U+10000 */
	CHECK_VALID("\"\xf0\x9f\x98\x80\"");		/* emoji */
	CHECK_VALID("\"\xf4\x8f\xbf\xbf\"");		/* U+10FFFF */
	CHECK_VALID("{\"k\xc3\xa9y\":\"v\xe2\x82\xac\"}");	/* in keys too */
}

static void
json_overlong_utf8_rejected(void)
{
	CHECK_INVALID("\"\xc0\x80\"");			/* overlong NUL */
	CHECK_INVALID("\"\xc0\xaf\"");			/* overlong '/' */
	CHECK_INVALID("\"\xc1\xbf\"");
	CHECK_INVALID("\"\xe0\x80\x80\"");
	CHECK_INVALID("\"\xe0\x9f\xbf\"");		/* overlong U+07FF */
	CHECK_INVALID("\"\xf0\x80\x80\x80\"");
	CHECK_INVALID("\"\xf0\x8f\xbf\xbf\"");		/* overlong U+FFFF */
}

static void
json_surrogates_in_utf8_rejected(void)
{
	CHECK_INVALID("\"\xed\xa0\x80\"");		/* U+D800 */
	CHECK_INVALID("\"\xed\xbf\xbf\"");		/* U+DFFF */
	CHECK_INVALID("\"\xed\xa0\xbd\xed\xb8\x80\"");	/* CESU-8 pair */
}

static void
json_out_of_range_and_stray_bytes_rejected(void)
{
	CHECK_INVALID("\"\xf4\x90\x80\x80\"");		/* U+110000 */
	CHECK_INVALID("\"\xf5\x80\x80\x80\"");
	CHECK_INVALID("\"\xf8\x88\x80\x80\x80\"");	/* 5-byte form */
	CHECK_INVALID("\"\xfe\"");
	CHECK_INVALID("\"\xff\"");
	CHECK_INVALID("\"\x80\"");			/* lone continuation */
	CHECK_INVALID("\"\xbf\"");
	CHECK_INVALID("\"a\x80" "b\"");
	CHECK_INVALID("[\xc3\xa9]");			/* non-ASCII outside strings */
}

static void
json_truncated_utf8_rejected(void)
{
	CHECK_INVALID("\"\xc3\"");			/* quote where continuation expected */
	CHECK_INVALID("\"\xe2\x82\"");
	CHECK_INVALID("\"\xf0\x9f\x98\"");
	CHECK_INVALID("\"\xe2" "a\xac\"");
	/* cut by the end of the buffer */
	CHECK_INVALID("\"\xc3");
	CHECK_INVALID("\"\xe2\x82");
	CHECK_INVALID("\"\xf0\x9f\x98");
}

/* "[[[...]]]" with n levels, in a heap buffer of exactly its length */
static int
nested_valid(int n, char open, char close)
{
	char *b = malloc((size_t)n * 2);
	int ok;

	memset(b, open, (size_t)n);
	memset(b + n, close, (size_t)n);
	ok = json_valid(b, (size_t)n * 2);
	free(b);
	return ok;
}

/* {"a":{"a":...{}...}} with n objects */
static int
nested_objects_valid(int n)
{
	size_t cap = (size_t)n * 6 + 4, len = 0;
	char *b = malloc(cap);
	int ok;

	for (int i = 0; i < n - 1; i++) {
		memcpy(b + len, "{\"a\":", 5);
		len += 5;
	}
	b[len++] = '{';
	for (int i = 0; i < n; i++)
		b[len++] = '}';
	ok = json_valid(b, len);
	free(b);
	return ok;
}

static void
json_depth_limit(void)
{
	CHECK(nested_valid(1, '[', ']'));
	CHECK(nested_valid(JSON_MAX_DEPTH, '[', ']'));
	CHECK(!nested_valid(JSON_MAX_DEPTH + 1, '[', ']'));
	CHECK(!nested_valid(100000, '[', ']'));
	CHECK(nested_objects_valid(JSON_MAX_DEPTH));
	CHECK(!nested_objects_valid(JSON_MAX_DEPTH + 1));
}

/* [{"x":[{"x":...}]}] alternating arrays and objects, depth levels exactly */
static int
nested_mixed_valid(int depth)
{
	char s[1024];
	size_t n = 0;

	for (int d = 0; d < depth; d++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s",
				      d % 2 == 0 ? "[" : d == depth - 1 ? "{" : "{\"x\":");
	for (int d = depth - 1; d >= 0; d--)
		s[n++] = d % 2 ? '}' : ']';
	return json_valid(s, n);
}

static void
json_depth_limit_mixed_containers(void)
{
	CHECK(nested_mixed_valid(2));
	CHECK(nested_mixed_valid(JSON_MAX_DEPTH - 1));
	CHECK(nested_mixed_valid(JSON_MAX_DEPTH));
	CHECK(!nested_mixed_valid(JSON_MAX_DEPTH + 1));
}

static void
json_siblings_do_not_accumulate_depth(void)
{
	char s[4096];
	size_t n = 0;

	/* many sibling containers at depth 2 are fine */
	s[n++] = '[';
	for (int i = 0; i < 500; i++) {
		memcpy(s + n, "[],", 3);
		n += 3;
	}
	memcpy(s + n, "{}]", 3);
	n += 3;
	CHECK(json_valid(s, n));
}

static void
json_depth_not_counted_inside_strings(void)
{
	char s[512];
	size_t n = 0;

	s[n++] = '"';
	for (int i = 0; i < 200; i++)
		s[n++] = '[';
	s[n++] = '"';
	CHECK(json_valid(s, n));
}

static void
json_skip_value_returns_end_of_value(void)
{
	const char *t = "[1, {\"a\": \"]\"}] tail";
	const char *e = t + strlen(t);
	const char *p = json_skip_value(t, e);

	CHECK(p != NULL);
	CHECK_STR(p, " tail");
	t = "\"x\\\"y\",1";
	p = json_skip_value(t, t + strlen(t));
	CHECK_STR(p, ",1");
	t = "-12.5e3]";
	p = json_skip_value(t, t + strlen(t));
	CHECK_STR(p, "]");
	t = "true}";
	p = json_skip_value(t, t + strlen(t));
	CHECK_STR(p, "}");
	/* one value only: "01" skips the "0" */
	t = "01";
	p = json_skip_value(t, t + 2);
	CHECK(p == t + 1);
	/* it does not skip leading whitespace */
	t = " 1";
	CHECK(json_skip_value(t, t + 2) == NULL);
	CHECK(json_skip_value(t, t) == NULL);
}

static void
json_skip_value_respects_end(void)
{
	const char *t = "[1,2]";

	CHECK(json_skip_value(t, t + 4) == NULL);	/* "[1,2" */
	CHECK(json_skip_value(t, t + 5) == t + 5);
	t = "truex";
	CHECK(json_skip_value(t, t + 3) == NULL);	/* "tru" */
	CHECK(json_skip_value(t, t + 4) == t + 4);
	t = "123";
	CHECK(json_skip_value(t, t + 2) == t + 2);	/* "12" */
}

static void
json_skip_string_escape_flag(void)
{
	const char *t = "\"plain\" rest";
	int esc = 0;
	const char *p = json_skip_string(t, t + strlen(t), &esc);

	CHECK_STR(p, " rest");
	CHECK_EQ_INT(esc, 0);
	t = "\"a\\nb\"";
	p = json_skip_string(t, t + strlen(t), &esc);
	CHECK(p == t + strlen(t));
	CHECK_EQ_INT(esc, 1);
	t = "\"\\u0041\"";
	esc = 0;
	p = json_skip_string(t, t + strlen(t), &esc);
	CHECK(p == t + strlen(t));
	CHECK_EQ_INT(esc, 1);
	/* NULL flag pointer is accepted */
	CHECK(json_skip_string(t, t + strlen(t), NULL) == t + strlen(t));
}

static void
json_skip_string_rejects_non_strings(void)
{
	const char *t = "abc\"";
	int esc = 0;

	CHECK(json_skip_string(t, t + 4, &esc) == NULL);
	t = "\"abc";
	CHECK(json_skip_string(t, t + 4, &esc) == NULL);
	CHECK(json_skip_string(t, t, &esc) == NULL);
	t = "\"ab\"";
	CHECK(json_skip_string(t, t + 3, &esc) == NULL);	/* closing quote beyond end */
}

static void
json_ws_skips_only_json_whitespace(void)
{
	const char *t = " \t\r\nx";

	CHECK(json_ws(t, t + 5) == t + 4);
	CHECK(json_ws(t, t + 2) == t + 2);
	CHECK(json_ws(t, t) == t);
	t = "\f";
	CHECK(json_ws(t, t + 1) == t);
}

static void
json_uw_frames_valid(void)
{
	CHECK_VALID("[\"price:SPY\",{\"close\":\"562.82\",\"time\":1726670327692,\"vol\":6015555}]");
	CHECK_VALID("[\"news\",{\"headline\":\"US Energy Secretary\",\"timestamp\":\"2025-06-11T21:40:56Z\","
		    "\"source\":\"social-media\",\"tickers\":[],\"is_trump_ts\":false}]");
	CHECK_VALID("[\"option_trades\",{\"response\":{},\"status\":\"ok\"}]");
}

/* The block scan (16 or 8 bytes at a time) must stop at a quote,
 * backslash, control or non-ASCII byte wherever it sits in the block, and
 * never read past the end. Each case in an exact-size heap copy. */
static void
json_string_block_scan_every_offset(void)
{
	static const struct {
		const char *ins;	/* put at offset k of a run of 'a's */
		int ok;
		int esc;
	} cases[] = {
		{ "\\n", 1, 1 }, { "\\u00e9", 1, 1 }, { "\xc3\xa9", 1, 0 }, { "\xe2\x82\xac", 1, 0 },
		{ "\x01", 0, 0 }, { "\x1f", 0, 0 }, { "\xff", 0, 0 }, { "\xc3", 0, 0 }, { "\\x", 0, 0 },
		{ "\x7f", 1, 0 }, { " ", 1, 0 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t k = 0; k < 40; k++)
			for (size_t tail = 0; tail < 20; tail += 19) {
				size_t il = strlen(cases[c].ins), n = 1 + k + il + tail + 1;
				char *b = malloc(n);
				const char *end;
				int esc = 0;

				b[0] = '"';
				memset(b + 1, 'a', k);
				memcpy(b + 1 + k, cases[c].ins, il);
				memset(b + 1 + k + il, 'b', tail);
				b[n - 1] = '"';
				end = json_skip_string(b, b + n, &esc);
				if (cases[c].ok ? end != b + n || esc != cases[c].esc : end != NULL) {
					printf("  case %zu at offset %zu, tail %zu\n", c, k, tail);
					CHECK(0);
				}
				/* without its closing quote it is never a string */
				CHECK(json_skip_string(b, b + n - 1, NULL) == NULL);
				free(b);
			}
	/* a quote inside a block ends the string there */
	for (size_t k = 0; k < 40; k++) {
		char b[64];

		memset(b, 'x', sizeof(b));
		b[0] = '"';
		b[1 + k] = '"';
		CHECK(json_skip_string(b, b + sizeof(b), NULL) == b + 2 + k);
	}
}

CHECK_MAIN(
	CHECK_TEST(json_string_block_scan_every_offset),
	CHECK_TEST(json_every_value_type),
	CHECK_TEST(json_whitespace_around_and_inside),
	CHECK_TEST(json_trailing_garbage_rejected),
	CHECK_TEST(json_structural_errors_rejected),
	CHECK_TEST(json_literals),
	CHECK_TEST(json_numbers),
	CHECK_TEST(json_string_escapes),
	CHECK_TEST(json_string_control_chars_rejected),
	CHECK_TEST(json_valid_utf8_accepted),
	CHECK_TEST(json_overlong_utf8_rejected),
	CHECK_TEST(json_surrogates_in_utf8_rejected),
	CHECK_TEST(json_out_of_range_and_stray_bytes_rejected),
	CHECK_TEST(json_truncated_utf8_rejected),
	CHECK_TEST(json_depth_limit),
	CHECK_TEST(json_depth_limit_mixed_containers),
	CHECK_TEST(json_siblings_do_not_accumulate_depth),
	CHECK_TEST(json_depth_not_counted_inside_strings),
	CHECK_TEST(json_skip_value_returns_end_of_value),
	CHECK_TEST(json_skip_value_respects_end),
	CHECK_TEST(json_skip_string_escape_flag),
	CHECK_TEST(json_skip_string_rejects_non_strings),
	CHECK_TEST(json_ws_skips_only_json_whitespace),
	CHECK_TEST(json_uw_frames_valid))
