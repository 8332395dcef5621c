/* replay.h: a recorded tape as the relay's source instead of UW (replay.c).
 *
 * `uwrelay --replay TAPE` feeds the tape's frames, in the order they were
 * received, through the same pipeline as UW's (relay_publish: registry,
 * envelope with this run's seq and epoch, history, fan-out) at the
 * recorded pacing divided by the speed. A reader thread reads the tape in
 * batches into a short bounded queue; the loop takes frames from it on a
 * timer, at most REPLAY_TICK_FRAMES per turn, so browsers are served
 * between turns even at unlimited speed. */
#ifndef UWRELAY_REPLAY_H
#define UWRELAY_REPLAY_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdint.h>

#define REPLAY_BATCH 4096		/* rows per batch read by the thread */
#define REPLAY_MAX_BATCHES 4		/* batches read ahead (at most ~16 MB of 1 KB frames) */
#define REPLAY_TICK_FRAMES 4096		/* frames the loop delivers per turn */

struct replay_opts {
	const char *path;
	double speed;			/* 1 = as recorded; 0 = as fast as the pipeline takes them */
	int64_t from_ms, to_ms;		/* frames received in [from, to); INT64_MIN/MAX: no bound */
	int loop;			/* start again at the end */
};

struct replay_batch;
struct relay;

struct replay {
	struct relay *relay;
	struct replay_opts o;
	char *path;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct replay_batch *head, *tail;	/* read, not yet delivered */
	uint32_t n_batches;
	struct replay_batch *spare;	/* one delivered batch, for the thread to reuse */
	int stop, started;
	char err[200];			/* the thread's failure, "" if none (under mu) */
	/* on the loop */
	struct replay_batch *cur;
	uint32_t idx;
	lws_sorted_usec_list_t sul;
	uint64_t pass_mono_us;		/* when this pass's first frame went */
	int64_t pass_ts;		/* its recorded time */
	int64_t position_ms;		/* recorded time of the last frame delivered */
	uint64_t frames, skipped, passes;	/* skipped: channels the relay does not serve */
	int done;			/* the tape (or its range) is over, without --loop */
	int failed;
};

/* Parses "N", "Nx" or "max" into a speed (0 = unlimited). Returns 0, or -1. */
int replay_parse_speed(const char *s, double *speed);
/* Starts replaying into r. Returns 0, or -1 with the reason in err. */
int replay_start(struct replay *rp, struct relay *r, const struct replay_opts *o, char *err,
		 size_t errlen);
/* Stops the thread and frees everything. Accepts a replay never started. */
void replay_free(struct replay *rp);
/* "playing", "done" or "failed", for status and metrics. */
const char *replay_state(const struct replay *rp);
/* The reader's failure, "" if none (copied into buf). */
void replay_error(struct replay *rp, char *buf, size_t len);

#endif
