/* libFuzzer target: browsers' control messages. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "climsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct climsg m;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	switch (climsg_parse(buf, size, &m)) {
	case CLIMSG_BAD:
		if (!m.error)
			abort();
		break;
	default:
		if (strlen(m.channel) >= sizeof(m.channel) || (m.epoch[0] && !climsg_epoch_valid(m.epoch)))
			abort();
	}
	free(buf);
	return 0;
}
