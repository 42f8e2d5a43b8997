/*
 * server/services.c — the REST dialects' services over users and the store
 * (see services.h).
 */
#include "services.h"
#include "auth.h"
#include "grants.h"
#include "base/common.h"
#include "base/json_out.h"
#include "base/log.h"
#include "rest/rest.h"

#include <stdlib.h>
#include <string.h>

#include "base/banned.h"

static struct srv_users *users;
static struct srv_store *store;
static struct srv_auth *auth;

/* ---- users ---- */

struct login_call {
	rest_login_cb cb;
	void *arg;
};

static void login_answered(void *arg, const struct srv_login_result *res)
{
	struct login_call c = *(struct login_call *)arg;
	struct rest_login out = { .ok = res->ok, .cls = res->cls, .message = res->message, .token = res->token,
				  .expires_in = res->expires_in, .retry_after_s = res->retry_after_s };
	free(arg);
	c.cb(c.arg, &out);
}

static struct login_call *login_call_new(rest_login_cb cb, void *arg)
{
	struct login_call *c = xmalloc(sizeof(*c));
	c->cb = cb;
	c->arg = arg;
	return c;
}

static void svc_login(const char *name, const char *pw, size_t len, const char *source, rest_login_cb cb, void *arg)
{
	srv_users_login(users, name, pw, len, source, login_answered, login_call_new(cb, arg));
}

static void svc_change_password(const char *name, const char *old, size_t old_len, const char *new_pw, size_t new_len,
				const char *source, rest_login_cb cb, void *arg)
{
	srv_users_change_password(users, name, old, old_len, new_pw, new_len, source, login_answered,
				  login_call_new(cb, arg));
}

static int svc_logout(const char *token, struct err **errp)
{
	return srv_users_revoke(users, token, errp);
}

static int svc_user_get(const char *name, json_t **out, struct err **errp)
{
	return srv_user_get(store, name, out, errp);
}

static int svc_user_list(json_t **out, struct err **errp)
{
	return srv_user_list(store, out, errp);
}

/* A user made or changed by an administrator: the password is hashed on libuv's pool first. */
struct user_job {
	uv_work_t work;
	char name[SRV_USER_NAME_MAX + 1];
	char role[16];			/* "": unchanged */
	int enable;			/* 1, 0, -1: unchanged */
	bool create;
	char *pw;			/* NULL: unchanged */
	size_t len;
	char hash[SRV_USER_HASH_MAX];
	struct err *err;		/* the hash's failure */
	rest_login_cb cb;
	void *arg;
};

static void user_job_hash(uv_work_t *w)
{
	struct user_job *j = w->data;
	if (j->pw)
		srv_user_hash_password(j->pw, j->len, j->hash, &j->err);
}

/* The store's part, on the loop: 0, or -1 and *errp. */
static int user_job_store(struct user_job *j, struct err **errp)
{
	if (j->err) {
		*errp = j->err;
		j->err = NULL;
		return -1;
	}
	if (j->create)
		return srv_user_add_hashed(store, j->name, j->role, j->hash, errp);
	json_t *u = NULL;
	int rc = srv_user_get(store, j->name, &u, errp);
	if (rc <= 0)
		return rc < 0 ? -1 : err_setc(errp, ERR_NOT_FOUND, 0, "user not found");
	bool disabled = json_object_get(u, "disabled_at") != NULL;
	bool same_role = !strcmp(json_string_value(json_object_get(u, "role")), j->role);
	json_decref(u);
	if (j->role[0] && !same_role && srv_user_set_role(store, j->name, j->role, errp) < 0)
		return -1;
	if (j->enable == 0 && !disabled && srv_user_disable(store, j->name, errp) < 0)
		return -1;
	if (j->enable == 1 && disabled && srv_user_enable(store, j->name, errp) < 0)
		return -1;
	return j->pw ? srv_user_passwd_hashed(store, j->name, j->hash, errp) : 0;
}

static void user_job_done(uv_work_t *w, int status)
{
	struct user_job *j = w->data;
	auto_err struct err *err = NULL;
	struct rest_login res = { .ok = true };

	if (status < 0)
		err_setc(&err, ERR_INTERNAL, 0, "cancelled");
	else if (user_job_store(j, &err) < 0)
		res = (struct rest_login){ .cls = err->cls, .message = err_text(err) };
	if (j->pw) {
		explicit_bzero(j->pw, j->len);
		free(j->pw);
	}
	explicit_bzero(j->hash, sizeof(j->hash));
	err_free(j->err);
	j->cb(j->arg, &res);
	free(j);
}

static void user_job_start(bool create, const char *name, const char *role, int enable, const char *pw, size_t len,
			   rest_login_cb cb, void *arg)
{
	struct user_job *j = xcalloc(1, sizeof(*j));
	struct rest_login res = { .cls = ERR_INVALID };

	j->create = create;
	j->enable = enable;
	j->cb = cb;
	j->arg = arg;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->role, sizeof(j->role), "%s", role ? role : "");
	if (strlen(name) > SRV_USER_NAME_MAX || (role && strlen(role) >= sizeof(j->role))) {
		res.message = "a user name is at most 48 bytes, a role is user, admin or super_admin";
		free(j);
		cb(arg, &res);
		return;
	}
	if (pw) {
		j->pw = xstrndup(pw, len);
		j->len = len;
	}
	j->work.data = j;
	if (uv_queue_work(uv_default_loop(), &j->work, user_job_hash, user_job_done) != 0)
		user_job_done(&j->work, -1); /* answers ERR_INTERNAL */
}

static void svc_user_create(const char *name, const char *role, const char *pw, size_t len, rest_login_cb cb, void *arg)
{
	user_job_start(true, name, role, -1, pw, len, cb, arg);
}

static void svc_user_update(const char *name, const char *role, int enable, const char *pw, size_t len,
			    rest_login_cb cb, void *arg)
{
	user_job_start(false, name, role, enable, pw, len, cb, arg);
}

/* ---- keys ---- */

static int svc_key_list(const char *principal, json_t **out, struct err **errp)
{
	if (!auth)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "keys are not served here");
	return srv_auth_key_list_as(auth, principal, out, errp);
}

static int svc_key_revoke(const char *principal, const char *id, struct err **errp)
{
	if (!auth)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "keys are not served here");
	return srv_auth_key_revoke_as(auth, principal, id, errp);
}

static int svc_rights(const char *principal, struct srv_rights *out)
{
	if (!auth) {
		srv_rights_full(out, srv_principal_is_admin(principal), srv_principal_is_no_network(principal));
		return 1;
	}
	return srv_auth_rights(auth, principal, out);
}

/* ---- objects ---- */

static int svc_object_put(const char *dialect, const char *id, const char *owner, int64_t created_ms, const json_t *doc,
			  struct err **errp)
{
	auto_free char *text = srv_json_dumps(doc);
	struct srv_record r = { .id = id, .owner = owner, .created_at = created_ms, .doc = text };

	if (!text)
		return err_setc(errp, ERR_INTERNAL, 0, "cannot encode the object %s", id);
	return srv_store_rest_put(store, dialect, &r, errp);
}

static int svc_object_delete(const char *dialect, const char *id, struct err **errp)
{
	return srv_store_rest_delete(store, dialect, id, errp);
}

struct list_ctx {
	rest_object_fn fn;
	void *arg;
};

static void list_one(void *arg, const struct srv_record *r)
{
	struct list_ctx *l = arg;
	json_t *doc = r->doc ? json_loads(r->doc, 0, NULL) : NULL;

	if (!doc || !r->id || !r->owner) {
		log_warn("a stored REST object %s is unreadable (ignored)", r->id ? r->id : "?");
		json_decref(doc);
		return;
	}
	l->fn(l->arg, r->id, r->owner, r->created_at, doc);
	json_decref(doc);
}

static int svc_object_list(const char *dialect, rest_object_fn fn, void *arg, struct err **errp)
{
	struct list_ctx l = { fn, arg };
	return srv_store_rest_list(store, dialect, list_one, &l, errp);
}

/* ---- keys ---- */

static int svc_key_make(const char *principal, const struct rest_key_spec *spec, json_t **out, struct err **errp)
{
	struct srv_key_spec ks = { .name = spec->name, .description = spec->description, .caps_set = spec->caps_set,
				   .rights = spec->rights };
	struct srv_key_made m = { 0 };

	if (!auth)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "keys are not served here");
	if (srv_auth_key_make(auth, principal, &ks, NULL, NULL, &m, errp) < 0)
		return -1;
	*out = json_deep_copy(m.info);
	json_object_set_new(*out, "key", json_string(m.key));
	srv_key_made_release(&m);
	return 0;
}

static const struct rest_services services = {
	.login = svc_login,
	.change_password = svc_change_password,
	.logout = svc_logout,
	.shared_level = srv_grants_level,
	.grant_set = srv_grants_set,
	.grant_remove = srv_grants_remove,
	.grant_list = srv_grants_list,
	.user_get = svc_user_get,
	.user_list = svc_user_list,
	.user_create = svc_user_create,
	.user_update = svc_user_update,
	.key_make = svc_key_make,
	.key_list = svc_key_list,
	.key_revoke = svc_key_revoke,
	.rights = svc_rights,
	.object_put = svc_object_put,
	.object_delete = svc_object_delete,
	.object_list = svc_object_list,
};

void srv_services_set_auth(struct srv_auth *a)
{
	auth = a;
}

void srv_services_start(struct srv_users *u, struct srv_store *st)
{
	users = u;
	store = st;
	rest_set_services(&services);
}
