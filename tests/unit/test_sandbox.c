/*
 * test_sandbox.c — the zygote, the sandbox set-up and the worker, tested
 * from the outside through sessions/sandbox.h (TAP output).
 *
 * Runs as root (cgroup limits, uid 101000 on the host) and as an ordinary
 * user, e.g. setpriv --reuid=65534 --regid=65534 --clear-groups; cgroup-only
 * checks are skipped when the host gives us no cgroups.
 */
#include "sessions/cgroup.h"
#include "sessions/sandbox.h"
#include "server/base/buf.h"
#include "server/base/common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/base/banned.h"

static int test_no, failures;
static uv_loop_t loop;

__attribute__((format(printf, 2, 3)))
static bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
	return cond;
}

static void skip(const char *what, const char *why)
{
	printf("ok %d - %s # skip %s\n", ++test_no, what, why);
}

static void diag(const char *s)
{
	printf("# %s\n", s);
}

/* ---- create ---------------------------------------------------------------- */

struct created {
	bool done;
	struct sess_worker *w;
	struct err *err;
};

static void on_created(void *arg, struct sess_worker *w, struct err *err)
{
	struct created *c = arg;

	c->done = true;
	c->w = w;
	c->err = err;
}

#define PLANNED 50

/* Is there a cgroup directory mcpbox/<pattern> (a find -path glob) of this test's? */
static bool cgroup_there(const char *pattern)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "find /sys/fs/cgroup/ -maxdepth 7 -type d -path '*/mcpbox/%s' 2>/dev/null | grep -q .",
		 pattern);
	return system(cmd) == 0;
}

/* Run the loop until no cgroup matches a (nor b, if given): how many 10 ms
   steps that took, 100 if they are still there after a second. */
static int wait_cgroups_gone(const char *a, const char *b)
{
	int n = 0;

	for (; n < 100; n++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
		if (!cgroup_there(a) && (!b || !cgroup_there(b)))
			break;
	}
	return n;
}

static struct sess_worker *create(struct sess_zygote *z, const char *id, const char *ws,
				  bool network, uint64_t mem, double *ms)
{
	struct sess_sandbox_opts o = { .id = id, .workspace = ws, .network = network };
	struct created c = { 0 };
	struct err *e = NULL;
	uint64_t t0 = now_ns();

	o.limits.memory_bytes = mem;
	if (sess_zygote_create(z, &o, on_created, &c, &e) < 0) {
		printf("# create %s: %s\n", id, err_text(e));
		err_free(e);
		return NULL;
	}
	if (c.done)
		printf("# BUG: create callback ran synchronously\n");
	while (!c.done)
		uv_run(&loop, UV_RUN_ONCE);
	if (ms)
		*ms = (double)(now_ns() - t0) / 1e6;
	if (c.err) {
		printf("# create %s: %s\n", id, err_text(c.err));
		err_free(c.err);
		return NULL;
	}
	return c.w;
}

/* ---- run a program and collect its output ------------------------------------ */

struct outpipe {
	uv_pipe_t pipe;
	struct buf data;
	bool eof;
};

struct run {
	struct outpipe out, err;
	bool exited;
	uint64_t exit_ns;
	struct sess_exit ex;
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char chunk[65536];

	b->base = chunk;
	b->len = sizeof(chunk);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct outpipe *p = s->data;

	if (n > 0) {
		buf_add(&p->data, b->base, (size_t)n);
	} else if (n < 0) {
		p->eof = true;
		uv_read_stop(s);
	}
}

static void on_exit_cb(void *arg, uint64_t id, const struct sess_exit *ex)
{
	struct run *r = arg;

	r->exited = true;
	r->exit_ns = now_ns();
	r->ex = *ex;
}

static void watch_pipe(struct outpipe *p, int fd)
{
	uv_pipe_init(&loop, &p->pipe, 0);
	uv_pipe_open(&p->pipe, fd);
	p->pipe.data = p;
	uv_read_start((uv_stream_t *)&p->pipe, alloc_cb, read_cb);
}

static void noop_close(uv_handle_t *h) { }

/* Spawn argv (with an optional extra fd 3) and wait for exit and EOFs. */
static int start(struct sess_worker *w, struct run *r, const char *const *argv,
		 const char *const *envp, int fd3, uint64_t *id)
{
	static const char *const default_env[] = { "PATH=/usr/bin:/bin", "HOME=/workspace",
						   "FOO=bar", NULL };
	struct sess_spawn s;
	int po[2], pe[2], rc;
	struct err *e = NULL;

	memset(r, 0, sizeof(*r));
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		return -1;
	memset(&s, 0, sizeof(s));
	s.argv = argv;
	s.envp = envp ? envp : default_env;
	s.fds[0] = -1;
	s.fds[1] = po[1];
	s.fds[2] = pe[1];
	s.nfds = 3;
	if (fd3 >= 0) {
		s.fds[3] = fd3;
		s.nfds = 4;
	}
	rc = sess_worker_spawn(w, &s, on_exit_cb, r, id, &e);
	close(po[1]);
	close(pe[1]);
	if (rc < 0) {
		printf("# spawn %s: %s\n", argv[0], err_text(e));
		err_free(e);
		close(po[0]);
		close(pe[0]);
		return -1;
	}
	watch_pipe(&r->out, po[0]);
	watch_pipe(&r->err, pe[0]);
	return 0;
}

static void finish(struct run *r)
{
	uint64_t deadline = now_ns() + 30ull * 1000000000ull;

	while ((!r->exited || !r->out.eof || !r->err.eof) && now_ns() < deadline)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(r->exited ? 0 : 50);
	uv_close((uv_handle_t *)&r->out.pipe, noop_close);
	uv_close((uv_handle_t *)&r->err.pipe, noop_close);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (!r->out.data.data)
		buf_adds(&r->out.data, "");
	if (!r->err.data.data)
		buf_adds(&r->err.data, "");
}

static void release(struct run *r)
{
	buf_release(&r->out.data);
	buf_release(&r->err.data);
}

static int exit_code(const struct run *r)
{
	return r->exited && WIFEXITED(r->ex.status) ? WEXITSTATUS(r->ex.status) : -1;
}

/* Run and return the exit code; *r keeps the output (release it). */
static int run(struct sess_worker *w, struct run *r, const char *const *argv)
{
	uint64_t id;

	if (start(w, r, argv, NULL, -1, &id) < 0) {
		memset(r, 0, sizeof(*r));
		buf_adds(&r->out.data, "");
		buf_adds(&r->err.data, "");
		return -2;
	}
	finish(r);
	return exit_code(r);
}

static int sh(struct sess_worker *w, struct run *r, const char *script)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };

	return run(w, r, argv);
}


/* ---- hostile code (tests/unit/probe.c, run inside) -------------------------- */

/* Copy build/tests/probe (beside this binary) into ws as .probe. */
static int install_probe(const char *ws)
{
	char self[4096], src[4200], dst[4200], chunk[65536];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1), got;
	int in, out, rc = 0;

	if (n < 0)
		return -1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(src, sizeof(src), "%s/probe", self);
	snprintf(dst, sizeof(dst), "%s/.probe", ws);
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (in < 0 || out < 0)
		rc = -1;
	while (rc == 0 && (got = read(in, chunk, sizeof(chunk))) > 0)
		if (write_all(out, chunk, (size_t)got) < 0)
			rc = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		rc = -1;
	return rc;
}

/* The number after "key " in the probe's output, or -1. */
static long long probe_val(const char *out, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s ", key);
	for (p = out; (p = strstr(p, pat)); p++)
		if (p == out || p[-1] == '\n')
			return atoll(p + strlen(pat));
	return -1;
}

/* Every candidate call the filter must refuse answers EPERM; the controls work. */
static void test_syscalls(struct sess_worker *w)
{
	struct buf bad = BUF_INIT, skipped = BUF_INIT;
	struct run r;
	int rc = run(w, &r, (const char *[]){ "/workspace/.probe", "syscalls", NULL }), n = 0;
	char *save = NULL;

	for (char *line = strtok_r(r.out.data.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		int want, got;
		if (!sp)
			continue;
		*sp = '\0';
		if (!strncmp(line, "skip_", 5)) {	/* e.g. a kernel without 32-bit calls */
			buf_addf(&skipped, " %s", line + 5);
			continue;
		}
		got = atoi(sp + 1);
		want = !strncmp(line, "ok_", 3) ? 0 : !strncmp(line, "enosys_", 7) ? ENOSYS : EPERM;
		n++;
		if (got != want)
			buf_addf(&bad, " %s=%d", line, got);
	}
	ok(rc == 0 && n >= 100 && bad.len == 0, "seccomp: %d calls probed from inside (not run:%s), wrong answers:%s",
	   n, skipped.len ? skipped.data : " none", bad.len ? bad.data : " none");
	buf_release(&bad);
	buf_release(&skipped);
	release(&r);
}

/* The worker (PID 1, capabilities in its namespace) and the children that
   share its memory until their execve are closed to sandbox code. */
static void test_worker_closed(struct sess_worker *w)
{
	struct run r, race;
	uint64_t id, t_end;
	int rc, spawned = 0;

	rc = run(w, &r, (const char *[]){ "/workspace/.probe", "worker", NULL });
	ok(rc == 0 && (probe_val(r.out.data.data, "mem1") == EACCES || probe_val(r.out.data.data, "mem1") == EPERM) &&
	   (probe_val(r.out.data.data, "mem1_read") == EACCES || probe_val(r.out.data.data, "mem1_read") == EPERM) &&
	   probe_val(r.out.data.data, "ptrace1") == EPERM && probe_val(r.out.data.data, "seize1") == EPERM &&
	   probe_val(r.out.data.data, "vmread1") == EPERM,
	   "PID 1: /proc/1/mem, PTRACE_ATTACH/SEIZE, process_vm_readv refused (%s)", r.out.data.data);
	release(&r);

	/* Spawn /bin/true again and again while the probe opens every new
	   pid's /proc/PID/mem as soon as it appears. */
	if (start(w, &race, (const char *[]){ "/workspace/.probe", "memrace", "3", NULL }, NULL, -1, &id) < 0) {
		ok(false, "memrace probe started");
		return;
	}
	t_end = now_ns() + 2800000000ull;
	while (now_ns() < t_end && !race.exited) {
		struct run t;
		if (run(w, &t, (const char *[]){ "/bin/true", NULL }) == 0)
			spawned++;
		release(&t);
	}
	finish(&race);
	ok(exit_code(&race) == 0 && probe_val(race.out.data.data, "early_open") == 0 &&
	   probe_val(race.out.data.data, "early_denied") > 0,
	   "%d spawn children raced: none opened before execve (%s)", spawned,
	   race.out.data.data);
	release(&race);
}

/* inotify: one sandbox gets its own small share; the host and other
   sandboxes keep theirs while it holds all of it. */
/* As root, sandboxes are charged to the sandbox uid's inotify allowance
   (their user namespaces' owner), never to root's: five sandboxes holding
   all they may (160 instances, more than the usual 128 per host user)
   leave root's intact. */
static void test_inotify_owner(struct sess_zygote *z, const char *ws, bool root)
{
	struct sess_worker *w[4] = { 0 };
	struct run r[4];
	uint64_t ids[4], deadline = now_ns() + 10000000000ull;
	bool started[4];
	int fd, holding = 0;

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "test-ino-%d", i);
		w[i] = create(z, name, ws, false, 0, NULL);
		started[i] = w[i] && start(w[i], &r[i], (const char *[]){ "/workspace/.probe", "inotify", "20", NULL },
					   NULL, -1, &ids[i]) == 0;
		holding += started[i];
	}
	for (int i = 0; i < 4; i++)
		while (started[i] && (!r[i].out.data.data || !strchr(r[i].out.data.data, '\n')) && now_ns() < deadline)
			uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
	fd = inotify_init1(IN_CLOEXEC);
	if (root)
		ok(holding == 4 && fd >= 0, "inotify: with 5 sandboxes holding all they may, root still gets one (%s)",
		   fd < 0 ? strerror(errno) : "ok");
	else
		skip("inotify: root's allowance untouched by sandboxes", "unprivileged: sandboxes are charged to us");
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 4; i++) {
		if (!w[i])
			continue;
		if (started[i]) {
			sess_worker_kill(w[i], ids[i], SIGKILL, NULL);
			finish(&r[i]);
			release(&r[i]);
		}
		sess_worker_free(w[i]);
	}
}

static void test_inotify(struct sess_zygote *z, const char *ws, bool root, struct sess_worker *a,
			 struct sess_worker *b)
{
	struct sess_spawn s;
	struct run r, rb;
	struct err *e = NULL;
	int in[2], po[2], fd;
	uint64_t id, deadline;
	long long n;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(po, O_CLOEXEC) < 0) {
		ok(false, "pipes");
		return;
	}
	s.argv = (const char *const[]){ "/workspace/.probe", "inotify", NULL };
	s.envp = (const char *const[]){ NULL };
	s.fds[0] = in[0];
	s.fds[1] = po[1];
	s.fds[2] = -1;
	s.nfds = 3;
	if (sess_worker_spawn(a, &s, on_exit_cb, &r, &id, &e) < 0) {
		ok(false, "spawn inotify probe: %s", err_text(e));
		err_free(e);
		return;
	}
	close(in[0]);
	close(po[1]);
	watch_pipe(&r.out, po[0]);
	r.err.eof = true;
	uv_pipe_init(&loop, &r.err.pipe, 0);
	deadline = now_ns() + 10000000000ull;
	while ((!r.out.data.data || !strchr(r.out.data.data, '\n')) && !r.exited && now_ns() < deadline)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
	n = r.out.data.data ? probe_val(r.out.data.data, "instances") : -1;
	ok(n > 0 && n <= atoi(SESS_INOTIFY_INSTANCES),
	   "inotify: a sandbox gets at most %s instances (got '%s')", SESS_INOTIFY_INSTANCES,
	   r.out.data.data ? r.out.data.data : "");
	/* while a holds them all */
	fd = inotify_init1(IN_CLOEXEC);
	ok(fd >= 0, "inotify: the host still gets an instance (%s)", fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
	{
		int rc = run(b, &rb, (const char *[]){ "/workspace/.probe", "inotify", NULL });
		ok(rc == 0 && probe_val(rb.out.data.data, "instances") > 0,
		   "inotify: another sandbox still gets instances (%s)", rb.out.data.data);
		release(&rb);
	}
	test_inotify_owner(z, ws, root);
	close(in[1]);
	finish(&r);
	release(&r);
}

/* Shmem in /proc/meminfo, in bytes (tmpfs pages of the whole host). */
static long long host_shmem(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Shmem:", 6))
			kb = atoll(line + 6);
	fclose(f);
	return kb * 1024;
}

/* /tmp and /dev/shm are bounded by the session's memory limit: filling them
   gets ENOSPC near the bound, the sandbox lives on, destroy frees it all. */
static void test_scratch(struct sess_zygote *z, const char *ws)
{
	const uint64_t mem = 128ull << 20, bound = sess_scratch_bytes(mem);
	struct sess_worker *w = create(z, "test-fill", ws, false, mem, NULL);
	long long before, full, after = 0, got;
	struct run r;
	int rc;

	if (!w) {
		ok(false, "create a sandbox of 128 MiB");
		return;
	}
	before = host_shmem();
	/* The probe stops at 4 times the bound: without one the test fails
	   rather than eat the host's memory. */
	rc = sh(w, &r, "/workspace/.probe fill /tmp/f 256; rm -f /tmp/f");
	got = probe_val(r.out.data.data, "bytes");
	ok(rc == 0 && got >= (long long)(bound - (4ull << 20)) && got <= (long long)bound &&
	   strstr(r.out.data.data, " 28\n"),
	   "/tmp: ENOSPC after %lld bytes (bound %llu) ('%s')", got, (unsigned long long)bound,
	   r.out.data.data);
	release(&r);
	rc = sh(w, &r, "/workspace/.probe fill /dev/shm/f 256");
	got = probe_val(r.out.data.data, "bytes");
	ok(rc == 0 && got >= (long long)(bound - (4ull << 20)) && got <= (long long)bound &&
	   strstr(r.out.data.data, " 28\n"),
	   "/dev/shm: ENOSPC after %lld bytes ('%s')", got, r.out.data.data);
	release(&r);
	full = host_shmem();
	rc = sh(w, &r, "echo alive; ls -s /dev/shm/f");
	ok(rc == 0 && !strncmp(r.out.data.data, "alive\n", 6), "the sandbox lives on with /dev/shm full");
	release(&r);
	sess_worker_free(w);
	for (int i = 0; i < 300; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		after = host_shmem();
		if (after < full - (long long)bound / 2)
			break;
		usleep(10000);
	}
	ok(full - before >= (long long)bound / 2 && after < full - (long long)bound / 2,
	   "destroy returns the host's memory (Shmem %lld -> %lld -> %lld MiB)", before >> 20, full >> 20,
	   after >> 20);
}

/* ---- misc ---------------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

struct death {
	bool died;
};

static void on_death(void *arg)
{
	((struct death *)arg)->died = true;
}

struct freeing {
	struct sess_worker *w;
	int calls;
};

static void exit_then_free(void *arg, uint64_t id, const struct sess_exit *ex)
{
	struct freeing *f = arg;

	f->calls++;
	sess_worker_free(f->w);	/* from inside a callback: must be safe */
}

int main(void)
{
	struct sess_zygote *z = NULL;
	const struct sess_host_info *host;
	struct err *e = NULL;
	struct sess_worker *a, *b;
	struct run r;
	char ws_a[] = "/tmp/mcpbox-test-XXXXXX", ws_b[] = "/tmp/mcpbox-test-XXXXXX";
	char line[512];
	double ms, create_ms[5];
	int lsock, port, rc;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	printf("1..%d\n", PLANNED);

	if (!ok(sess_zygote_start(&z, &e) == 0, "zygote starts")) {
		printf("# %s\n", err_text(e));
		return 1;
	}
	host = sess_zygote_host(z);
	snprintf(line, sizeof(line), "uid %d: root=%d sandbox uid %u cgroup v%d memory=%d pids=%d",
		 (int)getuid(), host->root, (unsigned)host->sandbox_uid, host->cgroup_version,
		 host->cgroup_memory, host->cgroup_pids);
	diag(line);
	uv_loop_init(&loop);
	sess_zygote_attach(z, &loop);

	if (!mkdtemp(ws_a) || !mkdtemp(ws_b)) {
		perror("mkdtemp");
		return 1;
	}
	a = create(z, "test-a", ws_a, false, 0, &ms);
	if (!ok(a != NULL, "create sandbox a (%.2f ms)", ms))
		return 1;
	{
		struct sess_sandbox_opts o = { .id = "bad/id", .workspace = ws_a };
		struct err *e2 = NULL;
		rc = sess_zygote_create(z, &o, on_created, NULL, &e2);
		ok(rc < 0 && e2, "a bad id is refused synchronously");
		err_free(e2);
	}

	rc = sh(a, &r, "id -u; id -g");
	ok(rc == 0 && !strcmp(r.out.data.data, "1000\n1000\n"),
	   "programs run as uid/gid 1000 (got '%s')", r.out.data.data);
	release(&r);

	/* of /var only the font cache is there (sandbox_init.c) */
	rc = sh(a, &r, "for p in /root /work /home /var/lib /var/log /var/tmp /var/cache/apt /srv /opt /old_root /oldroot "
		     "/tmp/mcpbox-test-*; "
		     "do [ -e $p ] && echo $p; done; cat /root/.bashrc 2>/dev/null; true");
	ok(rc == 0 &&
	   r.out.data.len == 0, "host paths are absent (saw '%s')", r.out.data.data);
	release(&r);

	rc = sh(a, &r, "echo x > /usr/x");
	release(&r);
	rc = rc != 0 && sh(a, &r, "echo x > /etc/x || echo x > /x") != 0;
	ok(rc,
	   "/usr, /etc and / are read-only");
	release(&r);

	{
		char path[300], got[64] = "";
		FILE *f;
		rc = sh(a, &r, "pwd; echo hello > /workspace/f.txt && mkdir -p d && echo x > /tmp/t && cat /tmp/t");
		snprintf(path, sizeof(path), "%s/f.txt", ws_a);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(got, sizeof(got), f))
				got[0] = '\0';
			fclose(f);
		}
		ok(rc == 0 && !strcmp(r.out.data.data, "/workspace\nx\n") && !strcmp(got, "hello\n"),
		   "/workspace (the cwd) and /tmp are writable; the file shows up on the host");
		release(&r);
	}

	rc = sh(a, &r, "ls /proc | grep -c '^[0-9]'");
	ok(rc == 0 && atoi(r.out.data.data) <= 4,
	   "/proc shows only the sandbox's processes (%d)", atoi(r.out.data.data));
	release(&r);

	rc = sh(a, &r, "hostname");
	ok(rc == 0 && !strcmp(r.out.data.data, "mcpbox\n"), "hostname is mcpbox");
	release(&r);

	rc = sh(a, &r, "echo $FOO; ls -la /dev/null /dev/zero /dev/urandom >/dev/null && "
		     "head -c 4 /dev/zero | wc -c");
	ok(rc == 0 && !strcmp(r.out.data.data, "bar\n4\n"),
	   "environment is passed; /dev has null, zero, urandom ('%s')", r.out.data.data);
	release(&r);

	/* Network: a host listener on loopback is unreachable; the sandbox's own
	   loopback works. */
	lsock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lsock, 4) < 0 ||
	    getsockname(lsock, (struct sockaddr *)&sin, &slen) < 0) {
		perror("listen");
		return 1;
	}
	port = ntohs(sin.sin_port);
	{
		char script[300];
		snprintf(script, sizeof(script), "exec 2>/dev/null; echo > /dev/tcp/127.0.0.1/%d && echo connected", port);
		rc = run(a, &r, (const char *[]){ "/bin/bash", "-c", script, NULL });
	ok(rc != 0 &&
		   r.out.data.len == 0, "TCP to a host listener on 127.0.0.1:%d fails", port);
		release(&r);
	}
	rc = run(a, &r, (const char *[]){ "/usr/bin/python3", "-c",
		       "import socket\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
		       "c=socket.create_connection(s.getsockname()); print('ok')", NULL });
	ok(rc == 0 &&
	   !strcmp(r.out.data.data, "ok\n"), "loopback inside the sandbox works (%s)", r.err.data.data);
	release(&r);

	rc = run(a, &r, (const char *[]){ "/usr/bin/unshare", "-U", "/bin/true", NULL });
	ok(rc != 0 &&
	   strstr(r.err.data.data, "Operation not permitted"),
	   "unshare -U fails with EPERM ('%.60s')", r.err.data.data);
	release(&r);
	rc = run(a, &r, (const char *[]){ "/usr/bin/python3", "-c",
		       "import ctypes\nl=ctypes.CDLL(None,use_errno=True)\n"
		       "r=l.mount(b'none',b'/tmp',b'tmpfs',0,None)\nprint(r, ctypes.get_errno())", NULL });
	ok(rc == 0 &&
	   !strcmp(r.out.data.data, "-1 1\n"), "mount(2) fails with EPERM ('%s')", r.out.data.data);
	release(&r);
	rc = run(a, &r, (const char *[]){ "/usr/bin/python3", "-c",
		       "import os\npid=os.fork()\nif pid==0: os._exit(7)\n"
		       "print(os.waitstatus_to_exitcode(os.waitpid(pid,0)[1]))", NULL });
	ok(rc == 0 &&
	   !strcmp(r.out.data.data, "7\n"), "fork (clone without namespace flags) works");
	release(&r);
	rc = sh(a, &r, "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '");
	ok(rc == 0 &&
	   strstr(r.out.data.data, "CapEff: 0000000000000000") &&
	   strstr(r.out.data.data, "CapBnd: 0000000000000000") &&
	   strstr(r.out.data.data, "NoNewPrivs: 1") && strstr(r.out.data.data, "Seccomp: 2"),
	   "no capabilities, no_new_privs, seccomp filter");
	release(&r);
	if (access("/usr/bin/strace", X_OK) == 0) {
		rc = run(a, &r, (const char *[]){ "/usr/bin/strace", "-f", "-o", "/dev/null", "/bin/true", NULL });
	ok(rc == 0,
		   "ptrace stays allowed (strace works: '%.80s')", r.err.data.data);
		release(&r);
	} else {
		skip("ptrace stays allowed", "no strace");
	}

	/* Kill. */
	{
		uint64_t id, t0;
		struct err *e2 = NULL;

		start(a, &r, (const char *[]){ "/bin/sleep", "100", NULL }, NULL, -1, &id);
		for (int i = 0; i < 20; i++)
			uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
		t0 = now_ns();
		rc = sess_worker_kill(a, id, SIGKILL, &e2);
		finish(&r);
		ok(rc == 0 && r.exited && WIFSIGNALED(r.ex.status) && WTERMSIG(r.ex.status) == SIGKILL &&
		   !r.ex.oom_killed && r.exit_ns - t0 < 500000000ull,
		   "kill of sleep 100 reports SIGKILL in %.2f ms", (double)(r.exit_ns - t0) / 1e6);
		release(&r);
		ok(sess_worker_kill(a, id, SIGKILL, &e2) == 0, "a kill after exit is a no-op");
	}

	rc = run(a, &r, (const char *[]){ "/nonexistent", NULL });
	ok(rc == 127 &&
	   !strcmp(r.err.data.data, "mcpbox: cannot execute /nonexistent: No such file or directory\n"),
	   "a missing binary exits 127 with the reason ('%s')", r.err.data.data);
	release(&r);

	/* Extra fd 3. */
	{
		int p[2];
		char got[32] = "";
		uint64_t id;
		ssize_t n;
		if (pipe2(p, O_CLOEXEC) == 0) {
			start(a, &r, (const char *[]){ "/bin/sh", "-c", "echo three >&3; ls /proc/self/fd | wc -l", NULL },
			      NULL, p[1], &id);
			close(p[1]);
			finish(&r);
			n = read(p[0], got, sizeof(got) - 1);
			got[n > 0 ? n : 0] = '\0';
			close(p[0]);
			ok(exit_code(&r) == 0 && !strcmp(got, "three\n") && atoi(r.out.data.data) == 5,
			   "fd 3 is passed, nothing else leaks (%d fds incl. ls's own)", atoi(r.out.data.data));
			release(&r);
		} else {
			ok(false, "pipe");
		}
	}

	/* Rusage. */
	rc = run(a, &r, (const char *[]){ "/usr/bin/python3", "-c",
		       "import time\nt=time.process_time()\nx=bytearray(50<<20)\n"
		       "while time.process_time()-t<0.2: pass", NULL });
	ok(rc == 0 &&
	   r.ex.cpu_ms >= 150 && r.ex.max_rss_kb >= 40000,
	   "exit reports cpu time (%llu ms) and max rss (%llu kB)",
	   (unsigned long long)r.ex.cpu_ms, (unsigned long long)r.ex.max_rss_kb);
	release(&r);

	{
		struct sess_usage u;
		/* programs killed by earlier checks (their process groups) may still be exiting under
		 * load: they leave the cgroup's count when the kernel has released them, so wait a bounded time */
		for (int i = 0; i < 100; i++) {
			rc = sess_worker_usage(a, &u, NULL);
			if (rc != 0 || (u.pids >= 1 && u.pids <= 3))
				break;
			usleep(50 * 1000);
		}
		ok(rc == 0 && u.pids >= 1 && u.pids <= 3 &&
		   (!host->cgroup_memory || u.memory_bytes > 0),
		   "usage: %u pids, %llu bytes", u.pids, (unsigned long long)u.memory_bytes);
	}

	/* Spawn latency: request to exit of /bin/true, sequentially. */
	{
		uint64_t total = 0, best = ~0ull;
		int n = 50, good = 0;
		for (int i = 0; i < n; i++) {
			uint64_t id, t0 = now_ns();
			if (start(a, &r, (const char *[]){ "/bin/true", NULL }, NULL, -1, &id) < 0)
				break;
			while (!r.exited)
				uv_run(&loop, UV_RUN_ONCE);
			total += r.exit_ns - t0;
			if (r.exit_ns - t0 < best)
				best = r.exit_ns - t0;
			finish(&r);
			good += exit_code(&r) == 0;
			release(&r);
		}
		ok(good == n, "spawn /bin/true %d times: mean %.3f ms, best %.3f ms (request to exit)",
		   n, (double)total / n / 1e6, (double)best / 1e6);
	}

	/* A second sandbox sees its own workspace only. */
	b = create(z, "test-b", ws_b, false, 0, &ms);
	ok(b != NULL, "create sandbox b (%.2f ms)", ms);
	if (b) {
		char script[300];
		snprintf(script, sizeof(script), "ls -A /workspace; cat %s/f.txt 2>/dev/null; true", ws_a);
		rc = sh(b, &r, script);
	ok(rc == 0 && r.out.data.len == 0,
		   "sandbox b cannot see a's workspace ('%s')", r.out.data.data);
		release(&r);
	} else {
		ok(false, "sandbox b cannot see a's workspace");
	}

	/* Hostile code inside. */
	if (b && install_probe(ws_a) == 0 && install_probe(ws_b) == 0) {
		test_syscalls(a);
		test_worker_closed(a);
		test_inotify(z, ws_b, host->root, a, b);
		test_scratch(z, ws_b);
	} else {
		for (int i = 0; i < 11; i++)
			ok(false, "probe installed in the workspaces");
	}

	/* Create latency over a few rounds. */
	{
		double sum = 0;
		int good = 0;
		for (int i = 0; i < 5; i++) {
			char id[32];
			struct sess_worker *w;
			snprintf(id, sizeof(id), "lat-%d", i);
			w = create(z, id, ws_b, false, 0, &create_ms[i]);
			if (w) {
				good++;
				sum += create_ms[i];
				sess_worker_free(w);
			}
		}
		ok(good == 5, "5 creates: mean %.2f ms (%.2f %.2f %.2f %.2f %.2f)", sum / 5, create_ms[0],
		   create_ms[1], create_ms[2], create_ms[3], create_ms[4]);
	}

	/* Memory limit through the cgroup. */
	if (host->cgroup_memory) {
		struct sess_worker *c = create(z, "test-mem", ws_b, false, 100ull << 20, NULL);
		ok(c != NULL, "create sandbox with a 100 MB memory limit");
		if (c) {
			rc = run(c, &r, (const char *[]){ "/usr/bin/python3", "-c",
				       "x=bytearray(500<<20)\nfor i in range(0,len(x),4096): x[i]=1", NULL });
	ok(rc == -1 &&
			   r.ex.oom_killed && WIFSIGNALED(r.ex.status) && WTERMSIG(r.ex.status) == SIGKILL,
			   "allocating 500 MB under 100 MB: OOM-killed (status %d, oom_killed %d)",
			   r.ex.status, r.ex.oom_killed);
			release(&r);
			sess_worker_free(c);
		} else {
			ok(false, "oom");
		}
	} else {
		skip("create sandbox with a 100 MB memory limit", "no memory cgroup");
		skip("OOM kill reported", "no memory cgroup");
	}
	/* Without a memory cgroup the limit is RLIMIT_AS per program. */
	{
		uint64_t id;
		struct sess_spawn s;
		struct err *e2 = NULL;
		memset(&s, 0, sizeof(s));
		(void)s;
		(void)e2;
		if (!host->cgroup_memory) {
			struct sess_spawn sp = { .argv = (const char *const[]){ "/usr/bin/python3", "-c",
				"try:\n  x=bytearray(500<<20)\nexcept MemoryError: print('MemoryError')", NULL },
				.envp = (const char *const[]){ NULL }, .nfds = 3 };
			int po[2];
			sp.limits.memory_bytes = 100ull << 20;
			memset(&r, 0, sizeof(r));
			if (pipe2(po, O_CLOEXEC) == 0) {
				sp.fds[0] = -1;
				sp.fds[1] = po[1];
				sp.fds[2] = -1;
				if (sess_worker_spawn(a, &sp, on_exit_cb, &r, &id, &e2) == 0) {
					close(po[1]);
					watch_pipe(&r.out, po[0]);
					r.err.eof = true;
					uv_pipe_init(&loop, &r.err.pipe, 0);
					finish(&r);
					ok(!strcmp(r.out.data.data, "MemoryError\n"),
					   "without cgroups, memory_bytes becomes RLIMIT_AS ('%s')", r.out.data.data);
				} else {
					ok(false, "spawn: %s", e2->msg);
					err_free(e2);
				}
				release(&r);
			}
		} else {
			skip("RLIMIT_AS fallback", "memory cgroup present");
		}
	}

	/* Freeing from inside an exit callback. */
	{
		struct sess_worker *w = create(z, "test-free", ws_b, false, 0, NULL);
		struct freeing f = { w, 0 };
		struct death d = { false };
		uint64_t id, id2;
		struct sess_spawn s;
		memset(&s, 0, sizeof(s));
		s.argv = (const char *const[]){ "/bin/true", NULL };
		s.fds[0] = s.fds[1] = s.fds[2] = -1;
		s.nfds = 3;
		if (w) {
			sess_worker_on_death(w, on_death, &d);
			sess_worker_spawn(w, &s, exit_then_free, &f, &id, NULL);
			s.argv = (const char *const[]){ "/bin/sleep", "100", NULL };
			sess_worker_spawn(w, &s, exit_then_free, &f, &id2, NULL);
			for (int i = 0; i < 200 && f.calls == 0; i++)
				uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
			for (int i = 0; i < 50; i++)
				uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
		}
		ok(w && f.calls == 1 && !d.died,
		   "sess_worker_free inside an exit callback: no further callbacks (%d calls)", f.calls);
	}

	/* The worker dying on its own: pending programs end with SIGKILL, on_death runs. */
	{
		struct sess_worker *w = create(z, "test-die", ws_b, false, 0, NULL);
		struct death d = { false };
		uint64_t id;
		if (w) {
			sess_worker_on_death(w, on_death, &d);
			start(w, &r, (const char *[]){ "/bin/sleep", "100", NULL }, NULL, -1, &id);
			for (int i = 0; i < 20; i++)
				uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
			kill(sess_worker_pid(w), SIGKILL);
			finish(&r);
			for (int i = 0; i < 20 && !d.died; i++)
				uv_run(&loop, UV_RUN_NOWAIT), usleep(1000);
			ok(r.exited && WIFSIGNALED(r.ex.status) && WTERMSIG(r.ex.status) == SIGKILL && d.died,
			   "worker death: pending program reports SIGKILL, on_death runs");
			release(&r);
			ok(sess_worker_spawn(w, &(struct sess_spawn){ .argv = (const char *const[]){ "/bin/true", NULL },
					     .fds = { -1, -1, -1 }, .nfds = 3 }, on_exit_cb, &r, &id, NULL) < 0,
			   "spawn on a dead worker fails synchronously");
			sess_worker_free(w);
		} else {
			ok(false, "worker death");
			ok(false, "spawn on dead worker");
		}
	}

	/* The zygote reaps workers and removes their cgroups (made for no owner: in the pool's group). */
	if (host->cgroup_version) {
		int n;
		ok(cgroup_there("pool/test-b"), "a sandbox of no owner has its cgroup in the pool's group");
		sess_worker_free(b);
		b = NULL;
		n = wait_cgroups_gone("*/test-b", NULL);
		ok(n < 100, "cgroup of a freed sandbox is removed (after ~%d ms)", n * 10);
	} else {
		skip("a sandbox of no owner has its cgroup in the pool's group", "no cgroups");
		skip("cgroup of a freed sandbox is removed", "no cgroups");
	}

	/* A sandbox assigned to an owner moves into the owner's group with its processes; a group
	   goes with its last sandbox. */
	if (host->cgroup_version) {
		struct sess_worker *w = create(z, "test-move", ws_b, false, 0, NULL);
		struct sess_limits lim = { .max_pids = 64 };
		struct err *e2 = NULL;
		uint64_t id;
		char procs[300], group[SESS_CGROUP_GROUP_SIZE] = "", there[100];
		int n;
		sess_cgroup_group_name("user:tenant/../x", group, NULL);
		snprintf(there, sizeof(there), "%s/test-move", group);
		if (w)
			start(w, &r, (const char *[]){ "/bin/sleep", "100", NULL }, NULL, -1, &id);
		rc = w ? sess_zygote_assign(z, w, "user:tenant/../x", 0, &lim, &e2) : -1;
		snprintf(procs, sizeof(procs), "test $(cat $(find /sys/fs/cgroup/ -maxdepth 7 -type f -path "
			 "'*/mcpbox/%s/cgroup.procs' 2>/dev/null) | wc -l) -ge 2", there);
		ok(rc == 0 && !strncmp(group, "key-", 4) && strlen(group) == 36 && cgroup_there(there) &&
		   !cgroup_there("pool/test-move") &&
		   system(procs) == 0, "assigned to an owner, a pool sandbox and its processes move to the owner's group (%s)",
		   e2 ? err_text(e2) : "ok");
		err_free(e2);
		if (w) {
			sess_worker_kill(w, id, SIGKILL, NULL);
			finish(&r);
			release(&r);
			sess_worker_free(w);
		}
		n = wait_cgroups_gone("*/test-move", group);
		ok(n < 100, "the owner's group goes with its last sandbox (after ~%d ms)", n * 10);
	} else {
		skip("a pool sandbox moves to its owner's group", "no cgroups");
		skip("the owner's group goes with its last sandbox", "no cgroups");
	}

	/* A workspace file written inside is owned by the sandbox uid on the host. */
	{
		struct stat st;
		char path[300];
		snprintf(path, sizeof(path), "%s/f.txt", ws_a);
		ok(stat(path, &st) == 0 && st.st_uid == host->sandbox_uid,
		   "workspace files belong to host uid %u", (unsigned)host->sandbox_uid);
	}

	sess_worker_free(a);
	if (b)
		sess_worker_free(b);
	close(lsock);
	sess_zygote_free(z);
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(uv_loop_close(&loop) == 0, "every handle is closed");
	rm_rf(ws_a);
	rm_rf(ws_b);
	if (test_no != PLANNED)
		printf("# planned %d, ran %d\n", PLANNED, test_no);
	return failures || test_no != PLANNED ? 1 : 0;
}
