/*
 * http1.c — response heads and WebSocket frames from servers in sandboxes
 * (http1.h).
 */
#include "http1.h"
#include "../server/base/base64.h"
#include "../server/base/common.h"

#include <assert.h>
#include <ctype.h>
#include <openssl/evp.h>
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

/* ---- WebSocket ---- */

void px_ws_key(char out[25])
{
	unsigned char raw[16];
	size_t n;
	srv_random_bytes(raw, sizeof(raw));
	char *b = base64_encode(raw, sizeof(raw), &n);
	memcpy(out, b, 24);
	out[24] = '\0';
	free(b);
}

void px_ws_accept_of(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf in = BUF_INIT;
	size_t n;

	buf_adds(&in, key);
	buf_adds(&in, guid);
	if (!EVP_Digest(in.data, in.len, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		abort(); /* OpenSSL cannot compute SHA-1: nothing sensible is left to do */
	buf_release(&in);
	char *b = base64_encode(md, mdlen, &n);
	memcpy(out, b, 28);
	out[28] = '\0';
	free(b);
}

void px_ws_frame_begin(struct buf *out, struct px_ws_tx *tx, enum px_ws_op op, uint64_t len, bool fin)
{
	unsigned char h[14];
	size_t hl = 2;

	h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (len < 126) {
		h[1] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		h[1] = 0x80 | 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		hl = 10;
	}
	srv_random_bytes(tx->mask, sizeof(tx->mask));
	memcpy(h + hl, tx->mask, 4);
	buf_add(out, h, hl + 4);
	tx->at = 0;
	tx->left = len;
}

void px_ws_frame_add(struct buf *out, struct px_ws_tx *tx, const void *p, size_t n)
{
	assert(n <= tx->left);
	buf_grow(out, n);
	for (size_t i = 0; i < n; i++)
		out->data[out->len + i] = (char)(((const unsigned char *)p)[i] ^ tx->mask[(tx->at + i) & 3]);
	out->len += n;
	out->data[out->len] = '\0';
	tx->at += n;
	tx->left -= n;
}

void px_ws_frame(struct buf *out, enum px_ws_op op, const void *p, size_t n)
{
	struct px_ws_tx tx;
	px_ws_frame_begin(out, &tx, op, n, true);
	px_ws_frame_add(out, &tx, p, n);
}

/*
 * A frame's header at b[0..have): its length with rx's frame fields set,
 * 0 when more bytes are needed, or the close status it earns.
 */
static long frame_header(struct px_ws_rx *rx, const unsigned char *b, size_t have)
{
	size_t hl = 2;
	uint64_t len;
	bool fin;
	int op;

	if (have < 2)
		return 0;
	fin = b[0] & 0x80;
	op = b[0] & 0x0f;
	len = b[1] & 0x7f;
	if ((b[0] & 0x70) || (b[1] & 0x80))
		return -PX_WS_PROTOCOL_ERROR; /* no extensions were agreed; servers never mask */
	if (len == 126) {
		if (have < 4)
			return 0;
		len = (uint64_t)b[2] << 8 | b[3];
		hl = 4;
	} else if (len == 127) {
		if (have < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | b[2 + i];
		hl = 10;
	}
	switch (op) {
	case PX_WS_CLOSE:
	case PX_WS_PING:
	case PX_WS_PONG:
		if (len > PX_WS_CONTROL_MAX || !fin)
			return -PX_WS_PROTOCOL_ERROR;
		break;
	case PX_WS_TEXT:
	case PX_WS_BINARY:
	case PX_WS_CONT:
		if ((op == PX_WS_CONT) != (rx->msg_op != 0))
			return -PX_WS_PROTOCOL_ERROR; /* a continuation with no message, or a new message inside one */
		if (op != PX_WS_CONT) {
			rx->msg_op = op;
			rx->msg_len = 0;
		}
		if (len > PX_WS_MESSAGE_MAX - rx->msg_len)
			return -PX_WS_TOO_BIG;
		rx->msg_len += len;
		break;
	default:
		return -PX_WS_PROTOCOL_ERROR;
	}
	rx->op = op;
	rx->fin = fin;
	rx->left = len;
	rx->ctl_len = 0;
	rx->in_frame = true;
	return (long)hl;
}

/*
 * Payload bytes of the frame being read: passed on (data) or kept until whole
 * (control). Returns how many were taken, *go false when fn said stop.
 */
static size_t frame_payload(struct px_ws_rx *rx, const char *p, size_t n, px_ws_piece_fn fn, void *arg, bool *go)
{
	size_t k = rx->left < n ? (size_t)rx->left : n;

	rx->left -= k;
	if (rx->op >= 8) {
		memcpy(rx->ctl + rx->ctl_len, p, k);
		rx->ctl_len += (unsigned)k;
		if (!rx->left) {
			rx->in_frame = false;
			*go = fn(arg, (enum px_ws_op)rx->op, rx->ctl, rx->ctl_len, true);
		}
		return k;
	}
	bool final = rx->fin && !rx->left;
	enum px_ws_op kind = (enum px_ws_op)rx->msg_op;
	if (!rx->left)
		rx->in_frame = false;
	if (final)
		rx->msg_op = 0;
	if (k || final)
		*go = fn(arg, kind, p, k, final);
	return k;
}

int px_ws_rx_feed(struct px_ws_rx *rx, const char *p, size_t n, px_ws_piece_fn fn, void *arg, size_t *used)
{
	const char *start = p;
	bool go = true;

	for (;;) {
		*used = (size_t)(p - start);
		if (!go)
			return 0;
		if (rx->in_frame) {
			if (!n && rx->left)
				return 0;
			size_t k = frame_payload(rx, p, n, fn, arg, &go);
			p += k;
			n -= k;
			continue;
		}
		if (!n)
			return 0;
		/* the header, from where it began: the bytes kept of it and those fed now */
		size_t take = n < sizeof(rx->head) - rx->head_len ? n : sizeof(rx->head) - rx->head_len;
		memcpy(rx->head + rx->head_len, p, take);
		long hl = frame_header(rx, rx->head, rx->head_len + take);
		if (hl < 0)
			return (int)-hl;
		if (hl == 0) {
			rx->head_len += (unsigned)take;
			p += take;
			n -= take;
			continue;
		}
		p += (size_t)hl - rx->head_len;
		n -= (size_t)hl - rx->head_len;
		rx->head_len = 0;
	}
}
