/* restbody.c: row spans of a {"data":[...]} answer. */
#include <stdlib.h>
#include <string.h>
#include "json_scan.h"
#include "restbody.h"

/* Walks the members of the object at p (must be '{'); calls fn(key, value)
 * for each; returns the end of the object, or NULL if it is not valid. */
static const char *
members(const char *p, const char *end,
	int (*fn)(struct span key, struct span val, void *arg), void *arg)
{
	int esc;

	if (p >= end || *p != '{')
		return NULL;
	p = json_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		struct span k, v;
		const char *q;

		esc = 0;
		q = json_skip_string(p, end, &esc);
		if (!q)
			return NULL;
		k.p = p + 1;
		k.len = (size_t)(q - p) - 2;
		if (esc)
			k.len = 0;	/* an escaped key matches nothing we look for */
		p = json_ws(q, end);
		if (p >= end || *p != ':')
			return NULL;
		p = json_ws(p + 1, end);
		q = json_skip_value(p, end);
		if (!q)
			return NULL;
		v.p = p;
		v.len = (size_t)(q - p);
		if (fn && fn(k, v, arg))
			return NULL;
		p = json_ws(q, end);
		if (p < end && *p == ',') {
			p = json_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			return p + 1;
		return NULL;
	}
}

struct find {
	const char *name;
	struct span val;
	int found;
};

static int
find_cb(struct span k, struct span v, void *arg)
{
	struct find *f = arg;

	if (!f->found && k.len == strlen(f->name) && !memcmp(k.p, f->name, k.len)) {
		f->val = v;
		f->found = 1;
	}
	return 0;
}

int
restbody_field(struct span row, const char *field, struct span *val)
{
	struct find f = { field, { NULL, 0 }, 0 };

	if (!members(row.p, row.p + row.len, find_cb, &f) || !f.found)
		return -1;
	*val = f.val;
	if (val->len >= 2 && val->p[0] == '"') {
		val->p++;
		val->len -= 2;
	}
	return 0;
}

int
restbody_rows(const char *buf, size_t len, struct span **rows, size_t *n, const char **err)
{
	const char *end = buf + len, *p;
	struct find f = { "data", { NULL, 0 }, 0 };
	struct span *arr = NULL;
	size_t cnt = 0, cap = 0;

	*rows = NULL;
	*n = 0;
	p = json_ws(buf, end);
	p = members(p, end, find_cb, &f);
	if (!p || json_ws(p, end) != end) {
		*err = "not a JSON object";
		return -1;
	}
	if (!f.found || f.val.p[0] != '[') {
		*err = "no \"data\" array";
		return -1;
	}
	p = json_ws(f.val.p + 1, f.val.p + f.val.len);
	end = f.val.p + f.val.len - 1;	/* the closing ']' */
	while (p < end) {
		const char *q = json_skip_value(p, end);

		if (!q || *p != '{') {
			free(arr);
			*err = "a row is not a JSON object";
			return -1;
		}
		if (cnt == RESTBODY_MAX_ROWS) {
			free(arr);
			*err = "too many rows";
			return -1;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct span *na = realloc(arr, nc * sizeof(*na));

			if (!na) {
				free(arr);
				*err = "out of memory";
				return -1;
			}
			arr = na;
			cap = nc;
		}
		arr[cnt].p = p;
		arr[cnt++].len = (size_t)(q - p);
		p = json_ws(q, end);
		if (p < end && *p == ',')
			p = json_ws(p + 1, end);
	}
	*rows = arr;
	*n = cnt;
	return 0;
}
