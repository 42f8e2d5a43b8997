/*
 * server/rest/soulbox_monitor.c — SoulBox's monitoring and alerts (see
 * soulbox.h, docs/compat.md 004): /api/alerts (alert_list,
 * alert_acknowledge, alert_resolve), /api/metrics (the server's Prometheus
 * text), /api/health (server_health), /api/metrics/performance
 * (server_metrics), and the WebSocket /ws/monitor, which pushes the
 * metrics a client subscribed to at its interval.
 *
 * /ws/monitor reads the samples server/alerts.c keeps (server/base/monitor.h)
 * straight from the ring, not through a tool call per push: a feed costs a
 * few JSON frames per interval and no tool call, rate-limit token or store
 * read. Bounds per connection: messages of at most 4 KiB, 16 metrics,
 * intervals from 1 s to 1 h, the dialect's request rate for each message;
 * a client that does not read its updates (full send queue) skips pushes
 * until it drains.
 */
#include "soulbox.h"
#include "../base/alert.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/monitor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "../base/banned.h"

#define MSG_MAX 4096
#define METRICS_MAX 16
#define INTERVAL_DEFAULT_S 5
#define INTERVAL_MAX_S 3600

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* ---- alerts ---- */

static bool one_of(const char *v, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (!strcmp(v, *allowed))
			return true;
	return false;
}

/* The document's alert, with the metric it watches beside it. */
static json_t *alert_json(json_t *a)
{
	json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:O?, s:O?, s:s?}", "alert_id", str(a, "alert_id"),
			      "rule_name", str(a, "rule_name"), "severity", str(a, "severity"), "status",
			      str(a, "status"), "message", str(a, "message"), "triggered_at",
			      sb_time(str(a, "triggered_at")), "value", json_object_get(a, "value"), "threshold",
			      json_object_get(a, "threshold"), "metric", str(a, "metric"));
	static const char *const extra[] = { "acknowledged_at", "resolved_at", NULL };
	for (const char *const *k = extra; *k; k++)
		if (str(a, *k))
			json_object_set_new(o, *k, sb_time(str(a, *k)));
	static const char *const comments[] = { "acknowledged_comment", "resolved_comment", NULL };
	for (const char *const *k = comments; *k; k++)
		if (str(a, *k))
			json_object_set(o, *k, json_object_get(a, *k));
	return o;
}

static void alerts_listed(struct sb_call *c, json_t *data)
{
	json_t *items = json_array();
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(data, "alerts"), i, a)
		json_array_append_new(items, alert_json(a));
	sb_call_answer(c, 200, json_pack("{s:o}", "alerts", sb_page_apply(c->r, c->ext, items, NULL)));
}

static void alert_list(struct tp_req *r, void *arg)
{
	static const char *const statuses[] = { "active", "acknowledged", "resolved", NULL };
	static const char *const severities[] = { "info", "warning", "critical", "emergency", NULL };
	char principal[SB_PRINCIPAL_MAX], status[256], severity[256];

	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	bool has_status = !tp_req_query(r, "status", status, sizeof(status)) && status[0];
	bool has_severity = !tp_req_query(r, "severity", severity, sizeof(severity)) && severity[0];
	if (has_status && !one_of(status, statuses)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "status", "status must be active, acknowledged or resolved");
		return;
	}
	if (has_severity && !one_of(severity, severities)) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "severity", "severity must be info, warning, critical or emergency");
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	if (sb_call_page(c))
		return;
	json_t *args = json_object();
	if (has_status)
		json_object_set_new(args, "status", json_string(status));
	if (has_severity)
		json_object_set_new(args, "severity", json_string(severity));
	sb_call_tool(c, "alert_list", args, alerts_listed);
}

static void alert_acted(struct sb_call *c, json_t *data)
{
	sb_call_answer(c, 200, alert_json(data));
}

static void alert_act(struct tp_req *r, const char *tool)
{
	struct sb_call *c = sb_call_path(r, "alert_id", 1);
	if (!c)
		return;
	json_t *comment = json_object_get(c->body, "comment");
	if (comment && !json_is_null(comment) && (!json_is_string(comment) || json_string_length(comment) > 1000)) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "comment", "comment must be a string of at most 1000 characters");
		return;
	}
	json_t *args = json_pack("{s:s}", "alert_id", c->id);
	if (json_is_string(comment))
		json_object_set(args, "comment", comment);
	sb_call_tool(c, tool, args, alert_acted);
}

static void alert_acknowledge(struct tp_req *r, void *arg)
{
	alert_act(r, "alert_acknowledge");
}

static void alert_resolve(struct tp_req *r, void *arg)
{
	alert_act(r, "alert_resolve");
}

/* ---- metrics, health, performance ---- */

static void metrics_text(struct tp_req *r, void *arg)
{
	char principal[SB_PRINCIPAL_MAX], id[SB_REQ_ID_MAX];
	struct buf b = BUF_INIT;

	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	tp_http_metrics_text(principal, &b);
	sb_request_id(id);
	tp_req_add_header(r, "X-Request-ID", id);
	tp_req_send(r, 200, TP_METRICS_TYPE, b.data, b.len);
	buf_release(&b);
}

static void health_got(struct sb_call *c, json_t *data)
{
	json_t *comps = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(data, "components"), i, x) {
		json_t *o = json_pack("{s:s?, s:s?, s:o}", "name", str(x, "name"), "status", str(x, "status"),
				      "last_check", sb_time(str(x, "last_check")));
		if (str(x, "message"))
			json_object_set(o, "message", json_object_get(x, "message"));
		json_array_append_new(comps, o);
	}
	const char *status = str(data, "status");
	bool down = status && !strcmp(status, "unhealthy");
	sb_call_answer(c, down ? 503 : 200, json_pack("{s:s?, s:O?, s:O?, s:o}", "status", status, "version",
						       json_object_get(data, "version"), "uptime",
						       json_object_get(data, "uptime"), "components", comps));
}

static void health(struct tp_req *r, void *arg)
{
	char principal[SB_PRINCIPAL_MAX];
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	sb_call_tool(sb_call_new(r, principal, NULL), "server_health", json_object(), health_got);
}

static void performance_got(struct sb_call *c, json_t *data)
{
	json_object_del(data, "current");
	sb_call_answer(c, 200, json_incref(data));
}

static void performance(struct tp_req *r, void *arg)
{
	/* the document's block names and shorter ones */
	static const struct {
		const char *given, *component;
	} components[] = {
		{ "cpu", "cpu" }, { "cpu_usage", "cpu" }, { "memory", "memory" }, { "memory_usage", "memory" },
		{ "disk", "disk" }, { "disk_usage", "disk" }, { "containers", "containers" },
		{ "container", "containers" }, { "container_metrics", "containers" }, { "executions", "executions" },
		{ "execution", "executions" }, { "execution_metrics", "executions" },
	};
	char principal[SB_PRINCIPAL_MAX], duration[32], component[32];
	json_t *args = json_object();

	if (sb_begin(r, SB_RATE_REQUESTS, principal)) {
		json_decref(args);
		return;
	}
	if (!tp_req_query(r, "duration", duration, sizeof(duration)) && duration[0])
		json_object_set_new(args, "duration", json_string(duration));
	if (!tp_req_query(r, "component", component, sizeof(component)) && component[0]) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(components) && strcmp(components[i].given, component); i++)
			;
		if (i == ARRAY_SIZE(components)) {
			json_decref(args);
			sb_fail(r, 400, SB_VALIDATION_ERROR, "component",
				"component must be cpu, memory, disk, containers or executions");
			return;
		}
		json_object_set_new(args, "component", json_string(components[i].component));
	}
	sb_call_tool(sb_call_new(r, principal, NULL), "server_metrics", args, performance_got);
}

/* ---- /ws/monitor ---- */

struct monitor {
	struct tp_ws *ws;
	char principal[SB_PRINCIPAL_MAX];
	uv_timer_t timer;
	bool timing;
	struct buf in;			/* a message arriving in pieces */
	size_t n;
	char names[METRICS_MAX][40];	/* as the client named them */
	enum srv_metric metric[METRICS_MAX];
	bool behind;			/* the send queue was full: skip pushes until it drains */
};

static bool send_json(struct monitor *m, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	bool ok = tp_ws_send(m->ws, s, strlen(s), false);
	free(s);
	json_decref(o);
	if (!ok)
		m->behind = true;
	return ok;
}

static void send_error(struct monitor *m, const char *field, const char *fmt, const char *what)
{
	char text[300];
	snprintf(text, sizeof(text), fmt, what);
	json_t *e = sb_error_json(SB_VALIDATION_ERROR, field ? "Invalid request parameters" : text, field,
				  field ? text : NULL, NULL);
	json_object_set_new(e, "type", json_string("error"));
	send_json(m, e);
}

static void push(uv_timer_t *t)
{
	struct monitor *m = t->data;
	const struct srv_mon_sample *s = srv_mon_back(0);
	if (m->behind || !s)
		return;
	char iso[SRV_TIME_ISO_MAX];
	srv_time_iso((int64_t)s->at_ms, false, iso);
	for (size_t i = 0; i < m->n && !m->behind; i++) {
		double v = s->v[m->metric[i]];
		send_json(m, json_pack("{s:s, s:s, s:o, s:s}", "type", "metric_update", "metric", m->names[i], "value",
				       isnan(v) ? json_null() : json_real(v), "timestamp", iso));
	}
}

static void subscribe(struct monitor *m, json_t *msg)
{
	json_t *list = json_object_get(msg, "metrics"), *iv = json_object_get(msg, "interval"), *x;
	size_t i;
	int64_t interval = INTERVAL_DEFAULT_S;

	if (!json_is_array(list) || !json_array_size(list) || json_array_size(list) > METRICS_MAX) {
		send_error(m, "metrics", "metrics must be a list of 1 to 16 names (%s)", srv_metric_names());
		return;
	}
	json_array_foreach(list, i, x) {
		if (!json_is_string(x) || srv_metric_find(json_string_value(x)) < 0 || json_string_length(x) >= 40) {
			send_error(m, "metrics", "unknown metric \"%s\"", json_is_string(x) ? json_string_value(x) : "?");
			return;
		}
	}
	if (iv && (!json_is_integer(iv) || json_integer_value(iv) < 1 || json_integer_value(iv) > INTERVAL_MAX_S)) {
		send_error(m, "interval", "interval must be a number of seconds from 1 to 3600%s", "");
		return;
	}
	if (iv)
		interval = json_integer_value(iv);
	m->n = 0;
	json_array_foreach(list, i, x) {
		snprintf(m->names[m->n], sizeof(m->names[m->n]), "%s", json_string_value(x));
		m->metric[m->n++] = (enum srv_metric)srv_metric_find(json_string_value(x));
	}
	json_t *names = json_deep_copy(list);
	send_json(m, json_pack("{s:s, s:o, s:I}", "type", "subscribed", "metrics", names, "interval",
			       (json_int_t)interval));
	uv_timer_start(&m->timer, push, 0, (uint64_t)interval * 1000);
}

static void handle(struct monitor *m, const char *data, size_t len)
{
	json_error_t je;
	uint64_t retry;
	json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	const char *type = str(msg, "type");

	if (!sb_rate_take(m->principal, SB_RATE_REQUESTS, &retry)) {
		char t[64];
		snprintf(t, sizeof(t), "%llu", (unsigned long long)((retry + 999) / 1000));
		json_t *e = sb_error_json(SB_RESOURCE_LIMIT_EXCEEDED, "Rate limit exceeded; retry in seconds", "rate", t, NULL);
		json_object_set_new(e, "type", json_string("error"));
		send_json(m, e);
	} else if (!json_is_object(msg) || !type) {
		send_error(m, "type", "a message is a JSON object with a type (subscribe, unsubscribe, ping)%s", "");
	} else if (!strcmp(type, "subscribe")) {
		subscribe(m, msg);
	} else if (!strcmp(type, "unsubscribe")) {
		uv_timer_stop(&m->timer);
		m->n = 0;
		send_json(m, json_pack("{s:s}", "type", "unsubscribed"));
	} else if (!strcmp(type, "ping")) {
		send_json(m, json_pack("{s:s}", "type", "pong"));
	} else {
		send_error(m, "type", "unknown message type \"%s\" (subscribe, unsubscribe, ping)", type);
	}
	json_decref(msg);
}

static int monitor_accept(struct tp_req *r, void *arg, void **user, const char **why)
{
	char key[TP_KEY_MAX];
	struct monitor *m = xcalloc(1, sizeof(*m));

	tp_req_link_key(r, key, sizeof(key));
	if (tp_req_authenticate(r, key, m->principal, sizeof(m->principal)) != 1) {
		free(m);
		*why = key[0] ? "Invalid API key or token" : "Authentication is required: send X-API-Key, "
							    "Authorization: Bearer or ?api_key=";
		return 401;
	}
	*user = m;
	return 0;
}

static int monitor_open(struct tp_ws *ws, void *user)
{
	struct monitor *m = user;
	m->ws = ws;
	uv_timer_init(uv_default_loop(), &m->timer);
	m->timer.data = m;
	m->timing = true;
	return 0;
}

static void monitor_receive(void *user, const void *data, size_t len)
{
	struct monitor *m = user;
	bool final, binary;

	tp_ws_piece(m->ws, &final, &binary);
	if (m->in.len + len > MSG_MAX) {
		buf_reset(&m->in);
		send_error(m, NULL, "messages are at most 4 KiB%s", "");
		tp_ws_close(m->ws);
		return;
	}
	buf_add(&m->in, data, len);
	if (!final)
		return;
	handle(m, m->in.data, m->in.len);
	buf_reset(&m->in);
}

static void monitor_drained(void *user)
{
	((struct monitor *)user)->behind = false;
}

static void monitor_free(uv_handle_t *h)
{
	free(h->data);
}

static void monitor_closed(void *user)
{
	struct monitor *m = user;
	buf_release(&m->in);
	if (!m->timing) {
		free(m);
		return;
	}
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, monitor_free);
}

static const struct tp_ws_ops monitor_ops = {
	.accept = monitor_accept,
	.refusal = sb_ws_refusal,
	.open = monitor_open,
	.receive = monitor_receive,
	.drained = monitor_drained,
	.closed = monitor_closed,
};

static const struct rest_route routes[] = {
	{ TP_GET, "/api/alerts", alert_list },
	{ TP_POST, "/api/alerts/{alert_id}/acknowledge", alert_acknowledge },
	{ TP_POST, "/api/alerts/{alert_id}/resolve", alert_resolve },
	{ TP_GET, "/api/metrics", metrics_text },
	{ TP_GET, "/api/metrics/performance", performance },
	{ TP_GET, "/api/health", health },
	{ 0, NULL, NULL },
};

static const struct sb_ws_route ws_routes[] = {
	{ "/ws/monitor", &monitor_ops },
	{ NULL, NULL },
};

const struct sb_part sb_part_monitor = { routes, ws_routes, NULL, NULL };
