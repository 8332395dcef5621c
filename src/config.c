/* config.c: YAML configuration, table-driven.
 *
 * Each section is a table of fields (key, type, offset, bounds), so adding
 * a section is one table and one line in the root table. Parsing uses
 * libyaml's document API so every node carries its line for messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>
#include "chname.h"
#include "config.h"
#include "log.h"

#include "config_int.h"

#define OFF(m) offsetof(struct config, m)
#define EOFF(m) offsetof(struct config_endpoint, m)
#define STR(k, m) { .key = k, .type = F_STR, .off = OFF(m) }
#define NUM(k, t, m, lo, hi) { .key = k, .type = t, .off = OFF(m), .min = lo, .max = hi }
#define BOOL(k, m) { .key = k, .type = F_BOOL, .off = OFF(m) }
#define LIST(k, m, n, check, w) \
	{ .key = k, .type = F_STRLIST, .off = OFF(m), .off_n = OFF(n), .valid = check, .what = w }
#define SECTION(k, fields) { .key = k, .type = F_MAP, .sub = fields }
#define END { .key = NULL }

static int
origin_valid(const char *o)
{
	char buf[300];

	return !strcmp(o, "*") || !config_origin_normal(o, strlen(o), buf, sizeof(buf));
}

static int
hostname_valid(const char *h)
{
	return config_host_valid(h, strlen(h));
}

static int
auth_token_valid(const char *t)
{
	size_t n = strlen(t);

	if (n < 16 || n > 256)
		return 0;
	for (; *t; t++)
		if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f || *t == '&' || *t == '#')
			return 0;
	return 1;
}

/* defined below, with their element tables and checks */
static const struct maplist endpoints_list, sources_list;

static const struct field reconnect_fields[] = {
	NUM("initial_delay", F_DUR, reconnect_initial, 0.001, 86400),
	NUM("max_delay", F_DUR, reconnect_max, 0.001, 86400),
	NUM("jitter", F_FRAC, reconnect_jitter, 0, 1),
	END
};

static const struct field health_fields[] = {
	NUM("idle_timeout", F_DUR, health_idle, 0.05, 86400),
	NUM("pong_timeout", F_DUR, health_pong, 0.05, 86400),
	END
};

static const struct field tls_fields[] = {
	STR("cert", listen_tls_cert),
	STR("key", listen_tls_key),
	END
};

static const struct field listen_fields[] = {
	STR("address", listen_address),
	NUM("port", F_INT, listen_port, 1, 65535),
	BOOL("allow_anonymous", listen_allow_anonymous),
	SECTION("tls", tls_fields),
	LIST("hostnames", listen_hostnames, n_listen_hostnames, hostname_valid,
	     "a host name (or an IPv4 or [IPv6] address) without a port"),
	END
};

const char *const config_role_names[3] = { "standalone", "ingest", "edge" };

/* Every join and leave sent to UW, whatever browsers do (upstream.c). */
static const struct field budget_fields[] = {
	NUM("rate", F_NUM, budget_rate, 0.01, 10000),
	NUM("burst", F_INT, budget_burst, 1, 100000),
	END
};

static const struct field upstream_fields[] = {
	STR("url", upstream_url),
	STR("token_file", token_file),
	STR("ca_file", ca_file),
	STR("rest_url", rest_url),
	NUM("max_frame", F_INT, max_frame, 1024, 64.0 * 1024 * 1024),
	NUM("ack_timeout", F_DUR, ack_timeout, 0.05, 3600),
	NUM("leave_delay", F_DUR, leave_delay, 0, 3600),
	SECTION("budget", budget_fields),
	SECTION("reconnect", reconnect_fields),
	SECTION("health", health_fields),
	END
};

/* permessage-deflate towards browsers (deflate.h). */
static const struct field compression_fields[] = {
	BOOL("enabled", compression_enabled),
	NUM("min_bytes", F_INT, compression_min_bytes, 0, 64.0 * 1024 * 1024),
	END
};

static const struct field clients_fields[] = {
	NUM("max_queue_bytes", F_INT, max_queue_bytes, 4096, 1024.0 * 1024 * 1024),
	NUM("max_message", F_INT, max_message, 64, 1024.0 * 1024),
	NUM("max_channels", F_INT, max_channels, 1, 1024),
	NUM("max_msg_rate", F_DUR, max_msg_rate, 0.1, 100000),
	NUM("max_connections", F_INT, max_connections, 1, 10000000),
	NUM("max_per_ip", F_INT, max_per_ip, 1, 10000000),
	NUM("max_pending", F_INT, max_pending, 8, 1000000),
	NUM("max_pending_per_ip", F_INT, max_pending_per_ip, 1, 1000000),
	NUM("request_timeout", F_DUR, request_timeout, 1, 3600),
	LIST("allowed_origins", allowed_origins, n_allowed_origins, origin_valid,
	     "an origin such as https://example.com or http://localhost:3000 (http or https, a host, "
	     "an optional port; no path, no trailing '/'), or \"*\" for any origin"),
	SECTION("compression", compression_fields),
	NUM("sse_heartbeat", F_DUR, sse_heartbeat, 0.05, 3600),
	END
};

static const struct field history_fields[] = {
	NUM("size", F_INT, history_size, 0, 1000000),
	NUM("max_bytes", F_INT, history_max_bytes, 0, 1024.0 * 1024 * 1024),
	END
};

static const struct field auth_fields[] = {
	LIST("tokens", auth_tokens, n_auth_tokens, auth_token_valid,
	     "a token of 16 to 256 printable characters without spaces, '&' or '#'"),
	STR("tokens_file", auth_tokens_file),
	END
};

static const struct field http_fields[] = {
	STR("static_dir", static_dir),
	END
};

static const struct field log_fields[] = {
	{ .key = "level", .type = F_LOGLEVEL, .off = OFF(log_level) },
	END
};

static const struct field cluster_fields[] = {
	STR("role", cluster_role),
	STR("redis", cluster_redis),
	STR("key_prefix", cluster_prefix),
	STR("password_file", cluster_password_file),
	NUM("lock_ttl", F_DUR, cluster_lock_ttl, 0.5, 3600),
	NUM("interest_ttl", F_DUR, cluster_interest_ttl, 1, 86400),
	NUM("redis_timeout", F_DUR, cluster_redis_timeout, 0.1, 3600),
	END
};

static int
tape_channel_valid(const char *name)
{
	return chname_valid(name, strlen(name));
}

static const struct field retention_fields[] = {
	NUM("max_age", F_AGE, tape_max_age_s, 0, 100.0 * 365 * 86400),
	NUM("max_bytes", F_SIZE, tape_max_bytes, 0, 1024.0 * 1024 * 1024 * 1024 * 1024),
	END
};

static const struct field tape_fields[] = {
	{ .key = "path", .type = F_PATHBUF, .off = OFF(tape_path), .max = sizeof(((struct config *)0)->tape_path) },
	LIST("channels", tape_channels, n_tape_channels, tape_channel_valid,
	     "a channel name (no pattern)"),
	SECTION("retention", retention_fields),
	END
};

static const struct field root_fields[] = {
	SECTION("listen", listen_fields),
	SECTION("upstream", upstream_fields),
	{ .key = "endpoints", .type = F_MAPLIST, .list = &endpoints_list },
	{ .key = "sources", .type = F_MAPLIST, .list = &sources_list },
	LIST("allowed_channels", allowed_channels, n_allowed, chname_pattern_valid,
	     "a channel name or a 'name:*' pattern"),
	SECTION("clients", clients_fields),
	SECTION("history", history_fields),
	SECTION("auth", auth_fields),
	SECTION("http", http_fields),
	SECTION("log", log_fields),
	SECTION("cluster", cluster_fields),
	SECTION("tape", tape_fields),
	END
};

#define SOFF(m) offsetof(struct config_source, m)
static const struct field source_fields[] = {
	{ .key = "channel", .type = F_STR, .off = SOFF(channel) },
	{ .key = "path", .type = F_STR, .off = SOFF(path) },
	{ .key = "query", .type = F_STR, .off = SOFF(query) },
	{ .key = "interval", .type = F_DUR, .off = SOFF(interval), .min = 0.05, .max = 86400 },
	{ .key = "id_field", .type = F_STR, .off = SOFF(id_field) },
	END
};

static const struct field endpoint_fields[] = {
	{ .key = "id", .type = F_STR, .off = EOFF(id) },
	{ .key = "path", .type = F_STR, .off = EOFF(path) },
	{ .key = "channel", .type = F_STR, .off = EOFF(channel) },
	{ .key = "name", .type = F_STR, .off = EOFF(name) },
	{ .key = "description", .type = F_STR, .off = EOFF(description) },
	END
};

/* Paths the relay itself answers; an endpoint may not take them. */
static const char *const reserved_paths[] = {
	"/api/stream/ws", "/api/stream/status", "/api/stream/channels", "/healthz", "/", NULL
};

static const struct config_endpoint default_endpoints[] = {
	{ "flow-alerts", "/api/stream/ws/flow", "flow-alerts", "Options Flow Alerts",
	  "Real-time unusual options flow alerts" },
	{ "dark-pool", "/api/stream/ws/dark-pool", "off_lit_trades", "Dark Pool",
	  "Off-lit (dark pool) stock trades" },
	{ "market-movers", "/api/stream/ws/market-movers", "market_tide", "Market Tide",
	  "Market-wide net options premium flow" },
	{ "congress", "/api/stream/ws/congress", "congress", "Congress Trades",
	  "Congress members' trade filings (polled from UW's REST API)" },
};

static const char *const default_allowed[] = {
	"flow-alerts", "option_trades", "option_trades:*", "price:*", "gex:*", "gex_strike:*",
	"gex_strike_expiry:*", "news", "lit_trades", "off_lit_trades", "market_tide",
	"net_flow:*", "trading_halts",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- freeing and defaults ---- */

static void
endpoint_free(struct config_endpoint *e)
{
	free(e->id);
	free(e->path);
	free(e->channel);
	free(e->name);
	free(e->description);
	memset(e, 0, sizeof(*e));
}

static void
endpoints_free(struct config_endpoint *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		endpoint_free(&e[i]);
	free(e);
}

static void
sources_free(void *all, size_t n)
{
	struct config_source *s = all;

	for (size_t i = 0; s && i < n; i++) {
		free(s[i].channel);
		free(s[i].path);
		free(s[i].query);
		free(s[i].id_field);
	}
	free(s);
}

static void
endpoints_free_v(void *all, size_t n)
{
	endpoints_free(all, n);
}

void
config_strlist_free(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void
config_free(struct config *cfg)
{
	free(cfg->listen_address);
	free(cfg->upstream_url);
	free(cfg->token_file);
	free(cfg->ca_file);
	free(cfg->log_level);
	free(cfg->listen_tls_cert);
	free(cfg->listen_tls_key);
	free(cfg->auth_tokens_file);
	free(cfg->static_dir);
	free(cfg->rest_url);
	free(cfg->cluster_role);
	free(cfg->cluster_redis);
	free(cfg->cluster_prefix);
	free(cfg->cluster_password_file);
	sources_free(cfg->sources, cfg->n_sources);
	endpoints_free(cfg->endpoints, cfg->n_endpoints);
	config_strlist_free(cfg->allowed_channels, cfg->n_allowed);
	config_strlist_free(cfg->allowed_origins, cfg->n_allowed_origins);
	config_strlist_free(cfg->listen_hostnames, cfg->n_listen_hostnames);
	config_strlist_free(cfg->tape_channels, cfg->n_tape_channels);
	if (cfg->auth_tokens)
		for (size_t i = 0; i < cfg->n_auth_tokens; i++)
			if (cfg->auth_tokens[i])
				memset(cfg->auth_tokens[i], 0, strlen(cfg->auth_tokens[i]));
	config_strlist_free(cfg->auth_tokens, cfg->n_auth_tokens);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_address = strdup("127.0.0.1");
	cfg->listen_port = 8080;
	cfg->upstream_url = strdup("wss://api.unusualwhales.com/socket");
	cfg->token_file = strdup("");
	cfg->ca_file = strdup("");
	cfg->max_frame = 1048576;
	cfg->reconnect_initial = 5;
	cfg->reconnect_max = 60;
	cfg->reconnect_jitter = 0.10;
	cfg->health_idle = 30;
	cfg->health_pong = 10;
	cfg->ack_timeout = 5;
	cfg->leave_delay = 5;
	cfg->budget_rate = 5;
	cfg->budget_burst = 30;
	cfg->max_queue_bytes = 1048576;
	cfg->max_message = 4096;
	cfg->max_channels = 64;
	cfg->max_msg_rate = 20;
	cfg->compression_enabled = 1;
	cfg->compression_min_bytes = 256;
	cfg->sse_heartbeat = 15;
	cfg->history_size = 1000;
	cfg->history_max_bytes = 4194304;
	cfg->log_level = strdup("info");
	cfg->listen_tls_cert = strdup("");
	cfg->listen_tls_key = strdup("");
	cfg->auth_tokens_file = strdup("");
	cfg->static_dir = strdup("");
	cfg->rest_url = strdup("https://api.unusualwhales.com");
	cfg->cluster_role = strdup("standalone");
	cfg->cluster_redis = strdup("127.0.0.1:6379");
	cfg->cluster_prefix = strdup("uwrelay:");
	cfg->cluster_password_file = strdup("");
	cfg->cluster_lock_ttl = 5;
	cfg->cluster_interest_ttl = 15;
	cfg->cluster_redis_timeout = 2;
	cfg->tape_max_age_s = 7 * 86400;
	cfg->tape_max_bytes = 2LL << 30;
	if (!cfg->cluster_role || !cfg->cluster_redis || !cfg->cluster_prefix ||
	    !cfg->cluster_password_file)
		goto oom;
	cfg->sources = calloc(1, sizeof(*cfg->sources));
	if (!cfg->rest_url || !cfg->sources)
		goto oom;
	cfg->n_sources = 1;
	cfg->sources[0].channel = strdup("congress");
	cfg->sources[0].path = strdup("/api/congress/recent-trades");
	cfg->sources[0].query = strdup("limit=100");
	cfg->sources[0].interval = 60;
	cfg->sources[0].id_field = strdup("");
	if (!cfg->sources[0].channel || !cfg->sources[0].path || !cfg->sources[0].query ||
	    !cfg->sources[0].id_field)
		goto oom;
	cfg->max_connections = 20000;
	cfg->max_per_ip = 20000;
	cfg->max_pending = 1024;
	cfg->max_pending_per_ip = 256;
	cfg->request_timeout = 10;
	cfg->endpoints = calloc(N_ELEMS(default_endpoints), sizeof(*cfg->endpoints));
	cfg->allowed_channels = calloc(N_ELEMS(default_allowed), sizeof(char *));
	if (!cfg->listen_address || !cfg->upstream_url || !cfg->token_file || !cfg->ca_file ||
	    !cfg->log_level || !cfg->endpoints || !cfg->allowed_channels || !cfg->listen_tls_cert ||
	    !cfg->listen_tls_key || !cfg->auth_tokens_file || !cfg->static_dir)
		goto oom;
	for (size_t i = 0; i < N_ELEMS(default_endpoints); i++) {
		const struct config_endpoint *d = &default_endpoints[i];
		struct config_endpoint *e = &cfg->endpoints[cfg->n_endpoints++];

		e->id = strdup(d->id);
		e->path = strdup(d->path);
		e->channel = strdup(d->channel);
		e->name = strdup(d->name);
		e->description = strdup(d->description);
		if (!e->id || !e->path || !e->channel || !e->name || !e->description)
			goto oom;
	}
	for (size_t i = 0; i < N_ELEMS(default_allowed); i++) {
		cfg->allowed_channels[i] = strdup(default_allowed[i]);
		cfg->n_allowed++;
		if (!cfg->allowed_channels[i])
			goto oom;
	}
	return 0;
oom:
	config_free(cfg);
	return -1;
}

static int
is_reserved_path(const char *p)
{
	for (int i = 0; reserved_paths[i]; i++)
		if (!strcmp(p, reserved_paths[i]))
			return 1;
	return !strncmp(p, "/metrics", 8) || !strncmp(p, "/uwrelay", 8);
}

static int
check_endpoint(struct pctx *c, void *all, size_t i, int line)
{
	struct config_endpoint *eps = all, *e = &eps[i];

	if (!e->path || !*e->path)
		return config_fail(c, line, "endpoint has no 'path'");
	if (!e->channel || !*e->channel)
		return config_fail(c, line, "endpoint '%s' has no 'channel'", e->path);
	if (e->path[0] != '/' || strpbrk(e->path, "?# \t%"))
		return config_fail(c, config_line_of(c, &e->path),
			    "endpoint path '%s' must start with '/' and have no query, space or '%%'", e->path);
	if (is_reserved_path(e->path))
		return config_fail(c, config_line_of(c, &e->path), "endpoint path '%s' is reserved by the relay", e->path);
	if (!chname_valid(e->channel, strlen(e->channel)))
		return config_fail(c, config_line_of(c, &e->channel), "endpoint channel '%s' is not a valid channel name",
			    e->channel);
	if (!e->id && !(e->id = strdup(e->channel)))
		return config_fail(c, line, "out of memory");
	if (!e->name && !(e->name = strdup(e->id)))
		return config_fail(c, line, "out of memory");
	if (!e->description && !(e->description = strdup("")))
		return config_fail(c, line, "out of memory");
	for (size_t j = 0; j < i; j++) {
		if (!strcmp(eps[j].path, e->path))
			return config_fail(c, config_line_of(c, &e->path), "endpoint path '%s' is used twice", e->path);
		if (!strcmp(eps[j].id, e->id))
			return config_fail(c, line, "endpoint id '%s' is used twice", e->id);
	}
	return 0;
}

static int
check_source(struct pctx *c, void *all, size_t i, int line)
{
	struct config_source *srcs = all, *s = &srcs[i];

	if (!s->channel || !*s->channel)
		return config_fail(c, line, "source has no 'channel'");
	if ((!s->query && !(s->query = strdup(""))) || (!s->id_field && !(s->id_field = strdup(""))))
		return config_fail(c, line, "out of memory");
	if (s->interval == 0)
		s->interval = 60;
	if (!chname_valid(s->channel, strlen(s->channel)))
		return config_fail(c, config_line_of(c, &s->channel), "source channel '%s' is not a valid channel name",
			    s->channel);
	if (!s->path || s->path[0] != '/' || strpbrk(s->path, "?# "))
		return config_fail(c, s->path ? config_line_of(c, &s->path) : line,
			    "source 'path' must start with '/' and have no query or space");
	if (strpbrk(s->query, "# "))
		return config_fail(c, config_line_of(c, &s->query), "source 'query' must have no space or '#'");
	if (strlen(s->path) + strlen(s->query) > 400)
		return config_fail(c, config_line_of(c, &s->path), "source path and query are too long");
	for (size_t j = 0; j < i; j++)
		if (!strcmp(srcs[j].channel, s->channel))
			return config_fail(c, config_line_of(c, &s->channel), "source channel '%s' is used twice",
				    s->channel);
	return 0;
}

static int check_endpoint(struct pctx *c, void *all, size_t i, int line);
static int check_source(struct pctx *c, void *all, size_t i, int line);

static const struct maplist endpoints_list = {
	"endpoints", "{id, path, channel, name, description}", endpoint_fields,
	sizeof(struct config_endpoint), OFF(endpoints), OFF(n_endpoints), check_endpoint, endpoints_free_v,
};

static const struct maplist sources_list = {
	"sources", "{channel, path, query, interval, id_field}", source_fields,
	sizeof(struct config_source), OFF(sources), OFF(n_sources), check_source, sources_free,
};

static int
check_config(struct pctx *c, struct config *cfg)
{
	struct config_url u;

	{
		unsigned char b[16];

		if (strcmp(cfg->listen_address, "localhost") &&
		    inet_pton(AF_INET, cfg->listen_address, b) != 1 &&
		    inet_pton(AF_INET6, cfg->listen_address, b) != 1)
			return config_fail(c, config_line_of(c, &cfg->listen_address),
				    "'address' must be an IPv4 or IPv6 address or localhost, not '%s'",
				    cfg->listen_address);
	}
	if (config_parse_url(cfg->upstream_url, &u))
		return config_fail(c, config_line_of(c, &cfg->upstream_url),
			    "'url' must be a ws:// or wss:// URL with a host and no query, not '%s'",
			    cfg->upstream_url);
	if (!config_addr_is_loopback(cfg->listen_address) && !cfg->n_auth_tokens &&
	    !cfg->auth_tokens_file[0] && !cfg->listen_allow_anonymous)
		return config_fail(c, config_line_of(c, &cfg->listen_address),
			    "listening on '%s' (beyond loopback) needs auth.tokens or auth.tokens_file, "
			    "or listen.allow_anonymous: true: UW data is licensed for personal use",
			    cfg->listen_address);
	if (!*cfg->listen_tls_cert != !*cfg->listen_tls_key)
		return config_fail(c, config_line_of(c, *cfg->listen_tls_cert ? (const void *)&cfg->listen_tls_cert :
							     (const void *)&cfg->listen_tls_key),
			    "listen.tls needs both 'cert' and 'key'");
	if (config_parse_rest_url(cfg->rest_url, &u))
		return config_fail(c, config_line_of(c, &cfg->rest_url),
			    "'rest_url' must be an http:// or https:// URL with a host and no path or query, "
			    "not '%s'", cfg->rest_url);
	{
		const char *const *roles = config_role_names;
		struct config_redis rd;
		size_t k;

		for (k = 0; k < 3 && strcmp(cfg->cluster_role, roles[k]); k++)
			;
		if (k == 3)
			return config_fail(c, config_line_of(c, &cfg->cluster_role),
				    "'role' must be standalone, ingest or edge, not '%s'", cfg->cluster_role);
		cfg->cluster_mode = (int)k;
		if (config_parse_redis(cfg->cluster_redis, &rd))
			return config_fail(c, config_line_of(c, &cfg->cluster_redis),
				    "'redis' must be HOST:PORT with a numeric address (or localhost), "
				    "[IPV6]:PORT or unix:/path, not '%s'", cfg->cluster_redis);
		if (!*cfg->cluster_prefix || strlen(cfg->cluster_prefix) > 64 ||
		    strpbrk(cfg->cluster_prefix, " \t\r\n"))
			return config_fail(c, config_line_of(c, &cfg->cluster_prefix),
				    "'key_prefix' must be 1 to 64 characters without blanks");
		if (cfg->cluster_interest_ttl < 2 * cfg->cluster_redis_timeout)
			return config_fail(c, config_line_of(c, &cfg->cluster_interest_ttl),
				    "'interest_ttl' (%g) must be at least twice 'redis_timeout' (%g)",
				    cfg->cluster_interest_ttl, cfg->cluster_redis_timeout);
	}
	for (size_t i = 0; i < cfg->n_tape_channels; i++) {
		const char *t = cfg->tape_channels[i];

		if (!chname_allowed((const char *const *)cfg->allowed_channels, cfg->n_allowed, t, strlen(t)) &&
		    !config_source_by_channel(cfg, t, strlen(t)))
			return config_fail(c, config_line_of(c, &cfg->tape_channels),
				    "tape channel '%s' is neither in allowed_channels nor a source's channel", t);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(cfg->tape_channels[j], t))
				return config_fail(c, config_line_of(c, &cfg->tape_channels),
					    "tape channel '%s' is listed twice", t);
	}
	if (cfg->tape_max_bytes && cfg->tape_max_bytes < (1 << 20))
		return config_fail(c, config_line_of(c, &cfg->tape_max_bytes),
			    "'max_bytes' must be 0 (unbounded) or at least 1M");
	if (cfg->reconnect_max < cfg->reconnect_initial)
		return config_fail(c, config_line_of(c, &cfg->reconnect_max) > 1 ? config_line_of(c, &cfg->reconnect_max) :
								      config_line_of(c, &cfg->reconnect_initial),
			    "'max_delay' (%g) must not be less than 'initial_delay' (%g)",
			    cfg->reconnect_max, cfg->reconnect_initial);
	return 0;
}

int
config_load_buffer(const char *name, const char *buf, size_t len, struct config *cfg,
		   char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pctx c = { .name = name, .doc = &doc, .err = err, .errlen = errlen };
	yaml_node_t *root;
	int rc = -1;

	if (config_defaults(cfg)) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		config_free(cfg);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;

		config_fail(&c, (int)m->line + 1, "YAML syntax error: %s%s%s",
		     parser.problem ? parser.problem : "unknown",
		     parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		config_free(cfg);
		return -1;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root)
		rc = 0;		/* empty file: all defaults */
	else if (root->type == YAML_SCALAR_NODE && !*scalar(root))
		rc = 0;
	else if (root->type != YAML_MAPPING_NODE)
		rc = config_fail(&c, node_line(root), "the configuration must be a mapping of sections");
	else
		rc = config_parse_map(&c, root, root_fields, cfg, NULL);
	if (!rc)
		rc = check_config(&c, cfg);
	/* a second document in the same file is a mistake worth naming */
	if (!rc) {
		yaml_document_t doc2;

		if (yaml_parser_load(&parser, &doc2)) {
			if (yaml_document_get_root_node(&doc2))
				rc = config_fail(&c, (int)doc2.start_mark.line + 1,
					  "only one YAML document is allowed");
			yaml_document_delete(&doc2);
		} else
			rc = config_fail(&c, (int)parser.problem_mark.line + 1, "YAML syntax error: %s",
				  parser.problem ? parser.problem : "unknown");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(c.lines);
	if (rc)
		config_free(cfg);
	return rc;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	do {
		if (len + 4096 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if (cap > 16 * 1024 * 1024 || !(nb = realloc(buf, cap))) {
				snprintf(err, errlen, "%s: too large or out of memory", path);
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	rc = config_load_buffer(path, buf ? buf : "", len, cfg, err, errlen);
	free(buf);
	return rc;
}

const struct config_endpoint *
config_endpoint_by_path(const struct config *cfg, const char *path, size_t len)
{
	for (size_t i = 0; i < cfg->n_endpoints; i++)
		if (strlen(cfg->endpoints[i].path) == len && !memcmp(cfg->endpoints[i].path, path, len))
			return &cfg->endpoints[i];
	return NULL;
}

const struct config_source *
config_source_by_channel(const struct config *cfg, const char *name, size_t len)
{
	for (size_t i = 0; i < cfg->n_sources; i++)
		if (strlen(cfg->sources[i].channel) == len && !memcmp(cfg->sources[i].channel, name, len))
			return &cfg->sources[i];
	return NULL;
}
