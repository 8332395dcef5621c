/* main.c: arguments, configuration, run, tear down. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "log.h"
#include "relay.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: uwrelay [-c FILE] [--check-config] [--version] [--help]\n"
		"\n"
		"Relays the Unusual Whales WebSocket to browsers over one upstream connection.\n"
		"\n"
		"  -c, --config FILE   YAML configuration (default: built-in defaults)\n"
		"  -t, --check-config  parse and validate the configuration, print\n"
		"                      'configuration OK' and exit 0, or the error and exit 1\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n"
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
		{ NULL, 0, NULL, 0 }
	};
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

	if (relay_init(&relay, &cfg, path)) {
		relay_destroy(&relay);
		config_free(&cfg);
		return 1;
	}
	rc = relay_run(&relay);
	log_msg(LOG_INFO, "relay: stopped");
	relay_destroy(&relay);
	return rc;
}
