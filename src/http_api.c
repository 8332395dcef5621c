/* http_api.c: the operator's HTTP answers on the browser port.
 *
 * Bodies are small JSON documents built with cJSON (not a hot path) and
 * written from HTTP_WRITEABLE in chunks, so a big status never needs one
 * oversized write. Nothing here ever includes the token: the URL shown is
 * the masked one. */
#include <cJSON.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "clock.h"
#include "cluster.h"
#include "envelope.h"
#include "http_api.h"
#include "httpans.h"
#include "listener.h"
#include "metrics.h"
#include "relay_state.h"
#include "replay.h"
#include "source.h"
#include "tape.h"
#include "upstream.h"
#include "version.h"

static void
add_time_or_null(cJSON *o, const char *key, uint64_t ms)
{
	char ts[25];

	if (!ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	envelope_time((int64_t)ms, ts);
	cJSON_AddStringToObject(o, key, ts);
}

static const char *
upch_word(const struct reg_channel *ch)
{
	switch (ch->up_state) {
	case UPCH_JOIN_SENT:
		return "join_sent";
	case UPCH_ACKED:
		return "acked";
	case UPCH_ACK_FAILED:
		return "ack_failed";
	default:
		return "none";
	}
}

/* The "cluster" object: role, Redis links, the UW link lock, counters. */
static void
cluster_json(struct relay *r, cJSON *root)
{
	const struct cluster *cl = r->cl;
	cJSON *o = cJSON_AddObjectToObject(root, "cluster"), *rd;

	cJSON_AddStringToObject(o, "role", cluster_role_name(r->cfg.cluster_mode));
	if (cl->mode == CLUSTER_STANDALONE)
		return;
	cJSON_AddStringToObject(o, "node", cl->node);
	rd = cJSON_AddObjectToObject(o, "redis");
	cJSON_AddStringToObject(rd, "address", r->cfg.cluster_redis);
	cJSON_AddBoolToObject(rd, "connected", cluster_redis_up(cl));
	/* why a link last ended (kept after it is back: "last") */
	if (cl->cmd.last_error[0])
		cJSON_AddStringToObject(rd, "last_error", cl->cmd.last_error);
	else if (cl->rd.last_error[0])
		cJSON_AddStringToObject(rd, "last_error", cl->rd.last_error);
	else
		cJSON_AddNullToObject(rd, "last_error");
	cJSON_AddNumberToObject(rd, "connects", (double)(cl->cmd.connects + cl->rd.connects));
	cJSON_AddNumberToObject(rd, "drops", (double)(cl->cmd.drops + cl->rd.drops));
	if (cl->mode == CLUSTER_INGEST) {
		cJSON_AddBoolToObject(o, "leader", cl->leader);
		cJSON_AddStringToObject(o, "lock_holder", cl->holder);
		add_time_or_null(o, "leader_since", cl->leader_since_ms);
		cJSON_AddNumberToObject(o, "takeovers", (double)cl->takeovers);
		cJSON_AddNumberToObject(o, "appended", (double)cl->appended);
		cJSON_AddNumberToObject(o, "append_failed", (double)cl->append_failed);
		cJSON_AddNumberToObject(o, "append_dropped", (double)cl->append_dropped);
		cJSON_AddNumberToObject(o, "wanted_channels", cl->wanted_sub.n);
	} else {
		cJSON *u = cJSON_AddObjectToObject(o, "uw_link");

		cJSON_AddStringToObject(u, "state", cl->up_state);
		cJSON_AddStringToObject(u, "holder", cl->up_node);
		if (cl->up_reason[0])
			cJSON_AddStringToObject(u, "reason", cl->up_reason);
		else
			cJSON_AddNullToObject(u, "reason");
		cJSON_AddNumberToObject(o, "frames_read", (double)cl->frames_read);
		cJSON_AddNumberToObject(o, "gaps", (double)cl->gaps);
		cJSON_AddNumberToObject(o, "bad_records", (double)cl->bad_records);
	}
}

/* The "replay" object: which tape, how fast, where it stands. */
static void
replay_json(struct relay *r, cJSON *root)
{
	struct replay *rp = r->replay;
	cJSON *o = cJSON_AddObjectToObject(root, "replay");
	char err[200];

	cJSON_AddStringToObject(o, "file", rp->o.path);
	cJSON_AddStringToObject(o, "state", replay_state(rp));
	if (rp->o.speed > 0)
		cJSON_AddNumberToObject(o, "speed", rp->o.speed);
	else
		cJSON_AddStringToObject(o, "speed", "max");
	add_time_or_null(o, "from", rp->o.from_ms == INT64_MIN ? 0 : (uint64_t)rp->o.from_ms);
	add_time_or_null(o, "to", rp->o.to_ms == INT64_MAX ? 0 : (uint64_t)rp->o.to_ms);
	cJSON_AddBoolToObject(o, "loop", rp->o.loop);
	add_time_or_null(o, "position", rp->frames ? (uint64_t)rp->position_ms : 0);
	cJSON_AddNumberToObject(o, "frames", (double)rp->frames);
	cJSON_AddNumberToObject(o, "skipped_frames", (double)rp->skipped);
	cJSON_AddNumberToObject(o, "passes", (double)rp->passes);
	replay_error(rp, err, sizeof(err));
	if (err[0])
		cJSON_AddStringToObject(o, "error", err);
	else
		cJSON_AddNullToObject(o, "error");
}

/* "recent": the last minutes in one-second samples, as arrays named by
 * "fields" (300 objects would triple the size of every poll), and the UW
 * link's recent changes. */
static void
recent_json(const struct statring *ring, cJSON *root)
{
	static const char *fields[] = { "t", "span_ms", "frames_in", "frames_out", "clients",
					"slow_closed", "up" };
	cJSON *o = cJSON_AddObjectToObject(root, "recent"), *f, *arr, *ev;

	if (!o)
		return;
	cJSON_AddNumberToObject(o, "interval_s", 1);
	f = cJSON_CreateStringArray(fields, (int)(sizeof(fields) / sizeof(fields[0])));
	if (f)
		cJSON_AddItemToObject(o, "fields", f);
	arr = cJSON_AddArrayToObject(o, "samples");
	for (size_t i = 0; arr && i < statring_count(ring); i++) {
		const struct statring_sample *sm = statring_sample_at(ring, i);
		const double v[] = { (double)sm->t_ms, sm->span_ms, (double)sm->frames_in,
				     (double)sm->frames_out, sm->clients, (double)sm->slow_closed, sm->up };
		cJSON *row = cJSON_CreateDoubleArray(v, (int)(sizeof(v) / sizeof(v[0])));

		if (row)
			cJSON_AddItemToArray(arr, row);
	}
	ev = cJSON_AddArrayToObject(o, "link_events");
	for (size_t i = 0; ev && i < statring_event_count(ring); i++) {
		const struct statring_event *e = statring_event_at(ring, i);
		cJSON *eo = cJSON_CreateObject();

		if (!eo)
			break;
		cJSON_AddItemToArray(ev, eo);
		cJSON_AddNumberToObject(eo, "t", (double)e->t_ms);
		cJSON_AddStringToObject(eo, "event", e->up ? "connected" : "disconnected");
		if (e->reason[0])
			cJSON_AddStringToObject(eo, "reason", e->reason);
		else
			cJSON_AddNullToObject(eo, "reason");
	}
}

static char *
status_json(struct relay *r)
{
	struct upstream *up = &r->up;
	cJSON *root = cJSON_CreateObject(), *uw, *subs, *clients, *chans;
	struct reg_channel *ch;
	uint32_t it;
	uint64_t total = 0, now = clock_now_ms();
	char *out;

	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "status", relay_upstream_word(r));
	if (up->state == UP_DISABLED)
		cJSON_AddStringToObject(root, "reason", up->disabled_reason);
	else if (up->state != UP_CONNECTED && up->last_error[0])
		cJSON_AddStringToObject(root, "reason", up->last_error);
	else
		cJSON_AddNullToObject(root, "reason");
	uw = cJSON_AddObjectToObject(root, "uw_connection");
	cJSON_AddBoolToObject(uw, "connected", up->state == UP_CONNECTED);
	cJSON_AddBoolToObject(uw, "running", up->state != UP_DISABLED && up->state != UP_STOPPED);
	cJSON_AddStringToObject(uw, "state", upstream_state_name(up));
	cJSON_AddStringToObject(uw, "url", up->conn.url_masked);
	cJSON_AddNumberToObject(uw, "reconnect_attempts", up->attempt);
	subs = cJSON_AddArrayToObject(uw, "subscribed_channels");
	clients = cJSON_CreateObject();
	chans = cJSON_CreateObject();
	for (ch = registry_first(&r->reg, &it); ch; ch = registry_next(&r->reg, ch, &it)) {
		cJSON *c;

		if (ch->up_state != UPCH_NONE)
			cJSON_AddItemToArray(subs, cJSON_CreateString(ch->name));
		if (!ch->n_members && ch->up_state == UPCH_NONE)
			continue;
		cJSON_AddNumberToObject(clients, ch->name, ch->n_members);
		total += ch->n_members;
		c = cJSON_AddObjectToObject(chans, ch->name);
		cJSON_AddNumberToObject(c, "subscribers", ch->n_members);
		cJSON_AddNumberToObject(c, "seq", (double)ch->seq);
		cJSON_AddStringToObject(c, "epoch", relay_channel_epoch(r, ch));
		cJSON_AddBoolToObject(c, "taped", ch->tape_slot != 0);
		cJSON_AddNumberToObject(c, "frames_in", (double)ch->frames_in);
		cJSON_AddStringToObject(c, "upstream", upch_word(ch));
		cJSON_AddBoolToObject(c, "joined", ch->up_state == UPCH_ACKED);
		if (ch->ack_status[0])
			cJSON_AddStringToObject(c, "ack", ch->ack_status);
		else
			cJSON_AddNullToObject(c, "ack");
	}
	cJSON_AddNumberToObject(uw, "channel_count", cJSON_GetArraySize(subs));
	add_time_or_null(uw, "connected_since", up->connected_since_ms);
	add_time_or_null(uw, "last_frame_at", up->last_frame_ms);
	if (up->last_error[0])
		cJSON_AddStringToObject(uw, "last_error", up->last_error);
	else
		cJSON_AddNullToObject(uw, "last_error");
	if (up->state == UP_WAITING) {
		uint64_t mono = clock_mono_ms();

		cJSON_AddNumberToObject(uw, "next_retry_in",
					up->next_retry_at_ms > mono ?
					(double)(up->next_retry_at_ms - mono) / 1000.0 : 0);
	} else
		cJSON_AddNullToObject(uw, "next_retry_in");
	cJSON_AddNumberToObject(uw, "frames_in", (double)up->frames_in);
	cJSON_AddNumberToObject(uw, "bytes_in", (double)up->bytes_in);
	cJSON_AddNumberToObject(uw, "malformed_frames", (double)up->malformed);
	cJSON_AddNumberToObject(uw, "oversize_frames", (double)up->oversize);
	cJSON_AddNumberToObject(uw, "acks_ok", (double)up->acks_ok);
	cJSON_AddNumberToObject(uw, "acks_failed", (double)up->acks_failed);
	cJSON_AddNumberToObject(uw, "unacked_joins", up->unacked);
	cJSON_AddNumberToObject(uw, "unrouted_frames", (double)up->unrouted);
	cJSON_AddNumberToObject(uw, "joins_sent", (double)up->joins_sent);
	cJSON_AddNumberToObject(uw, "leaves_sent", (double)up->leaves_sent);
	cJSON_AddNumberToObject(uw, "connects", (double)up->connects);
	cJSON_AddNumberToObject(uw, "disconnects", (double)up->disconnects);
	{
		struct upstream_budget_info b;
		cJSON *bo = cJSON_AddObjectToObject(uw, "budget");

		upstream_budget_info(up, &b);
		cJSON_AddNumberToObject(bo, "rate", b.rate);
		cJSON_AddNumberToObject(bo, "burst", b.burst);
		cJSON_AddNumberToObject(bo, "tokens", (double)(int64_t)(b.tokens * 1000) / 1000.0);
		cJSON_AddNumberToObject(bo, "queued_joins", b.queued_joins);
		cJSON_AddNumberToObject(bo, "queued_leaves", b.queued_leaves);
		cJSON_AddNumberToObject(bo, "lingering_leaves", b.lingering);
		cJSON_AddNumberToObject(bo, "leave_delay", r->cfg.leave_delay);
		cJSON_AddNumberToObject(bo, "sent_last_10s", (double)b.sent_10s);
		cJSON_AddNumberToObject(bo, "stalls", (double)up->budget_stalls);
		cJSON_AddNumberToObject(bo, "join_wait_last_ms", (double)up->join_wait_last_ms);
		cJSON_AddNumberToObject(bo, "join_wait_max_ms", (double)up->join_wait_max_ms);
	}
	{
		cJSON *srcs = cJSON_AddObjectToObject(root, "sources");
		uint64_t mono = clock_mono_ms();

		for (size_t k = 0; k < r->n_sources; k++) {
			const struct source *src = &r->sources[k];
			cJSON *o = cJSON_AddObjectToObject(srcs, src->cfg.channel);

			cJSON_AddStringToObject(o, "channel", src->cfg.channel);
			cJSON_AddStringToObject(o, "url", src->path_shown);
			cJSON_AddBoolToObject(o, "polling", src->polling);
			cJSON_AddNumberToObject(o, "interval", src->cfg.interval);
			cJSON_AddNumberToObject(o, "polls", (double)src->polls);
			add_time_or_null(o, "last_poll", src->last_poll_ms);
			if (src->last_status)
				cJSON_AddNumberToObject(o, "last_status", src->last_status);
			else
				cJSON_AddNullToObject(o, "last_status");
			if (src->last_error[0])
				cJSON_AddStringToObject(o, "last_error", src->last_error);
			else
				cJSON_AddNullToObject(o, "last_error");
			cJSON_AddNumberToObject(o, "rows_published", (double)src->rows);
			cJSON_AddNumberToObject(o, "malformed", (double)src->malformed);
			cJSON_AddNumberToObject(o, "errors", (double)src->errors);
			if (src->next_poll_at_ms)
				cJSON_AddNumberToObject(o, "next_poll_in",
							src->next_poll_at_ms > mono ?
							(double)(src->next_poll_at_ms - mono) / 1000.0 : 0);
			else
				cJSON_AddNullToObject(o, "next_poll_in");
		}
	}
	cJSON_AddItemToObject(root, "client_connections", clients);
	cJSON_AddNumberToObject(root, "total_clients", (double)r->n_sessions);
	{
		cJSON *o = cJSON_AddObjectToObject(root, "connections");

		cJSON_AddNumberToObject(o, "open", (double)r->n_conns);
		cJSON_AddNumberToObject(o, "pending", r->n_pending);
		cJSON_AddNumberToObject(o, "max_pending", listener_max_pending(r->lis));
		cJSON_AddNumberToObject(o, "accepted", (double)r->lis->accepted);
		cJSON_AddNumberToObject(o, "evicted", (double)r->lis->evicted);
		cJSON_AddNumberToObject(o, "refused_per_ip", (double)r->lis->refused_per_ip);
		cJSON_AddNumberToObject(o, "no_descriptor", (double)r->lis->no_descriptor);
		cJSON_AddNumberToObject(o, "accept_pauses", (double)r->lis->pauses);
		cJSON_AddNumberToObject(o, "bad_requests", (double)r->bad_requests);
	}
	cJSON_AddNumberToObject(root, "total_subscriptions", (double)total);
	cJSON_AddItemToObject(root, "channels", chans);
	cJSON_AddNumberToObject(root, "frames_out", (double)r->frames_out);
	cJSON_AddNumberToObject(root, "slow_consumers_closed", (double)r->slow_closed);
	{
		/* subscribers' filters: distinct ones, filtered subscriptions,
		 * evaluations (one per frame and distinct filter) and deliveries
		 * held back */
		cJSON *fo = cJSON_AddObjectToObject(root, "filters");

		cJSON_AddNumberToObject(fo, "distinct", r->filters.n);
		cJSON_AddNumberToObject(fo, "subscriptions", (double)r->filters.refs);
		cJSON_AddNumberToObject(fo, "evaluations", (double)r->filters.evaluations);
		cJSON_AddNumberToObject(fo, "skipped", (double)r->filters.skipped);
	}
	cJSON_AddNumberToObject(root, "frames_in_memory", (double)frame_live_count());
	cJSON_AddNumberToObject(root, "frame_bytes_in_memory", (double)frame_live_bytes());
	cJSON_AddStringToObject(root, "epoch", r->epoch);
	if (r->replay)
		replay_json(r, root);
	cluster_json(r, root);
	tape_status_json(r->tape, root);
	cJSON_AddStringToObject(root, "version", UWRELAY_VERSION);
	cJSON_AddNumberToObject(root, "uptime_seconds", (double)(now - r->start_ms) / 1000.0);
	recent_json(&r->recent, root);
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static char *
channels_json(struct relay *r)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *out;

	if (!root)
		return NULL;
	arr = cJSON_AddArrayToObject(root, "channels");
	for (size_t i = 0; i < r->cfg.n_endpoints; i++) {
		const struct config_endpoint *e = &r->cfg.endpoints[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "id", e->id);
		cJSON_AddStringToObject(o, "name", e->name);
		cJSON_AddStringToObject(o, "endpoint", e->path);
		cJSON_AddStringToObject(o, "description", e->description);
		cJSON_AddStringToObject(o, "upstream_channel", e->channel);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON *gen = cJSON_AddObjectToObject(root, "generic");
	cJSON_AddStringToObject(gen, "endpoint", "/api/stream/ws");
	cJSON *allowed = cJSON_AddArrayToObject(gen, "allowed_channels");
	for (size_t i = 0; i < r->cfg.n_allowed; i++)
		cJSON_AddItemToArray(allowed, cJSON_CreateString(r->cfg.allowed_channels[i]));
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return out;
}

static char *
health_json(struct relay *r)
{
	char buf[160];

	snprintf(buf, sizeof(buf), "{\"status\":\"ok\",\"upstream\":\"%s\"}",
		 relay_upstream_word(r));
	return strdup(buf);
}

int
http_api_answer(struct relay *r, const char *path, struct http_answer *a)
{
	const struct asset *f;
	char *body = NULL;

	httpans_init(a, HTTP_STATUS_OK);
	a->ctype = "application/json";
	if (!strcmp(path, "/api/stream/status"))
		body = status_json(r);
	else if (!strcmp(path, "/api/stream/channels"))
		body = channels_json(r);
	else if (!strcmp(path, "/healthz"))
		body = health_json(r);
	else if (!strcmp(path, "/readyz")) {
		/* readiness: 503 while the data source is down */
		a->status = relay_ready(r) ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
		body = health_json(r);
	} else if (!strcmp(path, "/metrics")) {
		body = metrics_text(r);
		a->ctype = "text/plain; version=0.0.4; charset=utf-8";
	} else if ((f = assets_find(&r->static_files, path))) {
		a->ctype = assets_content_type(f->name);
		a->cache = "no-cache";
		a->body = f->data;
		a->len = f->len;
		return 0;
	} else
		return httpans_error(a, HTTP_STATUS_NOT_FOUND, "not found");
	if (!body)
		return -1;
	a->owned = body;
	a->body = body;
	a->len = strlen(body);
	return 0;
}
