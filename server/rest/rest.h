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

#include "../base/err.h"
#include "../../tools/tool.h"
#include "../../transport/http.h"

struct srv_config;

/** One route of a dialect: methods (enum tp_method), the documented path, the handler. */
struct rest_route {
	unsigned methods;
	const char *path;
	tp_route_fn handle;
};

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
};

/* The dialects (one file each; router.c's table lists them). */
extern const struct rest_dialect rest_manager;	/* 000: manager.c */
extern const struct rest_dialect rest_agentflow;	/* 002: agentflow.c */
extern const struct rest_dialect rest_executor;	/* 001: executor.c */
extern const struct rest_dialect rest_soulbox;	/* 004: soulbox*.c */

/** Mount every dialect the config enables (cfg->compat) on the HTTP transport. */
void rest_start(const struct srv_config *cfg);
/** Release the dialects' state (after the loop has no request left). */
void rest_stop(void);
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
/** Is result an error? */
bool rest_result_failed(json_t *result);
/** The HTTP status an error class maps to (400, 404, 409, 403, 429, 503, 504, 500). */
int rest_status_of(enum err_class cls);
/** ISO 8601 UTC with milliseconds, now. */
json_t *rest_now(void);

#endif
