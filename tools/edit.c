/*
 * file_edit's operations on a buffer. Every operation becomes a list of
 * spans (old bytes → new bytes), which both builds the new text and the
 * diff; line operations are spans whose ends sit on line starts.
 */
#include "edit.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <string.h>

#define EDIT_LIST_LINES 10	/* line numbers named in an "ambiguous" error */
#define DIFF_LINE_MAX 200

static int64_t count_nl(const char *p, size_t n)
{
	int64_t c = 0;
	const char *e = p + n;
	if (!n)
		return 0; /* an empty text may have no buffer at all (memchr(NULL, ...) is undefined) */
	while ((p = memchr(p, '\n', (size_t)(e - p)))) {
		c++;
		p++;
	}
	return c;
}

/* Lines a text of n bytes has (a last line without "\n" counts). */
static int64_t lines_in(const char *p, size_t n)
{
	return count_nl(p, n) + (n && p[n - 1] != '\n');
}

static void add_span(struct tool_edit_result *res, size_t old_off, size_t old_len, size_t new_len)
{
	if (!(res->nspans & (res->nspans + 1)) || !res->spans)
		res->spans = xrealloc(res->spans, (res->nspans * 2 + 2) * sizeof(*res->spans));
	res->spans[res->nspans++] = (struct tool_edit_span){
		.old_off = old_off, .old_len = old_len, .new_off = res->out.len, .new_len = new_len,
	};
}

/* Build res->out from text and the spans' replacement texts (rep for every span). */
static void build(struct tool_edit_result *res, const char *text, size_t len, const char *rep, size_t rep_len,
		  const size_t *at, size_t n, size_t old_len)
{
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		buf_add(&res->out, text + pos, at[i] - pos);
		add_span(res, at[i], old_len, rep_len);
		buf_add(&res->out, rep, rep_len);
		pos = at[i] + old_len;
	}
	buf_add(&res->out, text + pos, len - pos);
}

static int edit_replace(const char *text, size_t len, const struct tool_edit *e, size_t max_out,
			struct tool_edit_result *res, struct err **errp)
{
	if (!e->old_len)
		return err_setc(errp, ERR_INVALID, 0, "old_string is empty: to add text, use insert_before or "
				"insert_after with a line number");
	if (e->old_len == e->new_len && !memcmp(e->old_s, e->new_s, e->old_len))
		return err_setc(errp, ERR_INVALID, 0, "old_string and new_string are the same: nothing would change");
	size_t *at = NULL, n = 0;
	for (const char *p = text, *end = text + len; (p = memmem(p, (size_t)(end - p), e->old_s, e->old_len));
	     p += e->old_len) {
		if (!(n & (n + 1)))
			at = xrealloc(at, (n * 2 + 2) * sizeof(*at));
		at[n++] = (size_t)(p - text);
	}
	if (!n) {
		free(at);
		return err_setc(errp, ERR_NOT_FOUND, 0, "old_string was not found: it must match the file exactly, "
				"including whitespace, indentation and line breaks (read the file again to see its "
				"current text)");
	}
	if (n > 1 && !e->all) {
		struct buf lines = BUF_INIT;
		int64_t line = 1;
		size_t pos = 0;
		for (size_t i = 0; i < n && i < EDIT_LIST_LINES; i++) {
			line += count_nl(text + pos, at[i] - pos);
			pos = at[i];
			buf_addf(&lines, "%s%lld", i ? ", " : "", (long long)line);
		}
		int r = err_setc(errp, ERR_CONFLICT, 0, "old_string occurs %zu times (at lines %s%s): include more "
				 "of the surrounding text to make it unique, or pass replace_all: true to replace "
				 "every occurrence", n, lines.data, n > EDIT_LIST_LINES ? ", ..." : "");
		buf_release(&lines);
		free(at);
		return r;
	}
	if (e->new_len > e->old_len && (e->new_len - e->old_len) > (max_out - (len < max_out ? len : max_out)) / n) {
		free(at);
		return err_setc(errp, ERR_LIMIT, 0, "the edited file would be larger than %zu bytes", max_out);
	}
	build(res, text, len, e->new_s, e->new_len, at, n, e->old_len);
	res->first_line = 1 + count_nl(text, at[0]);
	for (size_t i = 0; i < n; i++) {
		/* lines touched: those holding the old text and the new */
		res->lines_removed += 1 + count_nl(e->old_s, e->old_len) - (e->old_s[e->old_len - 1] == '\n');
		res->lines_added += e->new_len ? 1 + count_nl(e->new_s, e->new_len) -
					       (e->new_s[e->new_len - 1] == '\n') : 0;
	}
	free(at);
	return 0;
}

/* Offset of the start of line k (1..n+1; n+1: the end). */
static size_t line_start(const char *text, size_t len, int64_t k)
{
	const char *p = text, *end = text + len;
	for (int64_t i = 1; i < k && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	return (size_t)(p - text);
}

static int edit_lines(const char *text, size_t len, const struct tool_edit *e, size_t max_out,
		      struct tool_edit_result *res, struct err **errp)
{
	int64_t n = lines_in(text, len);
	int64_t from, to;	/* lines from..to-1 are replaced */

	switch (e->kind) {
	case TOOL_EDIT_INSERT_BEFORE:
	case TOOL_EDIT_INSERT_AFTER: {
		int64_t before = e->kind == TOOL_EDIT_INSERT_BEFORE ? e->line : e->line + 1;
		if (!e->new_len)
			return err_setc(errp, ERR_INVALID, 0, "new_string is empty: nothing to insert");
		if (before < 1 || before > n + 1)
			return err_setc(errp, ERR_INVALID, 0, "%s %lld is out of range: the file has %lld line%s "
					"(insert_before takes 1 to %lld, insert_after 0 to %lld)",
					e->kind == TOOL_EDIT_INSERT_BEFORE ? "insert_before" : "insert_after",
					(long long)e->line, (long long)n, n == 1 ? "" : "s", (long long)n + 1, (long long)n);
		from = to = before;
		break;
	}
	default:
		if (e->start < 1 || e->end < e->start || e->end > n)
			return err_setc(errp, ERR_INVALID, 0, "lines %lld to %lld are out of range: the file has %lld "
					"line%s (start_line 1 <= end_line <= %lld)", (long long)e->start, (long long)e->end,
					(long long)n, n == 1 ? "" : "s", (long long)n);
		from = e->start;
		to = e->end + 1;
	}
	size_t a = line_start(text, len, from), b = line_start(text, len, to);
	struct buf t = BUF_INIT;
	if (e->kind != TOOL_EDIT_DELETE_LINES && e->new_len) {
		/* the new text is whole lines: it ends in "\n", except where the file's
		   last line has none and stays last */
		if (a == len && len && text[len - 1] != '\n')
			buf_addch(&t, '\n');
		buf_add(&t, e->new_s, e->new_len);
		if (e->new_s[e->new_len - 1] != '\n' && !(b == len && len && text[len - 1] != '\n'))
			buf_addch(&t, '\n');
	}
	if (len - (b - a) + t.len > max_out) {
		buf_release(&t);
		return err_setc(errp, ERR_LIMIT, 0, "the edited file would be larger than %zu bytes", max_out);
	}
	build(res, text, len, t.data ? t.data : "", t.len, &a, 1, b - a);
	res->first_line = from;
	res->lines_removed = to - from;
	res->lines_added = lines_in(t.data, t.len) - (a == len && len && text[len - 1] != '\n');
	buf_release(&t);
	return 0;
}

int tool_edit_apply(const char *text, size_t len, const struct tool_edit *e, size_t max_out,
		    struct tool_edit_result *res, struct err **errp)
{
	*res = (struct tool_edit_result){ .out = BUF_INIT };
	if (e->kind == TOOL_EDIT_REPLACE)
		return edit_replace(text, len, e, max_out, res, errp);
	return edit_lines(text, len, e, max_out, res, errp);
}

void tool_edit_result_release(struct tool_edit_result *res)
{
	buf_release(&res->out);
	free(res->spans);
	res->spans = NULL;
	res->nspans = 0;
}

/* ---- the diff ------------------------------------------------------------ */

/* Start of the line holding off / end of the line holding off-1 (after its "\n"). */
static size_t bol(const char *t, size_t off)
{
	while (off && t[off - 1] != '\n')
		off--;
	return off;
}

static size_t eol(const char *t, size_t len, size_t off)
{
	if (!off || t[off - 1] == '\n')
		return off;
	const char *nl = memchr(t + off, '\n', len - off);
	return nl ? (size_t)(nl - t) + 1 : len;
}

/* Add the lines of t[a, b) to out with a mark; returns how many. */
static int add_lines(struct buf *out, char mark, const char *t, size_t a, size_t b, int budget)
{
	int n = 0;
	while (a < b && n < budget) {
		const char *nl = memchr(t + a, '\n', b - a);
		size_t e = nl ? (size_t)(nl - t) : b, l = e - a;
		buf_addch(out, mark);
		buf_add(out, t + a, l > DIFF_LINE_MAX ? DIFF_LINE_MAX : l);
		buf_adds(out, l > DIFF_LINE_MAX ? "…\n" : "\n");
		n++;
		a = nl ? e + 1 : b;
	}
	return n;
}

/* The start of the line `n` lines before the line at off / the end `n` lines after off. */
static size_t back_lines(const char *t, size_t off, int n)
{
	for (int i = 0; i < n && off; i++)
		off = bol(t, off - 1);
	return off;
}

static size_t fwd_lines(const char *t, size_t len, size_t off, int n)
{
	for (int i = 0; i < n && off < len; i++) {
		const char *nl = memchr(t + off, '\n', len - off);
		off = nl ? (size_t)(nl - t) + 1 : len;
	}
	return off;
}

void tool_edit_diff(const char *old, size_t old_len, const struct tool_edit_result *res, int context,
		    int max_lines, struct buf *b)
{
	const char *nw = res->out.data ? res->out.data : "";
	size_t oline_off = 0, nline_off = 0;
	int64_t oline = 1, nline = 1;	/* line numbers at oline_off / nline_off */
	int used = 0;

	for (size_t i = 0; i < res->nspans;) {
		/* the whole lines the change touches, on both sides (the bytes around are the same) */
		const struct tool_edit_span *s = &res->spans[i];
		size_t oa = bol(old, s->old_off), na = s->new_off - (s->old_off - oa);
		size_t ob = eol(old, old_len, s->old_off + s->old_len);
		size_t j = i + 1;
		while (j < res->nspans && res->spans[j].old_off < ob) {	/* spans sharing a line: one hunk */
			ob = eol(old, old_len, res->spans[j].old_off + res->spans[j].old_len);
			j++;
		}
		const struct tool_edit_span *last = &res->spans[j - 1];
		size_t nb = last->new_off + last->new_len + (ob - (last->old_off + last->old_len));
		if (used >= max_lines) {
			buf_addf(b, "... %zu more change%s not shown\n", res->nspans - i, res->nspans - i == 1 ? "" : "s");
			return;
		}
		size_t ca = back_lines(old, oa, context), cb = fwd_lines(old, old_len, ob, context);
		oline += count_nl(old + oline_off, ca - oline_off);
		oline_off = ca;
		size_t nca = na - (oa - ca);
		nline += count_nl(nw + nline_off, nca - nline_off);
		nline_off = nca;
		int64_t before = count_nl(old + ca, oa - ca), after = lines_in(old + ob, cb - ob);
		int64_t ocount = before + lines_in(old + oa, ob - oa) + after;
		int64_t ncount = before + lines_in(nw + na, nb - na) + after;
		buf_addf(b, "@@ -%lld,%lld +%lld,%lld @@\n", (long long)oline, (long long)ocount, (long long)nline,
			 (long long)ncount);
		int budget = max_lines - used;
		used += add_lines(b, ' ', old, ca, oa, budget);
		used += add_lines(b, '-', old, oa, ob, max_lines - used);
		used += add_lines(b, '+', nw, na, nb, max_lines - used);
		used += add_lines(b, ' ', old, ob, cb, max_lines - used);
		i = j;
	}
}
