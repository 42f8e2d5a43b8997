/**
 * http1.h — the bits of HTTP/1 and WebSocket (RFC 6455) that mcpbox speaks
 * as a client to servers inside sandboxes: reading a response head and
 * WebSocket frames. Pure functions over bytes from a hostile peer: every
 * length is bounded, anything malformed is an error. Any thread.
 */
#ifndef MCPBOX_PX_HTTP1_H
#define MCPBOX_PX_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"

#define PX_HEAD_MAX (32u << 10)		/* a response head longer than this is refused */
#define PX_HEADERS_MAX 100

/** A response head: status and headers ("name\0value\0" pairs, names lower-cased). */
struct px_head {
	int status;
	int64_t length;		/* Content-Length, -1 when absent */
	bool chunked;		/* Transfer-Encoding other than identity */
	struct buf hdrs;
	unsigned nhdrs;
};

/**
 * Parse a response head at the start of p[0..n): its length (through the
 * blank line) with h filled, 0 when more bytes are needed (and n is still
 * under PX_HEAD_MAX), -1 when malformed or too long. h is released and
 * filled again on each call.
 */
long px_head_parse(const char *p, size_t n, struct px_head *h);
/** The value of header name (lower case), or NULL. */
const char *px_head_get(const struct px_head *h, const char *name);
void px_head_release(struct px_head *h);

/** Hop-by-hop and credential headers that never pass a proxy (name lower case). */
bool px_header_hop(const char *name);

/* ---- WebSocket ---- */
#define PX_WS_MESSAGE_MAX (32u << 20)	/* one message, counted as its frames pass */
#define PX_WS_CONTROL_MAX 125		/* a control frame's payload (RFC 6455 5.5) */

enum px_ws_op { PX_WS_CONT = 0, PX_WS_TEXT = 1, PX_WS_BINARY = 2, PX_WS_CLOSE = 8, PX_WS_PING = 9, PX_WS_PONG = 10 };

/* Close statuses (RFC 6455 7.4.1) */
#define PX_WS_GOING_AWAY 1001
#define PX_WS_PROTOCOL_ERROR 1002
#define PX_WS_TOO_BIG 1009
#define PX_WS_BAD_GATEWAY 1014

/** A random Sec-WebSocket-Key (24 characters). */
void px_ws_key(char out[25]);
/** The Sec-WebSocket-Accept a server must answer key with. */
void px_ws_accept_of(const char *key, char out[29]);
/** Append one masked frame (a client's) with FIN set. */
void px_ws_frame(struct buf *out, enum px_ws_op op, const void *p, size_t n);
/**
 * A client's frame written in pieces: its header first, with the length of
 * the whole payload, then the payload as it comes (masked where it falls).
 */
struct px_ws_tx {
	unsigned char mask[4];
	uint64_t at, left;		/* payload bytes written, and still to come */
};
/** Append the header of a masked frame of len payload bytes; fin false: its message goes on. */
void px_ws_frame_begin(struct buf *out, struct px_ws_tx *tx, enum px_ws_op op, uint64_t len, bool fin);
/** Append n bytes of its payload (at most tx->left). */
void px_ws_frame_add(struct buf *out, struct px_ws_tx *tx, const void *p, size_t n);

/**
 * A receiver of frames from a server. Messages are not assembled: the
 * payload of a data frame is passed on as it arrives, in pieces that point
 * into the bytes fed, so the receiver holds no more than a frame's header
 * and one control frame (under 140 bytes, no allocation) whatever the
 * server sends. Messages are still counted against PX_WS_MESSAGE_MAX.
 * A zeroed px_ws_rx is ready; it owns no memory.
 */
struct px_ws_rx {
	unsigned char head[14];		/* a frame's header until whole */
	unsigned head_len;
	char ctl[PX_WS_CONTROL_MAX];	/* a control frame's payload until whole */
	unsigned ctl_len;
	bool in_frame;			/* a header was read: left payload bytes follow */
	bool fin;			/* the frame ends its message */
	int op;				/* the frame's opcode */
	uint64_t left;
	int msg_op;			/* the message under way (PX_WS_TEXT or _BINARY), 0: none */
	uint64_t msg_len;		/* its bytes so far, with the frame being read */
};
/**
 * Called with each piece of a message, op its kind (PX_WS_TEXT or
 * PX_WS_BINARY), final on its last piece (which may be empty; no other
 * piece is), and with each control frame (close, ping, pong) whole and
 * final, in the order they came. p is valid during the call only. Returns
 * false to stop the feed after this piece (the receiver cannot take more).
 */
typedef bool (*px_ws_piece_fn)(void *arg, enum px_ws_op op, const char *p, size_t n, bool final);
/**
 * Feed bytes; *used says how many were taken: n, or fewer when fn stopped
 * the feed (feed the rest again later). Returns 0, or the close status the
 * server earned: PX_WS_PROTOCOL_ERROR for a broken frame, PX_WS_TOO_BIG for a
 * message over PX_WS_MESSAGE_MAX (refused at the header that takes it over,
 * before its payload is passed on). After an error rx must not be fed again.
 */
int px_ws_rx_feed(struct px_ws_rx *rx, const char *p, size_t n, px_ws_piece_fn fn, void *arg, size_t *used);

#endif
