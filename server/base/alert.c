#include "alert.h"
#include "common.h"
#include "config.h"
#include "banned.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum srv_metric m;
} metric_names[] = {
	{ "cpu_percent", SRV_METRIC_CPU },
	{ "memory_percent", SRV_METRIC_MEMORY },
	{ "disk_percent", SRV_METRIC_DISK },
	{ "workspace_bytes", SRV_METRIC_WORKSPACE_BYTES },
	{ "sessions", SRV_METRIC_SESSIONS },
	{ "executions_running", SRV_METRIC_EXECUTIONS },
	{ "failed_executions", SRV_METRIC_FAILED },
	{ "sandbox_memory_bytes", SRV_METRIC_SANDBOX_MEMORY },
	{ "sandbox_cpu_percent", SRV_METRIC_SANDBOX_CPU },
	/* SoulBox's (004) names */
	{ "cpu_usage", SRV_METRIC_CPU },
	{ "memory_usage", SRV_METRIC_MEMORY },
	{ "disk_usage", SRV_METRIC_DISK },
	{ "active_containers", SRV_METRIC_SESSIONS },
};

const char *srv_metric_name(enum srv_metric m)
{
	for (size_t i = 0; i < ARRAY_SIZE(metric_names); i++)
		if (metric_names[i].m == m)
			return metric_names[i].name;
	return "?";
}

int srv_metric_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(metric_names); i++)
		if (!strcmp(metric_names[i].name, name))
			return (int)metric_names[i].m;
	return -1;
}

const char *srv_metric_names(void)
{
	return "cpu_percent, memory_percent, disk_percent, workspace_bytes, sessions, executions_running, "
	       "failed_executions, sandbox_memory_bytes, sandbox_cpu_percent (or cpu_usage, memory_usage, disk_usage, "
	       "active_containers)";
}

static const char *const op_names[] = { ">", ">=", "<", "<=" };
static const char *const sev_names[SRV_SEV_COUNT] = { "info", "warning", "critical", "emergency" };

const char *srv_alert_op_name(enum srv_alert_op op)
{
	return op_names[op];
}

const char *srv_alert_severity_name(enum srv_alert_severity s)
{
	return s < SRV_SEV_COUNT ? sev_names[s] : "?";
}

int srv_alert_severity_find(const char *name)
{
	for (int i = 0; i < SRV_SEV_COUNT; i++)
		if (!strcmp(sev_names[i], name))
			return i;
	return -1;
}

static const struct srv_alert_rule defaults[] = {
	{ "high_cpu", SRV_METRIC_CPU, SRV_ALERT_GT, 90, 80, SRV_SEV_WARNING, 5 * 60000, "" },
	{ "high_memory", SRV_METRIC_MEMORY, SRV_ALERT_GT, 90, 85, SRV_SEV_CRITICAL, 2 * 60000, "" },
	{ "disk_almost_full", SRV_METRIC_DISK, SRV_ALERT_GT, 90, 85, SRV_SEV_CRITICAL, 60000, "" },
	{ "disk_full", SRV_METRIC_DISK, SRV_ALERT_GT, 98, 95, SRV_SEV_EMERGENCY, 0, "" },
	{ "many_failed_executions", SRV_METRIC_FAILED, SRV_ALERT_GT, 100, 100, SRV_SEV_WARNING, 0, "" },
};

const struct srv_alert_rule *srv_alert_default_rules(size_t *n)
{
	*n = ARRAY_SIZE(defaults);
	return defaults;
}

/* ---- parsing ---- */

static int rule_fail(struct err **errp, size_t i, const char *name, const char *fmt, const char *what)
{
	if (name)
		return err_setc(errp, ERR_INVALID, 0, "config: alerts[%zu] (%s): %s%s", i, name, fmt, what ? what : "");
	return err_setc(errp, ERR_INVALID, 0, "config: alerts[%zu]: %s%s", i, fmt, what ? what : "");
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > SRV_ALERT_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(" _.-", *s))
			return false;
	return true;
}

/* A number, or for workspace_bytes also a size ("10G"). */
static int threshold_value(json_t *v, enum srv_metric m, double *out)
{
	uint64_t b;
	if (json_is_number(v) && isfinite(json_number_value(v))) {
		*out = json_number_value(v);
		return 0;
	}
	if ((m == SRV_METRIC_WORKSPACE_BYTES || m == SRV_METRIC_SANDBOX_MEMORY) && json_is_string(v) && srv_parse_size(json_string_value(v), &b, NULL) == 0) {
		*out = (double)b;
		return 0;
	}
	return -1;
}

static int rule_parse(json_t *o, size_t i, struct srv_alert_rule *r, struct err **errp)
{
	static const char *const keys[] = { "name", "metric", "op", "threshold", "severity", "for", "clear", "message" };
	const char *k, *name = json_string_value(json_object_get(o, "name"));
	json_t *v;
	int m;

	if (!json_is_object(o))
		return rule_fail(errp, i, NULL, "must be an object {name, metric, op, threshold, severity, for}", NULL);
	if (!name || !name_ok(name))
		return rule_fail(errp, i, NULL, "name must be 1 to 64 letters, digits, spaces, '_', '.' or '-'", NULL);
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	json_object_foreach(o, k, v) {
		size_t j;
		for (j = 0; j < ARRAY_SIZE(keys) && strcmp(keys[j], k); j++)
			;
		if (j == ARRAY_SIZE(keys))
			return err_setc(errp, ERR_INVALID, 0, "config: alerts[%zu] (%s): unknown key \"%s\" (expected "
					"name, metric, op, threshold, severity, for, clear, message)", i, name, k);
	}
	v = json_object_get(o, "metric");
	if (!json_is_string(v) || (m = srv_metric_find(json_string_value(v))) < 0)
		return rule_fail(errp, i, name, "metric must be one of ", srv_metric_names());
	r->metric = (enum srv_metric)m;
	r->op = SRV_ALERT_GT;
	if ((v = json_object_get(o, "op"))) {
		size_t j;
		for (j = 0; j < ARRAY_SIZE(op_names) && (!json_is_string(v) || strcmp(op_names[j], json_string_value(v)));
		     j++)
			;
		if (j == ARRAY_SIZE(op_names))
			return rule_fail(errp, i, name, "op must be \">\", \">=\", \"<\" or \"<=\"", NULL);
		r->op = (enum srv_alert_op)j;
	}
	if (threshold_value(json_object_get(o, "threshold"), r->metric, &r->threshold) < 0)
		return rule_fail(errp, i, name, "threshold must be a number", r->metric == SRV_METRIC_WORKSPACE_BYTES ||
						 r->metric == SRV_METRIC_SANDBOX_MEMORY ? " or a size (\"10G\")" : NULL);
	r->clear = r->threshold;
	if ((v = json_object_get(o, "clear"))) {
		if (threshold_value(v, r->metric, &r->clear) < 0)
			return rule_fail(errp, i, name, "clear must be a number", NULL);
		bool above = r->op == SRV_ALERT_GT || r->op == SRV_ALERT_GE;
		if (above ? r->clear > r->threshold : r->clear < r->threshold)
			return rule_fail(errp, i, name, above ? "clear must not be above the threshold (the alert resolves "
							"once the value falls to it)" : "clear must not be below the threshold "
							"(the alert resolves once the value rises to it)", NULL);
	}
	r->severity = SRV_SEV_WARNING;
	if ((v = json_object_get(o, "severity"))) {
		int s = json_is_string(v) ? srv_alert_severity_find(json_string_value(v)) : -1;
		if (s < 0)
			return rule_fail(errp, i, name, "severity must be info, warning, critical or emergency", NULL);
		r->severity = (enum srv_alert_severity)s;
	}
	if ((v = json_object_get(o, "for"))) {
		uint64_t s;
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			s = (uint64_t)json_integer_value(v);
		else if (!json_is_string(v) || srv_parse_duration(json_string_value(v), &s, NULL) < 0)
			return rule_fail(errp, i, name, "for must be a duration (seconds, or \"30s\", \"5m\", \"1h\")", NULL);
		if (s > 7 * 86400)
			return rule_fail(errp, i, name, "for must be at most 7d", NULL);
		r->for_ms = s * 1000;
	}
	if ((v = json_object_get(o, "message"))) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(r->message))
			return rule_fail(errp, i, name, "message must be a string of at most 200 bytes", NULL);
		snprintf(r->message, sizeof(r->message), "%s", json_string_value(v));
	}
	return 0;
}

int srv_alert_rules_parse(json_t *arr, struct srv_alert_rule **rules, size_t *n, struct err **errp)
{
	size_t i, cnt;
	json_t *o;

	if (!json_is_array(arr) || json_array_size(arr) > SRV_ALERT_RULES_MAX)
		return err_setc(errp, ERR_INVALID, 0, "config: alerts must be an array of at most %d rules "
				"{name, metric, op, threshold, severity, for}", SRV_ALERT_RULES_MAX);
	cnt = json_array_size(arr);
	struct srv_alert_rule *out = cnt ? xcalloc(cnt, sizeof(*out)) : NULL;
	json_array_foreach(arr, i, o) {
		if (rule_parse(o, i, &out[i], errp) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(out[j].name, out[i].name)) {
				rule_fail(errp, i, out[i].name, "a rule of that name comes earlier (names must be unique)",
					  NULL);
				goto fail;
			}
		}
	}
	*rules = out;
	*n = cnt;
	return 0;
fail:
	free(out);
	return -1;
}

/* ---- evaluation ---- */

static bool compare(enum srv_alert_op op, double v, double limit)
{
	switch (op) {
	case SRV_ALERT_GT: return v > limit;
	case SRV_ALERT_GE: return v >= limit;
	case SRV_ALERT_LT: return v < limit;
	case SRV_ALERT_LE: return v <= limit;
	}
	return false;
}

bool srv_alert_holds(const struct srv_alert_rule *r, double value)
{
	return compare(r->op, value, r->threshold);
}

enum srv_alert_step srv_alert_step(const struct srv_alert_rule *r, struct srv_alert_track *t, double value,
				   uint64_t now_ms)
{
	if (isnan(value))
		return SRV_ALERT_NONE;
	if (t->firing) {
		/* open until the value is past the clear level (hysteresis), whatever `for` says */
		if (compare(r->op, value, r->clear))
			return SRV_ALERT_NONE;
		srv_alert_track_reset(t);
		return SRV_ALERT_CLEAR;
	}
	if (!srv_alert_holds(r, value)) {
		t->holding = false;
		return SRV_ALERT_NONE;
	}
	if (!t->holding) {
		t->holding = true;
		t->since_ms = now_ms;
	}
	if (now_ms - t->since_ms < r->for_ms)
		return SRV_ALERT_NONE;
	t->firing = true;
	t->holding = false;
	return SRV_ALERT_FIRE;
}

void srv_alert_track_reset(struct srv_alert_track *t)
{
	t->firing = false;
	t->holding = false;
	t->since_ms = 0;
}

static void duration_text(uint64_t s, char *out, size_t cap)
{
	if (s && s % 3600 == 0)
		snprintf(out, cap, "%" PRIu64 "h", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(out, cap, "%" PRIu64 "m", s / 60);
	else
		snprintf(out, cap, "%" PRIu64 "s", s);
}

void srv_alert_message(const struct srv_alert_rule *r, double value, char *out, size_t cap)
{
	char d[32];
	if (r->message[0]) {
		snprintf(out, cap, "%s", r->message);
		return;
	}
	duration_text(r->for_ms / 1000, d, sizeof(d));
	if (r->for_ms)
		snprintf(out, cap, "%s is %g (%s %g for %s)", srv_metric_name(r->metric), value, op_names[r->op],
			 r->threshold, d);
	else
		snprintf(out, cap, "%s is %g (%s %g)", srv_metric_name(r->metric), value, op_names[r->op], r->threshold);
}
