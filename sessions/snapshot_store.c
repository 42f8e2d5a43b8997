/*
 * snapshot_store.c — the object store and what every snapshot operation
 * shares (see snapshot.h; snapshot_internal.h lists the shared parts):
 * opening the store, small helpers, the object id set, the stat cache, refs
 * (snap_resolve, snap_delete) and the reachability walk behind snap_verify
 * and snap_gc.
 */
#include "snapshot.h"
#include "snapshot_internal.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <fcntl.h>
#include <git2.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "../server/base/banned.h"

#define RACY_SLACK_NS 20000000ll	/* timestamps are jiffy-grained */
#define RACY_SLACK_COARSE_NS 2000000000ll
#define CACHE_MAGIC "MCPBSNP1"

/* ---- small helpers ------------------------------------------------------ */

int snapi_git_fail(struct err **errp, const char *what)
{
	const git_error *e = git_error_last();
	/* libgit2 messages often hold host paths: log them, show a plain message */
	log_warn("snapshot: %s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	return err_set(errp, 0, "snapshot store: %s failed", what);
}

int64_t snapi_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000ll + ts->tv_nsec;
}

int snapi_parse_hex(const char *hex, git_oid *oid, const char *what, struct err **errp)
{
	if (!hex || strlen(hex) != 40 || strspn(hex, "0123456789abcdefABCDEF") != 40 || git_oid_fromstr(oid, hex) < 0)
		return err_set(errp, EINVAL, "%s is not a 40-digit hex commit id", what);
	return 0;
}

int snapi_valid_snapshot_id(const char *id, struct buf *refname, struct err **errp)
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
int snapi_open_beneath(int rootfd, const char *rel, int flags)
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

void snapi_hash_begin(EVP_MD_CTX *c, int type, uint64_t len)
{
	char hdr[48];
	int n = snprintf(hdr, sizeof(hdr), "%s %llu", type == GIT_OBJECT_BLOB ? "blob" :
			 type == GIT_OBJECT_TREE ? "tree" : "commit", (unsigned long long)len);
	EVP_DigestInit_ex(c, EVP_sha1(), NULL);
	EVP_DigestUpdate(c, hdr, (size_t)n + 1);
}

void snapi_hash_end(EVP_MD_CTX *c, unsigned char *oid)
{
	unsigned int n = OIDLEN;
	EVP_DigestFinal_ex(c, oid, &n);
}

void snapi_hash_buf(EVP_MD_CTX *c, int type, const void *p, size_t n, unsigned char *oid)
{
	snapi_hash_begin(c, type, n);
	EVP_DigestUpdate(c, p, n);
	snapi_hash_end(c, oid);
}

/* ---- a set of object ids (open addressing) ------------------------------ */

static size_t oidset_pos(const struct oidset *s, const unsigned char *oid)
{
	size_t h;
	memcpy(&h, oid, sizeof(h));
	return h & (s->cap - 1);
}

/* 1 if added, 0 if it was there. */
int snapi_oidset_add(struct oidset *s, const unsigned char *oid)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct oidset t = { NULL, NULL, s->cap ? s->cap * 2 : 256, 0 };
		t.slot = xcalloc(t.cap, OIDLEN);
		t.used = xcalloc(t.cap, 1);
		for (size_t i = 0; i < s->cap; i++)
			if (s->used[i])
				snapi_oidset_add(&t, s->slot[i]);
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

bool snapi_oidset_has(const struct oidset *s, const unsigned char *oid)
{
	if (!s->cap)
		return false;
	for (size_t i = oidset_pos(s, oid); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (!memcmp(s->slot[i], oid, OIDLEN))
			return true;
	return false;
}

void snapi_oidset_release(struct oidset *s)
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
	/* libgit2 reads packs through mmap'd windows (1 GiB each, 8 GiB in all on 64-bit by
	   default): every page of a pack it touched, e.g. the indexer checking a 200 MB file
	   just written, stayed in the server's RSS. Small windows, few of them mapped. */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)SNAP_MWINDOW_SIZE);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)SNAP_MWINDOW_MAPPED);
}

int snapi_repo_open(struct snap_store *st, git_repository **repo, struct err **errp)
{
	if (git_repository_open_ext(repo, st->gitdir, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0)
		return snapi_git_fail(errp, "opening the object store");
	return 0;
}

uint64_t snapi_gen_read(struct snap_store *st)
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
int snapi_write_atomic(const char *path, const void *data, size_t len, struct err **errp)
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

int snapi_store_open(struct snap_store **out, const char *data_dir, struct err **errp)
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
		/* ours alone from its first moment (libgit2 would use 0777 &
		   ~umask): nothing under it can be reached by other host users */
		if (mkdir(st->gitdir, 0700) < 0 && errno != EEXIST) {
			err_set(errp, errno, "creating the object store");
			goto fail;
		}
		if (git_repository_init_ext(&repo, st->gitdir, &o) < 0) {
			snapi_git_fail(errp, "creating the object store");
			goto fail;
		}
		if (chmod(st->gitdir, 0700) < 0) {	/* in case it existed, empty */
			err_set(errp, errno, "creating the object store");
			git_repository_free(repo);
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
		srv_random_bytes(&g, sizeof(g));
		int gl = snprintf(gb, sizeof(gb), "%llu\n", (unsigned long long)(g >> 16));
		if (snapi_write_atomic(st->gen_path, gb, (size_t)gl, errp) < 0)
			goto fail;
	}
	if (snapi_repo_open(st, &repo, errp) < 0)
		goto fail;
	git_repository_free(repo);
	*out = st;
	return 0;
fail:
	snapi_store_close(st);
	return -1;
}

void snapi_store_close(struct snap_store *st)
{
	if (!st)
		return;
	free(st->gitdir);
	free(st->gen_path);
	free(st);
	/* No git_libgit2_shutdown(): it deletes libgit2's thread-state key while
	   libuv's pool threads still hold state under it, which then can never be
	   freed (their exit no longer runs its destructor). The library stays
	   initialized until the process ends. */
}

/* ---- the stat cache ----------------------------------------------------- */

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

void snapi_cache_release(struct cache *c)
{
	free(c->e);
	free(c->raw);
	buf_release(&c->names);
	memset(c, 0, sizeof(*c));
}

/* A missing or unreadable cache is an empty one: it only makes us slower. */
void snapi_cache_load(struct cache *c, const char *path)
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

const struct cent *snapi_cache_find(const struct cache *c, const char *path)
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
bool snapi_cache_vouches(const struct cache *c, const struct cent *e, const struct stat *sb)
{
	if (e->st_mode != sb->st_mode || e->size != (uint64_t)sb->st_size || e->ino != (uint64_t)sb->st_ino ||
	    e->mtime_ns != ts_ns(&sb->st_mtim) || e->ctime_ns != ts_ns(&sb->st_ctim))
		return false;
	int64_t slack = (e->ctime_ns % 1000000000ll) == 0 ? RACY_SLACK_COARSE_NS : RACY_SLACK_NS;
	return e->ctime_ns + slack < c->start_ns && e->mtime_ns + slack < c->start_ns;
}

/* Entries being built: names live in c->names, e->path holds an offset until snapi_cache_save. */
void snapi_cache_push(struct cache *c, const char *path, const struct stat *sb, const unsigned char *oid)
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

int snapi_cache_save(struct cache *c, const char *path, struct err **errp)
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
	r = snapi_write_atomic(path, out.data, out.len, errp);
	buf_release(&out);
	return r;
}

/* ---- refs --------------------------------------------------------------- */

int snapi_resolve(struct snap_store *st, const char *snapshot_id, char hex[41], struct err **errp)
{
	struct buf refname = BUF_INIT;
	git_repository *repo = NULL;
	git_oid oid;
	int rc = -1;

	if (snapi_valid_snapshot_id(snapshot_id, &refname, errp) < 0 || snapi_repo_open(st, &repo, errp) < 0)
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

int snapi_delete(struct snap_store *st, const char *snapshot_id, struct err **errp)
{
	struct buf refname = BUF_INIT;
	git_repository *repo = NULL;
	int rc = -1;

	if (snapi_valid_snapshot_id(snapshot_id, &refname, errp) < 0 || snapi_repo_open(st, &repo, errp) < 0)
		goto out;
	git_reference *ref = NULL;
	int gr = git_reference_lookup(&ref, repo, refname.data);
	if (gr == 0)
		gr = git_reference_delete(ref);
	git_reference_free(ref);
	if (gr == GIT_ENOTFOUND)
		err_set(errp, ENOENT, "snapshot \"%s\" not found", snapshot_id);
	else if (gr < 0)
		snapi_git_fail(errp, "deleting the snapshot ref");
	else
		rc = 0;
out:
	git_repository_free(repo);
	buf_release(&refname);
	return rc;
}

/* Commit ids of every refs/snapshots/ ref. */
int snapi_snapshot_refs(git_repository *repo, git_oid **out, size_t *n, struct err **errp)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	size_t cap = 0;
	int gr;

	*out = NULL;
	*n = 0;
	if (git_reference_iterator_glob_new(&it, repo, "refs/snapshots/*") < 0)
		return snapi_git_fail(errp, "listing snapshots");
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
		return snapi_git_fail(errp, "listing snapshots");
	}
	return 0;
}

/* ---- reachability ------------------------------------------------------- */

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

int snapi_reach_fail(struct reach *r, const git_oid *oid, const char *what)
{
	char hex[41];
	const git_error *e = git_error_last();
	log_warn("snapshot: %s %s: %s", what, git_oid_tostr(hex, sizeof(hex), oid), e ? e->message : "?");
	return err_set(r->errp, EIO, "snapshot commit %s: %s %s is missing or corrupt", r->ref, what, hex);
}

/* Read a blob to its end in pieces: its content must hash to its id. */
static int reach_read_blob(struct reach *r, const git_oid *oid)
{
	struct blobrd b;
	struct err *e = NULL;
	unsigned char buf[64 << 10];
	ssize_t k = snapi_blob_open(&b, r->st, r->odb, oid, &e);

	while (k >= 0 && (k = snapi_blob_read(&b, buf, sizeof(buf), &e)) > 0)
		;
	snapi_blob_close(&b);
	if (e)
		log_warn("snapshot: %s", err_text(e));
	err_free(e);
	return k < 0 ? -1 : 0;
}

static int reach_tree(struct reach *r, const git_oid *id, int depth)
{
	git_tree *tree = NULL;
	int rc = 0;

	if (!snapi_oidset_add(&r->seen, id->id))
		return 0;
	if (depth > MAX_DEPTH)
		return err_set(r->errp, ELOOP, "snapshot nested too deep");
	if (git_tree_lookup(&tree, r->repo, id) < 0)
		return snapi_reach_fail(r, id, "directory");
	reach_add(r, id, GIT_OBJECT_TREE);
	for (size_t i = 0; rc == 0 && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		const git_oid *oid = git_tree_entry_id(te);
		git_filemode_t mode = git_tree_entry_filemode(te);
		if (mode == GIT_FILEMODE_TREE) {
			rc = reach_tree(r, oid, depth + 1);
		} else if (mode != GIT_FILEMODE_COMMIT && snapi_oidset_add(&r->seen, oid->id)) {
			reach_add(r, oid, GIT_OBJECT_BLOB);
			if (!r->collect && reach_read_blob(r, oid) < 0)
				rc = snapi_reach_fail(r, oid, "file");
		}
	}
	git_tree_free(tree);
	return rc;
}

int snapi_reach_commit(struct reach *r, const git_oid *id)
{
	git_commit *c = NULL;
	char hex[41];
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	r->ref = hex;
	if (!snapi_oidset_add(&r->seen, id->id))
		return 0;
	if (git_commit_lookup(&c, r->repo, id) < 0)
		return snapi_reach_fail(r, id, "commit");
	reach_add(r, id, GIT_OBJECT_COMMIT);
	rc = reach_tree(r, git_commit_tree_id(c), 0);
	git_commit_free(c);
	return rc;
}

int snapi_reach_all(struct snap_store *st, struct reach *r, git_oid **ids, size_t *n, struct oidset *commits)
{
	r->st = st;
	if (snapi_repo_open(st, &r->repo, r->errp) < 0)
		return -1;
	if (git_repository_odb(&r->odb, r->repo) < 0)
		return snapi_git_fail(r->errp, "opening the object database");
	if (snapi_snapshot_refs(r->repo, ids, n, r->errp) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		if (commits)
			snapi_oidset_add(commits, (*ids)[i].id);
		if (snapi_reach_commit(r, &(*ids)[i]) < 0)
			return -1;
	}
	return 0;
}

void snapi_reach_release(struct reach *r)
{
	free(r->list);
	snapi_oidset_release(&r->seen);
	git_odb_free(r->odb);
	git_repository_free(r->repo);
}

/* ---- the module's one export (server/module.h) --------------------------- */

__attribute__((visibility("default"))) extern const struct snap_engine mcpbox_snapshot_api;
const struct snap_engine mcpbox_snapshot_api = {
	.hdr = { SRV_MODULE_ABI, sizeof(struct snap_engine) },
	.store_open = snapi_store_open,
	.store_close = snapi_store_close,
	.take = snapi_take,
	.restore = snapi_restore,
	.materialize = snapi_materialize,
	.diff = snapi_diff,
	.del = snapi_delete,
	.gc = snapi_gc,
	.verify = snapi_verify,
	.resolve = snapi_resolve,
};
