/* tokenbucket.h: a token bucket with time as an argument, no I/O.
 *
 * Used twice: each browser socket's message budget (clients.max_msg_rate)
 * and the relay's one budget for joins and leaves sent to UW
 * (upstream.budget). Rate and burst are arguments of every call rather
 * than stored, so a configuration reload applies at the next call.
 *
 * A zeroed bucket is full: its first call sees `burst` tokens. Time only
 * moves forward for the bucket: a `now` before the last one seen refills
 * nothing and does not move the bucket's clock back, so a clock that
 * jumps back cannot hand out tokens twice. */
#ifndef UWRELAY_TOKENBUCKET_H
#define UWRELAY_TOKENBUCKET_H

#include <stdint.h>

struct tokenbucket {
	double tokens;		/* as of last_ms */
	uint64_t last_ms;
	uint8_t primed;		/* 0: never used (full) */
};

/* Tokens available at now_ms (refilled at rate per second, at most
 * burst), without taking any. Changes nothing. */
double tokenbucket_peek(const struct tokenbucket *tb, double rate, double burst, uint64_t now_ms);

/* Takes one token. Returns 1 if there was one, 0 if the bucket is empty
 * (then nothing is taken; the refill up to now is kept either way). */
int tokenbucket_take(struct tokenbucket *tb, double rate, double burst, uint64_t now_ms);

/* Milliseconds from now_ms until one token is available: 0 if one is now,
 * UINT64_MAX if rate is not positive and the bucket is empty. */
uint64_t tokenbucket_wait_ms(const struct tokenbucket *tb, double rate, double burst, uint64_t now_ms);

#endif
