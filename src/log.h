/*
 * log: levelled logging to stderr for the whole daemon.
 *
 * Owns the log level and the line format: "TIME LEVEL [ctx] message".
 * Every line should carry the session or account id as ctx. Text that
 * came from the network must go through log_sanitize() first. Nothing
 * here may ever print a password, token or key: callers mask them.
 * Low-level modules do not log; they return errors to their callers.
 */
#ifndef POPGATE_LOG_H
#define POPGATE_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *name, enum log_level *level_r);

void log_error(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like log_error() but at warn level and appends ": strerror(errno)". */
void log_warn(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_info(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints to stderr and exits 1. Only at start-up or on a broken invariant. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Copies remote text into buf (size > 0) with control and non-ASCII bytes
 * replaced by '?', cut at max_len bytes with "..." appended. Returns buf.
 */
const char *log_sanitize(const char *text, size_t len, size_t max_len, char *buf, size_t size);

#endif
