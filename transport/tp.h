/**
 * tp.h — transports: framing only. Each turns its bytes into complete JSON
 * texts for srv_conn_receive() and sends what the engine gives it
 * (struct tp_ops in server/rpc.h). No transport knows about tools or sessions.
 */
#ifndef MCPBOX_TP_H
#define MCPBOX_TP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../server/base/err.h"
#include "../server/base/rpc.h"

/**
 * MCP over stdin/stdout: one JSON text per line ("\n", "\r\n" tolerated),
 * lines up to max_line bytes; an answer longer than max_answer (0: no bound)
 * is replaced (srv_conn_set_max_answer). stdin may be a pipe, a terminal, a socket or
 * a regular file (read through the loop's file I/O, since files cannot be
 * polled). When stdin ends (or fails) the calls in flight are finished and
 * answered first, unless stdout's pipe loses its reader (the client is gone:
 * they are cancelled); then the connection is closed and on_eof runs. stdout
 * carries nothing but protocol messages.
 */
int tp_stdio_start(uv_loop_t *loop, const struct srv_app *app, uint64_t max_line, uint64_t max_answer,
		   void (*on_eof)(void *arg), void *arg, struct err **errp);
/** Stop reading, flush what is queued for stdout, release handles. */
void tp_stdio_stop(void);

struct buf;

/** What `mcpbox serve` listens with (transport/http.c). */
struct tp_http_opts {
	const char *host;		/* listen address, e.g. "127.0.0.1" */
	int port;
	uint64_t max_body;		/* POST body cap (413 above) */
	uint64_t max_upload;		/* a streamed route's body cap (tp_http_route_streamed) */
	uint64_t max_ws_message;	/* WebSocket message cap (close 1009 above) */
	unsigned max_inflight;		/* requests in flight per connection */
	unsigned max_connections;	/* open client connections (more are hung up at accept) */
	unsigned max_unauthenticated;	/* of those, ones that have not yet shown a valid key */
	unsigned header_timeout_s;	/* a new connection must send its request headers within this */
	uint64_t max_receiving;		/* bytes of unfinished requests (bodies, WebSocket messages) of all clients */
	uint64_t session_idle_s;	/* an MCP session unused this long ends */
	uint64_t stall_s;		/* a client that reads none of its queued replies this long is closed */
	bool auth_none;			/* no keys (loopback only; checked by the caller) */
	/*
	 * Who is calling: write the principal for a valid key and return 1;
	 * return 0 for an unknown or revoked key. Called for every request and
	 * every WebSocket message (revocation takes effect at once).
	 */
	int (*authenticate)(void *arg, const char *key, char *principal, size_t cap);
	/*
	 * An MCP endpoint bound to one resource (/sessions/{scope}/mcp, .../sse,
	 * .../messages ?token=): 1 and the principal when token is scope's.
	 */
	int (*authenticate_scoped)(void *arg, const char *scope, const char *token, char *principal, size_t cap);
	void *auth_arg;
	/* Append the Prometheus text exposition for GET /metrics, as principal may see it. */
	void (*metrics)(void *arg, const char *principal, struct buf *out);
	void *metrics_arg;
};

/**
 * MCP over Streamable HTTP (POST/GET/DELETE /mcp, JSON or SSE answers,
 * Mcp-Session-Id) and over WebSocket (/mcp, subprotocol "mcp"), plus
 * GET /healthz and GET /metrics, on one port, on loop (libwebsockets joins it
 * as a foreign libuv loop). Every request is authenticated; a present
 * foreign Origin (and on loopback a foreign Host) gets 403.
 */
int tp_http_start(uv_loop_t *loop, const struct srv_app *app, const struct tp_http_opts *o,
		  struct err **errp);
/** The port actually bound (useful with port 0). */
int tp_http_port(void);
/** Number of open HTTP sessions and WebSocket connections (for metrics). */
void tp_http_counts(unsigned *http_sessions, unsigned *websockets);
/** Shutting down: new requests and connections get 503; running ones go on. */
void tp_http_drain(void);
/** Requests in flight over all HTTP sessions and WebSockets. */
size_t tp_http_busy(void);
/** Stop listening, end every session and connection; the loop then drains. */
void tp_http_stop(void);

#endif
