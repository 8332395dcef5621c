/* climsg.h: a browser's control message on the generic endpoint, pure.
 *
 *   {"action":"subscribe","channel":"gex:SPY","since":41,"epoch":"9f2c4a1be07d3e55"}
 *   {"action":"unsubscribe","channel":"gex:SPY"}
 *   {"action":"subscribe","channel":"flow-alerts","filter":"tickers:SPY;side:call"}
 */
#ifndef UWRELAY_CLIMSG_H
#define UWRELAY_CLIMSG_H

#include <stddef.h>
#include <stdint.h>
#include "filter.h"

enum climsg_action { CLIMSG_BAD = 0, CLIMSG_SUBSCRIBE, CLIMSG_UNSUBSCRIBE };

struct climsg {
	enum climsg_action action;
	char channel[128];	/* as sent, truncated; "" if absent */
	size_t channel_len;	/* length as sent (may exceed the buffer) */
	int has_since;
	uint64_t since;
	char epoch[17];		/* "" if absent */
	char filter[FILTER_MAX_LEN + 1];	/* "" if absent, null or "" (no filter) */
	size_t filter_len;
	const char *error;	/* CLIMSG_BAD: static reason for the client */
};

/* Parses in[0..len). Always fills *m; returns m->action. */
enum climsg_action climsg_parse(const char *in, size_t len, struct climsg *m);

/* 1 if e is 16 lowercase hex digits (an epoch). */
int climsg_epoch_valid(const char *e);

#endif
