#include "metrics.h"
#include "common.h"
#include "banned.h"

#include <stdio.h>
#include <string.h>

/* Histogram bucket bounds in seconds. */
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define NB (sizeof(bounds) / sizeof(bounds[0]))

struct series {
	char labels[96];
	uint64_t count;
	struct series *next;
};

struct hist {
	char language[24];
	uint64_t buckets[NB];
	uint64_t count;
	double sum;
	struct hist *next;
};

static struct series *executions, *tool_calls, *tool_errors;
static struct hist *durations;
static struct metrics_exec_totals totals;
static struct metrics_sandbox_totals sandboxes;
static char sandbox_error[200];

static void bump(struct series **list, const char *labels)
{
	struct series *s;
	for (s = *list; s; s = s->next)
		if (!strcmp(s->labels, labels))
			break;
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		snprintf(s->labels, sizeof(s->labels), "%s", labels);
		s->next = *list;
		*list = s;
	}
	s->count++;
}

void metrics_execution(const char *language, const char *outcome, uint64_t duration_ms)
{
	char labels[96];
	struct hist *h;
	double secs = (double)duration_ms / 1000.0;

	snprintf(labels, sizeof(labels), "language=\"%s\",outcome=\"%s\"", language, outcome);
	bump(&executions, labels);
	if (strcmp(outcome, "cancelled")) {
		totals.count++;
		totals.failed += strcmp(outcome, "ok") != 0;
		totals.seconds += secs;
	}
	for (h = durations; h; h = h->next)
		if (!strcmp(h->language, language))
			break;
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		snprintf(h->language, sizeof(h->language), "%s", language);
		h->next = durations;
		durations = h;
	}
	for (size_t i = 0; i < NB; i++)
		if (secs <= bounds[i])
			h->buckets[i]++;
	h->count++;
	h->sum += secs;
}

void metrics_exec_totals(struct metrics_exec_totals *t)
{
	*t = totals;
}

void metrics_sandbox_created(bool ok, uint64_t duration_ms, const char *error)
{
	if (ok) {
		sandboxes.created++;
		sandboxes.seconds += (double)duration_ms / 1000.0;
		sandboxes.last_ok_ms = wall_ms();
	} else {
		sandboxes.failed++;
		sandboxes.last_failed_ms = wall_ms();
		snprintf(sandbox_error, sizeof(sandbox_error), "%s", error ? error : "failed");
	}
}

void metrics_sandbox_totals(struct metrics_sandbox_totals *t)
{
	*t = sandboxes;
}

const char *metrics_sandbox_last_error(void)
{
	return sandbox_error;
}

void metrics_tool_call(const char *tool, bool is_error)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "tool=\"%s\"", tool);
	bump(&tool_calls, labels);
	if (is_error)
		bump(&tool_errors, labels);
}

static void render_series(struct buf *out, const char *name, const char *help, struct series *list)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (struct series *s = list; s; s = s->next)
		buf_addf(out, "%s{%s} %llu\n", name, s->labels, (unsigned long long)s->count);
}

void metrics_render(struct buf *out, const struct metrics_gauges *g, bool server_wide)
{
	buf_adds(out, "# HELP mcpbox_sessions Sandbox sessions by state.\n# TYPE mcpbox_sessions gauge\n");
	buf_addf(out, "mcpbox_sessions{state=\"creating\"} %u\n", g->sessions_creating);
	buf_addf(out, "mcpbox_sessions{state=\"running\"} %u\n", g->sessions_running);
	buf_addf(out, "mcpbox_sessions{state=\"failed\"} %u\n", g->sessions_failed);
	if (!server_wide) {
		buf_adds(out, "# HELP mcpbox_executions_running Executions in flight.\n"
			      "# TYPE mcpbox_executions_running gauge\n");
		buf_addf(out, "mcpbox_executions_running %u\n", g->executions_running);
		return;
	}
	buf_adds(out, "# HELP mcpbox_connections Open client connections by transport.\n"
		      "# TYPE mcpbox_connections gauge\n");
	buf_addf(out, "mcpbox_connections{transport=\"http\"} %u\n", g->http_sessions);
	buf_addf(out, "mcpbox_connections{transport=\"websocket\"} %u\n", g->websockets);
	buf_adds(out, "# HELP mcpbox_executions_running Executions in flight.\n# TYPE mcpbox_executions_running gauge\n");
	buf_addf(out, "mcpbox_executions_running %u\n", g->executions_running);
	render_series(out, "mcpbox_executions_total", "Finished executions by language and outcome.", executions);
	buf_adds(out, "# HELP mcpbox_sandboxes_created_total Sandboxes the zygote was asked for, by result.\n"
		      "# TYPE mcpbox_sandboxes_created_total counter\n");
	buf_addf(out, "mcpbox_sandboxes_created_total{result=\"ok\"} %llu\n", (unsigned long long)sandboxes.created);
	buf_addf(out, "mcpbox_sandboxes_created_total{result=\"failed\"} %llu\n", (unsigned long long)sandboxes.failed);
	buf_adds(out, "# HELP mcpbox_sandbox_create_seconds_total Time spent making the sandboxes made.\n"
		      "# TYPE mcpbox_sandbox_create_seconds_total counter\n");
	buf_addf(out, "mcpbox_sandbox_create_seconds_total %.6f\n", sandboxes.seconds);
	render_series(out, "mcpbox_tool_calls_total", "Tool calls by tool.", tool_calls);
	render_series(out, "mcpbox_tool_errors_total", "Tool calls that returned isError, by tool.", tool_errors);
	buf_adds(out, "# HELP mcpbox_execution_duration_seconds Wall time of executions.\n"
		      "# TYPE mcpbox_execution_duration_seconds histogram\n");
	for (struct hist *h = durations; h; h = h->next) {
		for (size_t i = 0; i < NB; i++)
			buf_addf(out, "mcpbox_execution_duration_seconds_bucket{language=\"%s\",le=\"%g\"} %llu\n",
				 h->language, bounds[i], (unsigned long long)h->buckets[i]);
		buf_addf(out, "mcpbox_execution_duration_seconds_bucket{language=\"%s\",le=\"+Inf\"} %llu\n",
			 h->language, (unsigned long long)h->count);
		buf_addf(out, "mcpbox_execution_duration_seconds_sum{language=\"%s\"} %.6f\n", h->language, h->sum);
		buf_addf(out, "mcpbox_execution_duration_seconds_count{language=\"%s\"} %llu\n", h->language,
			 (unsigned long long)h->count);
	}
}
