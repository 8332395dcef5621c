/* query.h: the query string of a request target, read exactly.
 *
 * One parser for every argument the relay reads (access_token, since,
 * epoch, channels, ...): names are compared whole (no prefix match),
 * both names and values are percent-decoded, '+' stands for a space,
 * and nothing is ever read past the end of the given span. A malformed
 * escape, an encoded NUL, a value that does not fit, or a name given
 * twice is an error the caller answers with 400, never a guess. */
#ifndef UWRELAY_QUERY_H
#define UWRELAY_QUERY_H

#include <stddef.h>

enum {
	QUERY_ABSENT = -1,	/* no argument of that name */
	QUERY_BAD = -2,		/* malformed escape, %00 or a raw NUL, or the name is there twice */
	QUERY_TOO_LONG = -3,	/* the decoded value does not fit in cap - 1 bytes */
};

/* One raw "name[=value]" item of a query, as spans into the query text
 * (not decoded). value is NULL when the item has no '='. */
struct query_item {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Iterates the items of q[0..len) (the text after '?', without any
 * '#fragment'). *pos starts at 0. Empty items ("a=1&&b=2") are skipped.
 * Returns 1 and fills *it, or 0 when there are no more items. */
int query_next(const char *q, size_t len, size_t *pos, struct query_item *it);

/* Percent-decodes s[0..n) into out (NUL-terminated, cap bytes including
 * the NUL); '+' becomes ' '. Returns the decoded length, QUERY_BAD for a
 * bad escape, %00 or a raw NUL (checked over all of s, so it wins over
 * too long), QUERY_TOO_LONG if it does not fit (always when cap is 0).
 * On error out holds "" (when cap > 0). */
long query_decode(const char *s, size_t n, char *out, size_t cap);

/* The value of the argument whose decoded name is exactly `name`,
 * decoded into out (cap bytes including the NUL; "" for an item without
 * '='). Returns its length, QUERY_ABSENT, QUERY_BAD (also when the name
 * appears more than once, or any item's name has a bad escape), or
 * QUERY_TOO_LONG. On any error out holds "" (never a partial value). */
long query_get(const char *q, size_t len, const char *name, char *out, size_t cap);

#endif
