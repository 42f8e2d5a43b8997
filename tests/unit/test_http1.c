/* Unit tests of the WebSocket receiver of proxy/http1.c: frames from a server fed in pieces of any
   size give the same messages, passed on as they arrive (never held whole); fragmented messages,
   control frames between fragments, the message bound and broken frames. */
#include "proxy/http1.h"
#include "transport/wsframe.h"
#include "server/base/buf.h"
#include "tap.h"

#include <stdbool.h>
#include <stdint.h>

/* What the receiver passed on: "T:" / "B:" message bodies, "P:" / "C:" control frames, one a line. */
struct got {
	struct buf log;
	struct buf msg;			/* the message being passed on */
	unsigned pieces;		/* calls for data */
	size_t biggest;			/* the largest piece */
	bool empty_piece;		/* an empty piece that did not end its message */
	bool stop_each;			/* stop the feed after every piece */
};

static bool on_piece(void *arg, enum wsf_op op, const char *p, size_t n, bool final)
{
	struct got *g = arg;

	if (op == WSF_TEXT || op == WSF_BINARY) {
		g->pieces++;
		g->biggest = n > g->biggest ? n : g->biggest;
		g->empty_piece |= !n && !final;
		buf_add(&g->msg, p, n);
		if (final) {
			buf_addf(&g->log, "%c:%.*s\n", op == WSF_TEXT ? 'T' : 'B', (int)g->msg.len, g->msg.data ? g->msg.data : "");
			buf_reset(&g->msg);
		}
		return !g->stop_each;
	}
	buf_addf(&g->log, "%c:%.*s\n", op == WSF_PING ? 'P' : op == WSF_PONG ? 'O' : 'C', (int)n, p);
	return !g->stop_each;
}

/* A server's frame (unmasked) onto out. */
static void frame(struct buf *out, bool fin, int op, const char *p, size_t n)
{
	unsigned char h[10];
	size_t hl = 2;
	h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
	if (n < 126) {
		h[1] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	buf_add(out, h, hl);
	buf_add(out, p, n);
}

/* Feed in pieces of step bytes (0: whole), each again from where a stop left it; the status of the last feed. */
static int feed(const struct buf *in, size_t step, bool stop_each, struct got *g)
{
	struct wsf_rx rx = { 0 };
	int st = 0;
	memset(g, 0, sizeof(*g));
	g->stop_each = stop_each;
	for (size_t off = 0; off < in->len && !st;) {
		size_t n = step && in->len - off > step ? step : in->len - off, used;
		st = wsf_rx_feed(&rx, in->data + off, n, on_piece, g, &used);
		if (used > n || (!stop_each && !st && used != n))
			return -1;
		off += used;
	}
	return st;
}

static void got_release(struct got *g)
{
	buf_release(&g->log);
	buf_release(&g->msg);
}

int main(void)
{
	struct buf in = BUF_INIT, big = BUF_INIT;
	struct got g, w;

	/* a text message, a binary one in three fragments with a ping and a pong between them, an
	   empty message, one of 70,000 bytes (64-bit length), and a close */
	for (size_t i = 0; i < 70000; i++)
		buf_addch(&big, (char)('a' + i % 26));
	frame(&in, true, WSF_TEXT, "hello", 5);
	frame(&in, false, WSF_BINARY, "ab", 2);
	frame(&in, true, WSF_PING, "p1", 2);
	frame(&in, false, WSF_CONT, "", 0);
	frame(&in, true, WSF_PONG, "", 0);
	frame(&in, true, WSF_CONT, "cd", 2);
	frame(&in, true, WSF_TEXT, "", 0);
	frame(&in, true, WSF_BINARY, big.data, big.len);
	frame(&in, true, WSF_CLOSE, "\x03\xe8", 2);

	struct buf want = BUF_INIT;
	buf_addf(&want, "T:hello\nP:p1\nO:\nB:abcd\nT:\nB:%s\nC:\x03\xe8\n", big.data);
	ok(feed(&in, 0, false, &w) == 0, "fed whole: no error");
	is_str(w.log.data, want.data, "fed whole: the messages and control frames in order");
	ok(!w.empty_piece, "no empty piece but one that ends a message");
	static const size_t steps[] = { 1, 2, 3, 7, 13, 126, 4096 };
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int st = feed(&in, steps[i], false, &g);
		ok(st == 0 && g.log.data && !strcmp(g.log.data, want.data) && !g.empty_piece,
		   "fed %zu bytes at a time: the same", steps[i]);
		if (steps[i] < 1000)
			ok(g.biggest <= steps[i], "fed %zu bytes at a time: passed on as it came (largest piece %zu)",
			   steps[i], g.biggest);
		got_release(&g);
	}
	/* a receiver that stops the feed after each piece gets the rest when it feeds it again */
	ok(feed(&in, 0, true, &g) == 0 && g.log.data && !strcmp(g.log.data, want.data), "stopped after every piece, fed again: the same");
	got_release(&g);
	ok(feed(&in, 5, true, &g) == 0 && g.log.data && !strcmp(g.log.data, want.data), "the same, fed 5 bytes at a time");
	got_release(&g);
	got_release(&w);

	/* the message bound: counted over fragments (their payload passed on, not held), refused at
	   the header that goes past it */
	struct wsf_rx rx = { 0 };
	uint64_t half = WSF_MESSAGE_MAX / 2;
	static char zeros[64 << 10];
	size_t passed = 0, used;
	buf_reset(&in);
	buf_add(&in, "\x02\x7f", 2);
	for (int i = 0; i < 8; i++)
		buf_addch(&in, (char)(half >> (56 - 8 * i)));
	memset(&g, 0, sizeof(g));
	ok(wsf_rx_feed(&rx, in.data, in.len, on_piece, &g, &used) == 0, "half the bound announced: taken");
	for (; passed < half; passed += sizeof(zeros))
		if (wsf_rx_feed(&rx, zeros, sizeof(zeros), on_piece, &g, &used))
			break;
	ok(passed == half && g.pieces == half / sizeof(zeros) && g.biggest == sizeof(zeros),
	   "its payload passed on in the pieces it came in (%u)", g.pieces);
	buf_reset(&in);
	buf_add(&in, "\x80\x7f", 2);
	for (int i = 0; i < 8; i++)
		buf_addch(&in, (char)((half + 1) >> (56 - 8 * i)));
	ok(wsf_rx_feed(&rx, in.data, in.len, on_piece, &g, &used) == WSF_TOO_BIG, "a fragment past the bound: 1009");
	rx = (struct wsf_rx){ 0 };
	buf_reset(&in);
	buf_add(&in, "\x82\x7f", 2);
	for (int i = 0; i < 8; i++)
		buf_addch(&in, (char)(((uint64_t)WSF_MESSAGE_MAX + 1) >> (56 - 8 * i)));
	ok(wsf_rx_feed(&rx, in.data, in.len, on_piece, &g, &used) == WSF_TOO_BIG, "a frame past the bound: 1009");
	got_release(&g);

	/* broken frames */
	static const struct {
		const char *bytes;
		size_t n;
		const char *what;
	} bad[] = {
		{ "\x81\x85" "abcd" "x", 7, "a masked frame" },
		{ "\xc1\x00", 2, "a reserved bit" },
		{ "\x83\x00", 2, "an unknown opcode" },
		{ "\x80\x00", 2, "a continuation with no message" },
		{ "\x01\x00\x81\x00", 4, "a new message inside one" },
		{ "\x09\x00", 2, "a fragmented ping" },
		{ "\x89\x7e\x00\x7e", 4, "a ping over 125 bytes" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = BUF_INIT;
		buf_add(&b, bad[i].bytes, bad[i].n);
		ok(feed(&b, 0, false, &g) == WSF_PROTOCOL_ERROR && feed(&b, 1, false, &w) == WSF_PROTOCOL_ERROR,
		   "%s: 1002, whole and byte by byte", bad[i].what);
		got_release(&g);
		got_release(&w);
		buf_release(&b);
	}

	buf_release(&in);
	buf_release(&big);
	buf_release(&want);
	return tap_done();
}
