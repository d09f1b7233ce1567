#include "cmd.h"
#include <stdio.h>
int
cmd_quarantine(int argc, char **argv)
{
	fprintf(stderr, "popgate: quarantine: not yet\n");
	return 1;
}
