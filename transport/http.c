/*
 * transport/http.c — MCP over Streamable HTTP and WebSocket on one port,
 * with libwebsockets joined to the server's libuv loop.
 *
 * Streamable HTTP (revision 2025-11-25): an MCP session is minted by an
 * initialize POST (Mcp-Session-Id); each later POST carries one message or
 * a batch. A POST is the engine's context (struct stream): its answer goes
 * back as application/json, or as text/event-stream when notifications
 * (progress, logs) come first. A GET opens the session's stream for
 * connection-wide notifications; DELETE ends the session and its sandbox.
 *
 * WebSocket: one JSON-RPC message or batch per message, same engine. lws
 * reads the upgrade request; the connection is then ws.c's (take_socket).
 *
 * Every other path is a route (http_route.c, transport/http.h); the types
 * both files share are in http_int.h.
 *
 * Lifetimes: lws owns each wsi and its per-connection data (struct pss). Our
 * own objects (struct session, struct stream, struct wsconn) outlive a wsi
 * when needed: a stream whose client went away stays until the engine is
 * done with it, so the engine never holds a dangling context.
 */
#include "http_int.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/json_out.h"
#include "../server/base/log.h"
#include "../server/base/offload.h"
#include "../server/base/rate.h"
#include "wsframe.h"

#include <arpa/inet.h>
#include <assert.h>
#include <limits.h>
#include <ctype.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <libwebsockets.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../server/base/banned.h"

struct http_state H;


/* ---- small helpers ------------------------------------------------------ */

const char *tp_bearer_token(const char *authorization)
{
	static const char scheme[] = "Bearer";
	const char *p = authorization, *tok;

	if (!p)
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, scheme, sizeof(scheme) - 1) != 0)
		return NULL;
	p += sizeof(scheme) - 1;
	if (*p != ' ' && *p != '\t')
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	tok = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (p == tok)
		return NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p ? NULL : tok;
}


/* The value of URL argument name ("key="), copied into out; -1 if absent. */
int http_urlarg(struct lws *wsi, const char *name, char *out, size_t cap)
{
	char tmp[512];
	const char *v = lws_get_urlarg_by_name(wsi, name, tmp, sizeof(tmp));
	size_t n;

	out[0] = '\0';
	if (!v || (n = strlen(v)) >= cap)
		return -1;
	memcpy(out, v, n + 1);
	return 0;
}

int http_hdr(struct lws *wsi, enum lws_token_indexes t, char *out, int cap)
{
	out[0] = '\0';
	if (lws_hdr_total_length(wsi, t) <= 0 || lws_hdr_total_length(wsi, t) >= cap)
		return -1;
	return lws_hdr_copy(wsi, out, cap, t) < 0 ? -1 : 0;
}

int http_custom_hdr(struct lws *wsi, const char *name, char *out, int cap)
{
	int n = (int)strlen(name);
	out[0] = '\0';
	if (lws_hdr_custom_length(wsi, name, n) <= 0 || lws_hdr_custom_length(wsi, name, n) >= cap)
		return -1;
	return lws_hdr_custom_copy(wsi, out, cap, name, n) < 0 ? -1 : 0;
}

/* Host part of "host:port", "[v6]:port" or an origin's authority. */
static bool host_is_loopback(const char *h)
{
	char name[256];
	size_t n;

	if (h[0] == '[') {
		const char *e = strchr(h, ']');
		if (!e)
			return false;
		n = (size_t)(e - h - 1);
		if (n >= sizeof(name))
			return false;
		memcpy(name, h + 1, n);
	} else {
		const char *e = strchr(h, ':');
		n = e ? (size_t)(e - h) : strlen(h);
		if (n >= sizeof(name))
			return false;
		memcpy(name, h, n);
	}
	name[n] = '\0';
	if (!strcasecmp(name, "localhost") || !strcmp(name, "::1"))
		return true;
	struct in_addr a;
	return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/*
 * DNS-rebinding defence: a present Origin must be a loopback origin (when we
 * listen on loopback) or match Host; on loopback the Host must be loopback.
 */
static bool origin_ok(struct lws *wsi, char *origin, size_t cap)
{
	char host[256];

	if (http_hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host)) < 0)
		host[0] = '\0';
	if (H.loopback && host[0] && !host_is_loopback(host))
		return false;
	if (http_hdr(wsi, WSI_TOKEN_ORIGIN, origin, (int)cap) < 0 || !origin[0])
		return true; /* not a browser */
	const char *auth = strstr(origin, "://");
	if (!auth)
		return false;
	auth += 3;
	if (H.loopback)
		return host_is_loopback(auth);
	return host[0] && !strcasecmp(auth, host);
}

/*
 * The key: Authorization: Bearer, X-API-Key, or, where query allows it,
 * ?api_key= (browsers' WebSockets cannot set headers; a view page is opened
 * from a link). Nowhere else: a key in a URL ends up in logs and histories.
 */
void http_find_key(struct lws *wsi, char *key, size_t cap, bool query)
{
	char a[TP_KEY_MAX + 32];

	key[0] = '\0';
	if (http_hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, a, sizeof(a)) == 0) {
		/* the store's parser: one definition of what a Bearer header means */
		const char *k = tp_bearer_token(a);
		size_t n = k ? strlen(k) : 0;
		/* a malformed or overlong header is a wrong key, not a missing one */
		snprintf(key, cap, "%s", n && n < cap ? k : "invalid");
		return;
	}
	if (http_custom_hdr(wsi, "x-api-key:", key, (int)cap) == 0 || !query)
		return;
	http_urlarg(wsi, "api_key=", key, cap);
}

bool http_authenticate(const char *key, char *principal)
{
	if (H.o.auth_none) {
		snprintf(principal, PRINCIPAL_MAX, "anonymous");
		return true;
	}
	if (!key[0] || !H.o.authenticate)
		return false;
	return H.o.authenticate(H.o.auth_arg, key, principal, PRINCIPAL_MAX) == 1;
}

/*
 * Connection admission. Every accepted client connection is counted until
 * lws destroys it (or, a WebSocket taken from lws, until ws.c closes it:
 * wsc_count), and is "unauthenticated" until a request on it shows a
 * valid key (or a view token). Past max_connections or max_unauthenticated a
 * new connection is hung up at accept, so slow or idle clients cannot take
 * the fds that admitted work needs; a new connection must send its headers
 * within header_timeout_s.
 */
struct conn_mark {
	struct lws *wsi;
	uint64_t opened;		/* now_ms() at accept */
	bool headers;			/* a request (or upgrade) arrived on it */
	bool authed;
	LIST_ENTRY(conn_mark) link;
};
static LIST_HEAD(, conn_mark) marks = LIST_HEAD_INITIALIZER(marks);

static bool admit(void)
{
	if (H.conns + wsc_count() < H.o.max_connections && H.unauth < H.o.max_unauthenticated)
		return true;
	uint64_t now = now_ms();
	if (now - H.refused_logged > 10000) {
		H.refused_logged = now;
		log_warn("http: refusing connections: %u open (max_connections %u), %u without a key yet "
			 "(max_unauthenticated %u)", H.conns + wsc_count(), H.o.max_connections, H.unauth,
			 H.o.max_unauthenticated);
	}
	return false;
}

static void conn_opened(struct lws *wsi)
{
	struct conn_mark *m = xcalloc(1, sizeof(*m));
	m->wsi = wsi;
	m->opened = now_ms();
	LIST_INSERT_HEAD(&marks, m, link);
	lws_set_opaque_user_data(wsi, m);
	H.conns++;
	H.unauth++;
}

static struct conn_mark *mark_of(struct lws *wsi)
{
	struct lws *top = lws_get_network_wsi(wsi);
	return lws_get_opaque_user_data(top ? top : wsi);
}

/* Headers arrived: the header timeout no longer applies (lws' own timeouts do). */
static void conn_headers(struct lws *wsi)
{
	struct conn_mark *m = mark_of(wsi);
	if (m)
		m->headers = true;
}

void http_conn_authenticated(struct lws *wsi)
{
	struct conn_mark *m = mark_of(wsi);
	if (m && !m->authed) {
		m->headers = true;
		m->authed = true;
		H.unauth--;
	}
}

static void conn_closed(struct lws *wsi)
{
	struct conn_mark *m = lws_get_opaque_user_data(wsi);
	if (!m || m->wsi != wsi)
		return; /* not a client connection we admitted (the listener, an adopted socket) */
	lws_set_opaque_user_data(wsi, NULL);
	LIST_REMOVE(m, link);
	H.conns--;
	if (!m->authed)
		H.unauth--;
	free(m);
}

/* Connections that sent no request within header_timeout_s are dropped (sweep). */
static void conn_expire(uint64_t now)
{
	struct conn_mark *m;
	LIST_FOREACH(m, &marks, link) {
		if (!m->headers && now - m->opened > H.o.header_timeout_s * 1000) {
			m->headers = true; /* once */
			lws_set_timeout(m->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, LWS_TO_KILL_ASYNC);
		}
	}
}

/* The body of every HTTP error: a JSON-RPC error with id null. */
static void error_body(struct buf *b, int code, const char *msg)
{
	json_t *j = json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "error", "code", code, "message", msg);
	srv_json_write(b, j);
	json_decref(j);
}

/* What a 401 says: how to pass a key (clients show this text to people). */
static const char *unauthorized_msg(const char *key)
{
	/* the server's data directory is not told to an unauthenticated client: DIR stands for it */
	return key[0] ? "Unauthorized: unknown or revoked API key (send a key from `mcpbox key create --data DIR` "
			"as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\"; DIR is the server's data directory)"
		      : "Unauthorized: send an API key as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\" "
			"(the first start printed one; `mcpbox key create --name NAME --data DIR` on the server makes more, "
			"DIR being its data directory; mcpbox does no OAuth)";
}

/*
 * Refuse a WebSocket upgrade with a real HTTP answer (libwebsockets would
 * drop the connection without a byte, which clients report as ECONNRESET
 * or "non-101 status"). The handshake is still plain HTTP on the socket and
 * the answer is small, so it is written in one send() before lws closes.
 */
void http_refuse_upgrade(struct lws *wsi, int status, const char *msg)
{
	http_refuse_upgrade_body(wsi, status, msg, NULL);
}

void http_refuse_upgrade_body(struct lws *wsi, int status, const char *msg, const struct buf *own)
{
	static const struct { int status; const char *reason; } reasons[] = {
		{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" }, { 426, "Upgrade Required" },
		{ 503, "Service Unavailable" },
	};
	const char *reason = "Bad Request";
	struct buf body = BUF_INIT, out = BUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		if (reasons[i].status == status)
			reason = reasons[i].reason;
	if (own)
		buf_add(&body, own->data, own->len);
	else
		error_body(&body, RPC_INVALID_REQUEST, msg);
	buf_addf(&out, "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n%s"
		 "connection: close\r\n\r\n", status, reason, body.len,
		 status == 426 ? "sec-websocket-version: 13\r\n" : "");
	buf_add(&out, body.data, body.len);
	if (send(lws_get_socket_fd(wsi), out.data, out.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("http: cannot answer a refused upgrade: %s", strerror(errno));
	buf_release(&body);
	buf_release(&out);
}

/*
 * A client that sent "Expect: 100-continue" waits for a 100 before its body
 * (curl does for bodies over 1 MiB, giving up after a second): tell it to go
 * on once the request is taken. libwebsockets has no call for an interim
 * answer; nothing of this request's answer has been written yet (and none of
 * an earlier one is left, checked), so the 25 bytes go out in one send()
 * ahead of the answer lws writes later.
 */
void http_continue(struct lws *wsi)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char expect[32];

	if (http_hdr(wsi, WSI_TOKEN_HTTP_EXPECT, expect, sizeof(expect)) < 0 || strcasecmp(expect, "100-continue"))
		return;
	if (lws_partial_buffered(wsi))
		return;	/* an earlier answer is still going out: the client waits and sends its body anyway */
	if (send(lws_get_socket_fd(wsi), cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(cont) - 1)
		log_debug("http: cannot send 100 Continue: %s", strerror(errno));
}

/* ---- streams ------------------------------------------------------------ */

static struct stream *stream_new(struct lws *wsi, struct session *s, const char *origin)
{
	struct stream *st = xcalloc(1, sizeof(*st));
	st->wsi = wsi;
	st->sess = s;
	st->status = 200;
	st->length = -1;
	st->engine_done = true; /* until a POST hands it to the engine (process_post) */
	snprintf(st->origin, sizeof(st->origin), "%s", origin);
	buf_grow(&st->out, LWS_PRE);
	st->out.len = LWS_PRE;
	if (s) {
		st->next_in_sess = s->streams;
		s->streams = st;
	}
	return st;
}

static void stream_unlink(struct stream *st)
{
	if (!st->sess)
		return;
	struct stream **pp = &st->sess->streams;
	while (*pp && *pp != st)
		pp = &(*pp)->next_in_sess;
	if (*pp)
		*pp = st->next_in_sess;
	if (st->sess->get == st)
		st->sess->get = NULL;
	st->sess = NULL;
}

static void stream_free(struct stream *st)
{
	stream_unlink(st);
	buf_release(&st->out);
	buf_release(&st->xhdr);
	buf_release(&st->answer);
	free(st->own_type);
	free(st);
}

/* Free st if neither lws nor the engine will touch it again. */
void http_stream_maybe_free(struct stream *st)
{
	if (!st->wsi && st->engine_done)
		stream_free(st);
}

static int stream_write(struct stream *st);

/* More to write: from lws' writeable callback, or at once on a connection that reads no more. */
static void stream_want_write(struct stream *st)
{
	if (st->rx_stopped)
		st->want_write = true;
	else
		lws_callback_on_writable(st->wsi);
}

/*
 * Write st's answer now, outside a writeable callback: lws 4.1 services no
 * POLLOUT on an HTTP/1 connection under rx flow control, so one that reads no
 * more is written from here. The socket takes a short answer whole; should it
 * take only part, reading resumes so that lws writes the rest.
 */
static void stream_write_now(struct stream *st)
{
	do {
		st->want_write = false;
		if (stream_write(st) < 0) {
			lws_set_timeout(st->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
			return;
		}
		if (st->want_write && lws_partial_buffered(st->wsi)) {
			st->rx_stopped = st->want_write = false;
			lws_rx_flow_control(st->wsi, 1);
			lws_callback_on_writable(st->wsi);
			return;
		}
	} while (st->want_write);
}

void http_stream_kick(struct stream *st)
{
	if (!st->wsi)
		return;
	if (st->rx_stopped)
		stream_write_now(st);
	else
		lws_callback_on_writable(st->wsi);
}

/*
 * Read nothing more of st's connection, which closes after the answer. Past
 * lws' 100 MiB guess at a chunked body's length, lws keeps every later byte
 * in its buffer list (it consumes none of them), without bound, and spins on
 * it: a client sending on would grow the server and starve the answer.
 */
void http_stream_stop_reading(struct stream *st)
{
	if (!st->wsi || st->rx_stopped)
		return;
	st->rx_stopped = st->body_unread = true;
	st->close_after = true;
	lws_rx_flow_control(st->wsi, 0);
}

/* Whether len more bytes may wait for st's client; false: it read nothing of QUEUE_MAX, closed. */
static bool stream_admit(struct stream *st, size_t len)
{
	if (st->overflow)
		return false;
	if (st->out.len - LWS_PRE - st->sent + len <= QUEUE_MAX)
		return true;
	log_info("http: a client read nothing of %u MiB queued for it: closing its stream", QUEUE_MAX >> 20);
	st->overflow = true;
	buf_release(&st->out);
	buf_grow(&st->out, LWS_PRE);
	st->out.len = LWS_PRE;
	st->sent = 0;
	if (st->wsi)
		lws_set_timeout(st->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
	return false;
}

void http_stream_queue(struct stream *st, const char *data, size_t len)
{
	if (!stream_admit(st, len))
		return;
	if (st->sent >= WRITE_CHUNK * 16 && st->sent >= st->out.len - LWS_PRE - st->sent) {
		/* a stream written while it is read is never empty: move what is left to the front,
		   or the buffer would grow by everything written through it */
		size_t left = st->out.len - LWS_PRE - st->sent;
		memmove(st->out.data + LWS_PRE, st->out.data + LWS_PRE + st->sent, left);
		st->out.len = LWS_PRE + left;
		st->sent = 0;
	}
	buf_add(&st->out, data, len);
	http_stream_kick(st);
}

void http_stream_queue_buf(struct stream *st, struct buf *b, size_t off)
{
	assert(off >= LWS_PRE && b->len >= off);
	if (stream_admit(st, b->len - off)) {
		if (st->out.len == LWS_PRE) {
			buf_release(&st->out);
			st->out = *b;
			*b = (struct buf)BUF_INIT;
			st->sent = off - LWS_PRE;
		} else {
			buf_add(&st->out, b->data + off, b->len - off);
		}
		http_stream_kick(st);
	}
	buf_release(b);
}

/* An answer or notification the engine wrote after TP_HEADROOM bytes, as an SSE event (takes b). */
static void stream_event_buf(struct stream *st, struct buf *b)
{
	size_t off = TP_HEADROOM - (sizeof(SSE_PREFIX) - 1);
	memcpy(b->data + off, SSE_PREFIX, sizeof(SSE_PREFIX) - 1);
	buf_add(b, "\n\n", 2);
	http_stream_queue_buf(st, b, off);
}

/* Answer a request at once with a status and a small JSON body. */
static void stream_reply(struct stream *st, int status, const char *json)
{
	st->status = status;
	if (json)
		http_stream_queue(st, json, strlen(json));
	st->finished = true;
	http_stream_kick(st);
}

void http_stream_error(struct stream *st, int status, int code, const char *msg)
{
	struct buf b = BUF_INIT;
	error_body(&b, code, msg);
	stream_reply(st, status, b.data);
	buf_release(&b);
}

/* what a browser's script may read of our answers */
#define EXPOSED "Mcp-Session-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"

static int add_cors(struct lws *wsi, const char *origin, bool preflight, unsigned char **p, unsigned char *end)
{
	static const char methods[] = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
	static const char headers[] = "content-type, accept, authorization, x-api-key, mcp-session-id, "
				      "mcp-protocol-version, last-event-id";
	if (!origin[0])
		return 0;
	if (preflight &&
	    (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
					 (const unsigned char *)methods, (int)strlen(methods), p, end) ||
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
					 (const unsigned char *)headers, (int)strlen(headers), p, end) ||
	     lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-max-age:",
					 (const unsigned char *)"600", 3, p, end)))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
					(const unsigned char *)origin, (int)strlen(origin), p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-expose-headers:",
					(const unsigned char *)EXPOSED, (int)strlen(EXPOSED), p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:", (const unsigned char *)"Origin", 6,
					p, end))
		return -1;
	return 0;
}

/* Write what is queued; returns -1 when lws should close the connection. */
static int add_rate_headers(struct stream *st, unsigned char **p, unsigned char *end);

/*
 * Close a connection whose client may still be sending: closing a socket with
 * input unread sends a reset, and a reset can destroy the answer in the
 * client's buffers before it read it. So the answer is followed by a FIN and
 * the socket stays open, for LINGER_S at most, until the client closes it.
 */
static int linger(struct lws *wsi, struct stream *st)
{
	int fd = lws_get_socket_fd(wsi), unread = 0;
	if (fd < 0 || (ioctl(fd, FIONREAD, &unread) == 0 && !unread && !st->body_unread))
		return -1;
	shutdown(fd, SHUT_WR);
	st->closing = st->lingering = true;
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LINGER_S);
	return 0;
}

/* The answer is written: ready for the next request, or closed (-1) when the stream says so. */
static int transaction_done(struct lws *wsi, struct stream *st)
{
	if (!st->close_after)
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	if (!lws_partial_buffered(wsi))
		return linger(wsi, st);
	st->closing = true; /* lws writes what it holds first */
	stream_want_write(st);
	return 0;
}

static int stream_write(struct stream *st)
{
	struct lws *wsi = st->wsi;
	size_t pending = st->out.len - LWS_PRE - st->sent;

	if (st->overflow)
		return -1;
	if (st->lingering)
		return 0;
	if (st->closing)
		return transaction_done(wsi, st);
	if (!st->headers_sent) {
		unsigned char hb[LWS_PRE + 8192], *start = hb + LWS_PRE, *p = start, *end = hb + sizeof(hb) - 1;
		const char *type = st->raw ? st->own_type
				   : st->sse ? (st->type ? st->type : "text/event-stream")
				   : pending ? (st->type ? st->type : "application/json") : NULL;
		lws_filepos_t clen = st->raw && st->length >= 0 ? (lws_filepos_t)st->length
				     : st->sse ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)pending;

		if (!st->sse && !st->finished)
			return 0; /* the answer is not there yet */
		if (lws_add_http_common_headers(wsi, (unsigned)st->status, type, clen, &p, end))
			return -1;
		if (st->session_hdr[0] &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"mcp-session-id:",
						(const unsigned char *)st->session_hdr, (int)strlen(st->session_hdr), &p,
						end))
			return -1;
		for (size_t off = 0; off < st->xhdr.len;) {
			const char *name = st->xhdr.data + off, *val = name + strlen(name) + 1;
			off = (size_t)(val - st->xhdr.data) + strlen(val) + 1;
			if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)val,
							(int)strlen(val), &p, end))
				return -1;
		}
		if (st->has_rate && add_rate_headers(st, &p, end))
			return -1;
		if (st->sse && !st->raw && lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
							   (const unsigned char *)"no-cache", 8, &p, end))
			return -1;
		if (st->close_after && lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
								    (const unsigned char *)"close", 5, &p, end))
			return -1;
		if (st->status == 401 &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
						(const unsigned char *)"Bearer realm=\"mcpbox\"", 21, &p, end))
			return -1;
		if (add_cors(wsi, st->origin, st->preflight, &p, end) || lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		st->headers_sent = true;
		if (st->sse && !st->raw) {
			lws_http_mark_sse(wsi);
			if (st->is_get)
				lws_set_timer_usecs(wsi, SSE_PING_US);
		}
		if (!pending && st->finished && !st->sse)
			return transaction_done(wsi, st);
		if (pending || st->finished)
			stream_want_write(st);
		return 0;
	}
	if (pending) {
		size_t n = pending > WRITE_CHUNK ? WRITE_CHUNK : pending;
		bool last = n == pending && st->finished;
		unsigned char *at = (unsigned char *)st->out.data + LWS_PRE + st->sent;
		if (lws_write(wsi, at, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
			return -1;
		st->sent += n;
		if (st->sent == st->out.len - LWS_PRE && !st->finished) {
			/* everything so far is out: reuse the buffer */
			st->out.len = LWS_PRE;
			st->sent = 0;
		}
		if (st->on_written)
			st->on_written(st->written_arg);
		if (last)
			return transaction_done(wsi, st);
		if (n < pending)
			stream_want_write(st);
		return 0;
	}
	if (st->finished) {
		/* an event stream ends with an empty final write */
		if (lws_write(wsi, (unsigned char *)st->out.data + LWS_PRE, 0, LWS_WRITE_HTTP_FINAL) < 0)
			return -1;
		return transaction_done(wsi, st);
	}
	return 0;
}

/* ---- sessions ----------------------------------------------------------- */

static const struct tp_ops http_ops;

void tp_http_metrics_text(const char *principal, struct buf *out)
{
	if (H.o.metrics)
		H.o.metrics(H.o.metrics_arg, principal, out);
}

static struct session *session_find(const char *id)
{
	for (struct session *s = H.sessions; s; s = s->next)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

static struct session *session_new(const char *principal, const char *scope)
{
	struct session *s = xcalloc(1, sizeof(*s));
	char *id = random_id("", 16);
	snprintf(s->id, sizeof(s->id), "%s", id);
	free(id);
	snprintf(s->principal, sizeof(s->principal), "%s", principal);
	snprintf(s->scope, sizeof(s->scope), "%s", scope);
	s->conn = srv_conn_new(H.app, &http_ops, s, principal);
	if (scope[0])
		srv_conn_set_scope(s->conn, scope);
	srv_conn_set_max_inflight(s->conn, H.o.max_inflight);
	s->last_used = now_ms();
	s->next = H.sessions;
	H.sessions = s;
	H.nsessions++;
	return s;
}

/* May the request p use MCP session s? The same principal through the same kind of endpoint. */
static bool session_mine(const struct session *s, const struct pss *p)
{
	return !strcmp(s->principal, p->principal) && !strcmp(s->scope, p->scope);
}

/* End an MCP session: its requests are cancelled, its open streams end. */
static void session_end(struct session *s)
{
	struct session **pp = &H.sessions;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	H.nsessions--;
	srv_conn_close(s->conn); /* no more send/done from the engine */
	while (s->streams) {
		struct stream *st = s->streams;
		stream_unlink(st);
		st->engine_done = true;
		if (!st->finished) {
			if (!st->headers_sent && !st->sse)
				st->status = 404;
			st->finished = true;
			http_stream_kick(st);
		}
		http_stream_maybe_free(st);
	}
	free(s);
}

/*
 * A message for ctx's stream (or the GET stream), written by the engine after
 * TP_HEADROOM bytes (taken). A lone answer waits for done: it may still go
 * out as plain JSON; anything before it makes the answer an event stream.
 */
static void http_send_buf(void *tp, void *ctx, struct buf *text, bool answer)
{
	struct session *s = tp;
	struct stream *st = ctx ? ctx : s->get;

	if (!st || (!st->wsi && !ctx)) {
		/* a connection-wide notification and no GET stream: nobody listens */
		buf_release(text);
		return;
	}
	if (answer && !st->sse && !st->answer.len) {
		st->answer = *text;
		*text = (struct buf)BUF_INIT;
		return;
	}
	if (!st->sse) {
		st->sse = true;
		if (st->answer.len)
			stream_event_buf(st, &st->answer);
	}
	stream_event_buf(st, text);
}

static void http_send(void *tp, void *ctx, const char *json, size_t len, bool answer)
{
	struct buf b = BUF_INIT;
	buf_grow(&b, TP_HEADROOM + len + 2);
	b.len = TP_HEADROOM;
	buf_add(&b, json, len);
	http_send_buf(tp, ctx, &b, answer);
}

static void http_done(void *tp, void *ctx)
{
	struct stream *st = ctx;

	if (!st)
		return; /* a legacy POST: answered with 202 already, answers went to the GET stream */
	st->engine_done = true;
	if (st->answer.len) {
		http_stream_queue_buf(st, &st->answer, TP_HEADROOM);
	} else if (!st->sse) {
		st->status = 202; /* notifications or responses only: accepted, no body */
	}
	st->finished = true;
	stream_unlink(st);
	http_stream_kick(st);
	http_stream_maybe_free(st);
}

void http_stream_add_header(struct stream *st, const char *name, const char *value)
{
	if (st->headers_sent)
		return;
	buf_addf(&st->xhdr, "%s:", name);
	buf_add(&st->xhdr, "", 1);
	buf_adds(&st->xhdr, value);
	buf_add(&st->xhdr, "", 1);
}

void http_stream_rate_headers(struct stream *st, const struct srv_rate_verdict *v)
{
	if (st->headers_sent)
		return;
	if (!st->has_rate || v->refused || (!st->rate.refused && v->remaining <= st->rate.remaining))
		st->rate = *v;
	st->has_rate = true;
}

/* The X-RateLimit-* headers of st->rate. */
static int add_rate_headers(struct stream *st, unsigned char **p, unsigned char *end)
{
	const struct srv_rate_verdict *v = &st->rate;
	char n[4][24];
	static const char *const names[] = { "x-ratelimit-limit:", "x-ratelimit-remaining:", "x-ratelimit-reset:",
					      "retry-after:" };

	snprintf(n[0], sizeof(n[0]), "%" PRIu64, v->limit);
	snprintf(n[1], sizeof(n[1]), "%" PRIu64, v->remaining);
	snprintf(n[2], sizeof(n[2]), "%" PRIu64, srv_rate_reset_epoch(v));
	snprintf(n[3], sizeof(n[3]), "%" PRIu64, (v->retry_after_ms + 999) / 1000);
	for (size_t i = 0; i < (v->refused ? 4u : 3u); i++)
		if (lws_add_http_header_by_name(st->wsi, (const unsigned char *)names[i], (const unsigned char *)n[i],
						(int)strlen(n[i]), p, end))
			return -1;
	return 0;
}

/* A rate limit applied to a request of this POST: headers, and 429 for a lone refused request. */
static void http_rate(void *tp, void *ctx, const struct srv_rate_verdict *v, bool batch)
{
	struct stream *st = ctx;

	(void)tp;
	if (!st)
		return; /* a legacy POST: answered 202 already */
	http_stream_rate_headers(st, v);
	if (v->refused && !batch && !st->sse && !st->headers_sent)
		st->status = 429;
}

static const struct tp_ops http_ops = {
	.name = "http",
	.send = http_send,
	.send_buf = http_send_buf,
	.headroom = TP_HEADROOM,
	.done = http_done,
	.rate = http_rate,
};

/* Add to a request being received; false when the server-wide budget is spent. */
static bool body_add(struct buf *body, const void *in, size_t len)
{
	/* each request may be up to max_message; together they may not hold more than max_receiving */
	if (H.receiving + len > H.o.max_receiving)
		return false;
	H.receiving += len;
	buf_add(body, in, len);
	return true;
}

static void body_release(struct buf *body)
{
	H.receiving -= body->len;
	buf_release(body);
}

/* ---- WebSocket (MCP over /mcp; frames are ws.c's) ----------------------- */

/* Whether len more bytes may wait for w's client; false: it read nothing of QUEUE_MAX, closed. */
static bool ws_admit(struct wsconn *w, size_t len)
{
	if (!w->c || w->overflow)
		return false;
	if (wsc_queued(w->c) + len <= QUEUE_MAX)
		return true;
	log_info("http: a WebSocket client read nothing of %u MiB queued for it: closing it", QUEUE_MAX >> 20);
	w->overflow = true;
	wsc_abort(w->c);
	return false;
}

/* Read w's client only when neither its replies nor its texts waiting to be parsed hold it back. */
static void ws_update_reading(struct wsconn *w)
{
	if (w->c)
		wsc_pause(w->c, w->paused || w->held);
}

/* Past QUEUE_PAUSE bytes waiting (wsc_send said so), w's further requests are not read until they drain. */
static void ws_pause(struct wsconn *w)
{
	if (!w->paused && w->c) {
		w->paused = true;
		w->paused_at = now_ms();
		ws_update_reading(w);
	}
}

static void ws_send(void *tp, void *ctx, const char *json, size_t len, bool answer)
{
	struct wsconn *w = tp;

	if (ws_admit(w, len) && !wsc_send(w->c, json, len, false, true))
		ws_pause(w);
}

/* The engine's buffer becomes the frame: a large answer is not copied on the loop. */
static void ws_send_buf(void *tp, void *ctx, struct buf *text, bool answer)
{
	struct wsconn *w = tp;

	if (!ws_admit(w, text->len - TP_HEADROOM))
		buf_release(text);
	else if (!wsc_send_buf(w->c, text, TP_HEADROOM, false))
		ws_pause(w);
}

static const struct tp_ops ws_ops = {
	.name = "websocket",
	.send = ws_send,
	.send_buf = ws_send_buf,
	.headroom = TP_HEADROOM,
};

static void unhold_tick(uv_timer_t *t)
{
	struct wsconn *w;
	LIST_FOREACH(w, &H.wss, link) {
		if (w->held && srv_conn_may_resume(w->conn)) {
			w->held = false;
			H.nheld--;
			ws_update_reading(w);
		}
	}
	if (!H.nheld)
		uv_timer_stop(t);
}

/*
 * Texts wait on w for a large one to be parsed (rpc.h): past half of what may
 * wait (texts or bytes), w's client is not read until they are down to a
 * quarter, rather than have its later messages refused.
 */
static void ws_hold_if_waiting(struct wsconn *w)
{
	if (w->held || !w->c || !srv_conn_hold(w->conn))
		return;
	w->held = true;
	if (!H.nheld++)
		uv_timer_start(&H.unhold, unhold_tick, 20, 20);
	ws_update_reading(w);
}

/* A piece of a request message: to the engine once whole (binary frames are taken as text). */
static void ws_receive(void *user, const char *in, size_t len, bool binary, bool final)
{
	struct wsconn *w = user;
	char principal[PRINCIPAL_MAX];

	if (!body_add(&w->body, in, len)) {
		wsc_close(w->c, WSF_TRY_LATER, "server busy");
		return;
	}
	if (!final)
		return;
	/* a revoked key stops working at its next message */
	if (!http_authenticate(w->key, principal)) {
		wsc_close(w->c, WSF_POLICY, "key revoked");
		return;
	}
	srv_conn_receive(w->conn, w->body.data, w->body.len, NULL);
	body_release(&w->body);
	ws_hold_if_waiting(w);
}

static void ws_drained(void *user)
{
	struct wsconn *w = user;
	if (w->paused) {
		w->paused = false;
		ws_update_reading(w);
	}
}

static void ws_closed(void *user)
{
	struct wsconn *w = user;
	w->c = NULL;
	H.nws--;
	if (w->held)
		H.nheld--;
	LIST_REMOVE(w, link);
	srv_conn_close(w->conn); /* the engine will not call us again */
	body_release(&w->body);
	free(w);
}

static const struct wsc_ops mcp_ws_ops = {
	.receive = ws_receive,
	.drained = ws_drained,
	.closed = ws_closed,
};

/* Serve /mcp on fd (taken from lws) for p's key. */
static void ws_open_mcp(struct pss *p, int fd, const struct buf *head)
{
	struct wsconn *w = xcalloc(1, sizeof(*w));

	snprintf(w->key, sizeof(w->key), "%s", p->key);
	snprintf(w->principal, sizeof(w->principal), "%s", p->principal);
	w->c = wsc_open(H.loop, fd, head, H.o.max_ws_message, &mcp_ws_ops, w);
	if (!w->c) {
		free(w);
		return;
	}
	wsc_budget(w->c, QUEUE_PAUSE);
	w->conn = srv_conn_new(H.app, &ws_ops, w, p->principal);
	srv_conn_set_max_inflight(w->conn, H.o.max_inflight);
	H.nws++;
	LIST_INSERT_HEAD(&H.wss, w, link);
}

/*
 * The 101 that accepts wsi's WebSocket handshake (RFC 6455 4.2.2), into
 * out; false when the request is not a handshake mcpbox can accept
 * (answered already). lws checked "Connection: upgrade" and picked the
 * subprotocol from the client's list.
 */
static bool upgrade_answer(struct lws *wsi, struct buf *out)
{
	char key[64], version[8], accept[29];
	const struct lws_protocols *pr = lws_get_protocol(wsi);

	if (http_hdr(wsi, WSI_TOKEN_VERSION, version, sizeof(version)) < 0 || strcmp(version, "13")) {
		http_refuse_upgrade(wsi, 426, "Upgrade Required: this server speaks WebSocket version 13");
		return false;
	}
	if (http_hdr(wsi, WSI_TOKEN_KEY, key, sizeof(key)) < 0 || !wsf_key_valid(key)) {
		http_refuse_upgrade(wsi, 400, "Bad Request: Sec-WebSocket-Key must be 16 bytes in base64");
		return false;
	}
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_HOST)) {
		http_refuse_upgrade(wsi, 400, "Bad Request: a Host header is required");
		return false;
	}
	wsf_accept_of(key, accept);
	buf_addf(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: %s\r\n", accept);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) && pr && pr->name && pr->name[0])
		buf_addf(out, "Sec-WebSocket-Protocol: %s\r\n", pr->name);
	buf_adds(out, "\r\n");
	return true;
}

/*
 * Take wsi's socket from lws for ws.c, leaving lws a stand-in to close.
 * libwebsockets 4.1 cannot let go of a connection, and its close shuts the
 * socket down (shutdown(2) acts on the socket, not on a descriptor). So: a
 * descriptor of our own; the socket out of the loop's epoll set, whose
 * registration is keyed by the open socket and would outlive lws' number;
 * then an unconnected socket dup'ed over lws' number, which lws shuts down,
 * unregisters (ENOENT, ignored by libuv) and closes in its place. Called
 * while lws services this connection's read, which it ends by closing it.
 * Returns our descriptor, or -1 with nothing changed.
 */
static int take_socket(struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi), ours, stand_in;
	struct epoll_event ev = { 0 };

	if (fd < 0 || (ours = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	stand_in = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (stand_in < 0) {
		close(ours);
		return -1;
	}
	if (epoll_ctl(uv_backend_fd(H.loop), EPOLL_CTL_DEL, fd, &ev) < 0 && errno != ENOENT) {
		log_warn("http: cannot take a WebSocket from libwebsockets: epoll: %s", strerror(errno));
		close(stand_in);
		close(ours);
		return -1;
	}
	int rc;
	while ((rc = dup3(stand_in, fd, O_CLOEXEC)) < 0 && (errno == EINTR || errno == EBUSY))
		; /* EBUSY: a race with another thread's open(2) */
	close(stand_in);
	if (rc < 0) {
		log_warn("http: cannot take a WebSocket from libwebsockets: %s", strerror(errno));
		close(ours);
		return -1; /* lws closes the socket: the client sees its connection drop */
	}
	return ours;
}

/* The upgrade of /mcp, its handshake checked: a valid key makes it ours (1: lws hangs up its stand-in). */
static int mcp_upgrade(struct lws *wsi, struct pss *p, const struct buf *head)
{
	if (!http_authenticate(p->key, p->principal)) {
		http_refuse_upgrade(wsi, 401, unauthorized_msg(p->key));
		return 1;
	}
	int fd = take_socket(wsi);
	if (fd >= 0)
		ws_open_mcp(p, fd, head);
	return 1;
}

/* The upgrade of a route's path: the route's accept decides. */
static int route_upgrade(struct lws *wsi, const char *uri, const struct buf *head)
{
	struct tp_ws *ws;
	if (http_ws_accept(wsi, uri, &ws))
		return 1;
	int fd = take_socket(wsi);
	if (fd < 0)
		http_ws_drop(ws);
	else
		http_ws_open(ws, fd, head);
	return 1;
}

/* ---- the lws callback ------------------------------------------------- */

static const char *method_name(int m)
{
	switch (m) {
	case LWSHUMETH_GET: return "GET";
	case LWSHUMETH_POST: return "POST";
	case LWSHUMETH_OPTIONS: return "OPTIONS";
	case LWSHUMETH_DELETE: return "DELETE";
	default: return "other";
	}
}

static void session_end(struct session *s);

static void pss_reset(struct pss *p)
{
	if (p->req && !http_req_streaming(p->req))
		http_req_abandon(p); /* a streamed body's route owns its request: told below */
	body_release(&p->body);
	if (p->st && p->st->is_get && p->st->sess && p->st->sess->legacy && !H.stopping) {
		/* an HTTP+SSE client that goes away ends its session */
		struct session *s = p->st->sess;
		stream_unlink(p->st);
		session_end(s);
	}
	if (p->st) {
		p->st->wsi = NULL;
		p->st->in_gone = true; /* a route may finish its request in there: free it here only */
		if (p->req)
			http_req_body_end(p, TP_BODY_GONE); /* a streamed body cut short */
		if (p->st->req)
			http_req_gone(p->st->req);
		p->st->in_gone = false;
		http_stream_maybe_free(p->st);
		p->st = NULL;
	}
	p->rejected = false;
	p->legacy = false;
	p->routed = false;
}

static bool accept_has(struct lws *wsi, const char *type)
{
	char a[512];
	if (http_hdr(wsi, WSI_TOKEN_HTTP_ACCEPT, a, sizeof(a)) < 0)
		return false;
	return strstr(a, type) || strstr(a, "*/*");
}

/*
 * Too many of s's texts wait for a large one to be parsed (rpc.h): p's POST
 * is refused with 503, which an SDK client fails the request with at once
 * (the engine's own refusal, an error with id null, would leave it waiting).
 */
static bool refused_full(struct session *s, struct pss *p)
{
	if (!srv_conn_full(s->conn, p->body.len))
		return false;
	http_stream_error(p->st, 503, -32000,
			  "Service Unavailable: too many messages of this session wait for a large one to be parsed; "
			  "try again");
	return true;
}

static void process_legacy_post(struct pss *p)
{
	struct session *s = session_find(p->session_id);

	if (!s || !s->legacy || !session_mine(s, p)) {
		http_stream_error(p->st, 404, RPC_INVALID_REQUEST, "Session not found");
		return;
	}
	s->last_used = now_ms();
	if (refused_full(s, p))
		return;
	srv_conn_receive(s->conn, p->body.data ? p->body.data : "", p->body.len, NULL);
	body_release(&p->body);
	stream_reply(p->st, 202, NULL);
}

static void process_post(struct lws *wsi, struct pss *p)
{
	struct stream *st = p->st;
	json_error_t e;
	/* a large body is parsed off the loop, by the engine (rpc.h): an initialize is never that large,
	   and one that is not JSON gets the engine's parse error */
	bool small = p->body.len < SRV_OFFLOAD_MIN;
	json_t *msg = small ? json_loadb(p->body.data ? p->body.data : "", p->body.len, JSON_DECODE_ANY, &e) : NULL;
	bool is_init = json_is_object(msg) && json_is_string(json_object_get(msg, "method")) &&
		       !strcmp(json_string_value(json_object_get(msg, "method")), "initialize");
	struct session *s = NULL;
	char ver[32];

	json_decref(msg);
	if (small && !msg) {
		http_stream_error(st, 400, RPC_PARSE_ERROR, "Parse error: the body is not JSON");
		return;
	}
	if (is_init) {
		if (p->session_id[0]) {
			http_stream_error(st, 400, RPC_INVALID_REQUEST,
				     "Bad Request: initialize on an existing session; omit Mcp-Session-Id to start a new one");
			return;
		}
		s = session_new(p->principal, p->scope);
		snprintf(st->session_hdr, sizeof(st->session_hdr), "%s", s->id);
	} else {
		if (!p->session_id[0]) {
			http_stream_error(st, 400, RPC_INVALID_REQUEST,
					  small ? "Bad Request: Mcp-Session-Id header is required"
						: "Bad Request: Mcp-Session-Id header is required (an initialize "
						  "request must be under 256 KiB)");
			return;
		}
		s = session_find(p->session_id);
		if (!s || !session_mine(s, p)) {
			http_stream_error(st, 404, RPC_INVALID_REQUEST,
				     "Session not found: it ended or the server restarted; initialize a new one");
			return;
		}
		if (http_custom_hdr(wsi, "mcp-protocol-version:", ver, sizeof(ver)) == 0 &&
		    strcmp(ver, "2025-11-25") && strcmp(ver, "2025-06-18") && strcmp(ver, "2025-03-26") &&
		    strcmp(ver, "2024-11-05")) {
			http_stream_error(st, 400, RPC_INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version");
			return;
		}
	}
	s->last_used = now_ms();
	if (refused_full(s, p))
		return;
	st->sess = s;
	st->next_in_sess = s->streams;
	s->streams = st;
	st->engine_done = false; /* the engine owns it as a context until done() */
	srv_conn_receive(s->conn, p->body.data, p->body.len, st);
	body_release(&p->body);
}

/* Open a session's GET event stream (standalone notifications, or legacy HTTP+SSE). */
static void open_get_stream(struct session *s, struct stream *st)
{
	if (s->get) {
		/* one standalone stream per session: the newest wins */
		struct stream *old = s->get;
		stream_unlink(old);
		old->finished = true;
		http_stream_kick(old);
	}
	st->sess = s;
	st->next_in_sess = s->streams;
	s->streams = st;
	s->get = st;
	st->is_get = true;
	st->sse = true;
	st->engine_done = true; /* the engine never finishes a GET stream */
	http_stream_kick(st);
}

/*
 * The HTTP+SSE transport of revision 2024-11-05, for older clients: GET /sse
 * opens a session and its event stream, whose first event names the URL for
 * POSTs; each POST is answered 202 and its answers travel on the stream.
 */
static int on_legacy(struct lws *wsi, struct pss *p, const char *path, int m)
{
	char id[sizeof(p->session_id)];

	if (!strcmp(path, "/sse")) {
		if (m != LWSHUMETH_GET) {
			http_stream_error(p->st, 405, RPC_INVALID_REQUEST, "Method Not Allowed");
			return 0;
		}
		struct session *s = session_new(p->principal, p->scope);
		s->legacy = true;
		open_get_stream(s, p->st);
		struct buf b = BUF_INIT;
		if (p->scope[0])
			buf_addf(&b, "event: endpoint\ndata: /sessions/%s/messages?sessionId=%s%s%s\n\n", p->scope, s->id,
				 p->token[0] ? "&token=" : "", p->token);
		else
			buf_addf(&b, "event: endpoint\ndata: /messages?sessionId=%s\n\n", s->id);
		http_stream_queue(p->st, b.data, b.len);
		buf_release(&b);
		return 0;
	}
	if (m != LWSHUMETH_POST) {
		http_stream_error(p->st, 405, RPC_INVALID_REQUEST, "Method Not Allowed");
		return 0;
	}
	if (http_urlarg(wsi, "sessionId=", id, sizeof(id)) < 0 || !id[0]) {
		http_stream_error(p->st, 400, RPC_INVALID_REQUEST, "Bad Request: sessionId is required");
		return 0;
	}
	memcpy(p->session_id, id, sizeof(id));
	p->legacy = true;
	return 0; /* the body follows */
}

/*
 * "/sessions/ID/mcp" → "/mcp" with ID copied to scope (likewise sse and
 * messages); any other path is returned as it is.
 */
static const char *bound_path(const char *path, char *scope, size_t cap)
{
	static const char *const ends[] = { "/mcp", "/sse", "/messages" };
	struct tp_match m;
	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		char pat[40];
		snprintf(pat, sizeof(pat), "/sessions/{id}%s", ends[i]);
		const char *id;
		if (tp_route_match(pat, path, &m) && (id = tp_match_get(&m, "id")) && strlen(id) < cap) {
			snprintf(scope, cap, "%s", id);
			return ends[i];
		}
	}
	return path;
}

/*
 * A person who opens the server's address in a browser (GET / asking for
 * text/html, not JSON) gets a page saying what this is and how to connect;
 * API clients keep the executor dialect's JSON answer at GET / (seed 001).
 */
static bool wants_html(struct lws *wsi)
{
	char a[512];
	if (http_hdr(wsi, WSI_TOKEN_HTTP_ACCEPT, a, sizeof(a)) < 0)
		return false;
	return strstr(a, "text/html") && !strstr(a, "application/json");
}

static const char home_page[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mcpbox</title>\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;color:#222}"
	"code,pre{background:#f2f2f2;padding:0 .25em}pre{padding:.6em;overflow-x:auto}</style></head>\n<body>\n"
	"<h1>mcpbox</h1>\n"
	"<p>This is an <b>mcpbox</b> server (version " MCPBOX_VERSION "). It gives AI agents Linux sandboxes of their "
	"own, isolated from this host, driven through the <a href=\"https://modelcontextprotocol.io\">Model Context "
	"Protocol</a> (MCP): run code, read and write files, take screenshots, snapshot and restore.</p>\n"
	"<h2>Connect an MCP client</h2>\n<ul>\n"
	"<li>MCP endpoint: <code>/mcp</code> on this address: Streamable HTTP (POST, GET and DELETE), or a WebSocket "
	"with the subprotocol <code>mcp</code>.</li>\n"
	"<li>Every request needs an API key: <code>Authorization: Bearer KEY</code>. The first start prints an admin "
	"key; <code>mcpbox key create</code> makes more.</li>\n"
	"<li>For example, in Cursor's <code>.cursor/mcp.json</code>:"
	"<pre>{\"mcpServers\": {\"mcpbox\": {\"url\": \"http://HOST:PORT/mcp\",\n"
	"  \"headers\": {\"Authorization\": \"Bearer KEY\"}}}}</pre></li>\n"
	"<li>On the same machine a client can also start <code>mcpbox stdio</code> itself, with no key.</li>\n</ul>\n"
	"<h2>Other endpoints</h2>\n<ul>\n"
	"<li><code>/healthz</code>: is the server up; <code>/metrics</code>: Prometheus metrics (with a key).</li>\n"
	"<li><code>/sessions/ID/view</code>: watch a session's screen in the browser (its view link, from "
	"<code>session_info</code>).</li>\n"
	"<li>REST compatibility dialects at their documented paths and under <code>/compat/NAME/</code> "
	"(manager, executor, agentflow, agentbox, soulbox).</li>\n</ul>\n"
	"<h2>Documentation</h2>\n"
	"<p>In the mcpbox source: <code>README.md</code> (setup and client configurations), "
	"<code>docs/tools.md</code> (the tools), <code>docs/compat.md</code> (the REST dialects), "
	"<code>docs/security.md</code> and <code>docs/architecture.md</code>.</p>\n"
	"</body></html>\n";

static void serve_home(struct stream *st)
{
	st->type = "text/html; charset=utf-8";
	http_stream_add_header(st, "vary", "Accept");
	http_stream_add_header(st, "content-security-policy", "default-src 'none'; style-src 'unsafe-inline'");
	stream_reply(st, 200, home_page);
}

static int on_http(struct lws *wsi, struct pss *p, const char *path)
{
	char *uri;
	int ulen, m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
	char origin[128], clen[32], ctype[128];

	pss_reset(p);
	p->st = stream_new(wsi, NULL, "");
	if (!origin_ok(wsi, origin, sizeof(origin))) {
		http_stream_error(p->st, 403, RPC_INVALID_REQUEST, "Forbidden: foreign Origin or Host");
		return 0;
	}
	snprintf(p->st->origin, sizeof(p->st->origin), "%s", origin);

	if (!strcmp(path, "/healthz")) {
		stream_reply(p->st, H.draining ? 503 : 200,
			     H.draining ? "{\"status\":\"shutting down\"}" : "{\"status\":\"ok\"}");
		return 0;
	}
	if (H.draining) {
		http_stream_error(p->st, 503, -32000, "Service Unavailable: the server is shutting down");
		return 0;
	}
	if (m == LWSHUMETH_GET && !strcmp(path, "/") && wants_html(wsi)) {
		serve_home(p->st);
		return 0;
	}
	if (m == LWSHUMETH_OPTIONS) {
		/* CORS preflight: only allowed origins got this far */
		p->st->status = 204;
		p->st->preflight = true;
		p->st->finished = true;
		http_stream_kick(p->st);
		return 0;
	}
	/* an MCP endpoint bound to one session: /sessions/{id}/mcp, .../sse, .../messages */
	p->scope[0] = p->token[0] = '\0';
	path = bound_path(path, p->scope, sizeof(p->scope));
	/* Unknown paths before the key: OAuth discovery (/.well-known/..., /register)
	   must read "no such thing" (404), or clients wait for a browser login. */
	if (strcmp(path, "/mcp") && strcmp(path, "/metrics") && strcmp(path, "/sse") && strcmp(path, "/messages")) {
		if (http_route_request(wsi, p, path, m))
			return 0;
		http_stream_error(p->st, 404, RPC_INVALID_REQUEST, "Not found");
		return 0;
	}
	if (p->scope[0]) {
		/* the session's token (never a key: a key's holder has /mcp): the owner's rights, on that session only */
		if (http_urlarg(wsi, "token=", p->token, sizeof(p->token)) < 0 || !p->token[0] || !H.o.authenticate_scoped ||
		    !H.o.authenticate_scoped(H.o.auth_arg, p->scope, p->token, p->principal, PRINCIPAL_MAX)) {
			http_stream_error(p->st, 401, RPC_INVALID_REQUEST,
				     "Unauthorized: the session's token is wrong, or the session no longer exists");
			return 0;
		}
	} else {
		http_find_key(wsi, p->key, sizeof(p->key), false);
		if (!http_authenticate(p->key, p->principal)) {
			http_stream_error(p->st, 401, RPC_INVALID_REQUEST, unauthorized_msg(p->key));
			return 0;
		}
	}
	http_conn_authenticated(wsi);
	if (!strcmp(path, "/metrics") && m == LWSHUMETH_GET) {
		struct buf b = BUF_INIT;
		tp_http_metrics_text(p->principal, &b);
		p->st->status = 200;
		p->st->type = TP_METRICS_TYPE;
		http_stream_queue(p->st, b.data ? b.data : "", b.len);
		buf_release(&b);
		p->st->finished = true;
		return 0;
	}
	if (!strcmp(path, "/sse") || !strcmp(path, "/messages"))
		return on_legacy(wsi, p, path, m);
	http_custom_hdr(wsi, "mcp-session-id:", p->session_id, sizeof(p->session_id));
	if (m == LWSHUMETH_POST) {
		if (!accept_has(wsi, "application/json") || !accept_has(wsi, "text/event-stream")) {
			http_stream_error(p->st, 406, RPC_INVALID_REQUEST,
				     "Not Acceptable: Accept must list application/json and text/event-stream");
			return 0;
		}
		if (http_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ctype, sizeof(ctype)) < 0 ||
		    strncasecmp(ctype, "application/json", 16)) {
			http_stream_error(p->st, 415, RPC_INVALID_REQUEST, "Unsupported Media Type: send application/json");
			return 0;
		}
		if (http_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen)) < 0) {
			http_stream_error(p->st, 411, RPC_INVALID_REQUEST, "Length Required");
			return 0;
		}
		if (strtoull(clen, NULL, 10) > H.o.max_body) {
			http_stream_error(p->st, 413, RPC_INVALID_REQUEST, "Payload Too Large");
			p->rejected = true;
			return 0;
		}
		http_continue(wsi);
		return 0; /* the body follows */
	}
	if (m != LWSHUMETH_GET && m != LWSHUMETH_DELETE) {
		http_stream_error(p->st, 405, RPC_INVALID_REQUEST, "Method Not Allowed");
		log_debug("http: %s %s refused", method_name(m), path);
		return 0;
	}
	if (!p->session_id[0]) {
		http_stream_error(p->st, 400, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
		return 0;
	}
	struct session *s = session_find(p->session_id);
	if (!s || !session_mine(s, p)) {
		http_stream_error(p->st, 404, RPC_INVALID_REQUEST, "Session not found");
		return 0;
	}
	s->last_used = now_ms();
	if (m == LWSHUMETH_DELETE) {
		session_end(s);
		stream_reply(p->st, 200, NULL);
		return 0;
	}
	/* GET */
	if (!accept_has(wsi, "text/event-stream")) {
		http_stream_error(p->st, 406, RPC_INVALID_REQUEST, "Not Acceptable: Accept must list text/event-stream");
		return 0;
	}
	open_get_stream(s, p->st);
	return 0;
}


static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *p = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return admit() ? 0 : 1; /* user is lws' accept info here, not our pss */
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		conn_opened(wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		conn_closed(wsi);
		return 0;
	default:
		break;
	}
	if (!p) /* lws calls some reasons before per-connection data exists */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		conn_headers(wsi);
		return on_http(wsi, p, (const char *)in);

	case LWS_CALLBACK_HTTP_BODY:
		if (p->rejected || !p->st || p->st->finished)
			return 0;
		if (p->req && http_req_streaming(p->req)) {
			http_req_body_piece(p, in, len);
			return 0;
		}
		if (p->body.len + len > H.o.max_body) {
			if (p->req)
				http_req_abandon(p);
			http_stream_error(p->st, 413, RPC_INVALID_REQUEST, "Payload Too Large");
			p->rejected = true;
			return 0;
		}
		if (!body_add(&p->body, in, len)) {
			body_release(&p->body);
			if (p->req)
				http_req_abandon(p);
			http_stream_error(p->st, 503, RPC_INVALID_REQUEST,
				     "Service Unavailable: the server is receiving too many large requests; try again");
			p->rejected = true;
		}
		return 0;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (p->chunked && p->st) {
			/* a chunked body ends at its last chunk: lws' end is its 100 MiB guess, reached;
			   nothing more is read (the route may have answered already) */
			http_stream_stop_reading(p->st);
			if (p->req && http_req_streaming(p->req))
				http_req_body_end(p, TP_BODY_TOO_LARGE);
			return 0;
		}
		if (p->req && http_req_streaming(p->req)) {
			http_req_body_end(p, TP_BODY_COMPLETE);
			return 0;
		}
		if (p->req && !p->rejected) {
			http_req_dispatch(p);
			return 0;
		}
		/* a route's request without a body was dispatched already (lws may still
		   report the completion of its empty body, e.g. Content-Length: 0) */
		if (p->routed)
			return 0;
		if (p->st && !p->st->finished && !p->rejected) {
			if (p->legacy)
				process_legacy_post(p);
			else
				process_post(wsi, p);
		}
		return 0;

	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!p->st)
			return -1;
		if (stream_write(p->st) < 0)
			return -1;
		return 0;

	case LWS_CALLBACK_TIMER:
		/* keep an idle GET stream alive through proxies */
		if (p->st && p->st->is_get && p->st->headers_sent && !p->st->finished) {
			http_stream_queue(p->st, ": ping\n\n", 8);
			lws_set_timer_usecs(wsi, SSE_PING_US);
		}
		return 0;

	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		pss_reset(p);
		return 0;

	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		/*
		 * A WebSocket upgrade, its headers read and nothing answered: if it is
		 * accepted, the socket becomes ws.c's (which frames and checks every
		 * frame itself: lws 4.1 takes unmasked client frames) and lws is told
		 * to refuse, which hangs up the stand-in left in its place.
		 */
		char uri[256], origin[128];
		struct buf head = BUF_INIT;
		int rc;
		conn_headers(wsi);
		if (H.draining) {
			http_refuse_upgrade(wsi, 503, "Service Unavailable: the server is shutting down");
			return 1;
		}
		if (http_hdr(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri)) < 0)
			uri[0] = '\0';
		if (!origin_ok(wsi, origin, sizeof(origin))) {
			http_refuse_upgrade(wsi, 403, "Forbidden: foreign Origin or Host");
			return 1;
		}
		if (!upgrade_answer(wsi, &head))
			return 1;
		http_find_key(wsi, p->key, sizeof(p->key), true); /* a WebSocket upgrade */
		rc = strcmp(uri, "/mcp") ? route_upgrade(wsi, uri, &head) : mcp_upgrade(wsi, p, &head);
		buf_release(&head);
		return rc;
	}

	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	/* first: the default for HTTP and for WebSockets without a subprotocol */
	{ "mcp", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ "binary", callback, sizeof(struct pss), 65536, 0, NULL, 0 },	/* older noVNC asks for it */
	/* a browser's way to pass a token (003's attach): new WebSocket(url, ['Authorization', 'Bearer T']) */
	{ "Authorization", callback, sizeof(struct pss), 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- start / stop ------------------------------------------------------- */

static void sweep(uv_timer_t *t)
{
	uint64_t now = now_ms();
	struct session *s, *next;

	for (s = H.sessions; s; s = next) {
		next = s->next;
		if (!srv_conn_inflight(s->conn) && !s->get && now - s->last_used > H.o.session_idle_s * 1000) {
			log_info("http: MCP session %.8s… idle, ending it", s->id);
			session_end(s);
		}
	}
	conn_expire(now);
	/* a WebSocket that reads none of the replies queued for it is closed (and its queue freed) */
	struct wsconn *w;
	LIST_FOREACH(w, &H.wss, link) {
		uint64_t since = MAX(w->paused_at, wsc_progress(w->c));
		if (w->paused && !w->overflow && now - since > H.o.stall_s * 1000) {
			log_info("http: a WebSocket client read nothing for %llus: closing it", (unsigned long long)H.o.stall_s);
			w->overflow = true;
			wsc_abort(w->c); /* it reads nothing: no close frame would reach it */
		}
	}
}

/*
 * An event stream gets no request bytes, and lws does not read from it: a
 * client that goes away leaves a readable (EOF) socket that lws never
 * consumes, so the loop would spin on it until the next write fails. Peek at
 * the open streams' sockets now and then and close the ones at EOF.
 */
static void hangup_tick(uv_timer_t *t)
{
	http_routes_hangup();
	for (struct session *s = H.sessions; s; s = s->next) {
		for (struct stream *st = s->streams; st; st = st->next_in_sess) {
			char c;
			if (!st->wsi || !st->sse || !st->headers_sent)
				continue;
			int fd = (int)lws_get_socket_fd(st->wsi);
			if (fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
				lws_set_timeout(st->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		}
	}
}

static void lws_to_log(int level, const char *line)
{
	size_t n = strlen(line);
	if (strstr(line, "lws_mux_mark_immortal"))
		return; /* harmless on HTTP/1 SSE streams (libraries.md) */
	if (strstr(line, "User code denied connection"))
		return; /* every WebSocket upgrade ends so for lws: refused (and answered), or taken by ws.c */
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_msg(level == LLL_ERR ? LOG_LVL_ERROR : level == LLL_WARN ? LOG_LVL_WARNING : LOG_LVL_DEBUG,
		"lws: %.*s", (int)n, line);
}

int tp_http_start(uv_loop_t *loop, const struct srv_app *app, const struct tp_http_opts *o,
		  struct err **errp)
{
	struct lws_context_creation_info info;
	static void *foreign[1];
	struct in_addr a;

	memset(&H, 0, sizeof(H));
	LIST_INIT(&H.wss);
	H.loop = loop;
	H.app = app;
	H.o = *o;
	H.loopback = host_is_loopback(o->host) ||
		     (inet_pton(AF_INET, o->host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);

	foreign[0] = loop;
	memset(&info, 0, sizeof(info));
	info.port = o->port;
	info.iface = o->host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_DISABLE_IPV6;
	info.foreign_loops = foreign;
	info.max_http_header_data = 16384;	/* JWTs and long keys fit */
	info.timeout_secs = 30;			/* a client that stalls mid-request is dropped */
	info.vhost_name = "mcpbox";
	H.ctx = lws_create_context(&info);
	if (!H.ctx)
		return err_set(errp, 0, "cannot listen on %s:%d (in use, or not an address of this host)", o->host,
			       o->port);
	struct lws_vhost *vh = lws_get_vhost_by_name(H.ctx, "mcpbox");
	if (!vh || (H.port = lws_get_vhost_listen_port(vh)) <= 0) {
		lws_context_destroy(H.ctx);
		H.ctx = NULL;
		return err_set(errp, 0, "cannot listen on %s:%d (in use, or not an address of this host)", o->host,
			       o->port);
	}
	uv_timer_init(loop, &H.unhold);
	uv_unref((uv_handle_t *)&H.unhold);
	uv_timer_init(loop, &H.hangup);
	uv_timer_start(&H.hangup, hangup_tick, 100, 100);
	uv_unref((uv_handle_t *)&H.hangup);
	uv_timer_init(loop, &H.sweep);
	/* check a few times per idle period: an abandoned session ends at most a quarter late */
	uint64_t every = H.o.stall_s < H.o.session_idle_s ? H.o.stall_s : H.o.session_idle_s;
	if (H.o.header_timeout_s < every)
		every = H.o.header_timeout_s;
	every = every * 1000 / 4;
	every = every < 250 ? 250 : every > 10000 ? 10000 : every;
	uv_timer_start(&H.sweep, sweep, every, every);
	uv_unref((uv_handle_t *)&H.sweep);
	return 0;
}

int tp_http_port(void)
{
	return H.port;
}

void tp_http_counts(unsigned *http_sessions, unsigned *websockets)
{
	*http_sessions = H.nsessions;
	*websockets = H.nws;
}

void tp_http_drain(void)
{
	H.draining = true;
}

bool tp_http_draining(void)
{
	return H.draining;
}

size_t tp_http_busy(void)
{
	size_t n = 0;
	for (struct session *s = H.sessions; s; s = s->next)
		n += srv_conn_inflight(s->conn);
	struct wsconn *w;
	LIST_FOREACH(w, &H.wss, link)
		n += srv_conn_inflight(w->conn);
	return n + H.reqs;
}

void tp_http_stop(void)
{
	if (!H.ctx || H.stopping)
		return;
	H.stopping = true;
	while (H.sessions)
		session_end(H.sessions);
	uv_timer_stop(&H.sweep);
	uv_close((uv_handle_t *)&H.sweep, NULL);
	uv_timer_stop(&H.hangup);
	uv_close((uv_handle_t *)&H.hangup, NULL);
	uv_timer_stop(&H.unhold);
	uv_close((uv_handle_t *)&H.unhold, NULL);
	wsc_close_all();
	lws_context_destroy(H.ctx); /* closes every connection; handles drain on the loop */
	H.ctx = NULL;
	http_routes_free();
}
