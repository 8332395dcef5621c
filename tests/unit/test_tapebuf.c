/* test_tapebuf.c: the tape's frame buffer (tapebuf.c) and the tape: section of
 * the configuration (durations like 7d, sizes like 2G, channel checks). */
#include <string.h>
#include "check.h"
#include "config.h"
#include "tapebuf.h"

static const char E[16] = "0123456789abcdef";

static void
tapebuf_round_trip_keeps_bytes_and_order(void)
{
	struct tapebuf q;
	const struct tapebuf_rec *r;
	const char *p;
	size_t off = 0;

	CHECK_EQ_INT(tapebuf_init(&q, 4096), 0);
	CHECK_EQ_INT(tapebuf_put(&q, 0, E, 1, 1000, "{\"a\":1}", 7), 0);
	CHECK_EQ_INT(tapebuf_put(&q, 3, E, 2, 1001, "", 0), 0);
	CHECK_EQ_INT(tapebuf_put(&q, 1, E, 99, -5, "xyz\0w", 5), 0);
	CHECK_EQ_UINT(q.n, 3);
	r = tapebuf_next(&q, &off, &p);
	CHECK(r && r->chan == 0 && r->seq == 1 && r->ts == 1000 && r->len == 7);
	CHECK_MEM(p, r->len, "{\"a\":1}", 7);
	CHECK_MEM(r->epoch, 16, E, 16);
	r = tapebuf_next(&q, &off, &p);
	CHECK(r && r->chan == 3 && r->seq == 2 && r->len == 0);
	r = tapebuf_next(&q, &off, &p);
	CHECK(r && r->chan == 1 && r->seq == 99 && r->ts == -5);
	CHECK_MEM(p, 5, "xyz\0w", 5);
	CHECK(tapebuf_next(&q, &off, &p) == NULL);
	CHECK_EQ_UINT(off, q.len);
	tapebuf_free(&q);
}

static void
tapebuf_full_refuses_without_change(void)
{
	struct tapebuf q;
	char big[300];
	size_t len;
	uint32_t n = 0;

	memset(big, 'x', sizeof(big));
	CHECK_EQ_INT(tapebuf_init(&q, 1024), 0);
	while (!tapebuf_put(&q, 0, E, n + 1, 0, big, sizeof(big)))
		n++;
	CHECK_EQ_UINT(n, 1024 / tapebuf_rec_size(sizeof(big)));
	len = q.len;
	CHECK_EQ_INT(tapebuf_put(&q, 0, E, 77, 0, big, sizeof(big)), -1);
	CHECK_EQ_UINT(q.len, len);
	CHECK_EQ_UINT(q.n, n);
	/* a small one still fits where a big one did not */
	if (q.cap - q.len >= tapebuf_rec_size(1))
		CHECK_EQ_INT(tapebuf_put(&q, 0, E, 78, 0, "y", 1), 0);
	tapebuf_clear(&q);
	CHECK_EQ_UINT(q.n, 0);
	CHECK_EQ_UINT(q.len, 0);
	CHECK_EQ_INT(tapebuf_put(&q, 0, E, 79, 0, big, sizeof(big)), 0);
	tapebuf_free(&q);
}

static void
tapebuf_larger_than_capacity_refused(void)
{
	struct tapebuf q;
	static char huge[2048];

	CHECK_EQ_INT(tapebuf_init(&q, 1024), 0);
	CHECK_EQ_INT(tapebuf_put(&q, 0, E, 1, 0, huge, sizeof(huge)), -1);
	CHECK_EQ_UINT(q.n, 0);
	CHECK(tapebuf_rec_size(sizeof(huge)) > q.cap);
	tapebuf_free(&q);
	tapebuf_free(&q);		/* twice is harmless */
}

static void
tapebuf_records_aligned(void)
{
	for (size_t len = 0; len < 40; len++)
		CHECK_EQ_UINT(tapebuf_rec_size(len) % 8, 0);
	CHECK(tapebuf_rec_size(0) >= sizeof(struct tapebuf_rec));
}

static char err[512];

static int
load(const char *yaml, struct config *c)
{
	err[0] = '\0';
	return config_load_buffer("t.yaml", yaml, strlen(yaml), c, err, sizeof(err));
}

static void
config_tape_defaults(void)
{
	struct config c;

	CHECK_EQ_INT(load("", &c), 0);
	CHECK_STR(c.tape_path, "");
	CHECK_EQ_UINT(c.n_tape_channels, 0);
	CHECK_EQ_INT(c.tape_max_age_s, 7 * 86400);
	CHECK_EQ_INT(c.tape_max_bytes, 2LL << 30);
	config_free(&c);
}

static void
config_tape_keys(void)
{
	struct config c;

	CHECK_EQ_INT(load("tape:\n  path: /var/lib/uwrelay/tape.db\n  channels: [flow-alerts, news]\n"
			  "  retention: {max_age: 36h, max_bytes: 512M}\n", &c), 0);
	CHECK_STR(c.tape_path, "/var/lib/uwrelay/tape.db");
	CHECK_EQ_UINT(c.n_tape_channels, 2);
	if (c.n_tape_channels == 2) {
		CHECK_STR(c.tape_channels[0], "flow-alerts");
		CHECK_STR(c.tape_channels[1], "news");
	}
	CHECK_EQ_INT(c.tape_max_age_s, 36 * 3600);
	CHECK_EQ_INT(c.tape_max_bytes, 512LL << 20);
	config_free(&c);
	CHECK_EQ_INT(load("tape:\n  retention: {max_age: 0, max_bytes: 0}\n", &c), 0);
	CHECK_EQ_INT(c.tape_max_age_s, 0);
	CHECK_EQ_INT(c.tape_max_bytes, 0);
	config_free(&c);
	CHECK_EQ_INT(load("tape:\n  retention: {max_age: 90, max_bytes: 2GiB}\n", &c), 0);
	CHECK_EQ_INT(c.tape_max_age_s, 90);
	CHECK_EQ_INT(c.tape_max_bytes, 2LL << 30);
	config_free(&c);
	CHECK_EQ_INT(load("tape:\n  retention: {max_age: 2w, max_bytes: 1.5G}\n", &c), 0);
	CHECK_EQ_INT(c.tape_max_age_s, 14 * 86400);
	CHECK_EQ_INT(c.tape_max_bytes, 3LL << 29);
	config_free(&c);
}

static void
config_tape_errors(void)
{
	struct config c;

	CHECK_EQ_INT(load("tape:\n  retention:\n    max_age: 7 days\n", &c), -1);
	CHECK_CONTAINS(err, "t.yaml:3:");
	CHECK_CONTAINS(err, "max_age");
	CHECK_EQ_INT(load("tape:\n  retention:\n    max_bytes: 2X\n", &c), -1);
	CHECK_CONTAINS(err, "t.yaml:3:");
	CHECK_EQ_INT(load("tape:\n  retention:\n    max_bytes: 1000\n", &c), -1);
	CHECK_CONTAINS(err, "at least 1M");
	CHECK_EQ_INT(load("tape:\n  retention:\n    max_age: -1d\n", &c), -1);
	CHECK_EQ_INT(load("tape:\n  channels: [\"price:*\"]\n", &c), -1);
	CHECK_CONTAINS(err, "no pattern");
	CHECK_EQ_INT(load("tape:\n  channels: [bogus]\n", &c), -1);
	CHECK_CONTAINS(err, "neither in allowed_channels");
	CHECK_EQ_INT(load("tape:\n  channels: [news, news]\n", &c), -1);
	CHECK_CONTAINS(err, "twice");
	CHECK_EQ_INT(load("tape:\n  colour: red\n", &c), -1);
	CHECK_CONTAINS(err, "unknown key 'colour' in 'tape'");
	/* a REST source's channel may be taped */
	CHECK_EQ_INT(load("tape:\n  channels: [congress, \"price:SPY\"]\n", &c), 0);
	config_free(&c);
	{
		char yaml[5000];

		memcpy(yaml, "tape:\n  path: ", 14);
		memset(yaml + 14, 'a', 4200);
		memcpy(yaml + 14 + 4200, "\n", 2);
		CHECK_EQ_INT(load(yaml, &c), -1);
		CHECK_CONTAINS(err, "'path' must be a path shorter than");
	}
}

CHECK_MAIN(CHECK_TEST(tapebuf_round_trip_keeps_bytes_and_order),
	   CHECK_TEST(tapebuf_full_refuses_without_change),
	   CHECK_TEST(tapebuf_larger_than_capacity_refused),
	   CHECK_TEST(tapebuf_records_aligned),
	   CHECK_TEST(config_tape_defaults),
	   CHECK_TEST(config_tape_keys),
	   CHECK_TEST(config_tape_errors))
