/**
 * run.h — run one program in a session and capture what it says.
 *
 * The server creates the pipes: the program's fds 0..4 are the stdin data (or
 * /dev/null), stdout, stderr, fd 3 = an input document (the code), fd 4 = a
 * result channel (the handler's JSON return value). The worker starts the
 * program with those fds; the server reads the pipes on the loop.
 *
 * Each stream is captured up to a cap (the rest is read and dropped, so a
 * flood never blocks the program); a wall-clock timer and sess_run_cancel()
 * kill the program's whole process group. done() runs exactly once, after
 * the program exited and its pipes reached EOF (or a short grace period
 * passed: a background process may keep them open).
 *
 * Prestarting (config "prestart", on by default): starting an interpreter is
 * most of an execution's latency (bash ~1 ms, python3 ~10 ms, node ~40 ms).
 * Once a session has started the same program the same way (argv, env, cwd,
 * limits) twice in a row, the next one is started ahead: a spare, with its
 * pipes, blocked reading its code from fd 3. When calls come back to back
 * (less than 10 ms apart, or overlapping) it is started while the current
 * call runs, so that its start-up overlaps that call; at a slower pace it is
 * started once the call has finished, so that its start-up never takes CPU
 * from a call a client is waiting for. The next
 * matching sess_run_start() takes it and only writes the code; anything else
 * starts cold as before. A spare is a fresh process like any other (own
 * process group, nothing shared with earlier executions); what differs is
 * when it started: it sees the environment and files as they were then
 * (site/.pth processing of python happens at its start): the startup_paths
 * of the options are fingerprinted (sess_ws_fingerprint) before a spare
 * starts and again when it would be taken, and a change drops it. It is
 * stopped after 60 s untaken, by sess_run_drop_spare() (restore), and with the sandbox. It
 * counts against the session's pids and memory like any process, and its
 * output before being taken (none, normally) belongs to the execution that
 * takes it. duration_ms counts from the take.
 *
 * Ownership: the run holds the session until done() returns; the run frees
 * itself after done(). Loop thread only.
 */
#ifndef MCPBOX_SESS_RUN_H
#define MCPBOX_SESS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"
#include "session.h"

struct sess_run;

struct sess_run_result {
	struct buf out, err, res;	/* stdout, stderr, fd 4 (owned by the run) */
	bool out_truncated, err_truncated, res_truncated;
	struct sess_exit exit;
	bool timed_out;
	bool cancelled;
	bool over_quota;	/* killed: its key's workspaces went over the disk quota */
	bool over_inodes;	/* ... (over_quota set too) over its entries in them, quota.inodes */
	bool over_disk_limit;	/* killed: its session's workspace went over the session's disk limit */
	const char *session_ended;	/* killed because its session was "stopped" or "destroyed" (a static
					   word, sess_run_abort_all's), or NULL */
	uint64_t duration_ms;
};

/** How a run ended, as the executions counter names it: "timeout", "oom", "cancelled" (also by its session's
 * end), "error" (a signal or a non-zero exit) or "ok". */
const char *sess_run_outcome(const struct sess_run_result *res);

struct sess_run_opts {
	const char *const *argv;
	const char *const *envp;
	const char *cwd;		/* NULL: /workspace */
	const char *stdin_data;		/* NULL: /dev/null (unless stdin_open) */
	size_t stdin_len;
	bool stdin_open;		/* keep stdin a pipe after stdin_data: sess_run_write() adds to it */
	/* fd 3 contents (NULL: no fd 3), borrowed: once sess_run_start succeeded the run calls
	   input_free(input_arg) as soon as it needs input no more (the program has all of it
	   but what the pipe holds, or it ended), exactly once; when the start fails the caller
	   keeps it. input_free NULL: input outlives the run. */
	const char *input;
	size_t input_len;
	void (*input_free)(void *input_arg);
	void *input_arg;
	bool want_result;		/* capture fd 4 */
	/* Workspace paths (relative) the program reads as it starts, e.g. python's
	   user site-packages: a spare started before they changed is not used. */
	const char *const *startup_paths;
	uint64_t timeout_ms;
	uint64_t output_cap;		/* bytes kept per stream (0: none; on_output still sees all) */
	uint64_t result_cap;		/* bytes kept of fd 4 (0: output_cap) */
	struct sess_limits limits;	/* rlimits for the program */
	/* New output arrived (stream 1 or 2): for progress reports. May be NULL. */
	void (*on_output)(void *arg, int stream, const char *data, size_t len);
	void (*done)(void *arg, struct sess_run_result *res);
	void *arg;
};

int sess_run_start(struct sess_session *s, const struct sess_run_opts *o, struct sess_run **out,
		   struct err **errp);
/** Kill the program's process group; done() still runs (with cancelled set). */
void sess_run_cancel(struct sess_run *r);

/**
 * Kill every run of s: its key is over its disk quota (done() runs with
 * over_quota set, and over_inodes if over its entries), or s is over its
 * own disk limit (over_disk_limit set).
 */
void sess_run_stop_over_quota(struct sess_session *s, enum sess_over why);

/** Most bytes written to a program's stdin that may wait for it to read them
    (the stdin given at its start too: sess_run_start refuses more). */
#define SESS_RUN_STDIN_QUEUE (1u << 20)
/**
 * Write to the stdin of a run started with stdin_open (eof: close it after).
 * ERR_CONFLICT when its stdin is closed (or it finished), ERR_LIMIT when
 * more than SESS_RUN_STDIN_QUEUE bytes would wait unread.
 */
int sess_run_write(struct sess_run *r, const char *data, size_t len, bool eof, struct err **errp);
/**
 * Someone else takes the run over (a foreground execution becomes a job):
 * from now on its output and its end go to these callbacks, and no stdout
 * or stderr is kept in the result (what was kept is freed).
 */
void sess_run_redirect(struct sess_run *r, void (*on_output)(void *arg, int stream, const char *data, size_t len),
		       void (*done)(void *arg, struct sess_run_result *res), void *arg);
/**
 * Add output (stream 1 or 2) of program exec_id of s to the session's log
 * (s->log, made here on first use; session_logs reads it). Runs do it
 * themselves; programs started otherwise (kernels) call it.
 */
void sess_log_add(struct sess_session *s, int stream, uint64_t exec_id, const char *data, size_t len);
/** What the run has captured so far (its output buffers; exit fields are not set yet). */
const struct sess_run_result *sess_run_so_far(const struct sess_run *r);
/** The worker's number for the run's program (what session logs name it by). */
uint64_t sess_run_id(const struct sess_run *r);
/** Milliseconds since the run started (or was taken from the spares). */
uint64_t sess_run_elapsed_ms(const struct sess_run *r);

/**
 * The session's sandbox is going away: finish every run of s now, as killed
 * by SIGKILL with session_ended saying why (s's state: stopping or deleted;
 * their done() runs before this returns); let go of its spare.
 */
void sess_run_abort_all(struct sess_session *s);
/** Stop the session's spare, if any (its view of the world is out of date). */
void sess_run_drop_spare(struct sess_session *s);

#endif
