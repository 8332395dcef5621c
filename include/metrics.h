/* metrics.h: the Prometheus text (metrics.c). */
#ifndef UWRELAY_METRICS_H
#define UWRELAY_METRICS_H

#include <stdint.h>

struct relay;

/* The Prometheus exposition text (malloc'd), or NULL on OOM. */
char *metrics_text(struct relay *r);

#endif
