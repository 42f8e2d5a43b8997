/*
 * snapshot_write.c — what adds to or prunes the store (see snapshot.h):
 * walking and hashing a workspace, the pack writer, snap_take and snap_gc.
 * snap_diff (snapshot_read.c) reuses the walk and the hashing.
 *
 * We walk the workspace ourselves instead of using git_index_add_all and
 * git_checkout: libgit2 refuses paths with a ".git" component, applies
 * .gitignore, cannot store empty directories and follows its own rules about
 * symlinks in the work tree. Objects are hashed here, streamed into one pack
 * per snapshot through libgit2's indexer (git_odb_write_pack), which checks
 * every object again with collision-detecting SHA-1 and writes the .idx.
 */
#include "snapshot.h"
#include "snapshot_internal.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../server/base/banned.h"

/* ---- walking a workspace ------------------------------------------------ */

void snapi_node_release(struct node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		snapi_node_release(&n->kids[i]);
	free(n->kids);
	free(n->name);
	free(n->data);
	free(n->rel);
}

/* git's tree order: names compared bytewise, a directory as if it ended in '/'. */
static int node_cmp(const void *pa, const void *pb)
{
	const struct node *a = pa, *b = pb;
	size_t la = strlen(a->name), lb = strlen(b->name), n = la < lb ? la : lb;
	int c = memcmp(a->name, b->name, n);
	if (c)
		return c;
	unsigned ca = la > n ? (unsigned char)a->name[n] : a->gmode == GM_TREE ? '/' : 0;
	unsigned cb = lb > n ? (unsigned char)b->name[n] : b->gmode == GM_TREE ? '/' : 0;
	return (int)ca - (int)cb;
}

int snapi_walk_dir(struct walk *w, int dfd, struct node *dir)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return err_set(w->errp, errno, "cannot read directory \"%s\"", w->path.len ? w->path.data : ".");
	}
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		struct stat sb;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (++w->entries > (w->max_entries ? w->max_entries : SNAP_MAX_ENTRIES)) {
			r = err_set(w->errp, EFBIG, "the workspace holds more than %llu files and directories, the most "
				    "a snapshot takes", (unsigned long long)(w->max_entries ? w->max_entries : SNAP_MAX_ENTRIES));
			break;
		}
		w->path_bytes += (w->path.len ? w->path.len + 1 : 0) + strlen(name) + 1;	/* "dir/name" and its NUL */
		if (w->path_bytes > (w->max_path_bytes ? w->max_path_bytes : SNAP_MAX_PATH_BYTES)) {
			r = err_set(w->errp, EFBIG, "the paths of the workspace's files and directories total more than "
				    "%llu bytes, the most a snapshot takes (long names nested deep)",
				    (unsigned long long)(w->max_path_bytes ? w->max_path_bytes : SNAP_MAX_PATH_BYTES));
			break;
		}
		if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* removed while we look: not part of the snapshot */
			r = err_set(w->errp, errno, "cannot stat \"%s%s%s\"", w->path.data ? w->path.data : "",
				    w->path.len ? "/" : "", name);
			break;
		}
		uint32_t gm;
		if (S_ISDIR(sb.st_mode))
			gm = GM_TREE;
		else if (S_ISREG(sb.st_mode))
			gm = (sb.st_mode & S_IXUSR) ? GM_EXEC : GM_BLOB;
		else if (S_ISLNK(sb.st_mode))
			gm = GM_LINK;
		else {
			w->skipped++;
			continue;
		}
		if (dir->nkids == cap) {
			cap = cap ? cap * 2 : 16;
			dir->kids = xrealloc(dir->kids, cap * sizeof(*dir->kids));
		}
		struct node *k = &dir->kids[dir->nkids++];
		memset(k, 0, sizeof(*k));
		k->name = xstrdup(name);
		k->gmode = gm;
		k->sb = sb;
		if (gm == GM_LINK) {
			char target[4096];
			ssize_t n = readlinkat(dfd, name, target, sizeof(target));
			if (n < 0 || n == (ssize_t)sizeof(target)) {
				if (n < 0 && errno == ENOENT) {
					free(k->name);
					dir->nkids--;
					continue;
				}
				r = err_set(w->errp, n < 0 ? errno : ENAMETOOLONG, "cannot read symlink \"%s\"", name);
				break;
			}
			k->data = xstrndup(target, (size_t)n);
			k->len = (size_t)n;
			w->bytes += (uint64_t)n;
			w->files++;
		} else if (gm == GM_TREE) {
			w->dirs++;
		} else {
			w->bytes += (uint64_t)sb.st_size;
			w->files++;
		}
		if (w->bytes > w->max_bytes) {
			r = err_set(w->errp, EFBIG, "the workspace holds more than the %llu bytes a snapshot may hold",
				    (unsigned long long)w->max_bytes);
			break;
		}
	}
	closedir(d);
	if (r < 0)
		return r;
	if (dir->nkids)
		qsort(dir->kids, dir->nkids, sizeof(*dir->kids), node_cmp);

	for (size_t i = 0; i < dir->nkids; i++) {
		struct node *k = &dir->kids[i];
		if (k->gmode != GM_TREE)
			continue;
		size_t mark = w->path.len;
		if (mark)
			buf_addch(&w->path, '/');
		buf_adds(&w->path, k->name);
		if (w->depth >= MAX_DEPTH) {
			r = err_set(w->errp, ELOOP, "directories nested deeper than %d levels at \"%s\"", MAX_DEPTH,
				    w->path.data);
			break;
		}
		int cfd = openat(dfd, k->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			r = err_set(w->errp, errno == ELOOP || errno == ENOTDIR ? EAGAIN : errno,
				    "cannot open directory \"%s\"", w->path.data);
			break;
		}
		w->depth++;
		r = snapi_walk_dir(w, cfd, k);
		w->depth--;
		close(cfd);
		w->path.len = mark;
		w->path.data[mark] = '\0';
		if (r < 0)
			break;
	}
	return r;
}

/* ---- writing a pack ----------------------------------------------------- */

struct packw {
	git_odb_writepack *wp;
	git_indexer_progress stats;
	EVP_MD_CTX *sum;
	unsigned char *buf;
	size_t len, cap;
	uint64_t total;
	z_stream zs;
	bool zinit;
};

static int pw_flush(struct packw *pw, struct err **errp)
{
	if (!pw->len)
		return 0;
	EVP_DigestUpdate(pw->sum, pw->buf, pw->len);
	if (pw->wp->append(pw->wp, pw->buf, pw->len, &pw->stats) < 0)
		return snapi_git_fail(errp, "writing a pack");
	pw->total += pw->len;
	pw->len = 0;
	return 0;
}

static int pw_put(struct packw *pw, const void *p, size_t n, struct err **errp)
{
	while (n) {
		size_t k = pw->cap - pw->len < n ? pw->cap - pw->len : n;
		memcpy(pw->buf + pw->len, p, k);
		pw->len += k;
		p = (const char *)p + k;
		n -= k;
		if (pw->len == pw->cap && pw_flush(pw, errp) < 0)
			return -1;
	}
	return 0;
}

static int pw_begin(struct packw *pw, uint32_t count, int level, struct err **errp)
{
	unsigned char hdr[12] = { 'P', 'A', 'C', 'K', 0, 0, 0, 2,
				  (unsigned char)(count >> 24), (unsigned char)(count >> 16),
				  (unsigned char)(count >> 8), (unsigned char)count };
	pw->cap = 256 << 10;
	pw->buf = xmalloc(pw->cap);
	pw->sum = EVP_MD_CTX_new();
	if (!pw->sum)
		abort();
	EVP_DigestInit_ex(pw->sum, EVP_sha1(), NULL);
	if (deflateInit(&pw->zs, level) != Z_OK)
		return err_set(errp, ENOMEM, "zlib");
	pw->zinit = true;
	return pw_put(pw, hdr, sizeof(hdr), errp);
}

static int pw_obj_header(struct packw *pw, int type, uint64_t size, struct err **errp)
{
	unsigned char h[16];
	size_t i = 0;
	h[0] = (unsigned char)((type << 4) | (size & 15));
	size >>= 4;
	while (size) {
		h[i++] |= 0x80;
		h[i] = size & 0x7f;
		size >>= 7;
	}
	deflateReset(&pw->zs);
	return pw_put(pw, h, i + 1, errp);
}

static int pw_deflate(struct packw *pw, const void *p, size_t n, bool finish, struct err **errp)
{
	pw->zs.next_in = (Bytef *)(uintptr_t)p;
	pw->zs.avail_in = (uInt)n;
	for (;;) {
		if (pw->len == pw->cap && pw_flush(pw, errp) < 0)
			return -1;
		pw->zs.next_out = pw->buf + pw->len;
		pw->zs.avail_out = (uInt)(pw->cap - pw->len);
		int zr = deflate(&pw->zs, finish ? Z_FINISH : Z_NO_FLUSH);
		pw->len = pw->cap - pw->zs.avail_out;
		if (zr == Z_STREAM_END)
			return 0;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return err_set(errp, EIO, "zlib deflate failed");
		if (!finish && pw->zs.avail_in == 0)
			return 0;
	}
}

static int pw_object(struct packw *pw, int type, const void *p, size_t n, struct err **errp)
{
	if (pw_obj_header(pw, type, n, errp) < 0)
		return -1;
	return pw_deflate(pw, p, n, true, errp);
}

static int pw_finish(struct packw *pw, unsigned char *trailer, struct err **errp)
{
	if (pw_flush(pw, errp) < 0)
		return -1;
	snapi_hash_end(pw->sum, trailer);
	if (pw->wp->append(pw->wp, trailer, OIDLEN, &pw->stats) < 0)
		return snapi_git_fail(errp, "writing a pack");
	pw->total += OIDLEN;
	if (pw->wp->commit(pw->wp, &pw->stats) < 0)
		return snapi_git_fail(errp, "indexing a pack");
	return 0;
}

static void pw_release(struct packw *pw)
{
	if (pw->wp)
		pw->wp->free(pw->wp);	/* an uncommitted pack's temp file is removed */
	if (pw->zinit)
		deflateEnd(&pw->zs);
	EVP_MD_CTX_free(pw->sum);
	free(pw->buf);
}

/* ---- snap_take ---------------------------------------------------------- */

static unsigned count_packs(struct snap_store *st)
{
	struct buf b = BUF_INIT;
	unsigned n = 0;
	buf_addf(&b, "%s/objects/pack", st->gitdir);
	DIR *d = opendir(b.data);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".idx"))
			n++;
	}
	if (d)
		closedir(d);
	buf_release(&b);
	return n;
}

static void queue(struct take *t, struct node *n)
{
	if (t->ntodo == t->captodo) {
		t->captodo = t->captodo ? t->captodo * 2 : 64;
		t->todo = xrealloc(t->todo, t->captodo * sizeof(*t->todo));
	}
	t->todo[t->ntodo++] = n;
}

/* Is the object in the store (or already queued for this pack)? Queue it if not. */
static void need_object(struct take *t, struct node *n)
{
	if (snapi_oidset_has(&t->queued, n->oid))
		return;
	if ((n->cached && t->cache_current) ||
	    git_odb_exists_ext(t->odb, (const git_oid *)n->oid, GIT_ODB_LOOKUP_NO_REFRESH) == 1) {
		n->present = true;
		return;
	}
	if (n->cached) {
		/* gc dropped it: the cache cannot vouch after all */
		n->cached = false;
		n->known = false;
		return;
	}
	snapi_oidset_add(&t->queued, n->oid);
	queue(t, n);
}

/* Read a regular file once: hash it and, when small, keep it for the pack. */
int snapi_hash_file(struct take *t, struct node *n)
{
	int fd = snapi_open_beneath(t->rootfd, t->path.data, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;
	uint64_t got = 0;

	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = fd < 0 ? errno : EAGAIN;
		if (fd >= 0)
			close(fd);
		return err_set(t->errp, e == ELOOP || e == ENOTDIR || e == EXDEV ? EAGAIN : e,
			       "cannot read \"%s\"", t->path.data);
	}
	/* a file that grew since the walk still counts against the limit */
	uint64_t walked = (uint64_t)n->sb.st_size;
	if (t->bytes - walked + (uint64_t)sb.st_size > t->max_bytes) {
		close(fd);
		return err_set(t->errp, EFBIG, "the workspace holds more than the %llu bytes a snapshot may hold",
			       (unsigned long long)t->max_bytes);
	}
	n->sb = sb;	/* the stat from before the read: if it changes, the next snapshot reads again */
	n->gmode = (sb.st_mode & S_IXUSR) ? GM_EXEC : GM_BLOB;
	bool keep = (uint64_t)sb.st_size <= KEEP_FILE_MAX && t->kept + (uint64_t)sb.st_size <= KEEP_BUDGET;
	if (keep) {
		size_t cap = (size_t)sb.st_size + 1;
		char *data = xmalloc(cap);
		for (;;) {
			ssize_t r = read(fd, data + got, cap - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int e = errno;
				free(data);
				close(fd);
				return err_set(t->errp, e, "cannot read \"%s\"", t->path.data);
			}
			if (r == 0)
				break;
			got += (uint64_t)r;
			if (got == cap) {
				if (cap > KEEP_FILE_MAX) {
					free(data);
					close(fd);
					return err_set(t->errp, EAGAIN, "\"%s\" kept growing while it was read", t->path.data);
				}
				cap *= 2;
				data = xrealloc(data, cap);
			}
		}
		/* what we read is what we store, even if the file changed meanwhile */
		snapi_hash_buf(t->md, GIT_OBJECT_BLOB, data, got, n->oid);
		n->data = data;
		n->len = got;
		t->kept += got;
	} else {
		snapi_hash_begin(t->md, GIT_OBJECT_BLOB, (uint64_t)sb.st_size);
		/* one byte past the size at most: a file the sandbox keeps appending to ends the read */
		while (got <= (uint64_t)sb.st_size) {
			uint64_t left = (uint64_t)sb.st_size + 1 - got;
			ssize_t r = read(fd, t->iobuf, left < (1u << 20) ? (size_t)left : 1u << 20);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int e = errno;
				close(fd);
				return err_set(t->errp, e, "cannot read \"%s\"", t->path.data);
			}
			if (r == 0)
				break;
			EVP_DigestUpdate(t->md, t->iobuf, (size_t)r);
			got += (uint64_t)r;
		}
		snapi_hash_end(t->md, n->oid);
		if (got != (uint64_t)sb.st_size) {
			close(fd);
			return err_set(t->errp, EAGAIN, "\"%s\" changed while it was read", t->path.data);
		}
		n->rel = xstrdup(t->path.data);
	}
	close(fd);
	n->known = true;
	t->hashed_files++;
	t->hashed_bytes += got;
	t->bytes = t->bytes - walked + got;
	if (t->bytes > t->max_bytes)
		return err_set(t->errp, EFBIG, "the workspace holds more than the %llu bytes a snapshot may hold",
			       (unsigned long long)t->max_bytes);
	return 0;
}

/* Hash the files of a directory (depth first), then the directory itself. */
static int take_dir(struct take *t, struct node *dir)
{
	struct buf body = BUF_INIT;
	size_t mark = t->path.len;

	for (size_t i = 0; i < dir->nkids; i++) {
		struct node *k = &dir->kids[i];
		if (mark)
			buf_addch(&t->path, '/');
		buf_adds(&t->path, k->name);
		if (k->gmode == GM_TREE) {
			if (take_dir(t, k) < 0)
				goto fail;
		} else if (k->gmode == GM_LINK) {
			snapi_hash_buf(t->md, GIT_OBJECT_BLOB, k->data, k->len, k->oid);
			k->known = true;
			need_object(t, k);
		} else {
			const struct cent *e = snapi_cache_find(&t->old, t->path.data);
			if (e && snapi_cache_vouches(&t->old, e, &k->sb)) {
				memcpy(k->oid, e->oid, OIDLEN);
				k->known = k->cached = true;
			}
			if (k->known)
				need_object(t, k);
			if (!k->known) {
				if (snapi_hash_file(t, k) < 0)
					goto fail;
				need_object(t, k);
			}
			snapi_cache_push(&t->cache, t->path.data, &k->sb, k->oid);
		}
		t->path.len = mark;
		t->path.data[mark] = '\0';
	}
	for (size_t i = 0; i < dir->nkids; i++) {
		struct node *k = &dir->kids[i];
		buf_addf(&body, "%o %s", k->gmode, k->name);
		buf_add(&body, "", 1);
		buf_add(&body, k->oid, OIDLEN);
	}
	dir->len = body.len;
	dir->data = buf_detach(&body);
	snapi_hash_buf(t->md, GIT_OBJECT_TREE, dir->data, dir->len, dir->oid);
	dir->known = true;
	need_object(t, dir);
	/* directory entries record no stat; they exist so restore can find tree ids by path */
	buf_adds(&t->path, mark ? "/" : "");
	snapi_cache_push(&t->cache, t->path.data, NULL, dir->oid);
	t->path.len = mark;
	if (t->path.data)
		t->path.data[mark] = '\0';
	return 0;
fail:
	buf_release(&body);
	return -1;
}

/* The file at rel again, as it was hashed: same size, a regular file beneath the root. */
static int reopen_file(struct take *t, struct node *n, const char *rel)
{
	int fd = snapi_open_beneath(t->rootfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;

	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != n->sb.st_size) {
		if (fd >= 0)
			close(fd);
		return err_set(t->errp, EAGAIN, "\"%s\" changed while the snapshot was taken", rel);
	}
	return fd;
}

/* Stream a file whose content was not kept into the pack, checking it still hashes to n->oid. */
static int pack_file(struct take *t, struct packw *pw, struct node *n, const char *rel)
{
	unsigned char oid[OIDLEN];
	uint64_t got = 0, size = (uint64_t)n->sb.st_size;
	int fd = reopen_file(t, n, rel);

	if (fd < 0)
		return -1;
	if (pw_obj_header(pw, GIT_OBJECT_BLOB, size, t->errp) < 0)
		goto fail;
	snapi_hash_begin(t->md, GIT_OBJECT_BLOB, size);
	while (got < size) {
		size_t want = size - got < (1u << 20) ? (size_t)(size - got) : 1u << 20;
		ssize_t r = read(fd, t->iobuf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		EVP_DigestUpdate(t->md, t->iobuf, (size_t)r);
		if (pw_deflate(pw, t->iobuf, (size_t)r, false, t->errp) < 0)
			goto fail;
		got += (uint64_t)r;
	}
	snapi_hash_end(t->md, oid);
	if (got != size || memcmp(oid, n->oid, OIDLEN)) {
		err_set(t->errp, EAGAIN, "\"%s\" changed while the snapshot was taken", rel);
		goto fail;
	}
	if (pw_deflate(pw, NULL, 0, true, t->errp) < 0)
		goto fail;
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* Store a large file as a loose object, streamed (snapshot_blob.c says why). */
static int loose_file(struct take *t, struct node *n)
{
	int fd = reopen_file(t, n, n->rel);
	if (fd < 0)
		return -1;
	int rc = snapi_blob_write_loose(t->odb, fd, (uint64_t)n->sb.st_size, n->oid, t->iobuf, n->rel, t->errp);
	close(fd);
	return rc;
}

static bool goes_loose(const struct node *n)
{
	return n->rel && (uint64_t)n->sb.st_size > LOOSE_MIN;
}

int snapi_take(struct snap_store *st, const char *workspace_dir, const char *index_path,
	      const char *parent_commit_hex, const char *snapshot_id, const char *message,
	      uint64_t max_bytes, struct snap_result *res, struct err **errp)
{
	uint64_t t0 = now_ns();
	struct buf refname = BUF_INIT, commit = BUF_INIT;
	struct take t = { .st = st, .rootfd = -1, .errp = errp };
	struct walk w = { .max_bytes = max_bytes ? max_bytes : SNAP_DEFAULT_MAX_BYTES,
			  .errp = errp };
	struct node root = { .gmode = GM_TREE };
	struct node cnode = { .gmode = 0 };
	struct packw pw = { 0 };
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	git_oid parent;
	int r = -1;

	if (snapi_valid_snapshot_id(snapshot_id, &refname, errp) < 0)
		goto out;
	if (parent_commit_hex && snapi_parse_hex(parent_commit_hex, &parent, "parent", errp) < 0)
		goto out;
	if (snapi_repo_open(st, &repo, errp) < 0)
		goto out;
	if (git_reference_lookup(&ref, repo, refname.data) == 0) {
		err_set(errp, EEXIST, "snapshot \"%s\" already exists", snapshot_id);
		goto out;
	}
	if (parent_commit_hex) {
		size_t len;
		git_object_t type;
		git_odb *odb;
		int pr = -1;
		if (git_repository_odb(&odb, repo) == 0) {
			pr = git_odb_read_header(&len, &type, odb, &parent);
			git_odb_free(odb);
		}
		if (pr < 0 || type != GIT_OBJECT_COMMIT) {
			err_set(errp, ENOENT, "parent snapshot %s not found", parent_commit_hex);
			goto out;
		}
	}

	/* 1. stat walk: nothing read or written yet, so the size limit costs little */
	t.rootfd = open(workspace_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t.rootfd < 0) {
		err_set(errp, errno, "cannot open the workspace");
		goto out;
	}
	w.rootfd = t.rootfd;
	t.cache.gen = snapi_gen_read(st);
	t.cache.start_ns = snapi_wall_ns();	/* before any stat we record */
	buf_adds(&w.path, "");
	buf_adds(&t.path, "");
	if (snapi_walk_dir(&w, t.rootfd, &root) < 0)
		goto out;

	/* 2. hash what the stat cache cannot vouch for; find objects not yet stored */
	t.bytes = w.bytes;
	t.max_bytes = w.max_bytes;
	if (git_repository_odb(&t.odb, repo) < 0 || git_odb_refresh(t.odb) < 0) {
		snapi_git_fail(errp, "opening the object database");
		goto out;
	}
	snapi_cache_load(&t.old, index_path);
	t.cache_current = t.old.raw && t.old.gen == t.cache.gen;
	t.md = EVP_MD_CTX_new();
	t.iobuf = xmalloc(1 << 20);
	if (!t.md)
		abort();
	if (take_dir(&t, &root) < 0)
		goto out;

	/* 3. the commit */
	{
		char hex[41];
		long long now = (long long)(wall_ms() / 1000);
		git_oid_tostr(hex, sizeof(hex), (const git_oid *)root.oid);
		buf_addf(&commit, "tree %s\n", hex);
		if (parent_commit_hex)
			buf_addf(&commit, "parent %s\n", git_oid_tostr(hex, sizeof(hex), &parent));
		buf_addf(&commit, "author mcpbox <mcpbox@localhost> %lld +0000\n", now);
		buf_addf(&commit, "committer mcpbox <mcpbox@localhost> %lld +0000\n\n", now);
		buf_adds(&commit, message && *message ? message : "snapshot");
		if (commit.data[commit.len - 1] != '\n')
			buf_addch(&commit, '\n');
		cnode.len = commit.len;
		cnode.data = buf_detach(&commit);
		snapi_hash_buf(t.md, GIT_OBJECT_COMMIT, cnode.data, cnode.len, cnode.oid);
		snapi_oidset_add(&t.queued, cnode.oid);
		queue(&t, &cnode);
	}

	/* 4. large files as loose objects, then one pack with every other new object,
	   streamed through libgit2's indexer */
	size_t npacked = 0;
	for (size_t i = 0; i < t.ntodo; i++) {
		if (!goes_loose(t.todo[i]))
			npacked++;
		else if (loose_file(&t, t.todo[i]) < 0)
			goto out;
	}
	if (git_odb_write_pack(&pw.wp, t.odb, NULL, NULL) < 0) {
		snapi_git_fail(errp, "starting a pack");
		goto out;
	}
	/* level 1 like git's loose objects: a snapshot is latency-bound; gc recompresses */
	if (pw_begin(&pw, (uint32_t)npacked, 1, errp) < 0)
		goto out;
	for (size_t i = 0; i < t.ntodo; i++) {
		struct node *n = t.todo[i];
		int type = n == &cnode ? GIT_OBJECT_COMMIT : n->gmode == GM_TREE ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB;
		if (goes_loose(n))
			continue;
		if (!n->rel) {
			if (pw_object(&pw, type, n->data ? n->data : "", n->len, errp) < 0)
				goto out;
		} else if (pack_file(&t, &pw, n, n->rel) < 0) {
			goto out;
		}
	}
	unsigned char trailer[OIDLEN];
	if (pw_finish(&pw, trailer, errp) < 0)
		goto out;

	/* 5. the ref, only now that every object it reaches is stored */
	int gr = git_reference_create(&ref, repo, refname.data, (const git_oid *)cnode.oid, 0, "snapshot");
	if (gr < 0) {
		if (gr == GIT_EEXISTS)
			err_set(errp, EEXIST, "snapshot \"%s\" already exists", snapshot_id);
		else
			snapi_git_fail(errp, "creating the snapshot ref");
		goto out;
	}

	/* 6. the stat cache, last: a stale one is merely slower */
	memcpy(t.cache.commit, cnode.oid, OIDLEN);
	if (snapi_cache_save(&t.cache, index_path, errp) < 0) {
		log_warn("snapshot: stat cache not saved: %s", err_text(*errp));
		err_free(*errp);
		*errp = NULL;
	}

	memset(res, 0, sizeof(*res));
	git_oid_tostr(res->commit, sizeof(res->commit), (const git_oid *)cnode.oid);
	res->files = w.files;
	res->dirs = w.dirs;
	res->bytes = t.bytes;
	res->skipped = w.skipped;
	res->hashed_files = t.hashed_files;
	res->hashed_bytes = t.hashed_bytes;
	res->new_objects = t.ntodo;
	res->pack_bytes = pw.total;
	res->packs = count_packs(st);
	res->duration_us = (now_ns() - t0) / 1000;
	res->duration_ms = res->duration_us / 1000;
	r = 0;
out:
	pw_release(&pw);
	snapi_node_release(&root);
	free(cnode.data);
	free(t.todo);
	free(t.iobuf);
	snapi_oidset_release(&t.queued);
	EVP_MD_CTX_free(t.md);
	snapi_cache_release(&t.old);
	snapi_cache_release(&t.cache);
	buf_release(&t.path);
	buf_release(&w.path);
	buf_release(&refname);
	buf_release(&commit);
	git_reference_free(ref);
	git_odb_free(t.odb);
	git_repository_free(repo);
	if (t.rootfd >= 0)
		close(t.rootfd);
	return r;
}

/* ---- snap_gc ------------------------------------------------------------ */

/* Remove everything in objects/ but the pack named keep (NULL: keep nothing) and the loose objects in loose. */
static void remove_other_objects(struct snap_store *st, const char *keep, const struct oidset *loose)
{
	struct buf p = BUF_INIT, k = BUF_INIT;
	DIR *d;
	struct dirent *de;

	if (keep)
		buf_addf(&k, "pack-%s.", keep);
	buf_addf(&p, "%s/objects/pack", st->gitdir);
	if ((d = opendir(p.data))) {
		int dfd = dirfd(d);
		while ((de = readdir(d)))
			if (de->d_name[0] != '.' && (!keep || strncmp(de->d_name, k.data, k.len)))
				unlinkat(dfd, de->d_name, 0);
		closedir(d);
	}
	buf_reset(&p);
	buf_addf(&p, "%s/objects", st->gitdir);
	if ((d = opendir(p.data))) {
		int dfd = dirfd(d);
		while ((de = readdir(d))) {
			if (!strncmp(de->d_name, "tmp_object", 10))
				unlinkat(dfd, de->d_name, 0);	/* a loose object whose writer died */
			if (strlen(de->d_name) != 2 || strspn(de->d_name, "0123456789abcdef") != 2)
				continue;
			int sfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			DIR *s = sfd >= 0 ? fdopendir(sfd) : NULL;
			struct dirent *se;
			while (s && (se = readdir(s))) {
				char hex[41] = "";
				git_oid id;
				if (strlen(se->d_name) == 38) {
					memcpy(hex, de->d_name, 2);
					memcpy(hex + 2, se->d_name, 39);
				}
				if (se->d_name[0] == '.' ||
				    (git_oid_fromstr(&id, hex) == 0 && snapi_oidset_has(loose, id.id)))
					continue;
				unlinkat(sfd, se->d_name, 0);
			}
			if (s)
				closedir(s);
			else if (sfd >= 0)
				close(sfd);
			unlinkat(dfd, de->d_name, AT_REMOVEDIR);	/* fails while a kept object is in it */
		}
		closedir(d);
	}
	buf_release(&p);
	buf_release(&k);
}

/*
 * One pack of what the refs reach, written by our own pack writer: libgit2's
 * packbuilder spends seconds per 50 MB searching for deltas and cannot be told
 * not to, and snapshots wait while gc runs. Objects are recompressed at zlib's
 * default level.
 */
static int gc_write(struct reach *r, char *name, struct oidset *loose, struct err **errp)
{
	struct packw pw = { 0 };
	unsigned char trailer[OIDLEN];
	size_t npacked = 0;
	int rc = -1;

	/* large blobs stay loose, where they can be streamed (snapshot_blob.c); those that
	   versions before loose objects packed become loose here */
	for (size_t i = 0; i < r->n; i++) {
		size_t len;
		git_object_t type;
		const git_oid *id = &r->list[i].id;
		if (r->list[i].type != GIT_OBJECT_BLOB) {
			npacked++;
		} else if (snapi_loose_has(r->st, id->id)) {
			snapi_oidset_add(loose, id->id);
		} else if (git_odb_read_header(&len, &type, r->odb, id) < 0) {
			snapi_reach_fail(r, id, "object");
			goto out;
		} else if ((uint64_t)len > LOOSE_MIN) {
			if (snapi_blob_make_loose(r->st, r->odb, id, errp) < 0)
				goto out;
			snapi_oidset_add(loose, id->id);
		} else {
			npacked++;
		}
	}
	if (git_odb_write_pack(&pw.wp, r->odb, NULL, NULL) < 0) {
		snapi_git_fail(errp, "starting a pack");
		goto out;
	}
	if (pw_begin(&pw, (uint32_t)npacked, Z_DEFAULT_COMPRESSION, errp) < 0)
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		git_odb_object *obj = NULL;
		if (r->list[i].type == GIT_OBJECT_BLOB && snapi_oidset_has(loose, r->list[i].id.id))
			continue;
		if (git_odb_read(&obj, r->odb, &r->list[i].id) < 0) {
			snapi_reach_fail(r, &r->list[i].id, "object");
			goto out;
		}
		int w = pw_object(&pw, git_odb_object_type(obj), git_odb_object_data(obj), git_odb_object_size(obj), errp);
		git_odb_object_free(obj);
		if (w < 0)
			goto out;
	}
	if (pw_finish(&pw, trailer, errp) < 0)
		goto out;
	git_oid_tostr(name, 41, (const git_oid *)trailer);
	rc = 0;
out:
	pw_release(&pw);
	return rc;
}

int snapi_gc(struct snap_store *st, struct err **errp)
{
	struct reach r = { .errp = errp, .collect = true };
	struct buf path = BUF_INIT, shallow = BUF_INIT, gen = BUF_INIT;
	git_oid *ids = NULL;
	size_t n = 0;
	struct oidset commits = { 0 }, loose = { 0 };
	char name[41] = "";
	int rc = -1;

	if (snapi_reach_all(st, &r, &ids, &n, &commits) < 0)
		goto out;
	if (r.n) {
		if (gc_write(&r, name, &loose, errp) < 0)
			goto out;
		buf_addf(&path, "%s/objects/pack/pack-%s.idx", st->gitdir, name);
		if (access(path.data, F_OK) < 0) {
			/* never delete the old packs unless the new one is where we expect it */
			err_set(errp, EIO, "snapshot store: the repacked store was not found after writing it");
			goto out;
		}
	}
	/* stat caches written before this point no longer prove an object exists */
	buf_addf(&gen, "%llu\n", (unsigned long long)snapi_gen_read(st) + 1);
	if (snapi_write_atomic(st->gen_path, gen.data, gen.len, errp) < 0)
		goto out;
	/* parents of kept commits may go: tell the git CLI where history stops */
	for (size_t i = 0; i < n; i++) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, r.repo, &ids[i]) < 0)
			continue;
		for (unsigned p = 0; p < git_commit_parentcount(c); p++)
			if (!snapi_oidset_has(&commits, git_commit_parent_id(c, p)->id)) {
				char hex[41];
				buf_addf(&shallow, "%s\n", git_oid_tostr(hex, sizeof(hex), &ids[i]));
				break;
			}
		git_commit_free(c);
	}
	buf_reset(&path);
	buf_addf(&path, "%s/shallow", st->gitdir);
	if (shallow.len) {
		if (snapi_write_atomic(path.data, shallow.data, shallow.len, errp) < 0)
			goto out;
	} else {
		unlink(path.data);
	}
	remove_other_objects(st, r.n ? name : NULL, &loose);
	rc = 0;
out:
	free(ids);
	snapi_oidset_release(&commits);
	snapi_oidset_release(&loose);
	snapi_reach_release(&r);
	buf_release(&path);
	buf_release(&shallow);
	buf_release(&gen);
	return rc;
}
