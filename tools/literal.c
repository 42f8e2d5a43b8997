/*
 * Required literals of a regex, and a rare-byte search for them. The regex
 * is read atom by atom at its top level; groups and bracket expressions are
 * opaque (never looked into), every quantifier that allows zero repeats
 * makes its atom optional, and anything not understood gives no literal.
 *
 * The search looks for the literal's rarest byte with memchr (many GB/s)
 * and compares the literal around each hit; when hits that are not matches
 * become frequent it hands the rest to memmem, which is linear.
 */
#include "literal.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define LIT_META ".[]()*+?{}|^$\\"

/* Length of the bracket expression at p ("[..."), 0 if it never closes. */
static size_t bracket_len(const char *p)
{
	const char *q = p + 1;
	if (*q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q && *q != ']') {
		if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			char kind = q[1];	/* [:class:] [.coll.] [=equiv=]: their "]" does not close */
			const char *e = q + 2;
			while (*e && !(e[0] == kind && e[1] == ']'))
				e++;
			if (!*e)
				return 0;
			q = e + 2;
			continue;
		}
		q++;
	}
	return *q ? (size_t)(q - p) + 1 : 0;
}

/* Length of the group at p ("(...)"), 0 if it never closes. */
static size_t group_len(const char *p)
{
	int depth = 0;
	for (const char *q = p; *q; q++) {
		if (*q == '\\') {
			if (!*++q)
				return 0;
		} else if (*q == '[') {
			size_t n = bracket_len(q);
			if (!n)
				return 0;
			q += n - 1;
		} else if (*q == '(') {
			depth++;
		} else if (*q == ')' && --depth == 0) {
			return (size_t)(q - p) + 1;
		}
	}
	return 0;
}

/* Length of the quantifiers at p; *optional when one of them allows zero
   repeats; -1 for a bound that is not {n}, {n,}, {n,m} or {,m}. */
static int quant_len(const char *p, bool *optional)
{
	const char *q = p;
	*optional = false;
	for (;;) {
		if (*q == '*' || *q == '?') {
			*optional = true;
			q++;
		} else if (*q == '+') {
			q++;
		} else if (*q == '{') {
			const char *d = ++q;
			unsigned long min = 0;
			for (; *q >= '0' && *q <= '9'; q++)
				if (min < 100000)
					min = min * 10 + (unsigned long)(*q - '0');
			if (q == d || min == 0)
				*optional = true;	/* {0,m} or {,m} */
			if (*q == ',') {
				q++;
				while (*q >= '0' && *q <= '9')
					q++;
			} else if (q == d) {
				return -1;	/* "{}" or "{x" */
			}
			if (*q++ != '}')
				return -1;
		} else {
			return (int)(q - p);
		}
	}
}

bool tool_re_has_backref(const char *re)
{
	for (const char *p = re; *p; p++) {
		if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return true;
			if (!*++p)
				break;
		} else if (*p == '[') {
			size_t n = bracket_len(p);
			if (!n)
				break;	/* never closes: regcomp refuses it */
			p += n - 1;
		}
	}
	return false;
}

static void keep_longer(struct buf *best, struct buf *run)
{
	if (run->len > best->len) {
		best->len = 0;
		buf_add(best, run->data, run->len);
	}
	run->len = 0;
}

char *tool_lit_required(const char *re)
{
	struct buf run = BUF_INIT, best = BUF_INIT;

	/* alternation anywhere: a branch may lack any literal; multi-byte
	   characters: a quantifier applies to a whole character, not its last byte */
	if (strchr(re, '|') || MB_CUR_MAX > 1)
		return NULL;
	for (const char *p = re; *p;) {
		int c = -1;	/* the byte this atom matches, if it is one plain byte */
		size_t n = 1;
		if (*p == '\\') {
			if (!p[1])
				goto none;
			n = 2;	/* \. \* ... are bytes; \w \< \1 ... are not */
			if (strchr(LIT_META, p[1]))
				c = (unsigned char)p[1];
		} else if (*p == '[') {
			if (!(n = bracket_len(p)))
				goto none;
		} else if (*p == '(') {
			if (!(n = group_len(p)))
				goto none;
		} else if (!strchr(LIT_META, *p)) {
			c = (unsigned char)*p;
		}	/* else . ^ $ or a stray ) * + ? {: no byte */
		p += n;
		bool optional;
		int q = quant_len(p, &optional);
		if (q < 0)
			goto none;
		p += q;
		if (c >= 0 && !optional) {
			buf_addch(&run, (char)c);
			if (!q)
				continue;	/* a repeated byte ends the run after its first copy */
		}
		keep_longer(&best, &run);
	}
	keep_longer(&best, &run);
	buf_release(&run);
	return best.len ? buf_detach(&best) : NULL;
none:
	buf_release(&run);
	buf_release(&best);
	return NULL;
}

/* How common a byte is in source code and text: lower is rarer. */
static int byte_rank(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return strchr("QJZXKVWYBG", c) ? 2 : 3;
	if (c >= 'a' && c <= 'z')
		return strchr("qjzxkvwybg", c) ? 6 : strchr("etaoinsrhl", c) ? 9 : 7;
	if (c >= '0' && c <= '9')
		return 4;
	if (c == ' ')
		return 10;
	if (c == '\t' || c == '\n')
		return 8;
	if (c >= 0x80)
		return 4;
	if (c < 0x20 || c == 0x7f)
		return 1;
	return strchr("_.,()=\"'-/:;*", c) ? 5 : 3;
}

static unsigned char ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }
static unsigned char ascii_upper(unsigned char c) { return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c; }

void tool_lit_init(struct tool_lit *l, const char *s, size_t len, bool icase)
{
	if (icase && len > TOOL_LIT_ICASE_MAX)
		len = TOOL_LIT_ICASE_MAX;
	assert(len >= 1);
	*l = (struct tool_lit){ .s = xmalloc(len), .len = len, .icase = icase };
	memcpy(l->s, s, len);
	int best = 1000;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		/* with icase a letter costs two searches */
		int r = byte_rank(c) + (icase && ascii_lower(c) != ascii_upper(c) ? 3 : 0);
		if (r < best) {
			best = r;
			l->rare = i;
		}
	}
	unsigned char c = (unsigned char)s[l->rare];
	l->lo = icase ? ascii_lower(c) : c;
	l->up = icase ? ascii_upper(c) : c;
}

void tool_lit_release(struct tool_lit *l)
{
	free(l->s);
	l->s = NULL;
}

static bool lit_equal(const struct tool_lit *l, const char *p)
{
	if (!l->icase)
		return !memcmp(p, l->s, l->len);
	for (size_t i = 0; i < l->len; i++)
		if (ascii_lower((unsigned char)p[i]) != ascii_lower((unsigned char)l->s[i]))
			return false;
	return true;
}

const char *tool_lit_find(const struct tool_lit *l, const char *d, size_t n)
{
	if (n < l->len)
		return NULL;
	/* the rare byte of a match lies in [first, end) */
	const char *p = d + l->rare, *end = d + (n - l->len) + l->rare + 1;
	const char *next_lo = NULL, *next_up = NULL;	/* cached hits at or after p (end: none) */
	size_t wasted = 0;

	while (p < end) {
		const char *hit;
		if (l->lo == l->up) {
			hit = memchr(p, l->lo, (size_t)(end - p));
		} else {
			if (!next_lo || next_lo < p)
				next_lo = (next_lo = memchr(p, l->lo, (size_t)(end - p))) ? next_lo : end;
			if (!next_up || next_up < p)
				next_up = (next_up = memchr(p, l->up, (size_t)(end - p))) ? next_up : end;
			hit = next_lo < next_up ? next_lo : next_up;
			if (hit == end)
				hit = NULL;
		}
		if (!hit)
			return NULL;
		const char *start = hit - l->rare;
		if (lit_equal(l, start))
			return start;
		p = hit + 1;
		/* a false hit costs a call and a compare: when they come more often
		   than one per 32 bytes, memmem (linear, no icase) does better */
		wasted += 32 + l->len;
		if (!l->icase && wasted > 4096 + (size_t)(p - d))
			return memmem(start + 1, n - (size_t)(start + 1 - d), l->s, l->len);
	}
	return NULL;
}

size_t tool_lit_next_line(const struct tool_lit *l, const char *d, size_t n, size_t from)
{
	const char *hit = from < n ? tool_lit_find(l, d + from, n - from) : NULL;
	if (!hit)
		return n;
	const char *nl = memrchr(d + from, '\n', (size_t)(hit - (d + from)));
	return nl ? (size_t)(nl + 1 - d) : from;
}
