/* Unit tests of file_edit's operations and diff (tools/edit.c). */
#include "tap.h"
#include "tools/edit.h"

static char out[4096], diff[4096], msg[512];
static struct tool_edit_result last;

/* Apply e to text; out holds the new text (or ""), msg the error, diff the diff. */
static int run(const char *text, struct tool_edit e)
{
	struct err *err = NULL;
	if (e.old_s)
		e.old_len = strlen(e.old_s);
	if (e.new_s)
		e.new_len = strlen(e.new_s);
	out[0] = diff[0] = msg[0] = 0;
	tool_edit_result_release(&last);
	int r = tool_edit_apply(text, strlen(text), &e, 1000, &last, &err);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s", err_text(err));
		r = -1 - (int)err->cls;
		err_free(err);
		return r;
	}
	snprintf(out, sizeof(out), "%.*s", (int)last.out.len, last.out.data ? last.out.data : "");
	struct buf b = BUF_INIT;
	tool_edit_diff(text, strlen(text), &last, 1, 40, &b);
	snprintf(diff, sizeof(diff), "%s", b.data ? b.data : "");
	buf_release(&b);
	return 0;
}

#define REPL(o, n) (struct tool_edit){ .kind = TOOL_EDIT_REPLACE, .old_s = (o), .new_s = (n) }
#define FAILS_AS(cls) (-1 - (int)(cls))

int main(void)
{
	const char *f = "one\ntwo\nthree\nfour\n";

	/* exact-string replace */
	ok(run(f, REPL("two", "TWO")) == 0, "unique replace");
	is_str(out, "one\nTWO\nthree\nfour\n", "replaced text");
	ok(last.first_line == 2 && last.lines_removed == 1 && last.lines_added == 1 && last.nspans == 1, "report: line 2, 1 -, 1 +");
	is_str(diff, "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n", "diff with one line of context");

	ok(run(f, REPL("o\nt", "O\nT")) == 0, "replace across a line break");
	is_str(out, "one\ntwO\nThree\nfour\n", "replaced across lines");
	is_str(diff, "@@ -1,4 +1,4 @@\n one\n-two\n-three\n+twO\n+Three\n four\n", "both lines in the diff");

	ok(run(f, REPL("nope", "x")) == FAILS_AS(ERR_NOT_FOUND), "absent old_string is not_found");
	ok(strstr(msg, "not found") && strstr(msg, "exactly"), "message says it must match exactly: %s", msg);
	ok(run(f, REPL("TWO", "x")) == FAILS_AS(ERR_NOT_FOUND), "replace is case-sensitive");

	const char *dup = "a = 1\nb = 1\nc = 1\n";
	ok(run(dup, REPL("= 1", "= 2")) == FAILS_AS(ERR_CONFLICT), "ambiguous old_string is a conflict");
	ok(strstr(msg, "occurs 3 times") && strstr(msg, "lines 1, 2, 3") && strstr(msg, "replace_all"),
	   "message counts the matches, names their lines and the way out: %s", msg);
	struct tool_edit all = REPL("= 1", "= 2");
	all.all = true;
	ok(run(dup, all) == 0, "replace_all");
	is_str(out, "a = 2\nb = 2\nc = 2\n", "every occurrence replaced");
	ok(last.nspans == 3 && last.lines_removed == 3 && last.lines_added == 3, "three changes reported");
	is_str(diff, "@@ -1,2 +1,2 @@\n-a = 1\n+a = 2\n b = 1\n@@ -1,3 +1,3 @@\n a = 1\n-b = 1\n+b = 2\n c = 1\n"
		     "@@ -2,2 +2,2 @@\n b = 1\n-c = 1\n+c = 2\n",
	       "one hunk per changed line (context from the old text)");
	ok(run("xx xx\n", (struct tool_edit){ .kind = TOOL_EDIT_REPLACE, .old_s = "xx", .new_s = "y", .all = true }) == 0,
	   "two matches on one line");
	is_str(diff, "@@ -1,1 +1,1 @@\n-xx xx\n+y y\n", "one hunk for one line");
	ok(run("aaa", (struct tool_edit){ .kind = TOOL_EDIT_REPLACE, .old_s = "aa", .new_s = "b", .all = true }) == 0 &&
	   !strcmp(out, "ba"), "matches do not overlap");
	ok(run(f, REPL("", "x")) == FAILS_AS(ERR_INVALID) && strstr(msg, "empty"), "empty old_string refused");
	ok(run(f, REPL("two", "two")) == FAILS_AS(ERR_INVALID) && strstr(msg, "same"), "no-op refused");
	ok(run(f, REPL("two\n", "")) == 0 && !strcmp(out, "one\nthree\nfour\n"), "replace with nothing deletes");
	is_str(diff, "@@ -1,3 +1,2 @@\n one\n-two\n three\n", "a deleted line in the diff");

	/* size bound */
	{
		char big[600];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		struct tool_edit g = REPL("two", big);
		ok(run(f, g) == 0, "599 bytes more: under 1000");
		g = (struct tool_edit){ .kind = TOOL_EDIT_REPLACE, .old_s = "o", .new_s = big, .all = true };
		ok(run(f, g) == FAILS_AS(ERR_LIMIT) && strstr(msg, "larger than 1000"), "over the bound refused: %s", msg);
	}

	/* line operations */
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_BEFORE, .line = 1, .new_s = "zero" }) == 0, "insert before 1");
	is_str(out, "zero\none\ntwo\nthree\nfour\n", "a newline is added to the inserted text");
	ok(last.first_line == 1 && last.lines_added == 1 && last.lines_removed == 0, "report: 1 line added at 1");
	is_str(diff, "@@ -1,1 +1,2 @@\n+zero\n one\n", "insertion diff");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_AFTER, .line = 4, .new_s = "five\nsix\n" }) == 0, "insert after the last line");
	is_str(out, "one\ntwo\nthree\nfour\nfive\nsix\n", "appended");
	ok(last.lines_added == 2, "two lines added");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_AFTER, .line = 0, .new_s = "top" }) == 0 &&
	   !strcmp(out, "top\none\ntwo\nthree\nfour\n"), "insert after 0 is the top");
	ok(run("a\nb", (struct tool_edit){ .kind = TOOL_EDIT_INSERT_AFTER, .line = 2, .new_s = "c" }) == 0, "append to a file without a final newline");
	is_str(out, "a\nb\nc", "the last line keeps having no newline");
	ok(last.lines_added == 1, "one line added");
	ok(run("", (struct tool_edit){ .kind = TOOL_EDIT_INSERT_BEFORE, .line = 1, .new_s = "first" }) == 0 &&
	   !strcmp(out, "first\n"), "insert into an empty file");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_BEFORE, .line = 6, .new_s = "x" }) == FAILS_AS(ERR_INVALID), "insert_before past n+1 refused");
	ok(strstr(msg, "the file has 4 lines") && strstr(msg, "1 to 5"), "message gives the range: %s", msg);
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_AFTER, .line = 5, .new_s = "x" }) == FAILS_AS(ERR_INVALID), "insert_after past n refused");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_INSERT_AFTER, .line = 1, .new_s = "" }) == FAILS_AS(ERR_INVALID), "empty insert refused");

	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_REPLACE_LINES, .start = 2, .end = 3, .new_s = "2\n3\n3.5" }) == 0, "replace lines 2..3");
	is_str(out, "one\n2\n3\n3.5\nfour\n", "replaced");
	ok(last.first_line == 2 && last.lines_removed == 2 && last.lines_added == 3, "report: 2 removed, 3 added");
	is_str(diff, "@@ -1,4 +1,5 @@\n one\n-two\n-three\n+2\n+3\n+3.5\n four\n", "range diff");
	ok(run("a\nb", (struct tool_edit){ .kind = TOOL_EDIT_REPLACE_LINES, .start = 2, .end = 2, .new_s = "B" }) == 0 &&
	   !strcmp(out, "a\nB"), "replacing the last line keeps its missing newline");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_DELETE_LINES, .start = 1, .end = 4 }) == 0 && !strcmp(out, ""), "delete every line");
	ok(last.lines_removed == 4 && last.lines_added == 0, "report: 4 removed");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_DELETE_LINES, .start = 4, .end = 4 }) == 0 && !strcmp(out, "one\ntwo\nthree\n"), "delete the last line");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_DELETE_LINES, .start = 3, .end = 2 }) == FAILS_AS(ERR_INVALID), "end before start refused");
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_DELETE_LINES, .start = 4, .end = 5 }) == FAILS_AS(ERR_INVALID) &&
	   strstr(msg, "has 4 lines"), "end past the last line refused: %s", msg);
	ok(run(f, (struct tool_edit){ .kind = TOOL_EDIT_REPLACE_LINES, .start = 0, .end = 1, .new_s = "x" }) == FAILS_AS(ERR_INVALID), "line 0 refused");

	/* the diff is bounded */
	{
		char many[3000] = "";
		for (int i = 0; i < 100; i++)
			strcat(many, "k\n\n\n");
		struct tool_edit e = { .kind = TOOL_EDIT_REPLACE, .old_s = "k", .new_s = "K", .all = true };
		ok(run(many, e) == 0 && last.nspans == 100, "100 replacements");
		ok(strstr(diff, "more changes not shown") != NULL, "the diff says what it left out");
		int lines = 0;
		for (const char *p = diff; *p; p++)
			lines += *p == '\n';
		ok(lines < 60, "diff bounded (%d lines)", lines);
	}
	tool_edit_result_release(&last);
	return tap_done();
}
