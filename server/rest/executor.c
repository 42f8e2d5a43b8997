/*
 * 001, the Sandbox Executor (kweaver-ai/sandbox runtime/executor): its REST
 * API as a dialect (rest.h). POST /execute runs code synchronously through
 * the execute tool in the sandbox the body's session_id names: a session of
 * the caller's carrying the label compat.executor.session_id, found with
 * session_list and made with session_create on first use. Requests for a
 * name being looked up wait for that one lookup, so concurrent first uses
 * make one sandbox. Validation and errors are FastAPI's (fastapi.h), as the
 * twin is a FastAPI service; the credential is Authorization: Bearer.
 */
#include "rest.h"
#include "executor.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/config.h"
#include "../base/log.h"
#include "../base/banned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define DIALECT "executor"
#define LABEL EXECUTOR_LABEL
#define NAME_MAX_CHARS 256	/* what a label value holds */
#define VERSION "1.0.0"

/* The twin's ExecuteRequest (pydantic); the document's types, default and range. */
const struct fastapi_field executor_request[] = {
	{ .name = "execution_id", .type = FASTAPI_STR, .required = true },
	{ .name = "session_id", .type = FASTAPI_STR, .required = true, .bounds = FASTAPI_MAX_LEN,
	  .max_len = NAME_MAX_CHARS },
	{ .name = "code", .type = FASTAPI_STR, .required = true },
	{ .name = "language", .type = FASTAPI_STR, .required = true, .pattern = "^(python|javascript|shell)$" },
	{ .name = "event", .type = FASTAPI_DICT, .def = "{}" },
	{ .name = "timeout", .type = FASTAPI_INT, .def = "300", .bounds = FASTAPI_GE | FASTAPI_LE, .ge = 1,
	  .le = 3600 },
	{ .name = "env_vars", .type = FASTAPI_DICT, .def = "{}" },
	{ 0 },
};

struct lookup;

/* One POST /execute, from validation to its answer. */
struct exec_req {
	struct tp_req *r;
	char principal[128];
	json_t *body;		/* the validated request */
	bool retried;		/* the sandbox vanished once between lookup and execute */
	TAILQ_ENTRY(exec_req) link;	/* in its lookup's waiters */
};

/* Finding (or making) the sandbox one principal's session_id names. */
struct lookup {
	char *principal, *name;
	TAILQ_HEAD(, exec_req) waiters;
	LIST_ENTRY(lookup) link;
};

static struct {
	const struct srv_config *cfg;
	LIST_HEAD(, lookup) lookups;
	unsigned active;	/* POST /execute requests not answered yet */
	uint64_t started_ms;
} X;

/* ---- answers ---- */

static void answer(struct exec_req *x, int status, json_t *body)
{
	tp_req_json(x->r, status, body);
	json_decref(x->body);
	free(x);
	X.active--;
}

/* A failure before the program ran, in FastAPI's HTTPException shape. */
static void answer_failure(struct exec_req *x, const char *text, enum err_class cls)
{
	if (cls == ERR_INTERNAL)
		answer(x, 500, fastapi_detail("Internal server error: %s", text));
	else
		answer(x, rest_status_of(x->r, cls), fastapi_detail("%s", text));
}

const char *executor_status(json_t *sc)
{
	if (json_is_true(json_object_get(sc, "timed_out")))
		return "timeout";
	if (json_object_get(sc, "signal"))
		return "error"; /* killed (out of memory, a signal) */
	return json_integer_value(json_object_get(sc, "exit_code")) == 0 ? "completed" : "failed";
}

/* The document's {execution_id, status, message} and what its clients may also read. */
json_t *executor_answer(json_t *req, json_t *sc)
{
	json_t *result = json_object_get(sc, "result");
	return json_pack("{s:O, s:s, s:s, s:O?, s:O?, s:I, s:O, s:f}", "execution_id",
			 json_object_get(req, "execution_id"), "status", executor_status(sc), "message",
			 "Execution completed", "stdout", json_object_get(sc, "stdout"), "stderr",
			 json_object_get(sc, "stderr"), "exit_code", json_integer_value(json_object_get(sc, "exit_code")),
			 "return_value", result ? result : json_null(), "execution_time",
			 (double)json_integer_value(json_object_get(sc, "duration_ms")) / 1000.0);
}

/* ---- running the code ---- */

static void lookup_join(struct exec_req *x);

static void executed(void *arg, json_t *result, enum err_class cls)
{
	struct exec_req *x = arg;
	json_t *sc = rest_result_data(result);

	if (sc && json_object_get(sc, "exit_code")) {
		answer(x, 200, executor_answer(x->body, sc));
	} else if (cls == ERR_NOT_FOUND && !x->retried) {
		/* the sandbox went (destroyed, expired) after it was looked up: look again, once */
		x->retried = true;
		lookup_join(x);
	} else {
		answer_failure(x, rest_result_text(result), cls);
	}
	json_decref(result);
}

/* env_vars values may be any JSON: strings are taken as they are, others as their JSON text. */
static json_t *env_of(json_t *vars)
{
	json_t *env = json_object(), *v;
	const char *k;
	json_object_foreach(vars, k, v) {
		if (json_is_string(v)) {
			json_object_set(env, k, v);
		} else {
			char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			json_object_set_new(env, k, json_string(t ? t : ""));
			free(t);
		}
	}
	return env;
}

json_t *executor_tool_args(json_t *req, const char *session, uint64_t max_timeout)
{
	const char *lang = json_string_value(json_object_get(req, "language"));
	json_int_t timeout = json_integer_value(json_object_get(req, "timeout"));
	json_int_t max = max_timeout ? (json_int_t)max_timeout : 3600;
	json_t *args = json_pack("{s:O, s:s, s:s, s:I}", "code", json_object_get(req, "code"), "language", lang,
				 "session_id", session, "timeout_s", timeout < max ? timeout : max);

	if (json_object_size(json_object_get(req, "env_vars")))
		json_object_set_new(args, "env", env_of(json_object_get(req, "env_vars")));
	/* Python and JavaScript code is a handler, given the event (default {}); shell is run as it is */
	if (strcmp(lang, "shell"))
		json_object_set(args, "event", json_object_get(req, "event"));
	return args;
}

/*
 * Code up to this size is kept until the answer, to run it again in a sandbox
 * looked up again (executed); larger code goes to the call alone, which holds
 * it only until the program has read it (tools/exec_input.h).
 */
#define KEEP_CODE_MAX (64u << 10)

static void run(struct exec_req *x, const char *session)
{
	json_t *args = executor_tool_args(x->body, session, X.cfg ? X.cfg->timeout_s.max : 0);

	if (json_string_length(json_object_get(x->body, "code")) > KEEP_CODE_MAX) {
		json_object_del(x->body, "code");
		x->retried = true; /* nothing to run again */
	}
	rest_call(x->r, x->principal, rest_conn(DIALECT, x->principal), "execute", args, executed, x);
}

/* ---- the sandbox a session_id names ---- */

static void lookup_end(struct lookup *lk)
{
	LIST_REMOVE(lk, link);
	free(lk->principal);
	free(lk->name);
	free(lk);
}

/* Every waiter runs in session (or, with session NULL, gets the failure). */
static void lookup_finish(struct lookup *lk, const char *session, const char *text, enum err_class cls)
{
	TAILQ_HEAD(, exec_req) waiters = TAILQ_HEAD_INITIALIZER(waiters);
	struct exec_req *x;

	/* off the list first: a waiter that must look again starts a new lookup */
	TAILQ_CONCAT(&waiters, &lk->waiters, link);
	char *id = session ? xstrdup(session) : NULL;
	lookup_end(lk);
	while ((x = TAILQ_FIRST(&waiters))) {
		TAILQ_REMOVE(&waiters, x, link);
		if (id)
			run(x, id);
		else
			answer_failure(x, text, cls);
	}
	free(id);
}

/* The waiter to make the lookup's next tool call for: one whose client is still there. */
static struct exec_req *lookup_caller(struct lookup *lk)
{
	struct exec_req *x;
	TAILQ_FOREACH(x, &lk->waiters, link)
		if (!tp_req_gone(x->r))
			return x;
	return NULL;
}

static void created(void *arg, json_t *result, enum err_class cls)
{
	struct lookup *lk = arg;
	json_t *id = json_object_get(rest_result_data(result), "session_id");

	if (rest_result_failed(result) || !json_is_string(id))
		lookup_finish(lk, NULL, rest_result_text(result), cls);
	else
		lookup_finish(lk, json_string_value(id), NULL, ERR_INTERNAL);
	json_decref(result);
}

static void listed(void *arg, json_t *result, enum err_class cls)
{
	struct lookup *lk = arg;
	json_t *s;
	size_t i;

	if (rest_result_failed(result)) {
		lookup_finish(lk, NULL, rest_result_text(result), cls);
		json_decref(result);
		return;
	}
	/* an administrator's key sees everyone's sessions: only the caller's own count */
	json_array_foreach(json_object_get(rest_result_data(result), "sessions"), i, s) {
		const char *owner = json_string_value(json_object_get(s, "owner"));
		if (owner && !strcmp(owner, lk->principal)) {
			lookup_finish(lk, json_string_value(json_object_get(s, "session_id")), NULL, ERR_INTERNAL);
			json_decref(result);
			return;
		}
	}
	json_decref(result);
	struct exec_req *x = lookup_caller(lk);
	if (!x) {
		lookup_finish(lk, NULL, "the client went away", ERR_UNAVAILABLE);
		return;
	}
	/* the name is the client's session_id where it fits (a session name holds 200 characters) */
	struct buf name = BUF_INIT;
	buf_addf(&name, "executor %.190s", lk->name);
	json_t *args = json_pack("{s:{s:s}, s:s}", "labels", LABEL, lk->name, "name", name.data);
	buf_release(&name);
	rest_call(x->r, x->principal, rest_conn(DIALECT, x->principal), "session_create", args, created, lk);
}

static void lookup_join(struct exec_req *x)
{
	const char *name = json_string_value(json_object_get(x->body, "session_id"));
	struct lookup *lk;

	LIST_FOREACH(lk, &X.lookups, link) {
		if (!strcmp(lk->principal, x->principal) && !strcmp(lk->name, name)) {
			TAILQ_INSERT_TAIL(&lk->waiters, x, link);
			return;
		}
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->principal = xstrdup(x->principal);
	lk->name = xstrdup(name);
	TAILQ_INIT(&lk->waiters);
	TAILQ_INSERT_TAIL(&lk->waiters, x, link);
	LIST_INSERT_HEAD(&X.lookups, lk, link);
	rest_call(x->r, x->principal, rest_conn(DIALECT, x->principal), "session_list",
		  json_pack("{s:{s:s}}", "labels", LABEL, name), listed, lk);
}

/* ---- routes ---- */

/* The caller's principal by its Bearer key; otherwise 401 as FastAPI's HTTPBearer (the transport adds WWW-Authenticate). */
static bool authenticate(struct tp_req *r, char *principal, size_t cap)
{
	char key[TP_KEY_MAX];

	tp_req_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, principal, cap))
		return true;
	tp_req_json(r, 401, fastapi_detail(key[0] ? "Invalid authentication credentials" : "Not authenticated"));
	return false;
}

static void execute_route(struct tp_req *r, void *arg)
{
	char principal[128];
	json_t *body;

	if (!authenticate(r, principal, sizeof(principal)) || !(body = fastapi_req_body(r, executor_request)))
		return;
	tp_req_release_body(r); /* body holds what the answer and the call take */
	struct exec_req *x = xcalloc(1, sizeof(*x));
	x->r = r;
	snprintf(x->principal, sizeof(x->principal), "%s", principal);
	x->body = body;
	X.active++;
	lookup_join(x);
}

static double uptime_s(void)
{
	return (double)(now_ms() - X.started_ms) / 1000.0;
}

/*
 * GET /health: the document's fields and the twin's. isolation uses the
 * document's vocabulary: mcpbox's sandboxes are Linux namespaces as
 * bubblewrap's are. Nothing here is any tenant's.
 */
static void executor_health(json_t *out)
{
	json_t *h = json_pack("{s:s, s:s, s:s, s:s, s:f, s:I}", "status", "healthy", "version", VERSION, "isolation",
			      "bubblewrap", "platform", "Linux", "uptime_seconds", uptime_s(), "active_executions",
			      (json_int_t)X.active);
	json_object_update_missing(out, h);
	json_decref(h);
}

static void health_route(struct tp_req *r, void *arg)
{
	json_t *h = json_object();
	executor_health(h);
	tp_req_json(r, 200, h);
}

static void info_route(struct tp_req *r, void *arg)
{
	tp_req_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:I}", "version", VERSION, "platform", "Linux", "isolation",
				      "bubblewrap", "workspace_path", "/workspace", "active_executions",
				      (json_int_t)X.active));
}

static void root_route(struct tp_req *r, void *arg)
{
	tp_req_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:s}", "service", "sandbox-executor", "version", VERSION,
				      "docs", "/docs", "health", "/health", "execute", "/execute"));
}

/* POST /execute is AgentFlow's too: a body with code or language is the executor's. */
static bool executor_claims(const char *path, json_t *body)
{
	return json_is_object(body) && (json_object_get(body, "code") || json_object_get(body, "language"));
}

static void executor_init(const struct srv_config *cfg)
{
	X.cfg = cfg;
	X.started_ms = now_ms();
	LIST_INIT(&X.lookups);
}

static void executor_release(void)
{
	/* nothing is in flight any more, so no lookup is left */
	fastapi_release();
}

/* What FastAPI answers for a path it has no route for, or a method a path does not serve. */
static void executor_unrouted(struct tp_req *r, bool wrong_method)
{
	if (wrong_method)
		tp_req_json(r, 405, fastapi_detail("Method Not Allowed"));
	else
		tp_req_json(r, 404, fastapi_detail("Not Found"));
}

static const struct rest_route executor_routes[] = {
	{ TP_POST, "/execute", execute_route },
	{ TP_GET, "/health", health_route },
	{ TP_GET, "/info", info_route },
	{ TP_GET, "/", root_route },
	{ 0 },
};

const struct rest_dialect rest_executor = {
	.name = DIALECT,
	.routes = executor_routes,
	.claims = executor_claims,
	.health = executor_health,
	.unrouted = executor_unrouted,
	.init = executor_init,
	.release = executor_release,
};
