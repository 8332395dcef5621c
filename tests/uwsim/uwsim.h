/*
 * uwsim - a stand-in for the Unusual Whales WebSocket server, for tests.
 *
 * Shared declarations between the server (uwsim.c) and the payload
 * generators (payload.c).
 */
#ifndef UWSIM_H
#define UWSIM_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer with fixed headroom in front of the data, so a
 * frame built in it can be handed to lws_write() directly. */
struct sb {
	unsigned char *base;	/* allocation: headroom + cap */
	size_t pre;		/* headroom bytes before the data */
	size_t len;		/* bytes of data */
	size_t cap;		/* capacity for data (excluding headroom) */
	int oom;		/* an allocation failed; contents invalid */
};

void sb_init(struct sb *b, size_t pre);
void sb_free(struct sb *b);
void sb_reset(struct sb *b);
char *sb_data(struct sb *b);
void sb_putn(struct sb *b, const char *s, size_t n);
void sb_puts(struct sb *b, const char *s);
void sb_putc(struct sb *b, char c);
void sb_printf(struct sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* a JSON string literal (with the quotes), escaping as needed */
void sb_json_str(struct sb *b, const char *s);
void sb_json_strn(struct sb *b, const char *s, size_t n);

/* pseudo random numbers (xorshift64*) */
void rnd_seed(uint64_t seed);
uint64_t rnd(void);
/* uniform integer in [lo, hi] */
long rnd_range(long lo, long hi);
/* uniform double in [0, 1) */
double rnd_unit(void);

/*
 * Build one data frame `["CHANNEL",{...}]` for `chan` into b (which is
 * reset first). `seq` becomes the payload's "sim_seq". `target` 0 means the
 * natural size, otherwise the whole message is padded to about `target`
 * bytes. Returns the length, or 0 on allocation failure.
 */
size_t gen_frame(struct sb *b, const char *chan, uint64_t seq, size_t target);

/* One row of UW's congress trades REST answer, made once and then served
 * byte for byte the same on every request. */
struct congress_row {
	uint64_t k;		/* "sim_row": 1, 2, 3... in creation order */
	char ticker[16];
	char filed[11];		/* filed_at_date, YYYY-MM-DD */
	char *json;		/* compact JSON object, malloc'd; owner frees */
	size_t len;
};

/*
 * Make congress row k, filed `days_ago` days before today (UTC), its other
 * fields at random. Returns 0, or -1 on allocation failure (r->json NULL).
 */
int gen_congress_row(struct congress_row *r, uint64_t k, int days_ago);

/* free the generators' scratch buffers (at exit) */
void gen_cleanup(void);

#endif
