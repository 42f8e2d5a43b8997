/* Unit tests of alert rules (server/base/alert.c) and the alerts kept in the store (server/alerts.c). */
#include "tap.h"
#include "server/alerts.h"
#include "server/base/alert.h"
#include "server/base/common.h"
#include "server/base/config.h"
#include "server/base/monitor.h"
#include "server/store.h"

#include <math.h>
#include <stdlib.h>

static struct srv_alert_rule rule(const char *json)
{
	struct srv_alert_rule *r = NULL, out;
	size_t n = 0;
	json_t *arr = json_loads(json, 0, NULL);
	struct err *err = NULL;
	if (srv_alert_rules_parse(arr, &r, &n, &err) < 0 || n != 1) {
		printf("# %s: %s\n", json, err ? err_text(err) : "?");
		abort();
	}
	out = r[0];
	free(r);
	json_decref(arr);
	return out;
}

static void test_parse(void)
{
	static const struct {
		const char *json, *mention;
	} bad[] = {
		{ "{}", "must be an array" },
		{ "[{\"metric\":\"cpu_percent\",\"threshold\":1}]", "name must be" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu\",\"threshold\":1}]", "metric must be one of cpu_percent" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\"}]", "threshold must be a number" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\",\"threshold\":1,\"op\":\"=\"}]", "op must be" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\",\"threshold\":1,\"severity\":\"fatal\"}]",
		  "severity must be info, warning, critical or emergency" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\",\"threshold\":1,\"for\":\"5x\"}]", "for must be a duration" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\",\"threshold\":1,\"thresold\":2}]", "unknown key \"thresold\"" },
		{ "[{\"name\":\"a\",\"metric\":\"cpu_percent\",\"threshold\":80,\"clear\":90}]", "clear must not be above" },
		{ "[{\"name\":\"a\",\"metric\":\"sessions\",\"threshold\":1},{\"name\":\"a\",\"metric\":\"sessions\","
		  "\"threshold\":2}]", "alerts[1] (a): a rule of that name comes earlier" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct srv_config cfg;
		struct err *err = NULL;
		json_t *o = json_pack("{s:o}", "alerts", json_loads(bad[i].json, JSON_DECODE_ANY, NULL));
		srv_config_defaults(&cfg);
		int r = srv_config_apply_json(&cfg, o, &err);
		ok(r < 0 && strstr(err_text(err), bad[i].mention), "config refuses %s: %s", bad[i].json,
		   err ? err_text(err) : "(accepted)");
		err_free(err);
		json_decref(o);
		srv_config_release(&cfg);
	}
	struct srv_alert_rule r = rule("[{\"name\":\"disk\",\"metric\":\"workspace_bytes\",\"threshold\":\"2G\","
				       "\"for\":\"5m\",\"severity\":\"emergency\",\"op\":\"<=\",\"clear\":\"3G\"}]");
	ok(r.threshold == 2.0 * (1 << 30) && r.clear == 3.0 * (1 << 30) && r.for_ms == 300000 &&
	   r.severity == SRV_SEV_EMERGENCY && r.op == SRV_ALERT_LE, "a rule with sizes, a duration, op and clear");
	r = rule("[{\"name\":\"c\",\"metric\":\"cpu_usage\",\"threshold\":90}]");
	ok(r.metric == SRV_METRIC_CPU && r.op == SRV_ALERT_GT && r.severity == SRV_SEV_WARNING && r.clear == 90 &&
	   !r.for_ms, "004's metric name, defaults for op, severity, clear and for");
	size_t n;
	ok(srv_alert_default_rules(&n) && n >= 4, "default rules exist");
}

static void test_step(void)
{
	struct srv_alert_rule r = rule("[{\"name\":\"cpu\",\"metric\":\"cpu_percent\",\"threshold\":90,\"clear\":80,"
				       "\"for\":\"10s\"}]");
	struct srv_alert_track t = { 0 };

	ok(srv_alert_step(&r, &t, 95, 1000) == SRV_ALERT_NONE, "above the threshold: not yet (for 10s)");
	ok(srv_alert_step(&r, &t, 95, 6000) == SRV_ALERT_NONE, "5 s later: not yet");
	ok(srv_alert_step(&r, &t, 85, 8000) == SRV_ALERT_NONE, "dips below the threshold: the wait starts again");
	ok(srv_alert_step(&r, &t, 95, 9000) == SRV_ALERT_NONE, "above again at 9 s");
	ok(srv_alert_step(&r, &t, 95, 18000) == SRV_ALERT_NONE, "9 s of holding is not 10");
	ok(srv_alert_step(&r, &t, NAN, 18500) == SRV_ALERT_NONE, "a missing sample changes nothing");
	ok(srv_alert_step(&r, &t, 95, 19000) == SRV_ALERT_FIRE && t.firing, "10 s of holding fires");
	ok(srv_alert_step(&r, &t, 99, 20000) == SRV_ALERT_NONE, "stays open while above");
	ok(srv_alert_step(&r, &t, 85, 21000) == SRV_ALERT_NONE, "hysteresis: below the threshold but above clear stays open");
	ok(srv_alert_step(&r, &t, 92, 22000) == SRV_ALERT_NONE, "back above: still the same alert, nothing new");
	ok(srv_alert_step(&r, &t, 80, 23000) == SRV_ALERT_CLEAR && !t.firing, "at the clear level it resolves");
	ok(srv_alert_step(&r, &t, 95, 24000) == SRV_ALERT_NONE, "above again: waits its `for` again");
	ok(srv_alert_step(&r, &t, 95, 34000) == SRV_ALERT_FIRE, "and fires again after 10 s");

	struct srv_alert_rule lo = rule("[{\"name\":\"few\",\"metric\":\"sessions\",\"op\":\"<\",\"threshold\":1}]");
	struct srv_alert_track lt = { 0 };
	ok(srv_alert_step(&lo, &lt, 0, 5) == SRV_ALERT_FIRE, "\"<\" with for 0 fires at once");
	ok(srv_alert_step(&lo, &lt, 1, 6) == SRV_ALERT_CLEAR, "and clears when the value reaches the threshold");
	ok(srv_alert_holds(&lo, 0.5) && !srv_alert_holds(&lo, 1), "holds: 0.5 < 1, not 1 < 1");
	char msg[200];
	srv_alert_message(&r, 95.5, msg, sizeof(msg));
	is_str(msg, "cpu_percent is 95.5 (> 90 for 10s)", "the message says the value, the condition and for");
}

struct seen {
	const char *status[8];
	char *id[8];
	int n;
};

static void note(void *arg, const struct srv_alert_row *r)
{
	struct seen *s = arg;
	if (s->n < 8) {
		s->id[s->n] = xstrdup(r->id);
		s->status[s->n] = !strcmp(r->status, "resolved") ? "resolved" : !strcmp(r->status, "active")
				  ? "active" : "acknowledged";
		s->n++;
	}
}

static void seen_free(struct seen *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->id[i]);
	memset(s, 0, sizeof(*s));
}

static const char *field(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_lifecycle(void)
{
	char dir[] = "/tmp/mcpbox-alert-XXXXXX";
	struct srv_store *st = NULL;
	struct srv_config cfg;
	struct err *err = NULL;
	double v[SRV_METRIC_COUNT];

	if (!mkdtemp(dir) || srv_store_open(&st, dir, &err) < 0) {
		ok(0, "store: %s", err ? err_text(err) : "mkdtemp");
		return;
	}
	srv_config_defaults(&cfg);
	json_t *c = json_loads("{\"alerts\":[{\"name\":\"failing\",\"metric\":\"failed_executions\",\"threshold\":0,"
			       "\"severity\":\"critical\"},{\"name\":\"gone_later\",\"metric\":\"sessions\",\"threshold\":5}]}",
			       0, NULL);
	ok(srv_config_apply_json(&cfg, c, &err) == 0, "config with two rules");
	json_decref(c);
	ok(srv_alerts_start(NULL, st, NULL, &cfg, &err) == 0, "alerts start");
	const struct tool_alerts *t = srv_alerts_tools();

	for (int i = 0; i < SRV_METRIC_COUNT; i++)
		v[i] = NAN;
	v[SRV_METRIC_FAILED] = 3;
	v[SRV_METRIC_SESSIONS] = 9;
	srv_alerts_evaluate(v, 1000);
	json_t *l = t->list(t->arg, "active", "critical", &err);
	json_t *a = json_array_get(json_object_get(l, "alerts"), 0);
	ok(json_array_size(json_object_get(l, "alerts")) == 1 && !strcmp(field(a, "rule_name"), "failing") &&
	   json_number_value(json_object_get(a, "value")) == 3 && json_number_value(json_object_get(a, "threshold")) == 0,
	   "the critical alert is listed with its value and threshold");
	char *id = xstrdup(field(a, "alert_id"));
	json_decref(l);

	json_t *r = t->act(t->arg, id, false, "admin:key_1", "looking", &err);
	ok(r && !strcmp(field(r, "status"), "acknowledged") && !strcmp(field(r, "acknowledged_comment"), "looking"),
	   "acknowledged with a comment");
	json_decref(r);
	srv_alerts_evaluate(v, 2000);
	l = t->list(t->arg, "acknowledged", NULL, &err);
	ok(json_array_size(json_object_get(l, "alerts")) == 1, "still open (acknowledged) while the condition holds");
	json_decref(l);

	r = t->act(t->arg, id, true, "admin:key_1", "fixed", &err);
	ok(r && !strcmp(field(r, "status"), "resolved") && !strcmp(field(r, "resolved_by"), "admin:key_1"),
	   "resolved by a person");
	json_decref(r);
	r = t->act(t->arg, id, false, "admin:key_1", NULL, &err);
	ok(!r && err && err->cls == ERR_CONFLICT, "acknowledging a resolved alert: conflict (%s)", err ? err_text(err) : "");
	err_free(err);
	err = NULL;
	r = t->act(t->arg, "alert_nope", true, "admin:key_1", NULL, &err);
	ok(!r && err && err->cls == ERR_NOT_FOUND, "an unknown alert: not found");
	err_free(err);
	err = NULL;

	srv_alerts_evaluate(v, 3000);
	l = t->list(t->arg, "active", "critical", &err);
	a = json_array_get(json_object_get(l, "alerts"), 0);
	ok(json_array_size(json_object_get(l, "alerts")) == 1 && strcmp(field(a, "alert_id"), id),
	   "the condition still holds: the rule fires again as a new alert");
	char *id2 = xstrdup(field(a, "alert_id"));
	json_decref(l);

	/* a restart: the open alert comes back to its rule; the rule that is gone has its alert resolved */
	srv_alerts_stop();
	ok(srv_alerts_tools() == NULL, "stopped: no tools");
	srv_config_release(&cfg);
	srv_config_defaults(&cfg);
	c = json_loads("{\"alerts\":[{\"name\":\"failing\",\"metric\":\"failed_executions\",\"threshold\":0}]}", 0, NULL);
	srv_config_apply_json(&cfg, c, &err);
	json_decref(c);
	ok(srv_alerts_start(NULL, st, NULL, &cfg, &err) == 0, "alerts start again");
	t = srv_alerts_tools();
	struct seen s = { 0 };
	srv_store_alert_list(st, NULL, NULL, NULL, 10, note, &s, &err);
	int active = 0, resolved = 0;
	for (int i = 0; i < s.n; i++) {
		active += !strcmp(s.status[i], "active");
		resolved += !strcmp(s.status[i], "resolved");
	}
	ok(s.n == 3 && active == 1 && resolved == 2, "store: the re-fired alert open; the first and gone_later's resolved");
	seen_free(&s);
	v[SRV_METRIC_FAILED] = 0;
	srv_alerts_evaluate(v, 4000);
	srv_store_alert_list(st, NULL, NULL, id2, 10, note, &s, &err);
	ok(s.n == 1 && !strcmp(s.status[0], "resolved"), "the adopted alert resolves by itself when its condition clears");
	seen_free(&s);
	struct buf m = BUF_INIT;
	srv_alerts_render(&m);
	ok(strstr(m.data, "mcpbox_alerts{status=\"resolved\",severity=\"critical\"} 2") &&
	   strstr(m.data, "mcpbox_alerts{status=\"active\",severity=\"critical\"} 0") &&
	   strstr(m.data, "mcpbox_alerts{status=\"resolved\",severity=\"warning\"} 1"), "/metrics counts by status and severity");
	buf_release(&m);
	free(id);
	free(id2);
	srv_alerts_stop();
	srv_config_release(&cfg);
	srv_store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ok(system(cmd) == 0, "clean up");
}

static void test_history(void)
{
	struct srv_mon_sample sm;
	struct srv_mon_stat st;

	srv_mon_init(4);
	srv_mon_stat(SRV_METRIC_CPU, 60000, &st);
	ok(isnan(st.current) && !st.samples, "no samples: nothing measured");
	for (int i = 0; i < 6; i++) {
		memset(&sm, 0, sizeof(sm));
		sm.at_ms = 1000000 + (uint64_t)i * 10000;
		sm.v[SRV_METRIC_CPU] = 10.0 * (i + 1);
		sm.v[SRV_METRIC_MEMORY] = i == 5 ? NAN : 50;
		srv_mon_push(&sm);
	}
	ok(srv_mon_count() == 4 && srv_mon_back(0)->v[SRV_METRIC_CPU] == 60 && srv_mon_back(3)->v[SRV_METRIC_CPU] == 30
	   && !srv_mon_back(4), "the ring keeps the last 4 samples");
	srv_mon_stat(SRV_METRIC_CPU, 20000, &st);
	ok(st.current == 60 && st.samples == 3 && st.peak == 60 && st.average == 50, "a 20 s window: 40, 50, 60");
	srv_mon_stat(SRV_METRIC_CPU, 3600000, &st);
	ok(st.samples == 4 && st.average == 45, "a window longer than the history: every sample kept");
	srv_mon_stat(SRV_METRIC_MEMORY, 3600000, &st);
	ok(isnan(st.current) && st.samples == 3 && st.average == 50, "a sample that did not measure is left out");
	ok(srv_mon_window_start(15000) == srv_mon_back(1), "the window's first sample");
	srv_mon_health_set(SRV_MON_CONTAINERS, false, "zygote gone");
	ok(srv_mon_health_get(SRV_MON_CONTAINERS)->checked && !srv_mon_health_get(SRV_MON_CONTAINERS)->healthy &&
	   !strcmp(srv_mon_health_get(SRV_MON_CONTAINERS)->message, "zygote gone") &&
	   !srv_mon_health_get(SRV_MON_DATABASE)->checked, "health per component");
	srv_mon_release();
}

int main(void)
{
	test_parse();
	test_history();
	test_step();
	test_lifecycle();
	return tap_done();
}
