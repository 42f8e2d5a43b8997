/**
 * cgroup.h — per-sandbox cgroups (memory, pids, cpu), v1 or v2, grouped per
 * owner (API key), internal to sessions/.
 *
 * sess_cgroup_detect() runs once in the server before the zygote is forked;
 * both processes then share the same (copied) struct. A sandbox's cgroup is
 * <base>/<group>/<id>, where <base> is an "mcpbox" directory we created:
 *   v1: <memory mount>/<server's memory cgroup>/mcpbox, same for pids and
 *       cpu (falling back to <mount>/mcpbox);
 *   v2: <parent of the server's cgroup>/mcpbox (a delegated subtree), or
 *       <root>/mcpbox when the server sits at the root.
 * and <group> is its owner's (sess_cgroup_group_name): the groups are
 * siblings of equal cpu weight, so each owner's busy sandboxes together get
 * the same share of the CPU as another's, however many they are; a group may
 * also be capped (CFS bandwidth). Sandboxes that belong to nobody yet (the
 * warm pool) sit in the group SESS_CGROUP_POOL until a session takes one
 * (sess_cgroup_move). A group goes with its last sandbox.
 * When nothing is writable (ordinary user without delegation) detection
 * yields version 0 and every other call is a successful no-op: the caller
 * falls back to rlimits. Ids and groups must already be validated
 * (sess_cgroup_id_ok); they never come from a user's text.
 *
 * The zygote creates, attaches and removes; the server reads counters,
 * changes limits and moves a taken pool sandbox (it runs as the same uid).
 * No state besides the paths.
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

/* Where the cgroup filesystems are mounted. */
#define SESS_CGROUP_ROOT "/sys/fs/cgroup"
/*
 * Fill cg (never fails: degrades to version 0). Release with
 * sess_cgroup_release. root: where the cgroup filesystems are mounted
 * (SESS_CGROUP_ROOT; v2 when root/cgroup.controllers exists, else v1's
 * root/<controller>); the server's own cgroups are read from
 * /proc/self/cgroup. cpus: the CPUs the server may use; the sandboxes'
 * common cpu cgroup weighs as much as that many busy processes, so that
 * grouping them does not shrink their share of a busy host to one process's.
 */
void sess_cgroup_detect(struct sess_cgroup *cg, const char *root, unsigned cpus);
void sess_cgroup_release(struct sess_cgroup *cg);
/* Fill dst with a copy of src that owns its own paths. */
void sess_cgroup_copy(struct sess_cgroup *dst, const struct sess_cgroup *src);

/* An id usable as a directory name and hostname: [A-Za-z0-9_.-], 1..64 bytes, not "." / "..". */
bool sess_cgroup_id_ok(const char *id);

/* The group of sandboxes that belong to no owner yet (the warm pool). */
#define SESS_CGROUP_POOL "pool"
/* Room for a group name and its NUL. */
#define SESS_CGROUP_GROUP_SIZE 40
/*
 * The group of owner's sandboxes: "key-" and 32 hex digits of the SHA-256 of
 * owner (whatever the owner's text, the name is safe and fixed), or
 * SESS_CGROUP_POOL for NULL. -1 only when the digest fails.
 */
int sess_cgroup_group_name(const char *owner, char out[SESS_CGROUP_GROUP_SIZE], struct err **errp);

/*
 * Create <base>/<group> (capped at group_cpu_millis thousandths of a CPU,
 * 0: none) and <base>/<group>/<id> for each controller, and apply l.
 */
int sess_cgroup_create(const struct sess_cgroup *cg, const char *group, uint32_t group_cpu_millis,
		       const char *id, const struct sess_limits *l, struct err **errp);
/* Move pid into the sandbox's cgroups. */
int sess_cgroup_attach(const struct sess_cgroup *cg, const char *group, const char *id, pid_t pid,
		       struct err **errp);
/*
 * Move every process of sandbox id from group from to group to (made as
 * sess_cgroup_create does, with l), then remove its cgroups in from. Memory
 * the processes were charged before stays charged where it was (the kernel
 * does not move it). -1 when a process cannot be moved or they fork faster
 * than they move: then some may be left in from.
 */
int sess_cgroup_move(const struct sess_cgroup *cg, const char *from, const char *to, uint32_t to_cpu_millis,
		     const char *id, const struct sess_limits *l, struct err **errp);
/*
 * Change memory / pids / cpu limits (0 = unlimited). Under v1 a sandbox's CPU
 * cap never exceeds its group's (the kernel refuses that): it is lowered to it.
 */
int sess_cgroup_set_limits(const struct sess_cgroup *cg, const char *group, const char *id,
			   const struct sess_limits *l, struct err **errp);
/*
 * rmdir the sandbox's cgroups, then its group if no other sandbox is in it:
 * 0 when the sandbox's are all gone, -1 with errno (EBUSY: retry later).
 */
int sess_cgroup_remove(const struct sess_cgroup *cg, const char *group, const char *id);
/* rmdir every empty <base>/<group>/<x> and <base>/<group> left over by a previous run. */
void sess_cgroup_cleanup_stale(const struct sess_cgroup *cg);

/* Counters; -1 (errno) when not available. */
int sess_cgroup_oom_kills(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n);
int sess_cgroup_memory_current(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n);
int sess_cgroup_pids_current(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n);
/*
 * Every sandbox together (the common <base> cgroup): memory charged now, and
 * CPU time used since the base was made in ns (v2 cpu.stat, or v1 cpuacct.usage
 * where cpuacct is mounted with cpu). Each -1 (errno) when not available.
 */
int sess_cgroup_base_memory(const struct sess_cgroup *cg, uint64_t *bytes);
int sess_cgroup_base_cpu_ns(const struct sess_cgroup *cg, uint64_t *ns);

#endif
