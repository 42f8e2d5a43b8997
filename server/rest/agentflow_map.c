/*
 * AgentFlow (002): the action table and the mappers between an action's
 * params/data and an mcpbox tool's arguments/result. The shapes are the
 * twin's (sandbox/server/backends/resources/vm.py, result_formatter.py for
 * bash:run and code:*, whose backends the twin never shipped).
 */
#include "agentflow.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/banned.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define MAX_WAIT_S 600		/* vm:wait: longer waits are refused (one call holds its request) */
#define WAIT_STEP_MS 10000	/* the input tool's longest wait action */
#define MAX_HOTKEYS 8		/* keys of one hotkey (the input tool's combination bound) */

#define XY(what) { "x", AF_P_NUM, true, what " x, screen pixels" }, { "y", AF_P_NUM, true, what " y" }
#define BUTTON { "button", AF_P_STR, false, "left (default), middle or right" }

const struct af_action af_actions[] = {
	{ "vm:screenshot", "vm", AF_SCREENSHOT, "screenshot", NULL,
	  "A PNG of the whole virtual screen (data.image, base64), at its full size (data.size).", { { 0 } } },
	{ "vm:click", "vm", AF_INPUT, "input", NULL, "Click at (x, y).", { XY("point"), BUTTON } },
	{ "vm:double_click", "vm", AF_INPUT, "input", NULL, "Double click at (x, y).", { XY("point") } },
	{ "vm:right_click", "vm", AF_INPUT, "input", NULL, "Right click at (x, y), or where the pointer is.",
	  { { "x", AF_P_NUM, false, "point x (with y)" }, { "y", AF_P_NUM, false, "point y (with x)" } } },
	{ "vm:move", "vm", AF_INPUT, "input", NULL, "Move the pointer to (x, y).", { XY("point") } },
	{ "vm:drag", "vm", AF_INPUT, "input", NULL, "Drag with the left button from (start_x, start_y) to (end_x, end_y).",
	  { { "start_x", AF_P_NUM, true, NULL }, { "start_y", AF_P_NUM, true, NULL },
	    { "end_x", AF_P_NUM, true, NULL }, { "end_y", AF_P_NUM, true, NULL } } },
	{ "vm:scroll", "vm", AF_INPUT, "input", NULL, "Scroll the wheel at (x, y): clicks > 0 up, < 0 down.",
	  { XY("point"), { "clicks", AF_P_INT, true, "wheel clicks, -100..100" } } },
	{ "vm:type", "vm", AF_INPUT, "input", NULL, "Type text (any Unicode).",
	  { { "text", AF_P_STR, true, NULL }, { "interval", AF_P_NUM, false, "accepted, not used (as the twin)" } } },
	{ "vm:key", "vm", AF_INPUT, "input", NULL, "Press and release a key (enter, tab, escape, f5, a...).",
	  { { "key", AF_P_STR, true, NULL } } },
	{ "vm:hotkey", "vm", AF_INPUT, "input", NULL, "Press keys together, e.g. [\"ctrl\", \"c\"].",
	  { { "keys", AF_P_STRS, true, NULL } } },
	{ "vm:key_down", "vm", AF_INPUT, "input", NULL, "Press a key and keep it held.", { { "key", AF_P_STR, true, NULL } } },
	{ "vm:key_up", "vm", AF_INPUT, "input", NULL, "Release a held key.", { { "key", AF_P_STR, true, NULL } } },
	{ "vm:mouse_down", "vm", AF_INPUT, "input", NULL, "Press a mouse button where the pointer is.", { BUTTON } },
	{ "vm:mouse_up", "vm", AF_INPUT, "input", NULL, "Release a mouse button.", { BUTTON } },
	{ "vm:wait", "vm", AF_INPUT, "input", NULL, "Wait (seconds, default 1, at most 600).",
	  { { "seconds", AF_P_NUM, false, NULL } } },
	{ "vm:done", "vm", AF_MARK, NULL, NULL, "Mark the task done.", { { 0 } } },
	{ "vm:fail", "vm", AF_MARK, NULL, NULL, "Mark the task failed.", { { "reason", AF_P_STR, false, NULL } } },
	{ "bash:run", "bash", AF_EXEC, "execute", "shell", "Run a bash command in the session's sandbox (/workspace).",
	  { { "command", AF_P_STR, true, NULL }, { "timeout", AF_P_INT, false, "seconds (default 30)" } } },
	{ "code:run", "code", AF_EXEC, "execute", NULL, "Run code: language python (default), javascript or shell.",
	  { { "code", AF_P_STR, true, NULL }, { "language", AF_P_STR, false, NULL },
	    { "timeout", AF_P_INT, false, "seconds (default 30)" }, { "stdin", AF_P_STR, false, NULL } } },
	{ "code:python", "code", AF_EXEC, "execute", "python", "Run Python 3 code.",
	  { { "code", AF_P_STR, true, NULL }, { "timeout", AF_P_INT, false, NULL }, { "stdin", AF_P_STR, false, NULL } } },
	{ "code:javascript", "code", AF_EXEC, "execute", "javascript", "Run JavaScript (Node.js).",
	  { { "code", AF_P_STR, true, NULL }, { "timeout", AF_P_INT, false, NULL }, { "stdin", AF_P_STR, false, NULL } } },
	{ "code:shell", "code", AF_EXEC, "execute", "shell", "Run a bash script.",
	  { { "code", AF_P_STR, true, NULL }, { "timeout", AF_P_INT, false, NULL }, { "stdin", AF_P_STR, false, NULL } } },
	{ NULL },
};

const char *const af_resources[] = { "vm", "bash", "code", NULL };

bool af_resource_known(const char *rt)
{
	for (const char *const *r = af_resources; *r; r++)
		if (!strcmp(*r, rt))
			return true;
	return false;
}

static const struct af_action *exact(const char *name)
{
	for (const struct af_action *a = af_actions; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

const struct af_action *af_action_find(const char *name, json_t **candidates)
{
	const struct af_action *a = exact(name), *found = NULL;
	unsigned n = 0;

	if (candidates)
		*candidates = NULL;
	if (a)
		return a;
	if (strchr(name, ':'))
		return NULL;
	/* "vm.click", "vm_click", "vm-click" (and "vm-double_click"): split at the first separator */
	for (const char *sep = "._-"; *sep; sep++) {
		const char *at = strchr(name, *sep);
		if (!at)
			continue;
		struct buf b = BUF_INIT;
		buf_add(&b, name, (size_t)(at - name));
		bool known = af_resource_known(b.data);
		buf_addf(&b, ":%s", at + 1);
		a = known ? exact(b.data) : NULL;
		buf_release(&b);
		if (a)
			return a;
	}
	/* a bare name: only if one action has it */
	for (a = af_actions; a->name; a++) {
		if (strcmp(strchr(a->name, ':') + 1, name))
			continue;
		found = a;
		n++;
		if (candidates) {
			if (!*candidates)
				*candidates = json_array();
			json_array_append_new(*candidates, json_string(a->name));
		}
	}
	if (n == 1) {
		if (candidates) {
			json_decref(*candidates);
			*candidates = NULL;
		}
		return found;
	}
	return NULL;
}

static const char *type_name(enum af_ptype t)
{
	switch (t) {
	case AF_P_NUM: return "number";
	case AF_P_INT: return "integer";
	case AF_P_STR: return "string";
	case AF_P_STRS: return "array";
	case AF_P_OBJ: return "object";
	}
	return "any";
}

json_t *af_action_info(const struct af_action *a, bool with_schema)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", strchr(a->name, ':') + 1, "full_name", a->name,
			      "resource_type", a->resource, "stateless", 0, "description", a->description);
	if (!with_schema)
		return o;
	json_t *props = json_object(), *req = json_array();
	for (const struct af_param *p = a->params; p->name; p++) {
		json_t *s = json_pack("{s:s}", "type", type_name(p->type));
		if (p->type == AF_P_STRS)
			json_object_set_new(s, "items", json_pack("{s:s}", "type", "string"));
		if (p->doc)
			json_object_set_new(s, "description", json_string(p->doc));
		json_object_set_new(props, p->name, s);
		if (p->required)
			json_array_append_new(req, json_string(p->name));
	}
	json_object_set_new(o, "parameters", json_pack("{s:s, s:o, s:o}", "type", "object", "properties", props,
						       "required", req));
	return o;
}

void af_fail_release(struct af_fail *f)
{
	free(f->message);
	json_decref(f->data);
	f->message = NULL;
	f->data = NULL;
}

static int fail(struct af_fail *f, enum af_code code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct af_fail *f, enum af_code code, json_t *data, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	f->code = code;
	f->message = buf_detach(&b);
	f->data = data;
	return -1;
}

static bool type_ok(enum af_ptype t, json_t *v)
{
	switch (t) {
	case AF_P_NUM: return json_is_number(v) && isfinite(json_number_value(v));
	case AF_P_INT: return json_is_integer(v);
	case AF_P_STR: return json_is_string(v);
	case AF_P_OBJ: return json_is_object(v);
	case AF_P_STRS: {
		size_t i;
		json_t *x;
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, x)
			if (!json_is_string(x))
				return false;
		return true;
	}
	}
	return false;
}

/* The twin calls the tool with **params: a missing argument is Python's TypeError (5005). */
static int check_params(const struct af_action *a, json_t *params, struct af_fail *f)
{
	for (const struct af_param *p = a->params; p->name; p++) {
		json_t *v = json_object_get(params, p->name);
		if (!v && p->required)
			return fail(f, AF_UNEXPECTED_ERROR, json_pack("{s:s, s:s}", "action", a->name, "missing", p->name),
				    "%s() missing 1 required positional argument: '%s'", a->name, p->name);
		if (v && !(json_is_null(v) && !p->required) && !type_ok(p->type, v))
			return fail(f, AF_INVALID_PARAMETER_TYPE, json_pack("{s:s, s:s}", "parameter", p->name, "expected",
									     type_name(p->type)),
				    "Invalid parameter type: '%s' must be %s %s", p->name,
				    p->type == AF_P_INT || p->type == AF_P_STRS ? "an" : "a",
				    p->type == AF_P_STRS ? "array of strings" : type_name(p->type));
	}
	return 0;
}

static double num(json_t *params, const char *name, double def)
{
	json_t *v = json_object_get(params, name);
	return json_is_number(v) ? json_number_value(v) : def;
}

static const char *str(json_t *params, const char *name, const char *def)
{
	const char *s = json_string_value(json_object_get(params, name));
	return s ? s : def;
}

static json_t *point_act(const char *type, json_t *params, const char *xn, const char *yn)
{
	return json_pack("{s:s, s:f, s:f}", "type", type, "x", num(params, xn, 0), "y", num(params, yn, 0));
}

static bool has_param(const struct af_action *a, const char *name)
{
	for (const struct af_param *p = a->params; p->name; p++)
		if (!strcmp(p->name, name))
			return true;
	return false;
}

/* An execution's timeout: the action's own, cut to the request's (the twin's asyncio.wait_for); 0: the default. */
static int64_t exec_timeout(json_t *params, const struct af_target *t)
{
	json_t *to = json_object_get(params, "timeout");
	int64_t own = json_is_integer(to) ? json_integer_value(to) : 0;
	if (t->timeout_s > 0 && (own <= 0 || t->timeout_s < own))
		return t->timeout_s;
	return own;
}

/* pyautogui spells a few keys its own way; the input tool's names cover the rest */
static const char *key_name(const char *k)
{
	return !strcmp(k, "+") ? "plus" : k;
}

static int input_actions(const struct af_action *a, json_t *params, const struct af_target *t, json_t *acts,
			 struct af_fail *f)
{
	const char *n = strchr(a->name, ':') + 1;
	const char *button = str(params, "button", "left");

	if (json_object_get(params, "button") && has_param(a, "button") && strcmp(button, "left") &&
	    strcmp(button, "right") && strcmp(button, "middle"))
		return fail(f, AF_INVALID_INPUT, json_pack("{s:s}", "button", button),
			    "button must be left, right or middle, not \"%s\"", button);
	if (!strcmp(n, "click")) {
		json_t *c = point_act("click", params, "x", "y");
		json_object_set_new(c, "button", json_string(button));
		json_array_append_new(acts, c);
	} else if (!strcmp(n, "double_click")) {
		json_t *c = point_act("click", params, "x", "y");
		json_object_set_new(c, "count", json_integer(2));
		json_array_append_new(acts, c);
	} else if (!strcmp(n, "right_click")) {
		bool hx = json_is_number(json_object_get(params, "x")), hy = json_is_number(json_object_get(params, "y"));
		if (hx != hy)
			return fail(f, AF_INVALID_INPUT, NULL, "x and y must be provided together");
		if (hx) {
			json_t *c = point_act("click", params, "x", "y");
			json_object_set_new(c, "button", json_string("right"));
			json_array_append_new(acts, c);
		} else {
			json_array_append_new(acts, json_pack("{s:s, s:s}", "type", "down", "button", "right"));
			json_array_append_new(acts, json_pack("{s:s, s:s}", "type", "up", "button", "right"));
		}
	} else if (!strcmp(n, "move")) {
		json_array_append_new(acts, point_act("move", params, "x", "y"));
	} else if (!strcmp(n, "drag")) {
		json_array_append_new(acts, json_pack("{s:s, s:{s:f, s:f}, s:{s:f, s:f}}", "type", "drag", "from", "x",
						      num(params, "start_x", 0), "y", num(params, "start_y", 0), "to",
						      "x", num(params, "end_x", 0), "y", num(params, "end_y", 0)));
	} else if (!strcmp(n, "scroll")) {
		json_int_t clicks = json_integer_value(json_object_get(params, "clicks"));
		if (clicks < -100 || clicks > 100)
			return fail(f, AF_INVALID_INPUT, json_pack("{s:I}", "clicks", clicks),
				    "clicks must be within -100..100");
		json_t *s = point_act("scroll", params, "x", "y");
		json_object_set_new(s, "dy", json_integer(-clicks)); /* AgentFlow: positive scrolls up */
		json_array_append_new(acts, s);
	} else if (!strcmp(n, "type")) {
		json_array_append_new(acts, json_pack("{s:s, s:O}", "type", "type", "text", json_object_get(params, "text")));
	} else if (!strcmp(n, "key") || !strcmp(n, "key_down") || !strcmp(n, "key_up")) {
		json_array_append_new(acts, json_pack("{s:s, s:s}", "type", n, "keys", key_name(str(params, "key", ""))));
	} else if (!strcmp(n, "hotkey")) {
		json_t *keys = json_object_get(params, "keys"), *k;
		size_t i;
		if (!json_array_size(keys) || json_array_size(keys) > MAX_HOTKEYS)
			return fail(f, AF_INVALID_INPUT, NULL, "keys must name 1 to %d keys", MAX_HOTKEYS);
		struct buf combo = BUF_INIT;
		json_array_foreach(keys, i, k) {
			const char *s = json_string_value(k);
			if (!*s || (strchr(s, '+') && strcmp(s, "+"))) {
				buf_release(&combo);
				return fail(f, AF_INVALID_INPUT, json_pack("{s:s}", "key", s), "bad key \"%s\" in keys", s);
			}
			buf_addf(&combo, "%s%s", i ? "+" : "", key_name(s));
		}
		json_array_append_new(acts, json_pack("{s:s, s:s}", "type", "key", "keys", combo.data));
		buf_release(&combo);
	} else if (!strcmp(n, "mouse_down") || !strcmp(n, "mouse_up")) {
		json_array_append_new(acts, json_pack("{s:s, s:s}", "type", n[6] == 'd' ? "down" : "up", "button", button));
	} else if (!strcmp(n, "wait")) {
		double s = num(params, "seconds", 1.0);
		if (s < 0)
			return fail(f, AF_INVALID_INPUT, NULL, "seconds must be non-negative");
		if (s > MAX_WAIT_S)
			return fail(f, AF_INVALID_INPUT, NULL, "seconds must be at most %d", MAX_WAIT_S);
		/* a request timeout shorter than the wait: wait that long, then it is a timeout (af_map_result) */
		if (t->timeout_s > 0 && s > (double)t->timeout_s)
			s = (double)t->timeout_s;
		long long ms = (long long)(s * 1000.0 + 0.5); /* s >= 0 */
		do {
			long long step = ms > WAIT_STEP_MS ? WAIT_STEP_MS : ms;
			json_array_append_new(acts, json_pack("{s:s, s:I}", "type", "wait", "ms", (json_int_t)step));
			ms -= step;
		} while (ms > 0);
	} else {
		return fail(f, AF_INTERNAL_ERROR, NULL, "no input mapping for %s", a->name);
	}
	return 0;
}

int af_map_args(const struct af_action *a, json_t *params, const struct af_target *t, json_t **args,
		struct af_fail *f)
{
	*args = NULL;
	if (check_params(a, params, f) < 0)
		return -1;
	switch (a->kind) {
	case AF_MARK:
		return 0;
	case AF_SCREENSHOT:
		/* every pixel of the screen, as the twin's VM controller returns it */
		*args = json_pack("{s:s, s:i, s:i, s:i}", "session_id", t->session_id, "max_width", t->width,
				  "max_height", t->height, "max_bytes", 0);
		return 0;
	case AF_INPUT: {
		json_t *acts = json_array();
		if (input_actions(a, params, t, acts, f) < 0) {
			json_decref(acts);
			return -1;
		}
		*args = json_pack("{s:s, s:s, s:o}", "session_id", t->session_id, "space", "screen", "actions", acts);
		return 0;
	}
	case AF_EXEC: {
		const char *lang = a->language ? a->language : str(params, "language", "python");
		const char *code = str(params, !strcmp(a->name, "bash:run") ? "command" : "code", "");
		if (strcmp(lang, "python") && strcmp(lang, "javascript") && strcmp(lang, "shell") && strcmp(lang, "bash"))
			return fail(f, AF_INVALID_INPUT, json_pack("{s:s}", "language", lang),
				    "language must be python, javascript or shell, not \"%s\"", lang);
		if (!strcmp(lang, "bash"))
			lang = "shell";
		*args = json_pack("{s:s, s:s, s:s}", "session_id", t->session_id, "language", lang, "code", code);
		if (json_is_integer(json_object_get(params, "timeout")) &&
		    json_integer_value(json_object_get(params, "timeout")) < 1) {
			json_decref(*args);
			*args = NULL;
			return fail(f, AF_INVALID_INPUT, NULL, "timeout must be at least 1 second");
		}
		int64_t timeout = exec_timeout(params, t);
		if (timeout > 0)
			json_object_set_new(*args, "timeout_s", json_integer(timeout));
		if (json_is_string(json_object_get(params, "stdin")))
			json_object_set(*args, "stdin", json_object_get(params, "stdin"));
		return 0;
	}
	}
	return fail(f, AF_INTERNAL_ERROR, NULL, "unknown action kind");
}

enum af_code af_code_of(enum err_class cls)
{
	switch (cls) {
	case ERR_INVALID: return AF_INVALID_INPUT;
	case ERR_NOT_FOUND: return AF_RESOURCE_NOT_INITIALIZED;
	case ERR_TIMEOUT: return AF_TIMEOUT_ERROR;
	case ERR_INTERNAL: return AF_UNEXPECTED_ERROR;
	default: return AF_EXECUTION_ERROR;
	}
}

static const char *first_text(json_t *result)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(result, "content"), i, c)
		if (json_is_string(json_object_get(c, "text")))
			return json_string_value(json_object_get(c, "text"));
	return "";
}

/* The point an action names, echoed as the twin does ([x, y] as given). */
static json_t *pair(json_t *params, const char *a, const char *b)
{
	return json_pack("[O, O]", json_object_get(params, a), json_object_get(params, b));
}

static json_t *input_data(const struct af_action *a, json_t *params)
{
	const char *n = strchr(a->name, ':') + 1;
	json_t *d;

	if (!strcmp(n, "click"))
		d = json_pack("{s:o, s:s}", "clicked", pair(params, "x", "y"), "button", str(params, "button", "left"));
	else if (!strcmp(n, "double_click"))
		d = json_pack("{s:o}", "clicked", pair(params, "x", "y"));
	else if (!strcmp(n, "right_click"))
		d = json_pack("{s:o}", "clicked", json_is_number(json_object_get(params, "x")) ? pair(params, "x", "y")
												: json_null());
	else if (!strcmp(n, "move"))
		d = json_pack("{s:o}", "position", pair(params, "x", "y"));
	else if (!strcmp(n, "drag"))
		d = json_pack("{s:o, s:o}", "from", pair(params, "start_x", "start_y"), "to", pair(params, "end_x", "end_y"));
	else if (!strcmp(n, "scroll"))
		d = json_pack("{s:o, s:O}", "position", pair(params, "x", "y"), "clicks", json_object_get(params, "clicks"));
	else if (!strcmp(n, "type")) {
		const char *text = str(params, "text", "");
		size_t chars = 0;
		for (const unsigned char *p = (const unsigned char *)text; *p; p++)
			chars += (*p & 0xc0) != 0x80; /* Python's len(): code points */
		d = json_pack("{s:s, s:I}", "typed", text, "length", (json_int_t)chars);
	} else if (!strcmp(n, "key") || !strcmp(n, "key_down") || !strcmp(n, "key_up"))
		d = json_pack("{s:s}", "key", str(params, "key", ""));
	else if (!strcmp(n, "hotkey"))
		d = json_pack("{s:O}", "keys", json_object_get(params, "keys"));
	else if (!strcmp(n, "mouse_down") || !strcmp(n, "mouse_up"))
		d = json_pack("{s:s}", "button", str(params, "button", "left"));
	else if (!strcmp(n, "wait")) {
		json_t *s = json_object_get(params, "seconds");
		d = json_pack("{s:o}", "waited", s ? json_incref(s) : json_real(1.0));
	} else
		d = json_object();
	json_object_set_new(d, "accessibility_tree", json_null()); /* no accessibility tree here */
	return d;
}

int af_map_result(const struct af_action *a, json_t *params, const struct af_target *t, json_t *result,
		  enum err_class cls, const char *session_name, json_t **data, struct af_fail *f)
{
	json_t *sc = json_object_get(result, "structuredContent");
	bool failed = json_is_true(json_object_get(result, "isError"));

	*data = NULL;
	if (a->kind == AF_MARK) {
		if (!strcmp(a->name, "vm:done"))
			*data = json_pack("{s:b}", "done", 1);
		else {
			*data = json_pack("{s:b}", "fail", 1);
			if (json_is_string(json_object_get(params, "reason")) && *str(params, "reason", ""))
				json_object_set(*data, "reason", json_object_get(params, "reason"));
		}
		return 0;
	}
	if (a->kind == AF_EXEC && json_is_object(sc) && json_object_get(sc, "exit_code")) {
		/* ran: a non-zero exit is the program's answer, not the tool's failure (result_formatter.py) */
		if (json_is_true(json_object_get(sc, "timed_out"))) {
			long long s = (long long)exec_timeout(params, t);
			if (s <= 0) /* the session's default timeout: say how long it ran */
				s = (long long)(json_integer_value(json_object_get(sc, "duration_ms")) + 500) / 1000;
			return fail(f, AF_TIMEOUT_ERROR, json_pack("{s:I, s:O, s:O}", "timeout", (json_int_t)s, "stdout",
								   json_object_get(sc, "stdout"), "stderr",
								   json_object_get(sc, "stderr")),
				    "Tool execution timed out after %llds", s);
		}
		*data = json_pack("{s:O, s:O, s:O}", "stdout", json_object_get(sc, "stdout"), "stderr",
				  json_object_get(sc, "stderr"), "return_code", json_object_get(sc, "exit_code"));
		if (!strcmp(a->name, "bash:run"))
			json_object_set_new(*data, "cwd", json_string("/workspace"));
		else {
			json_object_set(*data, "execution_time_ms", json_object_get(sc, "duration_ms"));
			json_object_set_new(*data, "memory_used_mb",
					    json_real((double)json_integer_value(json_object_get(sc, "max_rss_kb")) / 1024.0));
		}
		if (json_is_true(json_object_get(sc, "truncated")))
			json_object_set_new(*data, "truncated", json_true());
		if (json_is_true(json_object_get(sc, "oom_killed")))
			json_object_set_new(*data, "oom_killed", json_true());
		return 0;
	}
	if (failed)
		return fail(f, af_code_of(cls), NULL, "%s", first_text(result));
	if (a->kind == AF_INPUT) {
		if (!strcmp(a->name, "vm:wait") && t->timeout_s > 0 && num(params, "seconds", 1.0) > (double)t->timeout_s)
			return fail(f, AF_TIMEOUT_ERROR, json_pack("{s:I}", "timeout", (json_int_t)t->timeout_s),
				    "Tool execution timed out after %llds", (long long)t->timeout_s);
		*data = input_data(a, params);
		return 0;
	}
	/* AF_SCREENSHOT: the image content and the size _meta says it has */
	json_t *meta = json_object_get(json_object_get(result, "_meta"), "mcpbox/screenshot"), *c, *image = NULL;
	size_t i;
	json_array_foreach(json_object_get(result, "content"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "", "image"))
			image = json_object_get(c, "data");
	if (!json_is_string(image) || !meta)
		return fail(f, AF_UNEXPECTED_ERROR, NULL, "[VM] Error: the screenshot returned no image");
	*data = json_pack("{s:O, s:[O, O], s:s, s:n}", "image", image, "size", json_object_get(meta, "width"),
			  json_object_get(meta, "height"), "session", session_name ? session_name : "",
			  "accessibility_tree");
	return 0;
}

char *af_session_name(const char *rt, const char *worker, unsigned n, const char *custom)
{
	struct buf b = BUF_INIT, w = BUF_INIT, c = BUF_INIT;

	/* re.sub(r"[^A-Za-z0-9_-]", "-", s): one '-' per code point */
	for (const unsigned char *p = (const unsigned char *)worker; *p; p++)
		if ((*p & 0xc0) != 0x80)
			buf_addch(&w, (*p < 0x80 && (isalnum(*p) || *p == '_' || *p == '-')) ? (char)*p : '-');
	/* worker: .strip("-"), then [:32]; custom: .strip("-_"), [:32] */
	size_t s = 0, e = w.len;
	while (s < e && w.data[s] == '-')
		s++;
	while (e > s && w.data[e - 1] == '-')
		e--;
	if (e == s)
		buf_addf(&b, "%s_worker_%03u", rt, n);
	else
		buf_addf(&b, "%s_%.*s_%03u", rt, (int)(e - s > 32 ? 32 : e - s), w.data + s, n);
	for (const unsigned char *p = (const unsigned char *)(custom ? custom : ""); *p; p++)
		if ((*p & 0xc0) != 0x80)
			buf_addch(&c, (*p < 0x80 && (isalnum(*p) || *p == '_' || *p == '-')) ? (char)*p : '-');
	s = 0;
	e = c.len;
	while (s < e && (c.data[s] == '-' || c.data[s] == '_'))
		s++;
	while (e > s && (c.data[e - 1] == '-' || c.data[e - 1] == '_'))
		e--;
	if (e > s)
		buf_addf(&b, "_%.*s", (int)(e - s > 32 ? 32 : e - s), c.data + s);
	buf_release(&w);
	buf_release(&c);
	return buf_detach(&b);
}

int af_status_of(enum af_code code)
{
	if (code == AF_OK)
		return 200;
	if (code == AF_PARTIAL_FAILURE)
		return 207;
	return code >= 4000 && code < 5000 ? 400 : 500;
}
