/**
 * proxy.h — servers inside sessions, reached through mcpbox's main port:
 *
 *   /sessions/{id}/ports/{port}/{path}   HTTP and WebSocket to a port the
 *                                        session listens on (a preview)
 *
 * Every connection is opened by the sandbox's worker inside the sandbox's
 * network namespace (upstream.h): no port of a sandbox is exposed anywhere.
 * Who may use it: the session's owner (its key), or a holder of a view
 * token as for the VNC view (vnc/server.h).
 *
 * Bounds (docs/security.md): PX_SESSION_CONNS connections per session,
 * PX_KEY_CONNS over the sessions of one owner and PX_CONNS_MAX in all;
 * queues bounded both ways with backpressure (PX_UP_QUEUE_MAX for the
 * server inside, 1 MiB of an answer or PX_WS_CLIENT_QUEUE for the client),
 * and nothing else held per connection: answers and WebSocket messages
 * stream through; a response head within PX_HEAD_MAX bytes and
 * PX_HEAD_TIMEOUT_MS; a WebSocket message within WSF_MESSAGE_MAX (counted,
 * not held). Loop thread only.
 */
#ifndef MCPBOX_PX_PROXY_H
#define MCPBOX_PX_PROXY_H

#include <jansson.h>
#include <stdbool.h>

#include "../server/base/config.h"
#include "../sessions/session.h"

#define PX_SESSION_CONNS 32
#define PX_KEY_CONNS 64			/* over all the sessions of one owner */
#define PX_CONNS_MAX 1024
#define PX_WS_CLIENT_QUEUE (1u << 20)	/* a WebSocket's bytes for the client; past it the server is not read */
#define PX_WS_FRAME_HOLD (64u << 10)	/* a client's frame up to this goes to the server whole, a longer one streams */
#define PX_HEAD_TIMEOUT_MS 60000
#define PX_IDLE_TIMEOUT_MS 300000

/** Set up (once, with the tools): the registry sessions are found in. */
void px_init(struct sess_registry *reg, const struct srv_config *cfg);
/** Register the routes (before the HTTP transport starts). */
void px_routes(void);
/** The server's HTTP base ("http://127.0.0.1:8080") for URLs in results; NULL: none (stdio). */
void px_set_http_base(const char *base);
/**
 * What session_info shows (for s's owner): "ports", the listening ports
 * with their preview URLs; NULL when s does not run.
 */
json_t *px_ports_json(struct sess_session *s);

/* ---- shared by the files of proxy/ ---- */

/** A connection counted against its session's, its owner's and the global bound. */
struct px_slot {
	char sid[64];
	char owner[128];		/* the session's owner (SRV_PRINCIPAL_MAX) */
	struct px_slot *next, *prev;
	bool counted;
};
/** Count a connection for sid (and its owner): 0, or an HTTP status (429/503) and *why when over a bound. */
int px_slot_take(struct px_slot *sl, const char *sid, const char **why);
void px_slot_give(struct px_slot *sl);

/** Who asks: 1 with *control when the owner's key or a live token for sid came along, else 0. */
struct tp_req;
int px_allowed(struct tp_req *r, const char *sid, const char *token, bool *control);
/** Answer r with status and {"error": {code, message}}, and finish it. */
void px_send_error(struct tp_req *r, int status, const char *msg);
/** The session sid (any owner), or NULL. */
struct sess_session *px_session(const char *sid);
const char *px_http_base(void);
/** The CDP routes of browser.c (px_routes registers them). */
void px_browser_routes(void);

/**
 * A WebSocket proxied to a server inside a session: client messages go
 * there as frames, its messages come back, bounded both ways.
 */
struct px_wsp;
struct tp_ws;
/** For a route's accept: a new proxy counted against sid (NULL with status and *why when over a bound). */
struct px_wsp *px_wsp_new(const char *sid, int *status, const char **why);
/** For the route's open: remember the client's side. */
void px_wsp_attach(struct px_wsp *p, struct tp_ws *ws);
/** Connect to port and path (with query) inside the session; on failure the client's side is closed. */
void px_wsp_connect(struct px_wsp *p, unsigned port, const char *path);
/** The client's side failed before connecting (closes it with why logged). */
void px_wsp_fail(struct px_wsp *p, const char *why);
/** The route's receive, drained and closed callbacks. */
void px_wsp_receive(struct px_wsp *p, const void *data, size_t len);
void px_wsp_drained(struct px_wsp *p);
void px_wsp_closed(struct px_wsp *p);
const char *px_wsp_sid(const struct px_wsp *p);

#endif
