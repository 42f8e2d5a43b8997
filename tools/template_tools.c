/*
 * Session templates: template_create, template_list, template_info,
 * template_delete, and what session_create {template} needs (tool.h:
 * tool_tmpl_resolve, tool_tmpl_write_files).
 *
 * Where a name is looked up, first match winning: the caller's own templates,
 * everyone's (made by an administrator), the config's "templates", the
 * built-in ones. Templates made by tool are kept in memory and in the store
 * (tool_env.templates); the config's and the built-ins are never stored.
 *
 * Bounds: each owner (a key with the keys it made, or a user) holds at most
 * quota.templates templates whose settings take quota.template_bytes as
 * stored; everyone's (administrators only) at most GLOBAL_MAX and
 * GLOBAL_BYTES. No bound is shared by tenants: what the server keeps is
 * those per owner, and owners are the operator's keys and users.
 */
#include "tool.h"
#include "lang.h"
#include "../sessions/catalog.h"
#include "../sessions/workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/template.h"
#include "../server/base/banned.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#define GLOBAL_MAX 1000		/* everyone's templates (made by administrators) */
#define GLOBAL_BYTES (64u << 20)	/* their settings as stored, together */

/* {owner ("" for everyone's): {name: {"settings": {...}, "created_at": ms, "bytes": stored size}}} (owned) */
static json_t *made;
static const struct tool_env *tenv;

/* The names the seed documents' examples use, and one per interpreted language that images name. */
static const char *const builtin_json =
	"{\"basic\":{\"description\":\"A Linux sandbox with the server's default limits (shell).\",\"language\":\"shell\"},"
	"\"basic-python\":{\"description\":\"Python 3 (the host's python3), the server's default limits.\",\"language\":\"python\",\"env\":{\"PYTHONPATH\":\"/workspace\"}},"
	"\"basic-javascript\":{\"description\":\"JavaScript (the host's node), the server's default limits.\",\"language\":\"javascript\"}}";
static json_t *builtins;

/* A made template as kept: its settings (stolen), when, and the bytes the store keeps for it. */
static json_t *entry_new(json_t *settings, uint64_t created_ms)
{
	size_t bytes = json_dumpb(settings, NULL, 0, JSON_COMPACT);
	return json_pack("{s:o, s:I, s:I}", "settings", settings, "created_at", (json_int_t)created_ms, "bytes",
			 (json_int_t)bytes);
}

static void load_one(void *arg, const char *owner, const char *name, json_t *settings, uint64_t created_ms)
{
	auto_err struct err *err = NULL;
	if (srv_tmpl_name_check(name, &err) < 0 || srv_tmpl_check(name, settings, &err) < 0) {
		log_warn("stored template %s of %s ignored: %s", name, *owner ? owner : "everyone", err_text(err));
		return;
	}
	json_t *mine = json_object_get(made, owner);
	if (!mine)
		json_object_set_new(made, owner, mine = json_object());
	json_object_set_new(mine, name, entry_new(json_incref(settings), created_ms));
}

int tool_tmpl_config_check(const struct srv_config *cfg, struct err **errp)
{
	const char *name;
	json_t *t;

	json_object_foreach(cfg->templates, name, t) {
		const char *l = json_string_value(json_object_get(t, "language"));
		if (l && !lang_find(l))
			return err_setc(errp, ERR_INVALID, 0, "config: templates.%s: language \"%s\" is not one of " LANG_LIST,
					name, l);
	}
	return 0;
}

void tool_tmpl_init(const struct tool_env *env)
{
	auto_err struct err *err = NULL;

	tenv = env;
	made = json_object();
	builtins = json_loads(builtin_json, 0, NULL);
	if (env->templates && env->templates->load(env->templates->arg, load_one, NULL, &err) < 0)
		log_warn("cannot read the stored templates: %s", err_text(err));
}

void tool_tmpl_release(void)
{
	json_decref(made);
	json_decref(builtins);
	made = builtins = NULL;
}

/* Templates are their owner's: a key acting for user:alice ("user:alice#key_...") shares hers. */
static const char *owner_of(const char *principal, char out[SRV_PRINCIPAL_MAX])
{
	snprintf(out, SRV_PRINCIPAL_MAX, "%.*s", (int)srv_principal_owner_len(principal), principal);
	return out;
}

static json_t *made_by(const char *principal)
{
	char owner[SRV_PRINCIPAL_MAX];
	return json_object_get(made, owner_of(principal, owner));
}

/* The settings of template name as principal sees it, and where it comes from; NULL: none. */
static json_t *find(const char *principal, const char *name, const char **source)
{
	json_t *t;
	if ((t = json_object_get(made_by(principal), name))) {
		*source = "own";
		return json_object_get(t, "settings");
	}
	if ((t = json_object_get(json_object_get(made, ""), name))) {
		*source = "global";
		return json_object_get(t, "settings");
	}
	if (tenv && tenv->cfg && (t = json_object_get(tenv->cfg->templates, name))) {
		*source = "config";
		return t;
	}
	if ((t = json_object_get(builtins, name))) {
		*source = "builtin";
		return t;
	}
	return NULL;
}

/* The names principal may use, sorted, comma-separated. */
static char *names_of(const char *principal)
{
	json_t *seen = json_object(), *srcs[4] = {
		made_by(principal), json_object_get(made, ""),
		tenv && tenv->cfg ? tenv->cfg->templates : NULL, builtins,
	};
	const char *k;
	json_t *v;
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++)
		json_object_foreach(srcs[i], k, v) json_object_set(seen, k, json_true());
	json_object_foreach(seen, k, v) buf_addf(&b, "%s%s", b.len ? ", " : "", k);
	json_decref(seen);
	return buf_detach(&b);
}

/*
 * An image name ("python:3.11-slim", "library/node:20", "ubuntu") as the sandbox
 * can honour it: the language its interpreter is, or "shell" for a bare
 * distribution image. NULL: no image we know.
 */
static const char *image_language(const char *image)
{
	static const char *const distros[] = { "ubuntu", "debian", "alpine", "busybox", "centos", "fedora", "bash" };
	char base[64];
	const char *slash = strrchr(image, '/');
	const char *b = slash ? slash + 1 : image;
	size_t n = strcspn(b, ":@");

	if (!n || n >= sizeof(base))
		return NULL;
	memcpy(base, b, n);
	base[n] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(distros); i++)
		if (!strcmp(base, distros[i]))
			return "shell";
	const struct lang *l = lang_find(base);
	return l ? l->name : NULL;
}

int tool_tmpl_resolve(const char *principal, const char *name, struct tool_tmpl *out, struct err **errp)
{
	const char *source, *lang;
	json_t *t = find(principal, name, &source);

	memset(out, 0, sizeof(*out));
	if (t) {
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->settings = t;
		snprintf(out->language, sizeof(out->language), "%s", json_string_value(json_object_get(t, "language")) ?: "");
		return 0;
	}
	lang = image_language(name);
	if (lang) {
		/* the template for that language (basic-<language>, basic for a distribution), else basic with it */
		snprintf(out->name, sizeof(out->name), "%s%s", strcmp(lang, "shell") ? "basic-" : "basic",
			 strcmp(lang, "shell") ? lang : "");
		if (!(t = find(principal, out->name, &source))) {
			snprintf(out->name, sizeof(out->name), "basic");
			t = find(principal, out->name, &source);
		}
	}
	if (!t) {
		auto_free char *names = names_of(principal);
		return err_setc(errp, ERR_NOT_FOUND, 0, "template \"%.100s\" not found%s (available: %s)", name,
				lang ? "" : ", and it is not an image name mcpbox can map (python:*, node:*, ubuntu, ...)",
				names);
	}
	snprintf(out->image, sizeof(out->image), "%s", name);
	out->settings = t;
	snprintf(out->language, sizeof(out->language), "%s", lang);
	return 0;
}

int tool_tmpl_write_files(const struct tool_env *env, struct sess_session *s, json_t *files, struct err **errp)
{
	const struct sess_host_info *host = sess_registry_host(env->sessions);
	const char *path;
	json_t *v;

	json_object_foreach(files, path, v) {
		auto_free char *rel = NULL;
		auto_close int dfd = -1, fd = -1;
		const char *base;
		if (sess_ws_relpath(path, &rel, errp) < 0 ||
		    (dfd = sess_ws_open_parent(s->wsfd, rel, true, host->sandbox_uid, host->sandbox_gid, &base, path,
					       errp)) < 0 ||
		    (fd = sess_ws_open(s->wsfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NONBLOCK, 0644, path,
				       errp)) < 0)
			return err_wrap(errp, "template file %s", path);
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return err_setc(errp, ERR_INVALID, 0, "template file %s: not a regular file", path);
		if (host->root && fchown(fd, host->sandbox_uid, host->sandbox_gid) < 0)
			return err_set(errp, errno, "template file %s: chown", path);
		if (write_all(fd, json_string_value(v), json_string_length(v)) < 0)
			return err_set(errp, errno, "template file %s", path);
	}
	return 0;
}

/* ---- the tools ---- */

/* A template as listed: name, where it is from, description, language and its settings (files as sizes). */
static json_t *tmpl_json(const char *name, const char *source, json_t *t, bool detail)
{
	json_t *o = json_pack("{s:s, s:s}", "name", name, "source", source);
	const char *k;
	json_t *v;

	json_object_foreach(t, k, v) {
		if (!strcmp(k, "files")) {
			json_t *sizes = json_object();
			const char *p;
			json_t *c;
			json_object_foreach(v, p, c) json_object_set_new(sizes, p, json_integer((json_int_t)json_string_length(c)));
			json_object_set_new(o, "files", detail ? json_incref(v) : sizes);
			if (detail)
				json_decref(sizes);
		} else if (detail || strcmp(k, "env")) {
			json_object_set(o, k, v);
		}
	}
	return o;
}

static void template_list_run(struct tool_call *call)
{
	json_t *arr = json_array(), *seen = json_object();
	struct buf text = BUF_INIT;
	struct { json_t *set; const char *source; bool made; } srcs[] = {
		{ made_by(call->principal), "own", true },
		{ json_object_get(made, ""), "global", true },
		{ call->env->cfg ? call->env->cfg->templates : NULL, "config", false },
		{ builtins, "builtin", false },
	};
	const char *k;
	json_t *v;

	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++) {
		json_object_foreach(srcs[i].set, k, v) {
			if (json_object_get(seen, k))
				continue; /* shadowed by one found first */
			json_object_set(seen, k, json_true());
			json_t *t = srcs[i].made ? json_object_get(v, "settings") : v;
			json_array_append_new(arr, tmpl_json(k, srcs[i].source, t, false));
			buf_addf(&text, "%s\t%s\t%s\n", k, srcs[i].source,
				 json_string_value(json_object_get(t, "description")) ?: "-");
		}
	}
	json_decref(seen);
	tool_ok(call, json_pack("{s:o}", "templates", arr), text.data);
	buf_release(&text);
}

static void template_info_run(struct tool_call *call)
{
	const char *name = tool_arg_str(call, "name", "");
	struct tool_tmpl tt;
	auto_err struct err *err = NULL;
	const char *source = "image";

	if (tool_tmpl_resolve(call->principal, name, &tt, &err) < 0) {
		tool_fail_err(call, err, "template_info");
		return;
	}
	find(call->principal, tt.name, &source);
	json_t *o = tmpl_json(tt.name, source, tt.settings, true);
	if (tt.image[0]) {
		json_object_set_new(o, "image", json_string(tt.image));
		json_object_set_new(o, "language", json_string(tt.language));
	}
	tool_ok(call, o, NULL);
}

static int store_put(const char *owner, const char *name, json_t *entry, struct err **errp)
{
	if (!tenv->templates)
		return 0;
	return tenv->templates->put(tenv->templates->arg, owner, name, json_object_get(entry, "settings"),
				    (uint64_t)json_integer_value(json_object_get(entry, "created_at")), errp);
}

/*
 * May scope (one owner's templates, or everyone's) take entry too? Each
 * owner's are bounded by its quota, so no key can use up what another may
 * make; the server keeps at most those bounds times its owners.
 */
static int scope_room(const struct tool_env *env, json_t *scope, bool global, json_t *entry, struct err **errp)
{
	const struct srv_quota *q = env->cfg ? &env->cfg->quota : NULL;
	uint64_t max = global ? GLOBAL_MAX : q ? q->templates : 0;
	uint64_t max_bytes = global ? GLOBAL_BYTES : q ? q->template_bytes : 0;
	uint64_t held = 0, want = (uint64_t)json_integer_value(json_object_get(entry, "bytes"));
	const char *k;
	json_t *v;

	json_object_foreach(scope, k, v) held += (uint64_t)json_integer_value(json_object_get(v, "bytes"));
	if (max && json_object_size(scope) >= max)
		return err_setc(errp, ERR_LIMIT, 0, "%s %" PRIu64 " templates and holds %zu (delete one%s)",
				global ? "everyone's templates are at most" : "quota: this key may hold", max,
				json_object_size(scope), global ? "" : ", or ask the operator for a larger quota.templates");
	if (max_bytes && held + want > max_bytes)
		return err_setc(errp, ERR_LIMIT, 0, "%s %" PRIu64 " KiB of template settings; %s hold %" PRIu64 " KiB and "
				"this one takes %" PRIu64 " KiB (delete one%s)",
				global ? "everyone's templates may take at most" : "quota: this key may hold", max_bytes >> 10,
				global ? "they" : "its templates", held >> 10, (want + 1023) >> 10,
				global ? "" : ", or ask the operator for a larger quota.template_bytes");
	return 0;
}

static void template_create_run(struct tool_call *call)
{
	const char *name = tool_arg_str(call, "name", "");
	bool global = tool_arg_bool(call, "global", false);
	char mine[SRV_PRINCIPAL_MAX];
	const char *owner = global ? "" : owner_of(call->principal, mine);
	json_t *settings = json_deep_copy(call->args);
	auto_err struct err *err = NULL;
	const char *source;

	json_object_del(settings, "name");
	json_object_del(settings, "global");
	if (srv_tmpl_name_check(name, &err) < 0 || srv_tmpl_check(name, settings, &err) < 0) {
		json_decref(settings);
		tool_fail_err(call, err, "template_create");
		return;
	}
	const char *lname = json_string_value(json_object_get(settings, "language"));
	const struct lang *l = lname ? lang_find(lname) : NULL;
	if (lname && !l) {
		tool_fail(call, "template_create: language \"%s\" is not one of " LANG_LIST, lname);
		json_decref(settings); /* after: lname is in it */
		return;
	}
	if (l)
		json_object_set_new(settings, "language", json_string(l->name));
	const char *snap = json_string_value(json_object_get(settings, "snapshot_id"));
	if (snap && !sess_snap_find(call->env->sessions, snap, call->principal)) {
		tool_fail_as(call, ERR_NOT_FOUND, "template_create: snapshot \"%s\" not found (snapshot_id)", snap);
		json_decref(settings); /* after: snap is in it */
		return;
	}
	if (global && !sess_principal_admin(call->principal)) {
		json_decref(settings);
		tool_fail_as(call, ERR_DENIED, "template_create: only an administrator's key may make a template for "
				"everyone (global)");
		return;
	}
	json_t *scope = json_object_get(made, owner);
	if (json_object_get(scope, name) || (find(call->principal, name, &source) &&
					     (!strcmp(source, "config") || !strcmp(source, "builtin")))) {
		json_decref(settings);
		tool_fail_as(call, ERR_CONFLICT, "template_create: a template \"%s\" exists already (delete it first; the "
				"config's and the built-in ones cannot be replaced by tool)", name);
		return;
	}
	json_t *entry = entry_new(settings, wall_ms());
	if (scope_room(call->env, scope, global, entry, &err) < 0) {
		json_decref(entry);
		tool_fail_err(call, err, "template_create");
		return;
	}
	if (store_put(owner, name, entry, &err) < 0) {
		json_decref(entry);
		tool_fail_err(call, err, "template_create");
		return;
	}
	if (!scope)
		json_object_set_new(made, owner, scope = json_object());
	json_object_set_new(scope, name, entry);
	tool_ok(call, tmpl_json(name, global ? "global" : "own", settings, true), NULL);
}

static void template_delete_run(struct tool_call *call)
{
	const char *name = tool_arg_str(call, "name", "");
	const char *source = NULL;
	auto_err struct err *err = NULL;

	if (!find(call->principal, name, &source)) {
		tool_fail_as(call, ERR_NOT_FOUND, "template \"%s\" not found", name);
		return;
	}
	if (strcmp(source, "own") && !(!strcmp(source, "global") && sess_principal_admin(call->principal))) {
		tool_fail_as(call, ERR_DENIED, "template_delete: \"%s\" is %s: it cannot be deleted by this key", name,
			     !strcmp(source, "global") ? "everyone's (an administrator's key may delete it)"
			     : !strcmp(source, "config") ? "defined in the server's config" : "built in");
		return;
	}
	char mine[SRV_PRINCIPAL_MAX];
	const char *owner = !strcmp(source, "own") ? owner_of(call->principal, mine) : "";
	if (tenv->templates && tenv->templates->del(tenv->templates->arg, owner, name, &err) < 0) {
		tool_fail_err(call, err, "template_delete");
		return;
	}
	json_object_del(json_object_get(made, owner), name);
	tool_ok(call, json_pack("{s:s, s:b}", "name", name, "deleted", 1), NULL);
}

#define TMPL_SETTINGS \
	"\"description\":{\"type\":\"string\",\"maxLength\":500}," \
	"\"memory_mb\":{\"type\":\"integer\",\"minimum\":16,\"description\":\"Memory limit of the whole session.\"}," \
	"\"cpus\":{\"type\":\"number\",\"minimum\":0.01,\"description\":\"CPU cap in CPUs.\"}," \
	"\"disk_mb\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Most MiB the session's /workspace may take on disk.\"}," \
	"\"timeout_s\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"description\":\"Default execute timeout.\"}," \
	"\"network\":{\"type\":\"boolean\"}," \
	"\"env\":{\"type\":\"object\",\"maxProperties\":256,\"additionalProperties\":{\"type\":\"string\",\"maxLength\":32768}}," \
	"\"files\":{\"type\":\"object\",\"maxProperties\":64,\"additionalProperties\":{\"type\":\"string\"},\"description\":\"{path: text} written into /workspace when a session is made from it (1 MiB together).\"}," \
	"\"snapshot_id\":{\"type\":\"string\",\"description\":\"Start from this snapshot's workspace.\"}," \
	"\"language\":{\"type\":\"string\",\"description\":\"The language it is for (image names such as python:3.11 map to it).\"}"

const struct tool_def tool_template_defs[] = {
	{
		.name = "template_create",
		.title = "Create a session template",
		.description = "Save a named session preset (limits, env, files, network, a snapshot to start from, a "
			       "language) for session_create {template}. Visible to this key only, or to everyone with "
			       "global (administrators).",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":64},"
				"\"global\":{\"type\":\"boolean\",\"description\":\"For every key (administrators only).\"},"
				TMPL_SETTINGS "},\"required\":[\"name\"],\"additionalProperties\":false}",
		.run = template_create_run,
	},
	{
		.name = "template_list",
		.title = "List session templates",
		.description = "The templates this key may use: its own, everyone's, the server's config's and the "
			       "built-in ones (basic, basic-python, basic-javascript), with where each comes from.",
		.input_schema = "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = template_list_run,
	},
	{
		.name = "template_info",
		.title = "Session template details",
		.description = "A template's settings (files with their contents); an image name such as "
			       "python:3.11-slim shows the template it maps to.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":200}},"
				"\"required\":[\"name\"],\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = template_info_run,
	},
	{
		.name = "template_delete",
		.title = "Delete a session template",
		.description = "Delete one of this key's templates (administrators: also everyone's). Sessions made "
			       "from it keep their settings.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":64}},"
				"\"required\":[\"name\"],\"additionalProperties\":false}",
		.destructive = true,
		.idempotent = true,
		.run = template_delete_run,
	},
	{ 0 },
};
