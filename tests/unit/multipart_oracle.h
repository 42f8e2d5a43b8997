/*
 * multipart_oracle.h — a second multipart/form-data parser, for the tests
 * only: it reads a whole body in place (the parts' data point into it), a
 * different way from the streamed parser the server uses
 * (server/rest/multipart.c), so test_multipart.c and fuzz_multipart.c can
 * check that both read the same parts and refuse the same bodies. The part
 * headers are read by the server's own rest_mp_part_head.
 */
#ifndef MCPBOX_TEST_MULTIPART_ORACLE_H
#define MCPBOX_TEST_MULTIPART_ORACLE_H

#include "server/rest/multipart.h"

#include <stdio.h>
#include <string.h>

/*
 * The parts of body (len bytes) between the boundaries: their count, or -1
 * with *why. At most max parts; the rules of rest_mp_stream.
 */
static int mp_parse_in_place(const char *body, size_t len, const char *boundary, struct rest_mp_part *parts,
			     size_t max, const char **why)
{
	char delim[80];
	size_t bl = strlen(boundary);
	if (!bl || bl > 70) { /* RFC 2046: 1 to 70 characters; so it always fits delim */
		*why = "the multipart boundary must be 1 to 70 characters";
		return -1;
	}
	size_t dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	const char *end = body + len, *p;
	size_t n = 0;

	/* the first delimiter may open the body (no CRLF before it) */
	if (len >= dl - 2 && !memcmp(body, delim + 2, dl - 2)) {
		p = body + dl - 2;
	} else {
		const char *d = memmem(body, len, delim, dl);
		if (!d) {
			*why = "no multipart boundary found in the body";
			return -1;
		}
		p = d + dl;
	}
	for (;;) {
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return (int)n; /* the closing delimiter */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
			*why = "malformed multipart body (a boundary is not followed by a line end)";
			return -1;
		}
		p += 2;
		if (n == max) {
			*why = "too many parts in the multipart body";
			return -1;
		}
		/* an empty line at once: no headers (the CRLF before it ended the delimiter's line) */
		const char *hend = end - p >= 2 && p[0] == '\r' && p[1] == '\n' ? p - 2
				   : memmem(p, (size_t)(end - p) < REST_MP_HEADERS_MAX ? (size_t)(end - p) : REST_MP_HEADERS_MAX, "\r\n\r\n", 4);
		if (!hend) {
			*why = "malformed multipart body (a part's headers do not end)";
			return -1;
		}
		struct rest_mp_part *pt = &parts[n];
		if (rest_mp_part_head(p, hend, pt, why) < 0)
			return -1;
		const char *data = hend + 4;
		const char *next = memmem(data, (size_t)(end - data), delim, dl);
		if (!next) {
			*why = "malformed multipart body (a part does not end with the boundary)";
			return -1;
		}
		pt->data = data;
		pt->len = (size_t)(next - data);
		n++;
		p = next + dl;
	}
}

#endif
