/*
 * libFuzzer target: route patterns and request paths (transport/route.c).
 * Input: pattern NUL path. Invariants: a match has at most TP_CAPTURES_MAX
 * captures, NUL-terminated and in bounds; a non-tail capture holds no "/",
 * is not empty, "." or ".."; putting the captures back into a valid pattern
 * gives the path again (up to one trailing slash).
 */
#include "transport/route.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *in = malloc(size + 2), *pattern, *path;
	struct tp_match m;

	memcpy(in, data, size);
	in[size] = '\0';
	in[size + 1] = '\0';
	pattern = in;
	path = in + strlen(in) + 1;
	if (path > in + size)
		path = in + size + 1;
	if (tp_pattern_valid(pattern) && tp_route_match(pattern, path, &m)) {
		if (m.n > TP_CAPTURES_MAX)
			abort();
		char *out = malloc(strlen(pattern) + TP_CAPTURES_MAX * TP_CAPTURE_MAX + 2), *o = out;
		size_t k = 0;
		for (const char *p = pattern; *p;) {
			if (*p == '{') {
				const char *e = strchr(p, '}');
				bool tail = e[-1] == '*';
				const char *v = m.cap[k].value;
				if (k >= m.n || strnlen(v, TP_CAPTURE_MAX) == TP_CAPTURE_MAX)
					abort();
				if (!tail && (!*v || strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, "..")))
					abort();
				o = stpcpy(o, v);
				k++;
				p = e + 1;
			} else {
				*o++ = *p++;
			}
		}
		*o = '\0';
		size_t pl = strlen(path), ol = strlen(out);
		if (pl && path[pl - 1] == '/' && ol + 1 == pl)
			pl--;
		if (ol && out[ol - 1] == '/' && pl + 1 == ol)
			ol--; /* an empty tail after a slash */
		if (k != m.n || pl != ol || memcmp(out, path, pl))
			abort();
		free(out);
	}
	free(in);
	return 0;
}
