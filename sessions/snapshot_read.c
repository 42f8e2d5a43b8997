/*
 * snapshot_read.c — what reads snapshots back (see snapshot.h): snap_restore
 * and snap_materialize write a snapshot's tree into a directory, snap_diff
 * compares two snapshots or a snapshot with the workspace, snap_verify reads
 * every object the refs reach.
 */
#include "snapshot.h"
#include "snapshot_internal.h"
#include "workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/json_out.h"
#include "../server/base/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../server/base/banned.h"

/* ---- snap_restore / snap_materialize ------------------------------------ */

struct rst {
	struct snap_store *st;
	git_repository *repo;
	git_odb *odb;
	struct cache old, cache;
	bool fresh;		/* the directory was just made: nothing to compare or remove */
	bool do_chown;
	uid_t uid;
	gid_t gid;
	int depth;
	EVP_MD_CTX *md;
	unsigned char *iobuf;
	struct buf path;
	struct err **errp;
};

static const char *rst_path(struct rst *r, size_t mark, const char *name)
{
	r->path.len = mark;
	r->path.data[mark] = '\0';
	if (mark)
		buf_addch(&r->path, '/');
	buf_adds(&r->path, name);
	return r->path.data;
}

static int rst_remove(struct rst *r, int dfd, const char *name)
{
	struct err *e = NULL;
	if (sess_ws_remove_at(dfd, name, &e) < 0) {
		int en = e ? e->errnum : EIO;
		err_free(e);
		return err_set(r->errp, en, "cannot remove \"%s\"", r->path.data);
	}
	return 0;
}

/* Does the file dfd/name hold exactly the blob oid? Only read when the sizes agree. */
static bool same_content(struct rst *r, int dfd, const char *name, const struct stat *sb, const git_oid *oid)
{
	size_t len;
	git_object_t type;
	unsigned char got[OIDLEN];
	uint64_t n = 0;

	if (git_odb_read_header(&len, &type, r->odb, oid) < 0 || (uint64_t)len != (uint64_t)sb->st_size)
		return false;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat now;
	if (fd < 0 || fstat(fd, &now) < 0 || !S_ISREG(now.st_mode)) {
		if (fd >= 0)
			close(fd);	/* swapped for a FIFO since the stat: rewritten, never read */
		return false;
	}
	snapi_hash_begin(r->md, GIT_OBJECT_BLOB, len);
	while (n <= (uint64_t)len) {	/* one byte past the size at most, however it grows */
		uint64_t left = (uint64_t)len + 1 - n;
		ssize_t k = read(fd, r->iobuf, left < (1u << 20) ? (size_t)left : 1u << 20);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		EVP_DigestUpdate(r->md, r->iobuf, (size_t)k);
		n += (uint64_t)k;
	}
	close(fd);
	snapi_hash_end(r->md, got);
	return n == (uint64_t)len && !memcmp(got, oid->id, OIDLEN);
}

/* Put a new entry in place: made under a temporary name, renamed over the old one. */
static int rst_install(struct rst *r, int dfd, const char *name, const char *tmp, bool exists, const struct stat *sb)
{
	if (exists && S_ISDIR(sb->st_mode) && rst_remove(r, dfd, name) < 0) {
		unlinkat(dfd, tmp, 0);
		return -1;
	}
	if (renameat(dfd, tmp, dfd, name) < 0) {
		int e = errno;
		/* a directory appeared under that name meanwhile */
		if ((e == EISDIR || e == ENOTEMPTY || e == EEXIST) && rst_remove(r, dfd, name) == 0 &&
		    renameat(dfd, tmp, dfd, name) == 0)
			return 0;
		unlinkat(dfd, tmp, 0);
		return err_set(r->errp, e, "cannot write \"%s\"", r->path.data);
	}
	return 0;
}

/* Write n bytes to a new file, leaving a hole for every all-zero block: a
   sparse file comes back sparse instead of filling the disk with zeros. */
static int write_sparse(int fd, const void *data, size_t n)
{
	static const unsigned char zero[4096];
	const unsigned char *p = data;
	size_t off = 0;

	while (off < n) {
		size_t k = n - off < sizeof(zero) ? n - off : sizeof(zero);
		if (k == sizeof(zero) && !memcmp(p + off, zero, k)) {
			if (lseek(fd, (off_t)k, SEEK_CUR) < 0)
				return -1;
		} else if (write_all(fd, p + off, k) < 0) {
			return -1;
		}
		off += k;
	}
	return 0;
}

/* Copy the blob into fd in pieces of the 1 MiB iobuf (a multiple of the hole size). */
static int write_blob(struct rst *r, int fd, const git_oid *oid)
{
	struct blobrd b;
	int rc = -1;

	if (snapi_blob_open(&b, r->st, r->odb, oid, r->errp) < 0)
		goto out;
	for (;;) {
		ssize_t k = snapi_blob_read(&b, r->iobuf, 1 << 20, r->errp);
		if (k < 0)
			goto out;
		if (k == 0)
			break;
		if (write_sparse(fd, r->iobuf, (size_t)k) < 0) {
			err_set(r->errp, errno, "cannot write \"%s\"", r->path.data);
			goto out;
		}
	}
	/* a trailing hole still counts in the size */
	if (ftruncate(fd, (off_t)b.size) < 0) {
		err_set(r->errp, errno, "cannot write \"%s\"", r->path.data);
		goto out;
	}
	rc = 0;
out:
	snapi_blob_close(&b);
	return rc;
}

static int rst_file(struct rst *r, int dfd, const char *name, const git_oid *oid, bool exec, bool exists,
		    struct stat *sb)
{
	mode_t want = exec ? 0755 : 0644;
	char *tmp = NULL;
	int fd = -1;

	if (exists && S_ISREG(sb->st_mode)) {
		const struct cent *e = snapi_cache_find(&r->old, r->path.data);
		bool same = e && snapi_cache_vouches(&r->old, e, sb) ? !memcmp(e->oid, oid->id, OIDLEN)
							    : same_content(r, dfd, name, sb, oid);
		/* a hard-linked file may be shared with a lower layer: never chmod it in place */
		if (same && (sb->st_mode & 07777) != want && sb->st_nlink == 1) {
			fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			struct stat now;
			same = fd >= 0 && fstat(fd, &now) == 0 && now.st_ino == sb->st_ino && S_ISREG(now.st_mode) &&
			       fchmod(fd, want) == 0 && fstat(fd, sb) == 0;
			if (fd >= 0)
				close(fd);
			fd = -1;
		} else if (same && (sb->st_mode & 07777) != want) {
			same = false;
		}
		if (same) {
			snapi_cache_push(&r->cache, r->path.data, sb, oid->id);
			return 0;
		}
	}
	for (int tries = 0; fd < 0 && tries < 8; tries++) {
		free(tmp);
		tmp = random_id(".mcpbox-tmp-", 8);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err_set(r->errp, errno, "cannot write \"%s\"", r->path.data);
		goto fail;
	}
	int wr = (r->do_chown && fchown(fd, r->uid, r->gid) < 0) || fchmod(fd, want) < 0
			 ? err_set(r->errp, errno, "cannot write \"%s\"", r->path.data)
			 : write_blob(r, fd, oid);
	if (wr < 0) {
		close(fd);
		unlinkat(dfd, tmp, 0);
		goto fail;
	}
	if (close(fd) < 0) {
		err_set(r->errp, errno, "cannot write \"%s\"", r->path.data);
		unlinkat(dfd, tmp, 0);
		goto fail;
	}
	if (rst_install(r, dfd, name, tmp, exists, sb) < 0)
		goto fail;
	/* rename changes ctime on some filesystems: record the stat after it */
	if (fstatat(dfd, name, sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb->st_mode))
		snapi_cache_push(&r->cache, r->path.data, sb, oid->id);
	free(tmp);
	return 0;
fail:
	free(tmp);
	return -1;
}

static int rst_link(struct rst *r, int dfd, const char *name, const git_oid *oid, bool exists, const struct stat *sb)
{
	git_blob *blob = NULL;
	char target[4096], cur[4096];
	char *tmp = NULL;
	int rc = -1;

	if (git_blob_lookup(&blob, r->repo, oid) < 0)
		return snapi_git_fail(r->errp, "reading a symlink of the snapshot");
	size_t len = (size_t)git_blob_rawsize(blob);
	if (len == 0 || len >= sizeof(target) || memchr(git_blob_rawcontent(blob), 0, len)) {
		git_blob_free(blob);
		return err_set(r->errp, EINVAL, "invalid symlink \"%s\" in the snapshot", r->path.data);
	}
	memcpy(target, git_blob_rawcontent(blob), len);
	target[len] = '\0';
	git_blob_free(blob);
	if (exists && S_ISLNK(sb->st_mode)) {
		ssize_t n = readlinkat(dfd, name, cur, sizeof(cur));
		if (n == (ssize_t)len && !memcmp(cur, target, len))
			return 0;
	}
	for (int tries = 0; tries < 8; tries++) {
		free(tmp);
		tmp = random_id(".mcpbox-tmp-", 8);
		if (symlinkat(target, dfd, tmp) == 0) {
			rc = 0;
			break;
		}
		if (errno != EEXIST)
			break;
	}
	if (rc < 0) {
		err_set(r->errp, errno, "cannot create symlink \"%s\"", r->path.data);
	} else {
		if (r->do_chown)
			fchownat(dfd, tmp, r->uid, r->gid, AT_SYMLINK_NOFOLLOW);
		rc = rst_install(r, dfd, name, tmp, exists, sb);
	}
	free(tmp);
	return rc;
}

static int rst_dir(struct rst *r, int dfd, const git_tree *tree);

static int rst_subdir(struct rst *r, int dfd, const char *name, const git_oid *oid, bool exists,
		      const struct stat *sb)
{
	git_tree *sub = NULL;
	int cfd = -1, rc;
	bool was_fresh = r->fresh;

	if (r->depth >= MAX_DEPTH)
		return err_set(r->errp, ELOOP, "directories nested deeper than %d levels", MAX_DEPTH);
	if (exists && S_ISDIR(sb->st_mode))
		cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0) {
		/* a file, or a symlink planted where the snapshot has a directory: the link itself goes */
		if (exists && rst_remove(r, dfd, name) < 0)
			return -1;
		if (mkdirat(dfd, name, 0755) < 0)
			return err_set(r->errp, errno, "cannot create directory \"%s\"", r->path.data);
		if (r->do_chown)
			fchownat(dfd, name, r->uid, r->gid, AT_SYMLINK_NOFOLLOW);
		cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			return err_set(r->errp, errno, "cannot open directory \"%s\"", r->path.data);
		r->fresh = true;
	}
	if (git_tree_lookup(&sub, r->repo, oid) < 0) {
		close(cfd);
		return snapi_git_fail(r->errp, "reading a directory of the snapshot");
	}
	buf_addch(&r->path, '/');
	snapi_cache_push(&r->cache, r->path.data, NULL, oid->id);
	r->path.data[--r->path.len] = '\0';
	r->depth++;
	rc = rst_dir(r, cfd, sub);
	r->depth--;
	r->fresh = was_fresh;
	git_tree_free(sub);
	close(cfd);
	return rc;
}

static bool tree_name_ok(const char *name)
{
	return *name && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/');
}

/*
 * Remove the entries of dfd that the snapshot's tree does not have. The
 * sandbox may have made millions: their names are gathered RST_PRUNE_BATCH
 * at a time, removed, and the directory read again, so memory stays bounded.
 */
#define RST_PRUNE_BATCH 65536

static int rst_prune(struct rst *r, int dfd, const git_tree *tree)
{
	size_t mark = r->path.len;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct buf gone = BUF_INIT;	/* NUL-separated names not in the snapshot */
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return err_set(r->errp, errno, "cannot read directory \"%s\"", mark ? r->path.data : ".");
	}
	for (unsigned pass = 0, full = 1; full && rc == 0; pass++) {
		struct dirent *de;
		if (pass > SNAP_MAX_ENTRIES / RST_PRUNE_BATCH + 1) {
			rc = err_set(r->errp, EAGAIN, "directory \"%s\" keeps filling while it is restored",
				     mark ? r->path.data : ".");
			break;
		}
		size_t count = 0;
		full = 0;
		rewinddir(d);
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || git_tree_entry_byname(tree, de->d_name))
				continue;
			buf_add(&gone, de->d_name, strlen(de->d_name) + 1);
			if (++count == RST_PRUNE_BATCH) {
				full = 1;
				break;
			}
		}
		for (size_t off = 0; off < gone.len && rc == 0; off += strlen(gone.data + off) + 1) {
			rst_path(r, mark, gone.data + off);
			rc = rst_remove(r, dfd, gone.data + off);
		}
		buf_reset(&gone);
	}
	closedir(d);
	buf_release(&gone);
	r->path.len = mark;
	r->path.data[mark] = '\0';
	return rc;
}

static int rst_dir(struct rst *r, int dfd, const git_tree *tree)
{
	size_t mark = r->path.len;
	int rc = 0;

	if (!r->fresh && rst_prune(r, dfd, tree) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(te);
		const git_oid *oid = git_tree_entry_id(te);
		git_filemode_t mode = git_tree_entry_filemode(te);
		struct stat sb;
		bool exists = false;

		if (!tree_name_ok(name)) {
			rc = err_set(r->errp, EINVAL, "invalid name in the snapshot");
			break;
		}
		rst_path(r, mark, name);
		if (!r->fresh) {
			if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
				exists = true;
			else if (errno != ENOENT) {
				rc = err_set(r->errp, errno, "cannot stat \"%s\"", r->path.data);
				break;
			}
		}
		switch (mode) {
		case GIT_FILEMODE_TREE:
			rc = rst_subdir(r, dfd, name, oid, exists, &sb);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			rc = rst_file(r, dfd, name, oid, mode == GIT_FILEMODE_BLOB_EXECUTABLE, exists, &sb);
			break;
		case GIT_FILEMODE_LINK:
			rc = rst_link(r, dfd, name, oid, exists, &sb);
			break;
		default:
			break;	/* submodule links: never written by snap_take */
		}
	}
	r->path.len = mark;
	r->path.data[mark] = '\0';
	return rc;
}

static int rst_run(struct snap_store *st, const char *commit_hex, int rootfd, bool fresh, const char *index_path,
		   struct err **errp)
{
	struct rst r = { .st = st, .fresh = fresh, .errp = errp };
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct stat sb;
	int rc = -1;

	if (snapi_parse_hex(commit_hex, &oid, "snapshot", errp) < 0)
		return -1;
	if (snapi_repo_open(st, &r.repo, errp) < 0)
		return -1;
	if (git_commit_lookup(&commit, r.repo, &oid) < 0) {
		err_set(errp, ENOENT, "snapshot %s not found", commit_hex);
		goto out;
	}
	if (git_commit_tree(&tree, commit) < 0 || git_repository_odb(&r.odb, r.repo) < 0) {
		snapi_git_fail(errp, "reading the snapshot");
		goto out;
	}
	r.cache.gen = snapi_gen_read(st);
	r.cache.start_ns = snapi_wall_ns();
	memcpy(r.cache.commit, oid.id, OIDLEN);
	snapi_cache_load(&r.old, index_path);
	if (geteuid() == 0 && fstat(rootfd, &sb) == 0 && (sb.st_uid != 0 || sb.st_gid != 0)) {
		r.do_chown = true;
		r.uid = sb.st_uid;
		r.gid = sb.st_gid;
	}
	r.md = EVP_MD_CTX_new();
	if (!r.md)
		abort();
	r.iobuf = xmalloc(1 << 20);
	buf_adds(&r.path, "");
	snapi_cache_push(&r.cache, "", NULL, git_tree_id(tree)->id);
	if (rst_dir(&r, rootfd, tree) < 0)
		goto out;
	if (index_path && snapi_cache_save(&r.cache, index_path, errp) < 0)
		goto out;
	rc = 0;
out:
	git_tree_free(tree);
	git_commit_free(commit);
	snapi_cache_release(&r.old);
	snapi_cache_release(&r.cache);
	buf_release(&r.path);
	EVP_MD_CTX_free(r.md);
	free(r.iobuf);
	git_odb_free(r.odb);
	git_repository_free(r.repo);
	return rc;
}

int snapi_restore(struct snap_store *st, const char *commit_hex, const char *workspace_dir,
		 const char *index_path, struct err **errp)
{
	int fd = open(workspace_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(errp, errno, "cannot open the workspace");
	int rc = rst_run(st, commit_hex, fd, false, index_path, errp);
	close(fd);
	return rc;
}

int snapi_materialize(struct snap_store *st, const char *commit_hex, const char *dest_dir,
		     struct err **errp)
{
	struct stat sb;
	struct buf tmp = BUF_INIT;
	auto_free char *rnd = random_id(".tmp-", 6);
	int fd, rc = -1;

	if (lstat(dest_dir, &sb) == 0)
		return err_set(errp, EEXIST, "the materialized snapshot directory already exists");
	buf_addf(&tmp, "%s%s", dest_dir, rnd);
	if (mkdir(tmp.data, 0755) < 0) {
		err_set(errp, errno, "cannot create the materialized snapshot directory");
		goto out;
	}
	fd = open(tmp.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err_set(errp, errno, "cannot open the materialized snapshot directory");
	} else {
		fchmod(fd, 0755);	/* whatever the umask */
		rc = rst_run(st, commit_hex, fd, true, NULL, errp);
		close(fd);
	}
	if (rc == 0 && rename(tmp.data, dest_dir) < 0)
		rc = err_set(errp, errno, "cannot move the materialized snapshot into place");
	if (rc < 0)
		sess_ws_remove_at(AT_FDCWD, tmp.data, NULL);
out:
	buf_release(&tmp);
	return rc;
}

/* ---- snap_diff ---------------------------------------------------------- */

struct fent {
	char *path;
	uint32_t mode;
	unsigned char oid[OIDLEN];
	char *data;		/* workspace symlink target */
	size_t len;
};

struct fvec {
	struct fent *v;
	size_t n, cap;
	uint64_t path_bytes;	/* of every path pushed */
};

static struct fent *fvec_push(struct fvec *f, const char *path, uint32_t mode, const unsigned char *oid)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 256;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	struct fent *e = &f->v[f->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	f->path_bytes += strlen(path) + 1;
	e->mode = mode;
	memcpy(e->oid, oid, OIDLEN);
	return e;
}

static void fvec_release(struct fvec *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].data);
	}
	free(f->v);
}

static int fent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fent *)a)->path, ((const struct fent *)b)->path);
}

static int flatten_tree(git_repository *repo, const git_tree *tree, struct buf *path, struct fvec *out, int depth,
			struct err **errp)
{
	size_t mark = path->len;
	int rc = 0;

	if (depth > MAX_DEPTH)
		return err_set(errp, ELOOP, "snapshot nested too deep");
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		git_filemode_t mode = git_tree_entry_filemode(te);
		if (mark)
			buf_addch(path, '/');
		buf_adds(path, git_tree_entry_name(te));
		if (mode == GIT_FILEMODE_TREE) {
			git_tree *sub = NULL;
			if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)) < 0)
				rc = snapi_git_fail(errp, "reading a directory of the snapshot");
			else
				rc = flatten_tree(repo, sub, path, out, depth + 1, errp);
			git_tree_free(sub);
		} else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE || mode == GIT_FILEMODE_LINK) {
			fvec_push(out, path->data, (uint32_t)mode, git_tree_entry_id(te)->id);
			/* a snapshot taken before walks bounded its paths may hold more */
			if (out->path_bytes > SNAP_MAX_PATH_BYTES)
				rc = err_set(errp, EFBIG, "the snapshot's paths total more than %llu bytes, the most a diff "
					     "reads", (unsigned long long)SNAP_MAX_PATH_BYTES);
		}
		path->len = mark;
		path->data[mark] = '\0';
	}
	return rc;
}

static int flatten_ws(struct take *t, struct node *dir, struct fvec *out)
{
	size_t mark = t->path.len;
	for (size_t i = 0; i < dir->nkids; i++) {
		struct node *k = &dir->kids[i];
		if (mark)
			buf_addch(&t->path, '/');
		buf_adds(&t->path, k->name);
		if (k->gmode == GM_TREE) {
			if (flatten_ws(t, k, out) < 0)
				return -1;
		} else if (k->gmode == GM_LINK) {
			snapi_hash_buf(t->md, GIT_OBJECT_BLOB, k->data, k->len, k->oid);
			struct fent *e = fvec_push(out, t->path.data, k->gmode, k->oid);
			e->data = xstrndup(k->data, k->len);
			e->len = k->len;
		} else {
			if (snapi_hash_file(t, k) < 0)
				return -1;
			fvec_push(out, t->path.data, k->gmode, k->oid);
		}
		t->path.len = mark;
		t->path.data[mark] = '\0';
	}
	return 0;
}

/* What snap_diff reads contents with. */
struct dctx {
	struct snap_store *st;
	git_repository *repo;
	git_odb *odb;
	int rootfd;		/* the live workspace, or -1 */
	uint64_t max_memory;	/* what one line diff may take: both versions and libgit2's records */
	struct err **errp;
};

/* How much of a side is read: its size only; its lines counted through a small buffer; it held whole. */
enum side_read { SIDE_SIZE, SIDE_COUNT, SIDE_HOLD };

struct content {
	char *owned;
	const char *p;		/* held (SIDE_HOLD): n bytes */
	size_t n;
	uint64_t size;		/* the file's size */
	uint64_t lines;		/* newlines, and a last line without one */
	bool too_large, binary;
};

/*
 * libgit2 1.5's xdiff keeps about 160 bytes per line of either version
 * (measured: 58 for empty lines, up to 166 for short unique ones), so a line
 * diff takes the versions' bytes and this per line; no more than
 * max_memory of it is let in.
 */
#define DIFF_LINE_COST 192u
#define DIFF_PROBE 8000u	/* a NUL in the first 8000 bytes: binary, as git decides */
#define DIFF_PIECE (64u << 10)

static uint64_t content_cost(const struct content *c)
{
	return c->n + (c->lines + 1) * DIFF_LINE_COST;
}

static uint64_t newlines(const char *p, size_t n)
{
	uint64_t k = 0;
	for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		k++;
	return k;
}

/*
 * Read size bytes of a side: the first DIFF_PROBE (a NUL: binary, nothing
 * more read), then the rest, counting lines. SIDE_HOLD keeps it whole while
 * its cost (content_cost) stays within budget, else stops as too_large (one
 * larger than budget is known so from its size: only the probe is read);
 * SIDE_COUNT streams it through DIFF_PIECE bytes.
 */
static int read_content(struct content *c, uint64_t size, ssize_t (*rd)(void *, void *, size_t, struct err **),
			void *src, enum side_read how, uint64_t budget, struct err **errp)
{
	bool keep = how == SIDE_HOLD && size < budget && budget - size >= DIFF_LINE_COST;
	size_t cap = keep ? (size_t)size + 1 : DIFF_PIECE;
	char *buf = xmalloc(cap);
	uint64_t seen = 0;
	char last = '\n';
	int rc = 0;

	c->size = size;
	c->too_large = how == SIDE_HOLD && !keep;
	while (seen < size) {
		size_t at = keep ? (size_t)seen : 0;
		/* in pieces also when kept: the lines are counted before more is read */
		size_t want = size - seen < DIFF_PIECE ? (size_t)(size - seen) : DIFF_PIECE;
		if (seen < DIFF_PROBE && want > DIFF_PROBE - seen)
			want = DIFF_PROBE - (size_t)seen;	/* the probe first */
		ssize_t k = rd(src, buf + at, want, errp);
		if (k <= 0) {
			rc = k < 0 ? -1 : 0;
			break;
		}
		bool probing = seen < DIFF_PROBE;
		c->lines += newlines(buf + at, (size_t)k);
		last = buf[at + (size_t)k - 1];
		seen += (uint64_t)k;
		if (probing && memchr(buf + at, 0, (size_t)k)) {
			c->binary = true;
			c->too_large = false;
			break;
		}
		if (c->too_large && seen >= DIFF_PROBE)
			break;
		if (keep && seen + (c->lines + 1) * DIFF_LINE_COST > budget) {
			c->too_large = true;	/* too many lines */
			break;
		}
	}
	if (last != '\n')
		c->lines++;
	if (keep && rc == 0 && !c->binary && !c->too_large) {
		c->owned = buf;
		c->p = buf;
		c->n = (size_t)seen;
	} else {
		free(buf);
	}
	return rc;
}

static ssize_t blob_rd(void *src, void *buf, size_t n, struct err **errp)
{
	return snapi_blob_read(src, buf, n, errp);
}

static ssize_t fd_rd(void *src, void *buf, size_t n, struct err **errp)
{
	for (;;) {
		ssize_t k = read(*(int *)src, buf, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? err_set(errp, errno, "cannot read a file of the workspace") : k;
	}
}

/* A side of a diff, read as read_content says (budget: SIDE_HOLD's). */
static int load_content(struct dctx *d, const struct fent *e, bool from_ws, enum side_read how, uint64_t budget,
			struct content *c)
{
	memset(c, 0, sizeof(*c));
	if (!from_ws) {
		size_t len = 0;
		git_object_t type;
		struct blobrd b;
		if (git_odb_read_header(&len, &type, d->odb, (const git_oid *)e->oid) < 0)
			return snapi_git_fail(d->errp, "reading a file of the snapshot");
		if (how == SIDE_SIZE) {
			c->size = len;
			return 0;
		}
		int rc = snapi_blob_open(&b, d->st, d->odb, (const git_oid *)e->oid, d->errp);
		if (rc == 0)
			rc = read_content(c, b.size, blob_rd, &b, how, budget, d->errp);
		snapi_blob_close(&b);
		return rc;
	}
	if (e->mode == GM_LINK) {
		c->p = e->data;
		c->n = c->size = e->len;
		c->lines = newlines(e->data, e->len) + (e->len && e->data[e->len - 1] != '\n');
		return 0;
	}
	/* replaced since it was hashed (by a FIFO, a link, a directory): not read */
	int fd = snapi_open_beneath(d->rootfd, e->path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int en = fd < 0 ? errno : EAGAIN;
		if (fd >= 0)
			close(fd);
		return err_set(d->errp, en, "cannot read \"%s\"", e->path);
	}
	int rc = 0;
	if (how == SIDE_SIZE)
		c->size = (uint64_t)sb.st_size;
	else
		rc = read_content(c, (uint64_t)sb.st_size, fd_rd, &fd, how, budget, d->errp);
	close(fd);
	return rc;
}

static void content_release(struct content *c)
{
	free(c->owned);
}

/* Say why a modified file has no line counts (a line diff would pass d->max_memory). */
static void set_too_large(json_t *o, const struct dctx *d, const struct content *ca, const struct content *cb)
{
	struct buf why = BUF_INIT;
	buf_addf(&why, "too large for a line diff: %llu and %llu bytes with their lines would take more than the "
		 "%llu bytes a line diff may use (diff_memory)", (unsigned long long)ca->size,
		 (unsigned long long)cb->size, (unsigned long long)d->max_memory);
	json_object_set_new(o, "too_large", json_true());
	json_object_set_new(o, "old_size", json_integer((json_int_t)ca->size));
	json_object_set_new(o, "new_size", json_integer((json_int_t)cb->size));
	json_object_set_new(o, "reason", json_string(why.data));
	buf_release(&why);
}

static json_t *diff_one(struct dctx *d, const struct fent *a, const struct fent *b, bool b_ws)
{
	struct content ca = { 0 }, cb = { 0 };
	struct err **errp = d->errp;
	json_t *o = NULL;
	/* a mode change alone: nothing to read */
	enum side_read how = !a || !b ? SIDE_COUNT : memcmp(a->oid, b->oid, OIDLEN) ? SIDE_HOLD : SIDE_SIZE;

	/* once one side is binary, the other is not read at all; once it is too large, only its size */
	if (a && load_content(d, a, false, how, d->max_memory, &ca) < 0)
		goto out;
	uint64_t left = how == SIDE_HOLD && !ca.too_large && content_cost(&ca) < d->max_memory ?
			d->max_memory - content_cost(&ca) : 0;
	if (b && !ca.binary && load_content(d, b, b_ws, ca.too_large ? SIDE_SIZE : how, left, &cb) < 0)
		goto out;
	/* a name may be any bytes but "/" and NUL: never a reason to drop the entry */
	o = json_pack("{s:o}", "path", srv_json_text((a ? a : b)->path, strlen((a ? a : b)->path)));
	if (!a || !b) {
		const struct content *c = a ? &ca : &cb;
		json_object_set_new(o, "lines", json_integer(c->binary ? 0 : (json_int_t)c->lines));
		if (c->binary)
			json_object_set_new(o, "binary", json_true());
		goto out;
	}
	bool bin = ca.binary || cb.binary;	/* cb is empty when ca is binary */
	if (!bin && (ca.too_large || cb.too_large)) {
		set_too_large(o, d, &ca, &cb);
		goto mode;
	}
	size_t adds = 0, dels = 0;
	if (!bin && how == SIDE_HOLD) {
		git_patch *patch = NULL;
		if (git_patch_from_buffers(&patch, ca.p, ca.n, a->path, cb.p, cb.n, b->path, NULL) < 0 ||
		    git_patch_line_stats(NULL, &adds, &dels, patch) < 0) {
			git_patch_free(patch);
			json_decref(o);
			o = NULL;
			snapi_git_fail(errp, "comparing files");
			goto out;
		}
		git_patch_free(patch);
	}
	json_object_set_new(o, "added_lines", json_integer((json_int_t)adds));
	json_object_set_new(o, "deleted_lines", json_integer((json_int_t)dels));
	if (bin)
		json_object_set_new(o, "binary", json_true());
mode:
	if (a->mode != b->mode) {
		char m[16];
		snprintf(m, sizeof(m), "%o", a->mode);
		json_object_set_new(o, "old_mode", json_string(m));
		snprintf(m, sizeof(m), "%o", b->mode);
		json_object_set_new(o, "new_mode", json_string(m));
	}
out:
	content_release(&ca);
	content_release(&cb);
	return o;
}

static int load_side(git_repository *repo, const char *hex, struct fvec *out, struct err **errp)
{
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct buf path = BUF_INIT;
	int rc = -1;

	if (snapi_parse_hex(hex, &oid, "snapshot", errp) < 0)
		return -1;
	if (git_commit_lookup(&commit, repo, &oid) < 0) {
		err_set(errp, ENOENT, "snapshot %s not found", hex);
		goto out;
	}
	if (git_commit_tree(&tree, commit) < 0) {
		snapi_git_fail(errp, "reading the snapshot");
		goto out;
	}
	buf_adds(&path, "");
	rc = flatten_tree(repo, tree, &path, out, 0, errp);
out:
	buf_release(&path);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int snapi_diff(struct snap_store *st, const char *from_hex, const char *to_hex,
	      const char *workspace_dir, uint64_t max_memory, json_t **out, struct err **errp)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	struct fvec a = { 0 }, b = { 0 };
	struct take t = { .st = st, .rootfd = -1, .errp = errp };
	struct walk w = { .max_bytes = UINT64_MAX, .errp = errp };
	struct node root = { .gmode = GM_TREE };
	json_t *added = json_array(), *modified = json_array(), *deleted = json_array();
	int rc = -1;

	if (snapi_repo_open(st, &repo, errp) < 0)
		goto out;
	if (git_repository_odb(&odb, repo) < 0) {
		snapi_git_fail(errp, "opening the object database");
		goto out;
	}
	if (load_side(repo, from_hex, &a, errp) < 0)
		goto out;
	if (to_hex) {
		if (load_side(repo, to_hex, &b, errp) < 0)
			goto out;
	} else {
		if (!workspace_dir) {
			err_set(errp, EINVAL, "nothing to compare the snapshot with");
			goto out;
		}
		t.rootfd = open(workspace_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (t.rootfd < 0) {
			err_set(errp, errno, "cannot open the workspace");
			goto out;
		}
		t.md = EVP_MD_CTX_new();
		t.iobuf = xmalloc(1 << 20);
		t.kept = KEEP_BUDGET;	/* hash only; contents are read again for changed files */
		buf_adds(&w.path, "");
		buf_adds(&t.path, "");
		if (!t.md)
			abort();
		if (snapi_walk_dir(&w, t.rootfd, &root) < 0)
			goto out;
		t.bytes = w.bytes;
		t.max_bytes = UINT64_MAX;
		if (flatten_ws(&t, &root, &b) < 0)
			goto out;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), fent_cmp);
	if (b.n)
		qsort(b.v, b.n, sizeof(*b.v), fent_cmp);
	/* changes counted by kind (added, modified, deleted); past the list's bounds only counted */
	uint64_t total[3] = { 0 }, listed = 0, listed_bytes = 0;
	for (size_t i = 0, j = 0; i < a.n || j < b.n;) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].path, b.v[j].path);
		json_t *o;
		if (c == 0 && !memcmp(a.v[i].oid, b.v[j].oid, OIDLEN) && a.v[i].mode == b.v[j].mode) {
			i++, j++;
			continue;
		}
		const char *path = c <= 0 ? a.v[i].path : b.v[j].path;
		total[c > 0 ? 0 : c == 0 ? 1 : 2]++;
		if (listed < SNAP_DIFF_LIST && listed_bytes + strlen(path) <= SNAP_DIFF_LIST_BYTES) {
			struct dctx d = { .st = st, .repo = repo, .odb = odb, .rootfd = t.rootfd,
					  .max_memory = max_memory ? max_memory : SNAP_DIFF_MEMORY, .errp = errp };
			o = diff_one(&d, c <= 0 ? &a.v[i] : NULL, c >= 0 ? &b.v[j] : NULL, !to_hex);
			if (!o) {
				if (!*errp)
					err_set(errp, ENOMEM, "cannot describe a change");
				goto out;
			}
			json_array_append_new(c < 0 ? deleted : c > 0 ? added : modified, o);
			listed++;
			listed_bytes += strlen(path);
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	*out = json_pack("{s:o,s:o,s:o}", "added", added, "modified", modified, "deleted", deleted);
	added = modified = deleted = NULL;
	if (listed < total[0] + total[1] + total[2]) {
		json_object_set_new(*out, "truncated", json_true());
		json_object_set_new(*out, "total", json_pack("{s:I,s:I,s:I}", "added", (json_int_t)total[0], "modified",
							     (json_int_t)total[1], "deleted", (json_int_t)total[2]));
	}
	rc = 0;
out:
	json_decref(added);
	json_decref(modified);
	json_decref(deleted);
	fvec_release(&a);
	fvec_release(&b);
	snapi_node_release(&root);
	buf_release(&w.path);
	buf_release(&t.path);
	EVP_MD_CTX_free(t.md);
	free(t.iobuf);
	if (t.rootfd >= 0)
		close(t.rootfd);
	git_odb_free(odb);
	git_repository_free(repo);
	return rc;
}

/* ---- snap_verify -------------------------------------------------------- */

int snapi_verify(struct snap_store *st, uint64_t *refs, uint64_t *objects, struct err **errp)
{
	struct reach r = { .errp = errp };
	git_oid *ids = NULL;
	size_t n = 0;
	int rc = snapi_reach_all(st, &r, &ids, &n, NULL);

	if (rc == 0) {
		if (refs)
			*refs = n;
		if (objects)
			*objects = r.objects;
	}
	free(ids);
	snapi_reach_release(&r);
	return rc;
}
