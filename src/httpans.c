/* httpans.c: HTTP/1.1 answers (see httpans.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "httpans.h"

void
httpans_init(struct http_answer *a, unsigned status)
{
	memset(a, 0, sizeof(*a));
	a->status = status;
}

int
httpans_header(struct http_answer *a, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (strpbrk(name, "\r\n") || strpbrk(value, "\r\n") ||
	    a->extra_len + nl + vl + 4 >= sizeof(a->extra))
		return -1;
	memcpy(a->extra + a->extra_len, name, nl);
	a->extra_len += nl;
	memcpy(a->extra + a->extra_len, ": ", 2);
	a->extra_len += 2;
	memcpy(a->extra + a->extra_len, value, vl);
	a->extra_len += vl;
	memcpy(a->extra + a->extra_len, "\r\n", 3);
	a->extra_len += 2;
	return 0;
}

int
httpans_error(struct http_answer *a, unsigned status, const char *why)
{
	size_t n = strlen(why), k = 0;
	char *b = malloc(n * 6 + 16);

	if (!b)
		return -1;
	a->status = status;
	k += (size_t)sprintf(b, "{\"error\":\"");
	for (const unsigned char *p = (const unsigned char *)why; *p; p++) {
		if (*p == '"' || *p == '\\') {
			b[k++] = '\\';
			b[k++] = (char)*p;
		} else if (*p < 0x20)
			k += (size_t)sprintf(b + k, "\\u%04x", *p);
		else
			b[k++] = (char)*p;
	}
	memcpy(b + k, "\"}\n", 4);
	k += 3;
	free(a->owned);
	a->owned = b;
	a->body = b;
	a->len = k;
	a->ctype = "application/json";
	return 0;
}

const char *
httpans_reason(unsigned status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static int
no_body(unsigned status)
{
	return status < 200 || status == 204 || status == 304;
}

unsigned char *
httpans_build(const struct http_answer *a, int head_only, size_t pre, size_t *len)
{
	size_t body = (head_only || no_body(a->status)) ? 0 : a->len;
	size_t cap = pre + 512 + a->extra_len + body;
	unsigned char *buf = malloc(cap);
	char *p;
	int n;

	if (!buf)
		return NULL;
	p = (char *)buf + pre;
	n = snprintf(p, 512, "HTTP/1.1 %u %s\r\n", a->status, httpans_reason(a->status));
	if (a->status != 101) {
		if (a->ctype)
			n += snprintf(p + n, (size_t)(512 - n), "Content-Type: %s\r\n", a->ctype);
		if (!no_body(a->status) && !a->stream)
			n += snprintf(p + n, (size_t)(512 - n), "Content-Length: %zu\r\n", a->len);
		n += snprintf(p + n, (size_t)(512 - n),
			      "Cache-Control: %s\r\nX-Content-Type-Options: nosniff\r\nConnection: %s\r\n",
			      a->cache ? a->cache : "no-store", a->close ? "close" : "keep-alive");
		if (a->retry_after)
			n += snprintf(p + n, (size_t)(512 - n), "Retry-After: %u\r\n", a->retry_after);
	}
	memcpy(p + n, a->extra, a->extra_len);
	n += (int)a->extra_len;
	memcpy(p + n, "\r\n", 2);
	n += 2;
	if (body)
		memcpy(p + n, a->body, body);
	*len = (size_t)n + body;
	return buf;
}

void
httpans_free(struct http_answer *a)
{
	free(a->owned);
	a->owned = NULL;
	a->body = NULL;
	a->len = 0;
}
