/*
 * Path patterns: braces are expanded once at compile time; each alternative
 * is a list of component patterns matched by a small NFA over components
 * ("**" is the component-level star), and each component pattern by the
 * two-pointer wildcard algorithm. No backtracking across components, so a
 * match costs O(components × pattern components × component length).
 */
#include "glob.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <stdint.h>
#include <string.h>

#define GLOB_MAX_LEN 4096
#define GLOB_MAX_ALTS 256
#define GLOB_MAX_BRACES 32	/* bounds the expansion's recursion */
#define GLOB_MAX_COMPS 63	/* the NFA's states fit one 64-bit word */

struct alt {
	char **comps;
	bool *dstar;	/* comps[i] is "**" */
	int n;
};

struct tool_glob {
	struct alt *alts;
	int nalts;
	bool dir_only;
	bool has_slash;
};

/* ---- one component ------------------------------------------------------- */

/* Does the element at *pp ("?", "[...]", "\x" or a byte) match c? Moves *pp past it. */
static bool match_one(const char **pp, unsigned char c)
{
	const char *p = *pp;

	if (*p == '?') {
		*pp = p + 1;
		return true;
	}
	if (*p == '\\' && p[1]) {
		*pp = p + 2;
		return (unsigned char)p[1] == c;
	}
	if (*p == '[') {
		const char *q = p + 1;
		bool neg = *q == '!' || *q == '^', hit = false, first = true;
		if (neg)
			q++;
		for (;; first = false) {
			if (!*q)
				goto literal;	/* no closing "]": the "[" is an ordinary byte */
			if (*q == ']' && !first)
				break;
			unsigned char lo = (unsigned char)*q, hi;
			if (*q == '\\' && q[1])
				lo = (unsigned char)*++q;
			q++;
			hi = lo;
			if (*q == '-' && q[1] && q[1] != ']') {
				q++;
				if (*q == '\\' && q[1])
					q++;
				hi = (unsigned char)*q++;
			}
			if (c >= lo && c <= hi)
				hit = true;
		}
		*pp = q + 1;
		return hit != neg;
	}
literal:
	*pp = p + 1;
	return (unsigned char)*p == c;
}

static bool comp_match(const char *p, const char *s, const char *se)
{
	const char *star_p = NULL, *star_s = NULL;

	while (s < se) {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (!*p)
				return true;
			star_p = p;
			star_s = s;
			continue;
		}
		const char *next = p;
		if (*p && match_one(&next, (unsigned char)*s)) {
			p = next;
			s++;
			continue;
		}
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* ---- components (the NFA) ----------------------------------------------- */

static uint64_t closure(const struct alt *a, uint64_t set)
{
	for (int j = 0; j < a->n; j++)
		if ((set >> j & 1) && a->dstar[j])
			set |= 1ull << (j + 1);
	return set;
}

static uint64_t step(const struct alt *a, uint64_t set, const char *c, const char *ce)
{
	uint64_t next = 0;
	for (int j = 0; j < a->n; j++) {
		if (!(set >> j & 1))
			continue;
		if (a->dstar[j])
			next |= 1ull << j;
		else if (comp_match(a->comps[j], c, ce))
			next |= 1ull << (j + 1);
	}
	return closure(a, next);
}

/* The NFA's states after reading every component of path. */
static uint64_t run(const struct alt *a, const char *path)
{
	uint64_t set = closure(a, 1);
	const char *p = path;

	while (*p && set) {
		const char *e = strchrnul(p, '/');
		if (e > p && !(e - p == 1 && *p == '.'))
			set = step(a, set, p, e);
		p = *e ? e + 1 : e;
	}
	return set;
}

bool tool_glob_match(const struct tool_glob *g, const char *path, bool is_dir)
{
	if (g->dir_only && !is_dir)
		return false;
	for (int i = 0; i < g->nalts; i++)
		if (run(&g->alts[i], path) >> g->alts[i].n & 1)
			return true;
	return false;
}

bool tool_glob_could_match_below(const struct tool_glob *g, const char *dir)
{
	for (int i = 0; i < g->nalts; i++) {
		const struct alt *a = &g->alts[i];
		if (run(a, dir) & ((1ull << a->n) - 1))
			return true;
	}
	return false;
}

bool tool_glob_has_slash(const struct tool_glob *g)
{
	return g->has_slash;
}

/* ---- compiling ------------------------------------------------------------ */

/* Past a bracket expression starting at p ("["), or p + 1 if it is not one. */
static const char *skip_bracket(const char *p)
{
	const char *q = p + 1;
	if (*q == '!' || *q == '^')
		q++;
	if (*q == ']')
		q++;
	for (; *q && *q != ']'; q++)
		if (*q == '\\' && q[1])
			q++;
	return *q ? q + 1 : p + 1;
}

/* q, or past the escapes and bracket expressions that start at q. */
static const char *skip_quoted(const char *q)
{
	for (;;) {
		if (*q == '\\' && q[1])
			q += 2;
		else if (*q == '[' && skip_bracket(q) != q + 1)
			q = skip_bracket(q);
		else
			return q;
	}
}

/* The "}" closing the "{" at p, with the top-level commas in between; NULL if none. */
static const char *find_brace_end(const char *p, const char **commas, int *ncommas)
{
	int depth = 0;
	*ncommas = 0;
	for (const char *q = skip_quoted(p); *q; q = skip_quoted(q + 1)) {
		if (*q == '{')
			depth++;
		else if (*q == '}' && --depth == 0)
			return q;
		else if (*q == ',' && depth == 1 && *ncommas < GLOB_MAX_ALTS)
			commas[(*ncommas)++] = q;
	}
	return NULL;
}

struct expansion {
	char **v;
	int n;
	bool overflow;
};

/* Append prefix + every expansion of p to ex. */
static void expand(struct expansion *ex, const char *prefix, size_t plen, const char *p)
{
	if (ex->overflow)
		return;
	for (const char *q = skip_quoted(p); *q; q = skip_quoted(q + 1)) {
		const char *commas[GLOB_MAX_ALTS];
		int nc;
		const char *end = *q == '{' ? find_brace_end(q, commas, &nc) : NULL;
		if (!end)
			continue;
		if (nc >= GLOB_MAX_ALTS) {
			ex->overflow = true;
			return;
		}
		/* prefix + p..q + alternative + expansions of the rest */
		const char *from = q + 1;
		for (int i = 0; i <= nc; i++) {
			const char *to = i < nc ? commas[i] : end;
			struct buf b = BUF_INIT;
			buf_add(&b, prefix, plen);
			buf_add(&b, p, (size_t)(q - p));
			buf_add(&b, from, (size_t)(to - from));
			buf_adds(&b, end + 1);
			expand(ex, b.data, 0, b.data);
			buf_release(&b);
			from = to + 1;
			if (ex->overflow)
				return;
		}
		return;
	}
	if (ex->n >= GLOB_MAX_ALTS) {
		ex->overflow = true;
		return;
	}
	struct buf b = BUF_INIT;
	buf_add(&b, prefix, plen);
	buf_adds(&b, p);
	ex->v = xrealloc(ex->v, (size_t)(ex->n + 1) * sizeof(*ex->v));
	ex->v[ex->n++] = buf_detach(&b);
}

static int split(struct alt *a, const char *s, struct err **errp)
{
	const char *p = s;
	a->comps = NULL;
	a->dstar = NULL;
	a->n = 0;
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t len = (size_t)(e - p);
		bool ds = len == 2 && p[0] == '*' && p[1] == '*';
		if (len && !(len == 1 && *p == '.') && !(ds && a->n && a->dstar[a->n - 1])) {
			if (a->n >= GLOB_MAX_COMPS)
				return err_setc(errp, ERR_INVALID, 0, "pattern has more than %d components", GLOB_MAX_COMPS);
			a->comps = xrealloc(a->comps, (size_t)(a->n + 1) * sizeof(*a->comps));
			a->dstar = xrealloc(a->dstar, (size_t)(a->n + 1) * sizeof(*a->dstar));
			a->comps[a->n] = xstrndup(p, len);
			a->dstar[a->n++] = ds;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

int tool_glob_compile(const char *pattern, struct tool_glob **out, struct err **errp)
{
	size_t len = strlen(pattern);
	const char *p = pattern;

	if (len > GLOB_MAX_LEN)
		return err_setc(errp, ERR_INVALID, 0, "pattern is longer than %d bytes", GLOB_MAX_LEN);
	while (*p == '/' || (p[0] == '.' && p[1] == '/'))
		p += *p == '/' ? 1 : 2;
	auto_free char *body = xstrdup(p);
	size_t bl = strlen(body);
	bool dir_only = false;
	while (bl && body[bl - 1] == '/' && !(bl >= 2 && body[bl - 2] == '\\')) {
		body[--bl] = '\0';
		dir_only = true;
	}
	if (!bl)
		return err_setc(errp, ERR_INVALID, 0, "pattern \"%s\" is empty", pattern);
	size_t braces = 0;
	for (const char *q = body; *q; q++)
		braces += *q == '{';
	if (braces > GLOB_MAX_BRACES)
		return err_setc(errp, ERR_INVALID, 0, "pattern has more than %d \"{\"", GLOB_MAX_BRACES);

	struct expansion ex = { 0 };
	expand(&ex, "", 0, body);
	struct tool_glob *g = xcalloc(1, sizeof(*g));
	g->dir_only = dir_only;
	g->alts = xcalloc((size_t)(ex.n ? ex.n : 1), sizeof(*g->alts));
	int r = 0;
	if (ex.overflow)
		r = err_setc(errp, ERR_INVALID, 0, "pattern \"%s\" has more than %d alternatives", pattern, GLOB_MAX_ALTS);
	for (int i = 0; i < ex.n; i++) {
		if (r == 0) {
			r = split(&g->alts[g->nalts], ex.v[i], errp);
			if (g->alts[g->nalts].n > 1)
				g->has_slash = true;
			g->nalts++;
		}
		free(ex.v[i]);
	}
	free(ex.v);
	if (r < 0) {
		tool_glob_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

void tool_glob_free(struct tool_glob *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nalts; i++) {
		for (int j = 0; j < g->alts[i].n; j++)
			free(g->alts[i].comps[j]);
		free(g->alts[i].comps);
		free(g->alts[i].dstar);
	}
	free(g->alts);
	free(g);
}
