/* config.h: uwrelay's configuration, plain data (no lws, no sockets).
 *
 * config_load() parses YAML with libyaml into a struct config, filling every
 * key that is absent with its default, so a reload can build a new config
 * and compare it with the old one. Errors name the file and the line. */
#ifndef UWRELAY_CONFIG_H
#define UWRELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config_endpoint {
	char *id;
	char *path;
	char *channel;
	char *name;
	char *description;
};

/* A REST endpoint polled as a channel (UW has no WebSocket for it). */
struct config_source {
	char *channel;
	char *path;		/* on rest_url */
	char *query;		/* without '?', may be "" */
	double interval;	/* seconds between polls while subscribed */
	char *id_field;		/* row field naming a row; "" = hash of the row's text */
};

struct config {
	/* listen */
	char *listen_address;
	int64_t listen_port;
	int listen_allow_anonymous;	/* serve beyond loopback without auth */
	char *listen_tls_cert, *listen_tls_key;
	char **listen_hostnames;	/* names the relay is reached by (Host, own origins) */
	size_t n_listen_hostnames;
	/* upstream */
	char *upstream_url;
	char *token_file;
	char *ca_file;
	char *rest_url;		/* UW's REST API, for sources */
	int64_t max_frame;
	double reconnect_initial, reconnect_max, reconnect_jitter;
	double health_idle, health_pong;
	double ack_timeout;
	double leave_delay;		/* a channel nobody wants is left this much later */
	double budget_rate;		/* joins + leaves per second sent to UW ... */
	int64_t budget_burst;		/* ... in bursts of at most this many */
	struct config_source *sources;
	size_t n_sources;
	/* endpoints, allowed channels */
	struct config_endpoint *endpoints;
	size_t n_endpoints;
	char **allowed_channels;
	size_t n_allowed;
	/* clients */
	int64_t max_queue_bytes;
	int64_t max_message;
	int64_t max_channels;
	double max_msg_rate;
	int64_t max_connections;
	int64_t max_per_ip;
	int64_t max_pending;		/* connections without a finished request, in all */
	int64_t max_pending_per_ip;	/* the same from one address */
	double request_timeout;		/* seconds to send a request head (and keep-alive idle) */
	char **allowed_origins;		/* beyond the relay's own; "*" = any */
	size_t n_allowed_origins;
	int compression_enabled;	/* permessage-deflate offered by browsers is accepted */
	int64_t compression_min_bytes;	/* smaller frames go uncompressed */
	double sse_heartbeat;		/* seconds between ": hb" comments on SSE streams */
	/* auth (secrets) */
	char **auth_tokens;
	size_t n_auth_tokens;
	char *auth_tokens_file;
	/* history */
	int64_t history_size;
	int64_t history_max_bytes;
	/* http */
	char *static_dir;
	/* log */
	char *log_level;
	/* cluster (Redis scale-out, cluster.c) */
	char *cluster_role;		/* "standalone", "ingest" or "edge" */
	int cluster_mode;		/* enum cluster_mode, from cluster_role */
	char *cluster_redis;		/* host:port or unix:/path */
	char *cluster_prefix;		/* key prefix */
	char *cluster_password_file;	/* Redis AUTH password, "" = none */
	double cluster_lock_ttl;	/* the UW link lock's expiry */
	double cluster_interest_ttl;	/* how long an edge's wish to read a channel lasts */
	double cluster_redis_timeout;	/* a Redis answer later than this drops the link */
	/* tape (durable history on disk, tape.c) */
	char tape_path[4096];		/* SQLite file; "" = no tape */
	char **tape_channels;		/* always joined and recorded */
	size_t n_tape_channels;
	int64_t tape_max_age_s;		/* retention by age, seconds; 0 = unbounded */
	int64_t tape_max_bytes;		/* retention by size, bytes; 0 = unbounded */
};

enum cluster_mode { CLUSTER_STANDALONE = 0, CLUSTER_INGEST, CLUSTER_EDGE };
/* cluster.role's names, indexed by enum cluster_mode. */
extern const char *const config_role_names[3];

/* Where Redis listens: a unix socket path, or a numeric address and port
 * (no name lookup: hiredis would do it on the event loop). */
struct config_redis {
	char unix_path[108];		/* "" for TCP */
	char host[64];
	int port;
};
/* Parses "HOST:PORT", "[V6]:PORT", "HOST" (port 6379), "localhost[:PORT]"
 * or "unix:/path". Returns 0, or -1 if it is none of these. */
int config_parse_redis(const char *s, struct config_redis *out);

/* Parses the URL of the upstream: scheme ws or wss, host, port, path.
 * Returns 0, or -1 if it is not a usable ws:// or wss:// URL. */
struct config_url {
	int tls;
	char host[256];
	int port;
	char path[512];
};
int config_parse_url(const char *url, struct config_url *out);
/* Same for upstream.rest_url: http:// or https://, a host, no path. */
int config_parse_rest_url(const char *url, struct config_url *out);
/* The source whose channel is name, or NULL. */
const struct config_source *config_source_by_channel(const struct config *cfg, const char *name,
						     size_t len);

/* Puts the origin s[0..len) ("scheme://host[:port]", scheme http or https)
 * in normal form in out: lower case, the scheme's default port dropped.
 * Returns 0, or -1 if it is not such an origin or does not fit in cap. */
int config_origin_normal(const char *s, size_t len, char *out, size_t cap);
/* 1 if host[0..len) is a host name (letters, digits, '-', '.'), an IPv4
 * address or a bracketed IPv6 address; else 0. */
int config_host_valid(const char *host, size_t len);
/* 1 if the listen address is a loopback one (127.0.0.0/8, ::1, localhost). */
int config_addr_is_loopback(const char *addr);

/* Fills cfg with the built-in defaults. Returns 0, -1 on OOM. */
int config_defaults(struct config *cfg);

/* Loads path into cfg (defaults for absent keys). Returns 0, or -1 with a
 * message "FILE:LINE: what is wrong" in err. On error cfg holds nothing
 * that needs freeing. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* Same from a buffer; `name` stands for the file in messages. */
int config_load_buffer(const char *name, const char *buf, size_t len,
		       struct config *cfg, char *err, size_t errlen);

/* Frees what cfg owns. Accepts a zeroed or freed config. */
void config_free(struct config *cfg);

/* The endpoint whose path is `path` (exact match), or NULL. */
const struct config_endpoint *config_endpoint_by_path(const struct config *cfg,
						      const char *path, size_t len);

#endif
