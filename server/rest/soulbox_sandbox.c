/*
 * server/rest/soulbox_sandbox.c — SoulBox's sandboxes and templates (see
 * soulbox.h, docs/compat.md 004). A sandbox is an mcpbox session of the
 * caller's; a template is one of mcpbox's session templates.
 */
#include "soulbox.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../../tools/lang.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/banned.h"

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

/* ---- templates ---- */

/* "basic-python" → "Basic Python". */
static json_t *template_title(const char *id)
{
	struct buf b = BUF_INIT;
	bool word = true;
	for (const char *p = id; *p; p++) {
		char ch = *p == '-' || *p == '_' ? ' ' : *p;
		buf_addf(&b, "%c", word ? toupper((unsigned char)ch) : ch);
		word = ch == ' ';
	}
	json_t *s = json_string(b.data);
	buf_release(&b);
	return s;
}

/*
 * The document's template from template_list/template_info's entry t.
 * mcpbox templates have no version and install nothing (the sandbox runs
 * the host's interpreters): version "1.0", packages [].
 */
static json_t *template_json(json_t *t, bool detail)
{
	const char *id = str(t, "name");
	const char *desc = str(t, "description");
	json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s, s:[]}", "template_id", id, "name", template_title(id),
			      "description", desc ? desc : "", "runtime", sb_runtime_of(str(t, "language")), "version",
			      "1.0", "packages");
	if (!detail)
		return o;
	json_t *env = json_object_get(t, "env");
	json_t *files = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(t, "files"), k, v)
		json_array_append_new(files, json_pack("{s:s, s:O}", "name", k, "content", v));
	json_object_set_new(o, "base_image", str(t, "image") ? json_string(str(t, "image")) : json_null());
	json_object_set_new(o, "environment", env ? json_incref(env) : json_object());
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "source", json_string(str(t, "source") ? str(t, "source") : "builtin"));
	for (const char *const *f = (const char *const[]){ "memory_mb", "cpus", "disk_mb", "timeout_s", "network", NULL }; *f; f++)
		if (json_object_get(t, *f))
			json_object_set(o, *f, json_object_get(t, *f));
	return o;
}

static void templates_listed(struct sb_call *c, json_t *data)
{
	struct sb_page *p = c->ext;
	json_t *items = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(data, "templates"), i, t)
		json_array_append_new(items, template_json(t, false));
	sb_call_answer(c, 200, json_pack("{s:o}", "templates", sb_page_apply(c->r, p, items, NULL)));
}

static void template_list(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	struct sb_call *c = sb_call_new(r, principal, NULL);
	if (sb_call_page(c))
		return;
	sb_call_tool(c, "template_list", json_object(), templates_listed);
}

static void template_got(struct sb_call *c, json_t *data)
{
	sb_call_answer(c, 200, template_json(data, true));
}

static void template_get(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	const char *id = tp_req_param(r, "template_id");
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	if (!id || !*id || strlen(id) > 200) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "template_id", "template_id must be 1 to 200 characters");
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	sb_call_tool(c, "template_info", json_pack("{s:s}", "name", id), template_got);
}

/* ---- sandboxes ---- */

#define LABEL_RUNTIME "soulbox.runtime"
#define LABEL_TEMPLATE "soulbox.template"
#define LABEL_EXEC "soulbox.execution"

static const char *label(json_t *info, const char *name)
{
	return json_string_value(json_object_get(json_object_get(info, "labels"), name));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* mcpbox's session states in the document's words: creating, running, stopped, error (and deleted). */
static const char *sandbox_status(const char *state)
{
	static const char *const map[][2] = {
		{ "creating", "creating" }, { "running", "running" }, { "stopping", "stopped" },
		{ "stopped", "stopped" }, { "failed", "error" }, { "deleted", "deleted" },
	};
	for (size_t i = 0; state && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i][0], state))
			return map[i][1];
	return "error";
}

/* The runtime asked for, else the language of the template it was made from (session_create says it), else bash. */
static const char *sandbox_runtime(json_t *info)
{
	const char *lang = str(info, "language");
	return label(info, LABEL_RUNTIME) ?: lang ? sb_runtime_of(lang) : "bash";
}

/* The document's resources of a session: limits (and, with usage, what it uses now). */
static json_t *resources_json(json_t *info, bool usage, uint64_t disk_used)
{
	json_t *lim = json_object_get(info, "limits");
	json_t *cpus = json_object_get(lim, "cpus");
	json_int_t disk_mb = json_integer_value(json_object_get(lim, "disk_mb"));	/* null: none */
	json_t *o = json_pack("{s:o, s:o, s:o}", "memory_limit",
			      sb_memory_str((uint64_t)json_integer_value(json_object_get(lim, "memory_mb"))), "cpu_limit",
			      json_is_number(cpus) ? json_incref(cpus) : json_null(), "disk_limit",
			      disk_mb > 0 ? sb_memory_str((uint64_t)disk_mb) : json_null());
	if (!usage)
		return o;
	json_t *u = json_object_get(info, "usage");
	uint64_t mem = (uint64_t)json_integer_value(json_object_get(u, "memory_bytes"));
	double cpu_used = 0;
	const char *started = json_string_value(json_object_get(info, "started_at"));
	struct tm tm = { 0 };
	if (started && strptime(started, "%Y-%m-%dT%H:%M:%S", &tm)) {
		double up_ms = (double)(time(NULL) - timegm(&tm)) * 1000.0;
		if (up_ms >= 1000)
			cpu_used = (double)json_integer_value(json_object_get(u, "cpu_ms")) / up_ms;
	}
	json_object_set_new(o, "memory_used", sb_memory_str((mem + (1u << 20) - 1) >> 20));
	json_object_set_new(o, "cpu_used", json_real((double)(long)(cpu_used * 100 + 0.5) / 100));
	json_object_set_new(o, "disk_used", sb_memory_str((disk_used + (1u << 20) - 1) >> 20));
	return o;
}

/* A sandbox as lists show it. */
static json_t *sandbox_brief(json_t *info)
{
	return json_pack("{s:s, s:o, s:s, s:s, s:o, s:o}", "sandbox_id", str(info, "session_id"), "name",
			 str_or_null(str(info, "name")), "status", sandbox_status(str(info, "status")), "runtime",
			 sandbox_runtime(info), "created_at", sb_time(str(info, "created_at")), "last_activity",
			 sb_time(str(info, "last_active")));
}

/* The details: session_info (c->keep) and a recursive listing of its workspace (may be NULL). */
static void detail_answer(struct sb_call *c, json_t *listing)
{
	json_t *info = c->keep;
	json_t *files = json_array();
	uint64_t disk = 0;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(listing, "entries"), i, f) {
		const char *path = str(f, "path"), *type = str(f, "type");
		if (!path || !type || strcmp(type, "file"))
			continue;
		disk += (uint64_t)json_integer_value(json_object_get(f, "size"));
		if (!strchr(path, '/'))
			json_array_append_new(files, json_pack("{s:s, s:O, s:o}", "name", path, "size",
							       json_object_get(f, "size"), "created_at",
							       sb_time(str(f, "mtime"))));
	}
	json_t *o = sandbox_brief(info);
	json_object_set_new(o, "template", str_or_null(label(info, LABEL_TEMPLATE)));
	json_object_set_new(o, "resources", resources_json(info, true, disk));
	json_object_set_new(o, "network", json_pack("{s:O, s:[]}", "enabled",
						    json_is_true(json_object_get(info, "network")) ? json_true()
											   : json_false(),
						    "allowed_hosts"));
	json_object_set_new(o, "files", files);
	sb_call_answer(c, 200, o);
}

static void detail_listed(struct sb_call *c, json_t *data)
{
	detail_answer(c, data);
}

static void detail_unlisted(struct sb_call *c, json_t *result, enum err_class cls)
{
	(void)result;
	(void)cls;
	detail_answer(c, NULL); /* a stopped sandbox's files cannot always be listed: still describe it */
}

static void detail_info(struct sb_call *c, json_t *info)
{
	json_decref(c->keep);
	c->keep = json_incref(info);
	c->on_fail = detail_unlisted;
	sb_call_tool(c, "file_list", json_pack("{s:s, s:b}", "session_id", c->id, "recursive", 1), detail_listed);
}


static void sandbox_get(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = sb_call_path(r, "sandbox_id", 0);
	if (c)
		sb_call_tool(c, "session_info", json_pack("{s:s}", "session_id", c->id), detail_info);
}

/*
 * resources {memory_limit, cpu_limit, disk_limit} and environment of a body
 * into session_create / session_update arguments (args): memory_mb, cpus,
 * disk_mb (the session's disk limit), env. -1 when answered.
 */
static int resources_args(struct sb_call *c, json_t *args)
{
	json_t *res = json_object_get(c->body, "resources");
	json_t *env = json_object_get(c->body, "environment");
	const char *k;
	json_t *v;

	if (res && !json_is_object(res)) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "resources", "resources must be an object");
		return -1;
	}
	json_t *mem = json_object_get(res, "memory_limit");
	if (mem && !json_is_null(mem)) {
		int64_t mb = sb_memory_mb(mem);
		if (mb < 0) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "resources.memory_limit",
				     "memory_limit must be a size from 16M, such as \"512M\" or \"1G\"");
			return -1;
		}
		json_object_set_new(args, "memory_mb", json_integer(mb));
	}
	json_t *cpu = json_object_get(res, "cpu_limit");
	if (cpu && !json_is_null(cpu)) {
		if (!json_is_number(cpu) || !(json_number_value(cpu) >= 0.01) || json_number_value(cpu) > 1024) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "resources.cpu_limit",
				     "cpu_limit must be a number of CPUs from 0.01 (0.5: half a core)");
			return -1;
		}
		json_object_set(args, "cpus", cpu);
	}
	json_t *disk = json_object_get(res, "disk_limit");
	if (disk && !json_is_null(disk)) {
		if (sb_memory_mb(disk) < 0) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "resources.disk_limit",
				     "disk_limit must be a size such as \"1G\"");
			return -1;
		}
		json_object_set_new(args, "disk_mb", json_integer(sb_memory_mb(disk)));
	}
	if (env && !json_is_object(env)) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "environment", "environment must be an object of strings");
		return -1;
	}
	json_object_foreach(env, k, v) {
		if (!json_is_string(v) || !*k || strchr(k, '=')) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "environment",
				     "environment.%s must be a string (and its name must not be empty or hold '=')", k);
			return -1;
		}
	}
	if (env)
		json_object_set(args, "env", env);
	return 0;
}

/* A host that cannot cap CPU refuses cpus (ERR_UNAVAILABLE): go on without the cap, as the manager dialect does. */
static void without_cpus(struct sb_call *c, json_t *result, enum err_class cls, const char *tool,
			 void (*next)(struct sb_call *, json_t *))
{
	json_t *args = c->ext;
	if (cls != ERR_UNAVAILABLE || !json_object_get(args, "cpus")) {
		sb_fail_class(c->r, cls, rest_result_text(result));
		sb_call_free(c);
		return;
	}
	json_object_del(args, "cpus");
	c->on_fail = NULL;
	sb_call_tool(c, tool, json_incref(args), next);
}

static void created(struct sb_call *c, json_t *info);

/* files [{name, content}] of the create body (its user guide's example): written one by one, then the answer */
static void file_written(struct sb_call *c, json_t *data)
{
	(void)data;
	json_t *files = json_object_get(c->body, "files"), *info = c->keep;
	size_t i = (size_t)json_integer_value(json_object_get(info, "soulbox.next_file"));
	json_t *f = json_array_get(files, i);
	if (!f) {
		c->keep = NULL;
		created(c, info); /* with soulbox.next_file set: the files are written */
		json_decref(info);
		return;
	}
	json_object_set_new(info, "soulbox.next_file", json_integer((json_int_t)i + 1));
	sb_call_tool(c, "file_write", json_pack("{s:s, s:O, s:O}", "session_id", str(info, "session_id"), "path",
						json_object_get(f, "name"), "content", json_object_get(f, "content")),
		     file_written);
}

static void created(struct sb_call *c, json_t *info)
{
	if (json_array_size(json_object_get(c->body, "files")) && !json_object_get(info, "soulbox.next_file")) {
		c->keep = json_deep_copy(info);
		json_object_set_new(c->keep, "soulbox.next_file", json_integer(0));
		c->on_fail = NULL; /* a file that cannot be written: its error (the sandbox stays, listed) */
		file_written(c, NULL);
		return;
	}
	json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:o, s:s, s:o, s:{s:b, s:[]}}", "sandbox_id",
			      str(info, "session_id"), "name", str_or_null(str(info, "name")), "status",
			      sandbox_status(str(info, "status")), "created_at", sb_time(str(info, "created_at")),
			      "resources", resources_json(info, false, 0), "runtime", sandbox_runtime(info), "template",
			      str_or_null(label(info, LABEL_TEMPLATE)), "network", "enabled",
			      json_is_true(json_object_get(info, "network")), "allowed_hosts");
	sb_call_answer(c, 201, o);
}

static void create_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	without_cpus(c, result, cls, "session_create", created);
}

static void sandbox_create(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX];
	json_t *body;
	if (sb_begin(r, SB_RATE_REQUESTS, principal) || sb_body(r, false, &body))
		return;
	struct sb_call *c = sb_call_new(r, principal, body ? body : json_object());
	json_t *b = c->body;
	json_t *labels = json_object(), *args = json_pack("{s:o}", "labels", labels);
	c->ext = args;
	c->ext_free = (void (*)(void *))json_decref;

	json_t *name = json_object_get(b, "name"), *runtime = json_object_get(b, "runtime");
	json_t *tmpl = json_object_get(b, "template"), *net = json_object_get(b, "network");
	if (name && !json_is_null(name)) {
		if (!json_is_string(name) || !json_string_length(name) || json_string_length(name) > 200) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "name", "name must be a string of 1 to 200 characters");
			return;
		}
		json_object_set(args, "name", name);
	}
	const struct lang *l = NULL;
	if (runtime && !json_is_null(runtime) && (!json_is_string(runtime) || !(l = lang_find(json_string_value(runtime))))) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "runtime", "Unsupported runtime: %.100s (python, nodejs, rust, go, "
			     "java, bash, ...: " LANG_LIST ")", json_is_string(runtime) ? json_string_value(runtime) : "(not a string)");
		return;
	}
	if (tmpl && !json_is_null(tmpl)) {
		if (!json_is_string(tmpl) || !json_string_length(tmpl) || json_string_length(tmpl) > 200) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "template", "template must be a template_id (GET /api/templates)");
			return;
		}
		json_object_set(args, "template", tmpl);
		json_object_set(labels, LABEL_TEMPLATE, tmpl);
	}
	if (net && !json_is_null(net)) {
		json_t *en = json_object_get(net, "enabled"), *hosts = json_object_get(net, "allowed_hosts");
		if (!json_is_object(net) || (en && !json_is_boolean(en)) || (hosts && !json_is_array(hosts))) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "network", "network must be {enabled: boolean, allowed_hosts: [hosts]}");
			return;
		}
		if (json_is_true(en) && json_array_size(hosts)) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "network.allowed_hosts",
				     "mcpbox cannot limit a sandbox's network to named hosts: network access is the whole "
				     "internet or nothing (the host, private networks and other sandboxes are never "
				     "reachable). Send enabled: true without allowed_hosts, or enabled: false");
			return;
		}
		if (json_is_true(en))
			json_object_set_new(args, "network", json_true());
	}
	json_t *files = json_object_get(b, "files");
	size_t fi;
	json_t *f;
	if (files && (!json_is_array(files) || json_array_size(files) > 256)) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "files", "files must be a list of at most 256 {name, content}");
		return;
	}
	json_array_foreach(files, fi, f) {
		if (!json_is_string(json_object_get(f, "name")) || !json_string_length(json_object_get(f, "name")) ||
		    !json_is_string(json_object_get(f, "content"))) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "files", "files[%zu] must be {name, content} with strings", fi);
			return;
		}
	}
	if (resources_args(c, args))
		return;
	if (l)
		json_object_set_new(labels, LABEL_RUNTIME, json_string(sb_runtime_of(l->name)));
	c->on_fail = create_failed;
	sb_call_tool(c, "session_create", json_incref(args), created);
}

static void sandboxes_listed(struct sb_call *c, json_t *data)
{
	struct sb_page *p = c->ext;
	char status[32] = "", runtime[64] = "";
	json_t *items = json_array();
	size_t i, total;
	json_t *s;

	tp_req_query(c->r, "status", status, sizeof(status));
	tp_req_query(c->r, "runtime", runtime, sizeof(runtime));
	json_array_foreach(json_object_get(data, "sessions"), i, s) {
		if (json_is_true(json_object_get(s, "implicit")) || label(s, LABEL_EXEC))
			continue;
		json_t *o = sandbox_brief(s);
		if ((status[0] && strcmp(status, str(o, "status"))) || (runtime[0] && strcmp(runtime, str(o, "runtime")))) {
			json_decref(o);
			continue;
		}
		json_array_append_new(items, o);
	}
	json_t *page = sb_page_apply(c->r, p, items, &total);
	sb_call_answer(c, 200, json_pack("{s:o, s:I, s:I, s:I}", "sandboxes", page, "total", (json_int_t)total, "limit",
					 (json_int_t)p->limit, "offset", (json_int_t)p->offset));
}

static void sandbox_list(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX], v[64];
	if (sb_begin(r, SB_RATE_REQUESTS, principal))
		return;
	if (!tp_req_query(r, "status", v, sizeof(v)) && v[0] && strcmp(v, "creating") && strcmp(v, "running") &&
	    strcmp(v, "stopped") && strcmp(v, "error")) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "status", "status must be creating, running, stopped or error");
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	if (sb_call_page(c))
		return;
	sb_call_tool(c, "session_list", json_object(), sandboxes_listed);
}

static void updated(struct sb_call *c, json_t *info)
{
	detail_info(c, info);
}

static void update_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	without_cpus(c, result, cls, "session_update", updated);
}

static void sandbox_update(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = sb_call_path(r, "sandbox_id", 2);
	if (!c)
		return;
	json_t *args = json_pack("{s:s}", "session_id", c->id);
	c->ext = args;
	c->ext_free = (void (*)(void *))json_decref;
	for (const char *const *f = (const char *const[]){ "network", "runtime", "template", NULL }; *f; f++) {
		if (json_object_get(c->body, *f)) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, *f, "%s is fixed when the sandbox is made: create another sandbox", *f);
			return;
		}
	}
	if (resources_args(c, args))
		return;
	c->on_fail = update_failed;
	sb_call_tool(c, "session_update", json_incref(args), updated);
}

static void deleted(struct sb_call *c, json_t *data)
{
	(void)data;
	sb_call_answer(c, 200, json_pack("{s:s, s:s, s:s}", "sandbox_id", c->id, "status", "deleted", "message",
					 "Sandbox deleted successfully"));
}

static void delete_checked(struct sb_call *c, json_t *info)
{
	char force[8] = "";
	tp_req_query(c->r, "force", force, sizeof(force));
	json_int_t running = json_integer_value(json_object_get(json_object_get(info, "usage"), "running"));
	if (running && strcmp(force, "true") && strcmp(force, "1")) {
		sb_call_fail(c, 409, SB_VALIDATION_ERROR, "force", "Sandbox %s is running %" JSON_INTEGER_FORMAT
			     " execution(s): delete it with force=true to end them", c->id, running);
		return;
	}
	sb_call_tool(c, "session_destroy", json_pack("{s:s}", "session_id", c->id), deleted);
}

static void sandbox_delete(struct tp_req *r, void *arg)
{
	(void)arg;
	char force[8];
	if (!tp_req_query(r, "force", force, sizeof(force)) && strcmp(force, "true") && strcmp(force, "false") &&
	    strcmp(force, "1") && strcmp(force, "0")) {
		char principal[SB_PRINCIPAL_MAX];
		if (!sb_begin(r, SB_RATE_REQUESTS, principal))
			sb_fail(r, 400, SB_VALIDATION_ERROR, "force", "force must be true or false");
		return;
	}
	struct sb_call *c = sb_call_path(r, "sandbox_id", 0);
	if (c)
		sb_call_tool(c, "session_info", json_pack("{s:s}", "session_id", c->id), delete_checked);
}

/* ---- the part ---- */

static const struct rest_route routes[] = {
	{ TP_POST, "/api/sandboxes", sandbox_create },
	{ TP_GET, "/api/sandboxes", sandbox_list },
	{ TP_GET, "/api/sandboxes/{sandbox_id}", sandbox_get },
	{ TP_PUT, "/api/sandboxes/{sandbox_id}", sandbox_update },
	{ TP_DELETE, "/api/sandboxes/{sandbox_id}", sandbox_delete },
	{ TP_GET, "/api/templates", template_list },
	{ TP_GET, "/api/templates/{template_id}", template_get },
	{ 0, NULL, NULL },
};

const struct sb_part sb_part_sandbox = {
	.routes = routes,
};
