/* test_query.c: the query-string parser: whole-name matching, percent
 * decoding and its errors, names given twice, and exact buffer bounds.
 * Every query is copied into an exact-size heap buffer first, so ASan sees
 * any read past its end. */
#include "query.h"
#include "check.h"

/* query_get on a heap copy of q (no NUL after it). */
static long
get(const char *q, const char *name, char *out, size_t cap)
{
	size_t n = strlen(q);
	char *c = calloc(n ? n : 1, 1);	/* zeroed: n may be 0 */
	long r;

	memcpy(c, q, n);
	r = query_get(c, n, name, out, cap);
	free(c);
	return r;
}

static long
decode(const char *s, char *out, size_t cap)
{
	size_t n = strlen(s);
	char *c = calloc(n ? n : 1, 1);	/* zeroed: n may be 0 */
	long r;

	memcpy(c, s, n);
	r = query_decode(c, n, out, cap);
	free(c);
	return r;
}

static void
query_whole_name_only(void)
{
	char out[64];

	CHECK_EQ_INT(get("access_token=abc", "access_token", out, sizeof(out)), 3);
	CHECK_STR(out, "abc");
	/* a longer name ending in the wanted one is another argument */
	CHECK_EQ_INT(get("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaccess_token=x", "access_token", out,
			 sizeof(out)), QUERY_ABSENT);
	CHECK_STR(out, "");
	/* so is one that starts with it */
	CHECK_EQ_INT(get("access_tokenX=x", "access_token", out, sizeof(out)), QUERY_ABSENT);
	CHECK_EQ_INT(get("access_tokenX=x&access_token=y", "access_token", out, sizeof(out)), 1);
	CHECK_STR(out, "y");
	CHECK_EQ_INT(get("access_toke=x", "access_token", out, sizeof(out)), QUERY_ABSENT);
	/* names are case-sensitive */
	CHECK_EQ_INT(get("Access_Token=x", "access_token", out, sizeof(out)), QUERY_ABSENT);
}

static void
query_name_without_equals(void)
{
	char out[16];

	CHECK_EQ_INT(get("a=1&flag&b=2", "flag", out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(get("a=1&flag&b=2", "b", out, sizeof(out)), 1);
	CHECK_STR(out, "2");
	/* "flag=" is the same empty value */
	CHECK_EQ_INT(get("flag=", "flag", out, sizeof(out)), 0);
	/* nothing fits in a zero-byte buffer, not even "" */
	CHECK_EQ_INT(get("flag", "flag", out, 0), QUERY_TOO_LONG);
}

static void
query_name_twice(void)
{
	char out[16];

	strcpy(out, "junk");
	CHECK_EQ_INT(get("since=1&since=2", "since", out, sizeof(out)), QUERY_BAD);
	CHECK_STR(out, "");
	/* even with the same value, and with one of them without '=' */
	CHECK_EQ_INT(get("since=1&x=0&since=1", "since", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("since&since=1", "since", out, sizeof(out)), QUERY_BAD);
	/* the same name spelled with an escape is the same name */
	CHECK_EQ_INT(get("since=1&sinc%65=2", "since", out, sizeof(out)), QUERY_BAD);
	/* a different argument given twice does not matter */
	CHECK_EQ_INT(get("x=1&x=2&since=5", "since", out, sizeof(out)), 1);
	CHECK_STR(out, "5");
}

static void
query_escape_in_name_and_value(void)
{
	char out[16];

	CHECK_EQ_INT(get("%41=%42c", "A", out, sizeof(out)), 2);
	CHECK_STR(out, "Bc");
	CHECK_EQ_INT(get("%61ccess_token=t%6Fk", "access_token", out, sizeof(out)), 3);
	CHECK_STR(out, "tok");
	/* lower-case hex digits too */
	CHECK_EQ_INT(get("x=%2f%2F", "x", out, sizeof(out)), 2);
	CHECK_STR(out, "//");
	/* an escaped '&' or '=' is data, not a separator */
	CHECK_EQ_INT(get("x=a%26b%3Dc&y=1", "x", out, sizeof(out)), 5);
	CHECK_STR(out, "a&b=c");
	CHECK_EQ_INT(get("a%3Db=1", "a=b", out, sizeof(out)), 1);
	/* bytes above 0x7f pass through */
	CHECK_EQ_INT(get("x=%C3%A9", "x", out, sizeof(out)), 2);
	CHECK_STR(out, "\xc3\xa9");
}

static void
query_bad_escapes(void)
{
	char out[16];

	strcpy(out, "junk");
	CHECK_EQ_INT(get("x=%zz", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_STR(out, "");
	CHECK_EQ_INT(get("x=%4", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("x=%4g", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("x=ab%", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("x=%00", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("x=a%00b", "x", out, sizeof(out)), QUERY_BAD);
	/* a query that ends in '%' */
	CHECK_EQ_INT(get("x=1&y=%", "y", out, sizeof(out)), QUERY_BAD);
	/* a bad value of another argument is not this one's problem */
	CHECK_EQ_INT(get("x=1&y=%", "x", out, sizeof(out)), 1);
	CHECK_STR(out, "1");
	/* but a bad name is: it might have been the wanted one */
	CHECK_EQ_INT(get("x=1&%zz=2", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("x=1&%", "x", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("%00=1&x=1", "x", out, sizeof(out)), QUERY_BAD);
	/* a raw NUL is refused like %00 */
	{
		const char q[] = { 'x', '=', 'a', '\0', 'b' };

		CHECK_EQ_INT(query_get(q, sizeof(q), "x", out, sizeof(out)), QUERY_BAD);
	}
}

static void
query_plus_is_space(void)
{
	char out[16];

	CHECK_EQ_INT(get("q=a+b++", "q", out, sizeof(out)), 5);
	CHECK_STR(out, "a b  ");
	CHECK_EQ_INT(get("my+name=1", "my name", out, sizeof(out)), 1);
	/* an escaped '+' stays a '+' */
	CHECK_EQ_INT(get("q=%2B", "q", out, sizeof(out)), 1);
	CHECK_STR(out, "+");
}

static void
query_cap_exact_and_one_over(void)
{
	char out[8];

	memset(out, 'Z', sizeof(out));
	/* 7 bytes and the NUL: exactly 8 */
	CHECK_EQ_INT(get("t=1234567", "t", out, sizeof(out)), 7);
	CHECK_STR(out, "1234567");
	memset(out, 'Z', sizeof(out));
	CHECK_EQ_INT(get("t=12345678", "t", out, sizeof(out)), QUERY_TOO_LONG);
	CHECK_STR(out, "");
	/* the decoded length counts, not the encoded one */
	CHECK_EQ_INT(get("t=%31%32%33%34%35%36%37", "t", out, sizeof(out)), 7);
	CHECK_STR(out, "1234567");
	CHECK_EQ_INT(get("t=%31%32%33%34%35%36%37%38", "t", out, sizeof(out)), QUERY_TOO_LONG);
	/* a bad escape past the end of what fits is still reported as bad */
	CHECK_EQ_INT(get("t=12345678%zz", "t", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(get("t=", "t", out, 1), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(get("t=1", "t", out, 1), QUERY_TOO_LONG);
	CHECK_EQ_INT(get("t=", "t", out, 0), QUERY_TOO_LONG);
}

static void
query_empty_and_ampersands(void)
{
	char out[8];
	struct query_item it;
	size_t pos = 0;

	CHECK_EQ_INT(get("", "x", out, sizeof(out)), QUERY_ABSENT);
	CHECK_EQ_INT(query_get(NULL, 0, "x", out, sizeof(out)), QUERY_ABSENT);
	CHECK_EQ_INT(query_next(NULL, 0, &pos, &it), 0);
	CHECK_EQ_INT(get("&&", "x", out, sizeof(out)), QUERY_ABSENT);
	CHECK_EQ_INT(get("&&x=1&&", "x", out, sizeof(out)), 1);
	CHECK_STR(out, "1");
	/* an empty name is an item of its own, not the wanted one */
	CHECK_EQ_INT(get("=1&x=2", "x", out, sizeof(out)), 1);
	CHECK_EQ_INT(get("=1", "", out, sizeof(out)), 1);
}

static void
query_equals_inside_value(void)
{
	char out[32];

	CHECK_EQ_INT(get("channels=a=b=c&x=1", "channels", out, sizeof(out)), 5);
	CHECK_STR(out, "a=b=c");
	CHECK_EQ_INT(get("x==", "x", out, sizeof(out)), 1);
	CHECK_STR(out, "=");
}

static void
query_next_items(void)
{
	const char q[] = "&a=1&&b&=c&d=e=f&";
	struct query_item it;
	size_t pos = 0;

	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 1);
	CHECK_MEM(it.name, it.name_len, "a", 1);
	CHECK_MEM(it.value, it.value_len, "1", 1);
	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 1);
	CHECK_MEM(it.name, it.name_len, "b", 1);
	CHECK(it.value == NULL);
	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 1);
	CHECK_EQ_UINT(it.name_len, 0);
	CHECK_MEM(it.value, it.value_len, "c", 1);
	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 1);
	CHECK_MEM(it.name, it.name_len, "d", 1);
	CHECK_MEM(it.value, it.value_len, "e=f", 3);
	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 0);
	CHECK_EQ_INT(query_next(q, strlen(q), &pos, &it), 0);
	/* a length shorter than the text: nothing past it is read */
	pos = 0;
	CHECK_EQ_INT(query_next(q, 3, &pos, &it), 1);
	CHECK_MEM(it.name, it.name_len, "a", 1);
	CHECK_EQ_UINT(it.value_len, 0);
	CHECK(it.value != NULL);
	CHECK_EQ_INT(query_next(q, 3, &pos, &it), 0);
}

static void
query_decode_direct(void)
{
	char out[8];

	CHECK_EQ_INT(decode("", out, sizeof(out)), 0);
	CHECK_STR(out, "");
	CHECK_EQ_INT(decode("a%20b+c", out, sizeof(out)), 5);
	CHECK_STR(out, "a b c");
	CHECK_EQ_INT(decode("", out, 0), QUERY_TOO_LONG);
	strcpy(out, "junk");
	CHECK_EQ_INT(decode("%", out, sizeof(out)), QUERY_BAD);
	CHECK_STR(out, "");
	CHECK_EQ_INT(decode("%%41", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(decode("%+1", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(decode("%-1", out, sizeof(out)), QUERY_BAD);
	CHECK_EQ_INT(decode("%ff", out, sizeof(out)), 1);
	CHECK_EQ_UINT((unsigned char)out[0], 0xff);
	/* the span ends inside an escape: the bytes after it do not count */
	CHECK_EQ_INT(query_decode("%41", 2, out, sizeof(out)), QUERY_BAD);
}

static void
query_teardown_clean(void)
{
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(query_whole_name_only),
	CHECK_TEST(query_name_without_equals),
	CHECK_TEST(query_name_twice),
	CHECK_TEST(query_escape_in_name_and_value),
	CHECK_TEST(query_bad_escapes),
	CHECK_TEST(query_plus_is_space),
	CHECK_TEST(query_cap_exact_and_one_over),
	CHECK_TEST(query_empty_and_ampersands),
	CHECK_TEST(query_equals_inside_value),
	CHECK_TEST(query_next_items),
	CHECK_TEST(query_decode_direct),
	CHECK_TEST(query_teardown_clean))
