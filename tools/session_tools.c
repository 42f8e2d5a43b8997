/*
 * session_create, session_list, session_info, session_destroy.
 */
#include "tool.h"
#include "../kernel/kernel.h"
#include "../vnc/display.h"
#include "../proxy/browser.h"
#include "../proxy/proxy.h"
#include "../server/base/json_out.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../sessions/catalog.h"
#include "../server/base/banned.h"

#include <string.h>

static json_t *limits_json(const struct sess_session *s)
{
	return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:o}", "memory_mb", (json_int_t)(s->limits.memory_bytes >> 20),
			 "max_pids", (json_int_t)s->limits.max_pids, "cpus",
			 s->limits.cpu_millis ? json_real(s->limits.cpu_millis / 1000.0) : json_null(), "cpu_s",
			 (json_int_t)s->limits.cpu_seconds, "file_mb", (json_int_t)(s->limits.file_bytes >> 20),
			 "timeout_s", (json_int_t)s->timeout_s, "disk_mb",
			 s->disk_limit ? json_integer((json_int_t)(s->disk_limit >> 20)) : json_null());
}

static json_t *session_json(struct sess_session *s, bool detail, bool control)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:o, s:o, s:b, s:b}", "session_id", s->id, "status",
			      sess_state_name(s->state), "owner", s->owner, "labels", s->labels, "created_at",
			      tool_json_time(s->created_at), "last_active", tool_json_time(s->last_active),
			      "implicit", s->implicit, "network", s->network);
	if (s->name)
		json_object_set_new(o, "name", json_string(s->name));
	if (s->started_at)
		json_object_set_new(o, "started_at", tool_json_time(s->started_at));
	if (s->stopped_at)
		json_object_set_new(o, "stopped_at", tool_json_time(s->stopped_at));
	if (s->source_snapshot)
		json_object_set_new(o, "source_snapshot", json_string(s->source_snapshot));
	if (!detail)
		return o;
	json_object_set_new(o, "limits", limits_json(s));
	struct sess_usage u = { 0 };
	if (s->worker)
		sess_worker_usage(s->worker, &u, NULL);
	json_object_set_new(o, "usage", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "memory_bytes",
						  (json_int_t)u.memory_bytes, "pids", (json_int_t)u.pids,
						  "executions", (json_int_t)s->executions, "running",
						  (json_int_t)s->running, "cpu_ms", (json_int_t)s->cpu_ms,
						  "disk_bytes", (json_int_t)s->disk_bytes));
	if (s->failure)
		json_object_set_new(o, "error", json_string(err_text(s->failure)));
	json_t *display = vnc_display_info(s, s->owner, control); /* only owners see a session */
	if (display)
		json_object_set_new(o, "display", display);
	json_t *kernels = kern_session_info(s);
	if (kernels)
		json_object_set_new(o, "kernels", kernels);
	json_t *ports = px_ports_json(s);
	if (ports)
		json_object_set_new(o, "ports", ports);
	json_t *browser = px_browser_json(s);
	if (browser)
		json_object_set_new(o, "browser", browser);
	const char *cdp = control ? px_browser_cdp_url(s) : NULL;	/* its token controls the browser */
	if (cdp)
		json_object_set_new(o, "cdp_url", json_string(cdp));
	return o;
}

/*
 * The MCP endpoints bound to s (Streamable HTTP, and legacy SSE for older
 * clients), with s's token: hand one to another agent and it can work in s
 * and nowhere else. Only under serve.
 */
static void add_endpoints(json_t *o, const struct tool_env *env, const struct sess_session *s)
{
	char token[TOOL_TOKEN_LEN + 1];
	struct buf b = BUF_INIT;

	if (!env->http_base[0])
		return;
	tool_session_token(s->owner, s->id, token);
	buf_addf(&b, "%s/sessions/%s/mcp?token=%s", env->http_base, s->id, token);
	json_object_set_new(o, "mcp_url", json_string(b.data));
	buf_reset(&b);
	buf_addf(&b, "%s/sessions/%s/sse?token=%s", env->http_base, s->id, token);
	json_object_set_new(o, "mcp_sse_url", json_string(b.data));
	buf_release(&b);
}

/* session_create {template}: what was applied (call->state), said in the reply */
struct tmpl_state {
	struct tool_tmpl t;
	json_t *files;		/* to write once the session runs (owned), or NULL */
};

static void tmpl_state_free(void *p)
{
	struct tmpl_state *ts = p;
	json_decref(ts->files);
	free(ts);
}

static void reply_session(struct tool_call *call, struct sess_session *s, const char *verb)
{
	json_t *sc = session_json(s, true, tool_may_control(call, s->id));
	/* the endpoints' token acts as the owner: only for a credential holding everything there */
	if (tool_may(call, s->id, SRV_CAP_ALL, SRV_LEVEL_OWNER))
		add_endpoints(sc, call->env, s);
	if (call->state && call->state_free == tmpl_state_free) {
		struct tmpl_state *ts = call->state;
		json_object_set_new(sc, "template", json_string(ts->t.name));
		if (ts->t.image[0])
			json_object_set_new(sc, "image", json_string(ts->t.image));
		if (ts->t.language[0])
			json_object_set_new(sc, "language", json_string(ts->t.language));
	}
	struct buf text = BUF_INIT;
	char *dump = srv_json_dumps(sc);
	if (verb)
		buf_addf(&text, "%s session %s\n", verb, s->id);
	buf_adds(&text, dump);
	free(dump);
	tool_ok(call, sc, text.data);
	buf_release(&text);
}

struct create_ctx {
	struct tool_call *call;
	struct sess_snap *snap;		/* in_use raised while the workspace is filled */
};

static void reply_created(struct tool_call *call, struct sess_session *s)
{
	struct tmpl_state *ts = call->state_free == tmpl_state_free ? call->state : NULL;
	auto_err struct err *err = NULL;

	if (ts && ts->files && tool_tmpl_write_files(call->env, s, ts->files, &err) < 0) {
		/* a session without the files it was asked for is not the one asked for */
		sess_destroy(s);
		tool_fail_err(call, err, "session_create {template: %s}", ts->t.name);
		return;
	}
	tool_log(call, LOG_LVL_INFO, "created session %s", s->id);
	reply_session(call, s, "created");
}

static void created_from_snapshot(void *arg, struct sess_session *s, struct err *err)
{
	struct create_ctx *cc = arg;
	struct tool_call *call = cc->call;
	struct sess_snap *sn = cc->snap;

	free(cc);
	if (err) {
		sn->in_use--;
		tool_fail_err(call, err, "session_create");
		err_free(err);
		return;
	}
	tool_fill_from_snapshot(call, s, sn, reply_created);
}

static void created(void *arg, struct sess_session *s, struct err *err)
{
	struct tool_call *call = arg;
	if (err) {
		tool_fail_err(call, err, "session_create");
		err_free(err);
		return;
	}
	reply_created(call, s);
}

/*
 * The second half of session_create, once a snapshot's tree (if any) is ready:
 * tree non-NULL means the workspace is an overlay on it; otherwise a session
 * from a snapshot gets its workspace filled by a restore.
 */
static void create_session(struct tool_call *call, struct sess_snap *sn, const char *tree)
{
	struct sess_request rq = {
		.network = tool_arg_bool(call, "network", false),
		.memory_mb = tool_arg_int(call, "memory_mb", -1),
		.cpus = json_number_value(json_object_get(call->args, "cpus")), /* absent: 0 */
		.timeout_s = tool_arg_int(call, "timeout_s", -1),
		.disk_mb = tool_arg_int(call, "disk_mb", -1),
		.name = tool_arg_str(call, "name", NULL),
		.labels = json_object_get(call->args, "labels"),
		.env = json_object_get(call->args, "env"),
		.lower = tree,
		.lower_commit = tree ? sn->commit : NULL,
	};
	auto_err struct err *err = NULL;
	struct sess_session *s;
	json_t *disp = json_object_get(call->args, "display");
	int dw = (int)json_integer_value(json_object_get(disp, "width"));
	int dh = (int)json_integer_value(json_object_get(disp, "height"));

	if (rq.network && sess_principal_no_network(call->principal)) {
		if (sn)
			sn->in_use--;
		tool_fail_as(call, ERR_DENIED, "session_create: this API key may not ask for network (it was made with "
				"`mcpbox key create --no-network`)");
		return;
	}
	if ((disp && !json_is_false(disp) && tool_display_quota(call, NULL, &err) < 0) ||
	    sess_create(call->env->sessions, call->principal, false, &rq, &s, &err) < 0) {
		if (sn)
			sn->in_use--;
		tool_fail_err(call, err, "session_create");
		return;
	}
	if (disp && !json_is_false(disp)) {
		const char *desk = json_string_value(json_object_get(disp, "desktop"));
		vnc_display_configure(s, dw, dh, desk ? !strcmp(desk, "bare") : call->env->cfg->display_bare, true, NULL);
	}
	if (sn && tree) {
		sn->in_use--;
		free(s->source_snapshot);
		s->source_snapshot = xstrdup(sn->id);
		free(s->last_snapshot);
		s->last_snapshot = xstrdup(sn->commit);
		sess_when_ready(s, created, call);
	} else if (sn) {
		struct create_ctx *cc = xcalloc(1, sizeof(*cc));
		cc->call = call;
		cc->snap = sn; /* in_use stays raised until the workspace is filled */
		sess_when_ready(s, created_from_snapshot, cc);
	} else {
		sess_when_ready(s, created, call);
	}
}

/* session_create {template}: the preset under the call's own arguments; false: the call failed */
static bool apply_template(struct tool_call *call)
{
	const char *name = tool_arg_str(call, "template", NULL);
	auto_err struct err *err = NULL;
	struct tmpl_state *ts;

	if (!name)
		return true;
	ts = xcalloc(1, sizeof(*ts));
	if (tool_tmpl_resolve(call->principal, name, &ts->t, &err) < 0) {
		free(ts);
		tool_fail_err(call, err, "session_create");
		return false;
	}
	ts->files = json_incref(json_object_get(ts->t.settings, "files"));
	json_t *args = srv_tmpl_merge(ts->t.settings, call->args);
	json_object_del(args, "template");
	json_decref(call->args);
	call->args = args;
	ts->t.settings = NULL; /* may go (template_delete) before the session is ready: what is needed is copied */
	call->state = ts;
	call->state_free = tmpl_state_free;
	return true;
}

/* Are the names of the call's env variables valid? false: the call was finished saying which is not. */
static bool env_names_ok(struct tool_call *call)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(call->args, "env"), k, v) {
		if (!*k || strchr(k, '=')) {
			tool_fail(call, "argument \"env\": invalid variable name \"%s\"", k);
			return false;
		}
	}
	return true;
}

static void session_create_run(struct tool_call *call)
{
	if (!apply_template(call) || !env_names_ok(call))
		return;
	json_t *disp = json_object_get(call->args, "display");
	json_t *jw = json_object_get(disp, "width"), *jh = json_object_get(disp, "height");
	json_t *desk = json_object_get(disp, "desktop");
	int dw = (int)json_integer_value(jw), dh = (int)json_integer_value(jh);
	if (disp && !json_is_boolean(disp) &&
	    (!json_is_object(disp) || (jw || jh ? dw < 64 || dh < 64 || dw > VNC_MAX_W || dh > VNC_MAX_H : false))) {
		tool_fail(call, "argument \"display\" must be true or {width, height, desktop} with a size within 64x64..%dx%d",
			  VNC_MAX_W, VNC_MAX_H);
		return;
	}
	if (desk && (!json_is_string(desk) || (strcmp(json_string_value(desk), "standard") &&
					       strcmp(json_string_value(desk), "bare")))) {
		tool_fail(call, "argument \"display.desktop\" must be \"standard\" (a window manager, a task bar and a "
			  "terminal) or \"bare\" (the X server alone)");
		return;
	}
	const char *snap_id = tool_arg_str(call, "snapshot_id", NULL);
	struct sess_snap *sn = NULL;
	if (snap_id && !(sn = sess_snap_find(call->env->sessions, snap_id, call->principal))) {
		tool_fail_as(call, ERR_NOT_FOUND, "snapshot \"%s\" not found (argument snapshot_id)", snap_id);
		return;
	}
	if (!sn) {
		create_session(call, NULL, NULL);
		return;
	}
	sn->in_use++; /* snapshot_delete waits until the session has its workspace */
	tool_snapshot_tree(call, sn, create_session);
}

struct list_ctx {
	json_t *arr;
	json_t *labels;	/* only sessions with all of these (borrowed; may be NULL) */
	struct buf text;
};

static bool has_labels(struct sess_session *s, json_t *want)
{
	const char *k;
	json_t *v;
	json_object_foreach(want, k, v) {
		json_t *have = json_object_get(s->labels, k);
		if (!json_is_string(have) || strcmp(json_string_value(have), json_string_value(v)))
			return false;
	}
	return true;
}

static void list_one(void *arg, struct sess_session *s)
{
	struct list_ctx *l = arg;
	if (!has_labels(s, l->labels))
		return;
	json_array_append_new(l->arr, session_json(s, false, false));
	buf_addf(&l->text, "%s\t%s\t%s%s\n", s->id, sess_state_name(s->state), s->name ? s->name : "-",
		 s->implicit ? "\t(this connection's default)" : "");
}

static void session_list_run(struct tool_call *call)
{
	struct list_ctx l = { .arr = json_array(), .labels = json_object_get(call->args, "labels"), .text = BUF_INIT };
	sess_foreach(call->env->sessions, call->principal, list_one, &l);
	if (!json_array_size(l.arr))
		buf_adds(&l.text, "no sessions\n");
	tool_ok(call, json_pack("{s:o}", "sessions", l.arr), l.text.data);
	buf_release(&l.text);
}

/* session_stop / session_start name their session explicitly (never the implicit default). */
static struct sess_session *named_session(struct tool_call *call)
{
	const char *id = tool_arg_str(call, "session_id", "");
	struct sess_session *s = sess_find(call->env->sessions, id, call->principal);
	if (!s)
		tool_fail_as(call, ERR_NOT_FOUND, "session \"%s\" not found (argument session_id)", id);
	return s;
}

static void info_ready(struct tool_call *call, struct sess_session *s)
{
	reply_session(call, s, NULL);
}

static void session_info_run(struct tool_call *call)
{
	/* a named session is described in any state; the default one is created if needed */
	if (json_object_get(call->args, "session_id")) {
		struct sess_session *s = named_session(call);
		if (s)
			reply_session(call, s, NULL);
		return;
	}
	tool_with_session(call, info_ready);
}

static void session_destroy_run(struct tool_call *call)
{
	const char *id = tool_arg_str(call, "session_id", "");
	struct sess_session *s = sess_find(call->env->sessions, id, call->principal);

	if (!s) {
		tool_fail_as(call, ERR_NOT_FOUND, "session \"%s\" not found (argument session_id)", id);
		return;
	}
	if (call->conn->implicit_session && !strcmp(call->conn->implicit_session, id)) {
		free(call->conn->implicit_session);
		call->conn->implicit_session = NULL;
	}
	sess_audit(call->env->sessions, call->principal, "session.destroy", id, NULL);
	sess_destroy(s);
	tool_log(call, LOG_LVL_INFO, "destroyed session %s", id);
	struct buf text = BUF_INIT;
	buf_addf(&text, "destroyed session %s", id);
	tool_ok(call, json_pack("{s:s, s:b}", "session_id", id, "destroyed", 1), text.data);
	buf_release(&text);
}

static void session_update_run(struct tool_call *call)
{
	struct sess_session *s = named_session(call);
	auto_err struct err *err = NULL;

	if (!s || !env_names_ok(call))
		return; /* the call is finished (and freed): read its arguments only after */
	json_t *labels = json_object_get(call->args, "labels");
	json_t *merged = json_deep_copy(s->labels);
	json_object_update(merged, labels);
	bool too_many = labels && json_object_size(merged) > 32;
	json_decref(merged);
	if (too_many) {
		tool_fail(call, "argument \"labels\": a session holds at most 32 labels");
		return;
	}
	if (sess_update(s, tool_arg_int(call, "memory_mb", 0), json_number_value(json_object_get(call->args, "cpus")),
			tool_arg_int(call, "disk_mb", 0), json_object_get(call->args, "env"), labels, &err) < 0) {
		tool_fail_err(call, err, "session_update");
		return;
	}
	sess_audit(call->env->sessions, call->principal, "session.update", s->id, NULL);
	reply_session(call, s, "updated");
}

static void session_stop_run(struct tool_call *call)
{
	struct sess_session *s = named_session(call);
	auto_err struct err *err = NULL;

	if (!s)
		return;
	if (s->implicit) {
		tool_fail(call, "session %s is this connection's default session: it cannot be stopped, only "
				"destroyed with the connection", s->id);
		return;
	}
	if (sess_stop(s, &err) < 0) {
		tool_fail_err(call, err, "session_stop");
		return;
	}
	sess_audit(call->env->sessions, call->principal, "session.stop", s->id, NULL);
	reply_session(call, s, "stopped");
}

static void started(void *arg, struct sess_session *s, struct err *err)
{
	struct tool_call *call = arg;
	if (err) {
		tool_fail_err(call, err, "session_start");
		err_free(err);
		return;
	}
	reply_session(call, s, "started");
}

static void session_start_run(struct tool_call *call)
{
	struct sess_session *s = named_session(call);
	auto_err struct err *err = NULL;

	if (!s)
		return;
	if (sess_start(s, &err) < 0) {
		tool_fail_err(call, err, "session_start");
		return;
	}
	sess_audit(call->env->sessions, call->principal, "session.start", s->id, NULL);
	sess_when_ready(s, started, call);
}

#define SESSION_OUT \
	"{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"}," \
	"\"name\":{\"type\":\"string\"},\"owner\":{\"type\":\"string\",\"description\":\"The principal (API key) the session belongs to.\"}," \
	"\"labels\":{\"type\":\"object\"},\"created_at\":{\"type\":\"string\"}," \
	"\"last_active\":{\"type\":\"string\"},\"implicit\":{\"type\":\"boolean\"},\"network\":{\"type\":\"boolean\"}," \
	"\"limits\":{\"type\":\"object\"},\"usage\":{\"type\":\"object\"}},\"required\":[\"session_id\",\"status\"]}"

const struct tool_def tool_session_defs[] = {
	{
		.name = "session_create",
		.title = "Create a session",
		.description = "Create a new isolated sandbox session with its own /workspace. Not needed for "
			       "simple use: every tool works without session_id in this connection's default "
			       "session. Sessions made here live until session_destroy or until idle for the "
			       "server's TTL (1 h by default).",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"network\":{\"type\":\"boolean\",\"description\":\"Internet access (user-mode networking; the host and private networks stay unreachable). Default: none.\"},"
				"\"memory_mb\":{\"type\":\"integer\",\"minimum\":16,\"description\":\"Memory limit for the whole session.\"},"
				"\"cpus\":{\"type\":\"number\",\"minimum\":0.01,\"description\":\"CPU limit for the whole session, in CPUs (0.5: half of one; at most the host's CPUs). Default: no cap.\"},"
				"\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"description\":\"Default execute timeout.\"},"
				"\"disk_mb\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Most MiB the session's /workspace may take on disk (writes past it are refused, programs writing past it killed). Default: none (the key's disk quota still holds); at most the server's limits.disk maximum.\"},"
				"\"env\":{\"type\":\"object\",\"maxProperties\":256,\"propertyNames\":{\"maxLength\":256},\"additionalProperties\":{\"type\":\"string\",\"maxLength\":32768},\"description\":\"Environment for every execution (at most 128 KiB in all).\"},"
				"\"name\":{\"type\":\"string\",\"maxLength\":200},"
				"\"labels\":" TOOL_LABELS_SCHEMA ","
				"\"display\":{\"description\":\"true, or {width?, height?, desktop?} (default 1280x800, max 3840x2160; desktop \\\"standard\\\": a window manager with title bars, a task bar and a terminal, or \\\"bare\\\": the X server alone): start the virtual display now (it otherwise starts on the first screenshot, as a standard desktop).\"},"
				"\"snapshot_id\":{\"type\":\"string\",\"description\":\"Start with the workspace of this snapshot.\"},"
				"\"template\":{\"type\":\"string\",\"maxLength\":200,\"description\":\"A session preset (template_list) whose limits, env, files, network and snapshot apply under this call's own arguments; an image name (python:3.11-slim, node:20, ubuntu) picks the template of its language, since the sandbox runs the host's interpreters.\"}"
				"},\"additionalProperties\":false}",
		.output_schema = SESSION_OUT,
		.open_world = false,
		.run = session_create_run,
	},
	{
		.name = "session_list",
		.title = "List sessions",
		.description = "List the caller's sessions, optionally only those carrying all the given labels.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"labels\":" TOOL_LABELS_SCHEMA "},"
				"\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"sessions\":{\"type\":\"array\"}},\"required\":[\"sessions\"]}",
		.read_only = true,
		.idempotent = true,
		.run = session_list_run,
	},
	{
		.name = "session_info",
		.title = "Session details",
		.description = "Status, timestamps, limits and resource usage of a session (default: this connection's).",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}},"
				"\"additionalProperties\":false}",
		.output_schema = SESSION_OUT,
		.read_only = true,
		.idempotent = true,
		.run = session_info_run,
	},
	{
		.name = "session_update",
		.title = "Change a session's limits",
		.description = "Change a session's memory limit, CPU cap, disk limit, environment or labels. A running sandbox gets the "
			       "new limits at once; the environment applies to the programs started from now on. The "
			       "sandbox's /tmp and /dev/shm keep the size they were made with.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				"\"memory_mb\":{\"type\":\"integer\",\"minimum\":16,\"description\":\"New memory limit for the whole session.\"},"
				"\"cpus\":{\"type\":\"number\",\"minimum\":0.01,\"description\":\"New CPU cap in CPUs (only where a cpu cgroup can keep it).\"},"
				"\"disk_mb\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"New limit of the MiB its /workspace may take on disk.\"},"
				"\"env\":{\"type\":\"object\",\"maxProperties\":256,\"propertyNames\":{\"maxLength\":256},\"additionalProperties\":{\"type\":\"string\",\"maxLength\":32768},\"description\":\"Variables set over the session's own.\"},"
				"\"labels\":" TOOL_LABELS_SCHEMA "}"
				",\"required\":[\"session_id\"],\"additionalProperties\":false}",
		.output_schema = SESSION_OUT,
		.idempotent = true,
		.run = session_update_run,
	},
	{
		.name = "session_stop",
		.title = "Stop a session",
		.description = "End a session's sandbox and everything running in it, but keep its workspace and "
			       "record; session_start brings it back. Stopped sessions survive server restarts.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}},"
				"\"required\":[\"session_id\"],\"additionalProperties\":false}",
		.output_schema = SESSION_OUT,
		.destructive = true,
		.idempotent = false,
		.run = session_stop_run,
	},
	{
		.name = "session_start",
		.title = "Start a stopped session",
		.description = "Give a stopped (or failed) session a new sandbox on its kept workspace.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}},"
				"\"required\":[\"session_id\"],\"additionalProperties\":false}",
		.output_schema = SESSION_OUT,
		.run = session_start_run,
	},
	{
		.name = "session_destroy",
		.title = "Destroy a session",
		.description = "Kill everything running in a session and delete its workspace.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}},"
				"\"required\":[\"session_id\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				 "\"destroyed\":{\"type\":\"boolean\"}},\"required\":[\"session_id\",\"destroyed\"]}",
		.destructive = true,
		.idempotent = true,
		.run = session_destroy_run,
	},
	{ 0 },
};
