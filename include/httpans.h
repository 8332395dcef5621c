/* httpans.h: an HTTP/1.1 answer, built once into one buffer, pure.
 *
 * Every answer on the browser port (API, files, refusals, 101) is written
 * by this one serializer, so each carries a proper HTTP/1.1 status line,
 * Content-Length, nosniff and the Connection header that matches what the
 * connection does next. */
#ifndef UWRELAY_HTTPANS_H
#define UWRELAY_HTTPANS_H

#include <stddef.h>

struct http_answer {
	unsigned status;
	const char *ctype;		/* Content-Type; NULL for an answer with no body */
	const char *cache;		/* Cache-Control; NULL for "no-store" */
	const void *body;		/* not sent for HEAD, 1xx, 204, 304 */
	size_t len;
	char *owned;			/* malloc'd body, freed by httpans_free (may be body) */
	unsigned retry_after;		/* Retry-After seconds; 0 for none */
	int close;			/* Connection: close (else keep-alive) */
	int stream;			/* no Content-Length: the body runs until the close (SSE) */
	char extra[768];		/* more header lines, each ending in CRLF */
	size_t extra_len;
};

/* Starts an answer (zeroed, status set). */
void httpans_init(struct http_answer *a, unsigned status);
/* Appends "name: value\r\n" to the extra headers. Returns 0, or -1 if it
 * does not fit (nothing appended) or either has a CR or LF. */
int httpans_header(struct http_answer *a, const char *name, const char *value);
/* Makes the body {"error": why} (why JSON-escaped). Returns 0 or -1 (OOM). */
int httpans_error(struct http_answer *a, unsigned status, const char *why);
/* The status line's reason phrase ("Not Found"); "Unknown" if unlisted. */
const char *httpans_reason(unsigned status);
/* Serializes the answer into a malloc'd buffer with `pre` spare bytes
 * before it (lws' LWS_PRE). head_only: the headers of a HEAD answer.
 * Returns the buffer (*len = bytes after pre), or NULL on OOM. */
unsigned char *httpans_build(const struct http_answer *a, int head_only, size_t pre, size_t *len);
/* Frees what the answer owns. */
void httpans_free(struct http_answer *a);

#endif
