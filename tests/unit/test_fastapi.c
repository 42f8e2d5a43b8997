/*
 * Unit tests of server/rest/fastapi.c: Python's json decoder errors (the
 * expectations are what CPython 3.11's json.loads says, position in
 * characters) and pydantic 2's validation errors as FastAPI answers them.
 */
#include "tap.h"
#include "server/rest/fastapi.h"

#include <jansson.h>

static void scan_case(const char *in, int want_rc, const char *want_msg, size_t want_pos)
{
	const char *msg = NULL;
	size_t pos = (size_t)-1;
	int rc = fastapi_json_scan(in, strlen(in), &msg, &pos);
	if (want_rc != -1) {
		ok(rc == want_rc, "json %.20s: %d (got %d)", in[0] == '"' ? "a string" : in, want_rc, rc);
		return;
	}
	ok(rc == -1 && msg && !strcmp(msg, want_msg) && pos == want_pos, "json %.20s: %s at %zu (got %d %s at %zu)", strchr(in, '\n') ? "(a newline)" : in,
	   want_msg, want_pos, rc, msg ? msg : "-", pos);
}

static void test_scan(void)
{
	scan_case("   ", -1, "Expecting value", 3);
	scan_case("{", -1, "Expecting property name enclosed in double quotes", 1);
	scan_case("{\"a\"", -1, "Expecting ':' delimiter", 4);
	scan_case("{\"a\" 1}", -1, "Expecting ':' delimiter", 5);
	scan_case("{\"a\":}", -1, "Expecting value", 5);
	scan_case("{\"a\":1,}", -1, "Expecting property name enclosed in double quotes", 7);
	scan_case("{\"a\":1 \"b\":2}", -1, "Expecting ',' delimiter", 7);
	scan_case("[1,]", -1, "Expecting value", 3);
	scan_case("[1 2]", -1, "Expecting ',' delimiter", 3);
	scan_case("[", -1, "Expecting value", 1);
	scan_case("tru", -1, "Expecting value", 0);
	scan_case("nul", -1, "Expecting value", 0);
	scan_case("\"abc", -1, "Unterminated string starting at", 0);
	scan_case("\"a\\x\"", -1, "Invalid \\escape", 2);
	scan_case("\"\\u12\"", -1, "Invalid \\uXXXX escape", 2);
	scan_case("\"\\u12G4\"", -1, "Invalid \\uXXXX escape", 2);
	scan_case("\"\\ud800\\uZZZZ\"", -1, "Invalid \\uXXXX escape", 8);
	scan_case("\"a\nb\"", -1, "Invalid control character at", 2);
	scan_case("01", -1, "Extra data", 1);
	scan_case("1.", -1, "Extra data", 1);
	scan_case("-", -1, "Expecting value", 0);
	scan_case("-a", -1, "Expecting value", 0);
	scan_case("1e", -1, "Extra data", 1);
	scan_case("1e+", -1, "Extra data", 1);
	scan_case("{\"\xc3\xa9\":\"\xc3\xbc\" x}", -1, "Expecting ',' delimiter", 9); /* characters, not bytes */
	scan_case("\"\xc3\xa9", -1, "Unterminated string starting at", 0);
	scan_case("{} x", -1, "Extra data", 3);
	scan_case("[1,2]]", -1, "Extra data", 5);
	scan_case("{\"a\":[1,{\"b\":2]}", -1, "Expecting ',' delimiter", 14);
	scan_case("{\"a\":1}", 0, NULL, 0);
	scan_case(" [1, 2.5e3, -0, \"x\\u00e9\"] ", 0, NULL, 0);
	scan_case("\xef\xbb\xbf{\"a\":1}", 0, NULL, 0);
	scan_case("{\"k\":\"\\u0041\\ud83d\\ude00\"}", 0, NULL, 0);
	scan_case("\"\xff\"", -2, NULL, 0);			/* not UTF-8 */
	scan_case("\"\xc0\xaf\"", -2, NULL, 0);			/* overlong */
	scan_case("\"\xed\xa0\x80\"", -2, NULL, 0);		/* an encoded surrogate */

	char deep[2100];
	memset(deep, '[', 1000);
	memset(deep + 1000, ']', 1000);
	deep[2000] = 0;
	scan_case(deep, -2, NULL, 0);
	deep[1600] = 0; /* 300 deep, then 300 brackets too many */
	scan_case(deep + 700, -1, "Extra data", 600);
}

/* The executor's model (001): pydantic's ExecuteRequest. */
static const struct fastapi_field exec_model[] = {
	{ .name = "execution_id", .type = FASTAPI_STR, .required = true },
	{ .name = "session_id", .type = FASTAPI_STR, .required = true },
	{ .name = "code", .type = FASTAPI_STR, .required = true },
	{ .name = "language", .type = FASTAPI_STR, .required = true, .pattern = "^(python|javascript|shell)$" },
	{ .name = "event", .type = FASTAPI_DICT, .def = "{}" },
	{ .name = "timeout", .type = FASTAPI_INT, .def = "300", .bounds = FASTAPI_GE | FASTAPI_LE, .ge = 1, .le = 3600 },
	{ .name = "env_vars", .type = FASTAPI_DICT, .def = "{}" },
	{ 0 },
};

/* body → want: the 422 detail (or the validated object when status is 0) */
static void body_case(const char *what, const char *ct, const char *body, int want_status, const char *want)
{
	json_t *out = NULL, *err = NULL, *w;
	json_error_t e;
	int st = fastapi_body(ct, body, strlen(body), exec_model, &out, &err);
	json_t *got = st ? err : out;
	w = json_loads(want, 0, &e);
	if (!w) {
		ok(0, "%s: bad expectation %s (%s)", what, want, e.text);
		json_decref(got);
		return;
	}
	bool same = st == want_status && json_equal(got, w);
	ok(same, "%s", what);
	if (!same) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		printf("#   status %d, want %d\n#   got:  %s\n#   want: %s\n", st, want_status, g, want);
		free(g);
	}
	/* the same answer from the body as a large one comes, parsed off the loop (after a byte-order mark) */
	size_t skip = strncmp(body, "\xef\xbb\xbf", 3) ? 0 : 3;
	json_t *parsed = json_loadb(body + skip, strlen(body) - skip, JSON_DECODE_ANY, &e);
	if (parsed) {
		json_t *out2 = NULL, *err2 = NULL;
		int st2 = fastapi_body_parsed(ct, body, strlen(body), parsed, exec_model, &out2, &err2);
		json_t *got2 = st2 ? err2 : out2;
		ok(st2 == st && json_equal(got2, got), "%s (parsed already)", what);
		json_decref(got2);
		json_decref(parsed);
	}
	json_decref(got);
	json_decref(w);
}

static void test_body(void)
{
	body_case("a valid body: defaults applied, extra fields dropped, \"10\" read as 10", "application/json",
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"python\",\"timeout\":\"10\",\"x\":1}",
		  0, "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"python\",\"event\":{},"
		     "\"timeout\":10,\"env_vars\":{}}");
	body_case("timeout 10.0 and true are ints, \"+1_0\" too", NULL,
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"timeout\":10.0}", 0,
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"event\":{},"
		  "\"timeout\":10,\"env_vars\":{}}");
	body_case("missing fields: all of them, in field order, input the whole body", "application/json",
		  "{\"code\":\"x\"}", 422,
		  "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\"execution_id\"],\"msg\":\"Field required\",\"input\":{\"code\":\"x\"}},"
		  "{\"type\":\"missing\",\"loc\":[\"body\",\"session_id\"],\"msg\":\"Field required\",\"input\":{\"code\":\"x\"}},"
		  "{\"type\":\"missing\",\"loc\":[\"body\",\"language\"],\"msg\":\"Field required\",\"input\":{\"code\":\"x\"}}]}");
	body_case("language outside the pattern", "application/json; charset=utf-8",
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"ruby\"}", 422,
		  "{\"detail\":[{\"type\":\"string_pattern_mismatch\",\"loc\":[\"body\",\"language\"],"
		  "\"msg\":\"String should match pattern '^(python|javascript|shell)$'\",\"input\":\"ruby\","
		  "\"ctx\":{\"pattern\":\"^(python|javascript|shell)$\"}}]}");
	body_case("timeout 0, a number for a string, a list for a dict", "application/json",
		  "{\"execution_id\":5,\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"timeout\":0,\"event\":[1]}",
		  422,
		  "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"execution_id\"],\"msg\":\"Input should be a valid string\",\"input\":5},"
		  "{\"type\":\"dict_type\",\"loc\":[\"body\",\"event\"],\"msg\":\"Input should be a valid dictionary\",\"input\":[1]},"
		  "{\"type\":\"greater_than_equal\",\"loc\":[\"body\",\"timeout\"],\"msg\":\"Input should be greater than or equal to 1\",\"input\":0,\"ctx\":{\"ge\":1}}]}");
	body_case("timeout above 3600 (given as a string: input stays the string)", "application/json",
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"timeout\":\"4000\"}", 422,
		  "{\"detail\":[{\"type\":\"less_than_equal\",\"loc\":[\"body\",\"timeout\"],\"msg\":\"Input should be less than or equal to 3600\",\"input\":\"4000\",\"ctx\":{\"le\":3600}}]}");
	body_case("timeout 1.5, \"abc\", null", "application/json",
		  "{\"execution_id\":\"e\",\"session_id\":null,\"code\":\"x\",\"language\":\"shell\",\"timeout\":1.5}", 422,
		  "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"session_id\"],\"msg\":\"Input should be a valid string\",\"input\":null},"
		  "{\"type\":\"int_from_float\",\"loc\":[\"body\",\"timeout\"],\"msg\":\"Input should be a valid integer, got a number with a fractional part\",\"input\":1.5}]}");
	body_case("timeout \"abc\"", "application/json",
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"timeout\":\"abc\"}", 422,
		  "{\"detail\":[{\"type\":\"int_parsing\",\"loc\":[\"body\",\"timeout\"],\"msg\":\"Input should be a valid integer, unable to parse string as an integer\",\"input\":\"abc\"}]}");
	body_case("timeout {}", "application/json",
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"timeout\":{}}", 422,
		  "{\"detail\":[{\"type\":\"int_type\",\"loc\":[\"body\",\"timeout\"],\"msg\":\"Input should be a valid integer\",\"input\":{}}]}");
	body_case("malformed JSON", "application/json", "{\"execution_id\": }", 422,
		  "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",17],\"msg\":\"JSON decode error\",\"input\":{},"
		  "\"ctx\":{\"error\":\"Expecting value\"}}]}");
	body_case("no body", "application/json", "", 422,
		  "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],\"msg\":\"Field required\",\"input\":null}]}");
	body_case("a null body", "application/json", "null", 422,
		  "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\"],\"msg\":\"Field required\",\"input\":null}]}");
	body_case("an array body", NULL, "[1]", 422,
		  "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary or object to extract fields from\",\"input\":[1]}]}");
	body_case("a form body (curl's default type) stays text", "application/x-www-form-urlencoded", "{", 422,
		  "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary or object to extract fields from\",\"input\":\"{\"}]}");
	body_case("application/vnd.x+json is JSON", "Application/Vnd.X+JSON", "{\"code\":1,\"execution_id\":\"e\",\"session_id\":\"s\",\"language\":\"shell\"}", 422,
		  "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"code\"],\"msg\":\"Input should be a valid string\",\"input\":1}]}");
	body_case("not UTF-8: FastAPI's 400", "application/json", "{\"code\":\"\xff\"}", 400,
		  "{\"detail\":\"There was an error parsing the body\"}");
	body_case("a BOM is skipped", "application/json",
		  "\xef\xbb\xbf{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\"}", 0,
		  "{\"execution_id\":\"e\",\"session_id\":\"s\",\"code\":\"x\",\"language\":\"shell\",\"event\":{},"
		  "\"timeout\":300,\"env_vars\":{}}");
	/* Python's decoder goes 512 deep, jansson further: the depth decides even when jansson parsed it */
	char body[1300], nested[1100], want[1400];
	for (int n = 511; n <= 512; n++) { /* arrays in code, in the body's object */
		memset(nested, '[', (size_t)n);
		memset(nested + n, ']', (size_t)n);
		nested[2 * n] = '\0';
		snprintf(body, sizeof(body), "{\"execution_id\":\"e\",\"session_id\":\"s\",\"language\":\"shell\",\"code\":%s}",
			 nested);
		snprintf(want, sizeof(want),
			 "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\"code\"],\"msg\":\"Input should be a "
			 "valid string\",\"input\":%s}]}", nested);
		body_case(n == 511 ? "512 deep: read" : "513 deep: FastAPI's 400", "application/json", body,
			  n == 511 ? 422 : 400, n == 511 ? want : "{\"detail\":\"There was an error parsing the body\"}");
	}
}

static const char *const colors[] = { "red", "green", "blue", NULL };
static const struct fastapi_field action_model[] = {
	{ .name = "action", .type = FASTAPI_STR, .required = true, .bounds = FASTAPI_MIN_LEN | FASTAPI_MAX_LEN,
	  .min_len = 1, .max_len = 3 },
	{ .name = "color", .type = FASTAPI_STR, .literals = colors },
	{ .name = "ratio", .type = FASTAPI_FLOAT, .bounds = FASTAPI_GT | FASTAPI_LT, .gt = 0, .lt = 1 },
	{ .name = "flag", .type = FASTAPI_BOOL },
	{ .name = "note", .type = FASTAPI_STR, .nullable = true },
	{ 0 },
};
static const struct fastapi_field action_item = { .type = FASTAPI_MODEL, .fields = action_model };
static const struct fastapi_field int_item = { .type = FASTAPI_INT, .bounds = FASTAPI_GE, .ge = 0 };
static const struct fastapi_field batch_model[] = {
	{ .name = "actions", .type = FASTAPI_LIST, .required = true, .items = &action_item,
	  .bounds = FASTAPI_MIN_LEN | FASTAPI_MAX_LEN, .min_len = 1, .max_len = 2 },
	{ .name = "weights", .type = FASTAPI_DICT, .items = &int_item },
	{ 0 },
};

static void validate_case(const char *what, const char *in, int want_rc, const char *want)
{
	json_error_t e;
	json_t *v = json_loads(in, JSON_DECODE_ANY, &e), *loc = json_pack("[s]", "body"), *detail = json_array();
	json_t *out = NULL, *w = json_loads(want, 0, &e);
	int rc = fastapi_validate(v, batch_model, loc, detail, &out);
	json_t *got = rc ? detail : out;
	bool same = rc == want_rc && w && json_equal(got, w);
	ok(same, "%s", what);
	if (!same) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		printf("#   rc %d\n#   got:  %s\n#   want: %s\n", rc, g, want);
		free(g);
	}
	json_decref(v);
	json_decref(loc);
	json_decref(detail);
	json_decref(out);
	json_decref(w);
}

static void test_nested(void)
{
	validate_case("nested models, lists, literals, floats, bools, Optional",
		      "{\"actions\":[{\"action\":\"a\",\"color\":\"red\",\"ratio\":\"0.5\",\"flag\":\"yes\",\"note\":null}],"
		      "\"weights\":{\"x\":\"3\"}}",
		      0, "{\"actions\":[{\"action\":\"a\",\"color\":\"red\",\"ratio\":0.5,\"flag\":true,\"note\":null}],"
			 "\"weights\":{\"x\":3}}");
	validate_case("errors inside a list and a dict carry their index and key",
		      "{\"actions\":[{\"action\":\"\"},{\"action\":\"abcd\",\"color\":\"pink\",\"ratio\":1,\"flag\":2,\"note\":3}],"
		      "\"weights\":{\"x\":-1}}",
		      -1,
		      "[{\"type\":\"string_too_short\",\"loc\":[\"body\",\"actions\",0,\"action\"],\"msg\":\"String should have at least 1 character\",\"input\":\"\",\"ctx\":{\"min_length\":1}},"
		      "{\"type\":\"string_too_long\",\"loc\":[\"body\",\"actions\",1,\"action\"],\"msg\":\"String should have at most 3 characters\",\"input\":\"abcd\",\"ctx\":{\"max_length\":3}},"
		      "{\"type\":\"literal_error\",\"loc\":[\"body\",\"actions\",1,\"color\"],\"msg\":\"Input should be 'red', 'green' or 'blue'\",\"input\":\"pink\",\"ctx\":{\"expected\":\"'red', 'green' or 'blue'\"}},"
		      "{\"type\":\"less_than\",\"loc\":[\"body\",\"actions\",1,\"ratio\"],\"msg\":\"Input should be less than 1\",\"input\":1,\"ctx\":{\"lt\":1}},"
		      "{\"type\":\"bool_parsing\",\"loc\":[\"body\",\"actions\",1,\"flag\"],\"msg\":\"Input should be a valid boolean, unable to interpret input\",\"input\":2},"
		      "{\"type\":\"string_type\",\"loc\":[\"body\",\"actions\",1,\"note\"],\"msg\":\"Input should be a valid string\",\"input\":3},"
		      "{\"type\":\"greater_than_equal\",\"loc\":[\"body\",\"weights\",\"x\"],\"msg\":\"Input should be greater than or equal to 0\",\"input\":-1,\"ctx\":{\"ge\":0}}]");
	validate_case("list bounds and types", "{\"actions\":[],\"weights\":[]}", -1,
		      "[{\"type\":\"too_short\",\"loc\":[\"body\",\"actions\"],\"msg\":\"List should have at least 1 item after validation, not 0\",\"input\":[],\"ctx\":{\"field_type\":\"List\",\"min_length\":1,\"actual_length\":0}},"
		      "{\"type\":\"dict_type\",\"loc\":[\"body\",\"weights\"],\"msg\":\"Input should be a valid dictionary\",\"input\":[]}]");
	validate_case("too many items; a model that is not an object", "{\"actions\":[1,2,3]}", -1,
		      "[{\"type\":\"too_long\",\"loc\":[\"body\",\"actions\"],\"msg\":\"List should have at most 2 items after validation, not 3\",\"input\":[1,2,3],\"ctx\":{\"field_type\":\"List\",\"max_length\":2,\"actual_length\":3}}]");
	validate_case("a list element that is not a model", "{\"actions\":[\"x\"]}", -1,
		      "[{\"type\":\"model_attributes_type\",\"loc\":[\"body\",\"actions\",0],\"msg\":\"Input should be a valid dictionary or object to extract fields from\",\"input\":\"x\"}]");
	validate_case("a float field: strings that are not numbers, null", "{\"actions\":[{\"action\":\"a\",\"ratio\":\"x\",\"flag\":null}]}", -1,
		      "[{\"type\":\"float_parsing\",\"loc\":[\"body\",\"actions\",0,\"ratio\"],\"msg\":\"Input should be a valid number, unable to parse string as a number\",\"input\":\"x\"},"
		      "{\"type\":\"bool_type\",\"loc\":[\"body\",\"actions\",0,\"flag\"],\"msg\":\"Input should be a valid boolean\",\"input\":null}]");
}

int main(void)
{
	test_scan();
	test_body();
	test_nested();
	json_t *d = fastapi_detail("Missing required field: %s", "execution_id");
	char *s = json_dumps(d, JSON_COMPACT);
	is_str(s, "{\"detail\":\"Missing required field: execution_id\"}", "fastapi_detail");
	free(s);
	json_decref(d);
	fastapi_release();
	return tap_done();
}
