/*
 * server/rest/agentbox_admin.c — dialect 003's accounts and numbers (see
 * docs/compat.md): API keys (server/auth.h through rest_services: a key
 * never holds more than its creator), users (administrators), per-user
 * environment permissions (refused: mcpbox shares sessions through scoped
 * keys, not between users), metrics from the sessions' own usage (cgroups),
 * and the warm pool.
 */
#include "agentbox_int.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/rights.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/banned.h"

#define ADMIN_BODY_MAX 4096	/* the twin's user and key bodies */
#define KEY_BODY_MAX (64u << 10)
#define DAY_MS (86400ll * 1000)

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* The document's words for a level: read, write, admin. */
static const char *level_word(const char *level)
{
	enum srv_level l = srv_level_parse(level);
	return l == SRV_LEVEL_OWNER ? "admin" : l == SRV_LEVEL_EDITOR ? "write" : "read";
}

static json_t *key_permissions(json_t *k)
{
	json_t *out = json_array(), *g;
	size_t i;
	json_array_foreach(json_object_get(k, "sessions"), i, g)
		json_array_append_new(out, json_pack("{s:s, s:s}", "environment_id", str(g, "session_id"), "permission",
						     level_word(str(g, "level"))));
	return out;
}

/* A key as the document lists it; make: the create answer (with the secret). */
static json_t *key_json(json_t *k, bool made)
{
	json_t *o = json_pack("{s:s}", "id", str(k, "id"));
	if (made)
		json_object_set(o, "key", json_object_get(k, "key"));
	json_object_set_new(o, "key_prefix", json_stringn(str(k, "id"), 8));
	json_object_set_new(o, "description", json_string(str(k, "description") ? str(k, "description") : ""));
	json_object_set_new(o, "created_at", ab_time(str(k, "created_at")));
	if (str(k, "expires_at"))
		json_object_set_new(o, "expires_at", ab_time(str(k, "expires_at")));
	if (!made && str(k, "last_used_at")) {
		json_object_set_new(o, "last_used_at", ab_time(str(k, "last_used_at")));
		json_object_set_new(o, "last_used", ab_time(str(k, "last_used_at")));
	}
	if (str(k, "revoked_at"))
		json_object_set_new(o, "revoked_at", ab_time(str(k, "revoked_at")));
	json_t *perms = key_permissions(k);
	if (json_array_size(perms) || made)
		json_object_set_new(o, "permissions", perms);
	else
		json_decref(perms);
	return o;
}

/* The keys a's caller sees (new), or NULL when a was answered. */
static json_t *keys_seen(struct abreq *a)
{
	auto_err struct err *err = NULL;
	json_t *keys = NULL;
	if (rest_services()->key_list(a->principal, &keys, &err) < 0) {
		ab_finish_fail(a, 500, "failed to list API keys", err_text(err));
		return NULL;
	}
	return keys;
}

static void keys_list(struct tp_req *r, void *arg)
{
	(void)arg;
	struct abreq *a = ab_begin(r, NULL, 0, 0);
	json_t *keys = a ? keys_seen(a) : NULL, *k;
	size_t i;
	if (!keys)
		return;
	json_t *out = json_array();
	json_array_foreach(keys, i, k)
		json_array_append_new(out, key_json(k, false));
	json_decref(keys);
	ab_finish(a, 200, json_pack("{s:o}", "api_keys", out));
}

/*
 * Can the caller give a key level on environment id? It must reach it: its
 * own, or one shared with its user, then at most at the shared level (its
 * credential's own level there is checked on making). false: why in msg.
 */
static bool may_grant(struct abreq *a, const char *id, enum srv_level level, char *msg, size_t cap)
{
	struct srv_rights rights;
	enum srv_level held = ab_env_share(a->principal, id);
	if (held == SRV_LEVEL_NONE || !rest_services()->rights(a->principal, &rights) ||
	    srv_rights_level(&rights, id) == SRV_LEVEL_NONE) {
		snprintf(msg, cap, "cannot grant a permission on environment %.80s: not one of yours", id);
		return false;
	}
	if (level > held) {
		snprintf(msg, cap, "cannot grant %s on environment %.80s: it is shared with this user as %s",
			 srv_level_name(level), id, srv_level_name(held));
		return false;
	}
	return true;
}

static void keys_create(struct tp_req *r, void *arg)
{
	(void)arg;
	struct abreq *a = ab_begin(r, NULL, KEY_BODY_MAX, 0);
	if (!a)
		return;
	struct srv_rights want = { 0 };
	auto_err struct err *err = NULL;
	json_t *made = NULL, *p;
	size_t i;
	json_t *desc = json_object_get(a->body, "description"), *exp = json_object_get(a->body, "expires_in");
	json_t *perms = json_object_get(a->body, "permissions");
	if ((desc && !json_is_string(desc) && !json_is_null(desc)) || (exp && !json_is_integer(exp) && !json_is_null(exp)) ||
	    (perms && !json_is_array(perms) && !json_is_null(perms)))
		return ab_finish_fail(a, 400, "invalid request body", "description is a string, expires_in an integer "
				      "(days), permissions an array");
	if (json_is_integer(exp)) {
		if (json_integer_value(exp) <= 0 || json_integer_value(exp) > 36500)
			return ab_finish_fail(a, 400, "invalid request", "expires_in must be a number of days from 1 to 36500");
		want.expires_at = (int64_t)wall_ms() + json_integer_value(exp) * DAY_MS;
	}
	json_array_foreach(perms, i, p) {
		const char *env = str(p, "environment_id"), *level = str(p, "permission");
		enum srv_level l = level ? srv_level_parse(level) : SRV_LEVEL_NONE;
		char msg[160];
		if (!env || !*env)
			return ab_finish_fail(a, 400, "invalid request", "permissions[].environment_id is required");
		if (l == SRV_LEVEL_NONE) {
			snprintf(msg, sizeof(msg), "invalid permission level: %.40s", level ? level : "");
			return ab_finish_fail(a, 400, msg, "permission is read, write or admin (or viewer, editor, owner)");
		}
		if (!may_grant(a, env, l, msg, sizeof(msg)))
			return ab_finish_fail(a, 403, "insufficient permissions", msg);
		if (srv_rights_add_grant(&want, env, l, &err) < 0)
			return ab_finish_fail(a, 400, "invalid request", err_text(err));
	}
	struct rest_key_spec spec = { .description = json_string_value(desc), .rights = want };
	if (rest_services()->key_make(a->principal, &spec, &made, &err) < 0)
		return ab_finish_fail(a, err->cls == ERR_DENIED ? 403 : err->cls == ERR_INVALID ? 400 : 500,
				      err->cls == ERR_DENIED ? "insufficient permissions" : "failed to create API key",
				      err_text(err));
	ab_finish(a, 201, key_json(made, true));
	json_decref(made);
}

static void keys_revoke(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, "id", 0, 0);
	auto_err struct err *err = NULL;
	if (!a)
		return;
	(void)arg;
	if (rest_services()->key_revoke(a->principal, a->id, &err) < 0)
		return ab_finish_fail(a, err->cls == ERR_NOT_FOUND || err->cls == ERR_CONFLICT ? 404 : 500,
				      "failed to revoke API key", err_text(err));
	ab_finish(a, 204, NULL);
}

static void key_permissions_get(struct tp_req *r, void *arg)
{
	(void)arg;
	struct abreq *a = ab_begin(r, "id", 0, 0);
	json_t *keys = a ? keys_seen(a) : NULL, *k, *found = NULL;
	size_t i;
	if (!keys)
		return;
	json_array_foreach(keys, i, k)
		if (!strcmp(str(k, "id"), a->id))
			found = k;
	json_t *out = found ? key_permissions(found) : NULL;
	json_decref(keys);
	if (!out)
		return ab_finish_fail(a, 404, "API key not found", NULL);
	ab_finish(a, 200, json_pack("{s:o}", "permissions", out));
}

/* ---- users ---- */

static json_t *user_json(json_t *u)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "id", str(u, "name"), "username", str(u, "name"), "role",
			 str(u, "role"), "status", json_object_get(u, "disabled_at") ? "inactive" : "active", "created_at",
			 ab_time(str(u, "created_at")), "updated_at", ab_time(str(u, "created_at")));
}

/* The caller's role: a user's, "super_admin" for the operator's administrator keys, else "user". */
static const char *caller_role(struct abreq *a, char *buf, size_t cap)
{
	char nb[64];
	json_t *u = NULL;
	auto_err struct err *err = NULL;
	if (!ab_user_name(a->principal, nb, sizeof(nb)))
		return srv_principal_is_admin(a->principal) ? "super_admin" : "user";
	if (rest_services()->user_get(nb, &u, &err) != 1)
		return "user";
	snprintf(buf, cap, "%s", str(u, "role"));
	json_decref(u);
	return srv_principal_is_admin(a->principal) ? buf : "user"; /* a non-admin key of an admin is not one */
}

static struct abreq *admin_begin(struct tp_req *r, const char *param, size_t body_max)
{
	struct abreq *a = ab_begin(r, param, body_max, 0);
	if (a && !srv_principal_is_admin(a->principal)) {
		ab_finish_fail(a, 403, "insufficient permissions", NULL);
		return NULL;
	}
	return a;
}

static void users_list(struct tp_req *r, void *arg)
{
	struct abreq *a = admin_begin(r, NULL, 0);
	auto_err struct err *err = NULL;
	json_t *all = NULL, *u;
	size_t i;
	char v[32];
	(void)arg;
	if (!a)
		return;
	long limit = 100, offset = 0;
	if (!tp_req_query(r, "limit", v, sizeof(v)) && atol(v) > 0)
		limit = atol(v);
	if (!tp_req_query(r, "offset", v, sizeof(v)) && atol(v) >= 0)
		offset = atol(v);
	if (rest_services()->user_list(&all, &err) < 0)
		return ab_finish_fail(a, 500, "failed to list users", err_text(err));
	json_t *out = json_array();
	json_array_foreach(all, i, u)
		if ((long)i >= offset && (long)json_array_size(out) < limit)
			json_array_append_new(out, user_json(u));
	json_decref(all);
	ab_finish(a, 200, json_pack("{s:O, s:I}", "users", out, "total", (json_int_t)json_array_size(out)));
	json_decref(out);
}

/* After a create or update: the user as it is now. */
static void user_done(void *arg, const struct rest_login *res)
{
	struct abreq *a = arg;
	auto_err struct err *err = NULL;
	json_t *u = NULL;
	if (!res->ok)
		return ab_finish_fail(a, res->cls == ERR_CONFLICT ? 409 : res->cls == ERR_NOT_FOUND ? 404
				      : res->cls == ERR_INVALID ? 400 : 500,
				      res->cls == ERR_NOT_FOUND ? "user not found" : res->cls == ERR_INTERNAL
				      ? "failed to save user" : res->message, res->message);
	if (rest_services()->user_get(a->id, &u, &err) != 1)
		return ab_finish_fail(a, 500, "failed to save user", NULL);
	ab_finish(a, a->work ? 201 : 200, user_json(u));
	json_decref(u);
}

static void users_create(struct tp_req *r, void *arg)
{
	struct abreq *a = admin_begin(r, NULL, ADMIN_BODY_MAX);
	char rb[16];
	(void)arg;
	if (!a)
		return;
	const char *name = str(a->body, "username"), *role = str(a->body, "role"), *status = str(a->body, "status");
	json_t *pw = json_object_get(a->body, "password");
	if (!name || !*name)
		return ab_finish_fail(a, 400, "username is required", NULL);
	if (!json_is_string(pw) || json_string_length(pw) < 8)
		return ab_finish_fail(a, 400, "password must be at least 8 characters", NULL);
	if (!role || !*role)
		role = "user";
	if (!strcmp(role, "super_admin") && strcmp(caller_role(a, rb, sizeof(rb)), "super_admin"))
		return ab_finish_fail(a, 403, "only super admins can assign super admin role", NULL);
	if (status && strcmp(status, "active"))
		return ab_finish_fail(a, 400, "invalid request", "a new user is active (disable it with PUT afterwards)");
	snprintf(a->id, sizeof(a->id), "%s", name);
	a->work = json_true(); /* 201 */
	rest_services()->user_create(name, role, json_string_value(pw), json_string_length(pw), user_done, a);
}

static void users_get(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, "id", 0, 0);
	auto_err struct err *err = NULL;
	char nb[64];
	json_t *u = NULL;
	(void)arg;
	if (!a)
		return;
	const char *me = ab_user_name(a->principal, nb, sizeof(nb));
	if (!srv_principal_is_admin(a->principal) && (!me || strcmp(me, a->id)))
		return ab_finish_fail(a, 403, "insufficient permissions", NULL);
	if (rest_services()->user_get(a->id, &u, &err) != 1)
		return ab_finish_fail(a, 404, "user not found", NULL);
	ab_finish(a, 200, user_json(u));
	json_decref(u);
}

static void users_update(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, "id", ADMIN_BODY_MAX, AB_BODY_REQUIRED);
	char nb[64], rb[16];
	(void)arg;
	if (!a)
		return;
	bool admin = srv_principal_is_admin(a->principal);
	const char *me = ab_user_name(a->principal, nb, sizeof(nb));
	const char *role = str(a->body, "role"), *status = str(a->body, "status");
	json_t *pw = json_object_get(a->body, "password");
	if (!admin && (!me || strcmp(me, a->id)))
		return ab_finish_fail(a, 403, "insufficient permissions", NULL);
	if (!admin && (role || status || json_object_get(a->body, "username")))
		return ab_finish_fail(a, 403, "cannot modify role, status, or username", NULL);
	if (pw && (!json_is_string(pw) || (json_string_length(pw) && json_string_length(pw) < 8)))
		return ab_finish_fail(a, 400, "password must be at least 8 characters", NULL);
	if (role && !strcmp(role, "super_admin") && strcmp(caller_role(a, rb, sizeof(rb)), "super_admin"))
		return ab_finish_fail(a, 403, "only super admins can assign super admin role", NULL);
	if (status && strcmp(status, "active") && strcmp(status, "inactive"))
		return ab_finish_fail(a, 400, "invalid request", "status is active or inactive");
	int enable = !status ? -1 : !strcmp(status, "active");
	bool set_pw = json_string_length(pw) > 0;
	rest_services()->user_update(a->id, role, enable, set_pw ? json_string_value(pw) : NULL,
				     set_pw ? json_string_length(pw) : 0, user_done, a);
}

static void users_delete_done(void *arg, const struct rest_login *res)
{
	struct abreq *a = arg;
	if (!res->ok && res->cls == ERR_NOT_FOUND)
		return ab_finish_fail(a, 404, "user not found", NULL);
	if (!res->ok)
		return ab_finish_fail(a, 500, "failed to delete user", res->message);
	ab_finish(a, 204, NULL);
}

/* DELETE a user: disabled (the record stays, so its sessions keep an owner); logins and its tokens stop. */
static void users_delete(struct tp_req *r, void *arg)
{
	struct abreq *a = admin_begin(r, "id", 0);
	char nb[64], rb[16];
	auto_err struct err *err = NULL;
	json_t *u = NULL;
	(void)arg;
	if (!a)
		return;
	const char *me = ab_user_name(a->principal, nb, sizeof(nb));
	if (me && !strcmp(me, a->id))
		return ab_finish_fail(a, 400, "cannot delete your own account", NULL);
	if (rest_services()->user_get(a->id, &u, &err) != 1)
		return ab_finish_fail(a, 404, "user not found", NULL);
	bool super = !strcmp(str(u, "role"), "super_admin");
	json_decref(u);
	if (super && strcmp(caller_role(a, rb, sizeof(rb)), "super_admin"))
		return ab_finish_fail(a, 403, "only super admins can delete super admin accounts", NULL);
	rest_services()->user_update(a->id, NULL, 0, NULL, 0, users_delete_done, a);
}

/*
 * Per-user environment permissions (the twin's permission_handler.go): an
 * administrator grants a user viewer, editor or owner on an environment that
 * is not the user's (server/grants.h); the user then reaches it at that level
 * in every protocol. Users read their own grants; only administrators grant,
 * change and revoke, never above their own level on the environment.
 */
static json_t *permission_json(json_t *g)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", str(g, "id"), "user_id", str(g, "user"), "environment_id",
			      str(g, "session_id"), "permission", str(g, "level"));
	if (str(g, "granted_by") && *str(g, "granted_by"))
		json_object_set_new(o, "granted_by", json_string(str(g, "granted_by")));
	json_t *at = rest_time(json_integer_value(json_object_get(g, "granted_at")));
	json_object_set_new(o, "granted_at", ab_time(json_string_value(at)));
	json_decref(at);
	return o;
}

static void permissions_list(struct abreq *a)
{
	char nb[64];
	const char *me = ab_user_name(a->principal, nb, sizeof(nb));
	if ((!me || strcmp(me, a->id)) && !srv_principal_is_admin(a->principal))
		return ab_finish_fail(a, 403, "insufficient permissions", NULL);
	json_t *all = rest_services()->grant_list(a->id), *g, *out = json_array();
	size_t i;
	json_array_foreach(all, i, g)
		json_array_append_new(out, permission_json(g));
	json_decref(all);
	ab_finish(a, 200, json_pack("{s:o}", "permissions", out));
}

/* POST (env from the body) or PUT (env from the path): grant or change a's user's level. */
static void permissions_set(struct abreq *a, const char *env, bool update)
{
	auto_err struct err *err = NULL;
	json_t *out = NULL;
	char nb[64], why[200];
	json_t *p = json_object_get(a->body, "permission");
	if (!json_is_string(p) && p && !json_is_null(p))
		return ab_finish_fail(a, 400, "invalid request body", "json: cannot unmarshal into Go struct field of type string");
	enum srv_level level = srv_level_parse(json_string_value(p));
	if (!update && (!env || !*env))
		return ab_finish_fail(a, 400, "environment_id is required", NULL);
	if (level == SRV_LEVEL_NONE)
		return ab_finish_fail(a, 400, "invalid permission level (must be viewer, editor, or owner)", NULL);
	if (!ab_env_spec(env) || !ab_env_reaches(a->principal, env))
		return ab_finish_fail(a, 404, "environment not found", NULL);
	/* never above the granter: its credential's level and its own on the environment */
	struct srv_rights rights;
	enum srv_level own = ab_env_share(a->principal, env);
	if (rest_services()->rights(a->principal, &rights) && srv_rights_level(&rights, env) < own)
		own = srv_rights_level(&rights, env);
	if (own < level) {
		snprintf(why, sizeof(why), "cannot grant %s on environment %s: this credential holds %s there",
			 srv_level_name(level), env, srv_level_name(own));
		return ab_finish_fail(a, 403, "insufficient permissions", why);
	}
	const char *by = ab_user_name(a->principal, nb, sizeof(nb)) ?: srv_principal_key_id(a->principal) ?: a->principal;
	if (rest_services()->grant_set(a->id, env, level, by, update, &out, &err) < 0)
		return ab_finish_fail(a, err->cls == ERR_NOT_FOUND ? 404 : 500, err->cls == ERR_NOT_FOUND
				      ? "permission not found" : update ? "failed to update permission" : "failed to grant permission",
				      err_text(err));
	ab_finish(a, update ? 200 : 201, permission_json(out));
	json_decref(out);
}

static void user_permissions(struct tp_req *r, void *arg)
{
	(void)arg;
	bool listing = tp_req_method(r) == TP_GET;
	struct abreq *a = listing ? ab_begin(r, "id", 0, 0) : admin_begin(r, "id", ADMIN_BODY_MAX);
	auto_err struct err *err = NULL;
	json_t *u = NULL;
	if (!a)
		return;
	if (!rest_services())
		return ab_finish_fail(a, 503, "service unavailable", "users are not served here");
	if (listing)
		return permissions_list(a);
	/* the target user must exist (the twin asks before reading the body) */
	if (rest_services()->user_get(a->id, &u, &err) != 1)
		return ab_finish_fail(a, 404, "user not found", err ? err_text(err) : "user not found");
	json_decref(u);
	const char *env = tp_req_param(r, "envId");
	if (tp_req_method(r) == TP_DELETE) {
		int rc = rest_services()->grant_remove(a->id, env, &err);
		if (rc < 0)
			return ab_finish_fail(a, 500, "failed to revoke permission", err_text(err));
		if (!rc)
			return ab_finish_fail(a, 404, "permission not found", "permission not found");
		ab_finish(a, 204, NULL);
		return;
	}
	if (!a->body || !json_is_object(a->body))
		return ab_finish_fail(a, 400, "invalid request body", "EOF");
	if (tp_req_method(r) == TP_POST)
		return permissions_set(a, json_string_value(json_object_get(a->body, "environment_id")), false);
	permissions_set(a, env, true);
}

/* ---- metrics ---- */

/* A counter of the walk (a->info), plus n. */
static void add(struct abreq *a, const char *name, json_int_t n)
{
	json_object_set_new(a->info, name, json_integer(json_integer_value(json_object_get(a->info, name)) + n));
}

static json_int_t seconds_of(const char *iso)
{
	struct tm tm = { 0 };
	return iso && strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) ? (json_int_t)timegm(&tm) : -1;
}

/* The metric asked (?type=, default running_sandboxes) of what the walk counted, as a one-sample series. */
static void metrics_answer(struct abreq *a)
{
	const char *type = str(a->info, "type");
	json_int_t started = json_integer_value(json_object_get(a->info, "started"));
	json_int_t v = !strcmp(type, "start_time") ? (started ? json_integer_value(json_object_get(a->info, "start_ms")) / started : 0)
		     : json_integer_value(json_object_get(a->info, !strcmp(type, "cpu_usage") ? "cpu" :
								  !strcmp(type, "memory_usage") ? "mem" : "running"));
	json_t *now = rest_now();
	json_t *t = ab_time(json_string_value(now));
	json_decref(now);
	json_t *o = json_object();
	if (str(a->info, "environment_id"))
		json_object_set(o, "environment_id", json_object_get(a->info, "environment_id"));
	json_object_set_new(o, "metrics", json_pack("[{s:O, s:I}]", "timestamp", t, "value", v));
	json_object_set_new(o, "type", json_string(type));
	json_object_set(o, "start", t);
	json_object_set(o, "end", t);
	json_decref(t);
	ab_finish(a, 200, o);
}

static void metric_next(struct abreq *a, json_t *info);

/* One session_info after another over the ids in a->work. */
static void metric_walk_on(struct abreq *a)
{
	if (!json_array_size(a->work))
		return metrics_answer(a);
	json_t *id = json_incref(json_array_get(a->work, 0));
	json_array_remove(a->work, 0);
	ab_call(a, "session_info", json_pack("{s:o}", "session_id", id), metric_next);
}

static void metric_next(struct abreq *a, json_t *info)
{
	json_t *spec = ab_env_spec(str(info, "session_id"));
	if (spec && !strcmp(ab_env_status(str(info, "status")), "running")) {
		add(a, "running", 1);
		add(a, "mem", json_integer_value(json_object_get(json_object_get(info, "usage"), "memory_bytes")));
		add(a, "cpu", ab_env_cpu_millis(spec, info));
	}
	json_int_t c = seconds_of(str(info, "created_at")), s = seconds_of(str(info, "started_at"));
	if (c >= 0 && s >= c) {
		add(a, "start_ms", (s - c) * 1000);
		add(a, "started", 1);
	}
	metric_walk_on(a);
}

static void metrics_listed(struct abreq *a, json_t *data)
{
	json_t *s;
	size_t i;
	a->work = json_array();
	json_array_foreach(json_object_get(data, "sessions"), i, s)
		if (ab_env_spec(str(s, "session_id")))
			json_array_append(a->work, json_object_get(s, "session_id"));
	metric_walk_on(a);
}

static int metrics_type(struct abreq *a)
{
	char type[32];
	if (tp_req_query(a->r, "type", type, sizeof(type)) || !type[0])
		snprintf(type, sizeof(type), "running_sandboxes");
	if (strcmp(type, "running_sandboxes") && strcmp(type, "cpu_usage") && strcmp(type, "memory_usage") &&
	    strcmp(type, "start_time")) {
		ab_finish_fail(a, 400, "invalid metric type", "type is running_sandboxes, cpu_usage, memory_usage or "
			       "start_time");
		return -1;
	}
	a->info = json_pack("{s:s}", "type", type);
	a->what = "failed to get metrics";
	return 0;
}

static void metrics_global(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, NULL, 0, 0);
	if (!a)
		return;
	ab_set_base(a, arg);
	if (metrics_type(a) == 0)
		ab_call(a, "session_list", json_object(), metrics_listed);
}

static void metrics_env(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin_env(r, arg, 0, 0);
	if (!a || metrics_type(a) < 0)
		return;
	json_object_set_new(a->info, "environment_id", json_string(a->id));
	a->work = json_pack("[s]", a->id);
	metric_walk_on(a);
}

/* ---- the warm pool ---- */

static void pool_status(struct tp_req *r, void *arg)
{
	struct abreq *a = ab_begin(r, NULL, 0, 0);
	(void)arg;
	if (!a)
		return;
	/* one pool of ready sandboxes serves every image: its configured size */
	json_int_t n = (json_int_t)ab_pool_size();
	ab_finish(a, 200, json_pack("{s:{s:I}, s:I}", "pools", "default", n, "total", n));
}

const struct rest_route ab_admin_routes[] = {
	{ TP_GET, "/api/v1/api-keys", keys_list },
	{ TP_POST, "/api/v1/api-keys", keys_create },
	{ TP_DELETE, "/api/v1/api-keys/{id}", keys_revoke },
	{ TP_GET, "/api/v1/api-keys/{id}/permissions", key_permissions_get },
	{ TP_GET, "/api/v1/users", users_list },
	{ TP_POST, "/api/v1/users", users_create },
	{ TP_GET, "/api/v1/users/{id}", users_get },
	{ TP_PUT, "/api/v1/users/{id}", users_update },
	{ TP_DELETE, "/api/v1/users/{id}", users_delete },
	{ TP_GET | TP_POST, "/api/v1/users/{id}/permissions", user_permissions },
	{ TP_PUT | TP_DELETE, "/api/v1/users/{id}/permissions/{envId}", user_permissions },
	{ TP_GET, "/api/v1/metrics/global", metrics_global },
	{ TP_GET, "/api/v1/metrics/environment/{id}", metrics_env },
	{ TP_GET, "/api/v1/pool/status", pool_status },
	{ 0, NULL, NULL },
};
