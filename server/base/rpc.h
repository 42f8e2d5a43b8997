/**
 * rpc.h — the JSON-RPC 2.0 engine, independent of transport and of MCP.
 *
 * A transport creates one struct srv_conn per client connection with a
 * struct tp_ops that knows how to send one complete JSON text, feeds each
 * received message (object or batch array) to srv_conn_receive(), and calls
 * srv_conn_close() when the peer is gone.
 *
 * The engine validates messages, answers protocol errors itself, groups batch
 * answers into one array, and hands every valid request to the application
 * (struct srv_app: the MCP layer) as a struct srv_req. Requests on one
 * connection run concurrently: the application answers each one whenever it
 * is done with srv_req_result() or srv_req_error(), which also free it.
 *
 * Cancellation: srv_req_cancel() (from notifications/cancelled or a closing
 * connection) marks the request cancelled and calls its cancel hook. Its
 * owner must still finish it with srv_req_result()/srv_req_error(); the
 * engine then drops the answer, so no response is ever sent for it.
 *
 * Ownership: the connection lives until it is closed AND every request has
 * been finished. Everything runs on the loop thread.
 */
#ifndef MCPBOX_SRV_RPC_H
#define MCPBOX_SRV_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_RESOURCE_NOT_FOUND = -32002,
	RPC_RATE_LIMITED = -32029,	/* a rate limit refused the request: data {retry_after_ms, ...} */
};

struct srv_rate_verdict;
struct buf;

struct srv_conn;
struct srv_req;

/**
 * A transport: the engine never knows whether bytes came from stdio, HTTP or
 * a WebSocket. Each received text carries a context (ctx, the transport's:
 * an HTTP POST, say) and everything the engine says about it goes back with
 * that ctx, so a transport can route answers and progress to the stream the
 * request came on.
 */
struct tp_ops {
	const char *name;
	/* Send one complete JSON text (no newline in it). ctx: the context of the
	 * request it answers or reports on; NULL for connection-wide messages.
	 * answer: it is the (last) answer for ctx, not a notification. */
	void (*send)(void *tp, void *ctx, const char *json, size_t len, bool answer);
	/* Everything for ctx has been sent (possibly nothing: notifications only,
	 * or every request cancelled). Called exactly once per srv_conn_receive(),
	 * possibly before it returns. May be NULL. Once srv_conn_close() was
	 * called the engine calls neither send nor done: the transport finishes
	 * its open contexts itself. */
	void (*done)(void *tp, void *ctx);
	/* A rate limit applied to a request of ctx (server/base/rate.h): HTTP
	 * adds X-RateLimit-* headers, and answers 429 when a lone request (batch
	 * false) was refused. May be NULL. */
	void (*rate)(void *tp, void *ctx, const struct srv_rate_verdict *v, bool batch);
	/* Optional: send a text the engine wrote into *text after `headroom`
	 * bytes of its own (zeros the transport may write over: a frame header,
	 * an SSE prefix). The transport takes the buffer (leaving *text empty,
	 * or as it found it when it copied), so a large answer is never copied
	 * on the loop. Without it the engine calls send. */
	void (*send_buf)(void *tp, void *ctx, struct buf *text, bool answer);
	size_t headroom;
};

/** The application behind the engine (the MCP layer). */
struct srv_app {
	/* A valid request. The app owns req until it finishes it. */
	void (*request)(struct srv_req *req, const char *method, json_t *params);
	/* A valid notification (no id). params may be NULL. */
	void (*notification)(struct srv_conn *c, const char *method, json_t *params);
	/* The connection was closed by its transport (requests were cancelled already). */
	void (*closed)(struct srv_conn *c);
	/* The connection is about to be freed: release per-connection app state. */
	void (*release)(struct srv_conn *c);
	/* req's answer is len bytes, more than its connection carries (srv_conn_set_max_answer):
	   the result to send instead (taken), or NULL for a JSON-RPC error. May be NULL. */
	json_t *(*oversize)(struct srv_req *req, const char *method, size_t len, size_t max);
};

struct srv_conn *srv_conn_new(const struct srv_app *app, const struct tp_ops *ops, void *tp,
			      const char *principal);
/**
 * One received JSON text (an object or a batch array) with the transport's
 * context for it. Never fails: errors are answered. ops->done(tp, ctx) follows
 * once all its answers were sent.
 *
 * A text of at least SRV_OFFLOAD_MIN bytes is copied and parsed off the loop
 * thread (offload.h's runner; without one, here), so a client's 60 MB message
 * freezes no other client; the texts that follow it on the connection wait,
 * copied, and are handled in arrival order once it is back. At most
 * SRV_WAIT_TEXTS texts and SRV_WAIT_BYTES bytes wait per connection: a text
 * past them is refused whole with error -32000 (id null). A transport that
 * can stop reading its client (stdio, a WebSocket) stops past half of either
 * bound and reads again once both are down to a quarter (srv_conn_hold,
 * srv_conn_may_resume), so that the refusal is only for clients it cannot
 * hold back. Texts that wait count in srv_conn_inflight.
 */
#define SRV_WAIT_TEXTS 1024
#define SRV_WAIT_BYTES (128u << 20)
void srv_conn_receive(struct srv_conn *c, const char *data, size_t len, void *ctx);
/**
 * Whether srv_conn_receive would refuse a text of len bytes now (past
 * SRV_WAIT_TEXTS or SRV_WAIT_BYTES), for a transport that answers each text
 * on its own and can refuse it better itself (HTTP: 503, which an SDK client
 * fails the request with, where an error with id null would leave it waiting).
 */
bool srv_conn_full(const struct srv_conn *c, size_t len);
/**
 * The client sends nothing more (stdin's end) but still reads: requests in
 * flight go on; what waits for the client's answer (srv_req_ask) fails now,
 * and later asks fail at once.
 */
void srv_conn_input_ended(struct srv_conn *c);
/** The transport is gone: cancel everything in flight; free once all requests are finished. */
void srv_conn_close(struct srv_conn *c);
bool srv_conn_closing(const struct srv_conn *c);
/** Most requests one connection may have in flight; more get error -32000 (0: no cap). */
void srv_conn_set_max_inflight(struct srv_conn *c, size_t max);
/**
 * The longest answer the connection's client takes in one message (0: no
 * bound). A longer one is replaced by what srv_app.oversize says, so that
 * a client that would drop the whole connection over it (the MCP TypeScript
 * SDK's stdio client past 10 MiB) gets an error it can act on instead.
 */
void srv_conn_set_max_answer(struct srv_conn *c, size_t max);
size_t srv_conn_max_answer(const struct srv_conn *c);
/** Requests in flight (not yet finished), and received texts not yet handled. */
size_t srv_conn_inflight(const struct srv_conn *c);
/** Bytes of the texts waiting on c for a large one to be parsed (srv_conn_receive). */
/** Whether c's transport should stop reading its client: more than half of SRV_WAIT_TEXTS or SRV_WAIT_BYTES wait. */
bool srv_conn_hold(const struct srv_conn *c);
/** Whether a client held back may be read again: at most a quarter of both bounds wait. */
bool srv_conn_may_resume(const struct srv_conn *c);
const char *srv_conn_principal(const struct srv_conn *c);
/**
 * A connection scoped to one resource (an MCP endpoint bound to one session):
 * set by the transport before the first message; the app enforces it.
 */
void srv_conn_set_scope(struct srv_conn *c, const char *scope);
const char *srv_conn_scope(const struct srv_conn *c);
void *srv_conn_app_data(const struct srv_conn *c);
void srv_conn_set_app_data(struct srv_conn *c, void *data);
/** Send a connection-wide notification; steals params (may be NULL). Dropped once closing. */
void srv_conn_notify(struct srv_conn *c, const char *method, json_t *params);
/** Send a notification about request r (routed with its context); steals params. */
void srv_req_notify(struct srv_req *r, const char *method, json_t *params);
/** Find an in-flight request by its id (for notifications/cancelled). */
struct srv_req *srv_conn_find(struct srv_conn *c, json_t *id);

/**
 * Finish req with a result (stolen). Frees req, now or (a large result,
 * offload.h's rules) once its text was written on another thread.
 */
void srv_req_result(struct srv_req *r, json_t *result);
/** Finish req with a JSON-RPC error. Frees req. */
void srv_req_error(struct srv_req *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** The same with the error's data member (stolen). */
void srv_req_error_data(struct srv_req *r, int code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Tell r's transport that a rate limit applied to r (its headers, a refusal's status). */
void srv_req_rate(struct srv_req *r, const struct srv_rate_verdict *v);
/** Install the hook srv_req_cancel() calls (once). */
void srv_req_on_cancel(struct srv_req *r, void (*fn)(void *arg), void *arg);
void srv_req_cancel(struct srv_req *r);
bool srv_req_cancelled(const struct srv_req *r);
struct srv_conn *srv_req_conn(const struct srv_req *r);
/** The request's params._meta.progressToken, or NULL. */
json_t *srv_req_progress_token(const struct srv_req *r);
/**
 * The answer to a request the server sent to the client: exactly one of
 * result and error is non-NULL (borrowed for the call).
 */
typedef void (*srv_reply_cb)(void *arg, json_t *result, json_t *error);
/**
 * Send a request to the client while handling r (sampling/createMessage,
 * elicitation/create), routed with r's context; steals params. cb runs once:
 * with the client's answer, or with an error when the connection closes
 * first (code -32000).
 */
void srv_req_ask(struct srv_req *r, const char *method, json_t *params, srv_reply_cb cb, void *arg);

/**
 * Send notifications/progress for r if it carries a progress token.
 * progress must increase between calls; lower values are raised above the last one.
 */
void srv_req_progress(struct srv_req *r, double progress, double total, const char *message);

#endif
