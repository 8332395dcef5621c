/* deflate.c: permessage-deflate offers, shared compressed frames and
 * bounded inflation of client messages (see deflate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "deflate.h"

/* Skips optional whitespace. */
static const char *
ows(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* A token (RFC 7230 tchar subset enough for extension names and values). */
static const char *
token_end(const char *p, const char *end)
{
	while (p < end && *p != ',' && *p != ';' && *p != '=' && *p != ' ' && *p != '\t' && *p != '"')
		p++;
	return p;
}

/* A window-bits value: 8..15, digits only, no leading zero. -1 if bad. */
static int
bits_value(const char *v, size_t n)
{
	if (n == 1 && v[0] == '8')
		return 8;
	if (n == 1 && v[0] == '9')
		return 9;
	if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
		return 10 + (v[1] - '0');
	return -1;
}

enum { P_SNCT = 1, P_CNCT = 2, P_SMWB = 4, P_CMWB = 8 };

/* One offer: params from p up to the next ',' (or end). Sets *next past
 * it. Returns 1 if honourable (with *max_bits), 0 if declined, -1 if the
 * header cannot be read further. */
static int
offer(const char *p, const char *end, const char **next, int *max_bits)
{
	unsigned seen = 0;
	int ok = 1, smwb = 15;

	while (p < end && *p == ';') {
		const char *name, *ne, *v = NULL;
		size_t nl, vl = 0;
		unsigned bit = 0;

		p = ows(p + 1, end);
		name = p;
		ne = token_end(p, end);
		nl = (size_t)(ne - name);
		p = ows(ne, end);
		if (p < end && *p == '=') {
			p = ows(p + 1, end);
			if (p < end && *p == '"') {	/* quoted-string form of a token */
				const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));

				if (!q)
					return -1;
				v = p + 1;
				vl = (size_t)(q - v);
				p = q + 1;
			} else {
				v = p;
				p = token_end(p, end);
				vl = (size_t)(p - v);
			}
			p = ows(p, end);
		}
		if (!nl)
			return -1;
		if (nl == 26 && !strncasecmp(name, "server_no_context_takeover", nl))
			bit = P_SNCT, ok &= !v;
		else if (nl == 26 && !strncasecmp(name, "client_no_context_takeover", nl))
			bit = P_CNCT, ok &= !v;
		else if (nl == 22 && !strncasecmp(name, "server_max_window_bits", nl)) {
			bit = P_SMWB;
			smwb = v ? bits_value(v, vl) : -1;
			/* zlib cannot write a raw deflate stream for a 256-byte window */
			ok &= smwb >= 9;
		} else if (nl == 22 && !strncasecmp(name, "client_max_window_bits", nl))
			bit = P_CMWB, ok &= !v || bits_value(v, vl) >= 8;
		else
			ok = 0;	/* a parameter we do not know: decline this offer */
		if (seen & bit)
			ok = 0;	/* RFC 7692 7.1: a repeated parameter declines */
		seen |= bit;
	}
	if (p < end && *p != ',')
		return -1;
	*next = p < end ? p + 1 : p;
	*max_bits = smwb;
	return ok;
}

int
deflate_negotiate(const char *hdr, size_t n, char answer[DEFLATE_ANSWER_MAX], int *max_bits)
{
	const char *p = hdr, *end = hdr + n;

	while (p < end) {
		const char *name, *ne;
		int bits = 15, rc;

		p = ows(p, end);
		if (p < end && *p == ',') {	/* empty list element */
			p++;
			continue;
		}
		if (p == end)
			break;
		name = p;
		ne = token_end(p, end);
		p = ows(ne, end);
		rc = offer(p, end, &p, &bits);
		if (rc < 0)
			return 0;
		if (rc && ne - name == 18 && !strncasecmp(name, "permessage-deflate", 18)) {
			/* client_no_context_takeover may be answered whether or
			 * not it was offered (RFC 7692 7.1.1.2): the relay then
			 * needs no inflate state between a client's messages */
			strcpy(answer, "permessage-deflate; server_no_context_takeover; "
				       "client_no_context_takeover");
			if (bits < 15)
				snprintf(answer + strlen(answer), DEFLATE_ANSWER_MAX - strlen(answer),
					 "; server_max_window_bits=%d", bits);
			*max_bits = bits;
			return 1;
		}
	}
	return 0;
}

/* The smallest client window (bits) that can read a raw deflate stream of
 * a len-byte message: no distance reaches back past the message's start. */
static int
bits_needed(size_t len)
{
	int b = 9;

	while (b < 15 && ((size_t)1 << b) < len)
		b++;
	return b;
}

static int
compress_frame(struct deflater *d, struct frame *f)
{
	size_t bound, hl, zl;
	unsigned char *out;

	if (!d->ready) {
		memset(&d->zs, 0, sizeof(d->zs));
		/* raw deflate (no zlib header), the full window: a frame's
		 * output is valid for any window that holds the whole message
		 * (bits_needed). memLevel 8 and level 6 are zlib's defaults. */
		if (deflateInit2(&d->zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		d->ready = 1;
	} else if (deflateReset(&d->zs) != Z_OK)
		return -1;
	bound = deflateBound(&d->zs, f->len) + 16;
	/* FRAME_PRE of headroom for lws_write(), then up to 10 header bytes */
	out = malloc(FRAME_PRE + 10 + bound);
	if (!out)
		return -1;
	d->zs.next_in = f->buf + FRAME_PRE;
	d->zs.avail_in = f->len;
	d->zs.next_out = out + FRAME_PRE + 10;
	d->zs.avail_out = (uInt)bound;
	/* a sync flush ends on a byte boundary with 00 00 ff ff, which RFC
	 * 7692 7.2.1 has the sender drop */
	if (deflate(&d->zs, Z_SYNC_FLUSH) != Z_OK || d->zs.avail_in) {
		free(out);
		return -1;
	}
	zl = bound - d->zs.avail_out;
	if (zl < 4 || memcmp(out + FRAME_PRE + 10 + zl - 4, "\0\0\xff\xff", 4)) {
		free(out);
		return -1;
	}
	zl -= 4;
	if (zl + 2 >= f->len) {		/* did not shrink: plain is cheaper for all */
		free(out);
		f->z_state = FRAME_Z_PLAIN;
		return 0;
	}
	/* header right before the data: FIN + RSV1 + text, shortest length */
	hl = zl < 126 ? 2 : zl < 65536 ? 4 : 10;
	{
		unsigned char *h = out + FRAME_PRE + 10 - hl;

		h[0] = 0xc1;
		if (hl == 2)
			h[1] = (unsigned char)zl;
		else if (hl == 4) {
			h[1] = 126;
			h[2] = (unsigned char)(zl >> 8);
			h[3] = (unsigned char)zl;
		} else {
			h[1] = 127;
			for (int i = 0; i < 8; i++)
				h[9 - i] = (unsigned char)((uint64_t)zl >> (8 * i));
		}
		memmove(out + FRAME_PRE, h, hl + zl);
	}
	f->z = out + FRAME_PRE;
	f->z_len = (uint32_t)(hl + zl);
	f->z_bits = (uint8_t)bits_needed(f->len);
	f->z_state = FRAME_Z_BUILT;
	return 0;
}

const unsigned char *
deflate_frame_wire(struct deflater *d, struct frame *f, size_t min_bytes, int max_bits, size_t *len)
{
	if (f->z_state == FRAME_Z_UNTRIED) {
		if (f->len < min_bytes || !f->hdr_len)
			f->z_state = FRAME_Z_PLAIN;
		else if (compress_frame(d, f))
			f->z_state = FRAME_Z_PLAIN;	/* out of memory: plain is always valid */
	}
	if (f->z_state == FRAME_Z_BUILT && f->z_bits <= max_bits) {
		*len = f->z_len;
		return f->z;
	}
	*len = frame_wire_len(f);
	return frame_wire(f);
}

long
deflate_inflate(const void *in, size_t n, size_t max, unsigned char **out)
{
	static const unsigned char tail[4] = { 0, 0, 0xff, 0xff };
	z_stream zs;
	unsigned char *buf;
	long rc;
	int zr = Z_OK;

	*out = NULL;
	if (max > 0x7fffffff || n > 0xffffffffu)
		return -1;
	buf = malloc(max + 1);
	if (!buf)
		return -3;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK) {
		free(buf);
		return -3;
	}
	zs.next_out = buf;
	zs.avail_out = (uInt)(max + 1);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	/* the output never passes max + 1 bytes, whatever the input says */
	while (zs.avail_in && zs.avail_out && zr == Z_OK)
		zr = inflate(&zs, Z_SYNC_FLUSH);
	if (zr == Z_OK && zs.avail_out && !zs.avail_in) {
		zs.next_in = (Bytef *)(uintptr_t)tail;
		zs.avail_in = sizeof(tail);
		zr = inflate(&zs, Z_SYNC_FLUSH);
		if (zr == Z_BUF_ERROR)
			zr = Z_OK;
	}
	if (zr == Z_STREAM_END)
		zr = Z_OK;	/* a final block: fine, the message ends there */
	if (!zs.avail_out)
		rc = -2;
	else if (zr != Z_OK || zs.avail_in)
		rc = -1;
	else
		rc = (long)(max + 1 - zs.avail_out);
	inflateEnd(&zs);
	if (rc < 0)
		free(buf);
	else
		*out = buf;
	return rc;
}

void
deflate_free(struct deflater *d)
{
	if (d->ready)
		deflateEnd(&d->zs);
	d->ready = 0;
}
