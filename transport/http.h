/**
 * http.h — routes on the port of `mcpbox serve` for everything that is not
 * the MCP endpoint: REST dialects, the VNC viewer's files and pages, the VNC
 * WebSocket. The transport owns connections, admission, Origin checks, body
 * limits, CORS and draining; a route only reads its request and answers.
 *
 * Patterns are literal segments and captures: "/sessions/{id}/view"; a last
 * segment "{rest*}" takes the remainder of the path (possibly empty).
 * Routes are tried in registration order; a path matched only with another
 * method gets 405; no match at all gets 404. Register before
 * tp_http_start(). Loop thread only.
 */
#ifndef MCPBOX_HTTP_H
#define MCPBOX_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"
#include "../server/base/json_out.h"

enum tp_method {
	TP_GET = 1 << 0,
	TP_POST = 1 << 1,
	TP_PUT = 1 << 2,
	TP_PATCH = 1 << 3,
	TP_DELETE = 1 << 4,
};
#define TP_ANY (TP_GET | TP_POST | TP_PUT | TP_PATCH | TP_DELETE)

/**
 * One HTTP request and its answer. The route's handler owns it from the
 * call on and finishes it exactly once (tp_req_send, tp_req_json or
 * tp_req_end), now or later; it stays valid until then even if the client
 * leaves (what is written then is dropped). Unfinished requests count as
 * in flight, so shutdown waits for them.
 */
struct tp_req;
typedef void (*tp_route_fn)(struct tp_req *r, void *arg);

/** Serve methods (a mask of enum tp_method) of pattern with fn. */
void tp_http_route(unsigned methods, const char *pattern, tp_route_fn fn, void *arg);

/**
 * The same for a route that takes its body as it arrives (uploads): fn runs
 * at the request's headers, before any of the body is read, and either
 * answers at once (a refusal: the body is then read and dropped) or takes
 * the body with tp_req_read_body(). Such a body is never held by the
 * transport: it is bounded by the server's max_upload, not max_message, and
 * does not count in max_receiving.
 */
void tp_http_route_streamed(unsigned methods, const char *pattern, tp_route_fn fn, void *arg);

/** How a streamed body ended (tp_body_ops.end). */
enum tp_body_end {
	TP_BODY_COMPLETE,	/* every byte was handed to data */
	TP_BODY_TOO_LARGE,	/* it passed max_upload: nothing more comes; the route answers (its 413) */
	TP_BODY_GONE,		/* the client left before it ended; the route finishes the request (dropped) */
	TP_BODY_MALFORMED,	/* its chunked framing is malformed: nothing more comes; the route answers (its 400) */
	TP_BODY_UNSIZED,	/* (tp_req_read_body only) sent with a transfer coding besides chunked: not readable here */
};

/** What a route that reads its body as it arrives is told (tp_req_read_body). */
struct tp_body_ops {
	/* The next piece of the body (valid during the call; any size, any split). */
	void (*data)(void *arg, const void *data, size_t len);
	/* The body ended, once; after a route answered early nothing is called. */
	void (*end)(void *arg, enum tp_body_end how);
};

/**
 * Read the body of a streamed route's request: ops->data with each piece as
 * it arrives, then ops->end once (unless the route answers first: then the
 * rest is read and dropped, and nothing more is called). Returns 0, or
 * TP_BODY_TOO_LARGE at once when the request declares a Content-Length past
 * max_upload (nothing is read; the route answers its 413), or
 * TP_BODY_UNSIZED for a body sent with a Transfer-Encoding other than
 * "chunked" alone (a chunked body is decoded and read: tp_req_body_chunked),
 * which is not read (the route answers 411). A client waiting
 * for "100 Continue" gets it here, so a refusal at the headers costs no body.
 */
int tp_req_read_body(struct tp_req *r, const struct tp_body_ops *ops, void *arg);
/**
 * Is the body of a streamed route's request sent chunked (no Content-Length)?
 * It is read like any other, decoded (transport/chunked.h), but libwebsockets
 * 4.1 takes such a body to be 100 MiB long with its framing (server.c,
 * lws_http_action): past that it ends as TP_BODY_TOO_LARGE whatever
 * max_upload says. The connection is closed after the answer.
 */
bool tp_req_body_chunked(const struct tp_req *r);
/** Stop (true) or resume reading the body from the socket (a streamed route's backpressure). */
void tp_req_pause_body(struct tp_req *r, bool paused);
/** The largest body a streamed route takes (the server's max_upload). */
uint64_t tp_http_max_upload(void);

/**
 * Files of a directory served as they are (public code such as a viewer's
 * scripts: no key is asked for). The route's pattern ends in "{file*}";
 * names are letters, digits and "._-/" without "..", regular files up to
 * TP_STATIC_FILE_MAX, typed by their extension; anything else is 404 with
 * missing as its message. The struct must outlive the server (a static).
 */
struct tp_static {
	const char *dir;	/* absolute */
	const char *missing;	/* e.g. "Not found (is the novnc package installed?)" */
};
#define TP_STATIC_FILE_MAX (8u << 20)
void tp_http_static(const char *pattern, const struct tp_static *files);

/* ---- the request (valid until it is finished) ---- */
enum tp_method tp_req_method(const struct tp_req *r);
const char *tp_req_method_name(const struct tp_req *r);
/**
 * Does a route registered before this one serve the path with other
 * methods? (A catch-all route answers 405 rather than 404 then.)
 */
bool tp_req_path_known(const struct tp_req *r);
/** The path, without the query. */
const char *tp_req_path(const struct tp_req *r);
/** A capture of the route's pattern ("id" for "{id}"), or NULL. */
const char *tp_req_param(const struct tp_req *r, const char *name);
/** Query argument name, URL-decoded, into out: 0, or -1 if absent or longer than cap. */
int tp_req_query(const struct tp_req *r, const char *name, char *out, size_t cap);
/** Header name (any case, no colon), into out: 0, or -1 if absent or longer than cap. */
int tp_req_header(const struct tp_req *r, const char *name, char *out, size_t cap);
/** The whole body (NUL-terminated; "" when there is none), up to the server's body limit. */
const char *tp_req_body(const struct tp_req *r, size_t *len);
/**
 * The body as JSON: what json_loadb(body, len, flags, e) gives (a new
 * reference, or NULL and *e; e may be NULL), flags being 0,
 * JSON_REJECT_DUPLICATES and/or JSON_DECODE_ANY, and TP_JSON_AFTER_BOM to
 * read a body that starts with a UTF-8 byte-order mark from after it
 * (Python's "utf-8-sig"; off the loop with JSON_DECODE_ANY alone). A body of SRV_OFFLOAD_MIN
 * bytes or more (server/base/offload.h) was parsed off the loop, in its
 * sender's turn of the fair queue (server/base/pool.h), before the route was
 * called: every call then returns the same value (a route that changes it
 * changes it for later calls), and the transport frees it off the loop once
 * the request is finished. Smaller bodies are parsed here. Routes read JSON
 * bodies only through this.
 */
#define TP_JSON_AFTER_BOM (1u << 16)
json_t *tp_req_body_json(const struct tp_req *r, size_t flags, json_error_t *e);
/**
 * The route has what it needs of r's body (a buffered one, read whole): the
 * bytes and what tp_req_body_json parsed are freed now (a large value off the
 * loop) rather than when r is answered, so that a long request holds none of
 * it. tp_req_body and tp_req_body_json give an empty body afterwards.
 */
void tp_req_release_body(struct tp_req *r);
/**
 * Run work(arg) off the loop, in r's sender's turn of the fair queue
 * (server/base/pool.h), then done(arg) on the loop: for a route whose answer
 * takes reading a large body again. r stays until the route answers it, so
 * work may read its body (and nothing else of r). Without a runner (unit
 * tests) both run here, at once.
 */
void tp_req_offload(struct tp_req *r, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/** Longest credential (an API key or a login token) the transport passes on, with its NUL. */
#define TP_KEY_MAX 1100

/**
 * The key of the usual credentials: "Authorization: Bearer KEY" or
 * "X-API-Key: KEY" ("" when neither is sent; a malformed Authorization is
 * a wrong key, "invalid").
 */
void tp_req_key(const struct tp_req *r, char *out, size_t cap);
/** The same, also taking ?api_key= (only for WebSocket upgrades and pages opened from links). */
void tp_req_link_key(const struct tp_req *r, char *out, size_t cap);
/**
 * Who key belongs to: 1 and the principal, or 0. Under --auth none every
 * request is "anonymous". Success also counts the connection as
 * authenticated (admission); on a WebSocket upgrade the route accepts, the
 * key is checked again at every message, and the connection closes (1008)
 * once it no longer authenticates (revoked, expired, its user disabled).
 */
int tp_req_authenticate(struct tp_req *r, const char *key, char *principal, size_t cap);
/** The client's address ("127.0.0.1", "::1"), into out; "" when unknown or gone. */
void tp_req_peer(const struct tp_req *r, char *out, size_t cap);
/** Has the client gone away? */
bool tp_req_gone(const struct tp_req *r);
/** Call fn(arg) once when the client goes away before the request is finished. */
void tp_req_on_gone(struct tp_req *r, void (*fn)(void *arg), void *arg);

/* ---- the answer ---- */
/** Add a response header (before the answer starts). */
void tp_req_add_header(struct tp_req *r, const char *name, const char *value);
struct srv_rate_verdict;
/** Add the rate-limit headers of v (server/base/rate.h): X-RateLimit-*, Retry-After when refused. */
void tp_req_rate_headers(struct tp_req *r, const struct srv_rate_verdict *v);
/**
 * Did a rate limit refuse this request (tp_req_rate_headers was given a
 * refused verdict, e.g. by the tool registry's bucket)? A route tells a rate
 * limit (429) from other limits of the same error class (quotas) with it.
 */
bool tp_req_rate_refused(const struct tp_req *r);
/** Answer with status and a body of type (NULL: application/json), and finish. */
void tp_req_send(struct tp_req *r, int status, const char *type, const void *body, size_t len);
/**
 * Answer with status and the JSON of body (stolen), and finish. A large
 * body is written and freed off the loop (server/base/offload.h's rules),
 * and the request finished when its text is back; r is the transport's from
 * this call on either way.
 */
void tp_req_json(struct tp_req *r, int status, json_t *body);
/** The same with JSON text in a dialect's style (write: as srv_json_write, pure: it may run on another thread). */
void tp_req_json_as(struct tp_req *r, int status, json_t *body, srv_json_writer_fn write);
/** Start a streamed answer (no length): tp_req_write() pieces, then tp_req_end(). */
void tp_req_start(struct tp_req *r, int status, const char *type);
void tp_req_write(struct tp_req *r, const void *data, size_t len);
void tp_req_end(struct tp_req *r);
/**
 * Start an answer passed through from elsewhere (a proxy): status, type
 * (copied; NULL: no Content-Type), length (-1: unknown, the connection then
 * ends the body). Then tp_req_write() pieces and tp_req_end(), as above.
 */
void tp_req_start_raw(struct tp_req *r, int status, const char *type, int64_t length);
/** Is the server shutting down? (A route's endless stream ends then, so that shutdown need not wait for it.) */
bool tp_http_draining(void);
/** Bytes of the answer queued and not yet written to the client (a streaming route's backpressure). */
size_t tp_req_queued(const struct tp_req *r);
/** Call fn(arg) whenever a piece of the queued answer was written to the client (NULL: stop). */
void tp_req_on_written(struct tp_req *r, void (*fn)(void *arg), void *arg);
/**
 * The request's query as it goes on to another server: "?a=b&c=d"
 * (percent-encoded again), without the arguments named in drop (a
 * NULL-terminated list, may be NULL); appended to out, nothing when empty.
 */
void tp_req_query_string(const struct tp_req *r, const char *const *drop, struct buf *out);
/** Percent-encode s onto b, keeping unreserved characters and those in keep. Pure. */
void tp_url_encode(struct buf *b, const char *s, const char *keep);

/**
 * The token of an "Authorization: Bearer TOKEN" header value (scheme in any
 * case, spaces and tabs around it ignored), or NULL when the value is NULL,
 * uses another scheme, has no token or whitespace inside it. Pure.
 */
const char *tp_bearer_token(const char *authorization);

/** The Prometheus text of GET /metrics as principal may see it, appended to out (a REST dialect's metrics path). */
void tp_http_metrics_text(const char *principal, struct buf *out);
#define TP_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- WebSocket routes ---- */
struct tp_ws;
struct tp_ws_ops {
	/*
	 * The upgrade request (r: path, params, query, headers; no body). Return
	 * 0 to accept it with *user as the connection's, or an HTTP status to
	 * refuse it with (*why the message). r is valid during the call only.
	 */
	int (*accept)(struct tp_req *r, void *arg, void **user, const char **why);
	/* The connection is open; -1 closes it. */
	int (*open)(struct tp_ws *ws, void *user);
	/* A message or a fragment of one, as it arrives. */
	void (*receive)(void *user, const void *data, size_t len);
	/* The queue fell under a quarter of what the route let it hold after tp_ws_send said it was full. */
	void (*drained)(void *user);
	/* The connection is gone; user is the route's to free. */
	void (*closed)(void *user);
	/*
	 * Optional: the body of a refusal by accept (status, why) in the route's
	 * own error shape, appended to out (JSON). Without it a refusal is a
	 * JSON-RPC error.
	 */
	void (*refusal)(int status, const char *why, struct buf *out);
};
void tp_ws_route(const char *pattern, const struct tp_ws_ops *ops, void *arg);
/**
 * Queue a binary (or text) message (each message keeps its kind); false when the queue holds more than
 * the connection's budget now (the caller should stop producing until drained). The budget counts
 * what the queue takes in memory (a frame's own bytes too), 4 MiB unless tp_ws_budget set it.
 */
bool tp_ws_send(struct tp_ws *ws, const void *data, size_t len, bool binary);
/**
 * Queue a piece of a message, which goes out as its own fragment: the first piece of a message
 * gives its kind, final ends it. Nothing else may be sent between the pieces of one message.
 * Returns as tp_ws_send. Nothing but the queue holds a message sent this way.
 */
bool tp_ws_send_piece(struct tp_ws *ws, const void *data, size_t len, bool binary, bool final);
/** What ws's queue may hold before tp_ws_send says it is full (bytes). */
void tp_ws_budget(struct tp_ws *ws, size_t bytes);
/** During receive: does this piece end its message, and is the message binary? */
void tp_ws_piece(const struct tp_ws *ws, bool *final, bool *binary);
/** During receive: the bytes of the piece's frame (as the client framed it; no extension changes frames) still to come. */
size_t tp_ws_piece_left(const struct tp_ws *ws);
/** During receive: does the piece's frame end its message (told from the frame's first piece on)? */
bool tp_ws_piece_fin(const struct tp_ws *ws);
/** Stop (true) or resume reading the client's messages (backpressure). */
void tp_ws_pause(struct tp_ws *ws, bool paused);
/** Close (status 1000) once what is queued is written; messages the client sends meanwhile are dropped. */
void tp_ws_close(struct tp_ws *ws);
/** As tp_ws_close, with the close frame's status (RFC 6455 7.4: 1000-1003, 1007-1014, 3000-4999). */
void tp_ws_close_status(struct tp_ws *ws, unsigned status);

#endif
