/* Unit tests of the WebSocket frames of transport/wsframe.c: frames from a server (unmasked) or a
   client (masked) fed in pieces of any size give the same messages, passed on as they arrive (never
   held whole); fragmented messages, control frames between fragments, the message bound, broken
   frames (a mask where there must be none and none where there must be one), text checked for
   UTF-8 as it comes, handshake keys and close statuses. */
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

/* The receiver every feed starts from: a server's frames, or a client's. */
static struct wsf_rx proto;
static bool client;		/* frame() writes a client's (masked) frames */

/* A frame onto out, a server's or (client) a client's. */
static void frame(struct buf *out, bool fin, int op, const char *p, size_t n)
{
	if (client) {
		struct wsf_tx tx;
		wsf_frame_begin(out, &tx, (enum wsf_op)op, n, fin);
		wsf_frame_add(out, &tx, p, n);
		return;
	}
	unsigned char h[WSF_HEADER_MAX];
	buf_add(out, h, wsf_server_header(h, (enum wsf_op)op, n, fin));
	buf_add(out, p, n);
}

/* Feed in pieces of step bytes (0: whole), each again from where a stop left it; the status of the last feed. */
static int feed(const struct buf *in, size_t step, bool stop_each, struct got *g)
{
	struct wsf_rx rx = proto;
	struct buf copy = BUF_INIT; /* a client's payload is unmasked where it lies */
	int st = 0;
	memset(g, 0, sizeof(*g));
	g->stop_each = stop_each;
	buf_add(&copy, in->data, in->len);
	for (size_t off = 0; off < in->len && !st;) {
		size_t n = step && in->len - off > step ? step : in->len - off, used;
		st = wsf_rx_feed(&rx, copy.data + off, n, on_piece, g, &used);
		if (used > n || (!stop_each && !st && used != n)) {
			st = -1;
			break;
		}
		off += used;
	}
	buf_release(&copy);
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
	   empty message, one of 70,000 bytes (64-bit length), and a close; a server's, then a client's */
	for (size_t i = 0; i < 70000; i++)
		buf_addch(&big, (char)('a' + i % 26));
	for (int side = 0; side < 2; side++) {
		client = proto.masked = side;
		const char *who = side ? "a client's frames" : "a server's frames";
		buf_reset(&in);
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
		ok(feed(&in, 0, false, &w) == 0, "%s fed whole: no error", who);
		is_str(w.log.data, want.data, "%s fed whole: the messages and control frames in order", who);
		ok(!w.empty_piece, "no empty piece but one that ends a message");
		static const size_t steps[] = { 1, 2, 3, 7, 13, 126, 4096 };
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			int st = feed(&in, steps[i], false, &g);
			ok(st == 0 && g.log.data && !strcmp(g.log.data, want.data) && !g.empty_piece,
			   "%s fed %zu bytes at a time: the same", who, steps[i]);
			if (steps[i] < 1000)
				ok(g.biggest <= steps[i], "fed %zu bytes at a time: passed on as it came (largest piece %zu)",
				   steps[i], g.biggest);
			got_release(&g);
		}
		/* a receiver that stops the feed after each piece gets the rest when it feeds it again */
		ok(feed(&in, 0, true, &g) == 0 && g.log.data && !strcmp(g.log.data, want.data),
		   "%s stopped after every piece, fed again: the same", who);
		got_release(&g);
		ok(feed(&in, 5, true, &g) == 0 && g.log.data && !strcmp(g.log.data, want.data),
		   "%s: the same, fed 5 bytes at a time", who);
		got_release(&g);
		got_release(&w);
		buf_release(&want);
	}
	client = proto.masked = false;

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

	/* a client's frames: a server must see every one masked, and a client none */
	buf_reset(&in);
	buf_add(&in, "\x81\x05hello", 7);
	proto.masked = true;
	ok(feed(&in, 0, false, &g) == WSF_PROTOCOL_ERROR && feed(&in, 1, false, &w) == WSF_PROTOCOL_ERROR,
	   "an unmasked frame to a server: 1002, whole and byte by byte");
	got_release(&g);
	got_release(&w);
	buf_reset(&in);
	buf_add(&in, "\x89\x00", 2);
	ok(feed(&in, 0, false, &g) == WSF_PROTOCOL_ERROR, "an unmasked empty ping to a server: 1002");
	got_release(&g);

	/* text is UTF-8 (RFC 3629), checked as it comes, whatever the cuts */
	static const struct {
		const char *bytes;
		bool good;
		const char *what;
	} text[] = {
		{ "plain", true, "ASCII" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", true, "two-, three- and four-byte characters, U+10FFFF" },
		{ "\xc3\x28", false, "a lead byte without its continuation" },
		{ "\xc0\x80", false, "an overlong NUL" },
		{ "\xe0\x80\xaf", false, "an overlong three-byte form" },
		{ "\xed\xa0\x80", false, "a surrogate" },
		{ "\xf4\x90\x80\x80", false, "past U+10FFFF" },
		{ "\xf5\x80\x80\x80", false, "a lead byte that cannot start anything" },
		{ "\x80", false, "a lone continuation byte" },
		{ "ok\xe2\x82", false, "a character cut by the message's end" },
	};
	client = proto.masked = proto.utf8 = true;
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		size_t n = strlen(text[i].bytes);
		buf_reset(&in);
		frame(&in, false, WSF_TEXT, text[i].bytes, n / 2);
		frame(&in, true, WSF_CONT, text[i].bytes + n / 2, n - n / 2);
		int want_st = text[i].good ? 0 : WSF_BAD_DATA;
		ok(feed(&in, 0, false, &g) == want_st && feed(&in, 1, false, &w) == want_st,
		   "%s: %s, in two fragments, whole and byte by byte", text[i].what, text[i].good ? "taken" : "1007");
		if (text[i].good)
			ok(g.log.data && !strncmp(g.log.data + 2, text[i].bytes, n), "%s: passed on unmasked", text[i].what);
		got_release(&g);
		got_release(&w);
	}
	buf_reset(&in);
	frame(&in, true, WSF_BINARY, "\xff\xfe", 2);
	ok(feed(&in, 0, false, &g) == 0, "binary messages are not text");
	got_release(&g);
	client = proto.masked = proto.utf8 = false;

	ok(wsf_key_valid("dGhlIHNhbXBsZSBub25jZQ=="), "the RFC's sample key is a key");
	ok(!wsf_key_valid("dGhlIHNhbXBsZSBub25jZQ") && !wsf_key_valid("c2hvcnQ=") && !wsf_key_valid(NULL) &&
	   !wsf_key_valid("dGhlIHNhbXBsZSBub25j!Q=="), "a short, unpadded, missing or non-base64 key is not");
	char acc[29];
	wsf_accept_of("dGhlIHNhbXBsZSBub25jZQ==", acc);
	is_str(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Accept of the RFC's sample key");
	ok(wsf_status_valid(1000) && wsf_status_valid(1011) && wsf_status_valid(1014) && wsf_status_valid(3000) &&
	   wsf_status_valid(4999), "statuses an endpoint may send");
	ok(!wsf_status_valid(999) && !wsf_status_valid(1004) && !wsf_status_valid(1005) && !wsf_status_valid(1006) &&
	   !wsf_status_valid(1015) && !wsf_status_valid(2999) && !wsf_status_valid(5000), "and those it may not");

	buf_release(&in);
	buf_release(&big);
	return tap_done();
}
