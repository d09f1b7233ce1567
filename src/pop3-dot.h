/*
 * pop3-dot: the wire format of POP3 lines: streaming dot-stuffing of a
 * message for a multi-line reply (RFC 1939 section 3), chunk by chunk so a
 * message is never held whole, and splitting a command line into words.
 */
#ifndef POPGATE_POP3_DOT_H
#define POPGATE_POP3_DOT_H

#include <stddef.h>

struct pop3_dot {
	int line_start;   /* the next byte starts a line */
	int any;          /* at least one byte was encoded */
};

void pop3_dot_init(struct pop3_dot *d);
/* Encodes len bytes of in into out, which must hold 2 * len bytes. Returns the bytes written. */
size_t pop3_dot_encode(struct pop3_dot *d, const char *in, size_t len, char *out);
/*
 * Splits a POP3 command line in place into at most max words separated by
 * spaces. The argument of PASS is kept whole (a password may hold spaces).
 * Returns the word count, or -1 when there are more than max words.
 */
int pop3_split_args(char *line, char **argv, int max);
/*
 * Finds where a Subject prefix goes while a message streams by: just after
 * the colon of the first header line named Subject (any case), never past
 * the blank line that ends the header block.
 */
struct pop3_subject {
	int line_start;   /* the next byte starts a line */
	int matched;      /* bytes of "subject:" matched at this line's start */
	int blank;        /* the current line is empty so far (CR aside) */
	int done;         /* found, or the header block ended */
	int found;        /* the colon was found (once) */
};
void pop3_subject_init(struct pop3_subject *ps);
/* Scans len bytes; returns the index just past that colon, or len when it is not in them. */
size_t pop3_subject_find(struct pop3_subject *ps, const char *in, size_t len);
/* Writes the terminator into out (6 bytes): a CRLF if the data did not end a line, then ".\r\n". */
size_t pop3_dot_finish(struct pop3_dot *d, char *out);

#endif
