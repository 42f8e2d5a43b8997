/**
 * manager.h — dialect 000, the sandbox manager (`/api/v1/sandboxes...`,
 * `/api/v1/sandbox-images...`, their `/v1/...` aliases and /compat/manager/).
 * The dialect itself is `rest_manager` (declared in rest.h); declared here
 * are its pure mappers, exported for tests/unit/test_manager.c.
 * No state, any thread.
 */
#ifndef MCPBOX_REST_MANAGER_H
#define MCPBOX_REST_MANAGER_H

#include <jansson.h>
#include <stdint.h>

#include "rest.h"

/** An instanceSpecification ("{cpu}u{mem}g", the document's "1u1g"). */
struct mgr_spec {
	unsigned cpus;
	unsigned memory_gb;
	const char *instance_type;	/* the twin's EC2 type ("t2.micro"), or "custom" off its table */
};

/** Parse s: 0, or -1 when malformed (not digits 'u' digits 'g', zero, or cpus > 64, memory > 1024 GB). */
int mgr_spec_parse(const char *s, struct mgr_spec *out);

/** A session status ("running", ...) as the document's sandbox status ("RUNNING", ...). */
const char *mgr_sandbox_status(const char *session_status);
/** The document's message for a sandbox status ("沙盒运行中" for RUNNING). */
const char *mgr_status_message(const char *sandbox_status);
/** Is s one of the document's sandbox statuses? */
int mgr_sandbox_status_valid(const char *s);
/** Is s one of the image statuses (CREATING, AVAILABLE, FAILED)? */
int mgr_image_status_valid(const char *s);

/** The envelope of a success: {success: true, data (stolen), timestamp: ms}. */
json_t *mgr_envelope_ok(json_t *data, uint64_t ms);
/** The envelope of a failure: {success: false, data: null, error {code, message, details {}}, timestamp}. */
json_t *mgr_envelope_fail(int status, const char *message, uint64_t ms);
/** The error code of an HTTP status ("NOT_FOUND" for 404). */
const char *mgr_error_code(int status);

/**
 * One page of items (stolen) as {total, pages, currentPage, <key>: [...]}:
 * page from 1, size items a page.
 */
json_t *mgr_page(json_t *items, const char *key, long page, long size);

/** "2023-01-01T12:00:00.123Z" as "2023-01-01T12:00:00Z" (zone 1) or "2023-01-01T12:00:00" (zone 0). */
json_t *mgr_time(const char *iso, int zone);
/** Seconds from ISO time a to b (either NULL: 0; never negative). */
long mgr_seconds_between(const char *a, const char *b);

#endif
