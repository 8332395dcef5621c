/* access: who may talk to the relay (access_decide), and the config keys
 * it reads (listen.hostnames, clients.allowed_origins). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "access.h"
#include "check.h"
#include "config.h"
#include "log.h"

#define TOKEN "subTok_9f2c4a1b+e07d/3e55=QZ"
#define TOKEN2 "second-subscriber-token-0123456789"

static char err[512];

/* An access built from a YAML config; fails the test if it does not load. */
static int
load(struct access *a, const char *yaml)
{
	struct config c;
	int rc;

	if (config_load_buffer("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err))) {
		printf("  config: %s\n", err);
		CHECK(!"config loads");
		memset(a, 0, sizeof(*a));
		return -1;
	}
	rc = access_load(a, &c, err, sizeof(err));
	if (rc)
		printf("  access_load: %s\n", err);
	config_free(&c);
	return rc;
}

/* A request built from its parts; NULL leaves a header out. */
struct req {
	const char *path, *host, *origin, *token, *cookie;
	int websocket, preflight;
};

static int
decide(const struct access *a, struct req r, struct access_verdict *v)
{
	struct access_req q = {
		.method = r.preflight ? "OPTIONS" : "GET",
		.path = r.path ? r.path : "/api/stream/status",
		.host = r.host, .host_len = r.host ? strlen(r.host) : 0,
		.origin = r.origin, .origin_len = r.origin ? strlen(r.origin) : 0,
		.token = r.token, .token_len = r.token ? strlen(r.token) : 0,
		.cookie = r.cookie, .cookie_len = r.cookie ? strlen(r.cookie) : 0,
		.websocket = r.websocket, .preflight = r.preflight,
	};

	return access_decide(a, &q, v);
}

/* Status only. */
static int
st(const struct access *a, struct req r)
{
	struct access_verdict v;

	return decide(a, r, &v);
}

#define LISTEN(more) "listen: {address: 127.0.0.1, port: 8080" more "}\n"
#define DEFAULTS LISTEN("")

/* ---- origins ---- */

static void
own_origins_with_and_without_port(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS);
	for (const char *o = NULL, *const *p = (const char *const[]){
		     "http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080",
		     "http://LOCALHOST:8080", "HTTP://Localhost:8080", NULL }; (o = *p); p++) {
		CHECK_EQ_INT(decide(&a, (struct req){ .origin = o, .websocket = 1 }, &v), 0);
		CHECK_EQ_INT(decide(&a, (struct req){ .origin = o }, &v), 0);
		CHECK(v.allow_origin == NULL);	/* same-origin: no CORS header */
	}
	access_free(&a);

	/* on port 80, the port may be written or not */
	load(&a, "listen: {address: 127.0.0.1, port: 80}\n");
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:80", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:8080", .websocket = 1 }), 403);
	access_free(&a);
	CHECK_NO_LEAKS();
}

static void
origin_on_another_port_or_scheme_is_refused(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS);
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "http://localhost:3000", .websocket = 1 }, &v),
		     403);
	CHECK_CONTAINS(v.why, "clients.allowed_origins");
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost", .websocket = 1 }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://localhost:8080", .websocket = 1 }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://evil.example", .websocket = 1 }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://evil.example" }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://127.0.0.1:8080.evil.example" }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://127.0.0.1:8080/" }), 403);
	/* sandboxed frames and file:// pages send "null" */
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "null", .websocket = 1 }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "", .websocket = 1 }), 403);
	/* no Origin: curl, scripts, same-origin GETs */
	CHECK_EQ_INT(st(&a, (struct req){ .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ 0 }), 0);
	access_free(&a);
}

static void
listed_dev_origin_gets_cors_on_api_paths(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS "clients: {allowed_origins: [\"http://localhost:3000\", "
		 "\"https://Dash.Example:8443\"]}\n");
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "http://localhost:3000" }, &v), 0);
	CHECK_STR(v.allow_origin, "http://localhost:3000");
	for (const char *p = NULL, *const *pp = (const char *const[]){
		     "/api/stream/channels", "/metrics", "/healthz", "/readyz", "/uwrelay.js", NULL };
	     (p = *pp); pp++) {
		CHECK_EQ_INT(decide(&a, (struct req){ .path = p, .origin = "http://localhost:3000" }, &v), 0);
		CHECK_STR(v.allow_origin, "http://localhost:3000");
	}
	/* the page and its other files are not for other origins to read */
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/", .origin = "http://localhost:3000" }, &v), 0);
	CHECK(v.allow_origin == NULL);
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/app.js", .origin = "http://localhost:3000" }, &v), 0);
	CHECK(v.allow_origin == NULL);
	/* a WebSocket needs no CORS header */
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/api/stream/ws/flow", .origin = "http://localhost:3000",
					     .websocket = 1 }, &v), 0);
	CHECK(v.allow_origin == NULL);
	/* compared in normal form: case of the host, default port */
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "https://dash.example:8443" }, &v), 0);
	CHECK_STR(v.allow_origin, "https://dash.example:8443");
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://dash.example" }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:3001" }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://localhost:3000" }), 403);
	/* the relay's own origins still work */
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://127.0.0.1:8080", .websocket = 1 }), 0);
	access_free(&a);
}

static void
star_opts_in_to_any_origin(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS "clients: {allowed_origins: [\"*\"]}\n");
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "https://evil.example", .websocket = 1 }, &v), 0);
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "https://Evil.Example:443" }, &v), 0);
	CHECK_STR(v.allow_origin, "https://evil.example");
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "null" }, &v), 0);
	CHECK_STR(v.allow_origin, "null");
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "http://localhost:8080" }, &v), 0);
	CHECK(v.allow_origin == NULL);
	/* "*" is about origins only: the Host rule still holds */
	CHECK_EQ_INT(st(&a, (struct req){ .host = "evil.example", .origin = "http://evil.example" }), 421);
	access_free(&a);
}

static void
ipv6_listener_own_origin(void)
{
	struct access a;

	load(&a, "listen: {address: \"::1\", port: 9000}\n");
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://[::1]:9000", .host = "[::1]:9000",
					  .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:9000", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://[::2]:9000", .websocket = 1 }), 403);
	access_free(&a);
}

static void
listed_hostname_is_an_own_origin(void)
{
	struct access a;

	load(&a, LISTEN(", hostnames: [Relay.Lan]"));
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://relay.lan:8080", .host = "relay.lan:8080",
					  .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://relay.lan:9090", .websocket = 1 }), 403);
	access_free(&a);
}

/* ---- Host ---- */

static void
host_rule_on_a_loopback_listener(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, LISTEN(", hostnames: [relay.lan]"));
	for (const char *h = NULL, *const *p = (const char *const[]){
		     "127.0.0.1:8080", "127.0.0.1", "127.0.0.2:8080", "127.255.0.9", "localhost",
		     "LocalHost:8080", "localhost:9999", "[::1]", "[::1]:8080", "relay.lan",
		     "RELAY.LAN:8080", NULL }; (h = *p); p++) {
		CHECK_EQ_INT(decide(&a, (struct req){ .host = h }, &v), 0);
		if (v.status)
			printf("    Host %s\n", h);
	}
	/* no Host at all (HTTP/1.0 tools) is no attack */
	CHECK_EQ_INT(st(&a, (struct req){ 0 }), 0);
	for (const char *h = NULL, *const *p = (const char *const[]){
		     "evil.example", "evil.example:8080", "foo.localhost", "localhost.evil.example",
		     "10.0.0.5", "128.0.0.1:8080", "[::2]:8080", "relay.lan.evil", NULL };
	     (h = *p); p++) {
		CHECK_EQ_INT(decide(&a, (struct req){ .host = h }, &v), 421);
		CHECK_CONTAINS(v.why, "listen.hostnames");
	}
	/* the rule covers every path, the health checks and the WebSocket too */
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "evil.example" }), 421);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/", .host = "evil.example" }), 421);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/api/stream/ws/flow", .host = "evil.example",
					  .websocket = 1 }), 421);
	/* not a host[:port] */
	for (const char *h = NULL, *const *p = (const char *const[]){
		     "::1", "localhost:", "localhost:80a", "local host", "[::1", "a..b", "x:1234567",
		     NULL }; (h = *p); p++)
		CHECK_EQ_INT(st(&a, (struct req){ .host = h }), 400);
	access_free(&a);
}

static void
host_rule_beyond_loopback(void)
{
	struct access a;

	load(&a, "listen: {address: 0.0.0.0, port: 8080, hostnames: [relay.example]}\n"
		 "auth: {tokens: [\"" TOKEN "\"]}\n");
	/* an address cannot be a rebinding attack; a name must be known */
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "10.0.0.5:8080" }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "[2001:db8::1]:8080" }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "relay.example" }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "localhost:8080" }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz", .host = "evil.example" }), 421);
	access_free(&a);

	/* a specific address is a name of the relay */
	load(&a, "listen: {address: 192.168.1.5, allow_anonymous: true}\n");
	CHECK_EQ_INT(st(&a, (struct req){ .host = "192.168.1.5:8080",
					  .origin = "http://192.168.1.5:8080", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .host = "nas.home:8080" }), 421);
	access_free(&a);
}

/* ---- preflight ---- */

static void
preflight_allowed_and_refused(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS "clients: {allowed_origins: [\"http://localhost:3000\"]}\n"
		 "auth: {tokens: [\"" TOKEN "\"]}\n");
	/* no token on a preflight: browsers never send one there */
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "http://localhost:3000", .preflight = 1 }, &v), 0);
	CHECK_STR(v.allow_origin, "http://localhost:3000");
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/uwrelay.js", .origin = "http://localhost:3000",
					     .preflight = 1 }, &v), 0);
	CHECK_STR(v.allow_origin, "http://localhost:3000");
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "https://evil.example", .preflight = 1 }, &v), 403);
	CHECK(v.allow_origin == NULL);
	CHECK_EQ_INT(st(&a, (struct req){ .preflight = 1 }), 403);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/", .origin = "http://localhost:3000",
					  .preflight = 1 }), 403);
	/* the token is still needed on the request that follows */
	CHECK_EQ_INT(decide(&a, (struct req){ .origin = "http://localhost:3000" }, &v), 401);
	CHECK_STR(v.allow_origin, "http://localhost:3000");	/* so the page can read why */
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:3000", .token = TOKEN }), 0);
	access_free(&a);
}

/* ---- tokens and the cookie ---- */

/* The "name=value" part of a Set-Cookie, into out. */
static void
cookie_of(const struct access_verdict *v, char *out, size_t cap)
{
	size_t n = strcspn(v->set_cookie, ";");

	snprintf(out, cap, "%.*s", (int)n, v->set_cookie);
}

static void
token_via_query_or_bearer_sets_a_cookie(void)
{
	struct access a;
	struct access_verdict v;

	load(&a, DEFAULTS "auth: {tokens: [\"" TOKEN "\", \"" TOKEN2 "\"]}\n");
	CHECK_EQ_INT(decide(&a, (struct req){ 0 }, &v), 401);
	CHECK_CONTAINS(v.why, "access token");
	CHECK_EQ_INT(v.set_cookie[0], 0);
	CHECK_EQ_INT(st(&a, (struct req){ .token = "" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .token = "subTok_9f2c4a1b+e07d/3e55=QY" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .token = "subTok_9f2c4a1b+e07d/3e55=Q" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .token = TOKEN "Z" }), 401);
	/* the glue hands ?access_token= and Bearer over the same way */
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/", .token = TOKEN }, &v), 0);
	CHECK(!strncmp(v.set_cookie, ACCESS_COOKIE_NAME "=", strlen(ACCESS_COOKIE_NAME) + 1));
	CHECK_CONTAINS(v.set_cookie, "; HttpOnly");
	CHECK_CONTAINS(v.set_cookie, "; SameSite=Strict");
	CHECK_CONTAINS(v.set_cookie, "; Path=/");
	CHECK_NOT_CONTAINS(v.set_cookie, "Secure");	/* plain http: a Secure cookie is dropped */
	CHECK_EQ_INT(strcspn(v.set_cookie, ";"), strlen(ACCESS_COOKIE_NAME) + 1 + 64);
	/* every file needs it, the health checks do not */
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/style.css" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/my-static-file.json" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/metrics" }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/api/stream/ws/flow", .websocket = 1 }), 401);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/healthz" }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/readyz" }), 0);
	/* a WebSocket with a token gets in, and no cookie (a 101 sets none) */
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/api/stream/ws/flow", .token = TOKEN2,
					     .websocket = 1 }, &v), 0);
	CHECK_EQ_INT(v.set_cookie[0], 0);
	/* one cookie per token, the same on every request */
	{
		char c1[128], c2[128], c1b[128];

		decide(&a, (struct req){ .token = TOKEN }, &v);
		cookie_of(&v, c1, sizeof(c1));
		decide(&a, (struct req){ .token = TOKEN2 }, &v);
		cookie_of(&v, c2, sizeof(c2));
		decide(&a, (struct req){ .path = "/", .token = TOKEN }, &v);
		cookie_of(&v, c1b, sizeof(c1b));
		CHECK(strcmp(c1, c2) != 0);
		CHECK_STR(c1, c1b);
	}
	access_free(&a);
}

static void
cookie_stands_in_for_the_token(void)
{
	struct access a;
	struct access_verdict v;
	char c[128], hdr[512];

	load(&a, DEFAULTS "auth: {tokens: [\"" TOKEN "\"]}\n");
	decide(&a, (struct req){ .path = "/", .token = TOKEN }, &v);
	cookie_of(&v, c, sizeof(c));
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/style.css", .cookie = c }, &v), 0);
	CHECK_EQ_INT(v.set_cookie[0], 0);	/* already has it */
	snprintf(hdr, sizeof(hdr), "theme=dark; other_app=1234;%s ; z=", c);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/app.js", .cookie = hdr }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .path = "/api/stream/ws/flow", .cookie = c,
					  .websocket = 1 }), 0);
	/* the cookie is not the token, and the token is not a cookie */
	CHECK(strstr(c, TOKEN) == NULL);
	snprintf(hdr, sizeof(hdr), "%s=%s", ACCESS_COOKIE_NAME, TOKEN);
	CHECK_EQ_INT(st(&a, (struct req){ .cookie = hdr }), 401);
	/* one hex digit changed, cut short, another name, upper-case hex */
	{
		char bad[160];
		size_t eq = strlen(ACCESS_COOKIE_NAME) + 1;

		snprintf(bad, sizeof(bad), "%s", c);
		bad[eq + 10] = bad[eq + 10] == '0' ? '1' : '0';
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 401);
		snprintf(bad, sizeof(bad), "%.*s", (int)strlen(c) - 1, c);
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 401);
		snprintf(bad, sizeof(bad), "x%s", c);
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 401);
		snprintf(bad, sizeof(bad), "%s", c);
		for (char *p = bad + eq; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 0);
		/* 64 characters that are not hex digits, in either nibble */
		snprintf(bad, sizeof(bad), "%s=%064d", ACCESS_COOKIE_NAME, 0);
		memset(bad + eq, 'z', 64);
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 401);
		for (size_t i = 0; i < 64; i++)
			bad[eq + i] = i % 2 ? 'g' : '0';
		CHECK_EQ_INT(st(&a, (struct req){ .cookie = bad }), 401);
	}
	access_free(&a);

	/* another process (another key) does not take this one's cookie */
	load(&a, DEFAULTS "auth: {tokens: [\"" TOKEN "\"]}\n");
	CHECK_EQ_INT(st(&a, (struct req){ .cookie = c }), 401);
	access_free(&a);
}

static void
cookie_from_before_a_reload_that_removed_the_token(void)
{
	struct access a1, a2, a3;
	struct access_verdict v;
	char c1[128], c2[128];

	load(&a1, DEFAULTS "auth: {tokens: [\"" TOKEN "\", \"" TOKEN2 "\"]}\n");
	decide(&a1, (struct req){ .token = TOKEN }, &v);
	cookie_of(&v, c1, sizeof(c1));
	decide(&a1, (struct req){ .token = TOKEN2 }, &v);
	cookie_of(&v, c2, sizeof(c2));
	/* the reload drops TOKEN and keeps TOKEN2 */
	load(&a2, DEFAULTS "auth: {tokens: [\"" TOKEN2 "\"]}\n");
	CHECK_EQ_INT(access_keep_key(&a2, &a1), 0);
	CHECK_EQ_INT(st(&a2, (struct req){ .cookie = c1 }), 401);
	CHECK_EQ_INT(st(&a2, (struct req){ .token = TOKEN }), 401);
	CHECK_EQ_INT(st(&a2, (struct req){ .cookie = c2 }), 0);
	/* and TOKEN coming back later makes its old cookie good again
	 * (same token, same key): removing a token is what revokes */
	load(&a3, DEFAULTS "auth: {tokens: [\"" TOKEN "\"]}\n");
	CHECK_EQ_INT(access_keep_key(&a3, &a2), 0);
	CHECK_EQ_INT(st(&a3, (struct req){ .cookie = c1 }), 0);
	CHECK_EQ_INT(st(&a3, (struct req){ .cookie = c2 }), 401);
	access_free(&a1);
	access_free(&a2);
	access_free(&a3);
	/* no auth after a reload: nothing to check */
	load(&a1, DEFAULTS);
	CHECK_EQ_INT(st(&a1, (struct req){ 0 }), 0);
	access_free(&a1);
	CHECK_NO_LEAKS();
}

/* Every verdict for every kind of request: why, allow_origin and the
 * cookie hold no byte of the token. The token is made of bytes that no
 * reason, origin or cookie text uses, so one byte is enough to tell. */
static void
verdicts_never_hold_a_token_byte(void)
{
	static const char tok[] = "~^|`~^|`~^|`~^|`~^|`";
	struct access a;
	struct access_verdict v;
	int n = 0;

	load(&a, DEFAULTS "clients: {allowed_origins: [\"http://localhost:3000\"]}\n"
		 "auth: {tokens: [\"~^|`~^|`~^|`~^|`~^|`\", \"" TOKEN2 "\"]}\n");
	for (int ws = 0; ws < 2; ws++)
		for (int pf = 0; pf < 2; pf++)
			for (int k = 0; k < 6; k++) {
				const char *paths[] = { "/", "/api/stream/status", "/healthz" };
				const char *hosts[] = { NULL, "evil.example", "localhost:8080" };
				const char *origins[] = { NULL, "http://localhost:3000", "https://x.example" };
				const char *toks[] = { NULL, tok, "~^|`~^|`~^|`~^|`~^|" };

				for (int t = 0; t < 3; t++) {
					struct req r = { .path = paths[k % 3], .host = hosts[(k + t) % 3],
							 .origin = origins[k / 2], .token = toks[t],
							 .websocket = ws, .preflight = pf };

					decide(&a, r, &v);
					n++;
					CHECK(!v.why || strpbrk(v.why, tok) == NULL);
					CHECK(!v.allow_origin || strpbrk(v.allow_origin, tok) == NULL);
					CHECK(strpbrk(v.set_cookie, tok) == NULL);
					/* and the other token, as a whole */
					r.token = TOKEN2;
					decide(&a, r, &v);
					CHECK(!v.why || !strstr(v.why, TOKEN2));
					CHECK(!strstr(v.set_cookie, TOKEN2));
				}
			}
	/* at least one of these was let in with a cookie: the test saw one */
	decide(&a, (struct req){ .path = "/", .token = tok }, &v);
	CHECK(v.set_cookie[0] != 0);
	CHECK(strpbrk(v.set_cookie, tok) == NULL);
	CHECK_EQ_INT(n, 72);
	access_free(&a);
}

/* ---- the listener's certificate ---- */

/* A self-signed certificate with the given subjectAltName ("" for none),
 * written to path. Returns 0. */
static int
write_cert(const char *path, const char *san)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX ctx;
	FILE *f;
	int rc = -1;

	if (!k || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"cn-only.example", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (san[0]) {
		X509_EXTENSION *e;

		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		if (!e)
			goto out;
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (!X509_sign(x, k, EVP_sha256()))
		goto out;
	f = fopen(path, "w");
	if (!f)
		goto out;
	rc = PEM_write_X509(f, x) ? 0 : -1;
	fclose(f);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static void
tls_listener_takes_the_certificate_names(void)
{
	char path[] = "/tmp/uwrelay-test-access-XXXXXX", yaml[512];
	struct access a;
	struct access_verdict v;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(write_cert(path, "DNS:Relay.Example, DNS:*.wild.example, IP:10.0.0.5, IP:fd00::5"), 0);
	snprintf(yaml, sizeof(yaml), LISTEN(", tls: {cert: \"%s\", key: \"%s\"}"), path, path);
	load(&a, yaml);
	/* https only */
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://localhost:8080", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "http://localhost:8080", .websocket = 1 }), 403);
	/* the certificate's names are the relay's: Host and origin */
	CHECK_EQ_INT(st(&a, (struct req){ .host = "relay.example:8080",
					  .origin = "https://relay.example:8080", .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .host = "10.0.0.5:8080", .origin = "https://10.0.0.5:8080",
					  .websocket = 1 }), 0);
	CHECK_EQ_INT(st(&a, (struct req){ .origin = "https://[fd00::5]:8080", .websocket = 1 }), 0);
	/* a wildcard is not a name the relay is reached by; the CN is not read */
	CHECK_EQ_INT(st(&a, (struct req){ .host = "a.wild.example" }), 421);
	CHECK_EQ_INT(st(&a, (struct req){ .host = "cn-only.example" }), 421);
	access_free(&a);

	/* the cookie is Secure on https */
	snprintf(yaml, sizeof(yaml), LISTEN(", tls: {cert: \"%s\", key: \"%s\"}")
		 "auth: {tokens: [\"" TOKEN "\"]}\n", path, path);
	load(&a, yaml);
	CHECK_EQ_INT(decide(&a, (struct req){ .path = "/", .token = TOKEN }, &v), 0);
	CHECK_CONTAINS(v.set_cookie, "; Secure");
	access_free(&a);

	/* an unreadable certificate is an error that names it */
	{
		struct config c;

		snprintf(yaml, sizeof(yaml), LISTEN(", tls: {cert: /nonexistent/c.pem, key: /k}"));
		CHECK_EQ_INT(config_load_buffer("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
		CHECK_EQ_INT(access_load(&a, &c, err, sizeof(err)), -1);
		CHECK_CONTAINS(err, "/nonexistent/c.pem");
		config_free(&c);
	}
	unlink(path);
	CHECK_NO_LEAKS();
}

/* ---- the config keys ---- */

static int
config_fails(const char *yaml, const char *prefix, const char *what)
{
	struct config c;

	if (!config_load_buffer("t.yaml", yaml, strlen(yaml), &c, err, sizeof(err))) {
		config_free(&c);
		printf("  loaded: %s", yaml);
		return 0;
	}
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, what)) {
		printf("  got: %s\n", err);
		return 0;
	}
	return 1;
}

static void
config_keys_are_validated(void)
{
	struct config c;
	const char *ok = "listen: {hostnames: [relay.lan, \"10.0.0.5\", \"[fd00::1]\"]}\n"
			 "clients: {allowed_origins: [\"*\", \"http://localhost:3000\", "
			 "\"https://[::1]:8443\", \"HTTPS://Dash.Example\"]}\n";

	CHECK_EQ_INT(config_load_buffer("t.yaml", ok, strlen(ok), &c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_listen_hostnames, 3);
	CHECK_EQ_INT(c.n_allowed_origins, 4);
	config_free(&c);
	CHECK(config_fails("clients:\n  allowed_origins:\n    - http://localhost:3000/\n", "t.yaml:3:",
			   "allowed_origins"));
	CHECK(config_fails("clients:\n  allowed_origins: [ftp://x.example]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("clients:\n  allowed_origins: [\"http://a b\"]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("clients:\n  allowed_origins: [\"http://x:0\"]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("clients:\n  allowed_origins: [\"http://x:65536\"]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("clients:\n  allowed_origins: [null]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("clients:\n  allowed_origins: [\"*.example.com\"]\n", "t.yaml:2:", "origin"));
	CHECK(config_fails("listen:\n  hostnames:\n    - relay.lan:8080\n", "t.yaml:3:", "hostnames"));
	CHECK(config_fails("listen:\n  hostnames: [\"http://relay.lan\"]\n", "t.yaml:2:", "host name"));
	CHECK(config_fails("listen:\n  hostnames: [\"*.lan\"]\n", "t.yaml:2:", "hostnames"));
	CHECK(config_fails("listen:\n  hostnames: [\"::1\"]\n", "t.yaml:2:", "hostnames"));
	CHECK(config_fails("listen:\n  hostnames: relay.lan\n", "t.yaml:2:", "list"));
}

static void
origin_normal_form(void)
{
	char out[ACCESS_ORIGIN_MAX];

	CHECK_EQ_INT(config_origin_normal("HTTP://LocalHost:80", 19, out, sizeof(out)), 0);
	CHECK_STR(out, "http://localhost");
	CHECK_EQ_INT(config_origin_normal("https://x.example:443", 21, out, sizeof(out)), 0);
	CHECK_STR(out, "https://x.example");
	CHECK_EQ_INT(config_origin_normal("https://x.example:80", 20, out, sizeof(out)), 0);
	CHECK_STR(out, "https://x.example:80");
	CHECK_EQ_INT(config_origin_normal("http://[::1]:8080", 17, out, sizeof(out)), 0);
	CHECK_STR(out, "http://[::1]:8080");
	/* len, not NUL, ends it */
	CHECK_EQ_INT(config_origin_normal("http://a.example:3000junk", 21, out, sizeof(out)), 0);
	CHECK_STR(out, "http://a.example:3000");
	CHECK_EQ_INT(config_origin_normal("http://a.example", 16, out, 10), -1);
	CHECK_EQ_INT(config_origin_normal("http://", 7, out, sizeof(out)), -1);
	CHECK_EQ_INT(config_origin_normal("http://a.example:", 17, out, sizeof(out)), -1);
	CHECK_EQ_INT(config_origin_normal("http://user@a.example", 21, out, sizeof(out)), -1);
	CHECK_EQ_INT(config_origin_normal("http://a.example\r\nX: y", 22, out, sizeof(out)), -1);
}

static void
teardown(void)
{
	log_clear_secrets();
	CHECK_NO_LEAKS();
}

CHECK_MAIN(
	CHECK_TEST(own_origins_with_and_without_port),
	CHECK_TEST(origin_on_another_port_or_scheme_is_refused),
	CHECK_TEST(listed_dev_origin_gets_cors_on_api_paths),
	CHECK_TEST(star_opts_in_to_any_origin),
	CHECK_TEST(ipv6_listener_own_origin),
	CHECK_TEST(listed_hostname_is_an_own_origin),
	CHECK_TEST(host_rule_on_a_loopback_listener),
	CHECK_TEST(host_rule_beyond_loopback),
	CHECK_TEST(preflight_allowed_and_refused),
	CHECK_TEST(token_via_query_or_bearer_sets_a_cookie),
	CHECK_TEST(cookie_stands_in_for_the_token),
	CHECK_TEST(cookie_from_before_a_reload_that_removed_the_token),
	CHECK_TEST(verdicts_never_hold_a_token_byte),
	CHECK_TEST(tls_listener_takes_the_certificate_names),
	CHECK_TEST(config_keys_are_validated),
	CHECK_TEST(origin_normal_form),
	CHECK_TEST(teardown))
