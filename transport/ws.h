/**
 * ws.h — mcpbox's own WebSocket server connections (RFC 6455).
 *
 * libwebsockets reads an upgrade request and http.c decides on it (Origin,
 * key, route); the socket is then taken from lws and served here, on the
 * loop, with libuv. Every frame a client sends is checked (wsframe.h): it
 * must be masked, use no reserved bit or opcode, keep control frames short
 * and whole, fragments in order, text in UTF-8 and messages within their
 * bound; a broken frame closes the connection with the status RFC 6455
 * names for it (1002, 1007, 1009). Pings are answered, closes echoed and
 * the TCP connection closed by the server first, with a deadline on every
 * wait for the client. What waits to be written is counted in bytes of
 * memory against a budget the user sets (wsc_send says when it is over).
 *
 * Ownership: a wsc lives from wsc_open until ops->closed, which is always
 * called once (the wsc is freed right after it returns); the user's state
 * stays the user's. Loop thread only.
 */
#ifndef MCPBOX_WS_H
#define MCPBOX_WS_H

#include "../server/base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct wsc;

struct wsc_ops {
	/*
	 * A piece of a message as it arrives (data valid during the call only),
	 * binary its kind, final on its last piece (which may be empty).
	 */
	void (*receive)(void *user, const char *data, size_t len, bool binary, bool final);
	/* What waits to be written fell under a quarter of the budget after wsc_send said it was over. */
	void (*drained)(void *user);
	/* The connection is gone (closed by either side, or broken); nothing is called after. */
	void (*closed)(void *user);
};

/* How long a closing connection waits for the client's close frame, and then for its FIN (ms). */
#define WSC_CLOSE_WAIT_MS 5000
#define WSC_LINGER_MS 2000
/* Message bytes a client may still send after the server's close frame (dropped); past them it is cut off. */
#define WSC_CLOSING_DROP_MAX (1u << 20)

/**
 * Serve the connected socket fd (taken from lws; now ours) as a WebSocket:
 * head (the 101 answer) is written first, then frames both ways. max bounds
 * a message from the client (0: WSF_MESSAGE_MAX). NULL when libuv cannot
 * take the socket (it is closed then, and ops->closed is not called).
 */
struct wsc *wsc_open(uv_loop_t *loop, int fd, const struct buf *head, uint64_t max, const struct wsc_ops *ops,
		     void *user);
/**
 * Queue a piece of a message, which goes out as its own frame: the first
 * piece of a message gives its kind, final ends it (nothing else may be
 * sent between the pieces of one message). data is copied. Returns false
 * when what waits is over the budget (the piece is still queued: the caller
 * should stop producing until drained), or when the connection is closing
 * (nothing is queued then).
 */
bool wsc_send(struct wsc *c, const void *data, size_t len, bool binary, bool final);
/** Queue a whole message made of b's bytes after off, taking b (no copy). Returns as wsc_send. */
bool wsc_send_buf(struct wsc *c, struct buf *b, size_t off, bool binary);
/** Memory (bytes) that waits to be written, frames and their payloads. */
size_t wsc_queued(const struct wsc *c);
/** What may wait before wsc_send says it is over (bytes; 4 MiB unless set). */
void wsc_budget(struct wsc *c, size_t bytes);
/** now_ms() when a write last completed, or when the connection opened. */
uint64_t wsc_progress(const struct wsc *c);
/** Stop (true) or resume reading the client's frames (backpressure); a piece being delivered ends the feed. */
void wsc_pause(struct wsc *c, bool paused);
/** During receive: payload bytes of the piece's frame still to come. */
uint64_t wsc_piece_left(const struct wsc *c);
/** During receive: does the piece's frame end its message (known from its first piece on)? */
bool wsc_piece_fin(const struct wsc *c);
/**
 * Close with status (and an optional short reason) once what is queued is
 * written, and wait up to WSC_CLOSE_WAIT_MS for the client's close. Messages
 * the client sends meanwhile are dropped, up to WSC_CLOSING_DROP_MAX bytes:
 * a client that goes on sending is cut off. Later calls do nothing.
 */
void wsc_close(struct wsc *c, unsigned status, const char *reason);
/** Close now, without a close frame (a client that reads nothing); what is queued is dropped. */
void wsc_abort(struct wsc *c);
/** Every open connection closes now with 1001 "going away" as far as the socket takes it (server stop). */
void wsc_close_all(void);
/** Connections not yet gone (they hold a socket each). */
unsigned wsc_count(void);

#endif
