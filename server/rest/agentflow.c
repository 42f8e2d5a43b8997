/*
 * AgentFlow (seed 002, OpenDCAI/AgentFlow sandbox/): its HTTP API over
 * mcpbox's tools. Paths are the document's bare ones and the twin's
 * /api/v1/... ones; bodies, the {code, message, data, meta} envelope, codes
 * and statuses are the twin's (server/routes.py, core/tool_executor.py,
 * core/resource_router.py). The action table and the mappers are
 * agentflow_map.c's; this file keeps the sessions and answers requests.
 *
 * A session is one per (principal, worker_id, resource_type): "vm" is an
 * mcpbox session with a display of its screen_size, "bash" and "code" are
 * sessions without one, any other type is the twin's "compatibility mode"
 * (a record, no sandbox). An /execute with no session makes a temporary one
 * that ends after the call (shared by the calls running on it meanwhile).
 * Sessions expire after session_ttl without an action. Everything runs on
 * the loop thread.
 */
#include "rest.h"
#include "agentflow.h"
#include "fastapi.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/config.h"
#include "../base/log.h"
#include "../base/banned.h"

#include <signal.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define DIALECT "agentflow"
#define MAX_SESSIONS 256	/* AgentFlow sessions one principal may hold */
#define MAX_BATCH 256		/* actions in one /execute/batch */
#define MAX_NAME 256		/* worker_id, resource_type, custom_name, action: longer is refused */
#define SWEEP_MS 10000

/* ---- state ---------------------------------------------------------------- */

enum afs_state { S_CREATING, S_ACTIVE, S_FAILED };

struct af_wait {
	void (*cb)(void *arg, bool ok);
	void *arg;
	struct af_wait *next;
};

struct af_user;

struct af_sess {
	TAILQ_ENTRY(af_sess) link;
	struct af_user *u;
	unsigned refs;
	bool listed;		/* in u->sessions (the table holds a reference) */
	char *worker, *rt, *id, *name, *custom;
	char *sid;		/* the mcpbox session (NULL: none yet, or compatibility mode) */
	char *error;		/* why creating it failed */
	int w, h;		/* vm: the screen */
	bool auto_created, temporary, compat;
	enum afs_state state;
	unsigned busy;		/* actions running on it (or waiting for it) */
	uint64_t created_us, last_us, expires_us;
	struct af_wait *waiters;
};
TAILQ_HEAD(af_sess_list, af_sess);

enum warm_state { W_NONE, W_PENDING, W_READY };

struct af_warm {
	enum warm_state state;
	char *sid;
	int w, h;
	uint64_t ready_us;
	struct af_wait *waiters;
	char *error;		/* the last warmup's failure */
};

#define N_BACKENDS 3	/* af_resources */

struct af_user {
	LIST_ENTRY(af_user) link;
	char *principal;
	struct tool_conn *conn;
	struct af_sess_list sessions;
	unsigned nsess;
	json_t *counters;	/* "rt\nworker" -> sessions named so far (the twin's NNN) */
	struct af_warm warm[N_BACKENDS];
};

static struct {
	LIST_HEAD(, af_user) users;
	uint64_t ttl_s;
	int screen_w, screen_h;
	uv_timer_t sweep, shutdown;
	bool started;
} A = { .ttl_s = 300, .screen_w = 1920, .screen_h = 1080 };

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Python's datetime.utcnow().isoformat(): no zone, microseconds unless zero. */
static json_t *iso(uint64_t us)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;
	char s[64];
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	if (us % 1000000u)
		snprintf(s + n, sizeof(s) - n, ".%06u", (unsigned)(us % 1000000u));
	return json_string(s);
}

static json_t *uuid4(void)
{
	unsigned char b[16];
	char s[40];

	srv_random_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(s, sizeof(s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return json_string(s);
}

static int backend_index(const char *rt)
{
	for (int i = 0; af_resources[i]; i++)
		if (!strcmp(af_resources[i], rt))
			return i;
	return -1;
}

static struct af_user *user_get(const char *principal)
{
	struct af_user *u;

	LIST_FOREACH(u, &A.users, link)
		if (!strcmp(u->principal, principal))
			return u;
	u = xcalloc(1, sizeof(*u));
	u->principal = xstrdup(principal);
	u->conn = rest_conn(DIALECT, principal);
	u->counters = json_object();
	TAILQ_INIT(&u->sessions);
	LIST_INSERT_HEAD(&A.users, u, link);
	return u;
}

static struct af_sess *afs_hold(struct af_sess *s)
{
	s->refs++;
	return s;
}

static void afs_put(struct af_sess *s)
{
	if (!s || --s->refs)
		return;
	free(s->worker);
	free(s->rt);
	free(s->id);
	free(s->name);
	free(s->custom);
	free(s->sid);
	free(s->error);
	free(s);
}

static struct af_sess *afs_find(struct af_user *u, const char *worker, const char *rt)
{
	struct af_sess *s;
	TAILQ_FOREACH(s, &u->sessions, link)
		if (!strcmp(s->worker, worker) && !strcmp(s->rt, rt))
			return s;
	return NULL;
}

static void afs_unlist(struct af_sess *s)
{
	if (!s->listed)
		return;
	s->listed = false;
	TAILQ_REMOVE(&s->u->sessions, s, link);
	s->u->nsess--;
	afs_put(s);
}

static void refresh(struct af_sess *s)
{
	s->last_us = now_us();
	s->expires_us = s->last_us + A.ttl_s * 1000000u;
}

static struct af_sess *afs_new(struct af_user *u, const char *worker, const char *rt, const char *custom, bool auto_created)
{
	struct af_sess *s = xcalloc(1, sizeof(*s));
	struct buf key = BUF_INIT;
	unsigned char rnd[4];

	buf_addf(&key, "%s\n%s", rt, worker);
	json_int_t n = json_integer_value(json_object_get(u->counters, key.data)) + 1;
	json_object_set_new(u->counters, key.data, json_integer(n));
	buf_release(&key);
	s->u = u;
	s->worker = xstrdup(worker);
	s->rt = xstrdup(rt);
	s->custom = custom ? xstrdup(custom) : NULL;
	s->name = af_session_name(rt, worker, (unsigned)n, custom);
	srv_random_bytes(rnd, sizeof(rnd));
	struct buf id = BUF_INIT;
	buf_addf(&id, "%s_%02x%02x%02x%02x", s->name, rnd[0], rnd[1], rnd[2], rnd[3]);
	s->id = buf_detach(&id);
	s->auto_created = auto_created;
	s->w = A.screen_w;
	s->h = A.screen_h;
	s->created_us = now_us();
	refresh(s);
	s->refs = 1; /* the table's */
	s->listed = true;
	TAILQ_INSERT_TAIL(&u->sessions, s, link);
	u->nsess++;
	return s;
}

static void wake(struct af_wait **list, bool ok)
{
	struct af_wait *w = *list;
	*list = NULL;
	while (w) {
		struct af_wait *next = w->next;
		w->cb(w->arg, ok);
		free(w);
		w = next;
	}
}

static void wait_add(struct af_wait **list, void (*cb)(void *arg, bool ok), void *arg)
{
	struct af_wait *w = xcalloc(1, sizeof(*w)), **pp = list;
	w->cb = cb;
	w->arg = arg;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
}

/* ---- one request -------------------------------------------------------------- */

struct af_req {
	struct tp_req *r;
	struct af_user *u;
	json_t *body;
	uint64_t start_us;
	/* batch and multi-step answers */
	json_t *results;
	size_t n, next, finished;
	bool parallel, stop_on_error, stopped;
	json_t *out;		/* what the answer collects */
	const char *tool;	/* meta.tool of the answer */
	void *job;		/* the one job of an /execute */
};

static struct af_req *req_new(struct tp_req *r, struct af_user *u, json_t *body)
{
	struct af_req *q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->u = u;
	q->body = body;
	q->start_us = now_us();
	return q;
}

static void req_free(struct af_req *q)
{
	json_decref(q->body);
	json_decref(q->results);
	json_decref(q->out);
	free(q);
}

static double ms_since(uint64_t us)
{
	return (double)(now_us() - us) / 1000.0;
}

/* build_success_response / build_error_response (response_builder.py) */
static json_t *envelope(enum af_code code, const char *message, json_t *data, const char *tool, double ms,
			const char *rt, const char *sid)
{
	return json_pack("{s:i, s:s, s:o, s:{s:s?, s:f, s:s?, s:s?, s:o}}", "code", (int)code, "message",
			 code == AF_OK ? "success" : message, "data", data ? data : json_null(), "meta", "tool", tool,
			 "execution_time_ms", ms, "resource_type", rt, "session_id", sid, "trace_id", uuid4());
}

static void answer(struct af_req *q, int status, json_t *body)
{
	tp_req_json(q->r, status, body);
	req_free(q);
}

static void answer_envelope(struct af_req *q, int status, enum af_code code, const char *message, json_t *data,
			    const char *tool, const char *rt, const char *sid)
{
	answer(q, status, envelope(code, message, data, tool, ms_since(q->start_us), rt, sid));
}

/* ---- bodies ------------------------------------------------------------------------- */

/* String fields the twin bounds (worker_id, resource_type, action, ...). */
#define STR_FIELD(n, req) { .name = n, .type = FASTAPI_STR, .required = req, .bounds = FASTAPI_MAX_LEN, .max_len = MAX_NAME }

static const struct fastapi_field any_dict = { .type = FASTAPI_DICT };

/*
 * Parse r's body as FastAPI does for a pydantic model (server/rest/fastapi.c):
 * NULL when it fails (r answered 422/400 in FastAPI's shape, or once a large
 * body's refusal is worked out off the loop: fastapi_req_body); else the
 * whole object (the twin also reads fields its models do not declare), with
 * the declared ones as pydantic coerced them. Caller owns it.
 */
static json_t *model_body(struct tp_req *r, const struct fastapi_field *model)
{
	json_t *out = fastapi_req_body(r, model);

	if (!out)
		return NULL;
	json_t *body = tp_req_body_json(r, 0, NULL);
	if (!json_is_object(body)) {
		/* fastapi_body accepted it, so it is an object; keep the validated view if not */
		json_decref(body);
		return out;
	}
	json_object_update(body, out);
	json_decref(out);
	return body;
}

/* The routes the twin parses by hand (await request.json()): an object, or NULL with r answered. */
static json_t *plain_body(struct tp_req *r, const char *tool, bool optional)
{
	size_t len;
	tp_req_body(r, &len);
	json_error_t e;
	json_t *body;

	if (optional && !len)
		return json_object();
	body = tp_req_body_json(r, 0, &e);
	if (json_is_object(body))
		return body;
	json_decref(body);
	tp_req_json(r, 400, envelope(AF_INVALID_REQUEST_FORMAT, "Invalid JSON body: expected a JSON object", NULL, tool, 0,
				     "session", NULL));
	return NULL;
}

static const char *body_str(json_t *body, const char *name)
{
	json_t *v = json_object_get(body, name);
	return json_is_string(v) && json_string_length(v) && json_string_length(v) <= MAX_NAME ? json_string_value(v)
											   : NULL;
}

/* ---- who calls -------------------------------------------------------------------- */

enum shape { ENVELOPE, STATUS_MESSAGE };

/*
 * The document names no credential: under --auth none every request is the
 * same anonymous principal; otherwise the usual key headers.
 */
static struct af_user *caller(struct tp_req *r, const char *tool, enum shape shape)
{
	char key[TP_KEY_MAX], principal[256];
	static const char msg[] = "Unauthorized: a valid API key is required (Authorization: Bearer KEY or X-API-Key: KEY)";

	tp_req_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, principal, sizeof(principal)) == 1)
		return user_get(principal);
	if (shape == ENVELOPE)
		tp_req_json(r, 401, envelope(AF_INVALID_INPUT, msg, NULL, tool, 0, NULL, NULL));
	else
		tp_req_json(r, 401, json_pack("{s:s, s:s}", "status", "error", "message", msg));
	return NULL;
}

/* ---- sandboxes -------------------------------------------------------------------- */

struct destroy_ctx {
	void (*then)(void *arg);
	void *arg;
};

static void destroyed(void *arg, json_t *result, enum err_class cls)
{
	struct destroy_ctx *d = arg;
	if (rest_result_failed(result))
		log_debug("agentflow: session_destroy: %s", rest_result_text(result));
	json_decref(result);
	if (d->then)
		d->then(d->arg);
	free(d);
}

/* End the mcpbox session sid of u (on behalf of r; NULL: no request), then then(arg). */
static void sandbox_destroy(struct tp_req *r, struct af_user *u, const char *sid, void (*then)(void *arg), void *arg)
{
	struct destroy_ctx *d = xcalloc(1, sizeof(*d));
	d->then = then;
	d->arg = arg;
	rest_call(r, u->principal, u->conn, "session_destroy", json_pack("{s:s}", "session_id", sid), destroyed, d);
}

static void created(void *arg, json_t *result, enum err_class cls)
{
	struct af_sess *s = arg;
	json_t *sc = rest_result_data(result);
	const char *sid = json_string_value(json_object_get(sc, "session_id"));

	if (rest_result_failed(result) || !sid) {
		s->state = S_FAILED;
		s->error = xstrdup(rest_result_failed(result) ? rest_result_text(result) : "no session id");
		afs_unlist(s);
	} else {
		s->sid = xstrdup(sid);
		s->state = S_ACTIVE;
		refresh(s);
		if (!s->listed) /* destroyed while it was being made */
			sandbox_destroy(NULL, s->u, s->sid, NULL, NULL);
	}
	json_decref(result);
	wake(&s->waiters, s->state == S_ACTIVE);
	afs_put(s);
}

static json_t *display_of(int w, int h)
{
	return json_pack("{s:i, s:i}", "width", w, "height", h);
}

/* session_config.screen_size: [w, h] within what a display may be; else the default. -1 when malformed. */
static int screen_size(json_t *config, int *w, int *h)
{
	json_t *ss = json_object_get(config, "screen_size");
	*w = A.screen_w;
	*h = A.screen_h;
	if (!ss || json_is_null(ss))
		return 0;
	if (json_array_size(ss) != 2 || !json_is_integer(json_array_get(ss, 0)) || !json_is_integer(json_array_get(ss, 1)))
		return -1;
	json_int_t x = json_integer_value(json_array_get(ss, 0)), y = json_integer_value(json_array_get(ss, 1));
	if (x < 64 || y < 64 || x > 3840 || y > 2160)
		return -1;
	*w = (int)x;
	*h = (int)y;
	return 0;
}

/* Give s its sandbox (a warm one of the principal's if it fits), on behalf of r. */
static void afs_start(struct tp_req *r, struct af_sess *s, json_t *config)
{
	struct af_user *u = s->u;
	int bi = backend_index(s->rt);

	s->state = S_CREATING;
	if (bi < 0) {
		/* a resource type without an initializer: the twin's compatibility mode */
		s->compat = true;
		s->state = S_ACTIVE;
		return;
	}
	if (screen_size(config, &s->w, &s->h) < 0) {
		s->state = S_FAILED;
		s->error = xstrdup("screen_size must be [width, height] within 64x64..3840x2160");
		afs_unlist(s);
		return;
	}
	struct af_warm *w = &u->warm[bi];
	if (w->state == W_READY && (strcmp(s->rt, "vm") || (w->w == s->w && w->h == s->h))) {
		s->sid = steal_ptr(w->sid);
		w->state = W_NONE;
		s->state = S_ACTIVE;
		return;
	}
	json_t *args = json_pack("{s:s, s:{s:s, s:s, s:s}}", "name", s->name, "labels", "agentflow.worker", s->worker,
				 "agentflow.resource", s->rt, "agentflow.session", s->id);
	if (!strcmp(s->rt, "vm"))
		json_object_set_new(args, "display", display_of(s->w, s->h));
	if (json_is_object(json_object_get(config, "env")))
		json_object_set(args, "env", json_object_get(config, "env"));
	if (json_is_boolean(json_object_get(config, "network")))
		json_object_set(args, "network", json_object_get(config, "network"));
	rest_call(r, u->principal, u->conn, "session_create", args, created, afs_hold(s));
}

/* cb(arg, ok) once s has its sandbox (now, when it has). */
static void afs_when_ready(struct af_sess *s, void (*cb)(void *arg, bool ok), void *arg)
{
	if (s->state == S_CREATING)
		wait_add(&s->waiters, cb, arg);
	else
		cb(arg, s->state == S_ACTIVE);
}

static json_t *afs_entry(struct af_sess *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "resource_type", s->rt, "session_id", s->id,
			 "session_name", s->name, "status", s->state == S_ACTIVE ? "active" : "initializing",
			 "auto_created", s->auto_created, "created_at", iso(s->created_us), "last_activity",
			 iso(s->last_us), "expires_at", iso(s->expires_us));
}

/* ---- actions ------------------------------------------------------------------------ */

struct af_job {
	struct af_req *q;
	size_t index;
	char *action;		/* as the client named it */
	const struct af_action *a;
	json_t *params;
	int64_t timeout;
	struct af_sess *s;	/* held while the job runs on it */
	bool temporary;
	uint64_t start_us;
	json_t *out;		/* the envelope */
	void (*done)(struct af_job *j);
};

static void job_free(struct af_job *j)
{
	afs_put(j->s);
	free(j->action);
	json_decref(j->params);
	json_decref(j->out);
	free(j);
}

static void job_end(struct af_job *j)
{
	j->done(j);
}

static void job_fail(struct af_job *j, enum af_code code, const char *message, json_t *data)
{
	j->out = envelope(code, message, data, j->a ? j->a->name : j->action, ms_since(j->start_us),
			  j->a ? j->a->resource : NULL, j->s ? j->s->id : NULL);
	if (j->temporary)
		json_object_set_new(json_object_get(j->out, "meta"), "temporary_session", json_true());
	job_end(j);
}

static void job_after_destroy(void *arg)
{
	job_end(arg);
}

/* The action is over: let go of the session (a temporary one ends with its last action), then end. */
static void job_release(struct af_job *j)
{
	struct af_sess *s = j->s;

	if (!s) {
		job_end(j);
		return;
	}
	s->busy--;
	if (s->temporary && !s->busy && s->listed) {
		afs_unlist(s);
		if (s->sid) {
			sandbox_destroy(j->q->r, s->u, s->sid, job_after_destroy, j);
			return;
		}
	} else if (s->listed) {
		refresh(s);
	}
	job_end(j);
}

static void job_result(struct af_job *j, json_t *data, struct af_fail *f)
{
	j->out = f && f->message ? envelope(f->code, f->message, steal_ptr(f->data), j->a->name, ms_since(j->start_us),
					    j->a->resource, j->s->id)
				 : envelope(AF_OK, NULL, data, j->a->name, ms_since(j->start_us), j->a->resource, j->s->id);
	if (j->temporary)
		json_object_set_new(json_object_get(j->out, "meta"), "temporary_session", json_true());
	if (f)
		af_fail_release(f);
	job_release(j);
}

static struct af_target target_of(struct af_job *j)
{
	struct af_target t = { .session_id = j->s && j->s->sid ? j->s->sid : "", .timeout_s = j->timeout };
	t.width = j->s ? j->s->w : A.screen_w;
	t.height = j->s ? j->s->h : A.screen_h;
	return t;
}

static void job_tool_done(void *arg, json_t *result, enum err_class cls)
{
	struct af_job *j = arg;
	struct af_target t = target_of(j);
	struct af_fail f = { 0 };
	json_t *data = NULL;

	if (af_map_result(j->a, j->params, &t, result, cls, j->s->name, &data, &f) < 0)
		job_result(j, NULL, &f);
	else
		job_result(j, data, NULL);
	json_decref(result);
}

static void job_ready(void *arg, bool ok)
{
	struct af_job *j = arg;
	struct af_target t = target_of(j);
	struct af_fail f = { 0 };
	json_t *args = NULL;

	if (!ok) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "Resource initialization failed: %s", j->s->error ? j->s->error : "unknown error");
		j->out = envelope(AF_RESOURCE_NOT_INITIALIZED, m.data,
				  json_pack("{s:s, s:s?}", "resource_type", j->a->resource, "details", j->s->error),
				  j->a->name, ms_since(j->start_us), j->a->resource, j->s->id);
		buf_release(&m);
		job_release(j);
		return;
	}
	if (j->s->compat || af_map_args(j->a, j->params, &t, &args, &f) < 0) {
		if (!f.message)
			f = (struct af_fail){ AF_RESOURCE_NOT_INITIALIZED, xstrdup("Session not initialized"), NULL };
		job_result(j, NULL, &f);
		return;
	}
	if (!args) { /* AF_MARK: nothing to call */
		job_tool_done(j, NULL, ERR_INTERNAL);
		return;
	}
	rest_call(j->q->r, j->q->u->principal, j->q->u->conn, j->a->tool, args, job_tool_done, j);
}

/* Run one action for q (tool_executor.py's execute). j->done gets it with j->out set. */
static void job_start(struct af_job *j, const char *worker)
{
	struct af_user *u = j->q->u;
	json_t *cands = NULL;
	struct af_fail f = { 0 };
	json_t *args = NULL;

	j->start_us = now_us();
	j->a = af_action_find(j->action, &cands);
	if (!j->a) {
		struct buf m = BUF_INIT;
		if (cands) {
			char *list = json_dumps(cands, JSON_COMPACT);
			buf_addf(&m, "Ambiguous tool name '%s'. Multiple matches: %s. Please use full name with prefix.",
				 j->action, list);
			free(list);
			job_fail(j, AF_INVALID_REQUEST_FORMAT, m.data, json_pack("{s:o}", "candidates", cands));
		} else {
			buf_addf(&m, "Tool not found: %s", j->action);
			job_fail(j, AF_INVALID_REQUEST_FORMAT, m.data, json_pack("{s:s}", "action", j->action));
		}
		buf_release(&m);
		return;
	}
	/* the params first: a bad call makes no sandbox */
	struct af_target t = target_of(j);
	if (af_map_args(j->a, j->params, &t, &args, &f) < 0) {
		job_fail(j, f.code, f.message, steal_ptr(f.data));
		af_fail_release(&f);
		return;
	}
	json_decref(args);
	struct af_sess *s = afs_find(u, worker, j->a->resource);
	bool fresh = !s;
	if (!s) {
		if (u->nsess >= MAX_SESSIONS) {
			job_fail(j, AF_RESOURCE_NOT_INITIALIZED, "Resource initialization failed: too many sessions",
				 json_pack("{s:s, s:i}", "resource_type", j->a->resource, "max_sessions", MAX_SESSIONS));
			return;
		}
		s = afs_new(u, worker, j->a->resource, NULL, true);
		s->temporary = true;
	}
	/* held and busy before it starts: a creation that fails at once must not take it away */
	j->s = afs_hold(s);
	j->temporary = s->temporary;
	s->busy++;
	if (fresh)
		afs_start(j->q->r, s, NULL);
	afs_when_ready(s, job_ready, j);
}

static struct af_job *job_new(struct af_req *q, size_t index, json_t *item, void (*done)(struct af_job *j))
{
	struct af_job *j = xcalloc(1, sizeof(*j));
	json_t *p = json_object_get(item, "params"), *to = json_object_get(item, "timeout");

	j->q = q;
	j->index = index;
	j->done = done;
	j->action = xstrdup(json_is_string(json_object_get(item, "action")) ? json_string_value(json_object_get(item, "action")) : "");
	j->params = json_is_object(p) ? json_incref(p) : json_object();
	j->timeout = json_is_number(to) && json_number_value(to) > 0 ? (int64_t)json_number_value(to) : 0;
	return j;
}

/* ---- POST /execute, /execute/batch ----------------------------------------------------- */

static void execute_done(struct af_job *j)
{
	struct af_req *q = j->q;
	json_int_t code = json_integer_value(json_object_get(j->out, "code"));
	int status = af_status_of((enum af_code)code);

	/* a batch item's status never matters; a lone execute's partial code cannot occur */
	tp_req_json(q->r, status == 207 ? 500 : status, steal_ptr(j->out));
	job_free(j);
	req_free(q);
}

static const struct fastapi_field execute_fields[] = {
	STR_FIELD("worker_id", true),
	STR_FIELD("action", true),
	{ .name = "params", .type = FASTAPI_DICT, .required = false },
	{ .name = "timeout", .type = FASTAPI_INT, .required = false, .nullable = true },
	{ .name = "async_mode", .type = FASTAPI_BOOL, .required = false },
	{ 0 },
};

static void on_execute(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "execute", ENVELOPE);
	json_t *body;

	if (!u || !(body = model_body(r, execute_fields)))
		return;
	struct af_req *q = req_new(r, u, body);
	struct af_job *j = job_new(q, 0, body, execute_done);
	job_start(j, json_string_value(json_object_get(body, "worker_id")));
}

static void batch_next(struct af_req *q);

static void batch_answer(struct af_req *q)
{
	size_t executed = json_array_size(q->results), ok = 0, i;
	json_t *x;

	json_array_foreach(q->results, i, x)
		if (json_integer_value(json_object_get(x, "code")) == AF_OK)
			ok++;
	json_t *data = json_pack("{s:O, s:I, s:I, s:I}", "results", q->results, "total", (json_int_t)q->n, "executed",
				 (json_int_t)executed, "success_count", (json_int_t)ok);
	if (ok == executed && executed == q->n) {
		answer_envelope(q, 200, AF_OK, NULL, data, "batch:execute", NULL, NULL);
	} else if (!ok) {
		answer_envelope(q, 500, AF_ALL_REQUESTS_FAILED, "All actions failed", data, "batch:execute", NULL, NULL);
	} else {
		struct buf m = BUF_INIT;
		buf_addf(&m, "%zu out of %zu actions failed", executed - ok, executed);
		answer_envelope(q, 207, AF_PARTIAL_FAILURE, m.data, data, "batch:execute", NULL, NULL);
		buf_release(&m);
	}
}

static void batch_item_done(struct af_job *j)
{
	struct af_req *q = j->q;
	bool failed = json_integer_value(json_object_get(j->out, "code")) != AF_OK;

	json_array_set(q->results, j->index, j->out);
	job_free(j);
	q->finished++;
	if (q->parallel) {
		if (q->finished == q->n + 1) /* + on_batch's own token: every action was started */
			batch_answer(q);
		return;
	}
	if ((failed && q->stop_on_error) || tp_req_gone(q->r))
		q->stopped = true;
	batch_next(q);
}

static void batch_next(struct af_req *q)
{
	const char *worker = json_string_value(json_object_get(q->body, "worker_id"));

	if (q->stopped || q->next == q->n) {
		/* serial: the results so far, in order */
		while (json_array_size(q->results) > q->finished)
			json_array_remove(q->results, json_array_size(q->results) - 1);
		batch_answer(q);
		return;
	}
	size_t i = q->next++;
	job_start(job_new(q, i, json_array_get(json_object_get(q->body, "actions"), i), batch_item_done), worker);
}

static const struct fastapi_field batch_fields[] = {
	STR_FIELD("worker_id", true),
	{ .name = "actions", .type = FASTAPI_LIST, .required = true, .items = &any_dict },
	{ .name = "parallel", .type = FASTAPI_BOOL, .required = false },
	{ .name = "stop_on_error", .type = FASTAPI_BOOL, .required = false },
	{ 0 },
};

static void on_batch(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "batch:execute", ENVELOPE);
	json_t *body;

	if (!u || !(body = model_body(r, batch_fields)))
		return;
	struct af_req *q = req_new(r, u, body);
	q->n = json_array_size(json_object_get(body, "actions"));
	q->parallel = json_is_true(json_object_get(body, "parallel"));
	q->stop_on_error = !json_is_false(json_object_get(body, "stop_on_error"));
	if (q->n > MAX_BATCH) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "at most %d actions in one batch, not %zu", MAX_BATCH, q->n);
		answer_envelope(q, 400, AF_INVALID_INPUT, m.data, NULL, "batch:execute", NULL, NULL);
		buf_release(&m);
		return;
	}
	q->results = json_array();
	for (size_t i = 0; i < q->n; i++)
		json_array_append_new(q->results, json_null());
	if (!q->n) {
		batch_answer(q);
		return;
	}
	if (!q->parallel) {
		batch_next(q);
		return;
	}
	/* asyncio.gather: every action at once (calls on one session share it) */
	const char *worker = json_string_value(json_object_get(body, "worker_id"));
	json_t *actions = json_object_get(body, "actions");
	size_t n = q->n;
	q->next = n;
	for (size_t i = 0; i < n; i++)
		job_start(job_new(q, i, json_array_get(actions, i), batch_item_done), worker);
	if (++q->finished == n + 1) /* every action finished while being started */
		batch_answer(q);
}

/* ---- sessions --------------------------------------------------------------------------- */

struct create_ctx {
	struct af_req *q;
	struct af_sess *s;
	bool init;		/* /api/v1/init/resource: its shape */
	const char *rt;
	/* init/batch */
	size_t *pending;
};

static json_t *created_data(struct af_sess *s, bool with_name)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "session_id", s->id, "session_name", s->name, "resource_type",
			      s->rt, "session_status", s->state == S_ACTIVE ? "active" : "error", "error", s->error);
	if (!with_name)
		json_object_del(d, "session_name");
	if (s->compat) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "Resource type '%s' does not require session initialization. This session was created for "
			 "compatibility but no initialization was performed.", s->rt);
		json_object_set_new(d, "compatibility_mode", json_true());
		json_object_set_new(d, "compatibility_message", json_string(m.data));
		buf_release(&m);
	}
	return d;
}

static void create_answer(void *arg, bool ok)
{
	struct create_ctx *c = arg;
	struct af_sess *s = c->s;
	const char *tool = c->init ? "init:resource" : "session:create";

	if (ok)
		answer_envelope(c->q, 200, AF_OK, NULL, created_data(s, !c->init), tool, "session", s->id);
	else
		answer_envelope(c->q, 500, AF_RESOURCE_NOT_INITIALIZED,
				c->init ? "Resource initialization failed" : "Session creation failed",
				created_data(s, !c->init), tool, "session", s->id);
	afs_put(s);
	free(c);
}

/*
 * The session (worker, rt) of q's principal, made if there is none:
 * cb(arg, ok) once it is active; *sp names it (held). NULL *sp: refused.
 */
static struct af_sess *afs_get_or_create(struct af_req *q, const char *worker, const char *rt, json_t *config,
					  const char *custom, bool *existed)
{
	struct af_user *u = q->u;
	struct af_sess *s = afs_find(u, worker, rt);

	*existed = s != NULL;
	if (s) {
		s->temporary = false; /* asked for by name: it stays */
		refresh(s);
		return afs_hold(s);
	}
	if (u->nsess >= MAX_SESSIONS)
		return NULL;
	s = afs_new(u, worker, rt, custom, false);
	afs_hold(s);
	afs_start(q->r, s, config);
	return s;
}

static void on_session_create(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "session:create", ENVELOPE);
	json_t *body;

	if (!u || !(body = plain_body(r, "session:create", false)))
		return;
	struct af_req *q = req_new(r, u, body);
	const char *worker = body_str(body, "worker_id"), *rt = body_str(body, "resource_type");
	json_t *config = json_object_get(body, "session_config");
	const char *custom = json_string_value(json_object_get(body, "custom_name"));
	bool existed;

	if (!worker || !rt) {
		answer_envelope(q, 400, AF_INVALID_REQUEST_FORMAT, "worker_id and resource_type required",
				json_pack("{s:O, s:O}", "worker_id", json_object_get(body, "worker_id") ?: json_null(),
					  "resource_type", json_object_get(body, "resource_type") ?: json_null()),
				"session:create", "session", NULL);
		return;
	}
	if (custom && strlen(custom) > MAX_NAME)
		custom = NULL;
	struct af_sess *s = afs_get_or_create(q, worker, rt, json_is_object(config) ? config : NULL, custom, &existed);
	if (!s) {
		answer_envelope(q, 500, AF_RESOURCE_NOT_INITIALIZED, "Session creation failed",
				json_pack("{s:s, s:s, s:s}", "resource_type", rt, "session_status", "error", "error",
					  "too many sessions for this key"), "session:create", "session", NULL);
		return;
	}
	if (existed) {
		answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:s, s:s, s:s}", "status", "exists", "session_id", s->id,
							       "session_name", s->name, "resource_type", rt),
				"session:create", "session", s->id);
		afs_put(s);
		return;
	}
	struct create_ctx *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->s = s;
	afs_when_ready(s, create_answer, c);
}

struct destroy_answer {
	struct af_req *q;
	struct af_sess *s;
};

static void session_destroyed(void *arg)
{
	struct destroy_answer *d = arg;
	struct af_sess *s = d->s;
	struct buf m = BUF_INIT;

	buf_addf(&m, "Session destroyed for %s", s->rt);
	answer_envelope(d->q, 200, AF_OK, NULL, json_pack("{s:s, s:s, s:s, s:s}", "message", m.data, "session_id", s->id,
							  "session_name", s->name, "resource_type", s->rt),
			"session:destroy", "session", s->id);
	buf_release(&m);
	afs_put(s);
	free(d);
}

static void on_session_destroy(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "session:destroy", ENVELOPE);
	json_t *body;

	if (!u || !(body = plain_body(r, "session:destroy", false)))
		return;
	struct af_req *q = req_new(r, u, body);
	const char *worker = body_str(body, "worker_id"), *rt = body_str(body, "resource_type");
	if (!worker || !rt) {
		answer_envelope(q, 400, AF_INVALID_REQUEST_FORMAT, "worker_id and resource_type required",
				json_pack("{s:O, s:O}", "worker_id", json_object_get(body, "worker_id") ?: json_null(),
					  "resource_type", json_object_get(body, "resource_type") ?: json_null()),
				"session:destroy", "session", NULL);
		return;
	}
	struct af_sess *s = afs_find(u, worker, rt);
	if (!s) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "No session found for %s", rt);
		answer_envelope(q, 404, AF_RESOURCE_NOT_INITIALIZED, m.data, json_pack("{s:s}", "resource_type", rt),
				"session:destroy", "session", NULL);
		buf_release(&m);
		return;
	}
	struct destroy_answer *d = xcalloc(1, sizeof(*d));
	d->q = q;
	d->s = afs_hold(s);
	afs_unlist(s);
	if (s->sid) /* still being made: created() ends it when it is */
		sandbox_destroy(r, u, s->sid, session_destroyed, d);
	else
		session_destroyed(d);
}

/*
 * The start of every request about one worker's sessions: the caller (401 in
 * the envelope otherwise), a JSON object body, and its worker_id (400
 * "worker_id required" otherwise). NULL when it was answered already.
 */
static struct af_req *worker_request(struct tp_req *r, const char *action, const char **worker)
{
	struct af_user *u = caller(r, action, ENVELOPE);
	json_t *body;

	if (!u || !(body = plain_body(r, action, false)))
		return NULL;
	struct af_req *q = req_new(r, u, body);
	if (!(*worker = body_str(body, "worker_id"))) {
		answer_envelope(q, 400, AF_INVALID_REQUEST_FORMAT, "worker_id required",
				json_pack("{s:O}", "worker_id", json_object_get(body, "worker_id") ?: json_null()), action,
				"session", NULL);
		return NULL;
	}
	return q;
}

static void on_session_list(struct tp_req *r, void *arg)
{
	const char *worker;
	struct af_req *q = worker_request(r, "session:list", &worker);

	if (!q)
		return;
	struct af_user *u = q->u;
	json_t *list = json_array();
	struct af_sess *s;
	TAILQ_FOREACH(s, &u->sessions, link)
		if (!strcmp(s->worker, worker))
			json_array_append_new(list, afs_entry(s));
	answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:o, s:I}", "worker_id", worker, "sessions", list, "count",
						       (json_int_t)json_array_size(list)),
			"session:list", "session", NULL);
}

static void on_session_refresh(struct tp_req *r, void *arg)
{
	const char *worker;
	struct af_req *q = worker_request(r, "session:refresh", &worker);

	if (!q)
		return;
	struct af_user *u = q->u;
	json_t *body = q->body;
	const char *rt = body_str(body, "resource_type");
	struct af_sess *s;
	if (rt) {
		struct buf m = BUF_INIT;
		if (!(s = afs_find(u, worker, rt))) {
			buf_addf(&m, "No session found for %s", rt);
			answer_envelope(q, 404, AF_RESOURCE_NOT_INITIALIZED, m.data, json_pack("{s:s}", "resource_type", rt),
					"session:refresh", "session", NULL);
		} else {
			refresh(s);
			buf_addf(&m, "Session refreshed for %s", rt);
			answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:s, s:s, s:o}", "message", m.data, "resource_type",
								       rt, "session_id", s->id, "expires_at", iso(s->expires_us)),
					"session:refresh", "session", s->id);
		}
		buf_release(&m);
		return;
	}
	json_t *details = json_object();
	unsigned n = 0;
	TAILQ_FOREACH(s, &u->sessions, link) {
		if (strcmp(s->worker, worker))
			continue;
		refresh(s);
		n++;
		json_object_set_new(details, s->rt, json_pack("{s:s, s:o}", "status", "refreshed", "expires_at",
							      iso(s->expires_us)));
	}
	struct buf m = BUF_INIT;
	buf_addf(&m, "Refreshed %u sessions", n);
	answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:s, s:i, s:o}", "message", m.data, "worker_id", worker,
						       "refreshed_count", n, "details", details),
			"session:refresh", "session", NULL);
	buf_release(&m);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void on_heartbeat(struct tp_req *r, void *arg)
{
	const char *worker;
	struct af_req *q = worker_request(r, "session:heartbeat", &worker);

	if (!q)
		return;
	struct af_user *u = q->u;
	json_t *active = json_array();
	struct af_sess *s;
	TAILQ_FOREACH(s, &u->sessions, link)
		if (!strcmp(s->worker, worker))
			json_array_append_new(active, json_string(s->rt));
	answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:o, s:o}", "worker_id", worker, "active_sessions", active,
						       "timestamp", iso(now_us())),
			"session:heartbeat", "session", NULL);
}

static unsigned tools_available(void)
{
	unsigned n = 0;
	for (const struct af_action *a = af_actions; a->name; a++)
		n += tool_registry_has(NULL, a->tool ? a->tool : "input");
	return n;
}

static void on_status(struct tp_req *r, void *arg)
{
	const char *worker;
	struct af_req *q = worker_request(r, "session:status", &worker);

	if (!q)
		return;
	struct af_user *u = q->u;
	json_t *active = json_array(), *sessions = json_object();
	struct af_sess *s;
	TAILQ_FOREACH(s, &u->sessions, link) {
		if (strcmp(s->worker, worker))
			continue;
		json_array_append_new(active, json_string(s->rt));
		json_object_set_new(sessions, s->rt, json_pack("{s:s, s:s, s:o, s:o}", "session_id", s->id, "status",
							       s->state == S_ACTIVE ? "active" : "initializing",
							       "created_at", iso(s->created_us), "last_activity",
							       iso(s->last_us)));
	}
	answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:o, s:o, s:i}", "worker_id", worker, "active_resources",
						       active, "sessions", sessions, "tools_available",
						       (int)tools_available()),
			"session:status", "session", NULL);
}

/* End every session of worker (NULL: of everyone, for shutdown), on behalf of q; then done(q, count). */
struct sweep_ctx {
	struct af_req *q;
	unsigned pending, count;
	void (*done)(struct af_req *q, unsigned count);
};

static void swept_one(void *arg)
{
	struct sweep_ctx *c = arg;
	if (--c->pending)
		return;
	c->done(c->q, c->count);
	free(c);
}

static void end_sessions(struct af_req *q, const char *worker, void (*done)(struct af_req *q, unsigned count))
{
	struct sweep_ctx *c = xcalloc(1, sizeof(*c));
	struct af_user *u;

	c->q = q;
	c->done = done;
	c->pending = 1;
	LIST_FOREACH(u, &A.users, link) {
		if (worker && u != q->u)
			continue;
		struct af_sess *s, *next;
		for (s = TAILQ_FIRST(&u->sessions); s; s = next) {
			next = TAILQ_NEXT(s, link);
			if (worker && strcmp(s->worker, worker))
				continue;
			c->count++;
			if (s->sid) {
				c->pending++;
				sandbox_destroy(q->r, u, s->sid, swept_one, c);
			}
			afs_unlist(s);
		}
		for (int i = 0; !worker && i < N_BACKENDS; i++)
			if (u->warm[i].state == W_READY) {
				u->warm[i].state = W_NONE;
				c->pending++;
				sandbox_destroy(q->r, u, u->warm[i].sid, swept_one, c);
				free(steal_ptr(u->warm[i].sid));
			}
	}
	swept_one(c);
}

static void disconnected(struct af_req *q, unsigned count)
{
	answer_envelope(q, 200, AF_OK, NULL, json_pack("{s:s, s:i}", "worker_id",
						       json_string_value(json_object_get(q->body, "worker_id")),
						       "sessions_cleaned", count),
			"session:disconnect", "session", NULL);
}

static const struct fastapi_field worker_fields[] = {
	STR_FIELD("worker_id", true),
	{ 0 },
};

static void on_disconnect(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "session:disconnect", ENVELOPE);
	json_t *body;

	if (!u || !(body = model_body(r, worker_fields)))
		return;
	struct af_req *q = req_new(r, u, body);
	end_sessions(q, json_string_value(json_object_get(body, "worker_id")), disconnected);
}

/* ---- init ------------------------------------------------------------------------------ */

static void init_answer(void *arg, bool ok)
{
	struct create_ctx *c = arg;
	c->init = true;
	create_answer(c, ok);
}

static const struct fastapi_field init_fields[] = {
	STR_FIELD("worker_id", true),
	STR_FIELD("resource_type", true),
	{ .name = "init_config", .type = FASTAPI_DICT, .required = false },
	{ 0 },
};

static void on_init_resource(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "init:resource", ENVELOPE);
	json_t *body;
	bool existed;

	if (!u || !(body = model_body(r, init_fields)))
		return;
	struct af_req *q = req_new(r, u, body);
	const char *rt = json_string_value(json_object_get(body, "resource_type"));
	struct af_sess *s = afs_get_or_create(q, json_string_value(json_object_get(body, "worker_id")), rt,
					       json_object_get(body, "init_config"), NULL, &existed);
	if (!s) {
		answer_envelope(q, 500, AF_UNEXPECTED_ERROR, "too many sessions for this key",
				json_pack("{s:s}", "resource_type", rt), "init:resource", "session", NULL);
		return;
	}
	struct create_ctx *c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->s = s;
	afs_when_ready(s, init_answer, c);
}

struct init_item {
	struct af_req *q;
	struct af_sess *s;
	char *rt;
};

static void init_batch_answer(struct af_req *q)
{
	size_t total = json_object_size(q->out), ok = 0;
	const char *k;
	json_t *v;

	json_object_foreach(q->out, k, v)
		ok += !strcmp(json_string_value(json_object_get(v, "status")), "success");
	json_t *data = json_pack("{s:s, s:O, s:I, s:I}", "worker_id", json_string_value(json_object_get(q->body, "worker_id")),
				 "results", q->out, "total", (json_int_t)total, "success_count", (json_int_t)ok);
	if (ok == total) {
		answer_envelope(q, 200, AF_OK, NULL, data, "init:batch", "session", NULL);
	} else if (!ok) {
		answer_envelope(q, 500, AF_ALL_REQUESTS_FAILED, "All resources failed to initialize", data, "init:batch",
				"session", NULL);
	} else {
		struct buf m = BUF_INIT;
		buf_addf(&m, "%zu out of %zu resources failed", total - ok, total);
		answer_envelope(q, 207, AF_PARTIAL_FAILURE, m.data, data, "init:batch", "session", NULL);
		buf_release(&m);
	}
}

static void init_item_done(void *arg, bool ok)
{
	struct init_item *it = arg;
	struct af_req *q = it->q;

	json_object_set_new(q->out, it->rt, json_pack("{s:s, s:s, s:s, s:s?}", "status", ok ? "success" : "error",
						      "session_id", it->s->id, "session_status", ok ? "active" : "error",
						      "error", it->s->error));
	afs_put(it->s);
	free(it->rt);
	free(it);
	if (++q->finished == q->n)
		init_batch_answer(q);
}

static const struct fastapi_field init_batch_fields[] = {
	STR_FIELD("worker_id", true),
	{ .name = "resource_configs", .type = FASTAPI_DICT, .required = false },
	{ 0 },
};

static void on_init_batch(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "init:batch", ENVELOPE);
	json_t *body, *cfg;
	const char *rt;
	bool existed;

	if (!u || !(body = model_body(r, init_batch_fields)))
		return;
	struct af_req *q = req_new(r, u, body);
	json_t *configs = json_object_get(body, "resource_configs");
	q->out = json_object();
	q->n = json_object_size(configs) + 1; /* + this function's own hold, so no answer goes out before the loop ends */
	json_object_foreach(configs, rt, cfg) {
		json_t *content = json_is_object(json_object_get(cfg, "content")) ? json_object_get(cfg, "content") : cfg;
		if (strlen(rt) > MAX_NAME || !*rt) {
			json_object_set_new(q->out, rt, json_pack("{s:s, s:s}", "status", "error", "message", "bad resource type"));
			q->finished++;
			continue;
		}
		struct af_sess *s = afs_get_or_create(q, json_string_value(json_object_get(body, "worker_id")), rt,
						       json_is_object(content) ? content : NULL, NULL, &existed);
		if (!s) {
			json_object_set_new(q->out, rt, json_pack("{s:s, s:s}", "status", "error", "message",
								   "too many sessions for this key"));
			q->finished++;
			continue;
		}
		struct init_item *it = xcalloc(1, sizeof(*it));
		it->q = q;
		it->s = s;
		it->rt = xstrdup(rt);
		afs_when_ready(s, init_item_done, it);
	}
	if (++q->finished == q->n)
		init_batch_answer(q);
}

static void on_init_from_config(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "init:from_config", ENVELOPE);
	json_t *body;

	if (!u || !(body = plain_body(r, "init:from_config", false)))
		return;
	struct af_req *q = req_new(r, u, body);
	/* it reads a file named by the client on the server's disk: never served */
	answer_envelope(q, 400, AF_INVALID_REQUEST_FORMAT,
			"init/from-config reads a file on the server: not served here; send the configuration with "
			"/api/v1/init/batch instead",
			json_pack("{s:O}", "config_path", json_object_get(body, "config_path") ?: json_null()),
			"init:from_config", "session", NULL);
}

/* ---- tools --------------------------------------------------------------------------------- */

static bool action_works(const struct af_action *a)
{
	return tool_registry_has(NULL, a->tool ? a->tool : "input");
}

static void on_tools(struct tp_req *r, void *arg)
{
	json_t *tools;

	if (!caller(r, "tools", STATUS_MESSAGE))
		return;
	tools = json_array();
	for (const struct af_action *a = af_actions; a->name; a++)
		if (action_works(a))
			json_array_append_new(tools, af_action_info(a, false));
	tp_req_json(r, 200, json_pack("{s:o, s:I}", "tools", tools, "count", (json_int_t)json_array_size(tools)));
}

static void on_tool_schema(struct tp_req *r, void *arg)
{
	const char *name = tp_req_param(r, "name");
	const struct af_action *a;

	if (!caller(r, "tools", STATUS_MESSAGE))
		return;
	a = name ? af_action_find(name, NULL) : NULL;
	if (!a || !action_works(a)) {
		struct buf m = BUF_INIT;
		buf_addf(&m, "Tool not found: %s", name ? name : "");
		tp_req_json(r, 404, json_pack("{s:s, s:s}", "status", "error", "message", m.data));
		buf_release(&m);
		return;
	}
	tp_req_json(r, 200, af_action_info(a, true));
}

/* ---- warmup -------------------------------------------------------------------------------- */

static json_t *warm_summary(struct af_user *u)
{
	int warmed = 0;
	for (int i = 0; i < N_BACKENDS; i++)
		warmed += u->warm[i].state == W_READY;
	return json_pack("{s:i, s:i, s:i}", "total", N_BACKENDS, "warmed_up", warmed, "pending", N_BACKENDS - warmed);
}

struct warm_ctx {
	struct af_user *u;
	int bi;
	struct tp_req *r;
};

static void warm_failed(struct warm_ctx *c, json_t *result)
{
	struct af_warm *w = &c->u->warm[c->bi];
	free(w->error);
	w->error = xstrdup(rest_result_text(result));
	if (w->sid)
		sandbox_destroy(c->r, c->u, w->sid, NULL, NULL);
	free(steal_ptr(w->sid));
	w->state = W_NONE;
	wake(&w->waiters, false);
	free(c);
}

static void warm_shot(void *arg, json_t *result, enum err_class cls)
{
	struct warm_ctx *c = arg;
	struct af_warm *w = &c->u->warm[c->bi];

	if (rest_result_failed(result)) {
		warm_failed(c, result);
	} else {
		w->state = W_READY;
		w->ready_us = now_us();
		free(steal_ptr(w->error));
		wake(&w->waiters, true);
		free(c);
	}
	json_decref(result);
}

static void warm_created(void *arg, json_t *result, enum err_class cls)
{
	struct warm_ctx *c = arg;
	struct af_warm *w = &c->u->warm[c->bi];
	const char *sid = json_string_value(json_object_get(rest_result_data(result), "session_id"));

	if (rest_result_failed(result) || !sid) {
		warm_failed(c, result);
		json_decref(result);
		return;
	}
	w->sid = xstrdup(sid);
	json_decref(result);
	if (strcmp(af_resources[c->bi], "vm")) {
		warm_shot(c, json_object(), ERR_INTERNAL);
		return;
	}
	/* the display is warm once it has answered a screenshot */
	rest_call(c->r, c->u->principal, c->u->conn, "screenshot",
		  json_pack("{s:s, s:i, s:s}", "session_id", w->sid, "max_width", 16, "format", "jpeg"), warm_shot, c);
}

/* Warm backend bi of u: a ready session (with its display started, for vm) for the next session to take. */
static void warm_start(struct tp_req *r, struct af_user *u, int bi)
{
	struct af_warm *w = &u->warm[bi];
	struct warm_ctx *c = xcalloc(1, sizeof(*c));
	json_t *args = json_pack("{s:{s:s}}", "labels", "agentflow.warm", af_resources[bi]);

	c->u = u;
	c->bi = bi;
	c->r = r;
	w->state = W_PENDING;
	w->w = A.screen_w;
	w->h = A.screen_h;
	if (!strcmp(af_resources[bi], "vm"))
		json_object_set_new(args, "display", display_of(w->w, w->h));
	rest_call(r, u->principal, u->conn, "session_create", args, warm_created, c);
}

struct warm_item {
	struct af_req *q;
	char *name;
	int bi;
};

static void warmup_answer(struct af_req *q)
{
	json_t *results = json_object(), *errors = json_object(), *x;
	size_t i;
	bool all = true;

	json_array_foreach(q->out, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		bool ok = json_is_true(json_object_get(x, "ok"));
		json_object_set_new(results, name, json_boolean(ok));
		all &= ok;
		if (!ok)
			json_object_set(errors, name, json_object_get(x, "error"));
	}
	json_t *out = json_pack("{s:s, s:o, s:o}", "status", all ? "success" : "partial_error", "results", results,
				"summary", warm_summary(q->u));
	if (json_object_size(errors))
		json_object_set(out, "errors", errors);
	json_decref(errors);
	answer(q, 200, out);
}

static void warm_item_done(void *arg, bool ok)
{
	struct warm_item *it = arg;
	struct af_req *q = it->q;
	struct af_warm *w = &q->u->warm[it->bi];

	json_array_append_new(q->out, json_pack("{s:s, s:b, s:s?}", "name", it->name, "ok", ok, "error",
						ok ? NULL : w->error ? w->error : "warmup failed"));
	free(it->name);
	free(it);
	if (++q->finished == q->n)
		warmup_answer(q);
}

static void on_warmup(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "warmup", STATUS_MESSAGE);
	json_t *body, *names, *x;
	size_t i;

	if (!u)
		return;
	size_t len;
	tp_req_body(r, &len);
	body = len ? tp_req_body_json(r, 0, NULL) : json_object();
	names = json_object_get(body, "backends");
	if (!json_is_object(body) || (names && !json_is_null(names) && !json_is_array(names) && !json_is_string(names))) {
		json_decref(body);
		tp_req_json(r, 400, json_pack("{s:s, s:s}", "status", "error", "message",
					      "the body must be {\"backends\": [names] | null}"));
		return;
	}
	struct af_req *q = req_new(r, u, body);
	json_t *list = json_array();
	if (json_is_string(names))
		json_array_append(list, names);
	else if (json_is_array(names))
		json_array_extend(list, names);
	else
		for (int b = 0; b < N_BACKENDS; b++)
			json_array_append_new(list, json_string(af_resources[b]));
	q->out = json_array();
	q->n = json_array_size(list) + 1;
	json_array_foreach(list, i, x) {
		const char *name = json_is_string(x) ? json_string_value(x) : "";
		int bi = backend_index(name);
		if (i >= 16 || bi < 0) {
			struct buf m = BUF_INIT;
			buf_adds(&m, "Backend not found: ");
			buf_adds(&m, name);
			buf_adds(&m, ". Available backends: [");
			for (int b = 0; b < N_BACKENDS; b++)
				buf_addf(&m, "%s'%s'", b ? ", " : "", af_resources[b]);
			buf_adds(&m, "]");
			json_array_append_new(q->out, json_pack("{s:s, s:b, s:s}", "name", name, "ok", 0, "error", m.data));
			buf_release(&m);
			q->finished++;
			continue;
		}
		struct warm_item *it = xcalloc(1, sizeof(*it));
		it->q = q;
		it->name = xstrdup(name);
		it->bi = bi;
		if (u->warm[bi].state == W_NONE)
			warm_start(r, u, bi);
		if (u->warm[bi].state == W_PENDING)
			wait_add(&u->warm[bi].waiters, warm_item_done, it);
		else
			warm_item_done(it, u->warm[bi].state == W_READY);
	}
	json_decref(list);
	if (++q->finished == q->n)
		warmup_answer(q);
}

static void on_warmup_status(struct tp_req *r, void *arg)
{
	struct af_user *u = caller(r, "warmup", STATUS_MESSAGE);
	if (!u)
		return;
	json_t *b = json_object();
	for (int i = 0; i < N_BACKENDS; i++)
		json_object_set_new(b, af_resources[i], json_pack("{s:b, s:b}", "loaded", 1, "warmed_up",
								  u->warm[i].state == W_READY));
	tp_req_json(r, 200, json_pack("{s:o, s:o}", "backends", b, "summary", warm_summary(u)));
}

/* ---- health, ready, shutdown ------------------------------------------------------------------ */

static void on_ready(struct tp_req *r, void *arg)
{
	char key[TP_KEY_MAX], principal[256];
	unsigned workers = 0, sessions = 0;

	/* an info endpoint: no credential needed; with one, the caller's own counts */
	tp_req_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, principal, sizeof(principal)) == 1) {
		struct af_user *u = user_get(principal);
		struct af_sess *s;
		json_t *seen = json_object();
		TAILQ_FOREACH(s, &u->sessions, link) {
			sessions++;
			json_object_set_new(seen, s->worker, json_true());
		}
		workers = (unsigned)json_object_size(seen);
		json_decref(seen);
	}
	tp_req_json(r, 200, json_pack("{s:s, s:i, s:i, s:i}", "status", "ready", "tools_count", (int)tools_available(),
				      "active_workers", workers, "total_sessions", sessions));
}

static void health(json_t *out)
{
	if (!json_object_get(out, "status"))
		json_object_set_new(out, "status", json_string("healthy"));
	json_object_set_new(out, "timestamp", iso(now_us()));
}

/* GET /health alone (with another dialect's the router answers the union of the health hooks) */
static void on_health(struct tp_req *r, void *arg)
{
	json_t *out = json_object();
	health(out);
	tp_req_json(r, 200, out);
}

static void shutdown_fire(uv_timer_t *t)
{
	/* the same drain as SIGTERM: running calls may finish for shutdown_grace */
	log_info("agentflow: shutdown requested over HTTP");
	uv_kill(getpid(), SIGTERM);
}

static void shutdown_answer(struct af_req *q, unsigned count)
{
	answer(q, 200, json_pack("{s:s, s:s, s:i}", "status", "success", "message", "Server shutdown initiated",
				 "sessions_cleaned", count));
	/* as the twin: the answer leaves first, the server stops 0.5 s later */
	uv_timer_start(&A.shutdown, shutdown_fire, 500, 0);
}

static void on_shutdown(struct tp_req *r, void *arg)
{
	char key[TP_KEY_MAX], principal[256];
	json_t *body;

	tp_req_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, principal, sizeof(principal)) != 1 || strncmp(principal, "admin:", 6)) {
		tp_req_json(r, 403, json_pack("{s:s, s:s}", "status", "error", "message",
					      "shutdown needs an admin API key (mcpbox key create --admin)"));
		return;
	}
	size_t len;
	tp_req_body(r, &len);
	body = len ? tp_req_body_json(r, 0, NULL) : json_object();
	if (!json_is_object(body)) {
		json_decref(body);
		tp_req_json(r, 400, json_pack("{s:s, s:s}", "status", "error", "message", "the body must be a JSON object"));
		return;
	}
	struct af_req *q = req_new(r, user_get(principal), body);
	if (json_is_false(json_object_get(body, "cleanup_sessions")))
		shutdown_answer(q, 0);
	else
		end_sessions(q, NULL, shutdown_answer);
}

/* ---- expiry -------------------------------------------------------------------------------------- */

/* Sessions without an action for session_ttl end, as the twin's cleanup_expired (every 300 s there). */
static void sweep(uv_timer_t *t)
{
	uint64_t now = now_us();
	struct af_user *u;

	LIST_FOREACH(u, &A.users, link) {
		struct af_sess *s, *next;
		for (s = TAILQ_FIRST(&u->sessions); s; s = next) {
			next = TAILQ_NEXT(s, link);
			if (s->state != S_ACTIVE || s->busy || s->expires_us > now)
				continue;
			log_debug("agentflow: session %s expired", s->id);
			if (s->sid)
				sandbox_destroy(NULL, u, s->sid, NULL, NULL);
			afs_unlist(s);
		}
		for (int i = 0; i < N_BACKENDS; i++) {
			struct af_warm *w = &u->warm[i];
			if (w->state == W_READY && w->ready_us + A.ttl_s * 1000000u < now) {
				sandbox_destroy(NULL, u, w->sid, NULL, NULL);
				free(steal_ptr(w->sid));
				w->state = W_NONE;
			}
		}
	}
}

/* ---- the dialect ------------------------------------------------------------------------------ */

static bool claims(const char *path, json_t *body)
{
	return json_is_object(body) && (json_object_get(body, "action") || json_object_get(body, "worker_id"));
}

static void init(const struct srv_config *cfg)
{
	json_t *mine = json_object_get(cfg->compat, DIALECT), *v;

	if ((v = json_object_get(mine, "session_ttl"))) {
		if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 86400)
			A.ttl_s = (uint64_t)json_integer_value(v);
		else
			log_warn("config: compat.agentflow.session_ttl must be 1..86400 seconds; using %llu",
				 (unsigned long long)A.ttl_s);
	}
	if ((v = json_object_get(mine, "screen_size")) && screen_size(mine, &A.screen_w, &A.screen_h) < 0)
		log_warn("config: compat.agentflow.screen_size must be [width, height] within 64x64..3840x2160");
	LIST_INIT(&A.users);
	uv_timer_init(uv_default_loop(), &A.sweep);
	uv_timer_init(uv_default_loop(), &A.shutdown);
	uv_timer_start(&A.sweep, sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&A.sweep);
	uv_unref((uv_handle_t *)&A.shutdown);
	A.started = true;
}

static void release(void)
{
	struct af_user *u;

	if (!A.started)
		return;
	A.started = false;
	uv_close((uv_handle_t *)&A.sweep, NULL);
	uv_close((uv_handle_t *)&A.shutdown, NULL);
	while ((u = LIST_FIRST(&A.users))) {
		struct af_sess *s;
		LIST_REMOVE(u, link);
		while ((s = TAILQ_FIRST(&u->sessions)))
			afs_unlist(s);
		for (int i = 0; i < N_BACKENDS; i++) {
			free(u->warm[i].sid);
			free(u->warm[i].error);
		}
		json_decref(u->counters);
		free(u->principal);
		free(u);
	}
}

static const struct rest_route routes[] = {
	{ TP_POST, "/execute", on_execute },
	{ TP_POST, "/api/v1/execute", on_execute },
	{ TP_POST, "/execute/batch", on_batch },
	{ TP_POST, "/api/v1/execute/batch", on_batch },
	{ TP_POST, "/session/create", on_session_create },
	{ TP_POST, "/api/v1/session/create", on_session_create },
	{ TP_POST, "/session/destroy", on_session_destroy },
	{ TP_POST, "/api/v1/session/destroy", on_session_destroy },
	{ TP_POST, "/session/list", on_session_list },
	{ TP_POST, "/api/v1/session/list", on_session_list },
	{ TP_POST, "/session/refresh", on_session_refresh },
	{ TP_POST, "/api/v1/session/refresh", on_session_refresh },
	{ TP_GET, "/tools", on_tools },
	{ TP_GET, "/api/v1/tools", on_tools },
	{ TP_GET, "/tools/{name}/schema", on_tool_schema },
	{ TP_GET, "/api/v1/tools/{name}/schema", on_tool_schema },
	{ TP_POST, "/warmup", on_warmup },
	{ TP_POST, "/api/v1/warmup", on_warmup },
	{ TP_GET, "/warmup/status", on_warmup_status },
	{ TP_GET, "/api/v1/warmup/status", on_warmup_status },
	{ TP_POST, "/shutdown", on_shutdown },
	{ TP_POST, "/api/v1/server/shutdown", on_shutdown },
	{ TP_GET, "/health", on_health },
	{ TP_GET, "/ready", on_ready },
	{ TP_POST, "/api/v1/lifecycle/heartbeat", on_heartbeat },
	{ TP_POST, "/api/v1/lifecycle/status", on_status },
	{ TP_POST, "/api/v1/worker/disconnect", on_disconnect },
	{ TP_POST, "/api/v1/init/resource", on_init_resource },
	{ TP_POST, "/api/v1/init/batch", on_init_batch },
	{ TP_POST, "/api/v1/init/from-config", on_init_from_config },
	{ 0 },
};

/* The twin is a FastAPI app: its answers for an unknown path or a method a path does not serve. */
static void unrouted(struct tp_req *r, bool wrong_method)
{
	if (wrong_method)
		tp_req_json(r, 405, fastapi_detail("Method Not Allowed"));
	else
		tp_req_json(r, 404, fastapi_detail("Not Found"));
}

/* A failure under /api/v1 that no route takes: FastAPI's {"detail": reason} (rest.h). */
static void fail_fields(json_t *out, int status, const char *message)
{
	(void)message;
	json_object_set_new(out, "detail", json_string(status == 405 ? "Method Not Allowed" : "Not Found"));
}

static const char *const prefixes[] = { "/api/v1", NULL };

const struct rest_dialect rest_agentflow = {
	.name = DIALECT,
	.routes = routes,
	.claims = claims,
	.health = health,
	.unrouted = unrouted,
	.prefixes = prefixes,
	.fail_fields = fail_fields,
	.init = init,
	.release = release,
};
