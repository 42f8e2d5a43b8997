/*
 * wsproxy.c — a client's WebSocket (terminated by the HTTP transport)
 * joined to a WebSocket of a server inside a session, for which mcpbox is
 * the client (http1.h frames). Whole messages cross, each keeping its kind.
 *
 * Bounds: a message either way within PX_WS_MESSAGE_MAX; what the client
 * sends before the server's handshake is done within PX_UP_QUEUE_MAX; when
 * one side's queue is full the other side is not read until it drains.
 */
#include "proxy.h"
#include "http1.h"
#include "upstream.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../transport/http.h"

#include <string.h>
#include <strings.h>

#include "../server/base/banned.h"

struct px_wsp {
	struct px_slot slot;
	struct tp_ws *ws;		/* NULL once the client's side closed */
	struct px_up *up;
	bool upgraded, client_paused;
	char key[25];
	struct buf head;		/* the server's handshake answer until whole */
	struct px_head h;
	struct px_ws_rx rx;
	struct buf pending;		/* frames for the server before the handshake is done */
	struct buf cmsg;		/* the client's message being assembled */
	bool cmsg_started, cmsg_binary;
};

struct px_wsp *px_wsp_new(const char *sid, int *status, const char **why)
{
	struct px_wsp *p = xcalloc(1, sizeof(*p));
	if ((*status = px_slot_take(&p->slot, sid, why))) {
		free(p);
		return NULL;
	}
	return p;
}

const char *px_wsp_sid(const struct px_wsp *p)
{
	return p->slot.sid;
}

void px_wsp_attach(struct px_wsp *p, struct tp_ws *ws)
{
	p->ws = ws;
}

/* The server's side is over: close the client's (what is queued still goes out). */
static void shut(struct px_wsp *p, const char *why)
{
	if (why)
		log_info("proxy: WebSocket into session %s ends: %s", p->slot.sid, why);
	px_up_close(p->up);
	p->up = NULL;
	if (p->ws)
		tp_ws_close(p->ws);
}

void px_wsp_fail(struct px_wsp *p, const char *why)
{
	shut(p, why);
}

static void to_server(struct px_wsp *p, enum px_ws_op op, const void *data, size_t len)
{
	struct buf f = BUF_INIT;

	px_ws_frame(&f, op, data, len);
	if (!p->upgraded) {
		if (p->pending.len + f.len > PX_UP_QUEUE_MAX) {
			buf_release(&f);
			shut(p, "the client sent too much before the server answered");
			return;
		}
		buf_add(&p->pending, f.data, f.len);
	} else if (p->up && !px_up_write(p->up, f.data, f.len) && p->ws && !p->client_paused) {
		p->client_paused = true; /* the server reads slower than the client writes */
		tp_ws_pause(p->ws, true);
	}
	buf_release(&f);
}

static void from_server(void *arg, enum px_ws_op op, const char *data, size_t len)
{
	struct px_wsp *p = arg;

	if (!p->ws || !p->up)
		return;
	switch (op) {
	case PX_WS_TEXT:
	case PX_WS_BINARY:
		if (!tp_ws_send(p->ws, data, len, op == PX_WS_BINARY))
			px_up_pause(p->up, true); /* until the client drained its queue */
		break;
	case PX_WS_PING:
		to_server(p, PX_WS_PONG, data, len);
		break;
	case PX_WS_CLOSE:
		to_server(p, PX_WS_CLOSE, data, len >= 2 ? 2 : 0);
		shut(p, NULL);
		break;
	default:
		break;
	}
}

static void wsp_data(void *arg, const char *d, size_t n)
{
	struct px_wsp *p = arg;
	long used;

	if (p->upgraded) {
		if (px_ws_rx_feed(&p->rx, d, n, from_server, p) < 0)
			shut(p, "the server broke the WebSocket protocol or sent a message over the bound");
		return;
	}
	buf_add(&p->head, d, n);
	used = px_head_parse(p->head.data, p->head.len, &p->h);
	if (used == 0)
		return;
	char want[29];
	const char *acc = used > 0 ? px_head_get(&p->h, "sec-websocket-accept") : NULL;
	px_ws_accept_of(p->key, want);
	if (used < 0 || p->h.status != 101 || !acc || strcmp(acc, want)) {
		shut(p, "the server inside did not accept the WebSocket");
		return;
	}
	p->upgraded = true;
	px_up_timeout(p->up, 0);
	if (p->pending.len && !px_up_write(p->up, p->pending.data, p->pending.len) && p->ws) {
		p->client_paused = true;
		tp_ws_pause(p->ws, true);
	}
	buf_release(&p->pending);
	size_t rest = p->head.len - (size_t)used;
	if (rest && px_ws_rx_feed(&p->rx, p->head.data + used, rest, from_server, p) < 0)
		shut(p, "the server broke the WebSocket protocol");
	buf_release(&p->head);
}

static void wsp_ended(void *arg, struct err *e)
{
	struct px_wsp *p = arg;
	shut(p, e ? err_text(e) : NULL);
	err_free(e);
}

static void wsp_writable(void *arg)
{
	struct px_wsp *p = arg;
	if (p->client_paused && p->ws) {
		p->client_paused = false;
		tp_ws_pause(p->ws, false);
	}
}

static void wsp_connected(void *arg, struct err *e)
{
	struct px_wsp *p = arg;
	if (e) {
		shut(p, err_text(e));
		err_free(e);
		return;
	}
	px_up_write(p->up, p->head.data, p->head.len); /* the handshake request, kept there until now */
	buf_reset(&p->head);
	px_up_timeout(p->up, PX_HEAD_TIMEOUT_MS);
}

static const struct px_up_ops wsp_ops = {
	.connected = wsp_connected,
	.data = wsp_data,
	.ended = wsp_ended,
	.writable = wsp_writable,
};

void px_wsp_connect(struct px_wsp *p, unsigned port, const char *path)
{
	struct sess_session *s = px_session(p->slot.sid);
	struct err *e = NULL;

	if (!s) {
		shut(p, "the session is gone");
		return;
	}
	px_ws_key(p->key);
	buf_addf(&p->head,
		 "GET %s HTTP/1.1\r\nHost: localhost:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 path, port, p->key);
	p->up = px_up_open(s, port, &wsp_ops, p, &e);
	if (!p->up) {
		shut(p, err_text(e));
		err_free(e);
	}
}

void px_wsp_receive(struct px_wsp *p, const void *data, size_t len)
{
	bool final, binary;

	if (!p->ws)
		return;
	tp_ws_piece(p->ws, &final, &binary);
	if (!p->cmsg_started) {
		p->cmsg_started = true;
		p->cmsg_binary = binary;
	}
	if (p->cmsg.len + len > PX_WS_MESSAGE_MAX) {
		shut(p, "the client sent a message over the bound");
		return;
	}
	buf_add(&p->cmsg, data, len);
	if (!final)
		return;
	to_server(p, p->cmsg_binary ? PX_WS_BINARY : PX_WS_TEXT, p->cmsg.data ? p->cmsg.data : "", p->cmsg.len);
	buf_release(&p->cmsg);
	p->cmsg_started = false;
}

void px_wsp_drained(struct px_wsp *p)
{
	if (p->up)
		px_up_pause(p->up, false);
}

void px_wsp_closed(struct px_wsp *p)
{
	p->ws = NULL;
	px_up_close(p->up);
	p->up = NULL;
	px_slot_give(&p->slot);
	buf_release(&p->head);
	buf_release(&p->pending);
	buf_release(&p->cmsg);
	px_head_release(&p->h);
	px_ws_rx_release(&p->rx);
	free(p);
}
