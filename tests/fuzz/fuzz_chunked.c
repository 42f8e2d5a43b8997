/*
 * libFuzzer target: chunked request bodies (transport/chunked.c). Input:
 * one byte saying where to cut, then the body. Invariants: every data piece
 * lies inside the input and the pieces never add up to more than it; fed
 * whole, cut in two where the input says, and fed byte by byte, the decoder
 * gives the same body, the same outcome and leaves the same bytes after
 * the end.
 */
#include "transport/chunked.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct run {
	unsigned char *body;
	size_t len;
	enum tp_chunked_step last;
	size_t rest;	/* input bytes after END or BAD */
};

/* Decode in pieces: cut (0: whole) then step bytes at a time (0: the rest at once). */
static void decode(const char *in, size_t size, size_t cut, size_t step, struct run *out)
{
	struct tp_chunked c;
	size_t off = 0;
	out->body = malloc(size + 1);
	out->len = 0;
	out->last = TP_CHUNKED_MORE;
	out->rest = 0;
	tp_chunked_init(&c);
	while (off < size) {
		size_t len = off < cut ? cut - off : step ? step : size - off;
		if (len > size - off)
			len = size - off;
		const char *p = in + off, *d;
		size_t left = len, n;
		for (;;) {
			enum tp_chunked_step st = tp_chunked_next(&c, &p, &left, &d, &n);
			if (st != TP_CHUNKED_DATA) {
				out->last = st;
				break;
			}
			if (d < in || d + n > in + size || out->len + n > size)
				abort();
			memcpy(out->body + out->len, d, n);
			out->len += n;
		}
		off += len;
		if (out->last == TP_CHUNKED_END || out->last == TP_CHUNKED_BAD) {
			out->rest = left + (size - off);
			return;
		}
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t cut = size > 1 ? data[0] % size : 0;
	const char *in = (const char *)data + 1;
	size--;
	struct run a, b, c;
	decode(in, size, 0, 0, &a);
	decode(in, size, cut, 0, &b);
	decode(in, size, 0, 1, &c);
	if (a.last != b.last || a.last != c.last || a.len != b.len || a.len != c.len || a.rest != b.rest ||
	    a.rest != c.rest || memcmp(a.body, b.body, a.len) || memcmp(a.body, c.body, a.len))
		abort();
	free(a.body);
	free(b.body);
	free(c.body);
	return 0;
}
