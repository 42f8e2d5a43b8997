/*
 * tools/monitor_tools.c — the server watching itself: alert_list,
 * alert_acknowledge, alert_resolve over the server's alerts (tool_env.alerts,
 * server/alerts.h); server_metrics and server_health over the measured
 * history (server/base/monitor.h).
 *
 * Alerts are about the server as a whole (its CPU, memory, disk, sessions,
 * failed executions: aggregates, never a session id or an owner), so every
 * caller may list them; an agent that sees "high_memory" can back off. Only
 * the operator acts on them: administrators' keys, the stdio user and an
 * unauthenticated loopback server (--auth none). Others get the alerts
 * without who acknowledged or resolved them (principals of administrators).
 */
#include "tool.h"
#include "../server/base/common.h"
#include "../server/base/config.h"
#include "../server/base/monitor.h"
#include "../server/base/banned.h"

#include <math.h>
#include <string.h>

static bool operator(const char *principal)
{
	return sess_principal_admin(principal) || !strcmp(principal, "local") || !strcmp(principal, "anonymous");
}

static bool available(struct tool_call *call)
{
	if (call->env->alerts)
		return true;
	tool_fail_as(call, ERR_UNAVAILABLE, "%s: alerts are not kept by this server", call->def->name);
	return false;
}

static void hide_who(json_t *alert)
{
	json_object_del(alert, "acknowledged_by");
	json_object_del(alert, "resolved_by");
}

static void alert_list_run(struct tool_call *call)
{
	auto_err struct err *err = NULL;
	const struct tool_alerts *a = call->env->alerts;

	if (!available(call))
		return;
	json_t *out = a->list(a->arg, tool_arg_str(call, "status", NULL), tool_arg_str(call, "severity", NULL), &err);
	if (!out) {
		tool_fail_err(call, err, "alert_list");
		return;
	}
	if (!operator(call->principal)) {
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(out, "alerts"), i, x)
			hide_who(x);
	}
	tool_ok(call, out, NULL);
}

static void act(struct tool_call *call, bool resolve)
{
	auto_err struct err *err = NULL;
	const struct tool_alerts *a = call->env->alerts;

	if (!available(call))
		return;
	if (!operator(call->principal)) {
		tool_fail_as(call, ERR_DENIED, "%s: only an administrator's key may act on alerts (every key may list "
			     "them)", call->def->name);
		return;
	}
	json_t *out = a->act(a->arg, tool_arg_str(call, "alert_id", ""), resolve, call->principal,
			     tool_arg_str(call, "comment", NULL), &err);
	if (!out) {
		tool_fail_err(call, err, "%s", call->def->name);
		return;
	}
	tool_ok(call, out, NULL);
}

static void alert_acknowledge_run(struct tool_call *call)
{
	act(call, false);
}

static void alert_resolve_run(struct tool_call *call)
{
	act(call, true);
}

/* ---- server_metrics, server_health ---- */

#define DURATION_MAX (7 * 86400)

/* A measured value, to 3 decimals (null: not measured). */
static json_t *num(double v)
{
	if (isnan(v) || isinf(v) || fabs(v) > 1e15)
		return json_null();
	double r = (double)(int64_t)(fabs(v) * 1000 + 0.5) / 1000; /* no libm: the build does not link it */
	return json_real(v < 0 ? -r : r);
}

static json_t *stat_json(enum srv_metric m, uint64_t window_ms)
{
	struct srv_mon_stat st;
	srv_mon_stat(m, window_ms, &st);
	return json_pack("{s:o, s:o, s:o}", "current", num(st.current), "average", num(st.average), "peak",
			 num(st.peak));
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : NAN;
}

/* Counters from the window's first sample to now (before any sample: since start). */
static void window_counts(uint64_t window_ms, json_t *out)
{
	struct metrics_exec_totals ex;
	struct metrics_sandbox_totals sb;
	const struct srv_mon_sample *from = NULL, *newest = srv_mon_back(0), *o;
	uint64_t now = wall_ms();

	metrics_exec_totals(&ex);
	metrics_sandbox_totals(&sb);
	for (size_t n = 0; (o = srv_mon_back(n)) && now - o->at_ms <= window_ms; n++)
		from = o;
	double runs = (double)(ex.count - (from ? from->ex.count : 0));
	double failed = (double)(ex.failed - (from ? from->ex.failed : 0));
	double secs = ex.seconds - (from ? from->ex.seconds : 0);
	double made = (double)(sb.created - (from ? from->sb.created : 0));
	double made_s = sb.seconds - (from ? from->sb.seconds : 0);
	/* no sandbox made in the window: the average since start */
	double startup = made > 0 ? made_s / made : ratio(sb.seconds, (double)sb.created);
	json_object_set_new(out, "container_metrics",
			    json_pack("{s:o, s:o, s:o}", "total_containers",
				      newest ? json_integer((json_int_t)newest->sessions_total) : json_null(),
				      "running_containers",
				      newest ? json_integer((json_int_t)newest->v[SRV_METRIC_SESSIONS]) : json_null(),
				      "avg_startup_time", num(startup)));
	json_object_set_new(out, "execution_metrics",
			    json_pack("{s:I, s:I, s:o, s:o}", "total_executions", (json_int_t)runs, "failed_executions",
				      (json_int_t)failed, "avg_execution_time", num(ratio(secs, runs)), "success_rate",
				      num(100.0 * ratio(runs - failed, runs))));
}

static void server_metrics_run(struct tool_call *call)
{
	const char *d = tool_arg_str(call, "duration", "1h");
	const char *component = tool_arg_str(call, "component", NULL);
	uint64_t secs;
	auto_err struct err *err = NULL;

	if (srv_parse_duration(d, &secs, &err) < 0 || !secs || secs > DURATION_MAX) {
		tool_fail(call, "server_metrics: duration \"%s\" must be a duration from 1s to 7d (\"30m\", \"1h\", "
			  "\"24h\", \"7d\")", d);
		return;
	}
	uint64_t window = secs * 1000;
	json_t *out = json_pack("{s:I}", "duration_s", (json_int_t)secs);
	const struct srv_mon_sample *first = srv_mon_window_start(window), *newest = srv_mon_back(0);
	json_object_set_new(out, "covered_s", first ? json_integer((json_int_t)((newest->at_ms - first->at_ms) / 1000))
							    : json_integer(0));
	json_object_set_new(out, "samples", json_integer((json_int_t)srv_mon_count()));
	if (!component || !strcmp(component, "cpu"))
		json_object_set_new(out, "cpu_usage", stat_json(SRV_METRIC_CPU, window));
	if (!component || !strcmp(component, "memory"))
		json_object_set_new(out, "memory_usage", stat_json(SRV_METRIC_MEMORY, window));
	if (!component || !strcmp(component, "disk"))
		json_object_set_new(out, "disk_usage", stat_json(SRV_METRIC_DISK, window));
	if (!component || !strcmp(component, "containers") || !strcmp(component, "executions")) {
		window_counts(window, out);
		if (component)
			json_object_del(out, !strcmp(component, "containers") ? "execution_metrics" : "container_metrics");
	}
	if (!component) {
		json_t *cur = json_object();
		for (int m = 0; m < SRV_METRIC_COUNT; m++)
			json_object_set_new(cur, srv_metric_name((enum srv_metric)m),
					    num(newest ? newest->v[m] : NAN));
		json_object_set_new(out, "current", cur);
	}
	tool_ok(call, out, NULL);
}

static void server_health_run(struct tool_call *call)
{
	json_t *comps = json_array();
	bool healthy = true, unknown = false;

	for (int c = 0; c < SRV_MON_NCOMPONENTS; c++) {
		const struct srv_mon_health *h = srv_mon_health_get((enum srv_mon_component)c);
		json_t *o = json_pack("{s:s, s:s, s:o}", "name", srv_mon_component_name((enum srv_mon_component)c),
				      "status", !h->checked ? "unknown" : h->healthy ? "healthy" : "unhealthy",
				      "last_check", h->checked ? tool_json_time(h->checked_ms) : json_null());
		if (h->message[0])
			json_object_set_new(o, "message", json_string(h->message));
		json_array_append_new(comps, o);
		healthy &= !h->checked || h->healthy;
		unknown |= !h->checked;
	}
	uint64_t started = srv_mon_started_ms();
	tool_ok(call, json_pack("{s:s, s:s, s:I, s:o}", "status", !healthy ? "unhealthy" : unknown ? "unknown" : "healthy",
				"version", MCPBOX_VERSION, "uptime", (json_int_t)(started ? (wall_ms() - started) / 1000 : 0),
				"components", comps), NULL);
}

#define ALERT_ACT_SCHEMA \
	"{\"type\":\"object\",\"properties\":{" \
	"\"alert_id\":{\"type\":\"string\",\"maxLength\":64}," \
	"\"comment\":{\"type\":\"string\",\"maxLength\":1000}}," \
	"\"required\":[\"alert_id\"],\"additionalProperties\":false}"

const struct tool_def tool_monitor_defs[] = {
	{
		.name = "alert_list",
		.title = "List alerts",
		.description = "Alerts the server's rules raised on its metrics (CPU, memory, disk, sessions, failed "
			       "executions), newest first: {alert_id, rule_name, severity, status (active, acknowledged, "
			       "resolved), message, metric, value, threshold, triggered_at, ...}. Every key may list them; "
			       "only administrators acknowledge or resolve.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"acknowledged\",\"resolved\"]},"
				"\"severity\":{\"type\":\"string\",\"enum\":[\"info\",\"warning\",\"critical\","
				"\"emergency\"]}},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = alert_list_run,
	},
	{
		.name = "alert_acknowledge",
		.title = "Acknowledge an alert",
		.description = "Mark an active alert as seen by a person (administrators): it stays open until its "
			       "condition clears or it is resolved. Acknowledging one already acknowledged changes nothing.",
		.input_schema = ALERT_ACT_SCHEMA,
		.idempotent = true,
		.run = alert_acknowledge_run,
	},
	{
		.name = "alert_resolve",
		.title = "Resolve an alert",
		.description = "Close an alert (administrators). If its condition still holds, the rule raises a new "
			       "alert once it has held for the rule's duration again.",
		.input_schema = ALERT_ACT_SCHEMA,
		.run = alert_resolve_run,
	},
	{
		.name = "server_metrics",
		.title = "Server performance",
		.description = "The server's measured history over a duration (default 1h, at most 7d, as far as the "
			       "kept samples reach): host CPU, memory and data-disk use in % {current, average, peak}, "
			       "sandboxes {total_containers, running_containers, avg_startup_time (s)}, executions "
			       "{total_executions, failed_executions, avg_execution_time (s), success_rate (%)}, and every "
			       "metric's current value. component limits the answer to cpu, memory, disk, containers "
			       "or executions.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"duration\":{\"type\":\"string\",\"maxLength\":16,\"description\":\"30m, 1h, 24h, 7d "
				"(seconds without a unit)\"},"
				"\"component\":{\"type\":\"string\",\"enum\":[\"cpu\",\"memory\",\"disk\",\"containers\","
				"\"executions\"]}},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = server_metrics_run,
	},
	{
		.name = "server_health",
		.title = "Server health",
		.description = "Whether the server's parts work, as last checked (every alert_interval): the database "
			       "answers a read, and the latest sandbox the sandbox service was asked for was made. "
			       "{status, version, uptime (s), components: [{name, status, last_check, message?}]}.",
		.input_schema = "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = server_health_run,
	},
	{ 0 },
};
