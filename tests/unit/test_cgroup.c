/*
 * test_cgroup.c — sessions/cgroup.c under cgroup v2 (TAP output).
 *
 * This host's memory, pids and cpu controllers are bound to v1, so v2 is
 * tested in two halves:
 *  - the real kernel: a cgroup2 mount (no controllers of ours in it) for
 *    what does not need them: the layout of groups and sandboxes, attaching,
 *    moving live processes (one in a cgroup namespace rooted at the cgroup
 *    it leaves) from the pool's group into a key's, EBUSY while populated,
 *    groups going with their last sandbox, stale cleanup;
 *  - a fake tree in a temp dir, for what does: detection, the files written
 *    and their values. It stands in for the kernel as little as it can: the
 *    test makes a cgroup's directory with the control files the kernel would
 *    give it (writable ones empty, so that a written one shows), and takes
 *    them away before a cgroup is removed (the kernel's rmdir takes them). A
 *    bind mount over /proc/self/cgroup places the server in a cgroup of the
 *    test's choosing.
 * Needs root (or an unprivileged user namespace for the fake half).
 */
#include "tap.h"
#include "sessions/cgroup.h"
#include "sessions/sandbox.h"
#include "server/base/buf.h"
#include "server/base/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/base/banned.h"

static char tmp[] = "/tmp/test_cgroup-XXXXXX";

static void skip(const char *what, const char *why)
{
	printf("ok %d - %s # skip %s\n", ++tap_n, what, why);
}

__attribute__((format(printf, 1, 2)))
static char *path_of(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

static void put(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
		printf("Bail out! write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* A file's content (NULL: none). */
static char *get(const char *path)
{
	char data[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, data, sizeof(data) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n < 0)
		return NULL;
	data[n] = '\0';
	return xstrdup(data);
}

static bool there(const char *path)
{
	return access(path, F_OK) == 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;	/* on with the rest */
}

/* rm -r (in a cgroup tree: what a failed check left; its files cannot be unlinked, its directories go) */
static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the fake tree ---------------------------------------------------------- */

/* The control files a cgroup's writer may set: empty in the fake until written. */
static const char *const writable[] = { "cgroup.subtree_control", "cgroup.procs", "cpu.max", "cpu.weight",
					"memory.max", "memory.swap.max", "pids.max" };

/*
 * mkdir root/rel with the files the kernel gives a cgroup whose parent
 * enables controllers (e.g. "cpu memory pids"): the core files and each
 * controller's interface files (the counters read as an idle cgroup's).
 */
static void fake_cgroup(const char *rel, const char *controllers)
{
	auto_free char *dir = path_of("%s/%s", tmp, rel);
	static const struct {
		const char *controller, *file, *content;
	} files[] = {
		{ NULL, "cgroup.subtree_control", "" },
		{ NULL, "cgroup.procs", "" },
		{ NULL, "cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n" },
		{ "cpu", "cpu.max", "" },
		{ "cpu", "cpu.weight", "" },
		{ "memory", "memory.max", "" },
		{ "memory", "memory.swap.max", "" },
		{ "memory", "memory.current", "0\n" },
		{ "memory", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n" },
		{ "pids", "pids.max", "" },
		{ "pids", "pids.current", "0\n" },
	};

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		printf("Bail out! mkdir %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	auto_free char *c = path_of("%s/cgroup.controllers", dir);
	put(c, controllers);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		const char *w = files[i].controller;
		size_t wl = w ? strlen(w) : 0;
		bool has = !w;
		for (const char *p = controllers; w && (p = strstr(p, w)); p += wl)
			has |= (p == controllers || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || !p[wl]);
		if (has) {
			auto_free char *f = path_of("%s/%s", dir, files[i].file);
			put(f, files[i].content);
		}
	}
}

/* What the kernel's rmdir of a cgroup takes with it: its files (not its children). */
static void fake_strip(const char *rel)
{
	auto_free char *dir = path_of("%s/%s", tmp, rel);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_type == DT_REG)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
}

/* The fake cgroup2 root (<tmp>/fs), and every file in it, for fake_reset / fake_writes. */
static const char *fake_root;
static char **fake_files;
static size_t fake_nfiles;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F) {
		fake_files = xrealloc(fake_files, (fake_nfiles + 1) * sizeof(*fake_files));
		fake_files[fake_nfiles++] = xstrdup(path);
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fake_scan(void)
{
	for (size_t i = 0; i < fake_nfiles; i++)
		free(fake_files[i]);
	fake_nfiles = 0;
	nftw(fake_root, collect, 16, FTW_PHYS);
	qsort(fake_files, fake_nfiles, sizeof(*fake_files), by_name);
}

/* A time no write made: a file with another mtime has been written since fake_reset. */
#define UNTOUCHED 1000000000

static int untouched(const char *path)
{
	const struct timespec t[2] = { { UNTOUCHED, 0 }, { UNTOUCHED, 0 } };

	return utimensat(AT_FDCWD, path, t, 0);
}

/* Empty the writable files written since the last reset, and mark every file untouched. */
static void fake_reset(void)
{
	struct stat st;

	fake_scan();
	for (size_t i = 0; i < fake_nfiles; i++) {
		const char *name = strrchr(fake_files[i], '/') + 1;
		if (stat(fake_files[i], &st) < 0 || st.st_mtime == UNTOUCHED)
			continue;
		for (size_t w = 0; w < ARRAY_SIZE(writable); w++)
			if (!strcmp(name, writable[w]) && truncate(fake_files[i], 0) < 0)
				printf("# truncate %s: %s\n", fake_files[i], strerror(errno));
		untouched(fake_files[i]);
	}
}

/* A file's content as the kernel would show it (a parent's subtree_control, a counter): not a write. */
static void fake_set(const char *path, const char *content)
{
	put(path, content);
	untouched(path);
}

/*
 * "path=content\n" of every file written since fake_reset (paths below the
 * fake root, sorted), then fake_reset.
 */
static char *fake_writes(void)
{
	struct buf b = BUF_INIT;
	struct stat st;

	fake_scan();
	for (size_t i = 0; i < fake_nfiles; i++) {
		if (stat(fake_files[i], &st) < 0 || st.st_mtime == UNTOUCHED)
			continue;
		auto_free char *c = get(fake_files[i]);
		buf_addf(&b, "%s=%s\n", fake_files[i] + strlen(tmp) + 1, c ? c : "(unreadable)");
	}
	fake_reset();
	return buf_detach(&b);
}

/* Stale cgroups of a previous run under base: an old empty group goes with
   its sandbox's, a young one stays. */
static void check_cleanup_stale(const struct sess_cgroup *cg, const char *base, const char *what)
{
	auto_free char *old = path_of("%s/key-old", base), *olds = path_of("%s/key-old/x", base);
	auto_free char *young = path_of("%s/key-young", base), *youngs = path_of("%s/key-young/y", base);

	mkdir(old, 0755);
	mkdir(olds, 0755);
	mkdir(young, 0755);
	mkdir(youngs, 0755);
	bool aged = untouched(olds) == 0 && untouched(old) == 0;
	sess_cgroup_cleanup_stale(cg);
	if (aged)
		ok(!there(old) && there(youngs), "%s: cleanup_stale removes an old empty group, keeps a young one", what);
	else
		skip("cleanup_stale", "cannot age a directory here");
	rmdir(youngs);
	rmdir(young);
	rmdir(olds);
	rmdir(old);
}

/* Where the server sits, as /proc/self/cgroup tells it (bound over it). */
static char *self_cgroup;

static void place_server(const char *v2_path)
{
	struct buf b = BUF_INIT;

	/* the v1 lines a hybrid host has too: detection must take the v2 one */
	buf_addf(&b, "4:memory:/elsewhere\n1:cpu,cpuacct:/\n0::%s\n", v2_path);
	put(self_cgroup, b.data);
	buf_release(&b);
}

static void check_writes(const char *want, const char *what)
{
	auto_free char *got = fake_writes();

	is_str(got, want, "%s", what);
}

static void test_fake(void)
{
	const struct sess_limits lim = { .memory_bytes = 256 << 20, .max_pids = 64, .cpu_millis = 500 };
	const struct sess_limits lim2 = { .memory_bytes = 128 << 20, .max_pids = 32, .cpu_millis = 2500 };
	const struct sess_limits none = { 0 };
	const struct sess_limits pool_lim = { .memory_bytes = 512 << 20 };
	struct sess_cgroup cg;
	struct err *e = NULL;
	char key[SESS_CGROUP_GROUP_SIZE];
	uint64_t n;

	self_cgroup = path_of("%s/self-cgroup", tmp);
	put(self_cgroup, "");
	if (mount(self_cgroup, "/proc/self/cgroup", NULL, MS_BIND, NULL) < 0) {
		skip("the fake v2 tree", "cannot bind a file over /proc/self/cgroup");
		return;
	}
	auto_free char *root = path_of("%s/fs", tmp);
	fake_root = root;
	fake_cgroup("fs", "cpu io memory pids");	/* its cgroup.controllers: a v2 root */
	{
		auto_free char *sc = path_of("%s/fs/cgroup.subtree_control", tmp);
		fake_set(sc, "cpu io memory pids\n");
	}
	fake_cgroup("fs/system.slice", "cpu io memory pids");
	fake_cgroup("fs/system.slice/mcpbox.service", "cpu memory pids");
	fake_cgroup("fs/system.slice/mcpbox", "cpu memory pids");
	fake_cgroup("fs/mcpbox", "cpu io memory pids");
	auto_free char *slice_sc = path_of("%s/fs/system.slice/cgroup.subtree_control", tmp);
	auto_free char *base = path_of("%s/fs/system.slice/mcpbox", tmp);

	/* Detection: the base is a sibling of the server's cgroup, and gets what its parent has. */
	place_server("/system.slice/mcpbox.service");
	fake_set(slice_sc, "");
	fake_reset();
	sess_cgroup_detect(&cg, root, 2);
	ok(cg.version == 0, "v2: a parent that enables none of memory, pids, cpu: no cgroups (version %d)", cg.version);
	check_writes("", "... and nothing written");
	sess_cgroup_release(&cg);

	fake_set(slice_sc, "io memory\n");
	fake_reset();
	sess_cgroup_detect(&cg, root, 2);
	ok(cg.version == 2 && cg.memory && !cg.pids && !cg.cpu,
	   "v2: a parent with memory only: memory only (version %d memory %d pids %d cpu %d)", cg.version, cg.memory,
	   cg.pids, cg.cpu);
	check_writes("fs/system.slice/mcpbox/cgroup.subtree_control=+memory\n",
		     "... enabled in the base's subtree_control, no weight without cpu");
	sess_cgroup_release(&cg);

	/* a server at the root: the base is <root>/mcpbox */
	place_server("/");
	fake_reset();
	sess_cgroup_detect(&cg, root, 3);
	auto_free char *top = path_of("%s/fs/mcpbox", tmp);
	is_str(cg.mem_base, top, "v2: a server in the root cgroup: the base is <root>/mcpbox");
	check_writes("fs/mcpbox/cgroup.subtree_control=+cpu +memory +pids\nfs/mcpbox/cpu.weight=300\n",
		     "... with all three controllers, weighing one process per CPU (3)");
	sess_cgroup_release(&cg);

	place_server("/system.slice/mcpbox.service");
	fake_set(slice_sc, "cpu io memory pids\n");
	fake_reset();
	sess_cgroup_detect(&cg, root, 2);
	ok(cg.version == 2 && cg.memory && cg.pids && cg.cpu && !cg.memsw && !cg.acct_base,
	   "v2: memory, pids and cpu (version %d memory %d pids %d cpu %d)", cg.version, cg.memory, cg.pids, cg.cpu);
	ok(cg.mem_base && !strcmp(cg.mem_base, base) && cg.pids_base && !strcmp(cg.pids_base, base) && cg.cpu_base &&
	   !strcmp(cg.cpu_base, base), "v2: one base for all, beside the server's cgroup (%s)", cg.mem_base);
	check_writes("fs/system.slice/mcpbox/cgroup.subtree_control=+cpu +memory +pids\n"
		     "fs/system.slice/mcpbox/cpu.weight=200\n",
		     "... enabled in the base's subtree_control in one write, weight 100 per CPU");

	/* A session of key alice: its group, capped at 1.5 CPUs, and its sandbox. */
	ok(sess_cgroup_group_name("alice", key, NULL) == 0, "group name");
	auto_free char *g = path_of("fs/system.slice/mcpbox/%s", key);
	auto_free char *s1 = path_of("%s/s1", g), *p1 = path_of("%s/p1", g);
	fake_cgroup(g, "cpu memory pids");
	fake_cgroup(s1, "cpu memory pids");
	fake_reset();
	ok(sess_cgroup_create(&cg, key, 1500, "s1", &lim, &e) == 0, "create s1 in alice's group (%s)",
	   e ? err_text(e) : "");
	{
		auto_free char *want = path_of("%1$s/cgroup.subtree_control=+cpu +memory +pids\n"
					       "%1$s/cpu.max=150000 100000\n"
					       "%2$s/cpu.max=50000 100000\n"
					       "%2$s/memory.max=268435456\n"
					       "%2$s/memory.swap.max=0\n"
					       "%2$s/pids.max=64\n", g, s1);
		check_writes(want, "create: the group hands its sandboxes the controllers and has its cap "
				   "(\"$MAX $PERIOD\"); the sandbox its limits, swap off");
	}
	ok(sess_cgroup_attach(&cg, key, "s1", 4242, &e) == 0, "attach");
	{
		auto_free char *want = path_of("%s/cgroup.procs=4242\n", s1);
		check_writes(want, "attach: the pid goes to the sandbox's cgroup only (a leaf: no internal processes)");
	}

	/* limits changed, then lifted: "max" everywhere, cpu.max keeps its period */
	ok(sess_cgroup_set_limits(&cg, key, "s1", &lim2, &e) == 0, "set limits");
	{
		auto_free char *want = path_of("%1$s/cpu.max=250000 100000\n%1$s/memory.max=134217728\n"
					       "%1$s/memory.swap.max=0\n%1$s/pids.max=32\n", s1);
		check_writes(want, "set_limits: new values");
	}
	ok(sess_cgroup_set_limits(&cg, key, "s1", &none, &e) == 0, "lift limits");
	{
		auto_free char *want = path_of("%1$s/cpu.max=max 100000\n%1$s/memory.max=max\n"
					       "%1$s/memory.swap.max=max\n%1$s/pids.max=max\n", s1);
		check_writes(want, "set_limits 0: \"max\" (cpu.max \"max 100000\")");
	}

	/* counters */
	{
		auto_free char *f = path_of("%s/%s/memory.events", tmp, s1);
		fake_set(f, "low 0\nhigh 0\nmax 9\noom 2\noom_kill 3\noom_group_kill 0\n");
		ok(sess_cgroup_oom_kills(&cg, key, "s1", &n) == 0 && n == 3, "oom_kill from memory.events (%llu)",
		   (unsigned long long)n);
		f = (free(f), path_of("%s/%s/memory.current", tmp, s1));
		fake_set(f, "123456789\n");
		ok(sess_cgroup_memory_current(&cg, key, "s1", &n) == 0 && n == 123456789, "memory.current (%llu)",
		   (unsigned long long)n);
		f = (free(f), path_of("%s/%s/pids.current", tmp, s1));
		fake_set(f, "7\n");
		ok(sess_cgroup_pids_current(&cg, key, "s1", &n) == 0 && n == 7, "pids.current (%llu)",
		   (unsigned long long)n);
		f = (free(f), path_of("%s/cpu.stat", base));
		fake_set(f, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
		ok(sess_cgroup_base_cpu_ns(&cg, &n) == 0 && n == 1500000, "the base's CPU time from cpu.stat (%llu ns)",
		   (unsigned long long)n);
		f = (free(f), path_of("%s/memory.current", base));
		fake_set(f, "987654321\n");
		ok(sess_cgroup_base_memory(&cg, &n) == 0 && n == 987654321, "the base's memory.current (%llu)",
		   (unsigned long long)n);
		fake_reset();
	}

	/* A warm-pool sandbox: the pool's group, uncapped; then taken by alice. */
	fake_cgroup("fs/system.slice/mcpbox/pool", "cpu memory pids");
	fake_cgroup("fs/system.slice/mcpbox/pool/p1", "cpu memory pids");
	fake_reset();
	ok(sess_cgroup_create(&cg, SESS_CGROUP_POOL, 0, "p1", &pool_lim, &e) == 0, "create p1 in the pool");
	check_writes("fs/system.slice/mcpbox/pool/cgroup.subtree_control=+cpu +memory +pids\n"
		     "fs/system.slice/mcpbox/pool/cpu.max=max 100000\n"
		     "fs/system.slice/mcpbox/pool/p1/memory.max=536870912\n"
		     "fs/system.slice/mcpbox/pool/p1/memory.swap.max=0\n",
		     "create in the pool: controllers, no cap, only the limits asked for");
	fake_cgroup(p1, "cpu memory pids");
	fake_strip("fs/system.slice/mcpbox/pool/p1");	/* its processes' move is the real kernel's half */
	fake_strip("fs/system.slice/mcpbox/pool");
	fake_reset();
	ok(sess_cgroup_move(&cg, SESS_CGROUP_POOL, key, 1500, "p1", &lim, &e) == 0, "move p1 to alice's group");
	{
		auto_free char *want = path_of("%1$s/cgroup.subtree_control=+cpu +memory +pids\n"
					       "%1$s/cpu.max=150000 100000\n"
					       "%2$s/cpu.max=50000 100000\n"
					       "%2$s/memory.max=268435456\n"
					       "%2$s/memory.swap.max=0\n"
					       "%2$s/pids.max=64\n", g, p1);
		check_writes(want, "move: made in the key's group with the session's limits");
	}
	auto_free char *pool_dir = path_of("%s/pool", base);
	ok(!there(pool_dir), "move: the pool's cgroup of the sandbox and the then empty pool group are removed");

	/* A leaf without a controller's files (not enabled): the write's failure is the error. */
	{
		char bob[SESS_CGROUP_GROUP_SIZE];
		sess_cgroup_group_name("bob", bob, NULL);
		auto_free char *gb = path_of("fs/system.slice/mcpbox/%s", bob);
		fake_cgroup(gb, "cpu memory pids");
		ok(sess_cgroup_create(&cg, bob, 0, "s9", &lim, &e) < 0 && e && strstr(err_text(e), "memory.max"),
		   "create: a limit that cannot be written is an error naming its file (%s)", e ? err_text(e) : "none");
		err_free(e);
		e = NULL;
		auto_free char *s9 = path_of("%s/%s/s9", tmp, gb), *gbd = path_of("%s/%s", tmp, gb);
		ok(there(s9), "... after making the sandbox's directory");
		sess_cgroup_remove(&cg, bob, "s9");
		fake_strip(gb);
		rmdir(gbd);
		fake_reset();
	}

	/* Removal: a sandbox's cgroup, its group with its last sandbox. */
	fake_strip(s1);
	fake_strip(g);
	ok(sess_cgroup_remove(&cg, key, "s1") == 0, "remove s1");
	auto_free char *s1d = path_of("%s/%s", tmp, s1), *gd = path_of("%s/%s", tmp, g);
	ok(!there(s1d) && there(gd), "remove: s1's cgroup is gone, alice's group stays for p1");
	fake_strip(p1);
	ok(sess_cgroup_remove(&cg, key, "p1") == 0, "remove p1");
	ok(!there(gd), "remove: the group goes with its last sandbox");
	check_writes("", "removal writes nothing");

	check_cleanup_stale(&cg, base, "fake v2");
	sess_cgroup_release(&cg);
	umount2("/proc/self/cgroup", MNT_DETACH);
}

/* ---- the real kernel -------------------------------------------------------- */

/* The v2 path of pid, from /proc (NULL if none). */
static char *cgroup_of(pid_t pid)
{
	auto_free char *p = path_of("/proc/%d/cgroup", (int)pid);
	auto_free char *c = get(p);
	char *at = c ? strstr(c, "0::") : NULL;

	if (!at || (at != c && at[-1] != '\n'))
		return NULL;
	at += 3;
	at[strcspn(at, "\n")] = '\0';
	return xstrdup(at);
}

/* CPU time a sandbox's child burns before it sleeps, in µs. */
#define BURN_US 30000

/* A sandbox stand-in: waits on go, unshares its cgroup namespace (as a
   sandbox does once it sits in its own cgroup), forks a child that burns
   BURN_US of CPU and sleeps, reports that child's pid and sleeps. */
static pid_t sandbox_start(int go, int report)
{
	pid_t pid = fork();
	char c;

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(go, &c, 1) != 1 || unshare(CLONE_NEWCGROUP) < 0)
		_exit(1);
	pid_t kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct timespec t;
		do
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
		while (t.tv_sec * 1000000 + t.tv_nsec / 1000 < BURN_US);
		for (;;)
			pause();
	}
	if (write(report, &kid, sizeof(kid)) != sizeof(kid))
		_exit(1);
	for (;;)
		pause();
}

/* ---- a delegated subtree, used by an ordinary user ---- */

#define DELEGATE_ID 65534

/*
 * What the server does as uid DELEGATE_ID, sitting in <deleg>/srv: its
 * sandboxes' base beside it, <deleg>/mcpbox; one sandbox made in the pool,
 * a process of its own put in, moved to a key's group, removed. 0, or the
 * number of the step that failed.
 */
static int delegated_steps(const char *mnt, const char *deleg)
{
	struct sess_cgroup cg = { .version = 2 };
	const struct sess_limits lim = { 0 };
	char key[SESS_CGROUP_GROUP_SIZE];
	pid_t p;
	int r, tries = 0;

	cg.mem_base = path_of("%s/mcpbox", deleg);
	cg.pids_base = xstrdup(cg.mem_base);
	cg.cpu_base = xstrdup(cg.mem_base);
	sess_cgroup_group_name("delegated owner", key, NULL);
	auto_free char *in_pool = path_of("%s/pool/s1", cg.mem_base + strlen(mnt));
	auto_free char *in_key = path_of("%s/%s/s1", cg.mem_base + strlen(mnt), key);
	auto_free char *pool = path_of("%s/pool", cg.mem_base), *group = path_of("%s/%s", cg.mem_base, key);
	if (mkdir(cg.mem_base, 0755) < 0)
		return 1;
	if (sess_cgroup_create(&cg, SESS_CGROUP_POOL, 0, "s1", &lim, NULL) < 0)
		return 2;
	p = fork();
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	/* from the server's cgroup into the sandbox's: their common ancestor is the delegated one */
	if (sess_cgroup_attach(&cg, SESS_CGROUP_POOL, "s1", p, NULL) < 0)
		return 3;
	auto_free char *c1 = cgroup_of(p);
	if (!c1 || strcmp(c1, in_pool))
		return 4;
	if (sess_cgroup_move(&cg, SESS_CGROUP_POOL, key, 0, "s1", &lim, NULL) < 0)
		return 5;
	auto_free char *c2 = cgroup_of(p);
	if (!c2 || strcmp(c2, in_key) || there(pool))
		return 6;
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	while ((r = sess_cgroup_remove(&cg, key, "s1")) < 0 && errno == EBUSY && ++tries < 200)
		usleep(10000);
	if (r < 0 || there(group))
		return 7;
	if (rmdir(cg.mem_base) < 0)
		return 8;
	sess_cgroup_release(&cg);
	return 0;
}

/* Delegate <mnt>/<dir> to DELEGATE_ID as the kernel's documentation says:
   the directory and its cgroup.procs, cgroup.subtree_control, cgroup.threads. */
static bool delegate(const char *dir)
{
	static const char *const files[] = { "", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads" };

	if (mkdir(dir, 0755) < 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		auto_free char *f = path_of("%s%s", dir, files[i]);
		if (chown(f, DELEGATE_ID, DELEGATE_ID) < 0)
			return false;
	}
	return true;
}

static void test_delegated(const char *mnt)
{
	auto_free char *deleg = path_of("%s/mcpbox-delegated-%d", mnt, (int)getpid());
	auto_free char *srv = path_of("%s/srv", deleg), *procs = path_of("%s/cgroup.procs", srv);
	int status = -1;

	if (chmod(tmp, 0711) < 0 || !delegate(deleg) || !delegate(srv)) {
		ok(false, "real v2: delegate a subtree (%s)", strerror(errno));
		return;
	}
	pid_t x = fork();
	if (x == 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", (int)getpid());
		/* placed by the delegator, as systemd places a service; then an ordinary user */
		put(procs, v);
		if (setgroups(0, NULL) < 0 || setresgid(DELEGATE_ID, DELEGATE_ID, DELEGATE_ID) < 0 ||
		    setresuid(DELEGATE_ID, DELEGATE_ID, DELEGATE_ID) < 0)
			_exit(100);
		_exit(delegated_steps(mnt, deleg));
	}
	waitpid(x, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "real v2, a subtree delegated to uid %d: the server beside its sandboxes' base creates, attaches, moves "
	   "from the pool to a key's group and removes as that user (failed at step %d)",
	   DELEGATE_ID, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	remove_tree(deleg);
}

static void test_kernel(void)
{
	auto_free char *mnt = path_of("%s/v2", tmp);
	struct sess_cgroup cg, detected;
	struct err *e = NULL;
	char key[SESS_CGROUP_GROUP_SIZE];
	int go[2], report[2];
	pid_t sb, kid;

	mkdir(mnt, 0755);
	if (mount("none", mnt, "cgroup2", 0, NULL) < 0) {
		skip("the real cgroup2 hierarchy", strerror(errno));
		return;
	}
	/* What detection finds there: this host binds memory, pids and cpu to v1. */
	auto_free char *rsc = path_of("%s/cgroup.subtree_control", mnt);
	auto_free char *root_sc = get(rsc);
	sess_cgroup_detect(&detected, mnt, 1);
	if (detected.version == 2) {
		printf("# the cgroup2 hierarchy has our controllers: testing in %s\n", detected.mem_base);
		sess_cgroup_copy(&cg, &detected);
	} else {
		bool none = root_sc && !strstr(root_sc, "memory") && !strstr(root_sc, "pids") && !strstr(root_sc, "cpu");
		ok(detected.version == 0 && none,
		   "real v2: a hierarchy without memory, pids or cpu enabled yields no cgroups (subtree_control '%s')",
		   root_sc ? root_sc : "?");
		auto_free char *would = path_of("%s/mcpbox", mnt);
		ok(!there(would), "... and detection made no directory there");
		/* the rest needs no controller: a v2 layout with none enabled */
		memset(&cg, 0, sizeof(cg));
		cg.version = 2;
		cg.mem_base = path_of("%s/mcpbox-test-%d", mnt, (int)getpid());
		cg.pids_base = xstrdup(cg.mem_base);
		cg.cpu_base = xstrdup(cg.mem_base);
		ok(mkdir(cg.mem_base, 0755) == 0, "a base in the real hierarchy");
	}
	bool own_base = detected.version != 2;
	sess_cgroup_release(&detected);
	const char *base = cg.mem_base, *rel = base + strlen(mnt);
	const struct sess_limits lim = { 0 };
	sess_cgroup_group_name("test_cgroup owner", key, NULL);
	auto_free char *pool_s1 = path_of("%s/pool/s1", base), *pool = path_of("%s/pool", base);
	auto_free char *key_s1 = path_of("%s/%s/s1", base, key), *key_s2 = path_of("%s/%s/s2", base, key);
	auto_free char *key_g = path_of("%s/%s", base, key);
	auto_free char *in_pool = path_of("%s/pool/s1", rel), *in_key = path_of("%s/%s/s1", rel, key);

	/* A pool sandbox: two processes in pool/s1. */
	ok(sess_cgroup_create(&cg, SESS_CGROUP_POOL, 0, "s1", &lim, &e) == 0 && there(pool_s1),
	   "real v2: create a sandbox's cgroup in the pool's group");
	if (pipe(go) < 0 || pipe(report) < 0)
		exit(1);
	sb = sandbox_start(go[0], report[1]);
	ok(sess_cgroup_attach(&cg, SESS_CGROUP_POOL, "s1", sb, &e) == 0, "real v2: attach (%s)", e ? err_text(e) : "");
	if (write(go[1], "g", 1) != 1 || read(report[0], &kid, sizeof(kid)) != sizeof(kid))
		exit(1);
	auto_free char *c1 = cgroup_of(sb), *c2 = cgroup_of(kid);
	ok(c1 && c2 && !strcmp(c1, in_pool) && !strcmp(c2, in_pool),
	   "real v2: the sandbox and its child sit in pool/s1 (%s, %s)", c1, c2);
	/* cpu.stat is there whether the cpu controller is on or not: the CPU
	   time of every sandbox together, their processes' included. */
	{
		uint64_t ns = 0;
		int r = -1;
		for (int i = 0; i < 200 && (r = sess_cgroup_base_cpu_ns(&cg, &ns)) == 0 && ns < BURN_US * 1000ull; i++)
			usleep(10000);
		ok(r == 0 && ns >= BURN_US * 1000ull, "real v2: the sandboxes' CPU time from the base's cpu.stat (%llu ns, %s)",
		   (unsigned long long)ns, r ? strerror(errno) : "read");
	}
	errno = 0;
	ok(sess_cgroup_remove(&cg, SESS_CGROUP_POOL, "s1") < 0 && errno == EBUSY && there(pool_s1),
	   "real v2: a populated sandbox's cgroup cannot go yet (EBUSY)");

	/* Taken by a key: every process moves, the pool's cgroups go (the
	   sandbox's cgroup namespace is rooted in the one it leaves). */
	ok(sess_cgroup_move(&cg, SESS_CGROUP_POOL, key, 0, "s1", &lim, &e) == 0, "real v2: move to the key's group (%s)",
	   e ? err_text(e) : "");
	free(c1);
	free(c2);
	c1 = cgroup_of(sb);
	c2 = cgroup_of(kid);
	ok(c1 && c2 && !strcmp(c1, in_key) && !strcmp(c2, in_key), "real v2: both processes moved (%s, %s)", c1, c2);
	ok(!there(pool_s1) && !there(pool), "real v2: the pool's cgroup and its then empty group are gone");
	{
		auto_free char *bp = path_of("%s/cgroup.procs", base), *gp = path_of("%s/cgroup.procs", key_g);
		auto_free char *bprocs = get(bp), *gprocs = get(gp);
		ok(bprocs && !*bprocs && gprocs && !*gprocs, "real v2: no process in the base or the group (only leaves)");
	}

	/* A second sandbox of the key; removal order. */
	ok(sess_cgroup_create(&cg, key, 0, "s2", &lim, &e) == 0 && there(key_s2), "real v2: a second sandbox in the group");
	ok(sess_cgroup_remove(&cg, key, "s2") == 0 && !there(key_s2) && there(key_g),
	   "real v2: removing it leaves the group to the populated s1");
	kill(kid, SIGKILL);
	kill(sb, SIGKILL);
	waitpid(sb, NULL, 0);
	int r = -1, tries = 0;
	while ((r = sess_cgroup_remove(&cg, key, "s1")) < 0 && errno == EBUSY && ++tries < 200)
		usleep(10000);
	ok(r == 0 && !there(key_s1) && !there(key_g), "real v2: once its processes are dead, s1 goes and the group with it");

	check_cleanup_stale(&cg, base, "real v2");
	close(go[0]);
	close(go[1]);
	close(report[0]);
	close(report[1]);
	if (own_base) {
		ok(rmdir(base) == 0, "real v2: the test's base is empty at the end");
		remove_tree(base);
	}
	sess_cgroup_release(&cg);
	test_delegated(mnt);
	umount2(mnt, MNT_DETACH);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (unshare(CLONE_NEWNS) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		skip("cgroup v2", "no mount namespace");
		return tap_done();
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || !mkdtemp(tmp)) {
		printf("Bail out! private mounts / temp dir: %s\n", strerror(errno));
		return 1;
	}
	if (geteuid() == 0)
		test_kernel();
	else
		skip("the real cgroup2 hierarchy", "not root");
	test_fake();
	remove_tree(tmp);
	return tap_done();
}
