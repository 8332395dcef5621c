/* sseenc.h: the text/event-stream form of outgoing messages, pure.
 *
 * An SSE subscriber gets the same envelopes as a WebSocket one, each as
 * one event (WHATWG HTML, "Server-sent events"):
 *
 *   id: <epoch>:<seq>            data envelopes only, so EventSource's
 *   data: {"channel":...}        Last-Event-ID says where to resume
 *
 *   event: <type>                relay notices ($relay), named by their
 *   data: {"channel":"$relay"...}  data.type (subscribed, gap, upstream...)
 *
 * and ": hb" comments as heartbeats. The event is built once per frame,
 * by the first SSE subscriber that writes it, and kept on the frame
 * (frame->sse), so every SSE subscriber shares the same bytes. */
#ifndef UWRELAY_SSEENC_H
#define UWRELAY_SSEENC_H

#include <stddef.h>
#include <stdint.h>
#include "frame.h"

/* The heartbeat comment (no event fires in the browser). */
#define SSEENC_HEARTBEAT ": hb\n\n"

/* The SSE event of f, built on first use and kept on f; *len its length.
 * Returns NULL (f unchanged) only when out of memory. A payload with line
 * breaks (CR, LF or CRLF) becomes several data: lines, which a client
 * joins with LF: JSON reads the same. */
const unsigned char *sseenc_event(struct frame *f, size_t *len);

/* Parses a Last-Event-ID value "<16 lowercase hex>:<seq>" into epoch (16
 * + NUL) and seq. Returns 0, or -1 if it is not of that form. */
int sseenc_last_event_id(const char *v, size_t n, char epoch[17], uint64_t *seq);

/* Writes into out the query qs[0..qlen) without its since and epoch
 * arguments, followed by since=SEQ&epoch=EPOCH: a reconnecting EventSource
 * repeats the URL it was opened with, whose since is older than its
 * Last-Event-ID. Returns the length written (NUL-terminated), or -1 if cap
 * is too small. */
long sseenc_resume_query(const char *qs, size_t qlen, const char *epoch, uint64_t seq, char *out,
			 size_t cap);

#endif
