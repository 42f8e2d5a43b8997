/**
 * edit.h — the text edits of file_edit, on bytes in memory: exact-string
 * replacement and line-range operations, and a short unified-diff-like
 * account of what changed. No I/O: the tool reads and writes the file.
 *
 * Lines are separated by "\n" (a "\r" before it is part of the line);
 * numbers are 1-based. Any thread; the caller owns every buffer.
 */
#ifndef MCPBOX_TOOL_EDIT_H
#define MCPBOX_TOOL_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"
#include "../server/base/err.h"

enum tool_edit_kind {
	TOOL_EDIT_REPLACE,		/* old → new, once (unique) or everywhere (all) */
	TOOL_EDIT_INSERT_BEFORE,	/* text as new lines before line `line` (1..n+1) */
	TOOL_EDIT_INSERT_AFTER,		/* text as new lines after line `line` (0..n) */
	TOOL_EDIT_REPLACE_LINES,	/* lines start..end become text */
	TOOL_EDIT_DELETE_LINES,		/* lines start..end go */
};

struct tool_edit {
	enum tool_edit_kind kind;
	const char *old_s, *new_s;	/* new_s: the text of every kind but DELETE_LINES */
	size_t old_len, new_len;
	bool all;			/* REPLACE: every occurrence */
	int64_t line, start, end;
};

/** One changed span: old[old_off, +old_len) became out[new_off, +new_len). */
struct tool_edit_span {
	size_t old_off, old_len, new_off, new_len;
};

struct tool_edit_result {
	struct buf out;			/* the new contents */
	struct tool_edit_span *spans;	/* in order, not overlapping */
	size_t nspans;
	int64_t first_line;		/* first line changed (1-based) */
	int64_t lines_removed, lines_added;
};

/**
 * Apply e to text[0, len) into res (initialised here; release with
 * tool_edit_result_release() also on failure). Fails (ERR_NOT_FOUND,
 * ERR_INVALID, ERR_CONFLICT for an ambiguous match, ERR_LIMIT when the
 * result would pass max_out bytes) with a message a model can act on.
 */
int tool_edit_apply(const char *text, size_t len, const struct tool_edit *e, size_t max_out,
		    struct tool_edit_result *res, struct err **errp);
void tool_edit_result_release(struct tool_edit_result *res);

/**
 * Append a unified-diff-like account of res to b: "@@ -a,b +c,d @@" hunks
 * with `context` lines around each change, at most max_lines lines in all
 * (then a line saying how many changes were left out). Lines are cut at 200 bytes.
 */
void tool_edit_diff(const char *old, size_t old_len, const struct tool_edit_result *res, int context,
		    int max_lines, struct buf *b);

#endif
