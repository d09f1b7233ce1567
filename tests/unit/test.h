/*
 * A tiny TAP producer for C unit tests: each CHECK is one numbered result,
 * and test_done() prints the plan and returns the exit code.
 */
#ifndef POPGATE_TEST_H
#define POPGATE_TEST_H

#include <stdio.h>
#include <string.h>

static int test_count, test_failed;

#define CHECK(cond, ...) do { \
	int c_ = (cond) ? 1 : 0; \
	test_count++; \
	if (c_) { printf("ok %d - ", test_count); } \
	else { test_failed++; printf("not ok %d - ", test_count); } \
	printf(__VA_ARGS__); putchar('\n'); \
	if (!c_) printf("# failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	fflush(stdout); \
} while (0)

#define CHECK_STR(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int ok_ = (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0) || (g_ == NULL && w_ == NULL); \
	CHECK(ok_, __VA_ARGS__); \
	if (!ok_) printf("#   got:  \"%s\"\n#   want: \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

static inline int
test_done(void)
{
	printf("1..%d\n", test_count);
	return test_failed == 0 ? 0 : 1;
}

#endif
