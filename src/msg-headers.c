#include "msg-headers.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>

void
msg_headers_init(void)
{
	g_mime_init();
}

void
msg_headers_clear(struct msg_headers *h)
{
	free(h->from_addr);
	free(h->from_name);
	free(h->subject);
	free(h->date);
	memset(h, 0, sizeof(*h));
}

/* Returns the unfolded value of the first header called name, malloc'd, or NULL. */
static char *
find_header(const char *buf, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		size_t eol = i;
		while (eol < len && buf[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && buf[i] == '\r'))
			break;	/* blank line: end of headers */
		if (eol - i > nlen && strncasecmp(buf + i, name, nlen) == 0 && buf[i + nlen] == ':') {
			/* Collect this line and its continuation lines. */
			size_t start = i + nlen + 1, end = eol, o = 0;
			char *out;
			while (end + 1 < len && (buf[end + 1] == ' ' || buf[end + 1] == '\t')) {
				end++;
				while (end < len && buf[end] != '\n')
					end++;
			}
			if ((out = malloc(end - start + 1)) == NULL)
				return NULL;
			for (size_t k = start; k < end; k++) {
				if (buf[k] == '\r' || buf[k] == '\n')
					continue;
				out[o++] = buf[k];
			}
			out[o] = '\0';
			return out;
		}
		i = eol + 1;
	}
	return NULL;
}

static char *
trim_dup(const char *s)
{
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return strndup(s, len);
}

static void
parse_from(const char *value, struct msg_headers *h)
{
	InternetAddressList *list = internet_address_list_parse(NULL, value);
	InternetAddress *ia;

	if (list != NULL && internet_address_list_length(list) > 0) {
		ia = internet_address_list_get_address(list, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
			const char *name = internet_address_get_name(ia);
			h->from_addr = strdup(addr ? addr : "");
			h->from_name = strdup(name ? name : "");
		}
	}
	if (list != NULL)
		g_object_unref(list);
	if (h->from_addr != NULL) {
		for (char *p = h->from_addr; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	}
}

int
msg_headers_parse(const char *buf, size_t len, struct msg_headers *h_r)
{
	char *v;

	memset(h_r, 0, sizeof(*h_r));
	if ((v = find_header(buf, len, "From")) != NULL) {
		parse_from(v, h_r);
		free(v);
	}
	if ((v = find_header(buf, len, "Subject")) != NULL) {
		h_r->has_subject = 1;
		char *dec = g_mime_utils_header_decode_text(NULL, v);
		h_r->subject = trim_dup(dec ? dec : v);
		g_free(dec);
		free(v);
	}
	if ((v = find_header(buf, len, "Date")) != NULL) {
		h_r->date = trim_dup(v);
		free(v);
	}
	if (h_r->from_addr == NULL)
		h_r->from_addr = strdup("");
	if (h_r->from_name == NULL)
		h_r->from_name = strdup("");
	if (h_r->subject == NULL)
		h_r->subject = strdup("");
	if (h_r->date == NULL)
		h_r->date = strdup("");
	if (!h_r->from_addr || !h_r->from_name || !h_r->subject || !h_r->date) {
		msg_headers_clear(h_r);
		return -1;
	}
	return 0;
}

int
msg_headers_read(int fd, struct msg_headers *h_r)
{
	char *buf = malloc(MSG_HEADERS_MAX);
	size_t len = 0;
	ssize_t n;
	int rc;

	if (buf == NULL)
		return -1;
	while (len < MSG_HEADERS_MAX && (n = pread(fd, buf + len, MSG_HEADERS_MAX - len, (off_t)len)) > 0) {
		len += (size_t)n;
		if (memmem(buf, len, "\n\r\n", 3) != NULL || memmem(buf, len, "\n\n", 2) != NULL)
			break;
	}
	rc = msg_headers_parse(buf, len, h_r);
	free(buf);
	return rc;
}
