/*
 * server/rest/agentbox_attach.c — dialect 003's attach WebSocket
 * (GET /environments/{id}/attach, see docs/compat.md): an interactive
 * /bin/sh on a terminal of the environment, through the terminal tools.
 *
 * terminal_open starts the shell; a long-polling terminal_read loop turns
 * its output into {"type":"stdout","data","timestamp"} frames; client
 * {"type":"stdin","data"} frames become terminal_write calls, one at a time
 * in arrival order; when the shell ends, {"type":"exit","data":"",
 * "exit_code","timestamp"} and the connection closes. A client that leaves
 * closes the terminal. The connection is freed only once no tool call of
 * its own is in flight.
 */
#include "agentbox_int.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/log.h"
#include "../base/rights.h"

#include <stdlib.h>
#include <string.h>

#include "../base/banned.h"

#define ATTACH_MAX 100			/* the twin's limit of sessions */
#define FRAME_MAX (64u << 10)		/* one client message */
#define STDIN_QUEUE_MAX (1u << 20)	/* typed and not yet written */
#define READ_WAIT_MS 1000

struct attach {
	struct tp_ws *ws;
	char principal[256];
	struct tool_conn *conn;
	char id[AB_MAX_ID + 1];
	char *terminal;			/* terminal_open's id, once open */
	uint64_t since;
	struct buf frame;		/* the client message being received */
	struct buf pending;		/* stdin not yet handed to terminal_write */
	unsigned calls;			/* tool calls in flight */
	bool reading, writing, gone, ended;
};
static unsigned attached;

static void attach_free_if_done(struct attach *a)
{
	if (!a->gone || a->calls)
		return;
	free(a->terminal);
	buf_release(&a->frame);
	buf_release(&a->pending);
	free(a);
	attached--;
}

static void send_frame(struct attach *a, const char *type, const char *data, size_t len, json_t *exit_code)
{
	if (a->gone || a->ended)
		return;
	json_t *now = rest_now();
	json_t *f = json_pack("{s:s, s:s%, s:o}", "type", type, "data", data, len, "timestamp",
			      ab_time(json_string_value(now)));
	json_decref(now);
	if (exit_code) {
		/* after timestamp, as the twin's struct has no such field: the document's exit_code */
		json_object_set_new(f, "exit_code", exit_code);
	}
	struct buf b = BUF_INIT;
	ab_go_json(&b, f);
	json_decref(f);
	b.len--; /* a WebSocket message needs no newline */
	tp_ws_send(a->ws, b.data, b.len, false);
	buf_release(&b);
}

/* The end: an exit frame, then close once it is written. */
static void finish(struct attach *a, const char *why, json_int_t code)
{
	if (a->ended || a->gone)
		return;
	if (why)
		send_frame(a, "stderr", why, strlen(why), NULL);
	send_frame(a, "exit", "", 0, json_integer(code));
	a->ended = true;
	tp_ws_close(a->ws);
}

static void dropped(void *arg, json_t *result, enum err_class cls)
{
	(void)arg;
	(void)cls;
	json_decref(result);
}

static void call(struct attach *a, const char *tool, json_t *args, rest_done_fn done)
{
	a->calls++;
	rest_call(NULL, a->principal, a->conn, tool, args, done, a);
}

static void read_more(struct attach *a);

static void got_output(void *arg, json_t *result, enum err_class cls)
{
	struct attach *a = arg;
	(void)cls;
	a->calls--;
	a->reading = false;
	if (a->gone) {
		json_decref(result);
		attach_free_if_done(a);
		return;
	}
	if (rest_result_failed(result)) {
		finish(a, rest_result_text(result), 1);
		json_decref(result);
		return;
	}
	json_t *d = rest_result_data(result), *out = json_object_get(d, "output");
	if (json_string_length(out))
		send_frame(a, "stdout", json_string_value(out), json_string_length(out), NULL);
	a->since = (uint64_t)json_integer_value(json_object_get(d, "next_offset"));
	const char *state = json_string_value(json_object_get(d, "state"));
	bool more = json_is_true(json_object_get(d, "more"));
	if (state && strcmp(state, "running") && !more)
		finish(a, NULL, json_integer_value(json_object_get(d, "exit_code")));
	else
		read_more(a);
	json_decref(result);
}

static void read_more(struct attach *a)
{
	if (a->gone || a->ended || a->reading)
		return;
	a->reading = true;
	call(a, "terminal_read",
	     json_pack("{s:s, s:I, s:i, s:b}", "terminal_id", a->terminal, "since_offset", (json_int_t)a->since, "wait_ms",
		       READ_WAIT_MS, "screen", 0),
	     got_output);
}

static void write_more(struct attach *a);

static void written(void *arg, json_t *result, enum err_class cls)
{
	struct attach *a = arg;
	(void)cls;
	a->calls--;
	a->writing = false;
	if (!a->gone && rest_result_failed(result))
		finish(a, rest_result_text(result), 1);
	json_decref(result);
	if (a->gone)
		attach_free_if_done(a);
	else
		write_more(a);
}

static void write_more(struct attach *a)
{
	if (a->gone || a->ended || a->writing || !a->terminal || !a->pending.len)
		return;
	a->writing = true;
	json_t *data = json_stringn_nocheck(a->pending.data, a->pending.len);
	buf_reset(&a->pending);
	call(a, "terminal_write", json_pack("{s:s, s:o}", "terminal_id", a->terminal, "data", data), written);
}

static void opened(void *arg, json_t *result, enum err_class cls)
{
	struct attach *a = arg;
	a->calls--;
	if (a->gone) {
		/* the client left while it opened: close what was opened for it */
		const char *tid = json_string_value(json_object_get(rest_result_data(result), "terminal_id"));
		if (tid)
			rest_call(NULL, a->principal, a->conn, "terminal_close", json_pack("{s:s}", "terminal_id", tid),
				  dropped, NULL);
		json_decref(result);
		attach_free_if_done(a);
		return;
	}
	if (rest_result_failed(result)) {
		finish(a, cls == ERR_NOT_FOUND ? "environment not found" : rest_result_text(result), 1);
		json_decref(result);
		return;
	}
	a->terminal = xstrdup(json_string_value(json_object_get(rest_result_data(result), "terminal_id")));
	json_decref(result);
	read_more(a);
	write_more(a);
}

/* ---- the route ---- */

/* A refused attach in the dialect's {error, message, code}: the middleware's "unauthorized", the rights' refusal. */
static void attach_refusal(int status, const char *why, struct buf *out)
{
	const char *error = status == 401 ? "unauthorized" : status == 403 ? "insufficient permissions" : why;
	json_t *body = json_pack("{s:s, s:s, s:i}", "error", error, "message", why, "code", status);
	ab_go_json(out, body);
	json_decref(body);
}

static int attach_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	(void)arg;
	char principal[256];
	const char *id = tp_req_param(r, "id");

	if (ab_authenticate(r, true, principal, sizeof(principal), why) < 0)
		return 401;
	struct srv_rights rights;
	const struct rest_services *svc = rest_services();
	bool have = !svc || svc->rights(principal, &rights);
	if (!id || strlen(id) > AB_MAX_ID || !ab_env_reaches(principal, id) ||
	    (svc && have && srv_rights_level(&rights, id) == SRV_LEVEL_NONE)) {
		*why = "environment not found";
		return 404;
	}
	/* a shell runs programs: the execute capability and editor (write) on the environment */
	static char denied[256];
	if (svc && (!have || !srv_rights_allow(&rights, SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, id, denied, sizeof(denied)))) {
		*why = have ? denied : "invalid token or API key";
		return have ? 403 : 401;
	}
	if (ab_env_share(principal, id) < SRV_LEVEL_EDITOR) {
		*why = "this environment is shared with this user as viewer; a shell needs editor";
		return 403;
	}
	if (attached >= ATTACH_MAX) {
		*why = "too many attached sessions";
		return 503;
	}
	struct attach *a = xcalloc(1, sizeof(*a));
	snprintf(a->principal, sizeof(a->principal), "%s", principal);
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->conn = rest_conn("agentbox", principal);
	attached++;
	*user = a;
	return 0;
}

static int attach_open(struct tp_ws *ws, void *user)
{
	struct attach *a = user;
	a->ws = ws;
	call(a, "terminal_open", json_pack("{s:s, s:s}", "session_id", a->id, "command", "exec /bin/sh"), opened);
	return 0;
}

static void attach_receive(void *user, const void *data, size_t len)
{
	struct attach *a = user;
	bool final, binary;

	tp_ws_piece(a->ws, &final, &binary);
	if (a->frame.len + len > FRAME_MAX) {
		finish(a, "a message longer than 64 KiB", 1);
		return;
	}
	buf_add(&a->frame, data, len);
	if (!final)
		return;
	json_t *m = json_loadb(a->frame.data, a->frame.len, JSON_REJECT_DUPLICATES, NULL);
	buf_reset(&a->frame);
	json_t *d = json_object_get(m, "data");
	const char *type = json_string_value(json_object_get(m, "type"));
	/* other types are ignored, as by the twin */
	if (type && !strcmp(type, "stdin") && json_is_string(d)) {
		if (a->pending.len + json_string_length(d) > STDIN_QUEUE_MAX) {
			json_decref(m);
			finish(a, "more than 1 MiB of input is waiting", 1);
			return;
		}
		buf_add(&a->pending, json_string_value(d), json_string_length(d));
		write_more(a);
	}
	json_decref(m);
}

static void attach_closed(void *user)
{
	struct attach *a = user;
	a->gone = true;
	if (a->terminal)
		rest_call(NULL, a->principal, a->conn, "terminal_close", json_pack("{s:s}", "terminal_id", a->terminal),
			  dropped, NULL);
	attach_free_if_done(a);
}

static const struct tp_ws_ops attach_ops = {
	.accept = attach_accept,
	.refusal = attach_refusal,
	.open = attach_open,
	.receive = attach_receive,
	.closed = attach_closed,
};

void ab_attach_routes(void)
{
	tp_ws_route("/api/v1/environments/{id}/attach", &attach_ops, NULL);
	tp_ws_route("/compat/agentbox/api/v1/environments/{id}/attach", &attach_ops, NULL);
}
