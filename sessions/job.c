#include "job.h"
#include "quota.h"
#include "../server/base/common.h"
#include "../server/base/config.h"
#include "../server/base/log.h"
#include "../server/base/metrics.h"
#include "../server/base/banned.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_KEPT 200	/* bytes of a job's code shown in listings */

static const char *const state_names[] = { "running", "exited", "cancelled", "timed_out", "lost" };

const char *sess_job_state_name(enum sess_job_state st)
{
	return st < ARRAY_SIZE(state_names) ? state_names[st] : "unknown";
}

unsigned sess_job_count(const struct sess_session *s)
{
	const struct sess_job *j;
	unsigned n = 0;
	LIST_FOREACH(j, &s->jobs, link)
		n++;
	return n;
}

bool sess_job_state_parse(const char *name, enum sess_job_state *st)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
		if (name && !strcmp(name, state_names[i])) {
			*st = (enum sess_job_state)i;
			return true;
		}
	}
	return false;
}

static void record(const struct sess_job *j, bool gone)
{
	const struct sess_persist *p = sess_registry_persist(j->sess->reg);
	if (p->job)
		p->job(p->arg, j, gone);
}

void sess_jobs_lose(struct sess_session *s)
{
	struct sess_job *j;
	LIST_FOREACH(j, &s->jobs, link)
		if (j->state == SESS_JOB_RUNNING)
			j->server_ending = true;
}

void sess_jobs_forget(struct sess_session *s)
{
	struct sess_job *j;
	LIST_FOREACH(j, &s->jobs, link)
		record(j, true);
}

static void job_free(struct sess_job *j)
{
	LIST_REMOVE(j, link);
	sess_ring_release(&j->out);
	buf_release(&j->result);
	json_decref(j->images);
	json_decref(j->cell_fields);
	free(j->cell_note);
	free(j->id);
	free(j->language);
	free(j->command);
	free(j);
}

void sess_jobs_free(struct sess_session *s)
{
	while (!LIST_EMPTY(&s->jobs)) {
		struct sess_job *j = LIST_FIRST(&s->jobs);
		assert(!j->run && !j->cell_ops && LIST_EMPTY(&j->waiters));
		job_free(j);
	}
}

/* Room for one more job: the oldest finished one goes when the session is full. */
static int make_room(struct sess_session *s, struct err **errp)
{
	uint64_t max = sess_registry_config(s->reg)->jobs_per_session;
	struct sess_job *j, *oldest = NULL;

	if (sess_job_count(s) < max)
		return 0;
	LIST_FOREACH(j, &s->jobs, link) /* newest first: the last finished one seen is the oldest */
		if (j->state != SESS_JOB_RUNNING)
			oldest = j;
	if (!oldest)
		return err_setc(errp, ERR_LIMIT, 0,
				"session %s already runs %llu jobs (the most a session may keep); wait for one or "
				"cancel one with job_cancel", s->id, (unsigned long long)max);
	record(oldest, true);
	job_free(oldest);
	return 0;
}

/* A key's ended jobs: the output they keep in memory, and the one that ended first. */
struct key_jobs {
	const char *owner;
	const struct sess_job *keep;
	struct sess_job *oldest;
	uint64_t bytes;
};

static void tally_jobs(void *arg, struct sess_session *s)
{
	struct key_jobs *k = arg;
	struct sess_job *j;

	if (strcmp(s->owner, k->owner))
		return;
	LIST_FOREACH(j, &s->jobs, link) {
		if (j->state == SESS_JOB_RUNNING)
			continue;
		k->bytes += j->out.used + j->result.len;
		if (j != k->keep && !j->cell_ops && LIST_EMPTY(&j->waiters) &&
		    (!k->oldest || j->ended_at < k->oldest->ended_at))
			k->oldest = j;
	}
}

/* Ended jobs keep their output in memory until pushed out: a key's together at most quota.job_memory
   (else its sessions x jobs_per_session x job_output, 4 GiB by default), its oldest going first. */
static void trim_key(struct sess_job *keep)
{
	struct sess_session *s = keep->sess;
	uint64_t max = sess_registry_config(s->reg)->quota.job_memory;

	if (!max || !sess_quota_applies(s->owner))
		return;
	for (;;) {
		struct key_jobs k = { s->owner, keep, NULL, 0 };
		sess_foreach(s->reg, NULL, tally_jobs, &k);
		if (k.bytes <= max || !k.oldest)
			return;
		record(k.oldest, true);
		job_free(k.oldest);
	}
}

static struct sess_job *job_new(struct sess_session *s, const struct sess_job_opts *jo)
{
	struct sess_job *j = xcalloc(1, sizeof(*j));
	const char *code = jo->code ? jo->code : "";
	size_t n = strlen(code);

	j->id = random_id("job_", 8);
	j->sess = s;
	j->language = xstrdup(jo->language ? jo->language : "");
	j->command = xstrndup(code, n > COMMAND_KEPT ? COMMAND_KEPT : n);
	j->timeout_s = jo->timeout_s;
	j->has_event = jo->has_event;
	j->started_at = wall_ms();
	sess_ring_init(&j->out, sess_registry_config(s->reg)->job_output_bytes, UINT64_MAX);
	LIST_INIT(&j->waiters);
	LIST_INSERT_HEAD(&s->jobs, j, link);
	return j;
}

static void job_output(void *arg, int stream, const char *data, size_t len)
{
	struct sess_job *j = arg;
	sess_ring_add(&j->out, stream, j->exec_id, wall_ms(), data, len);
}

/* Tell the waiters: the job has ended. */
static void job_ended(struct sess_job *j)
{
	struct sess_job_waiter *w;

	log_debug("session %s: job %s %s", j->sess->id, j->id, sess_job_state_name(j->state));
	record(j, false);
	while ((w = LIST_FIRST(&j->waiters))) {
		LIST_REMOVE(w, link);
		w->done(w, j);
	}
}

static void job_done(void *arg, struct sess_run_result *res)
{
	struct sess_job *j = arg;

	j->run = NULL;
	j->exit = res->exit;
	j->duration_ms = res->duration_ms;
	j->over_quota = res->over_quota;
	j->over_inodes = res->over_inodes;
	j->over_disk_limit = res->over_disk_limit;
	j->session_ended = res->session_ended;
	j->ended_at = wall_ms();
	j->state = j->server_ending ? SESS_JOB_LOST : res->timed_out ? SESS_JOB_TIMED_OUT
		   : res->cancelled || res->session_ended ? SESS_JOB_CANCELLED : SESS_JOB_EXITED;
	/* counted as foreground executions are (tools/exec.c): alerts and performance read the counters */
	metrics_execution(j->language[0] ? j->language : "job", sess_run_outcome(res), res->duration_ms);
	if (j->has_event && res->res.len)
		buf_add(&j->result, res->res.data, res->res.len);
	job_ended(j);
	trim_key(j);
}

int sess_job_start(struct sess_session *s, struct sess_run_opts *o, const struct sess_job_opts *jo,
		   struct sess_job **out, struct err **errp)
{
	struct sess_job *j;

	if (make_room(s, errp) < 0)
		return -1;
	j = job_new(s, jo);
	o->on_output = job_output;
	o->done = job_done;
	o->arg = j;
	if (!o->result_cap)	/* the handler's result is kept as for a foreground run */
		o->result_cap = o->output_cap;
	o->output_cap = 0;	/* the ring keeps it */
	o->stdin_open = true;
	if (sess_run_start(s, o, &j->run, errp) < 0) {
		job_free(j);
		return -1;
	}
	j->exec_id = sess_run_id(j->run);
	j->stdin_open = true;
	record(j, false);
	*out = j;
	return 0;
}

int sess_job_adopt(struct sess_session *s, struct sess_run *r, const struct sess_job_opts *jo,
		   const struct buf *out_so_far, const struct buf *err_so_far, struct sess_job **out,
		   struct err **errp)
{
	struct sess_job *j;
	uint64_t now = wall_ms();

	if (make_room(s, errp) < 0)
		return -1;
	j = job_new(s, jo);
	j->run = r;
	j->exec_id = sess_run_id(r);
	j->started_at = now - sess_run_elapsed_ms(r);
	if (out_so_far->len)
		sess_ring_add(&j->out, 1, j->exec_id, now, out_so_far->data, out_so_far->len);
	if (err_so_far->len)
		sess_ring_add(&j->out, 2, j->exec_id, now, err_so_far->data, err_so_far->len);
	sess_run_redirect(r, job_output, job_done, j);
	record(j, false);
	*out = j;
	return 0;
}

int sess_job_adopt_cell(struct sess_session *s, const struct sess_job_opts *jo, uint64_t elapsed_ms,
			const struct sess_job_cell_ops *ops, void *arg, struct sess_job **out, struct err **errp)
{
	struct sess_job *j;

	if (make_room(s, errp) < 0)
		return -1;
	j = job_new(s, jo);
	j->kind = SESS_JOB_CELL;
	j->cell_ops = ops;
	j->cell_arg = arg;
	j->images = json_array();
	j->started_at = wall_ms() - elapsed_ms;
	record(j, false);
	*out = j;
	return 0;
}

void sess_job_cell_output(struct sess_job *j, const char *data, size_t len)
{
	assert(j->kind == SESS_JOB_CELL && j->state == SESS_JOB_RUNNING);
	if (len)
		sess_ring_add(&j->out, 1, 0, wall_ms(), data, len);
}

void sess_job_cell_image(struct sess_job *j, json_t *block)
{
	assert(j->kind == SESS_JOB_CELL && j->state == SESS_JOB_RUNNING);
	json_array_append_new(j->images, json_pack("{s:I, s:o}", "offset", (json_int_t)j->out.end, "block", block));
}

void sess_job_cell_end(struct sess_job *j, enum sess_job_state state, uint64_t duration_ms, json_t *fields,
		       const char *note, bool failed)
{
	assert(j->kind == SESS_JOB_CELL && j->state == SESS_JOB_RUNNING && state != SESS_JOB_RUNNING);
	j->cell_ops = NULL;
	j->cell_arg = NULL;
	j->state = state;
	j->duration_ms = duration_ms;
	j->ended_at = wall_ms();
	j->cell_fields = fields;
	j->cell_note = xstrdup(note);
	j->cell_failed = failed;
	job_ended(j);
	trim_key(j);
}

void sess_job_restore(struct sess_session *s, const struct sess_job_saved *sv)
{
	struct sess_job_opts jo = {
		.language = sv->language, .code = sv->command, .timeout_s = sv->timeout_s, .has_event = sv->has_event,
	};
	struct sess_job *j = job_new(s, &jo);

	free(j->id);
	j->id = xstrdup(sv->id);
	j->state = sv->state == SESS_JOB_RUNNING ? SESS_JOB_LOST : sv->state;
	j->exit = sv->exit;
	j->started_at = sv->started_at;
	j->ended_at = sv->ended_at;
	j->duration_ms = sv->duration_ms;
	j->kind = sv->kind;
	if (j->kind == SESS_JOB_CELL) {	/* its images are not kept */
		j->images = json_array();
		j->cell_note = xstrdup(sv->cell_note ? sv->cell_note : "");
		j->cell_fields = json_incref(sv->cell_fields);
		j->cell_failed = sv->cell_failed;
	}
	j->out.start = j->out.end = sv->dropped;
	if (sv->out && sv->out->len)
		sess_ring_add(&j->out, 1, 0, sv->ended_at, sv->out->data, sv->out->len);
	if (sv->err && sv->err->len)
		sess_ring_add(&j->out, 2, 0, sv->ended_at, sv->err->data, sv->err->len);
	/* restored oldest first, each at the head: the list stays newest first */
	if (sv->state == SESS_JOB_RUNNING)
		record(j, false);	/* now recorded as lost */
	trim_key(j);
}

struct find {
	const char *id, *bound;
	struct sess_job *found;
};

static void find_in(void *arg, struct sess_session *s)
{
	struct find *f = arg;
	struct sess_job *j;

	if (f->found || (f->bound && strcmp(f->bound, s->id)))
		return;
	LIST_FOREACH(j, &s->jobs, link) {
		if (!strcmp(j->id, f->id)) {
			f->found = j;
			return;
		}
	}
}

struct sess_job *sess_job_find(struct sess_registry *reg, const char *id, const char *owner, const char *bound)
{
	struct find f = { .id = id, .bound = bound };
	sess_foreach(reg, owner, find_in, &f);
	return f.found;
}

void sess_job_cancel(struct sess_job *j)
{
	if (j->run)
		sess_run_cancel(j->run);
	else if (j->cell_ops)
		j->cell_ops->cancel(j->cell_arg);	/* may end the job at once */
}

int sess_job_write(struct sess_job *j, const char *data, size_t len, bool eof, struct err **errp)
{
	if (j->state != SESS_JOB_RUNNING)
		return err_setc(errp, ERR_CONFLICT, 0, "job %s has ended (%s)", j->id, sess_job_state_name(j->state));
	if (j->kind == SESS_JOB_CELL)
		return err_setc(errp, ERR_CONFLICT, 0, "job %s is a kernel cell: its input() reads the lines of the "
				"stdin argument of its execute call", j->id);
	if (!j->stdin_open)
		return err_setc(errp, ERR_CONFLICT, 0,
				"job %s has no open standard input (only jobs started with background: true have one)",
				j->id);
	return sess_run_write(j->run, data, len, eof, errp);
}

void sess_job_wait_add(struct sess_job *j, struct sess_job_waiter *w)
{
	assert(j->state == SESS_JOB_RUNNING);
	LIST_INSERT_HEAD(&j->waiters, w, link);
}

void sess_job_wait_remove(struct sess_job_waiter *w)
{
	LIST_REMOVE(w, link);
}
