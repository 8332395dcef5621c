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
#include <stdlib.h>
#include <string.h>
#include "envelope.h"
#include "history_api.h"
#include "relay_state.h"
#include "session.h"
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
			const struct tapeq_row *row = &q->rows[i];
			struct frame *f = envelope_data(q->channel, clen, row->seq, q->epoch, row->ts,
							q->bytes + row->off, row->len);

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
