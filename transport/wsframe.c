/*
 * wsframe.c — WebSocket frames, read from a hostile peer and written for
 * either side (wsframe.h).
 */
#include "wsframe.h"
#include "../server/base/base64.h"
#include "../server/base/common.h"

#include <assert.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "../server/base/banned.h"

void wsf_key(char out[25])
{
	unsigned char raw[16];
	size_t n;
	srv_random_bytes(raw, sizeof(raw));
	char *b = base64_encode(raw, sizeof(raw), &n);
	memcpy(out, b, 24);
	out[24] = '\0';
	free(b);
}

void wsf_accept_of(const char *key, char out[29])
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

void wsf_frame_begin(struct buf *out, struct wsf_tx *tx, enum wsf_op op, uint64_t len, bool fin)
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

void wsf_frame_add(struct buf *out, struct wsf_tx *tx, const void *p, size_t n)
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

void wsf_frame(struct buf *out, enum wsf_op op, const void *p, size_t n)
{
	struct wsf_tx tx;
	wsf_frame_begin(out, &tx, op, n, true);
	wsf_frame_add(out, &tx, p, n);
}

bool wsf_key_valid(const char *key)
{
	size_t n = 0;
	if (!key || strlen(key) != 24 || strcmp(key + 22, "=="))
		return false;
	unsigned char *raw = base64_decode(key, 24, &n);
	free(raw);
	return raw && n == 16;
}

bool wsf_status_valid(unsigned status)
{
	return (status >= 1000 && status <= 1003) || (status >= 1007 && status <= 1014) ||
	       (status >= 3000 && status <= 4999);
}

size_t wsf_server_header(unsigned char *h, enum wsf_op op, uint64_t len, bool fin)
{
	h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}

/*
 * The state: continuation bytes still wanted (low byte), and the range the
 * next one must fall in (second and third bytes), which rules out overlong
 * forms, surrogates and code points past U+10FFFF (RFC 3629).
 */
bool wsf_utf8(uint32_t *state, const unsigned char *p, size_t n)
{
	unsigned need = *state & 0xff, lo = (*state >> 8) & 0xff, hi = (*state >> 16) & 0xff;

	for (size_t i = 0; i < n; i++) {
		unsigned c = p[i];
		if (need) {
			if (c < lo || c > hi)
				return false;
			need--;
			lo = 0x80;
			hi = 0xbf;
			continue;
		}
		if (c < 0x80)
			continue;
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
	}
	*state = need ? need | lo << 8 | hi << 16 : 0;
	return true;
}

/*
 * A frame's header at b[0..have): its length with rx's frame fields set,
 * 0 when more bytes are needed, or the close status it earns (negative).
 */
static long frame_header(struct wsf_rx *rx, const unsigned char *b, size_t have)
{
	uint64_t max = rx->max ? rx->max : WSF_MESSAGE_MAX;
	size_t hl = 2;
	uint64_t len;
	bool fin;
	int op;

	if (have < 2)
		return 0;
	fin = b[0] & 0x80;
	op = b[0] & 0x0f;
	len = b[1] & 0x7f;
	/* no extension was agreed; a client masks every frame and a server none (RFC 6455 5.1) */
	if ((b[0] & 0x70) || !(b[1] & 0x80) != !rx->masked)
		return -WSF_PROTOCOL_ERROR;
	if (len == 126) {
		hl = 4;
	} else if (len == 127) {
		hl = 10;
	}
	if (have < hl + (rx->masked ? 4 : 0))
		return 0;
	if (len == 126) {
		len = (uint64_t)b[2] << 8 | b[3];
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | b[2 + i];
		if (len >> 63)
			return -WSF_PROTOCOL_ERROR; /* the most significant bit must be 0 */
	}
	switch (op) {
	case WSF_CLOSE:
	case WSF_PING:
	case WSF_PONG:
		if (len > WSF_CONTROL_MAX || !fin)
			return -WSF_PROTOCOL_ERROR;
		break;
	case WSF_TEXT:
	case WSF_BINARY:
	case WSF_CONT:
		if ((op == WSF_CONT) != (rx->msg_op != 0))
			return -WSF_PROTOCOL_ERROR; /* a continuation with no message, or a new message inside one */
		if (op != WSF_CONT) {
			rx->msg_op = op;
			rx->msg_len = 0;
			rx->u8 = 0;
		}
		if (len > max - rx->msg_len)
			return -WSF_TOO_BIG;
		rx->msg_len += len;
		break;
	default:
		return -WSF_PROTOCOL_ERROR;
	}
	if (rx->masked) {
		memcpy(rx->mask, b + hl, 4);
		hl += 4;
	}
	rx->op = op;
	rx->fin = fin;
	rx->at = 0;
	rx->left = len;
	rx->ctl_len = 0;
	rx->in_frame = true;
	return (long)hl;
}

static void unmask(struct wsf_rx *rx, char *p, size_t n)
{
	if (!rx->masked)
		return;
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(p[i] ^ rx->mask[(rx->at + i) & 3]);
}

/*
 * Payload bytes of the frame being read: passed on (data) or kept until whole
 * (control). Returns how many were taken, *go false when fn said stop, or
 * (size_t)-1 when they break a text message's UTF-8.
 */
static size_t frame_payload(struct wsf_rx *rx, char *p, size_t n, wsf_piece_fn fn, void *arg, bool *go)
{
	size_t k = rx->left < n ? (size_t)rx->left : n;

	unmask(rx, p, k);
	rx->at += k;
	rx->left -= k;
	if (rx->op >= 8) {
		memcpy(rx->ctl + rx->ctl_len, p, k);
		rx->ctl_len += (unsigned)k;
		if (!rx->left) {
			rx->in_frame = false;
			*go = fn(arg, (enum wsf_op)rx->op, rx->ctl, rx->ctl_len, true);
		}
		return k;
	}
	bool final = rx->fin && !rx->left;
	enum wsf_op kind = (enum wsf_op)rx->msg_op;
	if (rx->utf8 && kind == WSF_TEXT &&
	    (!wsf_utf8(&rx->u8, (const unsigned char *)p, k) || (final && rx->u8)))
		return (size_t)-1;
	if (!rx->left)
		rx->in_frame = false;
	if (final)
		rx->msg_op = 0;
	if (k || final)
		*go = fn(arg, kind, p, k, final);
	return k;
}

int wsf_rx_feed(struct wsf_rx *rx, char *p, size_t n, wsf_piece_fn fn, void *arg, size_t *used)
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
			if (k == (size_t)-1)
				return WSF_BAD_DATA;
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
