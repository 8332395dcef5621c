/* check.h: the unit tests' assertion helper, header-only.
 *
 * A failed CHECK prints file:line and the values, counts the failure and
 * lets the test go on, so one run shows every broken expectation. Each
 * test is a static function; CHECK_MAIN runs them in order (or only the
 * ones named on the command line), prints "N passed, N failed" and exits
 * non-zero if any test failed. Tests run under ASan/LSan in CI, so a test
 * that leaks fails there even when its CHECKs pass. */
#ifndef UWRELAY_TEST_CHECK_H
#define UWRELAY_TEST_CHECK_H

#include <inttypes.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;	/* failed CHECKs in the current test */

static inline void check_fail_hdr(const char *file, int line)
{
	fprintf(stdout, "  %s:%d: ", file, line);
	check_failures++;
}

/* Prints a byte string with non-printable bytes escaped. */
static inline void check_print_bytes(const char *s, size_t n)
{
	if (!s) {
		fputs("(null)", stdout);
		return;
	}
	fputc('"', stdout);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(stdout, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stdout);
		else
			fprintf(stdout, "\\x%02x", c);
	}
	fputc('"', stdout);
}

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "CHECK(%s) failed\n", #cond);                 \
		}                                                                     \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                            \
	do {                                                                          \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);       \
		if (check_a_ != check_b_) {                                           \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s == %s failed: %lld != %lld\n", #a, #b,    \
				check_a_, check_b_);                                  \
		}                                                                     \
	} while (0)

#define CHECK_EQ_UINT(a, b)                                                           \
	do {                                                                          \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);          \
		if (check_a_ != check_b_) {                                           \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s == %s failed: %" PRIu64 " != %" PRIu64 "\n", \
				#a, #b, check_a_, check_b_);                          \
		}                                                                     \
	} while (0)

#define CHECK_EQ_DBL(a, b)                                                            \
	do {                                                                          \
		double check_a_ = (double)(a), check_b_ = (double)(b);                \
		if (!(check_a_ == check_b_)) {                                        \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s == %s failed: %.17g != %.17g\n", #a, #b,  \
				check_a_, check_b_);                                  \
		}                                                                     \
	} while (0)

#define CHECK_STR(a, b)                                                               \
	do {                                                                          \
		const char *check_a_ = (a), *check_b_ = (b);                          \
		if (!check_a_ || !check_b_ ? check_a_ != check_b_                     \
					   : strcmp(check_a_, check_b_) != 0) {       \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s == %s failed:\n    got      ", #a, #b);   \
			check_print_bytes(check_a_, check_a_ ? strlen(check_a_) : 0); \
			fputs("\n    expected ", stdout);                             \
			check_print_bytes(check_b_, check_b_ ? strlen(check_b_) : 0); \
			fputc('\n', stdout);                                          \
		}                                                                     \
	} while (0)

/* a[0..alen) equals b[0..blen) */
#define CHECK_MEM(a, alen, b, blen)                                                   \
	do {                                                                          \
		const char *check_a_ = (const char *)(a), *check_b_ = (const char *)(b); \
		size_t check_al_ = (alen), check_bl_ = (blen);                        \
		if (!check_a_ || !check_b_ || check_al_ != check_bl_ ||               \
		    memcmp(check_a_, check_b_, check_al_) != 0) {                     \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s == %s failed:\n    got      ", #a, #b);   \
			check_print_bytes(check_a_, check_al_);                       \
			fprintf(stdout, " (%zu bytes)\n    expected ", check_al_);    \
			check_print_bytes(check_b_, check_bl_);                       \
			fprintf(stdout, " (%zu bytes)\n", check_bl_);                 \
		}                                                                     \
	} while (0)

/* The string s contains needle. */
#define CHECK_CONTAINS(s, needle)                                                     \
	do {                                                                          \
		const char *check_s_ = (s), *check_n_ = (needle);                     \
		if (!check_s_ || !strstr(check_s_, check_n_)) {                       \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s does not contain %s:\n    got ", #s, #needle); \
			check_print_bytes(check_s_, check_s_ ? strlen(check_s_) : 0); \
			fputc('\n', stdout);                                          \
		}                                                                     \
	} while (0)

#define CHECK_NOT_CONTAINS(s, needle)                                                 \
	do {                                                                          \
		const char *check_s_ = (s), *check_n_ = (needle);                     \
		if (!check_s_ || strstr(check_s_, check_n_)) {                        \
			check_fail_hdr(__FILE__, __LINE__);                           \
			fprintf(stdout, "%s contains %s:\n    got ", #s, #needle);    \
			check_print_bytes(check_s_, check_s_ ? strlen(check_s_) : 0); \
			fputc('\n', stdout);                                          \
		}                                                                     \
	} while (0)

/* Heap bytes in use (glibc). Under ASan mallinfo2 reports nothing useful and
 * returns the same value every time, so leak checks built on it pass there
 * and LSan takes over. Measure with no stdio in between: the first printf
 * allocates stdout's buffer. */
static inline size_t check_heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	return mallinfo2().uordblks;
#else
	return 0;
#endif
}

/* Under ASan, runs LeakSanitizer now (it prints what leaked) and fails the
 * check if anything is unreachable; elsewhere a no-op. */
#if defined(__SANITIZE_ADDRESS__)
#define CHECK_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_HAVE_LSAN 1
#endif
#endif
#ifdef CHECK_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#define CHECK_NO_LEAKS() CHECK(__lsan_do_recoverable_leak_check() == 0)
#else
#define CHECK_NO_LEAKS() do { } while (0)
#endif

struct check_test {
	const char *name;
	void (*fn)(void);
};

#define CHECK_TEST(fn) { #fn, fn }

static inline int check_run(const struct check_test *tests, int argc, char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IONBF, 0);	/* interleave with stderr, and no lazy buffer */
	for (const struct check_test *t = tests; t->name; t++) {
		int wanted = argc < 2;

		for (int i = 1; i < argc; i++)
			if (!strcmp(argv[i], t->name))
				wanted = 1;
		if (!wanted)
			continue;
		check_failures = 0;
		t->fn();
		if (check_failures) {
			printf("FAIL %s (%d failed checks)\n", t->name, check_failures);
			failed++;
		} else {
			printf("ok   %s\n", t->name);
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define CHECK_MAIN(...)                                                               \
	int main(int argc, char **argv)                                               \
	{                                                                             \
		static const struct check_test tests_[] = { __VA_ARGS__, { NULL, NULL } }; \
		return check_run(tests_, argc, argv);                                 \
	}

#endif
