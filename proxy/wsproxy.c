/*
 * wsproxy.c — a client's WebSocket (terminated by the HTTP transport)
 * joined to a WebSocket of a server inside a session, for which mcpbox is
 * the client (http1.h frames). Messages are not held whole either way, so
 * what a connection holds is its queues, whatever the message sizes:
 *
 * - from the server, each piece of a message goes on to the client as it
 *   arrives (wsf_rx_feed, tp_ws_send_piece: a fragment of the same
 *   message); while the client's queue is full the server is not read, and
 *   what was read already (one read at most) waits in rest;
 * - from the client, each of its frames goes on as it framed it: whole when
 *   it is short (PX_WS_FRAME_HOLD), else streamed (px_wsp_receive).
 *
 * Bounds: a message either way within WSF_MESSAGE_MAX (counted as it
 * passes; close 1009 past it); what waits for the client within
 * PX_WS_CLIENT_QUEUE and for the server within PX_UP_QUEUE_MAX, the other
 * side not read until it drains; what the client sends before the server's
 * handshake is done within PX_UP_QUEUE_MAX.
 */
#include "proxy.h"
#include "http1.h"
#include "../transport/wsframe.h"
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
	struct wsf_rx rx;
	bool client_full;		/* the client's queue is full: the server is not read */
	struct buf rest;		/* bytes from the server it did not take yet */
	struct buf pending;		/* frames for the server before the handshake is done */
	/* the client's message passing to the server, frame by frame as the client framed it */
	bool cmsg_open;			/* one is under way */
	bool cmsg_sent;			/* a frame of it went to the server */
	bool cmsg_binary;
	uint64_t cmsg_len;
	bool cframe_open;		/* a frame of the client's is under way */
	bool cframe_streams;		/* it is too long to be held: it streams */
	struct buf cframe;		/* else it waits here until whole */
	struct wsf_tx ctx;		/* the frame being written: ctx.left bytes of it still to come */
	char pong[WSF_CONTROL_MAX];	/* the answer to the server's last ping, due once that frame is done */
	size_t pong_len;
	bool pong_due;
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
	tp_ws_budget(ws, PX_WS_CLIENT_QUEUE);
}

static void to_server(struct px_wsp *p, enum wsf_op op, const void *data, size_t len);

/*
 * The connection is over: the server's side is closed now (with a close frame
 * of server_status when not 0), the client's once its queue is written (with
 * client_status).
 */
static void shut(struct px_wsp *p, const char *why, unsigned client_status, unsigned server_status)
{
	if (why)
		log_info("proxy: WebSocket into session %s ends: %s", p->slot.sid, why);
	if (server_status && p->up && p->upgraded) {
		unsigned char code[2] = { (unsigned char)(server_status >> 8), (unsigned char)server_status };
		to_server(p, WSF_CLOSE, code, sizeof(code));
	}
	px_up_close(p->up);
	p->up = NULL;
	if (p->ws)
		tp_ws_close_status(p->ws, client_status);
}

void px_wsp_fail(struct px_wsp *p, const char *why)
{
	shut(p, why, WSF_BAD_GATEWAY, 0);
}

/* Bytes of frames for the server: queued (bounded), or kept until the handshake is done. */
static void to_server_bytes(struct px_wsp *p, const struct buf *f)
{
	if (!p->upgraded) {
		if (p->pending.len + f->len > PX_UP_QUEUE_MAX) {
			shut(p, "the client sent too much before the server answered", WSF_TOO_BIG, 0);
			return;
		}
		buf_add(&p->pending, f->data, f->len);
	} else if (p->up && !px_up_write(p->up, f->data, f->len) && p->ws && !p->client_paused) {
		p->client_paused = true; /* the server reads slower than the client writes */
		tp_ws_pause(p->ws, true);
	}
}

/*
 * A control frame for the server. Inside a frame of the client's (its header
 * gone, its payload not all) it cannot go: a pong waits for the frame's end,
 * a close is left out (the connection ends anyway).
 */
static void to_server(struct px_wsp *p, enum wsf_op op, const void *data, size_t len)
{
	struct buf f = BUF_INIT;

	if (p->ctx.left) {
		if (op == WSF_PONG) {
			memcpy(p->pong, data, len);
			p->pong_len = len;
			p->pong_due = true;
		}
		return;
	}
	wsf_frame(&f, op, data, len);
	to_server_bytes(p, &f);
	buf_release(&f);
}

/* A close status the server sent that may go on to the client (RFC 6455 7.4). */
static unsigned passable_status(const char *data, size_t len)
{
	unsigned c = len >= 2 ? (unsigned char)data[0] << 8 | (unsigned char)data[1] : 1000;
	bool ok = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
	return ok ? c : 1000;
}

/* A piece from the server passed on; false (stop feeding) once the client's queue is full or it is over. */
static bool from_server(void *arg, enum wsf_op op, const char *data, size_t len, bool final)
{
	struct px_wsp *p = arg;

	if (!p->ws || !p->up)
		return false;
	switch (op) {
	case WSF_TEXT:
	case WSF_BINARY:
		if (tp_ws_send_piece(p->ws, data, len, op == WSF_BINARY, final))
			return true;
		p->client_full = true; /* until the client drained its queue */
		px_up_pause(p->up, true);
		return false;
	case WSF_PING:
		to_server(p, WSF_PONG, data, len);
		return true;
	case WSF_CLOSE:
		/* answered with its status; the client gets it too */
		to_server(p, WSF_CLOSE, data, len >= 2 ? 2 : 0);
		shut(p, NULL, passable_status(data, len), 0);
		return false;
	default:
		return true;
	}
}

/*
 * Bytes of frames from the server. What the client's full queue cannot take
 * now waits in p->rest (one read at most) and the server is not read until
 * the client drained it; a broken or oversized frame ends the connection.
 */
static void from_server_bytes(struct px_wsp *p, char *d, size_t n)
{
	size_t used;
	int status = wsf_rx_feed(&p->rx, d, n, from_server, p, &used);

	if (status == WSF_TOO_BIG) {
		shut(p, "the server sent a message over the bound", WSF_TOO_BIG, WSF_TOO_BIG);
	} else if (status) {
		shut(p, "the server broke the WebSocket protocol", WSF_BAD_GATEWAY, status);
	} else if (used < n && p->up) {
		buf_add(&p->rest, d + used, n - used); /* the server is paused already */
	}
}

static void wsp_data(void *arg, char *d, size_t n)
{
	struct px_wsp *p = arg;
	long used;

	if (p->upgraded) {
		if (p->rest.len)
			buf_add(&p->rest, d, n); /* after what waits, in order */
		else
			from_server_bytes(p, d, n);
		return;
	}
	buf_add(&p->head, d, n);
	used = px_head_parse(p->head.data, p->head.len, &p->h);
	if (used == 0)
		return;
	char want[29];
	const char *acc = used > 0 ? px_head_get(&p->h, "sec-websocket-accept") : NULL;
	wsf_accept_of(p->key, want);
	if (used < 0 || p->h.status != 101 || !acc || strcmp(acc, want)) {
		shut(p, "the server inside did not accept the WebSocket", WSF_BAD_GATEWAY, 0);
		return;
	}
	p->upgraded = true;
	px_up_timeout(p->up, 0);
	if (p->pending.len && !px_up_write(p->up, p->pending.data, p->pending.len) && p->ws) {
		p->client_paused = true;
		tp_ws_pause(p->ws, true);
	}
	buf_release(&p->pending);
	if (p->head.len > (size_t)used)
		from_server_bytes(p, p->head.data + used, p->head.len - (size_t)used);
	buf_release(&p->head);
}

static void wsp_ended(void *arg, struct err *e)
{
	struct px_wsp *p = arg;
	/* gone without a close frame (there is no status for that to send on: 1001), or failed */
	shut(p, e ? err_text(e) : NULL, !e && p->upgraded ? WSF_GOING_AWAY : WSF_BAD_GATEWAY, 0);
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
		shut(p, err_text(e), WSF_BAD_GATEWAY, 0);
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
		shut(p, "the session is gone", WSF_GOING_AWAY, 0);
		return;
	}
	wsf_key(p->key);
	buf_addf(&p->head,
		 "GET %s HTTP/1.1\r\nHost: localhost:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		 path, port, p->key);
	p->up = px_up_open(s, port, &wsp_ops, p, &e);
	if (!p->up) {
		shut(p, err_text(e), WSF_BAD_GATEWAY, 0);
		err_free(e);
	}
}

/* The header of the client's next frame for the server, with its opcode in the message. */
static void cframe_begin(struct px_wsp *p, struct buf *f, uint64_t len, bool fin)
{
	enum wsf_op op = p->cmsg_sent ? WSF_CONT : p->cmsg_binary ? WSF_BINARY : WSF_TEXT;

	wsf_frame_begin(f, &p->ctx, op, len, fin);
	p->cmsg_sent = true;
}

/*
 * A piece of the client's message goes on in the frames the client made. A
 * frame up to PX_WS_FRAME_HOLD bytes is passed whole once it is in. A longer
 * one streams: its header (with its whole length and its FIN, both known
 * from its first piece) goes with that piece, the rest as it comes.
 */
void px_wsp_receive(struct px_wsp *p, const void *data, size_t len)
{
	bool final, binary;
	size_t left;
	struct buf f = BUF_INIT;

	if (!p->ws)
		return;
	tp_ws_piece(p->ws, &final, &binary);
	left = tp_ws_piece_left(p->ws);
	if (!p->cmsg_open) {
		p->cmsg_open = true;
		p->cmsg_sent = false;
		p->cmsg_binary = binary;
		p->cmsg_len = 0;
	}
	if (len > WSF_MESSAGE_MAX - p->cmsg_len) {
		shut(p, "the client sent a message over the bound", WSF_TOO_BIG, WSF_GOING_AWAY);
		return;
	}
	p->cmsg_len += len;
	if (!p->cframe_open) {
		p->cframe_open = true;
		p->cframe_streams = (uint64_t)len + left > PX_WS_FRAME_HOLD;
		if (p->cframe_streams)
			cframe_begin(p, &f, (uint64_t)len + left, tp_ws_piece_fin(p->ws));
	}
	if (p->cframe_streams ? len > p->ctx.left || (!left && len != p->ctx.left)
			      : p->cframe.len + len > PX_WS_FRAME_HOLD) {
		buf_release(&f);
		shut(p, "the client's frame is not as long as it said", WSF_PROTOCOL_ERROR, WSF_GOING_AWAY);
		return;
	}
	if (p->cframe_streams)
		wsf_frame_add(&f, &p->ctx, data, len);
	else
		buf_add(&p->cframe, data, len);
	if (!left) { /* the client's frame is over: final says whether it ended its message */
		if (!p->cframe_streams) {
			cframe_begin(p, &f, p->cframe.len, final);
			wsf_frame_add(&f, &p->ctx, p->cframe.data, p->cframe.len);
			buf_reset(&p->cframe);
		}
		p->cframe_open = false;
	}
	to_server_bytes(p, &f);
	buf_release(&f);
	if (!p->ctx.left && p->pong_due) {
		p->pong_due = false;
		to_server(p, WSF_PONG, p->pong, p->pong_len);
	}
	if (final)
		p->cmsg_open = false;
}

void px_wsp_drained(struct px_wsp *p)
{
	struct buf rest = p->rest;

	p->rest = (struct buf)BUF_INIT;
	p->client_full = false;
	if (rest.len && p->up)
		from_server_bytes(p, rest.data, rest.len); /* may fill the queue again */
	buf_release(&rest);
	if (p->up && !p->client_full)
		px_up_pause(p->up, false);
}

void px_wsp_closed(struct px_wsp *p)
{
	p->ws = NULL;
	shut(p, NULL, 0, p->upgraded ? WSF_GOING_AWAY : 0);
	px_slot_give(&p->slot);
	buf_release(&p->head);
	buf_release(&p->pending);
	buf_release(&p->rest);
	buf_release(&p->cframe);
	px_head_release(&p->h);
	free(p);
}
