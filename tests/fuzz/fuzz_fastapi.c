/*
 * libFuzzer target: a request body, as any client may send it, into
 * FastAPI-style validation (server/rest/fastapi.c) against a model with
 * every kind of field. Invariants: the answer is 0 with an object, or 422
 * with {"detail": [items with type, loc, msg]}, or 400 with
 * {"detail": string}; the JSON scanner agrees with jansson on what parses
 * (a body without NUL bytes that jansson reads is never json_invalid).
 */
#include "server/rest/fastapi.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char *const lits[] = { "a", "b", NULL };
static const struct fastapi_field inner[] = {
	{ .name = "s", .type = FASTAPI_STR, .required = true, .bounds = FASTAPI_MIN_LEN | FASTAPI_MAX_LEN, .min_len = 1, .max_len = 4 },
	{ .name = "f", .type = FASTAPI_FLOAT, .bounds = FASTAPI_GT, .gt = 0 },
	{ .name = "b", .type = FASTAPI_BOOL, .nullable = true },
	{ 0 },
};
static const struct fastapi_field item = { .type = FASTAPI_MODEL, .fields = inner };
static const struct fastapi_field num = { .type = FASTAPI_INT, .bounds = FASTAPI_LE, .le = 9 };
static const struct fastapi_field model[] = {
	{ .name = "id", .type = FASTAPI_STR, .required = true, .pattern = "^[a-z]+$" },
	{ .name = "lang", .type = FASTAPI_STR, .literals = lits },
	{ .name = "n", .type = FASTAPI_INT, .def = "3", .bounds = FASTAPI_GE | FASTAPI_LE, .ge = 1, .le = 10 },
	{ .name = "items", .type = FASTAPI_LIST, .items = &item, .bounds = FASTAPI_MAX_LEN, .max_len = 3 },
	{ .name = "map", .type = FASTAPI_DICT, .items = &num },
	{ .name = "any", .type = FASTAPI_ANY },
	{ 0 },
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	json_t *out = NULL, *err = NULL;
	int st = fastapi_body(size && data[0] & 1 ? "text/plain" : "application/json", (const char *)data, size, model,
			      &out, &err);
	if (st == 0) {
		if (!json_is_object(out) || err)
			abort();
	} else if (st == 422) {
		json_t *d = json_object_get(err, "detail");
		size_t i;
		json_t *e;
		if (!json_is_array(d) || !json_array_size(d))
			abort();
		json_array_foreach(d, i, e)
			if (!json_is_string(json_object_get(e, "type")) || !json_is_array(json_object_get(e, "loc")) ||
			    !json_is_string(json_object_get(e, "msg")))
				abort();
	} else if (st != 400 || !json_is_string(json_object_get(err, "detail"))) {
		abort();
	}
	/* what jansson reads, the Python-style scanner must not call malformed (jansson stops at a NUL byte) */
	const char *msg;
	size_t pos;
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
	if (j && !memchr(data, 0, size) && fastapi_json_scan((const char *)data, size, &msg, &pos) == -1)
		abort();
	json_decref(j);
	json_decref(out);
	json_decref(err);
	return 0;
}
