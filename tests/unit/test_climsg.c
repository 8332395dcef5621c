/* test_climsg.c: every shape of a browser's control message, and the
 * errors a bad since or epoch gets. */
#include "check.h"
#include "climsg.h"

static enum climsg_action
parse(const char *s, struct climsg *m)
{
	return climsg_parse(s, strlen(s), m);
}

static void
test_subscribe_plain(void)
{
	struct climsg m;

	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"}", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_EQ_INT(m.action, CLIMSG_SUBSCRIBE);
	CHECK_STR(m.channel, "gex:SPY");
	CHECK_EQ_UINT(m.channel_len, 7);
	CHECK_EQ_INT(m.has_since, 0);
	CHECK_STR(m.epoch, "");
	CHECK(m.error == NULL);
}

static void
test_subscribe_since_epoch(void)
{
	struct climsg m;

	CHECK_EQ_INT(parse("{\"epoch\":\"9f2c4a1be07d3e55\",\"since\":41,"
			   "\"channel\":\"option_trades\",\"action\":\"subscribe\"}", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_STR(m.channel, "option_trades");
	CHECK_EQ_INT(m.has_since, 1);
	CHECK_EQ_UINT(m.since, 41);
	CHECK_STR(m.epoch, "9f2c4a1be07d3e55");
}

static void
test_since_edges(void)
{
	struct climsg m;

	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":0}", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_EQ_INT(m.has_since, 1);
	CHECK_EQ_UINT(m.since, 0);
	/* 2^53, the largest whole number a double holds exactly in sequence */
	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\","
			   "\"since\":9007199254740992}", &m), CLIMSG_SUBSCRIBE);
	CHECK_EQ_UINT(m.since, 9007199254740992ull);
	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":1e3}", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_EQ_UINT(m.since, 1000);
}

static void
test_unsubscribe(void)
{
	struct climsg m;

	CHECK_EQ_INT(parse(" {\"action\":\"unsubscribe\",\"channel\":\"gex:SPY\"} ", &m),
		     CLIMSG_UNSUBSCRIBE);
	CHECK_STR(m.channel, "gex:SPY");
	CHECK_EQ_INT(m.has_since, 0);
}

/* Only len bytes count: the rest of the buffer is not read. */
static void
test_length_bounded(void)
{
	const char *s = "{\"action\":\"subscribe\",\"channel\":\"x\"}GARBAGE";
	struct climsg m;

	CHECK_EQ_INT(climsg_parse(s, strlen(s) - 7, &m), CLIMSG_SUBSCRIBE);
	CHECK_EQ_INT(climsg_parse(s, strlen(s) - 8, &m), CLIMSG_BAD);
}

/* A channel longer than the buffer is truncated, its length kept so the
 * caller can reject it. */
static void
test_long_channel(void)
{
	char in[512], name[301];
	struct climsg m;

	memset(name, 'c', 300);
	name[300] = 0;
	snprintf(in, sizeof(in), "{\"action\":\"subscribe\",\"channel\":\"%s\"}", name);
	CHECK_EQ_INT(parse(in, &m), CLIMSG_SUBSCRIBE);
	CHECK_EQ_UINT(m.channel_len, 300);
	CHECK_EQ_UINT(strlen(m.channel), sizeof(m.channel) - 1);
}

static void
check_bad(const char *in, const char *why)
{
	struct climsg m;

	CHECK_EQ_INT(parse(in, &m), CLIMSG_BAD);
	CHECK_EQ_INT(m.action, CLIMSG_BAD);
	CHECK_STR(m.error, why);
	if (m.error && strcmp(m.error, why))
		printf("    for %s\n", in);
}

static void
test_not_an_object(void)
{
	const char *why = "message must be one JSON object";
	struct climsg m;

	check_bad("", why);
	/* one object and nothing else: cJSON alone would stop after the
	 * first value, and take a control byte before it for whitespace */
	check_bad("{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"}garbage", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"}{}", why);
	check_bad("\x01{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"}\x01", why);
	CHECK_EQ_INT(parse(" \r\n\t{\"action\":\"subscribe\",\"channel\":\"gex:SPY\"} \r\n\t", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_STR(m.channel, "gex:SPY");
	check_bad("subscribe gex:SPY", why);
	check_bad("[\"subscribe\",\"gex:SPY\"]", why);
	check_bad("\"subscribe\"", why);
	check_bad("42", why);
	check_bad("null", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"x\"", why);
}

static void
test_missing_fields(void)
{
	const char *why = "expected {\"action\":\"subscribe\"|\"unsubscribe\",\"channel\":\"...\"}";

	check_bad("{}", why);
	check_bad("{\"action\":\"subscribe\"}", why);
	check_bad("{\"channel\":\"gex:SPY\"}", why);
	check_bad("{\"action\":1,\"channel\":\"gex:SPY\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":[\"gex:SPY\"]}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":null}", why);
	/* keys are case-sensitive */
	check_bad("{\"Action\":\"subscribe\",\"Channel\":\"gex:SPY\"}", why);
}

static void
test_unknown_action(void)
{
	check_bad("{\"action\":\"Subscribe\",\"channel\":\"a\"}", "unknown action");
	check_bad("{\"action\":\"join\",\"channel\":\"a\"}", "unknown action");
	check_bad("{\"action\":\"\",\"channel\":\"a\"}", "unknown action");
}

static void
test_bad_since(void)
{
	const char *why = "since must be a whole number";

	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":-1}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":1.5}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":\"41\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":null}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":true}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":1e300}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":9007199254740994}", why);
	/* checked on unsubscribe too */
	check_bad("{\"action\":\"unsubscribe\",\"channel\":\"a\",\"since\":-3}", why);
}

static void
test_bad_epoch(void)
{
	const char *why = "epoch must be 16 hex digits";

	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":\"9f2c4a1be07d3e5\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":\"9f2c4a1be07d3e550\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":\"9F2C4A1BE07D3E55\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":\"9f2c4a1be07d3e5g\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":\"\"}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"epoch\":12345678}", why);
	check_bad("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":5,\"epoch\":null}", why);
}

static void
test_epoch_valid(void)
{
	CHECK_EQ_INT(climsg_epoch_valid("0123456789abcdef"), 1);
	CHECK_EQ_INT(climsg_epoch_valid("0123456789abcdeF"), 0);
	CHECK_EQ_INT(climsg_epoch_valid("0123456789abcde"), 0);
	CHECK_EQ_INT(climsg_epoch_valid("0123456789abcdef0"), 0);
	CHECK_EQ_INT(climsg_epoch_valid(""), 0);
	CHECK_EQ_INT(climsg_epoch_valid("0123456789abcd f"), 0);
}

/* A message that fails leaves no stale fields from an earlier parse. */
static void
test_reset_between_parses(void)
{
	struct climsg m;

	parse("{\"action\":\"subscribe\",\"channel\":\"a\",\"since\":7,"
	      "\"epoch\":\"0123456789abcdef\"}", &m);
	CHECK_EQ_INT(parse("{\"action\":\"unsubscribe\",\"channel\":\"b\"}", &m),
		     CLIMSG_UNSUBSCRIBE);
	CHECK_EQ_INT(m.has_since, 0);
	CHECK_STR(m.epoch, "");
	CHECK(m.error == NULL);
}

/* "filter": a string (copied as sent, parsed later for the channel),
 * null or "" for none; anything else, or over 512 bytes, is refused. */
static void
test_filter_field(void)
{
	struct climsg m;
	char big[700];

	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"flow-alerts\","
			   "\"filter\":\"tickers:SPY;side:call\"}", &m), CLIMSG_SUBSCRIBE);
	CHECK_STR(m.filter, "tickers:SPY;side:call");
	CHECK_EQ_UINT(m.filter_len, 21);
	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\",\"filter\":null}", &m),
		     CLIMSG_SUBSCRIBE);
	CHECK_EQ_UINT(m.filter_len, 0);
	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\"}", &m), CLIMSG_SUBSCRIBE);
	CHECK_STR(m.filter, "");
	CHECK_EQ_INT(parse("{\"action\":\"subscribe\",\"channel\":\"a\",\"filter\":5}", &m), CLIMSG_BAD);
	CHECK_CONTAINS(m.error, "filter must be a string");
	snprintf(big, sizeof(big), "{\"action\":\"subscribe\",\"channel\":\"a\",\"filter\":\"%0513d\"}", 0);
	CHECK_EQ_INT(parse(big, &m), CLIMSG_BAD);
	CHECK_CONTAINS(m.error, "longer than 512 bytes");
	snprintf(big, sizeof(big), "{\"action\":\"subscribe\",\"channel\":\"a\",\"filter\":\"%0512d\"}", 0);
	CHECK_EQ_INT(parse(big, &m), CLIMSG_SUBSCRIBE);
	CHECK_EQ_UINT(m.filter_len, 512);
}

CHECK_MAIN(CHECK_TEST(test_subscribe_plain), CHECK_TEST(test_filter_field), CHECK_TEST(test_subscribe_since_epoch),
	   CHECK_TEST(test_since_edges), CHECK_TEST(test_unsubscribe),
	   CHECK_TEST(test_length_bounded), CHECK_TEST(test_long_channel),
	   CHECK_TEST(test_not_an_object), CHECK_TEST(test_missing_fields),
	   CHECK_TEST(test_unknown_action), CHECK_TEST(test_bad_since),
	   CHECK_TEST(test_bad_epoch), CHECK_TEST(test_epoch_valid),
	   CHECK_TEST(test_reset_between_parses))
