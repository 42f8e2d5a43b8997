/**
 * agentflow.h — the translation tables of the AgentFlow dialect (002,
 * OpenDCAI/AgentFlow sandbox/): its actions, how an action's params become
 * the arguments of an mcpbox tool, and how the tool's CallToolResult
 * becomes the action's `data`. Pure functions over JSON (any thread); the
 * routes, sessions and HTTP are agentflow.c's. Shared with the unit test.
 */
#ifndef MCPBOX_REST_AGENTFLOW_H
#define MCPBOX_REST_AGENTFLOW_H

#include <jansson.h>
#include <stdbool.h>

#include "../base/err.h"

/* The twin's codes (server/backends/error_codes.py), not the document's 1001...5000 table. */
enum af_code {
	AF_OK = 0,
	AF_INVALID_INPUT = 4000,
	AF_INVALID_REQUEST_FORMAT = 4002,
	AF_INVALID_PARAMETER_TYPE = 4004,
	AF_RESOURCE_NOT_INITIALIZED = 4007,
	AF_EXECUTION_ERROR = 5000,
	AF_UNEXPECTED_ERROR = 5005,
	AF_TIMEOUT_ERROR = 5006,
	AF_ALL_REQUESTS_FAILED = 5009,
	AF_PARTIAL_FAILURE = 5010,
	AF_INTERNAL_ERROR = 5013,
};

/** What an action becomes. */
enum af_kind {
	AF_SCREENSHOT,	/* the screenshot tool, the screen's full size, PNG */
	AF_INPUT,	/* the input tool, screen pixels */
	AF_MARK,	/* vm:done, vm:fail: nothing to call, the session must exist */
	AF_EXEC,	/* the execute tool */
};

enum af_ptype { AF_P_NUM, AF_P_INT, AF_P_STR, AF_P_STRS, AF_P_OBJ };

struct af_param {
	const char *name;
	enum af_ptype type;
	bool required;
	const char *doc;
};

#define AF_MAX_PARAMS 6

struct af_action {
	const char *name;	/* "vm:click" */
	const char *resource;	/* "vm", "bash", "code": one session per (worker_id, resource) */
	enum af_kind kind;
	const char *tool;	/* the mcpbox tool it calls (NULL for AF_MARK) */
	const char *language;	/* AF_EXEC: execute's language (NULL: the params' "language") */
	const char *description;
	struct af_param params[AF_MAX_PARAMS];
};

/** The actions, ended by one with name NULL. */
extern const struct af_action af_actions[];
/** The resource types with sessions behind them ("vm", "bash", "code"), ended by NULL. */
extern const char *const af_resources[];

/** Is rt one of af_resources? */
bool af_resource_known(const char *rt);

/**
 * Resolve a client's action name as the twin does: exact "res:name"; else
 * "res.name", "res_name", "res-name" with a known prefix; else a bare name
 * that names one action. Returns the action, or NULL with *candidates (new
 * array, caller owns; may be NULL) set when a bare name is ambiguous.
 */
const struct af_action *af_action_find(const char *name, json_t **candidates);

/** An action's entry for GET /tools: {name, full_name, resource_type, stateless, description}. */
json_t *af_action_info(const struct af_action *a, bool with_schema);

/** A failure: the dialect's code, a message (owned) and data (owned, may be NULL). */
struct af_fail {
	enum af_code code;
	char *message;
	json_t *data;
};
void af_fail_release(struct af_fail *f);

/** Where an action runs: the session's mcpbox id and its screen size. */
struct af_target {
	const char *session_id;
	int width, height;
	int64_t timeout_s;	/* the request's timeout (0: none) */
};

/**
 * Check params (an object; borrowed) against a's parameter list: a missing
 * required one is the twin's TypeError (5005), a wrong type 4004. Then build
 * the tool's arguments for target t (new object in *args; NULL for
 * AF_MARK). 0, or -1 with *f filled.
 */
int af_map_args(const struct af_action *a, json_t *params, const struct af_target *t, json_t **args,
		struct af_fail *f);

/**
 * The action's `data` from the tool's result (borrowed; NULL for AF_MARK;
 * cls its failure's class) and the params it was called with: 0 and *data
 * (new), or -1 with *f (the tool's failure by class, or a timed-out
 * execution as 5006). session_name is what vm:screenshot reports as `session`.
 */
int af_map_result(const struct af_action *a, json_t *params, const struct af_target *t, json_t *result,
		  enum err_class cls, const char *session_name, json_t **data, struct af_fail *f);

/** The code of a tool failure of class cls. */
enum af_code af_code_of(enum err_class cls);

/** The twin's session_name: "{rt}_{worker[:32] with [^A-Za-z0-9_-] as '-'}_{NNN}[_{custom[:32]}]". */
char *af_session_name(const char *rt, const char *worker, unsigned n, const char *custom);

/** HTTP status of an envelope code (the twin's routes: 0 → 200, 4xxx → 400, else 500). */
int af_status_of(enum af_code code);

#endif
