/**
 * literal.h — the grep tool's literal prefilter: a string that every match
 * of a regular expression must contain, and a fast search for it.
 *
 * A line without the required literal cannot match, so grep runs regexec
 * only on lines that hold it and skips whole files that do not. The
 * extraction is conservative: when it cannot prove a string is required
 * (alternation, groups, optional parts, a locale with multi-byte
 * characters) it offers none, and the caller matches every line.
 *
 * The regex is read as glibc's regcomp(REG_EXTENDED) reads it in the C
 * locale (byte-wise; REG_ICASE folds ASCII letters only).
 *
 * A struct tool_lit is immutable after tool_lit_init: any thread may search
 * with it at once. The initialiser owns its copy of the string.
 */
#ifndef MCPBOX_TOOL_LITERAL_H
#define MCPBOX_TOOL_LITERAL_H

#include <stdbool.h>
#include <stddef.h>

/**
 * The longest run of bytes every match of the extended regex re contains,
 * or NULL (none proven, or re is malformed). Caller frees.
 */
char *tool_lit_required(const char *re);

/**
 * Does the extended regex re hold a back-reference (\1 to \9 outside a
 * bracket expression)? glibc's regexec backtracks on them, exponentially in
 * the line's length, and cannot be interrupted: grep refuses them.
 */
bool tool_re_has_backref(const char *re);

struct tool_lit {
	char *s;		/* the literal; len bytes */
	size_t len;
	bool icase;		/* ASCII letters match either case */
	size_t rare;		/* index of the byte searched for first */
	unsigned char lo, up;	/* that byte in lower and upper case (equal unless icase) */
};

/**
 * Prepare a search for s[0..len) (len >= 1). With icase a literal longer
 * than TOOL_LIT_ICASE_MAX is cut to its first TOOL_LIT_ICASE_MAX bytes: it
 * stays required, and a candidate's check stays short.
 */
#define TOOL_LIT_ICASE_MAX 32
void tool_lit_init(struct tool_lit *l, const char *s, size_t len, bool icase);
void tool_lit_release(struct tool_lit *l);

/** The first occurrence of the literal in d[0..n), or NULL. */
const char *tool_lit_find(const struct tool_lit *l, const char *d, size_t n);

/**
 * The start of the first line of d[0..n) at or after offset from (itself a
 * line start) that holds the literal, or n when none does. Lines end at
 * '\n'; a literal holding '\n' is never found within a line this way, and
 * no line matching a regex with REG_NEWLINE holds one.
 */
size_t tool_lit_next_line(const struct tool_lit *l, const char *d, size_t n, size_t from);

#endif
