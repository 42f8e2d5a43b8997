/*
 * http_int.h — what the HTTP transport's files share (http.c: connections,
 * admission, MCP over Streamable HTTP and WebSocket, the lws callback;
 * http_route.c: the route table, requests and WebSocket routes). Not for
 * anything outside transport/. Loop thread only.
 */
#ifndef MCPBOX_HTTP_INT_H
#define MCPBOX_HTTP_INT_H

#include "tp.h"
#include "http.h"
#include "route.h"
#include "chunked.h"
#include "ws.h"
#include "../server/base/buf.h"
#include "../server/base/rate.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct route;
struct tp_req;
struct tp_ws;

#define SSE_PING_US (15 * 1000000)
/* a connection closed with its client still sending waits this long (s) for the client to close first */
#define LINGER_S 2
#define WRITE_CHUNK 65536
/*
 * Bytes queued for one client that does not read: past QUEUE_PAUSE a
 * WebSocket's further requests are not read (its calls in flight still
 * answer); past QUEUE_MAX the connection is closed and its queue freed. One
 * reply may be up to the read limit (64 MiB, 85 MiB as base64).
 */
#define QUEUE_PAUSE (16u << 20)
#define QUEUE_MAX (256u << 20)
#define PRINCIPAL_MAX 128	/* SRV_PRINCIPAL_MAX (server/base/rights.h) */

struct session;

/* One HTTP request/response: a POST (the engine's ctx) or the GET stream. */
struct stream {
	struct lws *wsi;		/* NULL once the client is gone */
	struct session *sess;
	int status;
	bool sse;			/* answering as an event stream */
	bool headers_sent;
	bool finished;			/* nothing more will be queued */
	bool engine_done;		/* ops->done ran (or never will) */
	bool is_get;
	bool preflight;			/* CORS: also list allowed methods and headers */
	const char *type;		/* content type of a plain answer (default JSON) */
	bool raw;			/* a passed-through answer (tp_req_start_raw): no SSE marks */
	char *own_type;			/* its content type (copied), or NULL for none */
	int64_t length;			/* its length, -1: unknown */
	void (*on_written)(void *arg);	/* a route wants to hear that queued bytes went out */
	void *written_arg;
	bool in_gone;			/* the route is being told that the client left */
	char session_hdr[40];		/* Mcp-Session-Id to send, if any */
	char origin[128];		/* CORS: echo an allowed Origin */
	struct buf out;			/* LWS_PRE headroom, then bytes to write */
	size_t sent;			/* of out, after the headroom */
	struct buf answer;		/* JSON answer waiting for done (non-SSE), after TP_HEADROOM bytes */
	bool overflow;			/* the client read nothing of QUEUE_MAX bytes: close */
	struct buf xhdr;		/* a route's extra headers: "name:\0value\0"... */
	bool has_rate;			/* a rate limit applied: X-RateLimit-* from rate */
	struct srv_rate_verdict rate;	/* the tightest bucket of the calls made for this answer */
	struct tp_req *req;		/* a route's unfinished request, told when the client leaves */
	bool close_after;		/* close the connection once the answer is out ("connection: close") */
	bool closing;			/* it is out but for what lws buffered: close when that is written */
	bool rx_stopped;		/* lws reads no more of the connection: written directly (http_stream_stop_reading) */
	bool want_write;		/* rx_stopped: more to write at once */
	bool body_unread;		/* the client may still be sending a body not read to its end */
	bool lingering;			/* answered, shut for writing: closed when the client is or after LINGER_S */
	struct stream *next_in_sess;
};

struct session {
	char id[40];
	char principal[PRINCIPAL_MAX];
	char scope[64];			/* a session-bound endpoint's session, or "" */
	struct srv_conn *conn;
	struct stream *streams;		/* open POST streams and the GET stream */
	struct stream *get;
	uint64_t last_used;
	bool legacy;			/* HTTP+SSE (2024-11-05): everything goes on the GET stream */
	struct session *next;
};

/*
 * Bytes the engine leaves before an MCP message it hands over with
 * tp_ops.send_buf: LWS_PRE for lws' framing of an HTTP body, and an SSE
 * event's "event: message\ndata: " after it.
 */
#define SSE_PREFIX "event: message\ndata: "
#define TP_HEADROOM (LWS_PRE + 32)

/* An MCP WebSocket (/mcp): its frames are ws.c's. */
struct wsconn {
	struct wsc *c;			/* NULL once closed */
	struct srv_conn *conn;
	char key[TP_KEY_MAX];		/* re-checked on every message */
	char principal[PRINCIPAL_MAX];
	struct buf body;		/* the message being received (counted in H.receiving) */
	bool paused;			/* not reading requests: QUEUE_PAUSE bytes wait for the client */
	bool held;			/* not reading requests: half of SRV_WAIT_BYTES wait to be parsed */
	bool overflow;			/* QUEUE_MAX bytes waited, or the client stalled: closed */
	uint64_t paused_at;		/* when it was paused */
	LIST_ENTRY(wsconn) link;
};

/* lws per-connection data (zeroed by lws). */
struct pss {
	struct buf body;		/* POST body (counted in H.receiving) */
	struct stream *st;		/* the current HTTP transaction's stream */
	char principal[PRINCIPAL_MAX];
	char key[TP_KEY_MAX];
	char session_id[40];
	bool rejected;			/* an error answer is on its way */
	bool legacy;			/* a POST of the HTTP+SSE transport */
	bool routed;			/* a route's request: never the MCP endpoint's POST */
	char scope[64];			/* /sessions/{id}/mcp|sse|messages: the session, or "" */
	char token[80];			/* the scoped token it came with, if any */
	struct tp_req *req;		/* a route's request whose body is arriving */
	bool chunked;			/* ... with Transfer-Encoding: chunked: its bytes go through dechunk */
	struct tp_chunked dechunk;
};

struct http_state {
	uv_loop_t *loop;
	struct lws_context *ctx;
	const struct srv_app *app;
	struct tp_http_opts o;
	bool loopback;
	int port;
	struct session *sessions;
	unsigned nsessions, nws;
	uv_timer_t sweep;
	uv_timer_t hangup;		/* notices clients that left an event stream */
	uv_timer_t unhold;		/* resumes WebSockets held while their texts wait to be parsed */
	unsigned nheld;
	bool draining;
	bool stopping;
	unsigned conns, unauth;		/* accepted client connections; of them, not yet authenticated */
	uint64_t receiving;		/* bytes of unfinished request bodies and WebSocket messages */
	uint64_t refused_logged;	/* when a refused connection was last logged */
	unsigned reqs;			/* route requests not finished yet */
	LIST_HEAD(, wsconn) wss;		/* open MCP WebSockets */
};
extern struct http_state H;

/* ---- http.c, for http_route.c ---- */
int http_urlarg(struct lws *wsi, const char *name, char *out, size_t cap);
int http_hdr(struct lws *wsi, enum lws_token_indexes t, char *out, int cap);
int http_custom_hdr(struct lws *wsi, const char *name, char *out, int cap);
/* The key of Authorization: Bearer, X-API-Key or (query) ?api_key=. */
void http_find_key(struct lws *wsi, char *key, size_t cap, bool query);
bool http_authenticate(const char *key, char *principal);
void http_conn_authenticated(struct lws *wsi);
void http_stream_queue(struct stream *st, const char *data, size_t len);
/*
 * Queue the bytes of b after its first off (>= LWS_PRE), taking b: when
 * nothing else waits, b becomes the stream's buffer and is not copied.
 */
void http_stream_queue_buf(struct stream *st, struct buf *b, size_t off);
/** Add a response header (dropped once the headers went out). */
void http_stream_add_header(struct stream *st, const char *name, const char *value);
/**
 * A rate limit applied to a call made for this answer: X-RateLimit-Limit,
 * -Remaining, -Reset (and Retry-After when refused) go out with the headers,
 * from the bucket with the fewest tokens left among its calls (a refusal wins).
 */
void http_stream_rate_headers(struct stream *st, const struct srv_rate_verdict *v);
void http_stream_kick(struct stream *st);
void http_stream_stop_reading(struct stream *st);
void http_stream_maybe_free(struct stream *st);
void http_stream_error(struct stream *st, int status, int code, const char *msg);
void http_refuse_upgrade(struct lws *wsi, int status, const char *msg);
/* The same with a body of the route's own (JSON; NULL: the JSON-RPC error of msg). */
void http_refuse_upgrade_body(struct lws *wsi, int status, const char *msg, const struct buf *own);
/** The request is taken and its body is wanted: answer "Expect: 100-continue" with a 100. */
void http_continue(struct lws *wsi);

/* ---- http_route.c, for http.c ---- */
/* A request for a route (answered now, or once its body is in): false when no route has this path. */
bool http_route_request(struct lws *wsi, struct pss *p, const char *path, int lws_method);
/* The body of p's route request is complete: hand it to the route. */
void http_req_dispatch(struct pss *p);
/* Is p->req a streamed route's request whose body is arriving? */
bool http_req_streaming(const struct tp_req *r);
/* A piece of a streamed body: to the route (which may answer and so clear p->req). */
void http_req_body_piece(struct pss *p, const void *in, size_t len);
/* A streamed body ended (complete, or the client left): tell the route; p->req is cleared. */
void http_req_body_end(struct pss *p, enum tp_body_end how);
/* The body never completed: forget the request. */
void http_req_abandon(struct pss *p);
/* The client of an unfinished route request left. */
void http_req_gone(struct tp_req *r);
/*
 * A WebSocket upgrade for a route: its accept decides. 1 refuses (answered
 * already); 0 accepts, with *ws ready for http_ws_open.
 */
int http_ws_accept(struct lws *wsi, const char *uri, struct tp_ws **ws);
/* Serve an accepted route's WebSocket on fd (taken from lws), head its 101; false: gone (the route was told). */
bool http_ws_open(struct tp_ws *ws, int fd, const struct buf *head);
/* Forget an accepted route's WebSocket that never opened (the route is told). */
void http_ws_drop(struct tp_ws *ws);
/* Close the connections of unanswered requests whose clients left (hang-up timer). */
void http_routes_hangup(void);
void http_routes_free(void);

#endif
