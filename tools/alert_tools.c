/*
 * tools/alert_tools.c — alert_list, alert_acknowledge, alert_resolve over the
 * server's alerts (tool_env.alerts, server/alerts.h).
 *
 * Alerts are about the server as a whole (its CPU, memory, disk, sessions,
 * failed executions: aggregates, never a session id or an owner), so every
 * caller may list them; an agent that sees "high_memory" can back off. Only
 * the operator acts on them: administrators' keys, the stdio user and an
 * unauthenticated loopback server (--auth none). Others get the alerts
 * without who acknowledged or resolved them (principals of administrators).
 */
#include "tool.h"
#include "../server/base/banned.h"

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

#define ALERT_ACT_SCHEMA \
	"{\"type\":\"object\",\"properties\":{" \
	"\"alert_id\":{\"type\":\"string\",\"maxLength\":64}," \
	"\"comment\":{\"type\":\"string\",\"maxLength\":1000}}," \
	"\"required\":[\"alert_id\"],\"additionalProperties\":false}"

const struct tool_def tool_alert_defs[] = {
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
	{ 0 },
};
