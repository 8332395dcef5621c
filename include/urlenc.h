/* urlenc.h: percent-encoding for a URL query value. */
#ifndef UWRELAY_URLENC_H
#define UWRELAY_URLENC_H

/* Returns a malloc'd copy of s with every byte outside A-Z a-z 0-9 - _ . ~
 * written as %XX, or NULL on OOM. */
char *urlenc(const char *s);

#endif
