/*
 * server/alerts.c — sampling the server's metrics, stepping the alert rules,
 * keeping the alerts (see alerts.h).
 *
 * An open alert lives in memory as its JSON document (open[rule]) and in the
 * store; the store is written when an alert opens, is acknowledged or
 * resolves, not at every sample (its last_value is refreshed in memory, and
 * listings show the memory copy of an open alert).
 */
#include "alerts.h"
#include "base/common.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/monitor.h"
#include "../sessions/sandbox.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "base/banned.h"

#define LIST_MAX 1000		/* alerts one listing returns */
#define KEEP_RESOLVED 10000	/* resolved alerts the store keeps */
#define RING_MAX 8640		/* samples kept for the history */
#define FAILED_WINDOW_MS (5 * 60 * 1000)
#define FIRST_SAMPLE_MS 1000

static uv_timer_t timer;	/* outside A: it may still be closing when A is cleared */
static bool timer_made;

static struct {
	bool started;
	struct srv_store *st;
	struct sess_registry *reg;
	const struct srv_config *cfg;
	struct srv_alert_rule *rules;
	size_t nrules;
	struct srv_alert_track *track;
	json_t **open;			/* per rule: its open alert's document, or NULL */
	uint64_t cpu_busy, cpu_total;	/* /proc/stat at the last sample */
	uint64_t sb_cpu_ns, sb_at_ns;	/* the sandboxes' cgroup CPU time at the last sample, and when */
	struct tool_alerts tools;
	int lock_fd;			/* DATA/alerts.lock, open; -1 without a data directory */
	bool writer;			/* we hold its lock: we step the rules */
} A;

/* ---- keeping alerts ---- */

static void persist(json_t *doc)
{
	auto_err struct err *err = NULL;
	char *text = json_dumps(doc, JSON_COMPACT);
	struct srv_alert_row r = {
		.id = json_string_value(json_object_get(doc, "alert_id")),
		.rule = json_string_value(json_object_get(doc, "rule_name")),
		.severity = json_string_value(json_object_get(doc, "severity")),
		.status = json_string_value(json_object_get(doc, "status")),
		.triggered_at = json_integer_value(json_object_get(doc, "triggered_ms")),
		.updated_at = (int64_t)wall_ms(),
		.doc = text,
	};
	if (srv_store_alert_put(A.st, &r, &err) < 0)
		log_warn("alerts: %s: %s", r.id, err_text(err));
	free(text);
}

static void fire(size_t i, double value)
{
	const struct srv_alert_rule *r = &A.rules[i];
	char msg[300];
	uint64_t now = wall_ms();
	auto_free char *id = random_id("alert_", 6);

	srv_alert_message(r, value, msg, sizeof(msg));
	A.open[i] = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:o, s:I, s:o}",
			      "alert_id", id, "rule_name", r->name, "severity", srv_alert_severity_name(r->severity),
			      "status", "active", "message", msg, "metric", srv_metric_name(r->metric), "op",
			      srv_alert_op_name(r->op), "value", value, "threshold", r->threshold, "last_value", value,
			      "triggered_at", tool_json_time(now), "triggered_ms", (json_int_t)now, "updated_at",
			      tool_json_time(now));
	log_warn("alert %s (%s, %s): %s", id, r->name, srv_alert_severity_name(r->severity), msg);
	persist(A.open[i]);
}

/* Move doc to status ("acknowledged", "resolved") by who: <status>_at, _by and _comment, then save it. */
static void mark(json_t *doc, const char *status, const char *who, const char *comment)
{
	uint64_t now = wall_ms();
	struct buf k = BUF_INIT;
	json_object_set_new(doc, "status", json_string(status));
	buf_addf(&k, "%s_at", status);
	json_object_set_new(doc, k.data, tool_json_time(now));
	buf_reset(&k);
	buf_addf(&k, "%s_by", status);
	json_object_set_new(doc, k.data, json_string(who));
	if (comment) {
		buf_reset(&k);
		buf_addf(&k, "%s_comment", status);
		json_object_set_new(doc, k.data, json_string(comment));
	}
	buf_release(&k);
	json_object_set_new(doc, "updated_at", tool_json_time(now));
	persist(doc);
}

/* Close doc as resolved by who ("auto": its condition cleared; "config": its rule is gone). */
static void resolve_doc(json_t *doc, const char *who, const char *comment)
{
	mark(doc, "resolved", who, comment);
	auto_err struct err *err = NULL;
	if (srv_store_alert_prune(A.st, KEEP_RESOLVED, &err) < 0)
		log_warn("alerts: %s", err_text(err));
}

void srv_alerts_evaluate(const double values[SRV_METRIC_COUNT], uint64_t now_ms)
{
	for (size_t i = 0; i < A.nrules; i++) {
		double v = values[A.rules[i].metric];
		switch (srv_alert_step(&A.rules[i], &A.track[i], v, now_ms)) {
		case SRV_ALERT_FIRE:
			fire(i, v);
			break;
		case SRV_ALERT_CLEAR:
			json_object_set_new(A.open[i], "last_value", json_real(v));
			log_info("alert %s (%s) resolved: %s is %g", json_string_value(json_object_get(A.open[i], "alert_id")),
				 A.rules[i].name, srv_metric_name(A.rules[i].metric), v);
			resolve_doc(A.open[i], "auto", NULL);
			json_decref(A.open[i]);
			A.open[i] = NULL;
			break;
		case SRV_ALERT_NONE:
			if (A.open[i] && !isnan(v))
				json_object_set_new(A.open[i], "last_value", json_real(v));
			break;
		}
	}
}

/* ---- sampling ---- */

static int read_proc(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

static double sample_cpu(void)
{
	char b[512];
	unsigned long long v[8] = { 0 };
	if (read_proc("/proc/stat", b, sizeof(b)) < 0 ||
	    sscanf(b, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		   &v[7]) < 4)
		return NAN;
	uint64_t total = 0, idle = v[3] + v[4]; /* idle + iowait */
	for (size_t i = 0; i < 8; i++)
		total += v[i];
	uint64_t busy = total - idle;
	double pct = NAN;
	if (A.cpu_total && total > A.cpu_total)
		pct = 100.0 * (double)(busy - A.cpu_busy) / (double)(total - A.cpu_total);
	A.cpu_busy = busy;
	A.cpu_total = total;
	return pct;
}

static double sample_memory(void)
{
	char b[4096];
	const char *p;
	unsigned long long total = 0, avail = 0;
	if (read_proc("/proc/meminfo", b, sizeof(b)) < 0)
		return NAN;
	if ((p = strstr(b, "MemTotal:")))
		sscanf(p, "MemTotal: %llu", &total);
	if ((p = strstr(b, "MemAvailable:")))
		sscanf(p, "MemAvailable: %llu", &avail);
	if (!total || avail > total)
		return NAN;
	return 100.0 * (double)(total - avail) / (double)total;
}

static double sample_disk(void)
{
	struct statvfs sv;
	if (!A.cfg || !A.cfg->data_dir || statvfs(A.cfg->data_dir, &sv) < 0)
		return NAN;
	double used = (double)(sv.f_blocks - sv.f_bfree), avail = (double)sv.f_bavail;
	return used + avail > 0 ? 100.0 * used / (used + avail) : NAN;
}

/* The sandboxes' common cgroup: memory now, CPU since the last sample as % of the host's CPUs. */
static void sample_sandboxes(struct srv_mon_sample *sm)
{
	const struct sess_zygote *z = A.reg ? sess_registry_zygote(A.reg) : NULL;
	uint64_t v, now = now_ns();

	sm->v[SRV_METRIC_SANDBOX_MEMORY] = z && sess_zygote_memory(z, &v) == 0 ? (double)v : NAN;
	sm->v[SRV_METRIC_SANDBOX_CPU] = NAN;
	if (!z || sess_zygote_cpu_ns(z, &v) < 0)
		return;
	unsigned cpus = sess_zygote_host(z)->cpus;
	if (A.sb_at_ns && now > A.sb_at_ns && v >= A.sb_cpu_ns)
		sm->v[SRV_METRIC_SANDBOX_CPU] = 100.0 * (double)(v - A.sb_cpu_ns) / ((double)(now - A.sb_at_ns) *
										  (cpus ? cpus : 1));
	A.sb_cpu_ns = v;
	A.sb_at_ns = now;
}

static void count_session(void *arg, struct sess_session *s)
{
	struct srv_mon_sample *sm = arg;
	if (s->state == SESS_RUNNING)
		sm->v[SRV_METRIC_SESSIONS]++;
	sm->v[SRV_METRIC_EXECUTIONS] += s->running;
	sm->v[SRV_METRIC_WORKSPACE_BYTES] += (double)s->disk_bytes;
	sm->sessions_total++;
}

static void sample_take(struct srv_mon_sample *sm)
{
	memset(sm, 0, sizeof(*sm));
	sm->at_ms = wall_ms();
	sm->v[SRV_METRIC_CPU] = sample_cpu();
	sm->v[SRV_METRIC_MEMORY] = sample_memory();
	sm->v[SRV_METRIC_DISK] = sample_disk();
	sample_sandboxes(sm);
	if (A.reg)
		sess_foreach(A.reg, NULL, count_session, sm);
	else
		sm->v[SRV_METRIC_SESSIONS] = sm->v[SRV_METRIC_EXECUTIONS] = sm->v[SRV_METRIC_WORKSPACE_BYTES] = NAN;
	metrics_exec_totals(&sm->ex);
	metrics_sandbox_totals(&sm->sb);
	/* failures since the oldest sample inside the window (at least: since the last sample; at first: since start) */
	const struct srv_mon_sample *from = srv_mon_back(0), *o;
	for (size_t n = 1; (o = srv_mon_back(n)) && sm->at_ms - o->at_ms <= FAILED_WINDOW_MS; n++)
		from = o;
	sm->v[SRV_METRIC_FAILED] = (double)(sm->ex.failed - (from ? from->ex.failed : 0));
}

static void count_nothing(void *arg, const char *status, const char *severity, uint64_t n)
{
}

/*
 * The health of the parts: the store answers a read of a table (not only a
 * pragma), and the latest sandbox the zygote was asked for (a session's or
 * the warm pool's) was made.
 */
static void check_health(void)
{
	struct metrics_sandbox_totals sb;
	auto_err struct err *err = NULL;
	if (A.st && srv_store_alert_counts(A.st, count_nothing, NULL, &err) < 0)
		srv_mon_health_set(SRV_MON_DATABASE, false, err_text(err));
	else
		srv_mon_health_set(SRV_MON_DATABASE, A.st != NULL, "no store");
	metrics_sandbox_totals(&sb);
	bool failing = sb.last_failed_ms > sb.last_ok_ms;
	char msg[260];
	snprintf(msg, sizeof(msg), "the last sandbox could not be made: %s", metrics_sandbox_last_error());
	srv_mon_health_set(SRV_MON_CONTAINERS, !failing, msg);
}

static void adopt(void *arg, const struct srv_alert_row *r);
static void load_one(void *arg, const struct srv_alert_row *r);

/*
 * One evaluator per data directory: whoever holds DATA/alerts.lock. Taking
 * it (at start, or when its holder has gone) picks up the open alerts the
 * store holds. False: another process evaluates.
 */
static bool take_lease(void)
{
	if (A.writer)
		return true;
	if (A.lock_fd < 0 || flock(A.lock_fd, LOCK_EX | LOCK_NB) < 0)
		return false;
	A.writer = true;
	auto_err struct err *err = NULL;
	for (size_t i = 0; i < A.nrules; i++) {
		json_decref(A.open[i]);
		A.open[i] = NULL;
		srv_alert_track_reset(&A.track[i]);
	}
	if (srv_store_alert_list(A.st, "active", NULL, NULL, LIST_MAX, adopt, NULL, &err) < 0 ||
	    srv_store_alert_list(A.st, "acknowledged", NULL, NULL, LIST_MAX, adopt, NULL, &err) < 0)
		log_warn("alerts: %s", err_text(err));
	return true;
}

/*
 * Our open alerts as the store has them now: a process without the lock may
 * have acknowledged or resolved one (then its rule may fire again).
 */
static void refresh_open(void)
{
	for (size_t i = 0; i < A.nrules; i++) {
		json_t *stored = NULL;
		auto_err struct err *err = NULL;
		if (!A.open[i])
			continue;
		const char *id = json_string_value(json_object_get(A.open[i], "alert_id"));
		if (srv_store_alert_list(A.st, NULL, NULL, id, 1, load_one, &stored, &err) < 0 || !stored)
			continue;
		const char *st = json_string_value(json_object_get(stored, "status"));
		if (st && !strcmp(st, "resolved")) {
			json_decref(A.open[i]);
			A.open[i] = NULL;
			srv_alert_track_reset(&A.track[i]);
		} else if (st && strcmp(st, json_string_value(json_object_get(A.open[i], "status")) ?: "")) {
			/* acknowledged elsewhere: keep its fields, and our latest value */
			json_object_set(stored, "last_value", json_object_get(A.open[i], "last_value"));
			json_decref(A.open[i]);
			A.open[i] = json_incref(stored);
		}
		json_decref(stored);
	}
}

static void tick(uv_timer_t *t)
{
	struct srv_mon_sample sm;
	sample_take(&sm);
	srv_mon_push(&sm);
	check_health();
	if (!take_lease())
		return;
	refresh_open();
	srv_alerts_evaluate(sm.v, now_ms());
}

/* ---- the tools' view ---- */

static bool is_open(json_t *doc, const char *id)
{
	return doc && !strcmp(json_string_value(json_object_get(doc, "alert_id")), id);
}

static json_t *open_find(const char *id, size_t *rule)
{
	for (size_t i = 0; i < A.nrules; i++) {
		if (is_open(A.open[i], id)) {
			*rule = i;
			return A.open[i];
		}
	}
	return NULL;
}

/* What a listing shows of a document: without our bookkeeping field. */
static json_t *shown(json_t *doc)
{
	json_t *o = json_deep_copy(doc);
	json_object_del(o, "triggered_ms");
	return o;
}

static void collect(void *arg, const struct srv_alert_row *r)
{
	size_t rule;
	json_t *mem = open_find(r->id, &rule);
	json_t *doc = mem ? json_incref(mem) : json_loads(r->doc, 0, NULL);
	if (!doc)
		return;
	/* the store's status is the truth for alerts of another process; ours are in memory */
	if (!mem && r->status)
		json_object_set_new(doc, "status", json_string(r->status));
	json_array_append_new(arg, shown(doc));
	json_decref(doc);
}

static json_t *tools_list(void *arg, const char *status, const char *severity, struct err **errp)
{
	json_t *arr = json_array();
	if (srv_store_alert_list(A.st, status, severity, NULL, LIST_MAX, collect, arr, errp) < 0) {
		json_decref(arr);
		return NULL;
	}
	return json_pack("{s:o}", "alerts", arr);
}

static void load_one(void *arg, const struct srv_alert_row *r)
{
	json_t **out = arg;
	if (!*out)
		*out = json_loads(r->doc, 0, NULL);
}

static json_t *tools_act(void *arg, const char *id, bool resolve, const char *principal, const char *comment,
			 struct err **errp)
{
	size_t rule = 0;
	json_t *doc = open_find(id, &rule), *stored = NULL;

	if (!doc) {
		/* resolved, or open in the store only (another process's, or before its rule was loaded) */
		if (srv_store_alert_list(A.st, NULL, NULL, id, 1, load_one, &stored, errp) < 0)
			return NULL;
		if (!stored)
			return err_setc(errp, ERR_NOT_FOUND, 0, "alert \"%s\" not found", id), NULL;
		doc = stored;
	}
	const char *status = json_string_value(json_object_get(doc, "status"));
	if (status && !strcmp(status, "resolved")) {
		json_decref(stored);
		return err_setc(errp, ERR_CONFLICT, 0, "alert \"%s\" is resolved already", id), NULL;
	}
	if (resolve) {
		resolve_doc(doc, principal, comment);
		if (!stored) {
			/* the rule may fire again, as a new alert, once its condition held for `for` again */
			srv_alert_track_reset(&A.track[rule]);
			A.open[rule] = NULL;
		}
	} else if (status && strcmp(status, "acknowledged")) {
		mark(doc, "acknowledged", principal, comment);
	}
	json_t *out = shown(doc);
	json_decref(resolve && !stored ? doc : stored);
	return out;
}

/* ---- /metrics ---- */

struct counts {
	uint64_t n[3][SRV_SEV_COUNT];
};

static void count_row(void *arg, const char *status, const char *severity, uint64_t n)
{
	static const char *const states[] = { "active", "acknowledged", "resolved" };
	struct counts *c = arg;
	int sev = severity ? srv_alert_severity_find(severity) : -1;
	for (size_t i = 0; i < ARRAY_SIZE(states) && sev >= 0; i++)
		if (status && !strcmp(states[i], status))
			c->n[i][sev] += n;
}

void srv_alerts_render(struct buf *out)
{
	static const char *const states[] = { "active", "acknowledged", "resolved" };
	struct counts c = { 0 };
	auto_err struct err *err = NULL;

	if (!A.started)
		return;
	if (srv_store_alert_counts(A.st, count_row, &c, &err) < 0) {
		log_warn("alerts: %s", err_text(err));
		return;
	}
	buf_adds(out, "# HELP mcpbox_alerts Alerts kept, by status and severity.\n# TYPE mcpbox_alerts gauge\n");
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		for (int s = 0; s < SRV_SEV_COUNT; s++)
			buf_addf(out, "mcpbox_alerts{status=\"%s\",severity=\"%s\"} %" PRIu64 "\n", states[i],
				 srv_alert_severity_name((enum srv_alert_severity)s), c.n[i][s]);
	buf_adds(out, "# HELP mcpbox_alert_rules Alert rules evaluated.\n# TYPE mcpbox_alert_rules gauge\n");
	buf_addf(out, "mcpbox_alert_rules %zu\n", A.nrules);
}

/* ---- start and stop ---- */

/* An open alert of the store: back to its rule, or resolved when no rule of its name is configured. */
static void adopt(void *arg, const struct srv_alert_row *r)
{
	json_t *doc = json_loads(r->doc, 0, NULL);
	size_t i;

	if (!doc)
		return;
	for (i = 0; i < A.nrules && strcmp(A.rules[i].name, r->rule); i++)
		;
	if (i < A.nrules && !A.open[i]) {
		A.open[i] = doc;
		A.track[i].firing = true;
		return;
	}
	/* a second open alert of one rule: another process on the same data directory opened it */
	resolve_doc(doc, "config", i < A.nrules ? "another alert of its rule is open" : "its rule is no longer configured");
	json_decref(doc);
}

const struct tool_alerts *srv_alerts_tools(void)
{
	return A.started ? &A.tools : NULL;
}

int srv_alerts_start(uv_loop_t *loop, struct srv_store *st, struct sess_registry *reg,
		     const struct srv_config *cfg, struct err **errp)
{
	size_t n;
	const struct srv_alert_rule *rules = cfg->alert_rules_set ? cfg->alert_rules : srv_alert_default_rules(&n);

	if (cfg->alert_rules_set)
		n = cfg->n_alert_rules;
	A.st = st;
	A.reg = reg;
	A.cfg = cfg;
	A.nrules = n;
	A.rules = xcalloc(n + 1, sizeof(*A.rules));
	if (n)
		memcpy(A.rules, rules, n * sizeof(*rules));
	A.track = xcalloc(n + 1, sizeof(*A.track));
	A.open = xcalloc(n + 1, sizeof(*A.open));
	srv_mon_init(RING_MAX);
	A.tools = (struct tool_alerts){ .list = tools_list, .act = tools_act };
	A.lock_fd = -1;
	if (cfg->data_dir) {
		struct buf p = BUF_INIT;
		buf_addf(&p, "%s/alerts.lock", cfg->data_dir);
		A.lock_fd = open(p.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (A.lock_fd < 0)
			log_warn("alerts: %s: %s (rules are evaluated here alone)", p.data, strerror(errno));
		buf_release(&p);
	}
	if (A.lock_fd < 0) {
		/* no shared directory to agree on: this process evaluates */
		A.writer = true;
		if (srv_store_alert_list(st, "active", NULL, NULL, LIST_MAX, adopt, NULL, errp) < 0 ||
		    srv_store_alert_list(st, "acknowledged", NULL, NULL, LIST_MAX, adopt, NULL, errp) < 0) {
			A.started = true;
			srv_alerts_stop();
			return err_wrap(errp, "alerts");
		}
	} else if (!take_lease()) {
		log_info("alerts: another process on this data directory evaluates the rules");
	}
	A.started = true;
	if (loop && !timer_made) {
		uv_timer_init(loop, &timer);
		/*
		 * A first sample and check now (the rules wait for the timer), then a
		 * second from now: CPU use is the difference of two reads, and the
		 * first sample has none.
		 */
		struct srv_mon_sample sm;
		sample_take(&sm);
		srv_mon_push(&sm);
		check_health();
		uv_timer_start(&timer, tick, FIRST_SAMPLE_MS, cfg->alert_interval_s * 1000);
		uv_unref((uv_handle_t *)&timer);
		timer_made = true;
	}
	log_info("alerts: %zu rules, sampled every %" PRIu64 " s", n, cfg->alert_interval_s);
	return 0;
}

void srv_alerts_stop(void)
{
	if (!A.started)
		return;
	if (timer_made) {
		uv_timer_stop(&timer);
		uv_close((uv_handle_t *)&timer, NULL);
		timer_made = false;
	}
	for (size_t i = 0; i < A.nrules; i++)
		json_decref(A.open[i]);
	if (A.lock_fd >= 0)
		close(A.lock_fd); /* the lock goes with it: another process takes over */
	free(A.open);
	free(A.track);
	free(A.rules);
	srv_mon_release();
	memset(&A, 0, sizeof(A));
}
