/* streamrec: Redis Stream entries of relayed frames, read from real RESP
 * bytes through hiredis' own reply parser. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "streamrec.h"

/* Parses one RESP reply (hiredis' reader, as the relay's links use). */
static redisReply *
resp(const char *bytes)
{
	redisReader *rd = redisReaderCreate();
	void *out = NULL;

	redisReaderFeed(rd, bytes, strlen(bytes));
	if (redisReaderGetReply(rd, &out) != REDIS_OK)
		out = NULL;
	redisReaderFree(rd);
	return out;
}

#define ENTRY(id, fields) "*2\r\n$" id "\r\n" fields

static void
streamrec_id_forms(void)
{
	uint64_t s = 0;

	CHECK_EQ_INT(streamrec_id_seq("42-0", 4, &s), 0);
	CHECK_EQ_UINT(s, 42);
	CHECK_EQ_INT(streamrec_id_seq("18446744073709551615-3", 22, &s), 0);
	CHECK_EQ_UINT(s, UINT64_MAX);
	CHECK_EQ_INT(streamrec_id_seq("18446744073709551616-0", 22, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("42", 2, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("42-", 3, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("-1", 2, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("4a-0", 4, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("4-0x", 4, &s), -1);
	CHECK_EQ_INT(streamrec_id_seq("7-0", 1, &s), -1);	/* length is honoured */
}

static void
streamrec_reads_a_relay_entry(void)
{
	redisReply *r = resp("*2\r\n$4\r\n17-0\r\n*6\r\n$1\r\nd\r\n$11\r\n{\"a\":[1,2]}\r\n"
			     "$1\r\nt\r\n$13\r\n1764100000123\r\n$1\r\ne\r\n$16\r\n0123456789abcdef\r\n");
	struct streamrec rec;
	const char *why;

	CHECK(r != NULL);
	CHECK_EQ_INT(streamrec_parse(r, &rec, &why), 0);
	CHECK_EQ_UINT(rec.seq, 17);
	CHECK_MEM(rec.payload, rec.payload_len, "{\"a\":[1,2]}", 11);
	CHECK_EQ_INT(rec.t_ms, 1764100000123LL);
	CHECK_STR(rec.epoch, "0123456789abcdef");
	freeReplyObject(r);
}

static void
streamrec_payload_with_any_bytes(void)
{
	/* a payload is spliced verbatim: CR, LF and NUL included */
	redisReply *r = resp("*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nd\r\n$5\r\n\"\r\n\"\r\n\r\n");
	struct streamrec rec;
	const char *why;

	CHECK_EQ_INT(streamrec_parse(r, &rec, &why), 0);
	CHECK_MEM(rec.payload, rec.payload_len, "\"\r\n\"\r", 5);
	CHECK_EQ_INT(rec.t_ms, 0);
	CHECK_STR(rec.epoch, "");
	freeReplyObject(r);
}

static void
streamrec_ignores_foreign_fields_and_bad_values(void)
{
	redisReply *r = resp("*2\r\n$3\r\n9-1\r\n*8\r\n$5\r\nother\r\n$1\r\nx\r\n$1\r\nt\r\n$3\r\n12x\r\n"
			     "$1\r\ne\r\n$6\r\nshort!\r\n$1\r\nd\r\n$2\r\n{}\r\n");
	struct streamrec rec;
	const char *why;

	CHECK_EQ_INT(streamrec_parse(r, &rec, &why), 0);
	CHECK_EQ_UINT(rec.seq, 9);
	CHECK_EQ_INT(rec.t_ms, 0);
	CHECK_STR(rec.epoch, "");
	CHECK_MEM(rec.payload, rec.payload_len, "{}", 2);
	freeReplyObject(r);
}

static void
streamrec_rejects_what_is_not_a_record(void)
{
	static const char *const bad[] = {
		"$3\r\nabc\r\n",					/* not an array */
		"*1\r\n$3\r\n1-0\r\n",					/* no fields */
		"*2\r\n$3\r\n1-0\r\n$1\r\nd\r\n",			/* fields not an array */
		"*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nd\r\n",			/* odd field count */
		"*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nt\r\n$1\r\n5\r\n",	/* no payload */
		"*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\nd\r\n$2\r\n{}\r\n",	/* seq 0 */
		"*2\r\n:5\r\n*2\r\n$1\r\nd\r\n$2\r\n{}\r\n",		/* id not a string */
	};
	struct streamrec rec;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		redisReply *r = resp(bad[i]);

		CHECK(r != NULL);
		why = NULL;
		CHECK_EQ_INT(streamrec_parse(r, &rec, &why), -1);
		CHECK(why != NULL);
		freeReplyObject(r);
	}
	CHECK_EQ_INT(streamrec_parse(NULL, &rec, &why), -1);
	/* a record without payload still tells its seq, so a reader moves past it */
	{
		redisReply *r = resp("*2\r\n$4\r\n33-0\r\n*2\r\n$1\r\nt\r\n$1\r\n5\r\n");

		CHECK_EQ_INT(streamrec_parse(r, &rec, &why), -1);
		CHECK_EQ_UINT(rec.seq, 33);
		freeReplyObject(r);
	}
}

static void
streamrec_script_names(void)
{
	char a[41], b[41];

	streamrec_sha1("return 1", a);
	/* SHA-1 of "return 1", as Redis' SCRIPT LOAD answers it */
	CHECK_STR(a, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
	streamrec_sha1(STREAMREC_LUA_APPEND, b);
	CHECK_EQ_INT((int)strlen(b), 40);
	CHECK(strcmp(a, b) != 0);
	CHECK_CONTAINS(STREAMREC_LUA_APPEND, "NOTLEADER");
	CHECK_CONTAINS(STREAMREC_LUA_APPEND, "'MAXLEN', '~'");
}

CHECK_MAIN(
	CHECK_TEST(streamrec_id_forms),
	CHECK_TEST(streamrec_reads_a_relay_entry),
	CHECK_TEST(streamrec_payload_with_any_bytes),
	CHECK_TEST(streamrec_ignores_foreign_fields_and_bad_values),
	CHECK_TEST(streamrec_rejects_what_is_not_a_record),
	CHECK_TEST(streamrec_script_names))
