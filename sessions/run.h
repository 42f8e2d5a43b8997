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
	uint64_t duration_ms;
};

struct sess_run_opts {
	const char *const *argv;
	const char *const *envp;
	const char *cwd;		/* NULL: /workspace */
	const char *stdin_data;		/* NULL: /dev/null */
	size_t stdin_len;
	const char *input;		/* fd 3 contents; NULL: no fd 3 */
	size_t input_len;
	bool want_result;		/* capture fd 4 */
	/* Workspace paths (relative) the program reads as it starts, e.g. python's
	   user site-packages: a spare started before they changed is not used. */
	const char *const *startup_paths;
	uint64_t timeout_ms;
	uint64_t output_cap;		/* bytes kept per stream */
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

/** Kill every run of s (done() runs with over_quota set): its key is over its disk quota. */
void sess_run_stop_over_quota(struct sess_session *s);

/**
 * The session's sandbox is going away: finish every run of s now, as killed
 * by SIGKILL (their done() runs before this returns); let go of its spare.
 */
void sess_run_abort_all(struct sess_session *s);
/** Stop the session's spare, if any (its view of the world is out of date). */
void sess_run_drop_spare(struct sess_session *s);

#endif
