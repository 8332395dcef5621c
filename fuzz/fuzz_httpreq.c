/* libFuzzer target: the request-head parser (httpreq.c) and the server's
 * upgrade check (wsframe.c). The first input byte picks max, the second
 * where the head is cut in two; the rest is the bytes received.
 * Invariants: the result is a length <= max, 0, or one of the documented
 * statuses; every span lies inside the head; methods and header names are
 * tokens and values hold no CR, LF or NUL and no surrounding blanks; a
 * prefix parses as 0 or as the whole does, never differently, and once
 * complete to the same fields; a larger max does not change a success;
 * keep_alive and upgrade_websocket follow their rules; an upgrade the
 * check accepts carries one valid key and its accept matches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "httpreq.h"
#include "query.h"
#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 6455's Sec-WebSocket-Accept for a 24-byte key: base64(SHA-1(key +
 * GUID)), computed here rather than with wsf_accept_for, which is the
 * wsframe.c code the check under test calls itself. */
static void
ref_accept(const char key[24], char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char cat[24 + sizeof(guid) - 1], md[SHA_DIGEST_LENGTH];

	memcpy(cat, key, 24);
	memcpy(cat + 24, guid, sizeof(guid) - 1);
	SHA1(cat, sizeof(cat), md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void
in_head(const char *p, size_t n, const char *buf, long hl)
{
	if (p < buf || p + n > buf + hl)
		abort();
}

/* The fields of a successful parse, as offsets, must be the same. */
static void
same_fields(const struct httpreq *a, const char *abuf, const struct httpreq *b, const char *bbuf)
{
	if (a->method - abuf != b->method - bbuf || a->method_len != b->method_len ||
	    a->target - abuf != b->target - bbuf || a->target_len != b->target_len ||
	    a->path_len != b->path_len || !a->query != !b->query || a->query_len != b->query_len ||
	    a->minor != b->minor || a->content_length != b->content_length ||
	    a->keep_alive != b->keep_alive || a->upgrade_websocket != b->upgrade_websocket ||
	    a->n_headers != b->n_headers)
		abort();
	for (unsigned i = 0; i < a->n_headers; i++)
		if (a->h[i].name - abuf != b->h[i].name - bbuf || a->h[i].name_len != b->h[i].name_len ||
		    a->h[i].value - abuf != b->h[i].value - bbuf ||
		    a->h[i].value_len != b->h[i].value_len)
			abort();
}

static void
check_success(const struct httpreq *r, const char *buf, long hl, size_t max)
{
	size_t vl;
	const char *v;

	if ((size_t)hl > max || buf[hl - 1] != '\n')
		abort();
	in_head(r->method, r->method_len, buf, hl);
	in_head(r->target, r->target_len, buf, hl);
	in_head(r->path, r->path_len, buf, hl);
	if (!r->method_len || !r->target_len || r->path != r->target || r->path_len > r->target_len)
		abort();
	for (size_t i = 0; i < r->method_len; i++)
		if (!is_tchar((unsigned char)r->method[i]))
			abort();
	if (r->path[0] != '/' && !(r->path_len == 1 && r->path[0] == '*'))
		abort();
	if (r->query) {
		in_head(r->query, r->query_len, r->target, (long)r->target_len);
		if (r->query[-1] != '?' || memchr(r->query, '#', r->query_len))
			abort();
	}
	if (r->minor != 0 && r->minor != 1)
		abort();
	if (r->content_length < -1 || r->n_headers > HTTPREQ_MAX_HEADERS)
		abort();
	for (unsigned i = 0; i < r->n_headers; i++) {
		const struct httpreq_hdr *h = &r->h[i];

		in_head(h->name, h->name_len, buf, hl);
		in_head(h->value, h->value_len, buf, hl);
		if (!h->name_len || h->name[h->name_len] != ':')
			abort();
		for (size_t k = 0; k < h->name_len; k++)
			if (!is_tchar((unsigned char)h->name[k]))
				abort();
		for (size_t k = 0; k < h->value_len; k++)
			if (h->value[k] == '\r' || h->value[k] == '\n' || h->value[k] == '\0')
				abort();
		if (h->value_len && (h->value[0] == ' ' || h->value[0] == '\t' ||
				     h->value[h->value_len - 1] == ' ' ||
				     h->value[h->value_len - 1] == '\t'))
			abort();
	}
	if (httpreq_header_count(r, "host") > 1 || (r->minor == 1 && !httpreq_header_count(r, "host")))
		abort();
	if (httpreq_header_count(r, "transfer-encoding") || httpreq_header_count(r, "content-length") > 1)
		abort();
	if ((r->content_length >= 0) != (httpreq_header(r, "content-length", &vl) != NULL))
		abort();
	if (r->keep_alive != (!httpreq_has_token(r, "connection", "close") &&
			      (r->minor == 1 || httpreq_has_token(r, "connection", "keep-alive"))))
		abort();
	if (r->upgrade_websocket != (httpreq_has_token(r, "upgrade", "websocket") &&
				     httpreq_has_token(r, "connection", "upgrade")))
		abort();
	/* the upgrade check */
	{
		char acc[29], want[29], key[25];
		const char *why = NULL;
		int st = wsf_upgrade_check(r, acc, &why);

		if (st == 0) {
			v = httpreq_header(r, "sec-websocket-key", &vl);
			if (!v || vl != 24 || httpreq_header_count(r, "sec-websocket-key") != 1 ||
			    !r->upgrade_websocket || r->minor != 1 || r->method_len != 3 ||
			    memcmp(r->method, "GET", 3))
				abort();
			memcpy(key, v, 24);
			key[24] = '\0';
			ref_accept(key, want);
			if (strlen(acc) != 28 || strcmp(acc, want))
				abort();
		} else if ((st != 400 && st != 426) || !why || acc[0]) {
			abort();
		}
	}
	/* the query as the relay will read it */
	if (r->query) {
		char out[64];
		long q = query_get(r->query, r->query_len, "access_token", out, sizeof(out));

		if (q >= 0 && strlen(out) != (size_t)q)
			abort();
	}
}

static long
parse_copy(const uint8_t *data, size_t n, size_t max, struct httpreq *r, char **keep)
{
	char *c = malloc(n ? n : 1);

	memcpy(c, data, n);
	*keep = c;
	return httpreq_parse(c, n, max, r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 1, 16, 64, 256, 1024, 4096, 8192, 65536 };
	struct httpreq whole, part;
	char *wbuf, *pbuf;
	size_t max, cut;
	long w, p;

	if (size < 2)
		return 0;
	max = maxes[data[0] % 8] + (data[0] >> 3);
	data += 2;
	size -= 2;
	cut = size ? (size_t)data[-1] * size / 255 : 0;
	w = parse_copy(data, size, max, &whole, &wbuf);
	if (w > 0) {
		if ((size_t)w > size)
			abort();
		check_success(&whole, wbuf, w, max);
	} else if (w != 0 && w != -400 && w != -431 && w != -501 && w != -505) {
		abort();
	} else if (w == 0 && size >= max) {
		abort();	/* max bytes without a head: it can only be too long */
	}
	/* a prefix: nothing yet, or exactly the whole result */
	p = parse_copy(data, cut, max, &part, &pbuf);
	if (p != 0 && p != w)
		abort();
	if (p > 0)
		same_fields(&part, pbuf, &whole, wbuf);
	if (w != 0 && cut >= (w > 0 ? (size_t)w : size) && p != w)
		abort();
	free(pbuf);
	if (w > 0) {
		/* just the head, and the whole with a larger max */
		p = parse_copy(data, (size_t)w, (size_t)w, &part, &pbuf);
		if (p != w)
			abort();
		same_fields(&part, pbuf, &whole, wbuf);
		free(pbuf);
		p = parse_copy(data, size, max * 2 + 1, &part, &pbuf);
		if (p != w)
			abort();
		same_fields(&part, pbuf, &whole, wbuf);
		free(pbuf);
	}
	free(wbuf);
	return 0;
}
