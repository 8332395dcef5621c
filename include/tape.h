/* tape.h: the owner's tape, every frame of the taped channels kept in a
 * SQLite file (schema in README "Your tape").
 *
 * One writer thread owns the database. The event loop hands each frame
 * over with tape_record(), which copies it into a bounded buffer (tapebuf.h)
 * under a mutex that the writer holds only to swap buffers, never across
 * disk I/O: the loop never waits on the disk, and when the buffer is full
 * the frame is counted as not recorded instead. The writer stores each
 * buffer in one transaction (WAL, synchronous=NORMAL), deletes the oldest
 * frames past the retention limits in small batches, and when the disk
 * fails (full, read-only, not a database) keeps counting what it could not
 * store and tries again with a growing delay until it can.
 *
 * Every function but the writer's own runs on the loop's thread. */
#ifndef UWRELAY_TAPE_H
#define UWRELAY_TAPE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cJSON.h>

struct tape;

/* Opens (or creates) the tape at path and starts its writer. channels are
 * the taped channels (copied); fresh_epoch is this run's epoch, used when
 * the tape has none or the last run did not stop cleanly. A file that
 * cannot be used (not SQLite, read-only, no space) is reported, left as it
 * is, and tried again later: the tape is still returned. Returns NULL only
 * when out of memory or the thread cannot start (logged). */
struct tape *tape_open(const char *path, char *const *channels, size_t n, const char *fresh_epoch,
		       int64_t max_age_s, int64_t max_bytes);
/* Stores what is queued, marks the file cleanly closed if everything up to
 * the last seq given out was stored, stops the writer and frees t. Blocks
 * for the final write (at shutdown only). Accepts NULL. */
void tape_close(struct tape *t);

/* The epoch the taped channels' envelopes carry (16 hex digits). */
const char *tape_epoch(const struct tape *t);
/* The last seq the tape holds for taped channel i (0 if none): the seq
 * given out next is one more. */
uint64_t tape_last_seq(const struct tape *t, size_t i);
size_t tape_n_channels(const struct tape *t);
const char *tape_channel_name(const struct tape *t, size_t i);

/* Queues a copy of one frame of taped channel i for the writer. Never
 * blocks on the disk; a frame that does not fit is counted as not
 * recorded. epoch is 16 hex digits. */
void tape_record(struct tape *t, size_t i, const char *epoch, uint64_t seq, int64_t ts,
		 const char *payload, size_t len);

/* Logs what changed since the last call (state, frames not recorded),
 * rate-limited. Call about once a second from the loop. */
void tape_tick(struct tape *t, uint64_t now_ms);
/* Adds the "tape" section of /api/stream/status to root. t may be NULL
 * (no tape configured). */
void tape_status_json(struct tape *t, cJSON *root);
/* Writes the uwrelay_tape_* series. t may be NULL. */
void tape_metrics(struct tape *t, FILE *f);

#endif
