/*
 * libFuzzer target: WebSocket frames from a hostile peer, a server inside a
 * sandbox or a client (transport/wsframe.c wsf_rx_feed). Input: a byte of
 * flags (1: frames must be masked, a client's; 2: text must be UTF-8; 4: a
 * 300-byte message bound), a byte saying where to cut, then the bytes.
 * Invariants: every piece passed on lies inside what was fed and the pieces
 * never add up to more than it; no piece is empty unless it ends its
 * message; a control frame is at most 125 bytes; fed whole, cut in two where
 * the input says, fed byte by byte, and stopped after every piece and fed
 * the rest again, the receiver passes on the same bytes and message ends in
 * the same order, with the same outcome (up to the piece that breaks UTF-8,
 * when that is the outcome).
 */
#include "transport/wsframe.h"

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

static bool on_piece(void *arg, enum wsf_op op, const char *p, size_t n, bool final)
{
	struct run *r = arg;
	bool data = op == WSF_TEXT || op == WSF_BINARY;

	if (data && (p < r->fed || p + n > r->fed + r->fed_len))
		abort(); /* a data piece points into what was fed */
	if ((!data && (n > WSF_CONTROL_MAX || !final)) || (data && !n && !final) || r->len + n + 2 > 3 * r->size + 2)
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

static void run(const char *orig, size_t size, unsigned flags, size_t cut, size_t step, bool stop_each, struct run *r)
{
	struct wsf_rx rx = { .masked = flags & 1, .utf8 = flags & 2, .max = flags & 4 ? 300 : 0 };
	size_t used;
	char *in = malloc(size + 1); /* a masked payload is unmasked where it lies: each run gets its own copy */

	memcpy(in, orig, size);
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
		r->status = wsf_rx_feed(&rx, in + off, len, on_piece, r, &used);
		if (used > len || (!stop_each && !r->status && used != len))
			abort();
		off += used;
	}
	free(in);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned flags = data[0];
	size_t cut = size > 2 ? data[1] % (size - 2) : 0;
	const char *in = (const char *)data + 2;
	size -= 2;
	struct run a, b, c, d;
	run(in, size, flags, 0, 0, false, &a);
	run(in, size, flags, cut, 0, false, &b);
	run(in, size, flags, 0, 1, false, &c);
	run(in, size, flags, cut, 0, true, &d);
	if (a.status != b.status || a.status != c.status || a.status != d.status)
		abort();
	/* text checked as it comes: the pieces before the one that breaks UTF-8 went on, so a run fed in
	   longer pieces passed on a prefix of what the byte-by-byte run did */
	bool prefix = a.status == WSF_BAD_DATA;
	const struct run *runs[] = { &a, &b, &d };
	for (size_t i = 0; i < 3; i++)
		if ((prefix ? runs[i]->len > c.len : runs[i]->len != c.len) || memcmp(runs[i]->out, c.out, runs[i]->len))
			abort();
	free(a.out);
	free(b.out);
	free(c.out);
	free(d.out);
	return 0;
}
