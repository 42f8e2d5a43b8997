#include "mcp.h"
#include "base/buf.h"
#include "base/common.h"
#include "../fixtures/catalog.h"
#include "resources.h"
#include "base/log.h"
#include "base/banned.h"

#include <stdarg.h>
#include <string.h>

/* Newest first: the answer to an unknown version is the first one. */
static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05" };

struct mcp_conn {
	bool initialized;		/* notifications/initialized seen */
	char version[16];
	int log_level;			/* minimum level sent to this client; -1: none chosen yet */
	struct tool_conn tools;
	struct res_conn *res;		/* its resource subscriptions (resources.c) */
};

static unsigned nconns;
static bool fixtures;

unsigned mcp_connections(void)
{
	return nconns;
}

static struct mcp_conn *conn_state(struct srv_conn *c)
{
	struct mcp_conn *m = srv_conn_app_data(c);
	if (!m) {
		m = xcalloc(1, sizeof(*m));
		m->log_level = LOG_LVL_INFO;
		if (srv_conn_scope(c))
			m->tools.bound_session = xstrdup(srv_conn_scope(c));
		m->tools.max_answer = srv_conn_max_answer(c);
		srv_conn_set_app_data(c, m);
		nconns++;
	}
	return m;
}

void mcp_log(struct srv_conn *c, int lvl, const char *logger, const char *fmt, ...)
{
	struct mcp_conn *m = conn_state(c);
	struct buf b = BUF_INIT;
	va_list ap;

	if (lvl < m->log_level || srv_conn_closing(c))
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	srv_conn_notify(c, "notifications/message",
			json_pack("{s:s, s:s, s:s}", "level", log_level_name(lvl), "logger", logger, "data", b.data));
	buf_release(&b);
}

/* ---- the tools' caller: a tools/call request ---------------------------- */

static void call_finish(void *ctx, json_t *result, enum err_class cls)
{
	/* the error's class has no place in a CallToolResult: its text says it */
	srv_req_result(ctx, result);
}

static bool call_wants_progress(void *ctx)
{
	return srv_req_progress_token(ctx) != NULL;
}

static void call_progress(void *ctx, double progress, double total, const char *msg)
{
	srv_req_progress(ctx, progress, total, msg);
}

static void call_log(void *ctx, int lvl, const char *msg)
{
	struct srv_req *r = ctx;
	struct srv_conn *c = srv_req_conn(r);
	struct mcp_conn *m = conn_state(c);

	if (lvl < m->log_level || srv_conn_closing(c))
		return;
	srv_req_notify(r, "notifications/message",
		       json_pack("{s:s, s:s, s:s}", "level", log_level_name(lvl), "logger", "mcpbox", "data", msg));
}

static void call_on_cancel(void *ctx, void (*fn)(void *arg), void *arg)
{
	srv_req_on_cancel(ctx, fn, arg);
}

static void call_ask(void *ctx, const char *method, json_t *params, tool_reply_cb cb, void *arg)
{
	srv_req_ask(ctx, method, params, cb, arg);
}

/* A refusal is a JSON-RPC error with the retry time (and, over HTTP, a 429 with headers). */
static bool call_rate(void *ctx, const struct srv_rate_verdict *v)
{
	srv_req_rate(ctx, v);
	if (!v->refused)
		return false;
	srv_req_error_data(ctx, RPC_RATE_LIMITED,
			   json_pack("{s:I, s:s, s:I, s:I}", "retry_after_ms", (json_int_t)v->retry_after_ms, "category",
				     srv_rate_cat_name(v->cat), "limit", (json_int_t)v->limit, "reset",
				     (json_int_t)srv_rate_reset_epoch(v)),
			   "Rate limit exceeded for %s calls (%llu at once, refilled over a minute): retry after %llu ms",
			   srv_rate_cat_name(v->cat), (unsigned long long)v->limit, (unsigned long long)v->retry_after_ms);
	return true;
}

static const struct tool_caller_ops mcp_caller = {
	.rate = call_rate,
	.finish = call_finish,
	.wants_progress = call_wants_progress,
	.progress = call_progress,
	.log = call_log,
	.on_cancel = call_on_cancel,
	.ask = call_ask,
};

static void do_initialize(struct srv_req *req, struct mcp_conn *m, json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	const char *v = versions[0];

	if (!asked) {
		srv_req_error(req, RPC_INVALID_PARAMS, "initialize: params.protocolVersion (a string) is required");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
		if (!strcmp(asked, versions[i]))
			v = versions[i];
	snprintf(m->version, sizeof(m->version), "%s", v);
	json_decref(m->tools.client_caps);
	m->tools.client_caps = json_incref(json_object_get(params, "capabilities"));
	json_t *caps = json_pack("{s:{s:b}, s:{}, s:o}", "tools", "listChanged", 0, "logging", "resources",
				 res_capability());
	if (fixtures) {
		/* advertised only when the catalog that serves them is on */
		json_object_set_new(caps, "prompts", json_pack("{s:b}", "listChanged", 0));
		json_object_set_new(caps, "completions", json_object());
	}
	json_t *res = json_pack(
		"{s:s, s:o, s:{s:s, s:s, s:s}, s:s}", "protocolVersion", v, "capabilities", caps,
		"serverInfo", "name", "mcpbox", "title", "mcpbox sandbox", "version",
		MCPBOX_VERSION, "instructions",
		"mcpbox gives you an isolated Linux computer. Use execute to run python, javascript or shell "
		"code; the working directory is /workspace, which the file_* tools read and write. No set-up "
		"is needed: without session_id every tool uses this connection's own sandbox. Create more "
		"with session_create (network: true for internet access where the server allows it).");
	srv_req_result(req, res);
}

static void mcp_request(struct srv_req *req, const char *method, json_t *params)
{
	struct srv_conn *c = srv_req_conn(req);
	struct mcp_conn *m = conn_state(c);

	if (!strcmp(method, "initialize")) {
		do_initialize(req, m, params);
	} else if (!strcmp(method, "ping")) {
		srv_req_result(req, json_object());
	} else if (!strcmp(method, "tools/list")) {
		if (json_object_get(params, "cursor")) {
			srv_req_error(req, RPC_INVALID_PARAMS, "tools/list: unknown cursor");
			return;
		}
		srv_req_result(req, tool_registry_list(&m->tools, srv_conn_principal(c)));
	} else if (!strcmp(method, "tools/call")) {
		json_t *name = json_object_get(params, "name");
		json_t *args = json_object_get(params, "arguments");
		if (!json_is_string(name)) {
			srv_req_error(req, RPC_INVALID_PARAMS, "tools/call: params.name (a string) is required");
			return;
		}
		if (args && !json_is_object(args) && !json_is_null(args)) {
			srv_req_error(req, RPC_INVALID_PARAMS, "tools/call: params.arguments must be an object");
			return;
		}
		if (!tool_registry_has(&m->tools, json_string_value(name))) {
			srv_req_error(req, RPC_INVALID_PARAMS, "Unknown tool: %s", json_string_value(name));
			return;
		}
		struct tool_caller caller = {
			.ops = &mcp_caller, .ctx = req, .principal = srv_conn_principal(c), .conn = &m->tools,
		};
		tool_registry_call(&caller, json_string_value(name), json_is_object(args) ? args : NULL);
	} else if (!strcmp(method, "logging/setLevel")) {
		const char *lvl = json_string_value(json_object_get(params, "level"));
		int l = lvl ? log_level_parse(lvl) : -1;
		if (l < 0) {
			srv_req_error(req, RPC_INVALID_PARAMS,
				      "logging/setLevel: level must be one of debug, info, notice, warning, error, "
				      "critical, alert, emergency");
			return;
		}
		m->log_level = l;
		srv_req_result(req, json_object());
	} else if (!strncmp(method, "resources/", 10)) {
		res_request(req, &m->res, &m->tools, method, params);
	} else if (fixtures && !strncmp(method, "prompts/", 8)) {
		fixtures_prompts(req, method, params);
	} else if (fixtures && !strcmp(method, "completion/complete")) {
		fixtures_complete(req, params);
	} else {
		srv_req_error(req, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
	}
}

static void mcp_notification(struct srv_conn *c, const char *method, json_t *params)
{
	struct mcp_conn *m = conn_state(c);

	if (!strcmp(method, "notifications/initialized")) {
		m->initialized = true;
	} else if (!strcmp(method, "notifications/cancelled")) {
		json_t *id = json_object_get(params, "requestId");
		struct srv_req *r = id ? srv_conn_find(c, id) : NULL;
		/* unknown or finished ids are ignored, as the spec asks */
		if (r)
			srv_req_cancel(r);
	}
}

static void mcp_closed(struct srv_conn *c)
{
	struct mcp_conn *m = conn_state(c);
	res_conn_free(m->res);
	m->res = NULL;
	tool_conn_release(&m->tools);
}

static void mcp_release_conn(struct srv_conn *c)
{
	struct mcp_conn *m = srv_conn_app_data(c);
	if (!m)
		return;
	res_conn_free(m->res);
	tool_conn_release(&m->tools);
	free(m);
	nconns--;
}

/* A tool's answer too long for the connection: an isError result the model can act on. */
static json_t *mcp_oversize(struct srv_req *req, const char *method, size_t len, size_t max)
{
	(void)req;
	if (strcmp(method, "tools/call"))
		return NULL; /* a JSON-RPC error */
	struct buf b = BUF_INIT;
	buf_addf(&b, "The answer is %zu bytes, more than this connection carries in one message (%zu bytes; "
		 "config stdio_max_answer): ask for less at once (file_read with a smaller length, then offset; "
		 "execute or job_wait with a smaller max_bytes).", len, max);
	json_t *res = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", b.data, "isError", 1);
	buf_release(&b);
	return res;
}

const struct srv_app mcp_app = {
	.request = mcp_request,
	.notification = mcp_notification,
	.closed = mcp_closed,
	.release = mcp_release_conn,
	.oversize = mcp_oversize,
};

void mcp_init(const struct tool_env *env)
{
	fixtures = env->fixtures;
	tool_registry_init(env);
	res_init(env);
}

void mcp_release(void)
{
	tool_registry_release();
}
