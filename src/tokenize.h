/*
 * tokenize: one message in, one set of distinct tokens out.
 *
 * It owns the token vocabulary, which must stay stable: the Bayes database
 * stores only each token's 64-bit hash (tokenize_hash), so changing a rule
 * here makes old training count less. It must never look at anything but the
 * message, and never grows without bound: the set stops at its cap and the
 * text it reads is capped by mime.
 *
 * The rules, applied in order, deterministically:
 *
 * Headers of the message itself (attached messages: only Subject, as body
 * words). Headers popgate or other filters add (X-Spam-*, X-Popgate-*,
 * X-Bogosity) are skipped entirely, so a tagged message retrains cleanly.
 *   hdr:NAME            every header name present, lower case
 *   hseq:PREV>NAME      each header name after the one before it (the first
 *                       after ""; repeats such as Received>Received give none):
 *                       the order is the sending software's fingerprint
 *   nohdr:NAME          for Message-ID, Date, To, Subject, MIME-Version if absent
 *   subj:WORD           Subject words (body word rules below, CJK bigrams too),
 *                       which also count as body words; subj:allcaps, subj:!!
 *                       and subj:$ for shouting and money; subj:shape:S (the
 *                       shape rule below)
 *   from:addr:A from:dom:D from:WORD from:noname
 *   to:dom:D to:count:N (N = 1, 2, 3-5, 6-10, 11+) to:undisclosed   (To and Cc)
 *   to:shape:S          the shape of the To value (below)
 *   replyto:dom:D  rp:dom:D (Return-Path)  mid:dom:D mid:none (Message-ID)
 *   mid:shape:S date:shape:S   the Message-ID and Date values as shapes: digits
 *                       as N, letters as a or A, runs of one class longer than
 *                       two cut to two, other bytes kept, 79 bytes at most
 *                       ("Aaa, N Aaa NN NN:NN:NN +NN"): the software that
 *                       wrote them, not when or for whom
 *   rcvd:HOST rcvd:ip:A.B.C (first 16 Received headers; the IPv4 /24)
 *   xm:VALUE            X-Mailer / User-Agent (digits folded to N, 40 bytes)
 *   date:tz:ZONE        the zone of the Date header
 *   ct:TYPE/SUB         the message's Content-Type (mime passes the top part's
 *                       Content-* headers with the message's, in input order)
 *   h:NAME:VALUE        any other header whose value has at most 70 bytes, as
 *                       one token (lower case, digits folded to N): "x-priority:
 *                       N (normal)", "precedence: bulk"; not for *-Date
 *                       headers (the clock, not the mail), nor List-* (but
 *                       List-Id), Sender, Errors-To, X-BeenThere (one list
 *                       saying who it is a dozen times). Longer values count
 *                       only by name: their words (relay notes, signatures)
 *                       came out as clusters of correlated tokens that drowned
 *                       the body's evidence.
 * Parts:
 *   part:TYPE/SUB  charset:NAME  att:ext:EXT  att:name:WORD
 * HTML (features reported by mime):
 *   html:FEATURE        html:comment, html:hidden, html:font:white, html:font:tiny,
 *                       html:entity:numeric, html:mailto, and html:tag:NAME only
 *                       for script, iframe, form, object, embed and applet
 * Text (decoded plain text and HTML reduced to text, same rules for Subject):
 *   - The text is cut into chunks at white space, at CJK characters and at
 *     brackets and quotes. Fullwidth ASCII letters and digits count as ASCII.
 *   - A chunk starting with http://, https:// or www. is a URL: url:HOST, the
 *     host's last two and three labels as url:DOMAIN, url:ip for a numeric
 *     host, proto:SCHEME and urlp:WORD for path words of 3+ bytes.
 *   - A chunk holding NAME@HOST.TLD is an address: email:dom:HOST.TLD, email:NAME.
 *   - Anything else splits into words at every character that is not a
 *     letter, a digit or one of $ ' - . ! % _; leading and trailing ' - . _
 *     are trimmed; ASCII is lower-cased.
 *   - Words of 3 to 24 bytes are tokens as they are (words starting with $
 *     from 2 bytes). Longer words are summarised as long:C:N (C the first
 *     character's class a/d/x, N the length rounded down to a multiple of 8);
 *     shorter ones are dropped. A word mixing ASCII and non-ASCII letters also
 *     gives odd:mixedscript.
 *   - Runs of CJK characters (kana, Han, Hangul) give overlapping character
 *     bigrams; a lone CJK character gives itself.
 */
#ifndef POPGATE_TOKENIZE_H
#define POPGATE_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

struct tokset;

/* Facts the rules need, gathered in the same pass. */
#define TOKENIZE_MAX_RECEIVED 16
#define TOKENIZE_MAX_DOMAINS 32
struct tokenize_info {
	char *received[TOKENIZE_MAX_RECEIVED];  /* raw Received values, top first */
	size_t nreceived;
	char *domains[TOKENIZE_MAX_DOMAINS];    /* distinct URL hosts, lower case */
	size_t ndomains;
	char *from;                             /* From address, lower case, or NULL */
	char *subject;                          /* decoded Subject or NULL */
};
void tokenize_info_clear(struct tokenize_info *info);

/* A set holding at most max distinct tokens (0: 20000). */
struct tokset *tokenize_set_new(size_t max);
void tokenize_set_free(struct tokset **tsp);
void tokenize_set_clear(struct tokset *ts);
size_t tokenize_set_count(const struct tokset *ts);
uint64_t tokenize_set_hash(const struct tokset *ts, size_t i);
/* The token's text (valid until the set is cleared). */
const char *tokenize_set_text(const struct tokset *ts, size_t i);
/*
 * The token's family, for the classifier, which weighs the evidence of each
 * family on its own: TOKENIZE_WORD for plain words and CJK bigrams (of the
 * body and the Subject), TOKENIZE_MARK for every token with a ':' in it (the
 * header, URL, address, HTML, part and summary tokens).
 */
#define TOKENIZE_WORD 0
#define TOKENIZE_MARK 1
#define TOKENIZE_FAMILIES 2
int tokenize_set_family(const struct tokset *ts, size_t i);
/* Adds prefix+word (prefix may be ""); duplicates are ignored. */
void tokenize_set_add(struct tokset *ts, const char *prefix, const char *word, size_t len);
/* Whether the set reached its cap. */
int tokenize_set_full(const struct tokset *ts);

/* The stable 64-bit hash of a token's bytes. */
uint64_t tokenize_hash(const char *s, size_t len);

/* Tokenizes one message; info may be NULL. */
int tokenize_fd(struct tokset *ts, struct tokenize_info *info, int fd, const char **error_r);
int tokenize_mem(struct tokset *ts, struct tokenize_info *info, const void *buf, size_t len,
    const char **error_r);
/* Tokenizes UTF-8 text with the body rules, each token after prefix. */
void tokenize_text(struct tokset *ts, const char *prefix, const char *utf8, size_t len);

#endif
