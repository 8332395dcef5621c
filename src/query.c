/* query.c: the query string of a request target, read exactly (see query.h).
 *
 * Everything works on spans of the caller's text and never allocates: a
 * name is compared with the wanted one while it is decoded, so a long
 * junk name costs a pass over its bytes and no buffer. query_get reads
 * the whole query every time (to see a name given twice); queries are
 * bounded by the request head, a few KiB. */
#include <string.h>
#include "hexdigit.h"
#include "query.h"

int
query_next(const char *q, size_t len, size_t *pos, struct query_item *it)
{
	size_t i = *pos;

	while (i < len && q[i] == '&')
		i++;
	if (i >= len) {
		*pos = len;
		return 0;
	}
	{
		const char *amp = memchr(q + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - q) : len;
		const char *eq = memchr(q + i, '=', end - i);

		it->name = q + i;
		if (eq) {
			it->name_len = (size_t)(eq - (q + i));
			it->value = eq + 1;
			it->value_len = end - (size_t)(eq + 1 - q);
		} else {
			it->name_len = end - i;
			it->value = NULL;
			it->value_len = 0;
		}
		*pos = end;
	}
	return 1;
}

/* The byte at s[*i] decoded, *i moved past it; -1 for a bad escape, %00
 * or a raw NUL (a NUL would cut the value short for every C reader after
 * us, so it is refused rather than passed on). */
static int
decode_one(const char *s, size_t n, size_t *i)
{
	char c = s[*i];

	if (c == '\0')
		return -1;
	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return (unsigned char)c;
	}
	if (n - *i < 3)
		return -1;
	{
		int hi = hexdigit_value(s[*i + 1]), lo = hexdigit_value(s[*i + 2]), v;

		if (hi < 0 || lo < 0)
			return -1;
		v = hi << 4 | lo;
		if (!v)
			return -1;
		*i += 3;
		return v;
	}
}

long
query_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	int too_long = cap == 0;

	/* a bad escape anywhere wins over "too long": the request is
	 * malformed whatever the buffer size, so go on to the end */
	while (i < n) {
		int c = decode_one(s, n, &i);

		if (c < 0) {
			if (cap)
				out[0] = '\0';
			return QUERY_BAD;
		}
		if (o + 1 < cap)
			out[o] = (char)c;
		else
			too_long = 1;
		o++;
	}
	if (too_long) {
		if (cap)
			out[0] = '\0';
		return QUERY_TOO_LONG;
	}
	out[o] = '\0';
	return (long)o;
}

/* 1 if s[0..n) decodes to exactly name, 0 if not, -1 for a bad escape. */
static int
name_is(const char *s, size_t n, const char *name)
{
	size_t i = 0, k = 0;
	int same = 1;

	while (i < n) {
		int c = decode_one(s, n, &i);

		if (c < 0)
			return -1;
		if (same && (unsigned char)name[k] == c)
			k++;
		else
			same = 0;
	}
	return same && name[k] == '\0';
}

long
query_get(const char *q, size_t len, const char *name, char *out, size_t cap)
{
	struct query_item it, found = { 0 };
	size_t pos = 0;
	int n_found = 0;

	if (cap)
		out[0] = '\0';
	while (query_next(q, len, &pos, &it)) {
		int m = name_is(it.name, it.name_len, name);

		if (m < 0)
			return QUERY_BAD;
		if (m) {
			if (++n_found > 1)
				return QUERY_BAD;
			found = it;
		}
	}
	if (!n_found)
		return QUERY_ABSENT;
	if (!found.value) {
		if (!cap)
			return QUERY_TOO_LONG;
		return 0;
	}
	return query_decode(found.value, found.value_len, out, cap);
}
