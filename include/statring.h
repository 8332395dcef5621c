/* statring.h: the last minutes of the relay at a glance, for the status page.
 *
 * A fixed ring of one-second samples (frames in and out during the second,
 * clients, whether the UW link was up) and a smaller ring of UW link
 * changes with their reason. The relay feeds it cumulative counters once a
 * second; the ring keeps the differences, so a sample is "what happened in
 * that second" and a missed tick shows as a longer interval, not a spike.
 * No I/O and no allocation: 300 samples and 32 events are ~12 KB inside
 * struct relay. */
#ifndef UWRELAY_STATRING_H
#define UWRELAY_STATRING_H

#include <stddef.h>
#include <stdint.h>

#define STATRING_SAMPLES 300	/* five minutes of one-second samples */
#define STATRING_EVENTS 32	/* UW link changes kept */

struct statring_sample {
	int64_t t_ms;		/* end of the interval, ms since 1970 UTC */
	uint32_t span_ms;	/* length of the interval */
	uint32_t clients;	/* WebSocket sessions at t_ms */
	uint64_t frames_in;	/* frames from UW (and REST sources) in the interval */
	uint64_t frames_out;	/* deliveries queued to browsers in the interval */
	uint64_t slow_closed;	/* browsers closed for falling behind in the interval */
	int up;			/* UW link connected at t_ms */
};

struct statring_event {
	int64_t t_ms;
	int up;			/* 1: connected, 0: lost */
	char reason[96];	/* why it was lost ("" when connected or unknown) */
};

/* Cumulative counters as the relay keeps them. */
struct statring_totals {
	uint64_t frames_in, frames_out, slow_closed;
	uint64_t connects, disconnects;	/* UW link established / lost, ever */
	uint32_t clients;
	int up;
};

struct statring {
	struct statring_sample s[STATRING_SAMPLES];
	size_t s_head, s_n;		/* next slot, samples held */
	struct statring_event ev[STATRING_EVENTS];
	size_t ev_head, ev_n;
	struct statring_totals last;	/* the totals of the previous tick */
	int64_t last_ms;
	int primed;			/* last/last_ms are set */
};

/* Records one tick at now_ms: a sample of the differences since the
 * previous tick (the first tick only primes the ring) and a link event for
 * each connect or disconnect counted since (reason for the losses; it is
 * copied, truncated to fit). A counter that went backwards counts as 0, and
 * a clock that did not advance only updates the totals. Never fails. */
void statring_tick(struct statring *r, int64_t now_ms, const struct statring_totals *t,
		   const char *reason);
/* The i-th sample, oldest first (i < statring_count), or NULL past the end. */
const struct statring_sample *statring_sample_at(const struct statring *r, size_t i);
size_t statring_count(const struct statring *r);
/* The i-th link event, oldest first, or NULL past the end. */
const struct statring_event *statring_event_at(const struct statring *r, size_t i);
size_t statring_event_count(const struct statring *r);

#endif
