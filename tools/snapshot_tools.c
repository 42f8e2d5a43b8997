/*
 * session_snapshot, session_restore, snapshot_list, snapshot_info,
 * snapshot_delete, snapshot_diff, and session_create {snapshot_id} (with
 * session_tools.c): workspaces as commits in one object store
 * (sessions/snapshot.h). The git work runs on libuv's thread pool; the loop
 * only books the results.
 */
#include "tool.h"
#include "../sessions/quota.h"
#include "../sessions/run.h"
#include "../sessions/catalog.h"
#include "../sessions/snapshot.h"
#include "../sessions/workspace.h"
#include "../server/base/json_out.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>

/* nftw's callback takes no argument: the sandbox ids (the same for every tree) */
static uid_t tree_uid;
static gid_t tree_gid;

enum job_kind { JOB_TAKE, JOB_RESTORE, JOB_DIFF, JOB_TREE };

/* One piece of git work for the pool, and what the loop does with it after. */
struct job {
	uv_work_t req;
	enum job_kind kind;
	struct tool_call *call;
	struct sess_session *sess;	/* held */
	struct sess_snap *snap;		/* restore/diff from it (in_use held for restore) */
	struct snap_store *store;
	char *workspace, *index, *parent, *snap_id, *commit, *to_commit;
	uint64_t max_bytes;		/* take: the workspace's; diff: one line diff's memory */
	bool restart;			/* restore: start the session again after */
	struct snap_result res;
	json_t *diff;
	struct err *err;
	void (*after)(struct job *j);
	void *arg;			/* session_create: the new session's call state */
};

static char *index_path(const struct tool_env *env, const char *session_id)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "%s/snapshots/index/%s", env->cfg->data_dir, session_id);
	return buf_detach(&b);
}

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return lchown(path, tree_uid, tree_gid) < 0 ? -1 : 0;
}

/* Thread pool: write the snapshot's tree once, owned by the sandbox user (a
 * sandbox must be able to change what it finds), then publish it by rename. */
static void materialize(struct job *j)
{
	struct stat st;
	struct buf tmp = BUF_INIT;

	if (stat(j->workspace, &st) == 0)
		return; /* another session made it meanwhile */
	/* several sessions may ask for the same tree at once: each builds its own
	 * copy under a unique name, the first rename wins, the others are dropped */
	char *unique = random_id(".tmp-", 8);
	buf_addf(&tmp, "%s%s", j->workspace, unique);
	free(unique);
	if (snap_materialize(j->store, j->commit, tmp.data, &j->err) == 0) {
		if (nftw(tmp.data, chown_entry, 32, FTW_PHYS) < 0)
			err_set(&j->err, errno, "cannot hand the snapshot tree to the sandbox user");
		else if (rename(tmp.data, j->workspace) < 0 && errno != EEXIST && errno != ENOTEMPTY)
			err_set(&j->err, errno, "cannot publish the snapshot tree");
	}
	sess_ws_remove_at(AT_FDCWD, tmp.data, NULL);
	buf_release(&tmp);
}

static void job_run(uv_work_t *req)
{
	struct job *j = req->data;
	switch (j->kind) {
	case JOB_TAKE:
		snap_take(j->store, j->workspace, j->index, j->parent, j->snap_id, "mcpbox snapshot",
			  j->max_bytes, &j->res, &j->err);
		break;
	case JOB_RESTORE:
		snap_restore(j->store, j->commit, j->workspace, j->index, &j->err);
		break;
	case JOB_DIFF:
		snap_diff(j->store, j->commit, j->to_commit, j->to_commit ? NULL : j->workspace, j->max_bytes, &j->diff,
			  &j->err);
		break;
	case JOB_TREE:
		materialize(j);
		break;
	}
	/* the engine hashed with OpenSSL on this pool thread: free its per-thread
	   state now, as pool threads outlive OpenSSL's clean-up at exit */
	OPENSSL_thread_stop();
}

static void job_free(struct job *j)
{
	if (j->sess)
		sess_put(j->sess);
	free(j->workspace);
	free(j->index);
	free(j->parent);
	free(j->snap_id);
	free(j->commit);
	free(j->to_commit);
	json_decref(j->diff);
	err_free(j->err);
	free(j);
}

static void job_done(uv_work_t *req, int status)
{
	struct job *j = req->data;
	j->after(j);
	job_free(j);
}

/* The store, opening it on first use; finishes the call when it cannot be opened. */
static bool store_or_fail(struct tool_call *call)
{
	auto_err struct err *err = NULL;
	if (call->env->snapshots(&err))
		return true;
	tool_fail_as(call, ERR_UNAVAILABLE, "snapshots are unavailable: %s", err ? err_text(err) : "cannot open the store");
	return false;
}

static struct job *job_new(struct tool_call *call, enum job_kind kind, struct sess_session *s)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->req.data = j;
	j->kind = kind;
	j->call = call;
	j->store = call->env->snapshots(NULL); /* the tools check it first (store_or_fail) */
	if (s) {
		j->sess = s;
		sess_hold(s);
		j->workspace = xstrdup(s->workspace);
		j->index = index_path(call->env, s->id);
	}
	return j;
}

static void job_queue(struct job *j)
{
	srv_pool_queue(j->call ? j->call->principal : NULL, &j->req, job_run, job_done);
}

static json_t *snap_json(const struct sess_snap *sn)
{
	json_t *o = json_pack("{s:s, s:s, s:O, s:s, s:I, s:I, s:o, s:b}", "snapshot_id", sn->id, "session_id",
			      sn->session_id, "labels", sn->labels, "commit", sn->commit, "files",
			      (json_int_t)sn->files, "bytes", (json_int_t)sn->bytes, "created_at",
			      tool_json_time(sn->created_at), "in_use", sn->in_use > 0);
	if (sn->name)
		json_object_set_new(o, "name", json_string(sn->name));
	if (sn->parent[0])
		json_object_set_new(o, "parent", json_string(sn->parent));
	return o;
}

static void reply_json(struct tool_call *call, json_t *sc, const char *lead)
{
	char *dump = srv_json_dumps(sc);
	struct buf text = BUF_INIT;
	if (lead)
		buf_addf(&text, "%s\n", lead);
	buf_adds(&text, dump);
	free(dump);
	tool_ok(call, sc, text.data);
	buf_release(&text);
}

/* A session named by session_id (in any state), or the connection's default one. */
static struct sess_session *target_session(struct tool_call *call, bool required)
{
	const char *id = tool_arg_str(call, "session_id", NULL);
	struct sess_session *s = NULL;

	if (id)
		s = sess_find(call->env->sessions, id, call->principal);
	else if (!required && call->conn->implicit_session)
		s = sess_find(call->env->sessions, call->conn->implicit_session, call->principal);
	if (!s)
		tool_fail_as(call, ERR_NOT_FOUND, id ? "session \"%s\" not found (argument session_id)"
				   : "this connection has no session yet: pass session_id%s", id ? id : "");
	return s;
}

/* ---- session_snapshot ---- */

static void took(struct job *j)
{
	struct tool_call *call = j->call;
	struct sess_session *s = j->sess;

	s->snap_busy = false;
	if (j->err) {
		tool_fail_err(call, j->err, "session_snapshot");
		return;
	}
	/* Its size is known only now, and the key's other snapshots may have landed
	   meanwhile: one past the quota goes again (its objects with the next gc). */
	struct sess_held add = { .snapshots = 1, .snapshot_bytes = j->res.bytes };
	auto_err struct err *qerr = NULL, *derr = NULL;
	if (sess_quota_check(call->env->sessions, call->principal, &add, &qerr) < 0) {
		if (snap_delete(call->env->snapshots(NULL), j->snap_id, &derr) < 0)
			log_warn("snapshot %s over its key's quota could not be deleted: %s", j->snap_id, err_text(derr));
		tool_fail_err(call, qerr, "session_snapshot");
		return;
	}
	struct sess_snap tmpl = {
		.id = j->snap_id,
		.owner = (char *)call->principal,
		.session_id = s->id,
		.name = (char *)tool_arg_str(call, "name", NULL),
		.labels = json_object_get(call->args, "labels"),
		.files = j->res.files,
		.bytes = j->res.bytes,
		.created_at = wall_ms(),
	};
	memcpy(tmpl.commit, j->res.commit, sizeof(tmpl.commit));
	if (j->parent)
		snprintf(tmpl.parent, sizeof(tmpl.parent), "%s", j->parent);
	struct sess_snap *sn = sess_snap_add(call->env->sessions, &tmpl);
	free(s->last_snapshot);
	s->last_snapshot = xstrdup(j->res.commit);
	sess_audit(call->env->sessions, call->principal, "snapshot.create", sn->id, s->id);
	json_t *sc = snap_json(sn);
	json_object_set_new(sc, "duration_ms", json_integer((json_int_t)j->res.duration_ms));
	json_object_set_new(sc, "hashed_files", json_integer((json_int_t)j->res.hashed_files));
	reply_json(call, sc, "snapshot taken");
}

static void snapshot_take(struct tool_call *call, struct sess_session *s)
{
	if (s->snap_busy) {
		tool_fail_as(call, ERR_CONFLICT, "session %s: a snapshot or restore is already running; try again when it ends", s->id);
		return;
	}
	struct sess_held one = { .snapshots = 1, .snapshot_bytes = 1 };
	auto_err struct err *err = NULL;
	if (sess_quota_check(call->env->sessions, call->principal, &one, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	struct job *j = job_new(call, JOB_TAKE, s);
	char *id = random_id("snap_", 8);
	j->snap_id = id;
	j->parent = s->last_snapshot ? xstrdup(s->last_snapshot) : NULL;
	j->max_bytes = call->env->cfg->workspace_bytes;
	j->after = took;
	s->snap_busy = true;
	job_queue(j);
}

static void session_snapshot_run(struct tool_call *call)
{
	if (!store_or_fail(call))
		return;
	if (json_object_get(call->args, "session_id")) {
		struct sess_session *s = target_session(call, true);
		if (s)
			snapshot_take(call, s);
		return;
	}
	tool_with_session(call, snapshot_take);
}

/* ---- session_restore ---- */

static void restarted(void *arg, struct sess_session *s, struct err *err)
{
	struct tool_call *call = arg;
	if (err) {
		tool_fail_err(call, err, "session_restore: the workspace was restored but the session did not start");
		err_free(err);
		return;
	}
	json_t *sc = json_pack("{s:s, s:s, s:s}", "session_id", s->id, "snapshot_id",
			       tool_arg_str(call, "snapshot_id", ""), "status", sess_state_name(s->state));
	reply_json(call, sc, "restored");
}

static void restored(struct job *j)
{
	struct tool_call *call = j->call;
	struct sess_session *s = j->sess;
	auto_err struct err *err = NULL;

	s->snap_busy = false;
	if (j->err) {
		tool_fail_err(call, j->err, "session_restore");
		return;
	}
	free(s->last_snapshot);
	s->last_snapshot = xstrdup(j->commit);
	sess_audit(call->env->sessions, call->principal, "session.restore", s->id, tool_arg_str(call, "snapshot_id", ""));
	if (j->restart && s->state != SESS_DELETED) {
		if (sess_start(s, &err) < 0) {
			tool_fail_err(call, err, "session_restore");
			return;
		}
		sess_when_ready(s, restarted, call);
		return;
	}
	restarted(call, s, NULL);
}

static void session_restore_run(struct tool_call *call)
{
	if (!store_or_fail(call))
		return;
	struct sess_session *s = target_session(call, true);
	const char *snap_id = tool_arg_str(call, "snapshot_id", "");
	auto_err struct err *err = NULL;
	struct sess_snap *sn;

	if (!s)
		return;
	sn = sess_snap_find(call->env->sessions, snap_id, call->principal);
	if (!sn) {
		tool_fail_as(call, ERR_NOT_FOUND, "snapshot \"%s\" not found (argument snapshot_id)", snap_id);
		return;
	}
	if (s->snap_busy || s->state == SESS_CREATING) {
		tool_fail_as(call, ERR_CONFLICT, "session %s is busy (%s); try again", s->id,
			  s->snap_busy ? "a snapshot or restore runs" : "it is starting");
		return;
	}
	struct job *j = job_new(call, JOB_RESTORE, s);
	j->commit = xstrdup(sn->commit);
	j->after = restored;
	/* processes first: a restore under running programs would race them */
	if (s->state == SESS_RUNNING && !tool_arg_bool(call, "keep_processes", false)) {
		if (sess_stop(s, &err) < 0) {
			job_free(j);
			tool_fail_err(call, err, "session_restore");
			return;
		}
		j->restart = true;
	} else if (s->state == SESS_RUNNING) {
		sess_run_drop_spare(s);	/* it started on the files being replaced */
	}
	s->snap_busy = true;
	job_queue(j);
}

/* ---- session_create {snapshot_id}: called from session_tools.c ---- */

struct from_snap {
	struct tool_call *call;
	struct sess_snap *snap;		/* in_use held */
	void (*reply)(struct tool_call *call, struct sess_session *s);
};

static void filled(struct job *j)
{
	struct from_snap *fs = j->arg;
	struct tool_call *call = j->call;
	struct sess_session *s = j->sess;

	fs->snap->in_use--;
	s->snap_busy = false;
	if (j->err) {
		tool_fail_err(call, j->err, "session_create: cannot fill the workspace from snapshot %s", fs->snap->id);
		sess_destroy(s);
	} else {
		free(s->last_snapshot);
		s->last_snapshot = xstrdup(j->commit);
		fs->reply(call, s);
	}
	free(fs);
}

void tool_fill_from_snapshot(struct tool_call *call, struct sess_session *s, struct sess_snap *sn,
			     void (*reply)(struct tool_call *call, struct sess_session *s))
{
	struct from_snap *fs = xcalloc(1, sizeof(*fs));
	struct job *j = job_new(call, JOB_RESTORE, s);

	fs->call = call;
	fs->snap = sn; /* the caller raised in_use */
	fs->reply = reply;
	j->commit = xstrdup(sn->commit);
	j->after = filled;
	j->arg = fs;
	free(s->source_snapshot);
	s->source_snapshot = xstrdup(sn->id);
	s->snap_busy = true;
	job_queue(j);
}

struct tree_wait {
	struct sess_snap *snap;
	void (*cont)(struct tool_call *call, struct sess_snap *sn, const char *tree);
};

static void tree_ready(struct job *j)
{
	struct tree_wait *tw = j->arg;
	if (j->err) {
		tw->snap->in_use--;
		tool_fail_err(j->call, j->err, "session_create: cannot prepare snapshot %s", tw->snap->id);
	} else {
		tw->cont(j->call, tw->snap, j->workspace);
	}
	free(tw);
}

void tool_snapshot_tree(struct tool_call *call, struct sess_snap *sn,
			void (*cont)(struct tool_call *call, struct sess_snap *sn, const char *tree))
{
	if (!store_or_fail(call)) {
		sn->in_use--;
		return;
	}
	const struct sess_host_info *host = sess_registry_host(call->env->sessions);
	struct stat st;

	if (!host->root) {
		cont(call, sn, NULL); /* no overlays without root: fill by restore */
		return;
	}
	auto_free char *tree = sess_tree_path(call->env->sessions, sn->commit);
	if (stat(tree, &st) == 0) {
		cont(call, sn, tree);
		return;
	}
	struct job *j = job_new(call, JOB_TREE, NULL);
	struct tree_wait *tw = xcalloc(1, sizeof(*tw));
	tw->snap = sn;
	tw->cont = cont;
	j->arg = tw;
	j->workspace = xstrdup(tree); /* the destination */
	j->commit = xstrdup(sn->commit);
	j->after = tree_ready;
	tree_uid = host->sandbox_uid;
	tree_gid = host->sandbox_gid;
	job_queue(j);
}

/* ---- snapshot_list / info / delete / diff ---- */

struct list_ctx {
	json_t *arr;
	json_t *labels;
	const char *session_id;
};

static bool labels_match(json_t *want, json_t *have)
{
	const char *k;
	json_t *v;
	json_object_foreach(want, k, v) {
		if (!json_equal(v, json_object_get(have, k)))
			return false;
	}
	return true;
}

static void list_one(void *arg, struct sess_snap *sn)
{
	struct list_ctx *l = arg;
	if (l->session_id && strcmp(l->session_id, sn->session_id))
		return;
	if (l->labels && !labels_match(l->labels, sn->labels))
		return;
	json_array_append_new(l->arr, snap_json(sn));
}

static void snapshot_list_run(struct tool_call *call)
{
	struct list_ctx l = {
		.arr = json_array(),
		.labels = json_object_get(call->args, "labels"),
		.session_id = tool_arg_str(call, "session_id", NULL),
	};
	sess_snap_foreach(call->env->sessions, call->principal, list_one, &l);
	struct buf text = BUF_INIT;
	size_t i;
	json_t *e;
	json_array_foreach(l.arr, i, e)
		buf_addf(&text, "%s\t%s\t%lld files\t%s\n", json_string_value(json_object_get(e, "snapshot_id")),
			 json_string_value(json_object_get(e, "session_id")),
			 (long long)json_integer_value(json_object_get(e, "files")),
			 json_string_value(json_object_get(e, "created_at")));
	if (!text.len)
		buf_adds(&text, "no snapshots\n");
	tool_ok(call, json_pack("{s:o}", "snapshots", l.arr), text.data);
	buf_release(&text);
}

static struct sess_snap *named_snap(struct tool_call *call, const char *arg)
{
	const char *id = tool_arg_str(call, arg, "");
	struct sess_snap *sn = sess_snap_find(call->env->sessions, id, call->principal);
	if (!sn)
		tool_fail_as(call, ERR_NOT_FOUND, "snapshot \"%s\" not found (argument %s)", id, arg);
	return sn;
}

static void snapshot_info_run(struct tool_call *call)
{
	struct sess_snap *sn = named_snap(call, "snapshot_id");
	if (sn)
		reply_json(call, snap_json(sn), NULL);
}

static void snapshot_delete_run(struct tool_call *call)
{
	struct sess_snap *sn = named_snap(call, "snapshot_id");
	auto_err struct err *err = NULL;

	if (!sn)
		return;
	if (sn->in_use) {
		tool_fail_as(call, ERR_CONFLICT, "snapshot %s is in use: a session is being created from it; try again", sn->id);
		return;
	}
	if (!store_or_fail(call))
		return;
	if (snap_delete(call->env->snapshots(NULL), sn->id, &err) < 0 && err->errnum != ENOENT) {
		tool_fail_err(call, err, "snapshot_delete");
		return;
	}
	json_t *sc = json_pack("{s:s, s:b}", "snapshot_id", sn->id, "deleted", 1);
	sess_audit(call->env->sessions, call->principal, "snapshot.delete", sn->id, NULL);
	sess_snap_remove(call->env->sessions, sn);
	reply_json(call, sc, "deleted");
}

static void diffed(struct job *j)
{
	struct tool_call *call = j->call;
	if (j->err) {
		tool_fail_err(call, j->err, "snapshot_diff");
		return;
	}
	json_t *sc = json_incref(j->diff);
	struct buf text = BUF_INIT;
	static const char *const kinds[] = { "added", "modified", "deleted" };
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(sc, kinds[k]), i, e)
			buf_addf(&text, "%c %s%s\n", kinds[k][0] == 'a' ? 'A' : kinds[k][0] == 'm' ? 'M' : 'D',
				 json_string_value(json_object_get(e, "path")),
				 json_is_true(json_object_get(e, "too_large")) ? " (too large for a line diff)" : "");
	}
	json_t *total = json_object_get(sc, "total");
	if (total) {
		json_int_t all = json_integer_value(json_object_get(total, "added")) +
				 json_integer_value(json_object_get(total, "modified")) +
				 json_integer_value(json_object_get(total, "deleted"));
		size_t listed = 0;
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
			listed += json_array_size(json_object_get(sc, kinds[k]));
		buf_addf(&text, "... %" JSON_INTEGER_FORMAT " changes in all, the first %zu listed (a diff lists at "
			 "most %u, with %u KiB of paths)\n", all, listed, SNAP_DIFF_LIST, SNAP_DIFF_LIST_BYTES >> 10);
	}
	if (!text.len)
		buf_adds(&text, "no differences\n");
	tool_ok(call, sc, text.data);
	buf_release(&text);
}

static void snapshot_diff_run(struct tool_call *call)
{
	if (!store_or_fail(call))
		return;
	struct sess_snap *from = named_snap(call, "from");
	struct sess_snap *to = NULL;
	struct sess_session *s = NULL;

	if (!from)
		return;
	if (json_object_get(call->args, "to")) {
		if (!(to = named_snap(call, "to")))
			return;
	} else {
		/* the live workspace: of session_id, else of the snapshot's own session */
		const char *sid = tool_arg_str(call, "session_id", from->session_id);
		s = sess_find(call->env->sessions, sid, call->principal);
		if (!s) {
			tool_fail_as(call, ERR_NOT_FOUND, "snapshot_diff: session \"%s\" not found; pass \"to\" (a snapshot) or a "
					"session_id", sid);
			return;
		}
	}
	struct job *j = job_new(call, JOB_DIFF, s);
	j->commit = xstrdup(from->commit);
	j->to_commit = to ? xstrdup(to->commit) : NULL;
	j->max_bytes = call->env->cfg->diff_memory;
	j->after = diffed;
	job_queue(j);
}

#define SNAP_OUT "{\"type\":\"object\",\"properties\":{\"snapshot_id\":{\"type\":\"string\"}," \
	"\"session_id\":{\"type\":\"string\"},\"files\":{\"type\":\"integer\"},\"bytes\":{\"type\":\"integer\"}}}"
#define LABELS "\"labels\":" TOOL_LABELS_SCHEMA

const struct tool_def tool_snapshot_defs[] = {
	{
		.name = "session_snapshot",
		.title = "Snapshot a workspace",
		.description = "Record the session's /workspace (files, modes, symlinks, empty directories) as a "
			       "snapshot. Later snapshots of the same session are incremental. Restore it with "
			       "session_restore, or start new sessions from it with session_create {snapshot_id}.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				"\"name\":{\"type\":\"string\",\"maxLength\":200}," LABELS "},\"additionalProperties\":false}",
		.output_schema = SNAP_OUT,
		.run = session_snapshot_run,
	},
	{
		.name = "session_restore",
		.title = "Restore a snapshot",
		.description = "Make the session's /workspace exactly the snapshot (files added since are removed). "
			       "Running processes are killed first (the sandbox restarts) unless keep_processes.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				"\"snapshot_id\":{\"type\":\"string\"},\"keep_processes\":{\"type\":\"boolean\"}},"
				"\"required\":[\"session_id\",\"snapshot_id\"],\"additionalProperties\":false}",
		.destructive = true,
		.run = session_restore_run,
	},
	{
		.name = "snapshot_list",
		.title = "List snapshots",
		.description = "The caller's snapshots, optionally of one session or with given labels.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"}," LABELS
				"},\"additionalProperties\":false}",
		.read_only = true,
		.idempotent = true,
		.run = snapshot_list_run,
	},
	{
		.name = "snapshot_info",
		.title = "Snapshot details",
		.description = "One snapshot: its session, commit, files, bytes, labels.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"snapshot_id\":{\"type\":\"string\"}},"
				"\"required\":[\"snapshot_id\"],\"additionalProperties\":false}",
		.output_schema = SNAP_OUT,
		.read_only = true,
		.idempotent = true,
		.run = snapshot_info_run,
	},
	{
		.name = "snapshot_delete",
		.title = "Delete a snapshot",
		.description = "Forget a snapshot (refused while a session is being created from it). Its data "
			       "goes at the next repack unless other snapshots share it.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"snapshot_id\":{\"type\":\"string\"}},"
				"\"required\":[\"snapshot_id\"],\"additionalProperties\":false}",
		.destructive = true,
		.idempotent = true,
		.run = snapshot_delete_run,
	},
	{
		.name = "snapshot_diff",
		.title = "Compare snapshots",
		.description = "Added, modified and deleted paths (with line counts) from snapshot `from` to "
			       "snapshot `to`, or to a session's live workspace when `to` is absent.",
		.input_schema = "{\"type\":\"object\",\"properties\":{\"from\":{\"type\":\"string\"},"
				"\"to\":{\"type\":\"string\"},\"session_id\":{\"type\":\"string\"}},"
				"\"required\":[\"from\"],\"additionalProperties\":false}",
		.read_only = true,
		.run = snapshot_diff_run,
	},
	{ 0 },
};
