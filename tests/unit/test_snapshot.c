/*
 * Unit tests of the snapshot engine (sessions/snapshot.c). Workspaces are
 * compared with a recursive walk (content, mode bits, symlink targets, empty
 * directories), never through git. Runs as root and as an unprivileged user.
 */
#include "tap.h"
#include "sessions/snapshot.h"
#include "sessions/snapshot_internal.h"
#include "server/base/buf.h"
#include "server/base/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char base[64];
static char data_dir[128];

static void die_at(int line, const char *what)
{
	printf("Bail out! line %d: %s: %s\n", line, what, strerror(errno));
	exit(1);
}
#define CHECK(x) do { if ((x) < 0) die_at(__LINE__, #x); } while (0)

static char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *P(const char *fmt, ...)
{
	static char ring[8][1024];
	static int k;
	va_list ap;
	char *p = ring[k++ & 7];
	va_start(ap, fmt);
	vsnprintf(p, 1024, fmt, ap);
	va_end(ap);
	return p;
}

static void put(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die_at(__LINE__, path);
	CHECK(write_all(fd, content, strlen(content)));
	CHECK(fchmod(fd, mode));
	close(fd);
}

static void put_random(const char *path, size_t n, unsigned seed)
{
	char *b = xmalloc(n);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (char)x;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die_at(__LINE__, path);
	CHECK(write_all(fd, b, n));
	close(fd);
	free(b);
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		printf("# command failed: %s\n", cmd);
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line per entry, sorted: type, path, mode bits, size and content hash or target. */
static void dump_dir(struct buf *out, int dfd, const char *prefix)
{
	int fd = dup(dfd);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		char path[2048];
		snprintf(path, sizeof(path), "%s%s", prefix, names[i]);
		CHECK(fstatat(dfd, names[i], &sb, AT_SYMLINK_NOFOLLOW));
		if (S_ISDIR(sb.st_mode)) {
			buf_addf(out, "D %s\n", path);
			int c = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			CHECK(c);
			char sub[2100];
			snprintf(sub, sizeof(sub), "%s/", path);
			dump_dir(out, c, sub);
			close(c);
		} else if (S_ISLNK(sb.st_mode)) {
			char t[4096];
			ssize_t k = readlinkat(dfd, names[i], t, sizeof(t) - 1);
			CHECK(k);
			t[k] = 0;
			buf_addf(out, "L %s -> %s\n", path, t);
		} else if (S_ISREG(sb.st_mode)) {
			int f = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW);
			CHECK(f);
			char *b = xmalloc((size_t)sb.st_size + 1);
			ssize_t got = read(f, b, (size_t)sb.st_size + 1);
			close(f);
			buf_addf(out, "F %s %o %zd %016llx\n", path, sb.st_mode & 07777, got,
				 (unsigned long long)fnv(b, got > 0 ? (size_t)got : 0));
			free(b);
		} else {
			buf_addf(out, "? %s\n", path);
		}
		free(names[i]);
	}
	free(names);
}

static char *dump(const char *dir)
{
	struct buf b = BUF_INIT;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(fd);
	buf_adds(&b, "");
	dump_dir(&b, fd, "");
	close(fd);
	return buf_detach(&b);
}

static void show_diff(const char *want, const char *got)
{
	FILE *f = fopen(P("%s/want.txt", base), "w");
	fputs(want, f);
	fclose(f);
	f = fopen(P("%s/got.txt", base), "w");
	fputs(got, f);
	fclose(f);
	sh(P("diff %s/want.txt %s/got.txt | sed 's/^/#   /' | head -20", base, base));
}

static size_t count_loose(void)
{
	size_t n = 0;
	char objs[256];
	snprintf(objs, sizeof(objs), "%s/snapshots.git/objects", data_dir);
	DIR *d = opendir(objs);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strlen(de->d_name) != 2 || !strcmp(de->d_name, ".."))
			continue;
		DIR *s = opendir(P("%s/%s", objs, de->d_name));
		struct dirent *se;
		while (s && (se = readdir(s)))
			if (se->d_name[0] != '.')
				n++;
		if (s)
			closedir(s);
	}
	closedir(d);
	return n;
}

static size_t count_pack_files_in(const char *data, const char *suffix)
{
	size_t n = 0;
	DIR *d = opendir(P("%s/snapshots.git/objects/pack", data));
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		if (!suffix || (l > strlen(suffix) && !strcmp(de->d_name + l - strlen(suffix), suffix)))
			n++;
	}
	closedir(d);
	return n;
}

static size_t count_pack_files(const char *suffix)
{
	return count_pack_files_in(data_dir, suffix);
}

static bool blob_exists(const char *content, size_t n)
{
	git_repository *repo;
	git_odb *odb;
	git_oid oid;
	bool r;
	CHECK(git_repository_open_bare(&repo, P("%s/snapshots.git", data_dir)));
	CHECK(git_repository_odb(&odb, repo));
	git_odb_hash(&oid, content, n, GIT_OBJECT_BLOB);
	r = git_odb_exists(odb, &oid) == 1;
	git_odb_free(odb);
	git_repository_free(repo);
	return r;
}

static void make_workspace(const char *ws)
{
	CHECK(mkdir(ws, 0755));
	put(P("%s/a.txt", ws), "one\ntwo\nthree\n", 0644);
	CHECK(mkdir(P("%s/src", ws), 0755));
	put(P("%s/src/main.c", ws), "int main(void)\n{\n\treturn 0;\n}\n", 0644);
	CHECK(mkdir(P("%s/bin", ws), 0755));
	put(P("%s/bin/run.sh", ws), "#!/bin/sh\necho hi\n", 0755);
	CHECK(symlink("src/main.c", P("%s/link", ws)));
	CHECK(symlink("/etc/passwd", P("%s/abs-link", ws)));
	CHECK(symlink("nowhere", P("%s/dangling", ws)));
	CHECK(mkdir(P("%s/empty", ws), 0755));
	CHECK(mkdir(P("%s/empty/deeper-empty", ws), 0755));
	CHECK(mkdir(P("%s/nested", ws), 0755));
	CHECK(mkdir(P("%s/nested/.git", ws), 0755));
	CHECK(mkdir(P("%s/nested/.git/objects", ws), 0755));
	put(P("%s/nested/.git/HEAD", ws), "ref: refs/heads/main\n", 0644);
	put(P("%s/nested/file", ws), "nested file\n", 0644);
	put(P("%s/.gitignore", ws), "*.log\nignored/\n", 0644);
	put(P("%s/x.log", ws), "a log line\n", 0644);
	CHECK(mkdir(P("%s/ignored", ws), 0755));
	put(P("%s/ignored/data", ws), "ignored by git, kept by us\n", 0644);
	put(P("%s/name with spaces ü.txt", ws), "unicode\n", 0644);
	put(P("%s/empty-file", ws), "", 0644);
	put_random(P("%s/blob.bin", ws), 100000, 1);
	put_random(P("%s/large.bin", ws), 9u << 20, 2);	/* above the in-memory limit: streamed */
}

/* A tree of many empty files costs no bytes: the walk's entry bound stops it, with a clear error. */
static void test_walk_bound(void)
{
	char *ws = xstrdup(P("%s/ws-many", base));
	struct err *e = NULL;
	CHECK(mkdir(ws, 0755));
	CHECK(mkdir(P("%s/sub", ws), 0755));
	for (int i = 0; i < 150; i++)
		put(P("%s/sub/%d", ws, i), "", 0644);
	int fd = open(ws, O_RDONLY | O_DIRECTORY);
	struct walk w = { .rootfd = fd, .max_bytes = UINT64_MAX, .max_entries = 100, .errp = &e };
	struct node root = { .gmode = GM_TREE };
	buf_adds(&w.path, "");
	ok(snapi_walk_dir(&w, fd, &root) < 0 && e && e->errnum == EFBIG && strstr(err_text(e), "more than 100 files"),
	   "a walk past its entry bound stops: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	snapi_node_release(&root);
	close(fd);
	fd = open(ws, O_RDONLY | O_DIRECTORY);	/* the walk read the shared directory offset to its end */
	struct walk w2 = { .rootfd = fd, .max_bytes = UINT64_MAX, .max_entries = 1000, .errp = &e };
	struct node root2 = { .gmode = GM_TREE };
	buf_adds(&w2.path, "");
	ok(snapi_walk_dir(&w2, fd, &root2) == 0 && w2.entries == 151 && w2.files == 150, "within it: %llu entries",
	   (unsigned long long)w2.entries);
	snapi_node_release(&root2);
	close(fd);

	/* the paths' bytes: "sub" (4 with its NUL) and 150 x "sub/N" (6 to 8) = 1,094 */
	fd = open(ws, O_RDONLY | O_DIRECTORY);
	struct walk w3 = { .rootfd = fd, .max_bytes = UINT64_MAX, .max_path_bytes = 1000, .errp = &e };
	struct node root3 = { .gmode = GM_TREE };
	buf_adds(&w3.path, "");
	ok(snapi_walk_dir(&w3, fd, &root3) < 0 && e && e->errnum == EFBIG &&
	   strstr(err_text(e), "paths of the workspace's files and directories total more than 1000 bytes"),
	   "a walk past its path bound stops: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	snapi_node_release(&root3);
	close(fd);
	fd = open(ws, O_RDONLY | O_DIRECTORY);
	struct walk w4 = { .rootfd = fd, .max_bytes = UINT64_MAX, .max_path_bytes = 1094, .errp = &e };
	struct node root4 = { .gmode = GM_TREE };
	buf_adds(&w4.path, "");
	ok(snapi_walk_dir(&w4, fd, &root4) == 0 && w4.path_bytes == 1094, "within it: %llu bytes",
	   (unsigned long long)w4.path_bytes);
	snapi_node_release(&root4);
	buf_release(&w.path);
	buf_release(&w2.path);
	buf_release(&w3.path);
	buf_release(&w4.path);
	close(fd);
	free(ws);
}

/* The path of the one loose object of the store (the large file), or "" if there is not exactly one. */
static void loose_object_path(char *out, size_t n)
{
	char objs[256];
	snprintf(objs, sizeof(objs), "%s/snapshots.git/objects", data_dir);
	DIR *d = opendir(objs);
	struct dirent *de;
	int found = 0;
	*out = '\0';
	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 2 || !strcmp(de->d_name, ".."))
			continue;
		DIR *s = opendir(P("%s/%s", objs, de->d_name));
		struct dirent *se;
		while (s && (se = readdir(s)))
			if (se->d_name[0] != '.' && found++ == 0) {
				struct buf b = BUF_INIT;
				buf_addf(&b, "%s/%s/%s", objs, de->d_name, se->d_name);
				if (b.len < n)
					memcpy(out, b.data, b.len + 1);
				buf_release(&b);
			}
		if (s)
			closedir(s);
	}
	if (d)
		closedir(d);
	if (found != 1)
		*out = '\0';
}

/* A large file is read back in pieces and checked against its id: a damaged copy is caught, not restored. */
static void test_corrupt_loose(struct snap_store *st, const char *commit)
{
	char path[512], dest[512];
	struct err *e = NULL;
	struct stat sb;

	loose_object_path(path, sizeof(path));
	ok(*path && stat(path, &sb) == 0, "the large file is one loose object");
	if (!*path)
		return;
	CHECK(chmod(path, 0644));	/* libgit2 makes loose objects read-only */
	int fd = open(path, O_RDWR);
	unsigned char orig, flip;
	off_t at = sb.st_size / 2;
	CHECK(pread(fd, &orig, 1, at) == 1 ? 0 : -1);
	flip = orig ^ 0x55;
	CHECK(pwrite(fd, &flip, 1, at) == 1 ? 0 : -1);
	ok(snap_verify(st, NULL, NULL, &e) < 0, "verify finds the damaged object");
	err_free(e), e = NULL;
	snprintf(dest, sizeof(dest), "%s/mat-corrupt", base);
	ok(snap_materialize(st, commit, dest, &e) < 0 && e && strstr(err_text(e), "corrupt") && access(dest, F_OK) < 0,
	   "materialize refuses it and leaves nothing: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	CHECK(pwrite(fd, &orig, 1, at) == 1 ? 0 : -1);
	close(fd);
	ok(snap_verify(st, NULL, NULL, &e) == 0, "repaired, the store verifies again");
	err_free(e);
}

static void test_roundtrip(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result res, res2;
	char *ws = P("%s/ws", base), *idx = P("%s/index/ws.index", base);
	char wsbuf[256], idxbuf[256];
	snprintf(wsbuf, sizeof(wsbuf), "%s", ws);
	snprintf(idxbuf, sizeof(idxbuf), "%s", idx);
	ws = wsbuf, idx = idxbuf;

	make_workspace(ws);
	char *want = dump(ws);

	ok(snap_take(st, ws, idx, NULL, "s1", "first", 0, &res, &e) == 0, "first snapshot");
	if (e) printf("#   %s\n", err_text(e));
	ok(strlen(res.commit) == 40 && res.files == 15 && res.dirs == 8, "counts: %llu files, %llu dirs",
	   (unsigned long long)res.files, (unsigned long long)res.dirs);
	/* large.bin (9 MiB) is stored loose, to be streamed; everything else in one pack */
	ok(count_loose() == 1 && count_pack_files(".pack") == 1 && count_pack_files(".idx") == 1,
	   "small objects are packed, the large file loose (%zu loose)", count_loose());
	test_corrupt_loose(st, res.commit);
	ok(access(idx, F_OK) == 0, "stat cache written");
	char s1[41];
	memcpy(s1, res.commit, 41);
	ok(snap_take(st, ws, idx, NULL, "s1", "again", 0, &res2, &e) < 0 && e && e->errnum == EEXIST,
	   "an existing snapshot id is refused");
	err_free(e), e = NULL;
	ok(snap_take(st, ws, idx, NULL, "../x", "bad", 0, &res2, &e) < 0 && e && e->errnum == EINVAL,
	   "an invalid snapshot id is refused");
	err_free(e), e = NULL;
	char hex[41];
	ok(snap_resolve(st, "s1", hex, &e) == 0 && !strcmp(hex, s1), "ref resolves to the commit");

	/* change everything that can change */
	put(P("%s/a.txt", ws), "one\nTWO\nthree\nfour\n", 0755);
	CHECK(unlink(P("%s/src/main.c", ws)));
	put(P("%s/new.txt", ws), "new\nfile\n", 0644);
	CHECK(chmod(P("%s/bin/run.sh", ws), 0644));
	CHECK(unlink(P("%s/link", ws)));
	CHECK(symlink("a.txt", P("%s/link", ws)));
	CHECK(symlink("new.txt", P("%s/new-link", ws)));
	CHECK(rmdir(P("%s/empty/deeper-empty", ws)));
	CHECK(mkdir(P("%s/new-empty", ws), 0755));
	put(P("%s/nested/.git/HEAD", ws), "ref: refs/heads/other\n", 0644);
	put(P("%s/nested/.git/config", ws), "[core]\n", 0644);
	sh(P("rm -rf %s/bin && echo not a dir > %s/bin", ws, ws));
	sh(P("rm -f %s/x.log && mkdir %s/x.log", ws, ws));
	put(P("%s/y.log", ws), "more log\n", 0644);
	put_random(P("%s/blob.bin", ws), 100000, 3);
	CHECK(chmod(P("%s/empty-file", ws), 0600));
	CHECK(mkfifo(P("%s/fifo", ws), 0644));

	/* diff against the live workspace, then a second snapshot and diff between commits */
	json_t *d = NULL;
	ok(snap_diff(st, s1, NULL, ws, 0, &d, &e) == 0 && d, "diff against the workspace");
	if (e) printf("#   %s\n", err_text(e));
	char *js = d ? json_dumps(d, JSON_SORT_KEYS) : NULL;
	printf("# %s\n", js ? js : "(null)");
	ok(js && strstr(js, "{\"added_lines\": 2, \"deleted_lines\": 1, \"new_mode\": \"100755\", \"old_mode\": \"100644\", \"path\": \"a.txt\"}"),
	   "modified text file: +2 -1 and the mode change");
	ok(js && strstr(js, "{\"lines\": 4, \"path\": \"src/main.c\"}"), "deleted file with its line count");
	ok(js && strstr(js, "{\"lines\": 2, \"path\": \"new.txt\"}"), "added file with its line count");
	ok(js && strstr(js, "{\"added_lines\": 0, \"binary\": true, \"deleted_lines\": 0, \"path\": \"blob.bin\"}"),
	   "binary file marked binary");
	ok(js && strstr(js, "\"path\": \"nested/.git/config\"") && strstr(js, "\"path\": \"bin/run.sh\""),
	   "nested .git content and removed directory listed");
	ok(js && !strstr(js, "large.bin") && !strstr(js, "empty-file") && !strstr(js, "fifo"),
	   "unchanged files, permission bits other than x, FIFOs not listed");
	free(js);
	json_decref(d);

	ok(snap_take(st, ws, idx, s1, "s2", "second", 0, &res2, &e) == 0, "second snapshot (parent s1)");
	if (e) printf("#   %s\n", err_text(e));
	ok(res2.skipped == 1, "the FIFO is skipped, not recorded");
	char *changed = dump(ws);
	d = NULL;
	ok(snap_diff(st, s1, res2.commit, NULL, 0, &d, &e) == 0, "diff between snapshots");
	js = d ? json_dumps(d, JSON_SORT_KEYS) : NULL;
	ok(js && strstr(js, "\"path\": \"a.txt\"") && strstr(js, "{\"lines\": 2, \"path\": \"new.txt\"}") &&
	   strstr(js, "{\"lines\": 4, \"path\": \"src/main.c\"}"), "same result between commits");
	free(js);
	json_decref(d);

	/* restore: the workspace becomes exactly s1 */
	ok(snap_restore(st, s1, ws, idx, &e) == 0, "restore s1");
	if (e) printf("#   %s\n", err_text(e));
	char *got = dump(ws);
	ok(!strcmp(want, got), "restored tree equals the original (content, modes, symlinks, empty dirs)");
	if (strcmp(want, got))
		show_diff(want, got);
	free(got);
	ok(access(P("%s/empty/.mcpbox-keep", ws), F_OK) < 0, "no marker files left in the workspace");

	/* and back to s2, then materialize both */
	ok(snap_restore(st, res2.commit, ws, idx, &e) == 0, "restore s2");
	got = dump(ws);
	/* the FIFO is not part of s2; its removal is expected */
	char *fifo = strstr(changed, "? fifo\n");
	if (fifo)
		memmove(fifo, fifo + 7, strlen(fifo + 7) + 1);
	/* empty-file: chmod 0600 is not recorded, restore writes what git knows (0644) */
	char *ef = strstr(changed, "F empty-file 600");
	if (ef)
		ef[14] = ef[15] = '4';
	ok(!strcmp(changed, got), "restored tree equals the changed workspace");
	if (strcmp(changed, got))
		show_diff(changed, got);
	free(got);
	free(changed);

	char *m1 = P("%s/mat-s1", base);
	char mbuf[256];
	snprintf(mbuf, sizeof(mbuf), "%s", m1);
	ok(snap_materialize(st, s1, mbuf, &e) == 0, "materialize s1");
	got = dump(mbuf);
	ok(!strcmp(want, got), "materialized tree equals the original");
	free(got);
	ok(snap_materialize(st, s1, mbuf, &e) < 0 && e && e->errnum == EEXIST, "materialize into an existing dir refused");
	err_free(e), e = NULL;

	uint64_t refs = 0, objs = 0;
	ok(snap_verify(st, &refs, &objs, &e) == 0 && refs == 2, "verify: %llu refs, %llu objects",
	   (unsigned long long)refs, (unsigned long long)objs);

	/* the git CLI agrees the store is sound (hasDotgit, for nested .git dirs, is a warning) */
	if (system("git --version >/dev/null 2>&1") == 0) {
		int rc = system(P("GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git --git-dir=%s/snapshots.git fsck "
				  "--no-dangling >%s/fsck.txt 2>&1", data_dir, base));
		ok(rc == 0, "git fsck accepts the store");
		if (rc)
			sh(P("sed 's/^/#   /' %s/fsck.txt | head", base));
	}
	free(want);
}

static void test_attacks(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result res;
	char ws[256], outside[256], idx[256];
	snprintf(ws, sizeof(ws), "%s/ws-attack", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	snprintf(idx, sizeof(idx), "%s/index/attack.index", base);
	CHECK(mkdir(ws, 0755));
	CHECK(mkdir(outside, 0755));
	CHECK(mkdir(P("%s/dir", ws), 0755));
	put(P("%s/dir/f", ws), "inside\n", 0644);
	put(P("%s/g", ws), "snapshot g\n", 0644);
	put(P("%s/secret", outside), "host secret\n", 0644);
	put(P("%s/victim", outside), "victim\n", 0644);
	ok(snap_take(st, ws, idx, NULL, "attack", NULL, 0, &res, &e) == 0, "snapshot with dir/");
	char s[41];
	memcpy(s, res.commit, 41);

	/* a symlink planted where the snapshot has a directory */
	sh(P("rm -rf %s/dir", ws));
	CHECK(symlink(outside, P("%s/dir", ws)));
	/* a hard link to a file outside, where the snapshot has a file */
	CHECK(unlink(P("%s/g", ws)));
	if (link(P("%s/victim", outside), P("%s/g", ws)) < 0)
		printf("# (hard link not possible here: %s)\n", strerror(errno));
	ok(snap_restore(st, s, ws, idx, &e) == 0, "restore over planted links");
	if (e) printf("#   %s\n", err_text(e));
	struct stat sb;
	ok(lstat(P("%s/dir", ws), &sb) == 0 && S_ISDIR(sb.st_mode), "dir is a real directory again");
	ok(access(P("%s/f", outside), F_OK) < 0, "nothing was written through the symlink");
	char *o = dump(outside);
	ok(strstr(o, "F secret 644 12") && strstr(o, "F victim 644 7") && !strstr(o, "F f "),
	   "the outside directory is untouched");
	free(o);
	char *w = dump(ws);
	ok(strstr(w, "F g 644 11") && strstr(w, "F dir/f 644 7"), "workspace holds the snapshot's files");
	free(w);

	/* a symlink to the outside is snapshotted as a symlink, never followed */
	sh(P("rm -rf %s/dir", ws));
	CHECK(symlink(outside, P("%s/dir", ws)));
	ok(snap_take(st, ws, idx, s, "attack2", NULL, 0, &res, &e) == 0, "snapshot with a symlink to outside");
	char mat[256];
	snprintf(mat, sizeof(mat), "%s/mat-attack", base);
	ok(snap_materialize(st, res.commit, mat, &e) == 0, "materialize it");
	char t[512] = "";
	ok(lstat(P("%s/dir", mat), &sb) == 0 && S_ISLNK(sb.st_mode) && readlink(P("%s/dir", mat), t, sizeof(t) - 1) > 0 &&
	   !strcmp(t, outside), "stored as a symlink, not as the outside files");
	json_t *d = NULL;
	ok(snap_diff(st, s, res.commit, NULL, 0, &d, &e) == 0, "diff");
	char *js = d ? json_dumps(d, JSON_SORT_KEYS) : NULL;
	ok(js && !strstr(js, "secret"), "no outside file appears in the diff");
	free(js);
	json_decref(d);

	/* size limit */
	size_t packs = count_pack_files(".pack");
	ok(snap_take(st, ws, idx, NULL, "too-big", NULL, 10, &res, &e) < 0 && e && e->errnum == EFBIG &&
	   strstr(err_text(e), "10 bytes"), "a workspace over max_bytes is refused: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	char hex[41];
	ok(count_pack_files(".pack") == packs && snap_resolve(st, "too-big", hex, &e) < 0,
	   "nothing was written for it");
	err_free(e), e = NULL;
}

/* A file of n unique short lines (seed makes them differ from another's). */
static void put_lines(const char *path, unsigned n, unsigned seed)
{
	struct buf b = BUF_INIT;
	for (unsigned i = 0; i < n; i++)
		buf_addf(&b, "%x-%u\n", seed, i);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die_at(__LINE__, path);
	CHECK(write_all(fd, b.data, b.len));
	close(fd);
	buf_release(&b);
}

/*
 * A line diff takes at most max_memory: a modified file whose versions and
 * lines would need more is listed too_large, with sizes and the reason, and
 * nothing more of it is read; smaller ones and added files keep their counts.
 */
static void test_diff_bound(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result res;
	char ws[256], idx[256];
	snprintf(ws, sizeof(ws), "%s/ws-diffbound", base);
	snprintf(idx, sizeof(idx), "%s/index/diffbound.index", base);
	CHECK(mkdir(ws, 0755));
	put_lines(P("%s/many.txt", ws), 20000, 1);	/* ~160 KB, 20,000 lines: ~4 MB for a line diff */
	put_lines(P("%s/few.txt", ws), 100, 2);
	ok(snap_take(st, ws, idx, NULL, "diffbound", NULL, 0, &res, &e) == 0, "snapshot of many lines");
	char s[41];
	memcpy(s, res.commit, 41);
	put_lines(P("%s/many.txt", ws), 20001, 3);
	put_lines(P("%s/few.txt", ws), 101, 2);
	put_lines(P("%s/added.txt", ws), 30000, 4);

	json_t *d = NULL;
	ok(snap_diff(st, s, NULL, ws, 1u << 20, &d, &e) == 0 && d, "diff with 1 MiB for a line diff");
	char *js = d ? json_dumps(d, JSON_SORT_KEYS) : NULL;
	printf("# %s\n", js ? js : err_text(e));
	ok(js && strstr(js, "{\"lines\": 30000, \"path\": \"added.txt\"}"), "an added file's lines are counted");
	ok(js && strstr(js, "{\"added_lines\": 1, \"deleted_lines\": 0, \"path\": \"few.txt\"}"),
	   "a small file still has its line diff");
	ok(js && strstr(js, "\"new_size\": 148898, \"old_size\": 148890, \"path\": \"many.txt\", \"reason\": \"too large "
			"for a line diff: 148890 and 148898 bytes with their lines would take more than the 1048576 bytes "
			"a line diff may use (diff_memory)\", \"too_large\": true}") && !strstr(js, "\"added_lines\": 20001"),
	   "the large one is too_large, with its sizes and why, and no line counts");
	free(js);
	json_decref(d);
	ok(snap_diff(st, s, NULL, ws, 0, &d, &e) == 0 && d, "diff with the default bound");
	json_t *m = json_array_get(json_object_get(d, "modified"), 1);
	ok(m && !strcmp(json_string_value(json_object_get(m, "path")), "many.txt") &&
	   json_integer_value(json_object_get(m, "added_lines")) == 20001 &&
	   json_integer_value(json_object_get(m, "deleted_lines")) == 20000, "within 64 MiB it has its line diff");
	json_decref(d);

	/* what a diff lists is bounded: 10,000 changes, 1 MiB of their paths; all are counted */
	ok(snap_take(st, ws, idx, s, "diffbound2", NULL, 0, &res, &e) == 0, "snapshot before many changes");
	memcpy(s, res.commit, 41);
	CHECK(mkdir(P("%s/a", ws), 0755));
	CHECK(mkdir(P("%s/b", ws), 0755));
	char name[300];
	memset(name, 'n', 250);
	for (unsigned i = 0; i < 10010; i++)
		put(P("%s/a/%05u", ws, i), "", 0644);
	for (unsigned i = 0; i < 6000; i++) {
		snprintf(name + 245, sizeof(name) - 245, "%05u", i);
		put(P("%s/b/%s", ws, name), "", 0644);
	}
	CHECK(unlink(P("%s/few.txt", ws)));
	ok(snap_diff(st, s, NULL, ws, 0, &d, &e) == 0 && d, "diff of 16,011 changes");
	json_t *tot = json_object_get(d, "total");
	ok(json_is_true(json_object_get(d, "truncated")) && json_array_size(json_object_get(d, "added")) == 10000 &&
	   !json_array_size(json_object_get(d, "deleted")) && json_integer_value(json_object_get(tot, "added")) == 16010 &&
	   json_integer_value(json_object_get(tot, "deleted")) == 1 &&
	   json_integer_value(json_object_get(tot, "modified")) == 0, "10,000 listed, all counted");
	json_decref(d);
	sh(P("rm -rf %s/a", ws));
	ok(snap_diff(st, s, NULL, ws, 0, &d, &e) == 0 && d, "diff of 6,001 changes with long names");
	size_t n = json_array_size(json_object_get(d, "added"));
	ok(json_is_true(json_object_get(d, "truncated")) && n == (1u << 20) / 252 &&
	   json_integer_value(json_object_get(json_object_get(d, "total"), "added")) == 6000,
	   "listed while their paths take at most 1 MiB (%zu)", n);
	json_decref(d);
	ok(snap_diff(st, s, res.commit, NULL, 0, &d, &e) == 0 && d && !json_object_get(d, "truncated") &&
	   !json_object_get(d, "total"), "a diff listing everything says nothing more");
	json_decref(d);
}

static void mkbig(const char *ws, int files, size_t size)
{
	CHECK(mkdir(ws, 0755));
	for (int d = 0; d < 20; d++)
		CHECK(mkdir(P("%s/d%02d", ws, d), 0755));
	for (int i = 0; i < files; i++) {
		char *b = xmalloc(size + 1);
		for (size_t k = 0; k < size; k++)
			b[k] = (char)('a' + (i * 7 + k * 13) % 26);
		for (size_t k = 60; k < size; k += 61)
			b[k] = '\n';
		b[size] = 0;
		put(P("%s/d%02d/f%05d.txt", ws, i % 20, i), b, 0644);
		free(b);
	}
}

/* CPU time this thread has used, in us: unlike the wall clock, a busy machine does not stretch it,
   and unlike the process's, no other thread's work lands in it (snap_take runs on its caller's thread). */
static uint64_t cpu_us(void)
{
	struct timespec ts;
	CHECK(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts));
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void test_incremental(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result r1, r2;
	char ws[256], idx[256];
	snprintf(ws, sizeof(ws), "%s/ws-inc", base);
	snprintf(idx, sizeof(idx), "%s/index/inc.index", base);
	mkbig(ws, 2000, 12288);
	usleep(50000);	/* out of the racy window */
	uint64_t cpu0 = cpu_us();
	ok(snap_take(st, ws, idx, NULL, "inc1", NULL, 0, &r1, &e) == 0, "first snapshot of 2000 files: %llu us",
	   (unsigned long long)r1.duration_us);
	uint64_t cpu1 = cpu_us() - cpu0;
	usleep(30000);
	put(P("%s/d01/f00001.txt", ws), "changed 1\n", 0644);
	put(P("%s/d02/f00002.txt", ws), "changed 2\n", 0644);
	put(P("%s/d03/f00003.txt", ws), "changed 3\n", 0644);
	cpu0 = cpu_us();
	ok(snap_take(st, ws, idx, r1.commit, "inc2", NULL, 0, &r2, &e) == 0,
	   "re-snapshot after 3 changes: %llu us, %llu files read", (unsigned long long)r2.duration_us,
	   (unsigned long long)r2.hashed_files);
	uint64_t cpu2 = cpu_us() - cpu0;
	ok(r1.hashed_files == 2000 && r2.hashed_files == 3, "only the changed files are read again");
	/* CPU time, not wall time: on a loaded machine a short call's wall time is mostly waiting for a core */
	ok(cpu2 * 3 < cpu1, "much less work than the first (%llu vs %llu us of CPU)", (unsigned long long)cpu2,
	   (unsigned long long)cpu1);
	ok(r2.new_objects == 3 + 4 + 1, "new objects: 3 blobs, 4 trees, 1 commit (%llu)",
	   (unsigned long long)r2.new_objects);

	/* restore after 3 changes: quick and only those files are rewritten */
	char *want = dump(ws);
	usleep(30000);
	put(P("%s/d04/f00004.txt", ws), "changed 4\n", 0644);
	CHECK(unlink(P("%s/d05/f00005.txt", ws)));
	put(P("%s/d06/extra.txt", ws), "extra\n", 0644);
	struct stat before, after;
	CHECK(stat(P("%s/d07/f00007.txt", ws), &before));
	uint64_t t0 = now_ns();
	ok(snap_restore(st, r2.commit, ws, idx, &e) == 0, "restore after 3 changes: %llu us",
	   (unsigned long long)((now_ns() - t0) / 1000));
	CHECK(stat(P("%s/d07/f00007.txt", ws), &after));
	ok(before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec,
	   "unchanged files are not rewritten");
	char *got = dump(ws);
	ok(!strcmp(want, got), "restored exactly");
	free(want);
	free(got);

	if (getuid() == 0) {
		/* as root, what restore creates belongs to the workspace's owner */
		CHECK(chown(ws, 65534, 65534));
		sh(P("rm -rf %s/d08", ws));
		CHECK(unlink(P("%s/d09/f00009.txt", ws)));
		ok(snap_restore(st, r2.commit, ws, idx, &e) == 0, "restore into a workspace owned by uid 65534");
		struct stat a, b, c;
		CHECK(stat(P("%s/d08", ws), &a));
		CHECK(stat(P("%s/d08/f00008.txt", ws), &b));
		CHECK(stat(P("%s/d09/f00009.txt", ws), &c));
		ok(a.st_uid == 65534 && b.st_uid == 65534 && c.st_uid == 65534 && c.st_gid == 65534,
		   "created files and directories are chowned to it");
	}

	/* same content in another session's workspace is stored once */
	char ws2[256];
	snprintf(ws2, sizeof(ws2), "%s/ws-inc-copy", base);
	sh(P("cp -a %s %s", ws, ws2));
	ok(snap_take(st, ws2, NULL, NULL, "inc-copy", NULL, 0, &r1, &e) == 0 && r1.new_objects == 1,
	   "a copy of the workspace adds only a commit (%llu objects)", (unsigned long long)r1.new_objects);
}

static void test_gc(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result r;
	char ws[256], idx[256];
	snprintf(ws, sizeof(ws), "%s/ws-gc", base);
	snprintf(idx, sizeof(idx), "%s/index/gc.index", base);
	CHECK(mkdir(ws, 0755));
	put(P("%s/keep.txt", ws), "kept content\n", 0644);
	put(P("%s/unique.txt", ws), "only in gc1\n", 0644);
	ok(snap_take(st, ws, idx, NULL, "gc1", NULL, 0, &r, &e) == 0, "snapshot gc1");
	char gc1[41];
	memcpy(gc1, r.commit, 41);
	put(P("%s/unique2.txt", ws), "only in gc2\n", 0644);
	ok(snap_take(st, ws, idx, gc1, "gc2", NULL, 0, &r, &e) == 0, "snapshot gc2 (child of gc1)");
	CHECK(unlink(P("%s/unique2.txt", ws)));
	ok(blob_exists("only in gc2\n", 12), "gc2's file is stored");

	uint64_t objs_before = 0, objs_after = 0, refs = 0;
	snap_verify(st, NULL, &objs_before, &e);
	ok(snap_delete(st, "gc2", &e) == 0, "delete gc2");
	ok(snap_delete(st, "gc2", &e) < 0 && e && e->errnum == ENOENT, "deleting it again: not found");
	err_free(e), e = NULL;
	ok(snap_delete(st, "gc1", &e) == 0, "delete gc1");
	ok(snap_delete(st, "inc1", &e) == 0, "delete inc1 (inc2's parent)");
	uint64_t t0 = now_ns();
	ok(snap_gc(st, &e) == 0, "gc: %llu ms", (unsigned long long)((now_ns() - t0) / 1000000));
	if (e) printf("#   %s\n", err_text(e));
	ok(!blob_exists("only in gc2\n", 12) && !blob_exists("only in gc1\n", 12), "deleted snapshots' objects are gone");
	ok(blob_exists("one\ntwo\nthree\n", 14) && blob_exists("nested file\n", 12), "others kept");
	ok(count_loose() == 1 && count_pack_files(".pack") == 1 && count_pack_files(NULL) == 2,
	   "one pack and its index remain, and the large file kept loose (%zu files, %zu loose)",
	   count_pack_files(NULL), count_loose());
	ok(snap_verify(st, &refs, &objs_after, &e) == 0 && objs_after < objs_before, "verify after gc: %llu refs, %llu objects",
	   (unsigned long long)refs, (unsigned long long)objs_after);
	char hex[41];
	ok(snap_resolve(st, "s2", hex, &e) == 0, "s2 still there");
	char mat[256];
	snprintf(mat, sizeof(mat), "%s/mat-after-gc", base);
	ok(snap_materialize(st, hex, mat, &e) == 0, "s2 still materializes (its parent s1 too)");
	err_free(e), e = NULL;

	/* the stat cache of ws-gc names unique.txt's blob, which gc removed */
	ok(snap_take(st, ws, idx, NULL, "gc3", NULL, 0, &r, &e) == 0 && r.hashed_files >= 1,
	   "snapshot after gc rewrites what the cache named but gc removed (%llu read)",
	   (unsigned long long)r.hashed_files);
	ok(blob_exists("only in gc1\n", 12) && snap_verify(st, NULL, NULL, &e) == 0, "and the store verifies");
	if (system("git --version >/dev/null 2>&1") == 0)
		ok(system(P("GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git --git-dir=%s/snapshots.git fsck --no-dangling "
			    ">/dev/null 2>&1", data_dir)) == 0, "git fsck accepts the store after gc (shallow file)");
}

struct thr {
	struct snap_store *st;
	int i;
	int rc;
};

static void *thr_run(void *arg)
{
	struct thr *t = arg;
	struct err *e = NULL;
	struct snap_result r;
	char ws[256], id[32];
	snprintf(ws, sizeof(ws), "%s/ws-thr%d", base, t->i);
	snprintf(id, sizeof(id), "thr%d", t->i);
	t->rc = snap_take(t->st, ws, NULL, NULL, id, NULL, 0, &r, &e);
	if (e)
		printf("#   thread %d: %s\n", t->i, err_text(e));
	err_free(e);
	return NULL;
}

static void test_threads(struct snap_store *st)
{
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		char ws[256];
		snprintf(ws, sizeof(ws), "%s/ws-thr%d", base, i);
		CHECK(mkdir(ws, 0755));
		for (int k = 0; k < 200; k++)
			put_random(P("%s/f%d", ws, k), 2000, (unsigned)(i * 1000 + k % (i + 2)));
	}
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ st, i, -1 };
		pthread_create(&th[i], NULL, thr_run, &t[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ok(t[0].rc == 0 && t[1].rc == 0 && t[2].rc == 0 && t[3].rc == 0, "4 threads snapshot into one store at once");
	struct err *e = NULL;
	ok(snap_verify(st, NULL, NULL, &e) == 0, "store verifies");
}

static void test_crash(struct snap_store *st)
{
	struct err *e = NULL;
	struct snap_result r;
	char ws[256], idx[256];
	snprintf(ws, sizeof(ws), "%s/ws-crash", base);
	snprintf(idx, sizeof(idx), "%s/index/crash.index", base);
	mkbig(ws, 1500, 8192);
	for (int i = 0; i < 3; i++)
		put_random(P("%s/big%d.bin", ws, i), 10u << 20, (unsigned)(100 + i));
	int delays_ms[] = { 1, 5, 15, 40, 80, 150, 250, 400, 3000 };
	int completed = 0, killed = 0, bad = 0;
	for (size_t k = 0; k < ARRAY_SIZE(delays_ms); k++) {
		char id[32];
		snprintf(id, sizeof(id), "crash%zu", k);
		/* make the next take write something new */
		put_random(P("%s/big0.bin", ws), 10u << 20, (unsigned)(200 + k));
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			struct snap_store *cst = NULL;
			struct err *ce = NULL;
			if (snap_store_open(&cst, data_dir, &ce) < 0 ||
			    snap_take(cst, ws, idx, NULL, id, NULL, 0, &r, &ce) < 0)
				_exit(1);
			_exit(0);
		}
		usleep((useconds_t)delays_ms[k] * 1000);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			killed++;
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			completed++;
		if (snap_verify(st, NULL, NULL, &e) < 0) {
			printf("#   after a kill at %d ms: %s\n", delays_ms[k], err_text(e));
			err_free(e), e = NULL;
			bad++;
		}
	}
	printf("# %d killed mid-way, %d completed before the kill\n", killed, completed);
	ok(bad == 0 && killed >= 3, "store verifies after every kill -9 during snap_take");
	ok(snap_take(st, ws, idx, NULL, "after-crash", NULL, 0, &r, &e) == 0, "a new snapshot succeeds");
	if (e) printf("#   %s\n", err_text(e));
	char mat[256];
	snprintf(mat, sizeof(mat), "%s/mat-crash", base);
	ok(snap_materialize(st, r.commit, mat, &e) == 0, "and materializes");
	char *a = dump(ws), *b = dump(mat);
	ok(!strcmp(a, b), "with the workspace's content");
	free(a);
	free(b);
	ok(snap_gc(st, &e) == 0 && count_pack_files(NULL) == 2 && snap_verify(st, NULL, NULL, &e) == 0,
	   "gc removes the killed runs' leftovers");
}

static long status_kb(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = strtol(line + strlen(field), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* DATA and workspace directories named data-NAME and ws-NAME, made; false (a SKIP told) without git. */
static bool git_case(const char *name, char *dir, char *ws, size_t cap)
{
	if (system("git --version >/dev/null 2>&1") != 0) {
		ok(1, "# SKIP %s: no git", name);
		return false;
	}
	snprintf(dir, cap, "%s/data-%s", base, name);
	snprintf(ws, cap, "%s/ws-%s", base, name);
	CHECK(mkdir(dir, 0700));
	CHECK(mkdir(ws, 0755));
	return true;
}

/* Reset the peak RSS (VmHWM) to the current one: whether it could be. */
static bool peak_reset(void)
{
	FILE *cr = fopen("/proc/self/clear_refs", "w");
	bool reset = cr && fputs("5", cr) >= 0;
	if (cr)
		fclose(cr);
	return reset;
}

/* Materialize commit into base/NAME (its path into mat); the peak RSS's growth meanwhile in KiB (-1: unknown). */
static long materialize_peak(struct snap_store *st, const char *commit, const char *name, char *mat, size_t cap,
			     struct err **e)
{
	bool reset = peak_reset();
	long rss0 = status_kb("VmRSS:");
	snprintf(mat, cap, "%s/%s", base, name);
	ok(snap_materialize(st, commit, mat, e) == 0, "materialize %s%s%s", name, *e ? ": " : "", *e ? err_text(*e) : "");
	return reset ? status_kb("VmHWM:") - rss0 : -1;
}

/* The number the shell command prints first, or -1. */
static long sh_number(const char *cmd)
{
	char line[64] = "";
	FILE *f = popen(cmd, "r");
	if (!f || !fgets(line, sizeof(line), f))
		line[0] = '\0';
	if (f)
		pclose(f);
	return line[0] ? strtol(line, NULL, 10) : -1;
}

/*
 * A store from the versions before loose objects: a 40 MiB file in a pack, as
 * a whole object (git repack --window=0 writes what our pack writer wrote). It
 * is read in pieces (the peak RSS grows by far less than its size) and gc
 * makes it loose again.
 */
static void test_old_pack(void)
{
	struct snap_store *st = NULL;
	struct snap_result r;
	struct err *e = NULL;
	char dir[256], ws[256], mat[256], loose[512], hex[64] = "";
	size_t big = 40u << 20;

	if (!git_case("old", dir, ws, sizeof(dir)))
		return;
	put_random(P("%s/big.bin", ws), big, 77);
	put(P("%s/small.txt", ws), "small\n", 0644);
	ok(snap_store_open(&st, dir, &e) == 0 && snap_take(st, ws, NULL, NULL, "old", NULL, 0, &r, &e) == 0,
	   "snapshot with a 40 MiB file");
	FILE *f = popen(P("git hash-object %s/big.bin", ws), "r");
	if (!f || !fgets(hex, sizeof(hex), f))
		hex[0] = '\0';
	if (f)
		pclose(f);
	hex[strcspn(hex, "\n")] = '\0';
	snprintf(loose, sizeof(loose), "%s/snapshots.git/objects/%.2s/%s", dir, hex, hex + 2);
	ok(strlen(hex) == 40 && access(loose, F_OK) == 0, "it is a loose object");
	sh(P("cd %s/snapshots.git && GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git repack -a -d -q --window=0 "
	     "&& GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git prune-packed", dir));
	ok(access(loose, F_OK) < 0 && count_pack_files_in(dir, ".pack") >= 1, "packed the old way, no loose copy left");
	snap_store_close(st);
	st = NULL;
	ok(snap_store_open(&st, dir, &e) == 0, "reopen the store");

	/* read in pieces: the peak RSS (reset first) grows by far less than 40 MiB */
	long grew = materialize_peak(st, r.commit, "mat-old", mat, sizeof(mat), &e);
	char *a = dump(ws), *b = dump(mat);
	ok(!strcmp(a, b), "with the workspace's content");
	free(a);
	free(b);
	ok(grew < 16 * 1024, "the peak RSS grew by %ld KiB reading the packed file (the file: 40960 KiB)", grew);
	json_t *d = NULL;
	put_random(P("%s/big.bin", ws), big, 78);
	ok(snap_diff(st, r.commit, NULL, ws, 0, &d, &e) == 0 && d, "diff against a changed workspace reads it too");
	json_decref(d);

	ok(snap_gc(st, &e) == 0 && access(loose, F_OK) == 0, "gc makes it loose again%s%s", e ? ": " : "",
	   e ? err_text(e) : "");
	ok(snap_verify(st, NULL, NULL, &e) == 0, "the store verifies");
	sh(P("rm -rf %s", mat));
	ok(snap_materialize(st, r.commit, mat, &e) == 0, "and materializes from the loose copy");
	err_free(e);
	snap_store_close(st);
}

/*
 * A store packed by hand with deltas (git repack -f, as git gc does): three
 * versions of a 24 MiB file, stored as a whole object and a chain of two
 * deltas. Each is read with its chain applied in pieces (the peak RSS grows
 * by far less than the file), and gc makes them loose.
 */
static void test_delta_pack(void)
{
	static const struct { const char *text; size_t at; } edits[] = {
		{ NULL, 0 },
		{ "changed in the middle", 12u << 20 },	/* and each adds a line at the end */
		{ "a third change", 6000000 },
	};
	struct snap_store *st = NULL;
	struct snap_result r[3];
	struct err *e = NULL;
	char dir[256], ws[256], mat[256], *want[3];
	size_t big = 24u << 20;

	if (!git_case("delta", dir, ws, sizeof(dir)))
		return;
	put_random(P("%s/big.bin", ws), big, 81);
	CHECK(snap_store_open(&st, dir, &e));
	for (int v = 0; v < 3; v++) {
		if (edits[v].text) {
			int fd = open(P("%s/big.bin", ws), O_WRONLY | O_CLOEXEC);
			struct stat sb;
			CHECK(fd);
			CHECK(fstat(fd, &sb));
			CHECK(pwrite(fd, edits[v].text, strlen(edits[v].text), (off_t)edits[v].at) < 0 ? -1 : 0);
			CHECK(pwrite(fd, "a new end\n", 10, sb.st_size) < 0 ? -1 : 0);
			close(fd);
		}
		ok(snap_take(st, ws, NULL, v ? r[v - 1].commit : NULL, P("d%d", v), NULL, 0, &r[v], &e) == 0,
		   "snapshot of version %d of a 24 MiB file", v + 1);
		want[v] = dump(ws);
	}
	snap_store_close(st);
	st = NULL;
	sh(P("cd %s/snapshots.git && GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git repack -a -d -f -q --window=10 --depth=10 "
	     "&& GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git prune-packed", dir));
	long deep = sh_number(P("cd %s/snapshots.git && GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent git verify-pack -v "
				"objects/pack/*.idx | grep -c '^chain length = 2:'", dir));
	ok(deep == 1, "packed as a whole object and a chain of two deltas (%ld chains of 2)", deep);
	ok(snap_store_open(&st, dir, &e) == 0, "reopen the store");

	long grew[3];
	bool same = true;
	for (int v = 0; v < 3; v++) {
		grew[v] = materialize_peak(st, r[v].commit, P("mat-delta%d", v), mat, sizeof(mat), &e);
		char *got = dump(mat);
		same = same && !strcmp(want[v], got);
		free(got);
		free(want[v]);
	}
	ok(same, "each with its content");
	ok(grew[0] < 12 * 1024 && grew[1] < 12 * 1024 && grew[2] < 12 * 1024,
	   "the peak RSS grew by %ld, %ld and %ld KiB reading them (the file: 24576 KiB)", grew[0], grew[1], grew[2]);
	ok(snap_gc(st, &e) == 0, "gc%s%s", e ? ": " : "", e ? err_text(e) : "");
	long loose = sh_number(P("find %s/snapshots.git/objects -path '*/objects/?\?/*' -size +8M | wc -l", dir));
	ok(loose == 3, "and makes them loose, written from the deltas streamed (%ld)", loose);
	ok(snap_verify(st, NULL, NULL, &e) == 0, "the store verifies%s%s", e ? ": " : "", e ? err_text(e) : "");
	err_free(e);
	snap_store_close(st);
}

int main(void)
{
	struct err *e = NULL;
	struct snap_store *st = NULL;

	snprintf(base, sizeof(base), "/tmp/snaptest.XXXXXX");
	if (!mkdtemp(base))
		die_at(__LINE__, "mkdtemp");
	CHECK(chmod(base, 0755));
	snprintf(data_dir, sizeof(data_dir), "%s/data", base);
	CHECK(mkdir(data_dir, 0700));
	umask(022);
	printf("# uid %d, data in %s\n", (int)getuid(), base);

	ok(snap_store_open(&st, data_dir, &e) == 0, "open a new store");
	if (e) printf("#   %s\n", err_text(e));
	{
		char gitdir[600];
		struct stat sb;
		snprintf(gitdir, sizeof(gitdir), "%s/snapshots.git", data_dir);
		ok(stat(gitdir, &sb) == 0 && (sb.st_mode & 07777) == 0700,
		   "the object store is created 0700 (umask 022)");
	}
	if (!st)
		return tap_done();
	test_walk_bound();
	test_roundtrip(st);
	test_attacks(st);
	test_diff_bound(st);
	test_incremental(st);
	test_gc(st);
	test_threads(st);
	test_crash(st);
	test_old_pack();
	test_delta_pack();
	snap_store_close(st);
	ok(snap_store_open(&st, data_dir, &e) == 0 && snap_verify(st, NULL, NULL, &e) == 0, "reopen and verify");
	snap_store_close(st);
	if (!tap_failed)
		sh(P("rm -rf %s", base));
	return tap_done();
}
