#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level current_level = LOG_LVL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level
log_get_level(void)
{
	return current_level;
}

int
log_level_parse(const char *name, enum log_level *level_r)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void log_vline(enum log_level, const char *, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
log_vline(enum log_level level, const char *ctx, const char *suffix, const char *fmt, va_list ap)
{
	char when[32];
	struct timespec ts;
	struct tm tm;

	if (level > current_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s.%03ldZ %s", when, ts.tv_nsec / 1000000, level_names[level]);
	if (ctx != NULL && *ctx != '\0')
		fprintf(stderr, " [%s]", ctx);
	fputc(' ', stderr);
	vfprintf(stderr, fmt, ap);
	if (suffix != NULL)
		fprintf(stderr, ": %s", suffix);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

/* The plain levels differ only in their level. */
#define LOG_AT(name, level)						\
void									\
name(const char *ctx, const char *fmt, ...)				\
{									\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	log_vline(level, ctx, NULL, fmt, ap);				\
	va_end(ap);							\
}
LOG_AT(log_error, LOG_LVL_ERROR)
LOG_AT(log_warnx, LOG_LVL_WARN)
LOG_AT(log_info, LOG_LVL_INFO)
LOG_AT(log_debug, LOG_LVL_DEBUG)

void
log_warn(const char *ctx, const char *fmt, ...)
{
	char buf[128];
	const char *err = strerror_r(errno, buf, sizeof(buf));
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LVL_WARN, ctx, err, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("popgate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *
log_sanitize(const char *text, size_t len, size_t max_len, char *buf, size_t size)
{
	size_t i, n = 0;

	if (size == 0)
		return buf;
	for (i = 0; i < len && i < max_len && n + 4 < size; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < len && n + 4 <= size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}
