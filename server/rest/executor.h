/**
 * executor.h — the translation of the executor dialect (001, the Sandbox
 * Executor): its request model, a request onto the execute tool's
 * arguments, and execute's result onto the answer. Pure functions over JSON
 * (any thread); routes, sandboxes and HTTP are executor.c's. Shared with the
 * unit test.
 */
#ifndef MCPBOX_REST_EXECUTOR_H
#define MCPBOX_REST_EXECUTOR_H

#include <jansson.h>
#include <stdint.h>

#include "fastapi.h"

/** The label naming a sandbox by the client's session_id. */
#define EXECUTOR_LABEL "compat.executor.session_id"

/** POST /execute's body: the twin's ExecuteRequest (pydantic). */
extern const struct fastapi_field executor_request[];

/**
 * The execute tool's arguments (new) for a validated request, run in
 * session; the timeout clamped to max_timeout seconds (0: 3600).
 */
json_t *executor_tool_args(json_t *req, const char *session, uint64_t max_timeout);

/** completed, failed, timeout or error, from execute's structuredContent. */
const char *executor_status(json_t *sc);

/** The answer (new) to req from execute's structuredContent sc. */
json_t *executor_answer(json_t *req, json_t *sc);

#endif
