/* Unit tests of session templates as data (server/base/template.c) and of their config and rate_limits' (config.c). */
#include "tap.h"
#include "server/base/config.h"
#include "server/base/template.h"

static int check(const char *json)
{
	json_t *t = json_loads(json, 0, NULL);
	struct err *e = NULL;
	int r = srv_tmpl_check("t", t, &e);
	if (e)
		printf("#   %s\n", err_text(e));
	err_free(e);
	json_decref(t);
	return r;
}

static int apply(struct srv_config *cfg, const char *json, char *msg, size_t cap)
{
	json_t *o = json_loads(json, 0, NULL);
	struct err *e = NULL;
	int r = srv_config_apply_json(cfg, o, &e);
	snprintf(msg, cap, "%s", e ? err_text(e) : "");
	err_free(e);
	json_decref(o);
	return r;
}

int main(void)
{
	struct err *e = NULL;
	char msg[512];

	/* names */
	ok(srv_tmpl_name_check("python:3.11-slim", &e) == 0, "an image-like name is a valid template name");
	ok(srv_tmpl_name_check("basic-python", &e) == 0, "basic-python");
	ok(srv_tmpl_name_check("", &e) < 0, "empty refused");
	err_free(e), e = NULL;
	ok(srv_tmpl_name_check("-x", &e) < 0, "a leading dash refused");
	err_free(e), e = NULL;
	ok(srv_tmpl_name_check("a b", &e) < 0, "a space refused");
	err_free(e), e = NULL;

	/* settings */
	ok(check("{\"memory_mb\":256,\"cpus\":0.5,\"timeout_s\":7,\"network\":true,\"env\":{\"A\":\"1\"},"
		 "\"files\":{\"a/b.txt\":\"x\",\"/workspace/c\":\"y\"},\"snapshot_id\":\"snap_1\",\"language\":\"python\","
		 "\"description\":\"d\"}") == 0, "every key with good values");
	ok(check("{\"memroy_mb\":1}") < 0, "an unknown key is refused");
	ok(check("{\"memory_mb\":8}") < 0, "memory_mb below 16 refused");
	ok(check("{\"timeout_s\":0}") < 0, "timeout_s 0 refused");
	ok(check("{\"disk_mb\":512}") == 0, "disk_mb, a session's disk limit");
	ok(check("{\"disk_mb\":0}") < 0 && check("{\"disk_mb\":\"1G\"}") < 0, "disk_mb 0 or a string refused");
	ok(check("{\"cpus\":\"2\"}") < 0, "cpus as a string refused");
	ok(check("{\"env\":{\"A=B\":\"1\"}}") < 0, "an env name with = refused");
	ok(check("{\"env\":{\"A\":1}}") < 0, "an env value not a string refused");
	ok(check("{\"files\":{\"../x\":\"1\"}}") < 0, "a file above the workspace refused");
	ok(check("{\"files\":{\"a/../../x\":\"1\"}}") < 0, "a file climbing out refused");
	ok(check("{\"files\":{\"/etc/passwd\":\"1\"}}") < 0, "an absolute path outside /workspace refused");
	ok(check("{\"files\":{\"a\":2}}") < 0, "file content not a string refused");
	ok(check("[]") < 0, "not an object refused");

	/* merge: the call's own arguments win, env merged name by name */
	json_t *t = json_loads("{\"memory_mb\":256,\"timeout_s\":7,\"network\":true,\"env\":{\"A\":\"t\",\"B\":\"t\"},"
			       "\"files\":{\"f\":\"x\"},\"language\":\"python\",\"description\":\"d\"}", 0, NULL);
	json_t *args = json_loads("{\"memory_mb\":300,\"env\":{\"B\":\"c\",\"C\":\"c\"},\"name\":\"n\"}", 0, NULL);
	json_t *m = srv_tmpl_merge(t, args);
	ok(json_integer_value(json_object_get(m, "memory_mb")) == 300, "memory_mb from the call");
	ok(json_integer_value(json_object_get(m, "timeout_s")) == 7, "timeout_s from the template");
	ok(json_is_true(json_object_get(m, "network")), "network from the template");
	json_t *env = json_object_get(m, "env");
	is_str(json_string_value(json_object_get(env, "A")), "t", "env A from the template");
	is_str(json_string_value(json_object_get(env, "B")), "c", "env B: the call wins");
	is_str(json_string_value(json_object_get(env, "C")), "c", "env C from the call");
	ok(!json_object_get(m, "files") && !json_object_get(m, "language") && !json_object_get(m, "description"),
	   "files, language and description are not session_create arguments");
	is_str(json_string_value(json_object_get(m, "name")), "n", "other arguments kept");
	ok(json_integer_value(json_object_get(args, "memory_mb")) == 300 && !json_object_get(args, "timeout_s"),
	   "the call's arguments are not changed");
	json_decref(m);
	m = srv_tmpl_merge(t, NULL);
	ok(json_integer_value(json_object_get(m, "memory_mb")) == 256, "no arguments: the template's");
	json_decref(m);
	json_decref(args);
	json_decref(t);

	/* config: templates and rate_limits */
	struct srv_config cfg;
	srv_config_defaults(&cfg);
	ok(cfg.rate.cat[SRV_RATE_EXECUTE].per_minute == 600 && cfg.rate.principals == 10000 && !cfg.rate.admins,
	   "rate limit defaults");
	ok(apply(&cfg, "{\"templates\":{\"py\":{\"memory_mb\":128,\"language\":\"python\"}}}", msg, sizeof(msg)) == 0,
	   "a config template");
	ok(json_integer_value(json_object_get(json_object_get(cfg.templates, "py"), "memory_mb")) == 128, "kept");
	ok(apply(&cfg, "{\"templates\":{\"py\":{\"memory\":128}}}", msg, sizeof(msg)) < 0 && strstr(msg, "unknown key"),
	   "a config template's unknown key refused (%s)", msg);
	ok(apply(&cfg, "{\"templates\":{\"a b\":{}}}", msg, sizeof(msg)) < 0, "a bad template name refused (%s)", msg);
	ok(apply(&cfg, "{\"rate_limits\":{\"execute\":{\"per_minute\":100},\"sessions\":{\"per_minute\":20,\"burst\":5},"
		       "\"admins\":true,\"principals\":50}}", msg, sizeof(msg)) == 0, "rate_limits (%s)", msg);
	ok(cfg.rate.cat[SRV_RATE_EXECUTE].per_minute == 100 && cfg.rate.cat[SRV_RATE_EXECUTE].burst == 100,
	   "a burst left out is a minute's worth");
	ok(cfg.rate.cat[SRV_RATE_SESSIONS].burst == 5 && cfg.rate.admins && !cfg.rate.local && cfg.rate.principals == 50,
	   "burst, admins, principals read");
	ok(cfg.rate.cat[SRV_RATE_REQUESTS].per_minute == 1200, "a category not named keeps its default");
	ok(apply(&cfg, "{\"rate_limits\":{\"exec\":{\"per_minute\":1}}}", msg, sizeof(msg)) < 0 && strstr(msg, "exec"),
	   "an unknown category refused (%s)", msg);
	ok(apply(&cfg, "{\"rate_limits\":{\"execute\":{\"per_minute\":1,\"brust\":2}}}", msg, sizeof(msg)) < 0 &&
		   strstr(msg, "brust"), "an unknown key refused (%s)", msg);
	ok(apply(&cfg, "{\"rate_limits\":{\"execute\":{\"per_minute\":-1}}}", msg, sizeof(msg)) < 0, "negative refused");
	ok(apply(&cfg, "{\"rate_limits\":{\"principals\":0}}", msg, sizeof(msg)) < 0, "principals 0 refused");
	srv_config_release(&cfg);
	return tap_done();
}
