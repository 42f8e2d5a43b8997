/*
 * key_create, key_list, key_revoke: API keys managed by whoever holds a
 * credential, for itself (tool.h struct tool_keys; the rules are in
 * server/auth.h and server/base/rights.h).
 */
#include "tool.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <string.h>

#define LEVELS "\"enum\":[\"viewer\",\"editor\",\"owner\",\"read\",\"write\",\"admin\"]"

/* The request in the arguments (validated by the schema; values checked here). */
static int request_of(struct tool_call *call, struct tool_key_request *rq, struct err **errp)
{
	json_t *perms = json_object_get(call->args, "permissions");
	json_t *sessions = json_object_get(call->args, "sessions");
	const char *expires = tool_arg_str(call, "expires_at", NULL);
	int64_t days = tool_arg_int(call, "expires_in_days", 0);
	size_t i;
	json_t *v;

	memset(rq, 0, sizeof(*rq));
	rq->name = tool_arg_str(call, "name", NULL);
	rq->description = tool_arg_str(call, "description", NULL);
	rq->rights.admin = tool_arg_bool(call, "admin", false);
	rq->rights.no_network = !tool_arg_bool(call, "network", true);
	if (perms) {
		rq->caps_set = true;
		json_array_foreach(perms, i, v)
			rq->rights.caps |= srv_cap_parse(json_string_value(v));
	}
	json_array_foreach(sessions, i, v) {
		if (srv_rights_add_grant(&rq->rights, json_string_value(json_object_get(v, "session_id")),
					 srv_level_parse(json_string_value(json_object_get(v, "level"))), errp) < 0)
			return -1;
	}
	if (expires && days)
		return err_setc(errp, ERR_INVALID, 0, "give expires_at or expires_in_days, not both");
	if (expires && srv_expiry_parse(expires, (int64_t)wall_ms(), &rq->rights.expires_at, errp) < 0)
		return -1;
	if (days)
		rq->rights.expires_at = (int64_t)wall_ms() + days * 86400000;
	return 0;
}

static void key_create_run(struct tool_call *call)
{
	const struct tool_keys *k = call->env->keys;
	struct tool_key_request rq;
	auto_err struct err *err = NULL;
	char *key = NULL;
	json_t *info = NULL;
	struct buf text = BUF_INIT;

	if (request_of(call, &rq, &err) < 0 || k->make(k->arg, call->principal, &rq, &key, &info, &err) < 0) {
		tool_fail_err(call, err, "key_create");
		return;
	}
	json_object_set_new(info, "key", json_string(key));
	buf_addf(&text, "%s\n(key %s: shown only once, store it now)", key, json_string_value(json_object_get(info, "id")));
	explicit_bzero(key, strlen(key));
	free(key);
	tool_ok(call, info, text.data);
	buf_release(&text);
}

static void key_list_run(struct tool_call *call)
{
	const struct tool_keys *k = call->env->keys;
	auto_err struct err *err = NULL;
	struct buf text = BUF_INIT;
	json_t *keys, *v;
	size_t i;

	if (k->list(k->arg, call->principal, &keys, &err) < 0) {
		tool_fail_err(call, err, "key_list");
		return;
	}
	json_array_foreach(keys, i, v) {
		json_t *perms = json_object_get(v, "permissions"), *p;
		size_t j;
		buf_addf(&text, "%s\t%s\t", json_string_value(json_object_get(v, "id")),
			 json_string_value(json_object_get(v, "name")));
		json_array_foreach(perms, j, p)
			buf_addf(&text, "%s%s", j ? "," : "", json_string_value(p));
		buf_addf(&text, "%s%s\n", json_object_get(v, "revoked_at") ? "\trevoked" : "",
			 json_is_true(json_object_get(v, "expired")) ? "\texpired" : "");
	}
	if (!text.len)
		buf_adds(&text, "no keys");
	tool_ok(call, json_pack("{s:o}", "keys", keys), text.data);
	buf_release(&text);
}

static void key_revoke_run(struct tool_call *call)
{
	const struct tool_keys *k = call->env->keys;
	const char *id = tool_arg_str(call, "id", "");
	auto_err struct err *err = NULL;

	if (k->revoke(k->arg, call->principal, id, &err) < 0) {
		tool_fail_err(call, err, "key_revoke");
		return;
	}
	struct buf text = BUF_INIT;
	buf_addf(&text, "revoked %s: it is refused from now on", id);
	tool_ok(call, json_pack("{s:s, s:b}", "id", id, "revoked", 1), text.data);
	buf_release(&text);
}

const struct tool_def tool_key_defs[] = {
	{
		.name = "key_create",
		.title = "Create an API key",
		.description = "Make an API key that acts for you (your sessions), holding at most what you hold: "
			       "permissions (execute, sandbox_read, sandbox_write; default all yours), optionally only "
			       "some sessions at a level (viewer: read; editor: also write and execute; owner: also "
			       "destroy), an expiry. The key is in the result once; store it.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"name\":{\"type\":\"string\",\"maxLength\":127},"
				"\"description\":{\"type\":\"string\",\"maxLength\":255},"
				"\"permissions\":{\"type\":\"array\",\"items\":{\"enum\":[\"execute\","
				"\"sandbox_read\",\"sandbox_write\"]}},"
				"\"sessions\":{\"type\":\"array\",\"description\":\"Limit the key to "
				"these sessions (it then cannot create sessions).\",\"items\":{\"type\":\"object\","
				"\"properties\":{\"session_id\":{\"type\":\"string\",\"maxLength\":63},\"level\":{" LEVELS
				"}},\"required\":[\"session_id\",\"level\"],\"additionalProperties\":false}},"
				"\"expires_at\":{\"type\":\"string\",\"maxLength\":40,\"description\":\"A UTC time "
				"(2026-12-31T23:59:59Z) or a duration (90d, 12h, 30m).\"},"
				"\"expires_in_days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":36500},"
				"\"admin\":{\"type\":\"boolean\",\"description\":\"Sees every session (administrators only).\"},"
				"\"network\":{\"type\":\"boolean\",\"description\":\"false: its sessions get no network.\"}"
				"},\"additionalProperties\":false}",
		.run = key_create_run,
	},
	{
		.name = "key_list",
		.title = "List API keys",
		.description = "Your keys (an administrator: all), with permissions, sessions, expiry and last use; "
			       "never the secrets.",
		.input_schema = "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = key_list_run,
	},
	{
		.name = "key_revoke",
		.title = "Revoke an API key",
		.description = "Revoke one of your keys (an administrator: any) by id; it is refused at once, also on "
			       "connections already open.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\",\"maxLength\":31}},"
				"\"required\":[\"id\"],\"additionalProperties\":false}",
		.destructive = true,
		.idempotent = true,
		.run = key_revoke_run,
	},
	{ 0 },
};
