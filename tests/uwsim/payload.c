/*
 * uwsim - payload generators: plausible UW frames for every channel type.
 *
 * Shapes follow /work/shared/UW-PROTOCOL.md (UW's documented examples);
 * the partly documented channels get invented but plausible fields. Every
 * payload carries "sim_seq". Output is compact JSON, valid UTF-8 (channel
 * names and tickers are escaped as JSON strings).
 */
#define _GNU_SOURCE
#include "uwsim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ sb */

void sb_init(struct sb *b, size_t pre)
{
	memset(b, 0, sizeof(*b));
	b->pre = pre;
}

void sb_free(struct sb *b)
{
	free(b->base);
	b->base = NULL;
	b->len = b->cap = 0;
}

void sb_reset(struct sb *b)
{
	b->len = 0;
	b->oom = 0;
}

char *sb_data(struct sb *b)
{
	return b->base ? (char *)b->base + b->pre : NULL;
}

static int sb_grow(struct sb *b, size_t need)
{
	size_t ncap;
	unsigned char *nb;

	if (b->oom)
		return -1;
	if (b->len + need + 1 <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + need + 1)
		ncap *= 2;
	nb = realloc(b->base, b->pre + ncap);
	if (!nb) {
		b->oom = 1;
		return -1;
	}
	b->base = nb;
	b->cap = ncap;
	return 0;
}

void sb_putn(struct sb *b, const char *s, size_t n)
{
	if (sb_grow(b, n))
		return;
	memcpy(b->base + b->pre + b->len, s, n);
	b->len += n;
	b->base[b->pre + b->len] = '\0';
}

void sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

void sb_putc(struct sb *b, char c)
{
	sb_putn(b, &c, 1);
}

void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb_grow(b, 128))
		return;
	va_start(ap, fmt);
	n = vsnprintf((char *)b->base + b->pre + b->len, b->cap - b->len,
		      fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		if (sb_grow(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf((char *)b->base + b->pre + b->len, b->cap - b->len,
			  fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void sb_json_strn(struct sb *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	sb_putc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];

		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		if (run)
			sb_putn(b, s + i - run, run);
		run = 0;
		switch (c) {
		case '"': sb_putn(b, "\\\"", 2); break;
		case '\\': sb_putn(b, "\\\\", 2); break;
		case '\n': sb_putn(b, "\\n", 2); break;
		case '\r': sb_putn(b, "\\r", 2); break;
		case '\t': sb_putn(b, "\\t", 2); break;
		default:
			esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
			sb_putn(b, esc, 6);
		}
	}
	if (run)
		sb_putn(b, s + n - run, run);
	sb_putc(b, '"');
}

void sb_json_str(struct sb *b, const char *s)
{
	sb_json_strn(b, s, strlen(s));
}

/* ----------------------------------------------------------------- rnd */

static uint64_t rs = 0x9e3779b97f4a7c15ull;

void rnd_seed(uint64_t seed)
{
	/* splitmix64 the seed so small seeds give good states */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	rs = z ^ (z >> 31);
	if (!rs)
		rs = 1;
}

uint64_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 0x2545f4914f6cdd1dull;
}

long rnd_range(long lo, long hi)
{
	if (hi <= lo)
		return lo;
	return lo + (long)(rnd() % (uint64_t)(hi - lo + 1));
}

double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------- helpers */

static const char *const tickers[] = {
	"SPY", "QQQ", "TSLA", "AAPL", "NVDA", "AMD", "MSFT", "AMZN", "META",
	"IWM", "DIA", "GOOGL", "PLTR", "SOFI", "UVIX", "NFLX", "COIN", "MSTR",
};
#define NTICKERS (sizeof(tickers) / sizeof(tickers[0]))

static const char *rnd_ticker(void)
{
	return tickers[rnd() % NTICKERS];
}

static void put_uuid(struct sb *b)
{
	uint64_t a = rnd(), c = rnd();

	sb_printf(b, "\"%08x-%04x-4%03x-%04x-%012llx\"",
		  (unsigned)(a >> 32), (unsigned)((a >> 16) & 0xffff),
		  (unsigned)(a & 0xfff),
		  (unsigned)(0x8000 | ((c >> 48) & 0x3fff)),
		  (unsigned long long)(c & 0xffffffffffffull));
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ISO-8601 UTC, e.g. 2025-06-11T21:40:56Z */
static void put_iso(struct sb *b, long long ms)
{
	char buf[40];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
	sb_puts(b, buf);
}

/* a date `days` from now, as YYYY-MM-DD (iso) and YYMMDD (occ) */
static void expiry_date(int days, char iso[16], char occ[8])
{
	time_t t = time(NULL) + (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(iso, 16, "%Y-%m-%d", &tm);
	/* OCC option symbols carry a two-digit year, on purpose */
	snprintf(occ, 8, "%02u%02u%02u", (unsigned)(tm.tm_year % 100), (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u);
}

/* a stable-ish price level per ticker */
static double base_price(const char *t)
{
	uint32_t h = 2166136261u;

	if (!strcmp(t, "SPY"))
		return 562.0;
	if (!strcmp(t, "QQQ"))
		return 480.0;
	if (!strcmp(t, "TSLA"))
		return 245.0;
	while (*t)
		h = (h ^ (unsigned char)*t++) * 16777619u;
	return 5.0 + (double)(h % 60000) / 100.0;
}

static double jitter(double p, double frac)
{
	return p * (1.0 + frac * (2.0 * rnd_unit() - 1.0));
}

/* OCC-style option symbol, e.g. SPY241018C00415000 */
static void put_occ(struct sb *b, const char *tk, const char *occd, int call,
		    double strike)
{
	char t[640];
	int n;

	n = snprintf(t, sizeof(t), "%.600s%s%c%08ld", tk, occd,
		     call ? 'C' : 'P', (long)(strike * 1000.0 + 0.5));
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(t))
		n = (int)sizeof(t) - 1;
	sb_json_strn(b, t, (size_t)n);
}

static double round_strike(double p)
{
	double step = p > 200 ? 5.0 : (p > 50 ? 1.0 : 0.5);

	return step * (double)(long)(p / step + 0.5);
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd() % n];
}
#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static const char *const rules[] = {
	"RepeatedHits", "RepeatedHitsAscendingFill",
	"RepeatedHitsDescendingFill", "FloorTradeSmallCap",
	"FloorTradeLargeCap", "OtmEarningsFloor", "LowHistoricVolumeFloor",
	"SweepsFollowedByFloor",
};
static const char *const exchanges[] = {
	"XCBO", "MPRL", "XPHO", "AMXO", "ARCO", "BATO", "C2OX", "EDGO", "EMLD",
	"GMNI", "XISX", "MCRY", "XBOX", "XNDQ",
};
static const char *const conds[] = { "auto", "slan", "mlet", "isoi", "mlat" };

/* ---------------------------------------------------------- generators */

/* scratch for the part of a flow alert after trade_ids; kept between calls
 * so steady-state generation does not allocate */
static struct sb flow_tail;

void gen_cleanup(void)
{
	sb_free(&flow_tail);
}

struct ctx {
	const char *chan;	/* full channel name */
	const char *tk;		/* ticker (suffix or random) */
	int has_suffix;
	long long ms;
};

static void gen_flow_alert(struct sb *b, struct ctx *c, uint64_t seq,
			   size_t target)
{
	struct sb *tail = &flow_tail;
	double up = jitter(base_price(c->tk), 0.01), strike, price, prem;
	int call = (int)(rnd() & 1), days = (int)rnd_range(0, 60), n, i;
	long vol = rnd_range(50, 20000), size = rnd_range(10, 5000);
	long oi = rnd_range(0, 50000);
	long long st = c->ms - rnd_range(0, 2000);
	char iso[16], occ[8];
	size_t fixed;

	expiry_date(days, iso, occ);
	strike = round_strike(jitter(up, 0.05));
	price = 0.05 + rnd_unit() * up * 0.03;
	prem = price * (double)size * 100.0;

	sb_puts(b, "{\"rule_id\":");
	put_uuid(b);
	sb_puts(b, ",\"rule_name\":");
	sb_json_str(b, PICK(rules));
	sb_puts(b, ",\"ticker\":");
	sb_json_str(b, c->tk);
	sb_puts(b, ",\"option_chain\":");
	put_occ(b, c->tk, occ, call, strike);
	sb_printf(b, ",\"underlying_price\":%.3f,\"volume\":%ld,"
		  "\"total_size\":%ld,\"total_premium\":%.0f,"
		  "\"total_ask_side_prem\":%.0f,\"total_bid_side_prem\":%.0f,"
		  "\"start_time\":%lld,\"end_time\":%lld,\"url\":\"\","
		  "\"price\":%.2f,\"has_multileg\":%s,\"has_sweep\":%s,"
		  "\"has_floor\":%s,\"open_interest\":%ld,"
		  "\"all_opening_trades\":%s,\"id\":",
		  up, vol, size, prem, prem * 0.7, prem * 0.3, st, c->ms,
		  price, rnd() % 5 ? "false" : "true",
		  rnd() % 3 ? "false" : "true", rnd() % 4 ? "false" : "true",
		  oi, rnd() % 2 ? "false" : "true");
	put_uuid(b);
	sb_printf(b, ",\"has_singleleg\":true,\"volume_oi_ratio\":%.2f,"
		  "\"trade_ids\":[", oi ? (double)vol / (double)oi : 0.0);

	/* everything after the trade_ids array goes into flow_tail first, so the
	 * number of ids can be chosen to reach the target size */
	sb_reset(tail);
	sb_printf(tail, "],\"trade_count\":%%TC%%,\"expiry_count\":1,"
		  "\"executed_at\":%lld,\"ask_vol\":%ld,\"bid_vol\":%ld,"
		  "\"no_side_vol\":%ld,\"mid_vol\":%ld,\"multi_vol\":0,"
		  "\"stock_multi_vol\":0,\"upstream_condition_details\":[",
		  c->ms, rnd_range(0, vol), rnd_range(0, vol),
		  rnd_range(0, 10), rnd_range(0, 20));
	sb_json_str(tail, PICK(conds));
	sb_putc(tail, ',');
	sb_json_str(tail, PICK(conds));
	sb_puts(tail, "],\"exchanges\":[");
	sb_json_str(tail, PICK(exchanges));
	sb_putc(tail, ',');
	sb_json_str(tail, PICK(exchanges));
	sb_printf(tail, "],\"bid\":\"%.2f\",\"ask\":\"%.2f\","
		  "\"sim_seq\":%llu}]", price * 0.98, price,
		  (unsigned long long)seq);

	/* "%TC%" is replaced by the count (1..5 digits): budget 5 chars */
	fixed = b->len + tail->len - 4 + 5;
	if (target) {
		long need = (long)target - (long)fixed + 1;

		n = need > 39 ? (int)((need + 38) / 39) : 1;
		if (n > 10000000)
			n = 10000000;
	} else
		n = (int)rnd_range(5, 46);

	for (i = 0; i < n; i++) {
		if (i)
			sb_putc(b, ',');
		put_uuid(b);
	}
	if (!tail->oom) {
		char *t = sb_data(tail), *p = strstr(t, "%TC%");

		sb_putn(b, t, (size_t)(p - t));
		sb_printf(b, "%d", n);
		sb_puts(b, p + 4);
	} else
		b->oom = 1;
}

static void gen_option_trade(struct sb *b, struct ctx *c)
{
	double up = jitter(base_price(c->tk), 0.01), strike, price, bid, ask;
	int call = (int)(rnd() & 1), days = (int)rnd_range(0, 90);
	long size = rnd_range(1, 500), vol = rnd_range(size, 100000);
	long av = rnd_range(0, vol), bv = vol - av;
	char iso[16], occ[8];
	static const char *const sides[] = { "bid_side", "ask_side", "mid_side" };
	static const char *const moods[] = { "bullish", "bearish", "neutral" };

	expiry_date(days, iso, occ);
	strike = round_strike(jitter(up, 0.08));
	price = 0.01 + rnd_unit() * up * 0.04;
	bid = price * 0.97;
	ask = price * 1.03;

	sb_puts(b, "{\"id\":");
	put_uuid(b);
	sb_puts(b, ",\"underlying_symbol\":");
	sb_json_str(b, c->tk);
	sb_printf(b, ",\"executed_at\":%lld,\"nbbo_bid\":\"%.2f\","
		  "\"nbbo_ask\":\"%.2f\",\"size\":%ld,\"price\":\"%.2f\","
		  "\"option_symbol\":", c->ms - rnd_range(5, 80), bid, ask,
		  size, price);
	put_occ(b, c->tk, occ, call, strike);
	sb_printf(b, ",\"created_at\":%lld,\"report_flags\":[],\"tags\":[",
		  c->ms);
	sb_json_str(b, PICK(sides));
	sb_putc(b, ',');
	sb_json_str(b, PICK(moods));
	sb_printf(b, "],\"expiry\":\"%s\",\"option_type\":\"%s\","
		  "\"open_interest\":%ld,\"strike\":\"%.10f\","
		  "\"premium\":\"%.2f\",\"volume\":%ld,"
		  "\"underlying_price\":\"%.4f\","
		  "\"implied_volatility\":\"%.14f\",\"delta\":\"%.17f\","
		  "\"trade_code\":\"slan\",\"exchange\":",
		  iso, call ? "call" : "put", rnd_range(0, 80000), strike,
		  price * (double)size * 100.0, vol, up,
		  0.1 + rnd_unit() * 2.0, (call ? 1 : -1) * rnd_unit());
	sb_json_str(b, PICK(exchanges));
	sb_printf(b, ",\"ask_vol\":%ld,\"bid_vol\":%ld", av, bv);
}

/* What a ticker's price, day volume and GEX have done so far, so that
 * successive frames walk like a session instead of jumping about: the
 * price is a random walk pulled gently back to its base level, volume only
 * grows, and gamma drifts. A small table, oldest entry reused when full. */
struct walk {
	char tk[16];
	double price, gamma, charm, vanna;
	long vol;
	unsigned used;
};

static struct walk *walk_of(const char *tk)
{
	static struct walk w[64];
	static unsigned clock;
	struct walk *free_slot = &w[0];

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (w[i].used && !strncmp(w[i].tk, tk, sizeof(w[i].tk) - 1)) {
			w[i].used = ++clock;
			return &w[i];
		}
		if (w[i].used < free_slot->used)
			free_slot = &w[i];
	}
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->tk, sizeof(free_slot->tk), "%s", tk);
	free_slot->price = base_price(tk);
	free_slot->vol = rnd_range(100000, 5000000);
	free_slot->gamma = (rnd_unit() - 0.6) * 1e9;
	free_slot->charm = (rnd_unit() - 0.5) * 4e12;
	free_slot->vanna = (rnd_unit() - 0.3) * 1e10;
	free_slot->used = ++clock;
	return free_slot;
}

static void walk_step(struct walk *w, const char *tk)
{
	double base = base_price(tk);

	w->price *= 1.0 + 0.0006 * (2.0 * rnd_unit() - 1.0);
	w->price += 0.01 * (base - w->price);
	if (w->price < 0.01)
		w->price = 0.01;
	w->vol += rnd_range(100, 40000);
	w->gamma += (rnd_unit() - 0.5) * 2e7 - 0.005 * w->gamma * (rnd_unit() - 0.4);
	w->charm += (rnd_unit() - 0.5) * 4e10;
	w->vanna += (rnd_unit() - 0.5) * 2e8;
}

static void gen_price(struct sb *b, struct ctx *c)
{
	struct walk *w = walk_of(c->tk);

	walk_step(w, c->tk);
	sb_printf(b, "{\"close\":\"%.2f\",\"time\":%lld,\"vol\":%ld",
		  w->price, c->ms, w->vol);
}

static void gen_gex(struct sb *b, struct ctx *c)
{
	struct walk *w = walk_of(c->tk);

	walk_step(w, c->tk);
	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, c->tk);
	sb_printf(b, ",\"timestamp\":%lld,"
		  "\"gamma_per_one_percent_move_oi\":\"%.2f\","
		  "\"delta_per_one_percent_move_oi\":\"\","
		  "\"charm_per_one_percent_move_oi\":\"%.2f\","
		  "\"vanna_per_one_percent_move_oi\":\"%.2f\","
		  "\"price\":\"%.2f\"",
		  c->ms / 1000 * 1000, w->gamma, w->charm, w->vanna, w->price);
}

static void gen_gex_strike(struct sb *b, struct ctx *c, int with_expiry)
{
	double p = jitter(base_price(c->tk), 0.005);

	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, c->tk);
	if (with_expiry) {
		char iso[16], occ[8];

		expiry_date((int)rnd_range(0, 60), iso, occ);
		sb_printf(b, ",\"expiry\":\"%s\"", iso);
	}
	sb_printf(b, ",\"timestamp\":%lld,\"strike\":\"%.1f\",\"price\":\"%.2f\","
		  "\"call_gamma_oi\":\"%.4f\",\"put_gamma_oi\":\"%.4f\","
		  "\"call_gamma_vol\":\"%.4f\",\"put_gamma_vol\":\"%.4f\","
		  "\"call_delta_oi\":\"%.4f\",\"put_delta_oi\":\"%.4f\","
		  "\"call_charm_oi\":\"%.4f\",\"put_charm_oi\":\"%.4f\","
		  "\"call_vanna_oi\":\"%.4f\",\"put_vanna_oi\":\"%.4f\"",
		  c->ms / 1000 * 1000, round_strike(jitter(p, 0.1)), p,
		  rnd_unit() * 5e8, -rnd_unit() * 5e8, rnd_unit() * 1e8,
		  -rnd_unit() * 1e8, rnd_unit() * 3e9, -rnd_unit() * 3e9,
		  (rnd_unit() - 0.5) * 1e10, (rnd_unit() - 0.5) * 1e10,
		  (rnd_unit() - 0.5) * 2e8, (rnd_unit() - 0.5) * 2e8);
}

static void gen_news(struct sb *b, struct ctx *c)
{
	static const char *const fmt[] = {
		"%s shares rise after analyst upgrade",
		"%s announces $%d billion share buyback",
		"%s falls as quarterly revenue misses estimates",
		"Options traders pile into %s calls ahead of earnings",
		"%s CEO says demand remains \"very strong\"",
		"%s halted pending news",
	};
	static const char *const src[] = {
		"social-media", "press-release", "benzinga", "reuters",
	};
	const char *tk = c->has_suffix ? c->tk : rnd_ticker();
	char h[256];

	snprintf(h, sizeof(h), PICK(fmt), tk, (int)rnd_range(1, 50));
	sb_puts(b, "{\"headline\":");
	sb_json_str(b, h);
	sb_puts(b, ",\"timestamp\":");
	put_iso(b, c->ms);
	sb_puts(b, ",\"source\":");
	sb_json_str(b, PICK(src));
	sb_puts(b, ",\"tickers\":[");
	sb_json_str(b, tk);
	sb_printf(b, "],\"is_trump_ts\":%s", rnd() % 20 ? "false" : "true");
}

static void gen_stock_trade(struct sb *b, struct ctx *c, int off_lit)
{
	static const char *const lit_mc[] = { "Q", "N", "P", "Z", "K", "V" };
	double p = jitter(base_price(c->tk), 0.002), bid = p - 0.01;
	long size = off_lit ? rnd_range(100, 200000) : rnd_range(1, 5000);

	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, c->tk);
	sb_puts(b, ",\"executed_at\":");
	put_iso(b, c->ms);
	sb_printf(b, ",\"canceled\":false,\"ext_hour_sold_codes\":null,"
		  "\"market_center\":\"%s\",\"nbbo_ask\":\"%.2f\","
		  "\"nbbo_ask_quantity\":%ld,\"nbbo_bid\":\"%.2f\","
		  "\"nbbo_bid_quantity\":%ld,\"premium\":\"%.2f\","
		  "\"price\":\"%.4f\",\"sale_cond_codes\":null,\"size\":%ld,"
		  "\"tracking_id\":%llu,\"trade_code\":null,"
		  "\"trade_settlement\":\"regular_settlement\",\"volume\":%ld",
		  off_lit ? "L" : PICK(lit_mc), p + 0.01, rnd_range(100, 30000),
		  bid, rnd_range(100, 30000), p * (double)size, p, size,
		  (unsigned long long)(rnd() % 100000000000000ull),
		  rnd_range(100000, 90000000));
}

/* Market tide is cumulative over the trading day: net call and net put
 * premium drift from zero with a slowly changing bias (the day's mood), so a
 * chart of it looks like UW's; net volume follows the premiums. */
static void gen_market_tide(struct sb *b, struct ctx *c)
{
	static double call, put, mood;
	static long vol;
	char iso[16], occ[8];

	mood += (rnd_unit() - 0.5) * 0.2;
	mood *= 0.98;
	call += (rnd_unit() - 0.5 + mood) * 1.5e6;
	put += (rnd_unit() - 0.5 - mood) * 1.5e6;
	vol += (long)((rnd_unit() - 0.5 + mood) * 4000.0);
	expiry_date(0, iso, occ);
	sb_printf(b, "{\"date\":\"%s\",\"timestamp\":", iso);
	put_iso(b, c->ms);
	sb_printf(b, ",\"net_call_premium\":\"%.0f\",\"net_put_premium\":\"%.0f\","
		  "\"net_volume\":%ld", call, put, vol);
}

static void gen_net_flow(struct sb *b, struct ctx *c)
{
	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, c->tk);
	sb_printf(b, ",\"timestamp\":%lld,\"net_call_premium\":\"%.2f\","
		  "\"net_put_premium\":\"%.2f\",\"net_call_volume\":%ld,"
		  "\"net_put_volume\":%ld,\"net_volume\":%ld",
		  c->ms, (rnd_unit() - 0.5) * 2e7, (rnd_unit() - 0.5) * 2e7,
		  rnd_range(-50000, 50000), rnd_range(-50000, 50000),
		  rnd_range(-100000, 100000));
}

static void gen_halt(struct sb *b, struct ctx *c)
{
	static const char *const why[][2] = {
		{ "LUDP", "Volatility Trading Pause" },
		{ "T1", "Halt - News Pending" },
		{ "T2", "Halt - News Released" },
		{ "H10", "Halt - SEC Trading Suspension" },
	};
	static const char *const mkt[] = { "NASDAQ", "NYSE", "NYSE American" };
	int k = (int)(rnd() % 4), resumed = (int)(rnd() & 1);
	const char *tk = c->has_suffix ? c->tk : rnd_ticker();

	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, tk);
	sb_puts(b, ",\"halt_time\":");
	put_iso(b, c->ms - 300000);
	sb_puts(b, ",\"resume_time\":");
	if (resumed)
		put_iso(b, c->ms);
	else
		sb_puts(b, "null");
	sb_printf(b, ",\"reason_code\":\"%s\",\"reason\":\"%s\","
		  "\"market\":\"%s\",\"status\":\"%s\"", why[k][0], why[k][1],
		  PICK(mkt), resumed ? "resumed" : "halted");
}

static void gen_generic(struct sb *b, struct ctx *c)
{
	sb_puts(b, "{\"ticker\":");
	sb_json_str(b, c->tk);
	sb_printf(b, ",\"timestamp\":%lld,\"id\":", c->ms);
	put_uuid(b);
	sb_printf(b, ",\"value\":\"%.4f\",\"volume\":%ld,\"premium\":\"%.2f\"",
		  rnd_unit() * 1000.0, rnd_range(1, 100000),
		  rnd_unit() * 1e6);
}

static int is(const char *base, size_t blen, const char *want)
{
	return strlen(want) == blen && !memcmp(base, want, blen);
}

size_t gen_frame(struct sb *b, const char *chan, uint64_t seq, size_t target)
{
	const char *colon = strchr(chan, ':');
	size_t blen = colon ? (size_t)(colon - chan) : strlen(chan);
	struct ctx c;

	c.chan = chan;
	c.has_suffix = colon && colon[1];
	c.tk = c.has_suffix ? colon + 1 : rnd_ticker();
	c.ms = now_ms();

	sb_reset(b);
	sb_putc(b, '[');
	sb_json_str(b, chan);
	sb_putc(b, ',');

	if (is(chan, blen, "flow-alerts")) {
		gen_flow_alert(b, &c, seq, target);
		return b->oom ? 0 : b->len;
	}

	if (is(chan, blen, "option_trades"))
		gen_option_trade(b, &c);
	else if (is(chan, blen, "price"))
		gen_price(b, &c);
	else if (is(chan, blen, "gex"))
		gen_gex(b, &c);
	else if (is(chan, blen, "gex_strike"))
		gen_gex_strike(b, &c, 0);
	else if (is(chan, blen, "gex_strike_expiry"))
		gen_gex_strike(b, &c, 1);
	else if (is(chan, blen, "news"))
		gen_news(b, &c);
	else if (is(chan, blen, "lit_trades"))
		gen_stock_trade(b, &c, 0);
	else if (is(chan, blen, "off_lit_trades"))
		gen_stock_trade(b, &c, 1);
	else if (is(chan, blen, "market_tide"))
		gen_market_tide(b, &c);
	else if (is(chan, blen, "net_flow"))
		gen_net_flow(b, &c);
	else if (is(chan, blen, "trading_halts"))
		gen_halt(b, &c);
	else
		gen_generic(b, &c);

	sb_printf(b, ",\"sim_seq\":%llu", (unsigned long long)seq);

	/* pad: ,"pad":"xxx"}] */
	if (target && target > b->len + 2 + 9) {
		size_t n = target - b->len - 2 - 9;

		sb_puts(b, ",\"pad\":\"");
		if (!sb_grow(b, n)) {
			memset(b->base + b->pre + b->len, 'x', n);
			b->len += n;
		}
		sb_putc(b, '"');
	}
	sb_puts(b, "}]");

	return b->oom ? 0 : b->len;
}

/* ------------------------------------------------------ congress rows */

/*
 * Congress trades exist only on UW's REST API (GET
 * /api/congress/recent-trades). The members are invented, so no real
 * person is shown trading; two names carry non-ASCII letters and some notes
 * carry quotes or a \u escape, so a relay that re-serialises instead of
 * passing bytes through is caught.
 */
static const struct {
	const char *name, *member_type, *politician_id;
} members[] = {
	{ "Alan Marsh", "house", "8c2f1a9e-3b4d-4e51-9a0c-2d7e6f1b3a01" },
	{ "Beatrice Okafor", "senate", "1f7d2c4b-9e8a-4c3f-8b21-6a5e4d3c2b02" },
	{ "Carl Vandermeer", "house", "5a9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d03" },
	{ "Diane Whitcombe", "senate", "2b4c6d8e-0f1a-4b3c-8d5e-7f9a1b3c5d04" },
	{ "Mar\xc3\xad" "a Delgado-N\xc3\xba\xc3\xb1" "ez", "house",
	  "9e1d3c5b-7a9f-4e2d-8c4b-6a8f0e2d4c05" },
	{ "Samuel Ortega", "house", "3c5e7a9b-1d3f-4a6c-9e8b-2d4f6a8c0e06" },
	{ "Zo\xc3\xab Lindqvist", "senate", "7f9b1d3e-5a7c-4e0b-8d2f-4a6c8e0b2d07" },
	{ "Harold Pennington III", "house", "4d6f8b0c-2e4a-4c7e-9b1d-3f5b7d9f1a08" },
};

static const char *const congress_tickers[] = {
	"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "XOM",
	"LMT", "RTX", "UNH", "PLTR", "AMD", "NFLX", "BRK.B", "DIS", "PFE",
};
static const char *const amounts[] = {
	"$1,001 - $15,000", "$1,001 - $15,000", "$1,001 - $15,000",
	"$15,001 - $50,000", "$15,001 - $50,000", "$50,001 - $100,000",
	"$100,001 - $250,000", "$250,001 - $500,000", "$500,001 - $1,000,000",
	"$1,000,001 - $5,000,000",
};
static const char *const issuers[] = {
	"not-disclosed", "self", "spouse", "joint", "dependent",
};
/* JSON string bodies, already escaped */
static const char *const notes[] = {
	"",
	"",
	"Subholding Of: Brokerage Account",
	"Subholding Of: \\\"Harbor Family Trust\\\" Description: common stock",
	"Spouse\\u2019s IRA",
	"Filing status: New; Cap. gains > $200? No",
};

/* YYYY-MM-DD of today (UTC) minus `days` */
static void date_ago(int days, char out[11])
{
	time_t t = time(NULL) - (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	if (!strftime(out, 11, "%Y-%m-%d", &tm))
		strcpy(out, "1970-01-01");
}

int gen_congress_row(struct congress_row *r, uint64_t k, int days_ago)
{
	size_t m = rnd() % (sizeof(members) / sizeof(members[0]));
	const char *tk = PICK(congress_tickers);
	char txn[11];
	struct sb b;

	memset(r, 0, sizeof(*r));
	r->k = k;
	snprintf(r->ticker, sizeof(r->ticker), "%s", tk);
	date_ago(days_ago, r->filed);
	date_ago(days_ago + (int)rnd_range(1, 44), txn);

	sb_init(&b, 0);
	sb_printf(&b, "{\"amounts\":\"%s\",\"filed_at_date\":\"%s\",\"id\":",
		  PICK(amounts), r->filed);
	put_uuid(&b);
	sb_printf(&b, ",\"issuer\":\"%s\",\"member_type\":\"%s\",\"name\":",
		  PICK(issuers), members[m].member_type);
	sb_json_str(&b, members[m].name);
	sb_printf(&b, ",\"notes\":\"%s\",\"politician_id\":\"%s\","
		  "\"reporter\":", PICK(notes), members[m].politician_id);
	sb_json_str(&b, members[m].name);
	sb_puts(&b, ",\"ticker\":");
	sb_json_str(&b, tk);
	sb_printf(&b, ",\"transaction_date\":\"%s\",\"txn_type\":\"%s\","
		  "\"sim_row\":%llu}", txn, rnd() % 5 < 3 ? "Buy" : "Sell",
		  (unsigned long long)k);
	if (b.oom) {
		sb_free(&b);
		return -1;
	}
	r->json = sb_data(&b);	/* headroom 0: the allocation itself */
	r->len = b.len;
	return 0;
}
