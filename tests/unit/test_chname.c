/* test_chname.c: channel name syntax, allowed_channels patterns, matching. */
#include "chname.h"
#include "check.h"

static int
valid(const char *s)
{
	return chname_valid(s, strlen(s));
}

/* A string of n copies of c, in a static buffer. */
static const char *
rep(char c, size_t n)
{
	static char buf[256];

	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void
chname_accepts_documented_channels(void)
{
	static const char *const ok[] = {
		"flow-alerts", "option_trades", "option_trades:TSLA", "price:SPY", "gex:SPY",
		"gex_strike:SPY", "gex_strike_expiry:SPX", "news", "lit_trades", "off_lit_trades",
		"market_tide", "net_flow:QQQ", "interval_flow", "trading_halts", "custom_alerts",
		"contract_screener", "periscope",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!valid(ok[i]))
			printf("  rejected: %s\n", ok[i]);
		CHECK(valid(ok[i]));
	}
}

static void
chname_accepts_edge_names(void)
{
	CHECK(valid("a"));
	CHECK(valid("0"));
	CHECK(valid("_"));
	CHECK(valid("-"));
	CHECK(valid("a:B"));
	CHECK(valid("price:BRK.B"));
	CHECK(valid("price:brk-b_1"));
	CHECK(valid(rep('a', CHNAME_MAX)));
}

static void
chname_rejects_bad_base(void)
{
	CHECK(!valid(""));
	CHECK(!valid("Price"));		/* uppercase only after ':' */
	CHECK(!valid("flow alerts"));
	CHECK(!valid("flow.alerts"));	/* '.' only in the suffix */
	CHECK(!valid("news\""));
	CHECK(!valid("news\\"));
	CHECK(!valid("news/x"));
	CHECK(!valid("caf\xc3\xa9"));
	CHECK(!valid("*"));
	CHECK(!valid("$relay"));
	CHECK(!valid(rep('a', CHNAME_MAX + 1)));
}

static void
chname_rejects_bad_suffix(void)
{
	CHECK(!valid("price:"));	/* empty suffix */
	CHECK(!valid(":SPY"));		/* empty base */
	CHECK(!valid(":"));
	CHECK(!valid("price:SP Y"));
	CHECK(!valid("price:SPY:X"));	/* one ':' only */
	CHECK(!valid("price::SPY"));
	CHECK(!valid("price:*"));	/* a pattern, not a name */
	CHECK(!valid("price:SPY\""));
	CHECK(!valid("price:SP/Y"));
}

static void
chname_suffix_length_limit(void)
{
	char name[300];

	snprintf(name, sizeof(name), "p:%s", rep('A', CHNAME_SUFFIX_MAX));
	CHECK(valid(name));
	snprintf(name, sizeof(name), "p:%s", rep('A', CHNAME_SUFFIX_MAX + 1));
	CHECK(!valid(name));
}

static void
chname_total_length_limit(void)
{
	char name[300];

	/* base + ':' + suffix = CHNAME_MAX exactly: accepted */
	snprintf(name, sizeof(name), "%s:", rep('b', CHNAME_MAX - 1 - 20));
	strcat(name, rep('S', 20));
	CHECK_EQ_INT(strlen(name), CHNAME_MAX);
	CHECK(valid(name));
	/* one more: too long for the registry's name buffer */
	snprintf(name, sizeof(name), "%s:", rep('b', CHNAME_MAX - 20));
	strcat(name, rep('S', 20));
	CHECK_EQ_INT(strlen(name), CHNAME_MAX + 1);
	CHECK(!valid(name));
}

static void
chname_uses_len_not_nul(void)
{
	CHECK(chname_valid("price:SPY trailing", 9));
	CHECK(chname_valid("newsX", 4));
	CHECK(!chname_valid("news", 0));
	CHECK(!chname_valid("ab\0c", 4));	/* embedded NUL */
	CHECK(!chname_valid("price:S\0Y", 9));
}

static void
chname_pattern_valid_cases(void)
{
	CHECK(chname_pattern_valid("price:*"));
	CHECK(chname_pattern_valid("option_trades:*"));
	CHECK(chname_pattern_valid("news"));
	CHECK(chname_pattern_valid("price:SPY"));
	CHECK(chname_pattern_valid("a:*"));

	CHECK(!chname_pattern_valid(""));
	CHECK(!chname_pattern_valid("*"));
	CHECK(!chname_pattern_valid(":*"));
	CHECK(!chname_pattern_valid("price:"));
	CHECK(!chname_pattern_valid("price*"));
	CHECK(!chname_pattern_valid("price:**"));
	CHECK(!chname_pattern_valid("price:S*"));
	CHECK(!chname_pattern_valid("Price:*"));
	CHECK(!chname_pattern_valid("pri ce:*"));
	CHECK(!chname_pattern_valid("a:b:*"));
	CHECK(!chname_pattern_valid("*:SPY"));
	CHECK(!chname_pattern_valid("price:*:*"));
}

static void
chname_pattern_base_length_limit(void)
{
	char p[300];

	/* "base:*" must leave room for ':' and one suffix char in CHNAME_MAX */
	snprintf(p, sizeof(p), "%s:*", rep('a', CHNAME_MAX - 2));
	CHECK(chname_pattern_valid(p));
	snprintf(p, sizeof(p), "%s:*", rep('a', CHNAME_MAX - 1));
	CHECK(!chname_pattern_valid(p));
}

static int
allowed(const char *const *pats, size_t n, const char *name)
{
	return chname_allowed(pats, n, name, strlen(name));
}

static void
chname_allowed_wildcard(void)
{
	static const char *const pats[] = { "price:*" };

	CHECK(allowed(pats, 1, "price:SPY"));
	CHECK(allowed(pats, 1, "price:BRK.B"));
	CHECK(!allowed(pats, 1, "price:"));
	CHECK(!allowed(pats, 1, "price"));
	CHECK(!allowed(pats, 1, "prices:SPY"));
	CHECK(!allowed(pats, 1, "pric:SPY"));
	CHECK(!allowed(pats, 1, "xprice:SPY"));
	CHECK(!allowed(pats, 1, "gex:SPY"));
}

static void
chname_allowed_exact(void)
{
	static const char *const pats[] = { "news", "price:SPY", "option_trades:*" };

	CHECK(allowed(pats, 3, "news"));
	CHECK(!allowed(pats, 3, "new"));
	CHECK(!allowed(pats, 3, "newsx"));
	CHECK(!allowed(pats, 3, "news:X"));	/* exact means exact */
	CHECK(allowed(pats, 3, "price:SPY"));
	CHECK(!allowed(pats, 3, "price:SPX"));
	CHECK(!allowed(pats, 3, "price:SP"));
	CHECK(allowed(pats, 3, "option_trades:TSLA"));
	CHECK(!allowed(pats, 3, "option_trades"));	/* "x:*" does not cover "x" */
}

static void
chname_allowed_rejects_invalid_names(void)
{
	static const char *const pats[] = { "Bad", "price:*", "a b" };

	CHECK(!allowed(pats, 3, "Bad"));
	CHECK(!allowed(pats, 3, "a b"));
	CHECK(!allowed(pats, 3, "price:S Y"));
	CHECK(!allowed(pats, 3, ""));
}

static void
chname_allowed_empty_list(void)
{
	CHECK(!chname_allowed(NULL, 0, "news", 4));
}

static void
chname_allowed_uses_len(void)
{
	static const char *const pats[] = { "news", "price:*" };

	CHECK(chname_allowed(pats, 2, "newsX", 4));
	CHECK(chname_allowed(pats, 2, "price:SPY!!", 9));
	CHECK(!chname_allowed(pats, 2, "price:SPY", 6));	/* "price:" */
}

CHECK_MAIN(
	CHECK_TEST(chname_accepts_documented_channels),
	CHECK_TEST(chname_accepts_edge_names),
	CHECK_TEST(chname_rejects_bad_base),
	CHECK_TEST(chname_rejects_bad_suffix),
	CHECK_TEST(chname_suffix_length_limit),
	CHECK_TEST(chname_total_length_limit),
	CHECK_TEST(chname_uses_len_not_nul),
	CHECK_TEST(chname_pattern_valid_cases),
	CHECK_TEST(chname_pattern_base_length_limit),
	CHECK_TEST(chname_allowed_wildcard),
	CHECK_TEST(chname_allowed_exact),
	CHECK_TEST(chname_allowed_rejects_invalid_names),
	CHECK_TEST(chname_allowed_empty_list),
	CHECK_TEST(chname_allowed_uses_len))
