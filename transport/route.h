/**
 * route.h — matching a request path against a route pattern (http.c's
 * route table). Pure functions, no allocation; fuzzed.
 *
 * A pattern is "/"-separated segments: a literal ("sessions"), a capture
 * ("{id}": one non-empty segment) or, last, a tail capture ("{rest*}": the
 * remainder of the path, possibly empty). One trailing "/" on the path is
 * ignored ("/a/b/" matches "/a/b"). Captures longer than TP_CAPTURE_MAX-1
 * bytes, more than TP_CAPTURES_MAX of them, or "." and ".." segments do not
 * match.
 */
#ifndef MCPBOX_ROUTE_H
#define MCPBOX_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define TP_CAPTURES_MAX 6
#define TP_CAPTURE_NAME_MAX 24
#define TP_CAPTURE_MAX 512

struct tp_match {
	size_t n;
	struct {
		char name[TP_CAPTURE_NAME_MAX];
		char value[TP_CAPTURE_MAX];
	} cap[TP_CAPTURES_MAX];
};

/** Is pattern well formed (starts with "/", captures named, a tail only last)? */
bool tp_pattern_valid(const char *pattern);
/** Does path match pattern? Fills m (may be NULL) with the captures. */
bool tp_route_match(const char *pattern, const char *path, struct tp_match *m);
/** The value of capture name in m, or NULL. */
const char *tp_match_get(const struct tp_match *m, const char *name);

#endif
