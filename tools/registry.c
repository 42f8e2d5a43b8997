#include "tool.h"
#include "../vnc/display.h"
#include "../proxy/proxy.h"
#include "../sessions/job.h"
#include "../sessions/term.h"
#include "../server/base/json_out.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/metrics.h"
#include "../server/base/banned.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

struct entry {
	const struct tool_def *def;
	bool bound_only;	/* offered only on session-bound endpoints (aliases.c) */
	json_t *input;
	json_t *output;
	json_t *listing;	/* the tools/list element */
};

static struct entry *entries;
static size_t nentries;
static const struct tool_env *tool_env;
static struct srv_rate *rates;	/* every call's rate limits (loop thread: no lock) */

static json_t *parse_schema(const char *tool, const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!v || !json_is_object(v)) {
		log_error("tool %s: bad built-in schema: %s", tool, e.text);
		abort();
	}
	return v;
}

static void add_family(const struct tool_def *defs, bool bound_only)
{
	for (; defs->name; defs++) {
		struct entry *e;
		entries = xrealloc(entries, (nentries + 1) * sizeof(*entries));
		e = &entries[nentries++];
		e->def = defs;
		e->bound_only = bound_only;
		e->input = parse_schema(defs->name, defs->input_schema);
		e->output = defs->output_schema ? parse_schema(defs->name, defs->output_schema) : NULL;
		e->listing = json_pack("{s:s, s:s, s:s, s:O, s:{s:s, s:b, s:b, s:b, s:b}}",
				       "name", defs->name, "title", defs->title, "description",
				       defs->description, "inputSchema", e->input, "annotations",
				       "title", defs->title, "readOnlyHint", defs->read_only,
				       "destructiveHint", defs->destructive, "idempotentHint",
				       defs->idempotent, "openWorldHint", defs->open_world);
		if (e->output)
			json_object_set(e->listing, "outputSchema", e->output);
	}
}

void tool_registry_init(const struct tool_env *env)
{
	tool_env = env;
	rates = env->cfg ? srv_rate_new(&env->cfg->rate) : NULL; /* no config (unit tests): no limits */
	add_family(tool_exec_defs, false);
	add_family(tool_job_defs, false);
	add_family(tool_terminal_defs, false);
	add_family(tool_kernel_defs, false);
	add_family(tool_file_defs, false);
	add_family(tool_edit_defs, false);
	add_family(tool_search_defs, false);
	add_family(tool_session_defs, false);
	add_family(tool_template_defs, false);
	if (env->keys)
		add_family(tool_key_defs, false);
	tool_tmpl_init(env);
	add_family(tool_snapshot_defs, false);
	add_family(tool_display_defs, false);
	vnc_init(uv_default_loop(), env->sessions, env->cfg);
	px_init(env->sessions, env->cfg);
	add_family(tool_browser_defs, false);
	add_family(tool_monitor_defs, false);
	add_family(tool_alias_defs, true);
	if (env->fixtures)
		add_family(tool_fixture_defs, false);
}

const struct tool_env *tool_registry_env(void)
{
	return tool_env;
}

void tool_registry_release(void)
{
	for (size_t i = 0; i < nentries; i++) {
		json_decref(entries[i].input);
		json_decref(entries[i].output);
		json_decref(entries[i].listing);
	}
	free(entries);
	entries = NULL;
	nentries = 0;
	srv_rate_free(rates);
	rates = NULL;
	tool_tmpl_release();
}

enum srv_rate_cat tool_rate_category(const char *name)
{
	static const struct { const char *tool; enum srv_rate_cat cat; } cats[] = {
		{ "execute", SRV_RATE_EXECUTE },
		{ "terminal_open", SRV_RATE_EXECUTE },
		{ "session_create", SRV_RATE_SESSIONS },
		{ "session_destroy", SRV_RATE_SESSIONS },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cats); i++)
		if (!strcmp(cats[i].tool, name))
			return cats[i].cat;
	return SRV_RATE_REQUESTS;
}

/*
 * Count the call against its principal's bucket. false: refused and answered
 * (by the caller in its own shape, or here as an isError result of class ERR_LIMIT).
 */
static bool rate_admits(const struct tool_caller *caller, const char *name)
{
	struct srv_rate_verdict v;
	const char *target = tool_alias_target(name);

	if (!srv_rate_take(rates, caller->principal, tool_rate_category(target ? target : name), now_ns(), &v))
		return true;
	bool answered = caller->ops->rate && caller->ops->rate(caller->ctx, &v);
	if (!v.refused)
		return true;
	metrics_tool_call(name, true);
	if (!answered) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "rate limit exceeded for %s calls (%" PRIu64 " at once, refilled over a minute): retry "
			 "in %" PRIu64 " ms", srv_rate_cat_name(v.cat), v.limit, v.retry_after_ms);
		json_t *res = json_pack("{s:[{s:s, s:s}], s:{s:I, s:s, s:I}, s:b}", "content", "type", "text", "text",
					b.data, "structuredContent", "retry_after_ms", (json_int_t)v.retry_after_ms,
					"category", srv_rate_cat_name(v.cat), "limit", (json_int_t)v.limit, "isError", 1);
		buf_release(&b);
		caller->ops->finish(caller->ctx, res, ERR_LIMIT);
	}
	return false;
}

/* ---- rights (tool.h) ----------------------------------------------------- */

/* How a tool meets sessions, for a key limited to some of them. */
enum reach {
	ONE,		/* acts on one session: named, a job's or terminal's, the bound one, or the implicit one */
	LISTING,	/* lists what the caller sees (filtered by the sessions layer), optionally in one session */
	CREATES,	/* makes a new session */
	OWNERS,		/* changes things beyond its sessions (templates, snapshots, alerts) */
	NONE,		/* nothing of a session (key management checks its own rights) */
};

static const struct need {
	const char *tool;
	unsigned caps;
	enum srv_level level;
	enum reach reach;
} needs[] = {
	{ "execute", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "job_status", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "job_wait", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "job_write", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "job_cancel", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "job_list", SRV_CAP_READ, SRV_LEVEL_VIEWER, LISTING },
	{ "session_logs", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "terminal_open", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "terminal_write", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "terminal_read", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "terminal_resize", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "terminal_close", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "terminal_list", SRV_CAP_READ, SRV_LEVEL_VIEWER, LISTING },
	{ "kernel_restart", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "browser_open", SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, ONE },
	{ "file_read", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "file_list", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "glob", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "grep", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "screenshot", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "session_info", SRV_CAP_READ, SRV_LEVEL_VIEWER, ONE },
	{ "file_write", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "file_delete", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "file_edit", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "input", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "session_snapshot", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "session_restore", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "session_stop", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "session_start", SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE },
	{ "session_destroy", SRV_CAP_WRITE, SRV_LEVEL_OWNER, ONE },
	{ "session_create", SRV_CAP_WRITE, SRV_LEVEL_NONE, CREATES },
	{ "session_list", SRV_CAP_READ, SRV_LEVEL_VIEWER, LISTING },
	{ "snapshot_list", SRV_CAP_READ, SRV_LEVEL_VIEWER, LISTING },
	{ "snapshot_info", SRV_CAP_READ, SRV_LEVEL_NONE, LISTING },
	{ "snapshot_diff", SRV_CAP_READ, SRV_LEVEL_NONE, LISTING },
	{ "snapshot_delete", SRV_CAP_WRITE, SRV_LEVEL_NONE, OWNERS },
	{ "template_list", SRV_CAP_READ, SRV_LEVEL_NONE, NONE },
	{ "template_info", SRV_CAP_READ, SRV_LEVEL_NONE, NONE },
	{ "template_create", SRV_CAP_WRITE, SRV_LEVEL_NONE, OWNERS },
	{ "template_delete", SRV_CAP_WRITE, SRV_LEVEL_NONE, OWNERS },
	{ "alert_list", SRV_CAP_READ, SRV_LEVEL_NONE, NONE },
	{ "server_metrics", SRV_CAP_READ, SRV_LEVEL_NONE, NONE },
	{ "server_health", SRV_CAP_READ, SRV_LEVEL_NONE, NONE },
	{ "alert_acknowledge", SRV_CAP_WRITE, SRV_LEVEL_NONE, OWNERS },
	{ "alert_resolve", SRV_CAP_WRITE, SRV_LEVEL_NONE, OWNERS },
	{ "key_create", 0, SRV_LEVEL_NONE, NONE },
	{ "key_list", 0, SRV_LEVEL_NONE, NONE },
	{ "key_revoke", 0, SRV_LEVEL_NONE, NONE },
};

/* A tool not in the table: a read-only one needs sandbox_read, any other sandbox_write as an editor. */
static const struct need need_read = { NULL, SRV_CAP_READ, SRV_LEVEL_VIEWER, LISTING };
static const struct need need_write = { NULL, SRV_CAP_WRITE, SRV_LEVEL_EDITOR, ONE };

static const struct need *need_of(const struct tool_def *def)
{
	for (size_t i = 0; i < ARRAY_SIZE(needs); i++)
		if (!strcmp(needs[i].tool, def->name))
			return &needs[i];
	return def->read_only ? &need_read : &need_write;
}

/*
 * The most a call may do in session sid for being shared with its user
 * (server/grants.h): the level granted when the session is another's,
 * SRV_LEVEL_OWNER when it is the caller's own, an administrator's, or not
 * shared at all (then it is not found: refusing here would tell it exists).
 */
static enum srv_level shared_cap(const char *principal, const char *sid)
{
	struct sess_session *s = sid && tool_env ? sess_find(tool_env->sessions, sid, NULL) : NULL;
	enum srv_level got;

	if (!s || sess_principal_sees(principal, s->owner))
		return SRV_LEVEL_OWNER;
	got = sess_principal_shared(principal, sid);
	return got == SRV_LEVEL_NONE ? SRV_LEVEL_OWNER : got;
}

bool tool_may(const struct tool_call *call, const char *sid, unsigned caps, enum srv_level level)
{
	char why[8];
	return shared_cap(call->principal, sid) >= level && srv_rights_allow(&call->rights, caps, level, sid, why, sizeof(why));
}

bool tool_may_control(const struct tool_call *call, const char *sid)
{
	return tool_may(call, sid, SRV_CAP_WRITE | SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR);
}

/* The session a call acts on, as far as its arguments say: NULL when none is named (or found). */
static const char *call_session(struct tool_call *call, bool *named)
{
	struct sess_registry *reg = call->env ? call->env->sessions : NULL;
	const char *bound = call->conn ? call->conn->bound_session : NULL;
	const char *id;

	*named = true;
	if (bound)
		return bound;
	if ((id = tool_arg_str(call, "session_id", NULL)))
		return id;
	if ((id = tool_arg_str(call, "job_id", NULL))) {
		struct sess_job *j = reg ? sess_job_find(reg, id, call->principal, NULL) : NULL;
		return j ? j->sess->id : NULL;
	}
	if ((id = tool_arg_str(call, "terminal_id", NULL))) {
		struct sess_term *t = reg ? sess_term_find(reg, id, call->principal, NULL) : NULL;
		return t ? t->sess->id : NULL;
	}
	*named = false;
	return NULL;
}

static struct entry *find_entry(const char *name);

/*
 * The rule every call meets: may principal's credential (rights filled in r)
 * do what tool n needs to session sid (named: the call names one)? 0, or -1
 * with ERR_DENIED and the refusal's text.
 */
static int rights_verdict(const struct need *n, const char *name, const char *principal, struct srv_rights *r,
			  const char *sid, bool named, struct err **errp)
{
	char why[200];

	if (!sess_principal_rights(principal, r))
		return err_setc(errp, ERR_DENIED, 0, "%s: this key was revoked or has expired", name);
	enum srv_level shared = shared_cap(principal, sid);
	if (shared < n->level)
		return err_setc(errp, ERR_DENIED, 0, "%s: permission denied: session %s is shared with this user as %s; %s "
				"needs %s", name, sid, srv_level_name(shared), name, srv_level_name(n->level));
	if (r->caps == SRV_CAP_ALL && !r->ngrants)
		return 0;	/* everything its owner may do (the owner's sessions are checked where they are found) */
	if (r->ngrants) {
		const char *what = n->reach == CREATES ? "create sessions" : n->reach == OWNERS ? "change the owner's "
			"templates, snapshots and alerts" : NULL;
		if (!what && n->reach == ONE && !named)
			what = "use a session it does not name: give session_id";
		if (what)
			return err_setc(errp, ERR_DENIED, 0, "%s: this key is limited to %u session%s (%s%s) and may not %s",
					name, r->ngrants, r->ngrants > 1 ? "s" : "", r->grants[0].session_id,
					r->ngrants > 1 ? ", ..." : "", what);
	}
	if (!srv_rights_allow(r, n->caps, n->level, sid, why, sizeof(why)))
		return err_setc(errp, ERR_DENIED, 0, "%s: permission denied: %s", name, why);
	return 0;
}

/* Check the call against its credential's rights; false: refused and finished (ERR_DENIED). */
static bool rights_admit(struct tool_call *call)
{
	const struct need *n = need_of(call->def);
	bool named = false;
	const char *sid = n->reach == ONE || n->reach == LISTING ? call_session(call, &named) : NULL;
	auto_err struct err *err = NULL;

	if (rights_verdict(n, call->def->name, call->principal, &call->rights, sid, named, &err) < 0) {
		tool_fail_as(call, ERR_DENIED, "%s", err_text(err));
		return false;
	}
	return true;
}

int tool_rights_check(const char *principal, const struct tool_conn *conn, const char *tool, const char *sid,
		      struct err **errp)
{
	const struct entry *e = find_entry(tool);
	struct srv_rights r;

	if (!e)
		return err_setc(errp, ERR_NOT_FOUND, 0, "Unknown tool: %s", tool);
	const char *bound = conn ? conn->bound_session : NULL;
	if (bound && sid && strcmp(sid, bound))
		return err_setc(errp, ERR_DENIED, 0, "this endpoint acts on session %s only (argument session_id names %s)",
				bound, sid);
	return rights_verdict(need_of(e->def), tool, principal, &r, bound ? bound : sid, bound || sid, errp);
}

/*
 * What a session-bound endpoint offers besides the aliases: the tools that
 * act inside one session. Creating, listing or destroying sessions and
 * snapshots is the owner's, with the owner's key.
 */
static const char *const bound_tools[] = {
	"execute", "file_read", "file_write", "file_list", "file_delete", "file_edit", "grep", "glob",
	"screenshot", "input", "browser_open", "session_info", "job_status", "job_wait", "job_write", "job_cancel", "job_list", "session_logs",
	"kernel_restart", "terminal_open", "terminal_write", "terminal_read", "terminal_resize", "terminal_close",
	"terminal_list",
};

static bool offered(const struct entry *e, const struct tool_conn *tc)
{
	if (!tc || !tc->bound_session)
		return !e->bound_only;
	if (e->bound_only)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(bound_tools); i++)
		if (!strcmp(bound_tools[i], e->def->name))
			return true;
	return false;
}


/* Could a credential with rights r ever call a tool that needs n (in some session it holds)? */
static bool ever_allowed(const struct need *n, const struct srv_rights *r)
{
	enum srv_level best = SRV_LEVEL_NONE;

	if ((n->caps & r->caps) != n->caps)
		return false;
	if (!r->ngrants)
		return true;
	if (n->reach == CREATES || n->reach == OWNERS)
		return false;
	for (unsigned i = 0; i < r->ngrants; i++)
		if (r->grants[i].level > best)
			best = r->grants[i].level;
	return n->level <= best;
}

json_t *tool_registry_list(const struct tool_conn *tc, const char *principal)
{
	struct srv_rights r;
	bool filter = principal && sess_principal_rights(principal, &r) && (r.caps != SRV_CAP_ALL || r.ngrants);
	json_t *arr = json_array();

	for (size_t i = 0; i < nentries; i++) {
		const struct entry *e = &entries[i];
		/* an alias needs what its target needs */
		const char *target = e->bound_only ? tool_alias_target(e->def->name) : NULL;
		const struct entry *as = target ? find_entry(target) : NULL;

		if (offered(e, tc) && (!filter || ever_allowed(need_of((as ? as : e)->def), &r)))
			json_array_append(arr, e->listing);
	}
	return json_pack("{s:o}", "tools", arr);
}

/* ---- schema subset validator ------------------------------------------- */

static const char *type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static bool type_matches(const char *t, json_t *v)
{
	if (!strcmp(t, "string")) return json_is_string(v);
	if (!strcmp(t, "integer"))
		return json_is_integer(v) ||
		       (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v));
	if (!strcmp(t, "number")) return json_is_number(v);
	if (!strcmp(t, "boolean")) return json_is_boolean(v);
	if (!strcmp(t, "object")) return json_is_object(v);
	if (!strcmp(t, "array")) return json_is_array(v);
	if (!strcmp(t, "null")) return json_is_null(v);
	return false;
}

int tool_schema_check(json_t *schema, json_t *value, const char *where, struct err **errp)
{
	json_t *type = json_object_get(schema, "type");
	json_t *en = json_object_get(schema, "enum");
	json_t *x;

	if (json_is_string(type) && !type_matches(json_string_value(type), value))
		return err_setc(errp, ERR_INVALID, 0, "%s must be %s%s, not %s", where,
			       strchr("aeiou", json_string_value(type)[0]) ? "an " : "a ",
			       json_string_value(type), type_name(value));
	if (json_is_array(type)) {
		size_t i;
		bool ok = false;
		json_array_foreach(type, i, x) ok = ok || type_matches(json_string_value(x), value);
		if (!ok)
			return err_setc(errp, ERR_INVALID, 0, "%s has the wrong type (%s)", where, type_name(value));
	}
	if (json_is_array(en)) {
		size_t i;
		bool ok = false;
		struct buf b = BUF_INIT;
		json_array_foreach(en, i, x) {
			if (json_equal(x, value))
				ok = true;
			char *s = json_dumps(x, JSON_ENCODE_ANY);
			buf_addf(&b, "%s%s", i ? ", " : "", s);
			free(s);
		}
		if (!ok) {
			char *got = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
			err_setc(errp, ERR_INVALID, 0, "%s must be one of %s (got %.80s)", where, b.data, got);
			free(got);
			buf_release(&b);
			return -1;
		}
		buf_release(&b);
	}
	if (json_is_number(value)) {
		double d = json_number_value(value);
		if ((x = json_object_get(schema, "minimum")) && d < json_number_value(x))
			return err_setc(errp, ERR_INVALID, 0, "%s must be at least %g (got %g)", where, json_number_value(x), d);
		if ((x = json_object_get(schema, "maximum")) && d > json_number_value(x))
			return err_setc(errp, ERR_INVALID, 0, "%s must be at most %g (got %g)", where, json_number_value(x), d);
	}
	if (json_is_string(value)) {
		size_t n = json_string_length(value);
		if ((x = json_object_get(schema, "minLength")) && (json_int_t)n < json_integer_value(x))
			return err_setc(errp, ERR_INVALID, 0, "%s must not be shorter than %" JSON_INTEGER_FORMAT " characters",
				       where, json_integer_value(x));
		if ((x = json_object_get(schema, "maxLength")) && (json_int_t)n > json_integer_value(x))
			return err_setc(errp, ERR_INVALID, 0, "%s must not be longer than %" JSON_INTEGER_FORMAT " characters",
				       where, json_integer_value(x));
	}
	if (json_is_object(value)) {
		json_t *props = json_object_get(schema, "properties");
		json_t *addl = json_object_get(schema, "additionalProperties");
		json_t *req = json_object_get(schema, "required");
		const char *k;
		size_t i;
		struct buf sub = BUF_INIT;

		if ((x = json_object_get(schema, "maxProperties")) && (json_int_t)json_object_size(value) > json_integer_value(x))
			return err_setc(errp, ERR_INVALID, 0, "%s must not have more than %" JSON_INTEGER_FORMAT " entries", where,
				       json_integer_value(x));
		json_t *pnames = json_object_get(schema, "propertyNames");
		json_t *name_max = json_object_get(pnames, "maxLength");
		json_array_foreach(req, i, x) {
			if (!json_object_get(value, json_string_value(x)))
				return err_setc(errp, ERR_INVALID, 0, "%s: missing required argument \"%s\"", where,
					       json_string_value(x));
		}
		json_object_foreach(value, k, x) {
			json_t *ps = json_object_get(props, k);
			if (name_max && (json_int_t)strlen(k) > json_integer_value(name_max)) {
				buf_release(&sub);
				return err_setc(errp, ERR_INVALID, 0, "%s: the name \"%.40s...\" is longer than %" JSON_INTEGER_FORMAT
						" characters", where, k, json_integer_value(name_max));
			}
			buf_reset(&sub);
			if (!strcmp(where, "arguments"))
				buf_addf(&sub, "argument \"%s\"", k);
			else
				buf_addf(&sub, "%s.%s", where, k);
			if (!ps) {
				if (json_is_false(addl)) {
					struct buf names = BUF_INIT;
					const char *pk;
					json_t *pv;
					json_object_foreach(props, pk, pv) buf_addf(&names, "%s%s", names.len ? ", " : "", pk);
					err_setc(errp, ERR_INVALID, 0, "unknown %s (expected: %s)", sub.data, names.data ? names.data : "none");
					buf_release(&names);
					buf_release(&sub);
					return -1;
				}
				if (json_is_object(addl) && tool_schema_check(addl, x, sub.data, errp) < 0) {
					buf_release(&sub);
					return -1;
				}
				continue;
			}
			if (tool_schema_check(ps, x, sub.data, errp) < 0) {
				buf_release(&sub);
				return -1;
			}
		}
		buf_release(&sub);
	}
	if (json_is_array(value) && (x = json_object_get(schema, "items"))) {
		size_t i;
		json_t *el;
		json_array_foreach(value, i, el) {
			struct buf sub = BUF_INIT;
			buf_addf(&sub, "%s[%zu]", where, i);
			int r = tool_schema_check(x, el, sub.data, errp);
			buf_release(&sub);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- calls -------------------------------------------------------------- */

static void call_free(struct tool_call *call)
{
	/* however the call ends (answered, failed while waiting for its session...) */
	if (call->state && call->state_free)
		call->state_free(call->state);
	json_decref(call->args);
	free(call->restarted);
	free(call);
}

static void finish_as(struct tool_call *call, json_t *result, enum err_class cls)
{
	json_t *content = json_object_get(result, "content");
	if (call->restarted && json_is_array(content)) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "(session %s was stopped; it was started again on its kept workspace)", call->restarted);
		json_array_append_new(content, json_pack("{s:s, s:s%}", "type", "text", "text", b.data, b.len));
		buf_release(&b);
	}
	bool failed = json_is_true(json_object_get(result, "isError"));
	metrics_tool_call(call->def->name, failed);
	call->caller.ops->finish(call->caller.ctx, result, failed ? cls : ERR_INTERNAL);
	call_free(call);
}

void tool_finish(struct tool_call *call, json_t *result)
{
	finish_as(call, result, ERR_INTERNAL);
}

void tool_finish_as(struct tool_call *call, json_t *result, enum err_class cls)
{
	finish_as(call, result, cls);
}

bool tool_list_scope(struct tool_call *call, const char **only)
{
	*only = call->conn->bound_session ? call->conn->bound_session : tool_arg_str(call, "session_id", NULL);
	if (*only && !sess_find(call->env->sessions, *only, call->principal)) {
		tool_fail_as(call, ERR_NOT_FOUND, "session \"%s\" not found (argument session_id)", *only);
		return false;
	}
	return true;
}

json_t *tool_result_text(json_t *structured, const char *text, size_t len)
{
	json_t *res = json_object();
	json_object_set_new(res, "content", json_pack("[{s:s, s:o}]", "type", "text", "text",
						       tool_json_text(text ? text : "", text ? len : 0)));
	json_object_set_new(res, "structuredContent", structured);
	return res;
}

void tool_ok(struct tool_call *call, json_t *structured, const char *text)
{
	char *dump = NULL;

	if (!text)
		text = dump = srv_json_dumps(structured);
	json_t *res = tool_result_text(structured, text, strlen(text));
	free(dump);
	tool_finish(call, res);
}

static void fail_text(struct tool_call *call, enum err_class cls, struct buf *b)
{
	json_t *res = json_pack("{s:[{s:s, s:o}], s:b}", "content", "type", "text", "text",
				tool_json_text(b->data ? b->data : "", b->len), "isError", 1);
	buf_release(b);
	finish_as(call, res, cls);
}

void tool_fail(struct tool_call *call, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	fail_text(call, ERR_INVALID, &b);
}

void tool_fail_as(struct tool_call *call, enum err_class cls, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	fail_text(call, cls, &b);
}

void tool_fail_err(struct tool_call *call, struct err *err, const char *context, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (context) {
		va_start(ap, context);
		buf_vaddf(&b, context, ap);
		va_end(ap);
		buf_adds(&b, ": ");
	}
	buf_adds(&b, err_text(err));
	fail_text(call, err->cls, &b);
}

static struct entry *find_entry(const char *name)
{
	for (size_t i = 0; i < nentries; i++)
		if (!strcmp(entries[i].def->name, name))
			return &entries[i];
	return NULL;
}

bool tool_registry_has(const struct tool_conn *tc, const char *name)
{
	const struct entry *e = find_entry(name);
	return e && offered(e, tc);
}

void tool_registry_call(const struct tool_caller *caller, const char *name, json_t *args)
{
	struct entry *e = find_entry(name);
	auto_err struct err *err = NULL;
	const char *bound = caller->conn ? caller->conn->bound_session : NULL;

	if (e && !offered(e, caller->conn))
		e = NULL;
	if (!e) {
		json_t *res = json_pack("{s:[{s:s, s:s+}], s:b}", "content", "type", "text", "text",
					"Unknown tool: ", name, "isError", 1);
		caller->ops->finish(caller->ctx, res, ERR_NOT_FOUND);
		return;
	}
	/*
	 * An alias is counted once, as the tool it calls, here where its caller
	 * can answer a refusal in its own protocol; the calls it makes are not.
	 */
	if (!caller->counted && !rate_admits(caller, name))
		return;
	struct tool_call *call = xcalloc(1, sizeof(*call));
	call->caller = *caller;
	call->principal = caller->principal;
	call->conn = caller->conn;
	call->env = tool_env;
	call->def = e->def;
	/* its own object: a handler may take a large value out (execute's code) without touching the caller's */
	call->args = args ? json_copy(args) : json_object();
	if (tool_schema_check(e->input, call->args, "arguments", &err) < 0) {
		tool_fail(call, "Invalid arguments for %s: %s", name, err_text(err));
		return;
	}
	const char *sid = json_string_value(json_object_get(call->args, "session_id"));
	if (bound && sid && strcmp(sid, bound)) {
		tool_fail_as(call, ERR_DENIED, "this endpoint acts on session %s only (argument session_id names %s)",
			     bound, sid);
		return;
	}
	if (!rights_admit(call))
		return;
	e->def->run(call);
}

void tool_log(struct tool_call *call, int lvl, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (!call->caller.ops->log)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	call->caller.ops->log(call->caller.ctx, lvl, b.data);
	buf_release(&b);
}

bool tool_wants_progress(struct tool_call *call)
{
	const struct tool_caller_ops *o = call->caller.ops;
	return o->progress && o->wants_progress && o->wants_progress(call->caller.ctx);
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

uv_timer_t *tool_timer_start(uv_timer_cb cb, void *data, uint64_t timeout_ms, uint64_t repeat_ms)
{
	uv_timer_t *t = xcalloc(1, sizeof(*t));
	uv_timer_init(uv_default_loop(), t);
	t->data = data;
	uv_timer_start(t, cb, timeout_ms, repeat_ms);
	return t;
}

void tool_timer_drop(uv_timer_t **t)
{
	if (*t) {
		uv_timer_stop(*t);
		uv_close((uv_handle_t *)*t, timer_closed);
		*t = NULL;
	}
}

void tool_progress(struct tool_call *call, double progress, double total, const char *msg)
{
	if (tool_wants_progress(call))
		call->caller.ops->progress(call->caller.ctx, progress, total, msg);
}

bool tool_wants_output(struct tool_call *call)
{
	return call->caller.ops->output != NULL;
}

void tool_output(struct tool_call *call, const char *stream, const char *data, size_t len)
{
	if (call->caller.ops->output)
		call->caller.ops->output(call->caller.ctx, stream, data, len);
}

void tool_on_cancel(struct tool_call *call, void (*fn)(void *arg), void *arg)
{
	if (call->caller.ops->on_cancel)
		call->caller.ops->on_cancel(call->caller.ctx, fn, arg);
}

void tool_ask(struct tool_call *call, const char *method, json_t *params, tool_reply_cb cb, void *arg)
{
	if (!call->caller.ops->ask) {
		json_decref(params);
		json_t *e = json_pack("{s:i, s:s}", "code", -32601, "message", "this caller cannot be asked questions");
		cb(arg, NULL, e);
		json_decref(e);
		return;
	}
	call->caller.ops->ask(call->caller.ctx, method, params, cb, arg);
}

/* ---- argument helpers --------------------------------------------------- */

const char *tool_arg_str(struct tool_call *call, const char *name, const char *def)
{
	json_t *v = json_object_get(call->args, name);
	return json_is_string(v) ? json_string_value(v) : def;
}

int64_t tool_arg_int(struct tool_call *call, const char *name, int64_t def)
{
	json_t *v = json_object_get(call->args, name);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

bool tool_arg_bool(struct tool_call *call, const char *name, bool def)
{
	json_t *v = json_object_get(call->args, name);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

/* ---- sessions ----------------------------------------------------------- */

struct session_wait {
	struct tool_call *call;
	tool_session_cb cb;
};

static void session_ready(void *arg, struct sess_session *s, struct err *err)
{
	struct session_wait *w = arg;
	struct tool_call *call = w->call;
	tool_session_cb cb = w->cb;

	free(w);
	if (err) {
		tool_fail_err(call, err, NULL);
		err_free(err);
		return;
	}
	sess_touch(s);
	cb(call, s);
}

void tool_with_session(struct tool_call *call, tool_session_cb cb)
{
	struct sess_registry *reg = call->env->sessions;
	const char *id = tool_arg_str(call, "session_id", NULL);
	struct sess_session *s = NULL;

	if (call->conn->bound_session) {
		/* a session-bound endpoint: that session or nothing, never a new one */
		s = sess_find(reg, call->conn->bound_session, call->principal);
		if (!s) {
			tool_fail_as(call, ERR_NOT_FOUND, "session %s, which this endpoint is bound to, no longer exists",
				     call->conn->bound_session);
			return;
		}
	} else if (id) {
		s = sess_find(reg, id, call->principal);
		if (!s) {
			tool_fail_as(call, ERR_NOT_FOUND, "session \"%s\" not found (argument session_id): it may have been "
					"destroyed or expired; omit session_id to use this connection's default session "
					"or call session_create", id);
			return;
		}
	} else if (call->conn->implicit_session) {
		s = sess_find(reg, call->conn->implicit_session, call->principal);
	}
	if (!s && (!(call->rights.caps & SRV_CAP_WRITE) || call->rights.ngrants)) {
		tool_fail_as(call, ERR_DENIED, "%s: permission denied: this key may not create sessions (it needs "
			     "sandbox_write and no session limits); name one of its sessions with session_id",
			     call->def->name);
		return;
	}
	if (!s) {
		struct sess_request rq = { .memory_mb = -1, .timeout_s = -1, .disk_mb = -1 };
		auto_err struct err *err = NULL;
		if (sess_create(reg, call->principal, true, &rq, &s, &err) < 0) {
			tool_fail_err(call, err, "cannot create a session");
			return;
		}
		free(call->conn->implicit_session);
		call->conn->implicit_session = xstrdup(s->id);
		tool_log(call, LOG_LVL_INFO, "created session %s for this connection", s->id);
	}
	if (s->state == SESS_STOPPED) {
		auto_err struct err *err = NULL;
		if (sess_start(s, &err) < 0) {
			tool_fail_err(call, err, NULL);
			return;
		}
		call->restarted = xstrdup(s->id);
		tool_log(call, LOG_LVL_INFO, "session %s was stopped: starting it again", s->id);
	}
	struct session_wait *w = xmalloc(sizeof(*w));
	w->call = call;
	w->cb = cb;
	sess_when_ready(s, session_ready, w);
}

void tool_conn_release(struct tool_conn *tc)
{
	free(tc->bound_session);
	tc->bound_session = NULL;
	if (tc->implicit_session && tool_env) {
		struct sess_session *s = sess_find(tool_env->sessions, tc->implicit_session, NULL);
		if (s && s->implicit)
			sess_destroy(s);
	}
	free(tc->implicit_session);
	tc->implicit_session = NULL;
	json_decref(tc->client_caps);
	tc->client_caps = NULL;
	tool_display_views_free(tc);
}

/* ---- JSON helpers ------------------------------------------------------- */

json_t *tool_json_text(const char *data, size_t len)
{
	return srv_json_text(data, len);
}

json_t *tool_json_time(uint64_t ms)
{
	return srv_json_time((int64_t)ms, true);
}

void tool_json_sort(json_t *a, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(a);
	json_t **v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
	free(v);
}
