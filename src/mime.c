/*
 * mime.c: the GMime walk. See mime.h. Charset conversion is in
 * mime-charset.c, HTML reduction in mime-html.c.
 */
#include "mime.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct mime_limits mime_default_limits = {
	.part_text_max = 256 * 1024,
	.total_text_max = 1024 * 1024,
	.header_max = 4096,
	.parts_max = 256,
	.depth_max = 16,
};

struct walk {
	const struct mime_limits *lim;
	const struct mime_sink *sink;
	void *ctx;
	size_t text_used;
	unsigned parts;
};

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;
static GMimeParserOptions *mime_options;

static void
mime_init_once(void)
{
	static const char *fallback[] = { "UTF-8", "ISO-2022-JP", "Shift_JIS", "EUC-JP", "windows-1252", NULL };

	g_mime_init();
	mime_options = g_mime_parser_options_new();
	g_mime_parser_options_set_rfc2047_compliance_mode(mime_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(mime_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(mime_options, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_fallback_charsets(mime_options, fallback);
}

void
mime_init(void)
{
	pthread_once(&mime_once, mime_init_once);
}

/*
 * A plain ASCII value without encoded words decodes to itself: unfold it
 * here as GMime would (trim, drop CR and LF) and spare the decoder, which
 * is otherwise the most expensive step of reading a message. Returns the
 * length written to buf, or -1 if the value needs GMime.
 */
static ssize_t
plain_unfold(const char *raw, char *buf, size_t size)
{
	const char *start = raw, *end;
	size_t o = 0;

	for (const char *p = raw; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80 || (p[0] == '=' && p[1] == '?'))
			return -1;
	}
	while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
		start++;
	end = start + strlen(start);
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	for (const char *p = start; p < end && o < size - 1; p++) {
		if (*p != '\r' && *p != '\n')
			buf[o++] = *p;
	}
	buf[o] = '\0';
	return (ssize_t)o;
}

static void
walk_header(struct walk *w, GMimeHeader *h, unsigned depth)
{
	const char *name = g_mime_header_get_name(h);
	const char *raw = g_mime_header_get_raw_value(h), *value;
	char cut[8192];
	size_t max = w->lim->header_max < sizeof(cut) - 1 ? w->lim->header_max : sizeof(cut) - 1;

	if (name == NULL)
		return;
	if (raw != NULL && plain_unfold(raw, cut, max + 1) >= 0) {
		w->sink->header(w->ctx, depth, name, cut);
		return;
	}
	if ((value = g_mime_header_get_value(h)) == NULL)
		value = "";
	if (strlen(value) > max) {
		size_t m = max;

		/* do not cut a UTF-8 sequence in half */
		while (m > 0 && ((unsigned char)value[m] & 0xC0) == 0x80)
			m--;
		memcpy(cut, value, m);
		cut[m] = '\0';
		value = cut;
	}
	w->sink->header(w->ctx, depth, name, value);
}

/*
 * The headers of a message in the order they were written. GMime keeps the
 * Content-* headers with the message's top part, not with the message: the
 * two lists are merged back by their offsets in the input.
 */
static void
walk_headers(struct walk *w, GMimeObject *obj, unsigned depth)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj), *pl = NULL;
	GMimeObject *top;
	int n, pn = 0, i = 0, j = 0;

	if (w->sink->header == NULL || hl == NULL)
		return;
	n = g_mime_header_list_get_count(hl);
	if (GMIME_IS_MESSAGE(obj) && (top = g_mime_message_get_mime_part(GMIME_MESSAGE(obj))) != NULL &&
	    (pl = g_mime_object_get_header_list(top)) != NULL)
		pn = g_mime_header_list_get_count(pl);
	while ((i < n || j < pn) && i + j < 512) {
		GMimeHeader *a = i < n ? g_mime_header_list_get_header_at(hl, i) : NULL;
		GMimeHeader *b = j < pn ? g_mime_header_list_get_header_at(pl, j) : NULL;

		if (b == NULL || (a != NULL && g_mime_header_get_offset(a) <= g_mime_header_get_offset(b))) {
			walk_header(w, a, depth);
			i++;
		} else {
			walk_header(w, b, depth);
			j++;
		}
	}
}

/*
 * Reads the transfer-decoded content of a part, at most max bytes, into a
 * new buffer (*buf_r, to free). Decoding never makes content longer, so the
 * encoded length bounds the buffer and small parts cost small buffers.
 */
static size_t
read_decoded(GMimePart *part, char **buf_r, size_t max)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(part);
	GMimeStream *raw, *filtered;
	GMimeFilter *dec;
	gint64 enc_len;
	size_t got = 0;
	char *buf;

	*buf_r = NULL;
	if (dw == NULL || (raw = g_mime_data_wrapper_get_stream(dw)) == NULL)
		return 0;
	if (g_mime_stream_reset(raw) == -1)
		return 0;
	enc_len = g_mime_stream_length(raw);
	if (enc_len >= 0 && (size_t)enc_len < max)
		max = (size_t)enc_len + 16;    /* uuencode may carry a little slack */
	if ((buf = malloc(max + 1)) == NULL)
		return 0;
	*buf_r = buf;
	filtered = g_mime_stream_filter_new(raw);
	switch (g_mime_data_wrapper_get_encoding(dw)) {
	case GMIME_CONTENT_ENCODING_BASE64:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_UUENCODE:
		dec = g_mime_filter_basic_new(g_mime_data_wrapper_get_encoding(dw), FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), dec);
		g_object_unref(dec);
		break;
	default:
		break;
	}
	while (got < max) {
		ssize_t n = g_mime_stream_read(filtered, buf + got, max - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	g_object_unref(filtered);
	return got;
}

static void
walk_leaf(struct walk *w, GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
	const char *charset = ct != NULL ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
	const char *filename = GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
	char ctype[128];
	size_t room, raw_len, len;
	char *utf8, *raw;
	int html;

	snprintf(ctype, sizeof(ctype), "%s/%s", type != NULL ? type : "text", sub != NULL ? sub : "plain");
	for (char *p = ctype; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	}
	if (w->sink->part != NULL)
		w->sink->part(w->ctx, ctype, filename, charset);
	if (!GMIME_IS_PART(obj) || strncmp(ctype, "text/", 5) != 0)
		return;
	/* A text attachment with a file name is still read: spam hides there too. */
	if (w->text_used >= w->lim->total_text_max)
		return;
	room = w->lim->total_text_max - w->text_used;
	if (room > w->lim->part_text_max)
		room = w->lim->part_text_max;
	raw_len = read_decoded(GMIME_PART(obj), &raw, room);
	if (raw_len == 0) {
		free(raw);
		return;
	}
	html = strcmp(ctype, "text/html") == 0;
	/* UTF-8 from any charset takes at most 3 bytes per input byte */
	if (room > raw_len * 3 + 16)
		room = raw_len * 3 + 16;
	utf8 = mime_to_utf8(charset, raw, raw_len, room, &len);
	free(raw);
	if (utf8 == NULL)
		return;
	if (html) {
		char *txt = malloc(len + 1);

		if (txt == NULL) {
			free(utf8);
			return;
		}
		len = mime_html_to_text(utf8, len, txt, len, w->sink, w->ctx);
		if (w->sink->text != NULL)
			w->sink->text(w->ctx, txt, len, 1);
		free(txt);
	} else if (w->sink->text != NULL)
		w->sink->text(w->ctx, utf8, len, 0);
	w->text_used += len;
	free(utf8);
}

static void
walk_object(struct walk *w, GMimeObject *obj, unsigned depth, unsigned msgdepth)
{
	if (obj == NULL || depth > w->lim->depth_max)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n && w->parts < w->lim->parts_max; i++)
			walk_object(w, g_mime_multipart_get_part(mp, i), depth + 1, msgdepth);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (w->sink->part != NULL)
			w->sink->part(w->ctx, "message/rfc822", NULL, NULL);
		if (inner == NULL)
			return;
		walk_headers(w, GMIME_OBJECT(inner), msgdepth + 1);
		walk_object(w, g_mime_message_get_mime_part(inner), depth + 1, msgdepth + 1);
		return;
	}
	w->parts++;
	walk_leaf(w, obj);
}

static int
parse_stream(GMimeStream *stream, const struct mime_limits *lim, const struct mime_sink *sink, void *ctx,
    const char **error_r)
{
	GMimeParser *parser;
	GMimeMessage *msg;
	struct walk w;

	mime_init();
	if (lim == NULL)
		lim = &mime_default_limits;
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, mime_options);
	g_object_unref(parser);
	if (msg == NULL) {
		*error_r = "not a message";
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.lim = lim;
	w.sink = sink;
	w.ctx = ctx;
	walk_headers(&w, GMIME_OBJECT(msg), 0);
	walk_object(&w, g_mime_message_get_mime_part(msg), 0, 0);
	g_object_unref(msg);
	return 0;
}

/* Messages up to this size are read in one go; larger ones are parsed from the file. */
#define MIME_READ_WHOLE (256 * 1024)

int
mime_parse_fd(int fd, const struct mime_limits *lim, const struct mime_sink *sink, void *ctx,
    const char **error_r)
{
	GMimeStream *stream;
	struct stat sb;
	int ret;

	mime_init();
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size <= MIME_READ_WHOLE) {
		/* small mail: one read instead of GMime's seek-and-read per block */
		GByteArray *ba = g_byte_array_sized_new((guint)sb.st_size + 1);
		size_t got = 0;

		g_byte_array_set_size(ba, (guint)sb.st_size);
		while (got < (size_t)sb.st_size) {
			ssize_t n = pread(fd, ba->data + got, (size_t)sb.st_size - got, (off_t)got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		g_byte_array_set_size(ba, (guint)got);
		stream = g_mime_stream_mem_new_with_byte_array(ba);     /* owns ba now */
	} else {
		if (lseek(fd, 0, SEEK_SET) == -1) {
			*error_r = "cannot seek the message";
			return -1;
		}
		stream = g_mime_stream_fs_new_with_bounds(fd, 0, -1);
		g_mime_stream_fs_set_owner(GMIME_STREAM_FS(stream), FALSE);
	}
	ret = parse_stream(stream, lim, sink, ctx, error_r);
	g_object_unref(stream);
	return ret;
}

int
mime_parse_mem(const void *buf, size_t len, const struct mime_limits *lim, const struct mime_sink *sink,
    void *ctx, const char **error_r)
{
	GMimeStream *stream;
	int ret;

	mime_init();
	stream = g_mime_stream_mem_new_with_buffer(buf, len);
	ret = parse_stream(stream, lim, sink, ctx, error_r);
	g_object_unref(stream);
	return ret;
}
