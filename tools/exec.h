/**
 * exec.h — what execute shares with the job tools (job_tools.c): the shape
 * of an execution's result, so that job_wait "returns like execute".
 * Loop thread only.
 */
#ifndef MCPBOX_TOOL_EXEC_H
#define MCPBOX_TOOL_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../server/base/buf.h"
#include "../sessions/sandbox.h"

struct sess_job;

/** How an execution ended and what it said (all borrowed). */
struct tool_exec_outcome {
	const struct buf *out, *err;	/* the output shown */
	const struct buf *result;	/* handler mode: the JSON on fd 4 (may be NULL) */
	bool has_event;
	struct sess_exit exit;
	bool timed_out, cancelled, truncated;
	bool over_quota;		/* killed: the key went over its disk quota (of disk_quota_mb) */
	uint64_t disk_quota_mb;
	bool over_inodes;		/* ... over its entries (of inodes_quota: quota.inodes); over_quota too */
	uint64_t inodes_quota;
	bool over_disk_limit;		/* killed: the session went over its own disk limit (of disk_limit_mb) */
	uint64_t disk_limit_mb;
	const char *session_ended;	/* killed: its session was "stopped" or "destroyed" (NULL: not) */
	uint64_t duration_ms;
	int64_t timeout_s;
	const char *note;		/* appended to the status line (NULL: none) */
};

/** execute's CallToolResult (text and structuredContent) for o. */
json_t *tool_exec_result(const struct tool_exec_outcome *o);
/** "SIGKILL", "SIG42" (a static buffer: use before the next call). */
const char *tool_signal_name(int sig);
/**
 * The answer for an execution that is (still) running as job j: the output
 * from offset since (stdout, stderr), running: true, the job's id, and
 * next_offset for job_status / job_wait. what says how it came to be ("started
 * in the background", "still running after 50 s").
 */
/**
 * A program's environment (NULL-terminated, owned: tool_exec_env_free): the
 * base every program starts from, then the session's env, then call_env
 * (may be NULL); a later one wins.
 */
char **tool_exec_env(json_t *session_env, json_t *call_env);
void tool_exec_env_free(char **envp);
json_t *tool_job_running_result(struct sess_job *j, uint64_t since, uint64_t limit, const char *what);

struct tool_call;
struct sess_session;
/**
 * May the call start an execution of timeout_s seconds in s (the key's quota,
 * s's disk limit, the server's longest timeout)? false: the call was finished
 * with why not.
 */
bool tool_exec_admit(struct tool_call *call, struct sess_session *s, int64_t timeout_s);

/**
 * The environment of a program in a session: the base environment, then the
 * session's variables, then the call's (either may be NULL). NULL-terminated,
 * malloc'd; free with tool_exec_env_free().
 */
char **tool_exec_env(json_t *session_env, json_t *call_env);
void tool_exec_env_free(char **envp);

#endif
