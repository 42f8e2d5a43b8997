#include "exec_input.h"
#include "tool.h"
#include "../sessions/quota.h"
#include "../server/base/common.h"
#include "../server/base/config.h"
#include "../server/base/rights.h"
#include "../server/base/banned.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

struct tool_exec_input {
	json_t *code;		/* the argument's string, held (no event) */
	char *doc;		/* or the handler document made from code and event */
	size_t len;
	char *owner;		/* counted for this owner too (NULL: the server only) */
};

/* bytes held: per owner (json integers; an owner holding none is removed) and in all */
static json_t *held_by_owner;
static uint64_t held_total;

static char *owner_of(const char *principal)
{
	if (!sess_quota_applies(principal))
		return NULL;
	return xstrndup(principal, srv_principal_owner_len(principal));
}

static uint64_t owner_held(const char *owner)
{
	return owner ? (uint64_t)json_integer_value(json_object_get(held_by_owner, owner)) : 0;
}

static void owner_add(const char *owner, int64_t bytes)
{
	if (!owner)
		return;
	if (!held_by_owner)
		held_by_owner = json_object();
	int64_t now = (int64_t)owner_held(owner) + bytes;
	if (now > 0)
		json_object_set_new(held_by_owner, owner, json_integer(now));
	else
		json_object_del(held_by_owner, owner);
}

static int admit(const struct srv_quota *q, const char *owner, size_t len, struct err **errp)
{
	uint64_t mine = owner_held(owner);

	if (q->server_code_bytes && held_total + len > q->server_code_bytes)
		return err_setc(errp, err_class_of(EAGAIN), 0, "the server holds %" PRIu64 " MiB of code that programs "
			       "have not read yet; this execution's %zu bytes would pass its maximum of %" PRIu64 " MiB "
			       "(quota.server_code): try again when they have", held_total >> 20, len,
			       q->server_code_bytes >> 20);
	if (owner && q->code_bytes && mine + len > q->code_bytes)
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key's executions hold %" PRIu64 " MiB of code that "
			       "their programs have not read yet; this execution's %zu bytes would pass its quota of %"
			       PRIu64 " MiB (quota.code): wait for them to read it (or end), or write large code to a "
			       "file first", mine >> 20, len, q->code_bytes >> 20);
	return 0;
}

int tool_exec_input_take(struct tool_call *call, bool with_event, char **head, struct tool_exec_input **out,
			 struct err **errp)
{
	json_t *code = json_object_get(call->args, "code");
	/* the schemas require a string: anything else runs as no code rather than failing here */
	json_t *empty = json_is_string(code) ? NULL : json_string("");
	if (empty)
		code = empty;
	size_t code_len = json_string_length(code);
	char *code_head = xstrndup(json_string_value(code), code_len < TOOL_EXEC_HEAD ? code_len : TOOL_EXEC_HEAD);
	struct tool_exec_input *in = xcalloc(1, sizeof(*in));

	in->owner = owner_of(call->principal);
	if (with_event) {
		json_t *doc = json_pack("{s:O, s:O?}", "code", code, "event", json_object_get(call->args, "event"));
		in->doc = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(doc);
		in->len = strlen(in->doc);
	} else {
		in->len = code_len;
	}
	if (admit(&call->env->cfg->quota, in->owner, in->len, errp) < 0) {
		json_decref(empty);
		free(code_head);
		free(in->doc);
		free(in->owner);
		free(in);
		return -1;
	}
	if (!with_event)
		in->code = json_incref(code);
	json_decref(empty);
	json_object_del(call->args, "code");
	json_object_del(call->args, "event");
	held_total += in->len;
	owner_add(in->owner, (int64_t)in->len);
	*out = in;
	*head = code_head;
	return 0;
}

const char *tool_exec_input_data(const struct tool_exec_input *in, size_t *len)
{
	*len = in->len;
	return in->doc ? in->doc : json_string_value(in->code);
}

void tool_exec_input_free(void *arg)
{
	struct tool_exec_input *in = arg;

	if (!in)
		return;
	held_total -= in->len;
	owner_add(in->owner, -(int64_t)in->len);
	json_decref(in->code);
	free(in->doc);
	free(in->owner);
	free(in);
}

uint64_t tool_exec_input_held(const char *principal)
{
	if (!principal)
		return held_total;
	char *owner = owner_of(principal);
	uint64_t n = owner_held(owner);
	free(owner);
	return n;
}
