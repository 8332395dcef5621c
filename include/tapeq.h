/* tapeq.h: queries on the tape (the recorder's SQLite file), answered off
 * the event loop.
 *
 * One reader thread owns a read-only SQLite connection to the tape. The
 * loop submits a query (a struct tapeq_req it allocated), the thread runs
 * it and moves it to a done list, then wakes the loop with
 * lws_cancel_service(); the loop collects finished queries with
 * tapeq_poll() and calls each one's done function there. So the loop never
 * waits on disk, and everything the caller touches in done runs on the
 * loop. The queue is bounded (TAPEQ_MAX_QUEUED): a flood of history
 * queries is refused instead of growing memory, and each answer is bounded
 * by its own byte cap. A caller that goes away (a client that closed)
 * cancels its query: the result is then freed unseen. */
#ifndef UWRELAY_TAPEQ_H
#define UWRELAY_TAPEQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "chname.h"

#define TAPEQ_MAX_QUEUED 64	/* queries waiting or running, in all */

enum tapeq_kind {
	TAPEQ_SINCE = 0,	/* seq > since (and, with below, seq < below), oldest first */
	TAPEQ_NEWEST,		/* the newest rows (seq > since, seq < below), returned oldest first */
	TAPEQ_TIME,		/* from_ms <= ts < to_ms (and seq > since), oldest first */
};

struct tapeq_row {
	uint64_t seq;
	int64_t ts;
	size_t off;		/* payload: bytes[off .. off + len) of the request's buffer */
	uint32_t len;
};

struct tapeq_req {
	struct tapeq_req *next;
	/* what to read (set by the caller before tapeq_submit) */
	int kind;			/* enum tapeq_kind */
	char channel[CHNAME_MAX + 1];
	char epoch[17];			/* rows of this epoch only */
	uint64_t since;			/* seq > since */
	uint64_t below;			/* seq < below; 0: no bound */
	int64_t from_ms, to_ms;		/* TAPEQ_TIME; to_ms INT64_MAX: no bound */
	uint32_t limit;			/* rows wanted; one more is read to tell "more" */
	size_t max_bytes;		/* payload bytes at most (rows beyond: more = 1) */
	/* the answer (set by the thread) */
	int failed;			/* the tape could not be read: err says why */
	char err[160];
	struct tapeq_row *rows;
	uint32_t n;
	int more;			/* rows beyond limit or max_bytes match */
	char *bytes;			/* the payloads, one after the other */
	size_t bytes_len;
	/* the caller's (on the loop) */
	void (*done)(struct tapeq_req *q);	/* takes q over: free it with tapeq_req_free */
	void *arg;
	int cancelled;			/* set by tapeq_cancel; read by the loop only */
};

struct lws_context;

struct tapeq {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tapeq_req *todo_head, *todo_tail, *done_head, *done_tail;
	uint32_t n_queued;		/* submitted, not yet collected by tapeq_poll */
	int stop, started;
	char *path;
	struct lws_context *ctx;	/* woken with lws_cancel_service(); NULL: none (tests poll) */
	uint64_t queries, refused, failures;	/* read on the loop (under mu) */
};

/* Starts the reader thread on the tape at path (opened read-only at the
 * first query, so a tape the recorder has not created yet is no error).
 * Returns 0, or -1 (no thread: nothing to free). */
int tapeq_start(struct tapeq *t, const char *path, struct lws_context *ctx);
/* Queues q (the queue takes it until its done function runs). Returns 0,
 * or -1 when TAPEQ_MAX_QUEUED queries are already waiting (q is still the
 * caller's). */
int tapeq_submit(struct tapeq *t, struct tapeq_req *q);
/* The caller no longer wants q's answer: it is freed when it comes back,
 * done is never called. On the loop only. */
void tapeq_cancel(struct tapeq_req *q);
/* On the loop: calls done for every finished query (frees cancelled ones).
 * Returns how many came back. */
int tapeq_poll(struct tapeq *t);
/* Stops the thread (before the lws context goes, which it wakes); the
 * queries it holds stay until tapeq_free, so owners may still cancel
 * them. Accepts a tapeq that was never started. */
void tapeq_stop(struct tapeq *t);
/* Stops the thread if needed and frees every query still held (done not
 * called) and t's own memory. Accepts a tapeq that was never started. */
void tapeq_free(struct tapeq *t);
/* Frees q and its answer. Accepts NULL. */
void tapeq_req_free(struct tapeq_req *q);

#endif
