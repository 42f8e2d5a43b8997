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
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define NOVNC_DIR "/usr/share/novnc"
#define NOVNC_FILE_MAX (8 << 20)
#define PRINCIPAL_MAX 64

static void send_error(struct tp_req *r, int status, const char *msg)
{
	tp_req_json(r, status, json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", msg));
}

static const char *mime_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css" }, { ".svg", "image/svg+xml" }, { ".png", "image/png" },
		{ ".ico", "image/x-icon" }, { ".json", "application/json" }, { ".woff", "font/woff" },
		{ ".woff2", "font/woff2" }, { ".ttf", "font/ttf" }, { ".ogg", "audio/ogg" }, { ".mp3", "audio/mpeg" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* GET /novnc/{file}: the viewer's files (public code, no key needed). */
static void serve_novnc(struct tp_req *r, void *arg)
{
	const char *rel = tp_req_param(r, "file");
	char path[512];
	struct stat st;
	int fd;

	for (const char *c = rel; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-/", *c)) {
			send_error(r, 404, "Not found");
			return;
		}
	if (!*rel || strstr(rel, "..") || snprintf(path, sizeof(path), NOVNC_DIR "/%s", rel) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		send_error(r, 404, "Not found (is the novnc package installed?)");
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > NOVNC_FILE_MAX) {
		close(fd);
		send_error(r, 404, "Not found");
		return;
	}
	char *data = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, data, (size_t)st.st_size);
	close(fd);
	tp_req_send(r, 200, mime_of(path), data, n > 0 ? (size_t)n : 0);
	free(data);
}

/* Who the request's key belongs to ("" for none or a wrong one). */
static void caller_of(struct tp_req *r, char *principal)
{
	char key[256];
	tp_req_link_key(r, key, sizeof(key));
	if (!tp_req_authenticate(r, key, principal, PRINCIPAL_MAX))
		principal[0] = '\0';
}

/* GET /sessions/{id}/view: a page that opens noVNC on this session's VNC WebSocket. */
static void serve_view(struct tp_req *r, void *arg)
{
	const char *sid = tp_req_param(r, "id");
	char token[80], principal[PRINCIPAL_MAX];
	const char *tok = token;
	bool control;
	struct buf b = BUF_INIT;

	for (const char *c = sid; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
			send_error(r, 404, "Not found");
			return;
		}
	if (tp_req_query(r, "token", token, sizeof(token)) < 0)
		token[0] = '\0';
	caller_of(r, principal);
	if (!vnc_access(sid, principal[0] ? principal : NULL, token, &control)) {
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
	char principal[PRINCIPAL_MAX];
	char token[80];
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
	if (tp_req_query(r, "token", w->token, sizeof(w->token)) < 0)
		w->token[0] = '\0';
	caller_of(r, w->principal);
	if (!vnc_access(sid, w->principal[0] ? w->principal : NULL, w->token, &control)) {
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
	tp_http_route(TP_GET, "/novnc/{file*}", serve_novnc, NULL);
	tp_http_route(TP_GET, "/sessions/{id}/view", serve_view, NULL);
	tp_ws_route("/sessions/{id}/vnc", &vncws_route, NULL);
}
