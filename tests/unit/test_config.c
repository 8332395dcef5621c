/* test_config.c: YAML configuration: defaults, every key, every error with
 * its line ("FILE:LINE: message"), config_parse_url, config_free. */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "check.h"

#ifndef UWRELAY_CONFIG_DIR
#define UWRELAY_CONFIG_DIR "../../config"
#endif

static char err[1024];

static int
load(const char *yaml, struct config *c)
{
	err[0] = '\0';
	return config_load_buffer("t.yaml", yaml, strlen(yaml), c, err, sizeof(err));
}

static int
is_zeroed(const struct config *c)
{
	static const struct config zero;

	return !memcmp(c, &zero, sizeof(zero));
}

/* Loading yaml fails with a message that starts "t.yaml:LINE: " and
 * contains `what`; the config is left holding nothing. */
#define CHECK_LOAD_FAILS(yaml, line, what)                                            \
	do {                                                                          \
		struct config c_;                                                     \
		char pre_[32];                                                        \
		memset(&c_, 0x5a, sizeof(c_));                                        \
		snprintf(pre_, sizeof(pre_), "t.yaml:%d: ", (line));                  \
		if (load((yaml), &c_) != -1) {                                        \
			check_fail_hdr(__FILE__, __LINE__);                           \
			printf("loaded, expected \"%s...%s\"\n", pre_, (what));       \
			config_free(&c_);                                             \
		} else {                                                              \
			if (strncmp(err, pre_, strlen(pre_)) || !strstr(err, (what))) { \
				check_fail_hdr(__FILE__, __LINE__);                   \
				printf("error \"%s\", expected \"%s...%s\"\n", err, pre_, (what)); \
			}                                                             \
			CHECK(is_zeroed(&c_));                                        \
			config_free(&c_);                                             \
		}                                                                     \
	} while (0)

#define CHECK_LOADS(yaml, c)                                                          \
	do {                                                                          \
		if (load((yaml), (c)) != 0) {                                         \
			check_fail_hdr(__FILE__, __LINE__);                           \
			printf("load failed: %s\n", err);                             \
			config_defaults(c);                                           \
		}                                                                     \
	} while (0)

static void
check_defaults(const struct config *c)
{
	CHECK_STR(c->listen_address, "127.0.0.1");
	CHECK_EQ_INT(c->listen_port, 8080);
	CHECK_STR(c->upstream_url, "wss://api.unusualwhales.com/socket");
	CHECK_STR(c->token_file, "");
	CHECK_STR(c->ca_file, "");
	CHECK_EQ_INT(c->max_frame, 1048576);
	CHECK_EQ_DBL(c->reconnect_initial, 5);
	CHECK_EQ_DBL(c->reconnect_max, 60);
	CHECK_EQ_DBL(c->reconnect_jitter, 0.10);
	CHECK_EQ_DBL(c->health_idle, 30);
	CHECK_EQ_DBL(c->health_pong, 10);
	CHECK_EQ_DBL(c->ack_timeout, 5);
	CHECK_EQ_DBL(c->leave_delay, 5);
	CHECK_EQ_DBL(c->budget_rate, 5);
	CHECK_EQ_INT(c->budget_burst, 30);
	CHECK_EQ_INT(c->max_queue_bytes, 1048576);
	CHECK_EQ_INT(c->max_message, 4096);
	CHECK_EQ_INT(c->max_channels, 64);
	CHECK_EQ_DBL(c->max_msg_rate, 20);
	CHECK_EQ_INT(c->history_size, 1000);
	CHECK_EQ_INT(c->history_max_bytes, 4194304);
	CHECK_STR(c->log_level, "info");
	CHECK_STR(c->rest_url, "https://api.unusualwhales.com");
	CHECK_STR(c->static_dir, "");
	CHECK_EQ_INT(c->n_sources, 1);
	if (c->n_sources == 1) {
		CHECK_STR(c->sources[0].channel, "congress");
		CHECK_STR(c->sources[0].path, "/api/congress/recent-trades");
		CHECK_STR(c->sources[0].query, "limit=100");
		CHECK_EQ_DBL(c->sources[0].interval, 60);
		CHECK_STR(c->sources[0].id_field, "");
	}
	CHECK_EQ_INT(c->n_endpoints, 4);
	if (c->n_endpoints == 4) {
		CHECK_STR(c->endpoints[3].path, "/api/stream/ws/congress");
		CHECK_STR(c->endpoints[3].channel, "congress");
		CHECK_STR(c->endpoints[0].id, "flow-alerts");
		CHECK_STR(c->endpoints[0].path, "/api/stream/ws/flow");
		CHECK_STR(c->endpoints[0].channel, "flow-alerts");
		CHECK_STR(c->endpoints[0].name, "Options Flow Alerts");
		CHECK_STR(c->endpoints[0].description, "Real-time unusual options flow alerts");
		CHECK_STR(c->endpoints[1].path, "/api/stream/ws/dark-pool");
		CHECK_STR(c->endpoints[1].channel, "off_lit_trades");
		CHECK_STR(c->endpoints[2].path, "/api/stream/ws/market-movers");
		CHECK_STR(c->endpoints[2].channel, "market_tide");
	}
	CHECK_EQ_INT(c->n_allowed, 13);
	if (c->n_allowed == 13) {
		CHECK_STR(c->allowed_channels[0], "flow-alerts");
		CHECK_STR(c->allowed_channels[3], "price:*");
		CHECK_STR(c->allowed_channels[12], "trading_halts");
	}
	CHECK_STR(c->cluster_role, "standalone");
	CHECK_EQ_INT(c->cluster_mode, CLUSTER_STANDALONE);
	CHECK_STR(c->cluster_redis, "127.0.0.1:6379");
	CHECK_STR(c->cluster_prefix, "uwrelay:");
	CHECK_STR(c->cluster_password_file, "");
	CHECK_EQ_DBL(c->cluster_lock_ttl, 5);
	CHECK_EQ_DBL(c->cluster_interest_ttl, 15);
	CHECK_EQ_DBL(c->cluster_redis_timeout, 2);
}

/* ---- defaults ---- */

static void
config_defaults_filled(void)
{
	struct config c;

	CHECK_EQ_INT(config_defaults(&c), 0);
	check_defaults(&c);
	config_free(&c);
	CHECK(is_zeroed(&c));
}

static void
config_empty_file_gives_defaults(void)
{
	struct config c;

	CHECK_EQ_INT(config_load_buffer("e.yaml", "", 0, &c, err, sizeof(err)), 0);
	check_defaults(&c);
	config_free(&c);
}

static void
config_comments_only_gives_defaults(void)
{
	struct config c;

	CHECK_LOADS("# nothing here\n\n   # really\n", &c);
	check_defaults(&c);
	config_free(&c);
	CHECK_LOADS("---\n# explicit start, no content\n", &c);
	check_defaults(&c);
	config_free(&c);
}

static void
config_empty_sections_keep_defaults(void)
{
	struct config c;

	CHECK_LOADS("listen:\nupstream:\n  reconnect:\n  health:\nclients:\nhistory:\nlog:\n", &c);
	check_defaults(&c);
	config_free(&c);
	CHECK_LOADS("listen: {}\nupstream: {reconnect: {}}\n", &c);
	check_defaults(&c);
	config_free(&c);
}

static void
config_absent_keys_keep_defaults(void)
{
	struct config c;

	CHECK_LOADS("listen:\n  port: 9000\n", &c);
	CHECK_EQ_INT(c.listen_port, 9000);
	CHECK_STR(c.listen_address, "127.0.0.1");
	CHECK_EQ_DBL(c.reconnect_initial, 5);
	CHECK_EQ_INT(c.n_endpoints, 4);
	config_free(&c);
}

/* ---- every key ---- */

static const char every_key_yaml[] =
	"listen:\n"
	"  address: 0.0.0.0\n"
	"  port: 9443\n"
	"  allow_anonymous: true\n"
	"upstream:\n"
	"  url: ws://127.0.0.1:9001/sim\n"
	"  token_file: /run/credentials/uw\n"
	"  ca_file: /etc/ssl/extra.pem\n"
	"  max_frame: 2048\n"
	"  ack_timeout: 0.5\n"
	"  leave_delay: 0\n"
	"  budget: {rate: 0.5, burst: 3}\n"
	"  reconnect:\n"
	"    initial_delay: 0.25\n"
	"    max_delay: 7.5\n"
	"    jitter: 0.3\n"
	"  health:\n"
	"    idle_timeout: 12\n"
	"    pong_timeout: 1.5\n"
	"endpoints:\n"
	"  - id: spy\n"
	"    path: /feeds/spy\n"
	"    channel: price:SPY\n"
	"    name: SPY price\n"
	"    description: \"Last price, \\\"live\\\"\"\n"
	"  - path: /feeds/news\n"
	"    channel: news\n"
	"  - {path: /feeds/tide, channel: market_tide, id: tide}\n"
	"allowed_channels: [news, \"price:*\", gex_strike_expiry:SPX]\n"
	"clients:\n"
	"  max_queue_bytes: 65536\n"
	"  max_message: 512\n"
	"  max_channels: 8\n"
	"  max_msg_rate: 2.5\n"
	"history:\n"
	"  size: 0\n"
	"  max_bytes: 1000\n"
	"log:\n"
	"  level: debug\n";

static void
config_every_key_read_back(void)
{
	struct config c;

	CHECK_LOADS(every_key_yaml, &c);
	CHECK_STR(c.listen_address, "0.0.0.0");
	CHECK_EQ_INT(c.listen_port, 9443);
	CHECK_EQ_INT(c.listen_allow_anonymous, 1);
	CHECK_STR(c.upstream_url, "ws://127.0.0.1:9001/sim");
	CHECK_STR(c.token_file, "/run/credentials/uw");
	CHECK_STR(c.ca_file, "/etc/ssl/extra.pem");
	CHECK_EQ_INT(c.max_frame, 2048);
	CHECK_EQ_DBL(c.ack_timeout, 0.5);
	CHECK_EQ_DBL(c.leave_delay, 0);
	CHECK_EQ_DBL(c.budget_rate, 0.5);
	CHECK_EQ_INT(c.budget_burst, 3);
	CHECK_EQ_DBL(c.reconnect_initial, 0.25);
	CHECK_EQ_DBL(c.reconnect_max, 7.5);
	CHECK_EQ_DBL(c.reconnect_jitter, 0.3);
	CHECK_EQ_DBL(c.health_idle, 12);
	CHECK_EQ_DBL(c.health_pong, 1.5);
	CHECK_EQ_INT(c.n_endpoints, 3);
	if (c.n_endpoints == 3) {
		CHECK_STR(c.endpoints[0].id, "spy");
		CHECK_STR(c.endpoints[0].path, "/feeds/spy");
		CHECK_STR(c.endpoints[0].channel, "price:SPY");
		CHECK_STR(c.endpoints[0].name, "SPY price");
		CHECK_STR(c.endpoints[0].description, "Last price, \"live\"");
		/* defaults: id = channel, name = id, description = "" */
		CHECK_STR(c.endpoints[1].id, "news");
		CHECK_STR(c.endpoints[1].path, "/feeds/news");
		CHECK_STR(c.endpoints[1].name, "news");
		CHECK_STR(c.endpoints[1].description, "");
		CHECK_STR(c.endpoints[2].id, "tide");
		CHECK_STR(c.endpoints[2].name, "tide");
		CHECK_STR(c.endpoints[2].channel, "market_tide");
	}
	CHECK_EQ_INT(c.n_allowed, 3);
	if (c.n_allowed == 3) {
		CHECK_STR(c.allowed_channels[0], "news");
		CHECK_STR(c.allowed_channels[1], "price:*");
		CHECK_STR(c.allowed_channels[2], "gex_strike_expiry:SPX");
	}
	CHECK_EQ_INT(c.max_queue_bytes, 65536);
	CHECK_EQ_INT(c.max_message, 512);
	CHECK_EQ_INT(c.max_channels, 8);
	CHECK_EQ_DBL(c.max_msg_rate, 2.5);
	CHECK_EQ_INT(c.history_size, 0);
	CHECK_EQ_INT(c.history_max_bytes, 1000);
	CHECK_STR(c.log_level, "debug");
	config_free(&c);
	CHECK(is_zeroed(&c));
}

static void
config_access_keys_read_back(void)
{
	struct config c;

	CHECK_LOADS("listen:\n"
		    "  address: 0.0.0.0\n"
		    "  tls:\n"
		    "    cert: /etc/uwrelay/cert.pem\n"
		    "    key: /etc/uwrelay/key.pem\n"
		    "clients:\n"
		    "  max_connections: 100\n"
		    "  max_per_ip: 4\n"
		    "  allowed_origins: [\"https://example.com\", \"http://localhost:3000\"]\n"
		    "auth:\n"
		    "  tokens:\n"
		    "    - 0123456789abcdef\n"
		    "    - \"ab+cd/ef=gh~ijklmnop\"\n"
		    "  tokens_file: /etc/uwrelay/tokens\n", &c);
	CHECK_EQ_INT(c.listen_allow_anonymous, 0);
	CHECK_STR(c.listen_tls_cert, "/etc/uwrelay/cert.pem");
	CHECK_STR(c.listen_tls_key, "/etc/uwrelay/key.pem");
	CHECK_EQ_INT(c.max_connections, 100);
	CHECK_EQ_INT(c.max_per_ip, 4);
	CHECK_EQ_INT(c.n_allowed_origins, 2);
	if (c.n_allowed_origins == 2) {
		CHECK_STR(c.allowed_origins[0], "https://example.com");
		CHECK_STR(c.allowed_origins[1], "http://localhost:3000");
	}
	CHECK_EQ_INT(c.n_auth_tokens, 2);
	if (c.n_auth_tokens == 2) {
		CHECK_STR(c.auth_tokens[0], "0123456789abcdef");
		CHECK_STR(c.auth_tokens[1], "ab+cd/ef=gh~ijklmnop");
	}
	CHECK_STR(c.auth_tokens_file, "/etc/uwrelay/tokens");
	config_free(&c);
	CHECK(is_zeroed(&c));
}

static void
config_access_key_errors(void)
{
	CHECK_LOAD_FAILS("auth:\n  tokens: [short]\n", 2, "short");
	CHECK_LOAD_FAILS("auth:\n  tokens:\n    - \"0123456789abcdef&x\"\n", 3, "tokens");
	CHECK_LOAD_FAILS("clients:\n  allowed_origins:\n    - https://example.com/path\n", 3,
			 "allowed_origins");
	CHECK_LOAD_FAILS("listen:\n  allow_anonymous: maybe\n", 2, "'allow_anonymous'");
	CHECK_LOAD_FAILS("listen:\n  tls:\n    cert: /c.pem\n", 3, "'key'");
}

static void
config_endpoint_by_path_lookup(void)
{
	struct config c;
	const struct config_endpoint *e;

	CHECK_LOADS(every_key_yaml, &c);
	e = config_endpoint_by_path(&c, "/feeds/news", 11);
	CHECK(e != NULL && !strcmp(e->channel, "news"));
	e = config_endpoint_by_path(&c, "/feeds/newsXYZ", 11);	/* by length */
	CHECK(e != NULL && !strcmp(e->channel, "news"));
	CHECK(config_endpoint_by_path(&c, "/feeds/new", 10) == NULL);
	CHECK(config_endpoint_by_path(&c, "/feeds/news/", 12) == NULL);
	CHECK(config_endpoint_by_path(&c, "/api/stream/ws/flow", 19) == NULL);	/* replaced */
	config_free(&c);
	config_defaults(&c);
	e = config_endpoint_by_path(&c, "/api/stream/ws/flow", 19);
	CHECK(e != NULL && !strcmp(e->channel, "flow-alerts"));
	config_free(&c);
}

static void
config_fractional_durations(void)
{
	struct config c;

	CHECK_LOADS("upstream:\n  reconnect: {initial_delay: 0.001, max_delay: .5, jitter: 0}\n"
		    "  health: {idle_timeout: 0.05, pong_timeout: 2.75}\n  ack_timeout: 1e-1\n", &c);
	CHECK_EQ_DBL(c.reconnect_initial, 0.001);
	CHECK_EQ_DBL(c.reconnect_max, 0.5);
	CHECK_EQ_DBL(c.reconnect_jitter, 0);
	CHECK_EQ_DBL(c.health_idle, 0.05);
	CHECK_EQ_DBL(c.health_pong, 2.75);
	CHECK_EQ_DBL(c.ack_timeout, 0.1);
	config_free(&c);
	CHECK_LOADS("upstream:\n  reconnect: {jitter: 1}\n", &c);
	CHECK_EQ_DBL(c.reconnect_jitter, 1);
	config_free(&c);
}

static void
config_range_edges_accepted(void)
{
	struct config c;

	CHECK_LOADS("listen: {port: 1}\n", &c);
	CHECK_EQ_INT(c.listen_port, 1);
	config_free(&c);
	CHECK_LOADS("listen: {port: 65535}\n", &c);
	CHECK_EQ_INT(c.listen_port, 65535);
	config_free(&c);
	CHECK_LOADS("listen: {port: \"8081\"}\n", &c);	/* a quoted number is a number */
	CHECK_EQ_INT(c.listen_port, 8081);
	config_free(&c);
	CHECK_LOADS("upstream: {max_frame: 67108864}\n", &c);
	CHECK_EQ_INT(c.max_frame, 67108864);
	config_free(&c);
}

static void
config_empty_lists(void)
{
	struct config c;

	CHECK_LOADS("allowed_channels: []\n", &c);
	CHECK_EQ_INT(c.n_allowed, 0);
	config_free(&c);
	CHECK_LOADS("endpoints: []\n", &c);
	CHECK_EQ_INT(c.n_endpoints, 0);
	config_free(&c);
	CHECK_LOADS("allowed_channels:\n", &c);
	CHECK_EQ_INT(c.n_allowed, 0);
	config_free(&c);
	/* "endpoints:" with every entry commented out is the same as [] */
	CHECK_LOADS("endpoints:\n  # - {path: /x, channel: news}\n", &c);
	CHECK_EQ_INT(c.n_endpoints, 0);
	config_free(&c);
}

static void
config_loopback_addresses_need_no_auth(void)
{
	struct config c;

	CHECK_LOADS("listen: {address: 127.0.0.2}\n", &c);
	config_free(&c);
	CHECK_LOADS("listen: {address: \"::1\"}\n", &c);
	config_free(&c);
	CHECK_LOADS("listen: {address: localhost}\n", &c);
	config_free(&c);
}

static void
config_beyond_loopback_needs_auth(void)
{
	struct config c;

	CHECK_LOAD_FAILS("log: {level: info}\nlisten:\n  address: 0.0.0.0\n", 3, "0.0.0.0");
	CHECK_LOADS("listen:\n  address: 0.0.0.0\nauth:\n  tokens: [\"0123456789abcdef\"]\n", &c);
	config_free(&c);
	CHECK_LOADS("listen:\n  address: 0.0.0.0\n  allow_anonymous: yes\n", &c);
	config_free(&c);
}

/* ---- errors, each with its line ---- */

static void
config_error_unknown_top_level_key(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 1234\nlisen:\n  port: 1\n", 3, "unknown key 'lisen'");
	CHECK_LOAD_FAILS("foo: 1\n", 1, "unknown key 'foo'");
}

static void
config_error_unknown_nested_key(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 1234\n  adress: x\n", 3, "unknown key 'adress' in 'listen'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    initial_delay: 1\n\n    inital: 2\n", 5,
			 "unknown key 'inital' in 'reconnect'");
	CHECK_LOAD_FAILS("endpoints:\n  - path: /x\n    chanel: news\n", 3, "unknown key 'chanel'");
}

static void
config_error_duplicate_key(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 1\n  address: 127.0.0.1\n  port: 2\n", 4, "'port' appears twice");
	CHECK_LOAD_FAILS("log:\n  level: info\nlisten:\n  port: 1\nlog:\n  level: debug\n", 5,
			 "'log' appears twice");
	CHECK_LOAD_FAILS("endpoints:\n  - path: /x\n    channel: news\n    path: /y\n", 4,
			 "'path' appears twice");
}

static void
config_error_list_where_scalar_expected(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: [1, 2]\n", 2, "'port'");
	CHECK_LOAD_FAILS("upstream:\n  url:\n    - ws://a/\n", 3, "'url'");
	CHECK_LOAD_FAILS("log:\n  level: {a: b}\n", 2, "'level'");
	CHECK_LOAD_FAILS("allowed_channels:\n  - news\n  - [price:SPY]\n", 3, "allowed_channels");
}

static void
config_error_scalar_where_mapping_expected(void)
{
	CHECK_LOAD_FAILS("listen: 8080\n", 1, "'listen' must be a mapping");
	CHECK_LOAD_FAILS("upstream:\n  reconnect: 5\n", 2, "'reconnect' must be a mapping");
	CHECK_LOAD_FAILS("upstream:\n  health: [1]\n", 2, "'health' must be a mapping");
	CHECK_LOAD_FAILS("endpoints:\n  - /x\n", 2, "endpoint");
	CHECK_LOAD_FAILS("endpoints: /x\n", 1, "'endpoints' must be a list");
	CHECK_LOAD_FAILS("allowed_channels: news\n", 1, "'allowed_channels' must be a list");
}

static void
config_error_root_not_a_mapping(void)
{
	CHECK_LOAD_FAILS("- listen\n- log\n", 1, "mapping");
	CHECK_LOAD_FAILS("\n\njust text\n", 3, "mapping");
}

static void
config_error_non_number(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: http\n", 2, "'port' must be a whole number");
	CHECK_LOAD_FAILS("listen:\n  port: 80.5\n", 2, "'port'");
	CHECK_LOAD_FAILS("listen:\n  port: 0x50\n", 2, "'port'");
	CHECK_LOAD_FAILS("listen:\n  port: \"\"\n", 2, "'port'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    max_delay: 5s\n", 3, "'max_delay' must be a number");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    jitter: nan\n", 3, "'jitter'");
	CHECK_LOAD_FAILS("upstream:\n  health:\n    idle_timeout: inf\n", 3, "'idle_timeout'");
	CHECK_LOAD_FAILS("clients:\n  max_channels: 99999999999999999999999\n", 2, "'max_channels'");
}

static void
config_error_out_of_range(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 0\n", 2, "'port' must be between 1 and 65535");
	CHECK_LOAD_FAILS("listen:\n  port: 70000\n", 2, "'port' must be between 1 and 65535");
	CHECK_LOAD_FAILS("listen:\n  port: -1\n", 2, "'port'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    jitter: -0.1\n", 3, "'jitter'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    jitter: 1.5\n", 3, "'jitter'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    initial_delay: 0\n", 3, "'initial_delay'");
	CHECK_LOAD_FAILS("upstream:\n  health:\n    pong_timeout: 0.01\n", 3, "'pong_timeout'");
	CHECK_LOAD_FAILS("upstream:\n  max_frame: 1023\n", 2, "'max_frame'");
	CHECK_LOAD_FAILS("clients:\n  max_channels: 0\n", 2, "'max_channels'");
	CHECK_LOAD_FAILS("clients:\n  max_queue_bytes: 100\n", 2, "'max_queue_bytes'");
	CHECK_LOAD_FAILS("history:\n  size: -1\n", 2, "'size'");
	CHECK_LOAD_FAILS("upstream:\n  leave_delay: -1\n", 2, "'leave_delay' must be between 0 and 3600");
	CHECK_LOAD_FAILS("upstream:\n  budget:\n    rate: 0\n", 3, "'rate' must be between 0.01 and 10000");
	CHECK_LOAD_FAILS("upstream:\n  budget:\n    rate: fast\n", 3, "'rate' must be a number, not 'fast'");
	CHECK_LOAD_FAILS("upstream:\n  budget: {rate: 5, burst: 0}\n", 2, "'burst' must be between 1 and 100000");
	CHECK_LOAD_FAILS("upstream:\n  budget: {burst: 2.5}\n", 2, "'burst' must be a whole number");
	CHECK_LOAD_FAILS("upstream:\n  budget: {rate: 5, brust: 9}\n", 2, "brust");
}

static void
config_error_bad_log_level(void)
{
	CHECK_LOAD_FAILS("log:\n  level: verbose\n", 2, "'verbose'");
	CHECK_LOAD_FAILS("log:\n  level: INFO\n", 2, "'level'");
}

static void
config_error_bad_url(void)
{
	CHECK_LOAD_FAILS("upstream:\n  url: http://api.unusualwhales.com/socket\n", 2, "'url'");
	CHECK_LOAD_FAILS("upstream:\n  url: wss://\n", 2, "'url'");
	CHECK_LOAD_FAILS("upstream:\n  url: wss:///socket\n", 2, "'url'");
	CHECK_LOAD_FAILS("upstream:\n  url: wss://api.unusualwhales.com/socket?token=abc\n", 2, "'url'");
	CHECK_LOAD_FAILS("upstream:\n  url: wss://user:pw@api.unusualwhales.com/socket\n", 2, "'url'");
	CHECK_LOAD_FAILS("upstream:\n  url: \"\"\n", 2, "'url'");
}

static void
config_error_bad_url_query_without_path(void)
{
	/* a query right after the host is still a query (and a leaked token) */
	CHECK_LOAD_FAILS("upstream:\n  url: wss://api.unusualwhales.com?token=abc\n", 2, "'url'");
}

static void
config_error_max_delay_below_initial(void)
{
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    initial_delay: 10\n    max_delay: 5\n", 4,
			 "'max_delay'");
	CHECK_LOAD_FAILS("upstream:\n  reconnect:\n    max_delay: 2\n", 3, "'max_delay'");
}

static void
config_error_initial_delay_above_default_max(void)
{
	/* only initial_delay is set: the message points at the line that is
	 * in the file, not at line 1 */
	CHECK_LOAD_FAILS("log:\n  level: info\nupstream:\n  reconnect:\n    initial_delay: 100\n", 5,
			 "initial_delay");
}

static void
config_error_yaml_syntax(void)
{
	/* bad indentation */
	CHECK_LOAD_FAILS("listen:\n  port: 1\n address: x\n", 3, "YAML syntax error");
	CHECK_LOAD_FAILS("listen:\n  port: 1\n    address: x\n", 3, "YAML syntax error");
	/* a tab is not indentation */
	CHECK_LOAD_FAILS("listen:\n\tport: 1\n", 2, "YAML syntax error");
	/* unclosed flow collections, found where the parser gave up */
	CHECK_LOAD_FAILS("allowed_channels: [news, price:*\nlog:\n  level: info\n", 2, "YAML syntax error");
	CHECK_LOAD_FAILS("endpoints:\n  - {path: /a, channel: news\n", 3, "YAML syntax error");
	/* unclosed quote */
	CHECK_LOAD_FAILS("log:\n  level: \"info\n", 3, "YAML syntax error");
	CHECK_LOAD_FAILS("a: b: c\n", 1, "YAML syntax error");
}

static void
config_error_two_documents(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 1\n---\nlog:\n  level: info\n", 3, "one YAML document");
	CHECK_LOAD_FAILS("listen:\n  port: 1\n---\nlog: [\n", 5, "YAML syntax error");
}

static void
config_document_markers_accepted(void)
{
	struct config c;

	CHECK_LOADS("---\nlisten:\n  port: 1\n", &c);
	CHECK_EQ_INT(c.listen_port, 1);
	config_free(&c);
	CHECK_LOADS("listen:\n  port: 2\n...\n", &c);
	CHECK_EQ_INT(c.listen_port, 2);
	config_free(&c);
}

static void
config_error_nul_in_string(void)
{
	CHECK_LOAD_FAILS("upstream:\n  token_file: \"a\\0b\"\n", 2, "NUL");
}

static void
config_error_non_scalar_key(void)
{
	CHECK_LOAD_FAILS("log: {level: info}\n? [a]\n: b\n", 2, "key");
}

static void
config_error_empty_listen_address(void)
{
	CHECK_LOAD_FAILS("listen:\n  port: 1\n  address: \"\"\n", 3, "'address'");
}

static void
config_error_endpoint_without_path(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - path: /a\n    channel: news\n  - id: x\n    channel: news\n", 4,
			 "no 'path'");
	CHECK_LOAD_FAILS("endpoints:\n  - {channel: news, path: \"\"}\n", 2, "no 'path'");
}

static void
config_error_endpoint_without_channel(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - path: /a\n    channel: news\n\n  - path: /b\n    name: B\n", 5,
			 "no 'channel'");
}

static void
config_error_endpoint_duplicate_path(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - path: /a\n    channel: news\n  - channel: gex:SPY\n    path: /a\n", 5,
			 "'/a' is used twice");
}

static void
config_error_endpoint_duplicate_id(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - {path: /a, channel: news}\n  - {path: /b, channel: news}\n", 3,
			 "'news' is used twice");
}

static void
config_error_endpoint_reserved_path(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - channel: news\n    path: /api/stream/status\n", 3, "reserved");
	CHECK_LOAD_FAILS("endpoints:\n  - {channel: news, path: /api/stream/ws}\n", 2, "reserved");
	CHECK_LOAD_FAILS("endpoints:\n  - {channel: news, path: /healthz}\n", 2, "reserved");
	CHECK_LOAD_FAILS("endpoints:\n  - {channel: news, path: /}\n", 2, "reserved");
	CHECK_LOAD_FAILS("endpoints:\n  - {channel: news, path: /metrics}\n", 2, "reserved");
}

static void
config_error_endpoint_bad_path(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - channel: news\n    path: news\n", 3, "must start with '/'");
	CHECK_LOAD_FAILS("endpoints:\n  - channel: news\n    path: /a?b=1\n", 3, "path");
	CHECK_LOAD_FAILS("endpoints:\n  - channel: news\n    path: /a b\n", 3, "path");
	CHECK_LOAD_FAILS("endpoints:\n  - channel: news\n    path: /a%20b\n", 3, "path");
}

static void
config_error_endpoint_invalid_channel(void)
{
	CHECK_LOAD_FAILS("endpoints:\n  - path: /a\n    channel: Flow Alerts\n", 3, "'Flow Alerts'");
	CHECK_LOAD_FAILS("endpoints:\n  - path: /a\n    channel: \"price:*\"\n", 3, "channel");
}

static void
config_error_line_of_a_late_endpoint(void)
{
	/* many endpoints: the error in the last one still names its own line */
	char y[8192];
	size_t n = 0;
	int line = 1;

	n += (size_t)snprintf(y + n, sizeof(y) - n, "endpoints:\n");
	for (int i = 0; i < 40; i++) {
		n += (size_t)snprintf(y + n, sizeof(y) - n, "  - id: e%d\n    path: /e/%d\n    channel: c%d\n",
				      i, i, i);
		line += 3;
	}
	n += (size_t)snprintf(y + n, sizeof(y) - n, "  - id: last\n    channel: news\n    path: /healthz\n");
	line += 3;	/* the path line */
	CHECK_LOAD_FAILS(y, line, "reserved");
}

static void
config_error_line_after_many_endpoints(void)
{
	char y[8192];
	size_t n = 0;
	int line = 1;

	n += (size_t)snprintf(y + n, sizeof(y) - n, "endpoints:\n");
	for (int i = 0; i < 40; i++) {
		n += (size_t)snprintf(y + n, sizeof(y) - n, "  - {id: e%d, path: /e/%d, channel: c%d}\n", i, i, i);
		line++;
	}
	n += (size_t)snprintf(y + n, sizeof(y) - n, "upstream:\n  url: http://nope/\n");
	line += 2;
	CHECK_LOAD_FAILS(y, line, "'url'");
}

static void
config_error_invalid_allowed_channels_pattern(void)
{
	CHECK_LOAD_FAILS("allowed_channels:\n  - news\n  - \"price:**\"\n", 3, "price:**");
	CHECK_LOAD_FAILS("allowed_channels: [news, Price]\n", 1, "Price");
	CHECK_LOAD_FAILS("allowed_channels:\n  - news\n  - \"*\"\n", 3, "*");
	CHECK_LOAD_FAILS("allowed_channels:\n  - \"price:\"\n", 2, "price:");
}

static void
config_error_message_truncated_safely(void)
{
	struct config c;
	char small[12];
	const char *y = "listen:\n  port: 0\n";

	memset(small, 'X', sizeof(small));
	CHECK_EQ_INT(config_load_buffer("t.yaml", y, strlen(y), &c, small, 8), -1);
	CHECK_EQ_INT(small[7], '\0');
	CHECK_EQ_INT(small[8], 'X');
	CHECK_STR(small, "t.yaml:");
	config_free(&c);
}

static void
config_buffer_not_nul_terminated(void)
{
	struct config c;
	const char *y = "listen:\n  port: 4321\n# the rest is not part of it";

	CHECK_EQ_INT(config_load_buffer("t.yaml", y, 21, &c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.listen_port, 4321);
	config_free(&c);
}

/* ---- files ---- */

static char tmpdir[64];

static const char *
write_file(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/uwrelay-unit-XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

static void
remove_tmpdir(void)
{
	char path[128];
	static const char *const names[] = { "good.yaml", "bad.yaml", "empty.yaml" };

	if (!tmpdir[0])
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

static void
config_load_file(void)
{
	struct config c;
	const char *p = write_file("good.yaml", "listen:\n  port: 8181\nlog:\n  level: warn\n");

	CHECK_EQ_INT(config_load(p, &c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.listen_port, 8181);
	CHECK_STR(c.log_level, "warn");
	CHECK_STR(c.listen_address, "127.0.0.1");
	config_free(&c);
	p = write_file("empty.yaml", "");
	CHECK_EQ_INT(config_load(p, &c, err, sizeof(err)), 0);
	check_defaults(&c);
	config_free(&c);
	remove_tmpdir();
}

static void
config_load_file_error_names_file(void)
{
	struct config c;
	char want[256];
	const char *p = write_file("bad.yaml", "listen:\n  port: 8181\n\nlog:\n  level: loud\n");

	memset(&c, 0x5a, sizeof(c));
	CHECK_EQ_INT(config_load(p, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:5: ", p);
	CHECK(!strncmp(err, want, strlen(want)));
	if (strncmp(err, want, strlen(want)))
		printf("  error \"%s\", expected it to start \"%s\"\n", err, want);
	CHECK(is_zeroed(&c));
	config_free(&c);
	remove_tmpdir();
}

static void
config_load_missing_file(void)
{
	struct config c;
	const char *p = "/nonexistent-uwrelay-dir/uwrelay.yaml";

	memset(&c, 0x5a, sizeof(c));
	CHECK_EQ_INT(config_load(p, &c, err, sizeof(err)), -1);
	CHECK(!strncmp(err, p, strlen(p)));
	CHECK_CONTAINS(err, strerror(ENOENT));
	CHECK(is_zeroed(&c));
	config_free(&c);
}

static void
config_load_directory_fails(void)
{
	struct config c;

	CHECK_EQ_INT(config_load("/", &c, err, sizeof(err)), -1);
	CHECK(!strncmp(err, "/:", 2));
	config_free(&c);
}

static void
config_shipped_file_matches_defaults(void)
{
	/* config/uwrelay.yaml says "the values below are the defaults" */
	struct config c;

	if (config_load(UWRELAY_CONFIG_DIR "/uwrelay.yaml", &c, err, sizeof(err))) {
		CHECK(!"config/uwrelay.yaml does not load");
		printf("  %s\n", err);
		return;
	}
	check_defaults(&c);
	config_free(&c);
}

static void
config_shipped_demo_loads(void)
{
	struct config c;

	/* the shipped demo config is part of the product: missing is a failure */
	if (access(UWRELAY_CONFIG_DIR "/demo.yaml", R_OK)) {
		CHECK(!"config/demo.yaml is missing");
		return;
	}
	if (config_load(UWRELAY_CONFIG_DIR "/demo.yaml", &c, err, sizeof(err))) {
		CHECK(!"config/demo.yaml does not load");
		printf("  %s\n", err);
		return;
	}
	config_free(&c);
}

/* ---- cluster ---- */

static void
config_cluster_roles(void)
{
	struct config c;

	CHECK_LOADS("cluster:\n  role: edge\n  redis: \"unix:/run/redis/redis.sock\"\n", &c);
	CHECK_EQ_INT(c.cluster_mode, CLUSTER_EDGE);
	config_free(&c);
	CHECK_LOADS("cluster:\n  role: ingest\n  redis: \"[::1]:7000\"\n  lock_ttl: 0.5\n", &c);
	CHECK_EQ_INT(c.cluster_mode, CLUSTER_INGEST);
	CHECK_EQ_DBL(c.cluster_lock_ttl, 0.5);
	config_free(&c);
}

static void
config_error_cluster(void)
{
	CHECK_LOAD_FAILS("log:\n  level: info\ncluster:\n  role: master\n", 4,
			 "'role' must be standalone, ingest or edge, not 'master'");
	CHECK_LOAD_FAILS("cluster:\n  role: edge\n  redis: redis.example.com:6379\n", 3,
			 "'redis' must be HOST:PORT with a numeric address");
	CHECK_LOAD_FAILS("cluster:\n  lock_ttl: 0.1\n", 2, "lock_ttl");
	CHECK_LOAD_FAILS("cluster:\n  key_prefix: \"a b\"\n", 2, "'key_prefix' must be");
	CHECK_LOAD_FAILS("cluster:\n  redis_timeout: 5\n  interest_ttl: 6\n", 3,
			 "'interest_ttl' (6) must be at least twice 'redis_timeout' (5)");
	CHECK_LOAD_FAILS("cluster:\n  leader: yes\n", 2, "leader");
}

static void
config_redis_addresses(void)
{
	struct config_redis a;

	CHECK_EQ_INT(config_parse_redis("127.0.0.1:6380", &a), 0);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_EQ_INT(a.port, 6380);
	CHECK_STR(a.unix_path, "");
	CHECK_EQ_INT(config_parse_redis("10.1.2.3", &a), 0);
	CHECK_EQ_INT(a.port, 6379);
	CHECK_EQ_INT(config_parse_redis("localhost:7000", &a), 0);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_EQ_INT(config_parse_redis("[::1]:6390", &a), 0);
	CHECK_STR(a.host, "::1");
	CHECK_EQ_INT(a.port, 6390);
	CHECK_EQ_INT(config_parse_redis("[::1]", &a), 0);
	CHECK_EQ_INT(a.port, 6379);
	CHECK_EQ_INT(config_parse_redis("unix:/var/run/redis.sock", &a), 0);
	CHECK_STR(a.unix_path, "/var/run/redis.sock");
	/* refused: names (hiredis would resolve them on the loop), bad ports, bare v6 */
	CHECK_EQ_INT(config_parse_redis("redis:6379", &a), -1);
	CHECK_EQ_INT(config_parse_redis("127.0.0.1:0", &a), -1);
	CHECK_EQ_INT(config_parse_redis("127.0.0.1:65536", &a), -1);
	CHECK_EQ_INT(config_parse_redis("127.0.0.1:", &a), -1);
	CHECK_EQ_INT(config_parse_redis("127.0.0.1:63x", &a), -1);
	CHECK_EQ_INT(config_parse_redis("::1", &a), -1);
	CHECK_EQ_INT(config_parse_redis("[::1]x", &a), -1);
	CHECK_EQ_INT(config_parse_redis("unix:relative.sock", &a), -1);
	CHECK_EQ_INT(config_parse_redis("", &a), -1);
}

/* ---- config_free ---- */

static void
config_free_zeroed_is_safe(void)
{
	struct config c;

	memset(&c, 0, sizeof(c));
	config_free(&c);
	config_free(&c);
	CHECK(is_zeroed(&c));
	CHECK_EQ_INT(config_defaults(&c), 0);
	config_free(&c);
	config_free(&c);	/* freed twice: the first one zeroed it */
	CHECK(is_zeroed(&c));
}

static void
config_reload_into_same_struct(void)
{
	struct config c;

	CHECK_LOADS(every_key_yaml, &c);
	config_free(&c);
	CHECK_LOADS("listen: {port: 1}\n", &c);
	CHECK_EQ_INT(c.listen_port, 1);
	config_free(&c);
}

/* ---- config_parse_url ---- */

static void
config_url_wss_default_port(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("wss://api.unusualwhales.com/socket", &u), 0);
	CHECK_EQ_INT(u.tls, 1);
	CHECK_STR(u.host, "api.unusualwhales.com");
	CHECK_EQ_INT(u.port, 443);
	CHECK_STR(u.path, "/socket");
}

static void
config_url_ws_default_port_and_path(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("ws://localhost", &u), 0);
	CHECK_EQ_INT(u.tls, 0);
	CHECK_STR(u.host, "localhost");
	CHECK_EQ_INT(u.port, 80);
	CHECK_STR(u.path, "/");
	CHECK_EQ_INT(config_parse_url("wss://example.com", &u), 0);
	CHECK_EQ_INT(u.port, 443);
	CHECK_STR(u.path, "/");
}

static void
config_url_explicit_port(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("ws://127.0.0.1:9001/sim/socket", &u), 0);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_EQ_INT(u.port, 9001);
	CHECK_STR(u.path, "/sim/socket");
	CHECK_EQ_INT(config_parse_url("wss://h:1", &u), 0);
	CHECK_EQ_INT(u.port, 1);
	CHECK_STR(u.path, "/");
	CHECK_EQ_INT(config_parse_url("wss://h:65535/", &u), 0);
	CHECK_EQ_INT(u.port, 65535);
}

static void
config_url_bad_port(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("ws://h:0/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://h:65536/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://h:/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://h:80x/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://h:-80/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://h:99999999999999999999/", &u), -1);
}

static void
config_url_ipv6_literal(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("ws://[::1]:8443/x", &u), 0);
	CHECK_STR(u.host, "::1");
	CHECK_EQ_INT(u.port, 8443);
	CHECK_STR(u.path, "/x");
	CHECK_EQ_INT(config_parse_url("wss://[2001:db8::5]/socket", &u), 0);
	CHECK_STR(u.host, "2001:db8::5");
	CHECK_EQ_INT(u.port, 443);
	CHECK_EQ_INT(config_parse_url("wss://[2001:db8::5]", &u), 0);
	CHECK_STR(u.path, "/");
	CHECK_EQ_INT(config_parse_url("ws://[::1/x", &u), -1);		/* no ']' */
	CHECK_EQ_INT(config_parse_url("ws://[]/x", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://[::1]x/", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://[::1]:0/", &u), -1);
}

static void
config_url_credentials_rejected(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("wss://user@h/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://user:pass@h/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://user:pass@h:443/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://:pass@h/socket", &u), -1);
}

static void
config_url_scheme_and_host_required(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("http://h/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("https://h/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("h/socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss:///socket", &u), -1);
	CHECK_EQ_INT(config_parse_url("ws://:80/", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss:/h/socket", &u), -1);
}

static void
config_url_query_and_fragment_rejected(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("wss://h/socket?token=abc", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://h/socket#frag", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://h/so cket", &u), -1);
}

static void
config_url_query_right_after_host_rejected(void)
{
	struct config_url u;

	CHECK_EQ_INT(config_parse_url("wss://h?token=abc", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://h:443?token=abc", &u), -1);
	CHECK_EQ_INT(config_parse_url("wss://h#frag", &u), -1);
}

static void
config_url_length_limits(void)
{
	struct config_url u;
	char url[1200];

	/* host: up to 255 bytes */
	strcpy(url, "ws://");
	memset(url + 5, 'h', 255);
	strcpy(url + 5 + 255, "/");
	CHECK_EQ_INT(config_parse_url(url, &u), 0);
	CHECK_EQ_INT(strlen(u.host), 255);
	memset(url + 5, 'h', 256);
	strcpy(url + 5 + 256, "/");
	CHECK_EQ_INT(config_parse_url(url, &u), -1);
	/* path: up to 511 bytes */
	strcpy(url, "ws://h/");
	memset(url + 7, 'p', 510);
	url[7 + 510] = '\0';
	CHECK_EQ_INT(config_parse_url(url, &u), 0);
	CHECK_EQ_INT(strlen(u.path), 511);
	strcat(url, "p");
	CHECK_EQ_INT(config_parse_url(url, &u), -1);
}

static void
config_url_out_cleared_on_failure(void)
{
	struct config_url u;

	memset(&u, 0x5a, sizeof(u));
	CHECK_EQ_INT(config_parse_url("http://h/", &u), -1);
	CHECK_EQ_INT(u.port, 0);
	CHECK_EQ_INT(u.host[0], '\0');
}

CHECK_MAIN(
	CHECK_TEST(config_defaults_filled),
	CHECK_TEST(config_empty_file_gives_defaults),
	CHECK_TEST(config_comments_only_gives_defaults),
	CHECK_TEST(config_empty_sections_keep_defaults),
	CHECK_TEST(config_absent_keys_keep_defaults),
	CHECK_TEST(config_every_key_read_back),
	CHECK_TEST(config_access_keys_read_back),
	CHECK_TEST(config_access_key_errors),
	CHECK_TEST(config_endpoint_by_path_lookup),
	CHECK_TEST(config_fractional_durations),
	CHECK_TEST(config_range_edges_accepted),
	CHECK_TEST(config_empty_lists),
	CHECK_TEST(config_loopback_addresses_need_no_auth),
	CHECK_TEST(config_beyond_loopback_needs_auth),
	CHECK_TEST(config_error_unknown_top_level_key),
	CHECK_TEST(config_error_unknown_nested_key),
	CHECK_TEST(config_error_duplicate_key),
	CHECK_TEST(config_error_list_where_scalar_expected),
	CHECK_TEST(config_error_scalar_where_mapping_expected),
	CHECK_TEST(config_error_root_not_a_mapping),
	CHECK_TEST(config_error_non_number),
	CHECK_TEST(config_error_out_of_range),
	CHECK_TEST(config_error_bad_log_level),
	CHECK_TEST(config_error_bad_url),
	CHECK_TEST(config_error_bad_url_query_without_path),
	CHECK_TEST(config_error_max_delay_below_initial),
	CHECK_TEST(config_error_initial_delay_above_default_max),
	CHECK_TEST(config_error_yaml_syntax),
	CHECK_TEST(config_error_two_documents),
	CHECK_TEST(config_document_markers_accepted),
	CHECK_TEST(config_error_nul_in_string),
	CHECK_TEST(config_error_non_scalar_key),
	CHECK_TEST(config_error_empty_listen_address),
	CHECK_TEST(config_error_endpoint_without_path),
	CHECK_TEST(config_error_endpoint_without_channel),
	CHECK_TEST(config_error_endpoint_duplicate_path),
	CHECK_TEST(config_error_endpoint_duplicate_id),
	CHECK_TEST(config_error_endpoint_reserved_path),
	CHECK_TEST(config_error_endpoint_bad_path),
	CHECK_TEST(config_error_endpoint_invalid_channel),
	CHECK_TEST(config_error_line_of_a_late_endpoint),
	CHECK_TEST(config_error_line_after_many_endpoints),
	CHECK_TEST(config_error_invalid_allowed_channels_pattern),
	CHECK_TEST(config_error_message_truncated_safely),
	CHECK_TEST(config_buffer_not_nul_terminated),
	CHECK_TEST(config_load_file),
	CHECK_TEST(config_load_file_error_names_file),
	CHECK_TEST(config_load_missing_file),
	CHECK_TEST(config_load_directory_fails),
	CHECK_TEST(config_cluster_roles),
	CHECK_TEST(config_error_cluster),
	CHECK_TEST(config_redis_addresses),
	CHECK_TEST(config_shipped_file_matches_defaults),
	CHECK_TEST(config_shipped_demo_loads),
	CHECK_TEST(config_free_zeroed_is_safe),
	CHECK_TEST(config_reload_into_same_struct),
	CHECK_TEST(config_url_wss_default_port),
	CHECK_TEST(config_url_ws_default_port_and_path),
	CHECK_TEST(config_url_explicit_port),
	CHECK_TEST(config_url_bad_port),
	CHECK_TEST(config_url_ipv6_literal),
	CHECK_TEST(config_url_credentials_rejected),
	CHECK_TEST(config_url_scheme_and_host_required),
	CHECK_TEST(config_url_query_and_fragment_rejected),
	CHECK_TEST(config_url_query_right_after_host_rejected),
	CHECK_TEST(config_url_length_limits),
	CHECK_TEST(config_url_out_cleared_on_failure))
