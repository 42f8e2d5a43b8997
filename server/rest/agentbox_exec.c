/*
 * server/rest/agentbox_exec.c — dialect 003's executions, logs and rate
 * limits (see agentbox.h, docs/compat.md).
 *
 * exec runs the argv as it is: the execute tool's shell language gets a
 * script whose only command is `exec` of the argv, every element
 * single-quoted, so nothing is expanded, split or globbed, and the program
 * replaces the shell (its exit code is the program's). run starts the same
 * as a background job; executions are jobs. Logs are the session log,
 * split into lines with the time each piece was written and its stream;
 * follow polls it for what is new and sends it as Server-Sent Events.
 */
#include "agentbox_int.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/log.h"
#include "../base/rate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../base/banned.h"

#define EXEC_BODY_MAX (64u << 10)	/* the twin's MaxBytesReader */
#define EXEC_DEFAULT_TIMEOUT 30		/* the document's default */
#define EXEC_TOOL_MAX_TIMEOUT 3600	/* execute's longest */
#define FOLLOW_TICK_MS 200
#define FOLLOW_QUEUE_MAX (1u << 20)
#define ARGV_MAX 4096

/* ---- argv ---- */

/*
 * python images name "python"; the host has python3 only. Where no python is
 * on PATH, one that is python3 is put first on it (a link in the sandbox's
 * own /tmp), so the documents' "python -c ..." runs as in such an image.
 */
static const char python_alias[] =
	"if ! command -v python >/dev/null 2>&1; then\n"
	"  [ -e /tmp/.agentbox/bin/python ] || { mkdir -p /tmp/.agentbox/bin && ln -s /usr/bin/python3 /tmp/.agentbox/bin/python; } 2>/dev/null\n"
	"  PATH=/tmp/.agentbox/bin:$PATH\n"
	"fi\n";

char *ab_argv_script(json_t *argv)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *v;

	buf_adds(&b, python_alias);
	buf_adds(&b, "exec --");
	json_array_foreach(argv, i, v) {
		const char *s = json_string_value(v);
		buf_adds(&b, " '");
		for (size_t k = 0; k < json_string_length(v); k++) {
			if (s[k] == '\'')
				buf_adds(&b, "'\\''");
			else
				buf_addch(&b, s[k]);
		}
		buf_addch(&b, '\'');
	}
	buf_addch(&b, '\n');
	return buf_detach(&b);
}

/* The command of an exec or run body: 0, or -1 (answered). */
static int command_of(struct abreq *a, json_t **argv)
{
	json_t *c = json_object_get(a->body, "command"), *v;
	size_t i;
	if (c && !json_is_array(c) && !json_is_null(c)) {
		ab_finish_fail(a, 400, "invalid request body", "json: cannot unmarshal into Go struct field command of type []string");
		return -1;
	}
	if (!json_array_size(c)) {
		ab_finish_fail(a, 400, "command is required", NULL);
		return -1;
	}
	if (json_array_size(c) > ARGV_MAX) {
		ab_finish_fail(a, 400, "validation failed", "command has more than 4096 arguments");
		return -1;
	}
	json_array_foreach(c, i, v) {
		if (!json_is_string(v)) {
			ab_finish_fail(a, 400, "invalid request body", "json: cannot unmarshal into Go struct field command of type string");
			return -1;
		}
		if (memchr(json_string_value(v), 0, json_string_length(v))) {
			ab_finish_fail(a, 400, "validation failed", "a command argument cannot contain a NUL character");
			return -1;
		}
	}
	*argv = c;
	return 0;
}

/* timeout: 0 or absent: def; the twin's bounds; then at most what execute takes. -1: answered. */
static int timeout_of(struct abreq *a, json_int_t def, json_int_t *out)
{
	json_t *t = json_object_get(a->body, "timeout");
	if (t && !json_is_null(t) && !json_is_integer(t)) {
		ab_finish_fail(a, 400, "invalid request body", "json: cannot unmarshal into Go struct field timeout of type int");
		return -1;
	}
	json_int_t v = json_integer_value(t);
	if (v < 0) {
		ab_finish_fail(a, 400, "timeout cannot be negative", NULL);
		return -1;
	}
	if (v > AB_MAX_TIMEOUT) {
		ab_finish_fail(a, 400, "timeout exceeds maximum allowed (86400 seconds)", NULL);
		return -1;
	}
	if (!v)
		v = def;
	*out = v > EXEC_TOOL_MAX_TIMEOUT ? EXEC_TOOL_MAX_TIMEOUT : v;
	return 0;
}

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* ---- exec ---- */

static void executed(struct abreq *a, json_t *res)
{
	/*
	 * The twin runs exec under a context deadline: past it the stream ends
	 * with "context deadline exceeded" and the handler answers 500 "failed to
	 * execute command" (no output). The same here, saying so in message.
	 */
	if (json_is_true(json_object_get(res, "timed_out"))) {
		char msg[160];
		snprintf(msg, sizeof(msg), "failed to execute command: context deadline exceeded (the command ran past its "
			 "timeout and was killed after %lld ms)", (long long)json_integer_value(json_object_get(res, "duration_ms")));
		return ab_finish_fail(a, 500, "failed to execute command", msg);
	}
	ab_finish(a, 200, json_pack("{s:O, s:O, s:I, s:I}", "stdout", json_object_get(res, "stdout"), "stderr",
				    json_object_get(res, "stderr"), "exit_code",
				    json_integer_value(json_object_get(res, "exit_code")), "duration_ms",
				    json_integer_value(json_object_get(res, "duration_ms"))));
}

static void ab_run_started(struct abreq *a, json_t *res);

/* exec and run need the environment running (the twin's 400); then the call in a->work. */
static void when_running(struct abreq *a, json_t *info)
{
	if (strcmp(ab_env_status(str(info, "status")), "running"))
		return ab_finish_fail(a, 400, "environment is not running", NULL);
	json_t *args = a->work;
	a->work = NULL;
	a->program = true;
	ab_call(a, "execute", args, json_is_true(json_object_get(args, "background")) ? ab_run_started : executed);
}

static struct abreq *exec_begin(struct tp_req *r, void *arg, json_int_t def_timeout, json_t **argsp)
{
	struct abreq *a = ab_begin_env(r, arg, EXEC_BODY_MAX, AB_RATE_EXEC | AB_NEED_EDITOR | AB_NEED_EXECUTE);
	json_t *argv;
	json_int_t timeout;
	if (!a)
		return NULL;
	if (!a->body) {
		ab_finish_fail(a, 400, "request body is required (JSON: {\"command\": [\"cmd\", \"arg1\", ...], \"timeout\": 300})",
			       NULL);
		return NULL;
	}
	if (command_of(a, &argv) < 0 || timeout_of(a, def_timeout, &timeout) < 0)
		return NULL;
	char *code = ab_argv_script(argv);
	*argsp = json_pack("{s:s, s:s, s:s, s:I}", "session_id", a->id, "language", "shell", "code", code, "timeout_s",
			   timeout);
	free(code);
	return a;
}

void ab_exec(struct tp_req *r, void *arg)
{
	json_t *args;
	struct abreq *a = exec_begin(r, arg, EXEC_DEFAULT_TIMEOUT, &args);
	if (!a)
		return;
	/* answer when it ends, however long it takes (up to its timeout), never as a job */
	json_object_set(args, "wait_s", json_object_get(args, "timeout_s"));
	a->work = args;
	a->what = "failed to execute command";
	ab_call(a, "session_info", json_pack("{s:s}", "session_id", a->id), when_running);
}

/* ---- runs and executions (jobs) ---- */

static const char *job_status_name(json_t *j)
{
	const char *st = str(j, "state");
	if (!st || !strcmp(st, "running"))
		return "running";
	if (!strcmp(st, "exited"))
		return json_integer_value(json_object_get(j, "exit_code")) ? "failed" : "completed";
	if (!strcmp(st, "cancelled"))
		return "canceled";
	return "failed"; /* timed_out, lost */
}

static json_t *execution_json(json_t *j, bool output)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", str(j, "job_id"), "environment_id", str(j, "session_id"),
			      "status", job_status_name(j), "created_at", ab_time(str(j, "started_at")), "started_at",
			      ab_time(str(j, "started_at")));
	if (str(j, "ended_at"))
		json_object_set_new(o, "completed_at", ab_time(str(j, "ended_at")));
	json_t *code = json_object_get(j, "exit_code");
	if (code)
		json_object_set(o, "exit_code", code);
	if (output && json_string_length(json_object_get(j, "stdout")))
		json_object_set(o, "stdout", json_object_get(j, "stdout"));
	if (output && json_string_length(json_object_get(j, "stderr")))
		json_object_set(o, "stderr", json_object_get(j, "stderr"));
	const char *st = str(j, "state");
	if (st && !strcmp(st, "timed_out"))
		json_object_set_new(o, "error", json_string("timed out"));
	else if (st && !strcmp(st, "lost"))
		json_object_set_new(o, "error", json_string("lost: the server restarted while it ran"));
	if (!json_is_true(json_object_get(j, "running")))
		json_object_set(o, "duration_ms", json_object_get(j, "duration_ms"));
	return o;
}

static void ab_run_started(struct abreq *a, json_t *res)
{
	json_t *now = rest_now();
	ab_finish(a, 202, json_pack("{s:s, s:s, s:s, s:o}", "id", str(res, "job_id"), "environment_id", a->id, "status",
				    "running", "created_at", ab_time(json_string_value(now))));
	json_decref(now);
}

void ab_run(struct tp_req *r, void *arg)
{
	json_t *args;
	struct abreq *a = exec_begin(r, arg, EXEC_TOOL_MAX_TIMEOUT, &args);
	if (!a)
		return;
	json_object_set_new(args, "background", json_true());
	json_t *env = json_object_get(a->body, "env");
	if (json_object_size(env))
		json_object_set(args, "env", env);
	a->work = args;
	a->what = "failed to submit execution";
	ab_call(a, "session_info", json_pack("{s:s}", "session_id", a->id), when_running);
}

static void listed_jobs(struct abreq *a, json_t *data)
{
	json_t *arr = json_array(), *j;
	size_t i;
	json_int_t limit = json_integer_value(a->work);
	json_array_foreach(json_object_get(data, "jobs"), i, j) {
		if ((json_int_t)json_array_size(arr) >= limit)
			break;
		json_array_append_new(arr, execution_json(j, false));
	}
	ab_finish(a, 200, json_pack("{s:o, s:I}", "executions", arr, "total", (json_int_t)json_array_size(arr)));
}

void ab_executions(struct tp_req *r, void *arg)
{
	char v[32], *end;
	struct abreq *a = ab_begin_env(r, arg, 0, 0);
	if (!a)
		return;
	long limit = 100;
	if (!tp_req_query(r, "limit", v, sizeof(v)) && v[0]) {
		long n = strtol(v, &end, 10);
		if (!*end && n > 0)
			limit = n;
	}
	a->work = json_integer(limit);
	a->what = "failed to list executions";
	ab_call(a, "job_list", json_pack("{s:s}", "session_id", a->id), listed_jobs);
}

static struct abreq *execution_begin(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, "id", 0, 0);
	if (!a)
		return NULL;
	ab_set_base(a, arg);
	a->not_found = "execution not found";
	return a;
}

/* Only the jobs of environments are executions. */
static bool is_execution(struct abreq *a, json_t *j)
{
	if (ab_env_spec(str(j, "session_id")))
		return true;
	ab_finish_fail(a, 404, "execution not found", NULL);
	return false;
}

static void got_job(struct abreq *a, json_t *j)
{
	if (is_execution(a, j) && !ab_allowed(a, 0, str(j, "session_id")))
		ab_finish(a, 200, execution_json(j, true));
}

void ab_execution_get(struct tp_req *r, void *arg)
{
	struct abreq *a = execution_begin(r, arg);
	if (!a)
		return;
	a->what = "failed to get execution";
	ab_call(a, "job_status", json_pack("{s:s}", "job_id", a->id), got_job);
}

static void cancelled(struct abreq *a, json_t *j)
{
	(void)j;
	ab_finish(a, 200, json_pack("{s:s}", "status", "canceled"));
}

static void cancel_found(struct abreq *a, json_t *j)
{
	if (!is_execution(a, j) || ab_allowed(a, AB_NEED_EDITOR | AB_NEED_EXECUTE, str(j, "session_id")) < 0)
		return;
	if (!json_is_true(json_object_get(j, "running"))) {
		char msg[128];
		snprintf(msg, sizeof(msg), "execution cannot be canceled: it is %s", job_status_name(j));
		return ab_finish_fail(a, 400, msg, NULL);
	}
	ab_call(a, "job_cancel", json_pack("{s:s}", "job_id", a->id), cancelled);
}

void ab_execution_cancel(struct tp_req *r, void *arg)
{
	struct abreq *a = execution_begin(r, arg);
	if (!a)
		return;
	a->what = "failed to cancel execution";
	ab_call(a, "job_status", json_pack("{s:s}", "job_id", a->id), cancel_found);
}

/* The environment's own command: a job started with it (failures are logged: the environment exists). */
static void command_started(void *arg, json_t *result, enum err_class cls)
{
	char *id = arg;
	(void)cls;
	if (rest_result_failed(result))
		log_warn("agentbox: environment %s: its command did not start: %s", id, rest_result_text(result));
	json_decref(result);
	free(id);
}

void ab_start_command(struct abreq *a, json_t *spec)
{
	char *code = ab_argv_script(json_object_get(spec, "command"));
	const char *id = str(a->info, "session_id");
	rest_call(NULL, a->principal, a->conn, "execute",
		  json_pack("{s:s, s:s, s:s, s:b}", "session_id", id, "language", "shell", "code", code, "background", 1),
		  command_started, xstrdup(id));
	free(code);
}

/* ---- logs ---- */

struct logq {
	long tail;
	bool timestamps;
};

/* The session log's entries as the document's log lines, appended to lines. */
static void log_lines(json_t *entries, bool timestamps, json_t *lines)
{
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		const char *t = str(e, "text"), *stream = str(e, "stream");
		json_t *when = timestamps ? ab_time(str(e, "time")) : json_string("0001-01-01T00:00:00Z");
		size_t n = json_string_length(json_object_get(e, "text"));
		for (size_t at = 0; t && at < n;) {
			const char *nl = memchr(t + at, '\n', n - at);
			size_t len = nl ? (size_t)(nl - (t + at)) : n - at;
			json_array_append_new(lines, json_pack("{s:O, s:s, s:s%}", "timestamp", when, "stream",
							       stream ? stream : "stdout", "message", t + at, len));
			at += len + (nl != NULL);
		}
		json_decref(when);
	}
}

static void keep_last(json_t *lines, long tail)
{
	while (tail > 0 && (long)json_array_size(lines) > tail)
		json_array_remove(lines, 0);
}

static void got_logs(struct abreq *a, json_t *data)
{
	json_t *lines = json_array();
	log_lines(json_object_get(data, "entries"), json_is_true(json_object_get(a->work, "timestamps")), lines);
	keep_last(lines, (long)json_integer_value(json_object_get(a->work, "tail")));
	ab_finish(a, 200, json_pack("{s:o}", "logs", lines));
}

/* A following client: what is new in the log every tick, until it leaves or the environment goes. */
struct follow {
	struct tp_req *r;
	char principal[256];
	struct tool_conn *conn;
	char id[AB_MAX_ID + 1];
	bool timestamps, busy, done;
	long tail;			/* the first answer only */
	uint64_t since;
	uv_timer_t *timer;
	LIST_ENTRY(follow) link;
};
static LIST_HEAD(, follow) follows = LIST_HEAD_INITIALIZER(follows);

static void follow_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void follow_end(struct follow *f, const char *error)
{
	if (error) {
		struct buf b = BUF_INIT;
		json_t *e = json_pack("{s:s}", "error", error);
		buf_adds(&b, "event: error\ndata: ");
		ab_go_json(&b, e);
		buf_adds(&b, "\n");
		json_decref(e);
		tp_req_write(f->r, b.data, b.len);
		buf_release(&b);
	}
	tp_req_end(f->r);
	uv_timer_stop(f->timer);
	uv_close((uv_handle_t *)f->timer, follow_timer_closed);
	LIST_REMOVE(f, link);
	f->done = true;
	if (!f->busy)
		free(f);
}

static void follow_got(void *arg, json_t *result, enum err_class cls)
{
	struct follow *f = arg;
	(void)cls;
	f->busy = false;
	if (f->done) {
		free(f);
	} else if (rest_result_failed(result)) {
		follow_end(f, "environment not found");
	} else {
		json_t *data = rest_result_data(result), *lines = json_array(), *l;
		size_t i;
		log_lines(json_object_get(data, "entries"), f->timestamps, lines);
		if (f->tail) {
			keep_last(lines, f->tail);
			f->tail = 0;
		}
		struct buf b = BUF_INIT;
		json_array_foreach(lines, i, l) {
			buf_adds(&b, "data: ");
			ab_go_json(&b, l);
			buf_adds(&b, "\n");
		}
		json_decref(lines);
		if (b.len)
			tp_req_write(f->r, b.data, b.len);
		buf_release(&b);
		f->since = (uint64_t)json_integer_value(json_object_get(data, "next_offset"));
	}
	json_decref(result);
}

static void follow_poll(struct follow *f)
{
	json_t *args = json_pack("{s:s, s:I}", "session_id", f->id, "since", (json_int_t)f->since);
	f->busy = true;
	/* no request bound: the stream outlives any one call, and ends itself when the client is gone */
	rest_call(NULL, f->principal, f->conn, "session_logs", args, follow_got, f);
}

static void follow_tick(uv_timer_t *t)
{
	struct follow *f = t->data;
	if (f->busy)
		return;
	if (tp_req_gone(f->r) || tp_http_draining() || !ab_env_spec(f->id)) {
		follow_end(f, tp_req_gone(f->r) ? NULL : tp_http_draining() ? "the server is shutting down"
			   : "environment not found");
		return;
	}
	if (tp_req_queued(f->r) < FOLLOW_QUEUE_MAX)
		follow_poll(f);
}

static void follow_start(struct abreq *a)
{
	struct follow *f = xcalloc(1, sizeof(*f));
	f->r = a->r;
	snprintf(f->principal, sizeof(f->principal), "%s", a->principal);
	f->conn = a->conn;
	snprintf(f->id, sizeof(f->id), "%s", a->id);
	f->timestamps = json_is_true(json_object_get(a->work, "timestamps"));
	f->tail = (long)json_integer_value(json_object_get(a->work, "tail"));
	f->timer = xcalloc(1, sizeof(*f->timer));
	f->timer->data = f;
	uv_timer_init(uv_default_loop(), f->timer);
	uv_timer_start(f->timer, follow_tick, FOLLOW_TICK_MS, FOLLOW_TICK_MS);
	LIST_INSERT_HEAD(&follows, f, link);
	/* text/event-stream gets Cache-Control: no-cache from the transport */
	tp_req_add_header(a->r, "X-Accel-Buffering", "no");
	tp_req_start(a->r, 200, "text/event-stream");
	a->r = NULL;
	ab_free(a);
	follow_poll(f);
}

static bool query_bool(struct tp_req *r, const char *name, bool def)
{
	char v[16];
	if (tp_req_query(r, name, v, sizeof(v)) || !v[0])
		return def;
	return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "True") || !strcmp(v, "TRUE") || !strcmp(v, "t");
}

void ab_logs(struct tp_req *r, void *arg)
{
	char v[32], *end;
	struct abreq *a = ab_begin_env(r, arg, 0, 0);
	if (!a)
		return;
	long tail = 0;
	if (!tp_req_query(r, "tail", v, sizeof(v)) && v[0]) {
		tail = strtol(v, &end, 10);
		if (*end || tail < 0)
			return ab_finish_fail(a, 400, "invalid request", "tail must be a non-negative integer");
	}
	a->work = json_pack("{s:I, s:b}", "tail", (json_int_t)tail, "timestamps", query_bool(r, "timestamps", true));
	a->what = "failed to get logs";
	if (query_bool(r, "follow", false))
		return follow_start(a);
	ab_call(a, "session_logs", json_pack("{s:s}", "session_id", a->id), got_logs);
}

static void ab_follow_release(void)
{
	struct follow *f;
	while ((f = LIST_FIRST(&follows)))
		follow_end(f, NULL);
}

/* ---- rate limits ---- */

/*
 * The document's categories: authentication 10, environment creation 20,
 * command execution 100, other operations 200 requests a minute, per
 * principal (logins: per client address). Config
 * compat.agentbox.rate_limits {auth, create, exec, other} changes them
 * (N a minute, or {per_minute, burst}; 0: no limit). Administrators are
 * not limited.
 */
static struct srv_rate *rl_main;	/* execute: exec, sessions: create, requests: other */
static struct srv_rate *rl_auth;	/* requests: auth */

/* A category's limit (srv_rate_limit_parse: N a minute, or {per_minute, burst}); def when not configured or bad. */
static struct srv_rate_limit limit_of(const struct srv_config *cfg, const char *name, uint64_t def)
{
	json_t *v = json_object_get(json_object_get(json_object_get(cfg->compat, "agentbox"), "rate_limits"), name);
	struct srv_rate_limit l = { def, def };
	auto_err struct err *err = NULL;
	char what[64];

	snprintf(what, sizeof(what), "compat.agentbox.rate_limits.%s", name);
	if (v && srv_rate_limit_parse(v, what, &l, &err) < 0) {
		log_warn("%s (the document's %" PRIu64 " a minute is used)", err_text(err), def);
		l = (struct srv_rate_limit){ def, def };
	}
	return l;
}

void ab_rate_init(const struct srv_config *cfg)
{
	struct srv_rate_config c = { .principals = 10000 };
	c.cat[SRV_RATE_EXECUTE] = limit_of(cfg, "exec", 100);
	c.cat[SRV_RATE_SESSIONS] = limit_of(cfg, "create", 20);
	c.cat[SRV_RATE_REQUESTS] = limit_of(cfg, "other", 200);
	rl_main = srv_rate_new(&c);
	memset(c.cat, 0, sizeof(c.cat));
	c.cat[SRV_RATE_REQUESTS] = limit_of(cfg, "auth", 10);
	rl_auth = srv_rate_new(&c);
}

void ab_rate_release(void)
{
	ab_follow_release();
	srv_rate_free(rl_main);
	srv_rate_free(rl_auth);
	rl_main = rl_auth = NULL;
}

int ab_rate(struct tp_req *r, const char *principal, unsigned flags)
{
	char who[300];
	struct srv_rate_verdict v;
	struct srv_rate *rl = flags & AB_RATE_AUTH ? rl_auth : rl_main;
	enum srv_rate_cat cat = flags & AB_RATE_EXEC ? SRV_RATE_EXECUTE
			      : flags & AB_RATE_CREATE ? SRV_RATE_SESSIONS : SRV_RATE_REQUESTS;

	if (!rl)
		return 0;
	if (principal) {
		snprintf(who, sizeof(who), "%s", principal);
	} else {
		char peer[64];
		tp_req_peer(r, peer, sizeof(peer));
		snprintf(who, sizeof(who), "ip:%s", peer);
	}
	if (!srv_rate_take(rl, who, cat, now_ns(), &v))
		return 0;
	tp_req_rate_headers(r, &v);
	if (!v.refused)
		return 0;
	ab_fail(r, 429, "rate limit exceeded", "too many requests: %llu a minute are allowed; retry in %llu s",
		(unsigned long long)v.per_minute, (unsigned long long)((v.retry_after_ms + 999) / 1000));
	return -1;
}
