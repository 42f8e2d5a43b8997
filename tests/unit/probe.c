/*
 * probe.c — a static program that test_sandbox copies into a sandbox's
 * workspace and runs there, acting as hostile sandbox code. Each mode prints
 * what it saw on stdout, one fact per line, for the test to judge:
 *
 *   probe syscalls         "NAME ERRNO" per refused-call candidate (0: allowed;
 *                          names starting enosys_ must get ENOSYS, ok_ 0)
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/btrfs.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
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
	{ "listmount_x32", 0x40000000L | 458, { 0, 0, 0, 0 } },
	/* past the newest reviewed call: ENOSYS from the filter */
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
	/* controls: these must keep working */
	{ "ok_personality_query", SYS_personality, { 0xffffffffL } },
	{ "ok_personality_default", SYS_personality, { 0 } },
	{ "ok_getpid", SYS_getpid, { 0 } },
};

static int mode_syscalls(void)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct call *c = &calls[i];
		printf("%s %d\n", c->name, try_call(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]));
	}
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
