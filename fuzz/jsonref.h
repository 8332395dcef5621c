/* jsonref.h: an independent judge of JSON text for the fuzz oracles
 * (jsonref.c). The parsers under test read JSON with json_scan.c; an oracle
 * that used json_scan too would accept whatever it wrongly accepts, so the
 * oracles judge with cJSON and the raw-text checks here instead. */
#ifndef UWRELAY_FUZZ_JSONREF_H
#define UWRELAY_FUZZ_JSONREF_H

#include <cJSON.h>
#include <stddef.h>

/* What the raw text says, read without a JSON parser. Offsets are into the
 * text; they are meaningful only for text that jsonref_parse accepts. */
struct jsonref_lex {
	int strict;	/* 1 if nothing is in it that cJSON takes but json_scan.h's
			 * JSON refuses (see jsonref_lex) */
	int depth;	/* deepest nesting of brackets and braces */
	int key_escapes;	/* 1 if an object's member name holds a backslash */
	long str_start;	/* the first string, quotes included: [start, end), or -1 */
	long str_end;
	long comma;	/* the first ',' at depth 1 (inside the outermost bracket), or -1 */
	long last;	/* the last byte that is not whitespace, or -1 */
};

/* 1 if c is JSON whitespace (space, tab, CR, LF). */
int jsonref_ws(char c);

/* The JSON value filling all of in[0..len) (JSON whitespace around it
 * allowed), or NULL. cJSON_Delete the result. Lone surrogate escapes, which
 * JSON's grammar allows and cJSON refuses, are read as "A". */
cJSON *jsonref_parse(const char *in, size_t len);

/* Reads in[0..len) into *lx. strict is 0 where the text holds what cJSON
 * accepts but JSON (RFC 8259, strings in UTF-8) does not: a byte other
 * than JSON whitespace outside strings (cJSON skips every byte up to 0x20
 * and a UTF-8 BOM), a number not in RFC 8259 form (cJSON takes 01, 1. and
 * -01), a raw control byte or invalid UTF-8 in a string, or a \u escape
 * without four hex digits (cJSON reads it as U+0000). */
void jsonref_lex(const char *in, size_t len, struct jsonref_lex *lx);

#endif
