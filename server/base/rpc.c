#include "rpc.h"
#include "buf.h"
#include "json_out.h"
#include "offload.h"
#include "common.h"
#include "log.h"
#include "banned.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/queue.h>

#define PARSE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/*
 * One received text (a message or a batch). Its answers are collected here
 * and sent together once its last request is finished: alone for a single
 * message, as one array for a batch.
 */
struct text {
	void *ctx;		/* the transport's context of the text */
	bool array;		/* it was a batch */
	struct buf out;		/* the transport's headroom, then the answer or "[a,b,..." in completion order */
	size_t nanswers;
	size_t pending;		/* requests not yet finished (+1 while dispatching) */
};

struct srv_req {
	struct srv_conn *conn;
	json_t *id;
	char *method;
	json_t *progress_token;
	double last_progress;
	bool has_progress;
	struct text *text;
	void (*cancel_fn)(void *arg);
	void *cancel_arg;
	bool cancelled;
	struct srv_req *prev, *next;
};

/*
 * A received text that waits: parsed on another thread (one of at least
 * SRV_OFFLOAD_MIN bytes), or queued behind one that is. Its own copy of the
 * bytes, since the transport frees its buffer when srv_conn_receive returns.
 */
struct waiting {
	TAILQ_ENTRY(waiting) link;
	struct srv_conn *conn;
	void *ctx;
	char *data;		/* freed once parsed */
	size_t len;
	bool parsing;		/* handed to the runner: only the thread touches data, msg, e */
	bool parsed;		/* back on the loop: msg (NULL: e says why) */
	json_t *msg;
	json_error_t e;
};

/* A request we sent to the client, waiting for its answer. */
struct ask {
	json_int_t id;
	srv_reply_cb cb;
	void *arg;
	struct ask *next;
};

struct srv_conn {
	const struct srv_app *app;
	const struct tp_ops *ops;
	void *tp;
	char *principal;
	char *scope;		/* the one resource the connection may act on, or NULL */
	void *app_data;
	struct srv_req *reqs;	/* in flight */
	size_t ninflight;
	bool closing;
	size_t max_inflight;	/* 0: no cap */
	size_t max_answer;	/* 0: no bound */
	struct ask *asks;	/* our requests waiting for the client */
	json_int_t next_ask_id;
	int busy;		/* nesting depth of engine entry points */
	bool input_ended;	/* the client sends nothing more: it cannot answer our requests */
	TAILQ_HEAD(waiting_list, waiting) waiting;	/* texts in arrival order; only the first is ever parsing */
	size_t nwaiting, waiting_bytes;
};

struct srv_conn *srv_conn_new(const struct srv_app *app, const struct tp_ops *ops, void *tp,
			      const char *principal)
{
	struct srv_conn *c = xcalloc(1, sizeof(*c));
	c->app = app;
	c->ops = ops;
	c->tp = tp;
	c->principal = xstrdup(principal);
	TAILQ_INIT(&c->waiting);
	return c;
}

static void conn_maybe_free(struct srv_conn *c)
{
	/* a text being parsed is still the thread's: wait for it */
	if (!c->closing || c->ninflight || c->busy || !TAILQ_EMPTY(&c->waiting))
		return;
	if (c->app->release)
		c->app->release(c);
	free(c->principal);
	free(c->scope);
	free(c);
}

bool srv_conn_closing(const struct srv_conn *c) { return c->closing; }
void srv_conn_set_max_inflight(struct srv_conn *c, size_t max) { c->max_inflight = max; }
void srv_conn_set_max_answer(struct srv_conn *c, size_t max) { c->max_answer = max; }
size_t srv_conn_max_answer(const struct srv_conn *c) { return c->max_answer; }
size_t srv_conn_inflight(const struct srv_conn *c) { return c->ninflight + c->nwaiting; }

bool srv_conn_hold(const struct srv_conn *c)
{
	return c->nwaiting > SRV_WAIT_TEXTS / 2 || c->waiting_bytes > SRV_WAIT_BYTES / 2;
}

bool srv_conn_may_resume(const struct srv_conn *c)
{
	return c->nwaiting <= SRV_WAIT_TEXTS / 4 && c->waiting_bytes <= SRV_WAIT_BYTES / 4;
}
const char *srv_conn_principal(const struct srv_conn *c) { return c->principal; }

void srv_conn_set_scope(struct srv_conn *c, const char *scope)
{
	free(c->scope);
	c->scope = scope ? xstrdup(scope) : NULL;
}

const char *srv_conn_scope(const struct srv_conn *c) { return c->scope; }
void *srv_conn_app_data(const struct srv_conn *c) { return c->app_data; }
void srv_conn_set_app_data(struct srv_conn *c, void *data) { c->app_data = data; }
struct srv_conn *srv_req_conn(const struct srv_req *r) { return r->conn; }
json_t *srv_req_progress_token(const struct srv_req *r) { return r->progress_token; }
bool srv_req_cancelled(const struct srv_req *r) { return r->cancelled; }

/* Send a text written by srv_json_write_text (taken: b is empty after). */
static void send_text(struct srv_conn *c, void *ctx, struct buf *b, bool answer)
{
	size_t h = c->ops->headroom;

	if (c->closing) {
		buf_release(b);
		return;
	}
	if (c->ops->send_buf) {
		c->ops->send_buf(c->tp, ctx, b, answer);
		buf_release(b); /* in case the transport left it */
		return;
	}
	c->ops->send(c->tp, ctx, b->data + h, b->len - h, answer);
	buf_release(b);
}

static void send_json(struct srv_conn *c, void *ctx, json_t *msg, bool answer)
{
	struct buf b = BUF_INIT;

	if (c->closing)
		return;
	if (srv_json_write_text(&b, c->ops->headroom, msg, srv_json_write) < 0) {
		log_error("rpc: cannot serialize a message");
		return;
	}
	send_text(c, ctx, &b, answer);
}

static json_t *make_error(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
			 "error", "code", code, "message", msg);
}

/*
 * Record a finished answer's text (written by srv_json_write_text; taken; NULL:
 * none, for a cancelled request). When the text's last request is finished
 * its answers go out and the transport hears that the text is done.
 */
static void deliver_text(struct srv_conn *c, struct text *t, struct buf *ans)
{
	size_t h = c->ops->headroom;

	if (ans && !t->array) {
		/* a lone message has at most one answer: it goes out as it was written */
		buf_release(&t->out);
		t->out = *ans;
		*ans = (struct buf)BUF_INIT;
		t->nanswers = 1;
	} else if (ans) {
		if (!t->nanswers++) {
			buf_grow(&t->out, h + 1 + ans->len - h);
			memset(t->out.data, 0, h);
			t->out.len = h;
			buf_addch(&t->out, '[');
		} else {
			buf_addch(&t->out, ',');
		}
		buf_add(&t->out, ans->data + h, ans->len - h);
		buf_release(ans);
	}
	if (--t->pending)
		return;
	if (t->nanswers) {
		if (t->array)
			buf_addch(&t->out, ']');
		send_text(c, t->ctx, &t->out, true);
	}
	buf_release(&t->out);
	if (c->ops->done && !c->closing)
		c->ops->done(c->tp, t->ctx);
	free(t);
}

/* The same for an answer as JSON (taken; NULL: none). */
static void deliver(struct srv_conn *c, struct text *t, json_t *answer)
{
	struct buf b = BUF_INIT;

	if (answer && !c->closing && srv_json_write_text(&b, c->ops->headroom, answer, srv_json_write) < 0)
		log_error("rpc: cannot serialize an answer");
	json_decref(answer);
	deliver_text(c, t, b.len ? &b : NULL);
}

/* Take r off its connection's list; the caller delivers its answer. */
static void req_unlink(struct srv_req *r)
{
	struct srv_conn *c = r->conn;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->ninflight--;
}

static void req_free(struct srv_req *r)
{
	struct srv_conn *c = r->conn;

	free(r->method);
	json_decref(r->id);
	json_decref(r->progress_token);
	free(r);
	conn_maybe_free(c);
}

/* r's answer text (taken; NULL: none); one longer than its connection takes is replaced. */
static void deliver_answer(struct srv_req *r, struct buf *text)
{
	struct srv_conn *c = r->conn;
	size_t len = text ? text->len - c->ops->headroom : 0;

	if (!text || !c->max_answer || len <= c->max_answer) {
		deliver_text(c, r->text, text);
		return;
	}
	buf_release(text);
	log_info("rpc: a %s answer of %zu bytes is past the connection's %zu: replaced", r->method, len, c->max_answer);
	json_t *result = c->app->oversize ? c->app->oversize(r, r->method, len, c->max_answer) : NULL;
	json_t *ans;
	if (result) {
		ans = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", r->id, "result", result);
	} else {
		struct buf m = BUF_INIT;
		buf_addf(&m, "Internal error: the answer is %zu bytes, more than this connection carries in one message (%zu)",
			 len, c->max_answer);
		ans = make_error(r->id, RPC_INTERNAL_ERROR, m.data);
		buf_release(&m);
	}
	deliver(c, r->text, ans);
}

static void req_finish(struct srv_req *r, json_t *answer)
{
	struct srv_conn *c = r->conn;
	struct buf b = BUF_INIT;

	req_unlink(r);
	if (r->cancelled) {
		/* no response for a cancelled request (MCP cancellation rule) */
		json_decref(answer);
		answer = NULL;
	}
	if (answer && !c->closing && srv_json_write_text(&b, c->ops->headroom, answer, srv_json_write) < 0)
		log_error("rpc: cannot serialize an answer");
	json_decref(answer);
	deliver_answer(r, b.len ? &b : NULL);
	req_free(r);
}

/* r's answer, written off the loop (srv_req_result), is back on the loop thread. */
static void result_written(void *arg, struct buf *text, int rc)
{
	struct srv_req *r = arg;

	req_unlink(r);
	if (r->cancelled || r->conn->closing) {
		deliver_text(r->conn, r->text, NULL);
	} else if (rc < 0) {
		log_error("rpc: cannot serialize an answer");
		deliver(r->conn, r->text, make_error(r->id, RPC_INTERNAL_ERROR, "Internal error: the result has no JSON text"));
	} else {
		deliver_answer(r, text);
	}
	req_free(r);
}

void srv_req_result(struct srv_req *r, json_t *result)
{
	struct srv_conn *c = r->conn;
	if (!result)
		result = json_object();
	json_t *ans = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", r->id, "result", result);
	/* the work the hook would cancel is over: a cancel now only drops the answer */
	r->cancel_fn = NULL;
	if (r->cancelled || c->closing ||
	    !srv_json_write_off_loop(c->principal, ans, c->ops->headroom, srv_json_write, result_written, r))
		req_finish(r, ans);
}

/* The error answer to r; data (taken, may be NULL) becomes error.data. */
static void req_error_v(struct srv_req *r, int code, json_t *data, const char *fmt, va_list ap)
{
	struct buf b = BUF_INIT;

	buf_vaddf(&b, fmt, ap);
	json_t *ans = make_error(r->id, code, b.data ? b.data : "");
	buf_release(&b);
	if (data)
		json_object_set_new(json_object_get(ans, "error"), "data", data);
	req_finish(r, ans);
}

void srv_req_error(struct srv_req *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	req_error_v(r, code, NULL, fmt, ap);
	va_end(ap);
}

void srv_req_error_data(struct srv_req *r, int code, json_t *data, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	req_error_v(r, code, data, fmt, ap);
	va_end(ap);
}

void srv_req_rate(struct srv_req *r, const struct srv_rate_verdict *v)
{
	struct srv_conn *c = r->conn;
	if (c->ops->rate && !c->closing)
		c->ops->rate(c->tp, r->text->ctx, v, r->text->array);
}

void srv_req_on_cancel(struct srv_req *r, void (*fn)(void *arg), void *arg)
{
	r->cancel_fn = fn;
	r->cancel_arg = arg;
}

void srv_req_cancel(struct srv_req *r)
{
	void (*fn)(void *);

	if (r->cancelled)
		return;
	r->cancelled = true;
	fn = r->cancel_fn;
	r->cancel_fn = NULL;
	if (fn)
		fn(r->cancel_arg);
}

void srv_req_progress(struct srv_req *r, double progress, double total, const char *message)
{
	json_t *p;

	if (!r->progress_token || r->cancelled)
		return;
	if (r->has_progress && progress <= r->last_progress)
		progress = r->last_progress + 1;
	r->last_progress = progress;
	r->has_progress = true;
	p = json_pack("{s:O, s:f}", "progressToken", r->progress_token, "progress", progress);
	/* integral values read better as integers */
	if (progress == floor(progress) && fabs(progress) < 9e15)
		json_object_set_new(p, "progress", json_integer((json_int_t)progress));
	if (total > 0)
		json_object_set_new(p, "total", json_real(total));
	if (message)
		json_object_set_new(p, "message", json_string(message));
	srv_req_notify(r, "notifications/progress", p);
}

static void notify(struct srv_conn *c, void *ctx, const char *method, json_t *params)
{
	json_t *msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
	if (params)
		json_object_set_new(msg, "params", params);
	send_json(c, ctx, msg, false);
	json_decref(msg);
}

void srv_conn_notify(struct srv_conn *c, const char *method, json_t *params)
{
	notify(c, NULL, method, params);
}

void srv_req_notify(struct srv_req *r, const char *method, json_t *params)
{
	if (r->cancelled) {
		json_decref(params);
		return;
	}
	notify(r->conn, r->text->ctx, method, params);
}

static bool id_equal(json_t *a, json_t *b)
{
	if (json_typeof(a) != json_typeof(b))
		return false;
	return json_equal(a, b);
}

struct srv_req *srv_conn_find(struct srv_conn *c, json_t *id)
{
	for (struct srv_req *r = c->reqs; r; r = r->next)
		if (id_equal(r->id, id))
			return r;
	return NULL;
}

static bool valid_id(json_t *id)
{
	/* JSON-RPC allows strings and numbers; MCP forbids null. Reals are
	 * accepted and echoed as they came. */
	return json_is_string(id) || json_is_integer(id) || json_is_real(id);
}

/* Handle one message (the whole text or a batch member). */
static void handle_one(struct srv_conn *c, json_t *msg, struct text *t)
{
	json_t *jv, *id, *method, *params;

	if (!json_is_object(msg)) {
		t->pending++;
		deliver(c, t, make_error(NULL, RPC_INVALID_REQUEST, "Invalid Request: not an object"));
		return;
	}
	jv = json_object_get(msg, "jsonrpc");
	id = json_object_get(msg, "id");
	method = json_object_get(msg, "method");
	params = json_object_get(msg, "params");

	if (!method) {
		/* A response from the client to one of our requests, or garbage. */
		json_t *res = json_object_get(msg, "result"), *err = json_object_get(msg, "error");
		if (res || err) {
			for (struct ask **pp = &c->asks; *pp; pp = &(*pp)->next) {
				struct ask *a = *pp;
				if (!json_is_integer(id) || json_integer_value(id) != a->id)
					continue;
				*pp = a->next;
				a->cb(a->arg, err ? NULL : res, err);
				free(a);
				break;
			}
			return; /* unknown ids are ignored */
		}
		t->pending++;
		deliver(c, t, make_error(valid_id(id) ? id : NULL, RPC_INVALID_REQUEST,
					 "Invalid Request: missing method"));
		return;
	}
	if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0 ||
	    !json_is_string(method) || (id && !valid_id(id)) ||
	    (params && !json_is_object(params) && !json_is_array(params) && !json_is_null(params))) {
		const char *why = !json_is_string(jv) || strcmp(json_string_value(jv), "2.0")
					  ? "jsonrpc must be \"2.0\""
				  : !json_is_string(method) ? "method must be a string"
				  : (id && !valid_id(id)) ? "id must be a string or a number"
							  : "params must be an object";
		if (!id && json_is_string(method))
			return; /* an invalid notification gets no answer */
		t->pending++;
		deliver(c, t, make_error(id && valid_id(id) ? id : NULL, RPC_INVALID_REQUEST, why));
		return;
	}
	if (json_is_null(params))
		params = NULL;
	if (!id) {
		c->app->notification(c, json_string_value(method), params);
		return;
	}
	if (c->max_inflight && c->ninflight >= c->max_inflight) {
		t->pending++;
		deliver(c, t, make_error(id, -32000, "Server busy: too many requests in flight on this connection"));
		return;
	}

	struct srv_req *r = xcalloc(1, sizeof(*r));
	r->conn = c;
	r->id = json_incref(id);
	r->method = xstrdup(json_string_value(method));
	if (json_is_object(params)) {
		json_t *meta = json_object_get(params, "_meta");
		json_t *tok = json_object_get(meta, "progressToken");
		if (json_is_string(tok) || json_is_integer(tok))
			r->progress_token = json_incref(tok);
	}
	r->text = t;
	t->pending++;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->ninflight++;
	c->app->request(r, json_string_value(method), params);
}

static void decref_work(void *arg)
{
	json_decref(arg);
}

/*
 * Answer and dispatch one text: msg (taken) or, when NULL, the parse error e.
 * big: a text of at least SRV_OFFLOAD_MIN bytes, whose tree is freed off the
 * loop too (what the app kept of it holds its own references, and jansson's
 * reference counts are atomic).
 */
static void handle_text(struct srv_conn *c, json_t *msg, const json_error_t *e, void *ctx, bool big)
{
	struct text *t = xcalloc(1, sizeof(*t));

	t->ctx = ctx;
	t->pending = 1; /* held until every message of the text is dispatched */
	if (c->closing) {
		/* nothing is answered any more; the transport still hears done */
	} else if (!msg) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "Parse error: %s (at byte %d)", e->text, e->position);
		t->pending++;
		deliver(c, t, make_error(NULL, RPC_PARSE_ERROR, b.data));
		buf_release(&b);
	} else if (!json_is_array(msg)) {
		handle_one(c, msg, t);
	} else if (json_array_size(msg) == 0) {
		t->pending++;
		deliver(c, t, make_error(NULL, RPC_INVALID_REQUEST, "Invalid Request: empty batch"));
	} else {
		size_t i;
		json_t *el;
		t->array = true;
		json_array_foreach(msg, i, el) {
			handle_one(c, el, t);
			if (c->closing)
				break;
		}
	}
	if (msg && !(big && srv_offload_run(c->principal, decref_work, NULL, msg)))
		json_decref(msg);
	deliver(c, t, NULL);
}

static void waiting_free(struct srv_conn *c, struct waiting *w)
{
	TAILQ_REMOVE(&c->waiting, w, link);
	c->nwaiting--;
	c->waiting_bytes -= w->len;
	free(w->data);
	free(w);
}

static void parse_work(void *arg)
{
	struct waiting *w = arg;

	w->msg = json_loadb(w->data, w->len, PARSE_FLAGS, &w->e);
	free(w->data);
	w->data = NULL;
}

static void parse_done(void *arg);

/*
 * Handle the waiting texts in order: a large one goes to the runner and the
 * rest wait for it; without a runner everything is parsed here.
 */
static void waiting_run(struct srv_conn *c)
{
	struct waiting *w;

	while ((w = TAILQ_FIRST(&c->waiting))) {
		if (w->parsing && !w->parsed)
			return;
		if (!w->parsing && !c->closing && w->len >= SRV_OFFLOAD_MIN) {
			w->parsing = true;
			/* a runner that cannot queue parses at once: parse_done has handled it then */
			if (srv_offload_run(c->principal, parse_work, parse_done, w))
				return;
			w->parsing = false;
		}
		if (!w->parsed && !c->closing)
			w->msg = json_loadb(w->data, w->len, PARSE_FLAGS, &w->e);
		json_t *msg = w->msg;
		json_error_t e = w->e;
		void *ctx = w->ctx;
		bool big = w->len >= SRV_OFFLOAD_MIN;
		waiting_free(c, w); /* first: a text received meanwhile queues behind the rest */
		handle_text(c, msg, &e, ctx, big);
	}
}

static void parse_done(void *arg)
{
	struct waiting *w = arg;
	struct srv_conn *c = w->conn;

	w->parsed = true;
	c->busy++;
	waiting_run(c);
	c->busy--;
	conn_maybe_free(c);
}

/* Drop the texts that wait (the connection closes), but not one a thread is parsing. */
static void waiting_drop(struct srv_conn *c)
{
	struct waiting *w, *first = TAILQ_FIRST(&c->waiting);

	while ((w = TAILQ_LAST(&c->waiting, waiting_list)) && !(w == first && w->parsing)) {
		json_decref(w->msg);
		waiting_free(c, w);
	}
}

bool srv_conn_full(const struct srv_conn *c, size_t len)
{
	return !c->closing && !TAILQ_EMPTY(&c->waiting) &&
	       (c->nwaiting >= SRV_WAIT_TEXTS || c->waiting_bytes + len > SRV_WAIT_BYTES);
}

void srv_conn_receive(struct srv_conn *c, const char *data, size_t len, void *ctx)
{
	c->busy++;
	if (c->closing || (TAILQ_EMPTY(&c->waiting) && len < SRV_OFFLOAD_MIN)) {
		json_error_t e;
		json_t *msg = c->closing ? NULL : json_loadb(data, len, PARSE_FLAGS, &e);
		handle_text(c, msg, &e, ctx, false);
	} else if (srv_conn_full(c, len)) {
		/* refused whole, unread: its requests' ids are unknown */
		struct text *t = xcalloc(1, sizeof(*t));
		t->ctx = ctx;
		t->pending = 2;
		deliver(c, t, make_error(NULL, -32000, "Server busy: too many messages wait for a large one to be parsed"));
		deliver(c, t, NULL);
	} else {
		struct waiting *w = xcalloc(1, sizeof(*w));
		w->conn = c;
		w->ctx = ctx;
		w->data = xmalloc(len ? len : 1);
		memcpy(w->data, data, len);
		w->len = len;
		TAILQ_INSERT_TAIL(&c->waiting, w, link);
		c->nwaiting++;
		c->waiting_bytes += len;
		waiting_run(c);
	}
	c->busy--;
	conn_maybe_free(c);
}

void srv_req_ask(struct srv_req *r, const char *method, json_t *params, srv_reply_cb cb, void *arg)
{
	struct srv_conn *c = r->conn;
	struct ask *a;
	json_t *msg;

	if (c->input_ended || c->closing) {
		json_t *err = json_pack("{s:i, s:s}", "code", -32000, "message", "the client sends nothing more");
		json_decref(params);
		cb(arg, NULL, err);
		json_decref(err);
		return;
	}
	a = xcalloc(1, sizeof(*a));

	a->id = ++c->next_ask_id;
	a->cb = cb;
	a->arg = arg;
	a->next = c->asks;
	c->asks = a;
	msg = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", a->id, "method", method, "params",
			params ? params : json_object());
	send_json(c, r->text->ctx, msg, false);
	json_decref(msg);
}

/* Answer our pending requests to the client with an error: it is gone. */
static void fail_asks(struct srv_conn *c)
{
	json_t *err = json_pack("{s:i, s:s}", "code", -32000, "message", "connection closed");
	while (c->asks) {
		struct ask *a = c->asks;
		c->asks = a->next;
		a->cb(a->arg, NULL, err);
		free(a);
	}
	json_decref(err);
}

void srv_conn_input_ended(struct srv_conn *c)
{
	c->input_ended = true;
	c->busy++;
	fail_asks(c);
	c->busy--;
	conn_maybe_free(c);
}

void srv_conn_close(struct srv_conn *c)
{
	struct srv_req *r;

	if (c->closing)
		return;
	c->busy++;
	/* A cancel hook may finish any request, so restart the walk after each. */
	for (;;) {
		for (r = c->reqs; r && r->cancelled; r = r->next)
			;
		if (!r)
			break;
		srv_req_cancel(r);
	}
	c->closing = true;
	waiting_drop(c);
	fail_asks(c); /* their requests finish now; nothing is sent any more */
	if (c->app->closed)
		c->app->closed(c);
	c->busy--;
	conn_maybe_free(c);
}
