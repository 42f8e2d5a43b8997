/*
 * server/rest/soulbox_keys.c — SoulBox's POST /auth/api-keys (see soulbox.h,
 * docs/compat.md 004): a key made by the caller's credential, with the
 * document's permissions and expiry, over the server's keys
 * (rest_services()->key_make: never more than the caller holds).
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"

#include <string.h>

#include "../base/banned.h"

/* "mcpbox_AbCd…wxyz": enough to tell keys apart in a list, never enough to use one. */
static json_t *display_key(const char *key)
{
	size_t n = strlen(key);
	struct buf b = BUF_INIT;
	if (n > 20)
		buf_addf(&b, "%.11s...%s", key, key + n - 4);
	json_t *s = json_string(b.data);
	buf_release(&b);
	return s;
}

static void key_create(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	const struct rest_services *svc = rest_services();
	json_t *b;
	struct rest_key_spec spec = { 0 };
	auto_err struct err *err = NULL;

	if (sb_begin(r, SB_RATE_REQUESTS, principal) || sb_body(r, true, &b))
		return;
	json_t *name = json_object_get(b, "name"), *desc = json_object_get(b, "description");
	json_t *perms = json_object_get(b, "permissions"), *exp = json_object_get(b, "expires_at");
	size_t i;
	json_t *p;
	if (name && (!json_is_string(name) || !json_string_length(name))) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "name", "name must be a non-empty string");
		goto out;
	}
	if (desc && !json_is_string(desc)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "description", "description must be a string");
		goto out;
	}
	if (perms && (!json_is_array(perms) || !json_array_size(perms))) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "permissions",
			"permissions must be a non-empty list of execute, sandbox_read, sandbox_write");
		goto out;
	}
	json_array_foreach(perms, i, p) {
		unsigned cap = json_is_string(p) ? srv_cap_parse(json_string_value(p)) : 0;
		if (!cap) {
			sb_fail(r, 400, SB_VALIDATION_ERROR, "permissions",
				"Unknown permission: %.64s (execute, sandbox_read, sandbox_write)",
				json_is_string(p) ? json_string_value(p) : "(not a string)");
			goto out;
		}
		spec.rights.caps |= cap;
	}
	spec.caps_set = perms != NULL;
	if (exp && !json_is_null(exp) &&
	    (!json_is_string(exp) || srv_expiry_parse(json_string_value(exp), (int64_t)wall_ms(), &spec.rights.expires_at, &err) < 0)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "expires_at", "%s",
			err ? err_text(err) : "expires_at must be a time such as \"2027-12-31T23:59:59Z\" or a duration such as \"90d\"");
		goto out;
	}
	spec.name = json_string_value(name);
	spec.description = json_string_value(desc);
	json_t *made = NULL;
	if (!svc || !svc->key_make) {
		sb_fail(r, 503, SB_SYSTEM_ERROR, NULL, "API keys cannot be made here");
	} else if (svc->key_make(principal, &spec, &made, &err) < 0) {
		/* an expiry in the past, or more than the caller holds, names its field */
		const char *field = err->cls == ERR_INVALID && strstr(err_text(err), "expir") ? "expires_at"
				  : err->cls == ERR_DENIED ? "permissions" : NULL;
		enum sb_code code;
		int status = sb_status_of(r, err->cls, &code);
		if (field)
			sb_fail(r, err->cls == ERR_DENIED ? 403 : status, code, field, "%s", err_text(err));
		else
			sb_fail_class(r, err->cls, err_text(err));
	} else {
		json_object_set_new(made, "display_key", display_key(json_string_value(json_object_get(made, "key"))));
		if (!json_object_get(made, "expires_at"))
			json_object_set_new(made, "expires_at", json_null());
		sb_json(r, 201, made);
	}
out:
	json_decref(b);
}

static const struct rest_route routes[] = {
	{ TP_POST, "/auth/api-keys", key_create },
	{ TP_POST, "/api/auth/api-keys", key_create },
	{ 0, NULL, NULL },
};

const struct sb_part sb_part_keys = {
	.routes = routes,
};
