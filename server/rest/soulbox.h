/**
 * soulbox.h — what the files of dialect 004, SoulBox (server/rest/soulbox*.c),
 * share: the error envelope, who calls (credential and the document's rate
 * limits), pagination, and how a file adds its routes to the dialect.
 * Internal to the dialect; loop thread only. See docs/compat.md (004).
 *
 * Adding a file to the dialect (e.g. soulbox_monitor.c):
 *   1. define `const struct sb_part sb_part_monitor = { routes, ws, init, release };`
 *      in it (routes ended by a route with path NULL; ws may be NULL);
 *   2. declare it below beside sb_part_sandbox;
 *   3. list it in soulbox.c's `parts[]` (one line).
 * Every route is then served at its documented path ("/api/alerts") and
 * under /compat/soulbox/, WebSocket routes too; init runs at start-up
 * (before serving), release at shutdown.
 *
 * A handler starts with sb_begin() (credential, rate limit, request id),
 * answers failures with sb_fail()/sb_fail_class() and successes with
 * sb_json(); lists read sb_page_query() and answer through sb_page_apply().
 */
#ifndef MCPBOX_REST_SOULBOX_H
#define MCPBOX_REST_SOULBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rest.h"

/* ---- parts of the dialect ---- */

/** A WebSocket route of the dialect (the path as documented: "/ws/execute"). */
struct sb_ws_route {
	const char *path;
	const struct tp_ws_ops *ops;
};

struct sb_part {
	const struct rest_route *routes;	/* ended by path NULL */
	const struct sb_ws_route *ws;		/* ended by path NULL; NULL: none */
	void (*init)(const struct srv_config *cfg);	/* NULL: nothing to set up */
	void (*release)(void);			/* NULL: nothing to free */
};

extern const struct sb_part sb_part_sandbox;	/* soulbox_sandbox.c: sandboxes, templates */
extern const struct sb_part sb_part_exec;	/* soulbox_exec.c: /api/execute */
extern const struct sb_part sb_part_files;	/* soulbox_files.c: files, snapshots */
extern const struct sb_part sb_part_ws;		/* soulbox_ws.c: /ws/execute */
extern const struct sb_part sb_part_monitor;	/* soulbox_monitor.c: alerts, metrics, health, /ws/monitor */
extern const struct sb_part sb_part_keys;	/* soulbox_keys.c: /auth/api-keys */

/* ---- errors: {"error": {code, message, details: {field, reason}, request_id}} ---- */

enum sb_code {
	SB_VALIDATION_ERROR,
	SB_AUTHENTICATION_REQUIRED,
	SB_INSUFFICIENT_PERMISSIONS,
	SB_RESOURCE_NOT_FOUND,
	SB_RESOURCE_LIMIT_EXCEEDED,
	SB_EXECUTION_TIMEOUT,
	SB_EXECUTION_ERROR,
	SB_SYSTEM_ERROR,
};

/** "VALIDATION_ERROR", ... */
const char *sb_code_name(enum sb_code code);
/** A refused WebSocket upgrade of the dialect in its envelope (struct tp_ws_ops.refusal). */
void sb_ws_refusal(int status, const char *why, struct buf *out);
/**
 * The HTTP status and code of a tool failure's class on request r (may be
 * NULL): invalid 400 and conflict 409 VALIDATION_ERROR, not found 404
 * RESOURCE_NOT_FOUND, denied 403 INSUFFICIENT_PERMISSIONS, limit
 * RESOURCE_LIMIT_EXCEEDED: 429 when a rate limit refused r
 * (tp_req_rate_refused), 403 for any other (a quota, a disk limit: waiting
 * does not lift it), unavailable 503 and internal 500 SYSTEM_ERROR, timeout
 * 504 EXECUTION_TIMEOUT.
 */
int sb_status_of(struct tp_req *r, enum err_class cls, enum sb_code *code);
/** A new request id, "req_" and 16 hex digits, into out (at least SB_REQ_ID_MAX bytes). */
#define SB_REQ_ID_MAX 24
void sb_request_id(char *out);
/**
 * The error object {"error": {...}} (new reference). field and reason may be
 * NULL (details is then {}); request_id NULL: a new one.
 */
json_t *sb_error_json(enum sb_code code, const char *message, const char *field, const char *reason,
		      const char *request_id);
/**
 * Answer r with status and the error envelope (reason: the formatted text,
 * also the message when field is set the message is "Invalid request
 * parameters" as the document's example). Finishes r.
 */
void sb_fail(struct tp_req *r, int status, enum sb_code code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/**
 * A tool failure's message as the dialect says it (without the tool's name
 * before it; a "session" not found is a sandbox; cap >= 256): within message, or buf.
 */
const char *sb_message_of(enum err_class cls, const char *message, char *buf, size_t cap);
/** Answer a tool failure (result's text, class cls) in the envelope. Finishes r. */
void sb_fail_class(struct tp_req *r, enum err_class cls, const char *message);
/** Answer status and body (stolen), with X-Request-ID (an error body's own request_id). Finishes r. */
void sb_json(struct tp_req *r, int status, json_t *body);

/* ---- who calls ---- */

/** The document's rate-limit buckets, per key. */
enum sb_bucket {
	SB_RATE_REQUESTS,	/* every request not below: 100 a minute */
	SB_RATE_EXECUTIONS,	/* POST /api/execute, /ws/execute's execute messages: 20 a minute */
	SB_RATE_UPLOADS,	/* POST /api/files/upload: 10 a minute */
	SB_RATE_NBUCKETS,
};

/** The longest principal name sb_begin() writes, with its NUL. */
#define SB_PRINCIPAL_MAX 256

/**
 * Start a request: the credential (X-API-Key, or Authorization: Bearer with
 * an API key or a login JWT; under --auth none everyone is "anonymous"),
 * then a token of the principal's bucket (X-RateLimit-* headers on the
 * answer). 0 with principal filled, or -1 when r was answered (401
 * AUTHENTICATION_REQUIRED, 429 RESOURCE_LIMIT_EXCEEDED with Retry-After).
 */
int sb_begin(struct tp_req *r, enum sb_bucket bucket, char *principal);
/**
 * The same check for a message on a WebSocket (no headers): true when
 * principal may go on; false with *retry_after_ms set when refused.
 */
bool sb_rate_take(const char *principal, enum sb_bucket bucket, uint64_t *retry_after_ms);
/**
 * The request's JSON body as an object: 0 and *out (owned; NULL when there is
 * no body and !required), or -1 when r was answered (VALIDATION_ERROR).
 */
int sb_body(struct tp_req *r, bool required, json_t **out);
/** The per-principal tool state of the dialect. */
struct tool_conn *sb_conn(const char *principal);

/* ---- pagination: limit (default 50, at most 1000), offset, cursor ---- */

struct sb_page {
	size_t limit, offset;
};
/** Read limit, offset and cursor (an opaque token sb_page_apply gave): 0, or -1 when r was answered. */
int sb_page_query(struct tp_req *r, struct sb_page *p);
/**
 * The page p of items (stolen) as a new array, and the headers
 * X-Pagination-Total, -Limit, -Offset and, when more follow, -Next (the
 * path with offset and limit) on r. *total gets the count before paging.
 */
json_t *sb_page_apply(struct tp_req *r, const struct sb_page *p, json_t *items, size_t *total);

/* ---- a request's chain of tool calls ---- */

struct sb_call {
	struct tp_req *r;
	char principal[SB_PRINCIPAL_MAX];
	struct tool_conn *conn;
	json_t *body;		/* the request's JSON body (owned), or NULL */
	char id[257];		/* the id the path names */
	json_t *keep;		/* a result kept between calls (owned), or NULL */
	void *ext;		/* the handler's own state, freed with ext_free */
	void (*ext_free)(void *ext);
	/*
	 * A failed call: NULL answers it in the envelope and frees the chain;
	 * else this runs instead (result borrowed) and owns the chain from then.
	 */
	void (*on_fail)(struct sb_call *c, json_t *result, enum err_class cls);
	void (*next)(struct sb_call *c, json_t *data);
	/* a call waiting for its sandbox's name to be resolved (sb_call_tool) */
	char *pending_tool;
	json_t *pending_args;
	void (*pending_next)(struct sb_call *c, json_t *data);
};

/** A chain for r (body stolen; principal copied). */
struct sb_call *sb_call_new(struct tp_req *r, const char *principal, json_t *body);
void sb_call_free(struct sb_call *c);
/**
 * Call tool with args (stolen); its structuredContent goes to next
 * (borrowed). A session_id in args that is not a session id ("ses_…") is a
 * sandbox's name, as the document's examples use them ("my-sandbox"): it is
 * looked up among the caller's sandboxes first (session_list; none is
 * RESOURCE_NOT_FOUND, several is 409 VALIDATION_ERROR), and c->id becomes
 * the id when it was that name.
 */
void sb_call_tool(struct sb_call *c, const char *tool, json_t *args, void (*next)(struct sb_call *c, json_t *data));
/**
 * The sandbox named name among session_list's result data (list, borrowed):
 * NULL and *id (borrowed from list) when exactly one is named so, else a
 * failed CallToolResult (new) saying none (*cls ERR_NOT_FOUND) or several
 * (ERR_CONFLICT). Implicit sessions have no name here.
 */
json_t *sb_sandbox_named(json_t *list, const char *name, const char **id, enum err_class *cls);
/**
 * sb_begin (the requests bucket), then the path's capture param (1 to 256
 * characters) as c->id and the JSON body (body: 0 none, 1 optional, an
 * empty object when absent, 2 required). NULL when r was answered.
 */
struct sb_call *sb_call_path(struct tp_req *r, const char *param, int body);
/** The pagination query into a new c->ext (struct sb_page): 0, or -1 when answered (c is then freed). */
int sb_call_page(struct sb_call *c);
/** Call tool with args (stolen) as c's principal and ignore its result (c may end first). */
void sb_call_forget(struct sb_call *c, const char *tool, json_t *args);
/** Answer status and body (stolen) and free the chain. */
void sb_call_answer(struct sb_call *c, int status, json_t *body);
/** Answer a failure (as sb_fail) and free the chain. */
void sb_call_fail(struct sb_call *c, int status, enum sb_code code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* ---- execution records (soulbox_exec.c): what GET and DELETE /api/execute/{id} answer ---- */

/*
 * An execution run elsewhere than POST /api/execute (/ws/execute) keeps a
 * record too, so that GET /api/execute/{id} answers its status, the output
 * so far while it runs and its result once ended, and DELETE cancels it.
 * begin: a running record of principal (sandbox: the sandbox it runs in, NULL
 * for the caller's own); cancel (may be NULL) is what DELETE calls while it
 * runs (never after end). output keeps what the program writes (stream 0
 * stdout, 1 stderr; the newest 4 MiB of each are not kept past that). end:
 * d is the execute tool's structuredContent (borrowed; NULL when nothing
 * ran: message says why, as cls); the record's result is built as POST's
 * (status completed, failed, timeout or cancelled) and returned (a new
 * reference); the record is not to be used after.
 */
struct sb_exec;
struct sb_exec *sb_exec_begin(const char *principal, int64_t timeout_s, const char *sandbox,
			      void (*cancel)(void *arg), void *arg);
const char *sb_exec_id(const struct sb_exec *e);
void sb_exec_output(struct sb_exec *e, int stream, const char *data, size_t len);
/** Was the record cancelled (DELETE, or sb_exec_cancelled)? Mark it so. */
bool sb_exec_cancelled(struct sb_exec *e, bool mark);
json_t *sb_exec_end(struct sb_exec *e, json_t *d, enum err_class cls, const char *message);

/* ---- small helpers ---- */

/** ISO 8601 UTC seconds ("2023-12-01T10:00:00Z") of an ISO time with more precision; null for NULL. */
json_t *sb_time(const char *iso);
/**
 * A memory size as the document writes it ("256M", "1G", "512Mi", "1024K",
 * "2GB"; an integer is bytes) in MiB, rounded up: at least 16, or -1 when
 * it is not one.
 */
int64_t sb_memory_mb(const json_t *v);
/** MiB as the document writes sizes: "512M", "1G". */
json_t *sb_memory_str(uint64_t mb);
/** The soulbox runtime name of an mcpbox language (javascript → nodejs, shell → bash; others as they are). */
const char *sb_runtime_of(const char *language);

#endif
