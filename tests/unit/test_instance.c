/*
 * Unit tests of the claims processes hold on a shared data directory
 * (sessions/instance.c): real processes, real locks, a real directory.
 */
#include "tap.h"
#include "sessions/instance.h"
#include "server/base/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char data[] = "/tmp/mcpbox-inst-XXXXXX";

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/instances/%s", data, rel);
	return stat(p, &st) == 0;
}

static int entries(void)
{
	char p[512];
	int n = 0;
	snprintf(p, sizeof(p), "%s/instances", data);
	DIR *d = opendir(p);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

/* BASE/mcpbox-<euid>/<pid>/x11/... as versions before the per-sandbox tmpfs
   left it: a tree too deep and too long-named for a plain recursive remove
   (the case: deeper than 8 levels, paths over 1 KiB). */
static void legacy_tree(const char *base, pid_t pid)
{
	char p[1024], name[128];
	snprintf(p, sizeof(p), "%s/mcpbox-%u", base, (unsigned)geteuid());
	mkdir(p, 0700);
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/%d", (int)pid);
	mkdir(p, 0711);
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	for (int i = 0; fd >= 0 && i < 40; i++) {	/* 40 x 121 bytes: past PATH_MAX */
		snprintf(name, sizeof(name), "%0120d", i);
		int next = mkdirat(fd, name, 0700) < 0 ? -1 : openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	ok(fd >= 0, "a legacy tree 40 levels deep made under %s", p);
	if (fd >= 0) {
		close(openat(fd, "fb", O_WRONLY | O_CREAT, 0600));
		close(fd);
	}
}

static void test_legacy_displays(void)
{
	char base[600], p[1024];
	struct stat st;
	snprintf(base, sizeof(base), "%s/shm", data);
	mkdir(base, 0700);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	legacy_tree(base, dead);
	legacy_tree(base, getpid());
	snprintf(p, sizeof(p), "%s/mcpbox-%u/not-a-pid", base, (unsigned)geteuid());
	mkdir(p, 0700);
	unsigned n = sess_instance_sweep_legacy_displays((const char *const[]){ base, "/nonexistent", NULL });
	snprintf(p, sizeof(p), "%s/mcpbox-%u/%d", base, (unsigned)geteuid(), (int)dead);
	ok(n == 1 && lstat(p, &st) < 0 && errno == ENOENT,
	   "legacy displays: a gone process's 40-level tree with 4.8 KiB paths is removed (%u)", n);
	snprintf(p, sizeof(p), "%s/mcpbox-%u/%d", base, (unsigned)geteuid(), (int)getpid());
	ok(lstat(p, &st) == 0, "a running process's directory is kept");
	snprintf(p, sizeof(p), "%s/mcpbox-%u/not-a-pid", base, (unsigned)geteuid());
	ok(lstat(p, &st) == 0, "and so is what is not a pid's");
	/* another user's (or a planted symlink) is never followed */
	char link[640];
	snprintf(link, sizeof(link), "%s/link", data);
	mkdir(link, 0700);
	snprintf(p, sizeof(p), "%s/mcpbox-%u", link, (unsigned)geteuid());
	char target[1024];
	snprintf(target, sizeof(target), "%s/mcpbox-%u", base, (unsigned)geteuid());
	if (symlink(target, p) < 0)
		ok(false, "symlink");
	legacy_tree(base, dead);
	n = sess_instance_sweep_legacy_displays((const char *const[]){ link, NULL });
	snprintf(p, sizeof(p), "%s/mcpbox-%u/%d", base, (unsigned)geteuid(), (int)dead);
	ok(n == 0 && lstat(p, &st) == 0, "a top directory that is a symlink is not followed (%u)", n);
}

/* A child that claims an instance, puts a "pool workspace" in it, tells us its
   id, then either waits to be killed (alive) or dies at once without any
   clean-up (a crash, kill -9). */
static pid_t child_instance(bool crash, char *id, size_t cap)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct sess_instance *in;
		struct err *e = NULL;
		close(p[0]);
		if (sess_instance_open(&in, data, &e) < 0)
			_exit(2);
		char ws[600];
		snprintf(ws, sizeof(ws), "%s/ses_pool/inner", sess_instance_dir(in));
		char top[600];
		snprintf(top, sizeof(top), "%s/ses_pool", sess_instance_dir(in));
		if (mkdir(top, 0700) < 0 || mkdir(ws, 0700) < 0)
			_exit(3);
		if (write(p[1], sess_instance_id(in), strlen(sess_instance_id(in))) < 0)
			_exit(4);
		close(p[1]);
		if (crash)
			_exit(0); /* the lock goes with the process; nothing is removed */
		pause();
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], id, cap - 1);
	close(p[0]);
	id[n > 0 ? n : 0] = '\0';
	return pid;
}

int main(void)
{
	struct sess_instance *me = NULL, *other = NULL;
	struct err *e = NULL;
	char live_id[64], dead_id[64];

	if (!mkdtemp(data))
		return 1;
	ok(sess_instance_open(&me, data, &e) == 0, "an instance is claimed");
	ok(!strncmp(sess_instance_id(me), "i_", 2) && strlen(sess_instance_id(me)) == 18, "its id: %s",
	   sess_instance_id(me));
	ok(sess_instance_alive(me, sess_instance_id(me)), "our own instance is alive");

	pid_t live = child_instance(false, live_id, sizeof(live_id));
	pid_t dead = child_instance(true, dead_id, sizeof(dead_id));
	waitpid(dead, NULL, 0);
	ok(live_id[0] && dead_id[0], "two other processes claimed instances");
	ok(sess_instance_alive(me, live_id), "a running process's instance is alive (its lock is held)");
	ok(!sess_instance_alive(me, dead_id), "a crashed process's instance is not (its lock is free)");
	ok(!sess_instance_alive(me, "i_0000000000000000"), "an unknown instance is not alive");
	ok(!sess_instance_alive(me, NULL), "no instance is not alive");
	char legacy[64];
	snprintf(legacy, sizeof(legacy), "%d:1", (int)getpid());
	ok(!sess_instance_alive(me, legacy), "a legacy pid:start id with the wrong start time is not alive");

	unsigned swept = sess_instance_sweep(me);
	ok(swept == 1, "a sweep removes exactly the dead instance (%u)", swept);
	char lock[80];
	snprintf(lock, sizeof(lock), "%s.lock", dead_id);
	ok(!exists(dead_id) && !exists(lock), "its directory (with a pool workspace in it) and lock are gone");
	snprintf(lock, sizeof(lock), "%s.lock", live_id);
	ok(exists(live_id) && exists(lock), "the live instance is untouched");
	ok(exists(sess_instance_id(me)), "and so is ours");
	ok(sess_instance_sweep(me) == 0, "a second sweep finds nothing to do");

	ok(sess_instance_open(&other, data, &e) == 0, "a second instance in this process");
	char orphan[80];
	snprintf(orphan, sizeof(orphan), "%s", sess_instance_id(other));
	sess_instance_free(other);
	ok(!exists(orphan), "freeing an instance removes its directory");

	kill(live, SIGKILL);
	waitpid(live, NULL, 0);
	ok(sess_instance_sweep(me) == 1, "once killed, the other process's instance is swept");
	ok(entries() == 2, "only our lock and directory remain (%d entries)", entries());
	sess_instance_free(me);
	ok(entries() == 0, "and they go when we exit (%d entries)", entries());

	test_legacy_displays();

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", data);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
