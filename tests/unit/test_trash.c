/*
 * Unit tests of the trash (sessions/trash.c) on a real data directory and
 * loop: what is put there leaves its place at once and is charged to its
 * owner until removed; what gone instances left is taken over and removed,
 * a running instance's is not; nothing outside is touched; a stop leaves
 * the rest for the next start.
 */
#include "tap.h"
#include "sessions/instance.h"
#include "sessions/trash.h"
#include "sessions/workspace.h"
#include "server/base/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char data[] = "/tmp/mcpbox-trash-XXXXXX";

static void path_of(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", data, rel);
}

/* A tree at rel: a file, a directory nobody may read, a symlink out to target, depth levels of "d". */
static void make_tree(const char *rel, const char *target, int depth)
{
	char p[512], q[600];

	path_of(p, sizeof(p), rel);
	mkdir(p, 0700);
	snprintf(q, sizeof(q), "%s/f", p);
	close(open(q, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	snprintf(q, sizeof(q), "%s/locked", p);
	mkdir(q, 0700);
	snprintf(q, sizeof(q), "%s/locked/g", p);
	close(open(q, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	snprintf(q, sizeof(q), "%s/locked", p);
	chmod(q, 0);
	snprintf(q, sizeof(q), "%s/out", p);
	if (symlink(target, q) < 0)
		perror("symlink");
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < depth && fd >= 0; i++) {
		mkdirat(fd, "d", 0700);
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		close(fd);
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;
	path_of(p, sizeof(p), rel);
	return lstat(p, &st) == 0;
}

/* Entries in DATA/trash whose name starts with prefix ("" for all). */
static int in_trash(const char *prefix)
{
	char p[512];
	int n = 0;
	path_of(p, sizeof(p), "trash");
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !strncmp(de->d_name, prefix, strlen(prefix)))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void run_until_empty(uv_loop_t *loop)
{
	for (int i = 0; i < 2000 && sess_trash_pending(); i++)
		uv_run(loop, UV_RUN_ONCE);
}

int main(void)
{
	uv_loop_t loop;
	struct sess_instance *in = NULL, *other = NULL, *next = NULL;
	struct err *e = NULL;
	char p[512], outside[512], name[128];
	uint64_t bytes, entries;

	if (!mkdtemp(data))
		return 1;
	uv_loop_init(&loop);
	path_of(outside, sizeof(outside), "outside");
	close(open(outside, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	ok(sess_instance_open(&in, data, &e) == 0 && sess_instance_open(&other, data, &e) == 0, "two instances");

	/* what earlier runs left: a gone instance's entry, a stranger, and a running instance's */
	path_of(p, sizeof(p), "trash");
	mkdir(p, 0700);
	make_tree("trash/i_00000000000000aa.3.00000000000000aa", outside, 300);
	make_tree("trash/junk", outside, 1);
	snprintf(name, sizeof(name), "trash/%s.1.0000000000000000", sess_instance_id(other));
	make_tree(name, outside, 1);

	ok(sess_trash_open(&loop, data, in, &e) == 0, "open: %s", e ? err_text(e) : "ok");
	ok(sess_trash_pending() == 2, "the gone instance's entry and the stranger are taken over (%zu)", sess_trash_pending());
	ok(in_trash(sess_instance_id(in)) == 2 && in_trash(sess_instance_id(other)) == 1,
	   "renamed to ours; the running instance's is left");

	/* thrown away: gone from its place at once, charged until removed */
	make_tree("ws_a", outside, 40);
	make_tree("ws_b", outside, 1);
	char a[512], b[512];
	path_of(a, sizeof(a), "ws_a");
	path_of(b, sizeof(b), "ws_b");
	sess_trash_put(a, "user:alice", 5000, 7);
	sess_trash_put(b, "key_bob", 300, 2);
	path_of(p, sizeof(p), "nothing-here");
	sess_trash_put(p, "key_bob", 1, 1);
	ok(!exists("ws_a") && !exists("ws_b"), "put: the trees left their places at once");
	ok(sess_trash_pending() == 4, "a path that is not there is nothing to remove (%zu)", sess_trash_pending());
	sess_trash_held("user:alice#key_1", &bytes, &entries);
	ok(bytes == 5000 && entries == 7, "charged to its owner (here asked by a key of it) until removed (%llu, %llu)",
	   (unsigned long long)bytes, (unsigned long long)entries);
	sess_trash_held("key_bob", &bytes, &entries);
	ok(bytes == 300 && entries == 2, "and to its own key");
	sess_trash_held("key_carol", &bytes, &entries);
	ok(bytes == 0 && entries == 0, "to no one else");

	run_until_empty(&loop);
	ok(sess_trash_pending() == 0 && in_trash("") == 1 && in_trash(sess_instance_id(other)) == 1,
	   "all removed but the running instance's entry (%d left)", in_trash(""));
	sess_trash_held("user:alice#key_1", &bytes, &entries);
	ok(bytes == 0 && entries == 0, "nothing charged once removed");
	ok(exists("outside"), "symlinks out were not followed");

	/* a mount point in the tree (only root can make one here) is never entered */
	if (geteuid() == 0) {
		char mnt[512], kept[1024];
		make_tree("ws_m", outside, 1);
		path_of(mnt, sizeof(mnt), "ws_m/mnt");
		mkdir(mnt, 0700);
		if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0) {
			snprintf(kept, sizeof(kept), "%s/kept", mnt);
			close(open(kept, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
			path_of(p, sizeof(p), "ws_m");
			sess_trash_put(p, "key_bob", 1, 1);
			run_until_empty(&loop);
			struct stat st;
			char moved[512];
			snprintf(moved, sizeof(moved), "%s/trash", data);
			int n = in_trash(sess_instance_id(in));
			ok(n == 1 && stat(moved, &st) == 0, "a tree with a mount point in it stays in the trash (%d)", n);
			/* the mount moved with its directory: find it and check what it holds */
			DIR *d = opendir(moved);
			struct dirent *de;
			bool intact = false;
			while (d && (de = readdir(d)))
				if (!strncmp(de->d_name, sess_instance_id(in), strlen(sess_instance_id(in)))) {
					snprintf(kept, sizeof(kept), "%s/%s/mnt", moved, de->d_name);
					char f[1100];
					snprintf(f, sizeof(f), "%s/kept", kept);
					intact = stat(f, &st) == 0;
					umount2(kept, MNT_DETACH);
				}
			if (d)
				closedir(d);
			ok(intact, "and what is mounted there is untouched");
			sess_trash_close();
			sess_instance_free(in);
			in = NULL;
			ok(sess_instance_open(&in, data, &e) == 0 && sess_trash_open(&loop, data, in, &e) == 0, "a new start");
			run_until_empty(&loop);
			ok(in_trash(sess_instance_id(other)) == 1 && in_trash("") == 1, "removes it once unmounted");
		} else {
			ok(1, "# SKIP no tmpfs mount here: %s", strerror(errno));
		}
	}

	/* a stop: entries waiting stay on disk, and the next start takes them over */
	for (int i = 0; i < 3; i++) {
		char rel[32];
		snprintf(rel, sizeof(rel), "ws_%d", i);
		make_tree(rel, outside, 5);
		path_of(p, sizeof(p), rel);
		sess_trash_put(p, "key_bob", 1, 1);
	}
	sess_trash_stop();
	ok(sess_trash_pending() <= 1, "a stop drops what waits (%zu in flight)", sess_trash_pending());
	run_until_empty(&loop);
	ok(in_trash(sess_instance_id(in)) >= 2, "what waited is still in the trash (%d)", in_trash(sess_instance_id(in)));
	sess_trash_close();
	sess_instance_free(in);
	ok(sess_instance_open(&next, data, &e) == 0 && sess_trash_open(&loop, data, next, &e) == 0, "a new start");
	ok(sess_trash_pending() >= 2, "takes over what the stopped one left (%zu)", sess_trash_pending());
	run_until_empty(&loop);
	ok(in_trash("") == 1 && exists("outside"), "and removes it");
	sess_trash_close();
	ok(uv_loop_close(&loop) == 0, "the loop closes: no handle or request left");

	sess_instance_free(next);
	sess_instance_free(other);
	sess_ws_remove_at(AT_FDCWD, data, NULL);
	return tap_done();
}
