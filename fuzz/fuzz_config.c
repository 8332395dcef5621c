/* libFuzzer target: the YAML configuration loader. It must never crash or
 * leak, and an error must always say FILE:LINE. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512];

	if (config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err))) {
		if (strncmp(err, "fuzz.yaml:", 10))
			abort();
		return 0;
	}
	config_free(&cfg);
	return 0;
}
