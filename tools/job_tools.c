/*
 * job_status, job_wait, job_write, job_cancel, job_list: the tools over
 * background jobs (sessions/job.h). A job is found by its id among the
 * sessions the caller may see (a session-bound endpoint: its session only),
 * so a client that reconnects finds the jobs of its explicit sessions.
 */
#include "tool.h"
#include "exec.h"
#include "../sessions/job.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define CANCEL_WAIT_MS 5000	/* job_cancel waits this long for the job's end to be reported */

/* Most output bytes in one answer: max_bytes, else the config's per-stream capture cap. */
static uint64_t out_limit(struct tool_call *call)
{
	return (uint64_t)tool_arg_int(call, "max_bytes", (int64_t)call->env->cfg->output_bytes.def);
}

/* The fields every job answer has: who, what, state, exit, output from since. */
static json_t *job_fields(const struct sess_job *j, uint64_t since, uint64_t limit, struct buf *text)
{
	struct buf out = BUF_INIT, err = BUF_INIT;
	uint64_t from = since > j->out.start ? since : j->out.start;
	uint64_t next = sess_ring_split(&j->out, since, limit, &out, &err);
	uint64_t dropped = since < j->out.start ? j->out.start - since : 0;
	bool running = j->state == SESS_JOB_RUNNING;
	uint64_t duration = running ? wall_ms() - j->started_at : j->duration_ms;
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:b, s:I, s:o, s:b}", "job_id",
		      j->id, "session_id", j->sess->id, "language", j->language, "command", j->command, "state",
		      sess_job_state_name(j->state), "running", running, "stdout", tool_json_text(out.data ? out.data : "", out.len),
		      "stderr", tool_json_text(err.data ? err.data : "", err.len), "since_offset", (json_int_t)from,
		      "next_offset", (json_int_t)next, "dropped_bytes", (json_int_t)dropped, "total_bytes",
		      (json_int_t)j->out.end, "more", next < j->out.end, "duration_ms", (json_int_t)duration,
		      "started_at", tool_json_time(j->started_at), "stdin_open", running && j->stdin_open);
	json_object_set_new(o, "kind", json_string(j->kind == SESS_JOB_CELL ? "kernel_cell" : "program"));
	if (j->ended_at)
		json_object_set_new(o, "ended_at", tool_json_time(j->ended_at));
	if (j->kind == SESS_JOB_CELL) {
		if (j->cell_fields)	/* its status, execution_count, error, kernel... */
			json_object_update(o, j->cell_fields);
	} else if (!running && j->state != SESS_JOB_LOST) {
		int st = j->exit.status;
		int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		json_object_set_new(o, "exit_code", json_integer(sig ? 128 + sig : WEXITSTATUS(st)));
		if (sig)
			json_object_set_new(o, "signal", json_string(tool_signal_name(sig)));
		json_object_set_new(o, "timed_out", json_boolean(j->state == SESS_JOB_TIMED_OUT));
		json_object_set_new(o, "oom_killed", json_boolean(j->exit.oom_killed));
	}
	if (text) {
		if (dropped)
			buf_addf(text, "[%llu bytes of older output were dropped: the job keeps the newest %llu]\n",
				 (unsigned long long)dropped, (unsigned long long)(j->out.end - j->out.start));
		if (out.len)
			buf_add(text, out.data, out.len);
		if (err.len) {
			if (text->len && text->data[text->len - 1] != '\n')
				buf_addch(text, '\n');
			buf_adds(text, "[stderr]\n");
			buf_add(text, err.data, err.len);
		}
		if (text->len && text->data[text->len - 1] != '\n')
			buf_addch(text, '\n');
	}
	buf_release(&out);
	buf_release(&err);
	return o;
}

/* How long j has run, rounded to the nearest second: a run adopted at wait_s started a few ms after the
   call did, and truncating said "still running after 1 s" beside "running for 0 s". */
static uint64_t running_s(const struct sess_job *j)
{
	return (wall_ms() - j->started_at + 500) / 1000;
}

/* A kernel cell's images whose place in its output is in [since, next): image content after the text. */
static void add_images(json_t *result, const struct sess_job *j, uint64_t since, uint64_t next)
{
	json_t *content = json_object_get(result, "content");
	uint64_t from = since > j->out.start ? since : j->out.start;
	size_t i;
	json_t *im;

	json_array_foreach(j->images, i, im) {
		uint64_t off = (uint64_t)json_integer_value(json_object_get(im, "offset"));
		if (off >= from && off < next)
			json_array_append(content, json_object_get(im, "block"));
	}
}

static uint64_t next_of(json_t *sc)
{
	return (uint64_t)json_integer_value(json_object_get(sc, "next_offset"));
}

static void add_next_hint(struct buf *text, const struct sess_job *j, uint64_t next)
{
	buf_addf(text, "[job %s %s for %llu s; output continues at offset %llu: job_status {\"job_id\": \"%s\", "
		 "\"since_offset\": %llu} or job_wait]", j->id, sess_job_state_name(j->state),
		 (unsigned long long)running_s(j), (unsigned long long)next, j->id,
		 (unsigned long long)next);
}

json_t *tool_job_running_result(struct sess_job *j, uint64_t since, uint64_t limit, const char *what)
{
	struct buf text = BUF_INIT;
	json_t *sc = job_fields(j, since, limit, &text);
	uint64_t next = next_of(sc);

	if (j->state != SESS_JOB_RUNNING) /* it ended in the meantime: say how */
		buf_addf(&text, "[job %s %s (%s)] ", j->id, sess_job_state_name(j->state), what);
	else
		buf_addf(&text, "[%s: job %s] ", what, j->id);
	add_next_hint(&text, j, next);
	json_t *r = tool_result_text(sc, text.data, text.len);
	add_images(r, j, since, next);
	buf_release(&text);
	return r;
}

static void add_lost_note(struct buf *text, const struct sess_job *j)
{
	buf_addf(text, "[job %s lost: it was running when the server stopped; its exit status is unknown]", j->id);
}

/* A lost job has no exit status to report like execute: its fields and output, and an error (its program
 * did not finish as far as anyone knows). */
static json_t *job_lost_result(struct sess_job *j, uint64_t since, uint64_t limit)
{
	struct buf text = BUF_INIT;
	json_t *sc = job_fields(j, since, limit, &text);

	add_lost_note(&text, j);
	json_t *r = tool_result_text(sc, text.data, text.len);
	json_object_set_new(r, "isError", json_true());
	buf_release(&text);
	return r;
}

/* A kernel cell's answer once it ended: execute {kernel: true}'s text and fields for its output from since. */
static json_t *cell_final_result(struct sess_job *j, uint64_t since, uint64_t limit)
{
	struct buf text = BUF_INIT;
	json_t *sc = job_fields(j, since, limit, &text);
	uint64_t next = next_of(sc);

	buf_adds(&text, j->cell_note ? j->cell_note : "");
	if (next < j->out.end)
		buf_addf(&text, " [more output from offset %llu: job_status]", (unsigned long long)next);
	json_object_set_new(sc, "truncated", json_boolean(next < j->out.end || since < j->out.start));
	json_t *r = tool_result_text(sc, text.data, text.len);
	add_images(r, j, since, next);
	if (j->cell_failed)
		json_object_set_new(r, "isError", json_true());
	buf_release(&text);
	return r;
}

/* The execute-shaped answer for a job that ended (job_wait). */
static json_t *job_final_result(struct tool_call *call, struct sess_job *j, uint64_t since, uint64_t limit)
{
	struct buf out = BUF_INIT, err = BUF_INIT, note = BUF_INIT;
	uint64_t dropped = since < j->out.start ? j->out.start - since : 0;
	uint64_t next;

	if (j->kind == SESS_JOB_CELL)
		return cell_final_result(j, since, limit);
	next = sess_ring_split(&j->out, since, limit, &out, &err);
	if (dropped)
		buf_addf(&note, "[%llu bytes of older output dropped]", (unsigned long long)dropped);
	if (next < j->out.end)
		buf_addf(&note, "%s[more output from offset %llu: job_status]", note.len ? " " : "",
			 (unsigned long long)next);
	struct tool_exec_outcome o = {
		.out = &out,
		.err = &err,
		.result = &j->result,
		.has_event = j->has_event,
		.exit = j->exit,
		.timed_out = j->state == SESS_JOB_TIMED_OUT,
		.cancelled = j->state == SESS_JOB_CANCELLED,
		.over_quota = j->over_quota,
		.disk_quota_mb = call->env->cfg->quota.disk_bytes >> 20,
		.over_inodes = j->over_inodes,
		.inodes_quota = call->env->cfg->quota.inodes,
		.over_disk_limit = j->over_disk_limit,
		.disk_limit_mb = j->sess->disk_limit >> 20,
		.session_ended = j->session_ended,
		.truncated = dropped || next < j->out.end,
		.duration_ms = j->duration_ms,
		.timeout_s = j->timeout_s,
		.note = note.len ? note.data : NULL,
	};
	json_t *r = tool_exec_result(&o);
	json_t *sc = json_object_get(r, "structuredContent");
	json_object_set_new(sc, "job_id", json_string(j->id));
	json_object_set_new(sc, "session_id", json_string(j->sess->id));
	json_object_set_new(sc, "state", json_string(sess_job_state_name(j->state)));
	json_object_set_new(sc, "running", json_false());
	json_object_set_new(sc, "next_offset", json_integer((json_int_t)next));
	json_object_set_new(sc, "dropped_bytes", json_integer((json_int_t)dropped));
	buf_release(&out);
	buf_release(&err);
	buf_release(&note);
	return r;
}

/* The job the call names, or the call is finished with not found. */
static struct sess_job *find_job(struct tool_call *call)
{
	const char *id = tool_arg_str(call, "job_id", "");
	struct sess_job *j = sess_job_find(call->env->sessions, id, call->principal, call->conn->bound_session);
	if (!j)
		tool_fail_as(call, ERR_NOT_FOUND, "job \"%s\" not found (argument job_id): it may have ended with its "
			     "session, or been pushed out by newer jobs; job_list shows the jobs you can see", id);
	return j;
}

static void job_status_run(struct tool_call *call)
{
	struct sess_job *j = find_job(call);
	struct buf text = BUF_INIT;
	if (!j)
		return;
	uint64_t since = (uint64_t)tool_arg_int(call, "since_offset", 0);
	json_t *sc = job_fields(j, since, out_limit(call), &text);
	uint64_t next = next_of(sc);
	if (j->state == SESS_JOB_RUNNING) {
		add_next_hint(&text, j, next);
	} else if (j->state == SESS_JOB_LOST) {
		add_lost_note(&text, j);
	} else if (j->kind == SESS_JOB_CELL) {
		buf_addf(&text, "[job %s %s] %s", j->id, sess_job_state_name(j->state), j->cell_note ? j->cell_note : "");
		if (next < j->out.end)
			buf_addf(&text, " [more output from offset %llu]", (unsigned long long)next);
	} else {
		json_t *code = json_object_get(sc, "exit_code");
		buf_addf(&text, "[job %s %s, exit_code %lld (%llu ms)]", j->id, sess_job_state_name(j->state),
			 (long long)json_integer_value(code), (unsigned long long)j->duration_ms);
		if (next < j->out.end)
			buf_addf(&text, " [more output from offset %llu]", (unsigned long long)next);
	}
	json_t *r = tool_result_text(sc, text.data, text.len);
	add_images(r, j, since, next);
	tool_finish(call, r);
	buf_release(&text);
}

/* ---- job_wait and job_cancel: waiting for a job's end ---- */

struct job_wait {
	struct sess_job_waiter w;
	struct tool_call *call;
	struct sess_job *job;	/* valid while waiting (a running job is never freed) */
	uv_timer_t *timer;	/* heap: closes asynchronously */
	uv_timer_t *progress;
	uint64_t ticks;
	bool waiting, cancelling;
	uint64_t since, limit;
};

static void job_wait_free(void *arg)
{
	struct job_wait *jw = arg;
	if (jw->waiting)
		sess_job_wait_remove(&jw->w);
	tool_timer_drop(&jw->timer);
	tool_timer_drop(&jw->progress);
	free(jw);
}

/* Stop waiting and answer with what the job is now. */
static void job_wait_answer(struct job_wait *jw)
{
	struct tool_call *call = jw->call;
	struct sess_job *j = jw->job;
	json_t *r;

	if (jw->waiting) {
		sess_job_wait_remove(&jw->w);
		jw->waiting = false;
	}
	tool_timer_drop(&jw->timer);
	tool_timer_drop(&jw->progress);
	if (j->state == SESS_JOB_LOST) {
		r = job_lost_result(j, jw->since, jw->limit);
	} else if (j->state != SESS_JOB_RUNNING) {
		r = job_final_result(call, j, jw->since, jw->limit);
		if (jw->cancelling && j->state == SESS_JOB_CANCELLED)
			json_object_del(r, "isError");	/* what was asked for happened */
	} else {
		r = tool_job_running_result(j, jw->since, jw->limit,
					    jw->cancelling ? "cancelled, but its end was not reported in time"
					    : "still running after job_wait's timeout_s");
	}
	tool_finish(call, r);	/* frees jw */
}

static void job_ended(struct sess_job_waiter *w, struct sess_job *j)
{
	struct job_wait *jw = (struct job_wait *)w;
	jw->waiting = false;	/* the job removed w */
	job_wait_answer(jw);
}

static void job_wait_timeout(uv_timer_t *t)
{
	job_wait_answer(t->data);
}

static void job_wait_cancelled(void *arg)
{
	job_wait_answer(arg);	/* the caller is gone: the answer is dropped */
}

static void job_wait_tick(uv_timer_t *t)
{
	struct job_wait *jw = t->data;
	struct buf msg = BUF_INIT;

	jw->ticks++;
	if (!sess_ring_last_line(&jw->job->out, &msg, 200))
		buf_addf(&msg, "job %s running for %llu s", jw->job->id,
			 (unsigned long long)running_s(jw->job));
	json_t *m = tool_json_text(msg.data, msg.len);
	tool_progress(jw->call, (double)jw->ticks, 0, json_string_value(m));
	json_decref(m);
	buf_release(&msg);
}

static void wait_for(struct tool_call *call, struct sess_job *j, uint64_t timeout_ms, bool cancelling)
{
	struct job_wait *jw = xcalloc(1, sizeof(*jw));

	jw->call = call;
	jw->job = j;
	jw->cancelling = cancelling;
	jw->since = (uint64_t)tool_arg_int(call, "since_offset", 0);
	jw->limit = out_limit(call);
	call->state = jw;
	call->state_free = job_wait_free;
	if (j->state != SESS_JOB_RUNNING) {
		job_wait_answer(jw);
		return;
	}
	jw->w.done = job_ended;
	sess_job_wait_add(j, &jw->w);
	jw->waiting = true;
	jw->timer = tool_timer_start(job_wait_timeout, jw, timeout_ms, 0);
	if (tool_wants_progress(call))
		jw->progress = tool_timer_start(job_wait_tick, jw, 1000, 1000);
	tool_on_cancel(call, job_wait_cancelled, jw);
}

static void job_wait_run(struct tool_call *call)
{
	struct sess_job *j = find_job(call);
	if (j)
		wait_for(call, j, (uint64_t)tool_arg_int(call, "timeout_s", 30) * 1000, false);
}

static void job_cancel_run(struct tool_call *call)
{
	struct sess_job *j = find_job(call);
	if (!j)
		return;
	if (j->state == SESS_JOB_RUNNING)
		sess_job_cancel(j);
	/* the kill goes through the worker: answer once its end is reported */
	wait_for(call, j, CANCEL_WAIT_MS, true);
}

static void job_write_run(struct tool_call *call)
{
	struct sess_job *j = find_job(call);
	auto_err struct err *err = NULL;

	if (!j)
		return;	/* call is finished (and freed): touch nothing of it */
	json_t *data = json_object_get(call->args, "data");
	bool eof = tool_arg_bool(call, "eof", false);
	size_t len = data ? json_string_length(data) : 0;
	if (sess_job_write(j, data ? json_string_value(data) : "", len, eof, &err) < 0) {
		tool_fail_err(call, err, "job_write");
		return;
	}
	json_t *sc = json_pack("{s:s, s:I, s:b}", "job_id", j->id, "written", (json_int_t)len, "stdin_open", !eof);
	struct buf text = BUF_INIT;
	buf_addf(&text, "wrote %zu bytes to the standard input of job %s%s", len, j->id,
		 eof ? " and closed it" : "");
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&text);
}

/* ---- job_list ---- */

struct list_ctx {
	json_t *jobs;
	struct buf text;
	const char *only;	/* a session id, or NULL: every session the caller sees */
};

static void list_session(void *arg, struct sess_session *s)
{
	struct list_ctx *lc = arg;
	struct sess_job *j;

	if (lc->only && strcmp(lc->only, s->id))
		return;
	LIST_FOREACH(j, &s->jobs, link) {
		json_t *o = job_fields(j, j->out.end, 1, NULL); /* no output: offsets and state only */
		json_object_del(o, "stdout");
		json_object_del(o, "stderr");
		json_object_del(o, "since_offset");
		json_object_del(o, "next_offset");
		json_object_del(o, "dropped_bytes");
		json_object_del(o, "more");
		json_array_append_new(lc->jobs, o);
		buf_addf(&lc->text, "%s  %-9s  %s  session %s  %s%s: %.60s\n", j->id, sess_job_state_name(j->state),
			 j->state == SESS_JOB_RUNNING ? "running" : "ended  ", s->id, j->language,
			 j->kind == SESS_JOB_CELL ? " kernel cell" : "", j->command);
	}
}

static void job_list_run(struct tool_call *call)
{
	struct list_ctx lc = { .text = BUF_INIT };

	if (!tool_list_scope(call, &lc.only))
		return;
	lc.jobs = json_array();
	sess_foreach(call->env->sessions, call->principal, list_session, &lc);
	if (!lc.text.len)
		buf_adds(&lc.text, "no jobs");
	tool_finish(call, tool_result_text(json_pack("{s:o}", "jobs", lc.jobs), lc.text.data, lc.text.len));
	buf_release(&lc.text);
}

/* ---- session_logs ---- */

/* Who wrote a log chunk: the job whose program it was, if any. */
static const char *job_of(struct sess_session *s, uint64_t exec_id)
{
	struct sess_job *j;
	LIST_FOREACH(j, &s->jobs, link)
		if (j->exec_id == exec_id)
			return j->id;
	return NULL;
}

static void add_entry(json_t *entries, struct sess_session *s, const struct sess_ring_chunk *c, const char *data,
		      size_t len)
{
	const char *job = job_of(s, c->source);
	json_t *e = json_pack("{s:o, s:s, s:I, s:o}", "time", tool_json_time(c->ms), "stream",
			      c->stream == 2 ? "stderr" : "stdout", "exec", (json_int_t)c->source, "text",
			      tool_json_text(data, len));
	if (job)
		json_object_set_new(e, "job_id", json_string(job));
	json_array_append_new(entries, e);
}

/* The newest `tail` lines of the entries (an entry cut in its middle keeps its end). */
static void keep_tail(json_t *entries, int64_t tail)
{
	int64_t lines = 0;
	for (size_t i = json_array_size(entries); i-- > 0;) {
		json_t *e = json_array_get(entries, i);
		const char *t = json_string_value(json_object_get(e, "text"));
		size_t n = strlen(t);
		/* a final newline ends a line, it does not start one */
		for (size_t k = n; k-- > 0;) {
			if (t[k] != '\n' || k == n - 1)
				continue;
			if (++lines == tail) {
				json_object_set_new(e, "text", json_string(t + k + 1));
				while (i-- > 0)
					json_array_remove(entries, 0);
				return;
			}
		}
		if (n && ++lines == tail) {
			while (i-- > 0)
				json_array_remove(entries, 0);
			return;
		}
	}
}

static void session_logs_run(struct tool_call *call)
{
	const char *sid = call->conn->bound_session ? call->conn->bound_session
			  : tool_arg_str(call, "session_id", call->conn->implicit_session);
	struct sess_session *s = sid ? sess_find(call->env->sessions, sid, call->principal) : NULL;
	uint64_t since = (uint64_t)tool_arg_int(call, "since", 0);
	int64_t tail = tool_arg_int(call, "tail", 0);
	uint64_t limit = out_limit(call);
	const struct sess_ring_chunk *c;
	struct buf text = BUF_INIT;

	if (!s) {
		if (sid)
			tool_fail_as(call, ERR_NOT_FOUND, "session \"%s\" not found (argument session_id)", sid);
		else
			tool_fail_as(call, ERR_NOT_FOUND, "this connection has no session yet; pass session_id");
		return;
	}
	json_t *entries = json_array();
	uint64_t start = s->log ? s->log->start : 0, end = s->log ? s->log->end : 0;
	/* past the end: the log the caller read is gone (a restart starts it afresh), so all of this one is new */
	bool afresh = since > end;
	uint64_t at = since < start || afresh ? start : since;
	if (s->log) {
		TAILQ_FOREACH(c, &s->log->chunks, link) {
			if (c->off + c->len <= at)
				continue;
			if (!limit)
				break;
			size_t skip = at > c->off ? (size_t)(at - c->off) : 0;
			size_t n = c->len - skip < limit ? c->len - skip : (size_t)limit;
			add_entry(entries, s, c, c->data + skip, n);
			limit -= n;
			at += n;
		}
	}
	if (at < since && !afresh)
		at = since < end ? since : end;
	if (tail > 0)
		keep_tail(entries, tail);
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) {
		const char *who = json_string_value(json_object_get(e, "job_id"));
		const char *t = json_string_value(json_object_get(e, "text"));
		buf_addf(&text, "%s %s ", json_string_value(json_object_get(e, "time")),
			 json_string_value(json_object_get(e, "stream")));
		if (who)
			buf_adds(&text, who);
		else
			buf_addf(&text, "exec %lld", (long long)json_integer_value(json_object_get(e, "exec")));
		buf_addf(&text, ": %s%s", t, *t && t[strlen(t) - 1] == '\n' ? "" : "\n");
	}
	uint64_t dropped = since < start ? start - since : 0;
	if (dropped)
		buf_addf(&text, "[%llu bytes of older log were dropped]\n", (unsigned long long)dropped);
	if (afresh)
		buf_addf(&text, "[since %llu is past the end of this log (%llu bytes): the log you read is gone (a server "
			 "restart starts it afresh), so this is the log from its start]\n", (unsigned long long)since,
			 (unsigned long long)end);
	buf_addf(&text, "[next since: %llu]", (unsigned long long)at);
	json_t *sc = json_pack("{s:s, s:o, s:I, s:I, s:I}", "session_id", s->id, "entries", entries, "next_offset",
			       (json_int_t)at, "dropped_bytes", (json_int_t)dropped, "total_bytes", (json_int_t)end);
	tool_finish(call, tool_result_text(sc, text.data, text.len));
	buf_release(&text);
}

/* ---- schemas ---- */

#define JOB_ID "\"job_id\":{\"type\":\"string\",\"description\":\"The job, as execute returned it (job_…).\"}"
#define SINCE "\"since_offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Output from this byte offset on (default 0: all that is kept); pass the next_offset of the previous answer to get only what is new.\"}"
#define MAX_BYTES "\"max_bytes\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":67108864,\"description\":\"Most output bytes in this answer (default 1 MiB); more: true says there is more from next_offset.\"}"

#define JOB_FIELDS \
	"\"job_id\":{\"type\":\"string\"},\"session_id\":{\"type\":\"string\"},\"language\":{\"type\":\"string\"}," \
	"\"command\":{\"type\":\"string\",\"description\":\"The start of its code.\"}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"running\",\"exited\",\"cancelled\",\"timed_out\",\"lost\"]}," \
	"\"running\":{\"type\":\"boolean\"},\"exit_code\":{\"type\":\"integer\"},\"signal\":{\"type\":\"string\"}," \
	"\"timed_out\":{\"type\":\"boolean\"},\"oom_killed\":{\"type\":\"boolean\"}," \
	"\"started_at\":{\"type\":\"string\"},\"ended_at\":{\"type\":\"string\"},\"duration_ms\":{\"type\":\"integer\"}," \
	"\"total_bytes\":{\"type\":\"integer\",\"description\":\"Output bytes the job has written in all.\"}," \
	"\"stdin_open\":{\"type\":\"boolean\"}," \
	"\"kind\":{\"type\":\"string\",\"enum\":[\"program\",\"kernel_cell\"],\"description\":\"kernel_cell: a cell of execute {kernel: true} that outlived wait_s; its output is the cell's text in order, its images come as image content, and once it ended status (ok, error, aborted, died, failed), execution_count and error say how, as execute's.\"}"

#define STATUS_OUTPUT \
	"{\"type\":\"object\",\"properties\":{" JOB_FIELDS "," \
	"\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"}," \
	"\"since_offset\":{\"type\":\"integer\",\"description\":\"Where this output starts (later than asked when older output was dropped).\"}," \
	"\"next_offset\":{\"type\":\"integer\",\"description\":\"Pass as since_offset next time.\"}," \
	"\"dropped_bytes\":{\"type\":\"integer\",\"description\":\"Bytes after the asked offset that are gone (the job keeps its newest output only).\"}," \
	"\"more\":{\"type\":\"boolean\"}" \
	"},\"required\":[\"job_id\",\"session_id\",\"state\",\"running\",\"stdout\",\"stderr\",\"next_offset\",\"dropped_bytes\"]}"

const struct tool_def tool_job_defs[] = {
	{
		.name = "job_status",
		.title = "Job status and output",
		.description = "State, exit status and output of a job (execute with background: true, or a foreground "
			       "execute that outlived wait_s). Pass since_offset = the previous next_offset to read only "
			       "new output. A job keeps its newest output (8 MiB by default); dropped_bytes says how "
			       "much older output is gone.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" JOB_ID "," SINCE "," MAX_BYTES "},"
				"\"required\":[\"job_id\"],\"additionalProperties\":false}",
		.output_schema = STATUS_OUTPUT,
		.read_only = true,
		.idempotent = true,
		.run = job_status_run,
	},
	{
		.name = "job_wait",
		.title = "Wait for a job",
		.description = "Wait up to timeout_s (default 30; keep it under your client's own request timeout) for a "
			       "job to end, with progress notifications meanwhile. Returns like execute (exit_code, "
			       "stdout, stderr from since_offset) when it ended, or running: true and next_offset when "
			       "it still runs.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" JOB_ID ","
				"\"timeout_s\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3600,\"description\":\"Longest wait in seconds (default 30).\"},"
				SINCE "," MAX_BYTES "},\"required\":[\"job_id\"],\"additionalProperties\":false}",
		.read_only = true,
		.run = job_wait_run,
	},
	{
		.name = "job_write",
		.title = "Write to a job's stdin",
		.description = "Send text to the standard input of a job started with background: true; eof: true "
			       "closes it afterwards. At most 1 MiB may wait unread by the program.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" JOB_ID ","
				"\"data\":{\"type\":\"string\",\"maxLength\":1048576,\"description\":\"Text to write (add \\\\n to end a line).\"},"
				"\"eof\":{\"type\":\"boolean\",\"description\":\"Close the job's stdin after writing.\"}},"
				"\"required\":[\"job_id\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"job_id\":{\"type\":\"string\"},"
				 "\"written\":{\"type\":\"integer\"},\"stdin_open\":{\"type\":\"boolean\"}},"
				 "\"required\":[\"job_id\",\"written\",\"stdin_open\"]}",
		.run = job_write_run,
	},
	{
		.name = "job_cancel",
		.title = "Cancel a job",
		.description = "Kill a job's whole process group (the program and every process it started that did "
			       "not leave it) and return its final state like execute.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" JOB_ID "," SINCE "," MAX_BYTES "},"
				"\"required\":[\"job_id\"],\"additionalProperties\":false}",
		.destructive = true,
		.idempotent = true,
		.run = job_cancel_run,
	},
	{
		.name = "job_list",
		.title = "List jobs",
		.description = "The jobs of a session (session_id), or of every session you can see: running ones and "
			       "the most recent finished ones. Jobs of an explicit session outlive the connection that "
			       "started them; a connection's own session (no session_id) and its jobs end with it.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\",\"description\":\"Only this session's jobs.\"}},"
				"\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"jobs\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
				 "\"properties\":{" JOB_FIELDS "}}}},\"required\":[\"jobs\"]}",
		.read_only = true,
		.idempotent = true,
		.run = job_list_run,
	},
	{
		.name = "session_logs",
		.title = "Session output log",
		.description = "Everything the session's programs wrote (foreground executions and jobs), with a "
			       "time, stream and program per entry, from a bounded log (1 MiB by default, oldest "
			       "dropped). tail: only the last N lines; since: the next_offset of an earlier call, to "
			       "get only what is new.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"session_id\":{\"type\":\"string\",\"description\":\"Default: this connection's own session.\"},"
				"\"tail\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000,\"description\":\"Only the last N lines.\"},"
				"\"since\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Log offset to start from (next_offset of an earlier call).\"},"
				MAX_BYTES "},\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				 "\"entries\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
				 "\"time\":{\"type\":\"string\"},\"stream\":{\"type\":\"string\",\"enum\":[\"stdout\",\"stderr\"]},"
				 "\"exec\":{\"type\":\"integer\",\"description\":\"The program (the same number for one execution).\"},"
				 "\"job_id\":{\"type\":\"string\"},\"text\":{\"type\":\"string\"}}}},"
				 "\"next_offset\":{\"type\":\"integer\"},\"dropped_bytes\":{\"type\":\"integer\"},"
				 "\"total_bytes\":{\"type\":\"integer\"}},\"required\":[\"session_id\",\"entries\",\"next_offset\"]}",
		.read_only = true,
		.idempotent = true,
		.run = session_logs_run,
	},
	{ 0 },
};
