/* backoff.h: reconnect delay, pure. */
#ifndef UWRELAY_BACKOFF_H
#define UWRELAY_BACKOFF_H

#include <stdint.h>

struct backoff_cfg {
	double initial_s;	/* delay before the first retry */
	double max_s;		/* cap */
	double jitter;		/* fraction, 0..1: the delay is spread ± this */
};

/* Delay before retry number `attempt` (1-based; 0 is treated as 1):
 * min(initial * 2^(attempt-1), max) * (1 + jitter * (2r - 1)), with r in
 * [0, 1) supplied by the caller. Never negative, never overflows, whatever
 * the attempt number. */
uint64_t backoff_delay_ms(const struct backoff_cfg *cfg, unsigned attempt, double r);

#endif
