/* metrics.h: the fan-out latency histogram and the Prometheus text (metrics.c). */
#ifndef UWRELAY_METRICS_H
#define UWRELAY_METRICS_H

#include <stdint.h>

struct relay;

#define METRICS_BUCKETS 13

struct metrics {
	uint64_t lat_buckets[METRICS_BUCKETS];	/* fan-out latency histogram */
	uint64_t lat_sum_us, lat_count;
};

void metrics_observe_latency(struct metrics *m, uint64_t us);
/* The Prometheus exposition text (malloc'd), or NULL on OOM. */
char *metrics_text(struct relay *r);

#endif
