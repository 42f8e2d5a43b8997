/* Unit tests of the chunked body decoder (transport/chunked.c): bodies split anywhere, extensions,
   trailers, what follows the end, and malformed framing refused. */
#include "transport/chunked.h"
#include "server/base/buf.h"
#include "tap.h"

#include <stdbool.h>

/* Decode s fed in pieces of `step` bytes: the body into out; the last step; bytes left after END into *rest. */
static enum tp_chunked_step decode(const char *s, size_t step, struct buf *out, size_t *rest)
{
	struct tp_chunked c;
	enum tp_chunked_step st = TP_CHUNKED_MORE;
	size_t total = strlen(s);
	tp_chunked_init(&c);
	*rest = 0;
	for (size_t off = 0; off < total;) {
		size_t len = total - off < step ? total - off : step;
		const char *in = s + off, *data;
		size_t n, left = len;
		while (left) {
			st = tp_chunked_next(&c, &in, &left, &data, &n);
			if (st == TP_CHUNKED_DATA)
				buf_add(out, data, n);
			else
				break;
		}
		off += len;
		if (st == TP_CHUNKED_END || st == TP_CHUNKED_BAD) {
			*rest = left + (total - off);
			return st;
		}
	}
	return st;
}

static void good(const char *name, const char *wire, const char *body, size_t rest_want)
{
	bool all = true;
	for (size_t step = 1; step <= strlen(wire); step++) {
		struct buf out = BUF_INIT;
		size_t rest;
		enum tp_chunked_step st = decode(wire, step, &out, &rest);
		all &= st == TP_CHUNKED_END && out.len == strlen(body) && !memcmp(out.data ? out.data : "", body, out.len) &&
		       rest == rest_want;
		buf_release(&out);
	}
	ok(all, "%s: decoded whole in pieces of every size", name);
}

static void bad(const char *name, const char *wire)
{
	struct buf out = BUF_INIT;
	size_t rest;
	ok(decode(wire, 3, &out, &rest) == TP_CHUNKED_BAD, "%s: refused", name);
	buf_release(&out);
}

int main(void)
{
	good("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0);
	good("hex sizes, upper and lower", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", "0123456789abcdefghijk", 0);
	good("extensions", "5;name=value;x\r\nhello\r\n0;last\r\n\r\n", "hello", 0);
	good("trailers", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n", "abc", 0);
	good("an empty body", "0\r\n\r\n", "", 0);
	good("leading zeros", "0003\r\nabc\r\n000\r\n\r\n", "abc", 0);
	good("CRLF inside the data is data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0);
	good("the next request is not the body's", "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x", 16);

	bad("no size", "\r\nabc\r\n0\r\n\r\n");
	bad("a size that is not hex", "g\r\nabc\r\n0\r\n\r\n");
	bad("a bare LF after the size", "3\nabc\r\n0\r\n\r\n");
	bad("no CRLF after the data", "3\r\nabcd\r\n0\r\n\r\n");
	bad("a size past 2^60", "10000000000000000\r\n");
	bad("a bare LF ending the body", "0\r\n\n");
	{
		struct buf w = BUF_INIT;
		buf_adds(&w, "1;");
		for (int i = 0; i < TP_CHUNKED_LINE_MAX + 10; i++)
			buf_addch(&w, 'e');
		buf_adds(&w, "\r\nx\r\n0\r\n\r\n");
		bad("an extension past TP_CHUNKED_LINE_MAX", w.data);
		buf_release(&w);
	}
	{
		/* a 2^40-byte chunk is only counted, never held */
		struct tp_chunked c;
		const char *in = "10000000000\r\nabc", *data;
		size_t len = strlen(in), n;
		tp_chunked_init(&c);
		enum tp_chunked_step st = tp_chunked_next(&c, &in, &len, &data, &n);
		ok(st == TP_CHUNKED_DATA && n == 3 && c.left == (1ull << 40) - 3, "a huge chunk is passed on as it comes");
	}
	return tap_done();
}
