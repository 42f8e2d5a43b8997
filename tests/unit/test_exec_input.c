/*
 * Unit tests of tools/exec_input.c: an execution's code leaves the call's
 * arguments, is counted per key owner and for the server while held, and a
 * call past either bound is refused with the arguments kept.
 */
#include "tap.h"
#include "server/base/config.h"
#include "server/base/err.h"
#include "tools/exec_input.h"
#include "tools/tool.h"

#include <errno.h>
#include <jansson.h>

static struct srv_config cfg;
static struct tool_env env = { .cfg = &cfg };

static struct tool_call *new_call(const char *principal, const char *code, bool event)
{
	struct tool_call *c = calloc(1, sizeof(*c));
	c->principal = principal;
	c->env = &env;
	c->args = json_pack("{s:s, s:s}", "code", code, "language", "python");
	if (event)
		json_object_set_new(c->args, "event", json_pack("{s:i}", "n", 1));
	return c;
}

static void call_free(struct tool_call *c)
{
	json_decref(c->args);
	free(c);
}

int main(void)
{
	struct tool_exec_input *a, *b, *c, *d;
	struct err *err = NULL;
	char *head;
	size_t len;

	srv_config_defaults(&cfg);
	cfg.quota.code_bytes = 100;
	cfg.quota.server_code_bytes = 250;

	/* the code leaves the arguments; the data is the argument's own string, whole */
	struct tool_call *k1 = new_call("user:ann#key_1", "print(1)\n# 60 bytes of code .............................", false);
	json_t *str = json_incref(json_object_get(k1->args, "code"));
	ok(tool_exec_input_take(k1, false, &head, &a, &err) == 0, "taken");
	ok(!json_object_get(k1->args, "code") && json_object_get(k1->args, "language"), "code is out of the arguments");
	const char *data = tool_exec_input_data(a, &len);
	ok(data == json_string_value(str) && len == json_string_length(str), "no copy: %zu bytes", len);
	ok(str->refcount == 2, "held by the input and this test only");
	is_str(head, "print(1)\n# 60 bytes of code .............................", "head");
	free(head);
	ok(tool_exec_input_held("user:ann#key_1") == len && tool_exec_input_held(NULL) == len, "counted");
	/* another key of the same owner shares the count */
	ok(tool_exec_input_held("user:ann#key_2") == len, "per owner");

	/* past the owner's 100 bytes: refused, the arguments kept */
	struct tool_call *k2 = new_call("user:ann#key_2", "x = 1  # another 60 bytes of code ........................", false);
	ok(tool_exec_input_take(k2, false, &head, &b, &err) < 0, "refused past quota.code");
	ok(err && err->cls == ERR_LIMIT && strstr(err_text(err), "(quota.code)"), "names the quota: %s",
	   err ? err_text(err) : "");
	ok(json_object_get(k2->args, "code") != NULL, "its arguments are kept");
	err_free(err);
	err = NULL;

	/* another owner is unaffected; with an event the document is made, code and event leave */
	struct tool_call *o = new_call("user:bob#key_3", "def handler(e): return e", true);
	ok(tool_exec_input_take(o, true, &head, &c, &err) == 0, "another owner");
	data = tool_exec_input_data(c, &len);
	is_str(data, "{\"code\":\"def handler(e): return e\",\"event\":{\"n\":1}}", "the handler document");
	ok(!json_object_get(o->args, "code") && !json_object_get(o->args, "event"), "code and event are out");
	free(head);

	/* administrators have no key quota (150 > 100) but count toward the server's 250 bytes (108 held) */
	char big[151];
	memset(big, '#', 150);
	big[150] = 0;
	struct tool_call *ad = new_call("admin:root", big, false);
	ok(tool_exec_input_take(ad, false, &head, &d, &err) < 0, "the server's bound holds for administrators");
	ok(err && err->cls == err_class_of(EAGAIN) && strstr(err_text(err), "(quota.server_code)"), "%s",
	   err ? err_text(err) : "");
	err_free(err);
	err = NULL;

	/* freed: uncounted, the string goes */
	tool_exec_input_free(a);
	ok(str->refcount == 1, "the input let go of the string");
	json_decref(str);
	ok(tool_exec_input_held("user:ann#key_1") == 0, "uncounted");
	ok(tool_exec_input_take(ad, false, &head, &d, &err) == 0, "room again");
	free(head);
	tool_exec_input_free(c);
	tool_exec_input_free(d);
	tool_exec_input_free(NULL);
	ok(tool_exec_input_held(NULL) == 0, "nothing held");
	call_free(k1);
	call_free(k2);
	call_free(o);
	call_free(ad);
	return tap_done();
}
