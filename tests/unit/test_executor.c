/*
 * Unit tests of the executor dialect's mappers (server/rest/executor.c):
 * the document's request bodies through the request model onto the execute
 * tool's arguments, and execute results (as the tool makes them) onto the
 * document's answer.
 */
#include "tap.h"
#include "server/rest/executor.h"

#include <jansson.h>

static json_t *request(const char *text)
{
	json_t *out = NULL, *err = NULL;
	int st = fastapi_body("application/json", text, strlen(text), executor_request, &out, &err);
	json_decref(err);
	return st ? NULL : out;
}

static void same(json_t *got, const char *want, const char *what)
{
	json_t *w = json_loads(want, 0, NULL);
	bool eq = w && json_equal(got, w);
	ok(eq, "%s", what);
	if (!eq) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		printf("#   got:  %s\n#   want: %s\n", g, want);
		free(g);
	}
	json_decref(w);
}

int main(void)
{
	/* the document's Python example */
	json_t *req = request("{\"execution_id\":\"exec_001\",\"session_id\":\"session_001\",\"code\":\"def handler(event): pass\","
			      "\"language\":\"python\",\"timeout\":10,\"event\":{\"name\":\"Alice\"}}");
	ok(req != NULL, "the document's Python example is valid");
	json_t *args = executor_tool_args(req, "ses_1", 3600);
	same(args, "{\"code\":\"def handler(event): pass\",\"language\":\"python\",\"session_id\":\"ses_1\",\"timeout_s\":10,"
		   "\"event\":{\"name\":\"Alice\"}}", "python: a handler given the event, the sandbox, the timeout");
	json_decref(args);
	json_decref(req);

	/* shell: no event; defaults; env_vars values as text; the timeout clamped */
	req = request("{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"echo $A\",\"language\":\"shell\","
		      "\"env_vars\":{\"A\":\"x\",\"B\":5,\"C\":true,\"D\":{\"k\":[1]}}}");
	args = executor_tool_args(req, "ses_2", 30);
	same(args, "{\"code\":\"echo $A\",\"language\":\"shell\",\"session_id\":\"ses_2\",\"timeout_s\":30,"
		   "\"env\":{\"A\":\"x\",\"B\":\"5\",\"C\":\"true\",\"D\":\"{\\\"k\\\":[1]}\"}}",
	     "shell: no event, default timeout 300 clamped to the maximum 30, env_vars as strings");
	json_decref(args);

	/* javascript without event gets {} */
	json_t *js = request("{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"javascript\"}");
	args = executor_tool_args(js, "ses_3", 0);
	same(args, "{\"code\":\"x\",\"language\":\"javascript\",\"session_id\":\"ses_3\",\"timeout_s\":300,\"event\":{}}",
	     "javascript: the default event {} and timeout 300");
	json_decref(args);
	json_decref(js);

	/* results, as the execute tool makes its structuredContent */
	static const struct {
		const char *sc, *status;
	} cases[] = {
		{ "{\"exit_code\":0,\"stdout\":\"hi\\n\",\"stderr\":\"\",\"timed_out\":false,\"duration_ms\":1500,\"result\":{\"m\":1}}", "completed" },
		{ "{\"exit_code\":3,\"stdout\":\"\",\"stderr\":\"e\",\"timed_out\":false,\"duration_ms\":2}", "failed" },
		{ "{\"exit_code\":137,\"stdout\":\"\",\"stderr\":\"\",\"timed_out\":true,\"signal\":\"SIGKILL\",\"duration_ms\":1000}", "timeout" },
		{ "{\"exit_code\":137,\"stdout\":\"\",\"stderr\":\"\",\"timed_out\":false,\"signal\":\"SIGKILL\",\"oom_killed\":true,\"duration_ms\":5}", "error" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *sc = json_loads(cases[i].sc, 0, NULL);
		is_str(executor_status(sc), cases[i].status, "status %s", cases[i].status);
		json_decref(sc);
	}
	json_t *sc = json_loads(cases[0].sc, 0, NULL);
	json_t *ans = executor_answer(req, sc);
	same(ans, "{\"execution_id\":\"e\",\"status\":\"completed\",\"message\":\"Execution completed\",\"stdout\":\"hi\\n\","
		  "\"stderr\":\"\",\"exit_code\":0,\"return_value\":{\"m\":1},\"execution_time\":1.5}",
	     "the answer: the document's three fields first, then output, exit code, return value, seconds");
	char *text = json_dumps(ans, JSON_COMPACT);
	static const char head[] = "{\"execution_id\":\"e\",\"status\":\"completed\",\"message\":";
	ok(!strncmp(text, head, strlen(head)), "in the document's order: %s", text);
	free(text);
	json_decref(ans);
	json_decref(sc);
	sc = json_loads(cases[1].sc, 0, NULL);
	ans = executor_answer(req, sc);
	ok(json_is_null(json_object_get(ans, "return_value")), "no handler result: return_value null");
	json_decref(ans);
	json_decref(sc);
	json_decref(req);
	fastapi_release();
	return tap_done();
}
