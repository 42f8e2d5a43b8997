/*
 * server/rest/manager.c — dialect 000, the sandbox manager (see manager.h
 * and docs/compat.md).
 *
 * A sandbox is a session with a display; its id is the session's id, so MCP
 * clients of the same principal see it in session_list. The document's
 * userId is a label ("manager.userId") within the principal: it filters,
 * never widens what a key sees. An image is a snapshot: stop takes one and
 * then stops the session; create {imageId} starts a session from it.
 *
 * Every request is translation only: a small chain of tool calls (rest_call)
 * whose results are mapped into the {success, data, error, timestamp}
 * envelope. A chain keeps its state in a struct mreq until it answers.
 */
#include "manager.h"
#include "../base/common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/banned.h"

#define LABEL_USER "manager.userId"
#define LABEL_TYPE "manager.instanceType"
#define LABEL_SPEC "manager.instanceSpecification"
#define LABEL_DESC "manager.description"
#define MAX_ID 256
#define MAX_PAGE_SIZE 1000

/* ---- pure mappers ---- */

static const struct {
	unsigned cpus, gb;
	const char *type;
} ec2_types[] = {
	{ 1, 1, "t2.micro" }, { 1, 2, "t2.small" }, { 2, 4, "t2.medium" },
	{ 2, 8, "t2.large" }, { 4, 16, "t2.xlarge" }, { 8, 32, "t2.2xlarge" },
};

static int parse_uint(const char **p, unsigned max, unsigned *out)
{
	unsigned v = 0;
	const char *s = *p;
	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v > max)
			return -1;
	}
	if (!v)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

int mgr_spec_parse(const char *s, struct mgr_spec *out)
{
	struct mgr_spec sp = { .instance_type = "custom" };
	if (!s || parse_uint(&s, 64, &sp.cpus) || (*s != 'u' && *s != 'U'))
		return -1;
	s++;
	if (parse_uint(&s, 1024, &sp.memory_gb) || (*s != 'g' && *s != 'G') || s[1])
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(ec2_types); i++)
		if (ec2_types[i].cpus == sp.cpus && ec2_types[i].gb == sp.memory_gb)
			sp.instance_type = ec2_types[i].type;
	*out = sp;
	return 0;
}

static const struct {
	const char *session, *sandbox, *message;
} statuses[] = {
	{ "creating", "PENDING", "沙盒创建中" },
	{ "running", "RUNNING", "沙盒运行中" },
	{ "stopping", "STOPPED", "沙盒已停止" },
	{ "stopped", "STOPPED", "沙盒已停止" },
	{ "deleted", "TERMINATED", "沙盒已终止" },
	{ "failed", "ERROR", "沙盒出错" },
};

const char *mgr_sandbox_status(const char *session_status)
{
	for (size_t i = 0; session_status && i < ARRAY_SIZE(statuses); i++)
		if (!strcmp(statuses[i].session, session_status))
			return statuses[i].sandbox;
	return "ERROR";
}

const char *mgr_status_message(const char *sandbox_status)
{
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
		if (!strcmp(statuses[i].sandbox, sandbox_status))
			return statuses[i].message;
	return "沙盒出错";
}

int mgr_sandbox_status_valid(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
		if (!strcmp(statuses[i].sandbox, s))
			return 1;
	return 0;
}

int mgr_image_status_valid(const char *s)
{
	return !strcmp(s, "CREATING") || !strcmp(s, "AVAILABLE") || !strcmp(s, "FAILED");
}

json_t *mgr_envelope_ok(json_t *data, uint64_t ms)
{
	return json_pack("{s:b, s:o, s:I}", "success", 1, "data", data ? data : json_null(), "timestamp",
			 (json_int_t)ms);
}

const char *mgr_error_code(int status)
{
	switch (status) {
	case 400: return "BAD_REQUEST";
	case 401: return "UNAUTHORIZED";
	case 403: return "FORBIDDEN";
	case 404: return "NOT_FOUND";
	case 405: return "METHOD_NOT_ALLOWED";
	case 409: return "CONFLICT";
	case 413: return "PAYLOAD_TOO_LARGE";
	case 429: return "TOO_MANY_REQUESTS";
	case 503: return "SERVICE_UNAVAILABLE";
	case 504: return "TIMEOUT";
	}
	return "INTERNAL_ERROR";
}

json_t *mgr_envelope_fail(int status, const char *message, uint64_t ms)
{
	return json_pack("{s:b, s:n, s:{s:s, s:s, s:{}}, s:I}", "success", 0, "data", "error", "code",
			 mgr_error_code(status), "message", message, "details", "timestamp", (json_int_t)ms);
}

json_t *mgr_page(json_t *items, const char *key, long page, long size)
{
	long total = (long)json_array_size(items);
	long pages = total ? (total + size - 1) / size : 0;
	json_t *slice = json_array();
	for (long i = (page - 1) * size; i >= 0 && i < total && i < page * size; i++)
		json_array_append(slice, json_array_get(items, (size_t)i));
	json_decref(items);
	return json_pack("{s:I, s:I, s:I, s:o}", "total", (json_int_t)total, "pages", (json_int_t)pages,
			 "currentPage", (json_int_t)page, key, slice);
}

json_t *mgr_time(const char *iso, int zone)
{
	if (!iso || strlen(iso) < 19)
		return json_null();
	char b[24];
	snprintf(b, sizeof(b), "%.19s%s", iso, zone ? "Z" : "");
	return json_string(b);
}

static int iso_seconds(const char *iso, time_t *out)
{
	struct tm tm = { 0 };
	const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (!end)
		return -1;
	*out = timegm(&tm);
	return 0;
}

long mgr_seconds_between(const char *a, const char *b)
{
	time_t ta, tb;
	if (iso_seconds(a, &ta) || iso_seconds(b, &tb) || tb < ta)
		return 0;
	return (long)(tb - ta);
}

/* ---- requests ---- */

static uint64_t epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void answer(struct tp_req *r, int status, json_t *data)
{
	tp_req_json(r, status, mgr_envelope_ok(data, epoch_ms()));
}

static void fail(struct tp_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct tp_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tp_req_json(r, status, mgr_envelope_fail(status, msg, epoch_ms()));
}

/* One request's chain of tool calls. */
struct mreq {
	struct tp_req *r;
	char principal[256];
	struct tool_conn *conn;
	char id[MAX_ID + 1];		/* the sandbox or image of the path */
	json_t *body;			/* the parsed body, if any */
	json_t *info;			/* a session_info kept between calls */
	char user[MAX_ID + 1];		/* a userId filter or label */
	char status[32];		/* a status filter */
	long page, size;
	void (*next)(struct mreq *m, json_t *data);	/* what the current call's success leads to */
};

static void mreq_free(struct mreq *m)
{
	json_decref(m->body);
	json_decref(m->info);
	free(m);
}

/* The tool's result: failures answer in the envelope and end the chain. */
static void call_done(void *arg, json_t *result, enum err_class cls)
{
	struct mreq *m = arg;
	if (rest_result_failed(result)) {
		fail(m->r, rest_status_of(m->r, cls), "%s", rest_result_text(result));
		mreq_free(m);
	} else {
		void (*next)(struct mreq *, json_t *) = m->next;
		m->next = NULL;
		next(m, rest_result_data(result));
	}
	json_decref(result);
}

static void call(struct mreq *m, const char *tool, json_t *args, void (*next)(struct mreq *, json_t *))
{
	m->next = next;
	rest_call(m->r, m->principal, m->conn, tool, args, call_done, m);
}

static void finish(struct mreq *m, int status, json_t *data)
{
	answer(m->r, status, data);
	mreq_free(m);
}

/*
 * Start a request: the caller's credential (X-API-Key in any case, or
 * Authorization: Bearer), the path's id, the JSON body when want_body.
 * NULL when it was answered already.
 */
static struct mreq *begin(struct tp_req *r, const char *param, int want_body)
{
	char key[TP_KEY_MAX];
	struct mreq m = { .r = r, .page = 1, .size = 20 };

	tp_req_key(r, key, sizeof(key));
	if (!key[0] && tp_req_authenticate(r, "", m.principal, sizeof(m.principal)) != 1) {
		fail(r, 401, "missing API key: send it in the X-API-KEY header");
		return NULL;
	}
	if (key[0] && tp_req_authenticate(r, key, m.principal, sizeof(m.principal)) != 1) {
		fail(r, 401, "invalid API key");
		return NULL;
	}
	if (param) {
		const char *id = tp_req_param(r, param);
		if (!id || !id[0] || strlen(id) > MAX_ID) {
			fail(r, 400, "invalid %s", param);
			return NULL;
		}
		snprintf(m.id, sizeof(m.id), "%s", id);
	}
	if (want_body) {
		size_t len;
		tp_req_body(r, &len);
		json_error_t je;
		if (len) {
			m.body = tp_req_body_json(r, 0, &je);
			if (!m.body) {
				fail(r, 400, "malformed JSON body: %s", je.text);
				return NULL;
			}
		}
		if (m.body && !json_is_object(m.body)) {
			json_decref(m.body);
			fail(r, 400, "the request body must be a JSON object");
			return NULL;
		}
		if (!m.body && want_body > 1) {
			fail(r, 400, "a JSON body is required");
			return NULL;
		}
	}
	m.conn = rest_conn("manager", m.principal);
	struct mreq *p = xcalloc(1, sizeof(*p));
	*p = m;
	return p;
}

/* body[name]: NULL when absent or null; -1 (answered) when present but not a string of 1..MAX_ID. */
static int body_string(struct mreq *m, const char *name, const char **out)
{
	json_t *v = json_object_get(m->body, name);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > MAX_ID) {
		fail(m->r, 400, "%s must be a non-empty string of at most %d characters", name, MAX_ID);
		mreq_free(m);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* The list queries: userId, status (checked against valid), page, size. */
static int list_query(struct mreq *m, int need_user, int (*valid)(const char *))
{
	char v[64];
	if (tp_req_query(m->r, "userId", m->user, sizeof(m->user)) || !m->user[0]) {
		m->user[0] = 0;
		if (need_user) {
			fail(m->r, 400, "userId is required");
			goto bad;
		}
	}
	if (!tp_req_query(m->r, "status", m->status, sizeof(m->status)) && m->status[0] && !valid(m->status)) {
		fail(m->r, 400, "unknown status \"%s\"", m->status);
		goto bad;
	}
	const char *names[] = { "page", "size" };
	long *dest[] = { &m->page, &m->size };
	for (int i = 0; i < 2; i++) {
		if (tp_req_query(m->r, names[i], v, sizeof(v)))
			continue;
		char *end;
		long n = strtol(v, &end, 10);
		if (!v[0] || *end || n < 1 || (i == 1 && n > MAX_PAGE_SIZE) || n > 1000000) {
			fail(m->r, 400, "%s must be an integer from 1 to %d", names[i], i ? MAX_PAGE_SIZE : 1000000);
			goto bad;
		}
		*dest[i] = n;
	}
	return 0;
bad:
	mreq_free(m);
	return -1;
}

static const char *label(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(json_object_get(obj, "labels"), name));
}

static const char *str(json_t *obj, const char *name)
{
	return json_string_value(json_object_get(obj, name));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* ---- sandboxes ---- */

/*
 * The URLs of a session_info: mcpUrl (the session-bound MCP endpoint; an SSE
 * URL as the document's is, for the clients it names), vncUrl (its view
 * page), cdpUrl (its CDP endpoint, session_info's cdp_url: the browser starts
 * on the first connection to it).
 */
static json_t *sandbox_urls(json_t *info)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:s}", "sandboxId", str(info, "session_id"), "mcpUrl",
			 str_or_null(str(info, "mcp_sse_url")), "vncUrl",
			 str_or_null(str(json_object_get(info, "display"), "view_url")), "cdpUrl",
			 str_or_null(str(info, "cdp_url")), "status",
			 mgr_sandbox_status(str(info, "status")));
}

/* The status endpoint's (and stop's) fields. */
static json_t *sandbox_state(json_t *info, const char *status, json_t *image)
{
	const char *started = str(info, "started_at"), *stopped = str(info, "stopped_at");
	json_t *now = rest_now();
	long uptime = !strcmp(status, "RUNNING") ? mgr_seconds_between(started, json_string_value(now))
		    : stopped ? mgr_seconds_between(started, stopped) : 0;
	json_t *o = json_pack("{s:s, s:o, s:s, s:n, s:I, s:s, s:o, s:o}", "sandboxId", str(info, "session_id"),
			      "userId", str_or_null(label(info, LABEL_USER)), "status", status, "publicIp",
			      "uptime", (json_int_t)uptime, "message", mgr_status_message(status), "lastUpdated",
			      mgr_time(json_string_value(now), 0), "imageId",
			      image ? image : str_or_null(str(info, "source_snapshot")));
	json_decref(now);
	return o;
}

static void created(struct mreq *m, json_t *info)
{
	finish(m, 201, sandbox_urls(info));
}

/*
 * A host without a cpu cgroup controller cannot keep a CPU count, and
 * session_create refuses `cpus` there (ERR_UNAVAILABLE). The document's
 * clients send instanceSpecification routinely ("1u1g" is its default), so
 * the sandbox is then made without the CPU cap, as the memory limit falls
 * back to rlimits on such a host; session_info's limits.cpus shows null.
 * m->info holds the arguments without cpus for that second call.
 */
static void create_done(void *arg, json_t *result, enum err_class cls)
{
	struct mreq *m = arg;

	if (rest_result_failed(result) && cls == ERR_UNAVAILABLE && m->info) {
		json_t *args = m->info;
		m->info = NULL;
		json_decref(result);
		call(m, "session_create", args, created);
		return;
	}
	json_decref(m->info);
	m->info = NULL;
	call_done(m, result, cls);
}

static void create_session(struct mreq *m, json_t *args)
{
	if (!json_object_get(args, "cpus"))
		return call(m, "session_create", args, created);
	m->info = json_deep_copy(args);
	json_object_del(m->info, "cpus");
	m->next = created;
	rest_call(m->r, m->principal, m->conn, "session_create", args, create_done, m);
}

static void create_from_image(struct mreq *m, json_t *snap)
{
	/* snapshots exist once written: a listed snapshot is AVAILABLE */
	(void)snap;
	json_t *args = m->info;
	m->info = NULL;
	json_object_set_new(args, "snapshot_id", json_string(m->id));
	create_session(m, args);
}

static void sandbox_create(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, NULL, 2);
	const char *user, *version, *image, *spec;
	struct mgr_spec sp = { 1, 1, "t2.micro" };

	if (!m || body_string(m, "userId", &user) || body_string(m, "mcpVersion", &version) ||
	    body_string(m, "imageId", &image) || body_string(m, "instanceSpecification", &spec))
		return;
	if (!user) {
		fail(r, 400, "userId is required");
		return mreq_free(m);
	}
	if (spec && mgr_spec_parse(spec, &sp)) {
		fail(r, 400, "instanceSpecification \"%s\" is not of the form {cpu}u{memory}g, e.g. 1u1g", spec);
		return mreq_free(m);
	}
	json_t *labels = json_pack("{s:s, s:s}", LABEL_USER, user, LABEL_TYPE, sp.instance_type);
	if (spec)
		json_object_set_new(labels, LABEL_SPEC, json_string(spec));
	json_t *args = json_pack("{s:b, s:o}", "display", 1, "labels", labels);
	if (spec) {
		json_object_set_new(args, "memory_mb", json_integer((json_int_t)sp.memory_gb * 1024));
		json_object_set_new(args, "cpus", json_integer((json_int_t)sp.cpus));
	}
	if (!image)
		return create_session(m, args);
	snprintf(m->id, sizeof(m->id), "%s", image);
	m->info = args;
	call(m, "snapshot_info", json_pack("{s:s}", "snapshot_id", image), create_from_image);
}

static int keep_session(struct mreq *m, json_t *s)
{
	if (json_is_true(json_object_get(s, "implicit")))
		return 0;
	if (m->user[0] && (!label(s, LABEL_USER) || strcmp(label(s, LABEL_USER), m->user)))
		return 0;
	return !m->status[0] || !strcmp(mgr_sandbox_status(str(s, "status")), m->status);
}

static void listed_sandboxes(struct mreq *m, json_t *data)
{
	json_t *items = json_array(), *s;
	size_t i;
	json_array_foreach(json_object_get(data, "sessions"), i, s) {
		if (!keep_session(m, s))
			continue;
		json_t *tags = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(s, "labels"), k, v)
			if (strncmp(k, "manager.", 8))
				json_object_set(tags, k, v);
		const char *type = label(s, LABEL_TYPE);
		json_array_append_new(
			items, json_pack("{s:s, s:o, s:s, s:s, s:n, s:s, s:o, s:o, s:o}", "sandboxId",
					 str(s, "session_id"), "userId", str_or_null(label(s, LABEL_USER)),
					 "instanceId", str(s, "session_id"), "status",
					 mgr_sandbox_status(str(s, "status")), "publicIp", "instanceType",
					 type ? type : "custom", "tags", tags, "createdAt",
					 mgr_time(str(s, "created_at"), 1), "lastModified",
					 mgr_time(str(s, "last_active"), 1)));
	}
	finish(m, 200, mgr_page(items, "sandboxes", m->page, m->size));
}

static void sandbox_list(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, NULL, 0);
	if (!m || list_query(m, 0, mgr_sandbox_status_valid))
		return;
	json_t *args = json_object();
	if (m->user[0])
		json_object_set_new(args, "labels", json_pack("{s:s}", LABEL_USER, m->user));
	call(m, "session_list", args, listed_sandboxes);
}

static void got_details(struct mreq *m, json_t *info)
{
	json_t *d = sandbox_urls(info);
	json_object_set_new(d, "apiKeyId", json_string(m->principal));
	finish(m, 200, d);
}

static void sandbox_get(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 0);
	if (m)
		call(m, "session_info", json_pack("{s:s}", "session_id", m->id), got_details);
}

static void got_status(struct mreq *m, json_t *info)
{
	finish(m, 200, sandbox_state(info, mgr_sandbox_status(str(info, "status")), NULL));
}

static void sandbox_status(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 0);
	if (m)
		call(m, "session_info", json_pack("{s:s}", "session_id", m->id), got_status);
}

/* stop: session_info (who, what state) → session_snapshot (the image) → session_stop → session_info */
static void stop_stopped(struct mreq *m, json_t *info)
{
	json_t *image = json_object_get(m->body, "imageId");
	finish(m, 200, sandbox_state(info, "STOPPED", json_incref(image)));
}

static void stop_stopping(struct mreq *m, json_t *data)
{
	(void)data;
	call(m, "session_info", json_pack("{s:s}", "session_id", m->id), stop_stopped);
}

static void stop_imaged(struct mreq *m, json_t *snap)
{
	/* m->body is not used by stop: it carries the image id to the answer */
	json_decref(m->body);
	m->body = json_pack("{s:s}", "imageId", str(snap, "snapshot_id"));
	call(m, "session_stop", json_pack("{s:s}", "session_id", m->id), stop_stopping);
}

static void stop_found(struct mreq *m, json_t *info)
{
	const char *st = mgr_sandbox_status(str(info, "status"));
	if (strcmp(st, "RUNNING")) {
		fail(m->r, 400, "sandbox %s is %s, not RUNNING", m->id, st);
		return mreq_free(m);
	}
	json_t *labels = json_object();
	if (label(info, LABEL_USER))
		json_object_set_new(labels, LABEL_USER, json_string(label(info, LABEL_USER)));
	call(m, "session_snapshot",
	     json_pack("{s:s, s:s+, s:o}", "session_id", m->id, "name", "image-of-", m->id, "labels", labels),
	     stop_imaged);
}

static void sandbox_stop(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 0);
	if (m)
		call(m, "session_info", json_pack("{s:s}", "session_id", m->id), stop_found);
}

/* first-version aliases: initialize (start a stopped sandbox), DELETE (destroy) */
static void initialized(struct mreq *m, json_t *data)
{
	(void)data;
	finish(m, 200, json_pack("{s:b, s:s}", "success", 1, "message", "沙盒初始化已触发"));
}

static void init_found(struct mreq *m, json_t *info)
{
	const char *st = str(info, "status");
	if (st && (!strcmp(st, "stopped") || !strcmp(st, "failed")))
		return call(m, "session_start", json_pack("{s:s}", "session_id", m->id), initialized);
	initialized(m, NULL);
}

static void sandbox_initialize(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 1);
	const char *user;
	if (m && !body_string(m, "userId", &user))
		call(m, "session_info", json_pack("{s:s}", "session_id", m->id), init_found);
}

static void destroyed(struct mreq *m, json_t *data)
{
	(void)data;
	finish(m, 200, json_pack("{s:s, s:s}", "sandboxId", m->id, "message",
				 "Sandbox deletion initiated successfully"));
}

static void sandbox_delete(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 0);
	if (m)
		call(m, "session_destroy", json_pack("{s:s}", "session_id", m->id), destroyed);
}

/* ---- images ---- */

static json_t *image_json(json_t *sn)
{
	json_int_t bytes = json_integer_value(json_object_get(sn, "bytes"));
	json_int_t gb = (bytes + (1 << 30) - 1) >> 30;
	const char *name = str(sn, "name"), *desc = label(sn, LABEL_DESC);
	return json_pack("{s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:o, s:n, s:b, s:I, s:o, s:o}", "imageId",
			 str(sn, "snapshot_id"), "awsImageId", str_or_null(str(sn, "commit")), "name",
			 name ? name : str(sn, "snapshot_id"), "description", desc ? desc : "", "status",
			 "AVAILABLE", "sourceInstanceId", str(sn, "session_id"), "sourceSandboxId",
			 str(sn, "session_id"), "userId", str_or_null(label(sn, LABEL_USER)), "region",
			 "isDefault", 0, "storageSize", gb, "createdAt", mgr_time(str(sn, "created_at"), 0),
			 "lastUpdated", mgr_time(str(sn, "created_at"), 0));
}

static void listed_images(struct mreq *m, json_t *data)
{
	json_t *items = json_array(), *sn;
	size_t i;
	json_array_foreach(json_object_get(data, "snapshots"), i, sn)
		if (!m->status[0] || !strcmp(m->status, "AVAILABLE"))
			json_array_append_new(items, image_json(sn));
	finish(m, 200, mgr_page(items, "images", m->page, m->size));
}

static void image_list(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, NULL, 0);
	if (!m || list_query(m, 1, mgr_image_status_valid))
		return;
	call(m, "snapshot_list", json_pack("{s:{s:s}}", "labels", LABEL_USER, m->user), listed_images);
}

static void got_image(struct mreq *m, json_t *sn)
{
	finish(m, 200, image_json(sn));
}

static void image_get(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "imageId", 0);
	if (m)
		call(m, "snapshot_info", json_pack("{s:s}", "snapshot_id", m->id), got_image);
}

static void image_deleted(struct mreq *m, json_t *data)
{
	(void)data;
	finish(m, 200, json_true());
}

static void image_delete(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "imageId", 0);
	if (m)
		call(m, "snapshot_delete", json_pack("{s:s}", "snapshot_id", m->id), image_deleted);
}

static void got_image_created(struct mreq *m, json_t *sn)
{
	finish(m, 201, image_json(sn));
}

static void image_made(struct mreq *m, json_t *snap)
{
	call(m, "snapshot_info", json_pack("{s:s}", "snapshot_id", str(snap, "snapshot_id")), got_image_created);
}

static void image_create(struct tp_req *r, void *arg)
{
	(void)arg;
	struct mreq *m = begin(r, "sandboxId", 2);
	const char *user, *name, *desc;
	if (!m || body_string(m, "userId", &user) || body_string(m, "name", &name) ||
	    body_string(m, "description", &desc))
		return;
	if (!user) {
		fail(r, 400, "userId is required");
		return mreq_free(m);
	}
	json_t *labels = json_pack("{s:s}", LABEL_USER, user);
	if (desc)
		json_object_set_new(labels, LABEL_DESC, json_string(desc));
	json_t *args = json_pack("{s:s, s:o}", "session_id", m->id, "labels", labels);
	if (name)
		json_object_set_new(args, "name", json_string(name));
	call(m, "session_snapshot", args, image_made);
}

/* ---- the dialect ---- */

/* Unknown paths under /compat/manager/ and documented paths asked with another method: the envelope. */
static void manager_unrouted(struct tp_req *r, bool wrong_method)
{
	if (wrong_method)
		fail(r, 405, "%s is not served for %s", tp_req_method_name(r), tp_req_path(r));
	else
		fail(r, 404, "no such endpoint: %s", tp_req_path(r));
}

/* A failure under /api/v1 or /v1 that no route takes: the envelope's fields (rest.h). */
static void manager_fail_fields(json_t *out, int status, const char *message)
{
	json_t *e = mgr_envelope_fail(status, message, epoch_ms());

	json_object_update(out, e);
	json_decref(e);
}

static const char *const manager_prefixes[] = { "/api/v1", "/v1", NULL };

#define BOTH(methods, path, fn) { methods, "/api/v1" path, fn }, { methods, "/v1" path, fn }

static const struct rest_route routes[] = {
	BOTH(TP_POST, "/sandboxes", sandbox_create),
	BOTH(TP_GET, "/sandboxes", sandbox_list),
	BOTH(TP_GET, "/sandboxes/{sandboxId}", sandbox_get),
	BOTH(TP_DELETE, "/sandboxes/{sandboxId}", sandbox_delete),
	BOTH(TP_POST, "/sandboxes/{sandboxId}/stop", sandbox_stop),
	BOTH(TP_GET, "/sandboxes/{sandboxId}/status", sandbox_status),
	BOTH(TP_POST, "/sandboxes/{sandboxId}/initialize", sandbox_initialize),
	BOTH(TP_GET, "/sandbox-images", image_list),
	BOTH(TP_GET, "/sandbox-images/{imageId}", image_get),
	BOTH(TP_POST, "/sandbox-images/sandbox/{sandboxId}", image_create),
	BOTH(TP_POST, "/sandbox-images/{imageId}/delete", image_delete),
	{ 0, NULL, NULL },
};

const struct rest_dialect rest_manager = {
	.name = "manager",
	.routes = routes,
	.unrouted = manager_unrouted,
	.prefixes = manager_prefixes,
	.fail_fields = manager_fail_fields,
};
