/* tape_resume.c: resume from the tape (see tape_resume.h).
 *
 * Order is what matters: at the moment of the resume, s's queue holds
 * what it was sent before, memory's frames of ch go into s's held queue
 * (session.c), and so does every live frame after them. The tape's answer
 * (the frames older than memory) is queued when it comes, ahead of all
 * that was held, and only then is the held queue released. A resume reads
 * the newest TAPE_RESUME_MAX_FRAMES (and no more bytes than the client's
 * queue may hold): what is older than that, or missing from the tape,
 * gets the usual gap notice with its seqs. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "envelope.h"
#include "history_api.h"
#include "relay_state.h"
#include "session.h"
#include "clock.h"
#include "history.h"
#include "tape.h"
#include "tape_resume.h"
#include "tapeq.h"

static void
gap(struct session *s, const char *channel, uint64_t from, uint64_t to, const char *msg)
{
	struct relay *r = s->relay;
	cJSON *o = session_notice_new("gap", channel);

	cJSON_AddStringToObject(o, "reason", "too_old");
	cJSON_AddNumberToObject(o, "from", (double)from);
	cJSON_AddNumberToObject(o, "to", (double)to);
	cJSON_AddStringToObject(o, "message", msg);
	session_send_notice(r, s, registry_find(&r->reg, channel, strlen(channel)), o);
}

static void
forget(struct session *s, struct tapeq_req *q)
{
	for (uint8_t i = 0; i < s->n_tape; i++)
		if (s->tape[i] == q) {
			s->tape[i] = s->tape[--s->n_tape];
			return;
		}
}

/* Row i of q's answer as the stream's envelope (NULL: out of memory). */
static struct frame *
row_frame(const struct tapeq_req *q, size_t clen, uint32_t i)
{
	const struct tapeq_row *row = &q->rows[i];

	return envelope_data(q->channel, clen, row->seq, q->epoch, row->ts, q->bytes + row->off,
			     row->len);
}

static void
resume_done(struct tapeq_req *q)
{
	struct session *s = q->arg;
	uint64_t expect = q->since + 1;
	size_t clen = strlen(q->channel);
	struct filtab *ft = &s->relay->filters;
	struct reg_channel *ch = registry_find(&s->relay->reg, q->channel, clen);
	struct reg_member *m = ch ? registry_membership(&s->sub, ch) : NULL;

	forget(s, q);
	if (q->failed) {
		log_msg(LOG_WARN, "session: resume from the tape: %s", q->err);
		gap(s, q->channel, expect, q->below - 1, "the tape could not be read: not recovered");
	} else {
		uint64_t first = q->n ? q->rows[0].seq : q->below;

		if (first > expect)
			gap(s, q->channel, expect, first - 1, "these frames are not on the tape: not recovered");
		for (uint32_t i = 0; i < q->n && !s->close_code; i++) {
			struct frame *f = row_frame(q, clen, i);

			if (!f)
				break;
			/* a filtered subscriber gets only what its filter passes, as from memory */
			if (m && m->filter) {
				filtab_round(ft);
				if (!filtab_pass(ft, m->filter, f)) {
					frame_unref(f);
					continue;
				}
			}
			/* like memory's replay, allowed beyond the live queue cap */
			s->replay_bonus += frame_cost(f);
			session_push(s, f);
			frame_unref(f);
		}
	}
	tapeq_req_free(q);
	if (!s->n_tape)
		session_release_held(s);
}

int
tape_resume_start(struct session *s, struct reg_channel *ch, uint64_t since, uint64_t below)
{
	struct relay *r = s->relay;
	struct tapeq_req *q;

	if (!r->tape_reader || s->n_tape >= SESSION_TAPE_MAX || below <= since + 1)
		return -1;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -1;
	q->kind = TAPEQ_NEWEST;
	memcpy(q->channel, ch->name, (size_t)ch->name_len + 1);
	snprintf(q->epoch, sizeof(q->epoch), "%s", history_api_epoch(r, ch));
	q->since = since;
	q->below = below;
	q->limit = TAPE_RESUME_MAX_FRAMES;
	q->max_bytes = (size_t)r->cfg.max_queue_bytes;
	q->done = resume_done;
	q->arg = s;
	if (tapeq_submit(r->tape_reader, q)) {
		free(q);
		return -1;
	}
	s->tape[s->n_tape++] = q;
	return 0;
}

void
tape_resume_cancel(struct session *s)
{
	while (s->n_tape)
		tapeq_cancel(s->tape[--s->n_tape]);
}

/* ---- warming memory at start ---- */

struct warm {
	struct relay *r;
	uint32_t pending;
	uint64_t loaded;
	struct tapeq_req **q;		/* per taped channel; NULL once answered */
};

static void
warm_done(struct tapeq_req *q)
{
	struct warm *w = q->arg;
	struct relay *r = w->r;
	size_t clen = strlen(q->channel);
	struct reg_channel *ch = registry_find(&r->reg, q->channel, clen);

	for (uint32_t i = 0; i < tape_n_channels(r->tape); i++)
		if (w->q[i] == q)
			w->q[i] = NULL;
	w->pending--;
	if (q->failed)
		log_msg(LOG_WARN, "tape: reading back '%s' for resumes: %s", q->channel, q->err);
	else if (ch && !ch->hist.count) {	/* nothing live can have come yet */
		for (uint32_t i = 0; i < q->n; i++) {
			struct frame *f = row_frame(q, clen, i);

			if (!f)
				break;
			history_add(&ch->hist, f, (uint32_t)r->cfg.history_size,
				    (size_t)r->cfg.history_max_bytes);
			frame_unref(f);
			w->loaded++;
		}
	}
	tapeq_req_free(q);
}

uint64_t
tape_resume_warm(struct relay *r, int timeout_ms)
{
	struct warm w = { r, 0, 0, NULL };
	uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;

	if (!r->tape || !r->tape_reader || r->cfg.history_size <= 0 ||
	    !(w.q = calloc(tape_n_channels(r->tape), sizeof(*w.q))))
		return 0;
	for (size_t i = 0; i < tape_n_channels(r->tape); i++) {
		const char *name = tape_channel_name(r->tape, i);
		struct reg_channel *ch = registry_find(&r->reg, name, strlen(name));
		struct tapeq_req *q;

		if (!ch || !ch->seq)
			continue;
		if (!(q = calloc(1, sizeof(*q))))
			break;
		q->kind = TAPEQ_NEWEST;
		memcpy(q->channel, ch->name, (size_t)ch->name_len + 1);
		snprintf(q->epoch, sizeof(q->epoch), "%s", relay_channel_epoch(r, ch));
		q->below = ch->seq + 1;
		q->limit = (uint32_t)r->cfg.history_size;
		q->max_bytes = r->cfg.history_max_bytes ? (size_t)r->cfg.history_max_bytes : SIZE_MAX;
		q->done = warm_done;
		q->arg = &w;
		if (tapeq_submit(r->tape_reader, q)) {
			free(q);
			break;
		}
		w.q[i] = q;
		w.pending++;
	}
	while (w.pending) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };

		tapeq_poll(r->tape_reader);
		if (!w.pending)
			break;
		if (clock_mono_ms() >= deadline) {
			log_msg(LOG_WARN, "tape: reading back for resumes took over %d ms: "
				"%u channel(s) start with an empty memory", timeout_ms, w.pending);
			/* the late answers must not find w gone: they are dropped */
			for (size_t i = 0; i < tape_n_channels(r->tape); i++)
				if (w.q[i])
					tapeq_cancel(w.q[i]);
			break;
		}
		nanosleep(&ts, NULL);
	}
	free(w.q);
	return w.loaded;
}
