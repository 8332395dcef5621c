/* lathist.c: a latency histogram with fixed buckets (see lathist.h). */
#include "lathist.h"

/* Upper bounds in microseconds; the last bucket is +Inf. */
static const uint64_t bounds_us[LATHIST_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

void
lathist_observe(struct lathist *h, uint64_t us)
{
	int i = 0;

	while (i < LATHIST_BUCKETS - 1 && us > bounds_us[i])
		i++;
	h->buckets[i]++;
	h->sum_us += us;
	h->count++;
}

uint64_t
lathist_bound_us(int i)
{
	return i >= 0 && i < LATHIST_BUCKETS - 1 ? bounds_us[i] : UINT64_MAX;
}
