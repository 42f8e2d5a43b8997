/*
 * ws.c — WebSocket server connections framed by mcpbox (ws.h).
 *
 * A connection is a uv_tcp_t on the socket taken from lws, a timer for the
 * waits of a close, and a kick (a zero timer) that goes on with bytes a
 * pause left unread. Its life:
 *
 *   OPEN ──wsc_close──▶ CLOSE_SENT ──client's close──▶ FINISHING ──▶ GONE
 *     └──client's close, a broken frame──────────────────▲    (FIN, linger)
 *
 * In FINISHING nothing more is framed: once every write is out the socket
 * is shut for writing and whatever the client still sends is read and
 * dropped until its FIN or WSC_LINGER_MS, so that the close frame is not
 * lost to a reset. GONE closes the handles; the last one's callback tells
 * the user and frees the connection, so a wsc stays valid through every
 * callback it makes.
 *
 * Reading uses one buffer for every connection (the loop reads one at a
 * time); bytes a pause leaves unfed are copied aside (at most one read).
 */
#include "ws.h"
#include "wsframe.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define WSC_BUDGET (4u << 20)
#define READ_SIZE 65536

enum wsc_state { WS_OPEN, WS_CLOSE_SENT, WS_FINISHING, WS_GONE };

/* One write: a frame (or the 101 answer, hlen 0) whose bytes live until libuv is done with them. */
struct wframe {
	uv_write_t req;
	struct wsc *c;
	size_t held;			/* counted in c->held */
	enum wsf_op op;
	char *block;			/* a buffer taken whole (wsc_send_buf), freed after, or NULL */
	unsigned char hdr[WSF_HEADER_MAX];
	size_t hlen;
	char *payload;
	size_t len;
	char data[];			/* the payload, copied, when block is NULL */
};

struct wsc {
	uv_tcp_t tcp;
	uv_timer_t timer;		/* CLOSE_SENT: the client's close; FINISHING: its FIN */
	uv_timer_t kick;		/* feed what a pause left, from the loop */
	uv_shutdown_t shut;
	unsigned handles;		/* not yet closed: freed at 0 */
	const struct wsc_ops *ops;
	void *user;
	struct wsf_rx rx;
	enum wsc_state state;
	bool reading;			/* uv_read_start is on */
	bool paused;			/* wsc_pause(true) */
	bool shutting;			/* uv_shutdown was asked */
	bool pong_out;			/* a pong is being written: later pings get none until it is out (RFC 6455 5.5.3) */
	bool tx_in_message;		/* a message sent in pieces goes on */
	bool full;			/* wsc_send said over the budget: call drained when under a quarter */
	bool told;			/* ops->closed ran (or never will) */
	size_t dropped;			/* message bytes the client sent after our close frame */
	char *pend;			/* bytes read, not fed yet (a pause came mid-read) */
	size_t pend_off, pend_len;
	size_t held, budget;
	unsigned writes;		/* in flight */
	uint64_t progress;
	LIST_ENTRY(wsc) link;
};

static LIST_HEAD(, wsc) all = LIST_HEAD_INITIALIZER(all);
static unsigned count;
static char rbuf[READ_SIZE];

static void update_reading(struct wsc *c);
static void feed_pending(struct wsc *c);

static void handle_closed(uv_handle_t *h)
{
	struct wsc *c = h->data;
	if (--c->handles)
		return;
	if (!c->told) {
		c->told = true;
		c->ops->closed(c->user);
	}
	LIST_REMOVE(c, link);
	count--;
	free(c->pend);
	free(c);
}

void wsc_abort(struct wsc *c)
{
	if (c->state == WS_GONE)
		return;
	c->state = WS_GONE;
	/* pending writes end with UV_ECANCELED before the handle's close callback */
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
	uv_close((uv_handle_t *)&c->kick, handle_closed);
}

static void on_timer(uv_timer_t *t)
{
	struct wsc *c = t->data;
	log_debug("ws: a client %s in time: closing", c->state == WS_CLOSE_SENT ? "sent no close frame" : "did not hang up");
	wsc_abort(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct wsc *c = req->data;
	if (status < 0 && status != UV_ECANCELED)
		wsc_abort(c);
}

/* FINISHING with every write out: FIN, then read until the client's or the deadline. */
static void maybe_shut(struct wsc *c)
{
	if (c->state != WS_FINISHING || c->writes || c->shutting)
		return;
	c->shutting = true;
	c->shut.data = c;
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		wsc_abort(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, WSC_LINGER_MS, 0);
}

static void finish(struct wsc *c)
{
	if (c->state >= WS_FINISHING)
		return;
	c->state = WS_FINISHING;
	uv_timer_stop(&c->timer);
	/* what the client sent is dropped from now on */
	free(c->pend);
	c->pend = NULL;
	c->pend_off = c->pend_len = 0;
	update_reading(c);
	maybe_shut(c);
}

static void on_written(uv_write_t *req, int status)
{
	struct wframe *f = req->data;
	struct wsc *c = f->c;

	c->held -= f->held;
	c->writes--;
	if (f->op == WSF_PONG)
		c->pong_out = false;
	free(f->block);
	free(f);
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		log_debug("ws: writing to a client: %s", uv_strerror(status));
		wsc_abort(c);
		return;
	}
	c->progress = now_ms();
	if (c->full && c->held < c->budget / 4) {
		c->full = false;
		if (c->state == WS_OPEN && c->ops->drained)
			c->ops->drained(c->user);
	}
	maybe_shut(c);
}

/*
 * Write a frame of len bytes at p (copied unless block, which owns them and
 * is freed after), or raw bytes (op < 0: the 101 answer). False when the
 * connection is gone or libuv refused.
 */
static bool put(struct wsc *c, int op, const char *p, size_t len, bool fin, char *block)
{
	struct wframe *f;

	if (c->state == WS_GONE) {
		free(block);
		return false;
	}
	if (block) {
		f = xmalloc(sizeof(*f));
		f->payload = (char *)p;
	} else {
		f = xmalloc(sizeof(*f) + len);
		if (len)
			memcpy(f->data, p, len);
		f->payload = f->data;
	}
	f->block = block;
	f->c = c;
	f->len = len;
	f->op = op < 0 ? WSF_CONT : (enum wsf_op)op;
	f->hlen = op < 0 ? 0 : wsf_server_header(f->hdr, (enum wsf_op)op, len, fin);
	f->held = sizeof(*f) + len;
	f->req.data = f;
	uv_buf_t b[2] = { uv_buf_init((char *)f->hdr, (unsigned)f->hlen), uv_buf_init(f->payload, (unsigned)len) };
	c->held += f->held;
	c->writes++;
	int rc = f->hlen ? uv_write(&f->req, (uv_stream_t *)&c->tcp, b, 2, on_written)
			 : uv_write(&f->req, (uv_stream_t *)&c->tcp, b + 1, 1, on_written);
	if (rc < 0) {
		c->held -= f->held;
		c->writes--;
		free(f->block);
		free(f);
		log_debug("ws: cannot write to a client: %s", uv_strerror(rc));
		wsc_abort(c);
		return false;
	}
	return true;
}

/* A close frame of status (0: none) and reason, then no more frames. */
static void put_close(struct wsc *c, unsigned status, const char *reason)
{
	char p[WSF_CONTROL_MAX];
	size_t n = 0;

	if (status) {
		p[0] = (char)(status >> 8);
		p[1] = (char)status;
		n = 2;
		size_t r = reason ? strlen(reason) : 0;
		if (r > sizeof(p) - 2)
			r = sizeof(p) - 2;
		if (r)
			memcpy(p + 2, reason, r);
		n += r;
	}
	put(c, WSF_CLOSE, p, n, true, NULL);
}

/* The client broke the protocol: say why, and close without waiting for its close. */
static void fail(struct wsc *c, int status)
{
	log_info("ws: a client broke the WebSocket protocol (%d): closing", status);
	if (c->state == WS_OPEN)
		put_close(c, (unsigned)status, status == WSF_PROTOCOL_ERROR ? "protocol error"
					      : status == WSF_BAD_DATA	 ? "text is not UTF-8"
					      : status == WSF_TOO_BIG	 ? "message too large"
									 : NULL);
	finish(c);
}

/* The client's close frame (RFC 6455 5.5.1, 7.4): checked, echoed when it starts the close. */
static bool on_close(struct wsc *c, const char *p, size_t n)
{
	unsigned status = 0;
	uint32_t u = 0;

	if (n == 1 || (n >= 2 && !wsf_status_valid(status = (unsigned char)p[0] << 8 | (unsigned char)p[1]))) {
		fail(c, WSF_PROTOCOL_ERROR);
		return false;
	}
	if (n > 2 && (!wsf_utf8(&u, (const unsigned char *)p + 2, n - 2) || u)) {
		fail(c, WSF_BAD_DATA);
		return false;
	}
	if (c->state == WS_OPEN)
		put_close(c, status, NULL);
	finish(c);
	return false;
}

static bool on_piece(void *arg, enum wsf_op op, const char *p, size_t n, bool final)
{
	struct wsc *c = arg;

	switch (op) {
	case WSF_TEXT:
	case WSF_BINARY:
		if (c->state != WS_OPEN) {
			/* after our close frame, messages are dropped: a few in flight, not a flood */
			if ((c->dropped += n) > WSC_CLOSING_DROP_MAX) {
				log_debug("ws: a client sent %zu bytes after the close frame: cut off", c->dropped);
				wsc_abort(c);
				return false;
			}
			return true;
		}
		c->ops->receive(c->user, p, n, op == WSF_BINARY, final);
		return c->state == WS_OPEN && !c->paused;
	case WSF_PING:
		if (c->state == WS_OPEN && !c->pong_out && put(c, WSF_PONG, p, n, true, NULL))
			c->pong_out = true;
		return true;
	case WSF_CLOSE:
		return on_close(c, p, n);
	default:
		return true; /* a pong: nothing was asked */
	}
}

static bool may_feed(const struct wsc *c)
{
	return c->state == WS_OPEN ? !c->paused : c->state == WS_CLOSE_SENT;
}

/* Feed n bytes at p; returns how many were taken before a pause or the end. */
static size_t feed(struct wsc *c, char *p, size_t n)
{
	size_t done = 0;

	while (done < n && may_feed(c)) {
		size_t used;
		int st = wsf_rx_feed(&c->rx, p + done, n - done, on_piece, c, &used);
		done += used;
		if (st) {
			fail(c, st);
			return n;
		}
	}
	return c->state >= WS_FINISHING ? n : done;
}

static void feed_pending(struct wsc *c)
{
	if (c->pend_len) {
		size_t k = feed(c, c->pend + c->pend_off, c->pend_len);
		if (c->state == WS_GONE)
			return;
		c->pend_off += k;
		c->pend_len -= k;
		if (!c->pend_len) {
			free(c->pend);
			c->pend = NULL;
			c->pend_off = 0;
		}
	}
	update_reading(c);
}

static void on_kick(uv_timer_t *t)
{
	feed_pending(t->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	*b = uv_buf_init(rbuf, sizeof(rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct wsc *c = s->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		/* the client hung up (or the connection broke): at once, or as the end of a close */
		if (nread != UV_EOF)
			log_debug("ws: reading from a client: %s", uv_strerror((int)nread));
		wsc_abort(c);
		return;
	}
	if (c->state >= WS_FINISHING)
		return; /* dropped while the close completes */
	size_t k = feed(c, b->base, (size_t)nread);
	if (c->state == WS_GONE)
		return;
	if (k < (size_t)nread) {
		c->pend_len = (size_t)nread - k;
		c->pend_off = 0;
		c->pend = xmalloc(c->pend_len);
		memcpy(c->pend, b->base + k, c->pend_len);
	}
	update_reading(c);
}

/* Read when frames may be fed (or a closing connection's bytes dropped), nothing is set aside, and it is open. */
static void update_reading(struct wsc *c)
{
	bool want = c->state != WS_GONE && !c->pend_len && (c->state != WS_OPEN || !c->paused);

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
			wsc_abort(c);
			return;
		}
		c->reading = true;
	} else if (!want && c->reading) {
		if (c->state != WS_GONE)
			uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

struct wsc *wsc_open(uv_loop_t *loop, int fd, const struct buf *head, uint64_t max, const struct wsc_ops *ops,
		     void *user)
{
	struct wsc *c = xcalloc(1, sizeof(*c));

	c->ops = ops;
	c->user = user;
	c->rx.masked = true;
	c->rx.utf8 = true;
	c->rx.max = max;
	c->budget = WSC_BUDGET;
	c->progress = now_ms();
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	uv_timer_init(loop, &c->kick);
	c->tcp.data = c->timer.data = c->kick.data = c;
	c->handles = 3;
	LIST_INSERT_HEAD(&all, c, link);
	count++;
	int rc = uv_tcp_open(&c->tcp, fd);
	if (rc < 0) {
		log_warn("ws: cannot serve a WebSocket: %s", uv_strerror(rc));
		close(fd);
		c->told = true; /* the caller hears it from the NULL */
		wsc_abort(c);
		return NULL;
	}
	put(c, -1, head->data, head->len, true, NULL);
	update_reading(c);
	return c->state == WS_GONE ? NULL : c;
}

/* After a send: false (and drained due later) when what waits is over the budget. */
static bool under_budget(struct wsc *c)
{
	if (c->held > c->budget) {
		c->full = true;
		return false;
	}
	return true;
}

bool wsc_send(struct wsc *c, const void *data, size_t len, bool binary, bool final)
{
	if (c->state != WS_OPEN)
		return false;
	if (len || final) { /* an empty piece that ends nothing says nothing */
		enum wsf_op op = c->tx_in_message ? WSF_CONT : binary ? WSF_BINARY : WSF_TEXT;
		c->tx_in_message = !final;
		if (!put(c, op, data, len, final, NULL))
			return false;
	}
	return under_budget(c);
}

bool wsc_send_buf(struct wsc *c, struct buf *b, size_t off, bool binary)
{
	if (c->state != WS_OPEN || c->tx_in_message) {
		buf_release(b);
		return false;
	}
	size_t len = b->len - off;
	char *block = buf_detach(b);
	return put(c, binary ? WSF_BINARY : WSF_TEXT, block + off, len, true, block) && under_budget(c);
}

size_t wsc_queued(const struct wsc *c)
{
	return c->held;
}

void wsc_budget(struct wsc *c, size_t bytes)
{
	c->budget = bytes;
}

uint64_t wsc_progress(const struct wsc *c)
{
	return c->progress;
}

void wsc_pause(struct wsc *c, bool paused)
{
	if (c->paused == paused || c->state == WS_GONE)
		return;
	c->paused = paused;
	if (!paused && c->pend_len)
		uv_timer_start(&c->kick, on_kick, 0, 0); /* not from inside the caller */
	update_reading(c);
}

uint64_t wsc_piece_left(const struct wsc *c)
{
	return wsf_rx_frame_left(&c->rx);
}

bool wsc_piece_fin(const struct wsc *c)
{
	return c->rx.fin;
}

void wsc_close(struct wsc *c, unsigned status, const char *reason)
{
	if (c->state != WS_OPEN)
		return;
	put_close(c, wsf_status_valid(status) ? status : WSF_NORMAL, reason);
	if (c->state != WS_OPEN)
		return; /* the write failed: gone */
	c->state = WS_CLOSE_SENT;
	uv_timer_start(&c->timer, on_timer, WSC_CLOSE_WAIT_MS, 0);
	/* the client's close may wait behind a pause */
	if (c->pend_len)
		uv_timer_start(&c->kick, on_kick, 0, 0);
	update_reading(c);
}

void wsc_close_all(void)
{
	struct wsc *c, *next;
	for (c = LIST_FIRST(&all); c; c = next) {
		next = LIST_NEXT(c, link);
		if (c->state == WS_OPEN)
			put_close(c, WSF_GOING_AWAY, "server stopping"); /* written now if the socket takes it */
		wsc_abort(c);
	}
}

unsigned wsc_count(void)
{
	return count;
}
