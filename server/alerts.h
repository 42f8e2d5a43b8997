/**
 * alerts.h — alerts on the server's own metrics: a timer on the loop samples
 * what the server measures every alert_interval (config, default 10 s) and
 * steps each rule (server/base/alert.h: config "alerts", or the default
 * rules); a rule that fires opens an alert, kept in the store (SQLite,
 * table alerts) with its value and threshold, so alerts survive a restart
 * (open ones are picked up again by their rule's name; those whose rule is
 * gone from the config are resolved at start). States: active →
 * acknowledged (a person saw it) → resolved (its condition cleared, or a
 * person resolved it).
 *
 * What is sampled (each a few reads of /proc or one statvfs, then one walk
 * of the session registry; the rules are then O(rules)):
 *   cpu_percent        the host's CPUs busy since the last sample (/proc/stat)
 *   memory_percent     1 - MemAvailable / MemTotal (/proc/meminfo)
 *   disk_percent       the data directory's filesystem used (statvfs, as df)
 *   workspace_bytes    the workspaces, as the disk-quota scans last measured them
 *   sessions           sandboxes running; executions_running
 *   failed_executions  executions finished in error, timeout or OOM in the last 5 minutes
 *   sandbox_memory_bytes, sandbox_cpu_percent   the sandboxes' common cgroup (NaN without one)
 * The samples go into the measured history (server/base/monitor.h: the last
 * 8640, a day at the default interval), with a health check of the store
 * and the sandbox service on every sample.
 *
 * Several processes may share a data directory (and its store): only the one
 * holding DATA/alerts.lock (flock) steps the rules and opens or resolves
 * alerts, so a rule fires once, not once per process; the others sample for
 * their own history and try to take the lock at each sample, and the one
 * that takes it picks up the open alerts from the store. Per-process metrics
 * (sessions, executions, failures) are then the evaluating process's.
 *
 * Owns its timer, its copy of the rules and the open alerts; the store,
 * registry and config must outlive srv_alerts_stop(). Loop thread only.
 */
#ifndef MCPBOX_SRV_ALERTS_H
#define MCPBOX_SRV_ALERTS_H

#include <jansson.h>
#include <uv.h>

#include "base/alert.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "store.h"
#include "../sessions/session.h"
#include "../tools/tool.h"

/**
 * Load the open alerts, take the rules (cfg's, or the defaults) and start
 * sampling every cfg->alert_interval_s (the timer does not keep the loop
 * alive). reg NULL: no session metrics (unit tests). Fails only when the
 * store cannot be read.
 */
int srv_alerts_start(uv_loop_t *loop, struct srv_store *st, struct sess_registry *reg,
		     const struct srv_config *cfg, struct err **errp);
/** Stop the timer and forget the rules and open alerts (they stay in the store). */
void srv_alerts_stop(void);

/** For tool_env.alerts; valid between start and stop. */
const struct tool_alerts *srv_alerts_tools(void);

/** Append the alert counts by status and severity to a /metrics exposition. */
void srv_alerts_render(struct buf *out);

/**
 * Step every rule with these values, measured at now_ms (what each tick
 * does after sampling; NaN: not measured). For tests.
 */
void srv_alerts_evaluate(const double values[SRV_METRIC_COUNT], uint64_t now_ms);

#endif
