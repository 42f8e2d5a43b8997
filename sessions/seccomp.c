/*
 * seccomp.c — build the sandbox's syscall filter with libseccomp and export
 * it as raw BPF (see seccomp.h).
 */
#include "seccomp.h"
#include "../server/base/common.h"

#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/base/banned.h"

/* Syscalls that return EPERM (docs/security.md lists them with reasons). */
static const char *const eperm_syscalls[] = {
	/* mounts and namespaces */
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns", "chroot",
	"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "sethostname", "setdomainname",
	/* the kernel itself: modules, kexec, reboot, swap, accounting, time */
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "create_module", "query_module", "get_kernel_syms",
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "stime", "syslog", "vhangup", "nfsservctl",
	"quotactl", "quotactl_fd", "lookup_dcookie", "iopl", "ioperm",
	"vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl",
	/* large kernel attack surface the sandbox does not need */
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "fanotify_init",
	"open_by_handle_at", "name_to_handle_at",
	/* other processes' memory and the machine's memory placement */
	"process_vm_readv", "process_vm_writev", "kcmp",
	"move_pages", "migrate_pages", "mbind", "set_mempolicy", "get_mempolicy",
	"set_mempolicy_home_node",
	/* never implemented on x86-64: refuse rather than trust ENOSYS */
	"afs_syscall", "tuxcall", "security", "vserver", "putpmsg", "getpmsg",
};

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
	for (size_t i = 0; i < ARRAY_SIZE(clone_ns_flags); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
		if (rc < 0)
			return err_set(errp, -rc, "seccomp: rule for clone");
	}
	return 0;
}

int sess_seccomp_build(struct sock_fprog *prog, struct err **errp)
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
	if (add_rules(ctx, errp) < 0)
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
	    st.st_size / (off_t)sizeof(struct sock_filter) > 65535) {
		err_set(errp, errno ? errno : EINVAL, "seccomp: exported program");
		goto out_err;
	}
	insns = xmalloc((size_t)st.st_size);
	if (pread(mfd, insns, (size_t)st.st_size, 0) != st.st_size) {
		free(insns);
		err_set(errp, errno ? errno : EIO, "seccomp: read program");
		goto out_err;
	}
	prog->filter = insns;
	prog->len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
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
