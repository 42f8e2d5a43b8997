/**
 * job.h — background jobs: programs of a session that run on without a
 * caller waiting for them.
 *
 * A job is a run (run.h) whose output goes to a bounded ring (ring.h: the
 * config's job_output bytes, oldest dropped and counted) instead of a reply.
 * It starts as one (execute {background: true}: sess_job_start) or becomes
 * one (a foreground execute still running after wait_s: sess_job_adopt).
 * Callers come and go: they read its output from an offset, wait for its
 * end (sess_job_wait_add), write to its stdin, cancel it.
 *
 * A job of kind SESS_JOB_CELL runs no program: it is a cell of a stateful
 * kernel (execute {kernel: true} still running after wait_s) that its
 * driver (tools/kernel_tools.c) feeds: its text output in order
 * (sess_job_cell_output), its images (sess_job_cell_image) and its end
 * (sess_job_cell_end). Cancelling it asks the driver to interrupt the cell;
 * the cell, not the job, holds the session while it runs.
 *
 * Ownership: the session owns its jobs (s->jobs) and frees them with itself
 * (sess_jobs_free, from session_free), so a job dies with its session and
 * outlives the connection that started it. A job keeps no reference on its
 * session; while its program runs the run holds one. A session keeps at most
 * the config's jobs_per_session jobs: a new one pushes out the oldest
 * finished one, and when all of them run it is refused (ERR_LIMIT).
 * When the sandbox ends every run is finished as killed (a stop or destroy
 * makes its jobs cancelled, saying which), so waiters are always told before
 * a job goes away.
 * Loop thread only.
 */
#ifndef MCPBOX_SESS_JOB_H
#define MCPBOX_SESS_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "ring.h"
#include "run.h"
#include "session.h"

enum sess_job_state {
	SESS_JOB_RUNNING,
	SESS_JOB_EXITED,	/* the program ended: exit status, signal or OOM in exit */
	SESS_JOB_CANCELLED,	/* job_cancel, or its session's stop or destroy (session_ended), killed it */
	SESS_JOB_TIMED_OUT,	/* its timeout_s passed: killed */
	SESS_JOB_LOST,		/* it ran when the server process ended (killed by its stop, or with it) */
};

/** What a job runs. */
enum sess_job_kind {
	SESS_JOB_PROGRAM,	/* a run (run.h): exit status, stdout and stderr */
	SESS_JOB_CELL,		/* a kernel cell: its text block as stdout, images, a cell status */
};

struct sess_job;

/** The driver of a cell job. */
struct sess_job_cell_ops {
	/* interrupt the cell; its end still comes through sess_job_cell_end (maybe at once) */
	void (*cancel)(void *arg);
};

/** Someone waiting for a job to end; called once (after being removed from the job). */
struct sess_job_waiter {
	LIST_ENTRY(sess_job_waiter) link;
	void (*done)(struct sess_job_waiter *w, struct sess_job *j);
};

struct sess_job {
	char *id;			/* "job_…" */
	enum sess_job_kind kind;
	struct sess_session *sess;	/* its session (not held: the session frees its jobs) */
	char *language;
	char *command;			/* the start of its code, for listings */
	enum sess_job_state state;
	struct sess_run *run;		/* PROGRAM, while running */
	const struct sess_job_cell_ops *cell_ops;	/* CELL, while running */
	void *cell_arg;
	json_t *images;			/* CELL: [{"offset": output offset, "block": image content}] */
	json_t *cell_fields;		/* CELL, ended: the cell's structured fields (status, error...) */
	char *cell_note;		/* CELL, ended: its status line ("[ok, In [3]] (4012 ms)") */
	bool cell_failed;		/* CELL, ended: an error, as execute's isError */
	uint64_t exec_id;		/* the worker's number for its program (session logs name it) */
	struct sess_ring out;		/* its output */
	bool stdin_open;		/* started with a stdin job_write can reach */
	bool has_event;			/* handler mode: result holds the handler's JSON */
	int64_t timeout_s;
	uint64_t started_at, ended_at;	/* wall clock, ms */
	/* when it ended */
	struct sess_exit exit;
	uint64_t duration_ms;
	bool over_quota;		/* killed: its key went over its disk quota (sess_run_result's) */
	bool over_inodes;		/* ... over its entries (quota.inodes) */
	bool over_disk_limit;		/* killed: its session went over its own disk limit */
	const char *session_ended;	/* killed: its session was "stopped" or "destroyed" (static), or NULL */
	bool server_ending;		/* killed because the server ends: recorded as lost */
	struct buf result;
	uint64_t saved;			/* output offset its output files hold up to while it runs (the
					   persistence hook's: server/records.c) */
	uint64_t saved_from;		/* ... and from: they hold saved - saved_from bytes */
	LIST_HEAD(, sess_job_waiter) waiters;
	LIST_ENTRY(sess_job) link;
};

/** What a job is started or adopted with. */
struct sess_job_opts {
	const char *language;
	const char *code;		/* the start is kept for listings */
	int64_t timeout_s;		/* what its run was given (for messages) */
	bool has_event;
};

/**
 * Start o as a new job of s (o's callbacks, output cap and stdin mode are
 * the job's: stdin stays open for sess_job_write). ERR_LIMIT when the
 * session's jobs all run; the run's own errors otherwise.
 */
int sess_job_start(struct sess_session *s, struct sess_run_opts *o, const struct sess_job_opts *jo,
		   struct sess_job **out, struct err **errp);
/**
 * Make the running r (started for a caller that stops waiting) a job: its
 * output so far (stdout then stderr) opens the job's output, and from now
 * on the job gets its output and its end (sess_run_redirect). r's stdin is
 * whatever it was started with (closed, for execute). ERR_LIMIT as above;
 * on failure r is untouched.
 */
int sess_job_adopt(struct sess_session *s, struct sess_run *r, const struct sess_job_opts *jo,
		   const struct buf *out_so_far, const struct buf *err_so_far, struct sess_job **out,
		   struct err **errp);

/**
 * Make a kernel cell that has run elapsed_ms (and still runs) a job of s,
 * kind SESS_JOB_CELL, driven through ops and arg until sess_job_cell_end.
 * ERR_LIMIT as above.
 */
int sess_job_adopt_cell(struct sess_session *s, const struct sess_job_opts *jo, uint64_t elapsed_ms,
			const struct sess_job_cell_ops *ops, void *arg, struct sess_job **out, struct err **errp);
/** The cell's text output (j running, CELL). */
void sess_job_cell_output(struct sess_job *j, const char *data, size_t len);
/** An image content block of the cell (stolen), at the current end of its output. */
void sess_job_cell_image(struct sess_job *j, json_t *block);
/**
 * The cell ended: state (EXITED, CANCELLED, TIMED_OUT or LOST), its
 * structured fields (stolen), its status line; failed as execute's isError.
 * Waiters are told.
 */
void sess_job_cell_end(struct sess_job *j, enum sess_job_state state, uint64_t duration_ms, json_t *fields,
		       const char *note, bool failed);

/** The job id of a session owner may see (sess_find's rule), or NULL. bound: only in that session (may be NULL). */
struct sess_job *sess_job_find(struct sess_registry *reg, const char *id, const char *owner, const char *bound);
/** Kill the job's process group (its run finishes as cancelled), or interrupt its cell; no-op once it ended. */
void sess_job_cancel(struct sess_job *j);
/** Write to its stdin (run.h's sess_run_write rules); ERR_CONFLICT once it ended or without an open stdin. */
int sess_job_write(struct sess_job *j, const char *data, size_t len, bool eof, struct err **errp);

/** Call w->done when j ends (j must be running). */
void sess_job_wait_add(struct sess_job *j, struct sess_job_waiter *w);
/** Stop waiting (w was added and has not been called). */
void sess_job_wait_remove(struct sess_job_waiter *w);

/** "running", "exited", "cancelled", "timed_out", "lost". */
const char *sess_job_state_name(enum sess_job_state st);
/** The state of a name; false if there is none. */
bool sess_job_state_parse(const char *name, enum sess_job_state *st);

/** A job as recorded by an earlier server process (strings and buffers borrowed). */
struct sess_job_saved {
	const char *id, *language, *command;
	enum sess_job_state state;	/* RUNNING is taken to mean LOST: that process is gone */
	struct sess_exit exit;
	uint64_t started_at, ended_at, duration_ms;
	int64_t timeout_s;
	bool has_event;
	enum sess_job_kind kind;
	const char *cell_note;		/* CELL, ended: as the job's (may be NULL) */
	json_t *cell_fields;		/* CELL, ended (may be NULL) */
	bool cell_failed;
	uint64_t dropped;		/* bytes of its output that were gone when it was recorded */
	const struct buf *out, *err;	/* its output as kept (may be empty) */
};
/** Bring a recorded job back into s's list (finished or lost; never running). */
void sess_job_restore(struct sess_session *s, const struct sess_job_saved *sv);
/**
 * The server is ending and s (kept for the next one) is about to stop: its
 * running jobs end as lost, not as programs killed by SIGKILL, since they
 * did not fail and their exit status will never be known.
 */
void sess_jobs_lose(struct sess_session *s);
/** Tell the persistence hook that every job of s is gone (s is being destroyed). */
void sess_jobs_forget(struct sess_session *s);
/** Number of jobs s keeps. */
unsigned sess_job_count(const struct sess_session *s);
/** Free every job of s (its runs have finished: the session is being freed). */
void sess_jobs_free(struct sess_session *s);

#endif
