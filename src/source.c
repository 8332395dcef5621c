/* source.c: REST-polled channels (UW data with no WebSocket channel, such
 * as congress trades), made to look like any other channel.
 *
 * A source polls only while its channel has subscribers: when the first
 * one arrives (at once, or at last poll + interval if that is later), then
 * every `interval`. Each row of the answer not
 * seen before is published, oldest first, through the same envelope,
 * history and fan-out as WebSocket frames, its JSON text spliced as is.
 * 429 and 5xx back off (at least Retry-After), 401/403 are shown in status,
 * a malformed body is counted and logged. Requests use the same lws
 * context, client vhost (TLS verification, ca_file) and the off-loop
 * resolver; the token travels only in the Authorization header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backoff.h"
#include "clock.h"
#include "envelope.h"
#include "relay_state.h"
#include "resolver.h"
#include "restbody.h"
#include "session.h"
#include "source.h"
#include "version.h"

#define SOURCE_MAX_BODY (8u * 1024 * 1024)
#define SOURCE_SEEN 10000
#define SOURCE_MAX_BACKOFF_S 300.0

static void poll_cb(lws_sorted_usec_list_t *sul);

static void
schedule(struct source *src, uint64_t delay_ms)
{
	src->next_poll_at_ms = clock_mono_ms() + delay_ms;
	lws_sul_schedule(src->relay->ctx, 0, &src->sul, poll_cb, (lws_usec_t)delay_ms * 1000);
}

/* The last error, masked like a log line (it is shown by the status API). */
#define set_error(src, ...) log_maskf((src)->last_error, sizeof((src)->last_error), __VA_ARGS__)

/* After a failure: interval doubled per failure, capped, and never sooner
 * than the server's Retry-After. */
static void
schedule_after_failure(struct source *src, unsigned retry_after_s)
{
	struct backoff_cfg bc = { src->cfg.interval, SOURCE_MAX_BACKOFF_S, 0.1 };
	uint32_t rnd = 0;
	uint64_t d;

	src->failures++;
	lws_get_random(src->relay->ctx, &rnd, sizeof(rnd));
	d = backoff_delay_ms(&bc, src->failures + 1, (double)rnd / 4294967296.0);
	if ((uint64_t)retry_after_s * 1000 > d)
		d = (uint64_t)retry_after_s * 1000;
	if (src->polling)
		schedule(src, d);
}

static void
publish_rows(struct source *src, const char *body, size_t len)
{
	struct relay *r = src->relay;
	struct span *rows;
	size_t n, fresh = 0;
	const char *err;
	struct reg_channel *ch = registry_find(&r->reg, src->cfg.channel, strlen(src->cfg.channel));

	if (restbody_rows(body, len, &rows, &n, &err)) {
		src->malformed++;
		set_error(src, "malformed answer: %s", err);
		log_limited(&src->rl, clock_mono_ms(), LOG_WARN, "source %s: %s", src->cfg.channel,
			    src->last_error);
		return;
	}
	/* UW lists the newest first: publish oldest first, so seq follows time */
	for (size_t i = n; i-- > 0;) {
		struct span id;
		uint64_t h;

		if (src->cfg.id_field[0] && !restbody_field(rows[i], src->cfg.id_field, &id))
			h = seenset_hash(id.p, id.len);
		else
			h = seenset_hash(rows[i].p, rows[i].len);
		if (!seenset_add(&src->seen, h))
			continue;
		fresh++;
		if (!ch || !ch->n_members)
			continue;	/* everyone left meanwhile: remember, do not send */
		relay_publish(r, ch, rows[i].p, rows[i].len, (int64_t)clock_now_ms(), clock_mono_us());
		src->rows++;
	}
	free(rows);
	if (fresh)
		log_msg(LOG_DEBUG, "source %s: %zu new row(s) of %zu", src->cfg.channel, fresh, n);
}

static void
request_done(struct source *src)
{
	int status = src->status;
	unsigned retry_after = src->retry_after;

	src->wsi = NULL;
	src->last_status = status;
	if (status == 200 && !src->overflow && !src->conn_error) {
		src->failures = 0;
		src->last_error[0] = '\0';
		publish_rows(src, src->body, src->body_len);
		if (src->polling)
			schedule(src, (uint64_t)(src->cfg.interval * 1000));
	} else {
		src->errors++;
		if (src->overflow)
			set_error(src, "answer larger than %u bytes", SOURCE_MAX_BODY);
		else if (src->conn_error)
			;	/* set by the callback */
		else if (status == 401 || status == 403)
			set_error(src, "HTTP %d: the token is not allowed this REST endpoint", status);
		else if (status == 429)
			set_error(src, "HTTP 429: rate limited%s", retry_after ? " (Retry-After honoured)" : "");
		else
			set_error(src, "HTTP %d", status);
		if (status == 200 && src->overflow)
			src->malformed++;
		log_limited(&src->rl, clock_mono_ms(), LOG_WARN, "source %s: %s", src->cfg.channel,
			    src->last_error);
		schedule_after_failure(src, retry_after);
	}
	free(src->body);
	src->body = NULL;
	src->body_len = src->body_cap = 0;
}

static void
start_request(struct source *src)
{
	struct relay *r = src->relay;
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = r->ctx;
	i.vhost = r->vh_client;
	i.address = src->address;
	i.port = src->url.port;
	i.path = src->path;
	i.host = src->url.host;
	i.origin = src->url.host;
	i.method = "GET";
	i.ssl_connection = src->url.tls ? LCCSCF_USE_SSL : 0;
	i.local_protocol_name = "uw-rest";
	i.pwsi = &src->wsi;
	i.opaque_user_data = src;
	src->status = 0;
	src->retry_after = 0;
	src->overflow = 0;
	src->conn_error = 0;
	src->polls++;
	src->last_poll_ms = clock_now_ms();
	src->last_poll_mono_ms = clock_mono_ms();
	if (!lws_client_connect_via_info(&i)) {
		src->wsi = NULL;
		src->conn_error = 1;
		set_error(src, "request to %s failed to start", src->url.host);
		request_done(src);
	}
}

static void
poll_cb(lws_sorted_usec_list_t *sul)
{
	struct source *src = lws_container_of(sul, struct source, sul);

	src->next_poll_at_ms = 0;
	if (!src->polling || src->wsi || src->resolving)
		return;
	if (!src->relay->token) {
		set_error(src, "no UW token");
		return;
	}
	if (resolver_is_numeric(src->url.host)) {
		snprintf(src->address, sizeof(src->address), "%s", src->url.host);
		start_request(src);
		return;
	}
	src->resolving = resolver_start(src->url.host, resolver_wake_eventfd, (void *)(intptr_t)src->relay->wake_fd);
	if (!src->resolving) {
		src->errors++;
		set_error(src, "cannot start resolving %s", src->url.host);
		schedule_after_failure(src, 0);
	}
}

void
source_resolved(struct source *src)
{
	char err[128];

	if (!src->resolving ||
	    !resolver_result(src->resolving, src->address, sizeof(src->address), err, sizeof(err)))
		return;
	resolver_release(src->resolving);
	src->resolving = NULL;
	if (!src->address[0]) {
		src->errors++;
		set_error(src, "%s", err);
		schedule_after_failure(src, 0);
		return;
	}
	if (src->polling)
		start_request(src);
}

void
source_wanted(struct source *src, int on)
{
	if (on && !src->polling) {
		uint64_t now = clock_mono_ms(), at = now,
			 every = (uint64_t)(src->cfg.interval * 1000);

		src->polling = 1;
		/* first subscriber: poll now if the last poll is an interval
		 * old, else when it will be, so subscribe/unsubscribe churn
		 * costs UW at most one request per interval; and never sooner
		 * than a back-off still running */
		if (src->last_poll_mono_ms && src->last_poll_mono_ms + every > now)
			at = src->last_poll_mono_ms + every;
		if (src->failures && src->next_poll_at_ms > at)
			at = src->next_poll_at_ms;
		if (!src->wsi && !src->resolving)
			schedule(src, at - now);
		log_msg(LOG_DEBUG, "source %s: polling %s every %g s", src->cfg.channel, src->path_shown,
			src->cfg.interval);
	} else if (!on && src->polling) {
		src->polling = 0;
		if (!src->failures) {
			lws_sul_cancel(&src->sul);
			src->next_poll_at_ms = 0;
		}
		log_msg(LOG_DEBUG, "source %s: no subscribers, polling stops", src->cfg.channel);
	}
}

/* The request's headers: the token as a bearer (wiped after), our
 * User-Agent, JSON wanted. Returns 0, or -1 if they do not fit. */
static int
add_headers(struct source *src, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	char auth[600];
	int n = snprintf(auth, sizeof(auth), "Bearer %s", src->relay->token), rc = 0;

	if (n < 0 || (size_t)n >= sizeof(auth) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
					 (unsigned char *)auth, n, p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_USER_AGENT,
					 (unsigned char *)UWRELAY_USER_AGENT,
					 (int)strlen(UWRELAY_USER_AGENT), p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCEPT,
					 (unsigned char *)"application/json", 16, p, end))
		rc = -1;
	memset(auth, 0, sizeof(auth));
	return rc;
}

/* The answer's status and Retry-After. */
static void
on_answer_head(struct source *src, struct lws *wsi)
{
	char ra[32];

	src->status = (int)lws_http_client_http_response(wsi);
	if (lws_hdr_copy(wsi, ra, sizeof(ra), WSI_TOKEN_HTTP_RETRY_AFTER) > 0) {
		long v = strtol(ra, NULL, 10);

		src->retry_after = v > 0 && v < 86400 ? (unsigned)v : 0;
	}
}

/* A piece of the body, kept up to SOURCE_MAX_BODY (beyond: overflow). */
static void
body_append(struct source *src, const void *in, size_t len)
{
	if (src->overflow)
		return;
	if (src->body_len + len > SOURCE_MAX_BODY) {
		src->overflow = 1;
		return;
	}
	if (src->body_len + len > src->body_cap) {
		size_t nc = src->body_cap ? src->body_cap : 16384;
		char *nb;

		while (nc < src->body_len + len)
			nc *= 2;
		nb = realloc(src->body, nc);
		if (!nb) {
			src->overflow = 1;
			return;
		}
		src->body = nb;
		src->body_cap = nc;
	}
	memcpy(src->body + src->body_len, in, len);
	src->body_len += len;
}

/* The request ended without a whole answer: why says how. */
static void
request_failed(struct source *src, const char *why)
{
	src->conn_error = 1;
	set_error(src, "%s", why);
	request_done(src);
}

int
source_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct source *src = lws_get_opaque_user_data(wsi);
	char buf[LWS_PRE + 4096], *px = buf + LWS_PRE, why[300];
	int lenx = sizeof(buf) - LWS_PRE;
	(void)user;

	if (!src)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_headers(src, wsi, (unsigned char **)in, *(unsigned char **)in + len);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		on_answer_head(src, wsi);
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		body_append(src, in, len);
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (src->wsi == wsi)
			request_done(src);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (src->wsi == wsi || !src->wsi) {
			snprintf(why, sizeof(why), "request failed: %s", in ? (const char *)in : "unknown error");
			request_failed(src, why);
		}
		break;
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (src->wsi == wsi)	/* closed before completing */
			request_failed(src, "connection closed before the answer was complete");
		break;
	default:
		break;
	}
	return 0;
}

int
sources_init(struct relay *r)
{
	struct config_url url;

	if (config_parse_rest_url(r->cfg.rest_url, &url))
		return -1;
	r->sources = calloc(r->cfg.n_sources ? r->cfg.n_sources : 1, sizeof(*r->sources));
	if (!r->sources)
		return -1;
	r->n_sources = r->cfg.n_sources;
	for (size_t k = 0; k < r->n_sources; k++) {
		struct source *src = &r->sources[k];
		const struct config_source *c = &r->cfg.sources[k];

		src->relay = r;
		src->url = url;
		src->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 3);
		if (!(src->cfg.channel = strdup(c->channel)) || !(src->cfg.id_field = strdup(c->id_field)))
			return -1;
		src->cfg.interval = c->interval;
		snprintf(src->path, sizeof(src->path), "%s%s%s", c->path, c->query[0] ? "?" : "", c->query);
		snprintf(src->path_shown, sizeof(src->path_shown), "%s://%s:%d%s",
			 url.tls ? "https" : "http", url.host, url.port, src->path);
		if (seenset_init(&src->seen, SOURCE_SEEN))
			return -1;
	}
	return 0;
}

void
sources_free(struct relay *r)
{
	for (size_t k = 0; r->sources && k < r->n_sources; k++) {
		struct source *src = &r->sources[k];

		lws_sul_cancel(&src->sul);
		resolver_release(src->resolving);
		seenset_free(&src->seen);
		free(src->body);
		free(src->cfg.channel);
		free(src->cfg.id_field);
	}
	free(r->sources);
	r->sources = NULL;
	r->n_sources = 0;
}

struct source *
source_by_channel(struct relay *r, const char *name, size_t len)
{
	for (size_t k = 0; k < r->n_sources; k++)
		if (strlen(r->sources[k].cfg.channel) == len && !memcmp(r->sources[k].cfg.channel, name, len))
			return &r->sources[k];
	return NULL;
}
