/* relay.h: the relay's own functions (relay.c, reload.c): the context, the
 * loop, reloads, and the wiring of every module together. The state they
 * share is struct relay (relay_state.h), below the modules that act on it;
 * relay.c, at the top, fills in its relay_hooks: channel changes go to the
 * REST source, UW's socket or the cluster, frames to the cluster (ingest)
 * or to history and subscribers. */
#ifndef UWRELAY_RELAY_H
#define UWRELAY_RELAY_H

#include <stddef.h>
#include "access.h"
#include "config.h"
#include "relay_state.h"

struct replay_opts;

/* Builds the context, listeners and upstream client (or, with replay, a
 * replay of a tape instead of UW). Returns 0, or -1 after logging why.
 * cfg is taken over by the relay. */
int relay_init(struct relay *r, struct config *cfg, const char *config_path,
	       const struct replay_opts *replay);
/* Runs the event loop until a stop signal. Returns the exit code. */
int relay_run(struct relay *r);
/* Frees what relay_init built, also after it failed part way. */
void relay_destroy(struct relay *r);
/* The rule for a listener beyond loopback: subscriber tokens, or the
 * operator's explicit allow_anonymous. 1 if cfg with tokens a breaks it. */
int relay_open_without_auth(const struct config *cfg, const struct access *a);
/* SIGHUP (reload.c): reads the file again and applies what may change;
 * a file that does not load changes nothing (logged, counted). */
void relay_reload(struct relay *r);

#endif
