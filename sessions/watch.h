/**
 * watch.h — being told when a file of a workspace changes (inotify), for
 * MCP resource subscriptions.
 *
 * A watch names one path beneath a session's workspace. The server's single
 * inotify fd (host side) watches the directory that holds it — resolved
 * beneath the workspace like every other lookup (sessions/workspace.h), so
 * no symlink leads it outside — and filters that directory's events by the
 * name. Watching the directory, not the file, follows a file that is
 * created later, deleted, or replaced by a rename (editors, atomic writes).
 * If the directory itself is removed or renamed away, its watches report
 * one change and then none: subscribe again.
 *
 * The directory is written by sandbox code, so events can come as fast as a
 * program can write: a watch reports at most once per SESS_WATCH_INTERVAL_MS
 * (the first change at once, the rest coalesced into one report at the end
 * of the interval); the inotify fd is read at most 1 MiB per loop turn; a
 * kernel queue overflow reports every watch once (nothing is missed, some
 * reports are spurious). At most SESS_WATCH_MAX watches per session.
 *
 * Ownership: a watch belongs to whoever added it until sess_watch_remove(),
 * or until its session goes (destroyed, or the server stops): then its
 * callback is called with gone = true and the watch is freed right after.
 * Loop thread only.
 */
#ifndef MCPBOX_SESS_WATCH_H
#define MCPBOX_SESS_WATCH_H

#include <stdbool.h>
#include <uv.h>

#include "../server/base/err.h"

#define SESS_WATCH_INTERVAL_MS 100
#define SESS_WATCH_MAX 256

struct sess_session;
struct sess_watch;

/**
 * changed: the path changed (written, created, deleted, renamed onto or
 * away, or its directory went). gone: the session went; w is freed when the
 * callback returns. A callback must not add or remove watches.
 */
typedef void (*sess_watch_cb)(void *arg, bool gone);

/** Give the module the loop it reads inotify on (nothing is opened before the first watch). */
void sess_watch_init(uv_loop_t *loop);
/** Close the inotify fd and the handles (after every session went). */
void sess_watch_shutdown(void);

/**
 * Watch rel (relative to s's workspace, as from sess_ws_relpath(); not
 * ".") whose parent directory must exist; shown names it in errors. Fails
 * past SESS_WATCH_MAX (ERR_LIMIT), on the host's inotify limits (ERR_LIMIT),
 * or when the parent is missing (ERR_NOT_FOUND) or not a directory.
 */
int sess_watch_add(struct sess_session *s, const char *rel, const char *shown, sess_watch_cb cb, void *arg,
		   struct sess_watch **out, struct err **errp);
/** Stop watching and free w. */
void sess_watch_remove(struct sess_watch *w);
/** s is going: every watch on it gets cb(arg, true) and is freed (session.c). */
void sess_watch_session_gone(struct sess_session *s);
/** Watches in place (all sessions), and inotify watches (directories) they use; for tests and metrics. */
unsigned sess_watch_count(unsigned *dirs);

#endif
