/* lathist.h: a latency histogram with fixed Prometheus buckets (lathist.c,
 * pure). The fan-out path adds to it per frame written (session.c); the
 * /metrics text reads it (metrics.c). */
#ifndef UWRELAY_LATHIST_H
#define UWRELAY_LATHIST_H

#include <stdint.h>

#define LATHIST_BUCKETS 13	/* the last one is +Inf */

struct lathist {
	uint64_t buckets[LATHIST_BUCKETS];	/* counts per bucket, not cumulative */
	uint64_t sum_us, count;
};

/* Counts one observation of us microseconds. */
void lathist_observe(struct lathist *h, uint64_t us);
/* Upper bound of bucket i in microseconds; UINT64_MAX for the last (+Inf). */
uint64_t lathist_bound_us(int i);

#endif
