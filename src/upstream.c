/* upstream.c: the single WebSocket connection to UW.
 *
 * State: DISABLED (no token) or WAITING -> CONNECTING -> CONNECTED, and back
 * to WAITING on any failure, with the delay from backoff.c scheduled on an
 * lws_sul. Joins and leaves are not sent from where subscriptions change:
 * the registry marks the channel dirty and the WRITEABLE callback
 * reconciles each dirty channel's wanted state (has subscribers or not)
 * with what UW was told, so any burst of subscribe/unsubscribe collapses
 * into at most one message per channel and nothing is sent while down.
 *
 * Health: our own timer rather than lws' validity policy, because the
 * config allows fractional seconds and because only silence (no frame and
 * no pong) should lead to a ping, and only a missing pong to a reconnect. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backoff.h"
#include "envelope.h"
#include "upframe.h"
#include "relay.h"
#include "urlenc.h"

/* lws' validity pings are turned off for this connection: see above. */
static const lws_retry_bo_t no_validity = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

static void schedule_retry(struct upstream *up);
static void probe_start(struct upstream *up);
static void health_cb(lws_sorted_usec_list_t *sul);
static void ack_cb(lws_sorted_usec_list_t *sul);

void
upstream_init(struct upstream *up, struct relay *r)
{
	memset(up, 0, sizeof(*up));
	up->relay = r;
	up->rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	up->rl_ack = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
}

const char *
upstream_status_word(const struct upstream *up)
{
	if (up->state == UP_DISABLED)
		return "disabled";
	if (up->state == UP_CONNECTED)
		return "connected";
	if (up->unauthorized)
		return "unauthorized";
	return "disconnected";
}

static void
set_error(struct upstream *up, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_error(struct upstream *up, const char *fmt, ...)
{
	va_list ap;
	char raw[256];

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* errors can quote lws text that quotes the URL: mask like a log line */
	log_mask(up->last_error, sizeof(up->last_error), raw);
}

/* What both the WebSocket and the 401 probe connect with: the numeric
 * address, the host name for Host/SNI/certificate, the secret path. */
static void
connect_info(struct upstream *up, struct lws_client_connect_info *i, const char *protocol,
	     struct lws **pwsi)
{
	memset(i, 0, sizeof(*i));
	i->context = up->relay->ctx;
	i->vhost = up->relay->vh_client;
	i->address = up->address;
	i->port = up->url.port;
	i->path = up->path_with_token;
	i->host = up->url.host;
	i->origin = up->url.host;
	i->ssl_connection = up->url.tls ? LCCSCF_USE_SSL : 0;
	i->local_protocol_name = protocol;
	i->retry_and_idle_policy = &no_validity;
	i->pwsi = pwsi;
	i->opaque_user_data = up;
}

static int
add_user_agent(struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = (unsigned char **)in, *end = (*p) + len;

	return lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_USER_AGENT,
					    (unsigned char *)UWRELAY_USER_AGENT,
					    (int)strlen(UWRELAY_USER_AGENT), p, end) ? -1 : 0;
}

static void
wake_loop(void *arg)
{
	uint64_t one = 1;

	if (write((int)(intptr_t)arg, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has a wake-up pending anyway */
	}
}

/* Connects to up->address (numeric), sending the host name as Host/SNI. */
static void
connect_resolved(struct upstream *up)
{
	struct lws_client_connect_info i;

	connect_info(up, &i, "uw-upstream", &up->wsi);
	if (!lws_client_connect_via_info(&i)) {
		up->wsi = NULL;
		set_error(up, "connect to %s failed to start", up->url.host);
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
		schedule_retry(up);
	}
}

/* Starts an attempt: a numeric host connects at once, a name is resolved
 * off the loop first (see resolver.h). */
static void
connect_now(struct upstream *up)
{
	up->state = UP_CONNECTING;
	log_msg(LOG_INFO, "upstream: connecting to %s (attempt %u)", up->url_masked, up->attempt + 1);
	if (resolver_is_numeric(up->url.host)) {
		snprintf(up->address, sizeof(up->address), "%s", up->url.host);
		connect_resolved(up);
		return;
	}
	resolver_release(up->resolving);
	up->resolving = resolver_start(up->url.host, wake_loop, (void *)(intptr_t)up->relay->wake_fd);
	if (!up->resolving) {
		set_error(up, "cannot start resolving %s", up->url.host);
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
		schedule_retry(up);
	}
}

void
upstream_resolved(struct upstream *up)
{
	char err[128];

	if (!up->resolving ||
	    !resolver_result(up->resolving, up->address, sizeof(up->address), err, sizeof(err)))
		return;
	resolver_release(up->resolving);
	up->resolving = NULL;
	if (up->state != UP_CONNECTING)
		return;		/* stopped or reconfigured meanwhile */
	if (!up->address[0]) {
		set_error(up, "%s", err);
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
		schedule_retry(up);
		return;
	}
	log_msg(LOG_DEBUG, "upstream: %s is %s", up->url.host, up->address);
	connect_resolved(up);
}

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_retry);

	if (up->state == UP_WAITING)
		connect_now(up);
}

static void
schedule_retry(struct upstream *up)
{
	const struct config *c = &up->relay->cfg;
	struct backoff_cfg bc = { c->reconnect_initial, c->reconnect_max, c->reconnect_jitter };
	uint64_t delay;
	unsigned att;

	if (up->state == UP_STOPPED || up->state == UP_DISABLED)
		return;
	up->attempt++;
	/* a token UW refuses will not fix itself in seconds: retry slowly */
	att = up->unauthorized ? 64 : up->attempt;
	{
		uint32_t rnd = 0;

		lws_get_random(up->relay->ctx, &rnd, sizeof(rnd));
		delay = backoff_delay_ms(&bc, att, (double)rnd / 4294967296.0);
	}
	up->state = UP_WAITING;
	up->next_retry_at_ms = relay_mono_ms() + delay;
	log_msg(LOG_INFO, "upstream: retrying in %.3f s", (double)delay / 1000.0);
	lws_sul_schedule(up->relay->ctx, 0, &up->sul_retry, retry_cb, (lws_usec_t)delay * 1000);
}

static void
wipe_path(struct upstream *up)
{
	if (up->path_with_token) {
		memset(up->path_with_token, 0, strlen(up->path_with_token));
		free(up->path_with_token);
		up->path_with_token = NULL;
	}
}

/* Derives the URL pieces and the secret request path from the config.
 * Returns 0, or -1 with disabled_reason set. */
static int
prepare(struct upstream *up)
{
	struct relay *r = up->relay;
	char *enc;
	size_t n;

	wipe_path(up);
	if (config_parse_url(r->cfg.upstream_url, &up->url)) {
		snprintf(up->disabled_reason, sizeof(up->disabled_reason), "upstream url is invalid");
		return -1;
	}
	snprintf(up->url_masked, sizeof(up->url_masked), "%s://%s:%d%s?token=***",
		 up->url.tls ? "wss" : "ws", up->url.host, up->url.port, up->url.path);
	if (!r->token)
		return -1;
	enc = urlenc(r->token);
	if (!enc) {
		snprintf(up->disabled_reason, sizeof(up->disabled_reason), "out of memory");
		return -1;
	}
	n = strlen(up->url.path) + strlen(enc) + 8;
	up->path_with_token = malloc(n);
	if (up->path_with_token)
		snprintf(up->path_with_token, n, "%s?token=%s", up->url.path, enc);
	memset(enc, 0, strlen(enc));
	free(enc);
	if (!up->path_with_token) {
		snprintf(up->disabled_reason, sizeof(up->disabled_reason), "out of memory");
		return -1;
	}
	if (!up->url.tls)
		log_msg(LOG_WARN, "upstream: %s is plain ws://: the token crosses the network unencrypted "
			"(fine for a local simulator, never for UW)", up->url_masked);
	return 0;
}

void
upstream_start(struct upstream *up)
{
	if (prepare(up)) {
		up->state = UP_DISABLED;
		log_msg(LOG_WARN, "upstream: disabled: %s", up->disabled_reason);
		return;
	}
	connect_now(up);
}

void
upstream_reconfigure(struct upstream *up)
{
	if (up->state == UP_DISABLED || up->state == UP_STOPPED)
		return;
	if (prepare(up)) {
		log_msg(LOG_ERR, "upstream: new url unusable (%s); staying down", up->disabled_reason);
		lws_sul_cancel(&up->sul_retry);
		up->state = UP_DISABLED;
		if (up->wsi)
			lws_set_timeout(up->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	log_msg(LOG_INFO, "upstream: url changed to %s", up->url_masked);
	if (up->wsi) {
		/* on_lost() reconnects, to the new url */
		set_error(up, "upstream url changed by a configuration reload");
		lws_set_timeout(up->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

void
upstream_channel_changed(struct upstream *up, struct reg_channel *ch)
{
	registry_mark_dirty(&up->relay->reg, ch);
	if (up->state == UP_CONNECTED && up->wsi)
		lws_callback_on_writable(up->wsi);
}

static void
reset_channels(struct upstream *up)
{
	struct registry *reg = &up->relay->reg;
	struct reg_channel *ch;
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it)) {
		ch->up_state = UPCH_NONE;
		ch->ack_status[0] = '\0';
	}
}

static void
mark_all_wanted_dirty(struct upstream *up)
{
	struct registry *reg = &up->relay->reg;
	struct reg_channel *ch;
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it))
		if (ch->n_members && !source_by_channel(up->relay, ch->name, ch->name_len))
			registry_mark_dirty(reg, ch);
}

void
upstream_stop(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	if (up->state == UP_DISABLED)
		return;
	up->state = UP_STOPPED;
	if (up->wsi) {
		lws_close_reason(up->wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)"relay stopping", 14);
		lws_set_timeout(up->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	}
}

void
upstream_free(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	free(up->rx);
	up->rx = NULL;
	resolver_release(up->resolving);
	up->resolving = NULL;
	wipe_path(up);
}

/* ---- the 401 reason ----
 * lws 4.1.6 reports a refused upgrade as "HS: ws upgrade unauthorized" and
 * drops UW's explanation. Once per change to unauthorized, one plain GET of
 * the same URL (same TLS verification) reads it; only a 401 answer's text
 * is taken, cleaned to printable ASCII and capped. */

static void
probe_start(struct upstream *up)
{
	struct lws_client_connect_info i;

	if (up->probe_wsi || !up->path_with_token || !up->address[0])
		return;
	connect_info(up, &i, "uw-probe", &up->probe_wsi);	/* address: the refused attempt's */
	i.method = "GET";
	up->probe_status = 0;
	up->probe_len = 0;
	if (!lws_client_connect_via_info(&i))
		up->probe_wsi = NULL;
}

static void
probe_done(struct upstream *up)
{
	size_t n = 0, len = up->probe_len;
	int status = up->probe_status;

	/* COMPLETED and CLOSED both come here: act once */
	up->probe_wsi = NULL;
	up->probe_status = 0;
	up->probe_len = 0;
	if (status != 401 || !len)
		return;
	for (size_t i = 0; i < len && n + 1 < sizeof(up->auth_reason); i++) {
		char c = up->probe_body[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c >= ' ' && c < 0x7f && !(c == ' ' && (!n || up->auth_reason[n - 1] == ' ')))
			up->auth_reason[n++] = c;
	}
	while (n && up->auth_reason[n - 1] == ' ')
		n--;
	up->auth_reason[n] = '\0';
	if (!n)
		return;
	log_msg(LOG_ERR, "upstream: UW says: %s", up->auth_reason);
	if (up->unauthorized)
		set_error(up, "HTTP 401 Unauthorized: %s", up->auth_reason);
}

int
upstream_probe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	struct upstream *up = lws_get_opaque_user_data(wsi);
	(void)user;

	if (!up)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_user_agent(wsi, in, len);
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
		up->probe_status = (int)lws_http_client_http_response(wsi);
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (len > sizeof(up->probe_body) - up->probe_len)
			len = sizeof(up->probe_body) - up->probe_len;
		memcpy(up->probe_body + up->probe_len, in, len);
		up->probe_len += len;
		break;
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		char buf[LWS_PRE + 1024], *px = buf + LWS_PRE;
		int lenx = sizeof(buf) - LWS_PRE;

		if (lws_http_client_read(wsi, &px, &lenx) < 0)
			return -1;
		break;
	}
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		probe_done(up);
		break;
	default:
		break;
	}
	return 0;
}

/* ---- health ---- */

static void
health_arm(struct upstream *up, uint64_t in_ms)
{
	lws_sul_schedule(up->relay->ctx, 0, &up->sul_health, health_cb, (lws_usec_t)in_ms * 1000);
}

static void
health_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_health);
	const struct config *c = &up->relay->cfg;
	uint64_t now = relay_mono_ms(), idle_ms = (uint64_t)(c->health_idle * 1000),
		 pong_ms = (uint64_t)(c->health_pong * 1000);

	if (up->state != UP_CONNECTED || !up->wsi)
		return;
	if (up->ping_sent_ms) {
		if (now - up->ping_sent_ms >= pong_ms) {
			set_error(up, "no pong within %.3g s after %.3g s of silence: link is dead",
				  c->health_pong, c->health_idle);
			log_msg(LOG_WARN, "upstream: %s, reconnecting", up->last_error);
			lws_set_timeout(up->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			return;
		}
		health_arm(up, up->ping_sent_ms + pong_ms - now);
		return;
	}
	if (now - up->last_rx_ms >= idle_ms) {
		log_msg(LOG_DEBUG, "upstream: %.3g s of silence, sending a ping", c->health_idle);
		up->ping_due = 1;
		up->ping_sent_ms = now;
		lws_callback_on_writable(up->wsi);
		health_arm(up, pong_ms);
		return;
	}
	health_arm(up, up->last_rx_ms + idle_ms - now);
}

/* ---- joins that are never acked ----
 * UW acks a join within ~50 ms. A server that never does (the docs route
 * /api/socket answers 101 and then nothing) would otherwise look like a
 * quiet market forever. */

static void
ack_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_ack);
	struct registry *reg = &up->relay->reg;
	uint64_t now = relay_mono_ms(), to = (uint64_t)(up->relay->cfg.ack_timeout * 1000), next = 0;
	struct reg_channel *ch;
	uint32_t it, n = 0;
	char first[CHNAME_MAX + 1] = "";

	if (up->state != UP_CONNECTED)
		return;
	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it)) {
		if (ch->up_state != UPCH_JOIN_SENT)
			continue;
		if (now - ch->join_sent_ms >= to) {
			if (!n++)
				snprintf(first, sizeof(first), "%s", ch->name);
		} else if (!next || ch->join_sent_ms + to - now < next)
			next = ch->join_sent_ms + to - now;
	}
	if (n && n != up->unacked) {
		set_error(up, "no ack from UW within %.3g s for %u join(s) (first: %s): is the url the "
			  "real socket, not the documentation route?", up->relay->cfg.ack_timeout, n, first);
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
	}
	up->unacked = n;
	if (next)
		lws_sul_schedule(up->relay->ctx, 0, &up->sul_ack, ack_cb, (lws_usec_t)next * 1000);
}

/* ---- incoming frames ---- */

static void
on_ack(struct upstream *up, const struct upframe *f)
{
	struct reg_channel *ch = f->channel_escaped ? NULL :
				 registry_find(&up->relay->reg, f->channel, f->channel_len);
	size_t sl = f->ack_status_len;

	if (f->ack_ok)
		up->acks_ok++;
	else {
		up->acks_failed++;
		log_limited(&up->rl_ack, relay_mono_ms(), LOG_WARN,
			    "upstream: join of '%.*s' answered with status '%.*s'",
			    (int)(f->channel_len > 64 ? 64 : f->channel_len), f->channel,
			    (int)(sl > 32 ? 32 : sl), f->ack_status);
		set_error(up, "join of '%.*s' answered with status '%.*s'",
			  (int)(f->channel_len > 64 ? 64 : f->channel_len), f->channel,
			  (int)(sl > 32 ? 32 : sl), f->ack_status);
	}
	if (!ch)
		return;
	if (sl >= sizeof(ch->ack_status))
		sl = sizeof(ch->ack_status) - 1;
	memcpy(ch->ack_status, f->ack_status, sl);
	ch->ack_status[sl] = '\0';
	if (ch->up_state == UPCH_JOIN_SENT) {
		ch->up_state = f->ack_ok ? UPCH_ACKED : UPCH_ACK_FAILED;
		if (up->unacked)
			up->unacked--;
	}
}

static void
on_message(struct upstream *up, const char *buf, size_t len)
{
	struct relay *r = up->relay;
	struct upframe f;
	struct reg_channel *ch;

	up->frames_in++;
	up->bytes_in += len;
	up->last_frame_ms = relay_now_ms();
	switch (upframe_parse(buf, len, &f)) {
	case UPFRAME_MALFORMED:
		up->malformed++;
		log_limited(&up->rl_malformed, relay_mono_ms(), LOG_WARN,
			    "upstream: dropped a malformed frame (%s, %zu bytes)", f.error, len);
		return;
	case UPFRAME_ACK:
		on_ack(up, &f);
		return;
	case UPFRAME_DATA:
		break;
	}
	ch = f.channel_escaped ? NULL : registry_find(&r->reg, f.channel, f.channel_len);
	if (!ch || !ch->n_members) {
		up->unrouted++;
		return;
	}
	relay_publish(r, ch, f.payload, f.payload_len, (int64_t)up->last_frame_ms, up->rx_us);
}

static void
on_receive(struct upstream *up, struct lws *wsi, const char *in, size_t len)
{
	int first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi) &&
						       !lws_remaining_packet_payload(wsi);
	size_t max = (size_t)up->relay->cfg.max_frame;

	up->rx_us = relay_mono_us();
	up->last_rx_ms = up->rx_us / 1000;
	up->ping_sent_ms = 0;
	if (first && !up->rx_len && !up->rx_discard)
		up->rx_binary = lws_frame_is_binary(wsi);
	if (!up->rx_discard) {
		if (up->rx_len + len > max) {
			up->rx_discard = 1;
			up->rx_len = 0;
		} else if (final && !up->rx_len) {
			/* the common case: a whole message in one callback, no copy */
			if (up->rx_binary) {
				up->malformed++;
				log_limited(&up->rl_malformed, relay_mono_ms(), LOG_WARN,
					    "upstream: dropped a binary frame (%zu bytes)", len);
			} else
				on_message(up, in, len);
			return;
		} else {
			if (up->rx_len + len > up->rx_cap) {
				size_t nc = up->rx_cap ? up->rx_cap : 16384;
				char *nb;

				while (nc < up->rx_len + len)
					nc *= 2;
				if (nc > max)
					nc = max;
				nb = realloc(up->rx, nc);
				if (!nb) {
					up->rx_discard = 1;
					up->rx_len = 0;
					goto check_final;
				}
				up->rx = nb;
				up->rx_cap = nc;
			}
			memcpy(up->rx + up->rx_len, in, len);
			up->rx_len += len;
		}
	}
check_final:
	if (!final)
		return;
	if (up->rx_discard) {
		up->oversize++;
		log_limited(&up->rl_malformed, relay_mono_ms(), LOG_WARN,
			    "upstream: dropped a frame over max_frame (%zu bytes)", max);
	} else if (up->rx_binary) {
		up->malformed++;
		log_limited(&up->rl_malformed, relay_mono_ms(), LOG_WARN,
			    "upstream: dropped a binary frame (%zu bytes)", up->rx_len);
	} else
		on_message(up, up->rx, up->rx_len);
	up->rx_len = 0;
	up->rx_discard = 0;
	/* a burst of big frames should not pin a big buffer forever */
	if (up->rx_cap > 65536) {
		free(up->rx);
		up->rx = NULL;
		up->rx_cap = 0;
	}
}

/* ---- writing joins, leaves and pings ---- */

static int
send_text(struct lws *wsi, const char *txt)
{
	unsigned char buf[LWS_PRE + 256];
	size_t n = strlen(txt);

	if (n > sizeof(buf) - LWS_PRE)
		return -1;
	memcpy(buf + LWS_PRE, txt, n);
	return lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT) < (int)n ? -1 : 0;
}

static int
on_writeable(struct upstream *up, struct lws *wsi)
{
	struct registry *reg = &up->relay->reg;
	struct reg_channel *ch;
	char msg[160];

	if (up->ping_due) {
		unsigned char buf[LWS_PRE + 4];

		up->ping_due = 0;
		if (lws_write(wsi, buf + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
		if (lws_send_pipe_choked(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	while ((ch = registry_pop_dirty(reg))) {
		int want = ch->n_members > 0;

		if (want && ch->up_state == UPCH_NONE) {
			snprintf(msg, sizeof(msg), "{\"channel\":\"%s\",\"msg_type\":\"join\"}", ch->name);
			ch->up_state = UPCH_JOIN_SENT;
			ch->join_sent_ms = relay_mono_ms();
			up->joins_sent++;
			if (lws_dll2_is_detached(&up->sul_ack.list))
				lws_sul_schedule(up->relay->ctx, 0, &up->sul_ack, ack_cb,
						 (lws_usec_t)(up->relay->cfg.ack_timeout * 1e6));
			log_msg(LOG_INFO, "upstream: join %s", ch->name);
		} else if (!want && ch->up_state != UPCH_NONE) {
			snprintf(msg, sizeof(msg), "{\"channel\":\"%s\",\"msg_type\":\"leave\"}", ch->name);
			ch->up_state = UPCH_NONE;
			ch->ack_status[0] = '\0';
			up->leaves_sent++;
			log_msg(LOG_INFO, "upstream: leave %s", ch->name);
		} else
			continue;
		if (send_text(wsi, msg))
			return -1;
		if (lws_send_pipe_choked(wsi)) {
			if (reg->dirty_head)
				lws_callback_on_writable(wsi);
			return 0;
		}
	}
	return 0;
}

/* Tells every browser that the upstream went up or down, so a UI can show
 * "reconnecting" rather than mistake an outage for a quiet market. */
static void
announce(struct upstream *up, const char *state)
{
	cJSON *o = cJSON_CreateObject();
	char *txt;

	if (!o)
		return;
	cJSON_AddStringToObject(o, "type", "upstream");
	cJSON_AddStringToObject(o, "state", state);
	if (strcmp(state, "connected") && up->last_error[0])
		cJSON_AddStringToObject(o, "reason", up->last_error);
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (txt) {
		session_broadcast_notice(up->relay, txt);
		free(txt);
	}
}

static void
on_established(struct upstream *up)
{
	up->state = UP_CONNECTED;
	up->unauthorized = 0;
	up->auth_reason[0] = '\0';
	up->attempt = 0;
	up->connects++;
	up->connected_since_ms = relay_now_ms();
	up->last_rx_ms = relay_mono_ms();
	up->ping_sent_ms = 0;
	up->ping_due = 0;
	up->last_error[0] = '\0';
	up->rx_len = 0;
	up->rx_discard = 0;
	log_msg(LOG_INFO, "upstream: connected to %s", up->url_masked);
	reset_channels(up);
	mark_all_wanted_dirty(up);
	if (up->relay->reg.dirty_head)
		lws_callback_on_writable(up->wsi);
	health_arm(up, (uint64_t)(up->relay->cfg.health_idle * 1000));
	announce(up, "connected");
	notify_status(up->relay);
}

static void
on_lost(struct upstream *up, const char *why)
{
	int was_connected = up->state == UP_CONNECTED;

	up->wsi = NULL;
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	up->unacked = 0;
	reset_channels(up);
	up->connected_since_ms = 0;
	up->rx_len = 0;
	up->rx_discard = 0;
	if (why && *why)
		set_error(up, "%s", why);
	if (was_connected) {
		up->disconnects++;
		log_msg(LOG_WARN, "upstream: connection lost%s%s", up->last_error[0] ? ": " : "",
			up->last_error);
		if (up->state != UP_STOPPED) {
			announce(up, "disconnected");
			notify_status(up->relay);
		}
	}
	if (up->state == UP_STOPPED || up->state == UP_DISABLED)
		return;
	schedule_retry(up);
}

int
upstream_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct upstream *up = lws_get_opaque_user_data(wsi);
	(void)user;

	if (!up)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return add_user_agent(wsi, in, len);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		const char *why = in ? (const char *)in : "unknown error";
		int status = lws_http_client_http_response(wsi);

		if (status == 401 || strstr(why, "unauthorized")) {
			if (!up->unauthorized) {
				log_msg(LOG_ERR, "upstream: UW refused the token (HTTP 401): it lacks the "
					"websocket scope or is wrong; retrying slowly");
				probe_start(up);
			}
			up->unauthorized = 1;
			if (up->auth_reason[0])
				set_error(up, "HTTP 401 Unauthorized: %s", up->auth_reason);
			else
				set_error(up, "HTTP 401 Unauthorized: the token does not have the websocket scope");
		} else {
			up->unauthorized = 0;
			if (status > 0)
				set_error(up, "handshake failed: HTTP %d (%s)", status, why);
			else
				set_error(up, "connect failed: %s", why);
			log_msg(LOG_WARN, "upstream: %s", up->last_error);
		}
		up->wsi = NULL;
		on_lost(up, NULL);
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		on_established(up);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		on_receive(up, wsi, in, len);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		up->last_rx_ms = relay_mono_ms();
		up->ping_sent_ms = 0;
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(up, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			unsigned code = ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1];

			set_error(up, "UW closed the connection (code %u)", code);
		} else
			set_error(up, "UW closed the connection");
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		on_lost(up, up->last_error[0] ? NULL : "connection closed");
		break;
	default:
		break;
	}
	return 0;
}
