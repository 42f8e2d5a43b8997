/*
 * server/rest/soulbox_exec.c — SoulBox's executions (see soulbox.h,
 * docs/compat.md 004): POST /api/execute, GET and DELETE
 * /api/execute/{execution_id}.
 *
 * Every execution is a background job (the execute tool with background:
 * true), so that its status can be asked and it can be cancelled while it
 * runs. Without sandbox_id it runs in a sandbox of its own, made with the
 * request's limits (memory_limit, cpu_limit, network_access) and destroyed
 * when it ends. One execution is a chain of tool calls: session_create,
 * file_write per file, file_list (what exists before), execute, job_wait
 * until the job ends, file_list (files_created), session_destroy. A record
 * per execution (struct sb_exec) outlives the chain, so its status can be
 * asked afterwards (the newest EXEC_KEEP finished ones of each key are kept,
 * within bounds of bytes per key and in all).
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/config.h"
#include "../base/json_out.h"
#include "../base/rights.h"
#include "../../tools/lang.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "../base/banned.h"

/* Finished executions whose status stays known: the newest EXEC_KEEP of each key (with the keys
   it made), as long as their answers (output, stderr: up to OUTPUT_MAX each) take at most
   EXEC_KEEP_BYTES; in all at most EXEC_KEEP_ALL, taking EXEC_KEEP_ALL_BYTES. A key over its own
   bound loses its own oldest, so no key pushes out another's before the server-wide bound. */
#define EXEC_KEEP 1000
#define EXEC_KEEP_BYTES (32u << 20)
#define EXEC_KEEP_ALL 10000
#define EXEC_KEEP_ALL_BYTES (256u << 20)
#define EXEC_OVERHEAD 1024	/* a record's own bytes, roughly */
#define MAX_FILES 256
#define WAIT_SLICE_S 60		/* one job_wait's longest wait */
#define OUTPUT_MAX (4u << 20)	/* output bytes of one answer (the job keeps its newest) */
#define LABEL_EXEC "soulbox.execution"

struct sb_exec {
	char id[32];
	char principal[SB_PRINCIPAL_MAX];
	char session[80];
	char job[80];
	bool own_session;	/* made for it: destroyed when it ends */
	const char *status;	/* running, completed, failed, timeout, cancelled */
	bool cancel;		/* DELETE asked for it */
	bool done;
	uint64_t started_wall_ms, completed_wall_ms, started_ns;
	int64_t timeout_s;
	json_t *result;		/* the answer, once done */
	/* run elsewhere (sb_exec_begin): no job; output kept here, cancel through the runner */
	bool streamed;
	struct buf out, err;
	bool truncated;
	void (*cancel_fn)(void *arg);
	void *cancel_arg;
	size_t held;		/* bytes its answer keeps, once done */
	TAILQ_ENTRY(sb_exec) link;
};
static TAILQ_HEAD(, sb_exec) execs = TAILQ_HEAD_INITIALIZER(execs);
static size_t nfinished, finished_bytes;
static const struct srv_config *config;

/* The chain of one execution. */
struct run {
	struct sb_exec *e;
	bool async;		/* answered 202 already */
	json_t *files;		/* [{name, content}] still to write (borrowed from the body) */
	size_t next_file;
	json_t *before;		/* {path: mtime} before the program ran */
	json_t *outcome;	/* job_wait's final result */
	uint64_t since;		/* output offset job_wait continues at */
	struct buf out, err;
	bool truncated;		/* output past OUTPUT_MAX was dropped */
};

static void run_free(void *p)
{
	struct run *u = p;
	json_decref(u->before);
	json_decref(u->outcome);
	buf_release(&u->out);
	buf_release(&u->err);
	free(u);
}

static void exec_free(struct sb_exec *e)
{
	json_decref(e->result);
	buf_release(&e->out);
	buf_release(&e->err);
	free(e);
}

static struct sb_exec *exec_find(const char *id, const char *principal)
{
	struct sb_exec *e;
	TAILQ_FOREACH(e, &execs, link)
		if (!strcmp(e->id, id) && !strcmp(e->principal, principal))
			return e;
	return NULL;
}

/* The status answer of GET: the document's fields, and the result's once done. */
static json_t *status_json(const struct sb_exec *e)
{
	double progress = 1.0;
	if (!e->done) {
		double elapsed = (double)(now_ns() - e->started_ns) / 1e9;
		progress = e->timeout_s > 0 ? elapsed / (double)e->timeout_s : 0;
		progress = progress > 0.99 ? 0.99 : floor(progress * 100) / 100;
	}
	json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:f}", "execution_id", e->id, "status", e->status, "started_at",
			      srv_json_time((int64_t)e->started_wall_ms, false), "completed_at",
			      e->done ? srv_json_time((int64_t)e->completed_wall_ms, false) : json_null(), "progress", progress);
	if (e->done && e->result) {
		json_t *r = json_deep_copy(e->result);
		json_object_update_missing(o, r);
		json_decref(r);
	} else if (e->streamed) {
		json_object_set_new(o, "output", srv_json_text(e->out.data, e->out.len));
		json_object_set_new(o, "stderr", srv_json_text(e->err.data, e->err.len));
	}
	return o;
}

/* Bytes a finished record keeps: its answer's strings (the output) and its own. */
static size_t exec_held(const struct sb_exec *e)
{
	const char *k;
	json_t *v;
	size_t n = EXEC_OVERHEAD + e->out.len + e->err.len;
	json_object_foreach(e->result, k, v)
		n += json_is_string(v) ? json_string_length(v) : 0;
	return n;
}

static void exec_drop(struct sb_exec *o)
{
	TAILQ_REMOVE(&execs, o, link);
	nfinished--;
	finished_bytes -= o->held;
	exec_free(o);
}

/* Do a and b belong to one owner (a key and the keys it made: one tenant)? */
static bool same_owner(const char *a, const char *b)
{
	size_t n = srv_principal_owner_len(a);
	return n == srv_principal_owner_len(b) && !memcmp(a, b, n);
}

/* The oldest finished record of principal's owner (NULL: anyone's) other than keep, and what that
   owner's finished records hold (count, bytes). */
static struct sb_exec *exec_oldest(const char *principal, const struct sb_exec *keep, size_t *count, size_t *bytes)
{
	struct sb_exec *e, *oldest = NULL;
	*count = *bytes = 0;
	TAILQ_FOREACH(e, &execs, link) {
		if (!e->done || (principal && !same_owner(e->principal, principal)))
			continue;
		++*count;
		*bytes += e->held;
		if (!oldest && e != keep)
			oldest = e;
	}
	return oldest;
}

/* The record is done: keep it, dropping the oldest finished ones past the bounds (EXEC_KEEP). */
static void exec_finished(struct sb_exec *e, const char *status, json_t *result)
{
	struct sb_exec *o;
	size_t count, bytes;

	e->status = status;
	e->done = true;
	e->completed_wall_ms = wall_ms();
	e->result = result;
	e->held = exec_held(e);
	nfinished++;
	finished_bytes += e->held;
	while ((o = exec_oldest(e->principal, e, &count, &bytes)) && (count > EXEC_KEEP || bytes > EXEC_KEEP_BYTES))
		exec_drop(o);
	while ((nfinished > EXEC_KEEP_ALL || finished_bytes > EXEC_KEEP_ALL_BYTES) &&
	       (o = exec_oldest(NULL, e, &count, &bytes)))
		exec_drop(o);
}

/* ---- the end of a chain ---- */

static void answer_now(struct sb_call *c, int status, json_t *body)
{
	struct run *u = c->ext;
	if (u->async) {
		json_decref(body);
		sb_call_free(c);
	} else {
		sb_call_answer(c, status, body);
	}
}

/* Nothing ran (or it could not be followed): the record says why, the client gets the envelope. */
static void chain_failed(struct sb_call *c, enum err_class cls, const char *message)
{
	struct run *u = c->ext;
	enum sb_code code;
	int status = sb_status_of(c->r, cls, &code);
	char text[300];
	json_t *err = sb_error_json(code, sb_message_of(cls, message, text, sizeof(text)), NULL, NULL, NULL);
	exec_finished(u->e, u->e->cancel ? "cancelled" : "failed",
		      json_pack("{s:O}", "error", json_object_get(err, "error")));
	if (u->async) {
		json_decref(err);
		sb_call_free(c);
	} else {
		sb_call_answer(c, status, err);
	}
}

/* A failure after the sandbox was made: destroy it first (its failure then is ignored). */
static void destroyed_after_failure(struct sb_call *c, json_t *data)
{
	(void)data;
	json_t *saved = steal_ptr(c->keep);
	chain_failed(c, (enum err_class)json_integer_value(json_object_get(saved, "class")),
		     json_string_value(json_object_get(saved, "message")));
	json_decref(saved);
}

static void destroy_failed_too(struct sb_call *c, json_t *result, enum err_class cls)
{
	(void)result;
	(void)cls;
	destroyed_after_failure(c, NULL);
}

static void clean_and_fail(struct sb_call *c, enum err_class cls, const char *message)
{
	struct run *u = c->ext;
	if (!u->e->own_session || !u->e->session[0]) {
		chain_failed(c, cls, message);
		return;
	}
	json_decref(c->keep);
	c->keep = json_pack("{s:i, s:s}", "class", (int)cls, "message", message);
	c->on_fail = destroy_failed_too;
	sb_call_tool(c, "session_destroy", json_pack("{s:s}", "session_id", u->e->session), destroyed_after_failure);
}

static void fail_and_clean(struct sb_call *c, json_t *result, enum err_class cls)
{
	clean_and_fail(c, cls, rest_result_text(result));
}

/*
 * The result: the document's fields, and what mcpbox adds (stderr,
 * error_code, times, sandbox_id), from o (the execute tool's outcome), the
 * output kept and files_created (stolen; NULL: not known). *status: its status.
 */
static json_t *result_json(struct sb_exec *e, json_t *o, const struct buf *out, const struct buf *err, bool truncated,
			   json_t *created, const char **statusp)
{
	bool timed_out = json_is_true(json_object_get(o, "timed_out"));
	bool oom = json_is_true(json_object_get(o, "oom_killed"));
	json_t *code = json_object_get(o, "exit_code");
	bool clean = json_is_integer(code) && !json_integer_value(code);
	const char *status = clean ? "completed" : e->cancel ? "cancelled" : timed_out ? "timeout" : "failed";
	json_t *error = json_null();
	const char *error_code = NULL;

	if (strcmp(status, "completed")) {
		struct buf msg = BUF_INIT;
		if (e->cancel)
			buf_adds(&msg, "Execution cancelled");
		else if (timed_out)
			buf_addf(&msg, "Execution timed out after %" PRId64 " s", e->timeout_s);
		else if (oom)
			buf_adds(&msg, "Killed: out of memory (memory_limit)");
		else if (err->len)
			buf_add(&msg, err->data, srv_utf8_prefix(err->data, err->len));
		else if (json_string_value(json_object_get(o, "signal")))
			buf_addf(&msg, "Killed by %s", json_string_value(json_object_get(o, "signal")));
		else
			buf_addf(&msg, "Exit code %" JSON_INTEGER_FORMAT, json_integer_value(code));
		error = json_string(msg.data);
		buf_release(&msg);
		error_code = timed_out && !e->cancel ? "EXECUTION_TIMEOUT" : "EXECUTION_ERROR";
	}
	/* the program's bytes (a stream's pieces, from /ws/execute) need not be UTF-8 */
	json_t *r = json_pack("{s:s, s:s, s:o, s:o, s:o, s:f, s:I, s:o, s:o, s:o, s:o, s:o}", "execution_id", e->id,
			      "status", status, "output", srv_json_text(out->data, out->len), "error", error, "exit_code",
			      json_is_integer(code) ? json_incref(code) : json_null(), "execution_time",
			      (double)json_integer_value(json_object_get(o, "duration_ms")) / 1000.0, "memory_used",
			      (json_int_t)json_integer_value(json_object_get(o, "max_rss_kb")) * 1024,
			      "stderr", srv_json_text(err->data, err->len), "error_code",
			      error_code ? json_string(error_code) : json_null(), "sandbox_id",
			      e->own_session ? json_null() : json_string(e->session), "started_at",
			      srv_json_time((int64_t)e->started_wall_ms, false), "completed_at", srv_json_time((int64_t)wall_ms(), false));
	if (created)
		json_object_set_new(r, "files_created", created);
	if (truncated)
		json_object_set_new(r, "truncated", json_true());
	*statusp = status;
	return r;
}

static void finish_result(struct sb_call *c, json_t *created)
{
	struct run *u = c->ext;
	const char *status;
	json_t *r = result_json(u->e, u->outcome, &u->out, &u->err, u->truncated, created, &status);
	exec_finished(u->e, status, json_incref(r));
	answer_now(c, 200, r);
}

/* Regular files that are new or changed since before, outside mcpbox's build cache. */
static json_t *files_created(json_t *before, json_t *after)
{
	json_t *out = json_array();
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(after, "entries"), i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mtime = json_string_value(json_object_get(f, "mtime"));
		const char *was = json_string_value(json_object_get(before, path ? path : ""));
		if (!path || !type || strcmp(type, "file") || !strncmp(path, ".cache/", 7) ||
		    (was && mtime && !strcmp(was, mtime)))
			continue;
		json_array_append_new(out, json_pack("{s:s, s:O}", "name", path, "size", json_object_get(f, "size")));
	}
	return out;
}

static void cleaned_up(struct sb_call *c, json_t *data)
{
	(void)data;
	finish_result(c, steal_ptr(c->keep));
}

static void clean_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	(void)result;
	(void)cls;
	cleaned_up(c, NULL);
}

static void listed_after(struct sb_call *c, json_t *data)
{
	struct run *u = c->ext;
	json_decref(c->keep);
	c->keep = data ? files_created(u->before, data) : json_array();
	if (!u->e->own_session) {
		cleaned_up(c, NULL);
		return;
	}
	c->on_fail = clean_failed;
	sb_call_tool(c, "session_destroy", json_pack("{s:s}", "session_id", u->e->session), cleaned_up);
}

static void list_after_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	(void)result;
	(void)cls;
	listed_after(c, NULL);
}

/* A new running record of principal (its timeout clamped to the server's longest). */
static struct sb_exec *exec_new(const char *principal, int64_t timeout_s)
{
	struct sb_exec *e = xcalloc(1, sizeof(*e));
	char *id = random_id("exec_", 6);
	snprintf(e->id, sizeof(e->id), "%s", id);
	free(id);
	snprintf(e->principal, sizeof(e->principal), "%s", principal);
	e->status = "running";
	e->started_wall_ms = wall_ms();
	e->started_ns = now_ns();
	e->timeout_s = timeout_s;
	if (config && config->timeout_s.max && (uint64_t)e->timeout_s > config->timeout_s.max)
		e->timeout_s = (int64_t)config->timeout_s.max;
	e->out = (struct buf)BUF_INIT;
	e->err = (struct buf)BUF_INIT;
	TAILQ_INSERT_TAIL(&execs, e, link);
	return e;
}

/* ---- waiting for the job ---- */

static void wait_job(struct sb_call *c);

/* Output kept for an answer (bounded: what passes OUTPUT_MAX is dropped, the program never waits for it). */
static void keep_output(struct buf *to, bool *truncated, const char *data, size_t n)
{
	if (to->len + n > OUTPUT_MAX) {
		n = OUTPUT_MAX - to->len;
		*truncated = true;
	}
	buf_add(to, data ?: "", n);
}

static void take_output(struct run *u, json_t *data)
{
	json_t *out = json_object_get(data, "stdout"), *err = json_object_get(data, "stderr");
	keep_output(&u->out, &u->truncated, json_string_value(out), json_string_length(out));
	keep_output(&u->err, &u->truncated, json_string_value(err), json_string_length(err));
}

/* The client of a synchronous execution left: job_wait answered early; kill the program, then clean up. */
static bool client_left(struct sb_call *c)
{
	struct run *u = c->ext;
	if (u->async || !c->r || !tp_req_gone(c->r))
		return false;
	u->e->cancel = true;
	sb_call_forget(c, "job_cancel", json_pack("{s:s}", "job_id", u->e->job));
	clean_and_fail(c, ERR_UNAVAILABLE, "The client left: execution cancelled");
	return true;
}

static void waited(struct sb_call *c, json_t *data)
{
	struct run *u = c->ext;
	take_output(u, data);
	if (client_left(c))
		return;
	if (json_is_integer(json_object_get(data, "next_offset")))
		u->since = (uint64_t)json_integer_value(json_object_get(data, "next_offset"));
	if (json_is_true(json_object_get(data, "running")) || json_is_true(json_object_get(data, "more"))) {
		wait_job(c);
		return;
	}
	json_decref(u->outcome);
	u->outcome = json_incref(data);
	c->on_fail = list_after_failed;
	sb_call_tool(c, "file_list", json_pack("{s:s, s:b}", "session_id", u->e->session, "recursive", 1),
		     listed_after);
}

/* The client left (the call was cancelled) or the job is gone: cancel it, then clean up. */
static void wait_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	json_t *d = rest_result_data(result);
	if (json_object_get(d, "exit_code") || json_object_get(d, "timed_out")) {
		/* the program failed (a non-zero exit, a timeout): that is its result, not the call's failure */
		waited(c, d);
		return;
	}
	if (!client_left(c))
		fail_and_clean(c, result, cls);
}

static void wait_job(struct sb_call *c)
{
	struct run *u = c->ext;
	c->on_fail = wait_failed;
	sb_call_tool(c, "job_wait",
		     json_pack("{s:s, s:i, s:I, s:I}", "job_id", u->e->job, "timeout_s", WAIT_SLICE_S, "since_offset",
			       (json_int_t)u->since, "max_bytes", (json_int_t)OUTPUT_MAX),
		     waited);
}

static void started(struct sb_call *c, json_t *data)
{
	struct run *u = c->ext;
	snprintf(u->e->job, sizeof(u->e->job), "%s", json_string_value(json_object_get(data, "job_id")) ?: "");
	if (json_is_integer(json_object_get(data, "next_offset")))
		u->since = (uint64_t)json_integer_value(json_object_get(data, "next_offset"));
	take_output(u, data);
	if (!u->e->job[0]) { /* finished at once (no job): the result is execute's own */
		json_decref(u->outcome);
		u->outcome = json_incref(data);
		c->on_fail = list_after_failed;
		sb_call_tool(c, "file_list", json_pack("{s:s, s:b}", "session_id", u->e->session, "recursive", 1),
			     listed_after);
		return;
	}
	if (u->e->cancel)
		sb_call_forget(c, "job_cancel", json_pack("{s:s}", "job_id", u->e->job));
	wait_job(c);
}

/* ---- starting ---- */

static void listed_before(struct sb_call *c, json_t *data)
{
	struct run *u = c->ext;
	size_t i;
	json_t *f;
	u->before = json_object();
	json_array_foreach(json_object_get(data, "entries"), i, f)
		if (json_is_string(json_object_get(f, "path")) && json_is_string(json_object_get(f, "mtime")))
			json_object_set(u->before, json_string_value(json_object_get(f, "path")),
					json_object_get(f, "mtime"));
	if (u->e->cancel) {
		clean_and_fail(c, ERR_CONFLICT, "Execution cancelled before it started");
		return;
	}
	json_t *b = c->body;
	json_t *args = json_pack("{s:s, s:O, s:O, s:b, s:I}", "session_id", u->e->session, "language",
				 json_object_get(b, "language"), "code", json_object_get(b, "code"), "background", 1,
				 "timeout_s", (json_int_t)u->e->timeout_s);
	if (json_object_get(b, "environment"))
		json_object_set(args, "env", json_object_get(b, "environment"));
	c->on_fail = fail_and_clean;
	sb_call_tool(c, "execute", args, started);
}

static void write_files(struct sb_call *c, json_t *data)
{
	(void)data;
	struct run *u = c->ext;
	json_t *f = json_array_get(u->files, u->next_file);
	c->on_fail = fail_and_clean;
	if (f) {
		u->next_file++;
		sb_call_tool(c, "file_write",
			     json_pack("{s:s, s:O, s:O}", "session_id", u->e->session, "path", json_object_get(f, "name"),
				       "content", json_object_get(f, "content")),
			     write_files);
		return;
	}
	sb_call_tool(c, "file_list", json_pack("{s:s, s:b}", "session_id", u->e->session, "recursive", 1),
		     listed_before);
}

/* The caller's sandbox, named by id or by name: from here on every call names it by its id. */
static void sandbox_found(struct sb_call *c, json_t *info)
{
	struct run *u = c->ext;
	snprintf(u->e->session, sizeof(u->e->session), "%s", json_string_value(json_object_get(info, "session_id")));
	write_files(c, NULL);
}

static void session_made(struct sb_call *c, json_t *data)
{
	struct run *u = c->ext;
	snprintf(u->e->session, sizeof(u->e->session), "%s", json_string_value(json_object_get(data, "session_id")));
	write_files(c, NULL);
}

/* A host that cannot cap CPU refuses cpus (ERR_UNAVAILABLE): the sandbox is then made without the cap. */
static void create_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	json_t *args = c->keep;
	if (cls == ERR_UNAVAILABLE && json_object_get(args, "cpus")) {
		json_object_del(args, "cpus");
		sb_call_tool(c, "session_create", json_incref(args), session_made);
		return;
	}
	fail_and_clean(c, result, cls);
}

/* ---- POST /api/execute ---- */

/* body[name] as an integer, number, string...: 0, or -1 when answered. */
static int check(struct tp_req *r, json_t *b, const char *name, bool (*ok)(const json_t *), bool required,
		 const char *what)
{
	json_t *v = json_object_get(b, name);
	if ((!v && !required) || (v && ok(v)))
		return 0;
	if (!v)
		sb_fail(r, 400, SB_VALIDATION_ERROR, name, "%s is required", name);
	else
		sb_fail(r, 400, SB_VALIDATION_ERROR, name, "%s must be %s", name, what);
	return -1;
}

static bool is_string(const json_t *v) { return json_is_string(v); }
static bool is_bool(const json_t *v) { return json_is_boolean(v); }
static bool is_timeout(const json_t *v) { return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 3600; }
static bool is_cpu(const json_t *v) { return json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 1024; }
static bool is_object(const json_t *v) { return json_is_object(v); }
static bool is_memory(const json_t *v) { return json_is_string(v) || json_is_integer(v); }

/* environment: strings only; files: [{name, content}] strings. */
static int check_lists(struct tp_req *r, json_t *b)
{
	const char *k;
	json_t *v;
	size_t i;
	json_object_foreach(json_object_get(b, "environment"), k, v) {
		if (!json_is_string(v)) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "environment", "environment.%s must be a string", k);
			return -1;
		}
	}
	json_t *files = json_object_get(b, "files");
	if (files && (!json_is_array(files) || json_array_size(files) > MAX_FILES)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "files", "files must be an array of at most %d {name, content}",
			MAX_FILES);
		return -1;
	}
	json_array_foreach(files, i, v) {
		if (!json_is_string(json_object_get(v, "name")) || !json_string_length(json_object_get(v, "name")) ||
		    !json_is_string(json_object_get(v, "content"))) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "files", "files[%zu] must be {name, content} with strings", i);
			return -1;
		}
	}
	return 0;
}

static void execute(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	json_t *b;
	int64_t memory_mb = 0;

	if (sb_begin(r, SB_RATE_EXECUTIONS, principal) || sb_body(r, true, &b))
		return;
	if (check(r, b, "language", is_string, true, "a string") || check(r, b, "code", is_string, true, "a string") ||
	    check(r, b, "timeout", is_timeout, false, "an integer from 1 to 3600 (seconds)") ||
	    check(r, b, "memory_limit", is_memory, false, "a size such as \"256M\" or \"1G\"") ||
	    check(r, b, "cpu_limit", is_cpu, false, "a number of CPUs above 0 (0.5: half a core)") ||
	    check(r, b, "network_access", is_bool, false, "a boolean") ||
	    check(r, b, "environment", is_object, false, "an object of strings") ||
	    check(r, b, "sandbox_id", is_string, false, "a string") || check(r, b, "async", is_bool, false, "a boolean") ||
	    check_lists(r, b))
		goto bad;
	const char *language = json_string_value(json_object_get(b, "language"));
	if (!lang_find(language)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "language", "Unsupported language: %.100s (supported: python, "
			"nodejs, javascript, node, rust, go, java, bash, and mcpbox's: " LANG_LIST ")", language);
		goto bad;
	}
	json_t *mem = json_object_get(b, "memory_limit");
	if (mem && (memory_mb = sb_memory_mb(mem)) < 0) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "memory_limit",
			"memory_limit must be a size from 16M, such as \"256M\", \"1G\" or \"512Mi\"");
		goto bad;
	}
	const char *sandbox = json_string_value(json_object_get(b, "sandbox_id"));
	const char *per_sandbox = mem ? "memory_limit" : json_object_get(b, "cpu_limit") ? "cpu_limit"
				: json_object_get(b, "network_access") ? "network_access" : NULL;
	if (sandbox && per_sandbox) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, per_sandbox,
			"with sandbox_id the sandbox's own limits apply: change them with PUT /api/sandboxes/{id}");
		goto bad;
	}

	struct sb_exec *e = exec_new(principal, json_is_integer(json_object_get(b, "timeout"))
				     ? json_integer_value(json_object_get(b, "timeout")) : 30);

	struct sb_call *c = sb_call_new(r, principal, b);
	struct run *u = xcalloc(1, sizeof(*u));
	u->e = e;
	u->files = json_object_get(b, "files");
	u->out = (struct buf)BUF_INIT;
	u->err = (struct buf)BUF_INIT;
	c->ext = u;
	c->ext_free = run_free;
	if (json_is_true(json_object_get(b, "async"))) {
		u->async = true;
		sb_json(r, 202, status_json(e));
		c->r = NULL;
	}
	if (sandbox) {
		snprintf(e->session, sizeof(e->session), "%s", sandbox);
		c->on_fail = fail_and_clean;
		sb_call_tool(c, "session_info", json_pack("{s:s}", "session_id", sandbox), sandbox_found);
		return;
	}
	e->own_session = true;
	json_t *args = json_pack("{s:{s:s}}", "labels", LABEL_EXEC, e->id);
	if (memory_mb)
		json_object_set_new(args, "memory_mb", json_integer(memory_mb));
	if (json_object_get(b, "cpu_limit"))
		json_object_set(args, "cpus", json_object_get(b, "cpu_limit"));
	if (json_is_true(json_object_get(b, "network_access")))
		json_object_set_new(args, "network", json_true());
	c->keep = json_incref(args);
	c->on_fail = create_failed;
	sb_call_tool(c, "session_create", args, session_made);
	return;
bad:
	json_decref(b);
}

/* ---- records of executions run elsewhere (soulbox.h) ---- */

struct sb_exec *sb_exec_begin(const char *principal, int64_t timeout_s, const char *sandbox,
			      void (*cancel)(void *arg), void *arg)
{
	struct sb_exec *e = exec_new(principal, timeout_s);
	e->streamed = true;
	e->own_session = !sandbox;
	snprintf(e->session, sizeof(e->session), "%s", sandbox ? sandbox : "");
	e->cancel_fn = cancel;
	e->cancel_arg = arg;
	return e;
}

const char *sb_exec_id(const struct sb_exec *e)
{
	return e->id;
}

void sb_exec_output(struct sb_exec *e, int stream, const char *data, size_t len)
{
	keep_output(stream ? &e->err : &e->out, &e->truncated, data, len);
}

bool sb_exec_cancelled(struct sb_exec *e, bool mark)
{
	if (mark)
		e->cancel = true;
	return e->cancel;
}

json_t *sb_exec_end(struct sb_exec *e, json_t *d, enum err_class cls, const char *message)
{
	const char *status = "failed";
	json_t *r;

	e->cancel_fn = NULL;
	if (d) {
		r = result_json(e, d, &e->out, &e->err, e->truncated, NULL, &status);
	} else {
		enum sb_code code;
		char text[300];
		json_t *env;
		sb_status_of(NULL, cls, &code);
		env = sb_error_json(code, sb_message_of(cls, message, text, sizeof(text)), NULL, NULL, NULL);
		r = json_pack("{s:O}", "error", json_object_get(env, "error"));
		json_decref(env);
		status = e->cancel ? "cancelled" : "failed";
	}
	buf_release(&e->out);
	buf_release(&e->err);
	e->streamed = false;
	exec_finished(e, status, json_incref(r));
	return r;
}

/* ---- GET and DELETE /api/execute/{execution_id} ---- */

static struct sb_exec *exec_of_path(struct tp_req *r, char *principal)
{
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return NULL;
	const char *id = tp_req_param(r, "execution_id");
	struct sb_exec *e = id ? exec_find(id, principal) : NULL;
	if (!e)
		sb_fail(r, 404, SB_RESOURCE_NOT_FOUND, NULL, "Execution %.100s not found", id ? id : "");
	return e;
}

/* A running execution's status: the job's output so far. */
static void job_seen(struct sb_call *c, json_t *data)
{
	struct sb_exec *e = exec_find(c->id, c->principal);
	if (!e) {
		sb_call_fail(c, 404, SB_RESOURCE_NOT_FOUND, NULL, "Execution %s not found", c->id);
		return;
	}
	json_t *o = status_json(e);
	if (!e->done) {
		json_object_set(o, "output", json_object_get(data, "stdout"));
		json_object_set(o, "stderr", json_object_get(data, "stderr"));
	}
	sb_call_answer(c, 200, o);
}

static void job_unseen(struct sb_call *c, json_t *result, enum err_class cls)
{
	(void)result;
	(void)cls;
	job_seen(c, NULL);
}

static void execution_get(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	struct sb_exec *e = exec_of_path(r, principal);
	if (!e)
		return;
	if (e->done || !e->job[0]) {
		sb_json(r, 200, status_json(e));
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	snprintf(c->id, sizeof(c->id), "%s", e->id);
	c->on_fail = job_unseen;
	sb_call_tool(c, "job_status", json_pack("{s:s, s:I}", "job_id", e->job, "max_bytes", (json_int_t)OUTPUT_MAX),
		     job_seen);
}

static json_t *cancelled_json(const struct sb_exec *e)
{
	return json_pack("{s:s, s:s, s:s}", "execution_id", e->id, "status", "cancelled", "message",
			 "Execution cancelled successfully");
}

static void job_cancelled(struct sb_call *c, json_t *data)
{
	(void)data;
	struct sb_exec *e = exec_find(c->id, c->principal);
	sb_call_answer(c, 200, e ? cancelled_json(e) : json_pack("{s:s, s:s, s:s}", "execution_id", c->id, "status",
								"cancelled", "message", "Execution cancelled successfully"));
}

static void execution_cancel(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	struct sb_exec *e = exec_of_path(r, principal);
	if (!e)
		return;
	if (e->done) {
		sb_fail(r, 409, SB_VALIDATION_ERROR, "execution_id", "Execution %s has already ended (%s)", e->id,
			e->status);
		return;
	}
	e->cancel = true;
	if (e->cancel_fn) { /* run elsewhere (/ws/execute): its runner kills it and ends the record */
		void (*fn)(void *) = e->cancel_fn;
		e->cancel_fn = NULL;
		sb_json(r, 200, cancelled_json(e));
		fn(e->cancel_arg);
		return;
	}
	if (!e->job[0]) { /* not started yet: its chain stops before the program runs */
		sb_json(r, 200, cancelled_json(e));
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	snprintf(c->id, sizeof(c->id), "%s", e->id);
	sb_call_tool(c, "job_cancel", json_pack("{s:s}", "job_id", e->job), job_cancelled);
}

/* ---- the part ---- */

static void exec_init(const struct srv_config *cfg)
{
	config = cfg;
}

static void exec_release(void)
{
	while (!TAILQ_EMPTY(&execs)) {
		struct sb_exec *e = TAILQ_FIRST(&execs);
		TAILQ_REMOVE(&execs, e, link);
		exec_free(e);
	}
	nfinished = finished_bytes = 0;
}

static const struct rest_route routes[] = {
	{ TP_POST, "/api/execute", execute },
	{ TP_GET, "/api/execute/{execution_id}", execution_get },
	{ TP_DELETE, "/api/execute/{execution_id}", execution_cancel },
	{ 0, NULL, NULL },
};

const struct sb_part sb_part_exec = {
	.routes = routes,
	.init = exec_init,
	.release = exec_release,
};
