#include "cmd.h"

#include <stdio.h>

int
cmd_serve(int argc, char **argv)
{
	fprintf(stderr, "popgate: serve is not built yet\n");
	return 1;
}
