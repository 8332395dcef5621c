/* test_uwtoken.c: where the UW token comes from: the environment first
 * (UW_API_TOKEN, then UW_KEY), else token_file or systemd's credentials;
 * white space at the end trimmed; an empty token, one with a space or a
 * control byte, and an unreadable file refused with a reason that never
 * quotes the token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "uwtoken.h"

static char dir[] = "/tmp/test_uwtoken.XXXXXX";

/* No token in the environment, no credentials directory. */
static void
clean_env(void)
{
	unsetenv("UW_API_TOKEN");
	unsetenv("UW_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void
write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static char *
read_with(const char *token_file, char *why, size_t whylen)
{
	struct config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.token_file = (char *)token_file;
	why[0] = '\0';
	return uwtoken_read(&cfg, why, whylen);
}

/* Writes text to the file name in dir and reads the token from it, by its
 * absolute path. */
static char *
read_file(const char *name, const char *text, char *why, size_t whylen)
{
	char path[256];

	write_file(name, text);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return read_with(path, why, whylen);
}

static void
uwtoken_env_wins_and_is_trimmed(void)
{
	char why[256], *t;

	clean_env();
	write_file("tok", "from-file");
	setenv("UW_API_TOKEN", "abc123\r\n", 1);
	setenv("UW_KEY", "other", 1);
	t = read_with("/nonexistent/ignored", why, sizeof(why));
	CHECK_STR(t, "abc123");
	free(t);
	unsetenv("UW_API_TOKEN");
	t = read_with("", why, sizeof(why));
	CHECK_STR(t, "other");
	free(t);
	/* an empty UW_API_TOKEN counts as unset */
	setenv("UW_API_TOKEN", "", 1);
	t = read_with("", why, sizeof(why));
	CHECK_STR(t, "other");
	free(t);
	clean_env();
}

static void
uwtoken_none_says_how_to_set_one(void)
{
	char why[256], *t;

	clean_env();
	t = read_with("", why, sizeof(why));
	CHECK(t == NULL);
	CHECK_CONTAINS(why, "UW_API_TOKEN");
	CHECK_CONTAINS(why, "token_file");
}

static void
uwtoken_file_absolute(void)
{
	char why[256], *t;

	clean_env();
	t = read_file("abs", "s3cret-token \t\n", why, sizeof(why));
	CHECK_STR(t, "s3cret-token");
	free(t);
}

static void
uwtoken_credentials_directory(void)
{
	char why[256], *t;

	clean_env();
	write_file("uw-token", "cred-default\n");
	write_file("named", "cred-named\n");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	/* no token_file: the credential called uw-token */
	t = read_with("", why, sizeof(why));
	CHECK_STR(t, "cred-default");
	free(t);
	/* a relative token_file is a credential's name */
	t = read_with("named", why, sizeof(why));
	CHECK_STR(t, "cred-named");
	free(t);
	clean_env();
}

static void
uwtoken_bad_tokens_refused_without_quoting(void)
{
	char why[256], *t;

	clean_env();
	t = read_file("space", "abc def\n", why, sizeof(why));
	CHECK(t == NULL);
	CHECK_CONTAINS(why, "space or a control character");
	CHECK_NOT_CONTAINS(why, "abc");
	t = read_file("empty", " \n", why, sizeof(why));
	CHECK(t == NULL);
	CHECK_CONTAINS(why, "the token is empty");
	setenv("UW_API_TOKEN", "ctl\001x", 1);
	t = read_with("", why, sizeof(why));
	CHECK(t == NULL);
	CHECK_NOT_CONTAINS(why, "ctl");
	clean_env();
}

static void
uwtoken_unreadable_file(void)
{
	char why[256], path[256], *t;

	clean_env();
	snprintf(path, sizeof(path), "%s/missing", dir);
	t = read_with(path, why, sizeof(why));
	CHECK(t == NULL);
	CHECK_CONTAINS(why, "cannot read token_file");
	CHECK_CONTAINS(why, path);
}

static void
setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
}

static void
teardown(void)
{
	const char *names[] = { "tok", "abs", "uw-token", "named", "space", "empty" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	CHECK(rmdir(dir) == 0);
}

CHECK_MAIN(
	CHECK_TEST(setup),
	CHECK_TEST(uwtoken_env_wins_and_is_trimmed),
	CHECK_TEST(uwtoken_none_says_how_to_set_one),
	CHECK_TEST(uwtoken_file_absolute),
	CHECK_TEST(uwtoken_credentials_directory),
	CHECK_TEST(uwtoken_bad_tokens_refused_without_quoting),
	CHECK_TEST(uwtoken_unreadable_file),
	CHECK_TEST(teardown))
