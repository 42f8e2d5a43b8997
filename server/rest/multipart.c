/*
 * server/rest/multipart.c — multipart/form-data bodies (see multipart.h).
 */
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/banned.h"

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

int rest_mp_part_head(const char *p, const char *hend, struct rest_mp_part *pt, const char **why)
{
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
	return 0;
}

/* ---- streamed ---- */

enum mp_state {
	MP_PREAMBLE,		/* before the first delimiter (dropped) */
	MP_AFTER,		/* just past a delimiter: "--" ends, else blanks and CRLF */
	MP_AFTER_BLANK,		/* blanks seen: only more of them, then CRLF */
	MP_AFTER_DASH,		/* one '-' seen */
	MP_AFTER_CR,		/* '\r' seen */
	MP_HEADERS,		/* a part's headers, into head */
	MP_DATA,		/* a part's data, up to the next delimiter */
	MP_DONE,		/* the closing delimiter passed: the epilogue is dropped */
	MP_FAILED,
};

struct rest_mp_stream {
	const struct rest_mp_ops *ops;
	void *arg;
	char delim[80];		/* "\r\n--" boundary */
	size_t dl;
	size_t held;		/* bytes of delim matched and not yet passed on (they are delim's first ones) */
	enum mp_state state;
	size_t parts, max_parts;
	struct rest_mp_part pt;	/* the current part's head */
	char head[REST_MP_HEADERS_MAX];
	size_t hlen;
	char *field;		/* a form field's value so far (field_max + 1 bytes) */
	size_t flen, field_max;
};

struct rest_mp_stream *rest_mp_stream_new(const char *boundary, size_t max_parts, size_t field_max,
					  const struct rest_mp_ops *ops, void *arg)
{
	size_t bl = strlen(boundary);
	/* no CR in it: a failed match can never restart inside the bytes held back */
	if (!bl || bl > 70 || strpbrk(boundary, "\r\n"))
		return NULL;
	struct rest_mp_stream *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->field = malloc(field_max + 1);
	if (!m->field) {
		free(m);
		return NULL;
	}
	m->ops = ops;
	m->arg = arg;
	m->dl = (size_t)snprintf(m->delim, sizeof(m->delim), "\r\n--%s", boundary);
	m->held = 2; /* the first delimiter may open the body: as if a line ended before it */
	m->max_parts = max_parts;
	m->field_max = field_max;
	return m;
}

void rest_mp_stream_free(struct rest_mp_stream *m)
{
	if (m) {
		free(m->field);
		free(m);
	}
}

static int fail(struct rest_mp_stream *m, const char **why, const char *text)
{
	m->state = MP_FAILED;
	*why = text;
	return -1;
}

/* Bytes of the current part (data, or the preamble, which is dropped). */
static int pass_on(struct rest_mp_stream *m, const char *data, size_t len, const char **why)
{
	if (m->state != MP_DATA || !len)
		return 0;
	if (m->pt.has_filename) {
		if (m->ops->file_data(m->arg, data, len) < 0)
			return fail(m, why, NULL);
		return 0;
	}
	if (m->flen + len > m->field_max)
		return fail(m, why, "a multipart form field is too long");
	memcpy(m->field + m->flen, data, len);
	m->flen += len;
	return 0;
}

/* A delimiter passed: the part before it ends. */
static int delimited(struct rest_mp_stream *m, const char **why)
{
	if (m->state == MP_DATA) {
		int r;
		if (m->pt.has_filename) {
			r = m->ops->file_end(m->arg);
		} else {
			m->field[m->flen] = '\0';
			r = m->ops->field(m->arg, m->pt.name, m->field, m->flen);
		}
		if (r < 0)
			return fail(m, why, NULL);
	}
	m->state = MP_AFTER;
	return 0;
}

/* The head of a part is in: parse it, announce a file part. */
static int headers_done(struct rest_mp_stream *m, const char **why)
{
	if (m->parts == m->max_parts)
		return fail(m, why, "too many parts in the multipart body");
	if (rest_mp_part_head(m->head, m->head + m->hlen, &m->pt, why) < 0) {
		m->state = MP_FAILED;
		return -1;
	}
	m->parts++;
	m->flen = 0;
	m->state = MP_DATA;
	if (m->pt.has_filename && m->ops->file_begin(m->arg, &m->pt) < 0)
		return fail(m, why, NULL);
	return 0;
}

/* Preamble or data: everything up to the next delimiter, which may be split anywhere. */
static size_t scan(struct rest_mp_stream *m, const char *p, size_t len, const char **why, int *rc)
{
	size_t i = 0;
	*rc = 0;
	while (i < len) {
		if (!m->held) {
			/* outside a match: everything up to the next CR is the part's */
			const char *cr = memchr(p + i, '\r', len - i);
			size_t n = cr ? (size_t)(cr - (p + i)) : len - i;
			if ((*rc = pass_on(m, p + i, n, why)) < 0)
				return i;
			i += n;
			if (!cr)
				return i;
			m->held = 1;
			i++;
			continue;
		}
		if (p[i] == m->delim[m->held]) {
			i++;
			if (++m->held == m->dl) {
				m->held = 0;
				*rc = delimited(m, why);
				return i;
			}
			continue;
		}
		/* not a delimiter after all: what was held is the part's (a CR may start the next try) */
		size_t h = m->held;
		m->held = 0;
		if ((*rc = pass_on(m, m->delim, h, why)) < 0)
			return i;
	}
	return i;
}

int rest_mp_stream_feed(struct rest_mp_stream *m, const char *data, size_t len, const char **why)
{
	size_t i = 0;
	*why = NULL;
	while (i < len) {
		char c = data[i];
		switch (m->state) {
		case MP_PREAMBLE:
		case MP_DATA: {
			int rc;
			i += scan(m, data + i, len - i, why, &rc);
			if (rc < 0)
				return -1;
			break;
		}
		case MP_AFTER:
		case MP_AFTER_BLANK:
			i++;
			if (c == '-' && m->state == MP_AFTER)
				m->state = MP_AFTER_DASH; /* "--" right after the boundary closes the body */
			else if (c == '\r')
				m->state = MP_AFTER_CR;
			else if (c == ' ' || c == '\t')
				m->state = MP_AFTER_BLANK;
			else
				return fail(m, why, "malformed multipart body (a boundary is not followed by a line end)");
			break;
		case MP_AFTER_DASH:
			i++;
			if (c != '-')
				return fail(m, why, "malformed multipart body (a boundary is not followed by a line end)");
			m->state = MP_DONE;
			break;
		case MP_AFTER_CR:
			i++;
			if (c != '\n')
				return fail(m, why, "malformed multipart body (a boundary is not followed by a line end)");
			m->state = MP_HEADERS;
			m->hlen = 0;
			break;
		case MP_HEADERS:
			if (m->hlen == sizeof(m->head))
				return fail(m, why, "malformed multipart body (a part's headers do not end)");
			m->head[m->hlen++] = c;
			i++;
			/* headers end at an empty line: "\r\n\r\n", or "\r\n" at once (no headers) */
			if ((m->hlen == 2 && !memcmp(m->head, "\r\n", 2)) ||
			    (m->hlen >= 4 && !memcmp(m->head + m->hlen - 4, "\r\n\r\n", 4))) {
				m->hlen -= 2; /* keep the last header's CRLF, as the in-place parser of the tests sees it */
				if (headers_done(m, why) < 0)
					return -1;
			}
			break;
		case MP_DONE:
			return 0;
		case MP_FAILED:
			*why = "malformed multipart body";
			return -1;
		}
	}
	return 0;
}

int rest_mp_stream_end(struct rest_mp_stream *m, const char **why)
{
	switch (m->state) {
	case MP_DONE:
		return 0;
	case MP_PREAMBLE:
		return fail(m, why, "no multipart boundary found in the body");
	case MP_HEADERS:
		return fail(m, why, "malformed multipart body (a part's headers do not end)");
	case MP_DATA:
		return fail(m, why, "malformed multipart body (a part does not end with the boundary)");
	default:
		return fail(m, why, "malformed multipart body (a boundary is not followed by a line end)");
	}
}
