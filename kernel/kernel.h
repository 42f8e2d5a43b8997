/**
 * kernel.h — stateful kernels: one Jupyter kernel per session and language,
 * kept alive between calls (variables, imports, open files persist).
 *
 * Each kernel runs inside its session's sandbox with the kernel agent
 * (agent.c) that speaks ZMQ and the Jupyter protocol to it; the server talks
 * to the agent over a socketpair in the checked messages of proto.h and never
 * creates a ZMQ context. A kernel counts against its session like any program
 * (cgroup memory, pids, rlimits), dies with the session, and a kernel that
 * died is reported to the next call, which starts a new one.
 *
 * Cells of one kernel run one at a time, in order (at most KERN_QUEUE_MAX
 * waiting). A cell counts in its session's running executions (s->running,
 * what quota.executions and quota.server_executions count) from
 * kern_cell_run until its done callback, waiting ones too: the caller admits
 * it first (tools/exec.h's tool_exec_admit). Every wait on the agent has a deadline: its start
 * (KERN_START_MS), a cell's timeout (then an interrupt, then after
 * KERN_GRACE_MS the kernel is killed), an interrupt (the same grace).
 *
 * Loop thread only.
 */
#ifndef MCPBOX_KERN_KERNEL_H
#define MCPBOX_KERN_KERNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "chan.h"
#include "langs.h"
#include "../server/base/err.h"
#include "../sessions/session.h"

#define KERN_START_MS 30000
#define KERN_GRACE_MS 3000
#define KERN_QUEUE_MAX 16
#define KERN_CODE_MAX ((size_t)1 << 20)
#define KERN_POOL_WANT_MS (10 * 60 * 1000)	/* warm-pool sandboxes get kernels while cells ran this recently */


/** How a cell ended. */
enum kern_end_how {
	KERN_END_DONE,		/* the kernel answered: status says how the code ended */
	KERN_END_DIED,		/* the kernel died (or was killed) while the cell was queued or ran */
	KERN_END_FAILED,	/* no kernel could be started, or the session ended */
};

struct kern_end {
	enum kern_end_how how;
	enum kern_status status;	/* DONE: ok, an exception (ERROR came before), aborted */
	uint32_t count;			/* DONE: the kernel's execution count */
	bool timed_out;			/* the timeout passed: interrupted (DONE) or killed (DIED) */
	bool interrupted;		/* kern_cell_interrupt: interrupted (DONE) or killed (DIED) */
	bool server_ending;		/* FAILED: the server is shutting down (kern_shutdown) */
	int wstatus;			/* DIED: the kernel's wait status, -1 unknown */
	const char *why;		/* DIED, FAILED: what happened */
	const char *previous;		/* the session's previous kernel of this language died since
					   the last call: why (this cell runs in a new one), or NULL */
	const char *kernel;		/* what runs ("ipykernel 6.17.0, python 3.11.2"), or "" */
	bool started;			/* a kernel was started for this cell */
	bool ahead;			/* the cell took a kernel started ahead in the warm pool */
	uint64_t start_ms;		/* started, ahead: how long the kernel's start took */
	uint64_t duration_ms;		/* the whole call */
};

struct kern_cell_ops {
	/* STREAM, DATA and ERROR messages of this cell, checked (m and its bytes: during the call only) */
	void (*msg)(void *arg, const struct kern_msg *m);
	/* exactly once, never from inside kern_cell_run; the cell is gone after it */
	void (*done)(void *arg, const struct kern_end *e);
};

struct kern_cell_opts {
	const char *lang;		/* one of KERN_LANGS */
	const char *code;
	size_t code_len;		/* at most KERN_CODE_MAX */
	const char *input;		/* its stdin: each input() takes a line, then EOFError; may be NULL */
	size_t input_len;		/* at most KERN_CODE_MAX */
	uint64_t timeout_ms;		/* 0: none */
	const char *const *envp;	/* the kernel's environment if one is started for this cell */
	const struct kern_cell_ops *ops;
	void *arg;
};

struct kern_cell;

/** Start the module (opens this program for the agent); idempotent. */
void kern_init(uv_loop_t *loop);
/** Stop every kernel (their cells end FAILED) and the module. */
void kern_shutdown(void);

/**
 * Run a cell in s's kernel for o->lang, starting the kernel if none runs.
 * On success *out names the cell until its done callback; -1 with *errp
 * (ERR_INVALID: language, size; ERR_LIMIT: the queue is full;
 * ERR_UNAVAILABLE: the sandbox does not run) and no callback otherwise.
 */
int kern_cell_run(struct sess_session *s, const struct kern_cell_opts *o, struct kern_cell **out,
		  struct err **errp);

/**
 * Interrupt the cell (cancellation): a queued cell ends at once (DONE is not
 * reached: FAILED, interrupted), a running one gets an interrupt (SIGINT to
 * the kernel) and, if it has not ended KERN_GRACE_MS later, its kernel is
 * killed. The done callback still comes, later.
 */
void kern_cell_interrupt(struct kern_cell *c);

/**
 * Stop s's kernel for lang (its cells end FAILED, "restarted") and start a
 * new one at once with envp; *was is set to whether one ran. -1 with *errp
 * when the sandbox does not run.
 */
int kern_restart(struct sess_session *s, const char *lang, const char *const *envp, bool *was,
		 struct err **errp);

/**
 * Start kernels ahead in warm-pool sandboxes (config pool_kernels): for
 * each language whose kernel cell ran within KERN_POOL_WANT_MS, every
 * sandbox of reg's warm pool gets a kernel, started with envp (copied: the environment a
 * session without env gives its kernels), so the session that takes the
 * sandbox finds it ready or starting. Its first cell takes it when it asks
 * for that environment, else a new one starts; one its session leaves
 * unused for idle_ms after it took the sandbox is stopped (its memory counts against the
 * session). They stop while no cells run. After kern_init; once.
 */
void kern_pool_start(struct sess_registry *reg, const char *const *envp, uint64_t idle_ms);

/** s's kernels for session_info: [{language, state, kernel}] or NULL when none. */
json_t *kern_session_info(struct sess_session *s);

#endif
