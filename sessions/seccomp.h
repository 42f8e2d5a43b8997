/**
 * seccomp.h — the syscall filter every sandboxed program runs under.
 * Internal to sessions/; used by the worker (sandbox_init.c).
 *
 * Default allow; every call Docker's default profile refuses to a container
 * without added capabilities fails with EPERM (namespace, mount, module,
 * kexec, keyring, bpf, perf, clock, pidfd_getfd, AF_ALG sockets, ...), and a
 * few more (docs/security.md lists them); clone3 gets ENOSYS so glibc falls
 * back to clone, where CLONE_NEW* flags get EPERM, and so do calls newer than
 * the last one reviewed. ptrace stays allowed (gdb, strace). The same rules cover x86_64, x32 and i386 so a
 * 32-bit syscall cannot bypass them; any other architecture is killed.
 *
 * The worker builds the BPF program once (sess_seccomp_build) and each
 * spawned child installs it with prctl(PR_SET_SECCOMP) after
 * PR_SET_NO_NEW_PRIVS, right before execve: no libseccomp work per spawn.
 */
#ifndef MCPBOX_SESS_SECCOMP_H
#define MCPBOX_SESS_SECCOMP_H

#include <linux/filter.h>
#include <stdbool.h>

#include "../server/base/err.h"

/**
 * Build the filter into prog (heap-allocated instructions). With no_sysv_ipc,
 * shmget, msgget and semget (and their forms through 32-bit ipc()) answer
 * ENOSYS, as on a kernel without System V IPC: for hosts where nothing can
 * bound what they keep after every process is gone (no memory cgroup, and
 * not root, so the IPC namespace's limits cannot be set: zygote.c).
 */
int sess_seccomp_build(struct sock_fprog *prog, bool no_sysv_ipc, struct err **errp);
void sess_seccomp_release(struct sock_fprog *prog);

#endif
