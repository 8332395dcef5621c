/* main.c: arguments, configuration, run, tear down. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "isotime.h"
#include "log.h"
#include "relay.h"
#include "replay.h"
#include "version.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: uwrelay [-c FILE] [--check-config] [--version] [--help]\n"
		"       uwrelay [-c FILE] --replay TAPE [--speed N|max] [--from ISO] [--to ISO] [--loop]\n"
		"\n"
		"Relays the Unusual Whales WebSocket to browsers over one upstream connection.\n"
		"\n"
		"  -c, --config FILE   YAML configuration (default: built-in defaults)\n"
		"  -t, --check-config  parse and validate the configuration, print\n"
		"                      'configuration OK' and exit 0, or the error and exit 1\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n"
		"  --replay TAPE       feed the frames recorded in TAPE (the tape.path SQLite\n"
		"                      file) to browsers instead of connecting to UW\n"
		"  --speed N           N times the recorded pace (default 1); 0 or max: as\n"
		"                      fast as the relay takes them\n"
		"  --from ISO, --to ISO  only frames received in [from, to), e.g.\n"
		"                      2026-12-03T14:30:00Z (no zone: UTC)\n"
		"  --loop              start again at the end\n"
		"\n"
		"The UW token comes from UW_API_TOKEN (or UW_KEY) in the environment, or from\n"
		"upstream.token_file. Without one the relay serves but does not connect.\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "replay", required_argument, NULL, 'R' },
		{ "speed", required_argument, NULL, 'S' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "loop", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct replay_opts ro = { NULL, 1, INT64_MIN, INT64_MAX, 0 };
	int replay_flags = 0;
	const char *path = NULL;
	int check = 0, c, rc;
	struct config cfg;
	struct relay relay;
	char err[512];

	while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("uwrelay %s\n", UWRELAY_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'R':
			ro.path = optarg;
			break;
		case 'S':
			if (replay_parse_speed(optarg, &ro.speed)) {
				fprintf(stderr, "uwrelay: --speed must be a number (1 = as recorded, 10 = ten "
					"times faster) or max, not '%s'\n", optarg);
				return 2;
			}
			replay_flags = 1;
			break;
		case 'F':
		case 'T':
			if (isotime_parse(optarg, c == 'F' ? &ro.from_ms : &ro.to_ms)) {
				fprintf(stderr, "uwrelay: --%s must be an ISO 8601 time such as "
					"2026-12-03T14:30:00Z, not '%s'\n", c == 'F' ? "from" : "to", optarg);
				return 2;
			}
			replay_flags = 1;
			break;
		case 'L':
			ro.loop = 1;
			replay_flags = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uwrelay: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (replay_flags && !ro.path) {
		fprintf(stderr, "uwrelay: --speed, --from, --to and --loop go with --replay TAPE\n");
		return 2;
	}
	if (ro.path && ro.from_ms != INT64_MIN && ro.to_ms != INT64_MAX && ro.to_ms <= ro.from_ms) {
		fprintf(stderr, "uwrelay: --to must be later than --from\n");
		return 2;
	}
	if (path ? config_load(path, &cfg, err, sizeof(err)) :
		   (config_defaults(&cfg) ? (snprintf(err, sizeof(err), "out of memory"), -1) : 0)) {
		fprintf(stderr, "uwrelay: %s\n", err);
		return 1;
	}
	if (check) {
		printf("configuration OK\n");
		config_free(&cfg);
		return 0;
	}
	log_set_level(log_level_from_name(cfg.log_level));
	lws_set_log_level(log_lws_mask(), log_lws_emit);

	if (relay_init(&relay, &cfg, path, ro.path ? &ro : NULL)) {
		relay_destroy(&relay);
		config_free(&cfg);
		return 1;
	}
	rc = relay_run(&relay);
	log_msg(LOG_INFO, "relay: stopped");
	relay_destroy(&relay);
	return rc;
}
