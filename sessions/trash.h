/**
 * trash.h — trees the server throws away (destroyed workspaces, overlay
 * layers, warm-pool workspaces) leave their place at once and are removed
 * in the background, fairly between tenants, without holding up shutdown.
 *
 * sess_trash_put renames the tree into DATA/trash (the same filesystem: one
 * rename, whatever its size; its name, a session id, is free at once) and
 * queues its removal on libuv's pool: at most SESS_TRASH_THREADS removals
 * run at once, at most one per owner, owners taking turns. A key that
 * destroys many huge workspaces therefore delays only its own removals, and
 * the other pool threads stay free for everyone's tool work. A removal is
 * sess_ws_remove_until (workspace.h): it never follows a symlink, never
 * enters a mount point, never leaves its entry. Until its removal ends, an
 * entry counts toward its owner's disk quota with what its workspace
 * measured last (sess_trash_held, quota.h), so destroying sessions faster
 * than they are removed gains a key no disk.
 *
 * Entries are named "<instance>.<seq>.<owner key>" (instance.h: several
 * processes may share a data directory; the owner key is a hash, for turns
 * only). At start sess_trash_open takes over (one rename each) the entries
 * of processes that are gone and removes them the same way; they count
 * toward no quota (their owners are not known then). At shutdown
 * sess_trash_stop stops the removal in flight after the entry it is at and
 * starts no walk: the next start finishes (a btrfs subvolume, destroyed
 * whole by one ioctl, still goes at once: none outlives the server). A tree that cannot be moved (on
 * another filesystem than DATA/trash) is removed where it is, in the same
 * turns; one cut short by a shutdown then stays there.
 *
 * Loop thread only; the removals run on libuv's pool.
 */
#ifndef MCPBOX_SESS_TRASH_H
#define MCPBOX_SESS_TRASH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "instance.h"
#include "../server/base/err.h"

/** Removals on libuv's pool at once (of its 4 threads), whoever owns them; one per owner. */
#define SESS_TRASH_THREADS 2

/**
 * Make DATA/trash (0700) and queue what gone instances left there. Until
 * this is called (unit tests), sess_trash_put removes in the caller's thread.
 */
int sess_trash_open(uv_loop_t *loop, const char *data_dir, const struct sess_instance *in, struct err **errp);
/**
 * Throw away the tree at path (absolute; nothing there is fine): moved into
 * the trash and queued. owner (copied; NULL: no one's) is charged bytes and
 * entries (quota.h) until it is removed.
 */
void sess_trash_put(const char *path, const char *owner, uint64_t bytes, uint64_t entries);
/** What the entries of principal and of the keys it owns still hold (srv_principal_owned_by). */
void sess_trash_held(const char *principal, uint64_t *bytes, uint64_t *entries);
/** Entries queued or being removed (for tests and logs). */
size_t sess_trash_pending(void);
/** Shutdown: the removal in flight stops soon (its done callback follows on the loop); none starts after. */
void sess_trash_stop(void);
/** Exit, after the loop ran its last callbacks: forget the rest (it stays on disk for the next start). */
void sess_trash_close(void);

#endif
