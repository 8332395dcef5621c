/* tokenbucket.c: see tokenbucket.h. */
#include <math.h>
#include "tokenbucket.h"

/* A refill computed in floating point can land a hair under a whole
 * token exactly when tokenbucket_wait_ms said one is due: count it. */
#define TB_EPS 1e-9

/* Tokens at now_ms and the clock they are counted from. */
static double
refill(const struct tokenbucket *tb, double rate, double burst, uint64_t now_ms, uint64_t *at)
{
	double t;

	if (!tb->primed) {
		*at = now_ms;
		return burst;
	}
	t = tb->tokens;
	*at = tb->last_ms;
	if (now_ms > tb->last_ms) {
		if (rate > 0)
			t += (double)(now_ms - tb->last_ms) * rate / 1000.0;
		*at = now_ms;
	}
	/* a burst lowered by a reload caps what was saved up */
	return t > burst ? burst : t;
}

double
tokenbucket_peek(const struct tokenbucket *tb, double rate, double burst, uint64_t now_ms)
{
	uint64_t at;

	return refill(tb, rate, burst, now_ms, &at);
}

int
tokenbucket_take(struct tokenbucket *tb, double rate, double burst, uint64_t now_ms)
{
	uint64_t at;
	double t = refill(tb, rate, burst, now_ms, &at);

	tb->primed = 1;
	tb->last_ms = at;
	if (t + TB_EPS < 1) {
		tb->tokens = t;
		return 0;
	}
	tb->tokens = t < 1 ? 0 : t - 1;
	return 1;
}

uint64_t
tokenbucket_wait_ms(const struct tokenbucket *tb, double rate, double burst, uint64_t now_ms)
{
	uint64_t at;
	double t = refill(tb, rate, burst, now_ms, &at), ms;

	if (t + TB_EPS >= 1)
		return 0;
	if (rate <= 0 || burst < 1)
		return UINT64_MAX;
	ms = ceil((1 - t) * 1000.0 / rate);
	/* a clock behind the bucket's: the refill starts at the bucket's */
	return (uint64_t)ms + (at > now_ms ? at - now_ms : 0);
}
