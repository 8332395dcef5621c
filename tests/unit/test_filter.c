/* test_filter.c: the filter syntax (every key, the canonical form, each
 * refusal and its message), matching against UW's payload shapes (numbers
 * as numbers or strings, OCC symbols, missing fields, broken JSON), the
 * envelope's payload span, and the shared table of distinct filters. */
#include "check.h"
#include "envelope.h"
#include "filtab.h"
#include "filter.h"

/* UW's documented samples (docs: UW-PROTOCOL.md), trimmed. */
static const char FLOW[] =
	"{\"rule_id\":\"5ce5ec11\",\"rule_name\":\"RepeatedHitsDescendingFill\",\"ticker\":\"DIA\","
	"\"option_chain\":\"DIA241018C00415000\",\"underlying_price\":415.981,\"volume\":106,"
	"\"total_size\":50,\"total_premium\":36466,\"trade_ids\":[\"417f0cd6\"],"
	"\"exchanges\":[\"XCBO\",\"MPRL\"],\"bid\":\"7.15\",\"ask\":\"7.3\"}";
static const char TRADE[] =
	"{\"id\":\"a4dc6020\",\"underlying_symbol\":\"UVIX\",\"executed_at\":1726670167412,"
	"\"nbbo_bid\":\"0.01\",\"size\":1,\"price\":\"0.01\",\"option_symbol\":\"UVIX240920C00025000\","
	"\"report_flags\":[],\"tags\":[\"bid_side\",\"bearish\"],\"option_type\":\"call\",\"premium\":\"1.00\"}";

static int
parse(enum filter_kind k, const char *text, struct filter *f, char err[FILTER_ERR_MAX])
{
	return filter_parse(k, text, strlen(text), f, err);
}

/* 1 if text parses for kind k and passes payload p. */
static int
match(enum filter_kind k, const char *text, const char *p)
{
	struct filter f;
	char err[FILTER_ERR_MAX];

	if (parse(k, text, &f, err)) {
		printf("  unexpected parse error for %s: %s\n", text, err);
		return -1;
	}
	return filter_match(&f, p, strlen(p));
}

static void
test_kind_of(void)
{
	CHECK_EQ_INT(filter_kind_of("flow-alerts", 11), FILTER_KIND_FLOW);
	CHECK_EQ_INT(filter_kind_of("option_trades", 13), FILTER_KIND_TRADES);
	CHECK_EQ_INT(filter_kind_of("option_trades:SPY", 17), FILTER_KIND_TRADES);
	CHECK_EQ_INT(filter_kind_of("option_tradesX", 14), FILTER_KIND_NONE);
	CHECK_EQ_INT(filter_kind_of("flow-alerts2", 12), FILTER_KIND_NONE);
	CHECK_EQ_INT(filter_kind_of("news", 4), FILTER_KIND_NONE);
	CHECK_EQ_INT(filter_kind_of("flow-alerts", 4), FILTER_KIND_NONE);
}

static void
test_canonical_form(void)
{
	struct filter f;
	char err[FILTER_ERR_MAX];

	CHECK_EQ_INT(parse(FILTER_KIND_FLOW, "side:call;min_premium:0001000000;tickers:spy,QQQ,SPY;rules:B,A,B",
			   &f, err), 0);
	CHECK_STR(f.canon, "tickers:QQQ,SPY;rules:A,B;side:call;min_premium:1000000");
	CHECK_EQ_INT(f.n_tickers, 2);
	CHECK_EQ_INT(f.n_rules, 2);
	CHECK_EQ_INT(f.side, FILTER_SIDE_CALL);
	CHECK_EQ_UINT(f.min_premium, 1000000);
	CHECK_EQ_INT(parse(FILTER_KIND_TRADES, "min_size:100;side:put;tickers:brk.b", &f, err), 0);
	CHECK_STR(f.canon, "tickers:BRK.B;side:put;min_size:100");
	/* the canonical form parses to itself */
	{
		struct filter g;
		char c[FILTER_MAX_LEN + 1];

		memcpy(c, f.canon, sizeof(c));
		CHECK_EQ_INT(parse(FILTER_KIND_TRADES, c, &g, err), 0);
		CHECK_STR(g.canon, c);
	}
}

/* Each refusal names what is wrong. */
static void
test_refusals(void)
{
	static const struct { enum filter_kind k; const char *text, *says; } bad[] = {
		{ FILTER_KIND_NONE, "tickers:SPY", "takes no filter" },
		{ FILTER_KIND_FLOW, "", "empty filter" },
		{ FILTER_KIND_FLOW, "tickers", "clause 1 is not key:value" },
		{ FILTER_KIND_FLOW, "side:call;", "clause 2 is not key:value" },
		{ FILTER_KIND_FLOW, "colour:red", "unknown key \"colour\"" },
		{ FILTER_KIND_FLOW, "Colour:red", "clause 1 has an unknown key" },
		{ FILTER_KIND_FLOW, "min_size:10", "min_size does not apply to flow-alerts" },
		{ FILTER_KIND_TRADES, "rules:RepeatedHits", "rules does not apply to option_trades" },
		{ FILTER_KIND_TRADES, "min_premium:5", "min_premium does not apply to option_trades" },
		{ FILTER_KIND_FLOW, "side:call;side:put", "side is given twice" },
		{ FILTER_KIND_FLOW, "side:", "side has no value" },
		{ FILTER_KIND_FLOW, "side:CALL", "side must be call or put" },
		{ FILTER_KIND_FLOW, "tickers:SPY,", "item 2 of tickers is empty" },
		{ FILTER_KIND_FLOW, "tickers:SP Y", "item 1 of tickers has a character not allowed" },
		{ FILTER_KIND_FLOW, "tickers:ABCDEFGHIJKLMNOPQ", "item 1 of tickers is too long" },
		{ FILTER_KIND_FLOW, "rules:a;b", "clause 2 is not key:value" },
		{ FILTER_KIND_FLOW, "rules:Repeated.Hits", "item 1 of rules has a character" },
		{ FILTER_KIND_FLOW, "min_premium:-5", "min_premium must be a whole number" },
		{ FILTER_KIND_FLOW, "min_premium:1.5", "min_premium must be a whole number" },
		{ FILTER_KIND_FLOW, "min_premium:1000000000000000", "min_premium is too large" },
		{ FILTER_KIND_TRADES, "min_size:1000000000000", "min_size is too large" },
	};
	struct filter f;
	char err[FILTER_ERR_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(parse(bad[i].k, bad[i].text, &f, err), -1);
		CHECK_CONTAINS(err, bad[i].says);
	}
}

/* Limits: 50 tickers, 20 rules, 512 bytes (duplicates count: the limit is on what was sent). */
static void
test_limits(void)
{
	struct filter f;
	char text[1200], err[FILTER_ERR_MAX];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text), "tickers:");
	for (int i = 0; i < 50; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sT%d", i ? "," : "", i);
	CHECK_EQ_INT(parse(FILTER_KIND_FLOW, text, &f, err), 0);
	CHECK_EQ_INT(f.n_tickers, 50);
	snprintf(text + n, sizeof(text) - n, ",T50");
	CHECK_EQ_INT(parse(FILTER_KIND_FLOW, text, &f, err), -1);
	CHECK_CONTAINS(err, "more than 50 items in tickers");

	n = (size_t)snprintf(text, sizeof(text), "rules:");
	for (int i = 0; i < 21; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%sR%d", i ? "," : "", i);
	CHECK_EQ_INT(parse(FILTER_KIND_FLOW, text, &f, err), -1);
	CHECK_CONTAINS(err, "more than 20 items in rules");

	/* 512 bytes exactly is fine, 513 is not */
	n = (size_t)snprintf(text, sizeof(text), "tickers:");
	for (int i = 0; i < 28; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%016d", i ? "," : "", i);
	n += (size_t)snprintf(text + n, sizeof(text) - n, ",ABCDEFGHIJKL;rules:Rule12345");
	CHECK_EQ_UINT(n, 512);
	CHECK_EQ_INT(parse(FILTER_KIND_FLOW, text, &f, err), 0);
	CHECK_EQ_UINT(strlen(f.canon), 512);
	memset(text, 0, sizeof(text));
	memcpy(text, "min_premium:", 12);
	memset(text + 12, '0', 500);
	CHECK_EQ_INT(filter_parse(FILTER_KIND_FLOW, text, 512, &f, err), -1);	/* too many digits */
	CHECK_CONTAINS(err, "too large");
	memcpy(text, "tickers:", 8);
	for (int i = 8; i < 513; i++)
		text[i] = i % 10 == 0 ? ',' : 'A';
	text[511] = 'A';
	text[512] = 'A';
	CHECK_EQ_INT(filter_parse(FILTER_KIND_FLOW, text, 513, &f, err), -1);
	CHECK_CONTAINS(err, "longer than 512 bytes");
}

static void
test_flow_matching(void)
{
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", FLOW), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:dia,SPY", FLOW), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DI", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIAX", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:call", FLOW), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:put", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:36466", FLOW), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:36467", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "rules:RepeatedHitsDescendingFill", FLOW), 1);
	/* rule names are whole and case-sensitive */
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "rules:RepeatedHits", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "rules:repeatedhitsdescendingfill", FLOW), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "rules:X,RepeatedHitsDescendingFill", FLOW), 1);
	/* every clause must hold */
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA;side:call;min_premium:1000", FLOW), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA;side:put;min_premium:1000", FLOW), 0);
	/* a put, a premium as a string with decimals, whitespace between members */
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:put;min_premium:1000000",
			   "{ \"option_chain\" : \"SPY241018P00415000\" , \"total_premium\" : \"1000000.50\" }"), 1);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:1000001",
			   "{\"total_premium\":\"1000000.50\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:1", "{\"total_premium\":1.5e3}"), 1);
}

static void
test_trade_matching(void)
{
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "tickers:UVIX", TRADE), 1);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "tickers:SPY", TRADE), 0);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "min_size:1", TRADE), 1);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "min_size:2", TRADE), 0);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "side:call", TRADE), 1);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "side:put", TRADE), 0);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "min_size:100", "{\"size\":\"250\"}"), 1);
	/* a number of any length is read, not refused (found by fuzz_filter) */
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "min_size:1",
			   "{\"size\":1111111111111111111111111111111111111111111111111111111111111111111111}"), 1);
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "min_size:2",
			   "{\"size\":1.000000000000000000000000000000000000000000000000000000000000000000000}"), 0);
	/* a member of the same name deeper down is not the payload's */
	CHECK_EQ_INT(match(FILTER_KIND_TRADES, "tickers:SPY",
			   "{\"legs\":{\"underlying_symbol\":\"SPY\"},\"underlying_symbol\":\"QQQ\"}"), 0);
}

/* Missing, mistyped or unreadable fields never match; broken JSON never matches. */
static void
test_no_match_on_doubt(void)
{
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"ticker\":null}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"ticker\":[\"DIA\"]}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"ticker\":\"D\\u0049A\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:1", "{\"total_premium\":\"\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:1", "{\"total_premium\":\"0x10\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:1", "{\"total_premium\":true}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "min_premium:0", "{\"total_premium\":\"inf\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:call", "{\"option_chain\":\"C00415000\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:call", "{\"option_chain\":\"DIA241018X00415000\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "side:call", "{\"option_chain\":\"DIA241018C0041500x\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"ticker\":\"DI"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "[\"DIA\"]"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"a\":tru,\"ticker\":\"DIA\"}"), 0);
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", ""), 0);
	/* the scan stops once it has what it needs: later text is not read */
	CHECK_EQ_INT(match(FILTER_KIND_FLOW, "tickers:DIA", "{\"ticker\":\"DIA\",\"x\":"), 1);
}

static void
test_envelope_payload(void)
{
	struct frame *f = envelope_data("flow-alerts", 11, 42, "9f2c4a1be07d3e55", 1726670212648,
					FLOW, strlen(FLOW));
	const char *p = NULL;
	size_t n = 0;

	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ_INT(filter_envelope_payload((const char *)frame_data(f), f->len, &p, &n), 0);
	CHECK_MEM(p, n, FLOW, strlen(FLOW));
	frame_unref(f);
	CHECK_EQ_INT(filter_envelope_payload("{\"channel\":\"x\"}", 15, &p, &n), -1);
	CHECK_EQ_INT(filter_envelope_payload("", 0, &p, &n), -1);
	CHECK_EQ_INT(filter_envelope_payload("{\"data\":", 8, &p, &n), -1);
}

/* The same filter written two ways is one entry; each entry is evaluated
 * once per round however many subscribers ask; the last put frees it. */
static void
test_filtab_shared(void)
{
	struct filtab t;
	struct filtab_entry *a, *b, *c;
	struct frame *call = envelope_data("flow-alerts", 11, 1, "9f2c4a1be07d3e55", 0, FLOW, strlen(FLOW));
	char err[FILTER_ERR_MAX];

	memset(&t, 0, sizeof(t));
	CHECK_EQ_INT(filtab_get_text(&t, "flow-alerts", 11, "side:call;tickers:DIA", 21, &a, err), 0);
	CHECK_EQ_INT(filtab_get_text(&t, "flow-alerts", 11, "tickers:dia;side:call", 21, &b, err), 0);
	CHECK_EQ_INT(filtab_get_text(&t, "flow-alerts", 11, "side:put", 8, &c, err), 0);
	CHECK(a == b);
	CHECK(a != c);
	CHECK_EQ_UINT(t.n, 2);
	CHECK_EQ_UINT(t.refs, 3);
	/* the same text on another kind of channel is another entry */
	{
		struct filtab_entry *d;

		CHECK_EQ_INT(filtab_get_text(&t, "option_trades", 13, "side:call;tickers:DIA", 21, &d, err), 0);
		CHECK(d != a);
		CHECK_EQ_UINT(t.n, 3);
		filtab_put(&t, d);
		CHECK_EQ_UINT(t.n, 2);
	}
	/* no text: no entry; a bad one: the reason */
	CHECK_EQ_INT(filtab_get_text(&t, "flow-alerts", 11, "", 0, &c, err), 0);
	CHECK(c == NULL);
	CHECK_EQ_INT(filtab_get_text(&t, "news", 4, "side:put", 8, &c, err), -1);
	CHECK(c == NULL);
	CHECK_CONTAINS(err, "takes no filter");
	CHECK_EQ_INT(filtab_get_text(&t, "flow-alerts", 11, "side:put", 8, &c, err), 0);

	filtab_round(&t);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(filtab_pass(&t, a, call), 1);
		CHECK_EQ_INT(filtab_pass(&t, c, call), 0);
	}
	CHECK_EQ_UINT(t.evaluations, 2);
	CHECK_EQ_UINT(t.skipped, 100);
	filtab_round(&t);
	CHECK_EQ_INT(filtab_pass(&t, a, call), 1);
	CHECK_EQ_UINT(t.evaluations, 3);

	filtab_put(&t, a);
	CHECK_EQ_UINT(t.n, 2);
	filtab_put(&t, b);
	CHECK_EQ_UINT(t.n, 1);
	filtab_put(&t, NULL);
	filtab_free(&t);	/* c still referenced: freed anyway */
	CHECK_EQ_UINT(t.n, 0);
	CHECK(t.head == NULL);
	frame_unref(call);
	CHECK_NO_LEAKS();
}

CHECK_MAIN(CHECK_TEST(test_kind_of), CHECK_TEST(test_canonical_form), CHECK_TEST(test_refusals),
	   CHECK_TEST(test_limits), CHECK_TEST(test_flow_matching), CHECK_TEST(test_trade_matching),
	   CHECK_TEST(test_no_match_on_doubt), CHECK_TEST(test_envelope_payload),
	   CHECK_TEST(test_filtab_shared))
