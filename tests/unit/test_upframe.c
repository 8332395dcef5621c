/* test_upframe.c: UW frames [channel, payload]: data, ack or malformed. */
#include "json_scan.h"
#include "upframe.h"
#include "check.h"

/* Parses a copy of s in a heap buffer of exactly its length (ASan catches
 * reads past the end). The copy stays alive until the next call. */
static char *buf;

static enum upframe_kind
parse_n(const char *s, size_t n, struct upframe *f)
{
	free(buf);
	buf = malloc(n ? n : 1);
	memcpy(buf, s, n);
	return upframe_parse(buf, n, f);
}

static enum upframe_kind
parse(const char *s, struct upframe *f)
{
	return parse_n(s, strlen(s), f);
}

static void
done(void)
{
	free(buf);
	buf = NULL;
}

/* the channel span as a string, for CHECK_MEM */
#define CHECK_CHANNEL(f, s) CHECK_MEM((f).channel, (f).channel_len, (s), strlen(s))
#define CHECK_PAYLOAD(f, s) CHECK_MEM((f).payload, (f).payload_len, (s), strlen(s))

static void
upframe_data_frame_spans(void)
{
	const char *t = "[\"price:SPY\",{\"close\":\"562.82\",\"time\":1726670327692,\"vol\":6015555}]";
	struct upframe f;

	CHECK_EQ_INT(parse(t, &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.kind, UPFRAME_DATA);
	CHECK_CHANNEL(f, "price:SPY");
	CHECK_PAYLOAD(f, "{\"close\":\"562.82\",\"time\":1726670327692,\"vol\":6015555}");
	/* spans point into the caller's buffer, nothing copied */
	CHECK(f.channel == buf + 2);
	CHECK(f.payload == buf + 13);
	CHECK(f.payload + f.payload_len == buf + strlen(t) - 1);
	CHECK_EQ_INT(f.channel_escaped, 0);
	CHECK(f.error == NULL);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK(f.ack_status == NULL);
	done();
}

static void
upframe_payload_is_byte_identical(void)
{
	/* whitespace, escapes and UTF-8 inside the payload are kept as is */
	const char *payload = "{ \"headline\" : \"caf\xc3\xa9 \\u00e9 \\\"q\\\" \xf0\x9f\x90\xb3\",\n"
			      "  \"tickers\" : [ ] , \"n\" : -1.5e-3 }";
	char t[512];
	struct upframe f;

	snprintf(t, sizeof(t), "[\"news\",%s]", payload);
	CHECK_EQ_INT(parse(t, &f), UPFRAME_DATA);
	CHECK_PAYLOAD(f, payload);
	CHECK(f.payload == buf + 8);
	done();
}

static void
upframe_whitespace_variants(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse(" \r\n\t[ \"news\" , {\"a\":1} ] \n", &f), UPFRAME_DATA);
	CHECK_CHANNEL(f, "news");
	CHECK_PAYLOAD(f, "{\"a\":1}");
	CHECK_EQ_INT(parse("[\n\t\"news\"\n,\n{}\n]", &f), UPFRAME_DATA);
	CHECK_PAYLOAD(f, "{}");
	CHECK_EQ_INT(parse("[\"news\",{ }]", &f), UPFRAME_DATA);
	CHECK_PAYLOAD(f, "{ }");
	done();
}

/* UW's payloads are objects (UW-PROTOCOL.md): anything else is malformed,
 * so it never reaches a browser nor uses up a seq. */
static void
upframe_non_object_payloads_are_malformed(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",[1,2]]", &f), UPFRAME_MALFORMED);
	CHECK_STR(f.error, "payload is not a JSON object");
	CHECK_EQ_INT(parse("[\"news\",\"text\"]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",null]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",-0.5]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\", {}]", &f), UPFRAME_DATA);
	CHECK_PAYLOAD(f, "{}");
	done();
}

static void
upframe_ack_ok(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"option_trades\",{\"response\":{},\"status\":\"ok\"}]", &f), UPFRAME_ACK);
	CHECK_EQ_INT(f.kind, UPFRAME_ACK);
	CHECK_CHANNEL(f, "option_trades");
	CHECK_PAYLOAD(f, "{\"response\":{},\"status\":\"ok\"}");
	CHECK_MEM(f.ack_status, f.ack_status_len, "ok", 2);
	CHECK_EQ_INT(f.ack_ok, 1);
	CHECK(f.error == NULL);
	done();
}

static void
upframe_ack_error_status(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"gex:SPY\",{\"response\":{\"error\":\"not entitled\"},\"status\":\"error\"}]",
			   &f), UPFRAME_ACK);
	CHECK_MEM(f.ack_status, f.ack_status_len, "error", 5);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":null,\"status\":\"\"}]", &f), UPFRAME_ACK);
	CHECK_EQ_INT(f.ack_status_len, 0);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":\"OK\"}]", &f), UPFRAME_ACK);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":\"okay\"}]", &f), UPFRAME_ACK);
	CHECK_EQ_INT(f.ack_ok, 0);
	done();
}

static void
upframe_ack_key_order_and_whitespace(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",{\"status\":\"ok\",\"response\":{}}]", &f), UPFRAME_ACK);
	CHECK_EQ_INT(f.ack_ok, 1);
	CHECK_EQ_INT(parse("[ \"news\" , { \"response\" : { } , \"status\" : \"ok\" } ]", &f),
		     UPFRAME_ACK);
	CHECK_EQ_INT(f.ack_ok, 1);
	CHECK_MEM(f.ack_status, f.ack_status_len, "ok", 2);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":[1,{\"status\":\"x\"}],\"status\":\"ok\"}]", &f),
		     UPFRAME_ACK);
	done();
}

static void
upframe_extra_key_is_data(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":\"ok\",\"headline\":\"x\"}]", &f),
		     UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"headline\":\"x\",\"response\":{},\"status\":\"ok\"}]", &f),
		     UPFRAME_DATA);
	CHECK_EQ_INT(f.ack_ok, 0);
	done();
}

static void
upframe_missing_key_is_data(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",{\"status\":\"ok\"}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{}}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{}]", &f), UPFRAME_DATA);
	done();
}

static void
upframe_duplicate_key_is_data(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"response\":{},\"status\":\"ok\"}]", &f),
		     UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":\"ok\",\"status\":\"ok\"}]", &f),
		     UPFRAME_DATA);
	done();
}

static void
upframe_status_not_string_is_data(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":1}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":null}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":{\"ok\":1}}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":[\"ok\"]}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.ack_ok, 0);
	done();
}

static void
upframe_ack_array_payload_is_not_an_ack(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"news\",[\"response\",\"status\"]]", &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_malformed_not_json(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("hello", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"news\",{\"a\":1}", &f), UPFRAME_MALFORMED);	/* unclosed */
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"news\",{\"a\":}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",{\"a\":1}]x", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",{\"a\":1}]]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\" {}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",{},]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",{\"a\":\"\xff\"}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"ne\xc0\xaews\",{}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("['news',{}]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	done();
}

static void
upframe_malformed_empty(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse_n("", 0, &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse(" \n\t ", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	done();
}

static void
upframe_malformed_not_array(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("{\"channel\":\"news\",\"data\":{}}", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("\"news\"", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("42", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("null", &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_malformed_wrong_element_count(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"news\"]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"news\",{},{}]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"news\",{\"response\":{},\"status\":\"ok\"},1]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[\"news\",{},\"x\",\"y\"]", &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_malformed_non_string_channel(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[1,{}]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[null,{}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[{},{}]", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(parse("[[\"news\"],{}]", &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_malformed_empty_channel(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"\",{\"a\":1}]", &f), UPFRAME_MALFORMED);
	CHECK(f.error != NULL);
	CHECK_EQ_INT(parse("[\"\",{\"response\":{},\"status\":\"ok\"}]", &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_channel_escape_flagged(void)
{
	struct upframe f;

	CHECK_EQ_INT(parse("[\"pr\\u0069ce:SPY\",{}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.channel_escaped, 1);
	/* the raw body, escape included */
	CHECK_CHANNEL(f, "pr\\u0069ce:SPY");
	CHECK_EQ_INT(parse("[\"a\\\"b\",{}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.channel_escaped, 1);
	CHECK_CHANNEL(f, "a\\\"b");
	/* escapes in the payload do not flag the channel */
	CHECK_EQ_INT(parse("[\"news\",{\"a\":\"\\n\"}]", &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.channel_escaped, 0);
	done();
}

static void
upframe_truncated_at_every_length(void)
{
	/* every strict prefix of a valid frame is malformed, and reading it
	 * never goes past the end (heap copy of exactly that length) */
	const char *t = "[\"price:SPY\" , {\"response\":{},\"status\":\"ok\",\"x\":[1,2.5e3,\"\xc3\xa9\"]}]";
	size_t n = strlen(t);
	struct upframe f;

	for (size_t i = 0; i < n; i++) {
		if (parse_n(t, i, &f) != UPFRAME_MALFORMED)
			printf("  prefix of %zu bytes not malformed\n", i);
		CHECK_EQ_INT(f.kind, UPFRAME_MALFORMED);
		CHECK(f.error != NULL);
	}
	CHECK_EQ_INT(parse_n(t, n, &f), UPFRAME_DATA);
	done();
}

static void
upframe_deep_payload(void)
{
	char t[512];
	size_t n = 0;
	struct upframe f;

	n += (size_t)snprintf(t, sizeof(t), "[\"news\",{\"a\":");
	/* the payload object is one level: 63 more fit */
	for (int i = 0; i < 63; i++)
		t[n++] = '[';
	for (int i = 0; i < 63; i++)
		t[n++] = ']';
	t[n++] = '}';
	t[n++] = ']';
	CHECK_EQ_INT(parse_n(t, n, &f), UPFRAME_DATA);
	CHECK_EQ_INT(f.payload_len, 5 + 126 + 1);
	/* a payload nested deeper than JSON_MAX_DEPTH is refused */
	n = (size_t)snprintf(t, sizeof(t), "[\"news\",{\"a\":");
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		t[n++] = '[';
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		t[n++] = ']';
	t[n++] = '}';
	t[n++] = ']';
	CHECK_EQ_INT(parse_n(t, n, &f), UPFRAME_MALFORMED);
	done();
}

static void
upframe_fills_out_on_every_call(void)
{
	struct upframe f;

	memset(&f, 0x5a, sizeof(f));
	CHECK_EQ_INT(parse("[\"news\",{}]", &f), UPFRAME_DATA);
	CHECK(f.ack_status == NULL);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK(f.error == NULL);
	CHECK_EQ_INT(f.channel_escaped, 0);
	memset(&f, 0x5a, sizeof(f));
	CHECK_EQ_INT(parse("x", &f), UPFRAME_MALFORMED);
	CHECK_EQ_INT(f.ack_ok, 0);
	CHECK(f.error != NULL);
	done();
}

CHECK_MAIN(
	CHECK_TEST(upframe_data_frame_spans),
	CHECK_TEST(upframe_payload_is_byte_identical),
	CHECK_TEST(upframe_whitespace_variants),
	CHECK_TEST(upframe_non_object_payloads_are_malformed),
	CHECK_TEST(upframe_ack_ok),
	CHECK_TEST(upframe_ack_error_status),
	CHECK_TEST(upframe_ack_key_order_and_whitespace),
	CHECK_TEST(upframe_extra_key_is_data),
	CHECK_TEST(upframe_missing_key_is_data),
	CHECK_TEST(upframe_duplicate_key_is_data),
	CHECK_TEST(upframe_status_not_string_is_data),
	CHECK_TEST(upframe_ack_array_payload_is_not_an_ack),
	CHECK_TEST(upframe_malformed_not_json),
	CHECK_TEST(upframe_malformed_empty),
	CHECK_TEST(upframe_malformed_not_array),
	CHECK_TEST(upframe_malformed_wrong_element_count),
	CHECK_TEST(upframe_malformed_non_string_channel),
	CHECK_TEST(upframe_malformed_empty_channel),
	CHECK_TEST(upframe_channel_escape_flagged),
	CHECK_TEST(upframe_truncated_at_every_length),
	CHECK_TEST(upframe_deep_payload),
	CHECK_TEST(upframe_fills_out_on_every_call))
