/*
 * zygote.c — the zygote: a single-threaded helper forked at start-up that
 * clone()s every sandbox, and the server-side client that talks to it.
 *
 * Server side (loop thread): a FIFO of create requests; each is sent as one
 * SEQPACKET record and answered, in order, by one CREATED record carrying
 * the worker's control socket. Nothing here blocks the loop except
 * sess_zygote_free (which reaps the zygote) and the workspace chown.
 *
 * Zygote side: poll() on its socket and a SIGCHLD signalfd. A create
 * clone()s the child (sandbox_init.c), writes its uid/gid maps, puts it in
 * its cgroups, lets it go, waits for its set-up report, and passes its
 * control socket to the server. Dead workers are reaped and their cgroups
 * removed (retried while the kernel is still killing the pid namespace).
 */
#include "internal.h"
#include "netns.h"
#include "proto.h"
#include "seccomp.h"
#include "sandbox.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/metrics.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define ROOT_SANDBOX_ID 101000		/* host uid/gid of uid 1000 inside, when we are root */
#define SETUP_TIMEOUT_MS 10000		/* child set-up report */
#define RMDIR_RETRY_MS 20
#define RMDIR_GIVE_UP_MS 10000
#define QUIT_GRACE_MS 300

/* ==== the zygote process ================================================== */

struct zworker {
	pid_t pid;
	char id[SESS_PROTO_MAX_ID + 1];
	char group[SESS_CGROUP_GROUP_SIZE];	/* its cgroups' group (the server may move it: REGROUP) */
	int net_exit_fd;	/* network sessions: closing it ends their slirp4netns; else -1 */
};

struct zrmdir {
	char id[SESS_PROTO_MAX_ID + 1];
	char group[SESS_CGROUP_GROUP_SIZE];
	uint64_t deadline_ms;
};

struct zstate {
	int sock;
	int sigfd;
	const struct sess_cgroup *cg;
	const struct sess_host_info *host;
	struct sock_fprog filter;	/* the sandbox seccomp program, built once */
	struct zworker *workers;
	size_t nworkers, capworkers;
	struct zrmdir *rmdirs;
	size_t nrmdirs, caprmdirs;
	char *buf;
};

static int write_file(pid_t pid, const char *name, const char *data)
{
	char path[64];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		ret = -1;
	if (close(fd) < 0)
		ret = -1;
	return ret;
}

/* Bound the System V IPC of sandbox pid (sess_scratch_bytes, SESS_IPC_*),
   in its IPC namespace: a sysctl of /proc/sys/kernel is that of the
   namespace of whoever opens it, and the kernel lets only the namespace's
   root write it, that is host root here (the sandbox maps no uid 0): the
   worker cannot, so we join the namespace for the writes and come back.
   As root only; NULL or what failed. */
static const char *cap_ipc(pid_t pid, uint64_t shm_bytes)
{
	char shmmax[32], shmall[32], path[64];
	const struct {
		const char *name, *value;
	} caps[] = {
		{ "shmmax", shmmax },
		{ "shmall", shmall },	/* in pages */
		{ "msgmni", SESS_IPC_MSG_QUEUES },
		{ "sem", SESS_IPC_SEM },
	};
	const char *failed = NULL;

	snprintf(shmmax, sizeof(shmmax), "%llu", (unsigned long long)shm_bytes);
	snprintf(shmall, sizeof(shmall), "%llu", (unsigned long long)(shm_bytes / (uint64_t)sysconf(_SC_PAGESIZE)));
	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)pid);
	auto_close int own = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	auto_close int theirs = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0 || theirs < 0 || setns(theirs, CLONE_NEWIPC) < 0)
		return "cannot enter the sandbox's IPC namespace";
	for (size_t i = shm_bytes ? 0 : 2; i < ARRAY_SIZE(caps) && !failed; i++) {
		snprintf(path, sizeof(path), "/proc/sys/kernel/%s", caps[i].name);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, caps[i].value, strlen(caps[i].value)) != (ssize_t)strlen(caps[i].value))
			failed = "cannot limit the sandbox's System V IPC";
		if (fd >= 0)
			close(fd);
	}
	if (setns(own, CLONE_NEWIPC) < 0) {
		/* every later sandbox would share this one's limits and objects: stop */
		log_error("zygote: cannot leave a sandbox's IPC namespace: %s", strerror(errno));
		_exit(1);
	}
	return failed;
}

static void forget_rmdir(struct zstate *zs, const char *group, const char *id)
{
	for (size_t i = 0; i < zs->nrmdirs; i++)
		if (!strcmp(zs->rmdirs[i].id, id) && !strcmp(zs->rmdirs[i].group, group)) {
			zs->rmdirs[i] = zs->rmdirs[--zs->nrmdirs];
			return;
		}
}

/* Remove <group>/<id> once the kernel lets it go (retried by try_rmdirs). */
static void add_rmdir(struct zstate *zs, const char *group, const char *id)
{
	if (zs->nrmdirs == zs->caprmdirs) {
		zs->caprmdirs = zs->caprmdirs ? 2 * zs->caprmdirs : 16;
		zs->rmdirs = xrealloc(zs->rmdirs, zs->caprmdirs * sizeof(*zs->rmdirs));
	}
	struct zrmdir *r = &zs->rmdirs[zs->nrmdirs++];
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->group, sizeof(r->group), "%s", group);
	r->deadline_ms = now_ms() + RMDIR_GIVE_UP_MS;
}

static void try_rmdirs(struct zstate *zs)
{
	uint64_t now = now_ms();

	for (size_t i = 0; i < zs->nrmdirs;) {
		if (sess_cgroup_remove(zs->cg, zs->rmdirs[i].group, zs->rmdirs[i].id) == 0 || errno != EBUSY ||
		    now > zs->rmdirs[i].deadline_ms) {
			if (now > zs->rmdirs[i].deadline_ms)
				log_warn("zygote: cgroup of sandbox %s still busy, leaving it",
					 zs->rmdirs[i].id);
			zs->rmdirs[i] = zs->rmdirs[--zs->nrmdirs];
			continue;
		}
		i++;
	}
}

static void reap_workers(struct zstate *zs)
{
	struct signalfd_siginfo si;
	pid_t pid;

	while (read(zs->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		for (size_t i = 0; i < zs->nworkers; i++) {
			if (zs->workers[i].pid != pid)
				continue;
			if (zs->cg->version)
				add_rmdir(zs, zs->workers[i].group, zs->workers[i].id);
			if (zs->workers[i].net_exit_fd >= 0)
				close(zs->workers[i].net_exit_fd); /* slirp4netns exits; reaped here later */
			zs->workers[i] = zs->workers[--zs->nworkers];
			break;
		}
	}
	try_rmdirs(zs);
}

/* Wait for the child's set-up report: NULL on success, else a message. */
static char *wait_report(int fd)
{
	char msg[600];
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t deadline = now_ms() + SETUP_TIMEOUT_MS;
	size_t got = 0;
	ssize_t n;

	for (;;) {
		uint64_t now = now_ms();
		int r = now >= deadline ? 0 : poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return xstrdup("sandbox set-up timed out");
		n = read(fd, msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (msg[0] == 'K' || got == sizeof(msg) - 1)
			break;
	}
	if (got >= 1 && msg[0] == 'K')
		return NULL;
	if (got >= 2 && msg[0] == 'E') {
		msg[got] = '\0';
		return xstrdup(msg + 1);
	}
	return xstrdup("sandbox set-up died");
}

uint64_t sess_scratch_bytes(uint64_t memory_bytes)
{
	if (!memory_bytes)
		return 0;
	return memory_bytes / 4 > SESS_SCRATCH_MIN ? memory_bytes / 4 : SESS_SCRATCH_MIN;
}

/* Clone the sandbox's first process into new namespaces. As root, with the
   sandbox uid as our euid: a user namespace belongs to the euid that makes
   it, and the kernel charges everything counted per user namespace
   (inotify instances and watches, namespaces) to that owner on the host
   too, so sandboxes then share the sandbox uid's allowance, never root's.
   fsuid stays 0, so the child still opens the workspace and the display
   directories (root's, mode 0700) before it drops to the sandbox uid. */
static pid_t clone_as_owner(const struct sess_host_info *host, unsigned long flags)
{
	pid_t pid;
	int saved;

	if (host->root) {
		if (setresuid((uid_t)-1, host->sandbox_uid, (uid_t)-1) < 0)
			return -1;
		setfsuid(0);
	}
	pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
	if (pid == 0 || !host->root)
		return pid;
	saved = errno;
	if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0) {
		/* we could not make sandboxes as root any more: stop */
		log_error("zygote: cannot get root back: %s", strerror(errno));
		_exit(1);
	}
	errno = saved;
	return pid;
}

/* Make one sandbox. Returns the worker's pid and control socket in *ctl, or
   -1 with a message in *msg. */
static pid_t create_one(struct zstate *zs, const char *group, uint32_t group_cpu_millis, const char *id,
			const char *workspace, bool network, const struct sess_limits *l, int *ctl, char **msg)
{
	struct sess_child_args args;
	int sv[2], go[2], st[2];
	char map[64];
	struct err *e = NULL;
	pid_t pid;

	forget_rmdir(zs, group, id);
	if (zs->cg->version && sess_cgroup_create(zs->cg, group, group_cpu_millis, id, l, &e) < 0) {
		*msg = xstrdup(err_text(e));
		err_free(e);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto sys_fail;
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(sv[0]);
		close(sv[1]);
		goto sys_fail;
	}
	if (pipe2(st, O_CLOEXEC) < 0) {
		close(sv[0]);
		close(sv[1]);
		close(go[0]);
		close(go[1]);
		goto sys_fail;
	}
	args = (struct sess_child_args){ .ctl_fd = sv[1], .go_fd = go[0], .status_fd = st[1],
					 .keep_fd = zs->sock, .id = id, .workspace = workspace,
					 .network = network, .scratch_bytes = sess_scratch_bytes(l->memory_bytes),
					 .filter = &zs->filter };
	/* Raw clone: fork semantics (no separate stack), straight into the
	   new namespaces; the child becomes PID 1 of its pid namespace. The
	   cgroup namespace is unshared by the child once it sits in its own
	   cgroup, so that cgroup becomes its root. */
	pid = clone_as_owner(zs->host, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
					       CLONE_NEWUTS | CLONE_NEWNET | SIGCHLD);
	if (pid == 0)
		sess_sandbox_child(&args);
	close(sv[1]);
	close(go[0]);
	close(st[1]);
	if (pid < 0) {
		int saved = errno;
		close(sv[0]);
		close(go[1]);
		close(st[0]);
		errno = saved;
		goto sys_fail;
	}
	if (zs->nworkers == zs->capworkers) {
		zs->capworkers = zs->capworkers ? 2 * zs->capworkers : 16;
		zs->workers = xrealloc(zs->workers, zs->capworkers * sizeof(*zs->workers));
	}
	struct zworker *zw = &zs->workers[zs->nworkers++];
	zw->pid = pid;
	snprintf(zw->id, sizeof(zw->id), "%s", id);
	snprintf(zw->group, sizeof(zw->group), "%s", group);
	zw->net_exit_fd = -1;

	/* Only uid/gid 1000 exist inside. setgroups must be denied before an
	   unprivileged process may write gid_map. */
	if (write_file(pid, "setgroups", "deny") < 0) {
		*msg = xstrdup("cannot deny setgroups in the sandbox");
		goto child_fail;
	}
	snprintf(map, sizeof(map), "1000 %u 1\n", (unsigned)zs->host->sandbox_uid);
	if (write_file(pid, "uid_map", map) < 0) {
		*msg = xstrdup("cannot write the sandbox's uid map (user namespaces disabled?)");
		goto child_fail;
	}
	snprintf(map, sizeof(map), "1000 %u 1\n", (unsigned)zs->host->sandbox_gid);
	if (write_file(pid, "gid_map", map) < 0) {
		*msg = xstrdup("cannot write the sandbox's gid map");
		goto child_fail;
	}
	if (zs->host->root) {
		const char *why = cap_ipc(pid, sess_scratch_bytes(l->memory_bytes));
		if (why) {
			*msg = xstrdup(why);
			goto child_fail;
		}
	}
	/* Before it runs anything of the user's. */
	if (zs->cg->version && sess_cgroup_attach(zs->cg, group, id, pid, &e) < 0) {
		*msg = xstrdup(err_text(e));
		err_free(e);
		goto child_fail;
	}
	if (network) {
		/* user-mode networking, in the session's cgroup: its CPU and memory are the session's */
		pid_t helper;
		int exit_fd;
		*msg = sess_net_start(pid, &exit_fd, &helper);
		if (*msg)
			goto child_fail;
		zw->net_exit_fd = exit_fd;
		if (zs->cg->version && sess_cgroup_attach(zs->cg, group, id, helper, &e) < 0) {
			*msg = xstrdup(err_text(e));
			err_free(e);
			goto child_fail;
		}
	}
	if (write(go[1], "g", 1) != 1) {
		*msg = xstrdup("sandbox set-up died");
		goto child_fail;
	}
	close(go[1]);
	go[1] = -1;
	*msg = wait_report(st[0]);
	if (*msg)
		goto child_fail;
	close(st[0]);
	*ctl = sv[0];
	return pid;

child_fail:
	kill(pid, SIGKILL);	/* reaped (and its cgroups removed) via SIGCHLD */
	if (go[1] >= 0)
		close(go[1]);
	close(st[0]);
	close(sv[0]);
	return -1;
sys_fail:
	{
		struct buf b = BUF_INIT;
		buf_addf(&b, "create sandbox: %s", strerror(errno));
		*msg = buf_detach(&b);
	}
	if (zs->cg->version)
		sess_cgroup_remove(zs->cg, group, id);
	return -1;
}

static void reply_created(struct zstate *zs, pid_t pid, int ctl, const char *msg)
{
	struct sess_msg_created m;
	struct buf b = BUF_INIT;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov;
	struct msghdr mh;

	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_CREATED;
	m.error = msg ? EINVAL : 0;
	m.pid = pid > 0 ? pid : 0;
	buf_add(&b, &m, sizeof(m));
	sess_wr_str(&b, msg ? msg : "");
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (ctl >= 0)
		sess_proto_put_fd(&mh, cbuf.buf, sizeof(cbuf.buf), ctl);
	while (sendmsg(zs->sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		_exit(0);	/* server gone */
	}
	buf_release(&b);
}

static void handle_create(struct zstate *zs, size_t len)
{
	const struct sess_msg_create *m = (const void *)zs->buf;
	struct sess_limits l;
	struct sess_rd rd;
	const char *s;
	size_t n;
	char id[SESS_PROTO_MAX_ID + 1], group[SESS_CGROUP_GROUP_SIZE], *ws = NULL, *msg = NULL;
	int ctl = -1;
	pid_t pid = -1;

	rd.p = zs->buf + sizeof(*m);
	rd.left = len - sizeof(*m);
	if (len < sizeof(*m) || sess_rd_str(&rd, &s, &n) < 0 || n > SESS_PROTO_MAX_ID) {
		msg = xstrdup("bad create request");
		goto out;
	}
	memcpy(id, s, n);
	id[n] = '\0';
	if (sess_rd_str(&rd, &s, &n) < 0 || n == 0 || memchr(s, '\0', n) || s[0] != '/') {
		msg = xstrdup("bad create request");
		goto out;
	}
	ws = xstrndup(s, n);
	if (sess_rd_str(&rd, &s, &n) < 0 || n >= sizeof(group)) {
		msg = xstrdup("bad create request");
		goto out;
	}
	memcpy(group, s, n);
	group[n] = '\0';
	if (!sess_cgroup_id_ok(id) || !sess_cgroup_id_ok(group)) {
		msg = xstrdup("bad sandbox id");
		goto out;
	}
	memset(&l, 0, sizeof(l));
	l.memory_bytes = m->limits.memory_bytes;
	l.max_pids = m->limits.max_pids;
	l.cpu_millis = m->limits.cpu_millis;
	pid = create_one(zs, group, m->group_cpu_millis, id, ws, m->network != 0, &l, &ctl, &msg);
out:
	reply_created(zs, pid, ctl, msg);
	if (ctl >= 0)
		close(ctl);	/* only the server may hold it: its EOF ends the sandbox */
	free(ws);
	free(msg);
}

/* The server moved sandbox id into another group (sess_zygote_assign): its
   cgroups are removed there when it dies; what is left in the old group goes
   now or later. One that died already has its new place removed like its old. */
static void handle_regroup(struct zstate *zs, size_t len)
{
	struct sess_rd rd = { zs->buf + sizeof(struct sess_msg_hdr), len - sizeof(struct sess_msg_hdr) };
	char id[SESS_PROTO_MAX_ID + 1], group[SESS_CGROUP_GROUP_SIZE];
	const char *s;
	size_t n;

	if (sess_rd_str(&rd, &s, &n) < 0 || n >= sizeof(id))
		return;
	memcpy(id, s, n);
	id[n] = '\0';
	if (sess_rd_str(&rd, &s, &n) < 0 || n >= sizeof(group))
		return;
	memcpy(group, s, n);
	group[n] = '\0';
	if (!zs->cg->version || !sess_cgroup_id_ok(id) || !sess_cgroup_id_ok(group))
		return;
	for (size_t i = 0; i < zs->nworkers; i++) {
		struct zworker *zw = &zs->workers[i];
		if (strcmp(zw->id, id))
			continue;
		if (strcmp(zw->group, group)) {
			add_rmdir(zs, zw->group, id);
			snprintf(zw->group, sizeof(zw->group), "%s", group);
		}
		try_rmdirs(zs);
		return;
	}
	add_rmdir(zs, group, id);
	try_rmdirs(zs);
}

/* Workers freed just before the server quits are still dying: give them a
   moment so their cgroups go too (live workers stay, as sandbox.h says;
   whatever is left is removed as stale by the next start). */
__attribute__((noreturn))
static void quit_gracefully(struct zstate *zs)
{
	uint64_t deadline = now_ms() + QUIT_GRACE_MS;

	reap_workers(zs);
	while ((zs->nworkers || zs->nrmdirs) && now_ms() < deadline) {
		struct pollfd p = { zs->sigfd, POLLIN, 0 };
		poll(&p, 1, RMDIR_RETRY_MS);
		reap_workers(zs);
	}
	_exit(0);
}

__attribute__((noreturn))
static void zygote_main(int sock, pid_t server, const struct sess_cgroup *cg,
			const struct sess_host_info *host)
{
	struct zstate zs;
	sigset_t mask;
	int devnull;

	/* Die with the server. Check the parent is still there: it may have
	   died before the prctl. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != server)
		_exit(0);
	prctl(PR_SET_NAME, "mcpbox-zygote", 0, 0, 0);

	/* Our socket above the stdio range, stdin/stdout on /dev/null (never the
	   server's stdout, which carries protocol messages), fd 3 = socket,
	   everything else closed. */
	sock = fcntl(sock, F_DUPFD_CLOEXEC, 10);
	if (sock < 0)
		_exit(1);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
		_exit(1);
	if (dup3(sock, 3, O_CLOEXEC) < 0)
		_exit(1);
	sock = 3;
	close_range(4, ~0U, 0);

	/* As root, sandboxes must not inherit root's supplementary groups
	   (setgroups is denied inside, so they could never drop them). */
	if (host->root && setgroups(0, NULL) < 0)
		log_warn("zygote: setgroups: %s", strerror(errno));
	/* As root, keep our capabilities while our euid is the sandbox uid
	   (clone_as_owner). */
	if (host->root && prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) < 0)
		log_warn("zygote: securebits: %s", strerror(errno));

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* ^C is the server's business */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	memset(&zs, 0, sizeof(zs));
	zs.sock = sock;
	zs.cg = cg;
	zs.host = host;
	zs.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (zs.sigfd < 0)
		_exit(1);
	zs.buf = xmalloc(SESS_PROTO_MAX_MSG);
	{
		/* built once here instead of in every new sandbox */
		struct err *e = NULL;
		if (sess_seccomp_build(&zs.filter, !host->root && !host->cgroup_memory, &e) < 0) {
			log_error("zygote: %s", err_text(e));
			_exit(1);
		}
	}
	sess_cgroup_cleanup_stale(cg);

	for (;;) {
		struct pollfd p[2] = { { sock, POLLIN, 0 }, { zs.sigfd, POLLIN, 0 } };
		ssize_t n;

		if (poll(p, 2, zs.nrmdirs ? RMDIR_RETRY_MS : -1) < 0 && errno != EINTR)
			_exit(1);
		if (p[1].revents)
			reap_workers(&zs);
		else if (zs.nrmdirs)
			try_rmdirs(&zs);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(sock, zs.buf, SESS_PROTO_MAX_MSG, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			_exit(0);	/* server gone */
		if ((size_t)n < sizeof(struct sess_msg_hdr))
			_exit(1);
		switch (((struct sess_msg_hdr *)zs.buf)->type) {
		case SESS_MSG_CREATE:
			handle_create(&zs, (size_t)n);
			break;
		case SESS_MSG_REGROUP:
			handle_regroup(&zs, (size_t)n);
			break;
		case SESS_MSG_QUIT:
			quit_gracefully(&zs);
		default:
			_exit(1);
		}
	}
}

/* ==== server side ========================================================= */

struct zreq {
	struct zreq *next;
	sess_created_cb cb;	/* NULL: a notice, which has no answer */
	void *arg;
	char *id;
	char group[SESS_CGROUP_GROUP_SIZE];
	struct buf msg;
	bool sent;
	uint64_t asked_ms;	/* monotonic: how long making it took (metrics) */
};

struct sess_zygote {
	pid_t pid;
	int fd;
	uv_loop_t *loop;
	uv_poll_t poll;
	int events;		/* current uv_poll_start events, 0 = stopped */
	bool attached;
	bool dead;		/* socket closed by the zygote */
	bool closing;		/* sess_zygote_free ran; poll handle is closing */
	struct sess_host_info host;
	struct sess_cgroup cg;
	struct zreq *head, *tail;
	char *rbuf;
};

static void zreq_free(struct zreq *r)
{
	free(r->id);
	buf_release(&r->msg);
	free(r);
}

/* CPUs this process may run on: the most a session's cpus limit can use. */
static unsigned usable_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

int sess_zygote_start(struct sess_zygote **zp, struct err **errp)
{
	struct sess_zygote *z = xcalloc(1, sizeof(*z));
	int sv[2], sndbuf = 1 << 20;
	pid_t self = getpid();

	z->host.root = geteuid() == 0;
	z->host.sandbox_uid = z->host.root ? ROOT_SANDBOX_ID : geteuid();
	z->host.sandbox_gid = z->host.root ? ROOT_SANDBOX_ID : getegid();
	z->host.cpus = usable_cpus();
	sess_cgroup_detect(&z->cg, SESS_CGROUP_ROOT, z->host.cpus);
	z->host.cgroup_version = z->cg.version;
	z->host.cgroup_memory = z->cg.memory;
	z->host.cgroup_pids = z->cg.pids;
	z->host.cgroup_cpu = z->cg.cpu;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err_set(errp, errno, "zygote: socketpair");
		goto fail;
	}
	fflush(NULL);	/* no stdio buffer may be written twice */
	z->pid = fork();
	if (z->pid < 0) {
		err_set(errp, errno, "zygote: fork");
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (z->pid == 0)
		zygote_main(sv[1], self, &z->cg, &z->host);
	close(sv[1]);
	z->fd = sv[0];
	/* Create requests carry a workspace path; a big send buffer lets many
	   queue up before we have to wait for POLLOUT. */
	setsockopt(z->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	fd_set_nonblock(z->fd, true);
	z->rbuf = xmalloc(4096 + SESS_PROTO_MAX_ID);
	log_info("sandbox: zygote %d, %s, sandbox uid %u, cgroups v%d%s%s%s, %u CPUs", (int)z->pid,
		 z->host.root ? "root" : "unprivileged", (unsigned)z->host.sandbox_uid,
		 z->cg.version, z->cg.memory ? " memory" : "", z->cg.pids ? " pids" : "",
		 z->cg.cpu ? " cpu" : "", z->host.cpus);
	*zp = z;
	return 0;
fail:
	sess_cgroup_release(&z->cg);
	free(z);
	return -1;
}

int sess_zygote_memory(const struct sess_zygote *z, uint64_t *bytes)
{
	return sess_cgroup_base_memory(&z->cg, bytes);
}

int sess_zygote_cpu_ns(const struct sess_zygote *z, uint64_t *ns)
{
	return sess_cgroup_base_cpu_ns(&z->cg, ns);
}

const struct sess_host_info *sess_zygote_host(const struct sess_zygote *z)
{
	return &z->host;
}

static void zygote_poll_cb(uv_poll_t *h, int status, int events);

static void zygote_update_events(struct sess_zygote *z)
{
	int ev;

	if (!z->attached || z->closing || z->dead)
		return;
	ev = UV_READABLE;
	for (struct zreq *r = z->head; r; r = r->next)
		if (!r->sent) {
			ev |= UV_WRITABLE;
			break;
		}
	if (ev != z->events) {
		z->events = ev;
		uv_poll_start(&z->poll, ev, zygote_poll_cb);
	}
}

/* Send queued requests in order until the socket is full. A notice leaves
   the queue once sent, so the head is always the create answered next. */
static int zygote_flush(struct sess_zygote *z)
{
	struct zreq **pp = &z->head, *prev = NULL;

	while (*pp) {
		struct zreq *r = *pp;
		ssize_t n;
		if (!r->sent) {
			n = send(z->fd, r->msg.data, r->msg.len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return -1;
			}
			r->sent = true;
			buf_release(&r->msg);
			if (!r->cb) {
				*pp = r->next;
				if (z->tail == r)
					z->tail = prev;
				zreq_free(r);
				continue;
			}
		}
		prev = r;
		pp = &r->next;
	}
	zygote_update_events(z);
	return 0;
}

static void zygote_enqueue(struct sess_zygote *z, struct zreq *r)
{
	if (z->tail)
		z->tail->next = r;
	else
		z->head = r;
	z->tail = r;
	/* Sent now if possible; an answer always comes through the loop (a
	   broken socket shows up there as EOF and fails the queue). */
	if (z->attached)
		zygote_flush(z);
}

/* The zygote is gone: every waiting request fails (from the loop). */
static void zygote_died(struct sess_zygote *z, const char *why)
{
	z->dead = true;
	if (z->attached && z->events) {
		uv_poll_stop(&z->poll);
		z->events = 0;
	}
	log_error("sandbox: zygote stopped: %s", why);
	while (z->head && !z->closing) {
		struct zreq *r = z->head;
		struct err *e = NULL;
		z->head = r->next;
		if (!z->head)
			z->tail = NULL;
		err_set(&e, 0, "sandbox service stopped");
		if (r->cb) {
			metrics_sandbox_created(false, now_ms() - r->asked_ms, err_text(e));
			r->cb(r->arg, NULL, e);
		} else {
			err_free(e);
		}
		zreq_free(r);
	}
}

static void zygote_handle_reply(struct sess_zygote *z, size_t len, int fd)
{
	const struct sess_msg_created *m = (const void *)z->rbuf;
	struct zreq *r = z->head;
	struct sess_worker *w = NULL;
	struct err *e = NULL;
	struct sess_rd rd;
	const char *s = "";
	size_t n = 0;

	if (!r || !r->sent || len < sizeof(*m) || m->h.type != SESS_MSG_CREATED) {
		if (fd >= 0)
			close(fd);
		zygote_died(z, "unexpected message");
		return;
	}
	rd.p = z->rbuf + sizeof(*m);
	rd.left = len - sizeof(*m);
	if (sess_rd_str(&rd, &s, &n) < 0)
		n = 0;
	z->head = r->next;
	if (!z->head)
		z->tail = NULL;
	if (m->error || fd < 0 || m->pid <= 0) {
		if (fd >= 0)
			close(fd);
		err_set(&e, 0, "create sandbox: %.*s", (int)n, n ? s : "failed");
	} else {
		w = sess_worker_new(z->loop, fd, m->pid, r->id, r->group, &z->cg, &e);
	}
	metrics_sandbox_created(w != NULL, now_ms() - r->asked_ms, e ? err_text(e) : NULL);
	r->cb(r->arg, w, e);
	zreq_free(r);
}

static void zygote_poll_cb(uv_poll_t *h, int status, int events)
{
	struct sess_zygote *z = h->data;

	if (status < 0) {
		zygote_died(z, uv_strerror(status));
		return;
	}
	if ((events & UV_WRITABLE) && zygote_flush(z) < 0) {
		zygote_died(z, strerror(errno));
		return;
	}
	while (!z->closing && !z->dead && (events & UV_READABLE)) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { z->rbuf, 4096 + SESS_PROTO_MAX_ID };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		int fd = -1;
		ssize_t n = recvmsg(z->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			zygote_died(z, n == 0 ? "exited" : strerror(errno));
			return;
		}
		sess_proto_take_fds(&mh, &fd, 1); /* the worker's control socket */
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			if (fd >= 0)
				close(fd);
			zygote_died(z, "truncated message");
			return;
		}
		zygote_handle_reply(z, (size_t)n, fd);
	}
}

void sess_zygote_attach(struct sess_zygote *z, uv_loop_t *loop)
{
	if (z->attached)
		return;
	z->loop = loop;
	if (uv_poll_init(loop, &z->poll, z->fd) < 0) {
		log_error("sandbox: cannot watch the zygote socket");
		z->dead = true;
		return;
	}
	z->poll.data = z;
	z->attached = true;
	z->events = 0;
	if (zygote_flush(z) < 0)
		zygote_died(z, strerror(errno));
}

int sess_zygote_create(struct sess_zygote *z, const struct sess_sandbox_opts *o,
		       sess_created_cb cb, void *arg, struct err **errp)
{
	struct sess_msg_create m;
	struct zreq *r;
	struct stat st;
	auto_close int dfd = -1;

	if (z->dead || z->closing)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "sandbox service stopped");
	if (!sess_cgroup_id_ok(o->id))
		return err_set(errp, EINVAL, "create sandbox: bad id");
	if (!o->workspace || o->workspace[0] != '/' ||
	    strlen(o->workspace) > 4000)
		return err_set(errp, EINVAL, "create sandbox: workspace must be an absolute path");
	dfd = open(o->workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0)
		return err_set(errp, errno, "create sandbox: workspace");
	if (z->host.root && (st.st_uid != z->host.sandbox_uid || st.st_gid != z->host.sandbox_gid) &&
	    fchown(dfd, z->host.sandbox_uid, z->host.sandbox_gid) < 0)
		return err_set(errp, errno, "create sandbox: chown workspace");

	char group[SESS_CGROUP_GROUP_SIZE];
	if (sess_cgroup_group_name(o->owner, group, errp) < 0)
		return err_wrap(errp, "create sandbox");

	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_CREATE;
	m.network = o->network;
	m.group_cpu_millis = o->owner_cpu_millis;
	m.limits.memory_bytes = o->limits.memory_bytes;
	m.limits.max_pids = o->limits.max_pids;
	m.limits.cpu_millis = o->limits.cpu_millis;
	r = xcalloc(1, sizeof(*r));
	r->cb = cb;
	r->arg = arg;
	r->id = xstrdup(o->id);
	memcpy(r->group, group, sizeof(group));
	r->asked_ms = now_ms();
	buf_add(&r->msg, &m, sizeof(m));
	sess_wr_str(&r->msg, o->id);
	sess_wr_str(&r->msg, o->workspace);
	sess_wr_str(&r->msg, group);
	zygote_enqueue(z, r);
	return 0;
}

int sess_zygote_assign(struct sess_zygote *z, struct sess_worker *w, const char *owner, uint32_t owner_cpu_millis,
		       const struct sess_limits *l, struct err **errp)
{
	char group[SESS_CGROUP_GROUP_SIZE];
	struct sess_msg_hdr h = { SESS_MSG_REGROUP, 0 };

	if (!z->cg.version)
		return 0;
	if (sess_cgroup_group_name(owner, group, errp) < 0)
		return -1;
	if (!strcmp(sess_worker_group(w), group))
		return 0;
	int rc = sess_worker_move(w, group, owner_cpu_millis, l, errp);
	/* Told even when the move failed part-way: the zygote then removes
	   both places once the sandbox is gone. */
	if (!z->dead && !z->closing) {
		struct zreq *r = xcalloc(1, sizeof(*r));
		buf_add(&r->msg, &h, sizeof(h));
		sess_wr_str(&r->msg, sess_worker_id(w));
		sess_wr_str(&r->msg, group);
		zygote_enqueue(z, r);
	}
	return rc;
}

static void zygote_close_cb(uv_handle_t *h)
{
	struct sess_zygote *z = h->data;

	close(z->fd);
	sess_cgroup_release(&z->cg);
	free(z->rbuf);
	free(z);
}

/* Shutdown: wait up to ms for replies and close the sockets they carry. */
static void drain_replies(struct sess_zygote *z, int ms)
{
	struct pollfd p = { z->fd, POLLIN, 0 };

	if (z->dead || poll(&p, 1, ms) <= 0)
		return;
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} cbuf;
		char byte[64];
		struct iovec iov = { byte, sizeof(byte) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		int fd = -1;
		if (recvmsg(z->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		sess_proto_take_fds(&mh, &fd, 1);
		if (fd >= 0)
			close(fd);
	}
}

void sess_zygote_free(struct sess_zygote *z)
{
	struct sess_msg_hdr q = { SESS_MSG_QUIT, 0 };
	int status;

	if (!z || z->closing)
		return;
	z->closing = true;
	if (!z->dead)
		send(z->fd, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT);
	/* Bounded wait: a zygote in the middle of a create gets a second. Creates
	   still queued are answered before the quit: close their control sockets
	   as they arrive, so those sandboxes end now rather than holding the
	   zygote's exit grace. */
	for (int i = 0; i < 100 && waitpid(z->pid, &status, WNOHANG) == 0; i++) {
		if (i == 99) {
			kill(z->pid, SIGKILL);
			waitpid(z->pid, &status, 0);
			break;
		}
		drain_replies(z, 10);
	}
	while (z->head) {
		struct zreq *r = z->head;
		struct err *e = NULL;
		z->head = r->next;
		if (r->cb) {
			err_set(&e, 0, "sandbox service stopped");
			r->cb(r->arg, NULL, e);
		}
		zreq_free(r);
	}
	z->tail = NULL;
	if (z->attached) {
		uv_close((uv_handle_t *)&z->poll, zygote_close_cb);	/* frees z */
		return;
	}
	z->poll.data = z;
	zygote_close_cb((uv_handle_t *)&z->poll);
}
