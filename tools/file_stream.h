/**
 * file_stream.h — a session's workspace files written from a stream and
 * read into one (uploads and downloads of the REST dialects), without
 * holding a file in memory or passing it through tool calls as base64.
 *
 * Both are allowed exactly as the tool they stand for (tool_rights_check:
 * a sink is file_write's, a source file_read's), act only on a session of
 * the principal's, and reach the workspace only through sessions/workspace.h
 * (openat2 beneath it, no symlink followed out). The disk work runs on the
 * tool pool (tools/pool.c, fair between principals), never on the loop.
 *
 * Sink: bytes go to an unnamed file in the workspace (O_TMPFILE: nothing
 * sees it, and a server that dies mid-upload leaves nothing), each chunk asked
 * of the session's disk limit and its key's disk quota before it is written
 * (sess_quota_disk_check) and counted as it lands; commit links it in at its
 * path (directories made as file_write makes them; a file already there is
 * replaced atomically); abort, or any failure, just closes it. On a
 * filesystem without O_TMPFILE the file is a named ".upload-*.part" at the
 * workspace's top instead, renamed at commit and removed on failure (a crash
 * of the server leaves that one behind). Source: a regular file read in pieces.
 *
 * The caller owns a sink or source until commit/abort or close. Loop
 * thread only.
 */
#ifndef MCPBOX_TOOL_FILE_STREAM_H
#define MCPBOX_TOOL_FILE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/err.h"

struct tool_conn;

/* bytes written to the disk at once, and queued before the writer should wait */
#define TOOL_SINK_CHUNK (1u << 20)
#define TOOL_SINK_AHEAD (4u << 20)

struct tool_sink;

/**
 * A sink into session sid's workspace as principal (conn: its tool state,
 * may be NULL). path (a client path, or NULL) is where the file is meant to
 * go as far as the caller knows it: if what of it exists already leads out
 * of the workspace (a symlink to "/" or "..", say), the sink is refused here,
 * before any byte is written (commit checks the final path again). NULL with
 * *errp: ERR_DENIED (file_write is not allowed), ERR_LIMIT (the session or
 * its key is at its disk limit), ERR_NOT_FOUND (no such session of
 * principal's), ERR_CONFLICT (it is not running), ERR_INVALID (path escapes
 * the workspace), or the file's error.
 */
struct tool_sink *tool_sink_open(const char *principal, const struct tool_conn *conn, const char *sid,
				 const char *path, struct err **errp);
/**
 * Take len bytes (copied). true: keep writing; false: more than
 * TOOL_SINK_AHEAD waits for the disk, or the sink failed: wait for the ready
 * callback before writing again (bytes given meanwhile are still taken).
 */
bool tool_sink_write(struct tool_sink *s, const void *data, size_t len);
/** Call fn(arg) on the loop when the queue fell under half of TOOL_SINK_AHEAD after a false, or the sink failed. */
void tool_sink_on_ready(struct tool_sink *s, void (*fn)(void *arg), void *arg);
/** Why the sink failed (a write, the disk quota), or NULL while all is well. Owned by the sink. */
struct err *tool_sink_failure(const struct tool_sink *s);
/** Bytes taken so far. */
uint64_t tool_sink_bytes(const struct tool_sink *s);

/**
 * Write what is left, then give the file its path (a client path, confined
 * to the workspace; missing directories are made). done(arg, err, size) runs
 * once on the loop (err NULL on success, else borrowed for the call: the
 * temporary file is gone then). The sink is freed after done.
 */
typedef void (*tool_sink_done_fn)(void *arg, struct err *err, uint64_t size);
void tool_sink_commit(struct tool_sink *s, const char *path, tool_sink_done_fn done, void *arg);
/**
 * Can path (a client path) name something beneath a workspace at all (no
 * "..", no absolute path elsewhere)? 0, or -1 with ERR_INVALID: a writer can
 * refuse a bad path before any byte is written, before the session is
 * known. Symlinks are met by tool_sink_open and at commit.
 */
int tool_sink_path_check(const char *path, struct err **errp);
/** Give up: the temporary file is removed (once a write in flight ends) and the sink freed; no callback runs after. */
void tool_sink_abort(struct tool_sink *s);

/* ---- downloads ---- */

#define TOOL_SOURCE_CHUNK (1u << 20)

struct tool_source;
/**
 * Open path (a client path) of session sid for reading as principal,
 * allowed as file_read is: a source and the file's size, or NULL with
 * *errp (ERR_DENIED, ERR_NOT_FOUND, ERR_INVALID: not a regular file, ...).
 */
struct tool_source *tool_source_open(const char *principal, const struct tool_conn *conn, const char *sid,
				     const char *path, uint64_t *size, struct err **errp);
/**
 * Read the next piece (up to TOOL_SOURCE_CHUNK bytes) on the pool; fn runs
 * on the loop with it (valid during the call; len 0: the end of the file,
 * or err set: a read failed). One read at a time.
 */
typedef void (*tool_source_fn)(void *arg, const char *data, size_t len, struct err *err);
void tool_source_read(struct tool_source *s, tool_source_fn fn, void *arg);
/** Close; a read in flight ends without its callback. */
void tool_source_close(struct tool_source *s);

#endif
