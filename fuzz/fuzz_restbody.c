/* libFuzzer target: UW REST answers (REST-polled channels).
 *
 * The oracle judges every input with cJSON and jsonref_lex (jsonref.h),
 * never with json_scan.c, which restbody.c reads answers with:
 * - valid (restbody.h, json_scan.h): the whole input is one JSON object
 *   (JSON whitespace around it) whose member "data" is an array of at most
 *   RESTBODY_MAX_ROWS objects, in strict JSON, nested at most JSON_MAX_DEPTH
 *   deep below the outer object;
 * - restbody_rows accepts exactly the valid answers, and gives an error
 *   reason and no rows otherwise. Where a member name is escaped this is
 *   only checked one way: restbody.c finds "data" by its raw name, cJSON by
 *   its decoded one, so an accepted answer must then be valid JSON only;
 * - the rows are spans inside the input, in order, one per element of
 *   "data", each the text of that element;
 * - restbody_field(row, "id") finds the row's first "id" member, its value
 *   the member's (a string's raw content, without quotes). */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json_scan.h"
#include "jsonref.h"
#include "restbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() unless text[0..len) is JSON printing as want does. */
static void
check_same(const char *text, size_t len, const cJSON *want)
{
	cJSON *got = jsonref_parse(text, len);
	char *a = got ? cJSON_PrintUnformatted(got) : NULL;
	char *b = cJSON_PrintUnformatted(want);

	/* printed, not cJSON_Compare: that looks object members up by name, so
	 * an object with a repeated name would not equal itself */
	if (!a || !b || strcmp(a, b))
		abort();
	cJSON_free(a);
	cJSON_free(b);
	cJSON_Delete(got);
}

/* abort() unless restbody_field(row, "id") agrees with cJSON's reading. */
static void
check_id(struct span row, const cJSON *obj)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	struct span v;
	int found = !restbody_field(row, "id", &v);

	if (found != (id != NULL))
		abort();
	if (!found)
		return;
	if (v.p < row.p || v.p + v.len > row.p + row.len)
		abort();
	if (!cJSON_IsString(id))
		check_same(v.p, v.len, id);
	else if (!memchr(v.p, '\\', v.len) &&
		 (strlen(id->valuestring) != v.len || memcmp(id->valuestring, v.p, v.len)))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly `size` bytes, so any over-read is caught */
	char *buf = malloc(size ? size : 1);
	struct span *rows;
	struct jsonref_lex lx;
	cJSON *whole, *arr, *row;
	size_t n, i;
	const char *err = NULL;
	int valid, ok;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	whole = jsonref_parse(buf, size);
	jsonref_lex(buf, size, &lx);
	arr = cJSON_IsObject(whole) ? cJSON_GetObjectItemCaseSensitive(whole, "data") : NULL;
	valid = cJSON_IsArray(arr) && lx.strict && lx.depth <= JSON_MAX_DEPTH + 1 &&
		cJSON_GetArraySize(arr) <= RESTBODY_MAX_ROWS;
	if (valid)
		cJSON_ArrayForEach(row, arr)
			if (!cJSON_IsObject(row))
				valid = 0;
	ok = !restbody_rows(buf, size, &rows, &n, &err);
	if (lx.key_escapes) {
		/* only one way, and about the JSON alone (see the top) */
		if (ok && (!cJSON_IsObject(whole) || !lx.strict || lx.depth > JSON_MAX_DEPTH + 1))
			abort();
		for (i = 0; ok && i < n; i++)
			if (rows[i].p < buf || rows[i].p + rows[i].len > buf + size || rows[i].p[0] != '{')
				abort();
		goto out;
	}
	if (ok != valid)
		abort();
	if (!ok) {
		if (!err || rows || n)
			abort();
		goto out;
	}
	if (n != (size_t)cJSON_GetArraySize(arr))
		abort();
	i = 0;
	cJSON_ArrayForEach(row, arr) {
		if (rows[i].p < (i ? rows[i - 1].p + rows[i - 1].len : buf) ||
		    rows[i].p + rows[i].len > buf + size)
			abort();
		check_same(rows[i].p, rows[i].len, row);
		check_id(rows[i], row);
		i++;
	}
out:
	if (ok)
		free(rows);
	cJSON_Delete(whole);
	free(buf);
	return 0;
}
