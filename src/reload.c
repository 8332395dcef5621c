/* reload.c: SIGHUP. The file is read again; what can change while running
 * takes effect (access, static files, limits, history sizes, the log level,
 * the upstream URL), what cannot is kept and said so, and a file that does
 * not load, or that would open the listener without auth, changes nothing. */
#include <stdlib.h>
#include <string.h>
#include "access.h"
#include "assets.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "upstream.h"

static int
str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int
sources_same(const struct config *a, const struct config *b)
{
	if (a->n_sources != b->n_sources)
		return 0;
	for (size_t k = 0; k < a->n_sources; k++)
		if (str_differs(a->sources[k].channel, b->sources[k].channel) ||
		    str_differs(a->sources[k].path, b->sources[k].path) ||
		    str_differs(a->sources[k].query, b->sources[k].query) ||
		    str_differs(a->sources[k].id_field, b->sources[k].id_field) ||
		    a->sources[k].interval != b->sources[k].interval)
			return 0;
	return 1;
}

/* The tape's file, channels and retention are fixed for the run (the
 * writer thread holds its own copy). */
static int
tape_same(const struct config *a, const struct config *b)
{
	if (strcmp(a->tape_path, b->tape_path) || a->n_tape_channels != b->n_tape_channels ||
	    a->tape_max_age_s != b->tape_max_age_s || a->tape_max_bytes != b->tape_max_bytes)
		return 0;
	for (size_t k = 0; k < a->n_tape_channels; k++)
		if (strcmp(a->tape_channels[k], b->tape_channels[k]))
			return 0;
	return 1;
}

/* SIGHUP: a new config replaces the old one unless it is broken. What
 * cannot change without a restart (listener, TLS trust) is kept and said.
 * Every rejection leaves through reject:, which frees what was loaded. */
void
relay_reload(struct relay *r)
{
	struct config nc;
	struct access na;
	struct asset_dir nd;
	char err[512];
	int url_changed, loaded = 0;	/* 1: nc, 2: nc and na */

	if (!r->config_path) {
		log_msg(LOG_WARN, "relay: SIGHUP: no configuration file to reload (started without -c)");
		return;
	}
	if (config_load(r->config_path, &nc, err, sizeof(err)))
		goto reject;
	loaded = 1;
	if (str_differs(nc.listen_address, r->cfg.listen_address) || nc.listen_port != r->cfg.listen_port) {
		log_msg(LOG_WARN, "relay: listen address or port changed: that needs a restart; "
			"still listening on %s:%lld", r->cfg.listen_address, (long long)r->cfg.listen_port);
		free(nc.listen_address);
		nc.listen_address = strdup(r->cfg.listen_address);
		nc.listen_port = r->cfg.listen_port;
	}
	if (str_differs(nc.ca_file, r->cfg.ca_file) || str_differs(nc.token_file, r->cfg.token_file))
		log_msg(LOG_WARN, "relay: upstream ca_file or token_file changed: that needs a restart");
	if (str_differs(nc.rest_url, r->cfg.rest_url) || !sources_same(&nc, &r->cfg))
		log_msg(LOG_WARN, "relay: upstream.rest_url or sources changed: that needs a restart");
	if (!tape_same(&nc, &r->cfg))
		log_msg(LOG_WARN, "relay: the tape section changed: that needs a restart");
	if (access_load(&na, &nc, err, sizeof(err)))
		goto reject;
	loaded = 2;
	/* cookies of tokens still listed stay good */
	if (access_keep_key(&na, &r->access))
		log_msg(LOG_WARN, "relay: out of memory keeping the cookie key: browsers must "
			"present their token again");
	if (relay_open_without_auth(&nc, &na)) {
		snprintf(err, sizeof(err), "it removes auth from a non-loopback listener");
		goto reject;
	}
	if (assets_load_dir(nc.static_dir, &nd, err, sizeof(err)))
		goto reject;
	access_free(&r->access);
	r->access = na;
	assets_free_dir(&r->static_files);
	r->static_files = nd;
	url_changed = str_differs(nc.upstream_url, r->cfg.upstream_url);
	config_free(&r->cfg);
	r->cfg = nc;
	log_set_level(log_level_from_name(r->cfg.log_level));
	lws_set_log_level(log_lws_mask(), log_lws_emit);
	session_config_changed(r);
	if (url_changed)
		upstream_reconfigure(&r->up);
	else
		upstream_config_changed(&r->up);	/* budget, leave_delay */
	r->reloads++;
	log_msg(LOG_INFO, "relay: configuration reloaded from %s", r->config_path);
	return;
reject:
	r->reload_failures++;
	log_msg(LOG_ERR, "relay: reload rejected, keeping the running configuration: %s", err);
	if (loaded == 2)
		access_free(&na);
	if (loaded)
		config_free(&nc);
}
