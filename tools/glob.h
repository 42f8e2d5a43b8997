/**
 * glob.h — path patterns for the glob and grep tools.
 *
 * A pattern is matched against a relative path whose components are
 * separated by "/" (no leading "/", no "." or ".." components):
 *   *        any run of characters within one component (also a leading ".")
 *   ?        one character other than "/"
 *   [...]    one character of a set: [abc] [a-z] [!a-z] [^a-z]; "]" first is literal
 *   **       as a whole component: zero or more components ("**" + "/" + "*.c" is
 *            every .c file at any depth; "src/" + "**" is src and everything below it)
 *   {a,b}    alternatives, nested allowed ("*.{c,h}"); at most 256 after expansion
 *   \x       x itself
 * A leading "/" or "./" is ignored; a trailing "/" matches directories only.
 * Matching is byte-wise and case-sensitive.
 *
 * A compiled pattern is immutable: any thread may match with it at once.
 * The creator owns it and frees it with tool_glob_free().
 */
#ifndef MCPBOX_TOOL_GLOB_H
#define MCPBOX_TOOL_GLOB_H

#include <stdbool.h>

#include "../server/base/err.h"

struct tool_glob;

/** Compile pattern; -1 with an ERR_INVALID error naming what is wrong. */
int tool_glob_compile(const char *pattern, struct tool_glob **out, struct err **errp);
void tool_glob_free(struct tool_glob *g);

/** Does the relative path match (is_dir: the path names a directory)? */
bool tool_glob_match(const struct tool_glob *g, const char *path, bool is_dir);
/**
 * Could a path below the directory dir match? False lets a walk skip the
 * whole subtree. dir "." or "" is the root (always true).
 */
bool tool_glob_could_match_below(const struct tool_glob *g, const char *dir);
/** Has the pattern a "/" (other than a leading or trailing one)? Patterns without
 *  one are matched against a file's name alone by the grep filters. */
bool tool_glob_has_slash(const struct tool_glob *g);

#endif
