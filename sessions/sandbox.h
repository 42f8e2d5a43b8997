/**
 * sandbox.h — isolated sandboxes: the zygote that creates them and the
 * server-side handle of each sandbox's worker.
 *
 * Processes (see docs/architecture.md):
 *
 *   mcpbox (server, loop thread) ──SEQPACKET──▶ zygote (forked at start-up,
 *        single-threaded) ──clone(NEWUSER|NEWPID|NEWNS|NEWNET|NEWIPC|NEWUTS|NEWCGROUP)──▶
 *        worker (PID 1 of the sandbox) ──fork──▶ sandboxed programs
 *
 * The zygote answers each create request with the worker's control socket
 * (SCM_RIGHTS). From then on the server talks to the worker directly:
 * spawn a program, signal it, hear its exit and resource usage.
 *
 * Inside a sandbox: the host's /usr, /bin, /lib*, /sbin, /etc are bind-mounted
 * read-only, the session workspace read-write at /workspace, a private tmpfs
 * at /tmp, a private /proc and a minimal /dev. The display's X socket
 * directory (/tmp/.X11-unix) and framebuffer directory (/run/mcpbox/display)
 * are tmpfs mounts of the sandbox's own: nothing of a display is on the host. Programs run as uid/gid 1000
 * with no capabilities, no_new_privs and a seccomp filter (sessions/seccomp.c).
 *
 * Threads: sess_zygote_start() must run before any thread exists. Everything
 * else runs on the loop thread only.
 */
#ifndef MCPBOX_SESS_SANDBOX_H
#define MCPBOX_SESS_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "../server/base/err.h"

/** Resource limits. 0 means "no limit" for every field. */
struct sess_limits {
	uint64_t memory_bytes;	/* whole sandbox: cgroup memory limit; else RLIMIT_AS per process */
	uint32_t max_pids;	/* whole sandbox: cgroup pids.max; else RLIMIT_NPROC */
	uint32_t cpu_millis;	/* whole sandbox: CPU bandwidth in thousandths of a CPU (cgroup
				   cpu quota); only with a cpu controller (sess_host_info) */
	uint32_t cpu_seconds;	/* RLIMIT_CPU per spawned process */
	uint64_t file_bytes;	/* RLIMIT_FSIZE per spawned process */
	uint32_t open_files;	/* RLIMIT_NOFILE per spawned process */
	uint64_t data_bytes;	/* RLIMIT_DATA per spawned process, only without a memory cgroup: the
				   bound of a program RLIMIT_AS would stop (Chromium reserves tens of
				   GiB of address space it never uses); 0: none */
};

/**
 * Memory that no process holds, which the sandbox keeps until it ends: its
 * /tmp and its /dev/shm (two tmpfs mounts, fixed at creation) and its
 * System V shared memory (its IPC namespace's shmall and shmmax). Each gets
 * this size for a memory limit: a quarter of the limit, at least
 * SESS_SCRATCH_MIN, so that all three full still leave a quarter to
 * processes (with a memory cgroup, the OOM killer then finds what it needs
 * in the program that asked, never in the worker, PID 1); 0 for no memory
 * limit (the kernel's defaults: half the host's RAM for a tmpfs). Each
 * tmpfs also holds at most size / SESS_SCRATCH_BYTES_PER_INODE files. Any
 * thread.
 */
#define SESS_SCRATCH_MIN (8ull << 20)
#define SESS_SCRATCH_BYTES_PER_INODE 4096
uint64_t sess_scratch_bytes(uint64_t memory_bytes);

/**
 * inotify instances and watches one sandbox may hold (its user namespace's
 * limits; the host user's own limits still apply on top).
 */
#define SESS_INOTIFY_INSTANCES "32"
#define SESS_INOTIFY_WATCHES "16384"

/**
 * System V message queues and semaphores of one sandbox (its IPC
 * namespace's msgmni, and kernel.sem as "semmsl semmns semopm semmni"):
 * both outlive the processes that made them, in kernel memory. The
 * kernel's defaults allow 32000 queues (about 1 GiB with their messages)
 * and 10^9 semaphores (tens of GiB).
 */
#define SESS_IPC_MSG_QUEUES "32"
#define SESS_IPC_SEM "250 32000 32 128"

/** What the host offers, decided once by sess_zygote_start(). */
struct sess_host_info {
	bool root;		/* the server runs as host root */
	uid_t sandbox_uid;	/* host uid that uid 1000 inside maps to */
	gid_t sandbox_gid;
	bool cgroup_memory;	/* per-sandbox memory cgroup available (v1 or v2) */
	bool cgroup_pids;	/* per-sandbox pids cgroup available */
	bool cgroup_cpu;	/* per-sandbox cpu cgroup (CFS bandwidth) available */
	unsigned cpus;		/* CPUs the server may run on (its affinity mask), at least 1 */
	int cgroup_version;	/* 1, 2, or 0 when no cgroups are usable */
};

struct sess_zygote;
struct sess_worker;

/**
 * Fork the zygote. Call before any thread exists (libuv's pool included).
 * The zygote closes every fd but its socket and stderr, so no sandbox can
 * inherit the server's stdout. Returns -1 with *errp on failure.
 */
int sess_zygote_start(struct sess_zygote **zp, struct err **errp);
/** Start watching the zygote socket on loop. */
void sess_zygote_attach(struct sess_zygote *z, uv_loop_t *loop);
const struct sess_host_info *sess_zygote_host(const struct sess_zygote *z);
/**
 * What every sandbox together uses, from their common cgroup: memory now,
 * CPU time so far (ns). Each -1 when cgroups cannot tell (no cgroup, v1
 * without cpuacct beside cpu).
 */
int sess_zygote_memory(const struct sess_zygote *z, uint64_t *bytes);
int sess_zygote_cpu_ns(const struct sess_zygote *z, uint64_t *ns);
/** Ask the zygote to exit, reap it, and free z. Workers already created stay. */
void sess_zygote_free(struct sess_zygote *z);

struct sess_sandbox_opts {
	const char *id;		/* session id: names the cgroup and the hostname */
	const char *workspace;	/* host directory, mounted read-write at /workspace;
				   sess_zygote_create makes it owned by the sandbox uid */
	bool network;		/* true: user-mode networking out (sessions/netns.h); false: lo only */
	struct sess_limits limits;
	/* The owner (API key) whose sandboxes share one cpu share (cgroup.h), or
	   NULL for none yet (the warm pool: sess_zygote_assign later). Any text:
	   it only names the group through a hash. */
	const char *owner;
	uint32_t owner_cpu_millis;	/* all of the owner's sandboxes together: CPU cap in thousandths of a
					   CPU (cgroup quota on their group); 0: none */
};

/**
 * Called on the loop thread when a create request finished. On success w is a
 * new worker owned by the callee and err is NULL; on failure w is NULL and the
 * callee owns err.
 */
typedef void (*sess_created_cb)(void *arg, struct sess_worker *w, struct err *err);

/** Ask for a new sandbox; cb runs later (never from inside this call). */
int sess_zygote_create(struct sess_zygote *z, const struct sess_sandbox_opts *o,
		       sess_created_cb cb, void *arg, struct err **errp);

/**
 * Sandbox w now belongs to owner (a warm-pool sandbox a session took): its
 * processes move into owner's cgroup group (capped at owner_cpu_millis, 0:
 * none) with limits l, so that it shares owner's CPU from now on. Nothing to
 * do without cgroups or when w is in owner's group already. -1 when the move
 * failed (some processes may be left behind: free w).
 */
int sess_zygote_assign(struct sess_zygote *z, struct sess_worker *w, const char *owner, uint32_t owner_cpu_millis,
		       const struct sess_limits *l, struct err **errp);

/** How a spawned program ended. */
struct sess_exit {
	int status;		/* waitpid() status */
	uint64_t cpu_ms;	/* user + system time of the program and its waited-for children */
	uint64_t max_rss_kb;
	bool oom_killed;	/* killed by the memory cgroup's OOM killer */
};

typedef void (*sess_exit_cb)(void *arg, uint64_t exec_id, const struct sess_exit *ex);

struct sess_spawn {
	const char *const *argv;	/* argv[0]: absolute path inside the sandbox */
	const char *const *envp;	/* complete environment */
	const char *cwd;		/* inside the sandbox; NULL = /workspace */
	int fds[8];			/* fds[i] becomes fd i in the program (0, 1, 2 and
					   extra fds 3.. for code and results); -1 = /dev/null
					   for 0..2, closed for 3..; the caller keeps its fds */
	int nfds;			/* how many entries of fds are used (>= 3) */
	struct sess_limits limits;	/* rlimits for this program */
	/* Nonzero: the program gets a new pty of the sandbox's devpts as its
	   controlling terminal and fds 0..2 (rows x cols, each 1..SESS_PTY_MAX);
	   fds[3] must then be one end of a SOCK_SEQPACKET pair over which the
	   child sends a struct sess_msg_pty and the master (proto.h), and
	   nfds must be 4. */
	int pty_rows, pty_cols;
};
#define SESS_PTY_MAX 1000

/**
 * Start a program in the sandbox in a new session/process group. cb runs
 * exactly once when it exits (also when the worker dies: then status says
 * SIGKILL), unless sess_worker_free() comes first. *exec_id names it for
 * sess_worker_kill(). A program that cannot be executed exits with status 127
 * after writing the reason to its fd 2.
 */
int sess_worker_spawn(struct sess_worker *w, const struct sess_spawn *s, sess_exit_cb cb,
		      void *arg, uint64_t *exec_id, struct err **errp);

/**
 * Send sig to the whole process group of exec_id (no-op if it is gone). Works
 * after the exit report too, as long as other members of the group live.
 */
int sess_worker_kill(struct sess_worker *w, uint64_t exec_id, int sig, struct err **errp);

/**
 * The same, and every process whose session is the program's (a terminal's
 * program is a session leader: the job-control groups of a shell on it).
 */
int sess_worker_kill_session(struct sess_worker *w, uint64_t exec_id, int sig, struct err **errp);

/** exec_id starts counting OOM kills from now (a program started ahead of its use). */
void sess_worker_rebase(struct sess_worker *w, uint64_t exec_id);

/** Change the sandbox-wide limits (cgroup memory / pids / cpu) after creation. */
int sess_worker_set_limits(struct sess_worker *w, const struct sess_limits *l, struct err **errp);

struct sess_usage {
	uint64_t memory_bytes;	/* current cgroup memory use, 0 if unknown */
	uint32_t pids;		/* processes in the sandbox, worker included */
};
int sess_worker_usage(struct sess_worker *w, struct sess_usage *u, struct err **errp);

/**
 * A connection's socket (fd >= 0, non-blocking, connect maybe still in
 * progress: wait for writability and check SO_ERROR; the callee owns it), or
 * err (owned by the callee; fd -1).
 */
typedef void (*sess_connect_cb)(void *arg, int fd, struct err *err);
/**
 * Ask the worker to open a TCP connection to port on the sandbox's loopback
 * (127.0.0.1, or ::1 with ipv6) from inside its network namespace and pass
 * the socket back: the server never joins the sandbox's namespaces and no
 * other network path into the sandbox exists. cb runs exactly once (also
 * when the worker dies or is freed: then with an error), unless cancelled
 * first. *req_id names the request for sess_worker_connect_cancel().
 */
int sess_worker_connect(struct sess_worker *w, unsigned port, bool ipv6, sess_connect_cb cb, void *arg,
			uint64_t *req_id, struct err **errp);
/** cb will not run for req_id; the socket, if it comes, is closed. */
void sess_worker_connect_cancel(struct sess_worker *w, uint64_t req_id);

/** Called when the worker dies on its own (not after sess_worker_free). */
void sess_worker_on_death(struct sess_worker *w, void (*cb)(void *arg), void *arg);

/** Host pid of the worker (PID 1 inside). */
pid_t sess_worker_pid(const struct sess_worker *w);

/** Whether the sandbox has a memory cgroup (else its memory bound is RLIMIT_AS per process). */
bool sess_worker_memory_cgroup(const struct sess_worker *w);

/**
 * Kill everything in the sandbox, close the control socket and free w. No
 * callback of w runs after this. The zygote reaps the worker and removes its
 * cgroups.
 */
void sess_worker_free(struct sess_worker *w);

#endif
