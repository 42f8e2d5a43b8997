/*
 * ports.c — previews: /sessions/{id}/ports/{port}/{path} passed to a server
 * listening inside the session (proxy.h), over HTTP/1.0 (one request per
 * connection, no chunked answers to decode) and WebSocket (wsproxy.c).
 *
 * A browser that opens a preview link with ?token= gets the token back as a
 * cookie scoped to that session's previews (HttpOnly), so that the page's
 * own requests for scripts and images are let in too. The key, the token
 * and that cookie never reach the server inside.
 */
#include "proxy.h"
#include "browser.h"
#include "http1.h"
#include "upstream.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../sessions/ports.h"
#include "../transport/http.h"
#include "../vnc/server.h"
#include "../vnc/web.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../server/base/banned.h"

#define COOKIE "mcpbox_token"
#define PRINCIPAL_MAX 128	/* SRV_PRINCIPAL_MAX */
#define TOKEN_MAX 80

static struct {
	struct sess_registry *reg;
	char *http_base;
	struct px_slot *slots;
	unsigned nslots;
} P;

void px_init(struct sess_registry *reg, const struct srv_config *cfg)
{
	P.reg = reg;
}

void px_set_http_base(const char *base)
{
	free(P.http_base);
	P.http_base = base && base[0] ? xstrdup(base) : NULL;
}

const char *px_http_base(void)
{
	return P.http_base;
}

struct sess_session *px_session(const char *sid)
{
	return P.reg ? sess_find(P.reg, sid, NULL) : NULL;
}

int px_slot_take(struct px_slot *sl, const char *sid, const char **why)
{
	struct sess_session *s = px_session(sid);
	const char *owner = s && s->owner ? s->owner : "";
	unsigned mine = 0, owners = 0;

	for (struct px_slot *o = P.slots; o; o = o->next) {
		mine += !strcmp(o->sid, sid);
		owners += !strcmp(o->owner, owner);
	}
	if (P.nslots >= PX_CONNS_MAX) {
		*why = "Service Unavailable: too many connections into sessions";
		return 503;
	}
	if (mine >= PX_SESSION_CONNS) {
		*why = "Too Many Requests: this session has too many proxied connections";
		return 429;
	}
	if (owners >= PX_KEY_CONNS) {
		*why = "Too Many Requests: the sessions of this key have too many proxied connections";
		return 429;
	}
	snprintf(sl->sid, sizeof(sl->sid), "%s", sid);
	snprintf(sl->owner, sizeof(sl->owner), "%s", owner);
	sl->prev = NULL;
	sl->next = P.slots;
	if (P.slots)
		P.slots->prev = sl;
	P.slots = sl;
	P.nslots++;
	sl->counted = true;
	return 0;
}

void px_slot_give(struct px_slot *sl)
{
	if (!sl->counted)
		return;
	sl->counted = false;
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		P.slots = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	P.nslots--;
}

/* Our cookie's value in a Cookie header, into out (empty when absent). */
static void cookie_token(const char *cookies, char *out, size_t cap)
{
	const char *c = cookies;

	out[0] = '\0';
	while (c && *c) {
		while (*c == ' ' || *c == ';')
			c++;
		const char *end = strchr(c, ';');
		size_t n = end ? (size_t)(end - c) : strlen(c);
		if (n > sizeof(COOKIE) && !strncmp(c, COOKIE "=", sizeof(COOKIE)) && n - sizeof(COOKIE) < cap) {
			memcpy(out, c + sizeof(COOKIE), n - sizeof(COOKIE));
			out[n - sizeof(COOKIE)] = '\0';
			return;
		}
		c = end;
	}
}

int px_allowed(struct tp_req *r, const char *sid, const char *token, bool *control)
{
	char key[TP_KEY_MAX], principal[PRINCIPAL_MAX];

	tp_req_link_key(r, key, sizeof(key));
	if (!key[0] || !tp_req_authenticate(r, key, principal, sizeof(principal)))
		principal[0] = '\0';
	return vnc_access(sid, principal[0] ? principal : NULL, token, control);
}

/* "8000" → 8000; 0 when not a port number. */
static unsigned port_of(const char *s)
{
	unsigned v = 0;
	if (!s || !*s || strlen(s) > 5)
		return 0;
	for (const char *c = s; *c; c++) {
		if (!isdigit((unsigned char)*c))
			return 0;
		v = v * 10 + (unsigned)(*c - '0');
	}
	return v <= 65535 ? v : 0;
}

void px_send_error(struct tp_req *r, int status, const char *msg)
{
	tp_req_json(r, status, json_pack("{s:{s:i, s:s}}", "error", "code", status, "message", msg));
}

/* ---- HTTP ---------------------------------------------------------------------- */

struct pxhttp {
	struct px_slot slot;
	struct tp_req *r;
	struct px_up *up;
	unsigned port;
	char prefix[128];		/* /sessions/{id}/ports/{port} */
	struct buf req;			/* what goes to the server */
	struct buf head;		/* its answer until the head is whole */
	struct px_head h;
	bool started, paused;
	int64_t left;			/* body bytes still expected, -1: until EOF */
};

/* Request headers a preview passes on (never the caller's credentials). */
static const char *const fwd_request[] = {
	"accept", "accept-language", "accept-encoding", "cache-control", "content-type", "if-match",
	"if-none-match", "if-modified-since", "if-unmodified-since", "if-range", "range", "user-agent",
	"x-requested-with", "pragma",
};

/* Let go of the request (before it is finished: it is freed then) and of everything else. */
static void pxhttp_unhook(struct pxhttp *x)
{
	tp_req_on_written(x->r, NULL, NULL);
	tp_req_on_gone(x->r, NULL, NULL);
}

static void pxhttp_release(struct pxhttp *x)
{
	px_up_close(x->up);
	x->up = NULL;
	px_slot_give(&x->slot);
	buf_release(&x->req);
	buf_release(&x->head);
	px_head_release(&x->h);
	free(x);
}

/* The answer is complete: finish the request, free x. */
static void pxhttp_done(struct pxhttp *x)
{
	pxhttp_unhook(x);
	tp_req_end(x->r);
	pxhttp_release(x);
}

static void pxhttp_fail(struct pxhttp *x, int status, const char *msg)
{
	pxhttp_unhook(x);
	if (x->started) {
		tp_req_end(x->r); /* the answer is cut short: the client sees the connection end */
	} else {
		px_send_error(x->r, status, msg);
	}
	pxhttp_release(x);
}

static void pxhttp_gone(void *arg)
{
	struct pxhttp *x = arg;
	pxhttp_done(x);
}

static void pxhttp_written(void *arg)
{
	struct pxhttp *x = arg;
	if (x->paused && x->up && tp_req_queued(x->r) < PX_UP_QUEUE_MAX / 4) {
		x->paused = false;
		px_up_pause(x->up, false);
	}
}

/* Set-Cookie from inside: scoped to this preview, whatever path or domain it named. */
static void scoped_cookie(struct pxhttp *x, const char *v)
{
	struct buf b = BUF_INIT;
	const char *a = strchr(v, ';');

	if (!strncmp(v, COOKIE "=", sizeof(COOKIE)))
		return; /* ours: the sandbox may not set it */
	buf_add(&b, v, a ? (size_t)(a - v) : strlen(v));
	while (a) {
		const char *s = a + 1, *e = strchr(s, ';');
		while (*s == ' ')
			s++;
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (strncasecmp(s, "path", 4) && strncasecmp(s, "domain", 6)) {
			buf_adds(&b, "; ");
			buf_add(&b, s, n);
		}
		a = e;
	}
	buf_addf(&b, "; Path=%s/", x->prefix);
	tp_req_add_header(x->r, "set-cookie", b.data);
	buf_release(&b);
}

static void pxhttp_head(struct pxhttp *x, size_t used)
{
	const struct px_head *h = &x->h;

	if (h->chunked || h->status < 200) {
		pxhttp_fail(x, 502, h->chunked ? "Bad Gateway: the server inside sent a chunked answer to HTTP/1.0"
						: "Bad Gateway: the server inside sent an interim answer");
		return;
	}
	for (size_t off = 0; off < h->hdrs.len;) {
		const char *n = h->hdrs.data + off, *v = n + strlen(n) + 1;
		off = (size_t)(v - h->hdrs.data) + strlen(v) + 1;
		if (px_header_hop(n))
			continue;
		if (!strcmp(n, "set-cookie")) {
			scoped_cookie(x, v);
		} else if (!strcmp(n, "location") && v[0] == '/' && v[1] != '/') {
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s%s", x->prefix, v);
			tp_req_add_header(x->r, "location", b.data);
			buf_release(&b);
		} else {
			tp_req_add_header(x->r, n, v);
		}
	}
	x->left = h->length;
	tp_req_start_raw(x->r, h->status, px_head_get(h, "content-type"), h->length);
	x->started = true;
	px_up_timeout(x->up, PX_IDLE_TIMEOUT_MS);
	tp_req_on_written(x->r, pxhttp_written, x);
	size_t rest = x->head.len - used;
	if (x->left >= 0 && (int64_t)rest > x->left)
		rest = (size_t)x->left;
	if (rest)
		tp_req_write(x->r, x->head.data + used, rest);
	if (x->left >= 0)
		x->left -= (int64_t)rest;
	buf_release(&x->head);
	if (x->left == 0) {
		pxhttp_done(x);
	}
}

static void pxhttp_data(void *arg, char *p, size_t n)
{
	struct pxhttp *x = arg;

	if (!x->started) {
		long used;
		buf_add(&x->head, p, n);
		used = px_head_parse(x->head.data, x->head.len, &x->h);
		if (used < 0)
			pxhttp_fail(x, 502, "Bad Gateway: the server inside sent no valid HTTP answer");
		else if (used > 0)
			pxhttp_head(x, (size_t)used);
		return;
	}
	if (x->left >= 0 && (int64_t)n > x->left)
		n = (size_t)x->left; /* what follows the body is not ours to pass on */
	tp_req_write(x->r, p, n);
	px_up_timeout(x->up, PX_IDLE_TIMEOUT_MS);
	if (x->left >= 0 && (x->left -= (int64_t)n) == 0) {
		pxhttp_done(x);
		return;
	}
	if (tp_req_queued(x->r) > PX_UP_QUEUE_MAX) {
		x->paused = true; /* the client reads slower than the server writes */
		px_up_pause(x->up, true);
	}
}

static void pxhttp_ended(void *arg, struct err *e)
{
	struct pxhttp *x = arg;

	if (!x->started) {
		pxhttp_fail(x, e && e->cls == ERR_TIMEOUT ? 504 : 502,
			    e ? err_text(e) : "Bad Gateway: the server inside closed the connection without an answer");
	} else if (e && x->left != 0) {
		pxhttp_fail(x, 502, err_text(e));
	} else {
		pxhttp_done(x);
	}
	err_free(e);
}

static void pxhttp_connected(void *arg, struct err *e)
{
	struct pxhttp *x = arg;

	if (e) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "Bad Gateway: nothing answers on port %u inside the session (%s)", x->port, err_text(e));
		pxhttp_fail(x, 502, b.data);
		buf_release(&b);
		err_free(e);
		return;
	}
	px_up_write(x->up, x->req.data, x->req.len);
	buf_release(&x->req);
	px_up_timeout(x->up, PX_HEAD_TIMEOUT_MS);
}

static const struct px_up_ops pxhttp_ops = {
	.connected = pxhttp_connected,
	.data = pxhttp_data,
	.ended = pxhttp_ended,
};

/* The request line and headers for the server inside. */
static void build_request(struct pxhttp *x, struct tp_req *r, const char *rest)
{
	static const char *const drop[] = { "token", "api_key", NULL };
	char v[4096];
	size_t blen;
	const char *body = tp_req_body(r, &blen);

	buf_addf(&x->req, "%s /", tp_req_method_name(r));
	tp_url_encode(&x->req, rest, "/!$&'()*+,;=:@");
	tp_req_query_string(r, drop, &x->req);
	buf_addf(&x->req, " HTTP/1.0\r\nHost: localhost:%u\r\nConnection: close\r\n", x->port);
	for (size_t i = 0; i < ARRAY_SIZE(fwd_request); i++)
		if (tp_req_header(r, fwd_request[i], v, sizeof(v)) == 0 && v[0] && !strpbrk(v, "\r\n"))
			buf_addf(&x->req, "%s: %s\r\n", fwd_request[i], v);
	if (tp_req_header(r, "cookie", v, sizeof(v)) == 0 && !strpbrk(v, "\r\n")) {
		/* the page's cookies, without ours */
		struct buf c = BUF_INIT;
		for (const char *p = v; *p;) {
			while (*p == ' ' || *p == ';')
				p++;
			const char *e = strchr(p, ';');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (n && strncmp(p, COOKIE "=", sizeof(COOKIE)))
				buf_addf(&c, "%s%.*s", c.len ? "; " : "", (int)n, p);
			p += n;
		}
		if (c.len)
			buf_addf(&x->req, "cookie: %s\r\n", c.data);
		buf_release(&c);
	}
	buf_addf(&x->req, "X-Forwarded-Prefix: %s\r\n", x->prefix);
	if (blen || (tp_req_method(r) & (TP_POST | TP_PUT | TP_PATCH)))
		buf_addf(&x->req, "Content-Length: %zu\r\n", blen);
	buf_adds(&x->req, "\r\n");
	buf_add(&x->req, body, blen);
}

/* Who may come in, and the token to remember as a cookie (when it came in the URL). */
static int preview_access(struct tp_req *r, const char *sid, char *token, bool *from_url)
{
	char cookies[4096];
	bool control;

	*from_url = tp_req_query(r, "token", token, TOKEN_MAX) == 0 && token[0];
	if (!*from_url && tp_req_header(r, "cookie", cookies, sizeof(cookies)) == 0)
		cookie_token(cookies, token, TOKEN_MAX);
	return px_allowed(r, sid, token, &control);
}

static void serve_port(struct tp_req *r, void *arg)
{
	const char *sid = tp_req_param(r, "id"), *rest = tp_req_param(r, "rest");
	unsigned port = port_of(tp_req_param(r, "port"));
	char token[TOKEN_MAX];
	bool from_url;
	struct sess_session *s;
	struct err *e = NULL;
	const char *why;
	int status;

	if (!vnc_web_id_valid(sid) || !port) {
		px_send_error(r, 404, "Not found");
		return;
	}
	if (!preview_access(r, sid, token, &from_url)) {
		px_send_error(r, 401, "Unauthorized: the session's key or a view token is needed");
		return;
	}
	if (!rest && tp_req_path(r)[strlen(tp_req_path(r)) - 1] == '/')
		rest = "";
	if (!rest) {
		/* /ports/8000 → /ports/8000/: relative links inside the page need the slash */
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s/", tp_req_path(r));
		tp_req_query_string(r, NULL, &b);
		tp_req_add_header(r, "location", b.data);
		tp_req_send(r, 308, "text/plain", "", 0);
		buf_release(&b);
		return;
	}
	s = px_session(sid);
	if (!s || s->state != SESS_RUNNING) {
		px_send_error(r, s ? 409 : 404, s ? "Conflict: the session is not running" : "Not found");
		return;
	}
	if (px_browser_port_is(s, port)) {
		px_send_error(r, 403, "Forbidden: the browser's DevTools are reached at /sessions/{id}/cdp");
		return;
	}
	struct pxhttp *x = xcalloc(1, sizeof(*x));
	if ((status = px_slot_take(&x->slot, sid, &why))) {
		free(x);
		px_send_error(r, status, why);
		return;
	}
	x->r = r;
	x->port = port;
	x->left = -1;
	snprintf(x->prefix, sizeof(x->prefix), "/sessions/%s/ports/%u", sid, port);
	if (from_url) {
		struct buf c = BUF_INIT;
		buf_addf(&c, COOKIE "=%s; Path=/sessions/%s/ports/; HttpOnly; SameSite=Lax", token, sid);
		tp_req_add_header(r, "set-cookie", c.data);
		buf_release(&c);
	}
	build_request(x, r, rest);
	x->up = px_up_open(s, port, &pxhttp_ops, x, &e);
	if (!x->up) {
		pxhttp_fail(x, 502, err_text(e));
		err_free(e);
		return;
	}
	tp_req_on_gone(r, pxhttp_gone, x);
}

/* ---- WebSocket ------------------------------------------------------------------- */

struct portws {
	struct px_wsp *p;
	unsigned port;
	struct buf path;
};

static int portws_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	static const char *const drop[] = { "token", "api_key", NULL };
	const char *sid = tp_req_param(r, "id"), *rest = tp_req_param(r, "rest");
	unsigned port = port_of(tp_req_param(r, "port"));
	char token[TOKEN_MAX];
	bool from_url;
	struct sess_session *s;
	int status = 0;

	*why = "Not found";
	if (!vnc_web_id_valid(sid) || !port || !rest)
		return 404;
	if (!preview_access(r, sid, token, &from_url)) {
		*why = "Unauthorized: the session's key or a view token is needed";
		return 401;
	}
	s = px_session(sid);
	if (!s || s->state != SESS_RUNNING)
		return 404;
	if (px_browser_port_is(s, port)) {
		*why = "Forbidden: the browser's DevTools are reached at /sessions/{id}/cdp";
		return 403;
	}
	struct portws *w = xcalloc(1, sizeof(*w));
	w->p = px_wsp_new(sid, &status, why);
	if (!w->p) {
		free(w);
		return status;
	}
	w->port = port;
	buf_adds(&w->path, "/");
	tp_url_encode(&w->path, rest, "/!$&'()*+,;=:@");
	tp_req_query_string(r, drop, &w->path);
	*user = w;
	return 0;
}

static int portws_open(struct tp_ws *ws, void *user)
{
	struct portws *w = user;
	px_wsp_attach(w->p, ws);
	px_wsp_connect(w->p, w->port, w->path.data);
	return 0;
}

static void portws_receive(void *user, const void *data, size_t len)
{
	struct portws *w = user;
	px_wsp_receive(w->p, data, len);
}

static void portws_drained(void *user)
{
	struct portws *w = user;
	px_wsp_drained(w->p);
}

static void portws_closed(void *user)
{
	struct portws *w = user;
	px_wsp_closed(w->p);
	buf_release(&w->path);
	free(w);
}

static const struct tp_ws_ops portws_route = {
	.accept = portws_accept,
	.open = portws_open,
	.receive = portws_receive,
	.drained = portws_drained,
	.closed = portws_closed,
};

/* ---- session_info ---------------------------------------------------------------- */

json_t *px_ports_json(struct sess_session *s)
{
	struct sess_port ports[SESS_PORTS_MAX];
	int n = sess_ports_list(s, ports, SESS_PORTS_MAX, NULL);
	json_t *a;

	if (n < 0)
		return NULL;
	a = json_array();
	for (int i = 0; i < n; i++) {
		if (px_browser_port_is(s, ports[i].port))
			continue; /* the browser's DevTools: cdp_url */
		json_t *o = json_pack("{s:i}", "port", (int)ports[i].port);
		if (P.http_base) {
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s/sessions/%s/ports/%u/?token=%s", P.http_base, s->id, ports[i].port,
				 vnc_token_get(s->id, s->owner, false));
			json_object_set_new(o, "url", json_string(b.data));
			buf_release(&b);
		}
		json_array_append_new(a, o);
	}
	return a;
}

void px_routes(void)
{
	tp_http_route(TP_ANY, "/sessions/{id}/ports/{port}", serve_port, NULL);
	tp_http_route(TP_ANY, "/sessions/{id}/ports/{port}/{rest*}", serve_port, NULL);
	tp_ws_route("/sessions/{id}/ports/{port}/{rest*}", &portws_route, NULL);
	px_browser_routes();
}
