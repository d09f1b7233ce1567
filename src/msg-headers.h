/*
 * msg-headers: the display fields of a raw message (From address, Subject,
 * Date), read from the header block of a spool file with a hard ceiling.
 * RFC 2047 words are decoded to UTF-8 through GMime; the body is never read.
 */
#ifndef POPGATE_MSG_HEADERS_H
#define POPGATE_MSG_HEADERS_H

#include <stddef.h>

#define MSG_HEADERS_MAX (256 * 1024)

struct msg_headers {
	char *from_addr;   /* lower-case address, "" when none */
	char *from_name;   /* display name, decoded, "" when none */
	char *subject;     /* decoded, "" when none */
	char *date;        /* as written, "" when none */
	int has_subject;   /* the header block holds a Subject line */
};

/* Reads the header block of the message in fd (from offset 0). */
int msg_headers_read(int fd, struct msg_headers *h_r);
/* Same, from a buffer. */
int msg_headers_parse(const char *buf, size_t len, struct msg_headers *h_r);
void msg_headers_clear(struct msg_headers *h);
/* Once per process, before threads start. */
void msg_headers_init(void);

#endif
