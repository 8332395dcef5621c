/* replay.c: a tape as the relay's source (see replay.h).
 *
 * The thread reads rows in insertion order (the rowid: the recorder
 * inserts frames in the order it received them), REPLAY_BATCH at a time,
 * keyset-paged on the rowid so each batch costs the rows it reads and no
 * sort. It stays at most REPLAY_MAX_BATCHES ahead of the loop. The loop
 * paces: a frame recorded t ms after the pass's first one goes t / speed
 * ms after it did. A loop that falls behind (a slow turn) catches up at
 * once rather than drifting. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include "chname.h"
#include "clock.h"
#include "log.h"
#include "relay_state.h"
#include "replay.h"
#include "session.h"

struct replay_row {
	int64_t ts;
	size_t ch_off, off;
	uint32_t ch_len, len;
};

struct replay_batch {
	struct replay_batch *next;
	struct replay_row rows[REPLAY_BATCH];
	uint32_t n;
	int first;		/* the first batch of a pass over the tape */
	int end;		/* the pass ends with this batch */
	char *bytes;		/* channel names and payloads */
	size_t len, cap;
};

static void
batch_free(struct replay_batch *b)
{
	if (b) {
		free(b->bytes);
		free(b);
	}
}

/* A batch the loop is done with goes back to the thread (its buffer
 * reused: a fresh 4 MB buffer a batch cost page faults on every frame). */
static void
batch_recycle(struct replay *rp, struct replay_batch *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&rp->mu);
	if (!rp->spare) {
		b->next = NULL;
		rp->spare = b;
		b = NULL;
	}
	pthread_mutex_unlock(&rp->mu);
	batch_free(b);
}

static struct replay_batch *
batch_new(struct replay *rp)
{
	struct replay_batch *b;

	pthread_mutex_lock(&rp->mu);
	b = rp->spare;
	rp->spare = NULL;
	pthread_mutex_unlock(&rp->mu);
	if (!b)
		return calloc(1, sizeof(*b));
	b->next = NULL;
	b->n = 0;
	b->first = b->end = 0;
	b->len = 0;
	return b;
}

static int
batch_put(struct replay_batch *b, const void *p, size_t n, size_t *off)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : (size_t)REPLAY_BATCH * 1100;
		char *nb;

		while (nc < b->len + n)
			nc *= 2;
		nb = realloc(b->bytes, nc);
		if (!nb)
			return -1;
		b->bytes = nb;
		b->cap = nc;
	}
	memcpy(b->bytes + b->len, p, n);
	*off = b->len;
	b->len += n;
	return 0;
}

int
replay_parse_speed(const char *s, double *speed)
{
	char *end;
	double v;

	if (!strcmp(s, "max") || !strcmp(s, "unlimited")) {
		*speed = 0;
		return 0;
	}
	v = strtod(s, &end);
	if (end == s || (*end && strcmp(end, "x")) || !(v >= 0) || v > 1e6)
		return -1;
	*speed = v;
	return 0;
}

static void
fail(struct replay *rp, const char *what, sqlite3 *db)
{
	pthread_mutex_lock(&rp->mu);
	snprintf(rp->err, sizeof(rp->err), "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	pthread_mutex_unlock(&rp->mu);
}

/* Hands b to the loop, waiting while it has enough read ahead. Returns
 * 0, or -1 when asked to stop (b freed). */
static int
hand_over(struct replay *rp, struct replay_batch *b)
{
	pthread_mutex_lock(&rp->mu);
	while (!rp->stop && rp->n_batches >= REPLAY_MAX_BATCHES)
		pthread_cond_wait(&rp->cv, &rp->mu);
	if (rp->stop) {
		pthread_mutex_unlock(&rp->mu);
		batch_free(b);
		return -1;
	}
	if (rp->tail)
		rp->tail->next = b;
	else
		rp->head = b;
	rp->tail = b;
	rp->n_batches++;
	pthread_mutex_unlock(&rp->mu);
	return 0;
}

static void *
thread_main(void *arg)
{
	struct replay *rp = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	sqlite3_int64 last_id = 0;
	int first = 1, pass_rows = 0;

	if (sqlite3_open_v2(rp->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fail(rp, "cannot open the tape", db);
		goto out;
	}
	sqlite3_busy_timeout(db, 2000);
	if (sqlite3_prepare_v2(db, "SELECT id, channel, ts, payload FROM frames WHERE id > ?1 AND ts >= ?2 "
			       "ORDER BY id LIMIT ?3", -1, &st, NULL) != SQLITE_OK) {
		fail(rp, "the file is not a uwrelay tape", db);
		goto out;
	}
	for (;;) {
		struct replay_batch *b = batch_new(rp);
		int rc;

		if (!b) {
			fail(rp, "reading the tape", NULL);
			break;
		}
		b->first = first;
		first = 0;
		sqlite3_bind_int64(st, 1, last_id);
		sqlite3_bind_int64(st, 2, rp->o.from_ms);
		sqlite3_bind_int(st, 3, REPLAY_BATCH);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct replay_row *row = &b->rows[b->n];
			const void *ch = sqlite3_column_text(st, 1);
			const void *p = sqlite3_column_blob(st, 3);

			last_id = sqlite3_column_int64(st, 0);
			row->ts = sqlite3_column_int64(st, 2);
			if (row->ts >= rp->o.to_ms) {	/* rows come in time order: the range is over */
				b->end = 1;
				break;
			}
			row->ch_len = (uint32_t)sqlite3_column_bytes(st, 1);
			row->len = (uint32_t)sqlite3_column_bytes(st, 3);
			if (batch_put(b, ch, row->ch_len, &row->ch_off) || batch_put(b, p ? p : "", row->len, &row->off)) {
				rc = SQLITE_NOMEM;
				break;
			}
			b->n++;
		}
		if (rc == SQLITE_DONE)
			b->end = b->n < REPLAY_BATCH;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			fail(rp, "reading the tape", rc == SQLITE_NOMEM ? NULL : db);
			batch_free(b);
			break;
		}
		pass_rows += (int)b->n;
		if (b->end && !pass_rows) {
			pthread_mutex_lock(&rp->mu);
			snprintf(rp->err, sizeof(rp->err), "no frames on the tape%s",
				 rp->o.from_ms != INT64_MIN || rp->o.to_ms != INT64_MAX ? " in that time range" : "");
			pthread_mutex_unlock(&rp->mu);
			batch_free(b);
			break;
		}
		if (b->end) {
			last_id = 0;
			first = 1;
			pass_rows = 0;
		}
		{
			int end = b->end;

			if (hand_over(rp, b) || (end && !rp->o.loop))
				break;
		}
	}
out:
	sqlite3_finalize(st);
	if (db)
		sqlite3_close(db);
	return NULL;
}

static void tick(lws_sorted_usec_list_t *sul);

static void
schedule(struct replay *rp, uint64_t us)
{
	lws_sul_schedule(rp->relay->ctx, 0, &rp->sul, tick, (lws_usec_t)us);
}

/* Next batch from the thread, or NULL (none read yet, or none to come). */
static struct replay_batch *
take(struct replay *rp)
{
	struct replay_batch *b;

	pthread_mutex_lock(&rp->mu);
	b = rp->head;
	if (b) {
		rp->head = b->next;
		if (!rp->head)
			rp->tail = NULL;
		rp->n_batches--;
		pthread_cond_signal(&rp->cv);
	} else if (rp->err[0] && !rp->failed) {
		rp->failed = 1;
		log_msg(LOG_ERR, "replay: %s: %s", rp->o.path, rp->err);
	}
	pthread_mutex_unlock(&rp->mu);
	return b;
}

/* The channel a tape row goes to: every channel the relay serves gets its
 * frames (and keeps them in its history for whoever subscribes later,
 * as recorded channels are always joined); others are skipped. */
static struct reg_channel *
channel_of(struct relay *r, const char *name, size_t len)
{
	struct reg_channel *ch = registry_find(&r->reg, name, len);

	if (ch)
		return ch;
	if (len > CHNAME_MAX || !chname_valid(name, len) ||
	    (!chname_allowed((const char *const *)r->cfg.allowed_channels, r->cfg.n_allowed, name, len) &&
	     !config_source_by_channel(&r->cfg, name, len)))
		return NULL;
	return registry_touch(&r->reg, name, len);
}

static void tick_frames(struct replay *rp);

/* lws runs ripe timers before it polls, and the poll after may sleep
 * until the next frame is due: the frames queued here are written now
 * (the loop's batch is closed and opened again), not one frame late. */
static void
tick(lws_sorted_usec_list_t *sul)
{
	struct replay *rp = lws_container_of(sul, struct replay, sul);
	uint64_t before = rp->frames;

	tick_frames(rp);
	if (rp->frames != before) {
		session_batch_end(rp->relay);
		session_batch_begin(rp->relay);
	}
}

static void
tick_frames(struct replay *rp)
{
	struct relay *r = rp->relay;
	uint64_t now = clock_mono_us();
	int64_t now_ms = (int64_t)clock_now_ms();
	uint32_t sent = 0;

	while (sent < REPLAY_TICK_FRAMES) {
		struct replay_row *row;
		struct reg_channel *ch;

		if (!rp->cur) {
			rp->cur = take(rp);
			rp->idx = 0;
			if (!rp->cur) {
				if (!rp->failed)
					schedule(rp, 1000);	/* the thread is reading */
				return;
			}
			if (rp->cur->first && rp->cur->n) {
				rp->pass_mono_us = now;
				rp->pass_ts = rp->cur->rows[0].ts;
				rp->passes++;
			}
		}
		if (rp->idx == rp->cur->n) {
			int end = rp->cur->end;

			batch_recycle(rp, rp->cur);
			rp->cur = NULL;
			if (end && !rp->o.loop) {
				rp->done = 1;
				log_msg(LOG_INFO, "replay: end of %s: %llu frames in %.3f s", rp->o.path,
					(unsigned long long)rp->frames,
					(double)(now - rp->pass_mono_us) / 1e6);
				return;
			}
			continue;
		}
		row = &rp->cur->rows[rp->idx];
		if (rp->o.speed > 0) {
			double due = (double)rp->pass_mono_us + (double)(row->ts - rp->pass_ts) * 1000.0 / rp->o.speed;

			if (due > (double)now) {
				schedule(rp, (uint64_t)(due - (double)now));
				return;
			}
		}
		ch = channel_of(r, rp->cur->bytes + row->ch_off, row->ch_len);
		if (ch)
			relay_publish(r, ch, rp->cur->bytes + row->off, row->len, now_ms, clock_mono_us());
		else
			rp->skipped++;
		rp->position_ms = row->ts;
		rp->frames++;
		rp->idx++;
		sent++;
	}
	schedule(rp, 1);	/* more at once: after the loop has served its sockets */
}

int
replay_start(struct replay *rp, struct relay *r, const struct replay_opts *o, char *err, size_t errlen)
{
	memset(rp, 0, sizeof(*rp));
	rp->relay = r;
	rp->o = *o;
	rp->path = strdup(o->path);
	if (!rp->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rp->o.path = rp->path;
	pthread_mutex_init(&rp->mu, NULL);
	pthread_cond_init(&rp->cv, NULL);
	if (pthread_create(&rp->th, NULL, thread_main, rp)) {
		snprintf(err, errlen, "cannot start the replay's reader thread");
		pthread_mutex_destroy(&rp->mu);
		pthread_cond_destroy(&rp->cv);
		free(rp->path);
		rp->path = NULL;
		return -1;
	}
	rp->started = 1;
	schedule(rp, 1000);
	return 0;
}

void
replay_free(struct replay *rp)
{
	if (!rp || !rp->started)
		return;
	lws_sul_cancel(&rp->sul);
	pthread_mutex_lock(&rp->mu);
	rp->stop = 1;
	pthread_cond_signal(&rp->cv);
	pthread_mutex_unlock(&rp->mu);
	pthread_join(rp->th, NULL);
	while (rp->head) {
		struct replay_batch *b = rp->head;

		rp->head = b->next;
		batch_free(b);
	}
	batch_free(rp->cur);
	batch_free(rp->spare);
	pthread_mutex_destroy(&rp->mu);
	pthread_cond_destroy(&rp->cv);
	free(rp->path);
	memset(rp, 0, sizeof(*rp));
}

const char *
replay_state(const struct replay *rp)
{
	return rp->failed ? "failed" : rp->done ? "done" : "playing";
}

void
replay_error(struct replay *rp, char *buf, size_t len)
{
	pthread_mutex_lock(&rp->mu);
	snprintf(buf, len, "%s", rp->err);
	pthread_mutex_unlock(&rp->mu);
}
