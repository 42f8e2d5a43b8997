/**
 * rest.h — the REST compatibility layer: each dialect (one file) serves a
 * seed document's API by translating its requests into the same tool calls
 * MCP clients make, and their results into the dialect's envelope. The
 * router (router.c) mounts every dialect at its documented paths and under
 * /compat/<name>/, settles paths two dialects claim, and is the tools'
 * caller for REST requests (struct tool_caller, tools/tool.h).
 * Loop thread only.
 */
#ifndef MCPBOX_REST_H
#define MCPBOX_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/rights.h"
#include "../../tools/tool.h"
#include "../../transport/http.h"

struct srv_config;

/**
 * One route of a dialect: methods (enum tp_method), the documented path, the
 * handler. REST_STREAMED or'ed into methods: it takes its body as it arrives
 * (tp_http_route_streamed; for a documented path only one dialect serves).
 */
struct rest_route {
	unsigned methods;
	const char *path;
	tp_route_fn handle;
};
#define REST_STREAMED (1u << 16)

struct rest_dialect {
	const char *name;		/* also its prefix: /compat/<name> */
	const struct rest_route *routes;	/* ended by a route with path NULL */
	/*
	 * For a path another dialect serves too (POST /execute): is this
	 * request's body (parsed JSON, may be NULL) this dialect's? NULL: never
	 * shares.
	 */
	bool (*claims)(const char *path, json_t *body);
	/* GET /health, served by several: add this dialect's fields to the union. */
	void (*health)(json_t *out);
	/*
	 * A request under /compat/<name>/ that no route takes, or a documented
	 * path asked with a method no route serves (wrong_method): answer it in
	 * the dialect's own shape (FastAPI's {"detail": "Not Found"}, an
	 * envelope...). NULL: the transport's 404/405.
	 */
	void (*unrouted)(struct tp_req *r, bool wrong_method);
	/*
	 * Path prefixes of its documented paths that other APIs share ("/api/v1";
	 * NULL-ended, or NULL for none). A path under one that no route serves is
	 * answered by the router with the union of the failure fields of every
	 * dialect that declares the prefix (fail_fields), as /health is.
	 */
	const char *const *prefixes;
	/* Add this dialect's fields of a failure with status and message to out. */
	void (*fail_fields)(json_t *out, int status, const char *message);
	/* Set up (config, state); called once before serving. */
	void (*init)(const struct srv_config *cfg);
	/* Free what init made; nothing is in flight any more. */
	void (*release)(void);
	/*
	 * Session id was deleted, by this dialect or any other way (a tool, its
	 * idle end): drop what is kept for it (its objects in the store are gone
	 * already). NULL: nothing kept.
	 */
	void (*session_gone)(const char *id);
};

/* The dialects (one file each; router.c's table lists them). */
extern const struct rest_dialect rest_manager;	/* 000: manager.c */
extern const struct rest_dialect rest_agentflow;	/* 002: agentflow.c */
extern const struct rest_dialect rest_executor;	/* 001: executor.c */
extern const struct rest_dialect rest_soulbox;	/* 004: soulbox*.c */
extern const struct rest_dialect rest_agentbox;	/* 003: agentbox.c */

/** The outcome of a login or a password change (server/users.h's, for dialects). */
struct rest_login {
	bool ok;
	enum err_class cls;		/* when not ok: ERR_DENIED, ERR_INVALID, ERR_LIMIT, ERR_INTERNAL */
	const char *message;
	const char *token;		/* a login's, valid during the callback */
	uint64_t expires_in;		/* seconds */
	unsigned retry_after_s;		/* ERR_LIMIT */
};
typedef void (*rest_login_cb)(void *arg, const struct rest_login *res);

/** A new API key as a dialect asks for it (server/auth.h's srv_key_spec). Strings borrowed. */
struct rest_key_spec {
	const char *name;		/* NULL: "unnamed" */
	const char *description;	/* NULL: "" */
	bool caps_set;			/* rights.caps was asked; otherwise the creator's */
	struct srv_rights rights;	/* caps, expires_at (epoch ms, 0: the creator's), grants asked */
};

/** A dialect's stored object (objects below): id, its owner (a principal), when, and its document. */
typedef void (*rest_object_fn)(void *arg, const char *id, const char *owner, int64_t created_ms, json_t *doc);

/**
 * What the server gives dialects that keep more than the tools do (003):
 * users who log in (server/users.h; password work runs off the loop and
 * callbacks come on the loop, once) and objects kept in the store across
 * restarts (server/store.h's rest_objects, one JSON document per dialect and
 * id). Set before rest_start under serve (server/services.c); loop thread.
 */
struct rest_services {
	void (*login)(const char *name, const char *pw, size_t len, const char *source, rest_login_cb cb, void *arg);
	void (*change_password)(const char *name, const char *old, size_t old_len, const char *new_pw, size_t new_len,
				const char *source, rest_login_cb cb, void *arg);
	/* logout: a login token of this server is refused from now on, everywhere (1; 0 not a valid token; -1) */
	int (*logout)(const char *token, struct err **errp);
	/* 1 and a new {name, role, created_at, disabled_at?}; 0 no such user; -1 */
	int (*user_get)(const char *name, json_t **out, struct err **errp);
	/* users, for administrators' endpoints: all ({name, role, created_at, disabled_at?}, oldest first) */
	int (*user_list)(json_t **out, struct err **errp);
	/*
	 * Make a user, or change one (role NULL: unchanged; enable 1 / 0 / -1 unchanged; pw NULL:
	 * unchanged); a password is hashed off the loop. cb once, on the loop: ok, or the class
	 * and message (ERR_INVALID, ERR_CONFLICT, ERR_NOT_FOUND, ERR_INTERNAL).
	 */
	void (*user_create)(const char *name, const char *role, const char *pw, size_t len, rest_login_cb cb, void *arg);
	void (*user_update)(const char *name, const char *role, int enable, const char *pw, size_t len, rest_login_cb cb,
			    void *arg);
	/* API keys (server/auth.h) as principal: the ones it sees, revoke one (key_make: below) */
	int (*key_list)(const char *principal, json_t **out, struct err **errp);
	int (*key_revoke)(const char *principal, const char *id, struct err **errp);
	/*
	 * Users' levels on others' sessions (server/grants.h): the level shared with principal's user on sid
	 * (SRV_LEVEL_NONE: none); set (update: only an existing grant, else ERR_NOT_FOUND) answering the grant
	 * {id, user, session_id, level, granted_by, granted_at (ms)}; remove (1, 0 none, -1); list (user NULL: all).
	 */
	enum srv_level (*shared_level)(const char *principal, const char *sid);
	int (*grant_set)(const char *user, const char *sid, enum srv_level level, const char *by, bool update,
			 json_t **out, struct err **errp);
	int (*grant_remove)(const char *user, const char *sid, struct err **errp);
	json_t *(*grant_list)(const char *user);
	/* the rights of principal's credential: 1 and *out, 0 unknown (srv_auth_rights) */
	int (*rights)(const char *principal, struct srv_rights *out);
	/* objects: put replaces (doc borrowed); list calls fn for each, oldest first */
	int (*object_put)(const char *dialect, const char *id, const char *owner, int64_t created_ms, const json_t *doc,
			  struct err **errp);
	int (*object_delete)(const char *dialect, const char *id, struct err **errp);
	int (*object_list)(const char *dialect, rest_object_fn fn, void *arg, struct err **errp);
	/*
	 * Make an API key as principal, never with more than it holds
	 * (srv_auth_key_make): 0 and *out {key (the secret, shown once), id, name,
	 * description, permissions, expires_at, created_at, ...}, or -1
	 * (ERR_INVALID: a bad ask; ERR_DENIED: more than principal holds).
	 */
	int (*key_make)(const char *principal, const struct rest_key_spec *spec, json_t **out, struct err **errp);
};
/** Set the services (a static that outlives the server). */
void rest_set_services(const struct rest_services *s);
/** The services, or NULL (stdio: no users, and no dialect is served). */
const struct rest_services *rest_services(void);

/** Mount every dialect the config enables (cfg->compat) on the HTTP transport. */
void rest_start(const struct srv_config *cfg);
/** Release the dialects' state (after the loop has no request left). */
void rest_stop(void);
/** Session id was deleted: each dialect served drops what it keeps for it (nothing before rest_start). */
void rest_session_gone(const char *id);
/** Tool calls made by REST requests that are not finished yet. */
unsigned rest_calls(void);

/* ---- for dialects ---- */

/**
 * The per-principal tool state of a dialect (created on first use, kept
 * until rest_stop): which sessions a caller's screenshots map, and so on.
 */
struct tool_conn *rest_conn(const char *dialect, const char *principal);

/**
 * Call tool with args (stolen) as principal on behalf of request r;
 * done(arg, result, cls) gets the CallToolResult (stolen; cls is the failure's
 * class when result has isError). If the client leaves, the call is
 * cancelled and done still runs (r may then be answered; it is dropped).
 */
typedef void (*rest_done_fn)(void *arg, json_t *result, enum err_class cls);
void rest_call(struct tp_req *r, const char *principal, struct tool_conn *conn, const char *tool, json_t *args,
	       rest_done_fn done, void *arg);

/** A CallToolResult's structuredContent (borrowed), or NULL. */
json_t *rest_result_data(json_t *result);
/** A CallToolResult's first text block (borrowed), or "". */
const char *rest_result_text(json_t *result);
/**
 * A tool's failure text as a dialect says it (within text): without the
 * tool's name that MCP shows before it ("session_create: ...", "Invalid
 * arguments for execute: ..."), since a dialect's clients call no tools.
 */
const char *rest_message(const char *text);
/** Is result an error? */
bool rest_result_failed(json_t *result);
/**
 * The HTTP status a failure of class cls on r maps to: 400, 404, 409, 403,
 * 503, 504, 500; a limit is 429 only when a rate limit refused r
 * (tp_req_rate_refused: waiting lifts it), else 403 (a quota, a disk limit).
 * r may be NULL (then a limit is 403).
 */
int rest_status_of(const struct tp_req *r, enum err_class cls);
/** ISO 8601 UTC with milliseconds, now. */
json_t *rest_now(void);
/** ISO 8601 UTC with milliseconds of ms (epoch ms). */
json_t *rest_time(int64_t ms);

#endif
