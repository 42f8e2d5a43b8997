/*
 * server/rest/agentbox.c — dialect 003, AgentBox (see agentbox.h and
 * docs/compat.md): authentication, users' own endpoints, health, and
 * environments (create, list, get, patch, delete).
 *
 * An environment is a session of the caller's principal (the same one MCP
 * clients see in session_list); what the session does not hold (the image
 * name as given, resources as written, labels, node selector, tolerations,
 * isolation, the lifetime) is this dialect's stored object of the same id
 * (rest_services' objects), kept in memory here and in the store across
 * restarts. Executions, logs and attach are in agentbox_exec.c; the
 * request plumbing they share is agentbox_int.h.
 */
#include "agentbox_int.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/log.h"
#include "../base/rights.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../base/banned.h"

#define VERSION "1.0.0"
#define CREATE_BODY_MAX (1u << 20)	/* the twin's MaxBytesReader */
#define LOGIN_BODY_MAX 4096
#define LIST_MAX 1000
#define SWEEP_MS 5000			/* how often lifetimes are checked */

/* {session id: the environment's spec} (owned): every environment this server knows. */
static json_t *envs;
static uv_timer_t *sweeper;
static unsigned pool_size;	/* the config's warm pool */
static void routes_fill(void);

/* ---- answers ---- */

void ab_send(struct tp_req *r, int status, json_t *body)
{
	tp_req_json_as(r, status, body, ab_go_json);
}

void ab_fail(struct tp_req *r, int status, const char *error, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ab_send(r, status, json_pack("{s:s, s:s, s:i}", "error", error, "message", msg, "code", status));
}

/* ---- authentication ---- */

int ab_authenticate(struct tp_req *r, bool websocket, char *principal, size_t cap, const char **why)
{
	char v[TP_KEY_MAX + 16];

	/* X-API-Key first: an API key only */
	if (!tp_req_header(r, "X-API-Key", v, sizeof(v)) && v[0]) {
		if (ab_jwt_like(v) || tp_req_authenticate(r, v, principal, cap) != 1) {
			*why = "invalid API key";
			return -1;
		}
		return 0;
	}
	if (tp_req_header(r, "Authorization", v, sizeof(v)) || !v[0]) {
		/* a browser's WebSocket cannot send headers: the subprotocol pair or ?token= */
		if (websocket && ab_ws_token(r, v, sizeof(v)) == 0)
			goto token;
		if (tp_req_authenticate(r, "", principal, cap) == 1)
			return 0; /* --auth none */
		*why = "missing authorization header";
		return -1;
	}
	/* exactly "Bearer" SP token, as the twin splits it */
	const char *sp = strchr(v, ' ');
	if (!sp || sp - v != 6 || strncmp(v, "Bearer", 6) || !sp[1] || strchr(sp + 1, ' ')) {
		*why = "invalid authorization header format";
		return -1;
	}
	memmove(v, sp + 1, strlen(sp + 1) + 1);
token:
	if (tp_req_authenticate(r, v, principal, cap) != 1) {
		*why = "invalid token or API key";
		return -1;
	}
	return 0;
}

bool ab_jwt_like(const char *s)
{
	const char *d1 = strchr(s, '.');
	return d1 && strchr(d1 + 1, '.') && !strncmp(s, "eyJ", 3);
}

int ab_ws_token(struct tp_req *r, char *out, size_t cap)
{
	char v[TP_KEY_MAX + 64];

	/* new WebSocket(url, ['Authorization', 'Bearer <token>']): the pair, in that order */
	if (!tp_req_header(r, "Sec-WebSocket-Protocol", v, sizeof(v))) {
		char *comma = strchr(v, ',');
		if (comma) {
			*comma = 0;
			char *a = v, *b = comma + 1;
			while (*a == ' ')
				a++;
			while (*b == ' ')
				b++;
			size_t n = strlen(b);
			while (n && b[n - 1] == ' ')
				b[--n] = 0;
			if (!strcasecmp(a, "Authorization") && !strncmp(b, "Bearer ", 7) && b[7] && strlen(b + 7) < cap) {
				memcpy(out, b + 7, strlen(b + 7) + 1);
				return 0;
			}
		}
	}
	if (!tp_req_query(r, "token", out, cap) && out[0])
		return 0;
	return -1;
}

void ab_set_base(struct abreq *a, void *arg)
{
	(void)arg;
	a->base = !strncmp(tp_req_path(a->r), "/compat/agentbox/", 17) ? "/compat/agentbox/api/v1" : "/api/v1";
}

const char *ab_user_name(const char *principal, char *out, size_t cap)
{
	const char *p = principal;
	size_t n = srv_principal_owner_len(principal);
	if (!strncmp(p, "admin:", 6)) {
		p += 6;
		n -= n >= 6 ? 6 : n;
	}
	if (strncmp(p, "user:", 5) || n <= 5)
		return NULL;
	snprintf(out, cap, "%.*s", (int)(n - 5), p + 5);
	return out;
}

/* ---- requests ---- */

struct abreq *ab_begin(struct tp_req *r, const char *param, size_t body_max, unsigned flags)
{
	struct abreq a = { .r = r };
	const char *why = NULL;

	if (!(flags & AB_PUBLIC) && ab_authenticate(r, false, a.principal, sizeof(a.principal), &why) < 0) {
		/* the twin's middleware writes these without a code; ours has it, as every other error */
		ab_fail(r, 401, "unauthorized", "%s", why);
		return NULL;
	}
	if (!(flags & AB_PUBLIC) && !(flags & AB_NO_RATE) && ab_rate(r, a.principal, flags) < 0)
		return NULL;
	if (param) {
		const char *id = tp_req_param(r, param);
		if (!id || !id[0] || strlen(id) > AB_MAX_ID) {
			ab_fail(r, 404, "environment not found", "environment not found");
			return NULL;
		}
		snprintf(a.id, sizeof(a.id), "%s", id);
	}
	if (body_max) {
		size_t len;
		tp_req_body(r, &len);
		json_error_t je;
		if (len > body_max) {
			ab_fail(r, 400, "invalid request body", "http: request body too large");
			return NULL;
		}
		a.body = len ? tp_req_body_json(r, JSON_REJECT_DUPLICATES, &je) : NULL;
		if (!a.body && (len || (flags & AB_BODY_REQUIRED))) {
			ab_fail(r, 400, "invalid request body", "%s", len ? je.text : "EOF");
			return NULL;
		}
		if (a.body && !json_is_object(a.body)) {
			ab_fail(r, 400, "invalid request body", "json: cannot unmarshal %s into a Go struct",
				json_is_array(a.body) ? "array" : "value");
			json_decref(a.body);
			return NULL;
		}
	}
	if (tp_req_header(r, "Host", a.host, sizeof(a.host)) || !a.host[0])
		snprintf(a.host, sizeof(a.host), "localhost");
	for (char *h = a.host; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-:[]", *h))
			*h = '_';
	a.conn = rest_conn("agentbox", a.principal);
	struct abreq *p = xcalloc(1, sizeof(*p));
	*p = a;
	return p;
}

void ab_free(struct abreq *a)
{
	json_decref(a->body);
	json_decref(a->work);
	json_decref(a->info);
	free(a);
}

void ab_finish(struct abreq *a, int status, json_t *body)
{
	if (body)
		ab_send(a->r, status, body);
	else
		tp_req_send(a->r, status, NULL, "", 0);
	ab_free(a);
}

void ab_finish_fail(struct abreq *a, int status, const char *error, const char *message)
{
	ab_fail(a->r, status, error, "%s", message ? message : error);
	ab_free(a);
}

/*
 * The status and short error of a tool's failure of class cls on r. The twin
 * says nothing of quotas: a rate limit (tp_req_rate_refused) is 429 "rate
 * limit exceeded" with its X-RateLimit headers; any other limit (a key's
 * quota, a session's disk limit: waiting does not lift it) is 403 "limit
 * exceeded", as Kubernetes answers an exceeded quota; the rest as every
 * dialect maps them (rest_status_of), *error left to the caller.
 */
int ab_status_of(struct tp_req *r, enum err_class cls, const char **error)
{
	int status = rest_status_of(r, cls);
	if (cls == ERR_LIMIT)
		*error = status == 429 ? "rate limit exceeded" : "limit exceeded";
	return status;
}

/* A tool's failure: not found is the dialect's 404; the rest its status with the request's own words. */
static void call_done(void *arg, json_t *result, enum err_class cls)
{
	struct abreq *a = arg;
	/* a program that failed (exit code, timeout) is an answer, not a failure of the call */
	bool ran = a->program && json_object_get(rest_result_data(result), "exit_code");
	if (rest_result_failed(result) && !ran) {
		void (*failed)(struct abreq *, enum err_class, const char *) = a->failed;
		const char *text = rest_message(rest_result_text(result));
		a->failed = NULL;
		if (failed) {
			failed(a, cls, text);
		} else if (cls == ERR_NOT_FOUND) {
			ab_finish_fail(a, 404, a->not_found ? a->not_found : "environment not found", NULL);
		} else {
			const char *error = NULL;
			int st = ab_status_of(a->r, cls, &error);
			ab_finish_fail(a, st, error ? error : st >= 500 && a->what ? a->what : st == 403 ? "forbidden"
				       : a->what ? a->what : "request failed", text);
		}
	} else {
		void (*next)(struct abreq *, json_t *) = a->next;
		a->next = NULL;
		a->failed = NULL;
		next(a, rest_result_data(result));
	}
	json_decref(result);
}

void ab_call(struct abreq *a, const char *tool, json_t *args, void (*next)(struct abreq *a, json_t *data))
{
	a->next = next;
	rest_call(a->r, a->principal, a->conn, tool, args, call_done, a);
}

/* ---- environments' specs ---- */

json_t *ab_env_spec(const char *id)
{
	return envs ? json_object_get(envs, id) : NULL;
}

enum srv_level ab_env_share(const char *principal, const char *id)
{
	if (!ab_env_spec(id))
		return SRV_LEVEL_NONE;
	if (ab_env_owned(principal, id))
		return SRV_LEVEL_OWNER;
	return rest_services() ? rest_services()->shared_level(principal, id) : SRV_LEVEL_NONE;
}

bool ab_env_reaches(const char *principal, const char *id)
{
	return ab_env_share(principal, id) != SRV_LEVEL_NONE;
}

bool ab_env_owned(const char *principal, const char *id)
{
	json_t *spec = ab_env_spec(id);
	const char *owner = spec ? json_string_value(json_object_get(spec, "owner")) : NULL;
	if (!owner)
		return false;
	if (srv_principal_is_admin(principal))
		return true;
	char o[SRV_PRINCIPAL_MAX];
	snprintf(o, sizeof(o), "%.*s", (int)srv_principal_owner_len(owner), owner);
	return srv_principal_owned_by(principal, o);
}

/* What principal's rights reach: 1 and *out; 0: every environment (no keys without serve); -1: none. */
static int reach_of(const char *principal, struct srv_rights *out)
{
	const struct rest_services *svc = rest_services();
	return !svc ? 0 : svc->rights(principal, out) ? 1 : -1;
}

/* Is environment id in what reach_of answered (a scoped key: one of its grants)? */
static bool reached(int reach, const struct srv_rights *rights, const char *id)
{
	return !reach || (reach > 0 && srv_rights_level(rights, id) != SRV_LEVEL_NONE);
}

static bool visible(const char *principal, const char *id)
{
	struct srv_rights rights;
	return reached(reach_of(principal, &rights), &rights, id);
}

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* Keep spec (borrowed) as environment id's, in memory and in the store (its owner: the spec's). */
static int spec_save(const char *id, json_t *spec)
{
	const struct rest_services *svc = rest_services();
	auto_err struct err *err = NULL;
	const char *owner = str(spec, "owner");

	json_object_set(envs, id, spec);
	if (svc && svc->object_put("agentbox", id, owner ? owner : "", json_integer_value(json_object_get(spec, "created_ms")),
				   spec, &err) < 0) {
		log_warn("agentbox: cannot store environment %s: %s", id, err_text(err));
		return -1;
	}
	return 0;
}

static void spec_forget(const char *id)
{
	const struct rest_services *svc = rest_services();
	auto_err struct err *err = NULL;

	json_object_del(envs, id);
	if (svc && svc->object_delete("agentbox", id, &err) < 0)
		log_warn("agentbox: cannot forget environment %s: %s", id, err_text(err));
}

static void set_if(json_t *out, const char *name, json_t *v)
{
	if (v && !json_is_null(v) && !(json_is_object(v) && !json_object_size(v)) &&
	    !(json_is_array(v) && !json_array_size(v)))
		json_object_set(out, name, v);
}

json_int_t ab_env_cpu_millis(json_t *spec, json_t *info)
{
	json_int_t cpu_ms = json_integer_value(json_object_get(json_object_get(info, "usage"), "cpu_ms"));
	json_int_t now = (json_int_t)wall_ms();
	json_t *last = json_object_get(spec, "cpu_sample");
	json_int_t t0 = json_integer_value(json_array_get(last, 0)), c0 = json_integer_value(json_array_get(last, 1));
	if (!last) {
		t0 = json_integer_value(json_object_get(spec, "created_ms"));
		c0 = 0;
	}
	/* the next one is measured from now, unless this one covers too short a time to say much */
	if (now - t0 >= 1000 || !last)
		json_object_set_new(spec, "cpu_sample", json_pack("[I, I]", now, cpu_ms));
	return now > t0 && cpu_ms >= c0 ? (cpu_ms - c0) * 1000 / (now - t0) : 0;
}

static json_t *cpu_usage(json_t *spec, json_t *info)
{
	char b[32];
	snprintf(b, sizeof(b), "%lldm", (long long)ab_env_cpu_millis(spec, info));
	return json_string(b);
}

json_t *ab_env_json(struct abreq *a, json_t *info, json_t *spec, bool detail)
{
	const char *id = str(info, "session_id");
	char b[512];
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(id));
	json_object_set(o, "name", json_object_get(spec, "name"));
	json_object_set_new(o, "status", json_string(ab_env_status(str(info, "status"))));
	json_object_set(o, "image", json_object_get(spec, "image"));
	json_object_set_new(o, "created_at", ab_time(str(info, "created_at")));
	if (str(info, "started_at"))
		json_object_set_new(o, "started_at", ab_time(str(info, "started_at")));
	json_object_set(o, "resources", json_object_get(spec, "resources"));
	snprintf(b, sizeof(b), "ws://%s%s/environments/%s/attach", a->host, a->base, id);
	json_object_set_new(o, "endpoint", json_string(b));
	snprintf(b, sizeof(b), "agentbox-%s", id);
	json_object_set_new(o, "namespace", json_string(b));
	if (detail && json_object_get(info, "usage")) {
		char mem[32];
		ab_bytes_string((uint64_t)json_integer_value(json_object_get(json_object_get(info, "usage"), "memory_bytes")),
				mem, sizeof(mem));
		json_object_set_new(o, "metrics", json_pack("{s:o, s:s}", "cpu_usage", cpu_usage(spec, info),
							    "memory_usage", mem));
	}
	set_if(o, "env", json_object_get(spec, "env"));
	set_if(o, "command", json_object_get(spec, "command"));
	set_if(o, "labels", json_object_get(spec, "labels"));
	json_t *t = json_object_get(spec, "timeout");
	if (json_integer_value(t))
		json_object_set(o, "timeout", t);
	set_if(o, "user_id", json_object_get(spec, "user_id"));
	set_if(o, "node_selector", json_object_get(spec, "node_selector"));
	set_if(o, "tolerations", json_object_get(spec, "tolerations"));
	set_if(o, "isolation", json_object_get(spec, "isolation"));
	return o;
}

/* ---- health ---- */

static void health_fields(json_t *out)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	char mem[32], cpu[32];
	ab_bytes_string(pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0, mem, sizeof(mem));
	snprintf(cpu, sizeof(cpu), "%ld", cpus > 0 ? cpus : 1);
	json_t *h = json_pack("{s:s, s:s, s:{s:b, s:s}, s:{s:i, s:s, s:s}}", "status", "healthy", "version", VERSION,
			      "kubernetes", "connected", 1, "version", "mcpbox-" MCPBOX_VERSION, "capacity", "total_nodes", 1,
			      "available_cpu", cpu, "available_memory", mem);
	json_object_update_missing(out, h);
	json_decref(h);
}

static void on_health(struct tp_req *r, void *arg)
{
	(void)arg;
	json_t *h = json_object();
	health_fields(h);
	ab_send(r, 200, h);
}

/* ---- auth: login, logout, me, change-password ---- */

/* The user object of a login or `me`: the twin's fields, from our user record. */
static json_t *user_json(json_t *u)
{
	const char *created = str(u, "created_at");
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", str(u, "name"), "username", str(u, "name"), "role",
			      str(u, "role"), "status", json_object_get(u, "disabled_at") ? "inactive" : "active",
			      "created_at", ab_time(created), "updated_at", ab_time(created));
	return o;
}

struct login_ctx {
	struct tp_req *r;
	char name[64];
};

static void logged_in(void *arg, const struct rest_login *res)
{
	struct login_ctx *l = arg;
	struct tp_req *r = l->r;
	auto_err struct err *err = NULL;
	json_t *u = NULL;

	if (!res->ok) {
		if (res->cls == ERR_LIMIT) {
			char retry[16];
			snprintf(retry, sizeof(retry), "%u", res->retry_after_s);
			tp_req_add_header(r, "Retry-After", retry);
			ab_fail(r, 429, "rate limit exceeded", "%s", res->message);
		} else if (res->cls == ERR_DENIED) {
			ab_fail(r, 401, "authentication failed", "invalid credentials");
		} else {
			ab_fail(r, 500, "authentication failed", "authentication failed");
		}
		free(l);
		return;
	}
	if (rest_services()->user_get(l->name, &u, &err) != 1) {
		ab_fail(r, 500, "authentication failed", "authentication failed");
		free(l);
		return;
	}
	char at[SRV_TIME_ISO_MAX];
	srv_time_iso(((int64_t)time(NULL) + (int64_t)res->expires_in) * 1000, false, at);
	tp_req_add_header(r, "Cache-Control", "no-store");
	ab_send(r, 200, json_pack("{s:s, s:o, s:s}", "token", res->token, "user", user_json(u), "expires_at", at));
	json_decref(u);
	free(l);
}

static void on_login(struct tp_req *r, void *arg)
{
	(void)arg;
	char peer[64];
	if (ab_rate(r, NULL, AB_RATE_AUTH) < 0)
		return;
	struct abreq *a = ab_begin(r, NULL, LOGIN_BODY_MAX, AB_PUBLIC | AB_BODY_REQUIRED);
	if (!a)
		return;
	json_t *name = json_object_get(a->body, "username"), *pw = json_object_get(a->body, "password");
	if ((name && !json_is_string(name)) || (pw && !json_is_string(pw)))
		return ab_finish_fail(a, 400, "invalid request body", "json: cannot unmarshal into Go struct field of type string");
	if (!json_string_length(name) || !json_string_length(pw))
		return ab_finish_fail(a, 400, "invalid request", "username and password are required");
	if (!rest_services())
		return ab_finish_fail(a, 503, "service unavailable", "logins are not served here");
	struct login_ctx *l = xcalloc(1, sizeof(*l));
	l->r = r;
	snprintf(l->name, sizeof(l->name), "%s", json_string_value(name));
	tp_req_peer(r, peer, sizeof(peer));
	rest_services()->login(json_string_value(name), json_string_value(pw), json_string_length(pw), peer, logged_in, l);
	explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
	ab_free(a);
}

static void on_logout(struct tp_req *r, void *arg)
{
	(void)arg;
	char v[TP_KEY_MAX + 16];
	auto_err struct err *err = NULL;

	if (ab_rate(r, NULL, AB_RATE_AUTH) < 0)
		return;
	/*
	 * Public, as the twin's: always 204. A login token in Authorization is
	 * revoked (refused everywhere from now on, until it would have expired);
	 * an API key, no credential or a token that is not valid has nothing to
	 * revoke (keys are revoked with DELETE /api-keys/{id}).
	 */
	if (rest_services() && !tp_req_header(r, "Authorization", v, sizeof(v)) && !strncmp(v, "Bearer ", 7) &&
	    ab_jwt_like(v + 7) && rest_services()->logout(v + 7, &err) < 0)
		return ab_fail(r, 500, "failed to logout", "failed to logout");
	tp_req_send(r, 204, NULL, "", 0);
}

/* `me` of a key: what the key is (there is no user behind it). */
static void on_me(struct tp_req *r, void *arg)
{
	(void)arg;
	struct abreq *a = ab_begin(r, NULL, 0, AB_RATE_AUTH);
	auto_err struct err *err = NULL;
	json_t *u = NULL;
	if (!a)
		return;
	char nb[64];
	const char *name = ab_user_name(a->principal, nb, sizeof(nb));
	if (!name) {
		/* a key of its own (`mcpbox key create`): there is no user behind it */
		const char *id = srv_principal_key_id(a->principal) ? srv_principal_key_id(a->principal) : a->principal;
		return ab_finish(a, 200, json_pack("{s:s, s:s, s:s, s:s}", "id", id, "username", id, "role",
						   srv_principal_is_admin(a->principal) ? "admin" : "user", "status", "active"));
	}
	if (!rest_services() || rest_services()->user_get(name, &u, &err) != 1)
		return ab_finish_fail(a, 401, "not authenticated", "not authenticated");
	ab_finish(a, 200, user_json(u));
	json_decref(u);
}

static void password_changed(void *arg, const struct rest_login *res)
{
	struct tp_req *r = arg;
	if (res->ok) {
		ab_send(r, 200, json_pack("{s:s}", "message", "password changed successfully"));
		return;
	}
	switch (res->cls) {
	case ERR_DENIED: ab_fail(r, 401, "invalid current password", "invalid current password"); break;
	case ERR_INVALID: ab_fail(r, 400, "validation failed", "new password must be at least 8 characters"); break;
	case ERR_LIMIT: ab_fail(r, 429, "rate limit exceeded", "%s", res->message); break;
	default: ab_fail(r, 500, "failed to change password", "failed to change password"); break;
	}
}

static void on_change_password(struct tp_req *r, void *arg)
{
	(void)arg;
	char peer[64];
	struct abreq *a = ab_begin(r, NULL, LOGIN_BODY_MAX, AB_BODY_REQUIRED | AB_RATE_AUTH);
	if (!a)
		return;
	char nb[64];
	const char *name = srv_principal_key_id(a->principal) ? NULL : ab_user_name(a->principal, nb, sizeof(nb));
	json_t *cur = json_object_get(a->body, "current_password"), *nw = json_object_get(a->body, "new_password");
	if (!cur)
		cur = json_object_get(a->body, "old_password");
	if (!name)
		return ab_finish_fail(a, 400, "invalid request", "an API key has no password: log in as a user");
	if (!json_is_string(cur) || !json_is_string(nw) || !json_string_length(cur) || !json_string_length(nw))
		return ab_finish_fail(a, 400, "invalid request", "current_password and new_password are required");
	if (json_string_length(nw) < 8)
		return ab_finish_fail(a, 400, "validation failed", "new password must be at least 8 characters");
	tp_req_peer(r, peer, sizeof(peer));
	rest_services()->change_password(name, json_string_value(cur), json_string_length(cur), json_string_value(nw),
					 json_string_length(nw), peer, password_changed, r);
	ab_free(a);
}

/* ---- environments: create ---- */

/* What the request asks that mcpbox cannot honour, said rather than ignored: 0, or -1 and msg. */
static int unsupported(json_t *body, char *msg, size_t cap)
{
	json_t *np = json_object_get(json_object_get(body, "isolation"), "network_policy");
	json_t *sc = json_object_get(json_object_get(body, "isolation"), "security_context");
	json_t *v;

	if (json_array_size(json_object_get(np, "allowed_egress_cidrs"))) {
		snprintf(msg, cap, "isolation.network_policy.allowed_egress_cidrs is not supported: an environment reaches "
			 "either the internet (allow_internet: true, never private or host addresses) or nothing");
		return -1;
	}
	if (json_is_true(json_object_get(np, "allow_cluster_internal"))) {
		snprintf(msg, cap, "isolation.network_policy.allow_cluster_internal is not supported: environments never "
			 "reach each other or the host");
		return -1;
	}
	if (json_array_size(json_object_get(np, "allowed_ingress_ports"))) {
		snprintf(msg, cap, "isolation.network_policy.allowed_ingress_ports is not supported: nothing outside "
			 "reaches into an environment except through exec and attach");
		return -1;
	}
	static const char *const ids[] = { "run_as_user", "run_as_group" };
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		v = json_object_get(sc, ids[i]);
		if (v && !json_is_null(v) && json_integer_value(v) != AB_SANDBOX_ID) {
			snprintf(msg, cap, "isolation.security_context.%s %lld is not supported: programs in an environment "
				 "always run as uid and gid %d (not root)", ids[i], (long long)json_integer_value(v),
				 AB_SANDBOX_ID);
			return -1;
		}
	}
	if (json_is_true(json_object_get(sc, "allow_privilege_escalation"))) {
		snprintf(msg, cap, "isolation.security_context.allow_privilege_escalation: true is not supported: programs "
			 "run with no_new_privs and no capabilities");
		return -1;
	}
	if (json_is_false(json_object_get(sc, "read_only_root_filesystem"))) {
		snprintf(msg, cap, "isolation.security_context.read_only_root_filesystem: false is not supported: the root "
			 "file system is always read-only (only /workspace and /tmp are writable)");
		return -1;
	}
	return 0;
}

static void env_created(struct abreq *a, json_t *info)
{
	const char *id = str(info, "session_id");
	json_t *spec = a->work;
	a->work = NULL;
	spec_save(id, spec);
	json_decref(a->info); /* the arguments kept for a retry without cpus */
	a->info = json_incref(info);
	if (json_array_size(json_object_get(spec, "command")))
		ab_start_command(a, spec);
	ab_finish(a, 201, ab_env_json(a, info, spec, false));
	json_decref(spec);
}

/* session_create failed: an unknown image is the caller's mistake; no CPU controller is retried without it. */
static void create_failed(struct abreq *a, enum err_class cls, const char *text)
{
	if (cls == ERR_UNAVAILABLE && json_object_get(a->info, "cpus")) {
		/* no cpu cgroup controller on this host: the CPU is then not capped, as memory falls back to rlimits */
		json_t *args = json_incref(a->info);
		json_object_del(args, "cpus");
		json_decref(a->info);
		a->info = NULL;
		a->failed = create_failed;
		ab_call(a, "session_create", args, env_created);
		return;
	}
	if (cls == ERR_NOT_FOUND) {
		const char *m = strstr(text, "template ");
		ab_finish_fail(a, 400, "validation failed", m ? m + 9 : text);
		return;
	}
	const char *error = NULL;
	int st = ab_status_of(a->r, cls, &error);
	ab_finish_fail(a, st, error ? error : st == 403 ? "forbidden" : "failed to create environment", text);
}

static void env_create(struct tp_req *r, void *arg)
{
	(void)arg;
	struct abreq *a = ab_begin(r, NULL, CREATE_BODY_MAX, AB_BODY_REQUIRED | AB_RATE_CREATE);
	char msg[512];
	uint64_t cpu, mem, disk;
	int rc;

	if (!a)
		return;
	ab_set_base(a, arg);
	struct srv_rights rights;
	if (ab_allowed(a, AB_NEED_OWNER | AB_NEED_WRITE, NULL) < 0)
		return;
	if (rest_services() && rest_services()->rights(a->principal, &rights) && rights.ngrants)
		return ab_finish_fail(a, 403, "insufficient permissions", "a key scoped to environments cannot create "
				      "environments");
	if ((rc = ab_env_validate(a->body, msg, sizeof(msg))) < 0)
		return ab_finish_fail(a, 400, rc == -2 ? "invalid request body" : "validation failed", msg);
	if (unsupported(a->body, msg, sizeof(msg)) < 0)
		return ab_finish_fail(a, 400, "validation failed", msg);
	json_t *res = json_object_get(a->body, "resources");
	ab_quantity_parse(AB_CPU, str(res, "cpu"), &cpu, msg, sizeof(msg));
	ab_quantity_parse(AB_MEMORY, str(res, "memory"), &mem, msg, sizeof(msg));
	/* storage: the session's disk limit (disk_mb, rounded up to MiB; the server's limits.disk caps it) */
	ab_quantity_parse(AB_STORAGE, str(res, "storage"), &disk, msg, sizeof(msg));
	if (mem < (16u << 20))
		return ab_finish_fail(a, 400, "validation failed", "invalid resources: memory must be at least 16Mi here "
				      "(the smallest sandbox)");
	json_t *np = json_object_get(json_object_get(a->body, "isolation"), "network_policy");
	json_t *args = json_pack("{s:s, s:s, s:I, s:f, s:b, s:I}", "template", str(a->body, "image"), "name",
				 str(a->body, "name"), "memory_mb", (json_int_t)((mem + (1u << 20) - 1) >> 20), "cpus",
				 (double)cpu / 1000.0, "network", json_is_true(json_object_get(np, "allow_internet")),
				 "disk_mb", (json_int_t)((disk + (1u << 20) - 1) >> 20));
	json_t *env = json_object_get(a->body, "env");
	if (json_object_size(env)) {
		json_t *e = json_object();
		const char *k;
		json_t *v;
		json_object_foreach(env, k, v)
			json_object_set_new(e, k, json_string(json_string_value(v) ? json_string_value(v) : ""));
		json_object_set_new(args, "env", e);
	}
	/* the spec: what the request said, as the twin answers it, and what the dialect keeps */
	json_t *spec = json_object();
	static const char *const kept[] = { "name", "image", "resources", "env", "command", "labels", "timeout",
					    "node_selector", "tolerations", "isolation" };
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		set_if(spec, kept[i], json_object_get(a->body, kept[i]));
	json_object_set_new(spec, "resources", json_pack("{s:s, s:s, s:s}", "cpu", str(res, "cpu"), "memory",
							 str(res, "memory"), "storage", str(res, "storage")));
	char nb[64];
	json_object_set_new(spec, "user_id", json_string(ab_user_name(a->principal, nb, sizeof(nb)) ? nb
						       : srv_principal_key_id(a->principal) ? srv_principal_key_id(a->principal)
						       : a->principal));
	json_int_t now = (json_int_t)wall_ms(), life = json_integer_value(json_object_get(a->body, "timeout"));
	json_object_set_new(spec, "created_ms", json_integer(now));
	json_object_set_new(spec, "owner", json_string(a->principal));
	json_object_set_new(spec, "expires_ms", json_integer(now + (life ? life : AB_DEFAULT_TIMEOUT) * 1000));
	a->work = spec;
	a->info = json_deep_copy(args);
	a->failed = create_failed;
	ab_call(a, "session_create", args, env_created);
}

/* ---- list ---- */

struct listed {
	json_t *spec, *info;
	json_int_t created;
};

static int by_created(const void *x, const void *y)
{
	const struct listed *a = x, *b = y;
	if (a->created != b->created)
		return a->created < b->created ? -1 : 1;
	return strcmp(str(a->info, "session_id"), str(b->info, "session_id"));
}

static void env_listed(struct abreq *a, json_t *data)
{
	json_t *sessions = json_object_get(data, "sessions"), *s;
	size_t i, n = 0, cap = json_array_size(sessions);
	struct listed *l = xcalloc(cap ? cap : 1, sizeof(*l));
	char msg[256];
	const char *sel = str(a->work, "label"), *status = str(a->work, "status");
	struct srv_rights rights;
	int reach = reach_of(a->principal, &rights);	/* once, not once a session */

	json_array_foreach(sessions, i, s) {
		json_t *spec = ab_env_spec(str(s, "session_id"));
		if (!spec || !reached(reach, &rights, str(s, "session_id")))
			continue;
		if (status && strcmp(ab_env_status(str(s, "status")), status))
			continue;
		int m = sel ? ab_selector_match(sel, json_object_get(spec, "labels"), msg, sizeof(msg)) : 1;
		if (m < 0) {
			free(l);
			return ab_finish_fail(a, 400, "invalid label selector", msg);
		}
		if (!m)
			continue;
		l[n++] = (struct listed){ spec, s, json_integer_value(json_object_get(spec, "created_ms")) };
	}
	qsort(l, n, sizeof(*l), by_created);
	json_int_t limit = json_integer_value(json_object_get(a->work, "limit"));
	json_int_t offset = json_integer_value(json_object_get(a->work, "offset"));
	json_t *arr = json_array();
	for (size_t k = (size_t)offset; k < n && (json_int_t)(k - (size_t)offset) < limit; k++)
		json_array_append_new(arr, ab_env_json(a, l[k].info, l[k].spec, false));
	free(l);
	ab_finish(a, 200, json_pack("{s:o, s:I, s:I, s:I}", "environments", arr, "total", (json_int_t)n, "limit",
				    limit, "offset", offset));
}

/* A query integer as the twin reads it: absent or unreadable keeps def; else at least min. */
static json_int_t query_int(struct tp_req *r, const char *name, json_int_t def, json_int_t min)
{
	char v[32], *end;
	if (tp_req_query(r, name, v, sizeof(v)) || !v[0])
		return def;
	long long n = strtoll(v, &end, 10);
	return *end || n < min ? def : (json_int_t)n;
}

static void env_list(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, NULL, 0, 0);
	char status[32], label[1024];
	if (!a)
		return;
	ab_set_base(a, arg);
	a->work = json_object();
	if (!tp_req_query(r, "status", status, sizeof(status)) && status[0]) {
		if (!ab_env_status_valid(status))
			return ab_finish_fail(a, 400, "invalid status", "status must be one of pending, running, "
					      "terminating, terminated, failed");
		json_object_set_new(a->work, "status", json_string(status));
	}
	if (!tp_req_query(r, "label", label, sizeof(label)) && label[0])
		json_object_set_new(a->work, "label", json_string(label));
	json_int_t limit = query_int(r, "limit", 100, 1);
	json_object_set_new(a->work, "limit", json_integer(limit > LIST_MAX ? LIST_MAX : limit));
	json_object_set_new(a->work, "offset", json_integer(query_int(r, "offset", 0, 0)));
	a->what = "failed to list environments";
	ab_call(a, "session_list", json_object(), env_listed);
}

/* ---- get, patch, delete ---- */

int ab_allowed(struct abreq *a, unsigned flags, const char *sid)
{
	struct srv_rights rights;
	char why[256];
	unsigned cap = flags & AB_NEED_EXECUTE ? SRV_CAP_EXECUTE : flags & AB_NEED_WRITE ? SRV_CAP_WRITE : SRV_CAP_READ;
	enum srv_level level = flags & AB_NEED_OWNER ? SRV_LEVEL_OWNER : flags & AB_NEED_EDITOR ? SRV_LEVEL_EDITOR
			     : SRV_LEVEL_VIEWER;
	const struct rest_services *svc = rest_services();

	if (!svc)
		return 0; /* no keys without serve */
	if (!svc->rights(a->principal, &rights)) {
		ab_finish_fail(a, 401, "unauthorized", "invalid token or API key");
		return -1;
	}
	if (!srv_rights_allow(&rights, cap, level, sid, why, sizeof(why))) {
		ab_finish_fail(a, 403, "insufficient permissions", why);
		return -1;
	}
	enum srv_level shared = sid ? ab_env_share(a->principal, sid) : SRV_LEVEL_OWNER;
	if (shared != SRV_LEVEL_NONE && shared < level) {
		snprintf(why, sizeof(why), "environment %s is shared with this user as %s; this needs %s", sid,
			 srv_level_name(shared), srv_level_name(level));
		ab_finish_fail(a, 403, "insufficient permissions", why);
		return -1;
	}
	return 0;
}

struct abreq *ab_begin_env(struct tp_req *r, void *arg, size_t body_max, unsigned flags)
{
	struct abreq *a = ab_begin(r, "id", body_max, flags);
	if (!a)
		return NULL;
	ab_set_base(a, arg);
	/* a key scoped to other environments does not learn that this one exists */
	if (!ab_env_spec(a->id) || !visible(a->principal, a->id)) {
		ab_finish_fail(a, 404, "environment not found", NULL);
		return NULL;
	}
	return ab_allowed(a, flags, a->id) < 0 ? NULL : a;
}

static void env_got(struct abreq *a, json_t *info)
{
	ab_finish(a, 200, ab_env_json(a, info, ab_env_spec(a->id), true));
}

static void env_get(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin_env(r, arg, 0, 0);
	if (a)
		ab_call(a, "session_info", json_pack("{s:s}", "session_id", a->id), env_got);
}

/* PATCH applied: the spec kept (a->work), the answer from the session as it is now. */
static void env_updated(struct abreq *a, json_t *info)
{
	json_t *whole = a->work;
	a->work = NULL;
	spec_save(a->id, whole);
	ab_finish(a, 200, ab_env_json(a, info, whole, false));
	json_decref(whole);
}

static void update_failed(struct abreq *a, enum err_class cls, const char *text)
{
	if (cls == ERR_UNAVAILABLE)
		return ab_finish_fail(a, 400, "validation failed", "resources.cpu cannot be changed here: this host has no "
				      "cpu cgroup controller to keep a CPU cap");
	const char *error = NULL;
	int st = ab_status_of(a->r, cls, &error);
	ab_finish_fail(a, st, error ? error : "failed to update environment", text);
}

/*
 * What a PATCH changes in the running session (session_update): memory, CPU
 * and storage of resources, variables of env (added or changed; a variable cannot be
 * removed from a running environment). NULL: nothing; -1 answered.
 */
static int session_changes(struct abreq *a, json_t *spec, json_t *whole, json_t **out)
{
	json_t *args = json_pack("{s:s}", "session_id", a->id);
	json_t *res = json_object_get(whole, "resources"), *old = json_object_get(spec, "resources");
	char msg[160];
	uint64_t v;
	*out = NULL;
	if (!json_equal(json_object_get(res, "memory"), json_object_get(old, "memory"))) {
		ab_quantity_parse(AB_MEMORY, str(res, "memory"), &v, msg, sizeof(msg));
		if (v < (16u << 20)) {
			json_decref(args);
			ab_finish_fail(a, 400, "validation failed", "invalid resources: memory must be at least 16Mi here "
				       "(the smallest sandbox)");
			return -1;
		}
		json_object_set_new(args, "memory_mb", json_integer((json_int_t)((v + (1u << 20) - 1) >> 20)));
	}
	if (!json_equal(json_object_get(res, "cpu"), json_object_get(old, "cpu"))) {
		ab_quantity_parse(AB_CPU, str(res, "cpu"), &v, msg, sizeof(msg));
		json_object_set_new(args, "cpus", json_real((double)v / 1000.0));
	}
	if (!json_equal(json_object_get(res, "storage"), json_object_get(old, "storage"))) {
		ab_quantity_parse(AB_STORAGE, str(res, "storage"), &v, msg, sizeof(msg));
		json_object_set_new(args, "disk_mb", json_integer((json_int_t)((v + (1u << 20) - 1) >> 20)));
	}
	json_t *env = json_object_get(whole, "env"), *was = json_object_get(spec, "env"), *x;
	const char *k;
	json_object_foreach(was, k, x) {
		if (!json_object_get(env, k)) {
			json_decref(args);
			snprintf(msg, sizeof(msg), "env: %.64s cannot be removed from a running environment (set it to \"\" "
				 "instead)", k);
			ab_finish_fail(a, 400, "validation failed", msg);
			return -1;
		}
	}
	if (!json_equal(env, was) && json_object_size(env)) {
		json_t *e = json_object();
		json_object_foreach(env, k, x)
			json_object_set_new(e, k, json_string(json_string_value(x) ? json_string_value(x) : ""));
		json_object_set_new(args, "env", e);
	}
	if (json_object_size(args) > 1)
		*out = args;
	else
		json_decref(args);
	return 0;
}

/* PATCH: what can change without a new sandbox; the image and command must stay as they are. */
static void env_patched(struct abreq *a, json_t *info)
{
	json_t *spec = ab_env_spec(a->id);
	json_t *b = a->body;
	static const char *const fixed[] = { "image", "command" };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		json_t *want = json_object_get(b, fixed[i]);
		if (want && !json_is_null(want) && !json_equal(want, json_object_get(spec, fixed[i])))
			return ab_finish_fail(a, 400, "validation failed", i == 0
					      ? "image cannot be changed: create a new environment"
					      : "command cannot be changed: it was started when the environment was created");
	}
	/* the result must pass the create rules as a whole */
	static const char *const changeable[] = { "name", "resources", "env", "timeout", "labels", "node_selector",
						  "tolerations", "isolation" };
	json_t *whole = json_deep_copy(spec);
	for (size_t i = 0; i < ARRAY_SIZE(changeable); i++) {
		json_t *v = json_object_get(b, changeable[i]);
		if (v && !json_is_null(v))
			json_object_set(whole, changeable[i], v);
	}
	char msg[512];
	int rc = ab_env_validate(whole, msg, sizeof(msg));
	if (rc == 0 && json_object_get(b, "isolation") &&
	    (!json_equal(json_object_get(json_object_get(b, "isolation"), "network_policy"),
			 json_object_get(json_object_get(spec, "isolation"), "network_policy")) ||
	     !json_equal(json_object_get(json_object_get(b, "isolation"), "security_context"),
			 json_object_get(json_object_get(spec, "isolation"), "security_context")))) {
		rc = -1;
		snprintf(msg, sizeof(msg), "isolation.network_policy and isolation.security_context cannot be changed while "
			 "the environment exists: create a new one");
	}
	if (rc < 0) {
		json_decref(whole);
		return ab_finish_fail(a, 400, rc == -2 ? "invalid request body" : "validation failed", msg);
	}
	json_t *t = json_object_get(b, "timeout");
	if (t && !json_is_null(t)) {
		json_int_t life = json_integer_value(t);
		json_object_set_new(whole, "expires_ms", json_integer(json_integer_value(json_object_get(spec, "created_ms")) +
								   (life ? life : AB_DEFAULT_TIMEOUT) * 1000));
	}
	json_t *update;
	if (session_changes(a, spec, whole, &update) < 0) {
		json_decref(whole);
		return;
	}
	a->work = whole;
	if (!update)
		return env_updated(a, info);
	a->failed = update_failed;
	ab_call(a, "session_update", update, env_updated);
}

static void env_patch(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin_env(r, arg, CREATE_BODY_MAX, AB_BODY_REQUIRED | AB_NEED_EDITOR | AB_NEED_WRITE);
	if (!a)
		return;
	a->what = "failed to update environment";
	/* session_info first: the caller must see the session, not only know its id */
	ab_call(a, "session_info", json_pack("{s:s}", "session_id", a->id), env_patched);
}

static void env_deleted(struct abreq *a, json_t *data)
{
	(void)data;
	spec_forget(a->id);
	ab_finish(a, 204, NULL);
}

static void env_delete(struct tp_req *r, void *arg)
{
	char force[16];
	struct abreq *a = ab_begin_env(r, arg, 0, AB_NEED_OWNER | AB_NEED_WRITE);
	if (!a)
		return;
	/* force or not, the sandbox and everything in it end at once (there is no graceful stop to wait for) */
	if (!tp_req_query(r, "force", force, sizeof(force)) && force[0] && strcmp(force, "true") && strcmp(force, "false") &&
	    strcmp(force, "1") && strcmp(force, "0"))
		return ab_finish_fail(a, 400, "invalid request", "force must be true or false");
	a->what = "failed to delete environment";
	ab_call(a, "session_destroy", json_pack("{s:s}", "session_id", a->id), env_deleted);
}

static void env_retried(struct abreq *a, json_t *info)
{
	(void)info;
	ab_finish(a, 202, json_pack("{s:s}", "status", "retry_triggered"));
}

/* retry: a failed or stopped environment gets a new sandbox on its workspace (session_start). */
static void env_retry_found(struct abreq *a, json_t *info)
{
	const char *st = str(info, "status");
	if (st && (!strcmp(st, "failed") || !strcmp(st, "stopped")))
		return ab_call(a, "session_start", json_pack("{s:s}", "session_id", a->id), env_retried);
	env_retried(a, info);
}

static void env_retry(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin_env(r, arg, 0, AB_NEED_EDITOR | AB_NEED_WRITE);
	if (!a)
		return;
	a->what = "failed to retry reconciliation";
	ab_call(a, "session_info", json_pack("{s:s}", "session_id", a->id), env_retry_found);
}

/* ---- lifetimes ---- */

static void expired_done(void *arg, json_t *result, enum err_class cls)
{
	char *id = arg;
	(void)cls;
	/* gone either way: destroyed now, or no longer there */
	spec_forget(id);
	log_info("agentbox: environment %s reached its lifetime%s", id, rest_result_failed(result) ? " (already gone)" : "");
	json_decref(result);
	free(id);
}

/*
 * An environment's session was destroyed another way (session_destroy, its idle end): its spec
 * would stay, in memory and in the store, for each one made and destroyed so. Marked here (a request
 * may be using it), forgotten by the next sweep.
 */
static void agentbox_session_gone(const char *id)
{
	json_t *spec = ab_env_spec(id);
	if (spec)
		json_object_set_new(spec, "gone", json_true());
}

static void sweep(uv_timer_t *t)
{
	(void)t;
	json_int_t now = (json_int_t)wall_ms();
	const char *id;
	json_t *spec;
	void *tmp;
	json_object_foreach_safe(envs, tmp, id, spec) {
		if (json_is_true(json_object_get(spec, "gone"))) {
			spec_forget(id);
			continue;
		}
		json_t *exp = json_object_get(spec, "expires_ms");
		if (!exp || json_integer_value(exp) > now || json_is_true(json_object_get(spec, "expiring")))
			continue;
		json_object_set_new(spec, "expiring", json_true());
		const char *owner = str(spec, "owner");
		rest_call(NULL, owner ? owner : "", rest_conn("agentbox", owner ? owner : ""), "session_destroy",
			  json_pack("{s:s}", "session_id", id), expired_done, xstrdup(id));
	}
}

static void load_one(void *arg, const char *id, const char *owner, int64_t created_ms, json_t *doc)
{
	(void)arg;
	(void)created_ms;
	json_object_set_new(doc, "owner", json_string(owner));
	json_object_set(envs, id, doc);
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

static void agentbox_init(const struct srv_config *cfg)
{
	auto_err struct err *err = NULL;
	routes_fill();
	pool_size = cfg->pool_size;
	envs = json_object();
	if (rest_services() && rest_services()->object_list("agentbox", load_one, NULL, &err) < 0)
		log_warn("agentbox: cannot read the stored environments: %s", err_text(err));
	ab_rate_init(cfg);
	ab_attach_routes();
	sweeper = xcalloc(1, sizeof(*sweeper));
	uv_timer_init(uv_default_loop(), sweeper);
	uv_timer_start(sweeper, sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)sweeper);
}

static void agentbox_release(void)
{
	json_decref(envs);
	envs = NULL;
	ab_rate_release();
	if (sweeper) {
		uv_timer_stop(sweeper);
		uv_close((uv_handle_t *)sweeper, timer_closed);
		sweeper = NULL;
	}
}

/* ---- the dialect ---- */

static void agentbox_unrouted(struct tp_req *r, bool wrong_method)
{
	if (wrong_method)
		ab_fail(r, 405, "method not allowed", "%s is not served for %s", tp_req_method_name(r), tp_req_path(r));
	else
		ab_fail(r, 404, "not found", "no such endpoint: %s", tp_req_path(r));
}

/* Under /api/v1 (shared with 000): its envelope keeps its error object; message and code are added. */
static void agentbox_fail_fields(json_t *out, int status, const char *message)
{
	if (!json_object_get(out, "error"))
		json_object_set_new(out, "error", json_string(status == 405 ? "method not allowed" : "not found"));
	json_object_set_new(out, "message", json_string(message));
	json_object_set_new(out, "code", json_integer(status));
}

static const char *const agentbox_prefixes[] = { "/api/v1", NULL };

static const struct rest_route env_routes[] = {
	{ TP_GET, "/api/v1/health", on_health },
	{ TP_POST, "/api/v1/auth/login", on_login },
	{ TP_POST, "/api/v1/auth/logout", on_logout },
	{ TP_GET, "/api/v1/auth/me", on_me },
	{ TP_POST, "/api/v1/auth/change-password", on_change_password },
	{ TP_POST, "/api/v1/environments", env_create },
	{ TP_GET, "/api/v1/environments", env_list },
	{ TP_GET, "/api/v1/environments/{id}", env_get },
	{ TP_PATCH, "/api/v1/environments/{id}", env_patch },
	{ TP_DELETE, "/api/v1/environments/{id}", env_delete },
	{ TP_POST, "/api/v1/environments/{id}/retry", env_retry },
	AB_EXEC_ROUTES,
	{ 0, NULL, NULL },
};

/* the dialect's routes: env_routes, then agentbox_admin.c's (filled by init, before the router reads them) */
static struct rest_route all_routes[ARRAY_SIZE(env_routes) + 24];

static void routes_fill(void)
{
	size_t n = 0;
	for (const struct rest_route *rt = env_routes; rt->path; rt++)
		all_routes[n++] = *rt;
	for (const struct rest_route *rt = ab_admin_routes; rt->path; rt++) {
		assert(n + 1 < ARRAY_SIZE(all_routes));
		all_routes[n++] = *rt;
	}
	all_routes[n] = (struct rest_route){ 0, NULL, NULL };
}

unsigned ab_pool_size(void)
{
	return pool_size;
}

const struct rest_dialect rest_agentbox = {
	.name = "agentbox",
	.routes = all_routes,
	.health = health_fields,
	.unrouted = agentbox_unrouted,
	.prefixes = agentbox_prefixes,
	.fail_fields = agentbox_fail_fields,
	.init = agentbox_init,
	.release = agentbox_release,
	.session_gone = agentbox_session_gone,
};
