/*
 * dns-wire: queries as sent, and replies built byte by byte, including the
 * broken and hostile ones a DoH server (or whoever sits in its place) may send.
 */
#include "dns-wire.h"
#include "test.h"

#include <stdlib.h>

struct b {
	unsigned char p[4096];
	size_t n;
};

static void
u8(struct b *b, unsigned v)
{
	b->p[b->n++] = (unsigned char)v;
}

static void
u16(struct b *b, unsigned v)
{
	u8(b, v >> 8);
	u8(b, v & 0xff);
}

static void
u32(struct b *b, uint32_t v)
{
	u16(b, v >> 16);
	u16(b, v & 0xffff);
}

static void
name(struct b *b, const char *s)
{
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);

		u8(b, (unsigned)l);
		memcpy(b->p + b->n, s, l);
		b->n += l;
		s += l;
		if (*s == '.')
			s++;
	}
	u8(b, 0);
}

/* Header and question; counts filled in later with counts(). */
static void
start(struct b *b, unsigned id, unsigned flags, const char *q, int qtype)
{
	b->n = 0;
	u16(b, id);
	u16(b, flags);
	u16(b, 1);
	u16(b, 0);
	u16(b, 0);
	u16(b, 0);
	name(b, q);
	u16(b, (unsigned)qtype);
	u16(b, 1);
}

static void
counts(struct b *b, unsigned an, unsigned ns, unsigned ar)
{
	b->p[6] = (unsigned char)(an >> 8); b->p[7] = (unsigned char)an;
	b->p[8] = (unsigned char)(ns >> 8); b->p[9] = (unsigned char)ns;
	b->p[10] = (unsigned char)(ar >> 8); b->p[11] = (unsigned char)ar;
}

static void
rr_head(struct b *b, const char *owner, int type, uint32_t ttl, unsigned rdlen)
{
	if (owner == NULL)
		u16(b, 0xc00c);         /* pointer to the question name */
	else
		name(b, owner);
	u16(b, (unsigned)type);
	u16(b, 1);
	u32(b, ttl);
	u16(b, rdlen);
}

static void
rr_a(struct b *b, const char *owner, uint32_t ttl, unsigned a, unsigned bb, unsigned c, unsigned d)
{
	rr_head(b, owner, DNS_T_A, ttl, 4);
	u8(b, a); u8(b, bb); u8(b, c); u8(b, d);
}

static size_t
wire_len(const char *n)
{
	return strlen(n) + 2;
}

static void
rr_cname(struct b *b, const char *owner, uint32_t ttl, const char *target)
{
	rr_head(b, owner, DNS_T_CNAME, ttl, (unsigned)wire_len(target));
	name(b, target);
}

static void
rr_soa(struct b *b, const char *owner, uint32_t ttl, uint32_t minimum)
{
	rr_head(b, owner, DNS_T_SOA, ttl, (unsigned)(wire_len("ns.mail.test") + wire_len("h.mail.test") + 20));
	name(b, "ns.mail.test");
	name(b, "h.mail.test");
	u32(b, 1); u32(b, 3600); u32(b, 600); u32(b, 86400); u32(b, minimum);
}

static struct dns_reply *
decode(struct b *b, const char *q, int qtype, const char **err)
{
	struct dns_reply *rep = NULL;

	*err = NULL;
	if (dns_wire_reply(b->p, b->n, q, qtype, 0, &rep, err) == -1)
		return NULL;
	return rep;
}

static void
test_names(void)
{
	char out[DNS_NAME_MAX];
	const char *err;
	char long_label[80], long_name[400];

	CHECK(dns_wire_name_canon("Pop.Mail.TEST.", out, sizeof(out), &err) == 0, "canon accepts a name");
	CHECK_STR(out, "pop.mail.test", "canon lowercases and drops the trailing dot");
	CHECK(dns_wire_name_canon("a..b", out, sizeof(out), &err) == -1, "empty label refused");
	CHECK(dns_wire_name_canon("", out, sizeof(out), &err) == -1, "empty name refused");
	CHECK(dns_wire_name_canon("a b.test", out, sizeof(out), &err) == -1, "space refused");
	CHECK(dns_wire_name_canon("a\\.b", out, sizeof(out), &err) == -1, "backslash refused");
	memset(long_label, 'x', 64);
	long_label[64] = '\0';
	CHECK(dns_wire_name_canon(long_label, out, sizeof(out), &err) == -1, "64-byte label refused");
	long_label[63] = '\0';
	CHECK(dns_wire_name_canon(long_label, out, sizeof(out), &err) == 0, "63-byte label accepted");
	/* 4 labels of 63 + 3 dots = 255 chars: 257 bytes on the wire */
	snprintf(long_name, sizeof(long_name), "%s.%s.%s.%s", long_label, long_label, long_label, long_label);
	CHECK(dns_wire_name_canon(long_name, out, sizeof(out), &err) == -1, "name over 255 wire bytes refused");
	long_name[strlen(long_name) - 2] = '\0';
	CHECK(dns_wire_name_canon(long_name, out, sizeof(out), &err) == 0, "name of 255 wire bytes accepted");
	CHECK(dns_wire_name_canon("2.0.0.127.zen.example_bl.org", out, sizeof(out), &err) == 0,
	    "underscore and digits accepted");
}

static void
test_query(void)
{
	unsigned char buf[512];
	const char *err;
	int n;

	n = dns_wire_query("pop.mail.test", DNS_T_AAAA, 0x1234, buf, sizeof(buf), &err);
	CHECK(n == 128, "query padded to 128 bytes (got %d)", n);
	CHECK(buf[0] == 0x12 && buf[1] == 0x34, "query id");
	CHECK(buf[2] == 0x01 && buf[3] == 0x00, "RD set, nothing else");
	CHECK(buf[5] == 1 && buf[7] == 0 && buf[11] == 1, "one question, one additional");
	CHECK(memcmp(buf + 12, "\3pop\4mail\4test\0\0\x1c\0\1", 19) == 0, "question encoded");
	CHECK(buf[31] == 0 && buf[32] == 0 && buf[33] == 41, "OPT record follows");
	CHECK(buf[42] == 0 && buf[43] == 12, "padding option");
	n = dns_wire_query("x", DNS_T_A, 0, buf, 100, &err);
	CHECK(n == -1, "small buffer refused");
	memset(buf, 'y', sizeof(buf));
	{
		char nm[200];

		memset(nm, 'a', 60);
		nm[60] = '.';
		memset(nm + 61, 'b', 60);
		nm[121] = '\0';
		n = dns_wire_query(nm, DNS_T_TXT, 0, buf, sizeof(buf), &err);
		CHECK(n == 256, "longer query padded to 256 (got %d)", n);
	}
	CHECK(dns_wire_query("bad..name", DNS_T_A, 0, buf, sizeof(buf), &err) == -1, "bad name refused");
}

/* Decodes its own query as a reply: the question must match. */
static void
test_roundtrip(void)
{
	unsigned char buf[512];
	struct dns_reply *rep = NULL;
	const char *err = NULL;
	int n = dns_wire_query("Pop.mail.test", DNS_T_A, 7, buf, sizeof(buf), &err);
	int rc;

	buf[2] |= 0x80;
	rc = dns_wire_reply(buf, (size_t)n, "pop.mail.test", DNS_T_A, 7, &rep, &err);
	CHECK(rc == 0, "own query decodes as an empty reply");
	CHECK(rep != NULL && rep->count == 0 && rep->rcode == 0 && !rep->has_ttl, "NODATA without SOA: no TTL");
	dns_reply_free(&rep);
	CHECK(rep == NULL, "free sets NULL");
	CHECK(dns_wire_reply(buf, (size_t)n, "pop.mail.test", DNS_T_A, 8, &rep, &err) == -1, "wrong id refused");
	CHECK(dns_wire_reply(buf, (size_t)n, "pop.mail.test", DNS_T_AAAA, 7, &rep, &err) == -1, "wrong type refused");
	CHECK(dns_wire_reply(buf, (size_t)n, "pop2.mail.test", DNS_T_A, 7, &rep, &err) == -1, "wrong name refused");
	buf[2] &= 0x7f;
	CHECK(dns_wire_reply(buf, (size_t)n, "pop.mail.test", DNS_T_A, 7, &rep, &err) == -1, "query refused as reply");
	buf[2] |= 0x82;
	CHECK(dns_wire_reply(buf, (size_t)n, "pop.mail.test", DNS_T_A, 7, &rep, &err) == -1 &&
	    strcmp(err, "reply truncated") == 0, "TC refused");
}

static void
test_answers(void)
{
	struct b b;
	struct dns_reply *rep, *dup;
	const char *err;

	/* Two A records plus one for an unrelated owner. */
	start(&b, 0, 0x8180, "pop.mail.test", DNS_T_A);
	rr_a(&b, NULL, 300, 192, 0, 2, 10);
	rr_a(&b, "evil.test", 300, 6, 6, 6, 6);
	rr_a(&b, "POP.mail.test", 200, 192, 0, 2, 11);
	counts(&b, 3, 0, 0);
	rep = decode(&b, "pop.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL, "A reply decodes (%s)", err ? err : "");
	if (rep != NULL) {
		CHECK(rep->count == 2, "unrelated owner dropped");
		CHECK_STR(rep->rr[0].text, "192.0.2.10", "first address");
		CHECK_STR(rep->rr[1].text, "192.0.2.11", "second address, owner case ignored");
		CHECK(rep->rr[1].addr[3] == 11, "binary address");
		CHECK(rep->ttl == 200 && rep->has_ttl, "TTL is the smallest");
		dup = dns_reply_dup(rep);
		CHECK(dup != NULL && dup->count == 2 && strcmp(dup->rr[1].text, "192.0.2.11") == 0 &&
		    dup->rr[1].text != rep->rr[1].text, "dup is deep");
		dns_reply_free(&dup);
		dns_reply_free(&rep);
	}

	/* CNAME chain in reverse order, with a dangling CNAME off the chain. */
	start(&b, 0, 0x8180, "alias.mail.test", DNS_T_A);
	rr_a(&b, "pop.mail.test", 300, 192, 0, 2, 10);
	rr_cname(&b, "mid.mail.test", 50, "pop.mail.test");
	rr_cname(&b, "other.test", 50, "pop.mail.test");
	rr_cname(&b, NULL, 100, "mid.mail.test");
	counts(&b, 4, 0, 0);
	rep = decode(&b, "alias.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL, "CNAME chain decodes (%s)", err ? err : "");
	if (rep != NULL) {
		CHECK(rep->count == 3, "two CNAMEs and one A");
		CHECK(rep->rr[0].type == DNS_T_CNAME && strcmp(rep->rr[0].owner, "alias.mail.test") == 0,
		    "chain starts at the question");
		CHECK_STR(rep->rr[1].text, "pop.mail.test", "second hop");
		CHECK(rep->rr[2].type == DNS_T_A, "address last");
		CHECK_STR(rep->name, "pop.mail.test", "canonical name");
		CHECK(rep->ttl == 50, "TTL includes the chain");
		dns_reply_free(&rep);
	}

	/* A record whose owner is not the end of the chain is dropped. */
	start(&b, 0, 0x8180, "alias.mail.test", DNS_T_A);
	rr_cname(&b, NULL, 100, "pop.mail.test");
	rr_a(&b, NULL, 300, 6, 6, 6, 6);
	counts(&b, 2, 0, 0);
	rep = decode(&b, "alias.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL && rep->count == 1 && rep->rr[0].type == DNS_T_CNAME,
	    "address of the alias itself is ignored");
	dns_reply_free(&rep);

	/* CNAME loop. */
	start(&b, 0, 0x8180, "a.test", DNS_T_A);
	rr_cname(&b, "a.test", 100, "b.test");
	rr_cname(&b, "b.test", 100, "a.test");
	counts(&b, 2, 0, 0);
	rep = decode(&b, "a.test", DNS_T_A, &err);
	CHECK(rep == NULL && err != NULL && strcmp(err, "CNAME loop") == 0, "CNAME loop refused");

	/* NXDOMAIN with SOA: negative TTL is min(SOA TTL, MINIMUM). */
	start(&b, 0, 0x8183, "nx.mail.test", DNS_T_A);
	rr_soa(&b, "mail.test", 300, 60);
	counts(&b, 0, 1, 0);
	rep = decode(&b, "nx.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL && rep->rcode == DNS_R_NXDOMAIN && rep->has_ttl && rep->ttl == 60,
	    "NXDOMAIN negative TTL from SOA MINIMUM");
	dns_reply_free(&rep);
	start(&b, 0, 0x8180, "nx.mail.test", DNS_T_A);
	rr_soa(&b, "mail.test", 30, 60);
	counts(&b, 0, 1, 0);
	rep = decode(&b, "nx.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL && rep->rcode == 0 && rep->count == 0 && rep->ttl == 30,
	    "NODATA negative TTL from SOA TTL");
	dns_reply_free(&rep);
	start(&b, 0, 0x8183, "nx.mail.test", DNS_T_A);
	rr_soa(&b, "other.test", 300, 60);
	counts(&b, 0, 1, 0);
	rep = decode(&b, "nx.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL && !rep->has_ttl, "SOA of an unrelated zone not used");
	dns_reply_free(&rep);

	/* TXT, MX, PTR. */
	start(&b, 0, 0x8180, "t.test", DNS_T_TXT);
	rr_head(&b, NULL, DNS_T_TXT, 60, 9);
	u8(&b, 3); memcpy(b.p + b.n, "abc", 3); b.n += 3;
	u8(&b, 0);
	u8(&b, 3); memcpy(b.p + b.n, "d\0f", 3); b.n += 3;
	counts(&b, 1, 0, 0);
	rep = decode(&b, "t.test", DNS_T_TXT, &err);
	CHECK(rep != NULL && rep->count == 1 && rep->rr[0].text_len == 6 &&
	    memcmp(rep->rr[0].text, "abcd\0f", 6) == 0, "TXT strings joined, bytes kept");
	dns_reply_free(&rep);
	start(&b, 0, 0x8180, "m.test", DNS_T_MX);
	rr_head(&b, NULL, DNS_T_MX, 60, 4);
	u16(&b, 10);
	u16(&b, 0xc00c);
	counts(&b, 1, 0, 0);
	rep = decode(&b, "m.test", DNS_T_MX, &err);
	CHECK(rep != NULL && rep->count == 1 && rep->rr[0].pref == 10 &&
	    strcmp(rep->rr[0].text, "m.test") == 0, "MX with a compressed exchange");
	dns_reply_free(&rep);
	start(&b, 0, 0x8180, "10.2.0.192.in-addr.arpa", DNS_T_PTR);
	rr_head(&b, NULL, DNS_T_PTR, 60, (unsigned)wire_len("pop.mail.test"));
	name(&b, "pop.mail.test");
	counts(&b, 1, 0, 0);
	rep = decode(&b, "10.2.0.192.in-addr.arpa", DNS_T_PTR, &err);
	CHECK(rep != NULL && rep->count == 1 && strcmp(rep->rr[0].text, "pop.mail.test") == 0, "PTR");
	dns_reply_free(&rep);

	/* AAAA with a wrong rdata length is malformed. */
	start(&b, 0, 0x8180, "v6.test", DNS_T_AAAA);
	rr_head(&b, NULL, DNS_T_AAAA, 60, 4);
	u32(&b, 1);
	counts(&b, 1, 0, 0);
	CHECK(decode(&b, "v6.test", DNS_T_AAAA, &err) == NULL, "AAAA of 4 bytes refused");

	/* Extended rcode from OPT. */
	start(&b, 0, 0x8180, "e.test", DNS_T_A);
	u8(&b, 0); u16(&b, DNS_T_OPT); u16(&b, 1232); u32(&b, 0x01000000); u16(&b, 0);
	counts(&b, 0, 0, 1);
	rep = decode(&b, "e.test", DNS_T_A, &err);
	CHECK(rep != NULL && rep->rcode == 16, "extended rcode BADVERS");
	CHECK_STR(dns_wire_rcode_name(16), "BADVERS", "rcode name");
	dns_reply_free(&rep);
}

static void
test_hostile(void)
{
	struct b b, full;
	struct dns_reply *rep;
	const char *err;
	int ok = 1;

	/* Pointer to itself and a forward pointer. */
	start(&b, 0, 0x8180, "p.test", DNS_T_A);
	u16(&b, 0xc000 | (unsigned)b.n);
	u16(&b, DNS_T_A); u16(&b, 1); u32(&b, 1); u16(&b, 4); u32(&b, 0);
	counts(&b, 1, 0, 0);
	CHECK(decode(&b, "p.test", DNS_T_A, &err) == NULL, "self pointer refused");
	start(&b, 0, 0x8180, "p.test", DNS_T_A);
	u16(&b, 0xc000 | (unsigned)(b.n + 2));
	name(&b, "p.test");
	counts(&b, 1, 0, 0);
	CHECK(decode(&b, "p.test", DNS_T_A, &err) == NULL, "forward pointer refused");
	/* Question by pointer into the header. */
	b.n = 0;
	u16(&b, 0); u16(&b, 0x8180); u16(&b, 1); u16(&b, 0); u16(&b, 0); u16(&b, 0);
	u16(&b, 0xc000); u16(&b, 1); u16(&b, 1);
	CHECK(decode(&b, "p.test", DNS_T_A, &err) == NULL, "garbage question refused");
	/* Counts larger than the message. */
	start(&b, 0, 0x8180, "p.test", DNS_T_A);
	counts(&b, 60000, 0, 0);
	CHECK(decode(&b, "p.test", DNS_T_A, &err) == NULL, "huge count refused");
	/* The hard cap. */
	{
		unsigned char *huge = calloc(1, DNS_WIRE_MAX + 1);

		memcpy(huge, b.p, b.n);
		rep = NULL;
		CHECK(dns_wire_reply(huge, DNS_WIRE_MAX + 1, "p.test", DNS_T_A, 0, &rep, &err) == -1 &&
		    strcmp(err, "reply too large") == 0, "reply over 65535 bytes refused");
		free(huge);
	}
	/* Every prefix of a valid reply fails cleanly. */
	start(&full, 0, 0x8180, "alias.mail.test", DNS_T_A);
	rr_cname(&full, NULL, 100, "pop.mail.test");
	rr_a(&full, "pop.mail.test", 300, 192, 0, 2, 10);
	rr_soa(&full, "mail.test", 300, 60);
	counts(&full, 2, 1, 0);
	for (size_t n = 0; n < full.n; n++) {
		rep = NULL;
		if (dns_wire_reply(full.p, n, "alias.mail.test", DNS_T_A, 0, &rep, &err) != -1 || rep != NULL)
			ok = 0;
	}
	CHECK(ok, "every truncation of a reply is refused");
	rep = decode(&full, "alias.mail.test", DNS_T_A, &err);
	CHECK(rep != NULL && rep->count == 2, "the whole reply decodes");
	dns_reply_free(&rep);
}

int
main(void)
{
	CHECK_STR(dns_wire_type_name(DNS_T_AAAA), "AAAA", "type name");
	CHECK(dns_wire_type_parse("mx") == DNS_T_MX, "type parse");
	CHECK(dns_wire_type_parse("HINFO") == -1, "unknown type");
	test_names();
	test_query();
	test_roundtrip();
	test_answers();
	test_hostile();
	return test_done();
}
