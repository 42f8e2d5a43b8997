/* Unit tests of limits and configuration parsing (server/config.c). */
#include "tap.h"
#include "server/base/config.h"

int main(void)
{
	struct err *e = NULL;
	uint64_t v = 0;
	struct srv_config cfg;

	ok(srv_parse_size("512M", &v, &e) == 0 && v == 512ull << 20, "512M");
	ok(srv_parse_size("1G", &v, &e) == 0 && v == 1ull << 30, "1G");
	ok(srv_parse_size("64 KiB", &v, &e) == 0 && v == 64ull << 10, "64 KiB");
	ok(srv_parse_size("100", &v, &e) == 0 && v == 100, "plain bytes");
	ok(srv_parse_size("12X", &v, &e) < 0 && e && strstr(err_text(e), "unknown unit"), "unknown unit refused");
	err_free(e); e = NULL;
	ok(srv_parse_size("-1M", &v, &e) < 0, "negative refused");
	err_free(e); e = NULL;
	ok(srv_parse_size("99999999999999999999", &v, &e) < 0, "overflow refused");
	err_free(e); e = NULL;
	ok(srv_parse_size("17179869184T", &v, &e) < 0, "overflow with unit refused");
	err_free(e); e = NULL;
	ok(srv_parse_duration("90s", &v, &e) == 0 && v == 90, "90s");
	ok(srv_parse_duration("5m", &v, &e) == 0 && v == 300, "5m");
	ok(srv_parse_duration("1h", &v, &e) == 0 && v == 3600, "1h");
	ok(srv_parse_duration("", &v, &e) < 0, "empty duration refused");
	err_free(e); e = NULL;

	srv_config_defaults(&cfg);
	ok(cfg.timeout_s.def == 30 && cfg.timeout_s.max == 3600 && cfg.output_bytes.def == 1 << 20 &&
	   cfg.read_bytes.def == 8 << 20 && cfg.pool_size == 2 && cfg.idle_ttl_s == 3600, "documented defaults");

	json_t *j = json_loads("{\"pool_size\":4,\"idle_ttl\":\"10m\",\"limits\":{\"memory\":{\"default\":\"256M\",\"max\":\"2G\"},"
			       "\"timeout\":\"2m\",\"pids\":{\"default\":50,\"max\":100}}}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0, "valid config applies");
	if (e) printf("#   %s\n", err_text(e));
	ok(cfg.pool_size == 4 && cfg.idle_ttl_s == 600 && cfg.memory_bytes.def == 256ull << 20 &&
	   cfg.memory_bytes.max == 2ull << 30 && cfg.timeout_s.def == 120 && cfg.max_pids.max == 100,
	   "values parsed with units");
	json_decref(j);
	ok(cfg.prestart, "prestart is on by default");
	j = json_loads("{\"prestart\":false}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0 && !cfg.prestart, "prestart can be turned off");
	json_decref(j);
	ok(cfg.wait_s == 50 && cfg.job_output_bytes == 8 << 20 && cfg.jobs_per_session == 16 &&
	   cfg.session_log_bytes == 1 << 20, "job defaults: wait 50 s (under clients' fixed 60 s), 8 MiB output per job");
	j = json_loads("{\"wait\":\"20s\",\"job_output\":\"64k\",\"jobs_per_session\":3,\"session_log\":\"8k\"}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0 && cfg.wait_s == 20 && cfg.job_output_bytes == 64 << 10 &&
	   cfg.jobs_per_session == 3 && cfg.session_log_bytes == 8 << 10, "job settings parsed");
	json_decref(j);
	ok(cfg.diff_memory == 64 << 20, "a line diff may take 64 MiB by default");
	j = json_loads("{\"diff_memory\":\"256M\"}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0 && cfg.diff_memory == 256 << 20, "diff_memory parsed");
	json_decref(j);
	j = json_loads("{\"diff_memory\":\"2G\"}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) < 0 && e && strstr(err_text(e), "between 1M and 1G"),
	   "diff_memory over 1G refused");
	err_free(e);
	e = NULL;
	json_decref(j);
	j = json_loads("{\"jobs_per_session\":0}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) < 0, "jobs_per_session 0 refused");
	err_free(e);
	e = NULL;
	json_decref(j);

	ok(cfg.cpu_millis.def == 0 && cfg.cpu_millis.max == 0, "no CPU cap by default, at most the host's CPUs");
	j = json_loads("{\"limits\":{\"cpus\":{\"default\":0.5,\"max\":2}}}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0 && cfg.cpu_millis.def == 500 && cfg.cpu_millis.max == 2000,
	   "limits.cpus in CPUs, fractions allowed");
	json_decref(j);
	j = json_loads("{\"quota\":{\"cpus\":1.5}}", 0, NULL);
	ok(cfg.quota.cpu_millis == 0 && srv_config_apply_json(&cfg, j, &e) == 0 && cfg.quota.cpu_millis == 1500,
	   "quota.cpus: none by default, in CPUs");
	json_decref(j);

	j = json_loads("{\"http_session_idle\":\"2m\",\"max_receiving\":\"64M\",\"max_connections\":10,"
		       "\"quota\":{\"memory\":\"4G\",\"displays\":2,\"disk_scan\":\"1m\"},\"egress_allow\":[\"10.1.0.0/16\"]}", 0, NULL);
	ok(srv_config_apply_json(&cfg, j, &e) == 0 && cfg.http_session_idle_s == 120 && cfg.max_receiving == 64ull << 20 &&
	   cfg.max_connections == 10 && cfg.quota.memory_bytes == 4ull << 30 && cfg.quota.displays == 2 &&
	   cfg.quota.disk_scan_s == 60 && cfg.quota.sessions == 32 && cfg.n_egress_allow == 1,
	   "settings and quotas from their tables, with units; quotas not named keep their defaults");
	json_decref(j);

	const char *bad[] = {
		"{\"http_session_idle\":0}", "{\"max_receiving\":\"1k\"}", "{\"max_connections\":0}",
		"{\"quota\":{\"sesions\":1}}", "{\"quota\":{\"memory\":\"lots\"}}", "{\"egress_allow\":[1]}",
		"{\"nope\":1}", "{\"limits\":{\"memry\":\"1G\"}}", "{\"limits\":{\"memory\":{\"default\":\"4G\",\"max\":\"1G\"}}}",
		"{\"pool_size\":-1}", "{\"limits\":{\"memory\":true}}", "{\"limits\":{\"timeout\":{\"dflt\":1}}}",
		"{\"pool_size\":100000}", "{\"prestart\":\"yes\"}", "{\"limits\":{\"cpus\":-1}}",
		"{\"limits\":{\"cpus\":\"2\"}}", "{\"limits\":{\"cpus\":{\"default\":2,\"max\":1}}}",
		"{\"quota\":{\"cpus\":-1}}", "{\"quota\":{\"cpus\":\"2\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], 0, NULL);
		ok(srv_config_apply_json(&cfg, j, &e) < 0 && e && err_text(e)[0], "refused with a message: %s", bad[i]);
		if (e)
			printf("#   %s\n", err_text(e));
		err_free(e); e = NULL;
		json_decref(j);
	}

	srv_config_release(&cfg);
	srv_config_defaults(&cfg);
	ok(srv_limit_pick(&cfg.timeout_s, -1, 1, "timeout_s", &v, &e) == 0 && v == 30, "absent → default");
	ok(srv_limit_pick(&cfg.timeout_s, 3600, 1, "timeout_s", &v, &e) == 0 && v == 3600, "max allowed");
	ok(srv_limit_pick(&cfg.timeout_s, 3601, 1, "timeout_s", &v, &e) < 0 && strstr(err_text(e), "timeout_s"), "above max names the argument");
	err_free(e); e = NULL;
	ok(srv_limit_pick(&cfg.timeout_s, 0, 1, "timeout_s", &v, &e) < 0, "below min refused");
	err_free(e); e = NULL;
	/* one rate limit as the core's rate_limits and the dialects' compat.*.rate_limits write it */
	struct srv_rate_limit rl = { 0, 0 };
	j = json_integer(120);
	ok(srv_rate_limit_parse(j, "x", &rl, &e) == 0 && rl.per_minute == 120 && rl.burst == 120, "N a minute: a bucket of N");
	json_decref(j);
	j = json_pack("{s:i, s:i}", "per_minute", 200, "burst", 50);
	ok(srv_rate_limit_parse(j, "x", &rl, &e) == 0 && rl.per_minute == 200 && rl.burst == 50, "{per_minute, burst}");
	json_decref(j);
	j = json_pack("{s:i}", "per_minute", 30);
	ok(srv_rate_limit_parse(j, "x", &rl, &e) == 0 && rl.burst == 30, "burst absent: a minute's worth");
	json_decref(j);
	const char *bad_rates[] = { "\"ten\"", "-1", "2000000", "{\"per_minute\":\"x\"}", "{\"burts\":1}", "[1]" };
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++) {
		rl = (struct srv_rate_limit){ 7, 7 };
		j = json_loads(bad_rates[i], JSON_DECODE_ANY, NULL);
		ok(srv_rate_limit_parse(j, "compat.agentbox.rate_limits.auth", &rl, &e) < 0 && e &&
		   strstr(err_text(e), "compat.agentbox.rate_limits.auth") && rl.per_minute == 7,
		   "rate %s refused, naming it, out untouched", bad_rates[i]);
		if (e)
			printf("#   %s\n", err_text(e));
		err_free(e); e = NULL;
		json_decref(j);
	}
	srv_config_release(&cfg);
	return tap_done();
}
