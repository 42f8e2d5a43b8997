/**
 * workspace.h — the session workspace on the host disk, and path confinement.
 *
 * Tools act on workspaces from the server, never through the sandbox. Every
 * lookup goes through openat2() with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
 * relative to the workspace directory fd, so no "..", absolute symlink or
 * symlink made inside the sandbox can lead outside it, even if the sandbox
 * swaps path components while we look.
 *
 * Paths from clients are relative to /workspace; "/workspace/..." is accepted.
 * Errors name the path as the client gave it, never a host path.
 */
#ifndef MCPBOX_SESS_WORKSPACE_H
#define MCPBOX_SESS_WORKSPACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../server/base/err.h"

/**
 * mkdir the workspace (mode 0700); where disk limits are enforced (btrfs.h),
 * a subvolume instead, unless it is to be only an overlay's mount point
 * (for_overlay: its files live in the overlay's upper directory).
 */
int sess_ws_create(const char *path, bool for_overlay, struct err **errp);
/**
 * Make workspace an overlay: the read-only tree lower under a writable upper
 * layer kept in overlay_dir (created; its upper directory owned by uid/gid).
 * Needs root on the host. The cost does not depend on the size of lower.
 */
int sess_ws_overlay(const char *workspace, const char *lower, const char *overlay_dir, uid_t uid, gid_t gid,
		    struct err **errp);
/** Is path a mount point (an overlay workspace that is mounted)? By mount id: a btrfs subvolume is none. */
bool sess_ws_is_mounted(const char *path);
/** Detach the overlay mounted on workspace, if any (lazily: its trees can then be moved or removed). */
void sess_ws_detach(const char *workspace);

/**
 * Remove the tree name inside dirfd, in the caller's thread (its time is the
 * tree's: callers on the loop thread queue it to the pool, e.g. trash.h).
 * A btrfs subvolume is destroyed whole where the kernel lets us; otherwise
 * the walk never follows a symlink, never enters a mount point met in the
 * tree, works by fds and single names (no path length limit) and keeps its
 * open directories to a few dozen however deep the tree. Any thread.
 */
int sess_ws_remove_at(int dirfd, const char *name, struct err **errp);
/** The same, stopping early (ECANCELED, the tree partly removed) once *cancel turns true. */
int sess_ws_remove_until(int dirfd, const char *name, const atomic_bool *cancel, struct err **errp);

/**
 * Turn a client path into a path relative to the workspace: "" "." "/workspace"
 * → "."; "/workspace/a/b/" → "a/b"; "a//b/./c" → "a/b/c". Other absolute paths
 * and paths whose ".." climbs above the workspace are refused. *rel is malloc'd.
 */
int sess_ws_relpath(const char *path, char **rel, struct err **errp);

/** openat2(wsfd, rel, flags, mode, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS). Returns the fd. */
int sess_ws_open(int wsfd, const char *rel, int flags, mode_t mode, const char *shown, struct err **errp);

/**
 * An unnamed regular file in the workspace's top directory (O_TMPFILE, flags
 * such as O_WRONLY added): nothing can see it, and it vanishes with its last
 * fd, so a server that dies while writing it leaves nothing behind. Give it a
 * name with sess_ws_link. -1 with *errp; errnum EOPNOTSUPP (class
 * ERR_UNAVAILABLE) when the workspace's filesystem cannot make one, so the
 * caller can fall back to a named temporary file.
 */
int sess_ws_tmpfile(int wsfd, int flags, mode_t mode, struct err **errp);
/**
 * Give fd (a sess_ws_tmpfile) the name base in dirfd (a directory opened
 * beneath the workspace; base one component). An entry already there that is
 * not a directory is replaced atomically (the file is linked under a
 * temporary name in dirfd, then renamed over it): a reader sees the old file
 * or the new one, never neither. ERR_INVALID if base is a directory.
 */
int sess_ws_link(int fd, int dirfd, const char *base, const char *shown, struct err **errp);

/**
 * A hash of the state of some paths in the workspace (each resolved beneath
 * it): whether it exists, its inode, size, link count, mtime and ctime. A
 * last component "*suffix" stands for every entry of that directory whose
 * name ends in suffix (names and states; symlinks not followed).
 * Equal hashes: none of them was created, removed or changed in between
 * (with a kernel's coarse timestamps, a change in the same clock tick as the
 * earlier reading can be missed; multigrain timestamps, Linux 6.13+, close that).
 * A directory of a "*suffix" is read up to 4096 entries (this runs on the
 * loop): past that the hash differs on every call, as if it always changed.
 */
uint64_t sess_ws_fingerprint(int wsfd, const char *const *paths);

/**
 * Open the directory that holds rel's last component (creating missing
 * directories when mkdirs) and return its fd; *base points into rel at the
 * last component. rel must not be ".".
 */
int sess_ws_open_parent(int wsfd, const char *rel, bool mkdirs, uid_t uid, gid_t gid, const char **base,
			const char *shown, struct err **errp);

#endif
