/* httpreq.h: an HTTP/1.x request head, parsed without I/O.
 *
 * The relay reads each request head itself (up to a fixed size) and
 * answers everything that is wrong with it with a status a strict client
 * can read: 400 for a malformed head, 431 for one too large, 505 for a
 * version other than HTTP/1.0 or 1.1, 501 for a body the relay does not
 * take (Transfer-Encoding). Spans point into the caller's buffer; nothing
 * is copied or allocated. */
#ifndef UWRELAY_HTTPREQ_H
#define UWRELAY_HTTPREQ_H

#include <stddef.h>

#define HTTPREQ_MAX_HEADERS 48

struct httpreq_hdr {
	const char *name;	/* as sent (compare case-insensitively) */
	size_t name_len;
	const char *value;	/* leading and trailing spaces/tabs trimmed */
	size_t value_len;
};

struct httpreq {
	const char *method;	/* "GET", "OPTIONS", ... (case-sensitive token) */
	size_t method_len;
	const char *target;	/* the request-target as sent */
	size_t target_len;
	const char *path;	/* target up to '?' or '#' (origin-form: starts with '/') */
	size_t path_len;
	const char *query;	/* after '?' up to '#', NULL if no '?' */
	size_t query_len;
	int minor;		/* HTTP/1.<minor>: 0 or 1 */
	long long content_length;	/* -1 if absent */
	int keep_alive;		/* 1.1 unless "Connection: close"; 1.0 only with "keep-alive" */
	int upgrade_websocket;	/* Upgrade lists "websocket" and Connection lists "upgrade" */
	unsigned n_headers;
	struct httpreq_hdr h[HTTPREQ_MAX_HEADERS];
};

/* Parses the head at buf[0..len) (lines end in CRLF; a bare LF is
 * accepted, a bare CR is not). Returns the head's length through the
 * blank line once complete; 0 if it is incomplete and still shorter than
 * max; or a negative HTTP status:
 *   -400 malformed request line or header (no colon, space before the
 *        colon, obs-fold, control characters, a bad or repeated
 *        Content-Length, Host given twice, no Host in HTTP/1.1,
 *        a target that is not origin-form or "*" for OPTIONS),
 *   -431 the head is longer than max, or has more than
 *        HTTPREQ_MAX_HEADERS headers, or one line is over 8 KiB,
 *   -501 Transfer-Encoding is present,
 *   -505 the version is not HTTP/1.0 or HTTP/1.1.
 * On error *r is unspecified. */
long httpreq_parse(const char *buf, size_t len, size_t max, struct httpreq *r);

/* The first header named `name` (case-insensitive): its value, length in
 * *vlen (vlen may be NULL: only asking whether it is there). NULL if
 * absent. */
const char *httpreq_header(const struct httpreq *r, const char *name, size_t *vlen);

/* How many headers are named `name` (case-insensitive); 0 if none. */
unsigned httpreq_header_count(const struct httpreq *r, const char *name);

/* 1 if header `name` is a comma-separated list (over all its occurrences)
 * holding `token` (case-insensitive, surrounding spaces ignored). */
int httpreq_has_token(const struct httpreq *r, const char *name, const char *token);

/* 1 if the comma-separated list v[0..n) holds `token` (case-insensitive,
 * spaces and tabs around items ignored), else 0. */
int httpreq_list_has(const char *v, size_t n, const char *token);

#endif
