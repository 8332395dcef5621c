/* jsonref.c: the fuzz oracles' own reading of JSON (see jsonref.h). It
 * shares no code with json_scan.c: structure is cJSON's, and the rules
 * cJSON does not check are written here from the RFCs (UTF-8 from Unicode's
 * table of well-formed byte sequences, numbers from RFC 8259's grammar as a
 * regular expression). */
#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include "jsonref.h"

int
jsonref_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

cJSON *
jsonref_parse(const char *in, size_t len)
{
	char *p = malloc(len ? len : 1);
	const char *end = NULL;
	cJSON *v;

	if (!p)
		abort();
	memcpy(p, in, len);
	/* escapes of surrogates become "\u0041" in the copy, which changes no
	 * structure (same length, still hex digits) */
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && i + 5 < len && (p[i + 2] | 0x20) == 'd' &&
		    p[i + 3] && strchr("89abcdefABCDEF", p[i + 3]))
			memcpy(p + i + 2, "0041", 4);
		i++;	/* the escaped character: "\\u" is no escape of u */
	}
	/* cJSON alone stops at the end of the first value */
	v = cJSON_ParseWithLengthOpts(p, len, &end, 0);
	if (v) {
		while (end < p + len && jsonref_ws(*end))
			end++;
		if (end != p + len) {
			cJSON_Delete(v);
			v = NULL;
		}
	}
	free(p);
	return v;
}

/* The length of the well-formed UTF-8 sequence at s (first byte >= 0x80),
 * or 0: no overlong form, no surrogate, nothing past U+10FFFF. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* 1 if the backslash at s[0] starts a valid escape. */
static int
escape_ok(const unsigned char *s, size_t n)
{
	if (n < 2)
		return 0;
	if (s[1] != 'u')
		return s[1] && strchr("\"\\/bfnrt", s[1]);
	return n >= 6 && isxdigit(s[2]) && isxdigit(s[3]) && isxdigit(s[4]) && isxdigit(s[5]);
}

/* 1 if s[0..n) is an RFC 8259 number. */
static int
rfc_number(const char *s, size_t n)
{
	static regex_t re;
	static int compiled;
	char *z = malloc(n + 1);
	int ok;

	if (!compiled) {
		if (regcomp(&re, "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$",
			    REG_EXTENDED | REG_NOSUB))
			abort();
		compiled = 1;
	}
	if (!z)
		abort();
	memcpy(z, s, n);
	z[n] = 0;
	ok = regexec(&re, z, 0, NULL, 0) == 0;
	free(z);
	return ok;
}

void
jsonref_lex(const char *in, size_t len, struct jsonref_lex *lx)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, k;
	int depth = 0;

	memset(lx, 0, sizeof(*lx));
	lx->strict = 1;
	lx->str_start = lx->str_end = lx->comma = lx->last = -1;
	while (i < len) {
		unsigned char c = s[i];

		if (!jsonref_ws((char)c))
			lx->last = (long)i;
		if (c == '"') {
			size_t start = i++;
			int esc = 0;

			while (i < len && s[i] != '"') {
				if (s[i] == '\\') {
					esc = 1;
					if (!escape_ok(s + i, len - i))
						lx->strict = 0;
					i += 2;
				} else if (s[i] < 0x20) {
					lx->strict = 0;
					i++;
				} else if (s[i] < 0x80) {
					i++;
				} else if ((k = utf8_len(s + i, len - i))) {
					i += k;
				} else {
					lx->strict = 0;
					i++;
				}
			}
			if (i > len)
				i = len;	/* a backslash was the last byte */
			else if (i < len)
				i++;		/* the closing quote */
			for (k = i; k < len && jsonref_ws((char)s[k]); k++)
				;
			if (esc && k < len && s[k] == ':')
				lx->key_escapes = 1;
			if (lx->str_start < 0) {
				lx->str_start = (long)start;
				lx->str_end = (long)i;
			}
			lx->last = (long)i - 1;
			continue;
		}
		/* cJSON reads a number as the longest run of these bytes */
		if (c == '-' || (c >= '0' && c <= '9')) {
			k = i;
			while (i < len && s[i] && strchr("0123456789+-.eE", s[i]))
				i++;
			if (!rfc_number(in + k, i - k))
				lx->strict = 0;
			lx->last = (long)i - 1;
			continue;
		}
		if (c == '[' || c == '{') {
			if (++depth > lx->depth)
				lx->depth = depth;
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c == ',' && depth == 1 && lx->comma < 0) {
			lx->comma = (long)i;
		} else if (c >= 0x80 || (c < 0x20 && !jsonref_ws((char)c))) {
			lx->strict = 0;
		}
		i++;
	}
}
