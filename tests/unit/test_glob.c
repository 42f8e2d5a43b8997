/* Unit tests of the path pattern matcher (tools/glob.c). */
#include "tap.h"
#include "tools/glob.h"

static bool m(const char *pat, const char *path)
{
	struct tool_glob *g;
	struct err *e = NULL;
	if (tool_glob_compile(pat, &g, &e) < 0) {
		printf("# compile %s: %s\n", pat, err_text(e));
		err_free(e);
		return false;
	}
	bool r = tool_glob_match(g, path, false);
	tool_glob_free(g);
	return r;
}

static bool below(const char *pat, const char *dir)
{
	struct tool_glob *g;
	if (tool_glob_compile(pat, &g, NULL) < 0)
		return false;
	bool r = tool_glob_could_match_below(g, dir);
	tool_glob_free(g);
	return r;
}

static const char *bad(const char *pat)
{
	static char msg[256];
	struct tool_glob *g;
	struct err *e = NULL;
	if (tool_glob_compile(pat, &g, &e) == 0) {
		tool_glob_free(g);
		return NULL;
	}
	snprintf(msg, sizeof(msg), "%s", err_text(e));
	err_free(e);
	return msg;
}

int main(void)
{
	/* one component */
	ok(m("*.c", "main.c"), "*.c matches main.c");
	ok(!m("*.c", "src/main.c"), "* does not cross /");
	ok(m("*.c", ".hidden.c"), "* matches a leading dot");
	ok(!m("*.c", "main.h"), "*.c does not match main.h");
	ok(m("a?c", "abc") && !m("a?c", "ac") && !m("a?c", "a/c"), "? is one character, never /");
	ok(m("*", "x") && !m("*", "a/b"), "* is one component");
	ok(m("a*b*c", "aXXbYYbc") && !m("a*b*c", "aXXbYYb"), "several stars backtrack");
	ok(m("[abc].txt", "b.txt") && !m("[abc].txt", "d.txt"), "set");
	ok(m("[a-c]x", "bx") && !m("[a-c]x", "dx"), "range");
	ok(m("[!a-c]x", "dx") && !m("[!a-c]x", "ax") && m("[^a]x", "bx"), "negated set (! and ^)");
	ok(m("[]]", "]") && m("[!]]", "a"), "] first in a set is literal");
	ok(m("a[", "a[") && !m("a[", "ab"), "unterminated [ is literal");
	ok(m("\\*", "*") && !m("\\*", "a"), "escaped star is literal");
	ok(m("a\\[b]", "a[b]"), "escaped [ is literal");

	/* components and ** */
	ok(m("src/*.c", "src/a.c") && !m("src/*.c", "src/x/a.c"), "src/*.c is one level");
	ok(m("**/*.c", "a.c") && m("**/*.c", "x/y/z/a.c"), "**/ matches zero or more directories");
	ok(m("src/**/*.c", "src/a.c") && m("src/**/*.c", "src/x/y/a.c") && !m("src/**/*.c", "lib/a.c"),
	   "src/**/*.c");
	ok(m("src/**", "src/a") && m("src/**", "src/a/b/c") && m("src/**", "src") && !m("src/**", "srcx"),
	   "src/** is src and everything below it");
	ok(m("**", "a/b/c"), "** alone matches everything");
	ok(m("a/**/b/**/c", "a/b/c") && m("a/**/b/**/c", "a/x/b/y/z/c") && !m("a/**/b/**/c", "a/x/c"),
	   "two ** stars");
	ok(m("**/**/x", "x") && m("a/**/**/x", "a/q/x"), "repeated ** collapse");
	ok(m("a**b", "aXb") && !m("a**b", "a/b"), "** inside a component is a plain star");
	ok(m("/src/*.c", "src/a.c") && m("./src/*.c", "src/a.c"), "leading / and ./ ignored");
	ok(m("a//b", "a/b"), "empty components ignored");
	ok(m("*.c", "./main.c") || m("*.c", "main.c"), "path forms");

	/* braces */
	ok(m("*.{c,h}", "a.c") && m("*.{c,h}", "a.h") && !m("*.{c,h}", "a.o"), "{c,h}");
	ok(m("{src,lib}/**/*.{c,h}", "lib/x/y.h") && !m("{src,lib}/**/*.{c,h}", "doc/y.h"), "two brace groups");
	ok(m("a{b,{c,d}e}f", "acef") && m("a{b,{c,d}e}f", "abf") && !m("a{b,{c,d}e}f", "acf"), "nested braces");
	ok(m("x{,.bak}", "x") && m("x{,.bak}", "x.bak"), "empty alternative");
	ok(m("a{b", "a{b"), "unclosed { is literal");
	ok(m("\\{a,b}", "{a,b}"), "escaped { is literal");
	ok(m("[{]x", "{x"), "{ inside a set is a set member");

	/* directories only */
	{
		struct tool_glob *g;
		ok(tool_glob_compile("src/", &g, NULL) == 0, "compile src/");
		ok(tool_glob_match(g, "src", true) && !tool_glob_match(g, "src", false), "trailing / is directories only");
		ok(!tool_glob_has_slash(g), "src/ has no inner slash");
		tool_glob_free(g);
		ok(tool_glob_compile("a/*.c", &g, NULL) == 0 && tool_glob_has_slash(g), "a/*.c has a slash");
		tool_glob_free(g);
		ok(tool_glob_compile("*.{c,x/y}", &g, NULL) == 0 && tool_glob_has_slash(g), "slash in one alternative");
		tool_glob_free(g);
	}

	/* pruning */
	ok(below("src/**/*.c", "src") && below("src/**/*.c", "src/x/y"), "below src: could match");
	ok(!below("src/**/*.c", "lib") && !below("src/**/*.c", "lib/src"), "below lib: cannot match");
	ok(below("*.c", ".") && !below("*.c", "sub"), "*.c: only the root can hold matches");
	ok(below("**/*.c", "a/b/c"), "**: every directory");
	ok(!below("a/b", "a/b"), "a/b: nothing below a/b itself");
	ok(below("{a,b}/x", "b") && !below("{a,b}/x", "c"), "braces prune");

	/* refusals */
	ok(bad("") && strstr(bad(""), "empty"), "empty pattern refused");
	ok(bad("/") != NULL, "/ alone refused");
	{
		char big[5000];
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		ok(bad(big) && strstr(bad(big), "longer"), "over-long pattern refused");
		char deep[200] = "";
		for (int i = 0; i < 64; i++)
			strcat(deep, "a/");
		strcat(deep, "b");
		ok(bad(deep) && strstr(bad(deep), "components"), "too many components refused: %s", bad(deep));
	}
	ok(bad("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}") && strstr(bad("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"), "alternatives"),
	   "2^9 alternatives refused");
	ok(!bad("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}"), "2^8 alternatives accepted");
	{
		char many[200] = "";
		for (int i = 0; i < 40; i++)
			strcat(many, "{a}");
		ok(bad(many) != NULL, "too many braces refused");
	}
	/* a pathological pattern stays fast: each component once per NFA state */
	{
		char path[3000] = "", pat[200] = "";
		for (int i = 0; i < 60; i++)
			strcat(path, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/");
		strcat(path, "b");
		for (int i = 0; i < 10; i++)
			strcat(pat, "**/*a*a*a*/");
		strcat(pat, "c");
		ok(!m(pat, path), "nested ** and * do not explode (no match)");
	}
	return tap_done();
}
