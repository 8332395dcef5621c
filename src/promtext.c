/* promtext.c: the Prometheus text format's lines, written once for every
 * module that reports series (metrics.c, tape.c). It sits in the core
 * library, so a module is linked with it without metrics.c (bench/tapebench.c
 * links tape.c alone) and without taking part in metrics.c's includes. */
#include "promtext.h"

void
promtext_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP uwrelay_%s %s\n# TYPE uwrelay_%s %s\n", name, help, name, type);
}
