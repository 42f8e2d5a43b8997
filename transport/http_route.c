/*
 * transport/http_route.c — the route table (transport/http.h): everything on
 * the port that is not MCP. A request is matched at its headers; a body,
 * if any, is collected under the transport's limits; the route then owns
 * the request until it answers (tp_req_send/json/end), and its stream keeps
 * the answer alive if the client leaves. WebSocket routes get the upgrade
 * as a request, then a connection with a bounded send queue.
 */
#include "http_int.h"
#include "../server/base/common.h"
#include "../server/base/json_out.h"
#include "../server/base/log.h"
#include "../server/base/offload.h"

#include <assert.h>
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/base/banned.h"

struct route {
	unsigned methods;		/* enum tp_method; 0 for a WebSocket route */
	bool streamed;			/* takes its body as it arrives (tp_http_route_streamed) */
	char *pattern;
	tp_route_fn fn;
	const struct tp_ws_ops *ws;
	void *arg;
	struct route *next;
};
static struct route *routes, **routes_tail = &routes;
static LIST_HEAD(, tp_req) pending = LIST_HEAD_INITIALIZER(pending);

struct tp_req {
	const struct route *route;
	LIST_ENTRY(tp_req) link;	/* in pending while a route owns it */
	struct stream *st;		/* the answer; NULL for a WebSocket upgrade */
	struct lws *upgrade;		/* the upgrading connection (during accept only) */
	char *upgrade_key;		/* the key its accept authenticated with (tp_req_authenticate), or NULL */
	enum tp_method method;
	char *path;
	struct tp_match match;
	bool path_known;		/* an earlier route serves this path with other methods */
	struct buf body;
	void (*on_gone)(void *arg);
	void *gone_arg;
	/* a streamed route's body (tp_req_read_body) */
	struct pss *body_pss;		/* the connection it arrives on, while it does */
	const struct tp_body_ops *body_ops;
	void *body_arg;
	uint64_t body_got;		/* bytes handed to the route */
	bool body_ended;		/* ops->end ran (or the route answered) */
	bool body_paused;		/* tp_req_pause_body(true) */
	bool chunked;			/* its body is sent chunked (no Content-Length) */
	struct body_json *json;		/* a large body's JSON, parsed off the loop before the route ran */
	char *fair;			/* whom its work off the loop is for (req_fair) */
};

/*
 * A large body parsed as every route might read it (tp_req_body_json): one
 * slot per combination of JSON_REJECT_DUPLICATES (1) and JSON_DECODE_ANY (2),
 * each json_loadb's value or error with those flags, and for a body that
 * starts with a UTF-8 byte-order mark what follows the mark
 * (TP_JSON_AFTER_BOM, with JSON_DECODE_ANY). Slots parsed alike share their
 * value.
 */
#define BODY_DUPS 1
#define BODY_ANY 2
#define BODY_BOM 4
struct body_json {
	json_t *v[5];
	json_error_t e[5];
};
#define BOM "\xef\xbb\xbf"

/* A WebSocket a route accepted. */
struct tp_ws {
	struct wsc *c;			/* NULL before it opens and once it is gone */
	const struct tp_ws_ops *ops;
	void *user;
	char *key;			/* the credential the route took, re-checked on every piece; NULL: none */
	bool final, binary;		/* the piece being received */
};
/* A route gets a message in pieces and bounds what it keeps of it itself. */
#define WS_ROUTE_MESSAGE_MAX UINT64_MAX

static struct route *route_add(unsigned methods, const char *pattern, tp_route_fn fn, const struct tp_ws_ops *ws,
			       void *arg)
{
	assert(tp_pattern_valid(pattern));
	struct route *r = xcalloc(1, sizeof(*r));
	r->methods = methods;
	r->pattern = xstrdup(pattern);
	r->fn = fn;
	r->ws = ws;
	r->arg = arg;
	*routes_tail = r;
	routes_tail = &r->next;
	return r;
}

void tp_http_route(unsigned methods, const char *pattern, tp_route_fn fn, void *arg)
{
	route_add(methods, pattern, fn, NULL, arg);
}

void tp_http_route_streamed(unsigned methods, const char *pattern, tp_route_fn fn, void *arg)
{
	route_add(methods, pattern, fn, NULL, arg)->streamed = true;
}

uint64_t tp_http_max_upload(void)
{
	return H.o.max_upload;
}

void tp_ws_route(const char *pattern, const struct tp_ws_ops *ops, void *arg)
{
	route_add(0, pattern, NULL, ops, arg);
}

/* ---- static files ---- */

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

static void static_not_found(struct tp_req *r, const char *msg)
{
	tp_req_json(r, 404, json_pack("{s:{s:i, s:s}}", "error", "code", 404, "message", msg));
}

static void serve_static(struct tp_req *r, void *arg)
{
	const struct tp_static *files = arg;
	const char *rel = tp_req_param(r, "file");
	char path[512];
	struct stat st;
	auto_close int fd = -1;
	size_t got = 0;

	for (const char *c = rel; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-/", *c)) {
			static_not_found(r, "Not found");
			return;
		}
	if (!*rel || strstr(rel, "..") || snprintf(path, sizeof(path), "%s/%s", files->dir, rel) >= (int)sizeof(path) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		static_not_found(r, files->missing);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > TP_STATIC_FILE_MAX) {
		static_not_found(r, "Not found");
		return;
	}
	char *data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	tp_req_send(r, 200, mime_of(path), data, got);
	free(data);
}

void tp_http_static(const char *pattern, const struct tp_static *files)
{
	tp_http_route(TP_GET, pattern, serve_static, (void *)files);
}

/*
 * lws does not read a connection while a request on it waits for its answer,
 * so a client that left is only noticed at the next write, or after lws'
 * timeout. Peek at the sockets of unanswered requests now and then (the
 * transport's hang-up timer) and close the ones at EOF: the route hears of it
 * (tp_req_on_gone) and can cancel its work.
 */
void http_routes_hangup(void)
{
	struct tp_req *r;
	LIST_FOREACH(r, &pending, link) {
		char c;
		struct lws *wsi = r->st->wsi;
		int fd = wsi ? (int)lws_get_socket_fd(wsi) : -1;
		if (fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	}
}

void http_routes_free(void)
{
	while (routes) {
		struct route *r = routes;
		routes = r->next;
		free(r->pattern);
		free(r);
	}
	routes_tail = &routes;
}

static enum tp_method method_of(int m)
{
	switch (m) {
	case LWSHUMETH_GET: return TP_GET;
	case LWSHUMETH_POST: return TP_POST;
	case LWSHUMETH_PUT: return TP_PUT;
	case LWSHUMETH_PATCH: return TP_PATCH;
	case LWSHUMETH_DELETE: return TP_DELETE;
	default: return 0;
	}
}

/*
 * The route for path and method (m filled), NULL if none; *other tells
 * whether the path matched a route for other methods (405 then).
 */
static const struct route *route_find(const char *path, unsigned method, bool ws, struct tp_match *m, bool *other)
{
	*other = false;
	for (const struct route *r = routes; r; r = r->next) {
		if (!!r->ws != ws || !tp_route_match(r->pattern, path, m))
			continue;
		if (ws || (r->methods & method))
			return r;
		*other = true;
	}
	return NULL;
}

static struct lws *req_wsi(const struct tp_req *r)
{
	return r->st ? r->st->wsi : r->upgrade;
}

static struct tp_req *req_new(const struct route *rt, struct stream *st, struct lws *upgrade, enum tp_method method,
			      const char *path, const struct tp_match *m)
{
	struct tp_req *r = xcalloc(1, sizeof(*r));
	r->route = rt;
	r->st = st;
	r->upgrade = upgrade;
	r->method = method;
	r->path = xstrdup(path);
	r->match = *m;
	if (st) {
		st->req = r;
		st->engine_done = false; /* kept until the route finishes */
		H.reqs++;
		LIST_INSERT_HEAD(&pending, r, link);
	}
	return r;
}

static void body_json_free(void *arg)
{
	struct body_json *b = arg;
	for (size_t k = 0; k < ARRAY_SIZE(b->v); k++)
		json_decref(b->v[k]);
	free(b);
}

static void req_free(struct tp_req *r)
{
	if (r->body_pss) {
		/* answered before its body ended: the rest is read and dropped */
		struct pss *p = r->body_pss;
		p->req = NULL;
		p->rejected = true;
		if (r->st)
			r->st->body_unread = true;
		if (r->body_paused && r->st && r->st->wsi)
			lws_rx_flow_control(r->st->wsi, 1);
	}
	if (r->st)
		LIST_REMOVE(r, link);
	if (r->json && !srv_offload_run(r->fair, body_json_free, NULL, r->json))
		body_json_free(r->json);
	buf_release(&r->body);
	free(r->fair);
	free(r->upgrade_key);
	free(r->path);
	free(r);
}

/* The route is done with r: the answer is queued, the stream may go. */
static void req_finish(struct tp_req *r)
{
	struct stream *st = r->st;
	assert(st && st->req == r);
	st->req = NULL;
	st->on_written = NULL; /* the route is done with the stream */
	st->finished = true;
	st->engine_done = true;
	H.reqs--;
	http_stream_kick(st);
	req_free(r);
	if (!st->in_gone)
		http_stream_maybe_free(st);
}

/* The client left before the route finished: tell it (once). */
void http_req_gone(struct tp_req *r)
{
	void (*fn)(void *) = r->on_gone;
	r->on_gone = NULL;
	if (fn)
		fn(r->gone_arg);
}

/* A request whose body never completed: the route never saw it. */
void http_req_abandon(struct pss *p)
{
	struct tp_req *r = p->req;
	p->req = NULL;
	r->st->req = NULL;
	r->st->engine_done = true;
	H.reqs--;
	req_free(r);
}

/* ---- streamed bodies ---- */

bool http_req_streaming(const struct tp_req *r)
{
	return r->body_pss != NULL;
}

/* Body bytes for r: to the route (false once it answered, or its body ended). */
static bool body_deliver(struct pss *p, struct tp_req *r, const void *in, size_t len)
{
	if (!r->body_ops) {
		/* fn neither answered nor took the body: a route's bug, answered for it */
		log_warn("http: %s took neither its body nor answered", r->path);
		r->body_ended = true;
		tp_req_json(r, 500, json_pack("{s:s}", "detail", "the route did not read its body"));
		return false;
	}
	if (r->body_got + len > H.o.max_upload) {
		r->body_ended = true;
		r->body_ops->end(r->body_arg, TP_BODY_TOO_LARGE);
		return false;
	}
	r->body_got += len;
	r->body_ops->data(r->body_arg, in, len); /* may answer, and so free r */
	return p->req == r && !r->body_ended;
}

void http_req_body_piece(struct pss *p, const void *in, size_t len)
{
	struct tp_req *r = p->req;
	if (r->body_ended)
		return;
	if (!p->chunked) {
		body_deliver(p, r, in, len);
		return;
	}
	/* lws hands the chunked body over raw: its pieces are what the framing carries */
	const char *at = in, *data;
	size_t n;
	for (;;) {
		switch (tp_chunked_next(&p->dechunk, &at, &len, &data, &n)) {
		case TP_CHUNKED_DATA:
			if (!body_deliver(p, r, data, n))
				return;
			continue;
		case TP_CHUNKED_MORE:
			return;
		case TP_CHUNKED_END:
			http_req_body_end(p, TP_BODY_COMPLETE);
			return;
		case TP_CHUNKED_BAD:
			/* a framing that cannot be trusted: nothing more of it is read (the connection closes after the answer) */
			log_debug("http: %s: malformed chunked body", r->path);
			http_req_body_end(p, TP_BODY_MALFORMED);
			return;
		}
	}
}

void http_req_body_end(struct pss *p, enum tp_body_end how)
{
	struct tp_req *r = p->req;
	/* the body is over: the request is the route's alone now */
	p->req = NULL;
	p->rejected = true; /* what may follow is no part of it */
	r->body_pss = NULL;
	if (how != TP_BODY_COMPLETE)
		r->st->body_unread = true;
	if (r->body_paused && how != TP_BODY_GONE && r->st->wsi)
		lws_rx_flow_control(r->st->wsi, 1);
	r->body_paused = false;
	if (r->body_ended || !r->body_ops)
		return;
	r->body_ended = true;
	r->body_ops->end(r->body_arg, how);
}

int tp_req_read_body(struct tp_req *r, const struct tp_body_ops *ops, void *arg)
{
	char clen[32];
	struct lws *wsi = r->st ? r->st->wsi : NULL;
	assert(r->route->streamed && !r->body_ops);
	char te[64];
	if (wsi && http_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen)) == 0 &&
	    strtoull(clen, NULL, 10) > H.o.max_upload)
		return TP_BODY_TOO_LARGE;
	/* a chunked body is read (http_route_request); a coding besides chunked is not */
	if (!r->body_pss && wsi && http_hdr(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof(te)) == 0)
		return TP_BODY_UNSIZED;
	r->body_ops = ops;
	r->body_arg = arg;
	/* no body at all: it ends as soon as fn returns (http_route_request) */
	if (r->body_pss && wsi)
		http_continue(wsi);
	return 0;
}

void tp_req_pause_body(struct tp_req *r, bool paused)
{
	if (!r->body_pss || r->body_paused == paused)
		return;
	r->body_paused = paused;
	if (r->st && r->st->wsi)
		lws_rx_flow_control(r->st->wsi, paused ? 0 : 1);
}

/*
 * Who r's work off the loop is for (the fair queue's principal, base/pool.h):
 * the principal the route authenticated, else the one its usual credential
 * names, else "unauthenticated": requests no credential vouches for share one
 * turn, so that from however many addresses they come, they hold at most the
 * pool threads of one principal.
 */
static const char *req_fair(struct tp_req *r)
{
	char key[TP_KEY_MAX], who[PRINCIPAL_MAX];

	if (r->fair)
		return r->fair;
	tp_req_key(r, key, sizeof(key));
	r->fair = xstrdup(http_authenticate(key, who) ? who : "unauthenticated");
	return r->fair;
}

/* Set slots k of b (a mask of BODY_*) to what json_loadb(text, flags) gives. */
static void body_json_parse(struct body_json *b, const char *text, size_t len, size_t flags, unsigned mask)
{
	json_error_t e;
	json_t *v = json_loadb(text, len, flags, &e);

	for (unsigned k = 0; k < ARRAY_SIZE(b->v); k++)
		if (mask & (1u << k)) {
			b->v[k] = json_incref(v);
			b->e[k] = e;
		}
	json_decref(v);
}

/*
 * On a pool thread: parse r's body once or twice so that every slot holds
 * what json_loadb with its flags would. A text that opens an array or an
 * object reads the same with or without JSON_DECODE_ANY, and the same with
 * or without JSON_REJECT_DUPLICATES unless a duplicate key is what failed
 * it; a text that does not holds no object at its top, so only
 * JSON_DECODE_ANY decides (without it jansson stops after the first token).
 */
static void body_json_work(void *arg)
{
	struct tp_req *r = arg;
	struct body_json *b = r->json;
	const char *s = r->body.data;
	size_t n = r->body.len, i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	if (i < n && (s[i] == '{' || s[i] == '[')) {
		body_json_parse(b, s, n, JSON_REJECT_DUPLICATES, 1u << BODY_DUPS | 1u << (BODY_DUPS | BODY_ANY));
		if (!b->v[BODY_DUPS] && json_error_code(&b->e[BODY_DUPS]) == json_error_duplicate_key) {
			body_json_parse(b, s, n, 0, 1u << 0 | 1u << BODY_ANY);
		} else {
			for (unsigned k = 0; k <= BODY_ANY; k += BODY_ANY) {
				b->v[k] = json_incref(b->v[BODY_DUPS]);
				b->e[k] = b->e[BODY_DUPS];
			}
		}
	} else {
		body_json_parse(b, s, n, JSON_DECODE_ANY, 1u << BODY_ANY | 1u << (BODY_DUPS | BODY_ANY));
		body_json_parse(b, s, n, 0, 1u << 0 | 1u << BODY_DUPS);
	}
	if (n >= 3 && !memcmp(s, BOM, 3))
		body_json_parse(b, s + 3, n - 3, JSON_DECODE_ANY, 1u << BODY_BOM);
}

/* Hand r, its body complete (and parsed if large), to its route. */
static void req_route(void *arg)
{
	struct tp_req *r = arg;
	/* the body leaves the receiving budget: it is the route's now */
	H.receiving -= r->body.len;
	r->route->fn(r, r->route->arg);
}

/*
 * Hand a complete request to its route. A body of SRV_OFFLOAD_MIN bytes or
 * more is parsed first, off the loop in its sender's turn (req_fair): about
 * 15 ms per MB that every other client would wait for. Until then it still
 * counts in max_receiving, so bodies waiting for their turn are bounded with
 * the ones arriving.
 */
void http_req_dispatch(struct pss *p)
{
	struct tp_req *r = p->req;
	p->req = NULL;
	r->body = p->body;
	p->body = (struct buf)BUF_INIT;
	if (!r->body.data)
		buf_adds(&r->body, "");
	if (r->body.len >= SRV_OFFLOAD_MIN) {
		r->json = xcalloc(1, sizeof(*r->json));
		if (srv_offload_run(req_fair(r), body_json_work, req_route, r))
			return;
		free(r->json);
		r->json = NULL;
	}
	req_route(r);
}

enum tp_method tp_req_method(const struct tp_req *r)
{
	return r->method;
}

const char *tp_req_method_name(const struct tp_req *r)
{
	switch (r->method) {
	case TP_GET: return "GET";
	case TP_POST: return "POST";
	case TP_PUT: return "PUT";
	case TP_PATCH: return "PATCH";
	case TP_DELETE: return "DELETE";
	}
	return "?";
}

bool tp_req_path_known(const struct tp_req *r)
{
	return r->path_known;
}

const char *tp_req_path(const struct tp_req *r)
{
	return r->path;
}

const char *tp_req_param(const struct tp_req *r, const char *name)
{
	return tp_match_get(&r->match, name);
}

int tp_req_query(const struct tp_req *r, const char *name, char *out, size_t cap)
{
	char key[64];
	struct lws *wsi = req_wsi(r);

	out[0] = '\0';
	if (!wsi || snprintf(key, sizeof(key), "%s=", name) >= (int)sizeof(key))
		return -1;
	return http_urlarg(wsi, key, out, cap);
}

int tp_req_header(const struct tp_req *r, const char *name, char *out, size_t cap)
{
	char key[64];
	struct lws *wsi = req_wsi(r);
	size_t n = strlen(name);

	out[0] = '\0';
	if (!wsi || n + 2 > sizeof(key) || cap > INT_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)tolower((unsigned char)name[i]);
	key[n] = ':';
	key[n + 1] = '\0';
	/* headers lws knows are tokens; the rest are "custom" */
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const unsigned char *tn = lws_token_to_string((enum lws_token_indexes)t);
		if (tn && !strcmp((const char *)tn, key))
			return http_hdr(wsi, (enum lws_token_indexes)t, out, (int)cap);
	}
	return http_custom_hdr(wsi, key, out, (int)cap);
}

const char *tp_req_body(const struct tp_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

json_t *tp_req_body_json(const struct tp_req *r, size_t flags, json_error_t *e)
{
	json_error_t ignored;
	const char *text = r->body.data ? r->body.data : "";
	size_t len = r->body.len;
	bool bom = (flags & TP_JSON_AFTER_BOM) && len >= 3 && !memcmp(text, BOM, 3);

	if (!e)
		e = &ignored;
	flags &= ~(size_t)TP_JSON_AFTER_BOM;
	if (!r->json || (flags & ~(size_t)(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)) ||
	    (bom && flags != JSON_DECODE_ANY))
		return bom ? json_loadb(text + 3, len - 3, flags, e) : json_loadb(text, len, flags, e);
	unsigned k = bom ? BODY_BOM :
		     (flags & JSON_REJECT_DUPLICATES ? BODY_DUPS : 0) | (flags & JSON_DECODE_ANY ? BODY_ANY : 0);
	if (!r->json->v[k])
		*e = r->json->e[k];
	return json_incref(r->json->v[k]);
}

void tp_req_release_body(struct tp_req *r)
{
	if (r->body_pss || r->body_ops)
		return; /* a body still being received, or read in pieces by the route */
	if (r->json && !srv_offload_run(r->fair, body_json_free, NULL, r->json))
		body_json_free(r->json);
	r->json = NULL;
	buf_release(&r->body);
}

void tp_req_offload(struct tp_req *r, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	if (srv_offload_run(req_fair(r), work, done, arg))
		return;
	work(arg);
	if (done)
		done(arg);
}

void tp_req_key(const struct tp_req *r, char *out, size_t cap)
{
	struct lws *wsi = req_wsi(r);
	out[0] = '\0';
	if (wsi)
		http_find_key(wsi, out, cap, false);
}

void tp_req_link_key(const struct tp_req *r, char *out, size_t cap)
{
	struct lws *wsi = req_wsi(r);
	out[0] = '\0';
	if (wsi)
		http_find_key(wsi, out, cap, true);
}

int tp_req_authenticate(struct tp_req *r, const char *key, char *principal, size_t cap)
{
	char who[PRINCIPAL_MAX];
	struct lws *wsi = req_wsi(r);

	principal[0] = '\0';
	if (!http_authenticate(key, who) || strlen(who) >= cap)
		return 0;
	memcpy(principal, who, strlen(who) + 1);
	free(r->fair);
	r->fair = xstrdup(who);
	if (wsi)
		http_conn_authenticated(wsi);
	if (r->upgrade && key[0]) {
		free(r->upgrade_key);
		r->upgrade_key = xstrdup(key);
	}
	return 1;
}

void tp_req_peer(const struct tp_req *r, char *out, size_t cap)
{
	struct lws *wsi = req_wsi(r);

	out[0] = '\0';
	if (wsi && cap > 1 && !lws_get_peer_simple(wsi, out, cap))
		out[0] = '\0';
}

bool tp_req_gone(const struct tp_req *r)
{
	return !req_wsi(r);
}

void tp_req_on_gone(struct tp_req *r, void (*fn)(void *arg), void *arg)
{
	r->on_gone = fn;
	r->gone_arg = arg;
}

void tp_req_add_header(struct tp_req *r, const char *name, const char *value)
{
	if (r->st)
		http_stream_add_header(r->st, name, value);
}

void tp_req_rate_headers(struct tp_req *r, const struct srv_rate_verdict *v)
{
	if (r->st)
		http_stream_rate_headers(r->st, v);
}

bool tp_req_rate_refused(const struct tp_req *r)
{
	return r->st && r->st->has_rate && r->st->rate.refused;
}

void tp_req_send(struct tp_req *r, int status, const char *type, const void *body, size_t len)
{
	r->st->status = status;
	r->st->type = type;
	if (len)
		http_stream_queue(r->st, body, len);
	req_finish(r);
}

/* r's JSON answer is written (tp_req_json_as): it goes out as it was written, no copy. */
static void json_written(void *arg, struct buf *text, int rc)
{
	struct tp_req *r = arg;

	if (rc < 0) {
		log_error("http: an answer has no JSON text");
		r->st->status = 500;
		static const char fail[] = "{\"detail\":\"Internal Server Error\"}";
		http_stream_queue(r->st, fail, sizeof(fail) - 1);
	} else {
		http_stream_queue_buf(r->st, text, LWS_PRE);
	}
	req_finish(r);
}

void tp_req_json_as(struct tp_req *r, int status, json_t *body, srv_json_writer_fn write)
{
	r->st->status = status;
	r->st->type = NULL;
	/* the route is done with r: a client that leaves now only drops the answer */
	r->on_gone = NULL;
	/* whom a large one is written for (a small one is written here: no need to know) */
	const char *who = r->fair || !srv_json_size_reaches(body, SRV_OFFLOAD_MIN) ? r->fair : req_fair(r);
	if (srv_json_write_off_loop(who, body, LWS_PRE, write, json_written, r))
		return;
	struct buf b = BUF_INIT;
	int rc = srv_json_write_text(&b, LWS_PRE, body, write);
	json_decref(body);
	json_written(r, &b, rc);
	buf_release(&b);
}

void tp_req_json(struct tp_req *r, int status, json_t *body)
{
	tp_req_json_as(r, status, body, srv_json_write);
}

void tp_req_start(struct tp_req *r, int status, const char *type)
{
	r->st->status = status;
	r->st->type = type;
	r->st->sse = true; /* no length: the body ends with the connection's final write */
	http_stream_kick(r->st);
}

void tp_req_start_raw(struct tp_req *r, int status, const char *type, int64_t length)
{
	r->st->own_type = type ? xstrdup(type) : NULL;
	r->st->raw = true;
	r->st->length = length;
	tp_req_start(r, status, NULL);
}

size_t tp_req_queued(const struct tp_req *r)
{
	return r->st->out.len - LWS_PRE - r->st->sent;
}

void tp_req_on_written(struct tp_req *r, void (*fn)(void *arg), void *arg)
{
	r->st->on_written = fn;
	r->st->written_arg = arg;
}

static void add_encoded(struct buf *b, const char *s, size_t n, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalnum(c) || strchr("-._~", c) || (c && strchr(keep, c)))
			buf_add(b, &s[i], 1);
		else
			buf_addf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
}

void tp_url_encode(struct buf *b, const char *s, const char *keep)
{
	add_encoded(b, s, strlen(s), keep);
}

void tp_req_query_string(const struct tp_req *r, const char *const *drop, struct buf *out)
{
	struct lws *wsi = req_wsi(r);
	char frag[4096];
	bool first = true;
	int n;

	for (int i = 0; wsi && (n = lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i)) >= 0; i++) {
		const char *eq = strchr(frag, '=');
		size_t nl = eq ? (size_t)(eq - frag) : strlen(frag);
		bool skip = false;
		for (const char *const *d = drop; d && *d && !skip; d++)
			skip = strlen(*d) == nl && !memcmp(*d, frag, nl);
		if (skip || !frag[0])
			continue;
		buf_add(out, first ? "?" : "&", 1);
		first = false;
		add_encoded(out, frag, nl, "");
		if (eq) {
			buf_add(out, "=", 1);
			add_encoded(out, eq + 1, strlen(eq + 1), "");
		}
	}
}

void tp_req_write(struct tp_req *r, const void *data, size_t len)
{
	http_stream_queue(r->st, data, len);
}

void tp_req_end(struct tp_req *r)
{
	req_finish(r);
}

bool tp_ws_send_piece(struct tp_ws *ws, const void *data, size_t len, bool binary, bool final)
{
	return ws->c && wsc_send(ws->c, data, len, binary, final);
}

bool tp_ws_send(struct tp_ws *ws, const void *data, size_t len, bool binary)
{
	return tp_ws_send_piece(ws, data, len, binary, true);
}

void tp_ws_budget(struct tp_ws *ws, size_t bytes)
{
	if (ws->c)
		wsc_budget(ws->c, bytes);
}

void tp_ws_piece(const struct tp_ws *ws, bool *final, bool *binary)
{
	*final = ws->final;
	*binary = ws->binary;
}

size_t tp_ws_piece_left(const struct tp_ws *ws)
{
	return ws->c ? (size_t)wsc_piece_left(ws->c) : 0;
}

bool tp_ws_piece_fin(const struct tp_ws *ws)
{
	return ws->c && wsc_piece_fin(ws->c);
}

void tp_ws_pause(struct tp_ws *ws, bool paused)
{
	if (ws->c)
		wsc_pause(ws->c, paused);
}

void tp_ws_close(struct tp_ws *ws)
{
	tp_ws_close_status(ws, 1000);
}

void tp_ws_close_status(struct tp_ws *ws, unsigned status)
{
	if (ws->c)
		wsc_close(ws->c, status, NULL);
}

/* Is the request's Transfer-Encoding "chunked" and nothing else (no Content-Length)? */
static bool chunked_only(struct lws *wsi)
{
	char te[64], clen[32];
	if (http_hdr(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof(te)) < 0 ||
	    http_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen)) == 0)
		return false;
	const char *a = te, *b = te + strlen(te);
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	return b - a == 7 && !strncasecmp(a, "chunked", 7);
}

bool tp_req_body_chunked(const struct tp_req *r)
{
	return r->chunked;
}

/*
 * A request for a route: answered now (GET, DELETE, no body) or once its
 * body is in (req_dispatch at BODY_COMPLETION). Returns false when no route
 * has this path.
 */
bool http_route_request(struct lws *wsi, struct pss *p, const char *path, int lm)
{
	struct tp_match m;
	bool other = false;
	unsigned method = method_of(lm);
	const struct route *rt = method ? route_find(path, method, false, &m, &other) : NULL;
	char clen[32];

	if (!rt) {
		if (!other)
			return false;
		http_stream_error(p->st, 405, RPC_INVALID_REQUEST, "Method Not Allowed");
		return true;
	}
	p->st->engine_done = false;
	p->routed = true;
	p->req = req_new(rt, p->st, NULL, method, path, &m);
	p->req->path_known = other;
	bool has_body = (method & (TP_POST | TP_PUT | TP_PATCH)) &&
			http_hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen)) == 0 && strtoull(clen, NULL, 10) > 0;
	p->chunked = false;
	if (rt->streamed) {
		/* the route decides at the headers; its body comes to it piece by piece */
		struct tp_req *r = p->req;
		if (!has_body && (method & (TP_POST | TP_PUT | TP_PATCH)) && chunked_only(wsi)) {
			/* lws leaves such a body framed and takes it to be 100 MiB long: decoded
			   here, and the connection closed after the answer (lws would wait out
			   the rest of those 100 MiB before reading another request) */
			has_body = p->chunked = r->chunked = true;
			tp_chunked_init(&p->dechunk);
			p->st->close_after = true;
		}
		if (has_body)
			r->body_pss = p;
		else
			p->req = NULL;
		bool empty = !has_body;
		rt->fn(r, rt->arg);
		if (empty && p->st && p->st->req == r && r->body_ops && !r->body_ended) {
			r->body_ended = true;
			r->body_ops->end(r->body_arg, TP_BODY_COMPLETE);
		}
		return true;
	}
	if (has_body) {
		if (strtoull(clen, NULL, 10) > H.o.max_body) {
			struct tp_req *r = p->req;
			p->req = NULL;
			p->rejected = true;
			tp_req_json(r, 413, json_pack("{s:s}", "detail", "Payload Too Large"));
		} else {
			http_continue(wsi);
		}
		return true; /* the body follows */
	}
	http_req_dispatch(p);
	return true;
}

static void ws_free(struct tp_ws *ws)
{
	free(ws->key);
	free(ws);
}

int http_ws_accept(struct lws *wsi, const char *uri, struct tp_ws **wsp)
{
	char path[256];
	struct tp_match m;
	bool other;
	const char *q = strchr(uri, '?'), *why = "Not found";
	size_t n = q ? (size_t)(q - uri) : strlen(uri);

	if (n >= sizeof(path)) {
		http_refuse_upgrade(wsi, 404, why);
		return 1;
	}
	memcpy(path, uri, n);
	path[n] = '\0';
	const struct route *rt = route_find(path, TP_GET, true, &m, &other);
	if (!rt) {
		http_refuse_upgrade(wsi, 404, why);
		return 1;
	}
	struct tp_req *r = req_new(rt, NULL, wsi, TP_GET, path, &m);
	void *user = NULL;
	int status = rt->ws->accept(r, rt->arg, &user, &why);
	/* the credential the route took (a header, ?api_key=, or its own: ?token=, a subprotocol) */
	char *key = steal_ptr(r->upgrade_key);
	req_free(r);
	if (status) {
		free(key);
		struct buf own = BUF_INIT;
		why = why ? why : "Refused";
		if (rt->ws->refusal)
			rt->ws->refusal(status, why, &own);
		http_refuse_upgrade_body(wsi, status, why, rt->ws->refusal ? &own : NULL);
		buf_release(&own);
		return 1;
	}
	struct tp_ws *ws = xcalloc(1, sizeof(*ws));
	ws->ops = rt->ws;
	ws->user = user;
	if (key && strlen(key) < TP_KEY_MAX)
		ws->key = steal_ptr(key);
	free(key);
	*wsp = ws;
	return 0;
}

static void ws_receive(void *arg, const char *data, size_t len, bool binary, bool final)
{
	struct tp_ws *ws = arg;
	char principal[PRINCIPAL_MAX];

	/* a key revoked or expired, its user disabled or logged out: the route's connection stops too */
	if (ws->key && !http_authenticate(ws->key, principal)) {
		wsc_close(ws->c, 1008, "key revoked");
		return;
	}
	ws->final = final;
	ws->binary = binary;
	ws->ops->receive(ws->user, data, len);
}

static void ws_drained(void *arg)
{
	struct tp_ws *ws = arg;
	if (ws->ops->drained)
		ws->ops->drained(ws->user);
}

static void ws_closed(void *arg)
{
	struct tp_ws *ws = arg;
	ws->c = NULL;
	ws->ops->closed(ws->user);
	ws_free(ws);
}

static const struct wsc_ops route_ws_ops = {
	.receive = ws_receive,
	.drained = ws_drained,
	.closed = ws_closed,
};

bool http_ws_open(struct tp_ws *ws, int fd, const struct buf *head)
{
	ws->c = wsc_open(H.loop, fd, head, WS_ROUTE_MESSAGE_MAX, &route_ws_ops, ws);
	if (!ws->c) {
		http_ws_drop(ws);
		return false;
	}
	if (ws->ops->open(ws, ws->user) < 0)
		wsc_close(ws->c, 1011, NULL); /* the route could not start (it said why in a message, if it could) */
	return true;
}

void http_ws_drop(struct tp_ws *ws)
{
	ws->ops->closed(ws->user); /* accepted, never opened */
	ws_free(ws);
}
