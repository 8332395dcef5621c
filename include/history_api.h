/* history_api.h: GET /api/stream/history, from memory or from the tape (history_api.c).
 *
 *   ?channel=C [&since=SEQ[&epoch=E]] [&from=ISO] [&to=ISO] [&limit=N] [&format=ndjson]
 *
 * Answered on the loop from the channel's in-memory history when that
 * holds everything asked for (or there is no tape); otherwise the part
 * older than memory is read from the tape by tapeq's thread and the
 * answer is finished on the loop when it comes back. Envelopes are the
 * stream's own, byte for byte. */
#ifndef UWRELAY_HISTORY_API_H
#define UWRELAY_HISTORY_API_H

#include <stddef.h>
#include "httpans.h"

#define HISTORY_API_PATH "/api/stream/history"
#define HISTORY_LIMIT_DEFAULT 1000
#define HISTORY_LIMIT_MAX 10000
/* An answer stops (with more: true) before it passes this many bytes. */
#define HISTORY_ANSWER_MAX (16u << 20)

struct relay;
struct history_job;
struct reg_channel;

/* Answers the history request with query string query[0..qlen) (may be
 * NULL); ndjson: the client asked for application/x-ndjson in Accept.
 * Returns 0 with a filled (answer it now), 1 when the answer comes later:
 * done(arg, a) is then called on the loop with the answer (done answers
 * it; *job is the handle to cancel it with until then), or -1 out of
 * memory. */
int history_api_request(struct relay *r, const char *query, size_t qlen, int ndjson,
			struct http_answer *a, struct history_job **job,
			void (*done)(void *arg, struct http_answer *a), void *arg);
/* The client went away: done will not be called. Accepts NULL. */
void history_api_cancel(struct history_job *job);
/* The epoch of ch's seqs (the relay's when ch is NULL): what history and resume compare and read the
 * tape with. */
const char *history_api_epoch(const struct relay *r, const struct reg_channel *ch);

#endif
