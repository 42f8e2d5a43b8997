/**
 * snapshot_internal.h — glue between the files of the snapshot engine; not for
 * use outside them (the public contract is snapshot.h).
 *
 *   snapshot_store.c  the store, shared helpers, the stat cache, refs, reachability
 *   snapshot_write.c  workspace walk and hashing, the pack writer, snap_take, snap_gc
 *   snapshot_read.c   snap_restore, snap_materialize, snap_diff, snap_verify
 *   snapshot_blob.c   large files in and out of the store in bounded pieces
 *
 * These files build mcpbox-snapshot.so (server/module.h): snapi_<f> implements
 * snapshot.h's snap_<f>, which the server reaches through the module's table.
 *
 * Functions that can fail return 0 or -1 with *errp set, as in snapshot.h.
 * Nothing here keeps global state; the threading rules are snapshot.h's.
 */
#ifndef MCPBOX_SESS_SNAPSHOT_INTERNAL_H
#define MCPBOX_SESS_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <git2.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "snapshot.h"
#include "../server/base/buf.h"
#include "../server/base/err.h"

#define GM_TREE 0040000u
#define GM_BLOB 0100644u
#define GM_EXEC 0100755u
#define GM_LINK 0120000u

#define OIDLEN 20
#define MAX_DEPTH 256
#define KEEP_FILE_MAX (8u << 20)	/* files up to this size stay in memory between hash and pack */
#define KEEP_BUDGET (64u << 20)
/* files larger than this are stored as loose objects, streamed in and out (snapshot_blob.c) */
#define LOOSE_MIN KEEP_FILE_MAX
/* the largest blob read whole: small packed ones (up to LOOSE_MIN), and a large one only when no
   .idx of objects/pack names it (an object store this engine did not write: alternates) */
#define SNAP_WHOLE_MAX (256ull << 20)
#define SNAP_MWINDOW_SIZE (4u << 20)	/* libgit2's mmap windows on packs, and their total */
#define SNAP_MWINDOW_MAPPED (32u << 20)

struct snap_store {
	char *gitdir;
	char *gen_path;
};

/* ---- helpers (snapshot_store.c) ----------------------------------------- */

/** Log libgit2's last error (it may hold host paths) and set a plain one. Returns -1. */
int snapi_git_fail(struct err **errp, const char *what);
/** CLOCK_REALTIME in nanoseconds. */
int64_t snapi_wall_ns(void);
/** A 40-digit hex commit id; what names it in the error. */
int snapi_parse_hex(const char *hex, git_oid *oid, const char *what, struct err **errp);
/** Check a snapshot id and append its ref name (refs/snapshots/<id>) to refname. */
int snapi_valid_snapshot_id(const char *id, struct buf *refname, struct err **errp);
/** openat2 of rel beneath rootfd, following no symlink; the fd or -1 with errno. */
int snapi_open_beneath(int rootfd, const char *rel, int flags);
/** A git object id (SHA-1 of "<type> <len>\0" + content), in pieces or at once. */
void snapi_hash_begin(EVP_MD_CTX *c, int type, uint64_t len);
void snapi_hash_end(EVP_MD_CTX *c, unsigned char *oid);
void snapi_hash_buf(EVP_MD_CTX *c, int type, const void *p, size_t n, unsigned char *oid);

/** Open the store's repository; the caller frees it. */
int snapi_repo_open(struct snap_store *st, git_repository **repo, struct err **errp);
/** The gc generation (0 if unreadable): stat caches of another generation prove no object exists. */
uint64_t snapi_gen_read(struct snap_store *st);
/** Replace path with data (temporary file, then rename). */
int snapi_write_atomic(const char *path, const void *data, size_t len, struct err **errp);

/* ---- a set of object ids (snapshot_store.c) ----------------------------- */

struct oidset {
	unsigned char (*slot)[OIDLEN];
	unsigned char *used;
	size_t cap, n;
};

/** 1 if added, 0 if it was there. */
int snapi_oidset_add(struct oidset *s, const unsigned char *oid);
bool snapi_oidset_has(const struct oidset *s, const unsigned char *oid);
void snapi_oidset_release(struct oidset *s);

/* ---- the stat cache (snapshot_store.c) ---------------------------------- */

struct cent {
	const char *path;	/* files: "a/b"; directories: "a/b/"; root: "" */
	uint32_t st_mode;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	unsigned char oid[OIDLEN];
};

struct cache {
	uint64_t gen;
	int64_t start_ns;
	unsigned char commit[OIDLEN];
	struct cent *e;
	size_t n, cap;
	char *raw;		/* loaded file; paths point into it */
	struct buf names;	/* paths of entries being built (offsets) */
};

/** Load the cache at path (NULL: none); a missing or unreadable one is empty. */
void snapi_cache_load(struct cache *c, const char *path);
/** The entry for path in a loaded cache, or NULL. */
const struct cent *snapi_cache_find(const struct cache *c, const char *path);
/** The entry's stat still describes the content it names (git's racy-clean rule). */
bool snapi_cache_vouches(const struct cache *c, const struct cent *e, const struct stat *sb);
/** Add an entry to a cache being built (sb NULL: a directory, no stat). */
void snapi_cache_push(struct cache *c, const char *path, const struct stat *sb, const unsigned char *oid);
/** Sort and write a cache built with snapi_cache_push to path (NULL: nothing). */
int snapi_cache_save(struct cache *c, const char *path, struct err **errp);
void snapi_cache_release(struct cache *c);

/* ---- walking and hashing a workspace (snapshot_write.c) ----------------- */

struct node {
	char *name;
	uint32_t gmode;
	struct stat sb;
	unsigned char oid[OIDLEN];
	bool known;		/* oid is set */
	bool present;		/* the object is already in the store */
	bool cached;		/* oid came from the stat cache */
	char *data;		/* symlink target, kept file content or tree body */
	size_t len;
	char *rel;		/* path of a large file whose content was not kept */
	struct node *kids;
	size_t nkids;
};

/*
 * Entries (files, directories, links, skipped special files) a walk takes
 * at most: each costs the server about 300 bytes until the call ends, so a
 * tree of millions of empty files cannot grow it without bound.
 */
#define SNAP_MAX_ENTRIES (1u << 20)
/*
 * Bytes of those entries' paths together (each from the workspace's root): a
 * snapshot's stat cache and a diff's lists hold every path whole, so a tree
 * of long names nested deep cannot make each entry cost 4 KiB.
 */
#define SNAP_MAX_PATH_BYTES (64u << 20)

struct walk {
	int rootfd;
	uint64_t max_bytes, bytes, files, dirs, skipped;
	uint64_t entries, max_entries;	/* max_entries 0: SNAP_MAX_ENTRIES */
	uint64_t path_bytes, max_path_bytes;	/* max_path_bytes 0: SNAP_MAX_PATH_BYTES */
	int depth;
	struct buf path;
	struct err **errp;
};

/** Stat every entry beneath dfd into dir's kids, sorted in git's tree order. */
int snapi_walk_dir(struct walk *w, int dfd, struct node *dir);
void snapi_node_release(struct node *n);

/* State of one snap_take; snap_diff fills one to hash the workspace. */
struct take {
	struct snap_store *st;
	git_odb *odb;
	int rootfd;
	struct cache old, cache;
	bool cache_current;	/* no gc since the cache was written: its objects exist */
	EVP_MD_CTX *md;
	struct oidset queued;	/* objects already in the pack list */
	struct node **todo;	/* objects to write, in order */
	size_t ntodo, captodo;
	uint64_t kept;
	uint64_t hashed_files, hashed_bytes;
	uint64_t bytes, max_bytes;	/* the walk's total, kept up to date as files are read */
	struct buf path;
	unsigned char *iobuf;
	struct err **errp;
};

/** Read the file at t->path once: set n->oid and, when small, keep the content. */
int snapi_hash_file(struct take *t, struct node *n);

/* ---- large blobs (snapshot_blob.c) -------------------------------------- */

/* A blob being read: a loose one (or a large packed one) inflated piece by piece, or a small packed one held whole. */
struct blobrd {
	uint64_t size, pos;	/* content length, bytes handed out */
	git_odb_object *obj;	/* packed and small: the whole blob (at most SNAP_WHOLE_MAX) */
	int fd;			/* loose or packed: the object file; plain: a delta applied into an unnamed file */
	z_stream zs;
	bool zinit, ended, eof, checked, plain;
	unsigned char *in;
	unsigned char pend[64];	/* content inflated with the header */
	size_t pend_len;
	EVP_MD_CTX *md;
	unsigned char oid[OIDLEN];
};

/** Is the object stored loose (as large blobs are)? */
bool snapi_loose_has(struct snap_store *st, const unsigned char *oid);
/** Open blob oid for reading; b->size is its length. snapi_blob_close() also after a failure. */
int snapi_blob_open(struct blobrd *b, struct snap_store *st, git_odb *odb, const git_oid *oid, struct err **errp);
/**
 * Fill buf with the next min(n, what is left) bytes; returns that count (0 at the
 * end) or -1. The read that reaches the end also checks the content against the
 * blob's id (EIO: corrupt).
 */
ssize_t snapi_blob_read(struct blobrd *b, void *buf, size_t n, struct err **errp);
void snapi_blob_close(struct blobrd *b);
/**
 * Store packed blob oid as a loose object too, streamed (gc moves the large
 * blobs that versions before loose objects packed out of their packs).
 */
int snapi_blob_make_loose(struct snap_store *st, git_odb *odb, const git_oid *oid, struct err **errp);
/**
 * Store the size bytes read from fd as a loose blob through libgit2's write
 * stream (1 MiB pieces through iobuf); EAGAIN if they do not hash to want
 * (the file changed since it was hashed). rel names the file in errors.
 */
int snapi_blob_write_loose(git_odb *odb, int fd, uint64_t size, const unsigned char *want, unsigned char *iobuf,
			   const char *rel, struct err **errp);

/* ---- refs and reachability (snapshot_store.c) --------------------------- */

/** Commit ids of every refs/snapshots/ ref; the caller frees *out. */
int snapi_snapshot_refs(git_repository *repo, git_oid **out, size_t *n, struct err **errp);

struct robj {
	git_oid id;
	git_object_t type;
};

struct reach {
	struct snap_store *st;
	git_repository *repo;
	git_odb *odb;
	bool collect;		/* gc: list what is reached instead of reading blobs */
	struct robj *list;
	size_t n, cap;
	struct oidset seen;
	uint64_t objects;
	const char *ref;	/* for messages */
	struct err **errp;
};

/* ---- the engine's side of snapshot.h (the table is in snapshot_store.c) --- */

int snapi_store_open(struct snap_store **out, const char *data_dir, struct err **errp);
void snapi_store_close(struct snap_store *st);
int snapi_take(struct snap_store *st, const char *workspace_dir, const char *index_path,
	       const char *parent_commit_hex, const char *snapshot_id, const char *message,
	       uint64_t max_bytes, struct snap_result *res, struct err **errp);
int snapi_restore(struct snap_store *st, const char *commit_hex, const char *workspace_dir,
		  const char *index_path, struct err **errp);
int snapi_materialize(struct snap_store *st, const char *commit_hex, const char *dest_dir, struct err **errp);
int snapi_diff(struct snap_store *st, const char *from_hex, const char *to_hex,
	       const char *workspace_dir, uint64_t max_memory, json_t **out, struct err **errp);
int snapi_delete(struct snap_store *st, const char *snapshot_id, struct err **errp);
int snapi_gc(struct snap_store *st, struct err **errp);
int snapi_verify(struct snap_store *st, uint64_t *refs, uint64_t *objects, struct err **errp);
int snapi_resolve(struct snap_store *st, const char *snapshot_id, char hex[41], struct err **errp);

/** Walk a commit and everything it reaches (once per object, across calls). */
int snapi_reach_commit(struct reach *r, const git_oid *id);
/**
 * Open the store's repository and object database into r and walk every
 * snapshot's commit: *ids (malloc'd, *n of them) lists them, and so does
 * commits when not NULL. The caller frees *ids and calls
 * snapi_reach_release(r), also after a failure.
 */
int snapi_reach_all(struct snap_store *st, struct reach *r, git_oid **ids, size_t *n, struct oidset *commits);
void snapi_reach_release(struct reach *r);
/** Log and report a missing or corrupt object. Returns -1. */
int snapi_reach_fail(struct reach *r, const git_oid *oid, const char *what);

#endif
