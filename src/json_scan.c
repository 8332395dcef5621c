/* json_scan.c: validate-and-skip JSON, no allocation, bounded depth.
 *
 * The upstream path runs this over every frame, so it is one forward pass
 * with an ASCII fast path in strings. Depth is tracked with an explicit
 * counter rather than recursion limits of the C stack. */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "hexdigit.h"
#include "json_scan.h"

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

const char *
json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Validates one UTF-8 sequence starting at p (first byte >= 0x80).
 * Returns its length, or 0 if invalid (overlong, surrogate, > U+10FFFF). */
static int
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	int n;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (end - p < n)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

const char *
json_skip_string(const char *p, const char *end, int *has_escape)
{
	const unsigned char *s = (const unsigned char *)p + 1, *e = (const unsigned char *)end;

	if (p >= end || *p != '"')
		return NULL;
	while (s < e) {
		unsigned char c;

		/* plain bytes in blocks: the first byte that is '"', '\\', a
		 * control character or non-ASCII ends the block */
#if defined(__SSE2__)
		while (e - s >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
			/* signed compare: bytes >= 0x80 are negative, so below 0x20 too */
			__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
							      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
						 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			unsigned mask = (unsigned)_mm_movemask_epi8(m);

			if (mask) {
				s += __builtin_ctz(mask);
				break;
			}
			s += 16;
		}
#endif
		while (e - s >= 8) {
			uint64_t w, q, b;

			memcpy(&w, s, 8);
			q = w ^ ONES * '"';
			b = w ^ ONES * '\\';
			/* may also flag a byte after a real hit: the byte code
			 * below sorts that out */
			if ((((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w) & HIGHS)
				break;
			s += 8;
		}
		if (s >= e)
			break;
		c = *s;

		if (c == '"')
			return (const char *)s + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (has_escape)
				*has_escape = 1;
			if (++s >= e)
				return NULL;
			switch (*s) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				s++;
				break;
			case 'u':
				if (e - s < 5 || hexdigit_value(s[1]) < 0 || hexdigit_value(s[2]) < 0 ||
				    hexdigit_value(s[3]) < 0 || hexdigit_value(s[4]) < 0)
					return NULL;
				s += 5;
				break;
			default:
				return NULL;
			}
			continue;
		}
		if (c < 0x80) {
			s++;
			continue;
		}
		int n = utf8_seq(s, e);
		if (!n)
			return NULL;
		s += n;
	}
	return NULL;
}

static const char *
skip_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p;
}

static const char *
skip_literal(const char *p, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - p) < n)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (p[i] != lit[i])
			return NULL;
	return p + n;
}

/* Scalars are skipped directly; containers with an explicit stack of
 * open brackets (one bit each: object or array). */
const char *
json_skip_value(const char *p, const char *end)
{
	unsigned char stack[JSON_MAX_DEPTH];
	int depth = 0;

	for (;;) {
		/* here a value is expected */
		if (p >= end)
			return NULL;
		switch (*p) {
		case '{':
		case '[':
			if (depth == JSON_MAX_DEPTH)
				return NULL;
			stack[depth++] = (unsigned char)*p;
			p = json_ws(p + 1, end);
			if (p < end && *p == (stack[depth - 1] == '{' ? '}' : ']')) {
				p++;
				depth--;
				goto after_value;
			}
			if (stack[depth - 1] == '{')
				goto member_key;
			continue;
		case '"':
			p = json_skip_string(p, end, NULL);
			break;
		case 't':
			p = skip_literal(p, end, "true", 4);
			break;
		case 'f':
			p = skip_literal(p, end, "false", 5);
			break;
		case 'n':
			p = skip_literal(p, end, "null", 4);
			break;
		default:
			p = skip_number(p, end);
			break;
		}
		if (!p)
			return NULL;
after_value:
		if (depth == 0)
			return p;
		p = json_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == ',') {
			p = json_ws(p + 1, end);
			if (stack[depth - 1] == '{')
				goto member_key;
			continue;
		}
		if (*p == (stack[depth - 1] == '{' ? '}' : ']')) {
			p++;
			depth--;
			goto after_value;
		}
		return NULL;
member_key:
		if (p >= end || *p != '"')
			return NULL;
		p = json_skip_string(p, end, NULL);
		if (!p)
			return NULL;
		p = json_ws(p, end);
		if (p >= end || *p != ':')
			return NULL;
		p = json_ws(p + 1, end);
	}
}

int
json_valid(const char *p, size_t len)
{
	const char *end = p + len;

	p = json_ws(p, end);
	p = json_skip_value(p, end);
	if (!p)
		return 0;
	return json_ws(p, end) == end;
}
