/* frame.h: an outgoing WebSocket message, built once, shared by reference.
 *
 * Every subscriber's queue points at the same frame; the last unref frees
 * it. FRAME_PRE bytes of headroom sit before the data so lws_write() can
 * put the WebSocket header in place without a copy. A server's frames are
 * not masked, so the header is the same for every subscriber: it is built
 * once into the headroom too (frame_seal), which lets a writer copy whole
 * wire frames of several messages into one buffer and send them with one
 * write. The event loop is single-threaded, so the count is a plain
 * integer. */
#ifndef UWRELAY_FRAME_H
#define UWRELAY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_PRE 16	/* >= LWS_PRE; checked where lws is included */
#define FRAME_Z_UNTRIED 0
#define FRAME_Z_BUILT 1		/* z holds the compressed wire frame */
#define FRAME_Z_PLAIN 2		/* too small, did not shrink, or out of memory: sent as is */


struct frame {
	uint32_t refs;
	uint32_t len;		/* bytes of message after the headroom */
	uint64_t seq;		/* channel seq, 0 for relay notices */
	uint64_t t_us;		/* monotonic receive time (data frames), 0 otherwise */
	uint8_t hdr_len;	/* WebSocket header bytes before the data, 0 if not sealed */
	/* Other wire forms of the same message, each built at most once, by
	 * the first subscriber that needs it, and shared like the frame (see
	 * sseenc.h, deflate.h). malloc'd, freed with the frame. Not counted
	 * in frame_cost(): queue accounting must not change while queued.
	 * Each has FRAME_PRE bytes of headroom before it, like buf, so it
	 * can go to lws_write() as it is. */
	unsigned char *sse;	/* text/event-stream event, or NULL */
	unsigned char *z;	/* permessage-deflate WebSocket frame, or NULL */
	uint32_t sse_len, z_len;
	uint8_t z_state;	/* FRAME_Z_*: whether z was tried and what came of it */
	uint8_t z_bits;		/* z is valid for a client window of 2^z_bits and more */
	unsigned char buf[];	/* FRAME_PRE + len (+1 for a NUL, not sent) */
};

/* Returns a frame with one reference and room for len bytes, or NULL. */
struct frame *frame_new(size_t len);
static inline unsigned char *frame_data(struct frame *f) { return f->buf + FRAME_PRE; }
static inline struct frame *frame_ref(struct frame *f) { f->refs++; return f; }
/* Writes the header of an unmasked, final text frame of f->len bytes into
 * the headroom. Call once the data is in place. */
void frame_seal(struct frame *f);
/* The whole frame as it goes on the wire (header + data), once sealed. */
static inline const unsigned char *frame_wire(const struct frame *f) { return f->buf + FRAME_PRE - f->hdr_len; }
static inline size_t frame_wire_len(const struct frame *f) { return (size_t)f->hdr_len + f->len; }
/* Drops one reference; frees on the last. Accepts NULL. */
void frame_unref(struct frame *f);
/* Bytes a frame costs in memory (used for queue accounting). */
static inline size_t frame_cost(const struct frame *f) { return sizeof(*f) + FRAME_PRE + f->len + 1; }

/* Live frames and their bytes, process-wide, for status and leak checks. */
uint64_t frame_live_count(void);
uint64_t frame_live_bytes(void);

#endif
