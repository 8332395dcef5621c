/* chname.c: channel name syntax and allowed-channel patterns. */
#include <string.h>
#include "chname.h"

static int
base_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int
suffix_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* Length of the base part (before ':'), or 0 if it has a bad character. */
static size_t
base_len(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len && name[i] != ':'; i++)
		if (!base_char(name[i]))
			return 0;
	return i;
}

int
chname_valid(const char *name, size_t len)
{
	size_t b;

	if (!len || len > CHNAME_MAX)
		return 0;
	b = base_len(name, len);
	if (!b)
		return 0;
	if (b == len)
		return 1;
	/* name[b] == ':' */
	if (len - b - 1 < 1 || len - b - 1 > CHNAME_SUFFIX_MAX)
		return 0;
	for (size_t i = b + 1; i < len; i++)
		if (!suffix_char(name[i]))
			return 0;
	return 1;
}

int
chname_pattern_valid(const char *pattern)
{
	size_t len = strlen(pattern);

	if (len > 2 && !strcmp(pattern + len - 2, ":*"))
		return base_len(pattern, len - 2) == len - 2 && len - 2 <= CHNAME_MAX - 2;
	return chname_valid(pattern, len);
}

int
chname_allowed(const char *const *patterns, size_t n, const char *name, size_t len)
{
	size_t b;

	if (!chname_valid(name, len))
		return 0;
	b = base_len(name, len);
	for (size_t i = 0; i < n; i++) {
		const char *p = patterns[i];
		size_t pl = strlen(p);

		if (pl > 2 && !strcmp(p + pl - 2, ":*")) {
			if (b < len && pl - 2 == b && !memcmp(p, name, b))
				return 1;
		} else if (pl == len && !memcmp(p, name, len))
			return 1;
	}
	return 0;
}
