/*
 * server/rest/soulbox.c — dialect 004, SoulBox (see soulbox.h and
 * docs/compat.md): the dialect's table, the parts that make it up, and what
 * every part shares (errors, credential, rate limits, pagination).
 *
 * The document (api-reference.md of RcityHunter/soulbox) is the only
 * contract: its server implements none of it. Its base URL is /api, its
 * WebSockets are under /ws; everything is also served under
 * /compat/soulbox/.
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/config.h"
#include "../base/log.h"
#include "../base/rate.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/banned.h"

#define PREFIX "/compat/soulbox"
#define MAX_ROUTES 128
#define PAGE_DEFAULT 50
#define PAGE_MAX 1000

/* The files of the dialect (soulbox.h says how to add one). */
static const struct sb_part *const parts[] = {
	&sb_part_sandbox,
	&sb_part_exec,
	&sb_part_files,
	&sb_part_ws,
	&sb_part_monitor,
	&sb_part_keys,
	NULL,
};

/* Every part's routes, gathered at init (the dialect's table points here). */
static struct rest_route all_routes[MAX_ROUTES + 1];

/* ---- errors ---- */

static const char *const code_names[] = {
	[SB_VALIDATION_ERROR] = "VALIDATION_ERROR",
	[SB_AUTHENTICATION_REQUIRED] = "AUTHENTICATION_REQUIRED",
	[SB_INSUFFICIENT_PERMISSIONS] = "INSUFFICIENT_PERMISSIONS",
	[SB_RESOURCE_NOT_FOUND] = "RESOURCE_NOT_FOUND",
	[SB_RESOURCE_LIMIT_EXCEEDED] = "RESOURCE_LIMIT_EXCEEDED",
	[SB_EXECUTION_TIMEOUT] = "EXECUTION_TIMEOUT",
	[SB_EXECUTION_ERROR] = "EXECUTION_ERROR",
	[SB_SYSTEM_ERROR] = "SYSTEM_ERROR",
};

const char *sb_code_name(enum sb_code code)
{
	return (unsigned)code < ARRAY_SIZE(code_names) ? code_names[code] : "SYSTEM_ERROR";
}

int sb_status_of(struct tp_req *r, enum err_class cls, enum sb_code *code)
{
	static const enum sb_code codes[] = {
		[ERR_INTERNAL] = SB_SYSTEM_ERROR,
		[ERR_INVALID] = SB_VALIDATION_ERROR,
		[ERR_NOT_FOUND] = SB_RESOURCE_NOT_FOUND,
		[ERR_CONFLICT] = SB_VALIDATION_ERROR,
		[ERR_DENIED] = SB_INSUFFICIENT_PERMISSIONS,
		[ERR_LIMIT] = SB_RESOURCE_LIMIT_EXCEEDED,
		[ERR_UNAVAILABLE] = SB_SYSTEM_ERROR,
		[ERR_TIMEOUT] = SB_EXECUTION_TIMEOUT,
	};
	size_t i = (unsigned)cls < ARRAY_SIZE(codes) ? (size_t)cls : ERR_INTERNAL;
	*code = codes[i];
	return rest_status_of(r, (enum err_class)i);
}

void sb_ws_refusal(int status, const char *why, struct buf *out)
{
	enum sb_code code = status == 401 ? SB_AUTHENTICATION_REQUIRED : status == 403 ? SB_INSUFFICIENT_PERMISSIONS
			  : status == 404 ? SB_RESOURCE_NOT_FOUND : status == 429 ? SB_RESOURCE_LIMIT_EXCEEDED
			  : status < 500 ? SB_VALIDATION_ERROR : SB_SYSTEM_ERROR;
	json_t *body = sb_error_json(code, why, NULL, NULL, NULL);
	srv_json_write(out, body);
	json_decref(body);
}

void sb_request_id(char *out)
{
	unsigned char b[8];
	srv_random_bytes(b, sizeof(b));
	memcpy(out, "req_", 4);
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", b[i]);
}

json_t *sb_error_json(enum sb_code code, const char *message, const char *field, const char *reason,
		      const char *request_id)
{
	char id[SB_REQ_ID_MAX];
	json_t *details = json_object();

	if (!request_id) {
		sb_request_id(id);
		request_id = id;
	}
	if (field)
		json_object_set_new(details, "field", json_string(field));
	if (reason)
		json_object_set_new(details, "reason", json_string(reason));
	return json_pack("{s:{s:s, s:s, s:o, s:s}}", "error", "code", sb_code_name(code), "message", message,
			 "details", details, "request_id", request_id);
}

/* Answer with a request id both in the header and (for failures) in the body. */
static void answer(struct tp_req *r, int status, json_t *body, const char *id)
{
	tp_req_add_header(r, "X-Request-ID", id);
	tp_req_json(r, status, body);
}

void sb_json(struct tp_req *r, int status, json_t *body)
{
	char id[SB_REQ_ID_MAX];
	const char *given = json_string_value(json_object_get(json_object_get(body, "error"), "request_id"));
	if (given)
		snprintf(id, sizeof(id), "%s", given); /* an error made with sb_error_json: the same id */
	else
		sb_request_id(id);
	answer(r, status, body, id);
}

/* The document's example: a field's failure says "Invalid request parameters" and puts the why in reason. */
static void fail_text(struct tp_req *r, int status, enum sb_code code, const char *field, const char *text)
{
	char id[SB_REQ_ID_MAX];
	sb_request_id(id);
	json_t *body = field ? sb_error_json(code, "Invalid request parameters", field, text, id)
			     : sb_error_json(code, text, NULL, NULL, id);
	answer(r, status, body, id);
}

static void fail_va(struct tp_req *r, int status, enum sb_code code, const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));
static void fail_va(struct tp_req *r, int status, enum sb_code code, const char *field, const char *fmt, va_list ap)
{
	char text[1024];
	vsnprintf(text, sizeof(text), fmt, ap);
	fail_text(r, status, code, field, text);
}

void sb_fail(struct tp_req *r, int status, enum sb_code code, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_va(r, status, code, field, fmt, ap);
	va_end(ap);
}

const char *sb_message_of(enum err_class cls, const char *message, char *buf, size_t cap)
{
	const char *q;

	if (!message || !*message)
		return "Internal system error";
	message = rest_message(message);
	/* the tools say 'session "ID" not found (argument session_id): ...' with MCP's advice: a sandbox here */
	if (cls == ERR_NOT_FOUND && !strncmp(message, "session \"", 9) && (q = strchr(message + 9, '"')) &&
	    !strncmp(q, "\" not found", 11)) {
		snprintf(buf, cap, "Sandbox %.*s not found", (int)(q - message - 9 < 200 ? q - message - 9 : 200), message + 9);
		return buf;
	}
	return message;
}

void sb_fail_class(struct tp_req *r, enum err_class cls, const char *message)
{
	enum sb_code code;
	int status = sb_status_of(r, cls, &code);
	char text[300];
	fail_text(r, status, code, NULL, sb_message_of(cls, message, text, sizeof(text)));
}

/* ---- who calls ---- */

static const struct {
	const char *name;	/* in config compat.soulbox.rate_limits */
	uint64_t per_minute;	/* the document's */
} bucket_defaults[SB_RATE_NBUCKETS] = {
	[SB_RATE_REQUESTS] = { "requests", 100 },
	[SB_RATE_EXECUTIONS] = { "executions", 20 },
	[SB_RATE_UPLOADS] = { "uploads", 10 },
};
static struct srv_rate *rates[SB_RATE_NBUCKETS];

/*
 * One table per bucket, each using the core's "requests" category: the
 * document's limits are the dialect's own, beside the core's per-tool ones.
 * compat.soulbox.rate_limits {requests, executions, uploads} (per minute,
 * 0: off) replaces the document's numbers.
 */
static void rates_init(const struct srv_config *cfg)
{
	json_t *conf = json_object_get(json_object_get(cfg->compat, "soulbox"), "rate_limits");
	for (size_t i = 0; i < SB_RATE_NBUCKETS; i++) {
		uint64_t n = bucket_defaults[i].per_minute;
		json_t *v = json_object_get(conf, bucket_defaults[i].name);
		struct srv_rate_limit l = { n, n };
		auto_err struct err *err = NULL;
		char what[64];
		snprintf(what, sizeof(what), "compat.soulbox.rate_limits.%s", bucket_defaults[i].name);
		if (v && srv_rate_limit_parse(v, what, &l, &err) < 0) {
			log_warn("%s (the document's %" PRIu64 " a minute is used)", err_text(err), n);
			l = (struct srv_rate_limit){ n, n };
		}
		struct srv_rate_config rc = { .principals = cfg->rate.principals ? cfg->rate.principals : 10000 };
		rc.cat[SRV_RATE_REQUESTS] = l;
		rates[i] = srv_rate_new(&rc);
	}
}

static void rates_release(void)
{
	for (size_t i = 0; i < SB_RATE_NBUCKETS; i++) {
		srv_rate_free(rates[i]);
		rates[i] = NULL;
	}
}

bool sb_rate_take(const char *principal, enum sb_bucket bucket, uint64_t *retry_after_ms)
{
	struct srv_rate_verdict v;
	*retry_after_ms = 0;
	if (!srv_rate_take(rates[bucket], principal, SRV_RATE_REQUESTS, now_ns(), &v) || !v.refused)
		return true;
	*retry_after_ms = v.retry_after_ms;
	return false;
}

int sb_begin(struct tp_req *r, enum sb_bucket bucket, char *principal)
{
	char key[TP_KEY_MAX];
	struct srv_rate_verdict v;

	tp_req_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, principal, SB_PRINCIPAL_MAX) != 1) {
		if (key[0])
			sb_fail(r, 401, SB_AUTHENTICATION_REQUIRED, NULL, "Invalid API key or token");
		else
			sb_fail(r, 401, SB_AUTHENTICATION_REQUIRED, NULL,
				"Authentication is required: send X-API-Key or Authorization: Bearer");
		return -1;
	}
	if (srv_rate_take(rates[bucket], principal, SRV_RATE_REQUESTS, now_ns(), &v)) {
		tp_req_rate_headers(r, &v);
		if (v.refused) {
			sb_fail(r, 429, SB_RESOURCE_LIMIT_EXCEEDED, NULL,
				"Rate limit exceeded: %" PRIu64 " %s per minute per key; retry in %" PRIu64 " s", v.per_minute,
				bucket_defaults[bucket].name, (v.retry_after_ms + 999) / 1000);
			return -1;
		}
	}
	return 0;
}

int sb_body(struct tp_req *r, bool required, json_t **out)
{
	size_t len;
	tp_req_body(r, &len);
	json_error_t je;
	json_t *j = NULL;

	*out = NULL;
	if (len) {
		j = tp_req_body_json(r, JSON_REJECT_DUPLICATES, &je);
		if (!j) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "body", "Malformed JSON: %s (at character %d)", je.text,
				je.position);
			return -1;
		}
		if (!json_is_object(j)) {
			json_decref(j);
			sb_fail(r, 400, SB_VALIDATION_ERROR, "body", "The request body must be a JSON object");
			return -1;
		}
	} else if (required) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "body", "A JSON body is required");
		return -1;
	}
	*out = j;
	return 0;
}

struct tool_conn *sb_conn(const char *principal)
{
	return rest_conn("soulbox", principal);
}

/* ---- pagination ---- */

/* A decimal count from 0 to max: 0, or -1. */
static int parse_count(const char *s, size_t max, size_t *out)
{
	size_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (size_t)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* Cursors are "o" and the offset they continue at (opaque to clients: given in X-Pagination-Next-Cursor). */
#define CURSOR_TAG 'o'
#define OFFSET_MAX 100000000

int sb_page_query(struct tp_req *r, struct sb_page *p)
{
	char v[32];
	bool has_offset = false;

	p->limit = PAGE_DEFAULT;
	p->offset = 0;
	if (!tp_req_query(r, "limit", v, sizeof(v)) && (parse_count(v, PAGE_MAX, &p->limit) || !p->limit)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "limit", "limit must be an integer from 1 to %d", PAGE_MAX);
		return -1;
	}
	if (!tp_req_query(r, "offset", v, sizeof(v))) {
		if (parse_count(v, OFFSET_MAX, &p->offset)) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "offset", "offset must be an integer from 0 to %d",
				OFFSET_MAX);
			return -1;
		}
		has_offset = true;
	}
	if (!tp_req_query(r, "cursor", v, sizeof(v)) && v[0]) {
		if (has_offset) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "cursor", "Give either cursor or offset, not both");
			return -1;
		}
		if (v[0] != CURSOR_TAG || parse_count(v + 1, OFFSET_MAX, &p->offset)) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "cursor", "Invalid cursor (use X-Pagination-Next-Cursor)");
			return -1;
		}
	}
	return 0;
}

json_t *sb_page_apply(struct tp_req *r, const struct sb_page *p, json_t *items, size_t *total)
{
	size_t n = json_array_size(items);
	json_t *page = json_array();
	char num[32];

	for (size_t i = p->offset; i < n && i < p->offset + p->limit; i++)
		json_array_append(page, json_array_get(items, i));
	json_decref(items);
	snprintf(num, sizeof(num), "%zu", n);
	tp_req_add_header(r, "X-Pagination-Total", num);
	snprintf(num, sizeof(num), "%zu", p->limit);
	tp_req_add_header(r, "X-Pagination-Limit", num);
	snprintf(num, sizeof(num), "%zu", p->offset);
	tp_req_add_header(r, "X-Pagination-Offset", num);
	if (p->offset + p->limit < n) {
		static const char *const drop[] = { "offset", "limit", "cursor", NULL };
		struct buf b = BUF_INIT;
		buf_adds(&b, tp_req_path(r));
		tp_req_query_string(r, drop, &b);
		buf_addf(&b, "%coffset=%zu&limit=%zu", strchr(b.data, '?') ? '&' : '?', p->offset + p->limit,
			 p->limit);
		tp_req_add_header(r, "X-Pagination-Next", b.data);
		snprintf(num, sizeof(num), "%c%zu", CURSOR_TAG, p->offset + p->limit);
		tp_req_add_header(r, "X-Pagination-Next-Cursor", num);
		buf_release(&b);
	}
	if (total)
		*total = n;
	return page;
}

/* ---- a request's chain of tool calls ---- */

struct sb_call *sb_call_new(struct tp_req *r, const char *principal, json_t *body)
{
	struct sb_call *c = xcalloc(1, sizeof(*c));
	c->r = r;
	snprintf(c->principal, sizeof(c->principal), "%s", principal);
	c->conn = sb_conn(principal);
	c->body = body;
	return c;
}

void sb_call_free(struct sb_call *c)
{
	free(c->pending_tool);
	json_decref(c->pending_args);
	json_decref(c->body);
	json_decref(c->keep);
	if (c->ext_free)
		c->ext_free(c->ext);
	free(c);
}

/*
 * A step failed (result borrowed): on_fail takes the chain, else the client is
 * answered, unless none waits (an async execution answered 202 before its
 * chain ran: c->r is NULL), and the chain ends.
 */
static void call_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	if (c->on_fail) {
		c->on_fail(c, result, cls);
		return;
	}
	if (c->r)
		sb_fail_class(c->r, cls, rest_result_text(result));
	sb_call_free(c);
}

static void call_done(void *arg, json_t *result, enum err_class cls)
{
	struct sb_call *c = arg;
	if (rest_result_failed(result)) {
		call_failed(c, result, cls);
	} else {
		void (*next)(struct sb_call *, json_t *) = c->next;
		c->next = NULL;
		next(c, rest_result_data(result));
	}
	json_decref(result);
}

json_t *sb_sandbox_named(json_t *list, const char *name, const char **id, enum err_class *cls)
{
	unsigned n = 0;
	size_t i;
	json_t *s;

	json_array_foreach(json_object_get(list, "sessions"), i, s) {
		const char *sn = json_string_value(json_object_get(s, "name"));
		if (sn && !strcmp(sn, name) && !json_is_true(json_object_get(s, "implicit"))) {
			*id = json_string_value(json_object_get(s, "session_id"));
			n++;
		}
	}
	if (n == 1)
		return NULL;
	*id = NULL;
	*cls = n ? ERR_CONFLICT : ERR_NOT_FOUND;
	struct buf msg = BUF_INIT;
	if (n)
		buf_addf(&msg, "%u sandboxes are named %.200s: name one by its sandbox_id", n, name);
	else
		buf_addf(&msg, "Sandbox %.200s not found", name);
	json_t *failed = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg.data, "isError", 1);
	buf_release(&msg);
	return failed;
}

static void named_found(struct sb_call *c, json_t *data)
{
	char *tool = steal_ptr(c->pending_tool);
	json_t *args = steal_ptr(c->pending_args);
	const char *name = json_string_value(json_object_get(args, "session_id"));
	const char *id;
	enum err_class cls;
	json_t *failed = sb_sandbox_named(data, name, &id, &cls);

	if (failed) {
		/* the step failed as the tool would have: the chain's on_fail sees it too */
		free(tool);
		json_decref(args);
		call_failed(c, failed, cls);
		json_decref(failed);
		return;
	}
	if (!strcmp(c->id, name))
		snprintf(c->id, sizeof(c->id), "%s", id);
	json_object_set_new(args, "session_id", json_string(id));
	c->next = c->pending_next;
	rest_call(c->r, c->principal, c->conn, tool, args, call_done, c);
	free(tool);
}

void sb_call_tool(struct sb_call *c, const char *tool, json_t *args, void (*next)(struct sb_call *c, json_t *data))
{
	const char *sid = json_string_value(json_object_get(args, "session_id"));
	if (sid && strncmp(sid, "ses_", 4)) {
		/* a name: find the sandbox first, then make the call with its id (next is kept for it) */
		c->pending_tool = xstrdup(tool);
		c->pending_args = args;
		c->pending_next = next;
		c->next = named_found;
		rest_call(c->r, c->principal, c->conn, "session_list", json_object(), call_done, c);
		return;
	}
	c->next = next;
	rest_call(c->r, c->principal, c->conn, tool, args, call_done, c);
}

struct sb_call *sb_call_path(struct tp_req *r, const char *param, int body)
{
	char principal[SB_PRINCIPAL_MAX];
	json_t *b = NULL;
	const char *id = tp_req_param(r, param);
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return NULL;
	if (!id || !*id || strlen(id) > 256) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, param, "%s must be 1 to 256 characters", param);
		return NULL;
	}
	if (body && sb_body(r, body > 1, &b))
		return NULL;
	struct sb_call *c = sb_call_new(r, principal, body && !b ? json_object() : b);
	snprintf(c->id, sizeof(c->id), "%s", id);
	return c;
}

int sb_call_page(struct sb_call *c)
{
	struct sb_page page;
	if (sb_page_query(c->r, &page)) {
		sb_call_free(c);
		return -1;
	}
	c->ext = xcalloc(1, sizeof(page));
	*(struct sb_page *)c->ext = page;
	c->ext_free = free;
	return 0;
}

static void forgotten(void *arg, json_t *result, enum err_class cls)
{
	(void)arg;
	(void)cls;
	json_decref(result);
}

void sb_call_forget(struct sb_call *c, const char *tool, json_t *args)
{
	rest_call(NULL, c->principal, c->conn, tool, args, forgotten, NULL);
}

void sb_call_answer(struct sb_call *c, int status, json_t *body)
{
	sb_json(c->r, status, body);
	sb_call_free(c);
}

void sb_call_fail(struct sb_call *c, int status, enum sb_code code, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_va(c->r, status, code, field, fmt, ap);
	va_end(ap);
	sb_call_free(c);
}

/* ---- small helpers ---- */

json_t *sb_time(const char *iso)
{
	if (!iso || strlen(iso) < 19)
		return json_null();
	char b[24];
	snprintf(b, sizeof(b), "%.19sZ", iso);
	return json_string(b);
}

int64_t sb_memory_mb(const json_t *v)
{
	uint64_t bytes;
	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0)
			return -1;
		bytes = (uint64_t)json_integer_value(v);
	} else {
		const char *s = json_string_value(v);
		char *end;
		if (!s || !isdigit((unsigned char)*s))
			return -1;
		double n = strtod(s, &end);
		static const struct {
			const char *suffix;
			double mult;
		} units[] = {
			{ "", 1 }, { "B", 1 }, { "K", 1024 }, { "KB", 1024 }, { "KI", 1024 }, { "KIB", 1024 },
			{ "M", 1 << 20 }, { "MB", 1 << 20 }, { "MI", 1 << 20 }, { "MIB", 1 << 20 },
			{ "G", 1 << 30 }, { "GB", 1 << 30 }, { "GI", 1 << 30 }, { "GIB", 1 << 30 },
			{ "T", 1099511627776.0 }, { "TB", 1099511627776.0 }, { "TI", 1099511627776.0 },
			{ "TIB", 1099511627776.0 },
		};
		size_t i;
		for (i = 0; i < ARRAY_SIZE(units) && strcasecmp(end, units[i].suffix); i++)
			;
		if (i == ARRAY_SIZE(units) || !(n > 0) || n * units[i].mult > 1e15)
			return -1;
		bytes = (uint64_t)(n * units[i].mult);
	}
	uint64_t mb = (bytes + (1u << 20) - 1) >> 20;
	return mb < 16 || mb > (1u << 30) ? -1 : (int64_t)mb;
}

json_t *sb_memory_str(uint64_t mb)
{
	char b[32];
	if (mb && !(mb % 1024))
		snprintf(b, sizeof(b), "%" PRIu64 "G", mb / 1024);
	else
		snprintf(b, sizeof(b), "%" PRIu64 "M", mb);
	return json_string(b);
}

const char *sb_runtime_of(const char *language)
{
	if (!language)
		return "bash";
	if (!strcmp(language, "javascript"))
		return "nodejs";
	if (!strcmp(language, "shell"))
		return "bash";
	return language;
}

/* ---- the dialect ---- */

static void soulbox_unrouted(struct tp_req *r, bool wrong_method)
{
	if (wrong_method)
		sb_fail(r, 405, SB_VALIDATION_ERROR, "method", "%s is not served for %s", tp_req_method_name(r),
			tp_req_path(r));
	else
		sb_fail(r, 404, SB_RESOURCE_NOT_FOUND, NULL, "No such endpoint: %s", tp_req_path(r));
}

/* A failure under /api that no route takes (nor a longer prefix: /api/v1 is other dialects'). */
static void soulbox_fail_fields(json_t *out, int status, const char *message)
{
	json_t *e = sb_error_json(status == 405 ? SB_VALIDATION_ERROR : SB_RESOURCE_NOT_FOUND, message,
				  status == 405 ? "method" : NULL, NULL, NULL);

	json_object_update(out, e);
	json_decref(e);
}

static const char *const soulbox_prefixes[] = { "/api", NULL };

static void soulbox_init(const struct srv_config *cfg)
{
	size_t n = 0;

	rates_init(cfg);
	for (size_t i = 0; parts[i]; i++) {
		for (const struct rest_route *rt = parts[i]->routes; rt && rt->path; rt++) {
			if (n == MAX_ROUTES) {
				log_error("soulbox: more than %d routes (raise MAX_ROUTES)", MAX_ROUTES);
				abort();
			}
			all_routes[n++] = *rt;
		}
		for (const struct sb_ws_route *w = parts[i]->ws; w && w->path; w++) {
			struct buf b = BUF_INIT;
			tp_ws_route(w->path, w->ops, NULL);
			buf_addf(&b, PREFIX "%s", w->path);
			tp_ws_route(b.data, w->ops, NULL);
			buf_release(&b);
		}
		if (parts[i]->init)
			parts[i]->init(cfg);
	}
	all_routes[n] = (struct rest_route){ 0, NULL, NULL };
}

static void soulbox_release(void)
{
	for (size_t i = 0; parts[i]; i++)
		if (parts[i]->release)
			parts[i]->release();
	rates_release();
}

const struct rest_dialect rest_soulbox = {
	.name = "soulbox",
	.routes = all_routes,
	.unrouted = soulbox_unrouted,
	.prefixes = soulbox_prefixes,
	.fail_fields = soulbox_fail_fields,
	.init = soulbox_init,
	.release = soulbox_release,
};
