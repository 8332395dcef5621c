/* restbody: row spans and fields of UW REST answers. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "json_scan.h"
#include "restbody.h"

static int
span_is(struct span s, const char *text)
{
	return s.len == strlen(text) && !memcmp(s.p, text, s.len);
}

static void
restbody_rows_are_exact_slices(void)
{
	const char *b = " {\"meta\":{\"n\":2}, \"data\": [ {\"id\":\"a\",\"x\":[1,{\"y\":2}]} ,\n{\"id\":7, \"n\":\"caf\xc3\xa9\"} ] }\n";
	struct span *rows;
	size_t n;
	const char *err = NULL;

	CHECK_EQ_INT(restbody_rows(b, strlen(b), &rows, &n, &err), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK(span_is(rows[0], "{\"id\":\"a\",\"x\":[1,{\"y\":2}]}"));
		CHECK(span_is(rows[1], "{\"id\":7, \"n\":\"caf\xc3\xa9\"}"));
		CHECK(json_valid(rows[0].p, rows[0].len));
	}
	free(rows);
}

static void
restbody_empty_data(void)
{
	struct span *rows = (struct span *)1;
	size_t n = 9;
	const char *err;

	CHECK_EQ_INT(restbody_rows("{\"data\":[]}", 11, &rows, &n, &err), 0);
	CHECK_EQ_INT(n, 0);
	free(rows);
}

static void
restbody_malformed_answers(void)
{
	static const char *const bad[] = {
		"", "nope", "[]", "{\"data\":\"nope\"}", "{\"data\":[1,2]}", "{\"data\":[{}, 3]}",
		"{\"rows\":[]}", "{\"data\":[{}]", "{\"data\":[{}]} trailing", "{\"data\":[{\"a\":}]}",
		"{\"data\":[{\"a\":\"\xff\"}]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct span *rows = NULL;
		size_t n = 0;
		const char *err = NULL;

		CHECK_EQ_INT(restbody_rows(bad[i], strlen(bad[i]), &rows, &n, &err), -1);
		CHECK(err != NULL);
		CHECK(rows == NULL);
	}
}

static void
restbody_field_values(void)
{
	struct span row = { "{\"id\":\"u-1\",\"n\":42,\"o\":{\"id\":\"inner\"},\"e\":\"\"}", 0 }, v;

	row.len = strlen(row.p);
	CHECK_EQ_INT(restbody_field(row, "id", &v), 0);
	CHECK(span_is(v, "u-1"));
	CHECK_EQ_INT(restbody_field(row, "n", &v), 0);
	CHECK(span_is(v, "42"));
	CHECK_EQ_INT(restbody_field(row, "o", &v), 0);
	CHECK(span_is(v, "{\"id\":\"inner\"}"));
	CHECK_EQ_INT(restbody_field(row, "e", &v), 0);
	CHECK_EQ_INT(v.len, 0);
	CHECK_EQ_INT(restbody_field(row, "missing", &v), -1);
	CHECK_EQ_INT(restbody_field(row, "i", &v), -1);	/* no prefix match */
}

static void
restbody_row_limit(void)
{
	size_t n = RESTBODY_MAX_ROWS + 1, len = 16 + n * 3;
	char *b = malloc(len), *p = b;
	struct span *rows = NULL;
	size_t cnt;
	const char *err = NULL;

	p += sprintf(p, "{\"data\":[");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i ? ",{}" : "{}");
	p += sprintf(p, "]}");
	CHECK_EQ_INT(restbody_rows(b, (size_t)(p - b), &rows, &cnt, &err), -1);
	CHECK_STR(err, "too many rows");
	free(b);
}

CHECK_MAIN(
	CHECK_TEST(restbody_rows_are_exact_slices),
	CHECK_TEST(restbody_empty_data),
	CHECK_TEST(restbody_malformed_answers),
	CHECK_TEST(restbody_field_values),
	CHECK_TEST(restbody_row_limit))
