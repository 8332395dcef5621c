/* seenset: bounded FIFO set of row ids. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "seenset.h"

static uint64_t
h(unsigned i)
{
	char b[32];

	snprintf(b, sizeof(b), "id-%u", i);
	return seenset_hash(b, strlen(b));
}

static void
seenset_new_then_seen(void)
{
	struct seenset s;

	CHECK_EQ_INT(seenset_init(&s, 4), 0);
	CHECK_EQ_INT(seenset_add(&s, h(1)), 1);
	CHECK_EQ_INT(seenset_add(&s, h(1)), 0);
	CHECK_EQ_INT(seenset_has(&s, h(1)), 1);
	CHECK_EQ_INT(seenset_has(&s, h(2)), 0);
	seenset_free(&s);
}

static void
seenset_forgets_the_oldest_when_full(void)
{
	struct seenset s;

	seenset_init(&s, 3);
	for (unsigned i = 1; i <= 3; i++)
		CHECK_EQ_INT(seenset_add(&s, h(i)), 1);
	CHECK_EQ_INT(seenset_add(&s, h(4)), 1);	/* forgets 1 */
	CHECK_EQ_INT(seenset_has(&s, h(1)), 0);
	CHECK_EQ_INT(seenset_has(&s, h(2)), 1);
	CHECK_EQ_INT(seenset_has(&s, h(4)), 1);
	CHECK_EQ_INT(s.count, 3);
	seenset_free(&s);
}

static void
seenset_hash_never_collides_with_markers(void)
{
	struct seenset s;

	seenset_init(&s, 8);
	/* hashes 0 and 1 are the index's free/deleted markers: still stored */
	CHECK_EQ_INT(seenset_add(&s, 0), 1);
	CHECK_EQ_INT(seenset_add(&s, 1), 1);
	CHECK_EQ_INT(seenset_has(&s, 0), 1);
	CHECK_EQ_INT(seenset_has(&s, 1), 1);
	seenset_free(&s);
}

/* A long churn (many more ids than the capacity) against a simple model:
 * the last `cap` distinct ids are exactly the ones seen. */
static void
seenset_churn_matches_model(void)
{
	enum { CAP = 100, N = 20000 };
	struct seenset s;

	seenset_init(&s, CAP);
	for (unsigned i = 1; i <= N; i++) {
		CHECK_EQ_INT(seenset_add(&s, h(i)), 1);
		/* an id added a moment ago is still known */
		CHECK_EQ_INT(seenset_add(&s, h(i - (i > 50 ? 50 : 0))), 0);
	}
	for (unsigned i = N - CAP + 1; i <= N; i++)
		CHECK_EQ_INT(seenset_has(&s, h(i)), 1);
	for (unsigned i = 1; i <= N - CAP; i += 97)
		CHECK_EQ_INT(seenset_has(&s, h(i)), 0);
	CHECK(s.tombs < s.cap);
	seenset_free(&s);
}

CHECK_MAIN(
	CHECK_TEST(seenset_new_then_seen),
	CHECK_TEST(seenset_forgets_the_oldest_when_full),
	CHECK_TEST(seenset_hash_never_collides_with_markers),
	CHECK_TEST(seenset_churn_matches_model))
