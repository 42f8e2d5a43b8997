/*
 * seccomp.c — build the sandbox's syscall filter with libseccomp and export
 * it as raw BPF (see seccomp.h).
 */
#include "seccomp.h"
#include "../server/base/common.h"

#include <linux/btrfs.h>
#include <linux/net.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/base/banned.h"

/* Syscalls that return EPERM (docs/security.md lists them with reasons):
   every call Docker's default profile (moby/profiles seccomp/default.json)
   refuses to a container without added capabilities, and a few more. */
static const char *const eperm_syscalls[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns", "chroot",
	"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "sethostname", "setdomainname",
	/* the kernel itself: modules, kexec, reboot, swap, accounting, time */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "create_module", "query_module", "get_kernel_syms",
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime",
	"clock_settime64", "clock_adjtime", "adjtimex", "stime", "syslog", "vhangup",
	"nfsservctl", "quotactl", "quotactl_fd", "lookup_dcookie", "iopl", "ioperm",
	"vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl",
	/* large kernel attack surface the sandbox does not need */
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
	"open_by_handle_at", "name_to_handle_at",
	/* other processes' memory and files, and the machine's memory placement */
	"process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
	"move_pages", "migrate_pages", "mbind", "set_mempolicy", "get_mempolicy",
	"set_mempolicy_home_node",
	/* never implemented on x86-64: refuse rather than trust ENOSYS */
	"afs_syscall", "tuxcall", "security", "vserver", "putpmsg", "getpmsg",
	/* 32-bit x86 only: obsolete calls the kernel keeps for old binaries
	   (libc uses the rt_ and new forms; several were never implemented) */
	"break", "stty", "gtty", "ftime", "prof", "lock", "mpx", "ulimit", "profil",
	"idle", "oldstat", "oldfstat", "oldlstat", "readdir", "olduname",
	"oldolduname", "signal", "sigaction", "sigsuspend", "sigpending",
	"sgetmask", "ssetmask", "nice", "bdflush",
};

/* Calls newer than the libseccomp mcpbox may be built with (Debian 12 has
   2.5.4, which names nothing past 450). They share one number on x86-64,
   i386 and x32 (plus the x32 bit), so a few raw BPF instructions in front
   of libseccomp's program refuse them on every architecture by number. */
static const struct {
	const char *name;
	uint32_t nr;
} eperm_by_number[] = {
	{ "statmount", 457 },	/* mount information; like the mount calls above */
	{ "listmount", 458 },
	{ "lsm_get_self_attr", 459 },	/* security modules: Docker wants CAP_SYS_ADMIN */
	{ "lsm_set_self_attr", 460 },
	{ "lsm_list_modules", 461 },
	{ "open_tree_attr", 467 },	/* open_tree and mount_setattr in one */
};
#define SYSCALL_FIRST_BY_NUMBER 451
/* Every call numbered past open_tree_attr (Linux 6.15) answers ENOSYS:
   Docker's profile allows none of them (file_getattr, file_setattr, listns,
   ...), and like runc for calls newer than its profile, ENOSYS rather than
   EPERM, which programs take as "an older kernel" and fall back. A new call
   stays refused until it is reviewed here. */
#define SYSCALL_ENOSYS_AFTER 467
#define X32_SYSCALL_BIT 0x40000000u
/* x32's own calls (execve, ioctl, the rt_sig* calls, ...) sit at 512-547 with
   the x32 bit; x86-64 and i386 have nothing there (their kernel answers ENOSYS),
   and new calls skip the range: it goes to libseccomp's program, which knows them */
#define X32_OWN_FIRST 512
#define X32_OWN_LAST 547

/* btrfs ioctls that make or remove subvolumes and snapshots, or touch quota
   groups: a subvolume made inside a workspace would be a quota group of its
   own, outside the workspace's limit (sessions/btrfs.c), and one left there
   would stop the workspace from being destroyed whole. Reflinks (FICLONE,
   the same ioctl type) and reading subvolume information stay allowed. */
static const unsigned long btrfs_ioctls[] = {
	BTRFS_IOC_SNAP_CREATE, BTRFS_IOC_SNAP_CREATE_V2, BTRFS_IOC_SUBVOL_CREATE,
	BTRFS_IOC_SUBVOL_CREATE_V2, BTRFS_IOC_SNAP_DESTROY, BTRFS_IOC_SNAP_DESTROY_V2,
	BTRFS_IOC_QUOTA_CTL, BTRFS_IOC_QGROUP_ASSIGN, BTRFS_IOC_QGROUP_CREATE,
	BTRFS_IOC_QGROUP_LIMIT, BTRFS_IOC_QUOTA_RESCAN, BTRFS_IOC_SUBVOL_SETFLAGS,
	BTRFS_IOC_DEFAULT_SUBVOL,
};

/* Socket families refused, as Docker does: the kernel's crypto API
   (AF_ALG, much kernel code for no need here) and virtual machine sockets
   (AF_VSOCK, which talk to the hypervisor and the host's virtual machines,
   outside the sandbox's network namespace). */
static const unsigned socket_families[] = { AF_ALG, AF_VSOCK };

/* clone() flags that create namespaces. CLONE_NEWTIME shares its bit with
   the exit-signal byte of clone(), so it can only be refused via clone3. */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

static int add_rules(scmp_filter_ctx ctx, struct err **errp)
{
	int rc, nr;

	for (size_t i = 0; i < ARRAY_SIZE(eperm_syscalls); i++) {
		nr = seccomp_syscall_resolve_name(eperm_syscalls[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* unknown to this libseccomp: nothing to block */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (rc < 0 && rc != -EDOM)
			return err_set(errp, -rc, "seccomp: rule for %s", eperm_syscalls[i]);
	}
	/* personality(): only the default persona and the query (0xffffffff);
	   the kernel reads 32 bits. Anything else (e.g. READ_IMPLIES_EXEC,
	   ADDR_NO_RANDOMIZE) weakens the process's own memory protections. */
	/* A rule may test an argument once, so: a value is neither all zeros
	   nor all ones exactly when two neighbouring bits differ. */
	for (unsigned b = 0; b < 31; b++)
		for (unsigned v = 1; v <= 2; v++) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
					      SCMP_A0_32(SCMP_CMP_MASKED_EQ, 3u << b, v << b));
			if (rc < 0)
				return err_set(errp, -rc, "seccomp: rule for personality");
		}
	nr = seccomp_syscall_resolve_name("clone3");
	if (nr != __NR_SCMP_ERROR) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
		if (rc < 0 && rc != -EDOM)
			return err_set(errp, -rc, "seccomp: rule for clone3");
	}
	for (size_t i = 0; i < ARRAY_SIZE(btrfs_ioctls); i++) {
		/* the kernel takes the request as 32 bits: compare those alone */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (uint32_t)btrfs_ioctls[i]));
		if (rc < 0)
			return err_set(errp, -rc, "seccomp: rule for ioctl");
	}
	/* The kernel reads the family as 32 bits: compare those alone. On
	   32-bit x86, socketcall(SYS_SOCKET) hides the family behind a pointer
	   the filter cannot read, so libseccomp refuses that form whole (said
	   again here so that it stays refused): else any program could reach
	   AF_ALG with int $0x80. The direct 32-bit socket call works. */
	for (size_t i = 0; i < ARRAY_SIZE(socket_families); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, socket_families[i]));
		if (rc < 0)
			return err_set(errp, -rc, "seccomp: rule for socket");
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socketcall), 1,
			      SCMP_A0(SCMP_CMP_EQ, SYS_SOCKET));
	if (rc < 0 && rc != -EEXIST)
		return err_set(errp, -rc, "seccomp: rule for socketcall");
	for (size_t i = 0; i < ARRAY_SIZE(clone_ns_flags); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
		if (rc < 0)
			return err_set(errp, -rc, "seccomp: rule for clone");
	}
	return 0;
}

/* The raw prefix described at eperm_by_number: into out (room for
   PREFIX_MAX instructions), returning how many it wrote. It only returns
   or falls through to the instruction after it, and leaves nothing behind
   (libseccomp's program loads what it tests first). */
#define PREFIX_MAX (ARRAY_SIZE(eperm_by_number) + 8)

static size_t prefix_build(struct sock_filter *out)
{
	const size_t n = ARRAY_SIZE(eperm_by_number);
	/* layout: 0 load, 1 mask, 2 range, 3..3+n-1 table, 3+n newest, 4+n and
	   5+n x32's own range, 6+n EPERM, 7+n ENOSYS, then libseccomp's program at 8+n */
	const size_t eperm = 6 + n, enosys = 7 + n, end = 8 + n;
	size_t i = 0;

	out[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	out[i++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_SYSCALL_BIT);
	out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, SYSCALL_FIRST_BY_NUMBER, 0,
					      (uint8_t)(end - i - 1));
	i++;
	for (size_t k = 0; k < n; k++, i++)
		out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, eperm_by_number[k].nr,
						      (uint8_t)(eperm - i - 1), 0);
	out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, SYSCALL_ENOSYS_AFTER, 0,
					      (uint8_t)(end - i - 1));
	i++;
	out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_OWN_FIRST, 0, (uint8_t)(enosys - i - 1));
	i++;
	out[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, X32_OWN_LAST, (uint8_t)(enosys - i - 1),
					      (uint8_t)(end - i - 1));
	i++;
	out[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	out[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
	return i;
}

/* System V IPC objects outlive their processes: refused where nothing bounds them (seccomp.h). */
static int add_no_sysv_ipc(scmp_filter_ctx ctx, struct err **errp)
{
	static const char *const gets[] = { "shmget", "msgget", "semget" };
	/* ipc()'s call numbers (linux/ipc.h) for 32-bit x86's multiplexer */
	static const unsigned ipc_gets[] = { 2 /* SEMGET */, 13 /* MSGGET */, 23 /* SHMGET */ };
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(gets); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), seccomp_syscall_resolve_name(gets[i]), 0);
		if (rc < 0 && rc != -EDOM && rc != -EEXIST)
			return err_set(errp, -rc, "seccomp: rule for %s", gets[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ipc_gets); i++) {
		/* the call's low 16 bits; the high ones carry its version */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(ipc), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffUL, ipc_gets[i]));
		if (rc < 0 && rc != -EDOM && rc != -EEXIST)
			return err_set(errp, -rc, "seccomp: rule for ipc");
	}
	return 0;
}

int sess_seccomp_build(struct sock_fprog *prog, bool no_sysv_ipc, struct err **errp)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	auto_close int mfd = -1;
	struct stat st;
	void *insns = NULL;
	int rc;

	if (!ctx)
		return err_set(errp, ENOMEM, "seccomp: init");
	/* Rules added after seccomp_arch_add apply to every arch in ctx. */
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		rc = seccomp_arch_add(ctx, SCMP_ARCH_X86);
		if (rc == 0)
			rc = seccomp_arch_add(ctx, SCMP_ARCH_X32);
		if (rc < 0 && rc != -EEXIST) {
			err_set(errp, -rc, "seccomp: add 32-bit architectures");
			goto out;
		}
	}
	/* A binary tree instead of a linear list: the kernel emulates the
	   filter for every syscall number when it is attached (to build its
	   allow cache), once per spawn; this halves that cost. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* Any other architecture (none expected) is refused outright. */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (add_rules(ctx, errp) < 0 || (no_sysv_ipc && add_no_sysv_ipc(ctx, errp) < 0))
		goto out_err;
	mfd = memfd_create("mcpbox-seccomp", MFD_CLOEXEC);
	if (mfd < 0) {
		err_set(errp, errno, "seccomp: memfd_create");
		goto out_err;
	}
	rc = seccomp_export_bpf(ctx, mfd);
	if (rc < 0) {
		err_set(errp, -rc, "seccomp: export");
		goto out_err;
	}
	if (fstat(mfd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size % (off_t)sizeof(struct sock_filter) ||
	    st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS - (off_t)PREFIX_MAX) {
		err_set(errp, errno ? errno : EINVAL, "seccomp: exported program");
		goto out_err;
	}
	insns = xmalloc(PREFIX_MAX * sizeof(struct sock_filter) + (size_t)st.st_size);
	size_t np = prefix_build(insns);
	if (pread(mfd, (struct sock_filter *)insns + np, (size_t)st.st_size, 0) != st.st_size) {
		free(insns);
		err_set(errp, errno ? errno : EIO, "seccomp: read program");
		goto out_err;
	}
	prog->filter = insns;
	prog->len = (unsigned short)(np + (size_t)st.st_size / sizeof(struct sock_filter));
	seccomp_release(ctx);
	return 0;
out_err:
out:
	seccomp_release(ctx);
	return -1;
}

void sess_seccomp_release(struct sock_fprog *prog)
{
	free(prog->filter);
	prog->filter = NULL;
	prog->len = 0;
}
