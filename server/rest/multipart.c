/*
 * server/rest/multipart.c — multipart/form-data bodies (see multipart.h).
 */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../base/banned.h"

#define HEADERS_MAX 8192

int rest_mp_boundary(const char *ctype, char *out, size_t cap)
{
	if (strncasecmp(ctype, "multipart/form-data", 19))
		return -1;
	const char *b = strcasestr(ctype, "boundary=");
	if (!b)
		return -1;
	b += 9;
	bool quoted = *b == '"';
	b += quoted;
	size_t n = 0;
	while (b[n] && (quoted ? b[n] != '"' : b[n] != ';' && b[n] != ' ' && b[n] != '\t'))
		n++;
	if (!n || n > 70 || n >= cap)
		return -1;
	memcpy(out, b, n);
	out[n] = '\0';
	return 0;
}

/* A parameter of a Content-Disposition value (name="x"), into out: 0, or -1 when absent or too long. */
static int param_of(const char *h, size_t hlen, const char *param, char *out, size_t cap)
{
	size_t pl = strlen(param);
	for (size_t i = 0; i + pl + 1 < hlen; i++) {
		if ((i && h[i - 1] != ';' && h[i - 1] != ' ' && h[i - 1] != '\t') || strncasecmp(h + i, param, pl) ||
		    h[i + pl] != '=')
			continue;
		const char *v = h + i + pl + 1, *end = h + hlen;
		size_t n = 0;
		if (v < end && *v == '"') {
			v++;
			while (v + n < end && v[n] != '"')
				n++;
			if (v + n == end)
				return -1;
		} else {
			while (v + n < end && v[n] != ';' && v[n] != ' ' && v[n] != '\r')
				n++;
		}
		if (n >= cap)
			return -1;
		memcpy(out, v, n);
		out[n] = '\0';
		return 0;
	}
	return -1;
}

int rest_mp_parse(const char *body, size_t len, const char *boundary, struct rest_mp_part *parts, size_t max,
		  const char **why)
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
		const char *hend = memmem(p, (size_t)(end - p) < HEADERS_MAX ? (size_t)(end - p) : HEADERS_MAX, "\r\n\r\n", 4);
		if (!hend) {
			*why = "malformed multipart body (a part's headers do not end)";
			return -1;
		}
		struct rest_mp_part *pt = &parts[n];
		memset(pt, 0, sizeof(*pt));
		bool disposition = false;
		for (const char *line = p; line < hend;) {
			const char *eol = memmem(line, (size_t)(hend - line), "\r\n", 2);
			if (!eol)
				eol = hend;
			size_t ll = (size_t)(eol - line);
			if (ll > 20 && !strncasecmp(line, "Content-Disposition:", 20)) {
				const char *v = line + 20;
				size_t vl = ll - 20;
				while (vl && (*v == ' ' || *v == '\t'))
					v++, vl--;
				if (vl < 9 || strncasecmp(v, "form-data", 9) || param_of(v, vl, "name", pt->name, sizeof(pt->name))) {
					*why = "a multipart part's Content-Disposition is not form-data with a name";
					return -1;
				}
				pt->has_filename = !param_of(v, vl, "filename", pt->filename, sizeof(pt->filename));
				disposition = true;
			}
			line = eol + 2;
		}
		if (!disposition) {
			*why = "a multipart part has no Content-Disposition";
			return -1;
		}
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
