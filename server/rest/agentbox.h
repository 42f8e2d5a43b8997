/**
 * agentbox.h — dialect 003, AgentBox (`/api/v1/...` and /compat/agentbox/):
 * environments are sessions, exec and runs are executions and jobs, logs
 * are the session log, attach is a terminal (see docs/compat.md). The
 * dialect itself is `rest_agentbox` (rest.h); declared here are its pure
 * parts, exported for tests/unit/test_agentbox.c: the twin's validator
 * (its rules and messages, pkg/validator/validator.go), resource
 * quantities, label selectors, statuses and the Go encoder's bytes.
 * No state, any thread.
 */
#ifndef MCPBOX_REST_AGENTBOX_H
#define MCPBOX_REST_AGENTBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/buf.h"

/* The twin's defaults (internal/config/config.go). */
#define AB_MAX_CPU_MILLIS 10000
#define AB_MAX_MEMORY (10ull << 30)
#define AB_MAX_STORAGE (100ull << 30)
#define AB_MAX_TIMEOUT 86400
#define AB_DEFAULT_TIMEOUT 3600

/** Kinds of resource quantity. */
enum ab_quantity {
	AB_CPU,		/* "500m", "2": millicores */
	AB_MEMORY,	/* "512Mi", "1G", "64K" (binary, as the twin): bytes */
	AB_STORAGE,	/* the same and Ti/T */
};

/**
 * Parse s as kind: 0 and *out; -1 and the twin's message ("invalid format
 * (expected: 100m or 1)") in msg when malformed or out of range of 64 bits.
 */
int ab_quantity_parse(enum ab_quantity kind, const char *s, uint64_t *out, char *msg, size_t cap);

/**
 * Validate an environment create request (body: an object) with every rule
 * of the twin, in its order: 0, or -1 and its message ("invalid resources:
 * cpu is required") in msg. Types are checked first (a field of the wrong
 * JSON type is the message "invalid request body: ..." with -2, which the
 * twin's decoder would have said).
 */
int ab_env_validate(json_t *body, char *msg, size_t cap);

/**
 * Does labels (an object of strings, may be NULL) match the Kubernetes label
 * selector sel ("k=v,k2!=v,k in (a,b),k notin (c),k,!k")? 1 yes, 0 no, -1 the
 * selector is malformed (msg says where).
 */
int ab_selector_match(const char *sel, json_t *labels, char *msg, size_t cap);

/** A session status ("creating", "running", ...) as an environment's (pending, running, ...). */
const char *ab_env_status(const char *session_status);
/** Is s one of pending, running, terminating, terminated, failed? */
int ab_env_status_valid(const char *s);

/** Bytes as the twin's memory notation: "256Mi" (whole MiB, rounded down), "12Ki" under 1 MiB. */
void ab_bytes_string(uint64_t bytes, char *out, size_t cap);

/**
 * j as Go's encoding/json writes it (json.NewEncoder.Encode): compact, with
 * <, > and & as \u003c, \u003e, \u0026, and a final newline; appended to out.
 * 0, or -1 for a value that has no JSON text. Pure (an answer's text is
 * written on libuv's pool when it is large: tp_req_json_as).
 */
int ab_go_json(struct buf *out, const json_t *j);

/** An ISO time with milliseconds ("2026-01-22T10:00:00.123Z") as Go's RFC 3339 (zero milliseconds trimmed). */
json_t *ab_time(const char *iso);

#endif
