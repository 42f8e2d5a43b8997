/*
 * vnc/web.c — a display's face on the server's HTTP port: the noVNC
 * viewer's files (GET /novnc/...), a session's view page
 * (GET /sessions/{id}/view) and the VNC WebSocket that bridges a browser to
 * the display's VNC server (/sessions/{id}/vnc). Routes of the HTTP
 * transport (transport/http.h); the transport knows nothing of VNC.
 *
 * Who may look: the session's owner (its key) or a holder of a view or
 * control token (vnc_access). A key never goes into a URL: the view page
 * hands the browser a token instead.
 */
#include "web.h"
#include "display.h"
#include "server.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../transport/http.h"

#include <ctype.h>
#include <string.h>

#include "../server/base/banned.h"

#define PRINCIPAL_MAX VNC_WEB_PRINCIPAL_CAP

static void send_error(struct tp_req *r, int status, const char *msg)
{
	tp_req_json(r, status, json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", msg));
}

/* Who the request's key belongs to ("" for none or a wrong one). */
static void caller_of(struct tp_req *r, char *principal)
{
	char key[TP_KEY_MAX];
	tp_req_link_key(r, key, sizeof(key));
	if (!tp_req_authenticate(r, key, principal, PRINCIPAL_MAX))
		principal[0] = '\0';
}

bool vnc_web_access(struct tp_req *r, const char *sid, char token[VNC_WEB_TOKEN_CAP], char principal[VNC_WEB_PRINCIPAL_CAP],
		    bool *control)
{
	if (tp_req_query(r, "token", token, VNC_WEB_TOKEN_CAP) < 0)
		token[0] = '\0';
	caller_of(r, principal);
	return vnc_access(sid, principal[0] ? principal : NULL, token, control);
}

bool vnc_web_id_valid(const char *id)
{
	if (!*id || strlen(id) >= 64)
		return false;
	for (const char *c = id; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return false;
	return true;
}

/* GET /sessions/{id}/view: a page that opens noVNC on this session's VNC WebSocket. */
static void serve_view(struct tp_req *r, void *arg)
{
	const char *sid = tp_req_param(r, "id");
	char token[VNC_WEB_TOKEN_CAP], principal[VNC_WEB_PRINCIPAL_CAP];
	const char *tok = token;
	bool control;
	struct buf b = BUF_INIT;

	if (!vnc_web_id_valid(sid)) {
		send_error(r, 404, "Not found");
		return;
	}
	if (!vnc_web_access(r, sid, token, principal, &control)) {
		send_error(r, 403, "Forbidden: a valid view token or the owner's key is needed");
		return;
	}
	if (!token[0] || (principal[0] && control))
		tok = vnc_token_get(sid, principal, control); /* never put a key into a URL */
	buf_addf(&b, "<!doctype html><meta charset=utf-8><title>mcpbox %s</title>"
		     "<script>location.replace('/novnc/vnc_lite.html?path='+encodeURIComponent('sessions/%s/vnc?token=%s')%s);"
		     "</script>", sid, sid, tok, control ? "" : "+'&view_only=true'");
	tp_req_send(r, 200, "text/html; charset=utf-8", b.data, b.len);
	buf_release(&b);
}

/* ---- the VNC WebSocket: RFB bytes copied to and from the display's VNC server ---- */

struct vncws {
	struct tp_ws *ws;
	struct vnc_viewer *v;		/* NULL once the display side ended */
	char sid[64];
	char principal[VNC_WEB_PRINCIPAL_CAP];
	char token[VNC_WEB_TOKEN_CAP];
};

static void vncws_send(void *arg, const void *data, size_t len)
{
	struct vncws *w = arg;
	if (!tp_ws_send(w->ws, data, len, true) && w->v)
		vnc_viewer_pause(w->v, true); /* resumed when the browser has read (drained) */
}

static void vncws_ended(void *arg)
{
	struct vncws *w = arg;
	w->v = NULL;
	tp_ws_close(w->ws);
}

static const struct vnc_viewer_ops vncws_ops = { vncws_send, vncws_ended };

static int vncws_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	const char *sid = tp_req_param(r, "id");
	struct vncws *w;
	bool control;

	if (strlen(sid) >= sizeof(w->sid)) {
		*why = "Not found";
		return 404;
	}
	w = xcalloc(1, sizeof(*w));
	snprintf(w->sid, sizeof(w->sid), "%s", sid);
	if (!vnc_web_access(r, sid, w->token, w->principal, &control)) {
		free(w);
		*why = "Unauthorized: the session's key or a view token is needed";
		return 401;
	}
	*user = w;
	return 0;
}

static int vncws_open(struct tp_ws *ws, void *user)
{
	struct vncws *w = user;
	struct err *e = NULL;

	w->ws = ws;
	if (vnc_viewer_open(w->sid, w->principal[0] ? w->principal : NULL, w->token, &vncws_ops, w, &w->v, &e) < 0) {
		log_info("vnc: viewer for session %s refused: %s", w->sid, err_text(e));
		err_free(e);
		w->v = NULL;
		return -1;
	}
	return 0;
}

static void vncws_receive(void *user, const void *data, size_t len)
{
	struct vncws *w = user;
	if (w->v)
		vnc_viewer_write(w->v, data, len);
}

static void vncws_drained(void *user)
{
	struct vncws *w = user;
	if (w->v)
		vnc_viewer_pause(w->v, false);
}

static void vncws_closed(void *user)
{
	struct vncws *w = user;
	if (w->v)
		vnc_viewer_close(w->v);
	free(w);
}

static const struct tp_ws_ops vncws_route = {
	.accept = vncws_accept,
	.open = vncws_open,
	.receive = vncws_receive,
	.drained = vncws_drained,
	.closed = vncws_closed,
};

void vnc_web_routes(void)
{
	static const struct tp_static novnc = { "/usr/share/novnc", "Not found (is the novnc package installed?)" };

	tp_http_static("/novnc/{file*}", &novnc);
	tp_http_route(TP_GET, "/sessions/{id}/view", serve_view, NULL);
	tp_ws_route("/sessions/{id}/vnc", &vncws_route, NULL);
}
