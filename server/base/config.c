#include "config.h"
#include "buf.h"
#include "common.h"
#include "template.h"
#include "banned.h"

#include <ctype.h>
#include <libgen.h>
#include <inttypes.h>
#include <string.h>

#define MiB (1024ull * 1024)

void srv_config_defaults(struct srv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->pool_size = 2;
	cfg->idle_ttl_s = 3600;
	cfg->http_session_idle_s = 600;	/* most clients never send DELETE */
	cfg->client_stall_s = 60;
	cfg->max_connections = 4096;
	cfg->max_unauthenticated = 256;
	cfg->header_timeout_s = 10;
	cfg->max_receiving = 1ull << 30;
	cfg->quota = (struct srv_quota){
		.sessions = 32,
		.memory_bytes = 32ull << 30,
		.executions = 64,
		.snapshots = 1000,
		.snapshot_bytes = 100ull << 30,
		.job_memory = 256ull << 20,
		.terminals = 32,
		.displays = 4,
		.disk_bytes = 20ull << 30,
		.inodes = 1000000,
		.disk_scan_s = 30,
		.disk_scan_busy_s = 2,
		.server_executions = 1024,
		.server_terminals = 1024,
		.keys = 1000,
		.templates = 100,
		.template_bytes = 16ull << 20,
		.code_bytes = 256ull << 20,
		.server_code_bytes = 1ull << 30,
	};
	cfg->max_line_bytes = 64 * MiB;
	/* the MCP TypeScript SDK's stdio client drops the connection on a line past 10 MiB
	   (what it holds counts, with the start of the next message read with it) */
	cfg->stdio_max_answer = 10000000;
	cfg->max_upload_bytes = 1024 * MiB;
	cfg->shutdown_grace_s = 10;
	cfg->workspace_bytes = 1024 * MiB;
	cfg->diff_memory = 64 * MiB;	/* SNAP_DIFF_MEMORY */
	cfg->audit_keep = 200000;
	cfg->audit_keep_per_key = 20000;
	cfg->deleted_keep = 1000;
	cfg->revoked_tokens_per_user = 1000;
	cfg->memory_bytes = (struct srv_limit){ 1024 * MiB, 16384 * MiB };
	cfg->max_pids = (struct srv_limit){ 256, 4096 };
	cfg->cpu_s = (struct srv_limit){ 0, 0 };	/* 0: no CPU-time limit */
	cfg->cpu_millis = (struct srv_limit){ 0, 0 };	/* no CPU cap; at most the host's CPUs */
	cfg->file_bytes = (struct srv_limit){ 1024 * MiB, 16384 * MiB };
	cfg->open_files = (struct srv_limit){ 1024, 65536 };
	cfg->timeout_s = (struct srv_limit){ 30, 3600 };
	cfg->output_bytes = (struct srv_limit){ 1 * MiB, 64 * MiB };
	cfg->read_bytes = (struct srv_limit){ 8 * MiB, 64 * MiB };
	cfg->disk_bytes = (struct srv_limit){ 0, 100ull << 30 };	/* none unless asked; 003 allows 100Gi */
	cfg->prestart = true;
	cfg->pool_kernels = true;
	cfg->pool_kernel_idle_s = 60;
	cfg->jobs_per_session = 16;
	cfg->job_output_bytes = 8 * MiB;
	cfg->wait_s = 50;
	cfg->session_log_bytes = 1 * MiB;
	cfg->terminals_per_session = 8;
	cfg->terminal_idle_s = 1800;
	cfg->terminal_output_bytes = 1 * MiB;
	cfg->display_idle_s = 600;
	cfg->view_token_ttl_s = 900;
	/* generous: a person or an agent never meets them; a runaway loop with one key does */
	cfg->rate = (struct srv_rate_config){
		.cat = {
			[SRV_RATE_EXECUTE] = { 600, 600 },
			[SRV_RATE_SESSIONS] = { 120, 120 },
			[SRV_RATE_REQUESTS] = { 1200, 1200 },
		},
		.principals = 10000,
	};
	cfg->jwt_ttl_s = 3600;
	cfg->alert_interval_s = 10;
}

static void egress_release(struct srv_config *cfg)
{
	for (size_t i = 0; i < cfg->n_egress_allow; i++)
		free(cfg->egress_allow[i]);
	free(cfg->egress_allow);
	cfg->egress_allow = NULL;
	cfg->n_egress_allow = 0;
}

void srv_config_release(struct srv_config *cfg)
{
	free(cfg->data_dir);
	cfg->data_dir = NULL;
	free(cfg->vnc_tcp_host);
	cfg->vnc_tcp_host = NULL;
	free(cfg->vnc_password);
	cfg->vnc_password = NULL;
	json_decref(cfg->compat);
	cfg->compat = NULL;
	json_decref(cfg->templates);
	cfg->templates = NULL;
	egress_release(cfg);
	free(cfg->alert_rules);
	cfg->alert_rules = NULL;
	cfg->n_alert_rules = 0;
	cfg->alert_rules_set = false;
}

static int parse_scaled(const char *s, uint64_t *out, const char *const *units,
			const uint64_t *mult, size_t nunits, const char *what, struct err **errp)
{
	const char *p = s;
	uint64_t v = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return err_set(errp, 0, "invalid %s \"%s\": expected a number with an optional unit", what, s);
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			return err_set(errp, 0, "invalid %s \"%s\": too large", what, s);
		v = v * 10 + d;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < nunits; i++) {
		if (!strcmp(p, units[i])) {
			if (mult[i] && v > UINT64_MAX / mult[i])
				return err_set(errp, 0, "invalid %s \"%s\": too large", what, s);
			*out = v * mult[i];
			return 0;
		}
	}
	return err_set(errp, 0, "invalid %s \"%s\": unknown unit \"%s\"", what, s, p);
}

int srv_parse_size(const char *s, uint64_t *out, struct err **errp)
{
	static const char *const units[] = {
		"B", "k", "K", "KB", "KiB", "m", "M", "MB", "MiB", "g", "G", "GB", "GiB", "t", "T", "TB", "TiB",
	};
	static const uint64_t K = 1024;
	static const uint64_t mult[] = {
		1, K, K, K, K, K * K, K * K, K * K, K * K, K * K * K, K * K * K, K * K * K, K * K * K,
		K * K * K * K, K * K * K * K, K * K * K * K, K * K * K * K,
	};
	return parse_scaled(s, out, units, mult, ARRAY_SIZE(units), "size", errp);
}

int srv_parse_duration(const char *s, uint64_t *out, struct err **errp)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };
	return parse_scaled(s, out, units, mult, ARRAY_SIZE(units), "duration", errp);
}

/* A JSON value that is a non-negative integer or a string for parse(). */
static int json_scalar(json_t *v, const char *key, int (*parse)(const char *, uint64_t *, struct err **),
		       uint64_t *out, struct err **errp)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return err_set(errp, 0, "config: %s must not be negative", key);
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && parse) {
		if (parse(json_string_value(v), out, errp) < 0)
			return err_wrap(errp, "config: %s", key);
		return 0;
	}
	return err_set(errp, 0, "config: %s must be %s", key, parse ? "a number or a string" : "a number");
}

/* A uint64_t setting at off in its struct: a number, or a string parse() reads, within [min, max]. */
struct scalar_key {
	const char *name;
	size_t off;
	int (*parse)(const char *, uint64_t *, struct err **);
	uint64_t min, max;	/* max 0: no bound */
	const char *bound;	/* how the bound reads in an error */
};

/* One of the "limits": its default and max read as k says, or (cpus) as CPUs in thousandths. */
struct limit_key {
	struct scalar_key k;
	bool cpus;
};

static int key_value(const struct limit_key *lk, json_t *v, uint64_t *out, struct err **errp)
{
	double d = json_number_value(v);

	if (!lk->cpus)
		return json_scalar(v, lk->k.name, lk->k.parse, out, errp);
	if (!json_is_number(v) || !(d >= 0) || d > 4096)
		return err_set(errp, 0, "config: %s must be a number of CPUs from 0 to 4096 (e.g. 0.5, 2)", lk->k.name);
	*out = (uint64_t)(d * 1000 + 0.5);
	return 0;
}

/* "limits": {"memory": {"default": "512M", "max": "4G"}, ...} or a bare value for the default. */
static int apply_limit(struct srv_limit *l, json_t *v, const struct limit_key *lk, struct err **errp)
{
	const char *key = lk->k.name;

	if (!json_is_object(v))
		return key_value(lk, v, &l->def, errp);
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x) {
		if (!strcmp(k, "default")) {
			if (key_value(lk, x, &l->def, errp) < 0)
				return -1;
		} else if (!strcmp(k, "max")) {
			if (key_value(lk, x, &l->max, errp) < 0)
				return -1;
		} else {
			return err_set(errp, 0, "config: %s: unknown key \"%s\" (expected default, max)", key, k);
		}
	}
	if (l->max && l->def > l->max)
		return err_set(errp, 0, "config: %s: default exceeds max", key);
	return 0;
}

#define CFG(f) offsetof(struct srv_config, f)
#define QUOTA(f) offsetof(struct srv_quota, f)
#define DURATION srv_parse_duration
#define SIZE srv_parse_size

static const struct scalar_key settings[] = {
	{ "idle_ttl", CFG(idle_ttl_s), DURATION, 0, 0, NULL },
	{ "http_session_idle", CFG(http_session_idle_s), DURATION, 1, 0, "at least 1s" },
	{ "client_stall", CFG(client_stall_s), DURATION, 1, 0, "at least 1s" },
	{ "header_timeout", CFG(header_timeout_s), DURATION, 1, 0, "at least 1s" },
	{ "max_connections", CFG(max_connections), NULL, 1, 1000000, "between 1 and 1000000" },
	{ "max_unauthenticated", CFG(max_unauthenticated), NULL, 1, 1000000, "between 1 and 1000000" },
	{ "max_receiving", CFG(max_receiving), SIZE, 1u << 20, 0, "at least 1M" },
	{ "max_message", CFG(max_line_bytes), SIZE, 0, 0, NULL },
	{ "stdio_max_answer", CFG(stdio_max_answer), SIZE, 0, 0, NULL },
	{ "max_upload", CFG(max_upload_bytes), SIZE, 1, 0, "at least 1 byte" },
	{ "max_workspace", CFG(workspace_bytes), SIZE, 0, 0, NULL },
	{ "diff_memory", CFG(diff_memory), SIZE, 1u << 20, 1ull << 30, "between 1M and 1G" },
	{ "audit_keep", CFG(audit_keep), NULL, 0, UINT32_MAX, "between 0 and 4294967295" },
	{ "audit_keep_per_key", CFG(audit_keep_per_key), NULL, 0, UINT32_MAX, "between 0 and 4294967295" },
	{ "deleted_keep", CFG(deleted_keep), NULL, 0, UINT32_MAX, "between 0 and 4294967295" },
	{ "shutdown_grace", CFG(shutdown_grace_s), DURATION, 0, 0, NULL },
	{ "display_idle", CFG(display_idle_s), DURATION, 0, 0, NULL },
	{ "view_token_ttl", CFG(view_token_ttl_s), DURATION, 1, 0, "at least 1s" },
	{ "jwt_ttl", CFG(jwt_ttl_s), DURATION, 60, 30 * 86400, "between 1m and 30d" },
	{ "revoked_tokens_per_user", CFG(revoked_tokens_per_user), NULL, 0, UINT32_MAX, "between 0 and 4294967295" },
	{ "jobs_per_session", CFG(jobs_per_session), NULL, 1, 1000, "between 1 and 1000" },
	{ "job_output", CFG(job_output_bytes), SIZE, 4096, 1ull << 30, "between 4k and 1G" },
	{ "wait", CFG(wait_s), DURATION, 1, 3600, "between 1s and 1h" },
	{ "session_log", CFG(session_log_bytes), SIZE, 4096, 1ull << 30, "between 4k and 1G" },
	{ "terminals_per_session", CFG(terminals_per_session), NULL, 1, 100, "between 1 and 100" },
	{ "terminal_idle", CFG(terminal_idle_s), DURATION, 0, 0, NULL },
	{ "pool_kernel_idle", CFG(pool_kernel_idle_s), DURATION, 1, 86400, "between 1s and 1d" },
	{ "terminal_output", CFG(terminal_output_bytes), SIZE, 4096, 64ull << 20, "between 4k and 64M" },
	{ "alert_interval", CFG(alert_interval_s), DURATION, 1, 3600, "between 1s and 1h" },
};

/* the "quota" object: what one API key may hold (0: no bound) */
static const struct scalar_key quotas[] = {
	{ "sessions", QUOTA(sessions), NULL, 0, 0, NULL },
	{ "memory", QUOTA(memory_bytes), SIZE, 0, 0, NULL },
	{ "executions", QUOTA(executions), NULL, 0, 0, NULL },
	{ "snapshots", QUOTA(snapshots), NULL, 0, 0, NULL },
	{ "snapshot_disk", QUOTA(snapshot_bytes), SIZE, 0, 0, NULL },
	{ "job_memory", QUOTA(job_memory), SIZE, 0, 0, NULL },
	{ "terminals", QUOTA(terminals), NULL, 0, 0, NULL },
	{ "displays", QUOTA(displays), NULL, 0, 0, NULL },
	{ "disk", QUOTA(disk_bytes), SIZE, 0, 0, NULL },
	{ "inodes", QUOTA(inodes), NULL, 0, 0, NULL },
	{ "disk_scan", QUOTA(disk_scan_s), DURATION, 0, 0, NULL },
	{ "disk_scan_busy", QUOTA(disk_scan_busy_s), DURATION, 0, 0, NULL },
	{ "server_executions", QUOTA(server_executions), NULL, 0, 0, NULL },
	{ "server_terminals", QUOTA(server_terminals), NULL, 0, 0, NULL },
	{ "keys", QUOTA(keys), NULL, 0, 0, NULL },
	{ "templates", QUOTA(templates), NULL, 0, 0, NULL },
	{ "template_bytes", QUOTA(template_bytes), SIZE, 0, 0, NULL },
	{ "code", QUOTA(code_bytes), SIZE, 0, 0, NULL },
	{ "server_code", QUOTA(server_code_bytes), SIZE, 0, 0, NULL },
};

/* "rate_limits": {"execute": {"per_minute": 100, "burst": 20}, ..., "admins": false, "local": false, "principals": N} */
static const struct scalar_key rate_keys[] = {
	{ "per_minute", offsetof(struct srv_rate_limit, per_minute), NULL, 0, 1000000, "between 0 and 1000000" },
	{ "burst", offsetof(struct srv_rate_limit, burst), NULL, 0, 1000000, "between 0 and 1000000" },
};

static int scalar_apply(const struct scalar_key *k, void *base, json_t *v, struct err **errp);

int srv_rate_limit_parse(json_t *v, const char *what, struct srv_rate_limit *out, struct err **errp)
{
	struct srv_rate_limit l = { 0, 0 };
	bool burst = false;
	const char *lk;
	json_t *lv;

	if (json_is_integer(v)) {
		if (scalar_apply(&rate_keys[0], &l, v, errp) < 0)
			return err_wrap(errp, "config: %s", what);
		*out = (struct srv_rate_limit){ l.per_minute, l.per_minute };
		return 0;
	}
	if (!json_is_object(v))
		return err_set(errp, 0, "config: %s must be a number a minute or {per_minute, burst}", what);
	json_object_foreach(v, lk, lv) {
		const struct scalar_key *q = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(rate_keys); i++)
			if (!strcmp(lk, rate_keys[i].name))
				q = &rate_keys[i];
		if (!q)
			return err_set(errp, 0, "config: %s: unknown key \"%s\" (expected per_minute, burst)", what, lk);
		if (scalar_apply(q, &l, lv, errp) < 0)
			return err_wrap(errp, "config: %s", what);
		burst |= q == &rate_keys[1];
	}
	if (!burst)
		l.burst = l.per_minute; /* a minute's worth at once */
	*out = l;
	return 0;
}

static int apply_rate(struct srv_rate_config *rc, json_t *v, struct err **errp)
{
	static const char *const cats[SRV_RATE_NCAT] = { "execute", "sessions", "requests" };
	const char *k;
	json_t *x;

	if (!json_is_object(v))
		return err_set(errp, 0, "config: rate_limits must be an object");
	json_object_foreach(v, k, x) {
		int c;
		for (c = 0; c < SRV_RATE_NCAT && strcmp(k, cats[c]); c++)
			;
		if (c < SRV_RATE_NCAT) {
			if (!json_is_object(x))
				return err_set(errp, 0, "config: rate_limits.%s must be {per_minute, burst}", k);
			char what[64];
			snprintf(what, sizeof(what), "rate_limits.%s", k);
			if (srv_rate_limit_parse(x, what, &rc->cat[c], errp) < 0)
				return -1;
		} else if (!strcmp(k, "admins") || !strcmp(k, "local")) {
			if (!json_is_boolean(x))
				return err_set(errp, 0, "config: rate_limits.%s must be true or false", k);
			*(k[0] == 'a' ? &rc->admins : &rc->local) = json_is_true(x);
		} else if (!strcmp(k, "principals")) {
			if (json_scalar(x, "rate_limits.principals", NULL, &rc->principals, errp) < 0)
				return -1;
			if (rc->principals < 1 || rc->principals > 1000000)
				return err_set(errp, 0, "config: rate_limits.principals must be between 1 and 1000000");
		} else {
			return err_set(errp, 0, "config: rate_limits: unknown key \"%s\" (expected execute, sessions, "
						"requests, admins, local, principals)", k);
		}
	}
	return 0;
}

static const struct scalar_key *scalar_find(const struct scalar_key *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

static int scalar_apply(const struct scalar_key *k, void *base, json_t *v, struct err **errp)
{
	uint64_t *dst = (uint64_t *)((char *)base + k->off);
	if (json_scalar(v, k->name, k->parse, dst, errp) < 0)
		return -1;
	if (*dst < k->min || (k->max && *dst > k->max))
		return err_set(errp, 0, "config: %s must be %s", k->name, k->bound);
	return 0;
}

int srv_config_apply_json(struct srv_config *cfg, json_t *obj, struct err **errp)
{
	static const struct limit_key limits[] = {
		{ { "memory", CFG(memory_bytes), SIZE, 0, 0, NULL }, false },
		{ { "pids", CFG(max_pids), NULL, 0, 0, NULL }, false },
		{ { "cpu", CFG(cpu_s), DURATION, 0, 0, NULL }, false },
		{ { "cpus", CFG(cpu_millis), NULL, 0, 0, NULL }, true },
		{ { "file_size", CFG(file_bytes), SIZE, 0, 0, NULL }, false },
		{ { "open_files", CFG(open_files), NULL, 0, 0, NULL }, false },
		{ { "timeout", CFG(timeout_s), DURATION, 0, 0, NULL }, false },
		{ { "output", CFG(output_bytes), SIZE, 0, 0, NULL }, false },
		{ { "read", CFG(read_bytes), SIZE, 0, 0, NULL }, false },
		{ { "disk", CFG(disk_bytes), SIZE, 0, 0, NULL }, false },
	};
	const char *key;
	json_t *v;
	uint64_t n;

	if (!json_is_object(obj))
		return err_set(errp, 0, "config: expected a JSON object");
	json_object_foreach(obj, key, v) {
		const struct scalar_key *k = scalar_find(settings, ARRAY_SIZE(settings), key);
		if (k) {
			if (scalar_apply(k, cfg, v, errp) < 0)
				return -1;
		} else if (!strcmp(key, "data_dir")) {
			if (!json_is_string(v))
				return err_set(errp, 0, "config: data_dir must be a string");
			free(cfg->data_dir);
			cfg->data_dir = xstrdup(json_string_value(v));
		} else if (!strcmp(key, "pool_size")) {
			if (json_scalar(v, key, NULL, &n, errp) < 0)
				return -1;
			if (n > 256)
				return err_set(errp, 0, "config: pool_size must be at most 256");
			cfg->pool_size = (unsigned)n;
		} else if (!strcmp(key, "prestart")) {
			if (!json_is_boolean(v))
				return err_set(errp, 0, "config: prestart must be true or false");
			cfg->prestart = json_is_true(v);
		} else if (!strcmp(key, "pool_kernels")) {
			if (!json_is_boolean(v))
				return err_set(errp, 0, "config: pool_kernels must be true or false");
			cfg->pool_kernels = json_is_true(v);
		} else if (!strcmp(key, "display_desktop")) {
			const char *d = json_string_value(v);
			if (!d || (strcmp(d, "standard") && strcmp(d, "bare")))
				return err_set(errp, 0, "config: display_desktop must be \"standard\" or \"bare\"");
			cfg->display_bare = !strcmp(d, "bare");
		} else if (!strcmp(key, "vnc_tcp")) {
			if (!json_is_boolean(v))
				return err_set(errp, 0, "config: vnc_tcp must be true or false");
			cfg->vnc_tcp = json_is_true(v);
		} else if (!strcmp(key, "vnc_tcp_host") || !strcmp(key, "vnc_password")) {
			char **dst = key[4] == 't' ? &cfg->vnc_tcp_host : &cfg->vnc_password;
			if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 255)
				return err_set(errp, 0, "config: %s must be a non-empty string", key);
			free(*dst);
			*dst = xstrdup(json_string_value(v));
		} else if (!strcmp(key, "egress_allow")) {
			size_t i;
			json_t *x;
			if (!json_is_array(v) || json_array_size(v) > 256)
				return err_set(errp, 0, "config: egress_allow must be an array of at most 256 strings");
			json_array_foreach(v, i, x)
				if (!json_is_string(x))
					return err_set(errp, 0, "config: egress_allow[%zu] must be a string", i);
			egress_release(cfg);
			cfg->n_egress_allow = json_array_size(v);
			cfg->egress_allow = xcalloc(cfg->n_egress_allow + 1, sizeof(char *));
			json_array_foreach(v, i, x)
				cfg->egress_allow[i] = xstrdup(json_string_value(x));
		} else if (!strcmp(key, "compat")) {
			const char *dk;
			json_t *dv;
			if (!json_is_object(v))
				return err_set(errp, 0, "config: compat must be an object of dialects");
			json_object_foreach(v, dk, dv)
				if (!json_is_false(dv) && !json_is_true(dv) && !json_is_object(dv))
					return err_set(errp, 0, "config: compat.%s must be false, true or an object of settings",
						       dk);
			json_decref(cfg->compat);
			cfg->compat = json_deep_copy(v);
		} else if (!strcmp(key, "templates")) {
			const char *tk;
			json_t *tv;
			if (!json_is_object(v) || json_object_size(v) > 1000)
				return err_set(errp, 0, "config: templates must be an object of at most 1000 {name: settings}");
			json_object_foreach(v, tk, tv)
				if (srv_tmpl_name_check(tk, errp) < 0 || srv_tmpl_check(tk, tv, errp) < 0)
					return err_wrap(errp, "config: templates");
			json_decref(cfg->templates);
			cfg->templates = json_deep_copy(v);
		} else if (!strcmp(key, "alerts")) {
			struct srv_alert_rule *rules;
			size_t nrules;
			if (srv_alert_rules_parse(v, &rules, &nrules, errp) < 0)
				return -1;
			free(cfg->alert_rules);
			cfg->alert_rules = rules;
			cfg->n_alert_rules = nrules;
			cfg->alert_rules_set = true;
		} else if (!strcmp(key, "rate_limits")) {
			if (apply_rate(&cfg->rate, v, errp) < 0)
				return -1;
		} else if (!strcmp(key, "quota")) {
			const char *qk;
			json_t *qv;
			if (!json_is_object(v))
				return err_set(errp, 0, "config: quota must be an object");
			json_object_foreach(v, qk, qv) {
				static const struct limit_key cpus = { { "quota.cpus", QUOTA(cpu_millis), NULL, 0, 0, NULL }, true };
				if (!strcmp(qk, "cpus")) {
					if (key_value(&cpus, qv, &cfg->quota.cpu_millis, errp) < 0)
						return -1;
					continue;
				}
				const struct scalar_key *q = scalar_find(quotas, ARRAY_SIZE(quotas), qk);
				if (!q)
					return err_set(errp, 0, "config: quota: unknown quota \"%s\" (expected sessions, "
								"memory, executions, snapshots, snapshot_disk, job_memory, terminals, displays, disk, inodes, disk_scan, disk_scan_busy, "
								"server_executions, server_terminals, keys, cpus, templates, template_bytes, code, server_code)", qk);
				if (scalar_apply(q, &cfg->quota, qv, errp) < 0)
					return -1;
			}
		} else if (!strcmp(key, "limits")) {
			const char *lk;
			json_t *lv;
			if (!json_is_object(v))
				return err_set(errp, 0, "config: limits must be an object");
			json_object_foreach(v, lk, lv) {
				size_t i;
				for (i = 0; i < ARRAY_SIZE(limits); i++)
					if (!strcmp(lk, limits[i].k.name))
						break;
				if (i == ARRAY_SIZE(limits))
					return err_set(errp, 0, "config: limits: unknown limit \"%s\"", lk);
				if (apply_limit((struct srv_limit *)((char *)cfg + limits[i].k.off), lv, &limits[i],
						errp) < 0)
					return -1;
			}
		} else {
			return err_set(errp, 0, "config: unknown key \"%s\"", key);
		}
	}
	return 0;
}

int srv_config_load_file(struct srv_config *cfg, const char *path, struct err **errp)
{
	json_error_t e;
	json_t *obj = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	int r;

	if (!obj)
		return err_set(errp, 0, "config %s:%d: %s", path, e.line, e.text);
	char *before = cfg->data_dir;
	cfg->data_dir = NULL;
	r = srv_config_apply_json(cfg, obj, errp);
	json_decref(obj);
	if (!cfg->data_dir) {
		cfg->data_dir = before;
	} else {
		free(before);
		/* a relative data_dir is relative to the file that names it */
		if (cfg->data_dir[0] != '/') {
			auto_free char *copy = xstrdup(path);
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s/%s", dirname(copy), cfg->data_dir);
			free(cfg->data_dir);
			cfg->data_dir = buf_detach(&b);
		}
	}
	if (r < 0)
		return err_wrap(errp, "%s", path);
	return 0;
}

int srv_limit_pick(const struct srv_limit *l, int64_t requested, uint64_t min, const char *what,
		   uint64_t *out, struct err **errp)
{
	if (requested < 0) {
		*out = l->def;
		return 0;
	}
	if ((uint64_t)requested < min)
		return err_setc(errp, ERR_INVALID, 0, "%s must be at least %" PRIu64, what, min);
	if (l->max && (uint64_t)requested > l->max)
		return err_setc(errp, ERR_INVALID, 0, "%s must be at most %" PRIu64 " (the server's maximum)", what,
				l->max);
	*out = (uint64_t)requested;
	return 0;
}
