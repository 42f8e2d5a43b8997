/*
 * The AgentFlow dialect's mappers (server/rest/agentflow.h): action names as
 * the twin normalises them, params → tool arguments, tool results → the
 * twin's data shapes and codes, session names.
 */
#include "tap.h"
#include "../../server/rest/agentflow.h"

#include <jansson.h>

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (!j) {
		fprintf(stderr, "bad test JSON %s: %s\n", text, e.text);
		exit(2);
	}
	return j;
}

/* Is got equal to the JSON text want? Prints both when not. */
static int same(json_t *got, const char *want)
{
	json_t *w = J(want);
	int eq = json_equal(got, w);
	if (!eq) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
		char *ws = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		printf("#   got:  %s\n#   want: %s\n", g ? g : "(null)", ws);
		free(g);
		free(ws);
	}
	json_decref(w);
	return eq;
}

static const char *find(const char *name)
{
	const struct af_action *a = af_action_find(name, NULL);
	return a ? a->name : NULL;
}

static void test_names(void)
{
	json_t *cands = NULL;

	is_str(find("vm:click"), "vm:click", "exact name");
	is_str(find("vm-click"), "vm:click", "vm-click (the LLM schemas' spelling)");
	is_str(find("vm.click"), "vm:click", "vm.click");
	is_str(find("vm_click"), "vm:click", "vm_click");
	is_str(find("vm-double_click"), "vm:double_click", "vm-double_click: '_' inside the action name survives");
	is_str(find("vm_double_click"), "vm:double_click", "vm_double_click");
	is_str(find("screenshot"), "vm:screenshot", "a bare name that one action has");
	is_str(find("bash-run"), "bash:run", "bash-run");
	ok(!find("vm:pyautogui"), "vm:pyautogui: not offered (no pyautogui here)");
	ok(!find("rag:search") && !find("web:search") && !find("text2sql:execute") && !find("doc:search"),
	   "rag, web, doc, text2sql actions are not found");
	ok(!find("vm:") && !find("") && !find(":click") && !find("xx-click"), "malformed names are not found");
	ok(!af_action_find("run", &cands), "a bare name two actions share is not resolved");
	ok(same(cands, "[\"bash:run\",\"code:run\"]"), "... and the candidates are named");
	json_decref(cands);
	cands = NULL;
	ok(!af_action_find("nosuch", &cands) && !cands, "an unknown bare name has no candidates");
	ok(af_resource_known("vm") && af_resource_known("code") && !af_resource_known("rag"), "resource types");
}

/* Map params (JSON text) of action into args; returns args or NULL with *f. */
static json_t *map(const char *action, const char *params, int64_t timeout, struct af_fail *f)
{
	const struct af_action *a = af_action_find(action, NULL);
	struct af_target t = { .session_id = "sess_1", .width = 1920, .height = 1080, .timeout_s = timeout };
	json_t *p = J(params), *args = NULL;
	memset(f, 0, sizeof(*f));
	if (!a || af_map_args(a, p, &t, &args, f) < 0)
		args = NULL;
	json_decref(p);
	return args;
}

static void test_args(void)
{
	struct af_fail f;
	json_t *a;

	a = map("vm:screenshot", "{}", 0, &f);
	ok(same(a, "{\"session_id\":\"sess_1\",\"max_width\":1920,\"max_height\":1080,\"max_bytes\":0}"),
	   "screenshot: every pixel of the screen");
	json_decref(a);
	a = map("vm:click", "{\"x\":10,\"y\":20,\"extra\":true}", 0, &f);
	ok(same(a, "{\"session_id\":\"sess_1\",\"space\":\"screen\",\"actions\":[{\"type\":\"click\",\"x\":10.0,"
		   "\"y\":20.0,\"button\":\"left\"}]}"), "click: screen pixels, left button, extra params ignored");
	json_decref(a);
	a = map("vm:click", "{\"x\":10}", 0, &f);
	ok(!a && f.code == AF_UNEXPECTED_ERROR, "click without y: the twin's TypeError (5005)");
	is_str(f.message, "vm:click() missing 1 required positional argument: 'y'", "... with Python's message");
	af_fail_release(&f);
	a = map("vm:click", "{\"x\":\"10\",\"y\":20}", 0, &f);
	ok(!a && f.code == AF_INVALID_PARAMETER_TYPE, "x as a string: 4004");
	af_fail_release(&f);
	a = map("vm:click", "{\"x\":1,\"y\":2,\"button\":\"thumb\"}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "an unknown button: 4000");
	af_fail_release(&f);
	a = map("vm:double_click", "{\"x\":1,\"y\":2}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0), "{\"type\":\"click\",\"x\":1.0,\"y\":2.0,\"count\":2}"),
	   "double_click: a click with count 2");
	json_decref(a);
	a = map("vm:right_click", "{}", 0, &f);
	ok(same(json_object_get(a, "actions"), "[{\"type\":\"down\",\"button\":\"right\"},{\"type\":\"up\",\"button\":\"right\"}]"),
	   "right_click without a point: where the pointer is");
	json_decref(a);
	a = map("vm:right_click", "{\"x\":5}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "right_click with x alone: 4000");
	is_str(f.message, "x and y must be provided together", "... the twin's message");
	af_fail_release(&f);
	a = map("vm:scroll", "{\"x\":1,\"y\":2,\"clicks\":3}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0), "{\"type\":\"scroll\",\"x\":1.0,\"y\":2.0,\"dy\":-3}"),
	   "scroll: positive clicks scroll up (dy < 0)");
	json_decref(a);
	a = map("vm:scroll", "{\"x\":1,\"y\":2,\"clicks\":1.5}", 0, &f);
	ok(!a && f.code == AF_INVALID_PARAMETER_TYPE, "scroll: clicks must be an integer");
	af_fail_release(&f);
	a = map("vm:drag", "{\"start_x\":1,\"start_y\":2,\"end_x\":3,\"end_y\":4}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0),
		"{\"type\":\"drag\",\"from\":{\"x\":1.0,\"y\":2.0},\"to\":{\"x\":3.0,\"y\":4.0}}"), "drag");
	json_decref(a);
	a = map("vm:hotkey", "{\"keys\":[\"ctrl\",\"shift\",\"t\"]}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0), "{\"type\":\"key\",\"keys\":\"ctrl+shift+t\"}"),
	   "hotkey: one combination");
	json_decref(a);
	a = map("vm:hotkey", "{\"keys\":[]}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "hotkey without keys: 4000");
	af_fail_release(&f);
	a = map("vm:hotkey", "{\"keys\":[\"ctrl\",7]}", 0, &f);
	ok(!a && f.code == AF_INVALID_PARAMETER_TYPE, "hotkey keys must be strings");
	af_fail_release(&f);
	a = map("vm:key_down", "{\"key\":\"shift\"}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0), "{\"type\":\"key_down\",\"keys\":\"shift\"}"),
	   "key_down holds the key");
	json_decref(a);
	a = map("vm:mouse_up", "{\"button\":\"right\"}", 0, &f);
	ok(same(json_array_get(json_object_get(a, "actions"), 0), "{\"type\":\"up\",\"button\":\"right\"}"), "mouse_up");
	json_decref(a);
	a = map("vm:wait", "{\"seconds\":25}", 0, &f);
	ok(same(json_object_get(a, "actions"), "[{\"type\":\"wait\",\"ms\":10000},{\"type\":\"wait\",\"ms\":10000},"
						 "{\"type\":\"wait\",\"ms\":5000}]"), "wait: in steps the input tool takes");
	json_decref(a);
	a = map("vm:wait", "{\"seconds\":25}", 2, &f);
	ok(same(json_object_get(a, "actions"), "[{\"type\":\"wait\",\"ms\":2000}]"), "wait: cut to the request's timeout");
	json_decref(a);
	a = map("vm:wait", "{\"seconds\":-1}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "a negative wait: 4000");
	af_fail_release(&f);
	a = map("vm:wait", "{\"seconds\":601}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "a wait over 600 s: 4000");
	af_fail_release(&f);
	a = map("vm:done", "{}", 0, &f);
	ok(!a && !f.message, "done: no tool to call");
	a = map("bash:run", "{\"command\":\"ls\"}", 0, &f);
	ok(same(a, "{\"session_id\":\"sess_1\",\"language\":\"shell\",\"code\":\"ls\"}"), "bash:run: execute shell");
	json_decref(a);
	a = map("bash:run", "{\"command\":\"ls\",\"timeout\":50}", 20, &f);
	ok(json_integer_value(json_object_get(a, "timeout_s")) == 20, "the request's timeout cuts the action's");
	json_decref(a);
	a = map("bash:run", "{\"command\":\"ls\",\"timeout\":0}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "timeout 0: 4000");
	af_fail_release(&f);
	a = map("code:run", "{\"code\":\"print(1)\"}", 0, &f);
	ok(same(a, "{\"session_id\":\"sess_1\",\"language\":\"python\",\"code\":\"print(1)\"}"), "code:run: python by default");
	json_decref(a);
	a = map("code:run", "{\"code\":\"x\",\"language\":\"ruby\"}", 0, &f);
	ok(!a && f.code == AF_INVALID_INPUT, "code:run in an unknown language: 4000");
	af_fail_release(&f);
	a = map("code:javascript", "{\"code\":\"1\",\"stdin\":\"in\"}", 7, &f);
	ok(same(a, "{\"session_id\":\"sess_1\",\"language\":\"javascript\",\"code\":\"1\",\"timeout_s\":7,\"stdin\":\"in\"}"),
	   "code:javascript with stdin and the request's timeout");
	json_decref(a);
}

/* Map a tool result (JSON text) of action called with params; returns data or NULL with *f. */
static json_t *result(const char *action, const char *params, const char *res, enum err_class cls, int64_t timeout,
		      struct af_fail *f)
{
	const struct af_action *a = af_action_find(action, NULL);
	struct af_target t = { .session_id = "sess_1", .width = 1920, .height = 1080, .timeout_s = timeout };
	json_t *p = J(params), *r = res ? J(res) : NULL, *data = NULL;
	memset(f, 0, sizeof(*f));
	if (af_map_result(a, p, &t, r, cls, "vm_w_001", &data, f) < 0)
		data = NULL;
	json_decref(p);
	json_decref(r);
	return data;
}

static void test_results(void)
{
	struct af_fail f;
	json_t *d;

	d = result("vm:screenshot", "{}", "{\"content\":[{\"type\":\"text\",\"text\":\"PNG\"},{\"type\":\"image\","
		   "\"data\":\"iVBORw0K\",\"mimeType\":\"image/png\"}],\"_meta\":{\"mcpbox/screenshot\":{\"width\":1920,"
		   "\"height\":1080}}}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"image\":\"iVBORw0K\",\"size\":[1920,1080],\"session\":\"vm_w_001\",\"accessibility_tree\":null}"),
	   "screenshot: data.image, size, session, accessibility_tree");
	json_decref(d);
	d = result("vm:screenshot", "{}", "{\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}", ERR_INTERNAL, 0, &f);
	ok(!d && f.code == AF_UNEXPECTED_ERROR, "a screenshot without an image is an error, not an empty image");
	af_fail_release(&f);
	d = result("vm:click", "{\"x\":10,\"y\":20}", "{\"content\":[],\"structuredContent\":{\"actions\":1}}", ERR_INTERNAL,
		   0, &f);
	ok(same(d, "{\"clicked\":[10,20],\"button\":\"left\",\"accessibility_tree\":null}"), "click: clicked, button");
	json_decref(d);
	d = result("vm:right_click", "{}", "{\"content\":[]}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"clicked\":null,\"accessibility_tree\":null}"), "right_click without a point: clicked null");
	json_decref(d);
	d = result("vm:type", "{\"text\":\"h\\u00e9\\u20ac\"}", "{\"content\":[]}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"typed\":\"h\\u00e9\\u20ac\",\"length\":3,\"accessibility_tree\":null}"), "type: length in characters");
	json_decref(d);
	d = result("vm:scroll", "{\"x\":1,\"y\":2,\"clicks\":-4}", "{\"content\":[]}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"position\":[1,2],\"clicks\":-4,\"accessibility_tree\":null}"), "scroll: position, clicks");
	json_decref(d);
	d = result("vm:wait", "{}", "{\"content\":[]}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"waited\":1.0,\"accessibility_tree\":null}"), "wait: 1 s by default");
	json_decref(d);
	d = result("vm:wait", "{\"seconds\":5}", "{\"content\":[]}", ERR_INTERNAL, 2, &f);
	ok(!d && f.code == AF_TIMEOUT_ERROR, "a wait longer than the request's timeout: 5006");
	is_str(f.message, "Tool execution timed out after 2s", "... the twin's message");
	af_fail_release(&f);
	d = result("vm:click", "{\"x\":1,\"y\":2}", "{\"content\":[{\"type\":\"text\",\"text\":\"actions[0]: point "
		   "outside the 1920x1080 screen\"}],\"isError\":true}", ERR_INVALID, 0, &f);
	ok(!d && f.code == AF_INVALID_INPUT, "an invalid-argument failure of the tool: 4000");
	is_str(f.message, "actions[0]: point outside the 1920x1080 screen", "... with the tool's message");
	af_fail_release(&f);
	d = result("vm:click", "{\"x\":1,\"y\":2}", "{\"content\":[{\"type\":\"text\",\"text\":\"gone\"}],\"isError\":true}",
		   ERR_NOT_FOUND, 0, &f);
	ok(!d && f.code == AF_RESOURCE_NOT_INITIALIZED, "the session is gone: 4007");
	af_fail_release(&f);
	d = result("vm:done", "{}", NULL, ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"done\":true}"), "done");
	json_decref(d);
	d = result("vm:fail", "{\"reason\":\"stuck\"}", NULL, ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"fail\":true,\"reason\":\"stuck\"}"), "fail with a reason");
	json_decref(d);
	d = result("bash:run", "{\"command\":\"false\"}", "{\"content\":[],\"isError\":true,\"structuredContent\":{"
		   "\"exit_code\":1,\"stdout\":\"o\",\"stderr\":\"e\",\"timed_out\":false,\"duration_ms\":3,\"max_rss_kb\":2048}}",
		   ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"stdout\":\"o\",\"stderr\":\"e\",\"return_code\":1,\"cwd\":\"/workspace\"}"),
	   "bash:run: a non-zero exit is data (return_code), not a failure");
	json_decref(d);
	d = result("code:python", "{\"code\":\"1\"}", "{\"content\":[],\"structuredContent\":{\"exit_code\":0,\"stdout\":"
		   "\"1\\n\",\"stderr\":\"\",\"timed_out\":false,\"duration_ms\":12,\"max_rss_kb\":2048}}", ERR_INTERNAL, 0, &f);
	ok(same(d, "{\"stdout\":\"1\\n\",\"stderr\":\"\",\"return_code\":0,\"execution_time_ms\":12,\"memory_used_mb\":2.0}"),
	   "code:*: stdout, stderr, return_code, execution_time_ms, memory_used_mb");
	json_decref(d);
	d = result("bash:run", "{\"command\":\"sleep 9\"}", "{\"content\":[],\"isError\":true,\"structuredContent\":{"
		   "\"exit_code\":137,\"stdout\":\"\",\"stderr\":\"\",\"timed_out\":true,\"duration_ms\":2000}}",
		   ERR_INTERNAL, 2, &f);
	ok(!d && f.code == AF_TIMEOUT_ERROR, "a timed-out execution: 5006");
	ok(json_integer_value(json_object_get(f.data, "timeout")) == 2, "... data.timeout");
	af_fail_release(&f);
	d = result("bash:run", "{\"command\":\"x\"}", "{\"content\":[{\"type\":\"text\",\"text\":\"quota\"}],\"isError\":true}",
		   ERR_LIMIT, 0, &f);
	ok(!d && f.code == AF_EXECUTION_ERROR, "a tool refusal before running (quota): 5000");
	af_fail_release(&f);
}

static void test_names_of_sessions(void)
{
	char *n;

	n = af_session_name("vm", "my worker!", 1, NULL);
	is_str(n, "vm_my-worker_001", "worker sanitized, '-' stripped at the ends, a 3-digit counter");
	free(n);
	n = af_session_name("bash", "w", 12, "my vm!");
	is_str(n, "bash_w_012_my-vm", "custom name appended, sanitized and stripped of -_");
	free(n);
	n = af_session_name("vm", "!!!", 1, "__");
	is_str(n, "vm_worker_001", "nothing left of the worker: \"worker\"; of the custom name: none");
	free(n);
	n = af_session_name("vm", "abcdefghijabcdefghijabcdefghijabcdefghij", 1, NULL);
	is_str(n, "vm_abcdefghijabcdefghijabcdefghijab_001", "worker cut to 32 characters");
	free(n);
	n = af_session_name("vm", "w\xc3\xa9x", 1, NULL);
	is_str(n, "vm_w-x_001", "one '-' per non-ASCII character");
	free(n);
}

static void test_info(void)
{
	const struct af_action *a = af_action_find("vm:click", NULL);
	json_t *o = af_action_info(a, false);
	ok(same(o, "{\"name\":\"click\",\"full_name\":\"vm:click\",\"resource_type\":\"vm\",\"stateless\":false,"
		   "\"description\":\"Click at (x, y).\"}"), "GET /tools entry");
	json_decref(o);
	o = af_action_info(a, true);
	ok(same(json_object_get(json_object_get(o, "parameters"), "required"), "[\"x\",\"y\"]"),
	   "the schema entry adds parameters with what is required");
	json_decref(o);
	ok(af_status_of(AF_OK) == 200 && af_status_of(AF_INVALID_REQUEST_FORMAT) == 400 &&
	   af_status_of(AF_UNEXPECTED_ERROR) == 500 && af_status_of(AF_PARTIAL_FAILURE) == 207 &&
	   af_status_of(AF_ALL_REQUESTS_FAILED) == 500, "HTTP statuses of codes");
}

int main(void)
{
	test_names();
	test_args();
	test_results();
	test_names_of_sessions();
	test_info();
	return tap_done();
}
