/* uwtoken.c: the UW token, read from the environment, systemd's
 * credentials or upstream.token_file (see uwtoken.h). The token is a
 * secret: nothing here prints it, and the reasons given never quote it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "uwtoken.h"

static char *
trim_token(char *t, char *why, size_t whylen)
{
	size_t n = strlen(t);

	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 0x7f) {
			snprintf(why, whylen, "the token contains a space or a control character");
			free(t);
			return NULL;
		}
	if (!n) {
		snprintf(why, whylen, "the token is empty");
		free(t);
		return NULL;
	}
	return t;
}

char *
uwtoken_read(const struct config *cfg, char *why, size_t whylen)
{
	const char *env = getenv("UW_API_TOKEN");
	char path[1024], *buf;
	ssize_t n;
	int fd;

	if (!env || !*env)
		env = getenv("UW_KEY");
	if (env && *env) {
		buf = strdup(env);
		return buf ? trim_token(buf, why, whylen) : NULL;
	}
	/* a relative path is looked up among systemd's credentials first;
	 * with no token_file, a credential named uw-token is used if there */
	if (!cfg->token_file[0] && getenv("CREDENTIALS_DIRECTORY"))
		snprintf(path, sizeof(path), "%s/uw-token", getenv("CREDENTIALS_DIRECTORY"));
	else if (!cfg->token_file[0]) {
		snprintf(why, whylen, "no UW token: set UW_API_TOKEN (or UW_KEY) or upstream.token_file");
		return NULL;
	} else if (cfg->token_file[0] != '/' && getenv("CREDENTIALS_DIRECTORY"))
		snprintf(path, sizeof(path), "%s/%s", getenv("CREDENTIALS_DIRECTORY"), cfg->token_file);
	else
		snprintf(path, sizeof(path), "%s", cfg->token_file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "cannot read token_file %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = calloc(1, 4097);
	if (!buf) {
		close(fd);
		return NULL;
	}
	n = read(fd, buf, 4096);
	close(fd);
	if (n < 0) {
		snprintf(why, whylen, "cannot read token_file %s: %s", path, strerror(errno));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return trim_token(buf, why, whylen);
}

