/* httpreq.c: an HTTP/1.x request head, parsed without I/O (see httpreq.h).
 *
 * Grammar from RFC 9112 (message syntax) and RFC 9110 (tokens, fields),
 * read strictly where leniency has been a smuggling or confusion risk
 * elsewhere: one SP between the parts of the request line, no whitespace
 * before a header's colon, no obs-fold, no bare CR, one Content-Length of
 * digits only, one Host. The only leniencies are those RFC 9112 asks of a
 * server: a bare LF ends a line, and empty lines before the request line
 * are skipped.
 *
 * The head is parsed only once its blank line is in the buffer, so a head
 * arriving a byte at a time costs a scan for the blank line per read and
 * one parse; with heads bounded by max (a few KiB) that is cheap, and the
 * result cannot depend on where the reads were cut. */
#include <string.h>
#include <strings.h>
#include "httpreq.h"

/* Longest line (request line or header, without its line ending). */
#define LINE_MAX_BYTES 8192

/* tchar of RFC 9110 5.6.2: what a method or header name is made of. */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP or HTAB: what a header value may hold (RFC 9110 5.5). */
static int
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One line of the head: content [a, b) and where the next one starts. */
struct line {
	const char *a, *b, *next;
};

/* The line starting at p (p < end, and a '\n' lies before end). */
static struct line
line_at(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	struct line l = { p, nl, nl + 1 };

	if (l.b > l.a && l.b[-1] == '\r')
		l.b--;
	return l;
}

/* Offset just past the blank line that ends the head in buf[0..n), or 0
 * if there is none yet. Empty lines before the request line do not end
 * it. */
static size_t
find_end(const char *buf, size_t n)
{
	const char *p = buf, *end = buf + n;
	int started = 0;

	while (p < end && memchr(p, '\n', (size_t)(end - p))) {
		struct line l = line_at(p, end);

		if (l.a == l.b && started)
			return (size_t)(l.next - buf);
		if (l.a != l.b)
			started = 1;
		p = l.next;
	}
	return 0;
}

int
httpreq_list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i < n;) {
		size_t j, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		j = i;
		while (j < n && v[j] != ',')
			j++;
		e = j;
		while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - i == tl && !strncasecmp(v + i, token, tl))
			return 1;
		i = j;
	}
	return 0;
}

static int
name_is(const struct httpreq_hdr *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && !strncasecmp(h->name, name, n);
}

const char *
httpreq_header(const struct httpreq *r, const char *name, size_t *vlen)
{
	for (unsigned i = 0; i < r->n_headers; i++)
		if (name_is(&r->h[i], name)) {
			if (vlen)
				*vlen = r->h[i].value_len;
			return r->h[i].value;
		}
	return NULL;
}

unsigned
httpreq_header_count(const struct httpreq *r, const char *name)
{
	unsigned c = 0;

	for (unsigned i = 0; i < r->n_headers; i++)
		c += (unsigned)name_is(&r->h[i], name);
	return c;
}

int
httpreq_has_token(const struct httpreq *r, const char *name, const char *token)
{
	for (unsigned i = 0; i < r->n_headers; i++)
		if (name_is(&r->h[i], name) &&
		    httpreq_list_has(r->h[i].value, r->h[i].value_len, token))
			return 1;
	return 0;
}

/* The request line [a, b). 0, or a negative status. */
static long
request_line(const char *a, const char *b, struct httpreq *r)
{
	const char *p = a, *v;

	while (p < b && is_tchar((unsigned char)*p))
		p++;
	if (p == a || p == b || *p != ' ')
		return -400;
	r->method = a;
	r->method_len = (size_t)(p - a);
	r->target = ++p;
	while (p < b && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == r->target || p == b || *p != ' ')
		return -400;
	r->target_len = (size_t)(p - r->target);
	v = p + 1;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT; a well-formed other version
	 * is 505, anything else is not HTTP */
	if (b - v != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return -400;
	if (v[5] != '1' || v[7] > '1')
		return -505;
	r->minor = v[7] - '0';
	if (r->target[0] == '*') {
		if (r->target_len != 1 || r->method_len != 7 || memcmp(r->method, "OPTIONS", 7))
			return -400;
		r->path = r->target;
		r->path_len = 1;
		return 0;
	}
	if (r->target[0] != '/')	/* absolute-form and authority-form: not here */
		return -400;
	r->path = r->target;
	while (r->path_len < r->target_len && r->target[r->path_len] != '?' &&
	       r->target[r->path_len] != '#')
		r->path_len++;
	{
		const char *q = r->target + r->path_len, *tend = r->target + r->target_len;

		if (q < tend && *q == '?') {
			const char *hash = memchr(q + 1, '#', (size_t)(tend - q - 1));

			r->query = q + 1;
			r->query_len = (size_t)((hash ? hash : tend) - r->query);
		}
	}
	return 0;
}

/* Content-Length: 1*DIGIT, at most 18 digits (so it fits a long long).
 * Returns the value or -1. */
static long long
content_length(const char *v, size_t n)
{
	long long cl = 0;

	if (!n || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		cl = cl * 10 + (v[i] - '0');
	}
	return cl;
}

long
httpreq_parse(const char *buf, size_t len, size_t max, struct httpreq *r)
{
	size_t hl = find_end(buf, len < max ? len : max);
	const char *p = buf, *end = buf + hl;
	int n_host = 0, te = 0;
	long st;
	struct line l;

	if (!hl)
		return len >= max ? -431 : 0;
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	do
		l = line_at(p, end), p = l.next;
	while (l.a == l.b);
	if (l.b - l.a > LINE_MAX_BYTES)
		return -431;
	if ((st = request_line(l.a, l.b, r)))
		return st;
	for (;;) {
		const char *a, *v, *ve;
		struct httpreq_hdr *h;

		l = line_at(p, end);
		p = l.next;
		if (l.a == l.b)
			break;
		if (l.b - l.a > LINE_MAX_BYTES)
			return -431;
		/* a line starting with whitespace is obs-fold (or, right after
		 * the request line, a header some parsers would drop) */
		a = l.a;
		while (a < l.b && is_tchar((unsigned char)*a))
			a++;
		if (a == l.a || a == l.b || *a != ':')
			return -400;
		for (const char *c = a + 1; c < l.b; c++)
			if (!is_value_char((unsigned char)*c))
				return -400;
		if (r->n_headers == HTTPREQ_MAX_HEADERS)
			return -431;
		v = a + 1;
		while (v < l.b && (*v == ' ' || *v == '\t'))
			v++;
		ve = l.b;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		h = &r->h[r->n_headers++];
		h->name = l.a;
		h->name_len = (size_t)(a - l.a);
		h->value = v;
		h->value_len = (size_t)(ve - v);
		if (name_is(h, "content-length")) {
			if (r->content_length >= 0)
				return -400;
			r->content_length = content_length(v, h->value_len);
			if (r->content_length < 0)
				return -400;
		} else if (name_is(h, "host")) {
			if (++n_host > 1)
				return -400;
		} else if (name_is(h, "transfer-encoding"))
			te = 1;
	}
	if (r->minor == 1 && !n_host)
		return -400;
	if (te)
		return -501;
	if (httpreq_has_token(r, "connection", "close"))
		r->keep_alive = 0;
	else if (r->minor == 1)
		r->keep_alive = 1;
	else
		r->keep_alive = httpreq_has_token(r, "connection", "keep-alive");
	r->upgrade_websocket = httpreq_has_token(r, "upgrade", "websocket") &&
			       httpreq_has_token(r, "connection", "upgrade");
	return (long)hl;
}
