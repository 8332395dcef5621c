/* config_yaml.c: the table-driven walk over a YAML document.
 *
 * config.c describes each section as a table of fields (key, type, offset,
 * bounds); this file reads a libyaml document into struct config by those
 * tables, remembering the line each value came from, so every message
 * names file:line. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config.h"
#include "config_int.h"
#include "log.h"

/* ---- parsing ---- */


int
config_fail(struct pctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, c->errlen, "%s:%d: ", c->name, line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void
remember_line(struct pctx *c, const void *addr, int line)
{
	for (int i = 0; i < c->n_lines; i++)
		if (c->lines[i].addr == addr) {
			c->lines[i].line = line;
			return;
		}
	if (c->n_lines == c->cap_lines) {
		int nc = c->cap_lines ? c->cap_lines * 2 : 64;
		struct line_rec *nl = realloc(c->lines, sizeof(*nl) * (size_t)nc);

		if (!nl)
			return;	/* a message may then say line 1: harmless */
		c->lines = nl;
		c->cap_lines = nc;
	}
	c->lines[c->n_lines].addr = addr;
	c->lines[c->n_lines++].line = line;
}

/* The line where the value at addr was set, or 1 for a built-in default. */
int
config_line_of(const struct pctx *c, const void *addr)
{
	for (int i = 0; i < c->n_lines; i++)
		if (c->lines[i].addr == addr)
			return c->lines[i].line;
	return 1;
}

static const char *
type_name(yaml_node_type_t t)
{
	switch (t) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

static int
want_scalar(struct pctx *c, const yaml_node_t *n, const char *key)
{
	if (n->type == YAML_SCALAR_NODE)
		return 0;
	return config_fail(c, node_line(n), "'%s' must be a single value, not %s", key, type_name(n->type));
}

static int
set_str(struct pctx *c, char **dst, const yaml_node_t *n, const char *key)
{
	char *s;

	if (want_scalar(c, n, key))
		return -1;
	if (strlen(scalar(n)) != n->data.scalar.length)
		return config_fail(c, node_line(n), "'%s' contains a NUL byte", key);
	s = strdup(scalar(n));
	if (!s)
		return config_fail(c, node_line(n), "out of memory");
	free(*dst);
	*dst = s;
	remember_line(c, dst, node_line(n));
	return 0;
}

/* "7d", "36h", "90" (seconds) or "2G", "512M", "1048576" (bytes; K, M, G,
 * T are powers of 1024, an optional trailing B or iB is accepted). */
static int
parse_scaled(const char *s, int is_age, double *out)
{
	char *end;
	double v, mul = 1;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || end == s || errno || !isfinite(v) || v < 0)
		return -1;
	if (is_age) {
		switch (*end) {
		case '\0': break;
		case 's': mul = 1; end++; break;
		case 'm': mul = 60; end++; break;
		case 'h': mul = 3600; end++; break;
		case 'd': mul = 86400; end++; break;
		case 'w': mul = 7 * 86400; end++; break;
		default: return -1;
		}
	} else {
		switch (*end) {
		case '\0': break;
		case 'k': case 'K': mul = 1024.0; end++; break;
		case 'M': mul = 1024.0 * 1024; end++; break;
		case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
		case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
		default: break;
		}
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end)
		return -1;
	*out = floor(v * mul);
	return 0;
}

static int
parse_number(struct pctx *c, const yaml_node_t *n, const struct field *f, double *out)
{
	const char *s;
	char *end;
	double v;

	if (want_scalar(c, n, f->key))
		return -1;
	s = scalar(n);
	errno = 0;
	if (f->type == F_AGE || f->type == F_SIZE) {
		if (parse_scaled(s, f->type == F_AGE, &v))
			return config_fail(c, node_line(n), "'%s' must be %s, not '%s'", f->key,
				    f->type == F_AGE ? "a number of seconds or a number with s, m, h, d or w "
				    "(7d)" : "a number of bytes or a number with K, M, G or T (2G)", s);
	} else if (f->type == F_INT) {
		long long ll = strtoll(s, &end, 10);

		if (!*s || *end || errno)
			return config_fail(c, node_line(n), "'%s' must be a whole number, not '%s'", f->key, s);
		v = (double)ll;
	} else {
		v = strtod(s, &end);
		if (!*s || *end || errno || !isfinite(v))
			return config_fail(c, node_line(n), "'%s' must be a number%s, not '%s'", f->key,
				    f->type == F_DUR ? " of seconds" : "", s);
	}
	if (v < f->min || v > f->max)
		return config_fail(c, node_line(n), "'%s' must be between %g and %g, not %s", f->key,
			    f->min, f->max, s);
	*out = v;
	return 0;
}


static int
parse_strlist(struct pctx *c, const yaml_node_t *n, const struct field *f, void *base)
{
	char ***dst = (char ***)((char *)base + f->off);
	size_t *dst_n = (size_t *)((char *)base + f->off_n), cnt, i = 0;
	char **l;

	if (n->type == YAML_SCALAR_NODE && !*scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		cnt = 0;	/* "key:" with nothing: an empty list */
	else if (n->type != YAML_SEQUENCE_NODE)
		return config_fail(c, node_line(n), "'%s' must be a list, not %s", f->key, type_name(n->type));
	else
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	l = calloc(cnt ? cnt : 1, sizeof(*l));
	if (!l)
		return config_fail(c, node_line(n), "out of memory");
	for (i = 0; i < cnt; i++) {
		yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);

		if (want_scalar(c, e, f->key))
			goto bad;
		if (f->valid && !f->valid(scalar(e))) {
			config_fail(c, node_line(e), "'%s' in '%s' is not %s", scalar(e), f->key, f->what);
			goto bad;
		}
		l[i] = strdup(scalar(e));
		if (!l[i]) {
			config_fail(c, node_line(e), "out of memory");
			goto bad;
		}
	}
	config_strlist_free(*dst, *dst_n);
	*dst = l;
	*dst_n = cnt;
	remember_line(c, dst, node_line(n));
	return 0;
bad:
	config_strlist_free(l, i);
	return -1;
}

/* A list of mappings (endpoints, sources): each element parsed with its
 * field table, then checked against the elements before it. */
static int
parse_maplist(struct pctx *c, const yaml_node_t *n, const struct maplist *ml, void *base)
{
	void **dst = (void **)((char *)base + ml->off_array);
	size_t *dst_n = (size_t *)((char *)base + ml->off_count), cnt, i = 0;
	char *arr;

	if (n->type == YAML_SCALAR_NODE && !*scalar(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		cnt = 0;	/* "key:" with nothing under it: none */
	else if (n->type != YAML_SEQUENCE_NODE)
		return config_fail(c, node_line(n), "'%s' must be a list, not %s", ml->key, type_name(n->type));
	else
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	arr = calloc(cnt ? cnt : 1, ml->elem_size);
	if (!arr)
		return config_fail(c, node_line(n), "out of memory");
	for (i = 0; i < cnt; i++) {
		yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);

		if (e->type != YAML_MAPPING_NODE) {
			config_fail(c, node_line(e), "each item of '%s' must be a mapping %s", ml->key, ml->shape);
			goto bad;
		}
		if (config_parse_map(c, e, ml->fields, arr + i * ml->elem_size, ml->key) ||
		    ml->check(c, arr, i, node_line(e)))
			goto bad;
	}
	ml->free_all(*dst, *dst_n);
	*dst = arr;
	*dst_n = cnt;
	return 0;
bad:
	ml->free_all(arr, cnt);
	return -1;
}

static int
parse_field(struct pctx *c, const struct field *f, const yaml_node_t *v, void *base)
{
	double d;

	switch (f->type) {
	case F_STR:
		return set_str(c, (char **)((char *)base + f->off), v, f->key);
	case F_LOGLEVEL:
		if (want_scalar(c, v, f->key))
			return -1;
		if (log_level_from_name(scalar(v)) < 0)
			return config_fail(c, node_line(v), "'%s' must be error, warn, info or debug, not '%s'",
				    f->key, scalar(v));
		return set_str(c, (char **)((char *)base + f->off), v, f->key);
	case F_PATHBUF:
		if (want_scalar(c, v, f->key))
			return -1;
		if (strlen(scalar(v)) != v->data.scalar.length || v->data.scalar.length >= (size_t)f->max)
			return config_fail(c, node_line(v), "'%s' must be a path shorter than %g bytes without NUL",
				    f->key, f->max);
		memcpy((char *)base + f->off, scalar(v), v->data.scalar.length + 1);
		remember_line(c, (char *)base + f->off, node_line(v));
		return 0;
	case F_AGE:
	case F_SIZE:
	case F_INT:
		if (parse_number(c, v, f, &d))
			return -1;
		*(int64_t *)((char *)base + f->off) = (int64_t)d;
		remember_line(c, (char *)base + f->off, node_line(v));
		return 0;
	case F_DUR:
	case F_FRAC:
	case F_NUM:
		if (parse_number(c, v, f, &d))
			return -1;
		*(double *)((char *)base + f->off) = d;
		remember_line(c, (char *)base + f->off, node_line(v));
		return 0;
	case F_BOOL:
		if (want_scalar(c, v, f->key))
			return -1;
		if (!strcmp(scalar(v), "true") || !strcmp(scalar(v), "yes") || !strcmp(scalar(v), "on"))
			*(int *)((char *)base + f->off) = 1;
		else if (!strcmp(scalar(v), "false") || !strcmp(scalar(v), "no") || !strcmp(scalar(v), "off"))
			*(int *)((char *)base + f->off) = 0;
		else
			return config_fail(c, node_line(v), "'%s' must be true or false, not '%s'", f->key, scalar(v));
		remember_line(c, (char *)base + f->off, node_line(v));
		return 0;
	case F_MAP:
		if (v->type == YAML_SCALAR_NODE && !*scalar(v) && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return 0;	/* "section:" with nothing under it */
		if (v->type != YAML_MAPPING_NODE)
			return config_fail(c, node_line(v), "'%s' must be a mapping, not %s", f->key, type_name(v->type));
		return config_parse_map(c, v, f->sub, base, f->key);
	case F_STRLIST:
		return parse_strlist(c, v, f, base);
	case F_MAPLIST:
		return parse_maplist(c, v, f->list, base);
	}
	return -1;
}

int
config_parse_map(struct pctx *c, const yaml_node_t *map, const struct field *fields, void *base,
	  const char *section)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const struct field *f;

		if (k->type != YAML_SCALAR_NODE)
			return config_fail(c, node_line(k), "keys must be plain names");
		for (f = fields; f->key; f++)
			if (!strcmp(f->key, scalar(k)))
				break;
		if (!f->key) {
			if (section)
				return config_fail(c, node_line(k), "unknown key '%s' in '%s'", scalar(k), section);
			return config_fail(c, node_line(k), "unknown key '%s'", scalar(k));
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);

			if (k2->type == YAML_SCALAR_NODE && !strcmp(scalar(k2), scalar(k)))
				return config_fail(c, node_line(k), "key '%s' appears twice", scalar(k));
		}
		if (parse_field(c, f, v, base))
			return -1;
	}
	return 0;
}

