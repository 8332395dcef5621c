/* tapebuf.h: the buffer that carries frames from the event loop to the tape's
 * writer thread, pure (no locks, no I/O; tape.c holds the lock).
 *
 * Two of these make a double buffer: the loop appends copies of frames to
 * one while the writer stores the other, then they swap. Each record is a
 * small header and the payload bytes, packed one after the other, so an
 * append is one bounds check and one memcpy, and a full buffer refuses the
 * frame at once instead of growing: the loop never waits and memory is
 * bounded by the capacity given at init. */
#ifndef UWRELAY_TAPEBUF_H
#define UWRELAY_TAPEBUF_H

#include <stddef.h>
#include <stdint.h>

struct tapebuf_rec {
	uint64_t seq;
	int64_t ts;		/* receive time, ms since 1970 */
	uint32_t len;		/* payload bytes that follow the header */
	uint16_t chan;		/* index among the tape's channels */
	char epoch[16];		/* the envelope's epoch, not NUL-terminated */
};

struct tapebuf {
	unsigned char *p;
	size_t len, cap;
	uint32_t n;		/* records */
	uint64_t first_ms;	/* caller's clock when the first record went in */
};

/* Allocates cap bytes. Returns 0, or -1 out of memory. */
int tapebuf_init(struct tapebuf *q, size_t cap);
/* Frees the buffer. Accepts a zeroed or freed queue. */
void tapebuf_free(struct tapebuf *q);
/* Appends a copy of the frame. Returns 0, or -1 if it does not fit (q is
 * unchanged: the caller counts the frame as dropped). */
int tapebuf_put(struct tapebuf *q, uint16_t chan, const char epoch[16], uint64_t seq, int64_t ts,
	      const char *payload, size_t len);
/* Iterates: size_t off = 0; while ((rec = tapebuf_next(q, &off, &payload))) ...
 * Returns the next record and its payload, or NULL after the last. */
const struct tapebuf_rec *tapebuf_next(const struct tapebuf *q, size_t *off, const char **payload);
/* Forgets every record (keeps the buffer). */
void tapebuf_clear(struct tapebuf *q);
/* Bytes one record of len payload bytes takes. */
size_t tapebuf_rec_size(size_t len);

#endif
