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
 * Politeness: UW can throttle or revoke a token that misbehaves, so what
 * browsers do must not reach UW unfiltered. Every join and leave (the
 * rejoin after a reconnect too) takes a token from one bucket
 * (upstream.budget); when it is empty the reconciler stops and
 * sul_reconcile wakes it when the next token is due, joins before leaves
 * (someone waits for a join, nobody for a leave). A channel whose last
 * subscriber leaves is left only upstream.leave_delay later if still
 * unwanted, so sockets opening and closing cost UW nothing. Pings, pongs
 * and the close are protocol upkeep, not driven by browsers: they do not
 * take tokens.
 *
 * Health: our own timer rather than lws' validity policy, because the
 * config allows fractional seconds and because only silence (no frame and
 * no pong) should lead to a ping, and only a missing pong to a reconnect.
 *
 * Framing: the connection is a raw lws client (method "RAW", TLS by lws)
 * and the WebSocket protocol is ours (wsframe.h): lws 4.1.6 parses a
 * client's frames one byte per call, which capped ingest at ~110k frames/s
 * of 1 KB. We send the upgrade request, check the 101 and its
 * Sec-WebSocket-Accept, then parse UW's frames in place from whole reads
 * and mask what we send. What lws no longer does for this connection:
 * permessage-deflate (never offered; UW does not need it), following
 * redirects (a 3xx is reported as a failed handshake, as before) and
 * proxies (never configured). */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backoff.h"
#include "clock.h"
#include "envelope.h"
#include "notify.h"
#include "relay.h"
#include "resolver.h"
#include "session.h"
#include "source.h"
#include "upframe.h"
#include "upstream.h"
#include "urlenc.h"

/* lws' validity pings are turned off for this connection: see above. */
static const lws_retry_bo_t no_validity = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

enum {
	UPHS_NONE = 0,	/* no connection yet */
	UPHS_TLS,	/* TCP up, TLS handshake in progress (wss://) */
	UPHS_SEND,	/* connected: the upgrade request is due */
	UPHS_WAIT,	/* request sent: reading the answer's head */
	UPHS_BODY,	/* refused: reading the body (UW's reason for a 401) */
	UPHS_DONE,	/* 101 checked: WebSocket frames */
};

/* An answer head longer than this is refused; a refusal's body is read up
 * to BODY_MAX bytes. */
#define HS_HEAD_MAX 16384
#define HS_BODY_MAX 255
/* From TCP connect to a checked 101 (lws' own default for its handshakes). */
#define HS_TIMEOUT_S 20
/* After we send a close, how long to wait for UW's before hanging up. */
#define CLOSE_WAIT_S 1
/* Plaintext decrypted before it is parsed: big enough that most frames
 * are whole in it (parsed in place), as for a plain read. */
#define PLAIN_CAP 65536

static void schedule_retry(struct upstream *up);
static void hang_up(struct upstream *up, uint16_t code);
static void health_cb(lws_sorted_usec_list_t *sul);
static void ack_cb(lws_sorted_usec_list_t *sul);
static void reconcile_cb(lws_sorted_usec_list_t *sul);
static int reconcile(struct upstream *up, struct lws *wsi);

void
upstream_init(struct upstream *up, struct relay *r)
{
	memset(up, 0, sizeof(*up));
	up->relay = r;
	up->rl_malformed = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	up->rl_ack = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000, 5);
	up->rl_budget = (struct log_ratelimit)LOG_RATELIMIT_INIT(60000, 1);
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

/* A raw TCP connection to the numeric address. lws sends nothing on it:
 * TLS (uptls.c, with the host name for SNI and the certificate check) and
 * the upgrade request (send_upgrade) are ours. */
static void
connect_info(struct upstream *up, struct lws_client_connect_info *i)
{
	memset(i, 0, sizeof(*i));
	i->context = up->relay->ctx;
	i->vhost = up->relay->vh_client;
	i->address = up->address;
	i->port = up->url.port;
	i->path = "/";			/* unused by a raw connection: never the token */
	i->host = up->url.host;
	i->method = "RAW";
	i->ssl_connection = 0;		/* wss:// is done by uptls.c over the raw bytes */
	i->local_protocol_name = "uw-upstream";
	i->retry_and_idle_policy = &no_validity;
	i->pwsi = &up->wsi;
	i->opaque_user_data = up;
}

/* Connects to up->address (numeric), sending the host name as Host/SNI. */
static void
connect_resolved(struct upstream *up)
{
	struct lws_client_connect_info i;

	connect_info(up, &i);
	up->hs_state = UPHS_NONE;
	up->hs_len = 0;
	up->hs_head_len = 0;
	up->attempt_failed = 0;
	up->closing = 0;
	up->close_due = 0;
	up->pong_due = 0;
	wsf_rx_free(&up->wsrx);
	wsf_rx_init(&up->wsrx, (size_t)up->relay->cfg.max_frame);
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
	up->resolving = resolver_start(up->url.host, resolver_wake_eventfd, (void *)(intptr_t)up->relay->wake_fd);
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
	up->next_retry_at_ms = clock_mono_ms() + delay;
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
	if (up->url.tls && !up->tls_ctx) {
		char err[200];

		up->tls_ctx = uptls_ctx_new(r->cfg.ca_file, err, sizeof(err));
		if (!up->tls_ctx) {
			snprintf(up->disabled_reason, sizeof(up->disabled_reason), "%s", err);
			return -1;
		}
	}
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
		hang_up(up, WSF_CLOSE_GOING_AWAY);
	}
}

void
upstream_channel_changed(struct upstream *up, struct reg_channel *ch)
{
	/* the linger of a leave, and the wait of a join, count from here */
	ch->want_changed_ms = clock_mono_ms();
	registry_mark_dirty(&up->relay->reg, ch);
	if (up->state == UP_CONNECTED && up->wsi)
		lws_callback_on_writable(up->wsi);
}

void
upstream_config_changed(struct upstream *up)
{
	if (up->state == UP_CONNECTED && up->wsi && up->relay->reg.dirty_head)
		lws_callback_on_writable(up->wsi);
}

static uint64_t
leave_delay_ms(const struct upstream *up)
{
	return (uint64_t)(up->relay->cfg.leave_delay * 1000);
}

static double
budget_rate(const struct upstream *up)
{
	return up->relay->cfg.budget_rate;
}

static double
budget_burst(const struct upstream *up)
{
	return (double)up->relay->cfg.budget_burst;
}

/* Counts a join or leave in the per-second slots of the last 10 s. */
static void
count_sent(struct upstream *up, uint64_t now_ms)
{
	uint64_t sec = now_ms / 1000;
	unsigned i = (unsigned)(sec % 10);

	if (up->sent_win_sec[i] != sec) {
		up->sent_win_sec[i] = sec;
		up->sent_win[i] = 0;
	}
	up->sent_win[i]++;
}

void
upstream_budget_info(const struct upstream *up, struct upstream_budget_info *out)
{
	struct registry *reg = &up->relay->reg;
	uint64_t now = clock_mono_ms(), sec = now / 1000, linger = leave_delay_ms(up);
	struct reg_channel *ch;

	memset(out, 0, sizeof(*out));
	out->rate = budget_rate(up);
	out->burst = budget_burst(up);
	out->tokens = tokenbucket_peek(&up->budget, out->rate, out->burst, now);
	for (unsigned i = 0; i < 10; i++)
		if (sec - up->sent_win_sec[i] < 10)
			out->sent_10s += up->sent_win[i];
	for (ch = reg->dirty_head; ch; ch = ch->dnext)
		switch (registry_up_action(ch, now, linger, NULL)) {
		case REG_UP_JOIN:
			out->queued_joins++;
			break;
		case REG_UP_LEAVE:
			out->queued_leaves++;
			break;
		case REG_UP_LINGER:
			out->lingering++;
			break;
		default:
			break;
		}
}

static void
reconcile_cb(lws_sorted_usec_list_t *sul)
{
	struct upstream *up = lws_container_of(sul, struct upstream, sul_reconcile);

	if (up->state == UP_CONNECTED && up->wsi && up->relay->reg.dirty_head)
		lws_callback_on_writable(up->wsi);
}

/* Wakes the reconciler at mono time at_ms (0: nothing is due). */
static void
reconcile_at(struct upstream *up, uint64_t now_ms, uint64_t at_ms)
{
	if (!at_ms) {
		lws_sul_cancel(&up->sul_reconcile);
		return;
	}
	lws_sul_schedule(up->relay->ctx, 0, &up->sul_reconcile, reconcile_cb,
			 (lws_usec_t)(at_ms > now_ms ? at_ms - now_ms : 0) * 1000);
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
	uint64_t now = clock_mono_ms();
	uint32_t it;

	for (ch = registry_first(reg, &it); ch; ch = registry_next(reg, ch, &it))
		if (ch->n_members && !source_by_channel(up->relay, ch->name, ch->name_len)) {
			ch->want_changed_ms = now;	/* a rejoin's wait counts from the reconnect */
			registry_mark_dirty(reg, ch);
		}
}

void
upstream_stop(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	if (up->state == UP_DISABLED)
		return;
	up->state = UP_STOPPED;
	if (up->wsi)
		hang_up(up, WSF_CLOSE_GOING_AWAY);
}

void
upstream_free(struct upstream *up)
{
	lws_sul_cancel(&up->sul_retry);
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	free(up->hs_buf);
	up->hs_buf = NULL;
	wsf_rx_free(&up->wsrx);
	uptls_free(&up->tls);
	uptls_ctx_free(up->tls_ctx);
	up->tls_ctx = NULL;
	free(up->plain);
	up->plain = NULL;
	resolver_release(up->resolving);
	up->resolving = NULL;
	wipe_path(up);
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
	uint64_t now = clock_mono_ms(), idle_ms = (uint64_t)(c->health_idle * 1000),
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
	uint64_t now = clock_mono_ms(), to = (uint64_t)(up->relay->cfg.ack_timeout * 1000), next = 0;
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
		log_limited(&up->rl_ack, clock_mono_ms(), LOG_WARN,
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
	up->last_frame_ms = clock_now_ms();
	switch (upframe_parse(buf, len, &f)) {
	case UPFRAME_MALFORMED:
		up->malformed++;
		log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
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

/* ---- writing: the upgrade request, then masked frames ---- */

/* Sends what TLS has ready. Returns 0, or -1 if lws could not take it. */
static int
tls_flush(struct upstream *up, struct lws *wsi)
{
	unsigned char buf[LWS_PRE + 16384];
	size_t n;

	while ((n = uptls_take(&up->tls, buf + LWS_PRE, sizeof(buf) - LWS_PRE)))
		if (lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_RAW) < (int)n)
			return -1;
	return 0;
}

/* Sends p[0..n), which has LWS_PRE bytes of headroom, through TLS if
 * there is TLS. Returns 0 or -1. */
static int
net_send(struct upstream *up, struct lws *wsi, unsigned char *p, size_t n)
{
	if (!up->tls.ssl)
		return lws_write(wsi, p, n, LWS_WRITE_RAW) < (int)n ? -1 : 0;
	if (uptls_write(&up->tls, p, n))
		return -1;
	return tls_flush(up, wsi);
}

/* Writes one masked frame. Returns 0, or -1 if lws could not take it. */
static int
send_frame(struct upstream *up, struct lws *wsi, unsigned opcode, const void *payload, size_t len)
{
	unsigned char buf[LWS_PRE + WSF_MAX_HEADER + 256];
	uint8_t mask[4];
	size_t n;

	/* RFC 6455 wants an unpredictable mask: these frames are rare */
	if (lws_get_random(up->relay->ctx, mask, sizeof(mask)) != sizeof(mask))
		return -1;
	n = wsf_build(buf + LWS_PRE, sizeof(buf) - LWS_PRE, opcode, payload, len, mask);
	if (!n)
		return -1;
	return net_send(up, wsi, buf + LWS_PRE, n);
}

/* The HTTP/1.1 upgrade. The request holds the token: it is built here,
 * written, and wiped; nothing of it is ever logged. */
static int
send_upgrade(struct upstream *up, struct lws *wsi)
{
	uint8_t nonce[16];
	size_t cap = LWS_PRE + strlen(up->path_with_token) + strlen(up->url.host) * 2 + 512, n;
	unsigned char *buf;
	int rc = -1;

	if (lws_get_random(up->relay->ctx, nonce, sizeof(nonce)) != sizeof(nonce))
		return -1;
	wsf_key(nonce, up->ws_key);
	buf = malloc(cap);
	if (!buf)
		return -1;
	n = wsf_request((char *)buf + LWS_PRE, cap - LWS_PRE, up->url.host, up->url.port, up->url.tls,
			up->path_with_token, up->ws_key, UWRELAY_USER_AGENT);
	if (n && !net_send(up, wsi, buf + LWS_PRE, n)) {
		up->hs_state = UPHS_WAIT;
		rc = 0;
	}
	memset(buf, 0, cap);
	free(buf);
	return rc;
}

/* Closes the connection: a WebSocket close with code first when the
 * WebSocket is up (UW's answer, or CLOSE_WAIT_S, ends it), else at once. */
static void
hang_up(struct upstream *up, uint16_t code)
{
	if (!up->wsi)
		return;
	if (up->hs_state == UPHS_DONE && !up->closing) {
		up->close_due = code;
		lws_callback_on_writable(up->wsi);
		lws_set_timeout(up->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
	} else
		lws_set_timeout(up->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static int
on_writeable(struct upstream *up, struct lws *wsi)
{
	if (up->hs_state == UPHS_SEND)
		return send_upgrade(up, wsi);
	if (up->hs_state != UPHS_DONE)
		return 0;
	if (up->pong_due) {
		up->pong_due = 0;
		if (send_frame(up, wsi, WSF_OP_PONG, up->pong_payload, up->pong_len))
			return -1;
	}
	if (up->close_due) {
		uint8_t cp[2] = { (uint8_t)(up->close_due >> 8), (uint8_t)up->close_due };
		int echo = up->closing;

		/* WSF_CLOSE_NO_STATUS: UW's close had no code; ours has none either */
		if (send_frame(up, wsi, WSF_OP_CLOSE, cp, up->close_due == WSF_CLOSE_NO_STATUS ? 0 : 2))
			return -1;
		up->close_due = 0;
		up->closing = 1;
		/* echoing UW's close ends the exchange; after our own, wait for
		 * its answer (hang_up set the timeout) */
		if (echo)
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return 0;
	}
	if (up->closing)
		return 0;
	if (up->ping_due) {
		up->ping_due = 0;
		if (send_frame(up, wsi, WSF_OP_PING, NULL, 0))
			return -1;
		if (lws_send_pipe_choked(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	return reconcile(up, wsi);
}

/* Sends one join or leave for ch. Returns 0, or -1 if lws could not take it. */
static int
send_join_leave(struct upstream *up, struct lws *wsi, struct reg_channel *ch, int join,
		uint64_t now)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "{\"channel\":\"%s\",\"msg_type\":\"%s\"}", ch->name,
		 join ? "join" : "leave");
	registry_clear_dirty(&up->relay->reg, ch);
	count_sent(up, now);
	if (join) {
		uint64_t waited = now >= ch->want_changed_ms ? now - ch->want_changed_ms : 0;

		ch->up_state = UPCH_JOIN_SENT;
		ch->join_sent_ms = now;
		up->joins_sent++;
		up->join_wait_last_ms = waited;
		if (waited > up->join_wait_max_ms)
			up->join_wait_max_ms = waited;
		if (lws_dll2_is_detached(&up->sul_ack.list))
			lws_sul_schedule(up->relay->ctx, 0, &up->sul_ack, ack_cb,
					 (lws_usec_t)(up->relay->cfg.ack_timeout * 1e6));
		/* debug: under churn one line per message would flood the log */
		log_msg(LOG_DEBUG, "upstream: join %s (waited %llu ms)", ch->name,
			(unsigned long long)waited);
	} else {
		ch->up_state = UPCH_NONE;
		ch->ack_status[0] = '\0';
		up->leaves_sent++;
		log_msg(LOG_DEBUG, "upstream: leave %s", ch->name);
	}
	return send_frame(up, wsi, WSF_OP_TEXT, msg, strlen(msg));
}

/* The bucket is empty: stop, and come back when the next token is due. */
static int
budget_stall(struct upstream *up, uint64_t now)
{
	uint64_t wait = tokenbucket_wait_ms(&up->budget, budget_rate(up), budget_burst(up), now);

	up->budget_stalls++;
	log_limited(&up->rl_budget, now, LOG_INFO,
		    "upstream: join/leave budget (%g/s, burst %lld) used up; the rest wait their turn",
		    budget_rate(up), (long long)up->relay->cfg.budget_burst);
	reconcile_at(up, now, wait == UINT64_MAX ? 0 : now + (wait ? wait : 1));
	return 0;
}

/* Brings UW in line with what subscribers want, as far as the budget
 * allows: first every join due, then every leave due; lingering leaves
 * and whatever the budget holds back stay on the dirty list, and
 * sul_reconcile comes back for them. O(dirty channels) per call. */
static int
reconcile(struct upstream *up, struct lws *wsi)
{
	struct registry *reg = &up->relay->reg;
	uint64_t now = clock_mono_ms(), linger = leave_delay_ms(up), wake = 0, due;
	double rate = budget_rate(up), burst = budget_burst(up);
	struct reg_channel *ch, *next;

	for (int pass = 0; pass < 2; pass++) {
		for (ch = reg->dirty_head; ch; ch = next) {
			enum reg_up_action a = registry_up_action(ch, now, linger, &due);

			next = ch->dnext;
			if (a == REG_UP_NOTHING) {
				registry_clear_dirty(reg, ch);
				continue;
			}
			if (a == REG_UP_LINGER) {
				if (!wake || due < wake)
					wake = due;
				continue;
			}
			if ((a == REG_UP_JOIN) != (pass == 0))
				continue;	/* joins in the first pass, leaves in the second */
			if (!tokenbucket_take(&up->budget, rate, burst, now))
				return budget_stall(up, now);
			if (send_join_leave(up, wsi, ch, a == REG_UP_JOIN, now))
				return -1;
			if (lws_send_pipe_choked(wsi)) {
				if (reg->dirty_head)
					lws_callback_on_writable(wsi);
				return 0;
			}
		}
	}
	reconcile_at(up, now, wake);
	return 0;
}

static void
on_established(struct upstream *up)
{
	up->state = UP_CONNECTED;
	up->unauthorized = 0;
	up->auth_reason[0] = '\0';
	up->attempt = 0;
	up->connects++;
	up->connected_since_ms = clock_now_ms();
	up->last_rx_ms = clock_mono_ms();
	up->ping_sent_ms = 0;
	up->ping_due = 0;
	up->last_error[0] = '\0';
	log_msg(LOG_INFO, "upstream: connected to %s", up->url_masked);
	reset_channels(up);
	mark_all_wanted_dirty(up);
	if (up->relay->reg.dirty_head)
		lws_callback_on_writable(up->wsi);
	health_arm(up, (uint64_t)(up->relay->cfg.health_idle * 1000));
	session_broadcast_upstream(up->relay, 1, NULL);
	notify_status(up->relay);
}

static void
on_lost(struct upstream *up, const char *why)
{
	int was_connected = up->state == UP_CONNECTED;

	up->wsi = NULL;
	lws_sul_cancel(&up->sul_health);
	lws_sul_cancel(&up->sul_ack);
	lws_sul_cancel(&up->sul_reconcile);
	up->unacked = 0;
	reset_channels(up);
	up->connected_since_ms = 0;
	up->hs_state = UPHS_NONE;
	free(up->hs_buf);
	up->hs_buf = NULL;
	up->hs_len = 0;
	wsf_rx_free(&up->wsrx);
	uptls_free(&up->tls);
	if (why && *why)
		set_error(up, "%s", why);
	if (was_connected) {
		up->disconnects++;
		log_msg(LOG_WARN, "upstream: connection lost%s%s", up->last_error[0] ? ": " : "",
			up->last_error);
		if (up->state != UP_STOPPED) {
			session_broadcast_upstream(up->relay, 0, up->last_error);
			notify_status(up->relay);
		}
	}
	if (up->state == UP_STOPPED || up->state == UP_DISABLED)
		return;
	schedule_retry(up);
}

/* ---- the answer to the upgrade ---- */

/* UW refused the upgrade with status; body is its text (a 401 says why). */
static void
on_refused(struct upstream *up, int status, const char *body, size_t len)
{
	char text[sizeof(up->auth_reason)];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < sizeof(text); i++) {
		char c = body[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c >= ' ' && c < 0x7f && !(c == ' ' && (!n || text[n - 1] == ' ')))
			text[n++] = c;
	}
	while (n && text[n - 1] == ' ')
		n--;
	text[n] = '\0';
	up->attempt_failed = 1;
	if (status != 401) {
		up->unauthorized = 0;
		set_error(up, "handshake failed: HTTP %d%s%.80s%s", status, n ? " (" : "", text,
			  n ? ")" : "");
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
		return;
	}
	if (!up->unauthorized)
		log_msg(LOG_ERR, "upstream: UW refused the token (HTTP 401): it lacks the "
			"websocket scope or is wrong; retrying slowly");
	/* UW's text, once per change: retries every minute should not
	 * repeat it */
	if (n && (!up->unauthorized || strcmp(text, up->auth_reason)))
		log_msg(LOG_ERR, "upstream: UW says: %s", text);
	up->unauthorized = 1;
	if (n)
		memcpy(up->auth_reason, text, n + 1);
	if (up->auth_reason[0])
		set_error(up, "HTTP 401 Unauthorized: %s", up->auth_reason);
	else
		set_error(up, "HTTP 401 Unauthorized: the token does not have the websocket scope");
}

/* Bytes before and in the 101. Returns how many of in[0..len) it used
 * (the rest are WebSocket frames) once the upgrade is done, len while the
 * answer is incomplete, or -1 to close the connection. */
static long
handshake_rx(struct upstream *up, const char *in, size_t len)
{
	size_t old = up->hs_len, take;
	long head;
	const char *why;

	if (up->hs_state != UPHS_WAIT && up->hs_state != UPHS_BODY)
		return -1;	/* UW spoke before our request */
	if (!up->hs_buf && !(up->hs_buf = malloc(HS_HEAD_MAX + HS_BODY_MAX + 1)))
		return -1;
	take = HS_HEAD_MAX + HS_BODY_MAX - up->hs_len;
	if (up->hs_state == UPHS_WAIT && take > HS_HEAD_MAX - up->hs_len)
		take = HS_HEAD_MAX - up->hs_len;
	if (take > len)
		take = len;
	memcpy(up->hs_buf + up->hs_len, in, take);
	up->hs_len += take;
	if (up->hs_state == UPHS_WAIT) {
		head = wsf_response_parse(up->hs_buf, up->hs_len, &up->hs_resp);
		if (head < 0 || (!head && up->hs_len >= HS_HEAD_MAX)) {
			up->attempt_failed = 1;
			set_error(up, "handshake failed: %s", head < 0 ? "the answer is not HTTP" :
				  "the answer's head is too long");
			log_msg(LOG_WARN, "upstream: %s", up->last_error);
			return -1;
		}
		if (!head)
			return (long)len;
		up->hs_head_len = head;
		if (up->hs_resp.status == 101) {
			if (wsf_response_check(&up->hs_resp, up->ws_key, &why)) {
				up->attempt_failed = 1;
				set_error(up, "handshake failed: %s", why);
				log_msg(LOG_WARN, "upstream: %s", up->last_error);
				return -1;
			}
			up->hs_state = UPHS_DONE;
			free(up->hs_buf);
			up->hs_buf = NULL;
			up->hs_len = 0;
			return head - (long)old;
		}
		up->hs_state = UPHS_BODY;
	}
	/* a refusal: its body up to Content-Length, HS_BODY_MAX or the end
	 * of the connection (on_raw_closed) */
	{
		size_t body = up->hs_len - (size_t)up->hs_head_len;
		long long cl = up->hs_resp.content_length;

		if (body >= HS_BODY_MAX || (cl >= 0 && (long long)body >= cl)) {
			if (cl >= 0 && (long long)body > cl)
				body = (size_t)cl;
			on_refused(up, up->hs_resp.status, up->hs_buf + up->hs_head_len, body);
			return -1;
		}
	}
	return (long)len;
}

/* ---- incoming frames ---- */

static int
on_plain(struct upstream *up, struct lws *wsi, const char *in, size_t len)
{
	struct wsf_ev ev;

	if (up->hs_state != UPHS_DONE) {
		long used = handshake_rx(up, in, len);

		if (used < 0)
			return -1;
		if (up->hs_state != UPHS_DONE)
			return 0;
		lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
		on_established(up);
		in += used;
		len -= (size_t)used;
	}
	if (up->closing) {
		/* after our close, UW's answer ends it; anything else is ignored */
		while (len) {
			size_t n = wsf_rx_next(&up->wsrx, in, len, &ev);

			in += n;
			len -= n;
			if (ev.type == WSF_CLOSE || ev.type == WSF_ERROR)
				return -1;
			if (ev.type == WSF_NEED_MORE)
				break;
		}
		return 0;
	}
	up->rx_us = clock_mono_us();
	up->last_rx_ms = up->rx_us / 1000;
	up->ping_sent_ms = 0;
	while (len) {
		size_t n = wsf_rx_next(&up->wsrx, in, len, &ev);

		in += n;
		len -= n;
		switch (ev.type) {
		case WSF_NEED_MORE:
		case WSF_PONG:
			break;
		case WSF_MESSAGE:
			if (!ev.binary)
				on_message(up, ev.data, ev.len);
			else {
				up->malformed++;
				log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
					    "upstream: dropped a binary frame (%zu bytes)", ev.len);
			}
			break;
		case WSF_OVERSIZE:
			up->oversize++;
			log_limited(&up->rl_malformed, clock_mono_ms(), LOG_WARN,
				    "upstream: dropped a frame over max_frame (%lld bytes)",
				    (long long)up->relay->cfg.max_frame);
			break;
		case WSF_PING:
			/* only the latest ping needs its pong (RFC 6455 5.5.3) */
			up->pong_len = (uint8_t)ev.len;
			memcpy(up->pong_payload, ev.data, ev.len);
			up->pong_due = 1;
			lws_callback_on_writable(wsi);
			break;
		case WSF_CLOSE:
			if (ev.code != WSF_CLOSE_NO_STATUS)
				set_error(up, "UW closed the connection (code %u)", ev.code);
			else
				set_error(up, "UW closed the connection");
			up->close_due = ev.code;	/* echoed, then we hang up */
			up->closing = 1;
			lws_callback_on_writable(wsi);
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
			return 0;
		case WSF_ERROR:
			set_error(up, "UW broke the WebSocket protocol: %s", ev.error);
			log_msg(LOG_WARN, "upstream: %s; closing with %u", up->last_error, ev.code);
			up->close_due = ev.code;
			up->closing = 1;
			lws_callback_on_writable(wsi);
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_WAIT_S);
			return 0;
		}
	}
	return 0;
}

static void
tls_failed(struct upstream *up, const char *err)
{
	up->attempt_failed = 1;
	up->unauthorized = 0;
	set_error(up, "%s", err);
	log_msg(LOG_WARN, "upstream: %s", up->last_error);
}

/* Bytes from the socket: plaintext for ws://, TLS records for wss://. */
static int
on_rx(struct upstream *up, struct lws *wsi, const char *in, size_t len)
{
	char err[256];
	long n = 0;
	int r;

	if (!up->tls.ssl)
		return on_plain(up, wsi, in, len);
	if (uptls_feed(&up->tls, in, len))
		return -1;
	if (up->hs_state == UPHS_TLS) {
		r = uptls_handshake(&up->tls, err, sizeof(err));
		if (tls_flush(up, wsi))
			return -1;
		if (r < 0) {
			tls_failed(up, err);
			return -1;
		}
		if (!r)
			return 0;
		up->hs_state = UPHS_SEND;
		lws_callback_on_writable(wsi);
	}
	if (!up->plain && !(up->plain = malloc(PLAIN_CAP)))
		return -1;
	for (;;) {
		size_t have = 0;

		/* fill the buffer first: one parse over many records */
		while (have < PLAIN_CAP &&
		       (n = uptls_read(&up->tls, up->plain + have, PLAIN_CAP - have, err, sizeof(err))) > 0)
			have += (size_t)n;
		if (have && on_plain(up, wsi, up->plain, have))
			return -1;
		if (n < 0) {
			if (!up->attempt_failed && !up->closing)
				tls_failed(up, err);
			return -1;
		}
		if (have < PLAIN_CAP)
			break;
	}
	return tls_flush(up, wsi);
}

/* The connection ended (any side, any stage). */
static void
on_raw_closed(struct upstream *up)
{
	if (up->hs_state == UPHS_BODY && up->hs_buf)
		on_refused(up, up->hs_resp.status, up->hs_buf + up->hs_head_len,
			   up->hs_len - (size_t)up->hs_head_len);
	else if (up->hs_state != UPHS_DONE && !up->attempt_failed) {
		up->unauthorized = 0;
		set_error(up, "connection closed %s", up->hs_state == UPHS_TLS ?
			  "during the TLS handshake (or it timed out)" : up->hs_len ?
			  "in the middle of the upgrade's answer" :
			  "with no answer to the upgrade (or it timed out)");
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
	}
	on_lost(up, up->hs_state == UPHS_DONE && !up->last_error[0] ? "connection closed" : NULL);
}

int
upstream_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct upstream *up = lws_get_opaque_user_data(wsi);
	(void)user;

	if (!up)
		return 0;
	/* an old connection's late callbacks (a close after its error) */
	if (wsi != up->wsi && reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		const char *why = in ? (const char *)in : "unknown error";

		if (up->wsi && wsi != up->wsi)
			return 0;
		up->unauthorized = 0;
		set_error(up, "connect failed: %s", why);
		log_msg(LOG_WARN, "upstream: %s", up->last_error);
		up->wsi = NULL;
		on_lost(up, NULL);
		break;
	}
	case LWS_CALLBACK_RAW_CONNECTED:
		/* TCP is up: TLS first for wss://, then the upgrade request */
		lws_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE, HS_TIMEOUT_S);
		if (up->url.tls) {
			char err[256];

			if (uptls_start(&up->tls, up->tls_ctx, up->url.host, err, sizeof(err)) ||
			    uptls_handshake(&up->tls, err, sizeof(err)) < 0) {
				tls_failed(up, err);
				return -1;
			}
			up->hs_state = UPHS_TLS;
			return tls_flush(up, wsi);
		}
		up->hs_state = UPHS_SEND;
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_RAW_RX:
		return on_rx(up, wsi, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		return on_writeable(up, wsi);
	case LWS_CALLBACK_RAW_CLOSE:
		on_raw_closed(up);
		break;
	default:
		break;
	}
	return 0;
}
