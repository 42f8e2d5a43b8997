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
/** Executions finished since start: all, failed (outcome other than ok and cancelled), and their wall time. */
struct metrics_exec_totals {
	uint64_t count, failed;
	double seconds;
};
void metrics_exec_totals(struct metrics_exec_totals *t);
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
