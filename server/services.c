/*
 * server/services.c — the REST dialects' services over users and the store
 * (see services.h).
 */
#include "services.h"
#include "auth.h"
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

static int svc_user_get(const char *name, json_t **out, struct err **errp)
{
	return srv_user_get(store, name, out, errp);
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
	.user_get = svc_user_get,
	.object_put = svc_object_put,
	.object_delete = svc_object_delete,
	.object_list = svc_object_list,
	.key_make = svc_key_make,
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
