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
#define PX_WS_MESSAGE_MAX (32u << 20)	/* one message, assembled from its frames */

enum px_ws_op { PX_WS_CONT = 0, PX_WS_TEXT = 1, PX_WS_BINARY = 2, PX_WS_CLOSE = 8, PX_WS_PING = 9, PX_WS_PONG = 10 };

/** A random Sec-WebSocket-Key (24 characters). */
void px_ws_key(char out[25]);
/** The Sec-WebSocket-Accept a server must answer key with. */
void px_ws_accept_of(const char *key, char out[29]);
/** Append one masked frame (a client's) with FIN set. */
void px_ws_frame(struct buf *out, enum px_ws_op op, const void *p, size_t n);

/** A receiver of frames from a server: messages reassembled, bounded. */
struct px_ws_rx {
	struct buf in;		/* bytes not yet a whole frame */
	struct buf msg;		/* the message being assembled */
	int msg_op;		/* its opcode, 0: none in progress */
};
/**
 * Called for each complete message (PX_WS_TEXT or PX_WS_BINARY) and each
 * control frame (close, ping, pong) in order.
 */
typedef void (*px_ws_msg_fn)(void *arg, enum px_ws_op op, const char *p, size_t n);
/** Feed bytes; 0, or -1 on a protocol error or a message over PX_WS_MESSAGE_MAX. */
int px_ws_rx_feed(struct px_ws_rx *rx, const char *p, size_t n, px_ws_msg_fn fn, void *arg);
void px_ws_rx_release(struct px_ws_rx *rx);

#endif
