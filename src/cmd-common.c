#include "cmd.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
cmd_verb_args(int argc, char **argv, const char *usage, const char **path_r, const char **verb_r)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	*path_r = NULL;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': *path_r = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	*verb_r = argv[optind++];
	return -1;
}

struct config *
cmd_load_config(const char *path)
{
	char err[1024];
	struct config *cf = config_load(path, err, sizeof(err));

	if (cf == NULL) {
		fprintf(stderr, "popgate: %s\n", err);
		return NULL;
	}
	log_set_level((enum log_level)cf->log_level);
	return cf;
}

struct store *
cmd_open_store(const struct config *cf)
{
	struct store *st;
	const char *error;
	char *path;

	if (mkdir(cf->state_dir, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "popgate: cannot create state_dir %s: %s\n", cf->state_dir, strerror(errno));
		return NULL;
	}
	if ((path = config_state_path(cf, "popgate.db")) == NULL)
		fatal("out of memory");
	if (store_open(path, &st, &error) == -1) {
		fprintf(stderr, "popgate: %s: %s\n", path, error);
		free(path);
		return NULL;
	}
	free(path);
	return st;
}

char *
cmd_read_password(const char *file)
{
	FILE *fp = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		fprintf(stderr, "popgate: cannot read password file %s: %s\n", file, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, fp);
	if (fp != stdin)
		fclose(fp);
	if (n <= 0) {
		fprintf(stderr, "popgate: password file %s is empty\n", file);
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "popgate: password file %s holds an empty password\n", file);
		free(line);
		return NULL;
	}
	return line;
}
