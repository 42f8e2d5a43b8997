/*
 * execute: run Python, JavaScript or shell code in the session's sandbox.
 *
 * The code never travels in argv (ARG_MAX, and /proc/PID/cmdline would show
 * it): it is written to the program's fd 3 and a tiny bootstrap per language
 * reads it from there. In handler mode (argument "event") fd 3 carries
 * {"code":..., "event":...} and the handler's return value comes back as JSON
 * on fd 4, so the program's own stdout stays untouched.
 */
#include "tool.h"
#include "exec.h"
#include "exec_input.h"
#include "kernel_tools.h"
#include "lang.h"
#include "../sessions/job.h"
#include "../sessions/quota.h"
#include "../sessions/run.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/metrics.h"
#include "../server/base/banned.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* One row per language: more languages are one row each. */
/* The environment every program starts from; session and call env add to it. */
static const char *const base_env[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin:/workspace/.local/bin", /* where pip install puts commands */
	"HOME=/workspace",
	"USER=user",
	"LOGNAME=user",
	"SHELL=/bin/bash",
	"LANG=C.UTF-8",
	"LC_ALL=C.UTF-8",
	"TERM=dumb",
	"TMPDIR=/tmp",
	"PYTHONUNBUFFERED=1",
	"PYTHONDONTWRITEBYTECODE=1",
	/* /usr is read-only in a sandbox: pip's refusal (PEP 668) would only stop `pip install X`, which
	 * then installs into ~/.local (the workspace) as in a container's python */
	"PIP_BREAK_SYSTEM_PACKAGES=1",
	"DISPLAY=:0",
	NULL,
};

struct exec_state {
	struct tool_call *call;
	struct sess_session *sess;
	struct sess_run *run;
	const struct lang *lang;
	struct tool_exec_input *input;	/* until the run takes it */
	char *code_head;		/* the start of the code, for a job's listing */
	bool has_event;
	struct buf line;		/* latest complete output line, for progress */
	struct buf partial;		/* output since the last newline */
	uv_timer_t *progress;		/* heap: closes asynchronously */
	uv_timer_t *wait;		/* wait_s: then the run becomes a job (heap, as progress) */
	uint64_t ticks;
	bool cancelled;
	int64_t timeout_s;
	int64_t wait_s;
};

static void exec_state_free(void *arg)
{
	struct exec_state *st = arg;
	tool_timer_drop(&st->progress);
	tool_timer_drop(&st->wait);
	tool_exec_input_free(st->input);
	free(st->code_head);
	buf_release(&st->line);
	buf_release(&st->partial);
	free(st);
}

static void on_cancel(void *arg)
{
	struct exec_state *st = arg;
	st->cancelled = true;
	if (st->run)
		sess_run_cancel(st->run);
}

static void on_output(void *arg, int stream, const char *data, size_t len)
{
	struct exec_state *st = arg;
	const char *nl;

	tool_output(st->call, stream == 1 ? "stdout" : "stderr", data, len);
	if (!st->progress)
		return;
	/* keep the last complete line, bounded */
	while ((nl = memchr(data, '\n', len))) {
		buf_add(&st->partial, data, (size_t)(nl - data));
		if (st->partial.len) {
			buf_reset(&st->line);
			buf_add(&st->line, st->partial.data, st->partial.len > 200 ? 200 : st->partial.len);
		}
		buf_reset(&st->partial);
		len -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	if (st->partial.len < 200)
		buf_add(&st->partial, data, len > 200 ? 200 : len);
}

static void progress_tick(uv_timer_t *t)
{
	struct exec_state *st = t->data;
	struct buf msg = BUF_INIT;

	st->ticks++;
	if (st->line.len)
		buf_add(&msg, st->line.data, st->line.len);
	else
		buf_addf(&msg, "running for %llu s", (unsigned long long)st->ticks);
	json_t *m = tool_json_text(msg.data, msg.len);
	tool_progress(st->call, (double)st->ticks, 0, json_string_value(m));
	json_decref(m);
	buf_release(&msg);
}

const char *tool_signal_name(int sig)
{
	static char other[16];
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev) {
		snprintf(other, sizeof(other), "SIG%s", abbrev);
		return other;
	}
	snprintf(other, sizeof(other), "SIG%d", sig);
	return other;
}

json_t *tool_exec_result(const struct tool_exec_outcome *o)
{
	int status = o->exit.status;
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	int code = sig ? 128 + sig : WEXITSTATUS(status);
	struct buf text = BUF_INIT;
	json_t *sc;

	sc = json_pack("{s:i, s:o, s:o, s:b, s:b, s:b, s:I, s:I, s:I}", "exit_code", code, "stdout",
		       tool_json_text(o->out->data ? o->out->data : "", o->out->len), "stderr",
		       tool_json_text(o->err->data ? o->err->data : "", o->err->len), "timed_out",
		       o->timed_out, "oom_killed", o->exit.oom_killed, "truncated", o->truncated,
		       "duration_ms", (json_int_t)o->duration_ms, "cpu_ms", (json_int_t)o->exit.cpu_ms,
		       "max_rss_kb", (json_int_t)o->exit.max_rss_kb);
	if (sig)
		json_object_set_new(sc, "signal", json_string(tool_signal_name(sig)));
	if (o->has_event && !sig && code == 0) {
		json_error_t e;
		json_t *r = o->result && o->result->len ?
			json_loadb(o->result->data, o->result->len, JSON_DECODE_ANY, &e) : NULL;
		json_object_set_new(sc, "result", r ? r : json_null());
	}

	/* the text a model reads: stdout, stderr, then one status line */
	if (o->out->len)
		buf_add(&text, o->out->data, o->out->len);
	if (o->err->len) {
		if (text.len && text.data[text.len - 1] != '\n')
			buf_addch(&text, '\n');
		buf_adds(&text, "[stderr]\n");
		buf_add(&text, o->err->data, o->err->len);
	}
	if (text.len && text.data[text.len - 1] != '\n')
		buf_addch(&text, '\n');
	if (json_object_get(sc, "result")) {
		char *r = json_dumps(json_object_get(sc, "result"), JSON_COMPACT | JSON_ENCODE_ANY);
		buf_addf(&text, "[result] %s\n", r);
		free(r);
	}
	if (o->timed_out)
		buf_addf(&text, "[timed out after %lld s: killed]", (long long)o->timeout_s);
	else if (o->over_inodes)
		buf_addf(&text, "[killed: this key's workspaces went over its quota of %llu files and directories "
			 "(quota.inodes); delete files or sessions]", (unsigned long long)o->inodes_quota);
	else if (o->over_quota)
		buf_addf(&text, "[killed: this key's workspaces went over its disk quota of %llu MiB; delete files "
			 "or sessions]", (unsigned long long)o->disk_quota_mb);
	else if (o->over_disk_limit)
		buf_addf(&text, "[killed: the session's workspace went over its disk limit of %llu MiB (disk_mb); "
			 "delete files]", (unsigned long long)o->disk_limit_mb);
	else if (o->exit.oom_killed)
		buf_adds(&text, "[killed: out of memory (the session's memory limit)]");
	else if (o->session_ended)
		buf_addf(&text, "[killed: its session was %s]", o->session_ended);
	else if (o->cancelled)
		buf_adds(&text, "[cancelled: killed]");
	else if (sig)
		buf_addf(&text, "[killed by %s]", tool_signal_name(sig));
	else
		buf_addf(&text, "[exit_code %d]", code);
	buf_addf(&text, " (%llu ms)", (unsigned long long)o->duration_ms);
	if (o->note)
		buf_addf(&text, " %s", o->note);

	json_t *result = json_object();
	json_object_set_new(result, "content",
			    json_pack("[{s:s, s:o}]", "type", "text", "text", tool_json_text(text.data, text.len)));
	json_object_set_new(result, "structuredContent", sc);
	if (o->over_quota)
		json_object_set_new(sc, "disk_quota_exceeded", json_true());
	if (o->over_disk_limit)
		json_object_set_new(sc, "disk_limit_exceeded", json_true());
	if (o->session_ended)
		json_object_set_new(sc, "session_ended", json_string(o->session_ended));
	if (code != 0 || o->timed_out)
		json_object_set_new(result, "isError", json_true());
	buf_release(&text);
	return result;
}

static void run_done(void *arg, struct sess_run_result *res)
{
	struct exec_state *st = arg;
	struct tool_call *call = st->call;
	bool truncated = res->out_truncated || res->err_truncated;
	struct buf note = BUF_INIT;

	if (truncated)
		buf_addf(&note, "[output truncated at %llu bytes per stream]",
			 (unsigned long long)call->env->cfg->output_bytes.def);
	struct tool_exec_outcome o = {
		.out = &res->out,
		.err = &res->err,
		.result = &res->res,
		.has_event = st->has_event,
		.exit = res->exit,
		.timed_out = res->timed_out,
		.over_quota = res->over_quota,
		.disk_quota_mb = call->env->cfg->quota.disk_bytes >> 20,
		.over_inodes = res->over_inodes,
		.inodes_quota = call->env->cfg->quota.inodes,
		.over_disk_limit = res->over_disk_limit,
		.disk_limit_mb = st->sess->disk_limit >> 20,
		.session_ended = res->session_ended,
		.truncated = truncated,
		.duration_ms = res->duration_ms,
		.timeout_s = st->timeout_s,
		.note = note.len ? note.data : NULL,
	};
	json_t *result = tool_exec_result(&o);
	json_t *sc = json_object_get(result, "structuredContent");
	buf_release(&note);
	/* the record: everything but the output, which goes to files */
	char *exec_id = random_id("exe_", 8);
	json_t *summary = json_deep_copy(sc);
	json_object_del(summary, "stdout");
	json_object_del(summary, "stderr");
	json_object_set_new(summary, "language", json_string(st->lang->name));
	json_object_set_new(summary, "status", json_string(res->timed_out ? "timed_out"
							   : res->over_quota ? "disk_quota"
							   : res->over_disk_limit ? "disk_limit"
							   : res->cancelled || res->session_ended ? "cancelled"
							   : res->exit.oom_killed ? "oom_killed" : "finished"));
	json_object_set_new(summary, "stdout_bytes", json_integer((json_int_t)res->out.len));
	json_object_set_new(summary, "stderr_bytes", json_integer((json_int_t)res->err.len));
	json_object_set_new(summary, "principal", json_string(call->principal));
	json_object_set_new(sc, "execution_id", json_string(exec_id));
	metrics_execution(st->lang->name, sess_run_outcome(res), res->duration_ms);
	if (res->timed_out || res->exit.oom_killed)
		tool_log(call, LOG_LVL_WARNING, "execute in session %s: %s", st->sess->id,
			 res->timed_out ? "timed out, killed" : "out of memory, killed");
	struct sess_session *sess = st->sess; /* st goes with the call */
	st->run = NULL;
	tool_finish(call, result);
	/* after the answer is on its way: keeping the record costs the client nothing */
	sess_record_execution(sess, exec_id, summary, &res->out, &res->err);
	json_decref(summary);
	free(exec_id);
	sess_put(sess);
}

/*
 * wait_s passed and the program still runs: answer now (most clients give up
 * at a fixed 60 s) and let it go on as a job; its timeout still applies.
 */
static void wait_passed(uv_timer_t *t)
{
	struct exec_state *st = t->data;
	struct tool_call *call = st->call;
	const struct sess_run_result *so;
	auto_err struct err *err = NULL;
	struct sess_job *job;
	struct buf what = BUF_INIT;

	if (!st->run || st->cancelled)
		return;
	so = sess_run_so_far(st->run);
	struct sess_job_opts jo = {
		.language = st->lang->name,
		.code = st->code_head,
		.timeout_s = st->timeout_s,
		.has_event = st->has_event,
	};
	if (sess_job_adopt(st->sess, st->run, &jo, &so->out, &so->err, &job, &err) < 0) {
		tool_log(call, LOG_LVL_WARNING, "execute keeps running in the foreground: %s", err_text(err));
		return;
	}
	st->run = NULL;
	buf_addf(&what, "still running after %lld s (wait_s)", (long long)st->wait_s);
	json_t *result = tool_job_running_result(job, 0, call->env->cfg->output_bytes.def, what.data);
	buf_release(&what);
	struct sess_session *sess = st->sess;
	tool_finish(call, result);
	sess_put(sess);
}

/* A later source wins by replacing the key (getenv takes the first of duplicates, so none are kept). */
char **tool_exec_env(json_t *session_env, json_t *call_env)
{
	json_t *merged = json_object();
	const char *k;
	json_t *v;
	size_t n = 0;

	for (const char *const *e = base_env; *e; e++) {
		const char *eq = strchr(*e, '=');
		char *key = xstrndup(*e, (size_t)(eq - *e));
		json_object_set_new(merged, key, json_string(eq + 1));
		free(key);
	}
	json_object_update(merged, session_env);
	if (call_env)
		json_object_update(merged, call_env);
	char **envp = xcalloc(json_object_size(merged) + 1, sizeof(char *));
	json_object_foreach(merged, k, v) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "%s=%s", k, json_string_value(v));
		envp[n++] = buf_detach(&b);
	}
	json_decref(merged);
	return envp;
}

void tool_exec_env_free(char **envp)
{
	for (char **e = envp; *e; e++)
		free(*e);
	free(envp);
}

bool tool_exec_admit(struct tool_call *call, struct sess_session *s, int64_t timeout_s)
{
	const struct srv_config *cfg = call->env->cfg;
	auto_err struct err *err = NULL;
	struct sess_held one = { .executions = 1 };

	/* a program may write: neither the session nor its key may be over its disk limit */
	if (sess_quota_disk_check(call->env->sessions, s, call->principal, 0, &err) < 0 ||
	    sess_quota_check(call->env->sessions, call->principal, &one, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return false;
	}
	if ((uint64_t)timeout_s > cfg->timeout_s.max) {
		tool_fail(call, "argument \"timeout_s\" must be at most %llu (the server's maximum)",
			  (unsigned long long)cfg->timeout_s.max);
		return false;
	}
	return true;
}

/* The program was started (r 0) or not: its input is the run's now, its stdin copied into the run. */
static void exec_started(struct tool_call *call, struct exec_state *st, int r)
{
	if (r == 0)
		st->input = NULL;
	json_object_del(call->args, "stdin");
}

static void exec_in_session(struct tool_call *call, struct sess_session *s)
{
	struct exec_state *st = call->state;
	const struct srv_config *cfg = call->env->cfg;
	json_t *stdin_arg = json_object_get(call->args, "stdin");
	bool background = tool_arg_bool(call, "background", false);
	/* a background job runs until it ends, is cancelled or the server's longest timeout passes */
	int64_t timeout = tool_arg_int(call, "timeout_s", background ? (int64_t)cfg->timeout_s.max : (int64_t)s->timeout_s);
	int64_t wait_s = tool_arg_int(call, "wait_s", (int64_t)cfg->wait_s);
	auto_err struct err *err = NULL;
	size_t input_len;

	if (st->cancelled) {
		tool_fail(call, "cancelled");
		return;
	}
	if (!tool_exec_admit(call, s, timeout))
		return;
	const char *input = tool_exec_input_data(st->input, &input_len);
	char **envp = tool_exec_env(s->env, json_object_get(call->args, "env"));
	struct sess_run_opts o = {
		.argv = st->has_event ? st->lang->handler_argv : st->lang->argv,
		.envp = (const char *const *)envp,
		.stdin_data = json_string_value(stdin_arg),
		.stdin_len = json_string_length(stdin_arg),
		.input = input,
		.input_len = input_len,
		.input_free = tool_exec_input_free,
		.input_arg = st->input,
		.want_result = st->has_event,
		.startup_paths = st->lang->startup_paths ? st->lang->startup_paths() : NULL,
		.timeout_ms = (uint64_t)timeout * 1000,
		.output_cap = cfg->output_bytes.def,
		.limits = s->limits,
		.on_output = on_output,
		.done = run_done,
		.arg = st,
	};
	if (background) {
		struct sess_job_opts jo = {
			.language = st->lang->name, .code = st->code_head, .timeout_s = timeout, .has_event = st->has_event,
		};
		struct sess_job *job;
		int r = sess_job_start(s, &o, &jo, &job, &err);
		tool_exec_env_free(envp);
		exec_started(call, st, r);
		if (r < 0) {
			tool_fail_err(call, err, "cannot start the job");
			return;
		}
		tool_log(call, LOG_LVL_DEBUG, "execute: %s job %s in session %s (timeout %lld s)", st->lang->name,
			 job->id, s->id, (long long)timeout);
		tool_finish(call, tool_job_running_result(job, 0, cfg->output_bytes.def, "started in the background"));
		return;
	}
	int r = sess_run_start(s, &o, &st->run, &err);
	tool_exec_env_free(envp);
	exec_started(call, st, r);
	if (r < 0) {
		tool_fail_err(call, err, "cannot start the program");
		return;
	}
	st->sess = s;
	st->timeout_s = timeout;
	sess_hold(s);
	tool_log(call, LOG_LVL_DEBUG, "execute: %s in session %s (timeout %lld s)", st->lang->name, s->id,
		 (long long)timeout);
	if (tool_wants_progress(call))
		st->progress = tool_timer_start(progress_tick, st, 1000, 1000);
	if (wait_s < timeout) {
		st->wait_s = wait_s;
		st->wait = tool_timer_start(wait_passed, st, (uint64_t)wait_s * 1000, 0);
	}
}

static void execute_run(struct tool_call *call)
{
	const char *language = tool_arg_str(call, "language", "");
	const struct lang *lang = lang_find(language);
	json_t *env = json_object_get(call->args, "env");
	const char *k;
	json_t *v;

	if (!lang) {
		tool_fail(call, "argument \"language\" must be one of " LANG_LIST);
		return;
	}
	if (tool_arg_bool(call, "kernel", false)) {
		tool_kernel_execute(call);
		return;
	}
	if (json_object_get(call->args, "event") && !lang->handler_argv[0]) {
		tool_fail(call, "argument \"event\" is supported for python and javascript handlers, not %s",
			  lang->name);
		return;
	}
	json_object_foreach(env, k, v) {
		if (!*k || strchr(k, '=')) {
			tool_fail(call, "argument \"env\": invalid variable name \"%s\"", k);
			return;
		}
	}
	/* the code leaves the arguments now: held once, counted, and freed when the program has it */
	auto_err struct err *err = NULL;
	struct tool_exec_input *input;
	bool has_event = json_object_get(call->args, "event") != NULL;
	char *head;
	if (tool_exec_input_take(call, has_event, &head, &input, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	struct exec_state *st = xcalloc(1, sizeof(*st));
	st->call = call;
	st->lang = lang;
	st->input = input;
	st->code_head = head;
	st->has_event = has_event;
	call->state = st;
	call->state_free = exec_state_free; /* freed with the call, however it ends */
	tool_on_cancel(call, on_cancel, st);
	tool_with_session(call, exec_in_session);
}

#define EXEC_INPUT \
	"{\"type\":\"object\",\"properties\":{" \
	"\"code\":{\"type\":\"string\",\"description\":\"The program text. With event: Python defines handler(event) or handler(event, context); JavaScript sets module.exports.handler = (event) => ... or defines a function handler(event, context) (may return a Promise).\"}," \
	"\"language\":{\"type\":\"string\",\"enum\":" LANG_NAMES_JSON ",\"description\":\"python (python3), javascript (node; also nodejs), typescript (transpiled, then node), shell (bash), c (gcc), cpp (g++), go, rust (rustc), java (javac, then java), ruby. Compiled code is built once into /workspace/.cache/mcpbox/ and reused; a compile error is the result (stderr, exit code).\"}," \
	"\"session_id\":{\"type\":\"string\",\"description\":\"Session to run in; default: this connection's own session, created on first use.\"}," \
	"\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"description\":\"Wall-clock limit in seconds (default 30); the whole process tree is killed when it passes.\"}," \
	"\"stdin\":{\"type\":\"string\",\"description\":\"Text fed to the program's standard input (with kernel: the lines that answer the cell's input() calls in order).\"}," \
	"\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},\"description\":\"Extra environment variables.\"}," \
	"\"event\":{\"description\":\"Any JSON value: run the code as a handler and return its result.\"}," \
	"\"background\":{\"type\":\"boolean\",\"description\":\"Start it as a job and answer at once with its job_id (follow it with job_status, job_wait, job_write, job_cancel). Its stdin stays open for job_write; its timeout defaults to the server's longest.\"}," \
	"\"kernel\":{\"type\":\"boolean\",\"description\":\"Run the code as a cell of the session's stateful Jupyter kernel for the language (python, javascript or shell): variables, imports and open files persist between calls. Matplotlib figures and displayed images come back as image content, display(HTML(...)) and results as text, an exception as its traceback (isError). Cancelling the call interrupts the cell and keeps the kernel; kernel_restart starts it fresh. input() reads the lines of stdin, then raises EOFError. Not with background, event or wait_s.\"}," \
	"\"wait_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"description\":\"Answer after this many seconds (default 50, under the fixed 60 s of most clients) if the program still runs: the output so far, running: true and a job_id that job_wait and job_status continue. timeout_s still applies.\"}" \
	"},\"required\":[\"code\",\"language\"],\"additionalProperties\":false}"

#define EXEC_OUTPUT \
	"{\"type\":\"object\",\"properties\":{" \
	"\"exit_code\":{\"type\":\"integer\",\"description\":\"Exit status; 128+N when killed by signal N.\"}," \
	"\"signal\":{\"type\":\"string\"}," \
	"\"stdout\":{\"type\":\"string\"},\"stderr\":{\"type\":\"string\"}," \
	"\"timed_out\":{\"type\":\"boolean\"},\"oom_killed\":{\"type\":\"boolean\"},\"truncated\":{\"type\":\"boolean\"}," \
	"\"duration_ms\":{\"type\":\"integer\"},\"cpu_ms\":{\"type\":\"integer\"},\"max_rss_kb\":{\"type\":\"integer\"}," \
	"\"result\":{\"description\":\"The handler's return value (with event).\"}," \
	"\"execution_id\":{\"type\":\"string\",\"description\":\"The record of this execution.\"}," \
	"\"disk_quota_exceeded\":{\"type\":\"boolean\",\"description\":\"Killed: the key's workspaces went over its disk quota.\"}," \
	"\"disk_limit_exceeded\":{\"type\":\"boolean\",\"description\":\"Killed: the session's workspace went over its disk limit (disk_mb).\"}," \
	"\"session_ended\":{\"type\":\"string\",\"enum\":[\"stopped\",\"destroyed\"],\"description\":\"Killed: its session was stopped or destroyed while it ran.\"}," \
	"\"running\":{\"type\":\"boolean\",\"description\":\"Still running as job job_id (background, or past wait_s); no exit_code yet.\"}," \
	"\"job_id\":{\"type\":\"string\"},\"session_id\":{\"type\":\"string\"},\"state\":{\"type\":\"string\"}," \
	"\"next_offset\":{\"type\":\"integer\",\"description\":\"Where the job's output continues: since_offset for job_status / job_wait.\"}" \
	"},\"required\":[\"stdout\",\"stderr\",\"duration_ms\"]}"

const struct tool_def tool_exec_defs[] = {
	{
		.name = "execute",
		.title = "Execute code",
		.description = "Run Python, JavaScript (Node.js) or shell (bash) code in an isolated Linux sandbox "
			       "whose working directory is /workspace (shared with the file tools). Returns stdout, "
			       "stderr and the exit status. Files and installed state persist within the session; "
			       "no network unless the session was created with network: true.",
		.input_schema = EXEC_INPUT,
		.output_schema = EXEC_OUTPUT,
		.destructive = true,
		.open_world = true,
		.run = execute_run,
	},
	{ 0 },
};
