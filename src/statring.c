/* statring.c: one-second samples and UW link changes for the status page. */
#include <stdio.h>
#include <string.h>
#include "statring.h"

static uint64_t
since(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;	/* a reset counter is not a negative rate */
}

static void
push_event(struct statring *r, int64_t t_ms, int up, const char *reason)
{
	struct statring_event *e = &r->ev[r->ev_head];

	e->t_ms = t_ms;
	e->up = up;
	snprintf(e->reason, sizeof(e->reason), "%s", reason && !up ? reason : "");
	r->ev_head = (r->ev_head + 1) % STATRING_EVENTS;
	if (r->ev_n < STATRING_EVENTS)
		r->ev_n++;
}

void
statring_tick(struct statring *r, int64_t now_ms, const struct statring_totals *t, const char *reason)
{
	struct statring_sample *s;
	uint64_t ups, downs, n;

	if (!r->primed) {
		r->last = *t;
		r->last_ms = now_ms;
		r->primed = 1;
		return;
	}
	/* Several changes may fall in one second (a cut and a quick
	 * reconnect): they alternate, and the newest is the state now. */
	ups = since(t->connects, r->last.connects);
	downs = since(t->disconnects, r->last.disconnects);
	n = ups + downs < STATRING_EVENTS ? ups + downs : STATRING_EVENTS;
	for (uint64_t k = 0; k < n; k++)
		push_event(r, now_ms, (n - 1 - k) % 2 ? !t->up : !!t->up, reason);
	if (now_ms <= r->last_ms) {
		r->last = *t;
		return;
	}
	s = &r->s[r->s_head];
	s->t_ms = now_ms;
	s->span_ms = now_ms - r->last_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)(now_ms - r->last_ms);
	s->clients = t->clients;
	s->frames_in = since(t->frames_in, r->last.frames_in);
	s->frames_out = since(t->frames_out, r->last.frames_out);
	s->slow_closed = since(t->slow_closed, r->last.slow_closed);
	s->up = t->up;
	r->s_head = (r->s_head + 1) % STATRING_SAMPLES;
	if (r->s_n < STATRING_SAMPLES)
		r->s_n++;
	r->last = *t;
	r->last_ms = now_ms;
}

size_t
statring_count(const struct statring *r)
{
	return r->s_n;
}

const struct statring_sample *
statring_sample_at(const struct statring *r, size_t i)
{
	if (i >= r->s_n)
		return NULL;
	return &r->s[(r->s_head + STATRING_SAMPLES - r->s_n + i) % STATRING_SAMPLES];
}

size_t
statring_event_count(const struct statring *r)
{
	return r->ev_n;
}

const struct statring_event *
statring_event_at(const struct statring *r, size_t i)
{
	if (i >= r->ev_n)
		return NULL;
	return &r->ev[(r->ev_head + STATRING_EVENTS - r->ev_n + i) % STATRING_EVENTS];
}
