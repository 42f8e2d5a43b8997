/*
 * http1.c — response heads from servers in sandboxes (http1.h).
 */
#include "http1.h"
#include "../server/base/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../server/base/banned.h"

void px_head_release(struct px_head *h)
{
	buf_release(&h->hdrs);
	memset(h, 0, sizeof(*h));
	h->length = -1;
}

static bool token_char(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One "Name: value" line into h; false when malformed. */
static bool add_header(struct px_head *h, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	const char *v, *e = line + len;
	size_t nl;

	if (!colon || colon == line || ++h->nhdrs > PX_HEADERS_MAX)
		return false;
	nl = (size_t)(colon - line);
	for (size_t i = 0; i < nl; i++)
		if (!token_char((unsigned char)line[i]))
			return false;
	for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	for (const char *c = v; c < e; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return false;
	for (size_t i = 0; i < nl; i++)
		buf_addch(&h->hdrs, (char)tolower((unsigned char)line[i]));
	buf_add(&h->hdrs, "", 1);
	buf_add(&h->hdrs, v, (size_t)(e - v));
	buf_add(&h->hdrs, "", 1);
	if (nl == 14 && !strncasecmp(line, "content-length", nl)) {
		char *end;
		if (e == v || !isdigit((unsigned char)*v))
			return false;
		long long x = strtoll(v, &end, 10);
		if (end != e || x < 0 || (h->length >= 0 && h->length != x))
			return false;
		h->length = x;
	} else if (nl == 17 && !strncasecmp(line, "transfer-encoding", nl)) {
		if ((size_t)(e - v) != 8 || strncasecmp(v, "identity", 8))
			h->chunked = true;
	}
	return true;
}

long px_head_parse(const char *p, size_t n, struct px_head *h)
{
	const char *end = NULL, *line, *eol;
	size_t lim = n < PX_HEAD_MAX ? n : PX_HEAD_MAX;

	px_head_release(h);
	for (size_t i = 0; i + 3 < lim; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
			end = p + i + 2;
			break;
		}
	if (!end)
		return n >= PX_HEAD_MAX ? -1 : 0;
	/* "HTTP/1.x SSS reason" */
	if (end - p < 12 || memcmp(p, "HTTP/1.", 7) || !isdigit((unsigned char)p[7]) || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
	    (p[12] != ' ' && p[12] != '\r'))
		return -1;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 100 || h->status > 599)
		return -1;
	line = memchr(p, '\n', (size_t)(end - p)) + 1;
	while (line < end) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol || eol == line || eol[-1] != '\r' || !add_header(h, line, (size_t)(eol - 1 - line))) {
			px_head_release(h);
			return -1;
		}
		line = eol + 1;
	}
	return (long)(end - p) + 2;
}

const char *px_head_get(const struct px_head *h, const char *name)
{
	for (size_t off = 0; off < h->hdrs.len;) {
		const char *n = h->hdrs.data + off, *v = n + strlen(n) + 1;
		if (!strcmp(n, name))
			return v;
		off = (size_t)(v - h->hdrs.data) + strlen(v) + 1;
	}
	return NULL;
}

bool px_header_hop(const char *name)
{
	static const char *const hop[] = {
		"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
		"transfer-encoding", "upgrade", "content-length", "content-type", "authorization", "x-api-key",
		"host", "proxy-connection",
	};
	for (size_t i = 0; i < ARRAY_SIZE(hop); i++)
		if (!strcasecmp(name, hop[i]))
			return true;
	return !strncasecmp(name, "access-control-", 15) || !strncasecmp(name, "sec-websocket-", 14);
}
