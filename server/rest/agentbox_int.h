/*
 * agentbox_int.h — what the files of dialect 003 share (agentbox.c:
 * requests, auth, environments; agentbox_exec.c: exec, runs, logs, rate
 * limits; agentbox_attach.c: the attach WebSocket). Loop thread only.
 */
#ifndef MCPBOX_REST_AGENTBOX_INT_H
#define MCPBOX_REST_AGENTBOX_INT_H

#include <stdbool.h>

#include "agentbox.h"
#include "rest.h"
#include "../base/config.h"
#include "../../sessions/session.h"

#define AB_MAX_ID 128
#define AB_SANDBOX_ID 1000	/* the uid and gid programs run as in every sandbox */

/* ab_begin flags */
enum {
	AB_PUBLIC = 1 << 0,		/* no credential asked */
	AB_BODY_REQUIRED = 1 << 1,	/* an empty body is "invalid request body" */
	AB_NO_RATE = 1 << 3,		/* not counted in a rate category (counted already) */
	/* the document's rate-limit categories (default: other operations) */
	AB_RATE_AUTH = 1 << 4,
	AB_RATE_CREATE = 1 << 5,
	AB_RATE_EXEC = 1 << 6,
	/* what an /environments/{id} request needs of a key's rights (default: viewer, sandbox_read) */
	AB_NEED_EDITOR = 1 << 7,	/* editor (003's write) */
	AB_NEED_OWNER = 1 << 8,		/* owner (003's admin) */
	AB_NEED_EXECUTE = 1 << 9,	/* the execute capability */
	AB_NEED_WRITE = 1 << 10,	/* sandbox_write */
};

/** One request's chain of tool calls. */
struct abreq {
	struct tp_req *r;
	char principal[256];
	struct tool_conn *conn;
	char id[AB_MAX_ID + 1];		/* the path's {id} */
	char host[256];			/* the Host header (for endpoint URLs) */
	const char *base;		/* "/api/v1" or "/compat/agentbox/api/v1" */
	json_t *body;			/* the parsed body, if any */
	json_t *work, *info;		/* kept between calls */
	const char *what;		/* the twin's short error for failures ("failed to execute command") */
	bool program;			/* the call runs a program: its own failure (isError with an exit_code) is a result */
	const char *not_found;		/* the short error of a tool's ERR_NOT_FOUND (default: environment not found) */
	void (*next)(struct abreq *a, json_t *data);
	void (*failed)(struct abreq *a, enum err_class cls, const char *text);	/* instead of the default mapping */
};

/** Answer body (stolen) as Go's encoder writes it. */
void ab_send(struct tp_req *r, int status, json_t *body);
/**
 * The HTTP status of a tool's failure of class cls on r; for a limit also
 * *error, its short error: 429 "rate limit exceeded" when a rate limit
 * refused r, else 403 "limit exceeded" (a quota or a disk limit).
 */
int ab_status_of(struct tp_req *r, enum err_class cls, const char **error);
/** Answer {error, message, code}. */
void ab_fail(struct tp_req *r, int status, const char *error, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * The caller, as the twin's middleware finds it: X-API-Key (a key), else
 * "Authorization: Bearer T" (T a login token or a key); for a WebSocket
 * also the subprotocol pair and ?token=. 0 and principal, or -1 and *why
 * (the twin's 401 message).
 */
int ab_authenticate(struct tp_req *r, bool websocket, char *principal, size_t cap, const char **why);
/** A WebSocket upgrade's token from Sec-WebSocket-Protocol ("Authorization, Bearer T") or ?token=: 0, or -1. */
int ab_ws_token(struct tp_req *r, char *out, size_t cap);
/** Has s a JWT's shape? */
bool ab_jwt_like(const char *s);
/**
 * The user principal acts for ("user:NAME", "admin:user:NAME", a user's key
 * "user:NAME#key_ID"): NAME into out, or NULL (a key of its own, stdio).
 */
const char *ab_user_name(const char *principal, char *out, size_t cap);

/**
 * Start a request: authenticate (unless AB_PUBLIC), take a token of its
 * rate category, read the path's param, parse a JSON object body of at most
 * body_max bytes (0: none). NULL when it was answered already.
 */
struct abreq *ab_begin(struct tp_req *r, const char *param, size_t body_max, unsigned flags);
/**
 * May a's principal do what flags (AB_NEED_*) say on session sid (NULL: no
 * session: only the capability)? 0, or -1 answered 403 with what is missing.
 */
int ab_allowed(struct abreq *a, unsigned flags, const char *sid);
/** ab_begin for /environments/{id}...: also the base, 404 unless {id} is an environment, 403 (ab_allowed). */
struct abreq *ab_begin_env(struct tp_req *r, void *arg, size_t body_max, unsigned flags);
void ab_free(struct abreq *a);
/** Answer body (stolen; NULL: no body) and free a. */
void ab_finish(struct abreq *a, int status, json_t *body);
/** Answer a failure (message NULL: error) and free a. */
void ab_finish_fail(struct abreq *a, int status, const char *error, const char *message);
/** Call tool with args (stolen); next(a, structuredContent) on success, failures answered (a->failed, a->what). */
void ab_call(struct abreq *a, const char *tool, json_t *args, void (*next)(struct abreq *a, json_t *data));
/** a->base from the request's path. */
void ab_set_base(struct abreq *a, void *arg);

/** Is id an environment of principal's owner (or principal an administrator)? */
bool ab_env_owned(const char *principal, const char *id);
/**
 * principal's level on environment id for owning it or for a grant to its
 * user (/users/{id}/permissions): SRV_LEVEL_OWNER for its own (or an
 * administrator), the granted level for one shared with it, else NONE. A
 * key's own scope is apart (ab_allowed).
 */
enum srv_level ab_env_share(const char *principal, const char *id);
/** Does principal reach environment id (its own, or shared with its user)? */
bool ab_env_reaches(const char *principal, const char *id);
/** The stored spec of environment id (borrowed), or NULL when id is no environment. */
json_t *ab_env_spec(const char *id);
/** The CPU environment spec used since it was last asked (or since it started), in millicores (from info's usage). */
json_int_t ab_env_cpu_millis(json_t *spec, json_t *info);
/** The warm pool's configured size. */
unsigned ab_pool_size(void);
/** agentbox_admin.c's routes: API keys, users, metrics, the pool. */
extern const struct rest_route ab_admin_routes[];
/** The Environment object of session info with spec (detail: metrics too). */
json_t *ab_env_json(struct abreq *a, json_t *info, json_t *spec, bool detail);

/** Start an environment's own command (spec "command") as a job, its output in the logs (agentbox_exec.c). */
void ab_start_command(struct abreq *a, json_t *spec);
/** The shell text that runs argv (an array of strings) as it is, with no expansion. */
char *ab_argv_script(json_t *argv);

/* ---- rate limits (agentbox_exec.c) ---- */
void ab_rate_init(const struct srv_config *cfg);
void ab_rate_release(void);
/**
 * Take a token of the category in flags for principal (NULL: by the client's
 * address) and add the X-RateLimit-* headers (the transport keeps the
 * tightest of this and the tools' own): 0, or -1 when answered 429.
 */
int ab_rate(struct tp_req *r, const char *principal, unsigned flags);

/* ---- routes of agentbox_exec.c and agentbox_attach.c ---- */
void ab_exec(struct tp_req *r, void *arg);
void ab_run(struct tp_req *r, void *arg);
void ab_executions(struct tp_req *r, void *arg);
void ab_execution_get(struct tp_req *r, void *arg);
void ab_execution_cancel(struct tp_req *r, void *arg);
void ab_logs(struct tp_req *r, void *arg);
/** The attach WebSocket at both prefixes (agentbox_attach.c); before serving. */
void ab_attach_routes(void);

#define AB_EXEC_ROUTES \
	{ TP_POST, "/api/v1/environments/{id}/exec", ab_exec }, \
	{ TP_POST, "/api/v1/environments/{id}/run", ab_run }, \
	{ TP_GET, "/api/v1/environments/{id}/executions", ab_executions }, \
	{ TP_GET, "/api/v1/executions/{id}", ab_execution_get }, \
	{ TP_DELETE, "/api/v1/executions/{id}", ab_execution_cancel }, \
	{ TP_GET, "/api/v1/environments/{id}/logs", ab_logs }

#endif
