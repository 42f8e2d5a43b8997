/**
 * metrics.h — counters for GET /metrics (Prometheus text exposition 0.0.4).
 * Modules report events; the exposition adds gauges read from their owners
 * at scrape time. Loop thread only.
 */
#ifndef MCPBOX_METRICS_H
#define MCPBOX_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/** An execution finished. outcome: "ok", "error", "timeout", "oom", "cancelled". */
void metrics_execution(const char *language, const char *outcome, uint64_t duration_ms);
/** Executions finished since start, cancelled ones left out: all, failed (not "ok"), and their wall time. */
struct metrics_exec_totals {
	uint64_t count, failed;
	double seconds;
};
void metrics_exec_totals(struct metrics_exec_totals *t);
/** The zygote answered a request for a sandbox (sessions and the warm pool): made or not, after duration_ms. */
void metrics_sandbox_created(bool ok, uint64_t duration_ms, const char *error);
struct metrics_sandbox_totals {
	uint64_t created, failed;
	double seconds;			/* time to make the ones created */
	uint64_t last_ok_ms, last_failed_ms;	/* wall clock; 0: never */
};
void metrics_sandbox_totals(struct metrics_sandbox_totals *t);
/** Why the last failed sandbox failed ("" when none did). */
const char *metrics_sandbox_last_error(void);
/** A tool call finished; is_error: it returned isError. */
void metrics_tool_call(const char *tool, bool is_error);

/** Gauges supplied by the caller at scrape time. */
struct metrics_gauges {
	unsigned sessions_creating, sessions_running, sessions_failed;
	unsigned http_sessions, websockets;
	unsigned executions_running;
};
/** The exposition; without server_wide only the gauges (a caller's own sessions), no server-wide counters. */
void metrics_render(struct buf *out, const struct metrics_gauges *g, bool server_wide);

#endif
