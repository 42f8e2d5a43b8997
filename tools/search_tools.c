/*
 * glob and grep: finding files and text in the session workspace. The walk
 * and the search run on libuv's thread pool (tools/search.h), beneath a
 * directory fd opened on the loop through sessions/workspace.h, so nothing
 * outside /workspace can be reached; a caller that gives up stops them
 * (tool_on_cancel), and so does the time bound.
 */
#include "tool.h"
#include "glob.h"
#include "literal.h"
#include "search.h"
#include "../sessions/workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <regex.h>
#include <string.h>
#include <sys/stat.h>

#define SEARCH_TIME_MS 20000		/* a walk or search stops (truncated) after this */
#define SEARCH_MAX_ENTRIES 200000	/* entries a walk visits at most */
#define GLOB_DEFAULT_RESULTS 1000
#define GLOB_MAX_RESULTS 10000
/* Bytes of paths (glob) or of paths and lines as the text shows them (grep)
   that a result holds: the sandbox names its files, up to 4 KiB a path. */
#define SEARCH_MAX_BYTES (4u << 20)

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
	char *error;		/* or, made by work instead, why the call failed */
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

	if (j->error)
		tool_fail(j->call, "%s", j->error);
	else
		tool_ok(j->call, j->sc, j->text.data ? j->text.data : "");
	free(j->error);
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

/* Run work on the thread pool for call in session s, beneath fd (taken over). */
static void search_start(struct tool_call *call, struct sess_session *s, const char *rel, int fd,
			 void (*work)(struct search_job *j), void *state, void (*state_free)(void *state))
{
	struct search_job *j = xcalloc(1, sizeof(*j));
	j->rootfd = fd;
	j->work = work;
	j->state = state;
	j->state_free = state_free;
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
	srv_pool_queue(call->principal, &j->req, search_run, search_done);
}

/* Why a search stopped early, or NULL: ctl's reasons first. */
static const char *stop_reason(struct search_job *j, bool limit, bool too_big, bool walk_truncated)
{
	if (atomic_load(&j->ctl.cancelled))
		return "cancelled";
	if (atomic_load(&j->ctl.timed_out))
		return "time";
	if (limit)
		return "max_results";
	if (too_big)
		return "bytes";
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
	else if (!strcmp(reason, "bytes"))
		buf_addf(text, "[truncated: first %zu results shown: a result holds at most %u bytes of paths (and "
			 "grep's lines); narrow the path or the pattern]\n", shown, SEARCH_MAX_BYTES);
	else if (!strcmp(reason, "walk"))
		buf_addf(text, "[truncated: the tree has more than %d entries or %d levels, or names over %u bytes in "
			 "the directories walked at once; narrow the path]\n", SEARCH_MAX_ENTRIES, TOOL_WALK_MAX_DEPTH,
			 TOOL_WALK_MAX_NAME_BYTES);
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
	size_t path_bytes;	/* of the matches' paths */
	bool more;		/* a match beyond max was seen */
	bool too_big;		/* stopped at SEARCH_MAX_BYTES of paths */
};

static void glob_state_free(void *arg)
{
	struct glob_state *st = arg;
	tool_glob_free(st->g);
	json_decref(st->matches);
	free(st);
}

/* Newest first; equal times by path. */
static int cmp_mtime(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(y, "mtime")), json_string_value(json_object_get(x, "mtime")));
	return c ? c : strcmp(json_string_value(json_object_get(x, "path")), json_string_value(json_object_get(y, "path")));
}

/* Keep the newest st->max matches (sorted newest first); more says if any went. */
static void glob_keep_newest(struct glob_state *st)
{
	size_t n = json_array_size(st->matches);
	json_t *m;
	size_t i;
	tool_json_sort(st->matches, cmp_mtime);
	while (json_array_size(st->matches) > st->max)
		json_array_remove(st->matches, json_array_size(st->matches) - 1);
	st->path_bytes = 0;
	json_array_foreach(st->matches, i, m)
		st->path_bytes += strlen(json_string_value(json_object_get(m, "path")));
	st->more |= n > st->max;
}

/* May a match of a path of len bytes be kept? Sorted by mtime, every match
   is a candidate until the walk ends: past twice max of them, or the bytes
   bound, only the newest max are kept. False (too_big) when even those
   would pass SEARCH_MAX_BYTES. */
static bool glob_room(struct glob_state *st, size_t len)
{
	if (st->by_mtime && (json_array_size(st->matches) >= 2 * st->max || st->path_bytes + len > SEARCH_MAX_BYTES))
		glob_keep_newest(st);
	if (st->path_bytes + len <= SEARCH_MAX_BYTES)
		return true;
	st->too_big = true;
	return false;
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
			if (!glob_room(st, gw->path.len))
				return TOOL_WALK_HALT;
			st->path_bytes += gw->path.len;
			json_array_append_new(st->matches,
					      json_pack("{s:o, s:s, s:I, s:o}", "path", tool_json_text(gw->path.data, gw->path.len),
							"type", dir ? "directory" : S_ISREG(sb.st_mode) ? "file"
							: S_ISLNK(sb.st_mode) ? "symlink" : "other",
							"size", (json_int_t)sb.st_size, "mtime", time_of(&sb)));
		}
	}
	return dir && tool_glob_could_match_below(st->g, e->path) ? TOOL_WALK_DESCEND : TOOL_WALK_NEXT;
}

static void glob_work(struct search_job *j)
{
	struct glob_state *st = j->state;
	struct glob_walk gw = { .j = j, .st = st, .path = BUF_INIT };
	struct tool_walk_stats ws;

	tool_walk(j->rootfd, &j->ctl, SEARCH_MAX_ENTRIES, glob_visit, &gw, &ws);
	buf_release(&gw.path);
	if (st->by_mtime)
		glob_keep_newest(st);
	size_t n = json_array_size(st->matches);
	const char *reason = stop_reason(j, st->more, st->too_big, ws.truncated && !st->more && !st->too_big);
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
	search_start(call, s, rel, fd, glob_work, st, glob_state_free);
}

static void glob_run(struct tool_call *call) { tool_with_session(call, glob_run_s); }

/* ---- grep --------------------------------------------------------------- */

#define GREP_DEFAULT_RESULTS 100
#define GREP_SHOW_MAX 500	/* bytes of a line shown */
#define GREP_BOUNDS_MAX 1000	/* product of a pattern's {n,m} bounds */
#define GREP_PATTERN_MAX "1024"	/* bytes of a pattern: regcomp's time and memory grow with its cube */
#define GREP_LINE_MAX 8192	/* a longer line is matched in pieces of this size */

#define GREP_RING 32		/* files queued, being searched, or searched and waiting for their turn */
#define GREP_HELPER_AFTER 4	/* a second thread starts once this many files wait */
#define GREP_BATCH 8		/* an idle helper is woken once this many files wait (not for each) */
#define GREP_HELD_MAX 20000	/* lines (matches and their context) files after the first unmerged one may hold */

/* A directory of queued files: a dup of the walk's fd, closed by whoever
   drops the last reference (under the state's mu). */
struct grep_dir {
	int fd;
	int refs;
};

/* One file to search; its results wait in the ring until every file before
   it is merged, so they come out in path order whichever thread searched it. */
struct grep_item {
	size_t seq;
	struct grep_dir *dir;	/* NULL: the call's path is this file (the job's rootfd) */
	char *name, *shown;
	json_t *matches;	/* this file's, at most max + 1, and one past SEARCH_MAX_BYTES */
	size_t held;		/* lines of matches counted in the state's held */
	size_t held_bytes;	/* and their bytes (grep_match_bytes), in held_bytes */
	bool searched, binary, large, done;
};

struct grep_state;

/* A searching thread's own: its regex (glibc serialises regexec on one
   regex_t) and reused buffers. */
struct grep_scan {
	struct grep_state *st;
	regex_t *re;
	struct buf data;
	size_t *starts, starts_cap;	/* line starts of the buffer searched */
	struct grep_item *item;		/* being searched */
};

/* One call. The matcher and the arguments are fixed once the job starts;
   the ring and the result belong to whoever holds mu. */
struct grep_state {
	regex_t re;		/* the walking thread's */
	bool has_re;		/* re is compiled */
	char *re_src;		/* what re was compiled from, with re_flags (for the helper's own) */
	int re_flags;
	struct tool_lit lit;	/* a string every matching line holds ... */
	bool has_lit;		/* ... if there is one */
	bool lit_only;		/* holding it is matching (a fixed string): no regex */
	struct tool_glob **inc, **exc;
	size_t ninc, nexc;
	int before, after;
	size_t max, cap;
	struct search_job *j;
	struct grep_scan scan;	/* the walking thread's */
	struct buf path;	/* the walking thread's */
	struct grep_dir *dir;	/* the walk's current directory, and its dir_seq */
	unsigned long dir_seq;

	pthread_mutex_t mu;
	pthread_cond_t cv;	/* a file was queued, finished or merged, or the search stops */
	unsigned waiting;	/* threads in pthread_cond_wait(cv): nobody waits, nobody is woken */
	bool helper_idle;	/* the helper waits for files: woken once GREP_BATCH are queued */
	struct grep_item ring[GREP_RING];
	size_t head, next, tail;	/* first not merged, first not taken, next to queue */
	size_t held;		/* lines held by files after head */
	size_t held_bytes;	/* their bytes: files after head add none past SEARCH_MAX_BYTES */
	bool closed;		/* no more files come */
	atomic_bool halt;	/* stop: enough results, cancelled or out of time */
	bool helper_started, helper_running;
	pthread_t helper;
	json_t *matches;	/* the merged result, in path order */
	size_t bytes;		/* its grep_match_bytes, at most SEARCH_MAX_BYTES */
	bool more, too_big;
	size_t files, binary, large;
};

static void grep_scan_release(struct grep_scan *sc)
{
	buf_release(&sc->data);
	free(sc->starts);
}

static void grep_dir_put(struct grep_dir *d)
{
	if (d && --d->refs == 0) {
		close(d->fd);
		free(d);
	}
}

static void grep_item_release(struct grep_item *it)
{
	grep_dir_put(it->dir);
	free(it->name);
	free(it->shown);
	json_decref(it->matches);
	*it = (struct grep_item){ 0 };
}

static void grep_state_free(void *arg)
{
	struct grep_state *st = arg;
	if (st->has_re)
		regfree(&st->re);
	if (st->has_lit)
		tool_lit_release(&st->lit);
	free(st->re_src);
	for (size_t i = 0; i < st->ninc; i++)
		tool_glob_free(st->inc[i]);
	for (size_t i = 0; i < st->nexc; i++)
		tool_glob_free(st->exc[i]);
	free(st->inc);
	free(st->exc);
	for (size_t s = st->head; s < st->tail; s++)
		grep_item_release(&st->ring[s % GREP_RING]);
	grep_dir_put(st->dir);
	json_decref(st->matches);
	grep_scan_release(&st->scan);
	buf_release(&st->path);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}

/* The product of a regex's repetition bounds ({n}, {n,m}): glibc's regcomp
   copies the repeated part that many times, so nested bounds would take
   the loop thread's time and memory. */
static double bounds_product(const char *re)
{
	double prod = 1;
	for (const char *p = re; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p != '{')
			continue;
		char *end;
		unsigned long a = strtoul(p + 1, &end, 10), b = a;
		if (*end == ',')
			b = end[1] == '}' ? a : strtoul(end + 1, &end, 10);
		prod *= (double)(a > b ? a : b) + 1;
	}
	return prod;
}

/* A glob without "/" is matched against the name alone. */
static bool any_glob(struct tool_glob **g, size_t n, const char *path, const char *name, bool dir)
{
	for (size_t i = 0; i < n; i++)
		if (tool_glob_match(g[i], tool_glob_has_slash(g[i]) ? path : name, dir))
			return true;
	return false;
}

static bool line_matches(struct grep_scan *sc, const char *p, size_t n)
{
	struct grep_state *st = sc->st;
	if (st->lit_only)	/* a line may hold it only across its '\n' */
		return memmem(p, n, st->lit.s, st->lit.len) != NULL;
	for (size_t off = 0;; off += GREP_LINE_MAX - 256) {
		size_t len = n - off < GREP_LINE_MAX ? n - off : GREP_LINE_MAX;
		regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)len };
		if (regexec(sc->re, p + off, 1, &m, REG_STARTEND | (off ? REG_NOTBOL : 0) |
			    (off + len < n ? REG_NOTEOL : 0)) == 0)
			return true;
		if (off + len >= n)
			return false;
	}
}

static json_t *line_json(const char *p, size_t n)
{
	if (n && p[n - 1] == '\r')
		n--;
	return tool_json_text(p, n > GREP_SHOW_MAX ? GREP_SHOW_MAX : n);
}

/* Wait on cv (mu held), counted so that nobody is woken for nothing. */
static void grep_wait(struct grep_state *st)
{
	st->waiting++;
	pthread_cond_wait(&st->cv, &st->mu);
	st->waiting--;
}

/* A match's bytes as its text shows them: the path on each of its lines, and the lines. */
static size_t grep_match_bytes(json_t *m)
{
	size_t plen = strlen(json_string_value(json_object_get(m, "path")));
	size_t n = plen + json_string_length(json_object_get(m, "text")), k;
	json_t *x;
	json_array_foreach(json_object_get(m, "before"), k, x)
		n += plen + json_string_length(x);
	json_array_foreach(json_object_get(m, "after"), k, x)
		n += plen + json_string_length(x);
	return n;
}

/*
 * May the file being searched keep a match of `lines` lines and `bytes`?
 * The first unmerged file always may; a later one waits while later files
 * hold GREP_HELD_MAX lines or SEARCH_MAX_BYTES (its results cannot be used
 * before the first is merged). False when the search stops.
 */
static bool grep_hold(struct grep_scan *sc, size_t lines, size_t bytes)
{
	struct grep_state *st = sc->st;
	pthread_mutex_lock(&st->mu);
	while (sc->item->seq != st->head && (st->held + lines > GREP_HELD_MAX || st->held_bytes + bytes > SEARCH_MAX_BYTES) &&
	       !atomic_load(&st->halt))
		grep_wait(st);
	bool ok = !atomic_load(&st->halt);
	if (ok) {
		st->held += lines;
		sc->item->held += lines;
		st->held_bytes += bytes;
		sc->item->held_bytes += bytes;
	}
	pthread_mutex_unlock(&st->mu);
	return ok;
}

/* Search buffer d, adding matches to the item. Only lines holding the
   literal (if any) are tried: no other line can match. */
static void grep_buffer(struct grep_scan *sc, const char *d, size_t len)
{
	struct grep_state *st = sc->st;
	struct grep_item *it = sc->item;
	size_t nlines = 0, *starts;	/* line starts: numbers and context */
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(d + pos, '\n', len - pos);
		if (nlines == sc->starts_cap)
			sc->starts = xrealloc(sc->starts, (sc->starts_cap = sc->starts_cap ? sc->starts_cap * 2 : 256) * sizeof(*sc->starts));
		sc->starts[nlines++] = pos;
		pos = nl ? (size_t)(nl - d) + 1 : len;
	}
	starts = sc->starts;
	for (size_t i = 0; i < nlines; i++) {
		if (st->has_lit) {
			size_t at = tool_lit_next_line(&st->lit, d, len, starts[i]);
			if (at >= len)
				break;
			while (starts[i] < at)
				i++;
		}
		size_t a = starts[i], b = i + 1 < nlines ? starts[i + 1] : len;
		size_t n = b - a - (b > a && d[b - 1] == '\n');
		if (!st->lit_only && tool_search_stop(&st->j->ctl)) {	/* a line's regexec is the long step */
			atomic_store(&st->halt, true);
			break;
		}
		if (!line_matches(sc, d + a, n))
			continue;
		json_t *m = json_pack("{s:s, s:I, s:o}", "path", it->shown, "line", (json_int_t)(i + 1), "text", line_json(d + a, n));
		if (st->before || st->after) {
			json_t *bef = json_array(), *aft = json_array();
			for (size_t k = i >= (size_t)st->before ? i - (size_t)st->before : 0; k < i; k++) {
				size_t e = starts[k + 1] - 1;
				json_array_append_new(bef, line_json(d + starts[k], e - starts[k]));
			}
			for (size_t k = i + 1; k < nlines && k <= i + (size_t)st->after; k++) {
				size_t e = k + 1 < nlines ? starts[k + 1] : len;
				json_array_append_new(aft, line_json(d + starts[k], e - starts[k] - (e > starts[k] && d[e - 1] == '\n')));
			}
			json_object_set_new(m, "before", bef);
			json_object_set_new(m, "after", aft);
		}
		size_t bytes = grep_match_bytes(m);
		if (!grep_hold(sc, 1 + (size_t)st->before + (size_t)st->after, bytes)) {
			json_decref(m);
			break;
		}
		json_array_append_new(it->matches, m);
		if (json_array_size(it->matches) > st->max || it->held_bytes > SEARCH_MAX_BYTES)
			break;	/* one beyond max or the bytes: enough to know there are more */
	}
}

/* Search the file of sc->item. */
static void grep_file(struct grep_scan *sc)
{
	struct grep_state *st = sc->st;
	struct grep_item *it = sc->item;
	struct stat sb;
	int fd = it->dir ? openat(it->dir->fd, it->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
		 : fcntl(st->j->rootfd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return;
	}
	if ((uint64_t)sb.st_size > st->cap) {
		it->large = true;
		close(fd);
		return;
	}
	it->searched = true;
	sc->data.len = 0;
	for (;;) {
		/* ask for one byte more than the size: a short read then is the end,
		   without the extra read() that would return 0 */
		size_t want = sc->data.len < (size_t)sb.st_size ? (size_t)sb.st_size - sc->data.len + 1 : 65536;
		buf_grow(&sc->data, want);
		ssize_t n = read(fd, sc->data.data + sc->data.len, sc->data.cap - sc->data.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || sc->data.len + (size_t)n > st->cap)
			break;
		sc->data.len += (size_t)n;
		if ((size_t)n < want && sc->data.len >= (size_t)sb.st_size)
			break;
	}
	close(fd);
	if (!sc->data.data)
		return;	/* nothing read */
	if (memchr(sc->data.data, '\0', sc->data.len)) {
		it->binary = true;
		return;
	}
	/* the reads leave a byte: regexec gets a string that ends, whatever
	   REG_STARTEND says (ASan's interceptor measures it with strlen) */
	sc->data.data[sc->data.len] = '\0';
	grep_buffer(sc, sc->data.data, sc->data.len);
}

/* Merge the finished files at the head of the ring, in order (mu held). */
static void grep_merge(struct grep_state *st)
{
	while (st->head < st->tail && st->ring[st->head % GREP_RING].done && !atomic_load(&st->halt)) {
		struct grep_item *it = &st->ring[st->head % GREP_RING];
		json_t *m;
		size_t k;
		st->files += it->searched;
		st->binary += it->binary;
		st->large += it->large;
		json_array_foreach(it->matches, k, m) {
			if (json_array_size(st->matches) >= st->max) {
				st->more = true;
				atomic_store(&st->halt, true);
				break;
			}
			size_t bytes = grep_match_bytes(m);
			if (st->bytes + bytes > SEARCH_MAX_BYTES) {
				st->too_big = true;
				atomic_store(&st->halt, true);
				break;
			}
			st->bytes += bytes;
			json_array_append(st->matches, m);
		}
		st->held -= it->held;
		st->held_bytes -= it->held_bytes;
		grep_item_release(it);
		st->head++;
	}
	if (st->waiting)
		pthread_cond_broadcast(&st->cv);
}

/* Take the next queued file and search it (mu held; released meanwhile). */
static void grep_take(struct grep_scan *sc)
{
	struct grep_state *st = sc->st;
	struct grep_item *it = &st->ring[st->next++ % GREP_RING];

	pthread_mutex_unlock(&st->mu);
	if (tool_search_stop(&st->j->ctl))
		atomic_store(&st->halt, true);
	else {
		sc->item = it;
		grep_file(sc);
		sc->item = NULL;
	}
	pthread_mutex_lock(&st->mu);
	it->done = true;
	grep_merge(st);
}

/* The second searching thread: takes queued files until none come. */
static void *grep_helper(void *arg)
{
	struct grep_state *st = arg;
	struct grep_scan sc = { .st = st, .data = BUF_INIT };
	regex_t re;

	if (st->has_re) {
		if (regcomp(&re, st->re_src, st->re_flags))
			return NULL;	/* out of memory: the walking thread does it all */
		sc.re = &re;
	}
	pthread_mutex_lock(&st->mu);
	while (!atomic_load(&st->halt)) {
		if (st->next < st->tail)
			grep_take(&sc);
		else if (st->closed)
			break;
		else {
			st->helper_idle = true;
			grep_wait(st);
			st->helper_idle = false;
		}
	}
	pthread_mutex_unlock(&st->mu);
	if (st->has_re)
		regfree(&re);
	grep_scan_release(&sc);
	return NULL;
}

static void grep_helper_start(struct grep_state *st)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);	/* signals are the loop thread's */
	st->helper_running = pthread_create(&st->helper, NULL, grep_helper, st) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Queue a file (dir NULL: the job's rootfd); while the ring is full, search
   queued files here. */
static void grep_add(struct grep_state *st, struct grep_dir *dir, const char *name, const char *shown)
{
	pthread_mutex_lock(&st->mu);
	while (!atomic_load(&st->halt) && st->tail - st->head >= GREP_RING) {
		if (st->next < st->tail)
			grep_take(&st->scan);
		else
			grep_wait(st);
	}
	if (!atomic_load(&st->halt)) {
		struct grep_item *it = &st->ring[st->tail % GREP_RING];
		*it = (struct grep_item){ .seq = st->tail, .dir = dir, .name = name ? xstrdup(name) : NULL,
					  .shown = xstrdup(shown), .matches = json_array() };
		if (dir)
			dir->refs++;
		st->tail++;
		if (st->helper_idle && st->tail - st->next >= GREP_BATCH)
			pthread_cond_broadcast(&st->cv);
	}
	bool start = !st->helper_started && st->tail - st->next >= GREP_HELPER_AFTER;
	st->helper_started |= start;
	pthread_mutex_unlock(&st->mu);
	if (start)
		grep_helper_start(st);
}

/* No more files: search what is queued, wait for the helper, merge. */
static void grep_finish(struct grep_state *st)
{
	pthread_mutex_lock(&st->mu);
	st->closed = true;
	pthread_cond_broadcast(&st->cv);
	while (!atomic_load(&st->halt) && st->next < st->tail)
		grep_take(&st->scan);
	pthread_mutex_unlock(&st->mu);
	if (st->helper_running)
		pthread_join(st->helper, NULL);
	pthread_mutex_lock(&st->mu);
	grep_merge(st);
	grep_dir_put(st->dir);
	st->dir = NULL;
	pthread_mutex_unlock(&st->mu);
}

static enum tool_walk_next grep_visit(void *arg, const struct tool_walk_entry *e)
{
	struct grep_state *st = arg;
	bool dir = e->type == DT_DIR;

	if (atomic_load(&st->halt))
		return TOOL_WALK_HALT;
	if (any_glob(st->exc, st->nexc, e->path, e->name, dir))
		return TOOL_WALK_NEXT;
	if (dir)
		return TOOL_WALK_DESCEND;
	if (e->type != DT_REG || (st->ninc && !any_glob(st->inc, st->ninc, e->path, e->name, false)))
		return TOOL_WALK_NEXT;
	if (!st->dir || st->dir_seq != e->dir_seq) {
		int fd = fcntl(e->dirfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return TOOL_WALK_NEXT;
		struct grep_dir *d = xcalloc(1, sizeof(*d));
		d->fd = fd;
		d->refs = 1;	/* the walk's, until it leaves the directory */
		pthread_mutex_lock(&st->mu);
		grep_dir_put(st->dir);
		pthread_mutex_unlock(&st->mu);
		st->dir = d;
		st->dir_seq = e->dir_seq;
	}
	shown_path(&st->path, st->j, e->path);
	grep_add(st, st->dir, e->name, st->path.data);
	return atomic_load(&st->halt) ? TOOL_WALK_HALT : TOOL_WALK_NEXT;
}

/* On the pool: compile st's regex, if it has one; false (j->error set) when it is not valid. */
static bool grep_regcomp(struct search_job *j, struct grep_state *st)
{
	if (!st->re_src || st->lit_only)
		return true;
	int rc = regcomp(&st->re, st->re_src, st->re_flags);
	if (rc) {
		char msg[256];
		regerror(rc, &st->re, msg, sizeof(msg));
		struct buf e = BUF_INIT;
		buf_addf(&e, "argument \"pattern\": not a valid extended regular expression: %s", msg);
		j->error = buf_detach(&e);
		return false;
	}
	st->has_re = true;
	st->scan.re = &st->re;
	return true;
}

static void grep_work(struct search_job *j)
{
	struct grep_state *st = j->state;
	struct tool_walk_stats ws = { 0 };
	struct stat sb;

	st->j = j;
	if (!grep_regcomp(j, st))
		return;
	if (fstat(j->rootfd, &sb) == 0 && S_ISREG(sb.st_mode))
		grep_add(st, NULL, NULL, tool_arg_str(j->call, "path", "."));
	else
		tool_walk(j->rootfd, &j->ctl, SEARCH_MAX_ENTRIES, grep_visit, st, &ws);
	grep_finish(st);
	const char *reason = stop_reason(j, st->more, st->too_big, ws.truncated && !st->more && !st->too_big);
	size_t n = json_array_size(st->matches), i;
	json_t *m;
	json_array_foreach(st->matches, i, m) {
		const char *p = json_string_value(json_object_get(m, "path"));
		int64_t line = json_integer_value(json_object_get(m, "line"));
		json_t *bef = json_object_get(m, "before"), *aft = json_object_get(m, "after"), *x;
		size_t k;
		if (bef || aft)
			buf_adds(&j->text, i ? "--\n" : "");
		json_array_foreach(bef, k, x)
			buf_addf(&j->text, "%s-%lld-%s\n", p, (long long)(line - (int64_t)json_array_size(bef) + (int64_t)k), json_string_value(x));
		buf_addf(&j->text, "%s:%lld:%s\n", p, (long long)line, json_string_value(json_object_get(m, "text")));
		json_array_foreach(aft, k, x)
			buf_addf(&j->text, "%s-%lld-%s\n", p, (long long)(line + 1 + (int64_t)k), json_string_value(x));
	}
	if (!n)
		buf_adds(&j->text, "(no matches)\n");
	if (st->binary || st->large)
		buf_addf(&j->text, "[skipped: %zu binary file%s, %zu over %zu bytes]\n", st->binary, st->binary == 1 ? "" : "s",
			 st->large, st->cap);
	if (reason)
		add_reason_text(&j->text, reason, n);
	j->sc = json_pack("{s:s, s:s, s:O, s:I, s:I, s:I, s:I, s:b}", "pattern", tool_arg_str(j->call, "pattern", ""),
			  "path", tool_arg_str(j->call, "path", "."), "matches", st->matches, "count", (json_int_t)n,
			  "files_searched", (json_int_t)st->files, "binary_skipped", (json_int_t)st->binary,
			  "large_skipped", (json_int_t)st->large, "truncated", reason != NULL);
	if (reason)
		json_object_set_new(j->sc, "reason", json_string(reason));
}

/* Compile the globs of argument name into *out; -1 (call finished) on a bad one. */
static int grep_globs(struct tool_call *call, const char *name, struct tool_glob ***out, size_t *n)
{
	json_t *a = json_object_get(call->args, name), *x;
	size_t i;
	*n = 0;
	*out = xcalloc(json_array_size(a) + 1, sizeof(**out));
	json_array_foreach(a, i, x) {
		auto_err struct err *err = NULL;
		if (tool_glob_compile(json_string_value(x), &(*out)[*n], &err) < 0) {
			tool_fail_err(call, err, "argument \"%s\"", name);
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* Prepare st's matcher for pat; -1 (call finished) when it is refused. A
   fixed string (case-sensitive) is its own literal and needs no regex. The
   regex is compiled on the pool (grep_regcomp): its cost grows with the
   pattern's, up to seconds. */
static int grep_prepare(struct grep_state *st, struct tool_call *call, const char *pat, bool icase, bool fixed)
{
	struct buf re = BUF_INIT;
	auto_free char *lit = NULL;

	if (fixed && !icase && *pat) {
		tool_lit_init(&st->lit, pat, strlen(pat), false);
		st->has_lit = st->lit_only = true;
		return 0;
	}
	if (!fixed && bounds_product(pat) > GREP_BOUNDS_MAX) {
		tool_fail_as(call, ERR_LIMIT, "argument \"pattern\": its repetition bounds ({n,m}) multiply to more "
			     "than %d", GREP_BOUNDS_MAX);
		return -1;
	}
	if (!fixed && tool_re_has_backref(pat)) {
		tool_fail(call, "argument \"pattern\": back-references (\\1 to \\9) are not supported: matching "
			  "them takes time exponential in a line's length");
		return -1;
	}
	for (const char *p = pat; fixed && *p; p++) {	/* a fixed string, case-insensitive: quoted */
		if (strchr(".[]()*+?{}|^$\\", *p))
			buf_addch(&re, '\\');
		buf_addch(&re, *p);
	}
	st->re_src = xstrdup(fixed ? (re.data ? re.data : "") : pat);
	st->re_flags = REG_EXTENDED | REG_NEWLINE | (icase ? REG_ICASE : 0);
	buf_release(&re);
	if ((lit = tool_lit_required(st->re_src))) {
		tool_lit_init(&st->lit, lit, strlen(lit), icase);
		st->has_lit = true;
	}
	return 0;
}

static void grep_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = search_rel(call);
	if (!rel)
		return;
	const char *shown = tool_arg_str(call, "path", ".");
	const char *pat = tool_arg_str(call, "pattern", "");
	bool icase = tool_arg_bool(call, "ignore_case", false), fixed = tool_arg_bool(call, "fixed_strings", false);
	auto_err struct err *err = NULL;
	struct grep_state *st = xcalloc(1, sizeof(*st));

	st->scan = (struct grep_scan){ .st = st, .data = BUF_INIT };
	st->path = (struct buf)BUF_INIT;
	st->matches = json_array();
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	atomic_init(&st->halt, false);
	if (grep_prepare(st, call, pat, icase, fixed) < 0) {
		grep_state_free(st);
		return;
	}
	if (grep_globs(call, "include", &st->inc, &st->ninc) < 0 || grep_globs(call, "exclude", &st->exc, &st->nexc) < 0) {
		grep_state_free(st);
		return;
	}
	st->before = (int)tool_arg_int(call, "before", tool_arg_int(call, "context", 0));
	st->after = (int)tool_arg_int(call, "after", tool_arg_int(call, "context", 0));
	st->max = (size_t)tool_arg_int(call, "max_results", GREP_DEFAULT_RESULTS);
	st->cap = call->env->cfg->read_bytes.def;
	int fd = sess_ws_open(s->wsfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, shown, &err);
	if (fd < 0) {
		grep_state_free(st);
		tool_fail_err(call, err, "grep");
		return;
	}
	search_start(call, s, rel, fd, grep_work, st, grep_state_free);
}

static void grep_run(struct tool_call *call) { tool_with_session(call, grep_run_s); }

#define SESSION_ARG "\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own session.\"}"
#define STOP_SCHEMA "\"truncated\":{\"type\":\"boolean\"}," \
	"\"reason\":{\"type\":\"string\",\"enum\":[\"max_results\",\"bytes\",\"time\",\"walk\",\"cancelled\"]}"

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
	{
		.name = "grep",
		.title = "Search file contents",
		.description = "Search the text of the files of the session workspace for a POSIX extended regular "
			       "expression (or a fixed string), like grep -rn: include/exclude globs (a glob without "
			       "\"/\" matches file names), context lines, max_results. Binary files (a NUL byte), "
			       ".git and symlinks are skipped. Results in file path order.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"pattern\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":" GREP_PATTERN_MAX ",\"description\":\"Extended regular expression (or a fixed string with fixed_strings); no back-references.\"},"
				"\"path\":{\"type\":\"string\",\"description\":\"Directory or file to search; default the workspace root.\"},"
				"\"ignore_case\":{\"type\":\"boolean\"},\"fixed_strings\":{\"type\":\"boolean\"},"
				"\"include\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},\"description\":\"Only files matching one of these globs (\\\"*.py\\\", \\\"src/**/*.c\\\").\"},"
				"\"exclude\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":4096},\"description\":\"Skip files and directories matching one of these globs.\"},"
				"\"context\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":20,\"description\":\"Lines before and after each match.\"},"
				"\"before\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":20},\"after\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":20},"
				"\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2000,\"description\":\"Default 100.\"},"
				SESSION_ARG
				"},\"required\":[\"pattern\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"pattern\":{\"type\":\"string\"},\"path\":{\"type\":\"string\"},"
				 "\"matches\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
				 "\"path\":{\"type\":\"string\"},\"line\":{\"type\":\"integer\"},\"text\":{\"type\":\"string\"},"
				 "\"before\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"after\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}},"
				 "\"required\":[\"path\",\"line\",\"text\"]}},"
				 "\"count\":{\"type\":\"integer\"},\"files_searched\":{\"type\":\"integer\"},"
				 "\"binary_skipped\":{\"type\":\"integer\"},\"large_skipped\":{\"type\":\"integer\"}," STOP_SCHEMA "},"
				 "\"required\":[\"pattern\",\"matches\",\"count\",\"truncated\"]}",
		.read_only = true,
		.idempotent = true,
		.run = grep_run,
	},
	{ 0 },
};
