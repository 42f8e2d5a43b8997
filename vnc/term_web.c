/*
 * vnc/term_web.c — a terminal's face on the server's HTTP port, for people
 * in a browser: xterm.js's files (GET /xterm/...), the page
 * GET /sessions/{id}/terminals/{tid} and its WebSocket
 * /sessions/{id}/terminals/{tid}/ws. It lives beside the VNC view because
 * it is let in by the same tokens (web.h): a view token watches, a control
 * token (or the owner's key) also types.
 *
 * The WebSocket, server to browser: binary messages whose first byte says
 * what follows: 'o' the program's output (raw bytes), 's' the terminal's
 * state as JSON {rows, cols, state, control[, exit_code]}. On open: the
 * state, then the output still buffered (the terminal's ring), then live
 * output. Browser to server: the bytes typed, nothing else (the size is
 * the agent's: terminal_resize; a person resizing would change the screen
 * the agent reads). Everything from the browser is hostile: a read-only
 * viewer's input is dropped and counted (past TERMWS_IGNORED_MAX the
 * socket is closed), typing past the terminal's input queue closes it, a
 * viewer whose send queue passes the transport's bound is dropped, and a
 * terminal has at most TERMWS_VIEWERS_MAX browsers.
 */
#include "web.h"
#include "display.h"
#include "server.h"
#include "../sessions/term.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../transport/http.h"

#include <jansson.h>
#include <string.h>
#include <sys/wait.h>

#include "../server/base/banned.h"

#define TERMWS_VIEWERS_MAX 16
#define TERMWS_IGNORED_MAX (64u * 1024)	/* bytes a read-only browser may send before it is closed */
#define TERMWS_REPLAY_CHUNK (64u * 1024)

/* The terminal tid of session sid (whoever owns it), or NULL. */
static struct sess_term *term_of(const char *sid, const char *tid)
{
	struct sess_session *s = vnc_session_find(sid, NULL);
	return s ? sess_term_find(s->reg, tid, s->owner, s->id) : NULL;
}

static void send_error(struct tp_req *r, int status, const char *msg)
{
	tp_req_json(r, status, json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", msg));
}

/*
 * The page: xterm.js 3.8 as Debian ships it (node-xterm) is CommonJS
 * modules, so a small loader fetches xterm.js and what it requires, then
 * runs them in order of need. Then the terminal attaches to the WebSocket.
 */
static const char page_script[] =
	"(function () {\n"
	"var C = window.MCPBOX_TERM, base = '/xterm/', src = {}, mods = {}, pending = 0, failed = false;\n"
	"var status = document.getElementById('status');\n"
	"function say(t) { status.textContent = t; }\n"
	"function norm(from, rel) {\n"
	"  var parts = from.split('/'); parts.pop();\n"
	"  rel.split('/').forEach(function (p) { if (p === '..') parts.pop(); else if (p !== '.') parts.push(p); });\n"
	"  return parts.join('/');\n"
	"}\n"
	"function fetchMod(id) {\n"
	"  if (id in src) return;\n"
	"  src[id] = null; pending++;\n"
	"  fetch(base + id + '.js').then(function (r) { if (!r.ok) throw new Error(id + '.js: ' + r.status); return r.text(); })\n"
	"    .then(function (t) {\n"
	"      src[id] = t;\n"
	"      var re = /require\\(\"([^\"]+)\"\\)/g, m;\n"
	"      while ((m = re.exec(t))) fetchMod(norm(id, m[1]));\n"
	"      if (--pending === 0) start(run('xterm'));\n"
	"    }).catch(function (e) { if (!failed) { failed = true; say('xterm.js did not load (' + e.message + '): is node-xterm installed?'); } });\n"
	"}\n"
	"function run(id) {\n"
	"  if (mods[id]) return mods[id].exports;\n"
	"  var m = mods[id] = { exports: {} };\n"
	"  new Function('require', 'module', 'exports', src[id] + '\\n//# sourceURL=' + base + id + '.js')(\n"
	"    function (r) { return run(norm(id, r)); }, m, m.exports);\n"
	"  return m.exports;\n"
	"}\n"
	"function start(Terminal) {\n"
	"  var term = new Terminal({ disableStdin: !C.control, cursorBlink: C.control, scrollback: 5000 });\n"
	"  var dec = new TextDecoder('utf-8'), enc = new TextEncoder();\n"
	"  window.mcpboxTerminal = term;\n"
	"  term.open(document.getElementById('term'));\n"
	"  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + C.ws);\n"
	"  ws.binaryType = 'arraybuffer';\n"
	"  ws.onmessage = function (ev) {\n"
	"    var b = new Uint8Array(ev.data);\n"
	"    if (b[0] === 0x6f) { term.write(dec.decode(b.subarray(1), { stream: true })); return; }\n"
	"    if (b[0] !== 0x73) return;\n"
	"    var st = JSON.parse(new TextDecoder().decode(b.subarray(1)));\n"
	"    if (st.rows && st.cols && (st.rows !== term.rows || st.cols !== term.cols)) term.resize(st.cols, st.rows);\n"
	"    window.mcpboxState = st;\n"
	"    say(C.title + ' \\u2014 ' + st.state + (st.exit_code !== undefined ? ' (exit code ' + st.exit_code + ')' : '') +\n"
	"        (st.control ? '' : ' \\u2014 view only'));\n"
	"  };\n"
	"  ws.onopen = function () { window.mcpboxOpen = true; };\n"
	"  ws.onclose = function () { window.mcpboxClosed = true; say(C.title + ' \\u2014 disconnected'); };\n"
	"  if (C.control)\n"
	"    term.on('data', function (d) { if (ws.readyState === 1) ws.send(enc.encode(d)); });\n"
	"  term.focus();\n"
	"}\n"
	"say(C.title + ' \\u2014 loading');\n"
	"fetchMod('xterm');\n"
	"})();\n";

/* GET /sessions/{id}/terminals/{tid}: the page that shows the terminal. */
static void serve_page(struct tp_req *r, void *arg)
{
	const char *sid = tp_req_param(r, "id"), *tid = tp_req_param(r, "tid");
	char token[VNC_WEB_TOKEN_CAP], principal[VNC_WEB_PRINCIPAL_CAP];
	const char *tok = token;
	bool control;
	struct buf b = BUF_INIT, ws = BUF_INIT, title = BUF_INIT;

	if (!vnc_web_id_valid(sid) || !vnc_web_id_valid(tid)) {
		send_error(r, 404, "Not found");
		return;
	}
	if (!vnc_web_access(r, sid, token, principal, &control)) {
		send_error(r, 403, "Forbidden: a valid view token or the owner's key is needed");
		return;
	}
	if (!term_of(sid, tid)) {
		send_error(r, 404, "No such terminal in this session (closed, timed out idle, or never opened)");
		return;
	}
	if (!token[0] || (principal[0] && control))
		tok = vnc_token_get(sid, principal, control); /* never put a key into a URL */
	/* ids are checked above and a token that let us in is one of ours: all safe in the page */
	buf_addf(&ws, "/sessions/%s/terminals/%s/ws?token=%s", sid, tid, tok);
	buf_addf(&title, "mcpbox terminal %s", tid);
	json_t *cfg = json_pack("{s:s, s:s, s:b}", "ws", ws.data, "title", title.data, "control", control);
	char *cfg_js = json_dumps(cfg, JSON_COMPACT | JSON_ESCAPE_SLASH);
	json_decref(cfg);
	buf_addf(&b, "<!doctype html><meta charset=utf-8><title>%s</title>\n"
		     "<link rel=stylesheet href=\"/xterm/xterm.css\">\n"
		     "<style>html,body{margin:0;background:#000;color:#ccc;font:13px sans-serif}"
		     "#status{padding:4px 8px}#term{padding:4px}</style>\n"
		     "<div id=status></div><div id=term></div>\n<script>window.MCPBOX_TERM = %s;\n%s</script>\n",
		 title.data, cfg_js, page_script);
	free(cfg_js);
	tp_req_send(r, 200, "text/html; charset=utf-8", b.data, b.len);
	buf_release(&b);
	buf_release(&ws);
	buf_release(&title);
}

/* ---- the WebSocket ---- */

struct termws {
	struct sess_term_viewer v;
	struct tp_ws *ws;
	struct sess_term *t;		/* while attached */
	char sid[64], tid[64];
	bool control;
	uint64_t ignored;		/* bytes a read-only browser sent */
	struct buf msg;			/* the message being built */
};

static void termws_detach(struct termws *w, const char *why)
{
	if (w->t) {
		sess_term_viewer_remove(&w->v);
		w->t = NULL;
	}
	if (why)
		log_info("terminal %s: a browser was dropped: %s", w->tid, why);
	tp_ws_close(w->ws);
}

/* Send kind + data; a browser that cannot keep up is dropped. */
static bool termws_send(struct termws *w, char kind, const char *data, size_t len)
{
	buf_reset(&w->msg);
	buf_addch(&w->msg, kind);
	buf_add(&w->msg, data, len);
	if (tp_ws_send(w->ws, w->msg.data, w->msg.len, true))
		return true;
	termws_detach(w, "it does not read its output fast enough");
	return false;
}

static bool termws_send_state(struct termws *w, const struct sess_term *t)
{
	json_t *o = json_pack("{s:i, s:i, s:s, s:b}", "rows", t ? t->rows : 0, "cols", t ? t->cols : 0, "state",
			      t ? sess_term_state_name(t->state) : "closed", "control", w->control);
	if (t && t->state == SESS_TERM_EXITED) {
		int st = t->exit.status;
		json_object_set_new(o, "exit_code", json_integer(WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st)));
	}
	char *s = json_dumps(o, JSON_COMPACT);
	bool ok = termws_send(w, 's', s, strlen(s));
	free(s);
	json_decref(o);
	return ok;
}

static void termws_output(struct sess_term_viewer *v, const char *data, size_t len)
{
	termws_send((struct termws *)v, 'o', data, len);
}

static void termws_changed(struct sess_term_viewer *v)
{
	struct termws *w = (struct termws *)v;
	termws_send_state(w, w->t);
}

static void termws_term_closed(struct sess_term_viewer *v)
{
	struct termws *w = (struct termws *)v;
	w->t = NULL; /* already removed */
	termws_send_state(w, NULL);
	tp_ws_close(w->ws);
}

static int termws_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	const char *sid = tp_req_param(r, "id"), *tid = tp_req_param(r, "tid");
	char token[VNC_WEB_TOKEN_CAP], principal[VNC_WEB_PRINCIPAL_CAP];
	struct sess_term *t;
	struct sess_term_viewer *v;
	unsigned n = 0;
	bool control;

	if (!vnc_web_id_valid(sid) || !vnc_web_id_valid(tid)) {
		*why = "Not found";
		return 404;
	}
	if (!vnc_web_access(r, sid, token, principal, &control)) {
		*why = "Forbidden: a valid view token or the owner's key is needed";
		return 403;
	}
	if (!(t = term_of(sid, tid))) {
		*why = "No such terminal in this session";
		return 404;
	}
	LIST_FOREACH(v, &t->viewers, link)
		n++;
	if (n >= TERMWS_VIEWERS_MAX) {
		*why = "Too many viewers of this terminal";
		return 429;
	}
	struct termws *w = xcalloc(1, sizeof(*w));
	snprintf(w->sid, sizeof(w->sid), "%s", sid);
	snprintf(w->tid, sizeof(w->tid), "%s", tid);
	w->control = control;
	*user = w;
	return 0;
}

static int termws_open(struct tp_ws *ws, void *user)
{
	struct termws *w = user;
	struct sess_term *t = term_of(w->sid, w->tid); /* it may have gone since the upgrade */
	struct buf out = BUF_INIT, err = BUF_INIT;
	uint64_t off;
	bool ok;

	w->ws = ws;
	if (!t)
		return -1;
	ok = termws_send_state(w, t);
	off = sess_ring_resume(&t->out, 0);	/* not inside an escape sequence the ring cut */
	/* what the terminal kept, so the browser draws the screen as it is */
	while (ok && off < t->out.end) {
		buf_reset(&out);
		off = sess_ring_split(&t->out, off, TERMWS_REPLAY_CHUNK, &out, &err);
		if (!out.len)
			break;
		ok = termws_send(w, 'o', out.data, out.len);
	}
	buf_release(&out);
	buf_release(&err);
	if (!ok)
		return -1;
	w->v.output = termws_output;
	w->v.changed = termws_changed;
	w->v.closed = termws_term_closed;
	w->t = t;
	sess_term_viewer_add(t, &w->v);
	return 0;
}

static void termws_receive(void *user, const void *data, size_t len)
{
	struct termws *w = user;
	auto_err struct err *e = NULL;

	if (!w->t)
		return;
	if (!w->control) {
		w->ignored += len;
		if (w->ignored > TERMWS_IGNORED_MAX)
			termws_detach(w, "a read-only viewer kept sending input");
		return;
	}
	sess_term_touch(w->t);
	if (sess_term_write(w->t, data, len, &e) < 0 && e->cls == ERR_LIMIT)
		termws_detach(w, "its input passed the terminal's queue");
}

static void termws_closed(void *user)
{
	struct termws *w = user;
	if (w->t)
		sess_term_viewer_remove(&w->v);
	buf_release(&w->msg);
	free(w);
}

static const struct tp_ws_ops termws_route = {
	.accept = termws_accept,
	.open = termws_open,
	.receive = termws_receive,
	.closed = termws_closed,
};

void vnc_term_web_routes(void)
{
	static const struct tp_static xterm = { "/usr/share/nodejs/xterm/lib",
						"Not found (is the node-xterm package installed?)" };

	tp_http_static("/xterm/{file*}", &xterm);
	tp_http_route(TP_GET, "/sessions/{id}/terminals/{tid}", serve_page, NULL);
	tp_ws_route("/sessions/{id}/terminals/{tid}/ws", &termws_route, NULL);
}
