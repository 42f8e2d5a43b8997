/*
 * terminal_open, terminal_write, terminal_read, terminal_resize,
 * terminal_close, terminal_list: the tools over terminals (sessions/term.h).
 * A terminal is found by its id among the sessions the caller may see (a
 * session-bound endpoint: its session only).
 */
#include "tool.h"
#include "exec.h"
#include "../sessions/term.h"
#include "../vnc/server.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <uv.h>

#include "../server/base/banned.h"

#define READ_TICK_MS 25
#define READ_SETTLE_MS 150	/* terminal_read with wait_ms: output quiet this long counts as done */
#define READ_DEFAULT_BYTES (64u * 1024)
#define WRITE_MAX_KEYS 256

static struct sess_term *find_term(struct tool_call *call)
{
	const char *id = tool_arg_str(call, "terminal_id", "");
	struct sess_term *t = sess_term_find(call->env->sessions, id, call->principal, call->conn->bound_session);
	if (!t)
		tool_fail_as(call, ERR_NOT_FOUND, "terminal \"%s\" not found (argument terminal_id): it may have been "
			     "closed, timed out idle, or ended with its session; terminal_list shows yours", id);
	else
		sess_term_touch(t);
	return t;
}

/* What every terminal answer says about it. */
static json_t *term_fields(const struct sess_term *t)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:o, s:I}", "terminal_id", t->id, "session_id",
			      t->sess->id, "command", t->command, "state", sess_term_state_name(t->state), "running",
			      t->state != SESS_TERM_EXITED, "rows", t->rows, "cols", t->cols, "opened_at",
			      tool_json_time(t->opened_at), "total_bytes", (json_int_t)t->out.end);
	if (t->state == SESS_TERM_EXITED) {
		int st = t->exit.status;
		int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		json_object_set_new(o, "exit_code", json_integer(sig ? 128 + sig : WEXITSTATUS(st)));
		if (sig)
			json_object_set_new(o, "signal", json_string(tool_signal_name(sig)));
	}
	return o;
}

/*
 * Where a person watches (view_url) or also types (control_url) in a
 * browser: under serve, for the session's owner. The tokens are the
 * session's view and control tokens (as for its display).
 */
static void add_urls(json_t *o, const struct tool_call *call, const struct sess_term *t)
{
	const char *base = call->env->http_base;
	struct buf b = BUF_INIT;

	if (!base[0] || !srv_principal_owned_by(call->principal, t->sess->owner))
		return;
	buf_addf(&b, "%s/sessions/%s/terminals/%s?token=%s", base, t->sess->id, t->id,
		 vnc_token_get(t->sess->id, t->sess->owner, false));
	json_object_set_new(o, "view_url", json_string(b.data));
	buf_reset(&b);
	if (tool_may_control(call, t->sess->id)) {
		buf_addf(&b, "%s/sessions/%s/terminals/%s?token=%s", base, t->sess->id, t->id,
			 vnc_token_get(t->sess->id, t->sess->owner, true));
		json_object_set_new(o, "control_url", json_string(b.data));
	}
	buf_release(&b);
	json_object_set_new(o, "token_ttl_s", json_integer((json_int_t)call->env->cfg->view_token_ttl_s));
}

static void status_line(struct buf *text, const struct sess_term *t)
{
	buf_addf(text, "[terminal %s %s, %dx%d", t->id, sess_term_state_name(t->state), t->cols, t->rows);
	if (t->state == SESS_TERM_EXITED) {
		int st = t->exit.status;
		if (WIFSIGNALED(st))
			buf_addf(text, ", killed by %s", tool_signal_name(WTERMSIG(st)));
		else
			buf_addf(text, ", exit code %d", WEXITSTATUS(st));
	}
	buf_addch(text, ']');
}

/* ---- terminal_open ---- */

static void opened(void *arg, struct sess_term *t, struct err *err)
{
	struct tool_call *call = arg;
	struct buf text = BUF_INIT;

	if (err) {
		tool_fail_err(call, err, "terminal_open");
		err_free(err);
		return;
	}
	buf_addf(&text, "opened terminal %s (%dx%d) running %s in session %s. Next: terminal_write {\"terminal_id\": "
		 "\"%s\", \"data\": \"ls\", \"keys\": [\"Enter\"]}, then terminal_read {\"terminal_id\": \"%s\", "
		 "\"wait_ms\": 2000} for its screen.", t->id, t->cols, t->rows, t->command, t->sess->id, t->id, t->id);
	json_t *sc = term_fields(t);
	add_urls(sc, call, t);
	if (json_object_get(sc, "view_url"))
		buf_addf(&text, " A person can watch it in a browser at %s (or type too at %s).",
			 json_string_value(json_object_get(sc, "view_url")), json_string_value(json_object_get(sc, "control_url")));
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&text);
}

static void terminal_open_s(struct tool_call *call, struct sess_session *s)
{
	const char *command = tool_arg_str(call, "command", NULL);
	const char *shell[] = { "/bin/bash", "-l", NULL };
	const char *cmd[] = { "/bin/bash", "-c", command, NULL };
	json_t *term_env = json_pack("{s:s, s:s}", "TERM", "xterm-256color", "COLORTERM", "truecolor");
	char **envp = tool_exec_env(s->env, term_env);
	auto_err struct err *err = NULL;
	struct sess_term_opts o = {
		.argv = command ? cmd : shell,
		.envp = (const char *const *)envp,
		.cwd = tool_arg_str(call, "cwd", NULL),
		.rows = (int)tool_arg_int(call, "rows", 24),
		.cols = (int)tool_arg_int(call, "cols", 80),
		.limits = s->limits,
	};

	json_decref(term_env);
	if (sess_term_open(s, &o, opened, call, &err) < 0)
		tool_fail_err(call, err, "terminal_open");
	tool_exec_env_free(envp);
}

static void terminal_open_run(struct tool_call *call)
{
	tool_with_session(call, terminal_open_s);
}

/* ---- terminal_write ---- */

static void terminal_write_run(struct tool_call *call)
{
	struct sess_term *t = find_term(call);
	auto_err struct err *err = NULL;
	size_t i, n;
	json_t *k;

	if (!t)
		return;	/* call is finished (and freed): touch nothing of it */
	json_t *data = json_object_get(call->args, "data");
	json_t *keys = json_object_get(call->args, "keys");
	n = data ? json_string_length(data) : 0;
	if (!data && !json_array_size(keys)) {
		tool_fail(call, "terminal_write needs data (text to type) or keys (named keys to press)");
		return;
	}
	if (json_array_size(keys) > WRITE_MAX_KEYS) {
		tool_fail(call, "at most %d keys per call (argument keys)", WRITE_MAX_KEYS);
		return;
	}
	/* every key name first: a bad one writes nothing */
	json_array_foreach(keys, i, k) {
		struct sess_term_keypress kp;
		if (!json_is_string(k) || sess_term_key_parse(json_string_value(k), &kp, &err) < 0) {
			if (!err)
				err_setc(&err, ERR_INVALID, 0, "keys[%zu] is not a string", i);
			tool_fail_err(call, err, "terminal_write");
			return;
		}
	}
	if (n && sess_term_write(t, json_string_value(data), n, &err) < 0) {
		tool_fail_err(call, err, "terminal_write");
		return;
	}
	json_array_foreach(keys, i, k) {
		if (sess_term_key(t, json_string_value(k), &err) < 0) {
			tool_fail_err(call, err, "terminal_write (keys[%zu])", i);
			return;
		}
	}
	struct buf text = BUF_INIT;
	buf_addf(&text, "wrote %zu bytes and %zu keys to terminal %s; terminal_read {\"terminal_id\": \"%s\", "
		 "\"since_offset\": %llu, \"wait_ms\": 2000} shows what it did", n, json_array_size(keys), t->id,
		 t->id, (unsigned long long)t->out.end);
	json_t *sc = json_pack("{s:s, s:I, s:I, s:I}", "terminal_id", t->id, "written", (json_int_t)n, "keys",
			       (json_int_t)json_array_size(keys), "next_offset", (json_int_t)t->out.end);
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&text);
}

/* ---- terminal_read ---- */

struct term_read {
	struct tool_call *call;
	char *id;		/* looked up again on every tick: the terminal may go meanwhile */
	uint64_t since, limit, deadline;
	uint64_t after;		/* the output waited for starts here */
	uv_timer_t *timer;	/* heap: closes asynchronously */
};

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void term_read_free(void *arg)
{
	struct term_read *tr = arg;
	if (tr->timer) {
		uv_timer_stop(tr->timer);
		uv_close((uv_handle_t *)tr->timer, timer_closed);
	}
	free(tr->id);
	free(tr);
}

static void read_answer(struct tool_call *call, struct sess_term *t, uint64_t since, uint64_t limit)
{
	struct buf out = BUF_INIT, none = BUF_INIT, screen = BUF_INIT, text = BUF_INIT;
	bool want_screen = tool_arg_bool(call, "screen", true);
	uint64_t from = sess_ring_resume(&t->out, since);
	uint64_t next = sess_ring_split(&t->out, from, limit, &out, &none);
	uint64_t dropped = since < t->out.start ? t->out.start - since : 0;
	int crow = 0, ccol = 0;
	json_t *sc = term_fields(t);

	sess_term_screen(t, &screen, &crow, &ccol);
	json_object_set_new(sc, "output", tool_json_text(out.data, out.len));
	json_object_set_new(sc, "since_offset", json_integer((json_int_t)from));
	json_object_set_new(sc, "next_offset", json_integer((json_int_t)next));
	json_object_set_new(sc, "dropped_bytes", json_integer((json_int_t)dropped));
	json_object_set_new(sc, "more", json_boolean(next < t->out.end));
	if (want_screen) {
		json_object_set_new(sc, "screen", tool_json_text(screen.data, screen.len));
		json_object_set_new(sc, "cursor", json_pack("{s:i, s:i}", "row", crow, "col", ccol));
	}
	status_line(&text, t);
	if (want_screen) {
		buf_addf(&text, " cursor at row %d, column %d (0-based). Screen:\n", crow, ccol);
		buf_add(&text, screen.data, screen.len);
		buf_addch(&text, '\n');
	} else {
		buf_adds(&text, " Output:\n");
		buf_add(&text, out.data, out.len);
		if (out.len && out.data[out.len - 1] != '\n')
			buf_addch(&text, '\n');
	}
	if (dropped)
		buf_addf(&text, "[%llu bytes of older output were dropped]\n", (unsigned long long)dropped);
	buf_addf(&text, "[output continues at offset %llu: pass it as since_offset]", (unsigned long long)next);
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&out);
	buf_release(&none);
	buf_release(&screen);
	buf_release(&text);
}

/* Answer now if the wait is over; true if answered. */
static bool read_check(struct term_read *tr, bool force)
{
	struct tool_call *call = tr->call;
	struct sess_term *t = sess_term_find(call->env->sessions, tr->id, call->principal, call->conn->bound_session);
	uint64_t now = now_ms();

	if (!t) {
		tool_fail_as(call, ERR_NOT_FOUND, "terminal \"%s\" was closed while terminal_read waited", tr->id);
		return true;
	}
	bool fresh = t->out.end > tr->after && now - t->last_output >= READ_SETTLE_MS;
	if (!force && !fresh && t->state != SESS_TERM_EXITED && now < tr->deadline)
		return false;
	read_answer(call, t, tr->since, tr->limit);
	return true;
}

static void read_tick(uv_timer_t *h)
{
	struct term_read *tr = h->data;
	read_check(tr, false);	/* answering frees tr (and stops h) */
}

static void read_cancelled(void *arg)
{
	read_check(arg, true);	/* the caller is gone: the answer is dropped */
}

static void terminal_read_run(struct tool_call *call)
{
	struct sess_term *t = find_term(call);
	if (!t)
		return;	/* call is finished (and freed): touch nothing of it */
	uint64_t since = (uint64_t)tool_arg_int(call, "since_offset", 0);
	uint64_t limit = (uint64_t)tool_arg_int(call, "max_bytes", READ_DEFAULT_BYTES);
	int64_t wait = tool_arg_int(call, "wait_ms", 0);
	if (!wait) {
		read_answer(call, t, since, limit);
		return;
	}
	struct term_read *tr = xcalloc(1, sizeof(*tr));
	tr->call = call;
	tr->id = xstrdup(t->id);
	tr->since = since;
	/* without since_offset: the answer to the last input (output older than it has settled long ago) */
	tr->after = json_object_get(call->args, "since_offset") ? since : t->input_at;
	tr->limit = limit;
	tr->deadline = now_ms() + (uint64_t)wait;
	call->state = tr;
	call->state_free = term_read_free;
	if (read_check(tr, false))
		return;
	tr->timer = xcalloc(1, sizeof(*tr->timer));
	uv_timer_init(uv_default_loop(), tr->timer);
	tr->timer->data = tr;
	uv_timer_start(tr->timer, read_tick, READ_TICK_MS, READ_TICK_MS);
	tool_on_cancel(call, read_cancelled, tr);
}

/* ---- terminal_resize, terminal_close, terminal_list ---- */

static void terminal_resize_run(struct tool_call *call)
{
	struct sess_term *t = find_term(call);
	auto_err struct err *err = NULL;
	struct buf text = BUF_INIT;

	if (!t)
		return;
	if (sess_term_resize(t, (int)tool_arg_int(call, "rows", t->rows), (int)tool_arg_int(call, "cols", t->cols),
			     &err) < 0) {
		tool_fail_err(call, err, "terminal_resize");
		return;
	}
	status_line(&text, t);
	buf_adds(&text, " resized; its program was told (SIGWINCH)");
	tool_finish(call, tool_result_text(term_fields(t), text.data, text.len));
	buf_release(&text);
}

static void terminal_close_run(struct tool_call *call)
{
	struct sess_term *t = find_term(call);
	struct buf text = BUF_INIT;

	if (!t)
		return;
	json_t *sc = term_fields(t);
	buf_addf(&text, "closed terminal %s: its program and every process of its process group were killed", t->id);
	sess_term_close(t);
	json_object_set_new(sc, "state", json_string("closed"));
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&text);
}

struct list_ctx {
	const struct tool_call *call;
	json_t *terms;
	struct buf text;
	const char *only;
};

static void list_session(void *arg, struct sess_session *s)
{
	struct list_ctx *lc = arg;
	struct sess_term *t;

	if (lc->only && strcmp(lc->only, s->id))
		return;
	LIST_FOREACH(t, &s->terms, link) {
		json_t *o = term_fields(t);
		add_urls(o, lc->call, t);
		json_array_append_new(lc->terms, o);
		buf_addf(&lc->text, "%s  %-7s  %dx%d  session %s  %.60s\n", t->id, sess_term_state_name(t->state),
			 t->cols, t->rows, s->id, t->command);
	}
}

static void terminal_list_run(struct tool_call *call)
{
	struct list_ctx lc = { .call = call, .text = BUF_INIT };

	if (!tool_list_scope(call, &lc.only))
		return;
	lc.terms = json_array();
	sess_foreach(call->env->sessions, call->principal, list_session, &lc);
	if (!lc.text.len)
		buf_adds(&lc.text, "no terminals");
	tool_finish(call, tool_result_text(json_pack("{s:o}", "terminals", lc.terms), lc.text.data, lc.text.len));
	buf_release(&lc.text);
}

/* ---- schemas ---- */

#define TERM_ID "\"terminal_id\":{\"type\":\"string\",\"description\":\"The terminal, as terminal_open returned it (term_…).\"}"
#define SIZE_ARGS \
	"\"rows\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"description\":\"Lines (default 24).\"}," \
	"\"cols\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":500,\"description\":\"Columns (default 80).\"}"

#define TERM_FIELDS \
	"\"terminal_id\":{\"type\":\"string\"},\"session_id\":{\"type\":\"string\"},\"command\":{\"type\":\"string\"}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"opening\",\"running\",\"exited\",\"closed\"]}," \
	"\"running\":{\"type\":\"boolean\"},\"rows\":{\"type\":\"integer\"},\"cols\":{\"type\":\"integer\"}," \
	"\"opened_at\":{\"type\":\"string\"},\"total_bytes\":{\"type\":\"integer\",\"description\":\"Output bytes written in all.\"}," \
	"\"exit_code\":{\"type\":\"integer\"},\"signal\":{\"type\":\"string\"}," \
	"\"view_url\":{\"type\":\"string\",\"description\":\"A browser page that shows the terminal live, read-only (serve only).\"}," \
	"\"control_url\":{\"type\":\"string\",\"description\":\"The same page where a person can also type.\"}," \
	"\"token_ttl_s\":{\"type\":\"integer\",\"description\":\"The URLs' tokens stop working after this many seconds.\"}"

#define TERM_OUTPUT "{\"type\":\"object\",\"properties\":{" TERM_FIELDS "},\"required\":[\"terminal_id\",\"session_id\",\"state\"]}"

const struct tool_def tool_terminal_defs[] = {
	{
		.name = "terminal_open",
		.title = "Open a terminal",
		.description = "Start a program on a terminal (a pty) in the sandbox: an interactive bash by default, "
			       "or command (run by bash -c), e.g. \"vim notes.txt\", \"top\", \"python3\", an "
			       "installer that asks questions. Then type with terminal_write and look with "
			       "terminal_read (the screen as text, the cursor, the raw output). The terminal stays "
			       "until terminal_close, its session ends, or it is unused for terminal_idle (30 min "
			       "by default).",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"session_id\":{\"type\":\"string\",\"description\":\"Default: this connection's own session.\"},"
				"\"command\":{\"type\":\"string\",\"maxLength\":65536,\"description\":\"Program to run (bash -c); default: an interactive login shell.\"},"
				"\"cwd\":{\"type\":\"string\",\"maxLength\":4096,\"description\":\"Working directory inside the sandbox (default /workspace).\"},"
				SIZE_ARGS "},\"additionalProperties\":false}",
		.output_schema = TERM_OUTPUT,
		.run = terminal_open_run,
	},
	{
		.name = "terminal_write",
		.title = "Type into a terminal",
		.description = "Type text (data) and then press named keys (keys, in order) in a terminal. Keys: Enter, "
			       "Tab, Escape, Backspace, Delete, Insert, Up, Down, Left, Right, Home, End, PageUp, "
			       "PageDown, F1..F12, Space or one character, with Ctrl+, Alt+ or Shift+ before it "
			       "(\"Ctrl+C\" interrupts, \"Ctrl+D\" ends input). Keys are encoded as the program asked "
			       "(e.g. cursor keys for vim). Example: {\"terminal_id\": \"term_…\", \"data\": \"ls -l\", "
			       "\"keys\": [\"Enter\"]}.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" TERM_ID ","
				"\"data\":{\"type\":\"string\",\"maxLength\":65536,\"description\":\"Text to type as is (a newline is \\\\n; Enter is \\\\r).\"},"
				"\"keys\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":40},\"description\":\"Named keys pressed after data, at most 256.\"}},"
				"\"required\":[\"terminal_id\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"terminal_id\":{\"type\":\"string\"},"
				 "\"written\":{\"type\":\"integer\"},\"keys\":{\"type\":\"integer\"},"
				 "\"next_offset\":{\"type\":\"integer\",\"description\":\"Where its answer to this input starts in the output.\"}},"
				 "\"required\":[\"terminal_id\",\"written\",\"keys\",\"next_offset\"]}",
		.run = terminal_write_run,
	},
	{
		.name = "terminal_read",
		.title = "Read a terminal",
		.description = "The terminal's screen as text (one line per row, trailing blanks dropped), the cursor "
			       "position, and its raw output (with escape sequences) from since_offset. wait_ms: wait up "
			       "to that long for output past since_offset (without it: output after the last input "
			       "written) and answer once it has been quiet for 150 ms (use it after terminal_write). screen: false for the raw output in the text instead.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" TERM_ID ","
				"\"since_offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Raw output from this offset (default 0: all that is kept); pass the previous next_offset.\"},"
				"\"wait_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":50000,\"description\":\"Wait up to this long for new output to arrive and settle (default 0: answer now; at most 50 s, under the fixed 60 s of most clients).\"},"
				"\"screen\":{\"type\":\"boolean\",\"description\":\"Include the screen (default true).\"},"
				"\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":67108864,\"description\":\"Most raw output bytes (default 64 KiB).\"}},"
				"\"required\":[\"terminal_id\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{" TERM_FIELDS ","
				 "\"screen\":{\"type\":\"string\"},"
				 "\"cursor\":{\"type\":\"object\",\"properties\":{\"row\":{\"type\":\"integer\"},\"col\":{\"type\":\"integer\"}}},"
				 "\"output\":{\"type\":\"string\"},\"since_offset\":{\"type\":\"integer\"},"
				 "\"next_offset\":{\"type\":\"integer\"},\"dropped_bytes\":{\"type\":\"integer\"},\"more\":{\"type\":\"boolean\"}},"
				 "\"required\":[\"terminal_id\",\"state\",\"output\",\"next_offset\"]}",
		.read_only = true,
		.run = terminal_read_run,
	},
	{
		.name = "terminal_resize",
		.title = "Resize a terminal",
		.description = "Change a terminal's size; its program is told (SIGWINCH) and redraws.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" TERM_ID "," SIZE_ARGS "},"
				"\"required\":[\"terminal_id\"],\"additionalProperties\":false}",
		.output_schema = TERM_OUTPUT,
		.idempotent = true,
		.run = terminal_resize_run,
	},
	{
		.name = "terminal_close",
		.title = "Close a terminal",
		.description = "Close a terminal: its program and every process in its process group are killed.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" TERM_ID "},"
				"\"required\":[\"terminal_id\"],\"additionalProperties\":false}",
		.output_schema = TERM_OUTPUT,
		.destructive = true,
		.run = terminal_close_run,
	},
	{
		.name = "terminal_list",
		.title = "List terminals",
		.description = "The open terminals of a session (session_id), or of every session you can see.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\",\"description\":\"Only this session's terminals.\"}},"
				"\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"terminals\":{\"type\":\"array\",\"items\":" TERM_OUTPUT "}},"
				 "\"required\":[\"terminals\"]}",
		.read_only = true,
		.idempotent = true,
		.run = terminal_list_run,
	},
	{ 0 },
};
