/*
 * Unit tests of the tools' caller interface (tools/tool.h) through a fake
 * caller that is not MCP, and of error classes (server/err.c): what a REST
 * dialect relies on. Uses the conformance fixture tools, which need no
 * sandbox.
 */
#include "tap.h"
#include "server/base/err.h"
#include "server/base/log.h"
#include "tools/tool.h"
#include "vnc/display.h"

#include <errno.h>
#include <jansson.h>
#include <uv.h>

struct fake {
	json_t *result;		/* what finish got */
	enum err_class cls;
	int finishes, logs, progresses, asks;
	double last_progress;
	bool want_progress;
	bool answer_ask;	/* answer questions (else: the caller cannot be asked) */
};

static void f_finish(void *ctx, json_t *result, enum err_class cls)
{
	struct fake *f = ctx;
	json_decref(f->result);
	f->result = result;
	f->cls = cls;
	f->finishes++;
}

static bool f_wants_progress(void *ctx)
{
	return ((struct fake *)ctx)->want_progress;
}

static void f_progress(void *ctx, double progress, double total, const char *msg)
{
	struct fake *f = ctx;
	f->progresses++;
	f->last_progress = progress;
}

static void f_log(void *ctx, int lvl, const char *msg)
{
	((struct fake *)ctx)->logs++;
}

static void f_ask(void *ctx, const char *method, json_t *params, tool_reply_cb cb, void *arg)
{
	struct fake *f = ctx;
	f->asks++;
	json_decref(params);
	json_t *res = json_pack("{s:s, s:{s:s, s:s}}", "role", "assistant", "content", "type", "text", "text", "hi");
	cb(arg, res, NULL);
	json_decref(res);
}

static const struct tool_caller_ops full_ops = {
	.finish = f_finish, .wants_progress = f_wants_progress, .progress = f_progress, .log = f_log, .ask = f_ask,
};
static const struct tool_caller_ops bare_ops = { .finish = f_finish };

static const char *first_text(json_t *result)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
}

static void call(struct fake *f, const struct tool_caller_ops *ops, struct tool_conn *tc, const char *name,
		 json_t *args)
{
	struct tool_caller c = { .ops = ops, .ctx = f, .principal = "p1", .conn = tc };
	tool_registry_call(&c, name, args);
	json_decref(args);
	/* fixtures that take time run on timers */
	while (!f->finishes && uv_run(uv_default_loop(), UV_RUN_ONCE))
		;
}

static void test_calls(void)
{
	struct tool_env env = { .fixtures = true };
	struct tool_conn tc = { 0 };
	struct fake f = { 0 };

	tool_registry_init(&env);
	ok(tool_registry_has(NULL, "execute") && tool_registry_has(NULL, "test_simple_text") && !tool_registry_has(NULL, "nope"),
	   "tool_registry_has knows the registered tools");

	call(&f, &bare_ops, &tc, "test_simple_text", NULL);
	ok(f.finishes == 1 && !json_is_true(json_object_get(f.result, "isError")), "a call finishes once, not an error");
	ok(first_text(f.result) != NULL, "its result has a text block");

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &bare_ops, &tc, "no_such_tool", NULL);
	ok(f.finishes == 1 && json_is_true(json_object_get(f.result, "isError")) && f.cls == ERR_NOT_FOUND,
	   "an unknown tool is an isError result of class not_found");
	ok(strstr(first_text(f.result), "no_such_tool") != NULL, "naming the tool");

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &bare_ops, &tc, "execute", json_pack("{s:i, s:s}", "code", 5, "language", "python"));
	ok(f.finishes == 1 && f.cls == ERR_INVALID, "a bad argument is class invalid");
	ok(strstr(first_text(f.result), "argument \"code\"") != NULL, "naming the argument: %s", first_text(f.result));

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &bare_ops, &tc, "test_error_handling", NULL);
	ok(f.finishes == 1 && json_is_true(json_object_get(f.result, "isError")), "a failing tool is an isError result");

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	f.want_progress = true;
	call(&f, &full_ops, &tc, "test_tool_with_progress", NULL);
	ok(f.finishes == 1 && f.progresses == 3 && f.last_progress == 100, "progress reaches a caller that wants it (%d)",
	   f.progresses);

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &full_ops, &tc, "test_tool_with_progress", NULL);
	ok(f.finishes == 1 && f.progresses == 0, "and not one that does not");

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &full_ops, &tc, "test_tool_with_logging", NULL);
	ok(f.finishes == 1 && f.logs == 3, "log messages reach the caller (%d)", f.logs);

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &bare_ops, &tc, "test_tool_with_logging", NULL);
	ok(f.finishes == 1 && !json_is_true(json_object_get(f.result, "isError")), "a caller without log still gets the result");

	/* questions: sampling needs the client's capability, then the caller's ask */
	tc.client_caps = json_pack("{s:{}}", "sampling");
	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &full_ops, &tc, "test_sampling", json_pack("{s:s}", "prompt", "x"));
	ok(f.finishes == 1 && f.asks == 1 && strstr(first_text(f.result), "hi"), "ask goes to the caller and back");

	json_decref(f.result);
	memset(&f, 0, sizeof(f));
	call(&f, &bare_ops, &tc, "test_sampling", json_pack("{s:s}", "prompt", "x"));
	ok(f.finishes == 1 && json_is_true(json_object_get(f.result, "isError")) &&
		   strstr(first_text(f.result), "cannot be asked"),
	   "a caller that cannot be asked fails the call with a clear message: %s", first_text(f.result));
	json_decref(f.result);

	tool_conn_release(&tc);
	tool_registry_release();
	vnc_shutdown(); /* tool_registry_init started the display module */
}

static void test_err(void)
{
	struct err *e = NULL;

	ok(err_set(&e, ENOENT, "open %s", "a.txt") == -1, "err_set returns -1");
	is_str(e->msg, "open a.txt", "the message has no strerror text");
	is_str(err_text(e), "open a.txt: No such file or directory", "err_text adds it for people");
	ok(e->cls == ERR_NOT_FOUND && e->errnum == ENOENT, "class and errno kept apart");
	err_wrap(&e, "file_read");
	is_str(err_text(e), "file_read: open a.txt: No such file or directory", "err_wrap adds context (text recomputed)");
	ok(e->cls == ERR_NOT_FOUND, "and keeps the class");
	err_setc(&e, ERR_LIMIT, 0, "too many: %d", 3);
	is_str(err_text(e), "too many: 3", "err_setc with errno 0: message only");
	ok(e->cls == ERR_LIMIT, "explicit class");
	err_set(&e, 0, "odd");
	ok(e->cls == ERR_INTERNAL, "errno 0 without a class is internal");
	err_free(e);

	ok(err_class_of(EEXIST) == ERR_CONFLICT && err_class_of(EDQUOT) == ERR_LIMIT && err_class_of(EACCES) == ERR_DENIED &&
		   err_class_of(EAGAIN) == ERR_UNAVAILABLE && err_class_of(ETIMEDOUT) == ERR_TIMEOUT &&
		   err_class_of(EINVAL) == ERR_INVALID && err_class_of(EIO) == ERR_INTERNAL,
	   "errno → class");
	is_str(err_class_name(ERR_NOT_FOUND), "not_found", "class names");
	is_str(err_class_name((enum err_class)99), "internal", "an unknown class reads as internal");
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	test_err();
	test_calls();
	uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* the fixtures' timers finish closing */
	ok(uv_loop_close(uv_default_loop()) == 0, "every handle is closed");
	return tap_done();
}
