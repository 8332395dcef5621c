/* filtab.c: distinct filters, shared by the subscribers who use them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "filtab.h"

struct filtab_entry *
filtab_get(struct filtab *t, const struct filter *f)
{
	struct filtab_entry *e;

	for (e = t->head; e; e = e->next)
		if (e->f.kind == f->kind && !strcmp(e->f.canon, f->canon))
			break;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return NULL;
		e->f = *f;
		e->next = t->head;
		if (t->head)
			t->head->prev = e;
		t->head = e;
		t->n++;
	}
	e->refs++;
	t->refs++;
	return e;
}

int
filtab_get_text(struct filtab *t, const char *chan, size_t chlen, const char *text, size_t len,
		struct filtab_entry **out, char err[FILTER_ERR_MAX])
{
	/* ~3 KB: on the heap, the event loop's stack is not the place */
	struct filter *f;

	*out = NULL;
	if (!len)
		return 0;
	f = malloc(sizeof(*f));
	if (!f) {
		snprintf(err, FILTER_ERR_MAX, "out of memory");
		return -1;
	}
	if (!filter_parse(filter_kind_of(chan, chlen), text, len, f, err)) {
		*out = filtab_get(t, f);
		if (!*out)
			snprintf(err, FILTER_ERR_MAX, "out of memory");
	}
	free(f);
	return *out ? 0 : -1;
}

static void
unlink_entry(struct filtab *t, struct filtab_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	t->n--;
	free(e);
}

void
filtab_put(struct filtab *t, struct filtab_entry *e)
{
	if (!e)
		return;
	t->refs--;
	if (!--e->refs)
		unlink_entry(t, e);
}

void
filtab_free(struct filtab *t)
{
	while (t->head) {
		t->refs -= t->head->refs;
		unlink_entry(t, t->head);
	}
}

int
filtab_pass(struct filtab *t, struct filtab_entry *e, const struct frame *fr)
{
	if (e->round != t->round || !t->round) {
		const char *p;
		size_t n;

		e->round = t->round;
		t->evaluations++;
		e->result = (uint8_t)(!filter_envelope_payload((const char *)fr->buf + FRAME_PRE, fr->len, &p, &n) &&
				      filter_match(&e->f, p, n));
	}
	if (!e->result)
		t->skipped++;
	return e->result;
}
