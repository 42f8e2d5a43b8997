#include "login.h"
#include "../transport/http.h"
#include "base/common.h"

#include <stdio.h>
#include <string.h>

#include "base/banned.h"

static void answer_error(struct tp_req *r, int status, const char *msg)
{
	tp_req_json(r, status, json_pack("{s:s}", "error", msg));
}

static void login_answered(void *arg, const struct srv_login_result *res)
{
	struct tp_req *r = arg;
	char retry[16];

	if (res->ok) {
		tp_req_add_header(r, "Cache-Control", "no-store");
		tp_req_json(r, 200, json_pack("{s:s, s:s, s:I}", "access_token", res->token, "token_type", "bearer",
					      "expires_in", (json_int_t)res->expires_in));
		return;
	}
	switch (res->cls) {
	case ERR_DENIED:
		answer_error(r, 401, res->message);
		break;
	case ERR_LIMIT:
		snprintf(retry, sizeof(retry), "%u", res->retry_after_s);
		tp_req_add_header(r, "Retry-After", retry);
		answer_error(r, 429, res->message);
		break;
	case ERR_INVALID:
		answer_error(r, 400, res->message);
		break;
	default:
		answer_error(r, 500, res->message);
		break;
	}
}

static void route_login(struct tp_req *r, void *arg)
{
	struct srv_users *u = arg;
	size_t len;
	tp_req_body(r, &len);
	char peer[64];
	json_t *j, *name, *pw;

	/* {username, password} and nothing bigger than they can be */
	if (len > SRV_USER_NAME_MAX + SRV_USER_PASSWORD_MAX + 256) {
		answer_error(r, 413, "the body is too large for a login");
		return;
	}
	j = tp_req_body_json(r, JSON_REJECT_DUPLICATES, NULL);
	name = json_object_get(j, "username");
	pw = json_object_get(j, "password");
	if (!json_is_object(j) || !json_is_string(name) || !json_is_string(pw)) {
		json_decref(j);
		answer_error(r, 400, "send {\"username\": \"...\", \"password\": \"...\"} as JSON");
		return;
	}
	tp_req_peer(r, peer, sizeof(peer));
	srv_users_login(u, json_string_value(name), json_string_value(pw), json_string_length(pw), peer,
			login_answered, r);
	/* the password's copy inside jansson: wipe it before freeing */
	explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
	json_decref(j);
}

void srv_login_routes(struct srv_users *u)
{
	tp_http_route(TP_POST, "/auth/login", route_login, u);
}
