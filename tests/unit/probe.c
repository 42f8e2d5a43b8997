/*
 * probe.c — a static program that test_sandbox copies into a sandbox's
 * workspace and runs there, acting as hostile sandbox code. Each mode prints
 * what it saw on stdout, one fact per line, for the test to judge:
 *
 *   probe syscalls         "NAME ERRNO" per refused-call candidate (0: allowed;
 *                          names starting enosys_ must get ENOSYS, ok_ 0;
 *                          "skip_i386 1" if this kernel runs no 32-bit calls)
 *   probe memrace SECONDS  races opens of /proc/PID/mem of the worker's new
 *                          children (test_sandbox spawns them meanwhile):
 *                          "early_open N", "early_denied N", "late_open N"
 *   probe worker           "mem1 ERRNO", "ptrace1 ERRNO", "vmread1 ERRNO"
 *   probe inotify [SECS]   "instances N ERRNO", then holds them SECS seconds
 *                          or until stdin closes
 *   probe fill PATH MAXMB  writes 1 MiB blocks up to MAXMB: "bytes N ERRNO"
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btrfs.h>
#include <linux/net.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* errno of a raw syscall made with harmless arguments (0: it succeeded). */
static int try_call(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	errno = 0;
	if (syscall(nr, a0, a1, a2, a3, a4, a5) == -1)
		return errno;
	return 0;
}

struct call {
	const char *name;
	long nr;
	long a[6];
};

/* Arguments chosen so that a call the filter let through fails harmlessly
   (bad pointer, bad flags) instead of doing something. */
static const struct call calls[] = {
	{ "io_uring_setup", SYS_io_uring_setup, { 0, 0 } },
	{ "io_uring_enter", SYS_io_uring_enter, { -1, 0, 0, 0, 0, 0 } },
	{ "io_uring_register", SYS_io_uring_register, { -1, 0, 0, 0 } },
	{ "personality_linux32", SYS_personality, { 0x0008 } },
	{ "personality_no_aslr", SYS_personality, { 0x0040000 } },
	{ "personality_exec", SYS_personality, { 0x0400000 } },
	{ "move_pages", SYS_move_pages, { 0, 1, 0, 0, 0, 0 } },
	{ "migrate_pages", SYS_migrate_pages, { 0, 0, 0, 0 } },
	{ "mbind", SYS_mbind, { 0, 0, 0, 0, 0, 0 } },
	{ "set_mempolicy", SYS_set_mempolicy, { 0, 0, 0 } },
	{ "get_mempolicy", SYS_get_mempolicy, { 0, 0, 0, 0, 0 } },
	{ "kexec_load", SYS_kexec_load, { 0, 0, 0, -1 } },
	{ "kexec_file_load", SYS_kexec_file_load, { -1, -1, 0, 0, -1 } },
	{ "open_by_handle_at", SYS_open_by_handle_at, { -1, 0, 0 } },
	{ "name_to_handle_at", SYS_name_to_handle_at, { -1, 0, 0, 0, -1 } },
	{ "bpf", SYS_bpf, { -1, 0, 0 } },
	{ "perf_event_open", SYS_perf_event_open, { 0, -1, -1, -1, -1 } },
	{ "userfaultfd", SYS_userfaultfd, { -1 } },
	{ "keyctl", SYS_keyctl, { -1, 0, 0, 0, 0 } },
	{ "add_key", SYS_add_key, { 0, 0, 0, 0, 0 } },
	{ "request_key", SYS_request_key, { 0, 0, 0, 0 } },
	{ "mount", SYS_mount, { 0, 0, 0, 0, 0 } },
	{ "umount2", SYS_umount2, { 0, -1 } },
	{ "pivot_root", SYS_pivot_root, { 0, 0 } },
	{ "swapon", SYS_swapon, { 0, 0 } },
	{ "swapoff", SYS_swapoff, { 0 } },
	{ "reboot", SYS_reboot, { 0, 0, 0, 0 } },
	{ "init_module", SYS_init_module, { 0, 0, 0 } },
	{ "finit_module", SYS_finit_module, { -1, 0, -1 } },
	{ "delete_module", SYS_delete_module, { 0, -1 } },
	{ "acct", SYS_acct, { 1 } },
	{ "settimeofday", SYS_settimeofday, { 1, 1 } },
	{ "clock_settime", SYS_clock_settime, { -1, 0 } },
	{ "clock_adjtime", SYS_clock_adjtime, { -1, 0 } },
	{ "adjtimex", SYS_adjtimex, { 0 } },
	{ "lookup_dcookie", SYS_lookup_dcookie, { 0, 0, 0 } },
	{ "quotactl", SYS_quotactl, { -1, 0, 0, 0 } },
	{ "process_vm_readv", SYS_process_vm_readv, { 1, 0, 0, 0, 0, 0 } },
	{ "process_vm_writev", SYS_process_vm_writev, { 1, 0, 0, 0, 0, 0 } },
	{ "kcmp", SYS_kcmp, { 1, 1, -1, 0, 0 } },
	{ "pidfd_getfd", SYS_pidfd_getfd, { -1, 0, 0 } },
	{ "process_madvise", SYS_process_madvise, { -1, 0, 0, 0, 0 } },
	{ "set_mempolicy_home_node", SYS_set_mempolicy_home_node, { 0, 0, 0, 1 } },
	{ "fanotify_init", SYS_fanotify_init, { -1, -1 } },
	{ "unshare_user", SYS_unshare, { 0x10000000 } },
	{ "unshare_mnt", SYS_unshare, { 0x00020000 } },
	{ "setns", SYS_setns, { -1, 0 } },
	{ "iopl", SYS_iopl, { 4 } },
	{ "ioperm", SYS_ioperm, { 0, 0, 0 } },
	{ "syslog", SYS_syslog, { 0, 0, 0 } },
	{ "vhangup", SYS_vhangup, { 0 } },
	{ "nfsservctl", SYS_nfsservctl, { 0 } },
	{ "get_kernel_syms", SYS_get_kernel_syms, { 0 } },
	{ "create_module", SYS_create_module, { 0 } },
	{ "query_module", SYS_query_module, { 0 } },
	{ "uselib", SYS_uselib, { 0 } },
	{ "ustat", SYS_ustat, { 0, 0 } },
	{ "sysfs", SYS_sysfs, { 0, 0 } },
	{ "_sysctl", SYS__sysctl, { 0 } },
	{ "chroot", SYS_chroot, { 0 } },
	{ "sethostname", SYS_sethostname, { 0, 0 } },
	{ "setdomainname", SYS_setdomainname, { 0, 0 } },
	{ "open_tree", SYS_open_tree, { -1, 0, -1 } },
	{ "fsopen", SYS_fsopen, { 0, -1 } },
	{ "fsconfig", SYS_fsconfig, { -1, 0, 0, 0, 0 } },
	{ "fsmount", SYS_fsmount, { -1, 0, 0 } },
	{ "fspick", SYS_fspick, { -1, 0, 0 } },
	{ "move_mount", SYS_move_mount, { -1, 0, -1, 0, 0 } },
	{ "mount_setattr", SYS_mount_setattr, { -1, 0, -1, 0, 0 } },
	{ "quotactl_fd", SYS_quotactl_fd, { -1, 0, 0, 0 } },
	{ "afs_syscall", SYS_afs_syscall, { 0 } },
	{ "tuxcall", SYS_tuxcall, { 0 } },
	{ "security", SYS_security, { 0 } },
	{ "vserver", SYS_vserver, { 0 } },
	{ "putpmsg", SYS_putpmsg, { 0 } },
	{ "getpmsg", SYS_getpmsg, { 0 } },
	/* newer than libseccomp 2.5.4: refused by number, x32 too */
	{ "statmount", 457, { 0, 0, 0, 0 } },
	{ "listmount", 458, { 0, 0, 0, 0 } },
	{ "open_tree_attr", 467, { -1, 0, -1, 0, 0 } },
	{ "lsm_get_self_attr", 459, { 0, 0, 0, 0 } },
	{ "lsm_set_self_attr", 460, { 0, 0, 0, 0 } },
	{ "lsm_list_modules", 461, { 0, 0, 0 } },
	{ "listmount_x32", 0x40000000L | 458, { 0, 0, 0, 0 } },
	{ "lsm_list_modules_x32", 0x40000000L | 461, { 0, 0, 0 } },
	/* past open_tree_attr (467), the newest call reviewed: ENOSYS from the filter */
	{ "enosys_file_getattr", 468, { -1, 0, 0, 0, 0 } },
	{ "enosys_file_setattr", 469, { -1, 0, 0, 0, 0 } },
	{ "enosys_470", 470, { 0 } },
	{ "enosys_1000", 1000, { 0 } },
	{ "enosys_x32_470", 0x40000000L | 470, { 0 } },
	/* btrfs subvolumes, snapshots and quota groups (a bad fd: refused before it is looked at) */
	{ "ioctl_btrfs_subvol_create", SYS_ioctl, { -1, (long)BTRFS_IOC_SUBVOL_CREATE_V2, 0 } },
	{ "ioctl_btrfs_subvol_create_v1", SYS_ioctl, { -1, (long)BTRFS_IOC_SUBVOL_CREATE, 0 } },
	{ "ioctl_btrfs_snap_create", SYS_ioctl, { -1, (long)BTRFS_IOC_SNAP_CREATE_V2, 0 } },
	{ "ioctl_btrfs_snap_destroy", SYS_ioctl, { -1, (long)BTRFS_IOC_SNAP_DESTROY, 0 } },
	{ "ioctl_btrfs_qgroup_limit", SYS_ioctl, { -1, (long)BTRFS_IOC_QGROUP_LIMIT, 0 } },
	/* the kernel reads the request as 32 bits: high bits set change nothing */
	{ "ioctl_btrfs_subvol_create_high", SYS_ioctl, { -1, (long)(0xffffffff00000000UL | BTRFS_IOC_SUBVOL_CREATE_V2), 0 } },
	/* socket families (a bad type: let through, the kernel says EINVAL before making a socket) */
	{ "socket_af_alg", SYS_socket, { AF_ALG, 0xff00, 0 } },
	{ "socket_af_vsock", SYS_socket, { AF_VSOCK, 0xff00, 0 } },
	{ "socket_af_alg_high", SYS_socket, { 0x100000000L | AF_ALG, 0xff00, 0 } },
	{ "socket_af_alg_x32", 0x40000000L | SYS_socket, { AF_ALG, 0xff00, 0 } },
	/* controls: these must keep working */
	{ "ok_socket_unix", SYS_socket, { AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0 } },
	{ "ok_personality_query", SYS_personality, { 0xffffffffL } },
	{ "ok_personality_default", SYS_personality, { 0 } },
	{ "ok_getpid", SYS_getpid, { 0 } },
};

/* socketcall(SYS_SOCKETPAIR)'s arguments: 32-bit words at an address a
   32-bit call can pass (this static program is not position independent) */
static int pair_fds[2];
static uint32_t pair_args[4] = { AF_UNIX, SOCK_DGRAM, 0, 0 };

/* The same through the 32-bit x86 entry (int $0x80 works from 64-bit code
   and the filter sees the i386 architecture): numbers and arguments are
   i386's, five at most. */
static const struct call calls_i386[] = {
	{ "i386_pidfd_getfd", 438, { -1, 0, 0 } },
	{ "i386_process_madvise", 440, { -1, 0, 0, 0, 0 } },
	{ "i386_socket_af_alg", 359, { AF_ALG, 0xff00, 0 } },
	{ "i386_socket_af_vsock", 359, { AF_VSOCK, 0xff00, 0 } },
	/* the family is behind socketcall's pointer: SYS_SOCKET is refused whole */
	{ "i386_socketcall_socket", 102, { SYS_SOCKET, 0 } },
	{ "i386_umount", 22, { 0 } },
	{ "i386_stime", 25, { 0 } },
	{ "i386_clock_settime64", 404, { -1, 0 } },
	{ "i386_vm86old", 113, { 0 } },
	{ "i386_vm86", 166, { 0, 0 } },
	{ "i386_break", 17, { 0 } },
	{ "i386_stty", 31, { 0, 0 } },
	{ "i386_gtty", 32, { 0, 0 } },
	{ "i386_ftime", 35, { 0 } },
	{ "i386_prof", 44, { 0 } },
	{ "i386_lock", 53, { 0 } },
	{ "i386_mpx", 56, { 0 } },
	{ "i386_ulimit", 58, { 0 } },
	{ "i386_profil", 98, { 0 } },
	{ "i386_idle", 112, { 0 } },
	{ "i386_oldstat", 18, { 0, 0 } },
	{ "i386_oldfstat", 28, { -1, 0 } },
	{ "i386_oldlstat", 84, { 0, 0 } },
	{ "i386_readdir", 89, { -1, 0, 1 } },
	{ "i386_olduname", 109, { 0 } },
	{ "i386_oldolduname", 59, { 0 } },
	{ "i386_signal", 48, { 0, 0 } },
	{ "i386_sigaction", 67, { 0, 0, 0 } },
	{ "i386_sigpending", 73, { 0 } },
	{ "i386_sgetmask", 68, { 0 } },
	{ "i386_ssetmask", 69, { 0 } },	/* the mask is empty already */
	{ "i386_nice", 34, { 0 } },
	{ "i386_bdflush", 134, { 0, 0 } },
	{ "ok_i386_getpid", 20, { 0 } },
	{ "ok_i386_socket_unix", 359, { AF_UNIX, SOCK_DGRAM, 0 } },
	{ "ok_i386_socketcall_socketpair", 102, { SYS_SOCKETPAIR, (long)pair_args } },
};

static long int80(long nr, const long *a)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static sigjmp_buf no_i386;

static void on_segv(int sig __attribute__((unused)))
{
	siglongjmp(no_i386, 1);
}

static void on_usr1(int sig __attribute__((unused)))
{
}

static int try_i386(const struct call *c)
{
	long r = int80(c->nr, c->a);

	return r < 0 && r >= -4095 ? (int)-r : 0;
}

/* i386 sigsuspend (mask in its third argument) with SIGUSR1 pending and
   blocked: let through, it unblocks it and returns EINTR at once. */
static int try_i386_sigsuspend(void)
{
	sigset_t usr1;
	int e;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	signal(SIGUSR1, on_usr1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	raise(SIGUSR1);
	e = try_i386(&(struct call){ "i386_sigsuspend", 72, { 0, 0, 0 } });
	signal(SIGUSR1, SIG_IGN);	/* drops it if it is still pending */
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	return e;
}

static void syscalls_i386(void)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;

	/* a kernel without 32-bit emulation answers int $0x80 with SIGSEGV */
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(no_i386, 1)) {
		sigaction(SIGSEGV, &old, NULL);
		printf("skip_i386 1\n");
		return;
	}
	try_i386(&(struct call){ "getpid", 20, { 0 } });
	sigaction(SIGSEGV, &old, NULL);
	pair_args[3] = (uint32_t)(uintptr_t)pair_fds;
	for (size_t i = 0; i < sizeof(calls_i386) / sizeof(calls_i386[0]); i++)
		printf("%s %d\n", calls_i386[i].name, try_i386(&calls_i386[i]));
	printf("i386_sigsuspend %d\n", try_i386_sigsuspend());
}

static int mode_syscalls(void)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct call *c = &calls[i];
		printf("%s %d\n", c->name, try_call(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]));
	}
	syscalls_i386();
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Is pid still the worker's image (not yet exec'd)? Its name says so. */
static int pre_exec(int pid)
{
	char path[64], comm[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	comm[n > 0 ? n : 0] = '\0';
	return !strncmp(comm, "mcpbox-worker", 13);
}

/* The highest pid in /proc other than self. */
static int max_pid(int self)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int top = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name);
		if (pid > top && pid != self)
			top = pid;
	}
	closedir(d);
	return top;
}

/* Poll /proc for pids above ours and open their mem at once, as an attacker
   would who wants to rewrite the worker through a child sharing its memory. */
static int mode_memrace(double seconds)
{
	long early_open = 0, early_denied = 0, late_open = 0, seen = 0;
	int self = getpid(), last = self;
	double end = now_s() + seconds;

	for (unsigned long round = 0; now_s() < end; round++) {
		/* A child that came and went unseen leaves a gap: catch up. */
		if (round % 512 == 0) {
			int top = max_pid(self);
			if (top > last + 8)
				last = top - 1;
		}
		/* New pids come in order: try the next few ones blindly, which is
		   faster than reading /proc and catches a child right after clone. */
		for (int pid = last + 1; pid <= last + 8; pid++) {
			char path[64];
			int fd;
			snprintf(path, sizeof(path), "/proc/%d/mem", pid);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0 && errno == ENOENT)
				continue;
			seen++;
			if (pid > last)
				last = pid;
			if (fd >= 0) {
				if (pre_exec(pid))
					early_open++;
				else
					late_open++;
				close(fd);
			} else if ((errno == EACCES || errno == EPERM) && pre_exec(pid)) {
				early_denied++;
			}
		}
	}
	printf("seen %ld\nearly_open %ld\nearly_denied %ld\nlate_open %ld\n", seen, early_open,
	       early_denied, late_open);
	return 0;
}

static int mode_worker(void)
{
	char buf[16];
	struct iovec local = { buf, sizeof(buf) }, remote = { (void *)0x400000, sizeof(buf) };
	int fd = open("/proc/1/mem", O_RDWR | O_CLOEXEC);

	printf("mem1 %d\n", fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	fd = open("/proc/1/mem", O_RDONLY | O_CLOEXEC);
	printf("mem1_read %d\n", fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	errno = 0;
	printf("ptrace1 %d\n", ptrace(PTRACE_ATTACH, 1, 0, 0) < 0 ? errno : 0);
	errno = 0;
	printf("seize1 %d\n", ptrace(PTRACE_SEIZE, 1, 0, 0) < 0 ? errno : 0);
	errno = 0;
	printf("vmread1 %d\n", syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0) < 0 ? errno : 0);
	return 0;
}

static int mode_inotify(int hold_s)
{
	int n = 0, fd, e;

	while ((fd = inotify_init1(IN_CLOEXEC)) >= 0)
		n++;
	e = errno;
	printf("instances %d %d\n", n, e);
	fflush(stdout);
	if (hold_s > 0)
		sleep((unsigned)hold_s);
	else
		while (read(0, &fd, 1) > 0)	/* hold them until the test closes stdin */
			;
	return 0;
}

static int mode_fill(const char *path, unsigned long long max_mb)
{
	static char block[1 << 20];
	unsigned long long total = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int e = 0;

	if (fd < 0) {
		printf("bytes 0 %d\n", errno);
		return 0;
	}
	memset(block, 'x', sizeof(block));
	for (;;) {
		ssize_t n = write(fd, block, sizeof(block));
		if (n < 0) {
			e = errno;
			break;
		}
		total += (unsigned long long)n;
		if (n == 0 || total >= (max_mb << 20))
			break;
	}
	close(fd);
	printf("bytes %llu %d\n", total, e);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "syscalls"))
		return mode_syscalls();
	if (argc >= 3 && !strcmp(argv[1], "memrace"))
		return mode_memrace(atof(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "worker"))
		return mode_worker();
	if (argc >= 2 && !strcmp(argv[1], "inotify"))
		return mode_inotify(argc >= 3 ? atoi(argv[2]) : 0);
	if (argc >= 4 && !strcmp(argv[1], "fill"))
		return mode_fill(argv[2], strtoull(argv[3], NULL, 10));
	fprintf(stderr, "usage: probe syscalls|memrace SECONDS|worker|inotify [SECS]|fill PATH MAXMB\n");
	return 2;
}
