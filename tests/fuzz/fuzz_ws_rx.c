/*
 * libFuzzer target: WebSocket frames from a server inside a sandbox
 * (proxy/http1.c px_ws_rx_feed). Input: one byte saying where to cut, then
 * the bytes. Invariants: every piece passed on lies inside what was fed and
 * the pieces never add up to more than it; no piece is empty unless it ends
 * its message; a control frame is at most 125 bytes; fed whole, cut in two
 * where the input says, fed byte by byte, and stopped after every piece and
 * fed the rest again, the receiver passes on the same bytes and message
 * ends in the same order, with the same outcome.
 */
#include "proxy/http1.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct run {
	const char *in;
	size_t size;
	const char *fed;	/* the bytes of the current feed */
	size_t fed_len;
	unsigned char *out;	/* what was passed on, each call's op and final before its bytes */
	size_t len;
	int status;
	bool stop_each;		/* stop the feed after every piece (and feed the rest again) */
};

static bool on_piece(void *arg, enum px_ws_op op, const char *p, size_t n, bool final)
{
	struct run *r = arg;
	bool data = op == PX_WS_TEXT || op == PX_WS_BINARY;

	if (data && (p < r->fed || p + n > r->fed + r->fed_len))
		abort(); /* a data piece points into what was fed */
	if ((!data && (n > PX_WS_CONTROL_MAX || !final)) || (data && !n && !final) || r->len + n + 2 > 3 * r->size + 2)
		abort();
	/* byte by byte, a piece is one byte: compare the bytes and the message ends, not the cuts */
	if (data && n) {
		memcpy(r->out + r->len, p, n);
		r->len += n;
	}
	if (final || !data)
		r->out[r->len++] = (unsigned char)(0x80 | op);
	if (!data) {
		memcpy(r->out + r->len, p, n);
		r->len += n;
	}
	return !r->stop_each;
}

static void run(const char *in, size_t size, size_t cut, size_t step, bool stop_each, struct run *r)
{
	struct px_ws_rx rx = { 0 };
	size_t used;

	memset(r, 0, sizeof(*r));
	r->stop_each = stop_each;
	r->in = in;
	r->size = size;
	r->out = malloc(3 * size + 2);
	for (size_t off = 0; off < size && !r->status;) {
		size_t len = off < cut ? cut - off : step ? step : size - off;
		if (len > size - off)
			len = size - off;
		r->fed = in + off;
		r->fed_len = len;
		r->status = px_ws_rx_feed(&rx, in + off, len, on_piece, r, &used);
		if (used > len || (!stop_each && !r->status && used != len))
			abort();
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = size > 1 ? data[0] % size : 0;
	const char *in = (const char *)data + 1;
	size--;
	struct run a, b, c, d;
	run(in, size, 0, 0, false, &a);
	run(in, size, cut, 0, false, &b);
	run(in, size, 0, 1, false, &c);
	run(in, size, cut, 0, true, &d);
	if (a.status != b.status || a.status != c.status || a.status != d.status || a.len != b.len ||
	    a.len != c.len || a.len != d.len || memcmp(a.out, b.out, a.len) || memcmp(a.out, c.out, a.len) ||
	    memcmp(a.out, d.out, a.len))
		abort();
	free(a.out);
	free(b.out);
	free(c.out);
	free(d.out);
	return 0;
}
