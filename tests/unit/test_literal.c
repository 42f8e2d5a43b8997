/*
 * Unit tests of grep's literal prefilter (tools/literal.c): what literal a
 * regex is proven to require, and, on generated patterns and texts, that
 * the lines the prefilter keeps hold every line regexec matches (so the
 * filtered search finds exactly what the unfiltered one finds).
 */
#include "tap.h"
#include "tools/literal.h"

#include <ctype.h>
#include <regex.h>

static const char *req(const char *re)
{
	static char out[256];
	char *s = tool_lit_required(re);
	if (!s)
		return "(none)";
	snprintf(out, sizeof(out), "%s", s);
	free(s);
	return out;
}

static void test_required(void)
{
	static const struct { const char *re, *want; } cases[] = {
		{ "NEEDLE_[0-9]+", "NEEDLE_" },
		{ "hello", "hello" },
		{ "a|b", "(none)" },
		{ "foo(bar|baz)qux", "(none)" },	/* any "|" gives none */
		{ "[|]abc", "(none)" },
		{ "foo.*bar", "foo" },
		{ "x.*longer", "longer" },
		{ "^abc$", "abc" },
		{ "ab?cd", "cd" },		/* b optional, a alone is shorter */
		{ "abc*de", "ab" },		/* the first of two as long */
		{ "abc{0,}de", "ab" },
		{ "abc{0}de", "ab" },
		{ "abc{,3}de", "ab" },
		{ "abc{1,3}de", "abc" },	/* c required once, then the run ends */
		{ "abc{2}", "abc" },
		{ "abc+de", "abc" },
		{ "abc+?de", "ab" },		/* (c+)? is optional: not "abc" */
		{ "abc+*de", "ab" },
		{ "ab\\(cd", "ab(cd" },		/* \( is a byte */
		{ "a\\.b\\*c", "a.b*c" },
		{ "\\<word\\>", "word" },	/* \< \> are anchors, not bytes */
		{ "\\bxy\\wz", "xy" },
		{ "(abc)", "(none)" },		/* groups are opaque */
		{ "(abc)?def", "def" },
		{ "x(a(b)c)*yz", "yz" },
		{ "[abc]def", "def" },
		{ "[]x]yz", "yz" },
		{ "[^]x]yz", "yz" },
		{ "[[:alpha:]ab]cd", "cd" },	/* the "]" of [:alpha:] does not close */
		{ "[[.-.]q]rs", "rs" },
		{ "a.b.c", "a" },
		{ ".", "(none)" },
		{ "a{", "(none)" },		/* not understood: none */
		{ "a{x}", "(none)" },
		{ "ab\\", "(none)" },
		{ "[abc", "(none)" },
		{ "(abc", "(none)" },
		{ "*abc", "abc" },
		{ "(ab)+cd\\1", "cd" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		is_str(req(cases[i].re), cases[i].want, "required literal of /%s/", cases[i].re);
}

static bool naive_has(const char *d, size_t n, const char *s, size_t len, bool icase)
{
	for (size_t i = 0; i + len <= n; i++) {
		size_t k = 0;
		while (k < len && (icase ? tolower((unsigned char)d[i + k]) == tolower((unsigned char)s[k]) : d[i + k] == s[k]))
			k++;
		if (k == len)
			return true;
	}
	return false;
}

static unsigned long rnd_state = 12345;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rnd_state >> 33) % n);
}

/* The finder against a naive search, on buffers dense in the rare byte
   (the memmem hand-over) and sparse (the memchr path), both cases. */
static void test_find(void)
{
	static const char *lits[] = { "ab", "aab", "NEEDLE_", "x", "aaaaaaaaab", "Q_q", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ" };
	int bad = 0, runs = 0;
	char d[2048];
	for (int round = 0; round < 3000; round++) {
		const char *s = lits[rnd(sizeof(lits) / sizeof(*lits))];
		bool icase = rnd(2);
		size_t n = rnd(sizeof(d));
		const char *alpha = rnd(2) ? "aAbB_" : "abcdefgh NEQDLE_xyzq\n";
		for (size_t i = 0; i < n; i++)
			d[i] = alpha[rnd((unsigned)strlen(alpha))];
		if (rnd(2) && n > 40) {	/* plant one */
			size_t at = rnd((unsigned)(n - strlen(s)));
			memcpy(d + at, s, strlen(s) < n - at ? strlen(s) : n - at);
		}
		struct tool_lit l;
		tool_lit_init(&l, s, strlen(s), icase);
		const char *got = tool_lit_find(&l, d, n);
		/* the first occurrence: found exactly where a naive scan first succeeds */
		size_t first = n;
		for (size_t i = 0; i + l.len <= n; i++)
			if (naive_has(d + i, l.len, l.s, l.len, icase)) {
				first = i;
				break;
			}
		if ((got ? (size_t)(got - d) : n) != first)
			bad++;
		runs++;
		tool_lit_release(&l);
	}
	ok(bad == 0, "tool_lit_find agrees with a naive search on %d generated buffers (%d differ)", runs, bad);
}

/* Build a random ERE from pieces that exercise every rule of the extractor. */
static void gen_pattern(char *out, size_t cap)
{
	static const char *atoms[] = { "a", "b", "c", "ab", "ba", "X", "_", "\\.", "\\(", "\\*", ".", "[ab]", "[^a]",
		"[[:alpha:]b]", "(ab)", "(a|b)", "(ab)*", "^", "$", "\\<", "\\>", "\\w", "\\b", "[]a]", " " };
	static const char *quants[] = { "", "", "", "", "*", "+", "?", "{0,}", "{1,2}", "{0,1}", "{2}", "+?", "{,1}" };
	size_t len = 0;
	int natoms = 1 + (int)rnd(6);
	out[0] = '\0';
	for (int i = 0; i < natoms; i++) {
		const char *a = atoms[rnd(sizeof(atoms) / sizeof(*atoms))];
		const char *q = quants[rnd(sizeof(quants) / sizeof(*quants))];
		if (!strcmp(a, "^") || !strcmp(a, "$") || (a[0] == '\\' && strchr("<>b", a[1])))
			q = "";
		len += (size_t)snprintf(out + len, cap - len, "%s%s", a, q);
		if (rnd(12) == 0)
			len += (size_t)snprintf(out + len, cap - len, "|");
	}
}

/* The lines tool_lit_next_line keeps include every line regexec matches. */
static void test_prefilter_never_drops(void)
{
	char pat[256], text[4096];
	int patterns = 0, with_lit = 0, matched_lines = 0, dropped = 0, kept_wrong = 0;
	for (int round = 0; round < 4000; round++) {
		gen_pattern(pat, sizeof(pat));
		bool icase = rnd(3) == 0;
		regex_t re;
		if (regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE | (icase ? REG_ICASE : 0)))
			continue;
		patterns++;
		char *lit = tool_lit_required(pat);
		struct tool_lit l;
		if (lit) {
			with_lit++;
			tool_lit_init(&l, lit, strlen(lit), icase);
		}
		size_t n = 0;
		for (int line = 0, lines = 1 + (int)rnd(30); line < lines; line++) {
			int w = (int)rnd(24);
			for (int k = 0; k < w; k++)
				text[n++] = "abcABC_.(* X"[rnd(12)];
			text[n++] = '\n';
		}
		if (rnd(2))
			n--;	/* a last line without '\n' */
		/* plain path: every line; filtered path: the lines tool_lit_next_line yields */
		size_t next = lit ? tool_lit_next_line(&l, text, n, 0) : 0;
		for (size_t a = 0; a < n;) {
			char *nl = memchr(text + a, '\n', n - a);
			size_t b = nl ? (size_t)(nl - text) : n;
			regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)(b - a) };
			bool match = regexec(&re, text + a, 1, &m, REG_STARTEND) == 0;
			bool kept = !lit || next == a;
			matched_lines += match;
			if (match && !kept) {
				dropped++;
				if (dropped < 5)
					printf("# /%s/%s dropped line \"%.*s\" (literal \"%s\")\n", pat, icase ? "i" : "", (int)(b - a), text + a, lit);
			}
			if (lit && next == a && !naive_has(text + a, b - a, l.s, l.len, icase))
				kept_wrong++;	/* kept a line without the literal */
			a = b + 1;
			if (lit && next < a)
				next = tool_lit_next_line(&l, text, n, a < n ? a : n);
		}
		if (lit) {
			tool_lit_release(&l);
			free(lit);
		}
		regfree(&re);
	}
	ok(patterns > 2000 && with_lit > 1000, "generated %d valid patterns, %d with a literal", patterns, with_lit);
	ok(matched_lines > 5000, "%d lines matched", matched_lines);
	ok(dropped == 0, "the prefilter dropped no line the regex matches (%d dropped)", dropped);
	ok(kept_wrong == 0, "every line kept holds the literal (%d do not)", kept_wrong);
}

static void test_icase_cut(void)
{
	struct tool_lit l;
	const char *s = "0123456789abcdefghijklmnopqrstuvwxyz";
	tool_lit_init(&l, s, strlen(s), true);
	ok(l.len == TOOL_LIT_ICASE_MAX, "an icase literal is cut to %d bytes", TOOL_LIT_ICASE_MAX);
	ok(tool_lit_find(&l, "xx0123456789ABCDEFGHIJKLMNOPQRSTUV", 34) != NULL, "found in the other case");
	tool_lit_release(&l);
	tool_lit_init(&l, "NEEDLE_", 7, false);
	ok(l.s[l.rare] != '_' && l.s[l.rare] != 'E', "a rare byte is searched first (got '%c')", l.s[l.rare]);
	ok(tool_lit_next_line(&l, "x\nab NEEDLE_1\nc", 15, 0) == 2, "the line holding the literal starts at 2");
	ok(tool_lit_next_line(&l, "x\nab NEEDLE_1\nc", 15, 14) == 15, "none after it");
	tool_lit_release(&l);
}

/* Back-references are what grep refuses; a backslash in a bracket is a byte, and
   glibc agrees: those patterns compile, and the others would backtrack. */
static void test_backref(void)
{
	static const struct { const char *re; bool want; } cases[] = {
		{ "(a)\\1", true },
		{ "(a|aa)*\\1\\1c", true },
		{ "x\\9", true },
		{ "\\\\1", false },		/* an escaped backslash, then a 1 */
		{ "[\\1]", false },		/* "\\" and "1" in a bracket */
		{ "[]\\1]x", false },		/* "]" first is a member */
		{ "[^]\\2]", false },
		{ "[[:alpha:]\\1]", false },
		{ "[[:alpha:]]\\1", true },
		{ "a\\0", false },		/* not a back-reference in glibc */
		{ "\\", false },
		{ "[abc", false },		/* never closes: regcomp refuses it */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ok(tool_re_has_backref(cases[i].re) == cases[i].want, "%s %s back-reference", cases[i].re,
		   cases[i].want ? "holds a" : "holds no");
}

int main(void)
{
	test_backref();
	test_required();
	test_find();
	test_prefilter_never_drops();
	test_icase_cut();
	return tap_done();
}
