/*
 * browser.c — a session's Chromium and its CDP endpoint (browser.h).
 *
 * The browser's DevTools speak HTTP (/json/version: where its WebSocket
 * is) and WebSocket. Both go through a connection the worker opens inside
 * the sandbox (upstream.h); /json/version answers pass through with their
 * webSocketDebuggerUrl pointed back at mcpbox, so Playwright's
 * connectOverCDP and Puppeteer work with an http:// or ws:// endpoint alike.
 */
#include "browser.h"
#include "http1.h"
#include "proxy.h"
#include "upstream.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../sessions/sandbox.h"
#include "../transport/http.h"
#include "../vnc/display.h"
#include "../vnc/server.h"
#include "../vnc/web.h"

#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "../server/base/banned.h"

#define CHROMIUM "/usr/bin/chromium"
#define FETCH_MAX (256u << 10)
#define FETCH_TIMEOUT_MS 5000
#define PROBE_EVERY_MS 200
#define KEEP_DISPLAY_MS 30000	/* a running browser keeps its display from idling */
#define PROFILE_DIR "/tmp/mcpbox-browser"
#define LOG_FILE PROFILE_DIR "/chromium.log"
#define SEE_LOG "; its messages are in " LOG_FILE " inside the session"

/* ---- a small HTTP client over upstream connections ---- */

typedef void (*fetch_cb)(void *arg, int status, const char *body, size_t len, struct err *err);

struct fetch {
	struct px_up *up;
	struct buf req, in;
	fetch_cb cb;
	void *arg;
};

/* Parse the answer in f->in: 1 once it is complete (with eof: whatever body
   came; else all of its Content-Length), 0 while more is needed, -1 when it
   is malformed (or cut short). The body is at f->in.data + *used. */
static int fetch_parse(struct fetch *f, bool eof, struct px_head *h, long *used, size_t *blen)
{
	*used = px_head_parse(f->in.data, f->in.len, h);
	if (*used < 0 || (*used == 0 && eof))
		return -1;
	if (*used == 0)
		return 0;
	*blen = f->in.len - (size_t)*used;
	if (h->length >= 0 && *blen >= (size_t)h->length) {
		*blen = (size_t)h->length;
		return 1;
	}
	return eof ? (h->length < 0 ? 1 : -1) : 0;
}

/* Chromium's DevTools server keeps a connection open after its answer: an
   answer is complete with its Content-Length, or when the server closes. */
static void fetch_finish(struct fetch *f, bool eof, struct err *e)
{
	struct px_head h = { 0 };
	size_t blen = 0;
	long used = 0;
	int done = e ? -1 : fetch_parse(f, eof, &h, &used, &blen);

	if (!done) {
		px_head_release(&h);
		return;
	}
	px_up_close(f->up);
	if (!e && done < 0)
		err_setc(&e, ERR_UNAVAILABLE, 0, "the browser sent no valid HTTP answer");
	if (e)
		f->cb(f->arg, 0, NULL, 0, e);
	else
		f->cb(f->arg, h.status, f->in.data + used, blen, NULL);
	px_head_release(&h);
	buf_release(&f->req);
	buf_release(&f->in);
	free(f);
}

static void fetch_connected(void *arg, struct err *e)
{
	struct fetch *f = arg;
	if (e) {
		fetch_finish(f, true, e);
		return;
	}
	px_up_write(f->up, f->req.data, f->req.len);
	px_up_timeout(f->up, FETCH_TIMEOUT_MS);
}

static void fetch_data(void *arg, char *p, size_t n)
{
	struct fetch *f = arg;
	struct err *e = NULL;

	if (f->in.len + n > FETCH_MAX)
		err_setc(&e, ERR_LIMIT, 0, "the browser's answer is over %u bytes", FETCH_MAX);
	else
		buf_add(&f->in, p, n);
	fetch_finish(f, false, e);
}

static void fetch_ended(void *arg, struct err *e)
{
	fetch_finish(arg, true, e);
}

static const struct px_up_ops fetch_ops = { .connected = fetch_connected, .data = fetch_data, .ended = fetch_ended };

/* method path on the browser's DevTools port; cb once (never from inside this call). */
static int fetch(struct sess_session *s, const char *method, const char *path, fetch_cb cb, void *arg,
		 struct err **errp)
{
	struct fetch *f = xcalloc(1, sizeof(*f));
	buf_addf(&f->req, "%s %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n", method, path, PX_BROWSER_PORT);
	f->cb = cb;
	f->arg = arg;
	f->up = px_up_open(s, PX_BROWSER_PORT, &fetch_ops, f, errp);
	if (!f->up) {
		buf_release(&f->req);
		free(f);
		return -1;
	}
	return 0;
}

/* ---- the browsers ---- */

enum bstate { B_DISPLAY, B_STARTING, B_READY, B_STOPPED };

struct waiter {
	px_browser_cb cb;
	void *arg;
	struct waiter *next;
};

struct browser {
	char sid[64];
	enum bstate state;
	struct sess_worker *worker;	/* whose sandbox it runs in */
	uint64_t exec_id;
	bool running;			/* the program has not exited */
	char ws_path[160];
	char *url;
	uint64_t started_ms;
	uint64_t gen;
	uv_timer_t *probe;		/* start: probes; running: keeps the display up */
	bool probing;			/* a probe's fetch holds b */
	bool display_wait;		/* vnc_display_ensure holds b */
	struct waiter *waiters;
	struct browser *next;
};

static struct browser *browsers;
static uint64_t browser_gen;
static bool shutting;

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

/* Forget the browsers of sessions that are gone, once nothing holds them. */
static void sweep_gone(void)
{
	for (struct browser **pp = &browsers; *pp;) {
		struct browser *b = *pp;
		if (b->state != B_STOPPED || b->probing || b->display_wait || b->waiters ||
		    (!shutting && px_session(b->sid))) {
			pp = &b->next;
			continue;
		}
		*pp = b->next;
		if (b->probe)
			uv_close((uv_handle_t *)b->probe, timer_closed);
		free(b->url);
		free(b);
	}
}

static struct browser *browser_of(const char *sid, bool create)
{
	for (struct browser *b = browsers; b; b = b->next)
		if (!strcmp(b->sid, sid))
			return b;
	if (!create)
		return NULL;
	sweep_gone();
	struct browser *b = xcalloc(1, sizeof(*b));
	snprintf(b->sid, sizeof(b->sid), "%s", sid);
	b->state = B_STOPPED;
	b->next = browsers;
	browsers = b;
	return b;
}

static void run_waiters(struct browser *b, const char *why)
{
	while (b->waiters) {
		struct waiter *w = b->waiters;
		struct err *e = NULL;
		b->waiters = w->next;
		if (why)
			err_setc(&e, ERR_UNAVAILABLE, 0, "browser: %s", why);
		w->cb(w->arg, e);
		free(w);
	}
}

static void stop(struct browser *b, const char *why)
{
	if (b->probe)
		uv_timer_stop(b->probe);
	if (b->running && b->worker) {
		struct sess_session *s = px_session(b->sid);
		if (s && s->worker == b->worker)
			sess_worker_kill(b->worker, b->exec_id, SIGKILL, NULL);
	}
	b->state = B_STOPPED;
	log_info("browser of session %s stopped: %s", b->sid, why);
	run_waiters(b, why);
}

static void exited(void *arg, uint64_t exec_id, const struct sess_exit *ex)
{
	for (struct browser *b = browsers; b; b = b->next)
		if (b->running && b->exec_id == exec_id && (uintptr_t)arg == (uintptr_t)b->gen) {
			b->running = false;
			if (b->state != B_STOPPED)
				stop(b, "Chromium exited" SEE_LOG);
			return;
		}
}

static void probe_start(struct browser *b);
static void keep_display(uv_timer_t *t);

/* /json/version answered: the browser's WebSocket path is in it. */
static void probe_done(void *arg, int status, const char *body, size_t len, struct err *e)
{
	struct browser *b = arg;
	json_t *j = NULL;
	const char *u, *p;

	b->probing = false;
	if (b->state != B_STARTING) {
		err_free(e);
		sweep_gone(); /* b may go */
		return;
	}
	if (!e && status == 200 && (j = json_loadb(body, len, 0, NULL)) &&
	    (u = json_string_value(json_object_get(j, "webSocketDebuggerUrl"))) &&
	    (p = strstr(u, "/devtools/browser/")) && strlen(p) < sizeof(b->ws_path)) {
		bool ok = true;
		for (const char *c = p; *c; c++)
			ok &= isalnum((unsigned char)*c) || *c == '/' || *c == '-';
		if (ok) {
			snprintf(b->ws_path, sizeof(b->ws_path), "%s", p);
			b->state = B_READY;
			uv_timer_start(b->probe, keep_display, KEEP_DISPLAY_MS, KEEP_DISPLAY_MS);
			log_info("browser of session %s ready in %llu ms", b->sid,
				 (unsigned long long)(now_ms() - b->started_ms));
			json_decref(j);
			run_waiters(b, NULL);
			return;
		}
	}
	json_decref(j);
	err_free(e);
	if (now_ms() - b->started_ms > PX_BROWSER_START_MS) {
		stop(b, "Chromium did not open its DevTools in time" SEE_LOG);
		return;
	}
	probe_start(b);
}

static void keep_display(uv_timer_t *t)
{
	struct browser *b = t->data;
	struct sess_session *s = px_session(b->sid);
	struct vnc_display *d;

	if (!s || s->worker != b->worker) {
		b->running = false; /* with its sandbox */
		stop(b, "the session's sandbox is gone");
		return;
	}
	if ((d = vnc_display_find(s->id, NULL)))
		vnc_display_touch(d);
}

static void probe_tick(uv_timer_t *t)
{
	struct browser *b = t->data;
	struct sess_session *s = px_session(b->sid);
	struct err *e = NULL;

	if (b->state != B_STARTING)
		return;
	if (!s || s->worker != b->worker) {
		stop(b, "the session's sandbox is gone");
		return;
	}
	if (fetch(s, "GET", "/json/version", probe_done, b, &e) < 0) {
		stop(b, err_text(e));
		err_free(e);
		return;
	}
	b->probing = true;
}

static void probe_start(struct browser *b)
{
	if (!b->probe) {
		b->probe = xcalloc(1, sizeof(*b->probe));
		uv_timer_init(uv_default_loop(), b->probe);
		b->probe->data = b;
	}
	uv_timer_start(b->probe, probe_tick, PROBE_EVERY_MS, 0);
}

static void spawn(struct browser *b, struct sess_session *s)
{
	static const char *const env[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" PROFILE_DIR, "LANG=C.UTF-8", "TMPDIR=/tmp",
		"DISPLAY=:0", "XDG_CONFIG_HOME=" PROFILE_DIR "/.config", "XDG_CACHE_HOME=" PROFILE_DIR "/.cache",
		NULL,
	};
	char port[48], size[48];
	int w = VNC_DEFAULT_W, h = VNC_DEFAULT_H;
	struct vnc_display *d = vnc_display_find(s->id, NULL);
	struct err *e = NULL;

	if (d)
		vnc_display_size(d, &w, &h);
	snprintf(port, sizeof(port), "--remote-debugging-port=%d", PX_BROWSER_PORT);
	snprintf(size, sizeof(size), "--window-size=%d,%d", w, h);
	/* Chromium's stderr goes to a file the agent can read: why it failed to start */
	const char *argv[] = {
		"/bin/sh", "-c", "mkdir -p " PROFILE_DIR " && exec \"$0\" \"$@\" 2>>" LOG_FILE,
		CHROMIUM, "--no-sandbox", port, "--remote-debugging-address=127.0.0.1",
		"--user-data-dir=" PROFILE_DIR "/profile", "--no-first-run", "--no-default-browser-check",
		"--password-store=basic", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--window-position=0,0", size,
		b->url ? b->url : "about:blank", NULL,
	};
	struct sess_spawn sp = {
		.argv = argv,
		.envp = env,
		.cwd = "/tmp",
		.fds = { -1, -1, -1 },
		.nfds = 3,
		.limits = s->limits,
	};
	/* Chromium reserves tens of GiB of address space up front: an RLIMIT_AS
	   (the memory bound where there is no memory cgroup) stops it at once.
	   There, each of its processes gets the session's memory as RLIMIT_DATA
	   instead (what it writes, not what it reserves), so a page that
	   allocates without end fails in its renderer, not on the host. With a
	   memory cgroup the limit is not an rlimit and holds as ever. */
	sp.limits.data_bytes = sp.limits.memory_bytes;
	sp.limits.memory_bytes = 0;
	sp.limits.cpu_seconds = 0;
	b->started_ms = now_ms();
	b->gen = ++browser_gen; /* tells this start's exit from an older one's */
	if (sess_worker_spawn(s->worker, &sp, exited, (void *)(uintptr_t)b->gen, &b->exec_id, &e) < 0) {
		stop(b, err_text(e));
		err_free(e);
		return;
	}
	b->running = true;
	b->worker = s->worker;
	b->state = B_STARTING;
	probe_start(b);
}

static void display_ready(void *arg, struct vnc_display *d, struct err *err)
{
	struct browser *b = arg;
	struct sess_session *s = px_session(b->sid);

	b->display_wait = false;
	if (b->state != B_DISPLAY) {
		err_free(err);
		sweep_gone(); /* b may go */
		return;
	}
	if (err || !s || s->state != SESS_RUNNING) {
		stop(b, err ? err_text(err) : "the session is not running");
		err_free(err);
		return;
	}
	spawn(b, s);
}

struct newtab {
	px_browser_cb cb;
	void *arg;
};

static void newtab_done(void *arg, int status, const char *body, size_t len, struct err *e)
{
	struct newtab *t = arg;
	if (!e && status != 200)
		err_setc(&e, ERR_UNAVAILABLE, 0, "the browser refused to open the page (HTTP %d)", status);
	t->cb(t->arg, e);
	free(t);
}

void px_browser_ensure(struct sess_session *s, const char *url, px_browser_cb cb, void *arg)
{
	struct browser *b = browser_of(s->id, true);
	struct waiter *w;
	struct err *e = NULL;

	if (b->state != B_STOPPED && b->worker && b->worker != s->worker)
		stop(b, "the session's sandbox was replaced");
	if (b->state == B_READY && url) {
		/* a running browser: the page opens in a new tab */
		struct newtab *t = xcalloc(1, sizeof(*t));
		struct buf p = BUF_INIT;
		t->cb = cb;
		t->arg = arg;
		buf_adds(&p, "/json/new?");
		tp_url_encode(&p, url, ":/?#[]@!$&'()*+,;=%");
		if (fetch(s, "PUT", p.data, newtab_done, t, &e) < 0) {
			free(t);
			cb(arg, e);
		}
		buf_release(&p);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	w->next = b->waiters;
	b->waiters = w;
	if (b->state == B_READY) {
		run_waiters(b, NULL);
		return;
	}
	if (b->state != B_STOPPED)
		return;
	free(b->url);
	b->url = url ? xstrdup(url) : NULL;
	b->state = B_DISPLAY;
	b->worker = s->worker;
	b->display_wait = true;
	vnc_display_ensure(s, display_ready, b);
}

void px_browser_shutdown(void)
{
	shutting = true;
	for (struct browser *b = browsers; b; b = b->next)
		if (b->state != B_STOPPED)
			stop(b, "the server is shutting down");
	sweep_gone(); /* what a probe or a display start still holds goes when they answer */
}

void px_browser_cancel(void *arg)
{
	for (struct browser *b = browsers; b; b = b->next)
		for (struct waiter **pp = &b->waiters; *pp;) {
			struct waiter *w = *pp;
			if (w->arg == arg) {
				*pp = w->next;
				free(w);
			} else {
				pp = &w->next;
			}
		}
}

bool px_browser_port_is(struct sess_session *s, unsigned port)
{
	return port == PX_BROWSER_PORT && browser_of(s->id, false);
}

static bool live(struct browser *b, struct sess_session *s)
{
	return b && b->state == B_READY && b->worker == s->worker && s->worker;
}

const char *px_browser_ws_path(struct sess_session *s)
{
	struct browser *b = browser_of(s->id, false);
	return live(b, s) ? b->ws_path : NULL;
}

const char *px_browser_cdp_url(struct sess_session *s)
{
	static struct buf url;
	const char *base = px_http_base();

	if (!base || strncmp(base, "http://", 7))
		return NULL;
	buf_reset(&url);
	buf_addf(&url, "ws://%s/sessions/%s/cdp?token=%s", base + 7, s->id, vnc_token_get(s->id, s->owner, true));
	return url.data;
}

json_t *px_browser_json(struct sess_session *s)
{
	static const char *const names[] = { "starting", "starting", "running", "stopped" };
	struct browser *b = browser_of(s->id, false);

	if (!b)
		return NULL;
	return json_pack("{s:s}", "status", live(b, s) || b->state != B_READY ? names[b->state] : "stopped");
}

/* ---- the CDP routes ---- */

/* The token of a CDP request: ?token=, where a client that appended
   "/json/version" to the whole URL put it after the token. */
static void cdp_token(struct tp_req *r, char *token, size_t cap, char *suffix, size_t scap)
{
	char *slash;

	suffix[0] = '\0';
	if (tp_req_query(r, "token", token, cap) < 0)
		token[0] = '\0';
	if ((slash = strchr(token, '/'))) {
		*slash = '\0';
		snprintf(suffix, scap, "%s", slash + 1);
	}
}

struct cdpws {
	struct px_wsp *p;
	char sid[64];
};

static int cdpws_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	const char *sid = tp_req_param(r, "id");
	char token[256], suffix[64];
	bool control = false;
	struct sess_session *s;
	int status = 0;

	cdp_token(r, token, sizeof(token), suffix, sizeof(suffix));
	*why = "Not found";
	if (!vnc_web_id_valid(sid) || !(s = px_session(sid)))
		return 404;
	if (!px_allowed(r, sid, token, &control) || !control) {
		*why = "Unauthorized: the session's key or a control token is needed";
		return 401;
	}
	if (s->state != SESS_RUNNING) {
		*why = "Conflict: the session is not running";
		return 409;
	}
	struct cdpws *c = xcalloc(1, sizeof(*c));
	c->p = px_wsp_new(sid, &status, why);
	if (!c->p) {
		free(c);
		return status;
	}
	snprintf(c->sid, sizeof(c->sid), "%s", sid);
	*user = c;
	return 0;
}

static void cdpws_ready(void *arg, struct err *e)
{
	struct cdpws *c = arg;
	struct sess_session *s = px_session(c->sid);
	const char *path = s && !e ? px_browser_ws_path(s) : NULL;

	if (!path) {
		px_wsp_fail(c->p, e ? err_text(e) : "the browser is not running");
		err_free(e);
		return;
	}
	px_wsp_connect(c->p, PX_BROWSER_PORT, path);
}

static int cdpws_open(struct tp_ws *ws, void *user)
{
	struct cdpws *c = user;
	struct sess_session *s = px_session(c->sid);

	px_wsp_attach(c->p, ws);
	if (!s)
		return -1;
	/* the browser starts on the first connection, as the display on the first screenshot */
	px_browser_ensure(s, NULL, cdpws_ready, c);
	return 0;
}

static void cdpws_receive(void *user, const void *data, size_t len)
{
	struct cdpws *c = user;
	px_wsp_receive(c->p, data, len);
}

static void cdpws_drained(void *user)
{
	struct cdpws *c = user;
	px_wsp_drained(c->p);
}

static void cdpws_closed(void *user)
{
	struct cdpws *c = user;
	px_browser_cancel(c);
	px_wsp_closed(c->p);
	free(c);
}

static const struct tp_ws_ops cdpws_route = {
	.accept = cdpws_accept,
	.open = cdpws_open,
	.receive = cdpws_receive,
	.drained = cdpws_drained,
	.closed = cdpws_closed,
};

/* GET /sessions/{id}/cdp/json/version: the browser's, with its WebSocket pointed at us. */
struct cdpver {
	struct tp_req *r;
	char sid[64];
	char host[256];
	char token[128];
};

static void cdpver_fetched(void *arg, int status, const char *body, size_t len, struct err *e)
{
	struct cdpver *v = arg;
	json_t *j = e || status != 200 ? NULL : json_loadb(body, len, 0, NULL);

	if (!json_is_object(j)) {
		px_send_error(v->r, 502, e ? err_text(e) : "Bad Gateway: the browser's /json/version is not JSON");
	} else {
		struct buf u = BUF_INIT;
		buf_addf(&u, "ws://%s/sessions/%s/cdp?token=%s", v->host, v->sid, v->token);
		json_object_set_new(j, "webSocketDebuggerUrl", json_string(u.data));
		buf_release(&u);
		tp_req_json(v->r, 200, j);
		j = NULL;
	}
	json_decref(j);
	err_free(e);
	free(v);
}

static void cdpver_ready(void *arg, struct err *e)
{
	struct cdpver *v = arg;
	struct sess_session *s = px_session(v->sid);

	if (!e && !s)
		err_setc(&e, ERR_NOT_FOUND, 0, "the session is gone");
	if (e || fetch(s, "GET", "/json/version", cdpver_fetched, v, &e) < 0) {
		px_send_error(v->r, 502, err_text(e));
		err_free(e);
		free(v);
	}
}

static void serve_cdp_http(struct tp_req *r, void *arg)
{
	const char *sid = tp_req_param(r, "id"), *rest = tp_req_param(r, "rest");
	char token[256], suffix[64];
	bool control = false;
	struct sess_session *s;

	cdp_token(r, token, sizeof(token), suffix, sizeof(suffix));
	if (!rest)
		rest = suffix;
	if (!vnc_web_id_valid(sid) || !(s = px_session(sid))) {
		px_send_error(r, 404, "Not found");
		return;
	}
	if (!px_allowed(r, sid, token, &control) || !control) {
		px_send_error(r, 401, "Unauthorized: the session's key or a control token is needed");
		return;
	}
	if (strcmp(rest, "json/version") && strcmp(rest, "json/version/")) {
		px_send_error(r, 404, "Not found: /json/version is served here; CDP itself is the WebSocket at this URL");
		return;
	}
	if (s->state != SESS_RUNNING) {
		px_send_error(r, 409, "Conflict: the session is not running");
		return;
	}
	struct cdpver *v = xcalloc(1, sizeof(*v));
	v->r = r;
	snprintf(v->sid, sizeof(v->sid), "%s", sid);
	/* the address the client used (checked: it goes into a URL) */
	if (tp_req_header(r, "host", v->host, sizeof(v->host)) < 0 || strspn(v->host,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(v->host) || !v->host[0])
		snprintf(v->host, sizeof(v->host), "%s", px_http_base() ? px_http_base() + 7 : "127.0.0.1");
	snprintf(v->token, sizeof(v->token), "%s", vnc_token_get(s->id, s->owner, true));
	px_browser_ensure(s, NULL, cdpver_ready, v);
}

void px_browser_routes(void)
{
	tp_http_route(TP_GET, "/sessions/{id}/cdp", serve_cdp_http, NULL);
	tp_http_route(TP_GET, "/sessions/{id}/cdp/{rest*}", serve_cdp_http, NULL);
	tp_ws_route("/sessions/{id}/cdp", &cdpws_route, NULL);
}
