/* config_int.h: what config.c's tables and config_yaml.c's walker share
 * (private to the configuration module). */
#ifndef UWRELAY_CONFIG_INT_H
#define UWRELAY_CONFIG_INT_H

#include <stddef.h>
#include <yaml.h>

enum ftype { F_STR, F_INT, F_DUR, F_FRAC, F_NUM, F_BOOL, F_MAP, F_STRLIST, F_MAPLIST, F_LOGLEVEL,
	     F_PATHBUF, F_AGE, F_SIZE };

struct pctx;
struct maplist;

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	double min, max;
	const struct field *sub;	/* F_MAP */
	size_t off_n;			/* F_STRLIST: offset of the count */
	int (*valid)(const char *);	/* F_STRLIST: item check, or NULL */
	const char *what;		/* F_STRLIST: what an item must be */
	const struct maplist *list;	/* F_MAPLIST */
};

struct maplist {
	const char *key, *shape;	/* for messages */
	const struct field *fields;	/* one element's keys */
	size_t elem_size;
	size_t off_array, off_count;	/* in struct config */
	/* checks element i (defaults, duplicates among 0..i-1); 0 or -1 */
	int (*check)(struct pctx *c, void *all, size_t i, int line);
	void (*free_all)(void *all, size_t n);
};

struct line_rec {
	const void *addr;
	int line;
};

struct pctx {
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	struct line_rec *lines;	/* grows; freed by config_load_buffer */
	int n_lines, cap_lines;
};

/* The line a node starts on (1-based), and a scalar node's text. */
static inline int node_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static inline const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
/* Frees the first n strings of l and l. */
void config_strlist_free(char **l, size_t n);
/* Writes "NAME:LINE: message" into c->err. Always returns -1. */
int config_fail(struct pctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The line the value at addr was read from (1 if it kept its default). */
int config_line_of(const struct pctx *c, const void *addr);
/* Reads map's keys into base by the table fields; section names the map
 * for messages. 0, or -1 with c->err set. */
int config_parse_map(struct pctx *c, const yaml_node_t *map, const struct field *fields, void *base,
		     const char *section);

#endif
