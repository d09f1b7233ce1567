/*
 * mime: walks one raw message with GMime and hands its content to a sink as
 * UTF-8: every header (RFC 2047 decoded, unfolded; a message's headers in
 * input order, Content-* included), every leaf part's type
 * and file name, the text of every text part (transfer encoding removed,
 * charset converted, HTML reduced to text), plus the URLs and HTML features
 * found on the way.
 *
 * It owns charset handling: declared charsets go through iconv, undeclared or
 * lying ones are guessed (UTF-8, ISO-2022-JP, Shift_JIS, EUC-JP, then
 * windows-1252), so Japanese mail arrives as real text. Everything it reads
 * is hostile: decoded text is capped per part and per message, nesting and
 * part counts are capped, and malformed MIME is parsed as well as GMime can.
 * It never decodes non-text attachments, never writes anything and never
 * logs.
 */
#ifndef POPGATE_MIME_H
#define POPGATE_MIME_H

#include <stddef.h>

struct mime_limits {
	size_t part_text_max;   /* decoded UTF-8 bytes kept per text part */
	size_t total_text_max;  /* ... and per message */
	size_t header_max;      /* bytes of one header value passed on */
	unsigned parts_max;     /* leaf parts visited */
	unsigned depth_max;     /* multipart / message nesting */
};

/* 256 KiB per part, 1 MiB per message, 4 KiB per header, 256 parts, depth 16. */
extern const struct mime_limits mime_default_limits;

/* Callbacks; any may be NULL. Strings are valid only during the call. */
struct mime_sink {
	/* depth 0 for the message itself, 1+ for attached messages. */
	void (*header)(void *ctx, unsigned depth, const char *name, const char *value);
	/* A leaf part: "type/subtype" lower case, file name or NULL, charset or NULL. */
	void (*part)(void *ctx, const char *ctype, const char *filename, const char *charset);
	/* Decoded text of a text part; html says it came from text/html. */
	void (*text)(void *ctx, const char *utf8, size_t len, int html);
	/* A feature of the markup, e.g. "tag:font", "comment", "hidden". */
	void (*feature)(void *ctx, const char *name);
	/* A URL from an HTML attribute (href, src, action). */
	void (*url)(void *ctx, const char *url, size_t len);
};

/* Once per process, before the first parse; safe to call repeatedly. */
void mime_init(void);

/* Parses the message readable from fd at offset 0 (the fd offset moves). */
int mime_parse_fd(int fd, const struct mime_limits *lim, const struct mime_sink *sink, void *ctx,
    const char **error_r);
int mime_parse_mem(const void *buf, size_t len, const struct mime_limits *lim, const struct mime_sink *sink,
    void *ctx, const char **error_r);

/*
 * Converts len bytes in charset (NULL or "": unknown, guessed) into UTF-8,
 * at most out_max bytes. Returns a malloc'd NUL-terminated string and its
 * length in *len_r. Invalid input becomes U+FFFD. Never fails but on ENOMEM.
 */
char *mime_to_utf8(const char *charset, const char *in, size_t len, size_t out_max, size_t *len_r);

/*
 * HTML to text: appends the visible text to out (at most out_max bytes),
 * reports tag features and URLs to the sink. Returns the text length.
 */
size_t mime_html_to_text(const char *html, size_t len, char *out, size_t out_max,
    const struct mime_sink *sink, void *ctx);

#endif
