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
#include "envelope.h"
#include "relay.h"

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
	const struct cluster *cl = &r->cl;
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

static char *
status_json(struct relay *r)
{
	struct upstream *up = &r->up;
	cJSON *root = cJSON_CreateObject(), *uw, *subs, *clients, *chans;
	struct reg_channel *ch;
	uint32_t it;
	uint64_t total = 0, now = relay_now_ms();
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
	cJSON_AddStringToObject(uw, "state",
				up->state == UP_CONNECTED ? "connected" :
				up->state == UP_CONNECTING ? "connecting" :
				up->state == UP_WAITING ? "waiting_to_retry" :
				up->state == UP_STOPPED ? "stopped" : "disabled");
	cJSON_AddStringToObject(uw, "url", up->url_masked);
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
		uint64_t mono = relay_mono_ms();

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
		uint64_t mono = relay_mono_ms();

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
	cJSON_AddNumberToObject(root, "total_subscriptions", (double)total);
	cJSON_AddItemToObject(root, "channels", chans);
	cJSON_AddNumberToObject(root, "frames_out", (double)r->frames_out);
	cJSON_AddNumberToObject(root, "slow_consumers_closed", (double)r->slow_closed);
	cJSON_AddNumberToObject(root, "frames_in_memory", (double)frame_live_count());
	cJSON_AddNumberToObject(root, "frame_bytes_in_memory", (double)frame_live_bytes());
	cJSON_AddStringToObject(root, "epoch", r->epoch);
	cluster_json(r, root);
	cJSON_AddStringToObject(root, "version", UWRELAY_VERSION);
	cJSON_AddNumberToObject(root, "uptime_seconds", (double)(now - r->start_ms) / 1000.0);
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

/* ---- access glue: struct access_req from what lws parsed ----
 * Until the relay parses requests itself, these functions fill the pure
 * decision's input from lws and carry its verdict into lws headers. */

struct access_lws {
	struct access_req q;
	char host[256], origin[ACCESS_ORIGIN_MAX], token[400], cookie[4096];
};

/* Copies header t into buf; NULL if absent, empty or too long. */
static const char *
hdr(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t cap, size_t *len)
{
	int n = lws_hdr_copy(wsi, buf, (int)cap, t);

	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return buf;
}

/* The presented token: ?access_token= (lws has decoded it), else Bearer. */
static void
presented_token(struct lws *wsi, struct access_lws *x)
{
	char auth[sizeof(x->token) + 8];
	size_t n = 0;

	if (lws_get_urlarg_by_name(wsi, "access_token", x->token, (int)sizeof(x->token))) {
		size_t skip = strlen("access_token=");

		memmove(x->token, x->token + skip, strlen(x->token + skip) + 1);
		x->q.token = x->token;
		x->q.token_len = strlen(x->token);
	} else if (hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, sizeof(auth), &n) && n > 7 &&
		   !strncasecmp(auth, "Bearer ", 7)) {
		const char *t = auth + 7;
		size_t tl;

		while (*t == ' ')
			t++;
		tl = strlen(t);
		if (tl < sizeof(x->token)) {	/* a longer one is no token */
			memcpy(x->token, t, tl + 1);
			x->q.token = x->token;
			x->q.token_len = tl;
		}
	}
	OPENSSL_cleanse(auth, sizeof(auth));
}

static int
is_preflight(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) <= 0)
		return 0;
	if (lws_hdr_custom_length(wsi, "access-control-request-method:", 30) > 0)
		return 1;
	/* lws 4.1.6 keeps no unknown header on HTTP/2 (browsers' choice over
	 * https): there an OPTIONS with an Origin is taken for a preflight */
	return lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COLON_METHOD) > 0 &&
	       lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0;
}

static void
access_from_lws(struct lws *wsi, const char *path, int websocket, struct access_lws *x)
{
	int options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;

	memset(&x->q, 0, sizeof(x->q));
	x->q.method = websocket || !options ? "GET" : "OPTIONS";
	x->q.path = path;
	x->q.websocket = websocket;
	x->q.preflight = is_preflight(wsi);
	x->q.host = hdr(wsi, WSI_TOKEN_HOST, x->host, sizeof(x->host), &x->q.host_len);
	if (!x->q.host)		/* HTTP/2 */
		x->q.host = hdr(wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY, x->host, sizeof(x->host),
				&x->q.host_len);
	x->q.origin = hdr(wsi, WSI_TOKEN_ORIGIN, x->origin, sizeof(x->origin), &x->q.origin_len);
	x->q.cookie = hdr(wsi, WSI_TOKEN_HTTP_COOKIE, x->cookie, sizeof(x->cookie), &x->q.cookie_len);
	presented_token(wsi, x);
}

int
http_api_access(struct relay *r, struct lws *wsi, const char *path, int websocket,
		struct access_verdict *v)
{
	struct access_lws x;
	int st;

	access_from_lws(wsi, path, websocket, &x);
	st = access_decide(&r->access, &x.q, v);
	OPENSSL_cleanse(x.token, sizeof(x.token));
	OPENSSL_cleanse(x.cookie, sizeof(x.cookie));
	if (st == HTTP_STATUS_UNAUTHORIZED)
		r->auth_failures++;
	else if (st == HTTP_STATUS_FORBIDDEN)
		r->origin_refusals++;
	else if (st)
		r->host_refusals++;
	return st;
}

static int
add_hdr(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)value, (int)strlen(value), p, end);
}

/* The verdict's CORS and Set-Cookie headers; with preflight, its answer's. */
static int
add_access_headers(struct lws *wsi, const struct access_verdict *v, int preflight,
		   unsigned char **p, unsigned char *end)
{
	if (v->allow_origin && (add_hdr(wsi, "access-control-allow-origin:", v->allow_origin, p, end) ||
				add_hdr(wsi, "vary:", "Origin", p, end)))
		return -1;
	if (v->allow_origin && preflight &&
	    (add_hdr(wsi, "access-control-allow-methods:", "GET, OPTIONS", p, end) ||
	     add_hdr(wsi, "access-control-allow-headers:", "Authorization", p, end) ||
	     add_hdr(wsi, "access-control-max-age:", "600", p, end)))
		return -1;
	if (v->set_cookie[0] && add_hdr(wsi, "set-cookie:", v->set_cookie, p, end))
		return -1;
	return 0;
}

/* ---- answers ---- */

/* Starts an answer: headers now (with the access verdict's, if v), a copy
 * of the body from WRITEABLE. */
static int
respond_buf(struct session *s, struct lws *wsi, unsigned status, const char *ctype,
	    const void *body, size_t len, const char *cache, const struct access_verdict *v)
{
	unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;

	memset(s, 0, sizeof(*s));
	s->http_buf = malloc(LWS_PRE + len + 1);
	if (!s->http_buf)
		return -1;
	/* the wsi owns the buffer too: at close, lws may hand the callback a
	 * user area that is no longer this session (see http_api_closed) */
	lws_set_opaque_user_data(wsi, s->http_buf);
	if (len)
		memcpy(s->http_buf + LWS_PRE, body, len);
	s->http_len = len;
	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
					(const unsigned char *)cache, (int)strlen(cache), &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
					(const unsigned char *)"nosniff", 7, &p, end) ||
	    (v && add_access_headers(wsi, v, status == HTTP_STATUS_NO_CONTENT, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

/* Same for a malloc'd NUL-terminated JSON or text body, which it frees. */
static int
respond(struct session *s, struct lws *wsi, unsigned status, const char *ctype, char *body,
	const struct access_verdict *v)
{
	int rc;

	if (!body)
		return -1;
	rc = respond_buf(s, wsi, status, ctype, body, strlen(body), "no-store", v);
	free(body);
	return rc;
}

int
http_api_request(struct session *s, struct lws *wsi, struct relay *r, const char *uri)
{
	struct access_verdict v;
	char *body = NULL;
	unsigned status = HTTP_STATUS_OK;
	int st, get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;

	if (!get && lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) <= 0) {
		body = strdup("{\"error\":\"method not allowed\"}");
		return respond(s, wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "application/json", body, NULL);
	}
	st = http_api_access(r, wsi, uri, 0, &v);
	if (st) {
		char msg[256];

		snprintf(msg, sizeof(msg), "{\"error\":\"%s\"}", v.why);
		return respond(s, wsi, (unsigned)st, "application/json", strdup(msg), &v);
	}
	if (!get) {
		/* OPTIONS: a preflight the decision allowed, or nothing we serve */
		if (is_preflight(wsi))
			return respond_buf(s, wsi, HTTP_STATUS_NO_CONTENT, "text/plain", "", 0,
					   "no-store", &v);
		body = strdup("{\"error\":\"method not allowed\"}");
		return respond(s, wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "application/json", body, &v);
	}
	if (!strcmp(uri, "/api/stream/status"))
		body = status_json(r);
	else if (!strcmp(uri, "/api/stream/channels"))
		body = channels_json(r);
	else if (!strcmp(uri, "/healthz"))
		body = health_json(r);
	else if (!strcmp(uri, "/readyz")) {
		/* readiness: 503 while the data source is down */
		status = relay_ready(r) ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
		body = health_json(r);
	} else if (!strcmp(uri, "/metrics")) {
		body = metrics_text(r);
		if (!body)
			return -1;
		return respond(s, wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", body, &v);
	}
	else {
		const struct asset *a = assets_find(&r->static_files, uri);

		if (a)
			return respond_buf(s, wsi, HTTP_STATUS_OK, assets_content_type(a->name), a->data,
					   a->len, "no-cache", &v);
		status = HTTP_STATUS_NOT_FOUND;
		body = strdup("{\"error\":\"not found\"}");
	}
	if (!body)
		return -1;
	return respond(s, wsi, status, "application/json", body, &v);
}

int
http_api_writeable(struct session *s, struct lws *wsi)
{
	size_t chunk, left;
	int final;

	if (!s->http_buf)
		return 0;
	left = s->http_len - s->http_sent;
	chunk = left > 16384 ? 16384 : left;
	final = chunk == left;
	/* lws needs LWS_PRE headroom before the data it writes: move the
	 * window so the bytes before the chunk are ours to clobber */
	if (lws_write(wsi, s->http_buf + LWS_PRE + s->http_sent, chunk,
		      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
		return -1;
	s->http_sent += chunk;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(s->http_buf);
	s->http_buf = NULL;
	lws_set_opaque_user_data(wsi, NULL);
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

/* Frees an answer cut short by a close. It goes by the wsi, never by the
 * user area: a connection lws handed to the junk fallback comes here with
 * that protocol's (smaller) area in place of a session. */
void
http_api_closed(struct lws *wsi)
{
	free(lws_get_opaque_user_data(wsi));
	lws_set_opaque_user_data(wsi, NULL);
}

int
http_api_reply_now(struct lws *wsi, unsigned status, const char *ctype, const char *body)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
	size_t len = strlen(body);

	if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
					(const unsigned char *)"close", 5, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	if ((size_t)(end - p) < len)
		return -1;
	memcpy(p, body, len);
	p += len;
	return lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS) < 0 ? -1 : 0;
}
