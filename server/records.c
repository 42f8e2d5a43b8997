#include "records.h"
#include "grants.h"
#include "rest/rest.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/log.h"
#include "../sessions/catalog.h"
#include "../sessions/job.h"
#include "../sessions/workspace.h"
#include "../tools/tool.h"
#include "base/banned.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXECUTIONS_KEPT 1000	/* records (and output files) kept */
#define PRUNE_EVERY 100

/*
 * Executions, snapshots' bookkeeping and audit events go behind the answers
 * (session records are written at once): each event is turned into an owned
 * record and queued; a timer stores the queue in one transaction at most
 * FLUSH_MS later (sooner when it grows long), so busy clients never wait on a
 * commit. A kill -9 can lose the events of the last FLUSH_MS, never half a
 * record.
 */
#define FLUSH_MS 50
#define JOB_SAVE_MS 1000	/* a running job's output to its files at most this often */
#define FLUSH_AT 512
enum pend_kind { PEND_SNAPSHOT, PEND_EXECUTION, PEND_AUDIT, PEND_JOB, PEND_JOB_GONE };

struct pend {
	enum pend_kind kind;
	char *id, *owner, *status, *session_id, *doc;	/* audit: owner=principal, status=action, doc=detail */
	int flag;
	int64_t created_at, updated_at, deleted_at;
	struct pend *next;
};

static struct {
	struct srv_store *st;
	struct pend *head, **tail;
	uv_timer_t flusher;
	uv_timer_t job_saver;		/* running jobs' output to their files */
	unsigned queued;
	bool flusher_on;
	struct sess_registry *reg;
	const struct srv_config *cfg;
	const struct sess_instance *instance;	/* this process's claim on the data directory */
	unsigned since_prune;
	uint64_t audits_since_prune;	/* audit rows stored since everyone's were pruned */
} R;

static void flush_cb(uv_timer_t *h);

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void enqueue(enum pend_kind kind, const struct srv_record *r)
{
	struct pend *p = xcalloc(1, sizeof(*p));
	p->kind = kind;
	p->id = dup_or_null(r->id);
	p->owner = dup_or_null(r->owner);
	p->status = dup_or_null(r->status);
	p->session_id = dup_or_null(r->session_id);
	p->doc = dup_or_null(r->doc);
	p->flag = r->flag;
	p->created_at = r->created_at;
	p->updated_at = r->updated_at;
	p->deleted_at = r->deleted_at;
	*R.tail = p;
	R.tail = &p->next;
	if (++R.queued >= FLUSH_AT)
		srv_records_flush();
	else if (R.flusher_on && !uv_is_active((uv_handle_t *)&R.flusher))
		uv_timer_start(&R.flusher, flush_cb, FLUSH_MS, 0);
}

static void pend_free(struct pend *p)
{
	free(p->id);
	free(p->owner);
	free(p->status);
	free(p->session_id);
	free(p->doc);
	free(p);
}

/* Did an earlier record of the batch up to stop already name owner (its first len bytes)? */
static bool owner_seen(const struct pend *from, const struct pend *stop, const char *owner, size_t len)
{
	for (const struct pend *q = from; q != stop; q = q->next)
		if (q->kind == PEND_AUDIT && srv_principal_owner_len(q->owner) == len && !memcmp(q->owner, owner, len))
			return true;
	return false;
}

/*
 * What the batch from head added past the bounds goes: each owner's audit rows beyond the newest
 * audit_keep_per_key (a flood of one key's calls never pushes out another's history), everyone's beyond
 * audit_keep (checked once a tenth of it came, the walk back costing what it keeps), deleted snapshots'
 * records beyond deleted_keep.
 */
static void prune_batch(const struct pend *head)
{
	const struct srv_config *cfg = R.cfg;
	auto_err struct err *err = NULL;
	unsigned audits = 0;
	bool snaps_deleted = false;

	for (const struct pend *p = head; p; p = p->next) {
		snaps_deleted |= p->kind == PEND_SNAPSHOT && p->deleted_at;
		if (p->kind != PEND_AUDIT)
			continue;
		audits++;
		size_t len = srv_principal_owner_len(p->owner);
		if (!cfg->audit_keep_per_key || owner_seen(head, p, p->owner, len))
			continue;
		auto_free char *owner = xstrndup(p->owner, len);
		if (srv_store_audit_prune(R.st, owner, (unsigned)cfg->audit_keep_per_key, &err) < 0)
			break;
	}
	R.audits_since_prune += audits;
	if (!err && cfg->audit_keep && R.audits_since_prune >= (cfg->audit_keep + 9) / 10) {
		R.audits_since_prune = 0;
		srv_store_audit_prune(R.st, NULL, (unsigned)cfg->audit_keep, &err);
	}
	if (!err && snaps_deleted && cfg->deleted_keep)
		srv_store_deleted_prune(R.st, (unsigned)cfg->deleted_keep, &err);
	if (err)
		log_error("records: %s", err_text(err));
}

void srv_records_flush(void)
{
	auto_err struct err *err = NULL;
	struct pend *p = R.head, *batch = R.head;

	if (!p)
		return;
	R.head = NULL;
	R.tail = &R.head;
	R.queued = 0;
	bool tx = srv_store_begin(R.st, &err) == 0;
	if (!tx) {
		log_error("records: %s", err_text(err));
		err_free(err);
		err = NULL;
	}
	while (p) {
		struct pend *next = p->next;
		struct srv_record r = {
			.id = p->id, .owner = p->owner, .status = p->status, .session_id = p->session_id,
			.flag = p->flag, .created_at = p->created_at, .updated_at = p->updated_at,
			.deleted_at = p->deleted_at, .doc = p->doc,
		};
		int rc = 0;
		switch (p->kind) {
		case PEND_SNAPSHOT: rc = srv_store_snapshot_put(R.st, &r, &err); break;
		case PEND_EXECUTION: rc = srv_store_execution_put(R.st, &r, &err); break;
		case PEND_JOB: rc = srv_store_job_put(R.st, &r, &err); break;
		case PEND_JOB_GONE: rc = srv_store_job_delete(R.st, r.id, &err); break;
		case PEND_AUDIT:
			rc = srv_store_audit(R.st, p->created_at, p->owner, p->status, p->id, p->doc, &err);
			break;
		}
		if (rc < 0) {
			log_error("records: %s %s: %s", p->kind == PEND_AUDIT ? "audit" : "record", p->id ? p->id : "",
				  err_text(err));
			err_free(err);
			err = NULL;
		}
		p = next;
	}
	prune_batch(batch);
	while ((p = batch)) {
		batch = p->next;
		pend_free(p);
	}
	if (tx && srv_store_commit(R.st, &err) < 0)
		log_error("records: %s", err_text(err));
}

static void flush_cb(uv_timer_t *h)
{
	srv_records_flush();
}

static json_t *limits_doc(const struct sess_session *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "memory_bytes", (json_int_t)s->limits.memory_bytes,
			 "max_pids", (json_int_t)s->limits.max_pids, "cpu_millis", (json_int_t)s->limits.cpu_millis,
			 "cpu_seconds",
			 (json_int_t)s->limits.cpu_seconds, "file_bytes", (json_int_t)s->limits.file_bytes,
			 "open_files", (json_int_t)s->limits.open_files, "timeout_s", (json_int_t)s->timeout_s,
			 "disk_bytes", (json_int_t)s->disk_limit);
}

/* What was kept for session id, deleted now, goes; of its record, what deleted_keep keeps. */
static void forget_deleted(const char *id)
{
	auto_err struct err *err = NULL;

	srv_grants_forget_session(id); /* shared with users: no more */
	/* what dialects keep for it (003's specs) would stay: a session made by one and destroyed by a tool */
	if (srv_store_rest_forget(R.st, id, &err) < 0) {
		log_error("records: session %s: %s", id, err_text(err));
		err_free(err);
		err = NULL;
	}
	rest_session_gone(id);
	/* each deleted session's record would stay: making and destroying sessions would grow the store */
	if (R.cfg->deleted_keep && srv_store_deleted_prune(R.st, (unsigned)R.cfg->deleted_keep, &err) < 0)
		log_error("records: %s", err_text(err));
}

static void save_session(void *arg, const struct sess_session *s)
{
	auto_err struct err *err = NULL;
	bool deleted = s->state == SESS_DELETED;
	json_t *doc = json_pack("{s:O, s:b, s:o, s:s, s:s, s:I, s:I, s:I}", "labels", s->labels,
				"network", s->network, "limits", limits_doc(s), "workspace", s->workspace,
				"instance", sess_instance_id(R.instance), "last_active", (json_int_t)s->last_active, "started_at",
				(json_int_t)s->started_at, "stopped_at", (json_int_t)s->stopped_at);
	/* a session brought back needs its env; a deleted one's record is history, and its env (up to
	   8 MiB, perhaps secrets) is not kept past the session */
	if (!deleted)
		json_object_set(doc, "env", s->env);
	if (s->name)
		json_object_set_new(doc, "name", json_string(s->name));
	if (s->source_snapshot)
		json_object_set_new(doc, "source_snapshot", json_string(s->source_snapshot));
	if (s->overlay_lower)
		json_object_set_new(doc, "overlay_lower", json_string(s->overlay_lower));
	if (s->failure)
		json_object_set_new(doc, "error", json_string(err_text(s->failure)));
	char *text = json_dumps(doc, JSON_COMPACT);
	struct srv_record r = {
		.id = s->id,
		.owner = s->owner,
		.status = sess_state_name(s->state),
		.flag = s->implicit,
		.created_at = (int64_t)s->created_at,
		.updated_at = (int64_t)wall_ms(),
		.doc = text,
	};
	/* not queued: a session whose creation was answered must survive a crash */
	if (srv_store_session_put(R.st, &r, &err) < 0)
		log_error("records: session %s: %s", s->id, err_text(err));
	if (deleted)
		forget_deleted(s->id);
	free(text);
	json_decref(doc);
}

static void save_snapshot(void *arg, const struct sess_snap *sn, bool deleted)
{
	auto_err struct err *err = NULL;
	json_t *doc = json_pack("{s:O, s:s, s:s, s:I, s:I}", "labels", sn->labels, "commit", sn->commit, "parent",
				sn->parent, "files", (json_int_t)sn->files, "bytes", (json_int_t)sn->bytes);
	if (sn->name)
		json_object_set_new(doc, "name", json_string(sn->name));
	char *text = json_dumps(doc, JSON_COMPACT);
	struct srv_record r = {
		.id = sn->id,
		.owner = sn->owner,
		.session_id = sn->session_id,
		.created_at = (int64_t)sn->created_at,
		.deleted_at = deleted ? (int64_t)wall_ms() : 0,
		.doc = text,
	};
	enqueue(PEND_SNAPSHOT, &r);
	free(text);
	json_decref(doc);
}

static void load_snapshot(void *arg, const struct srv_record *r)
{
	json_t *doc = json_loads(r->doc, 0, NULL);
	const char *commit = json_string_value(json_object_get(doc, "commit"));
	const char *parent = json_string_value(json_object_get(doc, "parent"));

	if (!commit || strlen(commit) != 40) {
		log_error("records: snapshot %s: unreadable record", r->id);
		json_decref(doc);
		return;
	}
	struct sess_snap tmpl = {
		.id = (char *)r->id,
		.owner = (char *)r->owner,
		.session_id = (char *)r->session_id,
		.name = (char *)json_string_value(json_object_get(doc, "name")),
		.labels = json_object_get(doc, "labels"),
		.files = (uint64_t)json_integer_value(json_object_get(doc, "files")),
		.bytes = (uint64_t)json_integer_value(json_object_get(doc, "bytes")),
		.created_at = (uint64_t)r->created_at,
	};
	memcpy(tmpl.commit, commit, 41);
	snprintf(tmpl.parent, sizeof(tmpl.parent), "%s", parent ? parent : "");
	sess_snap_adopt(R.reg, &tmpl);
	/* the newest snapshot of a session is the parent of its next one */
	struct sess_session *s = sess_find(R.reg, r->session_id, NULL);
	if (s) {
		free(s->last_snapshot);
		s->last_snapshot = xstrdup(commit);
	}
	json_decref(doc);
}

static void audit(void *arg, const char *principal, const char *action, const char *object, const char *detail)
{
	struct srv_record r = {
		.id = object ? object : "",
		.owner = principal ? principal : "",
		.status = action,
		.created_at = (int64_t)wall_ms(),
		.doc = detail,
	};
	enqueue(PEND_AUDIT, &r);
}

/* ---- executions ---- */

static void output_path(struct buf *b, const char *id, const char *stream)
{
	buf_addf(b, "%s/executions/%s.%s", R.cfg->data_dir, id, stream);
}

/* The output file of id's stream holds data (append: data is added to it). */
static void write_output(const char *id, const char *stream, const struct buf *data, bool append)
{
	struct buf path = BUF_INIT;
	int fd;

	if (!data->len) {
		if (!append) {
			output_path(&path, id, stream);
			unlink(path.data);
			buf_release(&path);
		}
		return;
	}
	output_path(&path, id, stream);
	fd = open(path.data, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, data->data, data->len) < 0)
		log_warn("records: cannot keep the output of %s: %s", id, strerror(errno));
	if (fd >= 0)
		close(fd);
	buf_release(&path);
}

/*
 * An execution's output of OUTPUT_LATER_MIN bytes or more is written on
 * libuv's pool (a copy: the caller's buffer is gone after the hook): the
 * page-cache copy of 8 MiB held every client for milliseconds. Each file is
 * written once, nothing here reads it back, and its record is the newest, so
 * no prune removes it while the write waits.
 */
#define OUTPUT_LATER_MIN (256u << 10)

struct output_later {
	uv_work_t w;
	struct buf path;
	struct buf data;
};

static void output_later_run(uv_work_t *w)
{
	struct output_later *o = w->data;
	int fd = open(o->path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, o->data.data, o->data.len) < 0)
		log_warn("records: cannot keep the output %s: %s", o->path.data, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void output_later_done(uv_work_t *w, int status)
{
	struct output_later *o = w->data;
	(void)status;
	buf_release(&o->data);
	buf_release(&o->path);
	free(o);
}

static void write_output_later(const char *id, const char *stream, const struct buf *data)
{
	if (data->len < OUTPUT_LATER_MIN) {
		write_output(id, stream, data, false);
		return;
	}
	struct output_later *o = xcalloc(1, sizeof(*o));
	o->w.data = o;
	output_path(&o->path, id, stream);
	buf_add(&o->data, data->data, data->len);
	if (uv_queue_work(uv_default_loop(), &o->w, output_later_run, output_later_done) < 0) {
		output_later_run(&o->w);
		output_later_done(&o->w, 0);
	}
}

static void drop_outputs(void *arg, const char *id)
{
	static const char *const streams[] = { "stdout", "stderr" };
	for (size_t i = 0; i < ARRAY_SIZE(streams); i++) {
		struct buf path = BUF_INIT;
		output_path(&path, id, streams[i]);
		unlink(path.data);
		buf_release(&path);
	}
}

static void execution(void *arg, const struct sess_session *s, const char *exec_id, json_t *summary,
		      const struct buf *out, const struct buf *err_out)
{
	auto_err struct err *err = NULL;
	char *text = json_dumps(summary, JSON_COMPACT);
	struct srv_record r = {
		.id = exec_id,
		.session_id = s->id,
		.status = json_string_value(json_object_get(summary, "status")),
		.created_at = (int64_t)wall_ms(),
		.doc = text,
	};
	if (!r.status)
		r.status = "finished";
	write_output_later(exec_id, "stdout", out);
	write_output_later(exec_id, "stderr", err_out);
	enqueue(PEND_EXECUTION, &r);
	free(text);
	if (++R.since_prune >= PRUNE_EVERY) {
		R.since_prune = 0;
		srv_records_flush();
		if (srv_store_execution_prune(R.st, EXECUTIONS_KEPT, drop_outputs, NULL, &err) < 0)
			log_error("records: %s", err_text(err));
	}
}

/* ---- jobs ---- */

/*
 * A job's record: started (status running), ended (its output ring written
 * to DATA/executions/<id>.stdout/.stderr, as an execution's), gone. A record
 * still "running" at start-up belonged to a process that ended: lost (a
 * server that stops records its running jobs as lost itself).
 */
static void job_record(void *arg, const struct sess_job *j, bool gone)
{
	if (gone) {
		struct srv_record r = { .id = j->id };
		enqueue(PEND_JOB_GONE, &r);
		drop_outputs(NULL, j->id);
		return;
	}
	if (j->state != SESS_JOB_RUNNING) {
		struct buf out = BUF_INIT, err = BUF_INIT;
		sess_ring_split(&j->out, 0, UINT64_MAX, &out, &err);
		write_output(j->id, "stdout", &out, false);
		write_output(j->id, "stderr", &err, false);
		buf_release(&out);
		buf_release(&err);
	}
	json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:s}", "language", j->language,
				"command", j->command, "started_at", (json_int_t)j->started_at, "ended_at",
				(json_int_t)j->ended_at, "duration_ms", (json_int_t)j->duration_ms, "timeout_s",
				(json_int_t)j->timeout_s, "has_event", j->has_event, "oom_killed", j->exit.oom_killed,
				"wait_status", (json_int_t)j->exit.status, "dropped", (json_int_t)j->out.start,
				"output", "executions/<job_id>.stdout, .stderr");
	if (j->kind == SESS_JOB_CELL) {
		json_object_set_new(doc, "kind", json_string("kernel_cell"));
		if (j->cell_note)
			json_object_set_new(doc, "cell_note", json_string(j->cell_note));
		if (j->cell_fields)
			json_object_set_new(doc, "cell_fields", json_incref(j->cell_fields));
		json_object_set_new(doc, "cell_failed", json_boolean(j->cell_failed));
	}
	char *text = json_dumps(doc, JSON_COMPACT);
	struct srv_record r = {
		.id = j->id,
		.session_id = j->sess->id,
		.owner = j->sess->owner,
		.status = sess_job_state_name(j->state),
		.created_at = (int64_t)j->started_at,
		.updated_at = (int64_t)wall_ms(),
		.doc = text,
	};
	enqueue(PEND_JOB, &r);
	free(text);
	json_decref(doc);
}

/*
 * A running job's output so far goes to its output files every JOB_SAVE_MS, so that a job lost to a
 * crash keeps it. What came since the last time is appended, unless the files would then hold more
 * than twice the ring's cap (or the ring dropped bytes they do not hold yet): then they are rewritten
 * from the ring. So they never pass twice job_output on the host disk, however long the job writes
 * (appending alone grew them without end while the ring kept dropping the oldest), and each byte is
 * written at most twice.
 */
static void save_running(void *arg, struct sess_session *s)
{
	struct sess_job *j;

	LIST_FOREACH(j, &s->jobs, link) {
		if (j->state != SESS_JOB_RUNNING || j->saved == j->out.end)
			continue;
		bool rewrite = j->saved < j->out.start || j->out.end - j->saved_from > 2 * j->out.cap;
		struct buf out = BUF_INIT, err = BUF_INIT;
		if (rewrite)
			j->saved_from = j->out.start;
		j->saved = sess_ring_split(&j->out, rewrite ? 0 : j->saved, UINT64_MAX, &out, &err);
		write_output(j->id, "stdout", &out, !rewrite);
		write_output(j->id, "stderr", &err, !rewrite);
		buf_release(&out);
		buf_release(&err);
	}
}

static void job_saver_cb(uv_timer_t *t)
{
	if (R.reg)
		sess_foreach(R.reg, NULL, save_running, NULL);
}

/* Read what a job's output file holds, its newest `cap` bytes at most. */
static void read_output(const char *id, const char *stream, uint64_t cap, struct buf *b)
{
	struct buf path = BUF_INIT;
	struct stat st;
	int fd;

	output_path(&path, id, stream);
	fd = open(path.data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf_release(&path);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t from = (uint64_t)st.st_size > cap ? st.st_size - (off_t)cap : 0;
		size_t n = (size_t)(st.st_size - from);
		buf_grow(b, n);
		ssize_t got = pread(fd, b->data + b->len, n, from);
		if (got > 0) {
			b->len += (size_t)got;
			b->data[b->len] = 0;
		}
	}
	close(fd);
}

static void bring_back_job(void *arg, const struct srv_record *r)
{
	struct sess_session *s = arg;
	json_error_t je;
	json_t *doc = json_loads(r->doc, 0, &je);
	struct buf out = BUF_INIT, err = BUF_INIT;
	enum sess_job_state state;

	if (!doc || !sess_job_state_parse(r->status, &state)) {
		log_warn("records: job %s: unreadable record", r->id);
		json_decref(doc);
		return;
	}
	uint64_t cap = R.cfg->job_output_bytes;
	read_output(r->id, "stdout", cap / 2, &out);
	read_output(r->id, "stderr", cap / 2, &err);
	struct sess_job_saved sv = {
		.id = r->id,
		.language = json_string_value(json_object_get(doc, "language")),
		.command = json_string_value(json_object_get(doc, "command")),
		.state = state,
		.exit = {
			.status = (int)json_integer_value(json_object_get(doc, "wait_status")),
			.oom_killed = json_is_true(json_object_get(doc, "oom_killed")),
		},
		.started_at = (uint64_t)json_integer_value(json_object_get(doc, "started_at")),
		.ended_at = (uint64_t)json_integer_value(json_object_get(doc, "ended_at")),
		.duration_ms = (uint64_t)json_integer_value(json_object_get(doc, "duration_ms")),
		.timeout_s = json_integer_value(json_object_get(doc, "timeout_s")),
		.has_event = json_is_true(json_object_get(doc, "has_event")),
		.kind = json_is_string(json_object_get(doc, "kind")) &&
			!strcmp(json_string_value(json_object_get(doc, "kind")), "kernel_cell") ? SESS_JOB_CELL
			: SESS_JOB_PROGRAM,
		.cell_note = json_string_value(json_object_get(doc, "cell_note")),
		.cell_fields = json_object_get(doc, "cell_fields"),
		.cell_failed = json_is_true(json_object_get(doc, "cell_failed")),
		.dropped = (uint64_t)json_integer_value(json_object_get(doc, "dropped")),
		.out = &out,
		.err = &err,
	};
	if (state == SESS_JOB_RUNNING)
		log_info("records: job %s of session %s was running when the earlier run ended: lost", r->id, s->id);
	sess_job_restore(s, &sv);
	buf_release(&out);
	buf_release(&err);
	json_decref(doc);
}

/* ---- start-up ---- */

struct known {
	char **ids;
	size_t n;
};

static void bring_back(void *arg, const struct srv_record *r)
{
	struct known *k = arg;
	auto_err struct err *err = NULL;
	json_error_t je;
	json_t *doc = json_loads(r->doc, 0, &je);
	const char *instance = json_string_value(json_object_get(doc, "instance"));
	const char *workspace = json_string_value(json_object_get(doc, "workspace"));

	k->ids = xrealloc(k->ids, (k->n + 1) * sizeof(char *));
	k->ids[k->n++] = xstrdup(r->id);
	if (!doc || !workspace) {
		log_error("records: session %s: unreadable record", r->id);
		json_decref(doc);
		return;
	}
	if (sess_instance_alive(R.instance, instance)) {
		json_decref(doc);
		return; /* another running server holds it */
	}
	json_t *lim = json_object_get(doc, "limits");
	struct sess_saved sv = {
		.id = r->id,
		.owner = r->owner,
		.name = json_string_value(json_object_get(doc, "name")),
		.workspace = workspace,
		.source_snapshot = json_string_value(json_object_get(doc, "source_snapshot")),
		.overlay_lower = json_string_value(json_object_get(doc, "overlay_lower")),
		.labels = json_object_get(doc, "labels"),
		.env = json_object_get(doc, "env"),
		.network = json_is_true(json_object_get(doc, "network")),
		.implicit = r->flag,
		.limits = {
			.memory_bytes = (uint64_t)json_integer_value(json_object_get(lim, "memory_bytes")),
			.max_pids = (uint32_t)json_integer_value(json_object_get(lim, "max_pids")),
			.cpu_millis = (uint32_t)json_integer_value(json_object_get(lim, "cpu_millis")),
			.cpu_seconds = (uint32_t)json_integer_value(json_object_get(lim, "cpu_seconds")),
			.file_bytes = (uint64_t)json_integer_value(json_object_get(lim, "file_bytes")),
			.open_files = (uint32_t)json_integer_value(json_object_get(lim, "open_files")),
		},
		.disk_limit = (uint64_t)json_integer_value(json_object_get(lim, "disk_bytes")),
		.timeout_s = (uint64_t)json_integer_value(json_object_get(lim, "timeout_s")),
		.created_at = (uint64_t)r->created_at,
		.last_active = (uint64_t)json_integer_value(json_object_get(doc, "last_active")),
		.started_at = (uint64_t)json_integer_value(json_object_get(doc, "started_at")),
		.stopped_at = (uint64_t)json_integer_value(json_object_get(doc, "stopped_at")),
	};
	if (sess_adopt(R.reg, &sv, &err) < 0) {
		log_warn("records: %s", err_text(err));
	} else {
		struct sess_session *s = sess_find(R.reg, r->id, NULL);
		if (srv_store_job_list(R.st, r->id, bring_back_job, s, &err) < 0)
			log_warn("records: jobs of %s: %s", r->id, err_text(err));
		if (r->flag) {
			/* an implicit session dies with its connection, which is gone */
			log_info("records: session %s belonged to a connection of an earlier run: deleting it", r->id);
			sess_destroy(s);
		} else if (strcmp(r->status, "stopped")) {
			log_info("records: session %s was %s when the earlier run ended: now stopped", r->id, r->status);
		}
	}
	json_decref(doc);
}

static int has_id(const struct known *k, const char *id)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->ids[i], id))
			return 1;
	return 0;
}

/*
 * Workspaces without a record. Another process on this data directory may
 * have made one a moment ago and be about to record it (a session's
 * workspace and record are made in one loop turn, warm-pool workspaces wait
 * in that process's instance directory): report, never remove, except empty
 * ones older than ORPHAN_AGE_S (left by versions that kept the pool here).
 */
#define ORPHAN_AGE_S 3600

static void report_orphans(const struct known *k)
{
	struct buf dir = BUF_INIT;
	DIR *d;
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	buf_addf(&dir, "%s/workspaces", R.cfg->data_dir);
	d = opendir(dir.data);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || has_id(k, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		bool old = !strncmp(de->d_name, "ses_", 4) && now - st.st_mtime > ORPHAN_AGE_S;
		if (old && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
			continue;
		log_warn("records: workspace %s/%s has no session record; left in place", dir.data, de->d_name);
	}
	if (d)
		closedir(d);
	buf_release(&dir);
}

int srv_records_init(struct srv_store *st, struct sess_registry *reg, const struct srv_config *cfg,
		     const struct sess_instance *in, struct err **errp)
{
	static const struct sess_persist persist = {
		.save = save_session,
		.audit = audit,
		.snapshot = save_snapshot,
		.execution = execution,
		.job = job_record,
	};
	struct known k = { 0 };
	struct buf dir = BUF_INIT;

	R.st = st;
	R.reg = reg;
	R.cfg = cfg;
	R.tail = &R.head;
	R.instance = in;
	buf_addf(&dir, "%s/executions", cfg->data_dir);
	if (mkdir(dir.data, 0700) < 0 && errno != EEXIST) {
		err_set(errp, errno, "mkdir %s", dir.data);
		buf_release(&dir);
		return -1;
	}
	buf_release(&dir);
	sess_registry_set_persist(reg, &persist);
	if (srv_store_session_list(st, bring_back, &k, errp) < 0)
		return -1;
	srv_records_flush(); /* what adoption changed */
	report_orphans(&k);
	if (srv_store_snapshot_list(st, load_snapshot, NULL, errp) < 0)
		return -1;
	uv_timer_init(uv_default_loop(), &R.flusher);
	uv_unref((uv_handle_t *)&R.flusher);
	uv_timer_init(uv_default_loop(), &R.job_saver);
	uv_timer_start(&R.job_saver, job_saver_cb, JOB_SAVE_MS, JOB_SAVE_MS);
	uv_unref((uv_handle_t *)&R.job_saver);
	R.flusher_on = true;
	for (size_t i = 0; i < k.n; i++)
		free(k.ids[i]);
	free(k.ids);
	return 0;
}

void srv_records_close(void)
{
	srv_records_flush();
	if (R.flusher_on) {
		R.flusher_on = false;
		uv_timer_stop(&R.flusher);
		uv_close((uv_handle_t *)&R.flusher, NULL);
		uv_timer_stop(&R.job_saver);
		uv_close((uv_handle_t *)&R.job_saver, NULL);
	}
}

/* ---- session templates made by tool (tools/template_tools.c): written at once, they are rare ---- */

static int tmpl_put(void *arg, const char *owner, const char *name, json_t *settings, uint64_t created_ms,
		    struct err **errp)
{
	auto_free char *doc = json_dumps(settings, JSON_COMPACT);
	struct srv_record r = { .id = name, .owner = owner, .created_at = (int64_t)created_ms, .doc = doc };
	return srv_store_template_put(R.st, &r, errp);
}

static int tmpl_del(void *arg, const char *owner, const char *name, struct err **errp)
{
	return srv_store_template_delete(R.st, owner, name, errp);
}

struct tmpl_load {
	void (*fn)(void *fnarg, const char *owner, const char *name, json_t *settings, uint64_t created_ms);
	void *fnarg;
};

static void tmpl_row(void *arg, const struct srv_record *r)
{
	struct tmpl_load *l = arg;
	json_t *settings = json_loads(r->doc, 0, NULL);
	if (!settings) {
		log_warn("stored template %s: its settings are not JSON: ignored", r->id);
		return;
	}
	l->fn(l->fnarg, r->owner, r->id, settings, (uint64_t)r->created_at);
	json_decref(settings);
}

static int tmpl_load_all(void *arg, void (*fn)(void *fnarg, const char *owner, const char *name, json_t *settings,
					      uint64_t created_ms),
			 void *fnarg, struct err **errp)
{
	struct tmpl_load l = { fn, fnarg };
	return srv_store_template_list(R.st, tmpl_row, &l, errp);
}

const struct tool_tmpl_store *srv_records_templates(void)
{
	static const struct tool_tmpl_store ops = { .put = tmpl_put, .del = tmpl_del, .load = tmpl_load_all };
	return R.st ? &ops : NULL;
}
