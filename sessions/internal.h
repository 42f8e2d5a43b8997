/**
 * internal.h — glue between the files of the sandbox machinery; not for use
 * outside sessions/ (the public contract is sandbox.h).
 *
 *   zygote.c       server-side zygote client + the zygote process
 *   sandbox_init.c the cloned child: set-up, then PID 1 worker loop
 *   worker.c       server-side struct sess_worker
 */
#ifndef MCPBOX_SESS_INTERNAL_H
#define MCPBOX_SESS_INTERNAL_H

#include <stdbool.h>
#include <linux/filter.h>
#include <sys/types.h>
#include <uv.h>

#include "cgroup.h"
#include "../server/base/err.h"

/** What the cloned child needs; all fds are inherited from the zygote. */
struct sess_child_args {
	int ctl_fd;		/* worker end of the control socket */
	int go_fd;		/* read end: one byte once maps + cgroups are in place */
	int status_fd;		/* write end: 'K' on success, 'E' + message on failure */
	int keep_fd;		/* zygote's server socket: closed by the child first */
	const char *id;		/* validated session id (hostname) */
	const char *workspace;	/* host path */
	bool network;
	uint64_t scratch_bytes;	/* size of /tmp and of /dev/shm each, 0: the kernel's default */
	const struct sock_fprog *filter;	/* seccomp program, built once by the zygote */
};

/** Runs in the cloned child; never returns (exit status 0 / 1). */
__attribute__((noreturn)) void sess_sandbox_child(const struct sess_child_args *a);

/**
 * Wrap a worker control socket (taken over) in a struct sess_worker on loop.
 * cg may be NULL or a version-0 struct when the sandbox has no cgroups; group
 * names the cgroup group the sandbox sits in (cgroup.h).
 */
struct sess_worker *sess_worker_new(uv_loop_t *loop, int fd, pid_t pid, const char *id, const char *group,
				    const struct sess_cgroup *cg, struct err **errp);
const char *sess_worker_id(const struct sess_worker *w);
const char *sess_worker_group(const struct sess_worker *w);
/**
 * Move w's processes into group (sess_cgroup_move) and count it there from
 * now on, even when the move failed part-way. No-op without cgroups.
 */
int sess_worker_move(struct sess_worker *w, const char *group, uint32_t group_cpu_millis, const struct sess_limits *l,
		     struct err **errp);

#endif
