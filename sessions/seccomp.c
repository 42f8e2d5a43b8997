/*
 * seccomp.c — build the sandbox's syscall filter with libseccomp and export
 * it as raw BPF (see seccomp.h).
 */
#include "seccomp.h"
#include "../server/common.h"

#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../server/banned.h"

/* Syscalls that return EPERM: they change the host, namespaces or mounts. */
static const char *const eperm_syscalls[] = {
	"mount", "umount", "umount2", "pivot_root", "unshare", "setns",
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open",
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "acct",
	"open_by_handle_at", "name_to_handle_at", "userfaultfd",
	"lookup_dcookie", "iopl", "ioperm", "quotactl", "quotactl_fd",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	"syslog", "vhangup", "nfsservctl",
	"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr",
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
