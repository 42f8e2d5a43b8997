/**
 * fastapi.h — request bodies read, validated and refused the way a FastAPI
 * (0.128) service with pydantic 2 does it, for the dialects whose twins are
 * FastAPI services (001's executor; 002 is one too): a body model is a
 * table of fields, and what is wrong with a request becomes FastAPI's
 *
 *	422 {"detail":[{"type":"missing","loc":["body","code"],"msg":"Field required","input":{...}}, ...]}
 *
 * with pydantic 2's error types, messages, inputs and ctx, in field order,
 * every error at once. Malformed JSON is the json_invalid item with
 * Python's json decoder message and character position; a body that is not
 * UTF-8 (or nested deeper than Python decodes) is FastAPI's
 * 400 {"detail":"There was an error parsing the body"}.
 *
 * Values are checked in pydantic's lax Python mode (FastAPI validates what
 * json.loads made): "10" is an int, 10.0 is an int, 10.5 is not, true is 1;
 * numbers are not strings. Fields the model does not declare are ignored.
 * No state but compiled patterns (fastapi_release). Any thread.
 */
#ifndef MCPBOX_FASTAPI_H
#define MCPBOX_FASTAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum fastapi_type {
	FASTAPI_ANY = 0,	/* any JSON value */
	FASTAPI_STR,		/* str */
	FASTAPI_INT,		/* int */
	FASTAPI_FLOAT,		/* float */
	FASTAPI_BOOL,		/* bool */
	FASTAPI_DICT,		/* dict (values: items, if given) */
	FASTAPI_LIST,		/* list (elements: items, if given) */
	FASTAPI_MODEL,		/* a nested BaseModel (fields) */
};

/* Which constraints of a field apply (pydantic's Field(ge=..., max_length=...)). */
enum {
	FASTAPI_GE = 1 << 0,
	FASTAPI_LE = 1 << 1,
	FASTAPI_GT = 1 << 2,
	FASTAPI_LT = 1 << 3,
	FASTAPI_MIN_LEN = 1 << 4,	/* characters of a str, items of a list */
	FASTAPI_MAX_LEN = 1 << 5,
};

struct fastapi_field {
	const char *name;		/* NULL ends a model's table */
	enum fastapi_type type;
	bool required;
	bool nullable;			/* Optional[...]: null is a value */
	const char *def;		/* JSON text an absent optional field gets (NULL: it stays absent) */
	unsigned bounds;		/* FASTAPI_GE | ... */
	double ge, le, gt, lt;
	size_t min_len, max_len;
	const char *pattern;		/* str: an extended regular expression it must match (searched, as pydantic) */
	const char *const *literals;	/* str: Literal[...] values, NULL-ended */
	const struct fastapi_field *fields;	/* FASTAPI_MODEL: its fields */
	const struct fastapi_field *items;	/* FASTAPI_LIST elements / FASTAPI_DICT values (name unused) */
};

/**
 * Read a request body as FastAPI does for a route whose body is model
 * (content_type: the request's Content-Type, NULL if none; a type other than
 * application/json or application/ *+json makes the body a string, which no
 * model accepts). 0 and *out (new: declared fields only, coerced, defaults
 * applied); or the HTTP status (422 or 400) and *error, the body to answer.
 */
int fastapi_body(const char *content_type, const char *body, size_t len, const struct fastapi_field *model,
		 json_t **out, json_t **error);
/**
 * The same with parsed (borrowed), what json_loadb(body, len,
 * JSON_DECODE_ANY) gave, when the caller has it (http.h's
 * tp_req_body_json: a large body is parsed off the loop): the body is then
 * neither scanned nor parsed again. NULL: as fastapi_body.
 */
int fastapi_body_parsed(const char *content_type, const char *body, size_t len, json_t *parsed,
			const struct fastapi_field *model, json_t **out, json_t **error);

/**
 * Whether fastapi_body_parsed refuses this body only after reading all of it:
 * jansson refused it (parsed NULL), so the position Python's decoder names is
 * looked for, or its type is not JSON, so FastAPI's answer echoes it. Either
 * way the answer is a refusal, whatever the model.
 */
bool fastapi_refusal_reads_body(const char *content_type, size_t len, const json_t *parsed);

struct tp_req;
/**
 * fastapi_body_parsed on a route's request (fastapi_req.c; the loop thread):
 * the model's value (new), or NULL when r is refused in FastAPI's shape. A
 * body of SRV_OFFLOAD_MIN bytes or more that fastapi_refusal_reads_body is
 * refused from off the loop, in its sender's turn (tp_req_offload): NULL at
 * once, and r is answered when that is done. The route returns at NULL.
 */
json_t *fastapi_req_body(struct tp_req *r, const struct fastapi_field *model);

/**
 * Validate value (borrowed) against model at loc (borrowed array, e.g.
 * ["body"]), appending every error to detail (an array); 0 and *out (new),
 * or -1 when something was wrong.
 */
int fastapi_validate(json_t *value, const struct fastapi_field *model, json_t *loc, json_t *detail, json_t **out);

/**
 * Append one error item: type, loc (stolen), msg, input (borrowed; NULL:
 * none), ctx (stolen; NULL: none).
 */
void fastapi_error(json_t *detail, const char *type, json_t *loc, const char *msg, json_t *input, json_t *ctx);

/** {"detail": the formatted message} (HTTPException's body). */
json_t *fastapi_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Check s as Python's json.loads would: 0 when it decodes; -1 with *msg (a
 * static string such as "Expecting value") and *pos (in characters, as
 * Python counts) when it is malformed; -2 when Python could not decode it
 * at all (not UTF-8, nested too deep).
 */
int fastapi_json_scan(const char *s, size_t len, const char **msg, size_t *pos);

/** Free the compiled patterns. */
void fastapi_release(void);

#endif
