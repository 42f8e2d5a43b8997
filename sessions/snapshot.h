/**
 * snapshot.h — workspace snapshots in one bare git object store shared by all
 * sessions (DATA/snapshots.git), so identical files are stored once.
 *
 * A snapshot is a commit whose tree is the workspace: file contents, the
 * executable bit, symlinks (never followed) and empty directories (stored as
 * empty subtrees, so nothing is added to the workspace). Nested .git
 * directories and .gitignore files are plain workspace content. Permission
 * bits other than the executable bit, owners, timestamps, xattrs, sockets,
 * FIFOs and device nodes are not recorded (like git). Each snapshot has the ref
 * refs/snapshots/<snapshot_id>.
 *
 * Objects are written as packs (one per snapshot), except blobs over 8 MiB,
 * which are loose objects streamed in and out in pieces (snapshot_blob.c), so
 * no call holds a large file in memory; snap_gc() repacks what the refs reach
 * (large blobs stay loose) and drops the rest. Object ids are
 * SHA-1 (checked with libgit2's collision-detecting SHA-1 when a pack is
 * indexed).
 *
 * Stat cache: each workspace has an index file (index_path, owned by the
 * caller's data directory, never inside the workspace) mapping a path and its
 * lstat data (mode, size, mtime, ctime, inode) to an object id, so a snapshot
 * or restore reads only files whose stat changed. It is replaced atomically
 * (rename) and may be deleted at any time (the next call is then slower, never
 * wrong). A file changed within 20 ms of the cache's time is always re-read.
 *
 * Workspace safety: the workspace is written by untrusted code. Every access
 * is relative to directory fds opened with O_NOFOLLOW (or openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); restore writes a temporary file and
 * renames it over the old name, so no symlink or hard link planted in the
 * workspace is ever written through, and files linked elsewhere are replaced,
 * not modified in place. When running as root, what restore creates is
 * chowned to the owner of the workspace directory.
 *
 * Threads: every function may run on any thread (e.g. libuv's pool); each call
 * opens its own git_repository. The caller serializes calls on the same
 * workspace / index_path, and never runs snap_gc() while a snap_take() runs.
 * snap_store_open/close run once, before and after all other calls.
 *
 * Crash safety (kill -9): the pack is complete before the ref is written and
 * the ref before the index file, so a ref always points at complete objects;
 * leftovers (temporary packs, unreferenced objects) are removed by snap_gc().
 * Nothing is fsync'd: a power loss may lose the last snapshots.
 *
 * Where it lives: the engine (snapshot_store/write/read.c, libgit2) is the
 * module mcpbox-snapshot.so, loaded on the first call (server/module.h); the
 * functions below forward to it (sessions/snapshot.c). snap_store_open fails
 * with a clear error when the module cannot be loaded.
 *
 * Errors: -1 and *errp; messages never contain host paths (libgit2's own
 * message is logged). errnum EFBIG: workspace over max_bytes; EEXIST: the
 * snapshot id exists; ENOENT: unknown snapshot or commit; EAGAIN: a large
 * file changed while being written into the pack (retry).
 */
#ifndef MCPBOX_SESS_SNAPSHOT_H
#define MCPBOX_SESS_SNAPSHOT_H

#include <stdint.h>
#include <jansson.h>

#include "../server/base/err.h"
#include "../server/base/module.h"

#define SNAP_DEFAULT_MAX_BYTES (1ull << 30)

struct snap_store;

struct snap_result {
	char commit[41];	/* hex id of the new commit */
	uint64_t files;		/* regular files and symlinks recorded */
	uint64_t dirs;		/* directories recorded, the root not counted */
	uint64_t bytes;		/* sum of file sizes and symlink target lengths */
	uint64_t skipped;	/* sockets, FIFOs, device nodes: not recorded */
	uint64_t hashed_files;	/* files read because the stat cache could not vouch for them */
	uint64_t hashed_bytes;
	uint64_t new_objects;	/* objects written into the pack (blobs, trees, the commit) */
	uint64_t pack_bytes;	/* size of that pack */
	unsigned packs;		/* packs in the store afterwards: run snap_gc() when it grows */
	uint64_t duration_us;
	uint64_t duration_ms;
};

/**
 * Open (creating if missing) DATA/snapshots.git. Initializes libgit2 once per
 * process: owner validation off, global/XDG/system config search paths empty
 * so no ~/.gitconfig or /etc/gitconfig of the host applies.
 */
int snap_store_open(struct snap_store **out, const char *data_dir, struct err **errp);
void snap_store_close(struct snap_store *st);

/**
 * Snapshot workspace_dir as refs/snapshots/<snapshot_id> ([A-Za-z0-9._-],
 * 1..128 chars, no leading '.'). parent_commit_hex: the session's previous
 * snapshot or NULL. index_path: the workspace's stat cache (NULL: none); its
 * parent directory is created if missing. A workspace whose files exceed
 * max_bytes is refused (EFBIG) before anything is written. res is filled on
 * success.
 */
int snap_take(struct snap_store *st, const char *workspace_dir, const char *index_path,
	      const char *parent_commit_hex, const char *snapshot_id, const char *message,
	      uint64_t max_bytes, struct snap_result *res, struct err **errp);

/**
 * Make workspace_dir exactly the snapshot commit_hex: entries not in the
 * snapshot are removed, changed files rewritten (temp file + rename), modes,
 * symlinks and empty directories restored; files whose stat matches the cache
 * (or whose content hashes equal) are left alone. Rewrites index_path (may be
 * NULL). A failure midway leaves a mix of old and new files (run it again).
 */
int snap_restore(struct snap_store *st, const char *commit_hex, const char *workspace_dir,
		 const char *index_path, struct err **errp);

/**
 * Write the snapshot into dest_dir, which must not exist; it is built under a
 * temporary sibling name and renamed, so dest_dir is either complete or absent.
 * Files are owned by the calling user.
 */
int snap_materialize(struct snap_store *st, const char *commit_hex, const char *dest_dir,
		     struct err **errp);

/**
 * Compare snapshot from_hex with snapshot to_hex, or with the live workspace
 * workspace_dir when to_hex is NULL (every file is read and hashed). *out:
 * {"added":[{path,lines}], "modified":[{path,added_lines,deleted_lines}],
 *  "deleted":[{path,lines}]}, paths sorted. Binary files (a NUL in the first
 * 8000 bytes) have 0 lines and "binary":true; only their first 8000 bytes are
 * read. Added and deleted files have their lines counted through a 64 KiB
 * buffer. A modified file's two versions are held for the line diff only
 * while both, with 192 bytes per line for libgit2's records, take at most
 * max_memory (0: SNAP_DIFF_MEMORY); past it, reading stops and the entry has
 * "too_large":true, "old_size", "new_size" and "reason" instead of line
 * counts. So the memory of a diff is bounded by max_memory, whatever the files
 * hold. A change of the executable bit or of the file type alone is listed
 * under modified with "old_mode"/"new_mode" (git's octal modes as strings),
 * 0 lines, no content read. At most SNAP_DIFF_LIST changes are listed, their
 * paths at most SNAP_DIFF_LIST_BYTES together (the first in path order); when
 * some are left out (not read either), "truncated":true and
 * "total":{added,modified,deleted} counts them all.
 */
int snap_diff(struct snap_store *st, const char *from_hex, const char *to_hex,
	      const char *workspace_dir, uint64_t max_memory, json_t **out, struct err **errp);

/* What one line diff may take by default (config diff_memory). */
#define SNAP_DIFF_MEMORY (64ull << 20)
/* The changes a diff lists at most, and the bytes of their paths together */
#define SNAP_DIFF_LIST 10000u
#define SNAP_DIFF_LIST_BYTES (1u << 20)

/** Remove refs/snapshots/<snapshot_id> (ENOENT if unknown). Objects stay until snap_gc(). */
int snap_delete(struct snap_store *st, const char *snapshot_id, struct err **errp);

/**
 * Repack: one new pack of every object the snapshot refs reach (their
 * commits, trees and blobs; parent commits are not kept and are listed in the
 * store's `shallow` file), then remove every other pack, temporary file and
 * loose object. No snap_take() may run meanwhile; restores/diffs may.
 */
int snap_gc(struct snap_store *st, struct err **errp);

/**
 * fsck-equivalent: every snapshot ref resolves to a commit whose tree, subtrees
 * and blobs are readable and hash to their ids. Optionally counts refs/objects.
 */
int snap_verify(struct snap_store *st, uint64_t *refs, uint64_t *objects, struct err **errp);

/** Hex commit id of refs/snapshots/<snapshot_id> into hex[41]. */
int snap_resolve(struct snap_store *st, const char *snapshot_id, char hex[41], struct err **errp);

/* ---- the module's table (mcpbox_snapshot_api) ---- */

struct snap_engine {
	struct srv_module_hdr hdr;
	__typeof__(snap_store_open) *store_open;
	__typeof__(snap_store_close) *store_close;
	__typeof__(snap_take) *take;
	__typeof__(snap_restore) *restore;
	__typeof__(snap_materialize) *materialize;
	__typeof__(snap_diff) *diff;
	__typeof__(snap_delete) *del;
	__typeof__(snap_gc) *gc;
	__typeof__(snap_verify) *verify;
	__typeof__(snap_resolve) *resolve;
};

#endif
