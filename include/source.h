/* source.h: a channel polled from UW's REST API (source.c). */
#ifndef UWRELAY_SOURCE_H
#define UWRELAY_SOURCE_H

#include <libwebsockets.h>
#include <stdint.h>
#include "config.h"
#include "log.h"
#include "seenset.h"

struct relay;
struct resolve_req;

/* A REST-polled channel (source.c). */
struct source {
	struct relay *relay;
	struct {			/* own copies: a reload cannot pull them away */
		char *channel;
		char *id_field;
		double interval;
	} cfg;
	struct config_url url;		/* upstream.rest_url */
	char path[512];			/* path?query, no secret in it */
	char path_shown[900];
	char address[256];		/* resolved rest host */
	struct resolve_req *resolving;
	struct lws *wsi;		/* request in flight */
	lws_sorted_usec_list_t sul;
	uint64_t next_poll_at_ms;	/* monotonic; 0 when none is scheduled */
	int polling;			/* the channel has subscribers */
	unsigned failures;		/* consecutive failed polls */
	/* the answer being read */
	int status, overflow, conn_error;
	unsigned retry_after;
	char *body;
	size_t body_len, body_cap;
	/* what status shows */
	int last_status;
	uint64_t last_poll_ms;
	uint64_t last_poll_mono_ms;	/* when the last request started; 0: never */
	char last_error[200];
	uint64_t polls, rows, malformed, errors;
	struct seenset seen;
	struct log_ratelimit rl;
};

/* Builds the runtime sources from the config. Returns 0 or -1. */
int sources_init(struct relay *r);
void sources_free(struct relay *r);
struct source *source_by_channel(struct relay *r, const char *name, size_t len);
/* The channel got its first subscriber (on) or lost its last. */
void source_wanted(struct source *src, int on);
/* A host name lookup finished (called on the loop). */
void source_resolved(struct source *src);
int source_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len);

#endif
