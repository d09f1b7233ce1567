/*
 * dns-wire: the DNS message codec (RFC 1035) used by the resolver.
 *
 * Owns the wire format only: building one query (with an EDNS(0) OPT record
 * padded per RFC 8467 to 128-byte blocks) and turning a reply into the
 * records that answer that query. The decoder treats every byte as hostile:
 * it never reads past the buffer, bounds compression pointers and name
 * lengths, follows the CNAME chain from the question name, keeps only
 * records whose owner name is on that chain, and rejects replies that do not
 * match the question that was sent. It never does I/O, never logs and keeps
 * no state between calls, so any thread may call it.
 */
#ifndef POPGATE_DNS_WIRE_H
#define POPGATE_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_WIRE_MAX 65535          /* hard cap on a message, query or reply */
#define DNS_NAME_MAX 1024           /* presentation form with \DDD escapes, NUL included */
#define DNS_PAD_BLOCK 128           /* RFC 8467 recommended query padding */
#define DNS_CHAIN_MAX 16            /* CNAME hops followed before giving up */

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6, DNS_T_PTR = 12,
	DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_OPT = 41
};

enum dns_rcode {
	DNS_R_NOERROR = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2, DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5
};

struct dns_rr {
	int type;                   /* enum dns_type */
	uint32_t ttl;
	char *owner;                /* lower case, no trailing dot */
	/*
	 * A/AAAA: the address in text; CNAME/PTR: the target name; MX: the
	 * exchange; TXT: the character-strings joined, raw bytes (may hold
	 * anything but is NUL-terminated), text_len bytes.
	 */
	char *text;
	size_t text_len;
	unsigned char addr[16];     /* A: 4 bytes, AAAA: 16 */
	int pref;                   /* MX preference */
};

struct dns_reply {
	int rcode;                  /* enum dns_rcode */
	char *name;                 /* end of the CNAME chain (== question if none) */
	uint32_t ttl;               /* positive: smallest TTL in the chain; negative: RFC 2308 */
	int has_ttl;                /* 0: negative reply without SOA (do not cache) */
	size_t count;
	struct dns_rr *rr;          /* CNAMEs of the chain first, then the answers */
};

/*
 * Checks a host name and writes its canonical form (lower case, no trailing
 * dot, escapes kept) into out. Returns 0, or -1 with error_r.
 */
int dns_wire_name_canon(const char *name, char *out, size_t outsize, const char **error_r);

/*
 * Builds a query for name/qtype with the RD bit, message id and an OPT
 * record padded to a multiple of DNS_PAD_BLOCK bytes. Returns the length,
 * or -1 with error_r (bad name, buffer too small).
 */
int dns_wire_query(const char *name, int qtype, uint16_t id, unsigned char *buf, size_t size,
    const char **error_r);

/*
 * Decodes a reply to the query name/qtype/id. Returns 0 and a new reply for
 * any rcode (the caller decides what SERVFAIL means), or -1 with error_r if
 * the message is malformed, truncated or does not answer that question.
 */
int dns_wire_reply(const unsigned char *msg, size_t len, const char *name, int qtype, uint16_t id,
    struct dns_reply **reply_r, const char **error_r);

struct dns_reply *dns_reply_dup(const struct dns_reply *rep);
void dns_reply_free(struct dns_reply **repp);

/* "A", "AAAA", ... or NULL; and back (case-insensitive, -1 if unknown). */
const char *dns_wire_type_name(int type);
int dns_wire_type_parse(const char *name);
/* "NOERROR", "NXDOMAIN", ...; never NULL. */
const char *dns_wire_rcode_name(int rcode);

#endif
