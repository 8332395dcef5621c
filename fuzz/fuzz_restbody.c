/* libFuzzer target: UW REST answers (REST-polled channels). Every row span
 * lies inside the input and is a valid JSON object. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json_scan.h"
#include "restbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct span *rows, v;
	size_t n;
	const char *err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (!restbody_rows(buf, size, &rows, &n, &err)) {
		for (size_t i = 0; i < n; i++) {
			if (rows[i].p < buf || rows[i].p + rows[i].len > buf + size ||
			    rows[i].p[0] != '{' || !json_valid(rows[i].p, rows[i].len))
				abort();
			if (!restbody_field(rows[i], "id", &v) && (v.p < rows[i].p || v.p + v.len > rows[i].p + rows[i].len))
				abort();
		}
		free(rows);
	}
	free(buf);
	return 0;
}
