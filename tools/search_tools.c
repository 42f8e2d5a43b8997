/*
 * glob and grep: finding files and text in the session workspace. The walk
 * and the search run on libuv's thread pool (tools/search.h), beneath a
 * directory fd opened on the loop through sessions/workspace.h, so nothing
 * outside /workspace can be reached; a caller that gives up stops them
 * (tool_on_cancel), and so does the time bound.
 */
#include "tool.h"
#include "glob.h"
#include "search.h"
#include "../sessions/workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define SEARCH_TIME_MS 20000		/* a walk or search stops (truncated) after this */
#define SEARCH_MAX_ENTRIES 200000	/* entries a walk visits at most */
#define GLOB_DEFAULT_RESULTS 1000
#define GLOB_MAX_RESULTS 10000

/* ---- what glob and grep share ------------------------------------------- */

/* One call's work on the thread pool. The session is held: it may be
   destroyed meanwhile, the walk goes on beneath its own fd. */
struct search_job {
	uv_work_t req;
	struct tool_call *call;
	struct sess_session *sess;
	struct tool_search_ctl ctl;
	int rootfd;		/* the directory searched */
	char *prefix;		/* its path relative to /workspace, "" for the root */
	void (*work)(struct search_job *j);
	json_t *sc;		/* the structured result, made by work */
	struct buf text;	/* and its text */
	void *state;		/* the tool's */
	void (*state_free)(void *state);
};

static void search_cancel(void *arg)
{
	struct search_job *j = arg;
	atomic_store(&j->ctl.cancelled, true);
}

static void search_run(uv_work_t *req)
{
	struct search_job *j = req->data;
	j->work(j);
}

static void search_done(uv_work_t *req, int status)
{
	struct search_job *j = req->data;

	tool_ok(j->call, j->sc, j->text.data ? j->text.data : "");
	buf_release(&j->text);
	if (j->state_free)
		j->state_free(j->state);
	close(j->rootfd);
	sess_put(j->sess);
	free(j->prefix);
	free(j);
}

/* Resolve the call's "path" argument; on error the call is finished (NULL). */
static char *search_rel(struct tool_call *call)
{
	auto_err struct err *err = NULL;
	char *rel;
	if (sess_ws_relpath(tool_arg_str(call, "path", "."), &rel, &err) < 0) {
		tool_fail_err(call, err, "argument \"path\"");
		return NULL;
	}
	return rel;
}

/* Queue j (rootfd, state and work set) for call in session s. */
static void search_start(struct search_job *j, struct tool_call *call, struct sess_session *s, const char *rel)
{
	j->req.data = j;
	j->call = call;
	j->sess = s;
	sess_hold(s);
	j->prefix = xstrdup(strcmp(rel, ".") ? rel : "");
	j->text = (struct buf)BUF_INIT;
	j->ctl.deadline_ns = now_ns() + (uint64_t)SEARCH_TIME_MS * 1000000;
	atomic_init(&j->ctl.cancelled, false);
	atomic_init(&j->ctl.timed_out, false);
	tool_on_cancel(call, search_cancel, j);
	if (uv_queue_work(uv_default_loop(), &j->req, search_run, search_done) < 0) {
		search_run(&j->req);
		search_done(&j->req, 0);
	}
}

/* Why a search stopped early, or NULL: ctl's reasons first. */
static const char *stop_reason(struct search_job *j, bool limit, bool walk_truncated)
{
	if (atomic_load(&j->ctl.cancelled))
		return "cancelled";
	if (atomic_load(&j->ctl.timed_out))
		return "time";
	if (limit)
		return "max_results";
	if (walk_truncated)
		return "walk";
	return NULL;
}

static void add_reason_text(struct buf *text, const char *reason, size_t shown)
{
	if (!strcmp(reason, "max_results"))
		buf_addf(text, "[truncated: first %zu results shown; raise max_results or narrow the pattern]\n", shown);
	else if (!strcmp(reason, "time"))
		buf_addf(text, "[truncated: stopped after %d s; narrow the path or the pattern]\n", SEARCH_TIME_MS / 1000);
	else if (!strcmp(reason, "walk"))
		buf_addf(text, "[truncated: the tree has more than %d entries or %d levels; narrow the path]\n",
			 SEARCH_MAX_ENTRIES, TOOL_WALK_MAX_DEPTH);
	else
		buf_addf(text, "[%s]\n", reason);
}

/* The path as the client sees it (relative to /workspace). */
static void shown_path(struct buf *b, const struct search_job *j, const char *path)
{
	b->len = 0;
	if (*j->prefix)
		buf_addf(b, "%s/", j->prefix);
	buf_adds(b, path);
}

static json_t *time_of(const struct stat *st)
{
	return tool_json_time((uint64_t)st->st_mtim.tv_sec * 1000 + (uint64_t)st->st_mtim.tv_nsec / 1000000);
}

/* ---- glob --------------------------------------------------------------- */

struct glob_state {
	struct tool_glob *g;
	size_t max;
	bool by_mtime;
	json_t *matches;
	bool more;		/* a match beyond max was seen */
};

static void glob_state_free(void *arg)
{
	struct glob_state *st = arg;
	tool_glob_free(st->g);
	json_decref(st->matches);
	free(st);
}

struct glob_walk {
	struct search_job *j;
	struct glob_state *st;
	struct buf path;
};

static enum tool_walk_next glob_visit(void *arg, const struct tool_walk_entry *e)
{
	struct glob_walk *gw = arg;
	struct glob_state *st = gw->st;
	bool dir = e->type == DT_DIR;

	if (tool_glob_match(st->g, e->path, dir)) {
		struct stat sb;
		if (!st->by_mtime && json_array_size(st->matches) >= st->max) {
			st->more = true;	/* walked in name order: the rest come later */
			return TOOL_WALK_HALT;
		}
		if (fstatat(e->dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			shown_path(&gw->path, gw->j, e->path);
			json_array_append_new(st->matches,
					      json_pack("{s:o, s:s, s:I, s:o}", "path", tool_json_text(gw->path.data, gw->path.len),
							"type", dir ? "directory" : S_ISREG(sb.st_mode) ? "file"
							: S_ISLNK(sb.st_mode) ? "symlink" : "other",
							"size", (json_int_t)sb.st_size, "mtime", time_of(&sb)));
		}
	}
	return dir && tool_glob_could_match_below(st->g, e->path) ? TOOL_WALK_DESCEND : TOOL_WALK_NEXT;
}

/* Newest first; equal times by path. */
static int cmp_mtime(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(y, "mtime")), json_string_value(json_object_get(x, "mtime")));
	return c ? c : strcmp(json_string_value(json_object_get(x, "path")), json_string_value(json_object_get(y, "path")));
}

static void glob_work(struct search_job *j)
{
	struct glob_state *st = j->state;
	struct glob_walk gw = { .j = j, .st = st, .path = BUF_INIT };
	struct tool_walk_stats ws;

	tool_walk(j->rootfd, &j->ctl, SEARCH_MAX_ENTRIES, glob_visit, &gw, &ws);
	buf_release(&gw.path);
	size_t n = json_array_size(st->matches);
	if (st->by_mtime) {
		json_t **v = xcalloc(n ? n : 1, sizeof(*v));
		for (size_t i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(st->matches, i));
		qsort(v, n, sizeof(*v), cmp_mtime);
		json_array_clear(st->matches);
		for (size_t i = 0; i < n; i++)
			if (i < st->max)
				json_array_append_new(st->matches, v[i]);
			else
				json_decref(v[i]);
		free(v);
		st->more = n > st->max;
		n = json_array_size(st->matches);
	}
	const char *reason = stop_reason(j, st->more, ws.truncated && !st->more);
	json_t *m;
	size_t i;
	json_array_foreach(st->matches, i, m)
		buf_addf(&j->text, "%s%s\n", json_string_value(json_object_get(m, "path")),
			 !strcmp(json_string_value(json_object_get(m, "type")), "directory") ? "/" : "");
	if (!n)
		buf_adds(&j->text, "(no matches)\n");
	if (reason)
		add_reason_text(&j->text, reason, n);
	j->sc = json_pack("{s:s, s:s, s:O, s:I, s:b}", "pattern", tool_arg_str(j->call, "pattern", ""), "path",
			  tool_arg_str(j->call, "path", "."), "matches", st->matches, "count", (json_int_t)n,
			  "truncated", reason != NULL);
	if (reason)
		json_object_set_new(j->sc, "reason", json_string(reason));
}

static void glob_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = search_rel(call);
	if (!rel)
		return;
	const char *shown = tool_arg_str(call, "path", ".");
	auto_err struct err *err = NULL;
	struct tool_glob *g;

	if (tool_glob_compile(tool_arg_str(call, "pattern", ""), &g, &err) < 0) {
		tool_fail_err(call, err, "argument \"pattern\"");
		return;
	}
	int fd = sess_ws_open(s->wsfd, rel, O_RDONLY | O_DIRECTORY, 0, shown, &err);
	if (fd < 0) {
		tool_glob_free(g);
		tool_fail_err(call, err, "glob");
		return;
	}
	struct glob_state *st = xcalloc(1, sizeof(*st));
	st->g = g;
	st->max = (size_t)tool_arg_int(call, "max_results", GLOB_DEFAULT_RESULTS);
	st->by_mtime = !strcmp(tool_arg_str(call, "sort", "name"), "mtime");
	st->matches = json_array();
	struct search_job *j = xcalloc(1, sizeof(*j));
	j->rootfd = fd;
	j->work = glob_work;
	j->state = st;
	j->state_free = glob_state_free;
	search_start(j, call, s, rel);
}

static void glob_run(struct tool_call *call) { tool_with_session(call, glob_run_s); }

#define SESSION_ARG "\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own session.\"}"
#define STOP_SCHEMA "\"truncated\":{\"type\":\"boolean\"}," \
	"\"reason\":{\"type\":\"string\",\"enum\":[\"max_results\",\"time\",\"walk\",\"cancelled\"]}"

const struct tool_def tool_search_defs[] = {
	{
		.name = "glob",
		.title = "Find files by name",
		.description = "Find files and directories in the session workspace whose path matches a pattern: "
			       "* and ? within a name, [abc] sets, ** for any number of directories, {a,b} "
			       "alternatives (\"**/*.py\": every Python file; \"src/**/*.{c,h}\"; \"*.md\": the top "
			       "level only). Paths are relative to /workspace; sorted by path (directories' contents "
			       "after their name) or, with sort \"mtime\", newest first. Symlinks are listed, never "
			       "followed; .git is skipped.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"pattern\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096,\"description\":\"Glob matched against the path relative to path.\"},"
				"\"path\":{\"type\":\"string\",\"description\":\"Directory to search; default the workspace root.\"},"
				"\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,\"description\":\"Default 1000.\"},"
				"\"sort\":{\"type\":\"string\",\"enum\":[\"name\",\"mtime\"],\"description\":\"name (default) or mtime (newest first).\"},"
				SESSION_ARG
				"},\"required\":[\"pattern\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\"},\"path\":{\"type\":\"string\"},"
				 "\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
				 "\"path\":{\"type\":\"string\"},"
				 "\"type\":{\"type\":\"string\",\"enum\":[\"file\",\"directory\",\"symlink\",\"other\"]},"
				 "\"size\":{\"type\":\"integer\"},\"mtime\":{\"type\":\"string\"}},\"required\":[\"path\",\"type\"]}},"
				 "\"count\":{\"type\":\"integer\"}," STOP_SCHEMA "},"
				 "\"required\":[\"pattern\",\"matches\",\"count\",\"truncated\"]}",
		.read_only = true,
		.idempotent = true,
		.run = glob_run,
	},
	{ 0 },
};
