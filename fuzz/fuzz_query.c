/* libFuzzer target: the query-string parser (query.c). The input is a
 * query. Invariants: query_next's items lie inside the query, in order,
 * and put back together with '&' give the query without its empty items;
 * query_decode and query_get agree with a plain reference written here
 * (for every name in the query, that name with a byte more or less, and
 * "access_token", at several buffer sizes); a value handed out is
 * NUL-terminated at its length and holds no NUL; on error out is "". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ITEMS 4	/* names looked up per input: each lookup is O(query) */
#define NAME_CAP 512
/* The reference code here is not what is being fuzzed: without coverage
 * hooks in it the target runs about twice as fast. */
#define NOT_FUZZED __attribute__((no_sanitize("coverage")))

/* Reference percent-decoder: -2 bad (escape, %00, raw NUL), else the
 * decoded length; writes all of it to out (room for n bytes). */
NOT_FUZZED static long
ref_decode(const char *s, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0')
			return -2;
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] != '%') {
			out[o++] = s[i];
		} else {
			const char *h, *l;
			int v;

			if (n - i < 3)
				return -2;
			h = s[i + 1] ? strchr(hex, s[i + 1]) : NULL;
			l = s[i + 2] ? strchr(hex, s[i + 2]) : NULL;
			if (!h || !l)
				return -2;
			v = (int)((h - hex) % 16) * 16 + (int)((l - hex) % 16);
			if (!v)
				return -2;
			out[o++] = (char)v;
			i += 2;
		}
	}
	return (long)o;
}

/* Reference lookup over q[0..len): -1 absent, -2 bad, -3 too long, else
 * the length (value in out, cap bytes with the NUL). */
NOT_FUZZED static long
ref_get(const char *q, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), i = 0;
	long found = -1;
	int count = 0;
	char *tmp = malloc(len + 1);
	const char *val = NULL;
	size_t val_len = 0;

	while (i <= len) {
		size_t j = i, eq;

		while (j < len && q[j] != '&')
			j++;
		if (j > i) {
			long dn;

			eq = i;
			while (eq < j && q[eq] != '=')
				eq++;
			dn = ref_decode(q + i, eq - i, tmp);
			if (dn < 0) {
				free(tmp);
				return -2;
			}
			if ((size_t)dn == nl && !memcmp(tmp, name, nl)) {
				count++;
				val = eq < j ? q + eq + 1 : q + j;
				val_len = eq < j ? j - eq - 1 : 0;
			}
		}
		i = j + 1;
	}
	if (count > 1)
		found = -2;
	else if (count == 1) {
		found = ref_decode(val, val_len, tmp);
		if (found >= 0 && (size_t)found + 1 > cap)
			found = -3;
		if (found >= 0) {
			memcpy(out, tmp, (size_t)found);
			out[found] = '\0';
		}
	}
	free(tmp);
	return found;
}

/* query_get against ref_get for name at buffer size cap; returns what
 * query_get returned. */
static long
check_get(const char *q, size_t len, const char *name, size_t cap)
{
	char *out = malloc(cap ? cap : 1), *ref = malloc(cap + 1);
	long got = query_get(q, len, name, out, cap), want = ref_get(q, len, name, ref, cap);

	if (got != want)
		abort();
	if (got >= 0 && (memcmp(out, ref, (size_t)got + 1) || strlen(out) != (size_t)got))
		abort();
	if (got < 0 && cap && out[0])
		abort();
	free(out);
	free(ref);
	return got;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = malloc(size ? size : 1), *names[MAX_ITEMS];
	char *joined = malloc(size + 1), *dec = malloc(size + 1), *ref = malloc(size + 1);
	struct query_item it;
	size_t pos = 0, jn = 0, n_names = 0, last_end = 0;
	long want;

	memcpy(q, data, size);
	/* items: in order, inside q, no '&' in them, '=' only in values */
	while (query_next(q, size, &pos, &it)) {
		const char *e = it.value ? it.value + it.value_len : it.name + it.name_len;

		if (it.name < q + last_end || e > q + size || e == it.name || pos > size)
			abort();
		if (memchr(it.name, '&', (size_t)(e - it.name)) ||
		    memchr(it.name, '=', it.name_len))
			abort();
		if (it.value && it.value != it.name + it.name_len + 1)
			abort();
		if (jn)
			joined[jn++] = '&';
		memcpy(joined + jn, it.name, (size_t)(e - it.name));
		jn += (size_t)(e - it.name);
		last_end = (size_t)(e - q);
		if (n_names < MAX_ITEMS && it.name_len < NAME_CAP) {
			char *nm = malloc(it.name_len + 1);
			long d = ref_decode(it.name, it.name_len, nm);

			if (d >= 0) {
				nm[d] = '\0';
				names[n_names++] = nm;
			} else
				free(nm);
		}
	}
	/* put back together: the query's non-empty '&'-separated pieces */
	{
		size_t k = 0;

		for (size_t i = 0; i < size;) {
			size_t j = i;

			while (j < size && q[j] != '&')
				j++;
			if (j > i) {
				if (k && (k >= jn || joined[k++] != '&'))
					abort();
				if (jn - k < j - i || memcmp(joined + k, q + i, j - i))
					abort();
				k += j - i;
			}
			i = j + 1;
		}
		if (k != jn)
			abort();
	}
	/* the decoder against the reference, at every interesting size */
	want = ref_decode(q, size, ref);
	{
		size_t caps[] = { 0, 1, want > 0 ? (size_t)want : 2, want >= 0 ? (size_t)want + 1 : 3,
				  size + 1 };

		for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			long got = query_decode(q, size, dec, caps[c]);

			if (want == -2 ? got != QUERY_BAD
			    : (size_t)want + 1 > caps[c] ? got != QUERY_TOO_LONG
							  : got != want || memcmp(dec, ref, (size_t)want) ||
								    dec[want] != '\0')
				abort();
			if (got < 0 && caps[c] && dec[0])
				abort();
		}
	}
	/* lookups: each name, the same with a byte added or removed */
	for (size_t i = 0; i < n_names; i++) {
		size_t nl = strlen(names[i]);
		char *longer = malloc(nl + 2);

		long v = check_get(q, size, names[i], size + 1);

		/* exact fit, one byte short, nothing */
		if (v >= 0) {
			check_get(q, size, names[i], (size_t)v + 1);
			check_get(q, size, names[i], (size_t)v);
		}
		check_get(q, size, names[i], 0);
		memcpy(longer, names[i], nl);
		memcpy(longer + nl, "X", 2);
		check_get(q, size, longer, size + 1);
		check_get(q, size, longer + 1, size + 1);
		if (nl)
			check_get(q, size, names[i] + 1, size + 1);
		free(longer);
		free(names[i]);
	}
	check_get(q, size, "access_token", 64);
	check_get(q, size, "", 16);
	free(q);
	free(joined);
	free(dec);
	free(ref);
	return 0;
}
