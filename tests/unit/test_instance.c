/*
 * Unit tests of the claims processes hold on a shared data directory
 * (sessions/instance.c): real processes, real locks, a real directory.
 */
#include "tap.h"
#include "sessions/instance.h"
#include "server/base/common.h"

#include <dirent.h>
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

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", data);
	if (system(cmd) != 0)
		return 1;
	return tap_done();
}
