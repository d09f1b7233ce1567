/*
 * dns-wire: builds queries and decodes replies. See dns-wire.h.
 */
#include "dns-wire.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HDR_LEN 12
#define CLASS_IN 1
#define OPT_PADDING 12          /* EDNS(0) option code, RFC 7830 */
#define EDNS_UDP_SIZE 1232
#define MAX_POINTERS 64

static const struct {
	int type;
	const char *name;
} types[] = {
	{ DNS_T_A, "A" }, { DNS_T_NS, "NS" }, { DNS_T_CNAME, "CNAME" }, { DNS_T_SOA, "SOA" },
	{ DNS_T_PTR, "PTR" }, { DNS_T_MX, "MX" }, { DNS_T_TXT, "TXT" }, { DNS_T_AAAA, "AAAA" },
	{ DNS_T_OPT, "OPT" }
};

static const char *rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"
};

const char *
dns_wire_type_name(int type)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return types[i].name;
	return NULL;
}

int
dns_wire_type_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(types[i].name, name) == 0)
			return types[i].type;
	return -1;
}

const char *
dns_wire_rcode_name(int rcode)
{
	if (rcode >= 0 && (size_t)rcode < sizeof(rcodes) / sizeof(rcodes[0]))
		return rcodes[rcode];
	if (rcode == 16)
		return "BADVERS";
	return "RCODE?";
}

/* Host names given to us: printable ASCII without spaces, quotes or escapes. */
static int
name_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '(' && c != ')' && c != ';';
}

int
dns_wire_name_canon(const char *name, char *out, size_t outsize, const char **error_r)
{
	size_t len = strlen(name), label = 0, wire = 1, o = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		*error_r = "empty name";
		return -1;
	}
	if (len + 1 > outsize) {
		*error_r = "name too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0) {
				*error_r = "empty label in name";
				return -1;
			}
			wire += label + 1;
			label = 0;
		} else if (!name_char_ok(c)) {
			*error_r = "bad character in name";
			return -1;
		} else if (++label > 63) {
			*error_r = "label longer than 63 bytes";
			return -1;
		}
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	wire += label + 1;
	if (wire > 255) {
		*error_r = "name longer than 255 bytes";
		return -1;
	}
	out[o] = '\0';
	return 0;
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

int
dns_wire_query(const char *name, int qtype, uint16_t id, unsigned char *buf, size_t size,
    const char **error_r)
{
	char canon[DNS_NAME_MAX];
	size_t pos = HDR_LEN, total, pad, need;
	const char *p, *dot;

	if (dns_wire_name_canon(name, canon, sizeof(canon), error_r) == -1)
		return -1;
	/* header + name (len+2) + qtype/qclass + OPT (11) + padding option header (4) */
	total = HDR_LEN + strlen(canon) + 2 + 4 + 11 + 4;
	pad = (DNS_PAD_BLOCK - total % DNS_PAD_BLOCK) % DNS_PAD_BLOCK;
	need = total + pad;
	if (need > size) {
		*error_r = "query buffer too small";
		return -1;
	}
	memset(buf, 0, need);
	put16(buf, id);
	buf[2] = 0x01;          /* RD */
	put16(buf + 4, 1);      /* QDCOUNT */
	put16(buf + 10, 1);     /* ARCOUNT: OPT */
	for (p = canon; *p != '\0'; p = *dot ? dot + 1 : dot) {
		dot = strchr(p, '.');
		if (dot == NULL)
			dot = p + strlen(p);
		buf[pos++] = (unsigned char)(dot - p);
		memcpy(buf + pos, p, (size_t)(dot - p));
		pos += (size_t)(dot - p);
	}
	buf[pos++] = 0;
	put16(buf + pos, (unsigned)qtype);
	put16(buf + pos + 2, CLASS_IN);
	pos += 4;
	buf[pos++] = 0;                         /* root owner */
	put16(buf + pos, DNS_T_OPT);
	put16(buf + pos + 2, EDNS_UDP_SIZE);
	pos += 8;                               /* class + TTL (ext rcode, version, flags) = 0 */
	put16(buf + pos, (unsigned)(4 + pad));  /* RDLENGTH */
	put16(buf + pos + 2, OPT_PADDING);
	put16(buf + pos + 4, (unsigned)pad);
	pos += 6 + pad;
	return (int)pos;
}

/* Decoding. */

struct msg {
	const unsigned char *p;
	size_t len;
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads a possibly compressed name at *pos into its canonical presentation
 * form, and moves *pos past it. Pointers must point strictly backwards, so
 * no loop is possible; the wire length is capped at 255.
 */
static int
read_name(const struct msg *m, size_t *pos, char *out, size_t outsize)
{
	size_t p = *pos, end = 0, o = 0, wire = 0, limit = *pos;
	int jumped = 0, hops = 0;

	for (;;) {
		unsigned c;

		if (p >= m->len)
			return -1;
		c = m->p[p];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (p + 1 >= m->len || ++hops > MAX_POINTERS)
				return -1;
			target = (size_t)(c & 0x3f) << 8 | m->p[p + 1];
			if (target >= limit)
				return -1;
			if (!jumped)
				end = p + 2;
			jumped = 1;
			limit = target;
			p = target;
			continue;
		}
		if ((c & 0xc0) != 0)
			return -1;      /* extended label types are not used */
		p++;
		wire += c + 1;
		if (wire > 255)
			return -1;
		if (c == 0)
			break;
		if (p + c > m->len)
			return -1;
		if (o > 0) {
			if (o + 1 >= outsize)
				return -1;
			out[o++] = '.';
		}
		for (unsigned i = 0; i < c; i++) {
			unsigned char b = m->p[p + i];

			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b + 32);
			if (b > 0x20 && b < 0x7f && b != '.' && b != '\\') {
				if (o + 1 >= outsize)
					return -1;
				out[o++] = (char)b;
			} else {
				if (o + 4 >= outsize)
					return -1;
				snprintf(out + o, 5, "\\%03u", b);
				o += 4;
			}
		}
		p += c;
	}
	if (o == 0) {
		if (outsize < 2)
			return -1;
		out[o++] = '.';	/* the root */
	}
	out[o] = '\0';
	*pos = jumped ? end : p;
	return 0;
}

struct raw_rr {
	int type, class;
	uint32_t ttl;
	size_t rdata, rdlen;
};

/* An answer record kept for the chain walk; owner is allocated. */
struct kept {
	char *owner;
	struct raw_rr rr;
};

static int
read_rr(const struct msg *m, size_t *pos, char *owner, size_t ownersize, struct raw_rr *rr)
{
	if (read_name(m, pos, owner, ownersize) == -1)
		return -1;
	if (*pos + 10 > m->len)
		return -1;
	rr->type = (int)get16(m->p + *pos);
	rr->class = (int)get16(m->p + *pos + 2);
	rr->ttl = get32(m->p + *pos + 4);
	if (rr->ttl & 0x80000000u)
		rr->ttl = 0;    /* RFC 2181 8 */
	rr->rdlen = get16(m->p + *pos + 8);
	rr->rdata = *pos + 10;
	if (rr->rdata + rr->rdlen > m->len)
		return -1;
	*pos = rr->rdata + rr->rdlen;
	return 0;
}

/* A name filling the rdata exactly from off. */
static char *
rdata_name(const struct msg *m, const struct raw_rr *rr, size_t off)
{
	char name[DNS_NAME_MAX];
	size_t pos = rr->rdata + off;
	struct msg sub = { m->p, rr->rdata + rr->rdlen };

	if (off > rr->rdlen || read_name(&sub, &pos, name, sizeof(name)) == -1)
		return NULL;
	if (pos != rr->rdata + rr->rdlen)
		return NULL;
	return strdup(name);
}

/* Fills out from rr; returns -1 if the rdata is malformed. */
static int
convert_rr(const struct msg *m, const struct raw_rr *rr, const char *owner, struct dns_rr *out)
{
	const unsigned char *d = m->p + rr->rdata;
	char buf[INET6_ADDRSTRLEN];

	memset(out, 0, sizeof(*out));
	out->type = rr->type;
	out->ttl = rr->ttl;
	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA: {
		size_t alen = rr->type == DNS_T_A ? 4 : 16;

		if (rr->rdlen != alen)
			return -1;
		memcpy(out->addr, d, alen);
		inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6, d, buf, sizeof(buf));
		out->text = strdup(buf);
		break;
	}
	case DNS_T_CNAME:
	case DNS_T_PTR:
	case DNS_T_NS:
		out->text = rdata_name(m, rr, 0);
		break;
	case DNS_T_MX:
		if (rr->rdlen < 3)
			return -1;
		out->pref = (int)get16(d);
		out->text = rdata_name(m, rr, 2);
		break;
	case DNS_T_TXT: {
		size_t i = 0, o = 0;

		if (rr->rdlen == 0)
			return -1;
		if ((out->text = malloc(rr->rdlen + 1)) == NULL)
			return -1;
		while (i < rr->rdlen) {
			size_t n = d[i++];

			if (i + n > rr->rdlen)
				return -1;
			memcpy(out->text + o, d + i, n);
			o += n;
			i += n;
		}
		out->text[o] = '\0';
		out->text_len = o;
		return (out->owner = strdup(owner)) == NULL ? -1 : 0;
	}
	default:
		return -1;
	}
	if (out->text == NULL)
		return -1;
	out->text_len = strlen(out->text);
	return (out->owner = strdup(owner)) == NULL ? -1 : 0;
}

static void
rr_clear(struct dns_rr *rr)
{
	free(rr->owner);
	free(rr->text);
	rr->owner = rr->text = NULL;
}

/* Is zone equal to name or one of its ancestors? */
static int
name_within(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (strcmp(zone, ".") == 0)
		return 1;
	if (z > n)
		return 0;
	if (strcmp(name + n - z, zone) != 0)
		return 0;
	return z == n || name[n - z - 1] == '.';
}

void
dns_reply_free(struct dns_reply **repp)
{
	struct dns_reply *rep = *repp;

	if (rep == NULL)
		return;
	for (size_t i = 0; i < rep->count; i++)
		rr_clear(&rep->rr[i]);
	free(rep->rr);
	free(rep->name);
	free(rep);
	*repp = NULL;
}

struct dns_reply *
dns_reply_dup(const struct dns_reply *rep)
{
	struct dns_reply *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	*d = *rep;
	d->rr = NULL;
	d->count = 0;
	if ((d->name = strdup(rep->name)) == NULL)
		goto fail;
	if (rep->count > 0 && (d->rr = calloc(rep->count, sizeof(*d->rr))) == NULL)
		goto fail;
	for (size_t i = 0; i < rep->count; i++) {
		d->rr[i] = rep->rr[i];
		d->rr[i].owner = strdup(rep->rr[i].owner);
		d->rr[i].text = malloc(rep->rr[i].text_len + 1);
		d->count++;
		if (d->rr[i].owner == NULL || d->rr[i].text == NULL)
			goto fail;
		memcpy(d->rr[i].text, rep->rr[i].text, rep->rr[i].text_len + 1);
	}
	return d;
fail:
	dns_reply_free(&d);
	return NULL;
}

static void
free_kept(struct kept *an, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(an[i].owner);
	free(an);
}

#define FAIL(msg) do { *error_r = (msg); goto fail; } while (0)

int
dns_wire_reply(const unsigned char *msgp, size_t len, const char *name, int qtype, uint16_t id,
    struct dns_reply **reply_r, const char **error_r)
{
	struct msg m = { msgp, len };
	struct raw_rr soa = { 0 }, tmp;
	struct kept *an = NULL;
	struct dns_reply *rep = NULL;
	char qname[DNS_NAME_MAX], cur[DNS_NAME_MAX], owner[DNS_NAME_MAX], soa_owner[DNS_NAME_MAX];
	size_t pos = HDR_LEN, ancount, nscount, arcount, nan = 0;
	unsigned flags;
	int have_soa = 0, rcode, hops = 0;
	uint32_t soa_min = 0, minttl = UINT32_MAX;

	if (dns_wire_name_canon(name, cur, sizeof(cur), error_r) == -1)
		return -1;
	if (len < HDR_LEN)
		FAIL("reply shorter than a DNS header");
	if (len > DNS_WIRE_MAX)
		FAIL("reply too large");
	flags = get16(m.p + 2);
	if (get16(m.p) != id)
		FAIL("reply id does not match the query");
	if (!(flags & 0x8000))
		FAIL("message is not a reply");
	if ((flags >> 11 & 0xf) != 0)
		FAIL("reply has an unexpected opcode");
	if (flags & 0x0200)
		FAIL("reply truncated");
	rcode = (int)(flags & 0xf);
	if (get16(m.p + 4) != 1)
		FAIL("reply does not hold exactly one question");
	ancount = get16(m.p + 6);
	nscount = get16(m.p + 8);
	arcount = get16(m.p + 10);
	if (read_name(&m, &pos, qname, sizeof(qname)) == -1 || pos + 4 > len)
		FAIL("malformed question");
	if (strcmp(qname, cur) != 0 || (int)get16(m.p + pos) != qtype ||
	    get16(m.p + pos + 2) != CLASS_IN)
		FAIL("reply is for another question");
	pos += 4;

	/* Each record takes at least 11 bytes, so this bounds the allocation. */
	if (ancount > (len - pos) / 11)
		FAIL("malformed reply: too many records");
	if (ancount > 0 && (an = calloc(ancount, sizeof(*an))) == NULL)
		FAIL("out of memory");
	for (size_t i = 0; i < ancount; i++) {
		if (read_rr(&m, &pos, owner, sizeof(owner), &tmp) == -1)
			FAIL("malformed answer record");
		if (tmp.class == CLASS_IN && (tmp.type == qtype || tmp.type == DNS_T_CNAME)) {
			if ((an[nan].owner = strdup(owner)) == NULL)
				FAIL("out of memory");
			an[nan++].rr = tmp;
		}
	}
	for (size_t i = 0; i < nscount; i++) {
		if (read_rr(&m, &pos, owner, sizeof(owner), &tmp) == -1)
			FAIL("malformed authority record");
		if (tmp.type == DNS_T_SOA && tmp.class == CLASS_IN && !have_soa) {
			size_t p = tmp.rdata;
			struct msg sub = { m.p, tmp.rdata + tmp.rdlen };
			char scratch[DNS_NAME_MAX];

			if (read_name(&sub, &p, scratch, sizeof(scratch)) == -1 ||
			    read_name(&sub, &p, scratch, sizeof(scratch)) == -1 ||
			    p + 20 != tmp.rdata + tmp.rdlen)
				FAIL("malformed SOA record");
			soa = tmp;
			memcpy(soa_owner, owner, sizeof(soa_owner));
			soa_min = get32(m.p + p + 16);
			have_soa = 1;
		}
	}
	for (size_t i = 0; i < arcount; i++) {
		if (read_rr(&m, &pos, owner, sizeof(owner), &tmp) == -1)
			FAIL("malformed additional record");
		if (tmp.type == DNS_T_OPT)
			rcode |= (int)(tmp.ttl >> 24 & 0xff) << 4;
	}

	if ((rep = calloc(1, sizeof(*rep))) == NULL)
		FAIL("out of memory");
	rep->rcode = rcode;
	if (nan > 0 && (rep->rr = calloc(nan, sizeof(*rep->rr))) == NULL)
		FAIL("out of memory");

	/* Follow the chain from the question; ignore everything off it. */
	if (qtype != DNS_T_CNAME) {
		for (;;) {
			size_t i;

			for (i = 0; i < nan; i++)
				if (an[i].rr.type == DNS_T_CNAME && strcmp(an[i].owner, cur) == 0)
					break;
			if (i == nan)
				break;
			if (++hops > DNS_CHAIN_MAX)
				FAIL("CNAME chain too long");
			if (convert_rr(&m, &an[i].rr, an[i].owner, &rep->rr[rep->count]) == -1) {
				rr_clear(&rep->rr[rep->count]);
				FAIL("malformed CNAME record");
			}
			snprintf(cur, sizeof(cur), "%s", rep->rr[rep->count].text);
			if (rep->rr[rep->count].ttl < minttl)
				minttl = rep->rr[rep->count].ttl;
			rep->count++;
			an[i].rr.type = -1;        /* used: a loop ends at DNS_CHAIN_MAX anyway */
		}
	}
	for (size_t i = 0; i < rep->count; i++)
		if (strcmp(rep->rr[i].owner, cur) == 0)
			FAIL("CNAME loop");
	for (size_t i = 0; i < nan; i++) {
		if (an[i].rr.type != qtype || strcmp(an[i].owner, cur) != 0)
			continue;
		if (convert_rr(&m, &an[i].rr, an[i].owner, &rep->rr[rep->count]) == -1) {
			rr_clear(&rep->rr[rep->count]);
			FAIL("malformed answer record");
		}
		if (rep->rr[rep->count].ttl < minttl)
			minttl = rep->rr[rep->count].ttl;
		rep->count++;
	}
	if ((rep->name = strdup(cur)) == NULL)
		FAIL("out of memory");

	if (rep->count > (size_t)hops) {
		rep->ttl = minttl;
		rep->has_ttl = 1;
	} else if (have_soa && name_within(cur, soa_owner)) {
		/* RFC 2308 5: the lesser of the SOA's TTL and its MINIMUM. */
		rep->ttl = soa.ttl < soa_min ? soa.ttl : soa_min;
		if (minttl < rep->ttl)
			rep->ttl = minttl;
		rep->has_ttl = 1;
	}
	free_kept(an, nan);
	*reply_r = rep;
	return 0;
fail:
	free_kept(an, nan);
	dns_reply_free(&rep);
	return -1;
}
