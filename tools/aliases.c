/*
 * tools/aliases.c — seed 000's MCP tool names on session-bound endpoints
 * (session_info's mcp_url; the manager dialect's mcpUrl): read_file,
 * write_file, list_directory, delete_file, run_command and search_files, with that
 * document's arguments, each a translation onto one of our tools.
 *
 * An alias is a caller too: its handler calls the target tool through a
 * struct tool_caller that forwards progress, logs, output and cancellation
 * to the alias's own caller, then maps the result back (the target's
 * structured result, reshaped where the document's arguments ask for it).
 */
#include "tool.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"

#include <assert.h>
#include <string.h>

#include "../server/base/banned.h"

struct alias {
	const char *name;
	const char *target;
	/*
	 * The target's arguments from the alias's (validated): an object for one
	 * call, or an array of them for calls made one after another (the first
	 * failure ends the sequence); NULL with a message in *why. It may take
	 * out of in (the alias call's own object) what result does not read.
	 */
	json_t *(*args)(json_t *in, const char **why);
	/* reshape the target's result (stolen; also a failed one); NULL: as it is */
	json_t *(*result)(json_t *in, json_t *result, enum err_class *cls);
};

static void copy(json_t *to, json_t *from, const char *key, const char *as)
{
	json_t *v = json_object_get(from, key);
	if (v)
		json_object_set(to, as ? as : key, v);
}

static json_t *text_result(const char *text, size_t len, json_t *structured, bool failed)
{
	json_t *r = json_pack("{s:[{s:s, s:o}]}", "content", "type", "text", "text", tool_json_text(text, len));
	if (structured)
		json_object_set_new(r, "structuredContent", structured);
	if (failed)
		json_object_set_new(r, "isError", json_true());
	return r;
}

/* ---- read_file {path, offset?, limit?}: lines offset.. (0-based), at most limit ---- */

static json_t *read_args(json_t *in, const char **why)
{
	json_t *o = json_object();
	copy(o, in, "path", NULL);
	return o;
}

static json_t *read_result(json_t *in, json_t *result, enum err_class *cls)
{
	json_t *sc = json_object_get(result, "structuredContent");
	const char *content = json_string_value(json_object_get(sc, "content"));
	json_t *jo = json_object_get(in, "offset"), *jl = json_object_get(in, "limit");
	if (!content || (!jo && !jl) || json_is_true(json_object_get(result, "isError")) || strcmp(json_string_value(json_object_get(sc, "encoding")) ?: "", "utf8"))
		return result;
	json_int_t off = jo ? json_integer_value(jo) : 0, lim = jl ? json_integer_value(jl) : -1, line = 0, n = 0;
	const char *p = content, *start = NULL, *end = content + strlen(content);
	while (p < end && (lim < 0 || n < lim)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *next = nl ? nl + 1 : end;
		if (line >= off) {
			if (!start)
				start = p;
			n++;
		}
		line++;
		p = next;
	}
	json_t *out = json_pack("{s:O, s:I, s:I, s:b}", "path", json_object_get(sc, "path"), "offset", off, "lines", n,
				"truncated", json_is_true(json_object_get(sc, "truncated")) || p < end);
	json_object_set_new(out, "content", tool_json_text(start ? start : "", start ? (size_t)(p - start) : 0));
	json_t *r = text_result(start ? start : "", start ? (size_t)(p - start) : 0, out, false);
	json_decref(result);
	return r;
}

/* ---- write_file {path, content, append=false} ---- */

static json_t *write_args(json_t *in, const char **why)
{
	json_t *o = json_object();
	copy(o, in, "path", NULL);
	copy(o, in, "content", NULL);
	copy(o, in, "append", NULL);
	return o;
}

/* ---- list_directory {path=".", recursive=false, include_hidden=false} ---- */

static json_t *list_args(json_t *in, const char **why)
{
	json_t *o = json_object();
	const char *path = json_string_value(json_object_get(in, "path"));
	if (path && strcmp(path, "."))
		json_object_set_new(o, "path", json_string(path));
	copy(o, in, "recursive", NULL);
	return o;
}

static bool hidden(const char *path)
{
	/* any component that starts with a dot */
	for (const char *p = path; p && *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
		if (p[0] == '.' && p[1] != '/' && p[1] != '\0')
			return true;
	return false;
}

static json_t *list_result(json_t *in, json_t *result, enum err_class *cls)
{
	json_t *sc = json_object_get(result, "structuredContent");
	json_t *entries = json_object_get(sc, "entries"), *kept = json_array(), *e;
	struct buf text = BUF_INIT;
	size_t i;

	if (!json_is_array(entries) || json_is_true(json_object_get(result, "isError"))) {
		json_decref(kept);
		return result;
	}
	bool all = json_is_true(json_object_get(in, "include_hidden"));
	json_array_foreach(entries, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *name = json_string_value(json_object_get(e, "name"));
		if (!all && ((name && name[0] == '.') || (path && hidden(path))))
			continue;
		json_array_append(kept, e);
		const char *type = json_string_value(json_object_get(e, "type"));
		buf_addf(&text, "%s %s\n", type && !strcmp(type, "directory") ? "[DIR] " : "[FILE]",
			 path ? path : name ? name : "?");
	}
	json_t *out = json_pack("{s:O, s:o, s:O}", "path", json_object_get(sc, "path"), "entries", kept, "truncated",
				json_object_get(sc, "truncated") ?: json_false());
	json_t *r = text_result(text.data ? text.data : "(empty)\n", text.data ? text.len : 8, out, false);
	buf_release(&text);
	json_decref(result);
	return r;
}

/* ---- delete_file {path, recursive=false} ---- */

static json_t *delete_args(json_t *in, const char **why)
{
	json_t *o = json_object();
	copy(o, in, "path", NULL);
	copy(o, in, "recursive", NULL);
	return o;
}

/* ---- run_command {command, timeout?, allow_nonzero_exit_code=false} ---- */

static json_t *run_args(json_t *in, const char **why)
{
	json_t *o = json_pack("{s:s}", "language", "shell");
	copy(o, in, "command", "code");
	copy(o, in, "timeout", "timeout_s");
	/* execute takes the code out of its own arguments once its program has it: not kept here either */
	json_object_del(in, "command");
	return o;
}

static json_t *run_result(json_t *in, json_t *result, enum err_class *cls)
{
	json_t *sc = json_object_get(result, "structuredContent");
	json_int_t code = json_integer_value(json_object_get(sc, "exit_code"));
	if (!sc || !code || json_is_true(json_object_get(sc, "timed_out")))
		return result; /* success, or a failure of execute's own (timeout, bad arguments) */
	if (json_is_true(json_object_get(in, "allow_nonzero_exit_code"))) {
		/* the document's contract: an allowed non-zero exit is a result, not an error */
		json_object_del(result, "isError");
		return result;
	}
	/* the document's contract: a failing command is an error unless allowed */
	json_object_set_new(result, "isError", json_true());
	struct buf b = BUF_INIT;
	buf_addf(&b, "the command exited with status %lld (allow_nonzero_exit_code: true accepts that)",
		 (long long)code);
	json_array_insert_new(json_object_get(result, "content"), 0,
			      json_pack("{s:s, s:s%}", "type", "text", "text", b.data, b.len));
	buf_release(&b);
	*cls = ERR_INVALID;
	return result;
}

/* ---- search_files {pattern, path, max_results=10}: file names anywhere below path ---- */

static json_t *search_args(json_t *in, const char **why)
{
	const char *pat = json_string_value(json_object_get(in, "pattern"));
	json_t *o = json_object();
	struct buf b = BUF_INIT;

	/* a bare name or fragment matches at any depth; a pattern with a "/" is taken as it is */
	if (strchr(pat, '/'))
		buf_adds(&b, pat);
	else if (strpbrk(pat, "*?[{"))
		buf_addf(&b, "**/%s", pat);
	else
		buf_addf(&b, "**/*%s*", pat);
	json_object_set_new(o, "pattern", json_string(b.data));
	buf_release(&b);
	copy(o, in, "path", NULL);
	json_object_set_new(o, "max_results", json_integer(json_is_integer(json_object_get(in, "max_results"))
								  ? json_integer_value(json_object_get(in, "max_results"))
								  : 10));
	return o;
}

/*
 * ---- edit_file {path, operations: [{type: insert|replace, start_line, end_line?, content}]} ----
 * Line numbers refer to the file as it was: the operations are applied from
 * the bottom up (one file_edit each), so an earlier one never shifts a later
 * one's lines.
 */

static int op_cmp(const void *a, const void *b)
{
	json_int_t la = json_integer_value(json_object_get(*(json_t *const *)a, "start_line"));
	json_int_t lb = json_integer_value(json_object_get(*(json_t *const *)b, "start_line"));
	return la < lb ? 1 : la > lb ? -1 : 0;
}

static json_t *edit_args(json_t *in, const char **why)
{
	json_t *ops = json_object_get(in, "operations"), *op, *steps = json_array();
	size_t i, n = json_array_size(ops);
	json_t **sorted = xcalloc(n ? n : 1, sizeof(*sorted));

	json_array_foreach(ops, i, op)
		sorted[i] = op;
	qsort(sorted, n, sizeof(*sorted), op_cmp);
	for (i = 0; i < n; i++) {
		op = sorted[i];
		const char *type = json_string_value(json_object_get(op, "type"));
		json_t *o = json_object();
		copy(o, in, "path", NULL);
		copy(o, op, "content", "new_string");
		if (!strcmp(type, "insert")) {
			copy(o, op, "start_line", "insert_before");
		} else {
			copy(o, op, "start_line", NULL);
			copy(o, op, "end_line", NULL);
		}
		json_array_append_new(steps, o);
	}
	free(sorted);
	return steps;
}

/*
 * ---- grep_search {pattern, path, recursive=true, case_sensitive=false,
 *      include_pattern?, exclude_pattern?, max_results=50} ----
 */
static json_t *grep_args(json_t *in, const char **why)
{
	json_t *o = json_object(), *v;
	json_t *exclude = json_array();

	copy(o, in, "pattern", NULL);
	v = json_object_get(in, "path");
	if (json_is_string(v) && strcmp(json_string_value(v), "."))
		json_object_set(o, "path", v);
	json_object_set_new(o, "ignore_case", json_boolean(!json_is_true(json_object_get(in, "case_sensitive"))));
	if ((v = json_object_get(in, "include_pattern")))
		json_object_set_new(o, "include", json_pack("[O]", v));
	if ((v = json_object_get(in, "exclude_pattern")))
		json_array_append(exclude, v);
	if (json_is_false(json_object_get(in, "recursive")))
		json_array_append_new(exclude, json_string("*/*")); /* below a subdirectory: files directly in path only */
	if (json_array_size(exclude))
		json_object_set(o, "exclude", exclude);
	json_decref(exclude);
	v = json_object_get(in, "max_results");
	json_object_set_new(o, "max_results", json_integer(json_is_integer(v) ? json_integer_value(v) : 50));
	return o;
}

static const struct alias aliases[] = {
	{ "read_file", "file_read", read_args, read_result },
	{ "write_file", "file_write", write_args, NULL },
	{ "list_directory", "file_list", list_args, list_result },
	{ "delete_file", "file_delete", delete_args, NULL },
	{ "run_command", "execute", run_args, run_result },
	{ "search_files", "glob", search_args, NULL },
	{ "edit_file", "file_edit", edit_args, NULL },
	{ "grep_search", "grep", grep_args, NULL },
};

const char *tool_alias_target(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
		if (!strcmp(aliases[i].name, name))
			return aliases[i].target;
	return NULL;
}

/* ---- the forwarding caller ---- */

struct alias_call {
	struct tool_call *call;
	const struct alias *a;
	json_t *steps;		/* the argument objects of a sequence (NULL: one call) */
	size_t next;		/* of steps, the one to call next */
	json_t *done;		/* the structured results of the steps so far */
};

static const struct tool_caller_ops fwd_ops;

static void step(struct alias_call *ac, json_t *args)
{
	/* the alias's own call was counted as its target (tool_registry_call) */
	struct tool_caller c = { .ops = &fwd_ops, .ctx = ac, .principal = ac->call->principal, .conn = ac->call->conn,
				 .counted = true };
	tool_registry_call(&c, ac->a->target, args);
}

static void fwd_finish(void *ctx, json_t *result, enum err_class cls)
{
	struct alias_call *ac = ctx;
	struct tool_call *call = ac->call;
	bool failed = json_is_true(json_object_get(result, "isError"));

	if (ac->steps) {
		json_t *sc = json_object_get(result, "structuredContent");
		json_array_append(ac->done, sc ? sc : json_null());
		if (!failed && ac->next < json_array_size(ac->steps)) {
			json_decref(result);
			step(ac, json_array_get(ac->steps, ac->next++));
			return;
		}
		/* the last result, or the first failure, with every step's structured result */
		if (!failed) {
			json_t *out = json_pack("{s:I, s:O}", "applied", (json_int_t)json_array_size(ac->done), "steps",
						ac->done);
			json_object_set_new(result, "structuredContent", out);
		}
		json_decref(ac->steps);
		json_decref(ac->done);
	}
	if (ac->a->result)
		result = ac->a->result(call->args, result, &cls);
	free(ac);
	tool_finish_as(call, result, cls);
}

static bool fwd_wants_progress(void *ctx)
{
	return tool_wants_progress(((struct alias_call *)ctx)->call);
}

static void fwd_progress(void *ctx, double progress, double total, const char *msg)
{
	tool_progress(((struct alias_call *)ctx)->call, progress, total, msg);
}

static void fwd_log(void *ctx, int lvl, const char *msg)
{
	tool_log(((struct alias_call *)ctx)->call, lvl, "%s", msg);
}

static void fwd_output(void *ctx, const char *stream, const char *data, size_t len)
{
	tool_output(((struct alias_call *)ctx)->call, stream, data, len);
}

static void fwd_on_cancel(void *ctx, void (*fn)(void *arg), void *arg)
{
	tool_on_cancel(((struct alias_call *)ctx)->call, fn, arg);
}

static void fwd_ask(void *ctx, const char *method, json_t *params, tool_reply_cb cb, void *arg)
{
	tool_ask(((struct alias_call *)ctx)->call, method, params, cb, arg);
}

static const struct tool_caller_ops fwd_ops = {
	.finish = fwd_finish,
	.wants_progress = fwd_wants_progress,
	.progress = fwd_progress,
	.log = fwd_log,
	.output = fwd_output,
	.on_cancel = fwd_on_cancel,
	.ask = fwd_ask,
};

static void alias_run(struct tool_call *call)
{
	const struct alias *a = NULL;
	const char *why = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(aliases) && !a; i++)
		if (!strcmp(aliases[i].name, call->def->name))
			a = &aliases[i];
	assert(a);
	json_t *args = a->args(call->args, &why);
	if (!args) {
		tool_fail(call, "%s: %s", a->name, why);
		return;
	}
	struct alias_call *ac = xcalloc(1, sizeof(*ac));
	ac->call = call;
	ac->a = a;
	if (json_is_array(args)) {
		if (!json_array_size(args)) {
			json_decref(args);
			free(ac);
			tool_fail(call, "%s: nothing to do", a->name);
			return;
		}
		ac->steps = args;
		ac->done = json_array();
		ac->next = 1;
		step(ac, json_array_get(args, 0));
		return;
	}
	step(ac, args);
	json_decref(args);
}

#define PATH_ARG "\"path\":{\"type\":\"string\",\"description\":\"A path in the workspace (relative, or under /workspace).\"}"

const struct tool_def tool_alias_defs[] = {
	{
		.name = "read_file",
		.title = "Read a file",
		.description = "Read a text file of this sandbox; offset (0-based) and limit select lines.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" PATH_ARG ","
				"\"offset\":{\"type\":\"integer\",\"minimum\":0},\"limit\":{\"type\":\"integer\",\"minimum\":0}},"
				"\"required\":[\"path\"],\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = alias_run,
	},
	{
		.name = "write_file",
		.title = "Write a file",
		.description = "Write (or with append: true, append to) a text file of this sandbox.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" PATH_ARG ",\"content\":{\"type\":\"string\"},"
				"\"append\":{\"type\":\"boolean\"}},\"required\":[\"path\",\"content\"],"
				"\"additionalProperties\":false}",
		.destructive = true,
		.run = alias_run,
	},
	{
		.name = "list_directory",
		.title = "List a directory",
		.description = "List a directory of this sandbox (default the workspace); recursive and hidden entries on request.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				"\"recursive\":{\"type\":\"boolean\"},\"include_hidden\":{\"type\":\"boolean\"}},"
				"\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = alias_run,
	},
	{
		.name = "delete_file",
		.title = "Delete a file",
		.description = "Delete a file, or a directory with recursive: true.",
		.input_schema = "{\"type\":\"object\",\"properties\":{" PATH_ARG ",\"recursive\":{\"type\":\"boolean\"}},"
				"\"required\":[\"path\"],\"additionalProperties\":false}",
		.destructive = true,
		.idempotent = true,
		.run = alias_run,
	},
	{
		.name = "run_command",
		.title = "Run a shell command",
		.description = "Run a shell command in this sandbox's workspace; a non-zero exit is an error unless "
			       "allow_nonzero_exit_code is true.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\"},"
				"\"timeout\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Seconds.\"},"
				"\"allow_nonzero_exit_code\":{\"type\":\"boolean\"}},\"required\":[\"command\"],"
				"\"additionalProperties\":false}",
		.destructive = true,
		.open_world = true,
		.run = alias_run,
	},
	{
		.name = "edit_file",
		.title = "Edit a file by lines",
		.description = "Insert or replace lines of a text file. Line numbers (from 1) refer to the file before "
			       "the call: the operations are applied from the bottom up. insert puts content before "
			       "start_line (one past the last line appends); replace puts content in place of lines "
			       "start_line..end_line (default start_line).",
		.input_schema = "{\"type\":\"object\",\"properties\":{" PATH_ARG ",\"operations\":{\"type\":\"array\","
				"\"maxItems\":1000,\"items\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\","
				"\"enum\":[\"insert\",\"replace\"]},\"start_line\":{\"type\":\"integer\",\"minimum\":1},"
				"\"end_line\":{\"type\":\"integer\",\"minimum\":1},\"content\":{\"type\":\"string\"}},"
				"\"required\":[\"type\",\"start_line\",\"content\"],\"additionalProperties\":false}}},"
				"\"required\":[\"path\",\"operations\"],\"additionalProperties\":false}",
		.destructive = true,
		.run = alias_run,
	},
	{
		.name = "grep_search",
		.title = "Search file contents",
		.description = "Search the text of files below path for a regular expression (POSIX extended), case "
			       "insensitive unless case_sensitive; include_pattern/exclude_pattern are file globs; "
			       "recursive: false searches only the files directly in path.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\",\"minLength\":1,"
				"\"maxLength\":4096},\"path\":{\"type\":\"string\"},\"recursive\":{\"type\":\"boolean\"},"
				"\"case_sensitive\":{\"type\":\"boolean\"},\"include_pattern\":{\"type\":\"string\",\"minLength\":1,"
				"\"maxLength\":4096},\"exclude_pattern\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},"
				"\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2000}},\"required\":[\"pattern\"],"
				"\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = alias_run,
	},
	{
		.name = "search_files",
		.title = "Find files by name",
		.description = "Find files whose names match pattern anywhere below path (a plain word matches names "
			       "containing it; *, ?, [..] and {a,b} are globs; a pattern with / is matched against the "
			       "whole relative path).",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\",\"minLength\":1,"
				"\"maxLength\":4096},\"path\":{\"type\":\"string\"},\"max_results\":{\"type\":\"integer\","
				"\"minimum\":1,\"maximum\":10000}},\"required\":[\"pattern\"],\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = alias_run,
	},
	{ 0 },
};
