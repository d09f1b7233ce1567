#include "cmd.h"

#include <getopt.h>
#include <stdio.h>

int
cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = NULL;
	struct config *cf;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			printf("usage: popgate check-config -c FILE\n"
			    "Reads FILE and prints \"configuration OK\" or the first error with its line.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (path == NULL) {
		fprintf(stderr, "usage: popgate check-config -c FILE\n");
		return 2;
	}
	if ((cf = cmd_load_config(path)) == NULL)
		return 1;
	printf("configuration OK\n");
	config_free(&cf);
	return 0;
}
