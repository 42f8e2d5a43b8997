/**
 * alert.h — alert rules on server metrics, and the pure step that decides
 * when a rule fires and when its alert clears. No I/O, no clock, no store:
 * server/alerts.[ch] samples the metrics, keeps the alerts (SQLite) and
 * calls srv_alert_step() for each rule on every sample.
 *
 * A rule: {name, metric, op, threshold, severity, for, clear?, message?}
 * (config "alerts", checked by srv_alert_rules_parse). It fires when
 * `metric op threshold` has held for `for` (counted from the first sample
 * where it held); its alert then stays open (active, or acknowledged by a
 * person) until the value crosses back over `clear` (default: the
 * threshold; a `clear` below a ">" threshold, or above a "<" one, is the
 * hysteresis that keeps a value hovering at the threshold from flapping),
 * when it resolves by itself. A person may resolve it first; the rule then
 * fires again, as a new alert, only once the condition has held for `for`
 * again. A missing sample (NaN: the value cannot be measured here) changes
 * nothing.
 *
 * Pure functions and data; any thread.
 */
#ifndef MCPBOX_SRV_ALERT_H
#define MCPBOX_SRV_ALERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/** What the server measures (server/alerts.c says how). */
enum srv_metric {
	SRV_METRIC_CPU,			/* "cpu_percent": the host's CPUs busy, % (/proc/stat) */
	SRV_METRIC_MEMORY,		/* "memory_percent": the host's memory in use, % (/proc/meminfo) */
	SRV_METRIC_DISK,		/* "disk_percent": the data directory's filesystem used, % (statvfs) */
	SRV_METRIC_WORKSPACE_BYTES,	/* "workspace_bytes": workspaces on disk, as the quota scans measured */
	SRV_METRIC_SESSIONS,		/* "sessions": sandboxes running */
	SRV_METRIC_EXECUTIONS,		/* "executions_running" */
	SRV_METRIC_FAILED,		/* "failed_executions": finished failed (error, timeout, oom) in the last 5 min */
	SRV_METRIC_SANDBOX_MEMORY,	/* "sandbox_memory_bytes": charged to the sandboxes' common cgroup */
	SRV_METRIC_SANDBOX_CPU,		/* "sandbox_cpu_percent": their cgroup's CPU time since the last sample, % of the host */
	SRV_METRIC_COUNT,
};

/** The metric's name ("cpu_percent"). */
const char *srv_metric_name(enum srv_metric m);
/**
 * A metric by name or alias (004's "cpu_usage", "memory_usage",
 * "active_containers", "disk_usage"): its index, or -1.
 */
int srv_metric_find(const char *name);
/** The names and aliases, for error messages: "cpu_percent, memory_percent, ...". */
const char *srv_metric_names(void);

enum srv_alert_op { SRV_ALERT_GT, SRV_ALERT_GE, SRV_ALERT_LT, SRV_ALERT_LE };
enum srv_alert_severity { SRV_SEV_INFO, SRV_SEV_WARNING, SRV_SEV_CRITICAL, SRV_SEV_EMERGENCY, SRV_SEV_COUNT };

const char *srv_alert_op_name(enum srv_alert_op op);
const char *srv_alert_severity_name(enum srv_alert_severity s);
/** "info" .. "emergency" → index, or -1. */
int srv_alert_severity_find(const char *name);

#define SRV_ALERT_NAME_MAX 64
#define SRV_ALERT_RULES_MAX 64

struct srv_alert_rule {
	char name[SRV_ALERT_NAME_MAX + 1];
	enum srv_metric metric;
	enum srv_alert_op op;
	double threshold;
	double clear;			/* the alert resolves once the value is past this (default threshold) */
	enum srv_alert_severity severity;
	uint64_t for_ms;		/* the condition holds this long before the rule fires */
	char message[201];		/* "" : one is made from the rule */
};

/**
 * Parse a JSON array of rules (config "alerts"): every field checked, names
 * unique, at most SRV_ALERT_RULES_MAX. On success *rules is a malloc'd array
 * (NULL when *n is 0) the caller frees; written only on success. Errors name
 * the rule ("alerts[2] (high_cpu): ...") and what was expected.
 */
int srv_alert_rules_parse(json_t *arr, struct srv_alert_rule **rules, size_t *n, struct err **errp);
/** The rules used when the config has no "alerts" (docs/tools.md lists them). */
const struct srv_alert_rule *srv_alert_default_rules(size_t *n);

/** Does value meet the rule's condition? */
bool srv_alert_holds(const struct srv_alert_rule *r, double value);

/** Where a rule stands between samples (zeroed: idle). */
struct srv_alert_track {
	bool holding;		/* the condition held at the last sample */
	uint64_t since_ms;	/* ... since then */
	bool firing;		/* an alert of this rule is open (active or acknowledged) */
};

enum srv_alert_step {
	SRV_ALERT_NONE,		/* nothing to do */
	SRV_ALERT_FIRE,		/* open a new alert (track now firing) */
	SRV_ALERT_CLEAR,	/* the open alert resolves by itself (track idle) */
};
/** One sample of the rule's metric at now_ms (value NaN: not measured, nothing changes). */
enum srv_alert_step srv_alert_step(const struct srv_alert_rule *r, struct srv_alert_track *t, double value,
				   uint64_t now_ms);
/** A person resolved the rule's open alert: it may fire again after `for` of the condition from now on. */
void srv_alert_track_reset(struct srv_alert_track *t);

/** The alert's message for value: the rule's own, or "cpu_percent is 95.2 (> 90 for 5m)". */
void srv_alert_message(const struct srv_alert_rule *r, double value, char *out, size_t cap);

#endif
