/*
 * Runs a fuzz target over the files named on the command line, so every
 * target is built and exercised by `make check` even without libFuzzer.
 * With --enable-fuzz the targets link libFuzzer's own main instead.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		FILE *fp = fopen(argv[i], "rb");
		uint8_t *buf;
		long len;

		if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0) {
			fprintf(stderr, "cannot read %s\n", argv[i]);
			return 1;
		}
		rewind(fp);
		if ((buf = malloc((size_t)len + 1)) == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
			fprintf(stderr, "cannot read %s\n", argv[i]);
			return 1;
		}
		fclose(fp);
		LLVMFuzzerTestOneInput(buf, (size_t)len);
		free(buf);
		n++;
	}
	printf("ok 1 - %d inputs replayed without a crash\n1..1\n", n);
	return 0;
}
