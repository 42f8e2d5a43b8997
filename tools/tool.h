/**
 * tool.h — the tool registry and what every tool handler gets.
 *
 * A tool family (one file: exec.c, files.c, session_tools.c) declares its
 * tools as a table of struct tool_def with the JSON Schema of its arguments
 * (and of its structured result) written beside the handler. The registry
 * validates arguments against the schema before the handler runs, so a
 * handler only sees well-typed arguments; every bad argument becomes an
 * isError result whose text names the argument and what was expected.
 *
 * A handler owns its struct tool_call and finishes it exactly once, now or
 * later, with tool_ok(), tool_fail() or tool_finish(). Protocol-agnostic:
 * no tool knows whether a call came over MCP or a REST dialect, only its
 * caller (struct tool_caller: principal, per-caller state, and how to
 * answer, report progress, log and learn of cancellation).
 * Loop thread only.
 */
#ifndef MCPBOX_TOOL_H
#define MCPBOX_TOOL_H

#include <jansson.h>
#include <stdbool.h>

#include "../server/base/err.h"
#include "../server/base/pool.h"	/* every tool that works on the pool queues through srv_pool_queue */
#include "../server/base/rate.h"
#include "../server/base/template.h"
#include "../sessions/session.h"

struct snap_store;

/**
 * Where templates made by tool are kept (server/records.c over the store).
 * settings is borrowed; load calls fn for each stored one (owner "" : everyone's).
 */
struct tool_tmpl_store {
	int (*put)(void *arg, const char *owner, const char *name, json_t *settings, uint64_t created_ms,
		   struct err **errp);
	int (*del)(void *arg, const char *owner, const char *name, struct err **errp);
	int (*load)(void *arg, void (*fn)(void *fnarg, const char *owner, const char *name, json_t *settings,
					  uint64_t created_ms),
		    void *fnarg, struct err **errp);
	void *arg;
};

/**
 * Alerts on the server's metrics (server/alerts.h), for the alert_* tools.
 * An alert is {alert_id, rule_name, severity, status, message, metric, op,
 * value, threshold, triggered_at, ...}. Results are owned by the caller.
 */
struct tool_alerts {
	/* {"alerts": [...]}, newest first; status, severity: filters (NULL: any), already validated */
	json_t *(*list)(void *arg, const char *status, const char *severity, struct err **errp);
	/*
	 * Acknowledge (resolve false) or resolve alert id as principal, with a
	 * comment (NULL: none): the alert as it is then. ERR_NOT_FOUND for an
	 * unknown id, ERR_CONFLICT for one already resolved.
	 */
	json_t *(*act)(void *arg, const char *id, bool resolve, const char *principal, const char *comment,
		       struct err **errp);
	void *arg;
};

/** A key asked for by key_create (strings borrowed). */
struct tool_key_request {
	const char *name, *description;
	bool caps_set;			/* rights.caps was asked; otherwise the creator's */
	struct srv_rights rights;	/* admin, no_network, caps, expires_at, grants */
};

/**
 * API keys as the server keeps them (server/auth.h), for key_create,
 * key_list and key_revoke: each acts as principal, who sees, makes and
 * revokes only keys of its own (administrators: all) and never grants more
 * than it holds (ERR_DENIED). make: *key is the secret (free()), *info the
 * key's listing entry.
 */
struct tool_keys {
	int (*make)(void *arg, const char *principal, const struct tool_key_request *rq, char **key, json_t **info,
		    struct err **errp);
	int (*list)(void *arg, const char *principal, json_t **out, struct err **errp);
	int (*revoke)(void *arg, const char *principal, const char *id, struct err **errp);
	void *arg;
};

/** Server-wide things tools use. */
struct tool_env {
	struct sess_registry *sessions;
	const struct srv_config *cfg;
	/* the snapshot object store, opened on first use (NULL with *errp if it cannot be) */
	struct snap_store *(*snapshots)(struct err **errp);
	bool fixtures;		/* also offer the conformance fixture tools */
	char http_base[300];	/* "http://host:port" of serve, for URLs in results; "" under stdio */
	const struct tool_tmpl_store *templates;	/* NULL: templates made by tool live in memory only */
	const struct tool_alerts *alerts;	/* NULL: no alerts (the alert tools say so) */
	const struct tool_keys *keys;	/* NULL: no key tools (stdio without a store) */
};

/**
 * What the tools keep per caller, whichever protocol it speaks: embedded in
 * an MCP connection, or in a REST dialect's per-principal or per-sandbox
 * state. Released with tool_conn_release().
 */
struct tool_view;

struct tool_conn {
	char *implicit_session;	/* id of the caller's default session, once created */
	json_t *client_caps;	/* the client's MCP initialize capabilities (owned), or NULL */
	struct tool_view *views;	/* per session: how this caller's last screenshot maps (display.c) */
	/*
	 * A session-bound endpoint (session_info's mcp_url): every call acts on
	 * this session, other session_ids are refused, and only the tools that
	 * work inside one session are offered, with seed 000's names as aliases.
	 */
	char *bound_session;
	/* the longest answer the caller's transport carries in one message (0: no bound): default read windows fit in it */
	size_t max_answer;
};

/** The answer to a question asked of the client (exactly one of result and error is set). */
typedef void (*tool_reply_cb)(void *arg, json_t *result, json_t *error);

/**
 * How a call talks back to whoever made it. ctx is the caller's (an MCP
 * request, an HTTP request). Only finish is required.
 */
struct tool_caller_ops {
	/*
	 * The call is done: result is a CallToolResult (stolen); for an isError
	 * result cls says what kind of failure it is (ERR_INTERNAL otherwise).
	 * Called exactly once, also after a cancellation.
	 */
	void (*finish)(void *ctx, json_t *result, enum err_class cls);
	/* Does the caller want progress reports? */
	bool (*wants_progress)(void *ctx);
	/* Progress (increasing), total (0: unknown) and a short message. */
	void (*progress)(void *ctx, double progress, double total, const char *msg);
	/* A log message (enum log_level) about the call. */
	void (*log)(void *ctx, int lvl, const char *msg);
	/* Output of a running program as it arrives (stream "stdout" or "stderr"). */
	void (*output)(void *ctx, const char *stream, const char *data, size_t len);
	/* Call fn(arg) once if the caller gives up on the call (it still must be finished). */
	void (*on_cancel)(void *ctx, void (*fn)(void *arg), void *arg);
	/* Ask the client something (MCP sampling/elicitation); steals params. */
	void (*ask)(void *ctx, const char *method, json_t *params, tool_reply_cb cb, void *arg);
	/*
	 * A rate limit applies to the call (server/base/rate.h): told once, before
	 * the call runs, with the state of the bucket it used (for headers). When
	 * v->refused the call does not run: return true if the caller answered
	 * the refusal itself in its protocol's shape (finish is then not called),
	 * false to get it finished as an isError result of class ERR_LIMIT.
	 * NULL: the same as returning false.
	 */
	bool (*rate)(void *ctx, const struct srv_rate_verdict *v);
};

struct tool_caller {
	const struct tool_caller_ops *ops;
	void *ctx;
	const char *principal;	/* who calls; sessions of others are invisible (outlives the call) */
	struct tool_conn *conn;	/* the caller's state (outlives the call) */
	bool counted;		/* made by a call its rate limit already counted (an alias's target) */
};

struct tool_call;
/**
 * May the caller start a display for s (NULL: a new session)? 0, or -1 with
 * a message naming the caller's displays quota (display.c). A session whose
 * display already runs needs no new one.
 */
int tool_display_quota(struct tool_call *call, struct sess_session *s, struct err **errp);
/** Forget a connection's screenshot mappings (display.c; at tool_conn_release). */
void tool_display_views_free(struct tool_conn *tc);

struct tool_call {
	struct tool_caller caller;
	const char *principal;	/* caller.principal */
	struct tool_conn *conn;	/* caller.conn */
	json_t *args;		/* validated arguments (owned: the call's own object, whose values it shares
				   with the caller's, so a handler may take a value out when done with it) */
	const struct tool_env *env;
	const struct tool_def *def;
	char *restarted;	/* id of a stopped session this call started again (said in the result) */
	void *state;		/* the handler's */
	void (*state_free)(void *state);	/* frees state when the call finishes (may be NULL) */
	struct srv_rights rights;	/* what principal's credential may do (base/rights.h), checked before run */
};

struct tool_def {
	const char *name;
	const char *title;
	const char *description;
	const char *input_schema;	/* JSON text */
	const char *output_schema;	/* JSON text or NULL */
	bool read_only, destructive, idempotent, open_world;
	void (*run)(struct tool_call *call);
};

/* Labels on sessions and snapshots: bounded in count and bytes (they are kept in every record and listing). */
#define TOOL_LABELS_SCHEMA \
	"{\"type\":\"object\",\"maxProperties\":32,\"propertyNames\":{\"maxLength\":64}," \
	"\"additionalProperties\":{\"type\":\"string\",\"maxLength\":256}," \
	"\"description\":\"At most 32 labels; names up to 64 characters, values up to 256.\"}"

extern const struct tool_def tool_exec_defs[];
extern const struct tool_def tool_job_defs[];
extern const struct tool_def tool_terminal_defs[];
extern const struct tool_def tool_file_defs[];
extern const struct tool_def tool_session_defs[];
extern const struct tool_def tool_fixture_defs[];
extern const struct tool_def tool_snapshot_defs[];
extern const struct tool_def tool_search_defs[];
extern const struct tool_def tool_alias_defs[];
/** The tool an alias (tool_alias_defs) calls, or NULL when name is no alias. */
const char *tool_alias_target(const char *name);
extern const struct tool_def tool_edit_defs[];
extern const struct tool_def tool_template_defs[];
extern const struct tool_def tool_monitor_defs[];
extern const struct tool_def tool_key_defs[];

/* ---- session templates (template_tools.c) ---- */
/** A template resolved for session_create (settings borrowed: valid until templates change). */
struct tool_tmpl {
	char name[SRV_TMPL_NAME_MAX + 1];	/* the template used */
	char image[201];			/* the image name asked for, or "" */
	char language[33];			/* its language, or "" */
	json_t *settings;
};
/** Are the config's templates' languages ones mcpbox runs? (start-up: the config cannot know the table) */
int tool_tmpl_config_check(const struct srv_config *cfg, struct err **errp);
/** Load the stored templates (env->templates); at registry init. */
void tool_tmpl_init(const struct tool_env *env);
void tool_tmpl_release(void);
/**
 * The template name (or an image name: python:*, node:*, ubuntu...) as
 * principal sees it. ERR_NOT_FOUND naming the available templates.
 */
int tool_tmpl_resolve(const char *principal, const char *name, struct tool_tmpl *out, struct err **errp);
/** Write a template's files ({path: text}) into s's workspace (owned by the sandbox user). */
int tool_tmpl_write_files(const struct tool_env *env, struct sess_session *s, json_t *files, struct err **errp);
extern const struct tool_def tool_kernel_defs[];

struct sess_snap;
/**
 * session_create {snapshot_id}: when the host can mount overlays (root), make
 * sure sn's tree is materialized once (DATA/snapshots/trees/<commit>) and call
 * cont with its path; otherwise call cont with tree NULL (the workspace is
 * then filled by a restore). On failure the call is finished (in_use dropped).
 */
void tool_snapshot_tree(struct tool_call *call, struct sess_snap *sn,
			void (*cont)(struct tool_call *call, struct sess_snap *sn, const char *tree));
/** session_create {snapshot_id}: fill s's workspace from sn (in_use raised by the caller), then reply. */
void tool_fill_from_snapshot(struct tool_call *call, struct sess_session *s, struct sess_snap *sn,
			     void (*reply)(struct tool_call *call, struct sess_session *s));
extern const struct tool_def tool_display_defs[];
extern const struct tool_def tool_browser_defs[];

/**
 * The rate-limit category of a call of tool name: execute and terminal_open
 * (programs started), session_create and session_destroy, everything else.
 */
enum srv_rate_cat tool_rate_category(const char *name);

/**
 * Rights (base/rights.h). Every call is checked once in tool_registry_call,
 * whatever transport it came by: the tool's capability and level (a table
 * in registry.c: read tools need sandbox_read as viewer, tools that change
 * a session sandbox_write as editor, tools that run programs execute as
 * editor, session_destroy sandbox_write as owner, session_create
 * sandbox_write and no session scope), the session it names (session_id,
 * a job's or terminal's session, the bound session), and a scoped key's
 * limits. A refusal is an isError result of class ERR_DENIED naming the
 * missing right. Handlers use these for what they hand out.
 */
bool tool_may(const struct tool_call *call, const char *sid, unsigned caps, enum srv_level level);
/** May the caller give input to session sid (a control token: sandbox_write and execute as editor)? */
bool tool_may_control(const struct tool_call *call, const char *sid);
/**
 * The same check as a call of tool on session sid gets (the table above, a
 * scoped key's limits, conn's bound session; conn may be NULL), for work
 * that is done outside a tool call but must be allowed exactly as the tool
 * is (a streamed upload is file_write's, a download file_read's): 0, or -1
 * with ERR_DENIED and the text the call would get (ERR_NOT_FOUND: no such tool).
 */
int tool_rights_check(const char *principal, const struct tool_conn *conn, const char *tool, const char *sid,
		      struct err **errp);

/** Parse every schema once; aborts on a malformed built-in schema (a bug). */
void tool_registry_init(const struct tool_env *env);
void tool_registry_release(void);
/** The env given to tool_registry_init (for work done outside a call: tools/file_stream.h). */
const struct tool_env *tool_registry_env(void);
/**
 * {"tools":[...]} in a fixed order: what tc (NULL: an ordinary caller) is
 * offered, less what principal's credential can never call (a viewer key
 * gets no execute; a key limited to some sessions no session_create).
 * principal NULL: no such filter.
 */
json_t *tool_registry_list(const struct tool_conn *tc, const char *principal);
/** Is a tool of that name offered to tc (NULL: an ordinary caller)? */
bool tool_registry_has(const struct tool_conn *tc, const char *name);
/**
 * Validate args (borrowed; NULL: none) and run the tool; the caller's finish
 * is called exactly once, possibly before this returns. An unknown tool is
 * the caller's to refuse first (tool_registry_has); here it is an isError
 * result of class ERR_NOT_FOUND.
 */
void tool_registry_call(const struct tool_caller *caller, const char *name, json_t *args);
/** The caller is gone: forget its state and destroy its implicit session (one tool_with_session made). */
void tool_conn_release(struct tool_conn *tc);

/**
 * Validate value against a schema (the subset our schemas use: type, enum,
 * required, properties, additionalProperties, items, minimum, maximum,
 * minLength, maxLength). where names the value ("arguments").
 */
int tool_schema_check(json_t *schema, json_t *value, const char *where, struct err **errp);

/* ---- finishing a call ---- */

/** Result with structuredContent (stolen) and a text block (the JSON of it when text is NULL). */
void tool_ok(struct tool_call *call, json_t *structured, const char *text);
/**
 * Which session a listing tool is limited to: the bound session, else the
 * session_id argument, else none (*only = NULL: all of the caller's). False
 * when the one named is not the caller's: the call is then finished (not found).
 */
bool tool_list_scope(struct tool_call *call, const char **only);
/** The result tool_ok() makes, for a text of len bytes (NULs and invalid UTF-8 shown, not cut), to finish later. */
json_t *tool_result_text(json_t *structured, const char *text, size_t len);
/** isError result with a message, of class ERR_INVALID (the call's arguments or the state it asks about). */
void tool_fail(struct tool_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The same with another class. */
void tool_fail_as(struct tool_call *call, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/** isError result from err: "context: err_text(err)" (context may be NULL), err's class. */
void tool_fail_err(struct tool_call *call, struct err *err, const char *context, ...)
	__attribute__((format(printf, 3, 4)));
/** Finish with a complete CallToolResult (stolen). */
void tool_finish(struct tool_call *call, json_t *result);
/** The same, keeping the class of a failure (result with isError). */
void tool_finish_as(struct tool_call *call, json_t *result, enum err_class cls);

/* ---- session-bound endpoints (bind.c) ---- */
#define TOOL_TOKEN_LEN 32
/** The token that binds an endpoint to session sid of owner (valid while the session and this process live). */
void tool_session_token(const char *owner, const char *sid, char out[TOOL_TOKEN_LEN + 1]);
/** Is token sid's? 1 with its owner copied out, or 0. */
int tool_session_token_check(const struct tool_env *env, const char *sid, const char *token, char *owner,
			     size_t cap);

/* ---- helpers for handlers ---- */

/** Argument getters (arguments are already validated; absent → default). */
const char *tool_arg_str(struct tool_call *call, const char *name, const char *def);
int64_t tool_arg_int(struct tool_call *call, const char *name, int64_t def);
bool tool_arg_bool(struct tool_call *call, const char *name, bool def);

typedef void (*tool_session_cb)(struct tool_call *call, struct sess_session *s);
/**
 * Find the session the call names (argument session_id) or the connection's
 * implicit session, creating it on first use, and call cb once it runs. A
 * stopped session (e.g. made by an earlier process) is started again first,
 * and the result says so. On failure the call is finished with an error and
 * cb is not called.
 */
void tool_with_session(struct tool_call *call, tool_session_cb cb);

/** Log to the caller (MCP: notifications/message, logger "mcpbox"). */
void tool_log(struct tool_call *call, int lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Does the caller want progress reports? */
bool tool_wants_progress(struct tool_call *call);
void tool_progress(struct tool_call *call, double progress, double total, const char *msg);
/** Program output as it arrives, to a caller that streams it. */
bool tool_wants_output(struct tool_call *call);
void tool_output(struct tool_call *call, const char *stream, const char *data, size_t len);
/**
 * A timer a call owns: allocated, started (cb gets data as t->data) and
 * freed by tool_timer_drop once libuv has closed it. Loop thread.
 */
uv_timer_t *tool_timer_start(uv_timer_cb cb, void *data, uint64_t timeout_ms, uint64_t repeat_ms);
/** Stop and close *t (freed when closed) and set it NULL; no-op on NULL. */
void tool_timer_drop(uv_timer_t **t);
/** Call fn(arg) once if the caller gives up on the call (the handler must still finish it). */
void tool_on_cancel(struct tool_call *call, void (*fn)(void *arg), void *arg);
/** Ask the client (MCP sampling/elicitation); a caller that cannot gets cb with an error. Steals params. */
void tool_ask(struct tool_call *call, const char *method, json_t *params, tool_reply_cb cb, void *arg);

/** Make a JSON string from bytes that may not be valid UTF-8 (bad bytes → U+FFFD). */
json_t *tool_json_text(const char *data, size_t len);
/** ISO 8601 UTC from epoch milliseconds. */
json_t *tool_json_time(uint64_t ms);
/** Sort array a in place, cmp comparing two `json_t *const *`. */
void tool_json_sort(json_t *a, int (*cmp)(const void *, const void *));

#endif
