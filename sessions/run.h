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
 * Ownership: the run holds the session until done() returns; the run frees
 * itself after done(). Loop thread only.
 */
#ifndef MCPBOX_SESS_RUN_H
#define MCPBOX_SESS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/buf.h"
#include "session.h"

struct sess_run;

struct sess_run_result {
	struct buf out, err, res;	/* stdout, stderr, fd 4 (owned by the run) */
	bool out_truncated, err_truncated, res_truncated;
	struct sess_exit exit;
	bool timed_out;
	bool cancelled;
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

/**
 * The session's sandbox is going away: finish every run of s now, as killed
 * by SIGKILL (their done() runs before this returns).
 */
void sess_run_abort_all(struct sess_session *s);

#endif
