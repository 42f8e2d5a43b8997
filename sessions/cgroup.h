/**
 * cgroup.h — per-sandbox cgroups (memory, pids, cpu), v1 or v2, internal to
 * sessions/.
 *
 * sess_cgroup_detect() runs once in the server before the zygote is forked;
 * both processes then share the same (copied) struct. Directories are
 * <base>/<id> where <base> is an "mcpbox" directory we created:
 *   v1: <memory mount>/<server's memory cgroup>/mcpbox, same for pids and
 *       cpu (falling back to <mount>/mcpbox);
 *   v2: <parent of the server's cgroup>/mcpbox (a delegated subtree), or
 *       /sys/fs/cgroup/mcpbox when the server sits at the root.
 * When nothing is writable (ordinary user without delegation) detection
 * yields version 0 and every other call is a successful no-op: the caller
 * falls back to rlimits. Ids must already be validated (sess_cgroup_id_ok).
 *
 * The zygote creates, attaches and removes; the server reads counters and
 * changes limits (it runs as the same uid). No state besides the paths.
 */
#ifndef MCPBOX_SESS_CGROUP_H
#define MCPBOX_SESS_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../server/base/err.h"

struct sess_limits;

struct sess_cgroup {
	int version;		/* 1, 2, or 0: no usable cgroups */
	bool memory;		/* per-sandbox memory controller usable */
	bool pids;		/* per-sandbox pids controller usable */
	bool cpu;		/* per-sandbox cpu controller usable (CFS bandwidth) */
	bool memsw;		/* v1 memory.memsw.* exists (limit swap too) */
	char *mem_base;		/* ".../mcpbox" for memory (v2: the one base) */
	char *pids_base;	/* ".../mcpbox" for pids (v2: same as mem_base) */
	char *cpu_base;		/* ".../mcpbox" for cpu (v2: same as mem_base) */
	char *acct_base;	/* v1: ".../mcpbox" for cpuacct when it is a hierarchy of its own
				   (not mounted with cpu), for the sandboxes' CPU time; else NULL */
};

/*
 * Fill cg (never fails: degrades to version 0). Release with
 * sess_cgroup_release. cpus: the CPUs the server may use; the sandboxes'
 * common cpu cgroup weighs as much as that many busy processes, so that
 * grouping them does not shrink their share of a busy host to one process's.
 */
void sess_cgroup_detect(struct sess_cgroup *cg, unsigned cpus);
void sess_cgroup_release(struct sess_cgroup *cg);
/* Fill dst with a copy of src that owns its own paths. */
void sess_cgroup_copy(struct sess_cgroup *dst, const struct sess_cgroup *src);

/* An id usable as a directory name and hostname: [A-Za-z0-9_.-], 1..64 bytes, not "." / "..". */
bool sess_cgroup_id_ok(const char *id);

/* Create <base>/<id> for each controller and apply l. */
int sess_cgroup_create(const struct sess_cgroup *cg, const char *id,
		       const struct sess_limits *l, struct err **errp);
/* Move pid into the sandbox's cgroups. */
int sess_cgroup_attach(const struct sess_cgroup *cg, const char *id, pid_t pid,
		       struct err **errp);
/* Change memory / pids / cpu limits (0 = unlimited). */
int sess_cgroup_set_limits(const struct sess_cgroup *cg, const char *id,
			   const struct sess_limits *l, struct err **errp);
/* rmdir the sandbox's cgroups: 0 when all gone, -1 with errno (EBUSY: retry later). */
int sess_cgroup_remove(const struct sess_cgroup *cg, const char *id);
/* rmdir every empty <base>/<x> left over by a previous run. */
void sess_cgroup_cleanup_stale(const struct sess_cgroup *cg);

/* Counters; -1 (errno) when not available. */
int sess_cgroup_oom_kills(const struct sess_cgroup *cg, const char *id, uint64_t *n);
int sess_cgroup_memory_current(const struct sess_cgroup *cg, const char *id, uint64_t *n);
int sess_cgroup_pids_current(const struct sess_cgroup *cg, const char *id, uint64_t *n);
/*
 * Every sandbox together (the common <base> cgroup): memory charged now, and
 * CPU time used since the base was made in ns (v2 cpu.stat, or v1 cpuacct.usage
 * where cpuacct is mounted with cpu). Each -1 (errno) when not available.
 */
int sess_cgroup_base_memory(const struct sess_cgroup *cg, uint64_t *bytes);
int sess_cgroup_base_cpu_ns(const struct sess_cgroup *cg, uint64_t *ns);

#endif
