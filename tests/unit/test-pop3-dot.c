/* Dot-stuffing and command splitting: the bytes a POP3 client sees. */
#include "pop3-dot.h"
#include "test.h"

#include <stdlib.h>

/* Encodes in, split into chunks of chunk bytes, and returns the full reply body. */
static char *
stuff(const char *in, size_t chunk)
{
	static char out[4096];
	struct pop3_dot d;
	size_t len = strlen(in), o = 0;

	pop3_dot_init(&d);
	for (size_t i = 0; i < len; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk;
		o += pop3_dot_encode(&d, in + i, n, out + o);
	}
	o += pop3_dot_finish(&d, out + o);
	out[o] = '\0';
	return out;
}

/* Where the prefix goes, feeding in chunks of chunk bytes: index in the whole message, or -1. */
static long
subject_at(const char *msg, size_t chunk)
{
	struct pop3_subject ps;
	size_t len = strlen(msg);

	pop3_subject_init(&ps);
	for (size_t i = 0; i < len; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk;
		size_t at = pop3_subject_find(&ps, msg + i, n);
		if (ps.found)
			return (long)(i + at);
	}
	return -1;
}

int
main(void)
{
	char line[256], *argv[8];
	int argc;

	CHECK_STR(stuff("a\r\nb\r\n", 100), "a\r\nb\r\n.\r\n", "plain lines pass through");
	CHECK_STR(stuff(".a\r\n..b\r\n.\r\n", 100), "..a\r\n...b\r\n..\r\n.\r\n", "leading dots doubled");
	CHECK_STR(stuff("x\r\n.y\r\n", 1), "x\r\n..y\r\n.\r\n", "stuffing across 1-byte chunks");
	CHECK_STR(stuff("x\r\n.y\r\n", 3), "x\r\n..y\r\n.\r\n", "stuffing across a chunk boundary at line start");
	CHECK_STR(stuff("a.b\r\n", 100), "a.b\r\n.\r\n", "dots inside a line untouched");
	CHECK_STR(stuff("no newline", 100), "no newline\r\n.\r\n", "unterminated last line gets CRLF");
	CHECK_STR(stuff("", 100), ".\r\n", "empty message is just the terminator");
	CHECK_STR(stuff("a\n.b\n", 100), "a\n..b\n.\r\n", "bare LF line starts are stuffed too");

	strcpy(line, "RETR 1");
	argc = pop3_split_args(line, argv, 8);
	CHECK(argc == 2 && strcmp(argv[0], "RETR") == 0 && strcmp(argv[1], "1") == 0, "RETR 1 splits in two");
	strcpy(line, "  TOP   1  10 ");
	argc = pop3_split_args(line, argv, 8);
	CHECK(argc == 3 && strcmp(argv[2], "10") == 0, "extra spaces ignored");
	strcpy(line, "PASS secret with  spaces");
	argc = pop3_split_args(line, argv, 8);
	CHECK(argc == 2 && strcmp(argv[1], "secret with  spaces") == 0, "PASS keeps the rest of the line");
	strcpy(line, "pass lower case");
	argc = pop3_split_args(line, argv, 8);
	CHECK(argc == 2 && strcmp(argv[1], "lower case") == 0, "pass is case-insensitive");
	strcpy(line, "");
	CHECK(pop3_split_args(line, argv, 8) == 0, "empty line has no words");
	strcpy(line, "a b c d e f g h i");
	CHECK(pop3_split_args(line, argv, 8) == -1, "too many words refused");
	CHECK(subject_at("From: a\r\nSubject: hi\r\n\r\nbody\r\n", 100) == 17, "prefix goes after Subject:");
	CHECK(subject_at("From: a\r\nSubject: hi\r\n\r\nbody\r\n", 1) == 17, "found across 1-byte chunks");
	CHECK(subject_at("SUBJECT:x\r\n\r\n", 4) == 8, "any case, at the very start");
	CHECK(subject_at("X-Subject: no\r\nSubject: yes\r\n\r\n", 100) == 23, "X-Subject is not Subject");
	CHECK(subject_at("From: a\r\n\r\nSubject: in the body\r\n", 100) == -1, "never past the header block");
	CHECK(subject_at("From: a\n\nSubject: body\n", 3) == -1, "bare LF blank line ends the headers too");
	CHECK(subject_at("From: a\r\n Subject: folded\r\n\r\n", 100) == -1, "a continuation line is not a header");
	return test_done();
}
