/*
 * snapshot.c — workspace snapshots as git objects (see snapshot.h).
 *
 * We walk the workspace ourselves instead of using git_index_add_all and
 * git_checkout: libgit2 refuses paths with a ".git" component, applies
 * .gitignore, cannot store empty directories and follows its own rules about
 * symlinks in the work tree. Objects are hashed here, streamed into one pack
 * per snapshot through libgit2's indexer (git_odb_write_pack), which checks
 * every object again with collision-detecting SHA-1 and writes the .idx.
 */
#include "snapshot.h"
#include "workspace.h"
#include "../server/buf.h"
#include "../server/common.h"
#include "../server/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <zlib.h>

#include "../server/banned.h"

#define GM_TREE 0040000u
#define GM_BLOB 0100644u
#define GM_EXEC 0100755u
#define GM_LINK 0120000u

#define OIDLEN 20
#define MAX_DEPTH 256
#define KEEP_FILE_MAX (8u << 20)	/* files up to this size stay in memory between hash and pack */
#define KEEP_BUDGET (256u << 20)
#define DIFF_MAX (32u << 20)
#define RACY_SLACK_NS 20000000ll	/* timestamps are jiffy-grained */
#define RACY_SLACK_COARSE_NS 2000000000ll
#define CACHE_MAGIC "MCPBSNP1"

struct snap_store {
	char *gitdir;
	char *gen_path;
};

/* ---- small helpers ------------------------------------------------------ */

static int git_fail(struct err **errp, const char *what)
{
	const git_error *e = git_error_last();
	/* libgit2 messages often hold host paths: log them, show a plain message */
	log_warn("snapshot: %s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	return err_set(errp, 0, "snapshot store: %s failed", what);
}

static int64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000ll + ts->tv_nsec;
}

static int parse_hex(const char *hex, git_oid *oid, const char *what, struct err **errp)
{
	if (!hex || strlen(hex) != 40 || strspn(hex, "0123456789abcdefABCDEF") != 40 || git_oid_fromstr(oid, hex) < 0)
		return err_set(errp, EINVAL, "%s is not a 40-digit hex commit id", what);
	return 0;
}

static int valid_snapshot_id(const char *id, struct buf *refname, struct err **errp)
{
	size_t n = id ? strlen(id) : 0;
	int valid = 0;

	if (n == 0 || n > 128 || id[0] == '.' || strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
							  "0123456789._-") != n)
		return err_set(errp, EINVAL, "invalid snapshot id (use 1-128 of [A-Za-z0-9._-], not starting with '.')");
	buf_addf(refname, "refs/snapshots/%s", id);
	if (git_reference_name_is_valid(&valid, refname->data) < 0 || !valid)
		return err_set(errp, EINVAL, "invalid snapshot id \"%s\"", id);
	return 0;
}

/* openat2 beneath rootfd without following any symlink on the way. */
static int open_beneath(int rootfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return (int)fd;
}

static void hash_begin(EVP_MD_CTX *c, int type, uint64_t len)
{
	char hdr[48];
	int n = snprintf(hdr, sizeof(hdr), "%s %llu", type == GIT_OBJECT_BLOB ? "blob" :
			 type == GIT_OBJECT_TREE ? "tree" : "commit", (unsigned long long)len);
	EVP_DigestInit_ex(c, EVP_sha1(), NULL);
	EVP_DigestUpdate(c, hdr, (size_t)n + 1);
}

static void hash_end(EVP_MD_CTX *c, unsigned char *oid)
{
	unsigned int n = OIDLEN;
	EVP_DigestFinal_ex(c, oid, &n);
}

static void hash_buf(EVP_MD_CTX *c, int type, const void *p, size_t n, unsigned char *oid)
{
	hash_begin(c, type, n);
	EVP_DigestUpdate(c, p, n);
	hash_end(c, oid);
}

/* ---- a set of object ids (open addressing) ------------------------------ */

struct oidset {
	unsigned char (*slot)[OIDLEN];
	unsigned char *used;
	size_t cap, n;
};

static size_t oidset_pos(const struct oidset *s, const unsigned char *oid)
{
	size_t h;
	memcpy(&h, oid, sizeof(h));
	return h & (s->cap - 1);
}

/* 1 if added, 0 if it was there. */
static int oidset_add(struct oidset *s, const unsigned char *oid)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct oidset t = { NULL, NULL, s->cap ? s->cap * 2 : 256, 0 };
		t.slot = xcalloc(t.cap, OIDLEN);
		t.used = xcalloc(t.cap, 1);
		for (size_t i = 0; i < s->cap; i++)
			if (s->used[i])
				oidset_add(&t, s->slot[i]);
		free(s->slot);
		free(s->used);
		*s = t;
	}
	for (size_t i = oidset_pos(s, oid);; i = (i + 1) & (s->cap - 1)) {
		if (!s->used[i]) {
			s->used[i] = 1;
			memcpy(s->slot[i], oid, OIDLEN);
			s->n++;
			return 1;
		}
		if (!memcmp(s->slot[i], oid, OIDLEN))
			return 0;
	}
}

static bool oidset_has(const struct oidset *s, const unsigned char *oid)
{
	if (!s->cap)
		return false;
	for (size_t i = oidset_pos(s, oid); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slot[i], oid, OIDLEN))
			return true;
	return false;
}

static void oidset_release(struct oidset *s)
{
	free(s->slot);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

/* ---- the store ---------------------------------------------------------- */

static void lib_init(void)
{
	git_libgit2_init();
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
	git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_PROGRAMDATA, "");
}

static int repo_open(struct snap_store *st, git_repository **repo, struct err **errp)
{
	if (git_repository_open_ext(repo, st->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0)
		return git_fail(errp, "opening the object store");
	return 0;
}

static uint64_t gen_read(struct snap_store *st)
{
	char b[32] = "";
	int fd = open(st->gen_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof(b) - 1);
	close(fd);
	return n > 0 ? strtoull(b, NULL, 10) : 0;
}

/* Write path atomically: temp file in the same directory, then rename. */
static int write_atomic(const char *path, const void *data, size_t len, struct err **errp)
{
	struct buf tmp = BUF_INIT;
	auto_free char *rnd = random_id(".tmp-", 6);
	int fd;

	buf_addf(&tmp, "%s%s", path, rnd);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* the caller's directory for index files may not exist yet */
		auto_free char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			mkdir(dir, 0700);
		}
		fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		buf_release(&tmp);
		return err_set(errp, errno, "cannot write snapshot metadata");
	}
	if (write_all(fd, data, len) < 0 || close(fd) < 0 || rename(tmp.data, path) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp.data);
		buf_release(&tmp);
		return err_set(errp, e, "cannot write snapshot metadata");
	}
	buf_release(&tmp);
	return 0;
}

int snap_store_open(struct snap_store **out, const char *data_dir, struct err **errp)
{
	struct snap_store *st = xcalloc(1, sizeof(*st));
	struct buf b = BUF_INIT;
	git_repository *repo = NULL;

	lib_init();
	buf_addf(&b, "%s/snapshots.git", data_dir);
	st->gitdir = buf_detach(&b);
	buf_addf(&b, "%s/mcpbox-gc-generation", st->gitdir);
	st->gen_path = buf_detach(&b);

	if (access(st->gitdir, F_OK) < 0) {
		git_repository_init_options o;
		git_config *cfg = NULL;
		git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		if (git_repository_init_ext(&repo, st->gitdir, &o) < 0) {
			git_fail(errp, "creating the object store");
			goto fail;
		}
		/* the git CLI, if someone points it here, must not gc or prune on its own */
		if (git_repository_config(&cfg, repo) == 0) {
			git_config_set_int32(cfg, "gc.auto", 0);
			git_config_set_bool(cfg, "core.logAllRefUpdates", 0);
			git_config_free(cfg);
		}
		git_repository_free(repo);
		repo = NULL;
		/* a random first generation: stat caches that outlived an older store never vouch here */
		uint64_t g;
		char gb[32];
		random_bytes(&g, sizeof(g));
		int gl = snprintf(gb, sizeof(gb), "%llu\n", (unsigned long long)(g >> 16));
		if (write_atomic(st->gen_path, gb, (size_t)gl, errp) < 0)
			goto fail;
	}
	if (repo_open(st, &repo, errp) < 0)
		goto fail;
	git_repository_free(repo);
	*out = st;
	return 0;
fail:
	snap_store_close(st);
	return -1;
}

void snap_store_close(struct snap_store *st)
{
	if (!st)
		return;
	free(st->gitdir);
	free(st->gen_path);
	free(st);
	git_libgit2_shutdown();
}

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

/* ---- the stat cache ----------------------------------------------------- */

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

#pragma pack(push, 1)
struct cache_hdr {
	char magic[8];
	uint32_t count;
	uint32_t pad;
	uint64_t gen;
	int64_t start_ns;
	unsigned char commit[OIDLEN];
};
struct cache_rec {
	uint32_t path_len, st_mode;
	uint64_t size, ino;
	int64_t mtime_ns, ctime_ns;
	unsigned char oid[OIDLEN];
};
#pragma pack(pop)

static void cache_release(struct cache *c)
{
	free(c->e);
	free(c->raw);
	buf_release(&c->names);
	memset(c, 0, sizeof(*c));
}

/* A missing or unreadable cache is an empty one: it only makes us slower. */
static void cache_load(struct cache *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	if (!path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0)
		return;
	if (fstat(fd, &sb) < 0 || sb.st_size < (off_t)sizeof(struct cache_hdr) || sb.st_size > (1ll << 31)) {
		close(fd);
		return;
	}
	char *raw = xmalloc((size_t)sb.st_size + 1);
	size_t len = 0;
	while (len < (size_t)sb.st_size) {
		ssize_t r = read(fd, raw + len, (size_t)sb.st_size - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	struct cache_hdr h;
	memcpy(&h, raw, sizeof(h));
	if (len != (size_t)sb.st_size || memcmp(h.magic, CACHE_MAGIC, 8) || h.count > len / sizeof(struct cache_rec)) {
		log_warn("snapshot: ignoring an unreadable stat cache");
		free(raw);
		return;
	}
	c->e = xcalloc(h.count ? h.count : 1, sizeof(*c->e));
	size_t off = sizeof(h);
	for (uint32_t i = 0; i < h.count; i++) {
		struct cache_rec r;
		if (off + sizeof(r) > len)
			goto bad;
		memcpy(&r, raw + off, sizeof(r));
		off += sizeof(r);
		if (r.path_len > len - off)
			goto bad;
		struct cent *e = &c->e[c->n++];
		e->st_mode = r.st_mode;
		e->size = r.size;
		e->ino = r.ino;
		e->mtime_ns = r.mtime_ns;
		e->ctime_ns = r.ctime_ns;
		memcpy(e->oid, r.oid, OIDLEN);
		/* paths are stored NUL-terminated; verify */
		if (r.path_len == 0 || raw[off + r.path_len - 1] != '\0')
			goto bad;
		e->path = raw + off;
		if (i && strcmp(c->e[i - 1].path, e->path) >= 0)
			goto bad;
		off += r.path_len;
	}
	c->gen = h.gen;
	c->start_ns = h.start_ns;
	memcpy(c->commit, h.commit, OIDLEN);
	c->raw = raw;
	return;
bad:
	log_warn("snapshot: ignoring a corrupt stat cache");
	free(c->e);
	free(raw);
	memset(c, 0, sizeof(*c));
}

static const struct cent *cache_find(const struct cache *c, const char *path)
{
	size_t lo = 0, hi = c->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->e[mid].path, path);
		if (!r)
			return &c->e[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The entry's stat still describes the content it names (git's racy-clean rule). */
static bool cache_vouches(const struct cache *c, const struct cent *e, const struct stat *sb)
{
	if (e->st_mode != sb->st_mode || e->size != (uint64_t)sb->st_size || e->ino != (uint64_t)sb->st_ino ||
	    e->mtime_ns != ts_ns(&sb->st_mtim) || e->ctime_ns != ts_ns(&sb->st_ctim))
		return false;
	int64_t slack = (e->ctime_ns % 1000000000ll) == 0 ? RACY_SLACK_COARSE_NS : RACY_SLACK_NS;
	return e->ctime_ns + slack < c->start_ns && e->mtime_ns + slack < c->start_ns;
}

/* Entries being built: names live in c->names, e->path holds an offset until cache_save. */
static void cache_push(struct cache *c, const char *path, const struct stat *sb, const unsigned char *oid)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->e = xrealloc(c->e, c->cap * sizeof(*c->e));
	}
	struct cent *e = &c->e[c->n++];
	memset(e, 0, sizeof(*e));
	e->path = (const char *)(uintptr_t)c->names.len;
	buf_add(&c->names, path, strlen(path) + 1);
	if (sb) {
		e->st_mode = sb->st_mode;
		e->size = (uint64_t)sb->st_size;
		e->ino = (uint64_t)sb->st_ino;
		e->mtime_ns = ts_ns(&sb->st_mtim);
		e->ctime_ns = ts_ns(&sb->st_ctim);
	}
	memcpy(e->oid, oid, OIDLEN);
}

static int cent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cent *)a)->path, ((const struct cent *)b)->path);
}

static int cache_save(struct cache *c, const char *path, struct err **errp)
{
	struct buf out = BUF_INIT;
	struct cache_hdr h;
	int r;

	if (!path)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		c->e[i].path = c->names.data + (uintptr_t)c->e[i].path;
	if (c->n)
		qsort(c->e, c->n, sizeof(*c->e), cent_cmp);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, CACHE_MAGIC, 8);
	h.count = (uint32_t)c->n;
	h.gen = c->gen;
	h.start_ns = c->start_ns;
	memcpy(h.commit, c->commit, OIDLEN);
	buf_add(&out, &h, sizeof(h));
	for (size_t i = 0; i < c->n; i++) {
		const struct cent *e = &c->e[i];
		struct cache_rec rec = {
			.path_len = (uint32_t)strlen(e->path) + 1, .st_mode = e->st_mode, .size = e->size,
			.ino = e->ino, .mtime_ns = e->mtime_ns, .ctime_ns = e->ctime_ns,
		};
		if (i && !strcmp(c->e[i - 1].path, e->path))
			continue;
		memcpy(rec.oid, e->oid, OIDLEN);
		buf_add(&out, &rec, sizeof(rec));
		buf_add(&out, e->path, rec.path_len);
	}
	r = write_atomic(path, out.data, out.len, errp);
	buf_release(&out);
	return r;
}

/* ---- walking a workspace ------------------------------------------------ */

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

struct walk {
	int rootfd;
	uint64_t max_bytes, bytes, files, dirs, skipped;
	int depth;
	struct buf path;
	struct err **errp;
};

static void node_release(struct node *n)
{
	for (size_t i = 0; i < n->nkids; i++)
		node_release(&n->kids[i]);
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

static int walk_dir(struct walk *w, int dfd, struct node *dir)
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
		r = walk_dir(w, cfd, k);
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
		return git_fail(errp, "writing a pack");
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
	hash_end(pw->sum, trailer);
	if (pw->wp->append(pw->wp, trailer, OIDLEN, &pw->stats) < 0)
		return git_fail(errp, "writing a pack");
	pw->total += OIDLEN;
	if (pw->wp->commit(pw->wp, &pw->stats) < 0)
		return git_fail(errp, "indexing a pack");
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
	if (oidset_has(&t->queued, n->oid))
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
	oidset_add(&t->queued, n->oid);
	queue(t, n);
}

/* Read a regular file once: hash it and, when small, keep it for the pack. */
static int hash_file(struct take *t, struct node *n)
{
	int fd = open_beneath(t->rootfd, t->path.data, O_RDONLY | O_NONBLOCK | O_NOCTTY);
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
		hash_buf(t->md, GIT_OBJECT_BLOB, data, got, n->oid);
		n->data = data;
		n->len = got;
		t->kept += got;
	} else {
		hash_begin(t->md, GIT_OBJECT_BLOB, (uint64_t)sb.st_size);
		for (;;) {
			ssize_t r = read(fd, t->iobuf, 1 << 20);
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
		hash_end(t->md, n->oid);
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
			hash_buf(t->md, GIT_OBJECT_BLOB, k->data, k->len, k->oid);
			k->known = true;
			need_object(t, k);
		} else {
			const struct cent *e = cache_find(&t->old, t->path.data);
			if (e && cache_vouches(&t->old, e, &k->sb)) {
				memcpy(k->oid, e->oid, OIDLEN);
				k->known = k->cached = true;
			}
			if (k->known)
				need_object(t, k);
			if (!k->known) {
				if (hash_file(t, k) < 0)
					goto fail;
				need_object(t, k);
			}
			cache_push(&t->cache, t->path.data, &k->sb, k->oid);
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
	hash_buf(t->md, GIT_OBJECT_TREE, dir->data, dir->len, dir->oid);
	dir->known = true;
	need_object(t, dir);
	/* directory entries record no stat; they exist so restore can find tree ids by path */
	buf_adds(&t->path, mark ? "/" : "");
	cache_push(&t->cache, t->path.data, NULL, dir->oid);
	t->path.len = mark;
	if (t->path.data)
		t->path.data[mark] = '\0';
	return 0;
fail:
	buf_release(&body);
	return -1;
}

/* Stream a large file into the pack, checking it still hashes to n->oid. */
static int pack_file(struct take *t, struct packw *pw, struct node *n, const char *rel)
{
	int fd = open_beneath(t->rootfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;
	unsigned char oid[OIDLEN];
	uint64_t got = 0;

	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size != n->sb.st_size) {
		if (fd >= 0)
			close(fd);
		return err_set(t->errp, EAGAIN, "\"%s\" changed while the snapshot was taken", rel);
	}
	if (pw_obj_header(pw, GIT_OBJECT_BLOB, (uint64_t)sb.st_size, t->errp) < 0)
		goto fail;
	hash_begin(t->md, GIT_OBJECT_BLOB, (uint64_t)sb.st_size);
	while (got < (uint64_t)sb.st_size) {
		size_t want = (uint64_t)sb.st_size - got < (1u << 20) ? (size_t)((uint64_t)sb.st_size - got) : 1u << 20;
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
	hash_end(t->md, oid);
	if (got != (uint64_t)sb.st_size || memcmp(oid, n->oid, OIDLEN)) {
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

int snap_take(struct snap_store *st, const char *workspace_dir, const char *index_path,
	      const char *parent_commit_hex, const char *snapshot_id, const char *message,
	      uint64_t max_bytes, struct snap_result *res, struct err **errp)
{
	uint64_t t0 = now_ns();
	struct buf refname = BUF_INIT, commit = BUF_INIT;
	struct take t = { .st = st, .rootfd = -1, .errp = errp };
	struct walk w = { .max_bytes = max_bytes ? max_bytes : SNAP_DEFAULT_MAX_BYTES, .errp = errp };
	struct node root = { .gmode = GM_TREE };
	struct node cnode = { .gmode = 0 };
	struct packw pw = { 0 };
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	git_oid parent;
	int r = -1;

	if (valid_snapshot_id(snapshot_id, &refname, errp) < 0)
		goto out;
	if (parent_commit_hex && parse_hex(parent_commit_hex, &parent, "parent", errp) < 0)
		goto out;
	if (repo_open(st, &repo, errp) < 0)
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
	t.cache.gen = gen_read(st);
	t.cache.start_ns = wall_ns();	/* before any stat we record */
	buf_adds(&w.path, "");
	buf_adds(&t.path, "");
	if (walk_dir(&w, t.rootfd, &root) < 0)
		goto out;

	/* 2. hash what the stat cache cannot vouch for; find objects not yet stored */
	t.bytes = w.bytes;
	t.max_bytes = w.max_bytes;
	if (git_repository_odb(&t.odb, repo) < 0 || git_odb_refresh(t.odb) < 0) {
		git_fail(errp, "opening the object database");
		goto out;
	}
	cache_load(&t.old, index_path);
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
		hash_buf(t.md, GIT_OBJECT_COMMIT, cnode.data, cnode.len, cnode.oid);
		oidset_add(&t.queued, cnode.oid);
		queue(&t, &cnode);
	}

	/* 4. one pack with every new object, streamed through libgit2's indexer */
	if (git_odb_write_pack(&pw.wp, t.odb, NULL, NULL) < 0) {
		git_fail(errp, "starting a pack");
		goto out;
	}
	/* level 1 like git's loose objects: a snapshot is latency-bound; gc recompresses */
	if (pw_begin(&pw, (uint32_t)t.ntodo, 1, errp) < 0)
		goto out;
	for (size_t i = 0; i < t.ntodo; i++) {
		struct node *n = t.todo[i];
		int type = n == &cnode ? GIT_OBJECT_COMMIT : n->gmode == GM_TREE ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB;
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
			git_fail(errp, "creating the snapshot ref");
		goto out;
	}

	/* 6. the stat cache, last: a stale one is merely slower */
	memcpy(t.cache.commit, cnode.oid, OIDLEN);
	if (cache_save(&t.cache, index_path, errp) < 0) {
		log_warn("snapshot: stat cache not saved: %s", (*errp)->msg);
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
	node_release(&root);
	free(cnode.data);
	free(t.todo);
	free(t.iobuf);
	oidset_release(&t.queued);
	EVP_MD_CTX_free(t.md);
	cache_release(&t.old);
	cache_release(&t.cache);
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

/* ---- snap_restore / snap_materialize ------------------------------------ */

struct rst {
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
	if (fd < 0)
		return false;
	hash_begin(r->md, GIT_OBJECT_BLOB, len);
	for (;;) {
		ssize_t k = read(fd, r->iobuf, 1 << 20);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		EVP_DigestUpdate(r->md, r->iobuf, (size_t)k);
		n += (uint64_t)k;
	}
	close(fd);
	hash_end(r->md, got);
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

static int rst_file(struct rst *r, int dfd, const char *name, const git_oid *oid, bool exec, bool exists,
		    struct stat *sb)
{
	mode_t want = exec ? 0755 : 0644;
	git_blob *blob = NULL;
	char *tmp = NULL;
	int fd = -1;

	if (exists && S_ISREG(sb->st_mode)) {
		const struct cent *e = cache_find(&r->old, r->path.data);
		bool same = e && cache_vouches(&r->old, e, sb) ? !memcmp(e->oid, oid->id, OIDLEN)
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
			cache_push(&r->cache, r->path.data, sb, oid->id);
			return 0;
		}
	}
	if (git_blob_lookup(&blob, r->repo, oid) < 0)
		return git_fail(r->errp, "reading a file of the snapshot");
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
	if ((r->do_chown && fchown(fd, r->uid, r->gid) < 0) || fchmod(fd, want) < 0 ||
	    write_all(fd, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob)) < 0) {
		err_set(r->errp, errno, "cannot write \"%s\"", r->path.data);
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
		cache_push(&r->cache, r->path.data, sb, oid->id);
	git_blob_free(blob);
	free(tmp);
	return 0;
fail:
	git_blob_free(blob);
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
		return git_fail(r->errp, "reading a symlink of the snapshot");
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
		return git_fail(r->errp, "reading a directory of the snapshot");
	}
	buf_addch(&r->path, '/');
	cache_push(&r->cache, r->path.data, NULL, oid->id);
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

static int rst_dir(struct rst *r, int dfd, const git_tree *tree)
{
	size_t mark = r->path.len;
	int rc = 0;

	if (!r->fresh) {
		int fd = dup(dfd);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		struct buf gone = BUF_INIT;	/* NUL-separated names not in the snapshot */
		if (!d) {
			if (fd >= 0)
				close(fd);
			return err_set(r->errp, errno, "cannot read directory \"%s\"", mark ? r->path.data : ".");
		}
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    !git_tree_entry_byname(tree, de->d_name))
				buf_add(&gone, de->d_name, strlen(de->d_name) + 1);
		closedir(d);
		for (size_t off = 0; off < gone.len && rc == 0; off += strlen(gone.data + off) + 1) {
			rst_path(r, mark, gone.data + off);
			rc = rst_remove(r, dfd, gone.data + off);
		}
		buf_release(&gone);
	}
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
	struct rst r = { .fresh = fresh, .errp = errp };
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct stat sb;
	int rc = -1;

	if (parse_hex(commit_hex, &oid, "snapshot", errp) < 0)
		return -1;
	if (repo_open(st, &r.repo, errp) < 0)
		return -1;
	if (git_commit_lookup(&commit, r.repo, &oid) < 0) {
		err_set(errp, ENOENT, "snapshot %s not found", commit_hex);
		goto out;
	}
	if (git_commit_tree(&tree, commit) < 0 || git_repository_odb(&r.odb, r.repo) < 0) {
		git_fail(errp, "reading the snapshot");
		goto out;
	}
	r.cache.gen = gen_read(st);
	r.cache.start_ns = wall_ns();
	memcpy(r.cache.commit, oid.id, OIDLEN);
	cache_load(&r.old, index_path);
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
	cache_push(&r.cache, "", NULL, git_tree_id(tree)->id);
	if (rst_dir(&r, rootfd, tree) < 0)
		goto out;
	if (index_path && cache_save(&r.cache, index_path, errp) < 0)
		goto out;
	rc = 0;
out:
	git_tree_free(tree);
	git_commit_free(commit);
	cache_release(&r.old);
	cache_release(&r.cache);
	buf_release(&r.path);
	EVP_MD_CTX_free(r.md);
	free(r.iobuf);
	git_odb_free(r.odb);
	git_repository_free(r.repo);
	return rc;
}

int snap_restore(struct snap_store *st, const char *commit_hex, const char *workspace_dir,
		 const char *index_path, struct err **errp)
{
	int fd = open(workspace_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(errp, errno, "cannot open the workspace");
	int rc = rst_run(st, commit_hex, fd, false, index_path, errp);
	close(fd);
	return rc;
}

int snap_materialize(struct snap_store *st, const char *commit_hex, const char *dest_dir,
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
				rc = git_fail(errp, "reading a directory of the snapshot");
			else
				rc = flatten_tree(repo, sub, path, out, depth + 1, errp);
			git_tree_free(sub);
		} else if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE || mode == GIT_FILEMODE_LINK) {
			fvec_push(out, path->data, (uint32_t)mode, git_tree_entry_id(te)->id);
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
			hash_buf(t->md, GIT_OBJECT_BLOB, k->data, k->len, k->oid);
			struct fent *e = fvec_push(out, t->path.data, k->gmode, k->oid);
			e->data = xstrndup(k->data, k->len);
			e->len = k->len;
		} else {
			if (hash_file(t, k) < 0)
				return -1;
			fvec_push(out, t->path.data, k->gmode, k->oid);
		}
		t->path.len = mark;
		t->path.data[mark] = '\0';
	}
	return 0;
}

struct content {
	git_blob *blob;
	char *owned;
	const char *p;
	size_t n;
	bool too_big;
};

static int load_content(git_repository *repo, int rootfd, const struct fent *e, bool from_ws, struct content *c,
			struct err **errp)
{
	memset(c, 0, sizeof(*c));
	if (!from_ws) {
		if (git_blob_lookup(&c->blob, repo, (const git_oid *)e->oid) < 0)
			return git_fail(errp, "reading a file of the snapshot");
		c->n = (size_t)git_blob_rawsize(c->blob);
		c->p = git_blob_rawcontent(c->blob);
		c->too_big = c->n > DIFF_MAX;
		return 0;
	}
	if (e->mode == GM_LINK) {
		c->p = e->data;
		c->n = e->len;
		return 0;
	}
	int fd = open_beneath(rootfd, e->path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return err_set(errp, errno, "cannot read \"%s\"", e->path);
	size_t cap = 64 << 10;
	c->owned = xmalloc(cap);
	for (;;) {
		if (c->n == cap) {
			if (cap > DIFF_MAX) {
				c->too_big = true;
				break;
			}
			cap *= 2;
			c->owned = xrealloc(c->owned, cap);
		}
		ssize_t k = read(fd, c->owned + c->n, cap - c->n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		c->n += (size_t)k;
	}
	close(fd);
	c->p = c->owned;
	return 0;
}

static void content_release(struct content *c)
{
	git_blob_free(c->blob);
	free(c->owned);
}

static bool is_binary(const struct content *c)
{
	return c->too_big || memchr(c->p, 0, c->n < 8000 ? c->n : 8000) != NULL;
}

static json_int_t count_lines(const struct content *c)
{
	json_int_t n = 0;
	for (const char *p = c->p, *end = c->p + c->n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		n++;
	if (c->n && c->p[c->n - 1] != '\n')
		n++;
	return n;
}

static json_t *diff_one(git_repository *repo, int rootfd, const struct fent *a, const struct fent *b, bool b_ws,
			struct err **errp)
{
	struct content ca = { 0 }, cb = { 0 };
	json_t *o = NULL;

	if ((a && load_content(repo, rootfd, a, false, &ca, errp) < 0) ||
	    (b && load_content(repo, rootfd, b, b_ws, &cb, errp) < 0))
		goto out;
	o = json_pack("{s:s}", "path", (a ? a : b)->path);
	if (!a || !b) {
		const struct content *c = a ? &ca : &cb;
		bool bin = is_binary(c);
		json_object_set_new(o, "lines", json_integer(bin ? 0 : count_lines(c)));
		if (bin)
			json_object_set_new(o, "binary", json_true());
		goto out;
	}
	size_t adds = 0, dels = 0;
	bool bin = is_binary(&ca) || is_binary(&cb);
	if (!bin && memcmp(a->oid, b->oid, OIDLEN)) {
		git_patch *patch = NULL;
		if (git_patch_from_buffers(&patch, ca.p, ca.n, a->path, cb.p, cb.n, b->path, NULL) < 0 ||
		    git_patch_line_stats(NULL, &adds, &dels, patch) < 0) {
			git_patch_free(patch);
			json_decref(o);
			o = NULL;
			git_fail(errp, "comparing files");
			goto out;
		}
		git_patch_free(patch);
	}
	json_object_set_new(o, "added_lines", json_integer((json_int_t)adds));
	json_object_set_new(o, "deleted_lines", json_integer((json_int_t)dels));
	if (bin)
		json_object_set_new(o, "binary", json_true());
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

	if (parse_hex(hex, &oid, "snapshot", errp) < 0)
		return -1;
	if (git_commit_lookup(&commit, repo, &oid) < 0) {
		err_set(errp, ENOENT, "snapshot %s not found", hex);
		goto out;
	}
	if (git_commit_tree(&tree, commit) < 0) {
		git_fail(errp, "reading the snapshot");
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

int snap_diff(struct snap_store *st, const char *from_hex, const char *to_hex,
	      const char *workspace_dir, json_t **out, struct err **errp)
{
	git_repository *repo = NULL;
	struct fvec a = { 0 }, b = { 0 };
	struct take t = { .st = st, .rootfd = -1, .errp = errp };
	struct walk w = { .max_bytes = UINT64_MAX, .errp = errp };
	struct node root = { .gmode = GM_TREE };
	json_t *added = json_array(), *modified = json_array(), *deleted = json_array();
	int rc = -1;

	if (repo_open(st, &repo, errp) < 0)
		goto out;
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
		if (walk_dir(&w, t.rootfd, &root) < 0)
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
	for (size_t i = 0, j = 0; i < a.n || j < b.n;) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i].path, b.v[j].path);
		json_t *o;
		if (c == 0 && !memcmp(a.v[i].oid, b.v[j].oid, OIDLEN) && a.v[i].mode == b.v[j].mode) {
			i++, j++;
			continue;
		}
		o = diff_one(repo, t.rootfd, c <= 0 ? &a.v[i] : NULL, c >= 0 ? &b.v[j] : NULL, !to_hex, errp);
		if (!o)
			goto out;
		json_array_append_new(c < 0 ? deleted : c > 0 ? added : modified, o);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	*out = json_pack("{s:o,s:o,s:o}", "added", added, "modified", modified, "deleted", deleted);
	added = modified = deleted = NULL;
	rc = 0;
out:
	json_decref(added);
	json_decref(modified);
	json_decref(deleted);
	fvec_release(&a);
	fvec_release(&b);
	node_release(&root);
	buf_release(&w.path);
	buf_release(&t.path);
	EVP_MD_CTX_free(t.md);
	free(t.iobuf);
	if (t.rootfd >= 0)
		close(t.rootfd);
	git_repository_free(repo);
	return rc;
}

/* ---- refs, gc, verify --------------------------------------------------- */

int snap_resolve(struct snap_store *st, const char *snapshot_id, char hex[41], struct err **errp)
{
	struct buf refname = BUF_INIT;
	git_repository *repo = NULL;
	git_oid oid;
	int rc = -1;

	if (valid_snapshot_id(snapshot_id, &refname, errp) < 0 || repo_open(st, &repo, errp) < 0)
		goto out;
	if (git_reference_name_to_id(&oid, repo, refname.data) < 0) {
		err_set(errp, ENOENT, "snapshot \"%s\" not found", snapshot_id);
		goto out;
	}
	git_oid_tostr(hex, 41, &oid);
	rc = 0;
out:
	git_repository_free(repo);
	buf_release(&refname);
	return rc;
}

int snap_delete(struct snap_store *st, const char *snapshot_id, struct err **errp)
{
	struct buf refname = BUF_INIT;
	git_repository *repo = NULL;
	int rc = -1;

	if (valid_snapshot_id(snapshot_id, &refname, errp) < 0 || repo_open(st, &repo, errp) < 0)
		goto out;
	git_reference *ref = NULL;
	int gr = git_reference_lookup(&ref, repo, refname.data);
	if (gr == 0)
		gr = git_reference_delete(ref);
	git_reference_free(ref);
	if (gr == GIT_ENOTFOUND)
		err_set(errp, ENOENT, "snapshot \"%s\" not found", snapshot_id);
	else if (gr < 0)
		git_fail(errp, "deleting the snapshot ref");
	else
		rc = 0;
out:
	git_repository_free(repo);
	buf_release(&refname);
	return rc;
}

/* Commit ids of every refs/snapshots/ ref. */
static int snapshot_refs(git_repository *repo, git_oid **out, size_t *n, struct err **errp)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	size_t cap = 0;
	int gr;

	*out = NULL;
	*n = 0;
	if (git_reference_iterator_glob_new(&it, repo, "refs/snapshots/*") < 0)
		return git_fail(errp, "listing snapshots");
	while ((gr = git_reference_next(&ref, it)) == 0) {
		git_reference *res = NULL;
		if (git_reference_resolve(&res, ref) == 0) {
			if (*n == cap) {
				cap = cap ? cap * 2 : 64;
				*out = xrealloc(*out, cap * sizeof(**out));
			}
			git_oid_cpy(&(*out)[(*n)++], git_reference_target(res));
		} else {
			log_warn("snapshot: ref %s does not resolve", git_reference_name(ref));
		}
		git_reference_free(res);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (gr != GIT_ITEROVER) {
		free(*out);
		*out = NULL;
		return git_fail(errp, "listing snapshots");
	}
	return 0;
}

struct robj {
	git_oid id;
	git_object_t type;
};

struct reach {
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

static void reach_add(struct reach *r, const git_oid *id, git_object_t type)
{
	r->objects++;
	if (!r->collect)
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->list = xrealloc(r->list, r->cap * sizeof(*r->list));
	}
	git_oid_cpy(&r->list[r->n].id, id);
	r->list[r->n++].type = type;
}

static int reach_fail(struct reach *r, const git_oid *oid, const char *what)
{
	char hex[41];
	const git_error *e = git_error_last();
	log_warn("snapshot: %s %s: %s", what, git_oid_tostr(hex, sizeof(hex), oid), e ? e->message : "?");
	return err_set(r->errp, EIO, "snapshot commit %s: %s %s is missing or corrupt", r->ref, what, hex);
}

static int reach_tree(struct reach *r, const git_oid *id, int depth)
{
	git_tree *tree = NULL;
	int rc = 0;

	if (!oidset_add(&r->seen, id->id))
		return 0;
	if (depth > MAX_DEPTH)
		return err_set(r->errp, ELOOP, "snapshot nested too deep");
	if (git_tree_lookup(&tree, r->repo, id) < 0)
		return reach_fail(r, id, "directory");
	reach_add(r, id, GIT_OBJECT_TREE);
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const git_oid *oid = git_tree_entry_id(te);
		git_filemode_t mode = git_tree_entry_filemode(te);
		if (mode == GIT_FILEMODE_TREE) {
			rc = reach_tree(r, oid, depth + 1);
		} else if (mode != GIT_FILEMODE_COMMIT && oidset_add(&r->seen, oid->id)) {
			reach_add(r, oid, GIT_OBJECT_BLOB);
			if (!r->collect) {
				/* a full read: libgit2 checks that the content hashes to the id */
				git_odb_object *obj = NULL;
				if (git_odb_read(&obj, r->odb, oid) < 0 || git_odb_object_type(obj) != GIT_OBJECT_BLOB)
					rc = reach_fail(r, oid, "file");
				git_odb_object_free(obj);
			}
		}
	}
	git_tree_free(tree);
	return rc;
}

static int reach_commit(struct reach *r, const git_oid *id)
{
	git_commit *c = NULL;
	char hex[41];
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	r->ref = hex;
	if (!oidset_add(&r->seen, id->id))
		return 0;
	if (git_commit_lookup(&c, r->repo, id) < 0)
		return reach_fail(r, id, "commit");
	reach_add(r, id, GIT_OBJECT_COMMIT);
	rc = reach_tree(r, git_commit_tree_id(c), 0);
	git_commit_free(c);
	return rc;
}

int snap_verify(struct snap_store *st, uint64_t *refs, uint64_t *objects, struct err **errp)
{
	struct reach r = { .errp = errp };
	git_oid *ids = NULL;
	size_t n = 0;
	int rc = -1;

	if (repo_open(st, &r.repo, errp) < 0)
		return -1;
	if (git_repository_odb(&r.odb, r.repo) < 0) {
		git_fail(errp, "opening the object database");
		goto out;
	}
	if (snapshot_refs(r.repo, &ids, &n, errp) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (reach_commit(&r, &ids[i]) < 0)
			goto out;
	if (refs)
		*refs = n;
	if (objects)
		*objects = r.objects;
	rc = 0;
out:
	free(ids);
	oidset_release(&r.seen);
	git_odb_free(r.odb);
	git_repository_free(r.repo);
	return rc;
}

/* Remove everything in objects/ but the pack named keep (NULL: keep nothing). */
static void remove_other_objects(struct snap_store *st, const char *keep)
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
			if (strlen(de->d_name) != 2 || strspn(de->d_name, "0123456789abcdef") != 2)
				continue;
			int sfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			DIR *s = sfd >= 0 ? fdopendir(sfd) : NULL;
			struct dirent *se;
			while (s && (se = readdir(s)))
				if (se->d_name[0] != '.')
					unlinkat(sfd, se->d_name, 0);
			if (s)
				closedir(s);
			else if (sfd >= 0)
				close(sfd);
			unlinkat(dfd, de->d_name, AT_REMOVEDIR);
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
static int gc_write(struct reach *r, char *name, struct err **errp)
{
	struct packw pw = { 0 };
	unsigned char trailer[OIDLEN];
	int rc = -1;

	if (git_odb_write_pack(&pw.wp, r->odb, NULL, NULL) < 0) {
		git_fail(errp, "starting a pack");
		goto out;
	}
	if (pw_begin(&pw, (uint32_t)r->n, Z_DEFAULT_COMPRESSION, errp) < 0)
		goto out;
	for (size_t i = 0; i < r->n; i++) {
		git_odb_object *obj = NULL;
		if (git_odb_read(&obj, r->odb, &r->list[i].id) < 0) {
			reach_fail(r, &r->list[i].id, "object");
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

int snap_gc(struct snap_store *st, struct err **errp)
{
	struct reach r = { .errp = errp, .collect = true };
	struct buf path = BUF_INIT, shallow = BUF_INIT, gen = BUF_INIT;
	git_oid *ids = NULL;
	size_t n = 0;
	struct oidset commits = { 0 };
	char name[41] = "";
	int rc = -1;

	if (repo_open(st, &r.repo, errp) < 0)
		return -1;
	if (git_repository_odb(&r.odb, r.repo) < 0) {
		git_fail(errp, "opening the object database");
		goto out;
	}
	if (snapshot_refs(r.repo, &ids, &n, errp) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		oidset_add(&commits, ids[i].id);
		if (reach_commit(&r, &ids[i]) < 0)
			goto out;
	}
	if (r.n) {
		if (gc_write(&r, name, errp) < 0)
			goto out;
		buf_addf(&path, "%s/objects/pack/pack-%s.idx", st->gitdir, name);
		if (access(path.data, F_OK) < 0) {
			/* never delete the old packs unless the new one is where we expect it */
			err_set(errp, EIO, "snapshot store: the repacked store was not found after writing it");
			goto out;
		}
	}
	/* stat caches written before this point no longer prove an object exists */
	buf_addf(&gen, "%llu\n", (unsigned long long)gen_read(st) + 1);
	if (write_atomic(st->gen_path, gen.data, gen.len, errp) < 0)
		goto out;
	/* parents of kept commits may go: tell the git CLI where history stops */
	for (size_t i = 0; i < n; i++) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, r.repo, &ids[i]) < 0)
			continue;
		for (unsigned p = 0; p < git_commit_parentcount(c); p++)
			if (!oidset_has(&commits, git_commit_parent_id(c, p)->id)) {
				char hex[41];
				buf_addf(&shallow, "%s\n", git_oid_tostr(hex, sizeof(hex), &ids[i]));
				break;
			}
		git_commit_free(c);
	}
	buf_reset(&path);
	buf_addf(&path, "%s/shallow", st->gitdir);
	if (shallow.len) {
		if (write_atomic(path.data, shallow.data, shallow.len, errp) < 0)
			goto out;
	} else {
		unlink(path.data);
	}
	remove_other_objects(st, r.n ? name : NULL);
	rc = 0;
out:
	free(ids);
	free(r.list);
	oidset_release(&commits);
	oidset_release(&r.seen);
	git_odb_free(r.odb);
	git_repository_free(r.repo);
	buf_release(&path);
	buf_release(&shallow);
	buf_release(&gen);
	return rc;
}
