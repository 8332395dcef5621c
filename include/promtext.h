/* promtext.h: lines of the Prometheus text exposition format (0.0.4) that
 * every module reporting series writes the same way (promtext.c). */
#ifndef UWRELAY_PROMTEXT_H
#define UWRELAY_PROMTEXT_H

#include <stdio.h>

/* Writes the HELP and TYPE lines of the metric uwrelay_NAME to f; help must
 * hold no backslash or newline (the format would need them escaped). */
void promtext_head(FILE *f, const char *name, const char *type, const char *help);

#endif
