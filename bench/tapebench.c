/* tapebench: how fast the tape's writer stores frames (src/tape.c as the
 * relay uses it: tape_record from one thread, the writer thread storing).
 *
 *   tapebench [--frames N] [--size BYTES] [--path FILE] [--channels K]
 *
 * Hands N frames of BYTES bytes (JSON text, each different) to tape_record
 * as fast as the writer takes them: when the buffers are nearly full the
 * producer waits a millisecond, so nothing is dropped and the rate measured
 * is the writer's sustained one. Prints one JSON line: frames/s, MB/s, the
 * file's size per million frames, frames not recorded, peak RSS. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cJSON.h>
#include "clock.h"
#include "log.h"
#include "tape.h"

#define NPAY 1024

/* root.tape.a(.b) */
static double
num3(cJSON *root, const char *a, const char *b)
{
	cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "tape"), a);

	if (b)
		x = cJSON_GetObjectItemCaseSensitive(x, b);
	return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

static cJSON *
status(struct tape *t)
{
	cJSON *root = cJSON_CreateObject();

	tape_status_json(t, root);
	return root;
}

static void
payload(char *buf, size_t size, uint64_t i)
{
	static const char *const tk[] = { "SPY", "QQQ", "TSLA", "AAPL", "NVDA", "AMD" };
	int n = snprintf(buf, size, "{\"ticker\":\"%s\",\"id\":%llu,\"total_premium\":%llu,\"note\":\"",
			 tk[i % 6], (unsigned long long)i, (unsigned long long)(i * 7919 % 5000000));

	for (size_t k = (size_t)n; k + 2 < size; k++)
		buf[k] = (char)('a' + (i * 31 + k * 7) % 26);
	buf[size - 2] = '"';
	buf[size - 1] = '}';
}

int
main(int argc, char **argv)
{
	uint64_t frames = 1000000, nch = 4;
	size_t size = 1024;
	const char *path = "/tmp/tapebench.db";
	static const struct option opts[] = {
		{ "frames", required_argument, NULL, 'n' }, { "size", required_argument, NULL, 's' },
		{ "path", required_argument, NULL, 'p' }, { "channels", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	char *chans[16], names[16][32], *buf;
	struct tape *t;
	struct rusage ru;
	struct stat st;
	uint64_t t0, t1, i;
	double recorded, lost, cap, cpu;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n')
			frames = strtoull(optarg, NULL, 10);
		else if (o == 's')
			size = strtoull(optarg, NULL, 10);
		else if (o == 'p')
			path = optarg;
		else if (o == 'c')
			nch = strtoull(optarg, NULL, 10);
		else
			return 2;
	}
	if (size < 64 || !nch || nch > 16)
		return 2;
	for (i = 0; i < nch; i++) {
		snprintf(names[i], sizeof(names[i]), "bench-%llu", (unsigned long long)i);
		chans[i] = names[i];
	}
	unlink(path);
	log_set_level(LOG_WARN);
	t = tape_open(path, chans, nch, "0123456789abcdef", 0, 0);
	/* NPAY different payloads, made before the clock starts: what is
	 * measured is the tape, not the making of JSON */
	buf = malloc(size * NPAY);
	if (!t || !buf)
		return 1;
	for (i = 0; i < NPAY; i++)
		payload(buf + i * size, size, i);
	{
		cJSON *s = status(t);

		cap = num3(s, "queue_capacity_bytes", NULL);
		cJSON_Delete(s);
	}
	t0 = clock_mono_us();
	for (i = 1; i <= frames; i++) {
		if (i % 256 == 0) {
			for (;;) {
				cJSON *s = status(t);
				double q = num3(s, "queued_bytes", NULL);

				cJSON_Delete(s);
				/* one buffer is half the capacity: keep under 80 % of it */
				if (q < cap * 0.4)
					break;
				usleep(1000);
			}
		}
		tape_record(t, i % nch, "0123456789abcdef", i / nch + 1, (int64_t)clock_now_ms(),
			    buf + (i % NPAY) * size, size);
	}
	for (;;) {
		cJSON *s = status(t);

		recorded = num3(s, "recorded", NULL);
		lost = num3(s, "not_recorded", "total");
		cJSON_Delete(s);
		if (recorded + lost >= (double)frames)
			break;
		usleep(1000);
	}
	t1 = clock_mono_us();
	tape_close(t);
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	      (double)ru.ru_stime.tv_usec / 1e6;
	if (stat(path, &st))
		st.st_size = 0;
	printf("{\"frames\":%llu,\"size\":%zu,\"channels\":%llu,\"seconds\":%.3f,\"frames_per_s\":%.0f,"
	       "\"mb_per_s\":%.1f,\"not_recorded\":%.0f,\"file_bytes\":%lld,\"bytes_per_million\":%.0f,"
	       "\"peak_rss_kb\":%ld,\"cpu_s\":%.2f,\"frames_per_cpu_s\":%.0f}\n",
	       (unsigned long long)frames, size, (unsigned long long)nch, (double)(t1 - t0) / 1e6,
	       (double)frames * 1e6 / (double)(t1 - t0), (double)frames * (double)size / (double)(t1 - t0),
	       lost, (long long)st.st_size, (double)st.st_size * 1e6 / (double)frames, ru.ru_maxrss, cpu,
	       (double)frames / cpu);
	free(buf);
	return lost > 0;
}
