/* Unit tests of path confinement (sessions/workspace.c) on a real directory. */
#include "tap.h"
#include "sessions/workspace.h"
#include "sessions/btrfs.h"
#include "server/base/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

static const char *rel(const char *p)
{
	static char *last;
	struct err *e = NULL;
	free(last);
	last = NULL;
	if (sess_ws_relpath(p, &last, &e) < 0) {
		err_free(e);
		return NULL;
	}
	return last;
}

int main(void)
{
	char tmpl[] = "/tmp/mcpbox-ws-XXXXXX", outside[] = "/tmp/mcpbox-out-XXXXXX";
	struct err *e = NULL;
	const char *base;

	is_str(rel(""), ".", "empty path is the workspace");
	is_str(rel("/workspace"), ".", "/workspace is the workspace");
	is_str(rel("/workspace/"), ".", "/workspace/ is the workspace");
	is_str(rel("/workspace/a/b/"), "a/b", "absolute inside accepted");
	is_str(rel("a//b/./c"), "a/b/c", "slashes and dots normalized");
	is_str(rel("a/b/../c"), "a/c", "inner .. resolved lexically");
	ok(rel("..") == NULL, ".. refused");
	ok(rel("a/../../etc") == NULL, "a/../.. refused");
	ok(rel("/etc/passwd") == NULL, "absolute outside refused");
	ok(rel("/workspacefoo/x") == NULL, "/workspacefoo is not /workspace");
	ok(rel("/workspace/../etc") == NULL, "/workspace/.. refused");

	ok(mkdtemp(tmpl) && mkdtemp(outside), "temp dirs");
	int ws = open(tmpl, O_RDONLY | O_DIRECTORY);
	int od = open(outside, O_RDONLY | O_DIRECTORY);
	int fd = openat(od, "secret", O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(symlinkat(outside, ws, "out") == 0, "symlink to outside made");
	ok(symlinkat("../", ws, "up") == 0, "relative symlink climbing out made");
	ok(symlinkat("/proc/self/root", ws, "magic") == 0, "magic link made");
	ok(mkdirat(ws, "d", 0755) == 0 && symlinkat("d", ws, "inner") == 0, "inner symlink made");

	ok(sess_ws_open(ws, "out/secret", O_RDONLY, 0, "out/secret", &e) < 0 && strstr(err_text(e), "escapes"), "absolute symlink out refused: %s", e ? err_text(e) : "");
	err_free(e); e = NULL;
	ok(sess_ws_open(ws, "up/etc", O_RDONLY, 0, "up/etc", &e) < 0, "relative symlink out refused");
	err_free(e); e = NULL;
	ok(sess_ws_open(ws, "magic/etc/passwd", O_RDONLY, 0, "magic", &e) < 0, "magic link refused");
	err_free(e); e = NULL;
	fd = sess_ws_open(ws, "inner", O_RDONLY | O_DIRECTORY, 0, "inner", &e);
	ok(fd >= 0, "symlink staying inside is followed");
	if (fd >= 0) close(fd);
	ok(sess_ws_open(ws, "nope", O_RDONLY, 0, "nope", &e) < 0 && strstr(err_text(e), "does not exist") && !strstr(err_text(e), "/tmp"), "missing file: clear message without host path");
	err_free(e); e = NULL;

	fd = sess_ws_open_parent(ws, "x/y/z.txt", true, getuid(), getgid(), &base, "x/y/z.txt", &e);
	ok(fd >= 0 && !strcmp(base, "z.txt"), "parents created");
	if (fd >= 0) close(fd);
	ok(sess_ws_open_parent(ws, "out/new/f", true, getuid(), getgid(), &base, "out/new/f", &e) < 0, "mkdir through a symlink out refused");
	err_free(e); e = NULL;
	struct stat st;
	ok(fstatat(od, "new", &st, 0) < 0, "nothing created outside");
	ok(sess_ws_open_parent(ws, ".", false, 0, 0, &base, ".", &e) < 0, "workspace itself has no parent");
	err_free(e); e = NULL;

	/* an unnamed file: invisible until linked; then it creates, or replaces atomically, never a directory */
	{
		int dfd = openat(ws, "x/y", O_RDONLY | O_DIRECTORY);
		int t = sess_ws_tmpfile(ws, O_WRONLY, 0644, &e);
		if (t < 0 && e && e->errnum == EOPNOTSUPP) {
			ok(1, "# SKIP the test directory's filesystem makes no unnamed files");
		} else {
			ok(t >= 0 && write(t, "new", 3) == 3, "unnamed file written (%s)", e ? err_text(e) : "ok");
			int n = 0;
			DIR *d = fdopendir(dup(ws));
			while (d && readdir(d))
				n++;
			if (d)
				closedir(d);
			ok(n == 2 + 6, "nothing new in the workspace while it has no name (%d entries)", n);
			ok(sess_ws_link(t, dfd, "fresh", "x/y/fresh", &e) == 0, "linked where nothing was");
			char got[8] = "";
			int r = openat(dfd, "fresh", O_RDONLY);
			ok(r >= 0 && read(r, got, sizeof(got)) == 3 && !memcmp(got, "new", 3), "its bytes are there");
			close(r);
			int old = openat(dfd, "old", O_WRONLY | O_CREAT, 0644);
			close(old);
			struct stat before, after;
			fstatat(dfd, "old", &before, 0);
			ok(sess_ws_link(t, dfd, "old", "x/y/old", &e) == 0, "an existing file is replaced (%s)", e ? err_text(e) : "ok");
			fstatat(dfd, "old", &after, 0);
			ok(after.st_ino != before.st_ino && after.st_size == 3, "by the new file");
			n = 0;
			d = fdopendir(dup(dfd));
			struct dirent *de;
			while (d && (de = readdir(d)))
				n += de->d_name[0] != '.';
			if (d)
				closedir(d);
			ok(n == 2, "no temporary name left beside it (%d entries)", n);
			ok(mkdirat(dfd, "sub", 0755) == 0 && sess_ws_link(t, dfd, "sub", "x/y/sub", &e) < 0 && e->cls == ERR_INVALID,
			   "a directory is not replaced");
			err_free(e);
			e = NULL;
			close(t);
		}
		err_free(e);
		e = NULL;
		close(dfd);
	}

	/* fingerprints of start-up paths: creation, a new entry, removal; never outside */
	{
		static const char *const paths[] = { "fp", "fp/site", NULL };
		static const char *const outp[] = { "out", NULL };
		uint64_t f0 = sess_ws_fingerprint(ws, paths), f1, f2, f3, f4;
		ok(f0 == sess_ws_fingerprint(ws, paths), "fingerprint is stable");
		ok(mkdirat(ws, "fp", 0755) == 0, "mkdir fp");
		f1 = sess_ws_fingerprint(ws, paths);
		ok(f1 != f0, "creating a path changes the fingerprint");
		ok(mkdirat(ws, "fp/site", 0755) == 0, "mkdir fp/site");
		f2 = sess_ws_fingerprint(ws, paths);
		ok(f2 != f1, "creating a child changes it");
		fd = openat(ws, "fp/site/x.pth", O_WRONLY | O_CREAT, 0644);
		close(fd);
		f3 = sess_ws_fingerprint(ws, paths);
		ok(f3 != f2, "a new file in a watched directory changes it");
		ok(f3 == sess_ws_fingerprint(ws, paths), "and it is stable again");
		unlinkat(ws, "fp/site/x.pth", 0);
		f4 = sess_ws_fingerprint(ws, paths);
		ok(f4 != f3, "removing it changes it");
		/* "*.pth": the matching files' own states, so an edit in place shows */
		static const char *const pths[] = { "fp/site/*.pth", NULL };
		fd = openat(ws, "fp/site/a.pth", O_WRONLY | O_CREAT, 0644);
		ok(fd >= 0 && write(fd, "x\n", 2) == 2, "a.pth written");
		close(fd);
		fd = openat(ws, "fp/site/other.txt", O_WRONLY | O_CREAT, 0644);
		close(fd);
		uint64_t p0 = sess_ws_fingerprint(ws, pths);
		ok(p0 == sess_ws_fingerprint(ws, pths), "pattern fingerprint is stable");
		fd = openat(ws, "fp/site/other.txt", O_WRONLY | O_APPEND);
		ok(fd >= 0 && write(fd, "y", 1) == 1, "other.txt appended");
		close(fd);
		ok(p0 == sess_ws_fingerprint(ws, pths), "a file the pattern does not match is ignored");
		fd = openat(ws, "fp/site/a.pth", O_WRONLY | O_APPEND);
		ok(fd >= 0 && write(fd, "y\n", 2) == 2, "a.pth appended in place");
		close(fd);
		ok(p0 != sess_ws_fingerprint(ws, pths), "editing a matching file in place changes it");
		/* a directory the sandbox filled is read only so far: never equal, never a long stall */
		ok(mkdirat(ws, "fp/full", 0755) == 0, "fp/full made");
		for (int i = 0; i < 5000; i++) {
			char nm[32];
			snprintf(nm, sizeof(nm), "fp/full/%d.pth", i);
			close(openat(ws, nm, O_WRONLY | O_CREAT, 0644));
		}
		static const char *const full[] = { "fp/full/*.pth", NULL };
		uint64_t t0 = now_ns(), q0 = sess_ws_fingerprint(ws, full);
		ok(q0 != sess_ws_fingerprint(ws, full), "a directory of 5000 entries is never vouched for (%llu us)",
		   (unsigned long long)(now_ns() - t0) / 1000);
		static const char *const nodir[] = { "nope/*.pth", NULL };
		ok(sess_ws_fingerprint(ws, nodir) == sess_ws_fingerprint(ws, nodir), "a missing directory is fine");
		/* "out" is a symlink leaving the workspace: it counts as absent, like a missing path */
		static const char *const none[] = { "nothing-here", NULL };
		ok(sess_ws_fingerprint(ws, outp) == sess_ws_fingerprint(ws, none), "a symlink out is not followed");
		ok(sess_ws_fingerprint(ws, NULL) == sess_ws_fingerprint(ws, (const char *const[]){ NULL }), "no paths");
	}

	/* A tree as deep as a sandbox can make it, removed with few fds: a
	   walk holding one directory per level would run out of them. */
	{
		struct rlimit old, low = { 256, 256 };
		int cur = openat(ws, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), made = 0;
		for (int i = 0; i < 5000 && cur >= 0; i++) {
			int next;
			if (mkdirat(cur, i ? "d" : "deep", 0755) < 0)
				break;
			next = openat(cur, i ? "d" : "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (i % 100 == 0 && next >= 0) {
				int f = openat(next, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
				if (f >= 0)
					close(f);
			}
			close(cur);
			cur = next;
			made++;
		}
		if (cur >= 0)
			close(cur);
		getrlimit(RLIMIT_NOFILE, &old);
		setrlimit(RLIMIT_NOFILE, &low);
		int rc = sess_ws_remove_at(ws, "deep", &e);
		setrlimit(RLIMIT_NOFILE, &old);
		ok(made == 5000 && rc == 0 && fstatat(ws, "deep", &st, AT_SYMLINK_NOFOLLOW) < 0,
		   "a tree 5000 levels deep is removed within 256 fds (%s)", e ? err_text(e) : "ok");
		err_free(e);
		e = NULL;
	}

	/* off btrfs (the e2e disk_btrfs test covers btrfs): a workspace is a directory, nothing more */
	struct statfs sf;
	if (statfs(tmpl, &sf) == 0 && sf.f_type != BTRFS_SUPER_MAGIC) {
		char ws2[4200];
		ok(!sess_btrfs_init(tmpl) && !sess_btrfs_enforced(), "not on btrfs: limits are measured");
		snprintf(ws2, sizeof(ws2), "%s/ws2", tmpl);
		ok(sess_ws_create(ws2, false, &e) == 0 && stat(ws2, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700,
		   "sess_ws_create: a 0700 directory");
		int w2 = open(ws2, O_RDONLY | O_DIRECTORY);
		ok(sess_btrfs_limit(w2, 1 << 20, &e) == 0, "a limit is nothing to do here");
		close(w2);
		errno = 0;
		ok(sess_btrfs_subvol_destroy(ws, "ws2") < 0 && errno == ENOTTY && stat(ws2, &st) == 0,
		   "a directory is no subvolume to destroy");
	}
	ok(sess_ws_remove_at(AT_FDCWD, tmpl, &e) == 0, "tree removed");
	ok(fstatat(od, "secret", &st, 0) == 0, "removal did not follow the symlink out");
	sess_ws_remove_at(AT_FDCWD, outside, NULL);
	close(ws);
	close(od);
	return tap_done();
}
