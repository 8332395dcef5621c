/* deflate.h: permessage-deflate (RFC 7692) for browsers, pure (zlib).
 *
 * The relay always answers with server_no_context_takeover and
 * client_no_context_takeover: every message is compressed on its own, so
 * a frame is compressed once, when its first compressing subscriber
 * writes it, and the result (frame->z, a whole wire frame with RSV1 set)
 * is shared by every subscriber that negotiated the extension; and the
 * relay keeps no per-connection zlib state in either direction (lws's own
 * extension keeps a zlib stream per connection, ~300 KB each at scale).
 * A frame under clients.compression.min_bytes, or one that would not
 * shrink, goes uncompressed (RSV1 clear), as RFC 7692 allows any message. */
#ifndef UWRELAY_DEFLATE_H
#define UWRELAY_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include "frame.h"

/* Answer headers and offers are short; a longer offer is declined. */
#define DEFLATE_ANSWER_MAX 128

/* The compressor, reused for every frame (deflateReset, no allocation).
 * Zeroed before first use; deflate_free releases it. */
struct deflater {
	z_stream zs;
	int ready;
};

/* Picks the first permessage-deflate offer of a Sec-WebSocket-Extensions
 * value hdr[0..n) the relay can honour, writes the answer's value into
 * answer (DEFLATE_ANSWER_MAX bytes) and the largest window the client
 * accepts from us into *max_bits (9..15). Returns 1 when accepted, 0 when
 * every offer is declined (unknown or repeated parameters, bad values,
 * server_max_window_bits=8, which zlib cannot write) or there is none. */
int deflate_negotiate(const char *hdr, size_t n, char answer[DEFLATE_ANSWER_MAX], int *max_bits);

/* The wire frame to send f to a subscriber that negotiated the extension
 * with window max_bits: f->z (compressed, built on first use) when f has
 * at least min_bytes and compressed output is valid for that window, else
 * f's plain wire frame. Never NULL: out of memory means plain. */
const unsigned char *deflate_frame_wire(struct deflater *d, struct frame *f, size_t min_bytes,
					int max_bits, size_t *len);

/* Inflates one compressed client message in[0..n) (the tail 00 00 ff ff
 * appended as RFC 7692 7.2.2 says) into a malloc'd buffer of at most max
 * bytes: a zip bomb stops at max + 1 bytes of output, whatever it would
 * have become. Returns the length with *out set (caller frees), -1 if the
 * data is not valid deflate, -2 if it inflates past max, -3 out of memory. */
long deflate_inflate(const void *in, size_t n, size_t max, unsigned char **out);

/* Releases the compressor. Safe on a zeroed or released one. */
void deflate_free(struct deflater *d);

#endif
