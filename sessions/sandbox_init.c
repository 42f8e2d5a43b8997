/*
 * sandbox_init.c — everything that runs inside a sandbox's namespaces before
 * the user's programs: the cloned child sets up its root (mounts, pivot_root,
 * hostname, loopback), reports to the zygote, then becomes the worker, PID 1
 * of the sandbox, serving the server over the control socket.
 *
 * Between clone() and the first report, failures go through die(): the
 * message travels to the zygote over the status pipe, then the child exits.
 * After that the worker never dies on purpose except when the server goes
 * away (EOF on the control socket) or asks it to (SHUTDOWN); its death kills
 * every process of the sandbox (the kernel does that for PID 1).
 */
#include "internal.h"
#include "netns.h"
#include "proto.h"
#include "seccomp.h"
#include "sandbox.h"
#include "../server/base/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define SANDBOX_UID 1000
#define SANDBOX_GID 1000
#define OLDROOT "/oldroot"

static int status_fd = -1;

/* Report a set-up failure to the zygote and exit (child only). */
__attribute__((noreturn, format(printf, 2, 3)))
static void die(int errnum, const char *fmt, ...)
{
	char msg[512];
	int n;
	va_list ap;

	msg[0] = 'E';
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n + 1 >= sizeof(msg))
		n = (int)sizeof(msg) - 2;
	if (errnum)
		n += snprintf(msg + 1 + n, sizeof(msg) - 1 - (size_t)n, ": %s", strerror(errnum));
	if ((size_t)n + 1 >= sizeof(msg))
		n = (int)sizeof(msg) - 2;
	if (status_fd >= 0 && write(status_fd, msg, (size_t)n + 1) < 0)
		_exit(1);
	_exit(1);
}

/* ---- mounts --------------------------------------------------------------- */

enum mnt_kind {
	MNT_SYSTEM,	/* host dir bound read-only, or its symlink recreated; skipped if absent */
	MNT_WORKSPACE,	/* the session workspace, read-write */
	MNT_TMPFS,
	MNT_SCRATCH,	/* a tmpfs for the sandbox's own files, bounded by scratch_bytes */
	MNT_PROC,
	MNT_DEVNODE,	/* bind one host device node */
	MNT_SYMLINK,
	MNT_DEVPTS,	/* optional: a private devpts instance */
	MNT_READONLY,	/* remount an earlier tmpfs read-only */
	MNT_CONTENT,	/* a read-only file with the text src, over a host file */
};

struct mnt_op {
	enum mnt_kind kind;
	const char *dest;	/* inside the new root */
	const char *src;	/* MNT_SYMLINK target, MNT_TMPFS options */
	unsigned long flags;
};

/* The sandbox's file system, in order (bubblewrap-style set-up as data). */
static const struct mnt_op mnt_ops[] = {
	{ MNT_SYSTEM, "/usr", NULL, 0 },
	{ MNT_SYSTEM, "/etc", NULL, 0 },
	{ MNT_SYSTEM, "/bin", NULL, 0 },
	{ MNT_SYSTEM, "/sbin", NULL, 0 },
	{ MNT_SYSTEM, "/lib", NULL, 0 },
	{ MNT_SYSTEM, "/lib64", NULL, 0 },
	{ MNT_SYSTEM, "/lib32", NULL, 0 },
	{ MNT_SYSTEM, "/libx32", NULL, 0 },
	/* fontconfig's cache of the system fonts: without it every program that
	   draws text (the desktop's window manager, xterm) spends a second
	   building one in the workspace */
	{ MNT_SYSTEM, "/var/cache/fontconfig", NULL, 0 },
	/* the sandbox's own identity: no host user names or host names leak in */
	{ MNT_CONTENT, "/etc/passwd",
	  "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	  "user:x:1000:1000:mcpbox user:/workspace:/bin/bash\n"
	  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0 },
	{ MNT_CONTENT, "/etc/group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n", 0 },
	{ MNT_CONTENT, "/etc/hostname", "mcpbox\n", 0 },
	{ MNT_CONTENT, "/etc/hosts", "127.0.0.1\tlocalhost mcpbox\n::1\tlocalhost ip6-localhost\n", 0 },
	/* DNS of user-mode networking (sessions/netns.h); without network nothing answers, and the
	   host's resolver address does not leak in */
	{ MNT_CONTENT, "/etc/resolv.conf", "nameserver 10.0.2.3\n", 0 },
	{ MNT_WORKSPACE, "/workspace", NULL, 0 },
	{ MNT_SCRATCH, "/tmp", "mode=1777", MS_NOSUID | MS_NODEV },
	/* Xvfb's socket; only the display agent inside talks to it (vnc/agent.c) */
	{ MNT_TMPFS, "/tmp/.X11-unix", "mode=1777,size=64k", MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ MNT_PROC, "/proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ MNT_TMPFS, "/dev", "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC },
	{ MNT_DEVNODE, "/dev/null", NULL, 0 },
	{ MNT_DEVNODE, "/dev/zero", NULL, 0 },
	{ MNT_DEVNODE, "/dev/full", NULL, 0 },
	{ MNT_DEVNODE, "/dev/random", NULL, 0 },
	{ MNT_DEVNODE, "/dev/urandom", NULL, 0 },
	{ MNT_DEVNODE, "/dev/tty", NULL, 0 },
	{ MNT_SYMLINK, "/dev/fd", "/proc/self/fd", 0 },
	{ MNT_SYMLINK, "/dev/stdin", "/proc/self/fd/0", 0 },
	{ MNT_SYMLINK, "/dev/stdout", "/proc/self/fd/1", 0 },
	{ MNT_SYMLINK, "/dev/stderr", "/proc/self/fd/2", 0 },
	{ MNT_SYMLINK, "/dev/core", "/proc/kcore", 0 },
	{ MNT_SYMLINK, "/dev/ptmx", "pts/ptmx", 0 },
	{ MNT_SCRATCH, "/dev/shm", "mode=1777", MS_NOSUID | MS_NODEV },
	{ MNT_DEVPTS, "/dev/pts", "newinstance,ptmxmode=0666,mode=0620", MS_NOSUID | MS_NOEXEC },
	{ MNT_READONLY, "/dev", NULL, MS_NOSUID | MS_NOEXEC },
	/* Xvfb's -fbdir: the display agent links its framebuffer file to the server's shared buffer */
	{ MNT_TMPFS, "/run/mcpbox/display", "mode=0755,size=64k", MS_NOSUID | MS_NODEV | MS_NOEXEC },
};

/* Host directories opened before we changed uid (see sess_sandbox_child). */
struct mnt_fds {
	int ws;
	uint64_t scratch_bytes;	/* MNT_SCRATCH size, 0: the kernel's default */
};

/* Mount flags the kernel locks on a mount we received from a more privileged
   user namespace: a bind remount must repeat them or it fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long fl = 0;

	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		fl |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		fl |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		fl |= MS_RELATIME;
	return fl;
}

static void bind_readonly(const char *src, const char *dest, unsigned long extra)
{
	if (mount(src, dest, NULL, MS_BIND | MS_REC, NULL) < 0)
		die(errno, "bind %s", dest);
	if (mount(NULL, dest, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | extra | locked_flags(dest),
		  NULL) < 0)
		die(errno, "remount %s read-only", dest);
}

static void make_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);

	if (fd < 0)
		die(errno, "create %s", path);
	close(fd);
}

static void do_mount(const struct mnt_op *op, const struct mnt_fds *fds)
{
	int ws_fd = fds->ws;
	char src[4096];
	struct stat st;

	switch (op->kind) {
	case MNT_SYSTEM:
		snprintf(src, sizeof(src), OLDROOT "%s", op->dest);
		if (lstat(src, &st) < 0) {
			if (errno == ENOENT)
				return;
			die(errno, "stat host %s", op->dest);
		}
		if (S_ISLNK(st.st_mode)) {
			/* Merged /usr: /bin -> usr/bin. Recreate the link, don't bind. */
			char target[4096];
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			if (n < 0)
				die(errno, "readlink host %s", op->dest);
			target[n] = '\0';
			if (symlink(target, op->dest) < 0)
				die(errno, "symlink %s", op->dest);
			return;
		}
		if (!S_ISDIR(st.st_mode))
			return;
		for (char *p = strchr(op->dest + 1, '/'); p; p = strchr(p + 1, '/')) {
			char parent[256];
			snprintf(parent, sizeof(parent), "%.*s", (int)(p - op->dest), op->dest);
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				die(errno, "mkdir %s", parent);
		}
		if (mkdir(op->dest, 0755) < 0)
			die(errno, "mkdir %s", op->dest);
		bind_readonly(src, op->dest, MS_NOSUID);
		return;
	case MNT_WORKSPACE:
		if (mkdir(op->dest, 0755) < 0)
			die(errno, "mkdir %s", op->dest);
		/* Through the fd opened before we changed uid: the host path may
		   not be searchable by the sandbox uid. */
		snprintf(src, sizeof(src), OLDROOT "/proc/self/fd/%d", ws_fd);
		if (mount(src, op->dest, NULL, MS_BIND, NULL) < 0)
			die(errno, "bind workspace");
		return;
	case MNT_TMPFS:
		if (mkdir(op->dest, 0755) < 0 && errno != EEXIST)
			die(errno, "mkdir %s", op->dest);
		if (mount("tmpfs", op->dest, "tmpfs", op->flags, op->src) < 0)
			die(errno, "mount tmpfs on %s", op->dest);
		return;
	case MNT_SCRATCH: {
		char opts[128];
		if (mkdir(op->dest, 0755) < 0 && errno != EEXIST)
			die(errno, "mkdir %s", op->dest);
		/* Bounded in bytes and inodes (an inode costs kernel memory that
		   the size does not count): the sandbox gets ENOSPC, not the
		   host's memory, also when no memory cgroup charges it. */
		if (fds->scratch_bytes)
			snprintf(opts, sizeof(opts), "%s,size=%llu,nr_inodes=%llu", op->src,
				 (unsigned long long)fds->scratch_bytes,
				 (unsigned long long)(fds->scratch_bytes / SESS_SCRATCH_BYTES_PER_INODE));
		else
			snprintf(opts, sizeof(opts), "%s", op->src);
		if (mount("tmpfs", op->dest, "tmpfs", op->flags, opts) < 0)
			die(errno, "mount tmpfs on %s", op->dest);
		return;
	}
	case MNT_PROC:
		if (mkdir(op->dest, 0555) < 0)
			die(errno, "mkdir %s", op->dest);
		if (mount("proc", op->dest, "proc", op->flags, NULL) < 0)
			die(errno, "mount proc");
		return;
	case MNT_DEVNODE:
		snprintf(src, sizeof(src), OLDROOT "%s", op->dest);
		make_file(op->dest);
		if (mount(src, op->dest, NULL, MS_BIND, NULL) < 0)
			die(errno, "bind %s", op->dest);
		return;
	case MNT_SYMLINK:
		if (symlink(op->src, op->dest) < 0)
			die(errno, "symlink %s", op->dest);
		return;
	case MNT_DEVPTS:
		if (mkdir(op->dest, 0755) < 0)
			die(errno, "mkdir %s", op->dest);
		/* Optional: programs that want a pty get one where the kernel allows. */
		mount("devpts", op->dest, "devpts", op->flags, op->src);
		return;
	case MNT_CONTENT: {
		/* the text lives in /run/mcpbox on the root tmpfs (read-only later) */
		const char *base = strrchr(op->dest, '/') + 1;
		int fd;
		if (mkdir("/run", 0755) < 0 && errno != EEXIST)
			die(errno, "mkdir /run");
		if (mkdir("/run/mcpbox", 0755) < 0 && errno != EEXIST)
			die(errno, "mkdir /run/mcpbox");
		snprintf(src, sizeof(src), "/run/mcpbox/%s", base);
		fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write_all(fd, op->src, strlen(op->src)) < 0)
			die(errno, "write %s", src);
		close(fd);
		if (lstat(op->dest, &st) < 0 || !S_ISREG(st.st_mode))
			return; /* nothing to cover on this host */
		bind_readonly(src, op->dest, MS_NOSUID | MS_NODEV);
		return;
	}
	case MNT_READONLY:
		if (mount(NULL, op->dest, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | op->flags, NULL) < 0)
			die(errno, "remount %s read-only", op->dest);
		return;
	}
}

static void setup_root(const struct mnt_fds *fds)
{
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die(errno, "make / a slave mount");
	/* The new root is a tmpfs; /tmp of the host is just a place to put it
	   (the host's /tmp reappears under the old root after the pivot). */
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		die(errno, "mount root tmpfs");
	if (chdir("/tmp") < 0)
		die(errno, "chdir new root");
	if (mkdir("oldroot", 0700) < 0)
		die(errno, "mkdir oldroot");
	if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
		die(errno, "pivot_root");
	if (chdir("/") < 0)
		die(errno, "chdir /");
	for (size_t i = 0; i < ARRAY_SIZE(mnt_ops); i++)
		do_mount(&mnt_ops[i], fds);
	if (umount2(OLDROOT, MNT_DETACH) < 0)
		die(errno, "detach old root");
	if (rmdir(OLDROOT) < 0)
		die(errno, "remove old root");
	/* Only /workspace, /tmp and /dev/shm stay writable. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		die(errno, "remount / read-only");
	if (chdir("/workspace") < 0)
		die(errno, "chdir /workspace");
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		die(errno, "socket");
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die(errno, "get lo flags");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die(errno, "bring lo up");
	close(s);
}

/* Per-user-namespace counters (/proc/sys/user, kernel >= 5.11 for inotify):
   what we write here bounds our namespace, and every use is charged up to
   the host user who runs mcpbox too, so one sandbox cannot use up the
   host's share. Programs (no capabilities) can only read them. */
static const struct {
	const char *name;
	const char *value;
} ucount_caps[] = {
	{ "max_inotify_instances", SESS_INOTIFY_INSTANCES },
	{ "max_inotify_watches", SESS_INOTIFY_WATCHES },
	{ "max_fanotify_groups", "0" },
	{ "max_fanotify_marks", "0" },
	/* the filter already refuses new namespaces; this holds for clone3 too */
	{ "max_user_namespaces", "0" },
	{ "max_mnt_namespaces", "0" },
	{ "max_pid_namespaces", "0" },
	{ "max_net_namespaces", "0" },
	{ "max_ipc_namespaces", "0" },
	{ "max_uts_namespaces", "0" },
	{ "max_cgroup_namespaces", "0" },
	{ "max_time_namespaces", "0" },
};

/* After the sandbox's /proc is mounted. A counter this kernel lacks is
   skipped; any other failure fails the sandbox's creation. */
static void cap_ucounts(void)
{
	char path[128];

	for (size_t i = 0; i < ARRAY_SIZE(ucount_caps); i++) {
		int fd;
		snprintf(path, sizeof(path), "/proc/sys/user/%s", ucount_caps[i].name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0 || write_all(fd, ucount_caps[i].value, strlen(ucount_caps[i].value)) < 0)
			die(errno, "limit %s", path);
		close(fd);
	}
}

/* Close every fd except 0..2 and the ones in keep (unsorted, may hold -1). */
static void close_others(const int *keep, size_t n)
{
	unsigned int lo = 3;

	for (;;) {
		unsigned int next = ~0U;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (unsigned int)keep[i] < next)
				next = (unsigned int)keep[i];
		if (next > lo)
			close_range(lo, next == ~0U ? ~0U : next - 1, 0);
		if (next == ~0U)
			break;
		lo = next + 1;
	}
}

/* ---- worker (PID 1) ------------------------------------------------------- */

struct spawn_req;

struct wexec {
	uint64_t id;
	pid_t pid;
	struct spawn_req *req;	/* what the child reads until it has exec'd; freed at reap */
};

struct worker {
	int ctl;
	int sigfd;
	struct wexec *execs;
	size_t nexecs, cap;
	/* Programs that exited while others of their process group live on
	   (background children): the server may still kill the group. */
	struct wexec lingering[64];
	size_t nlingering;
	char *buf;		/* SESS_PROTO_MAX_MSG receive buffer */
};

#define CHILD_STACK_SIZE (64 * 1024)

/* One spawn, owned by the worker until the child is reaped: the child runs
   in the worker's memory until its execve, and reads all of this. */
struct spawn_req {
	struct sess_msg_spawn msg;	/* a copy: the receive buffer is reused */
	int fds[SESS_PROTO_MAX_FDS];	/* -1: not sent */
	char *cwd;
	char **argv;
	char **envp;
	char *arena;
	char *stack;			/* CHILD_STACK_SIZE, the child's until its execve */
};

/* Write "mcpbox: cannot execute ARGV0: [step: ]reason" to fd 2 and exit 127. */
__attribute__((noreturn))
static void child_fail(const char *argv0, const char *step, int errnum)
{
	char msg[1024];
	/* strerrordesc_np: a constant string; strerror may translate, which
	   allocates, and this child shares the worker's heap. */
	const char *why = strerrordesc_np(errnum);
	int n = snprintf(msg, sizeof(msg), "mcpbox: cannot execute %s: %s%s%s\n", argv0,
			 step ? step : "", step ? ": " : "", why ? why : "unknown error");

	if (n > 0 && write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static void set_limit(int res, uint64_t v)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0)
		return;
	/* Raising a hard limit needs CAP_SYS_RESOURCE in the init namespace. */
	if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	setrlimit(res, &rl);
}

/* Tell the server on fd 3 how the pty went, with the master when it did. */
static void pty_report(int32_t error, int master)
{
	struct sess_msg_pty rep = { .error = error };
	struct iovec iov = { &rep, sizeof(rep) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (master >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &master, sizeof(int));
	}
	while (sendmsg(3, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* In the child, after setsid: a new pty of the sandbox's own devpts becomes
   the controlling terminal and fds 0..2; the master goes to the server over
   fd 3, which is closed afterwards. A failure is reported there and ends
   the child. */
static void pty_become(const struct spawn_req *r)
{
	const char *argv0 = r->argv[0];
	struct winsize ws = { .ws_row = r->msg.pty_rows, .ws_col = r->msg.pty_cols };
	int unlock = 0, slave, master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCSWINSZ, &ws) < 0 ||
	    (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_CLOEXEC)) < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) {
		int e = errno ? errno : EIO;
		pty_report(e, -1);
		child_fail(argv0, "pty", e);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0) {
			int e = errno;
			pty_report(e, -1);
			child_fail(argv0, "pty", e);
		}
	pty_report(0, master);
	close_range(3, ~0U, 0);
}

/* In the new child (start_child): become the program. Never returns. */
__attribute__((noreturn))
static void run_child(const struct spawn_req *r)
{
	const struct sess_msg_spawn *m = &r->msg;
	const char *argv0 = r->argv[0];
	struct __user_cap_header_struct ch = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cd[2];
	int high[SESS_PROTO_MAX_FDS];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		child_fail(argv0, "setsid", errno);

	/* fds: first copy everything above the target range so that dup2 can
	   never overwrite a source, then place them at 0..nfds-1. */
	for (unsigned i = 0; i < m->nfds; i++) {
		int src = r->fds[i];
		high[i] = -1;
		if (src < 0 && i < 3)
			src = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (src < 0)
			continue;
		high[i] = fcntl(src, F_DUPFD_CLOEXEC, SESS_PROTO_MAX_FDS + 3);
		if (high[i] < 0)
			child_fail(argv0, "dup", errno);
	}
	for (unsigned i = 0; i < m->nfds; i++) {
		if (high[i] >= 0) {
			if (dup2(high[i], (int)i) < 0)
				child_fail(argv0, "dup2", errno);
		} else {
			close_range(i, i, 0); /* unlike close(), no errno for a closed fd */
		}
	}
	close_range(m->nfds, ~0U, 0);
	if (m->pty_rows)
		pty_become(r);

	if (chdir(r->cwd[0] ? r->cwd : "/workspace") < 0)
		child_fail(argv0, "chdir", errno);

	if (m->limits.memory_bytes && !m->has_memory_cg)
		set_limit(RLIMIT_AS, m->limits.memory_bytes);
	if (m->limits.data_bytes && !m->has_memory_cg)
		set_limit(RLIMIT_DATA, m->limits.data_bytes);
	if (m->limits.max_pids && !m->has_pids_cg)
		set_limit(RLIMIT_NPROC, m->limits.max_pids);
	if (m->limits.cpu_seconds)
		set_limit(RLIMIT_CPU, m->limits.cpu_seconds);
	if (m->limits.file_bytes)
		set_limit(RLIMIT_FSIZE, m->limits.file_bytes);
	if (m->limits.open_files)
		set_limit(RLIMIT_NOFILE, m->limits.open_files);
	set_limit(RLIMIT_CORE, 0);

	/* No capabilities of any kind, and none to be regained: the bounding
	   set is already empty and the seccomp filter already attached (both
	   inherited from the worker, sess_sandbox_child). */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(argv0, "clear ambient capabilities", errno);
	memset(cd, 0, sizeof(cd));
	if (syscall(SYS_capset, &ch, cd) < 0)
		child_fail(argv0, "drop capabilities", errno);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(argv0, "no_new_privs", errno);
	execve(argv0, r->argv, r->envp);
	child_fail(argv0, NULL, errno);
}

static void send_exit(struct worker *w, uint64_t exec_id, int status, const struct rusage *ru)
{
	struct sess_msg_exit m;

	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_EXIT;
	m.exec_id = exec_id;
	m.status = status;
	if (ru) {
		m.cpu_ms = (uint64_t)ru->ru_utime.tv_sec * 1000 + (uint64_t)ru->ru_utime.tv_usec / 1000 +
			   (uint64_t)ru->ru_stime.tv_sec * 1000 + (uint64_t)ru->ru_stime.tv_usec / 1000;
		m.max_rss_kb = (uint64_t)ru->ru_maxrss;
	}
	/* Blocking send: the server reads promptly; if it is gone, so are we. */
	while (send(w->ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		_exit(0);
	}
}

/* Parse and validate a SPAWN record (the server is trusted, but be exact). */
static int parse_spawn(const char *buf, size_t len, struct spawn_req *r)
{
	const struct sess_msg_spawn *m = (const void *)buf;
	struct sess_rd rd;
	const char *s;
	size_t n;
	char *a;

	if (len < sizeof(*m) || m->nfds < 3 || m->nfds > SESS_PROTO_MAX_FDS ||
	    (m->fd_mask >> m->nfds) || m->argc < 1 ||
	    (!m->pty_rows != !m->pty_cols) ||
	    (m->pty_rows && (m->nfds != 4 || !(m->fd_mask & 8u) || m->pty_rows > SESS_PTY_MAX ||
			     m->pty_cols > SESS_PTY_MAX)) ||
	    m->argc > SESS_PROTO_MAX_ARGS || m->envc > SESS_PROTO_MAX_ARGS)
		return -1;
	r->msg = *m;
	/* Every string gets a NUL in a private arena (the wire has none). */
	r->arena = a = xmalloc(len + m->argc + m->envc + 1);
	r->argv = xcalloc(m->argc + 1, sizeof(char *));
	r->envp = xcalloc(m->envc + 1, sizeof(char *));
	rd.p = buf + sizeof(*m);
	rd.left = len - sizeof(*m);
	for (uint32_t i = 0; i < 1 + m->argc + m->envc; i++) {
		if (sess_rd_str(&rd, &s, &n) < 0 || memchr(s, '\0', n))
			return -1;
		memcpy(a, s, n);
		a[n] = '\0';
		if (i == 0)
			r->cwd = a;
		else if (i <= m->argc)
			r->argv[i - 1] = a;
		else
			r->envp[i - 1 - m->argc] = a;
		a += n + 1;
	}
	return rd.left == 0 ? 0 : -1;
}

static void spawn_req_free(struct spawn_req *r)
{
	if (!r)
		return;
	if (r->stack)
		munmap(r->stack, CHILD_STACK_SIZE);
	free(r->arena);
	free(r->argv);
	free(r->envp);
	free(r);
}

static int child_entry(void *arg)
{
	struct spawn_req *r = arg;

	run_child(r);
}

/* The worker does not wait for the child: clone(CLONE_VM) without
   CLONE_VFORK shares our memory (no page tables to copy) and lets the worker
   go on at once, so a prestarted program's start-up never delays the exit
   report of the program that is running. The child reads only its request,
   which stays untouched until it is reaped; it writes only its own stack,
   fd table, creds and rlimits, and allocates nothing. */
static pid_t start_child(struct spawn_req *r)
{
#ifdef __SANITIZE_ADDRESS__
	/* ASan cannot follow a child running on a foreign stack in our memory. */
	(void)child_entry;
	pid_t pid = fork();
	if (pid == 0)
		run_child(r);
	return pid;
#else
	r->stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (r->stack == MAP_FAILED) {
		r->stack = NULL;
		return -1;
	}
	return clone(child_entry, r->stack + CHILD_STACK_SIZE, CLONE_VM | SIGCHLD, r);
#endif
}

static void handle_spawn(struct worker *w, size_t len, const int *fds, size_t nfds)
{
	struct spawn_req *r = xcalloc(1, sizeof(*r));
	size_t k = 0;
	pid_t pid;

	for (int i = 0; i < SESS_PROTO_MAX_FDS; i++)
		r->fds[i] = -1;
	if (parse_spawn(w->buf, len, r) < 0 ||
	    (size_t)__builtin_popcount(r->msg.fd_mask) != nfds) {
		fprintf(stderr, "mcpbox-worker: malformed spawn request\n");
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		_exit(1);
	}
	for (unsigned i = 0; i < r->msg.nfds; i++)
		if (r->msg.fd_mask & (1u << i))
			r->fds[i] = fds[k++];

	if (w->nexecs == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->execs = xrealloc(w->execs, w->cap * sizeof(*w->execs));
	}
	pid = start_child(r);
	if (pid < 0) {
		/* E.g. pids limit reached: report like a failed exec. */
		char msg[512];
		int n = snprintf(msg, sizeof(msg), "mcpbox: cannot execute %s: fork: %s\n",
				 r->argv[0], strerror(errno));
		if (r->fds[2] >= 0 && n > 0 && write(r->fds[2], msg, (size_t)n) < 0) {
			/* nothing more we can say */
		}
		send_exit(w, r->msg.exec_id, W_EXITCODE(127, 0), NULL);
		spawn_req_free(r);
	} else {
		w->execs[w->nexecs].id = r->msg.exec_id;
		w->execs[w->nexecs].pid = pid;
		w->execs[w->nexecs].req = r; /* the child may still be reading it */
		w->nexecs++;
	}
	/* The child has its own copies (its fd table was copied at clone);
	   close ours by their numbers, leaving r->fds as the child reads it. */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Signal every process of the sandbox whose session is sid (we are PID 1:
   /proc lists the sandbox's processes only). */
static void kill_session(pid_t sid, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1)
			continue;
		if (getsid((pid_t)pid) == sid)
			kill((pid_t)pid, sig);
	}
	closedir(d);
}

/* Connect to a port of the sandbox's loopback and hand the socket over.
   Non-blocking: a listener with a full backlog never stalls the worker;
   the server waits for the connection with its own timeout. */
static void handle_connect(struct worker *w, size_t len)
{
	const struct sess_msg_connect *m = (const void *)w->buf;
	struct sess_msg_connected r;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { &r, sizeof(r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int fd = -1;

	if (len != sizeof(*m) || m->port < 1 || m->port > 65535 || m->ipv6 > 1) {
		fprintf(stderr, "mcpbox-worker: malformed connect request\n");
		_exit(1);
	}
	memset(&r, 0, sizeof(r));
	r.h.type = SESS_MSG_CONNECTED;
	r.req_id = m->req_id;
	fd = socket(m->ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		int rc;
		if (m->ipv6) {
			a6.sin6_port = htons((uint16_t)m->port);
			a6.sin6_addr = in6addr_loopback;
			rc = connect(fd, (struct sockaddr *)&a6, sizeof(a6));
		} else {
			a4.sin_port = htons((uint16_t)m->port);
			a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			rc = connect(fd, (struct sockaddr *)&a4, sizeof(a4));
		}
		if (rc < 0 && errno != EINPROGRESS) {
			r.error = errno;
			close(fd);
			fd = -1;
		}
	} else {
		r.error = errno;
	}
	if (fd >= 0)
		sess_proto_put_fd(&mh, cbuf.buf, sizeof(cbuf.buf), fd);
	/* Blocking, as send_exit: the server reads promptly; if it is gone, so are we. */
	while (sendmsg(w->ctl, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		_exit(0);
	}
	if (fd >= 0)
		close(fd);
}

static void handle_kill(struct worker *w, size_t len)
{
	const struct sess_msg_kill *m = (const void *)w->buf;

	if (len != sizeof(*m) || m->sig <= 0 || m->sig >= NSIG)
		return;
	for (size_t i = 0; i < w->nexecs; i++)
		if (w->execs[i].id == m->exec_id) {
			if (m->flags & SESS_KILL_SESSION)
				kill_session(w->execs[i].pid, m->sig);
			/* the pid too: a child not yet past its setsid() has no group */
			kill(-w->execs[i].pid, m->sig);
			kill(w->execs[i].pid, m->sig);
			return;
		}
	/* An exited program whose group lives on: kill what is left of it.
	   Otherwise a late kill is a no-op. */
	for (size_t i = 0; i < w->nlingering; i++)
		if (w->lingering[i].id == m->exec_id) {
			if (m->flags & SESS_KILL_SESSION)
				kill_session(w->lingering[i].pid, m->sig);
			kill(-w->lingering[i].pid, m->sig);
			w->lingering[i] = w->lingering[--w->nlingering];
			return;
		}
}

/* Remember an exited program whose process group still has members. */
static void linger(struct worker *w, const struct wexec *e)
{
	size_t i = 0;

	/* forget groups that have emptied since */
	while (i < w->nlingering) {
		if (kill(-w->lingering[i].pid, 0) < 0 && errno == ESRCH)
			w->lingering[i] = w->lingering[--w->nlingering];
		else
			i++;
	}
	if (kill(-e->pid, 0) < 0)
		return;
	if (w->nlingering == ARRAY_SIZE(w->lingering))
		w->lingering[0] = w->lingering[--w->nlingering]; /* full: drop one */
	w->lingering[w->nlingering++] = *e;
}

static void reap(struct worker *w)
{
	struct signalfd_siginfo si;
	struct rusage ru;
	int status;
	pid_t pid;

	while (read(w->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	/* PID 1 inherits every orphan: reap them all. */
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		for (size_t i = 0; i < w->nexecs; i++) {
			if (w->execs[i].pid != pid)
				continue;
			send_exit(w, w->execs[i].id, status, &ru);
			spawn_req_free(w->execs[i].req);
			w->execs[i].req = NULL;
			linger(w, &w->execs[i]);
			w->execs[i] = w->execs[--w->nexecs];
			break;
		}
	}
}

static void handle_ctl(struct worker *w)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SESS_PROTO_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { w->buf, SESS_PROTO_MAX_MSG };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
	int fds[SESS_PROTO_MAX_FDS];
	size_t nfds = 0;
	ssize_t n;

	n = recvmsg(w->ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		_exit(0);
	}
	if (n == 0)
		_exit(0);	/* server gone: our exit kills the sandbox */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && nfds < SESS_PROTO_MAX_FDS; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(struct sess_msg_hdr)) {
		fprintf(stderr, "mcpbox-worker: truncated request\n");
		_exit(1);
	}
	switch (((const struct sess_msg_hdr *)w->buf)->type) {
	case SESS_MSG_SPAWN:
		handle_spawn(w, (size_t)n, fds, nfds);
		return;
	case SESS_MSG_KILL:
		handle_kill(w, (size_t)n);
		break;
	case SESS_MSG_CONNECT:
		handle_connect(w, (size_t)n);
		break;
	case SESS_MSG_SHUTDOWN:
		_exit(0);
	default:
		fprintf(stderr, "mcpbox-worker: unknown request\n");
		_exit(1);
	}
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
}

__attribute__((noreturn))
static void worker_loop(struct worker *w)
{
	struct pollfd p[2] = { { w->ctl, POLLIN, 0 }, { w->sigfd, POLLIN, 0 } };

	w->buf = xmalloc(SESS_PROTO_MAX_MSG);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[1].revents)
			reap(w);
		if (p[0].revents & POLLIN)
			handle_ctl(w);
		else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			_exit(0);
	}
}

static int read_last_cap(void)
{
	char b[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, b, sizeof(b) - 1) < 0)
			b[0] = '\0';
		close(fd);
	}
	return b[0] ? atoi(b) : 63;
}

/* ---- the cloned child ----------------------------------------------------- */

void sess_sandbox_child(const struct sess_child_args *a)
{
	struct worker w;
	sigset_t mask;
	char go;
	int ws_fd, last_cap, keep[3] = { a->ctl_fd, a->go_fd, a->status_fd };
	struct mnt_fds fds = { -1, a->scratch_bytes };

	status_fd = a->status_fd;
	memset(&w, 0, sizeof(w));
	w.ctl = a->ctl_fd;
	/* Nothing of the zygote's but our three fds (its server socket in
	   particular must never be reachable from a sandbox). */
	close_others(keep, ARRAY_SIZE(keep));
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	/* Out of the terminal's process group: ^C hits the server, not us. */
	setsid();

	/* Wait for the zygote: uid/gid maps and cgroups must be in place. */
	if (read(a->go_fd, &go, 1) != 1)
		_exit(1);
	close(a->go_fd);
	/* Now that we sit in our own cgroups, make them the root we see. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		die(errno, "unshare cgroup namespace");

	/* Opened with the creds we were born with (same as the zygote's), so a
	   workspace under a directory the sandbox uid cannot search still works. */
	ws_fd = open(a->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ws_fd < 0)
		die(errno, "open workspace");
	fds.ws = ws_fd;

	/* Become uid/gid 1000 (the only ids mapped) but keep our capabilities
	   in the user namespace: they are what lets us mount. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED, 0, 0, 0) < 0)
		die(errno, "securebits");
	if (setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID) < 0)
		die(errno, "setresgid");
	if (setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) < 0)
		die(errno, "setresuid");
	/* Sandbox code runs as our uid. A spawn child shares our memory until
	   its execve, and once it has dropped its capabilities nothing else
	   stops sandbox code from opening its /proc/PID/mem or ptracing it,
	   and so rewriting us. Not dumpable, our memory is closed to anyone
	   without CAP_SYS_PTRACE in the zygote's user namespace, which owns it.
	   The kernel clears the flag by itself only when a credential change
	   moves the host uid, not when mcpbox runs unprivileged. execve gives
	   each program a dumpable mm of its own. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die(errno, "make the worker non-dumpable");

	last_cap = read_last_cap(); /* the host's /proc, before pivot_root */

	setup_root(&fds);
	close(ws_fd);
	if (sethostname("mcpbox", 6) < 0)
		die(errno, "sethostname");
	cap_ucounts();
	loopback_up();
	if (a->network) {
		const char *e = sess_net_configure();
		if (e)
			die(0, "%s", e);
	}

	/* SIGCHLD through a signalfd: one poll loop, no handlers. Other
	   signals keep their default action, which for PID 1 means that
	   processes of the sandbox cannot signal us at all. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	w.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w.sigfd < 0)
		die(errno, "signalfd");

	/* Done once here rather than in every program: empty the bounding set
	   (the worker keeps the capabilities it holds, programs can never gain
	   one at execve) and attach the seccomp filter, which every child
	   inherits. Attaching it compiles and JIT-translates the program: that
	   cost a spawn ~0.1 ms, 5 % of a tight loop's CPU. The worker itself
	   makes none of the calls the filter refuses. */
	for (int c = 0; c <= last_cap; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die(errno, "drop bounding capabilities");
	/* a->filter: our copy of the zygote's memory holds the program */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, a->filter, 0, 0) < 0)
		die(errno, "seccomp");

	if (write(status_fd, "K", 1) != 1)
		_exit(1);
	close(status_fd);
	status_fd = -1;
	prctl(PR_SET_NAME, "mcpbox-worker", 0, 0, 0);
	worker_loop(&w);
}
