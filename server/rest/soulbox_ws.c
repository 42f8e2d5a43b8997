/*
 * server/rest/soulbox_ws.c — SoulBox's real-time execution WebSocket,
 * /ws/execute (see soulbox.h, docs/compat.md 004).
 *
 * A client sends {"type": "execute", language, code, timeout?, sandbox_id?}
 * and gets {"type": "output", "data", "output", "stream"} frames, one per
 * line as the program writes it, then {"type": "completion", execution_id,
 * status, exit_code, execution_time}. The connection is the caller of the
 * execute tool (struct tool_caller with an output operation), so the
 * program's bytes come as they arrive; its programs run in a sandbox of
 * the connection's own (the tool connection's implicit session, made on
 * first use and destroyed with the connection), or in one of the key's
 * sandboxes (sandbox_id: its id, or its name, looked up first). One
 * execution at a time per connection;
 * {"type": "cancel"}, DELETE /api/execute/{execution_id} or closing the
 * connection kills it. Each execution keeps a record (sb_exec_begin), so
 * GET /api/execute/{execution_id} answers its status, output so far and
 * result as for POST /api/execute. A message of SRV_OFFLOAD_MIN bytes or
 * more (up to 1 MiB of code) is parsed off the loop in the key's turn
 * (base/offload.h), the connection not read meanwhile.
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/json_out.h"
#include "../base/offload.h"
#include "../../tools/lang.h"

#include <stdlib.h>
#include <string.h>

#include "../base/banned.h"

#define MESSAGE_MAX (1u << 20)	/* a client message */
#define LINE_MAX_BYTES (64u << 10)	/* a line longer than this goes out in pieces */

struct wsx {
	struct tp_ws *ws;
	char principal[SB_PRINCIPAL_MAX];
	struct tool_conn tc;
	struct buf in;		/* the message being received */
	bool in_too_big;
	bool parsing;		/* a large message is parsed off the loop (not reading meanwhile) */
	struct buf text;	/* ... its text (the thread's until parsed) */
	json_t *parsed;		/* ... what it became (NULL: not JSON) */
	bool closed;		/* the client is gone: free once no call runs and nothing is parsed */
	/* the running execution, and its record (GET /api/execute/{id} answers it: soulbox_exec.c) */
	bool running;
	struct sb_exec *rec;
	json_t *pending;	/* an execution's arguments while its sandbox's name is looked up */
	uint64_t started_ns;
	struct buf line[2];	/* stdout, stderr: the line being written */
	void (*cancel)(void *arg);
	void *cancel_arg;
};

static void wsx_free(struct wsx *w)
{
	json_decref(w->pending);
	tool_conn_release(&w->tc);
	buf_release(&w->in);
	buf_release(&w->text);
	buf_release(&w->line[0]);
	buf_release(&w->line[1]);
	free(w);
}

/* The client is gone and nothing of w's runs any more: free it. */
static void wsx_maybe_free(struct wsx *w)
{
	if (w->closed && !w->running && !w->parsing)
		wsx_free(w);
}

static void send_json(struct wsx *w, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text && !w->closed)
		tp_ws_send(w->ws, text, strlen(text), false);
	free(text);
}

static void send_error(struct wsx *w, enum sb_code code, const char *field, const char *message)
{
	json_t *e = sb_error_json(code, field ? "Invalid request parameters" : message, field, field ? message : NULL, NULL);
	json_object_set_new(e, "type", json_string("error"));
	send_json(w, e);
}

/* One output frame: data (the document) and output (its user guide reads that), and the stream. */
static void send_output(struct wsx *w, int stream, const char *data, size_t len)
{
	json_t *d = srv_json_text(data, len); /* not UTF-8: each bad byte as U+FFFD, as the tools show them */
	/* execution_id too, so that a client can follow it with GET /api/execute/{id} before it completes */
	send_json(w, json_pack("{s:s, s:O, s:o, s:s, s:s}", "type", "output", "data", d, "output", d, "stream",
			       stream ? "stderr" : "stdout", "execution_id", sb_exec_id(w->rec)));
}

/* ---- the tools' caller ---- */

static void caller_output(void *ctx, const char *stream, const char *data, size_t len)
{
	struct wsx *w = ctx;
	int s = strcmp(stream, "stdout") ? 1 : 0;
	struct buf *b = &w->line[s];
	const char *nl;

	sb_exec_output(w->rec, s, data, len);
	/* whole lines go out as they end; a line that will not end goes out in pieces */
	while ((nl = memchr(data, '\n', len))) {
		size_t n = (size_t)(nl - data) + 1;
		buf_add(b, data, n);
		send_output(w, s, b->data, b->len);
		buf_reset(b);
		data += n;
		len -= n;
	}
	buf_add(b, data, len);
	if (b->len >= LINE_MAX_BYTES) {
		send_output(w, s, b->data, b->len);
		buf_reset(b);
	}
}

static void caller_on_cancel(void *ctx, void (*fn)(void *arg), void *arg)
{
	struct wsx *w = ctx;
	w->cancel = fn;
	w->cancel_arg = arg;
}

static void caller_finish(void *ctx, json_t *result, enum err_class cls)
{
	struct wsx *w = ctx;
	json_t *d = rest_result_data(result);

	for (int s = 0; s < 2; s++) {
		if (w->line[s].len)
			send_output(w, s, w->line[s].data, w->line[s].len);
		buf_reset(&w->line[s]);
	}
	w->running = false;
	w->cancel = NULL;
	struct sb_exec *rec = steal_ptr(w->rec);
	json_t *code = json_object_get(d, "exit_code");
	if (rest_result_failed(result) && !code && !json_is_true(json_object_get(d, "timed_out"))) {
		enum sb_code c;
		char text[300];
		json_decref(sb_exec_end(rec, NULL, cls, rest_result_text(result)));
		sb_status_of(NULL, cls, &c);
		send_error(w, c, NULL, sb_message_of(cls, rest_result_text(result), text, sizeof(text)));
	} else {
		/* the record's result decides, so the frame and GET /api/execute/{id} say the same */
		json_t *r = sb_exec_end(rec, d, cls, NULL);
		json_t *o = json_pack("{s:s, s:O, s:O, s:O, s:O}", "type", "completion", "execution_id",
				      json_object_get(r, "execution_id"), "status", json_object_get(r, "status"), "exit_code",
				      json_object_get(r, "exit_code"), "execution_time", json_object_get(r, "execution_time"));
		if (!json_is_null(json_object_get(r, "error_code")))
			json_object_set(o, "error_code", json_object_get(r, "error_code"));
		json_decref(r);
		send_json(w, o);
	}
	json_decref(result);
	wsx_maybe_free(w);
}

static bool caller_rate(void *ctx, const struct srv_rate_verdict *v)
{
	(void)ctx;
	(void)v;
	return false; /* a refusal is finished as ERR_LIMIT: an error frame */
}

/* DELETE /api/execute/{id} of this connection's running execution (its record is marked cancelled already). */
static void cancel_running(void *arg)
{
	struct wsx *w = arg;
	if (w->running && w->cancel) {
		void (*fn)(void *) = w->cancel;
		w->cancel = NULL;
		fn(w->cancel_arg);
	}
}

static const struct tool_caller_ops ws_caller_ops = {
	.finish = caller_finish,
	.output = caller_output,
	.on_cancel = caller_on_cancel,
	.rate = caller_rate,
};

/* ---- messages ---- */

/* Run args (stolen; session_id a sandbox's id, or none: the connection's own) with a record. */
static void start(struct wsx *w, json_t *args)
{
	w->rec = sb_exec_begin(w->principal, json_integer_value(json_object_get(args, "timeout_s")),
			       json_string_value(json_object_get(args, "session_id")), cancel_running, w);
	w->started_ns = now_ns();
	struct tool_caller caller = { .ops = &ws_caller_ops, .ctx = w, .principal = w->principal, .conn = &w->tc };
	tool_registry_call(&caller, "execute", args);
	json_decref(args);
}

/* The key's sandboxes, to find the one the execution names by its name (w->pending's session_id). */
static void sandbox_listed(void *arg, json_t *result, enum err_class cls)
{
	struct wsx *w = arg;
	json_t *args = steal_ptr(w->pending);
	const char *id = NULL;
	json_t *failed = NULL;

	if (!w->closed && !rest_result_failed(result))
		failed = sb_sandbox_named(rest_result_data(result), json_string_value(json_object_get(args, "session_id")),
					 &id, &cls);
	if (w->closed || rest_result_failed(result) || failed) {
		json_t *why = failed ? failed : result;
		enum sb_code code;
		char text[300];
		w->running = false;
		sb_status_of(NULL, cls, &code);
		send_error(w, code, NULL, sb_message_of(cls, rest_result_text(why), text, sizeof(text)));
		json_decref(failed);
		json_decref(args);
		json_decref(result);
		wsx_maybe_free(w);
		return;
	}
	json_object_set_new(args, "session_id", json_string(id));
	json_decref(result);
	start(w, args);
}

static void execute(struct wsx *w, json_t *m)
{
	json_t *lang = json_object_get(m, "language"), *code = json_object_get(m, "code");
	json_t *timeout = json_object_get(m, "timeout"), *sandbox = json_object_get(m, "sandbox_id");
	uint64_t retry;

	if (w->running) {
		send_error(w, SB_VALIDATION_ERROR, "type", "an execution is running on this connection: wait for its "
			   "completion or send {\"type\": \"cancel\"}");
		return;
	}
	if (!json_is_string(lang) || !lang_find(json_string_value(lang))) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "Unsupported language: %.100s", json_is_string(lang) ? json_string_value(lang) : "(none)");
		send_error(w, SB_VALIDATION_ERROR, "language", b.data);
		buf_release(&b);
		return;
	}
	if (!json_is_string(code)) {
		send_error(w, SB_VALIDATION_ERROR, "code", "code is required (a string)");
		return;
	}
	if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1 || json_integer_value(timeout) > 3600)) {
		send_error(w, SB_VALIDATION_ERROR, "timeout", "timeout must be an integer from 1 to 3600 (seconds)");
		return;
	}
	if (sandbox && (!json_is_string(sandbox) || !json_string_length(sandbox))) {
		send_error(w, SB_VALIDATION_ERROR, "sandbox_id", "sandbox_id must be a sandbox id");
		return;
	}
	if (!sb_rate_take(w->principal, SB_RATE_EXECUTIONS, &retry)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "Rate limit exceeded: executions per minute per key; retry in %llu s",
			 (unsigned long long)((retry + 999) / 1000));
		send_error(w, SB_RESOURCE_LIMIT_EXCEEDED, NULL, b.data);
		buf_release(&b);
		return;
	}
	json_int_t t = timeout ? json_integer_value(timeout) : 30;
	/* wait_s as long as the timeout: the call stays in the foreground, its output streaming here */
	json_t *args = json_pack("{s:O, s:O, s:I, s:I}", "language", lang, "code", code, "timeout_s", t, "wait_s", t);
	w->running = true;
	if (sandbox && strncmp(json_string_value(sandbox), "ses_", 4)) {
		/* a sandbox's name, as everywhere in the dialect: its id first */
		json_object_set(args, "session_id", sandbox);
		w->pending = args;
		rest_call(NULL, w->principal, &w->tc, "session_list", json_object(), sandbox_listed, w);
		return;
	}
	if (sandbox)
		json_object_set(args, "session_id", sandbox);
	start(w, args);
}

/* One message: m (taken) is what it parsed to (NULL: not JSON). */
static void message(struct wsx *w, json_t *m)
{
	const char *type = json_string_value(json_object_get(m, "type"));

	if (!json_is_object(m)) {
		send_error(w, SB_VALIDATION_ERROR, "message", "a message is a JSON object with a type");
	} else if (!type) {
		send_error(w, SB_VALIDATION_ERROR, "type", "type is required: execute, cancel or ping");
	} else if (!strcmp(type, "execute")) {
		execute(w, m);
	} else if (!strcmp(type, "cancel")) {
		if (w->running && w->cancel) {
			sb_exec_cancelled(w->rec, true);
			cancel_running(w);
		}
	} else if (!strcmp(type, "ping")) {
		send_json(w, json_pack("{s:s}", "type", "pong"));
	} else {
		send_error(w, SB_VALIDATION_ERROR, "type", "type must be execute, cancel or ping");
	}
	json_decref(m);
}

/* ---- the route ---- */

static int ws_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	(void)arg;
	char key[TP_KEY_MAX];
	struct wsx *w = xcalloc(1, sizeof(*w));

	tp_req_link_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, w->principal, sizeof(w->principal)) != 1) {
		free(w);
		*why = key[0] ? "Invalid API key or token" : "Authentication is required: X-API-Key, Authorization: Bearer or ?api_key=";
		return 401;
	}
	w->in = (struct buf)BUF_INIT;
	w->line[0] = (struct buf)BUF_INIT;
	w->line[1] = (struct buf)BUF_INIT;
	*user = w;
	return 0;
}

static int ws_open(struct tp_ws *ws, void *user)
{
	struct wsx *w = user;
	w->ws = ws;
	return 0;
}

static void parse_work(void *arg)
{
	struct wsx *w = arg;
	w->parsed = json_loadb(w->text.data, w->text.len, 0, NULL);
	buf_release(&w->text);
}

static void parse_done(void *arg)
{
	struct wsx *w = arg;
	json_t *m = steal_ptr(w->parsed);

	w->parsing = false;
	if (w->closed) {
		json_decref(m);
		wsx_maybe_free(w);
		return;
	}
	tp_ws_pause(w->ws, false);
	message(w, m);
}

static void ws_receive(void *user, const void *data, size_t len)
{
	struct wsx *w = user;
	bool final, binary;

	tp_ws_piece(w->ws, &final, &binary);
	if (w->in.len + len > MESSAGE_MAX)
		w->in_too_big = true;
	else
		buf_add(&w->in, data, len);
	if (!final)
		return;
	if (w->in_too_big) {
		send_error(w, SB_VALIDATION_ERROR, "message", "a message holds at most 1 MiB");
	} else if (w->in.len >= SRV_OFFLOAD_MIN) {
		/* nothing more is read until it is parsed: messages stay in order */
		w->text = w->in;
		w->in = (struct buf)BUF_INIT;
		w->parsing = true;
		tp_ws_pause(w->ws, true);
		if (!srv_offload_run(w->principal, parse_work, parse_done, w)) {
			parse_work(w);
			parse_done(w);
		}
	} else {
		message(w, json_loadb(w->in.data, w->in.len, 0, NULL));
	}
	buf_reset(&w->in);
	w->in_too_big = false;
}

static void ws_closed(void *user)
{
	struct wsx *w = user;
	w->closed = true;
	if (!w->running) {
		wsx_maybe_free(w);
		return;
	}
	if (w->cancel) { /* the execution ends killed (cancelled); its finish frees w */
		sb_exec_cancelled(w->rec, true);
		cancel_running(w);
	}
}

static const struct tp_ws_ops ws_ops = {
	.accept = ws_accept,
	.open = ws_open,
	.receive = ws_receive,
	.closed = ws_closed,
	.refusal = sb_ws_refusal,
};

static const struct sb_ws_route ws_routes[] = {
	{ "/ws/execute", &ws_ops },
	{ NULL, NULL },
};

const struct sb_part sb_part_ws = {
	.ws = ws_routes,
};
