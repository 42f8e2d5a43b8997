/*
 * cgroup.c — per-sandbox memory/pids/cpu cgroups (see cgroup.h).
 *
 * Kept as plain file operations on paths so the zygote (creator) and the
 * server (reader) can both use it without sharing any state.
 */
#include "cgroup.h"
#include "sandbox.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../server/base/banned.h"

bool sess_cgroup_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 64 || !strcmp(id, ".") || !strcmp(id, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* One read or write on a freshly opened file: its count, or -1 with errno. */
static ssize_t file_io(const char *path, int flags, void *buf, size_t len)
{
	int fd = open(path, flags | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -1;
	n = flags == O_RDONLY ? read(fd, buf, len) : write(fd, buf, len);
	e = errno;
	close(fd);
	errno = e;
	return n;
}

/* Read a whole small file into a NUL-terminated buffer; -1 with errno. */
static int read_small(const char *path, char *out, size_t cap)
{
	ssize_t n = file_io(path, O_RDONLY, out, cap - 1);

	if (n < 0)
		return -1;
	out[n] = '\0';
	return 0;
}

static int write_str(const char *path, const char *s)
{
	return file_io(path, O_WRONLY, (void *)s, strlen(s)) < 0 ? -1 : 0;
}

/* Is name one of the comma-separated controllers of a v1 hierarchy ("cpu,cpuacct")? */
static bool names_controller(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* The server's own cgroup path for a v1 controller ("memory") or v2 (""). */
static char *own_cgroup(const char *controller)
{
	char line[4096];
	char *res = NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return NULL;
	while (!res && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		c2[strcspn(c2 + 1, "\n") + 1] = '\0';
		if (!*controller ? (c1[1] == '\0' && !strncmp(line, "0", 1))
				 : names_controller(c1 + 1, controller))
			res = xstrdup(c2 + 1);
	}
	fclose(f);
	return res;
}

/* mkdir base (ok if it exists) and check we can create and write in it. */
static bool base_usable(const char *base)
{
	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return false;
	return access(base, W_OK | X_OK) == 0;
}

static char *v1_base(const char *root, const char *controller)
{
	struct buf b = BUF_INIT;
	auto_free char *own = own_cgroup(controller);

	buf_addf(&b, "%s/%s", root, controller);
	if (access(b.data, F_OK) < 0) {
		buf_release(&b);
		return NULL;
	}
	/* Nest under our own cgroup so the host's limits on us cover sandboxes. */
	if (own && strcmp(own, "/")) {
		struct buf nb = BUF_INIT;
		buf_addf(&nb, "%s%s/mcpbox", b.data, own);
		if (base_usable(nb.data)) {
			buf_release(&b);
			return buf_detach(&nb);
		}
		buf_release(&nb);
	}
	buf_adds(&b, "/mcpbox");
	if (base_usable(b.data))
		return buf_detach(&b);
	buf_release(&b);
	return NULL;
}

/* CFS bandwidth control (CONFIG_CFS_BANDWIDTH) in a v1 cpu hierarchy. */
static bool v1_has_bandwidth(const char *base)
{
	struct buf b = BUF_INIT;
	bool ok;

	buf_addf(&b, "%s/cpu.cfs_quota_us", base);
	ok = access(b.data, W_OK) == 0;
	buf_release(&b);
	return ok;
}

static bool file_has_word(const char *path, const char *word)
{
	char data[1024];
	size_t wl = strlen(word);

	if (read_small(path, data, sizeof(data)) < 0)
		return false;
	for (char *p = data; (p = strstr(p, word)); p += wl)
		if ((p == data || p[-1] == ' ' || p[-1] == '+') &&
		    (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
			return true;
	return false;
}

/*
 * v2: give a cgroup's children the controllers asked for, in one write of
 * its cgroup.subtree_control ("+cpu +memory +pids"). The kernel takes that
 * whole or not at all; refused, each is asked for alone, so that one it
 * will not enable (ENOENT: not in the parent's) costs the others nothing.
 * -1 with errno when any is refused.
 */
static int enable_controllers(const char *subtree_control, bool cpu, bool memory, bool pids)
{
	static const char *const names[] = { "+cpu", "+memory", "+pids" };
	const bool on[] = { cpu, memory, pids };
	struct buf b = BUF_INIT;
	int ret = 0, e = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (on[i])
			buf_addf(&b, "%s%s", b.len ? " " : "", names[i]);
	if (b.len && write_str(subtree_control, b.data) < 0)
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			if (on[i] && write_str(subtree_control, names[i]) < 0) {
				ret = -1;
				e = errno;
			}
	buf_release(&b);
	errno = e;
	return ret;
}

static void detect_v2(struct sess_cgroup *cg, const char *root)
{
	auto_free char *own = own_cgroup("");
	struct buf b = BUF_INIT, f = BUF_INIT;
	char *slash;

	if (!own)
		return;
	/* The parent of our cgroup (we may not put controllers in our own: it
	   has processes — "no internal processes" rule). */
	slash = strrchr(own, '/');
	if (slash && slash != own)
		*slash = '\0';
	else
		own[1] = '\0';
	buf_addf(&b, "%s%s", root, strcmp(own, "/") ? own : "");
	buf_addf(&f, "%s/cgroup.subtree_control", b.data);
	bool cpu = file_has_word(f.data, "cpu"), memory = file_has_word(f.data, "memory"),
	     pids = file_has_word(f.data, "pids");
	if (!memory && !pids && !cpu)
		goto out;
	buf_adds(&b, "/mcpbox");
	if (!base_usable(b.data))
		goto out;
	buf_reset(&f);
	buf_addf(&f, "%s/cgroup.subtree_control", b.data);
	/* what the parent hands down; what is on afterwards is what counts (another
	   mcpbox on the base may have done it already) */
	if (enable_controllers(f.data, cpu, memory, pids) < 0)
		log_warn("cgroup: cannot enable controllers in %s: %s", b.data, strerror(errno));
	cg->memory = file_has_word(f.data, "memory");
	cg->pids = file_has_word(f.data, "pids");
	cg->cpu = file_has_word(f.data, "cpu");
	if (cg->memory || cg->pids || cg->cpu) {
		cg->version = 2;
		cg->mem_base = buf_detach(&b);
		cg->pids_base = xstrdup(cg->mem_base);
		cg->cpu_base = xstrdup(cg->mem_base);
	}
out:
	buf_release(&b);
	buf_release(&f);
}

/*
 * v1 cpuacct, for the sandboxes' CPU time: where it is mounted with cpu
 * ("cpu,cpuacct") cpu_base has cpuacct.usage already; mounted on its own the
 * sandboxes need a cgroup there too. NULL when cpu_base serves, or without it.
 */
static char *v1_acct_base(const char *root, const char *cpu_base)
{
	char *acct = v1_base(root, "cpuacct");
	if (!acct)
		return NULL;
	auto_free char *a = realpath(acct, NULL), *c = cpu_base ? realpath(cpu_base, NULL) : NULL;
	struct buf f = BUF_INIT;
	buf_addf(&f, "%s/cpuacct.usage", acct);
	bool usable = access(f.data, R_OK) == 0;
	buf_release(&f);
	if (!usable || !a || (c && !strcmp(a, c))) {
		free(acct);
		return NULL;
	}
	return acct;
}

/* The base's weight among its siblings: one default process's per CPU. */
static void set_base_weight(const struct sess_cgroup *cg, unsigned cpus)
{
	struct buf f = BUF_INIT;
	char v[32];

	if (cg->version == 2) {
		buf_addf(&f, "%s/cpu.weight", cg->cpu_base);
		snprintf(v, sizeof(v), "%u", cpus * 100 > 10000 ? 10000 : cpus * 100);
	} else {
		buf_addf(&f, "%s/cpu.shares", cg->cpu_base);
		snprintf(v, sizeof(v), "%u", cpus * 1024);
	}
	if (write_str(f.data, v) < 0)
		log_warn("cgroup: cannot set the weight of %s: %s", cg->cpu_base, strerror(errno));
	buf_release(&f);
}

void sess_cgroup_detect(struct sess_cgroup *cg, const char *root, unsigned cpus)
{
	struct buf v2 = BUF_INIT;

	memset(cg, 0, sizeof(*cg));
	buf_addf(&v2, "%s/cgroup.controllers", root);
	if (access(v2.data, F_OK) == 0) {
		detect_v2(cg, root);
	} else {
		cg->mem_base = v1_base(root, "memory");
		cg->pids_base = v1_base(root, "pids");
		cg->cpu_base = v1_base(root, "cpu");
		cg->memory = cg->mem_base != NULL;
		cg->pids = cg->pids_base != NULL;
		cg->cpu = cg->cpu_base && v1_has_bandwidth(cg->cpu_base);
		if (!cg->cpu) {
			free(cg->cpu_base);
			cg->cpu_base = NULL;
		}
		cg->acct_base = v1_acct_base(root, cg->cpu_base);
		if (cg->memory || cg->pids || cg->cpu || cg->acct_base)
			cg->version = 1;
		if (cg->memory) {
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s/memory.memsw.limit_in_bytes", cg->mem_base);
			cg->memsw = access(b.data, F_OK) == 0;
			buf_release(&b);
		}
	}
	buf_release(&v2);
	if (cg->cpu)
		set_base_weight(cg, cpus);
}

void sess_cgroup_release(struct sess_cgroup *cg)
{
	free(cg->mem_base);
	free(cg->pids_base);
	free(cg->cpu_base);
	free(cg->acct_base);
	memset(cg, 0, sizeof(*cg));
}

void sess_cgroup_copy(struct sess_cgroup *dst, const struct sess_cgroup *src)
{
	*dst = *src;
	dst->mem_base = src->mem_base ? xstrdup(src->mem_base) : NULL;
	dst->pids_base = src->pids_base ? xstrdup(src->pids_base) : NULL;
	dst->cpu_base = src->cpu_base ? xstrdup(src->cpu_base) : NULL;
	dst->acct_base = src->acct_base ? xstrdup(src->acct_base) : NULL;
}

int sess_cgroup_group_name(const char *owner, char out[SESS_CGROUP_GROUP_SIZE], struct err **errp)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!owner) {
		snprintf(out, SESS_CGROUP_GROUP_SIZE, "%s", SESS_CGROUP_POOL);
		return 0;
	}
	if (EVP_Digest(owner, strlen(owner), d, &n, EVP_sha256(), NULL) != 1 || n < 16)
		return err_set(errp, 0, "cgroup: cannot name the owner's group (SHA-256 failed)");
	/* 128 bits: no owner can pick a name that lands in another's group */
	memcpy(out, "key-", 4);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* <base>[/<group>[/<id>]][/<file>] */
static char *cg_path(const char *base, const char *group, const char *id, const char *file)
{
	struct buf b = BUF_INIT;

	buf_adds(&b, base);
	if (group)
		buf_addf(&b, "/%s", group);
	if (id)
		buf_addf(&b, "/%s", id);
	if (file)
		buf_addf(&b, "/%s", file);
	return buf_detach(&b);
}

static int cg_write(const char *base, const char *group, const char *id, const char *file, const char *val,
		    struct err **errp)
{
	auto_free char *p = cg_path(base, group, id, file);

	if (write_str(p, val) < 0)
		return err_set(errp, errno, "cgroup: set %s", file);
	return 0;
}

static int set_memory(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t bytes,
		      struct err **errp)
{
	const char *b = cg->mem_base;
	char v[32];

	if (cg->version == 2) {
		snprintf(v, sizeof(v), bytes ? "%" PRIu64 : "max", bytes);
		if (cg_write(b, group, id, "memory.max", v, errp) < 0)
			return -1;
		/* No swap: the limit means what it says, and OOM comes promptly. */
		cg_write(b, group, id, "memory.swap.max", bytes ? "0" : "max", NULL);
		return 0;
	}
	snprintf(v, sizeof(v), bytes ? "%" PRIu64 : "-1", bytes);
	if (!cg->memsw)
		return cg_write(b, group, id, "memory.limit_in_bytes", v, errp);
	/* memsw must stay >= limit: lower limit first, raise memsw first. */
	if (cg_write(b, group, id, "memory.limit_in_bytes", v, NULL) == 0)
		return cg_write(b, group, id, "memory.memsw.limit_in_bytes", v, errp);
	if (cg_write(b, group, id, "memory.memsw.limit_in_bytes", v, errp) < 0)
		return -1;
	return cg_write(b, group, id, "memory.limit_in_bytes", v, errp);
}

static int set_pids(const struct sess_cgroup *cg, const char *group, const char *id, uint32_t n,
		    struct err **errp)
{
	char v[32];

	snprintf(v, sizeof(v), n ? "%" PRIu32 : "max", n);
	return cg_write(cg->pids_base, group, id, "pids.max", v, errp);
}

/*
 * CFS bandwidth: millis thousandths of a CPU are a quota of millis * period /
 * 1000 in every period. The kernel's default period (100 ms) lets a 0.5 CPU
 * session run 50 ms, then wait 50 ms. Groups and sandboxes use the same
 * period, so their quotas compare as they are.
 */
#define CPU_PERIOD_US 100000

/* The CPU quota of a v1 group in µs a period, 0 for none (or unreadable). */
static uint64_t v1_group_quota(const struct sess_cgroup *cg, const char *group)
{
	auto_free char *p = cg_path(cg->cpu_base, group, NULL, "cpu.cfs_quota_us");
	char v[32];
	long long q;

	if (read_small(p, v, sizeof(v)) < 0)
		return 0;
	q = strtoll(v, NULL, 10);
	return q > 0 ? (uint64_t)q : 0;
}

/* The CPU cap of a group (id NULL) or of a sandbox in it. */
static int set_cpu(const struct sess_cgroup *cg, const char *group, const char *id, uint32_t millis,
		   struct err **errp)
{
	uint64_t quota = (uint64_t)millis * CPU_PERIOD_US / 1000;
	char v[64];

	if (cg->version == 2) {
		if (millis)
			snprintf(v, sizeof(v), "%" PRIu64 " %u", quota, CPU_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %u", CPU_PERIOD_US);
		return cg_write(cg->cpu_base, group, id, "cpu.max", v, errp);
	}
	/* v1 refuses a child more than its parent (v2 takes the smaller) */
	uint64_t parent = id ? v1_group_quota(cg, group) : 0;
	if (parent && millis && quota > parent)
		quota = parent;
	snprintf(v, sizeof(v), "%u", CPU_PERIOD_US);
	if (cg_write(cg->cpu_base, group, id, "cpu.cfs_period_us", v, errp) < 0)
		return -1;
	snprintf(v, sizeof(v), millis ? "%" PRIu64 : "-1", quota);
	return cg_write(cg->cpu_base, group, id, "cpu.cfs_quota_us", v, errp);
}

int sess_cgroup_set_limits(const struct sess_cgroup *cg, const char *group, const char *id,
			   const struct sess_limits *l, struct err **errp)
{
	if (cg->memory && set_memory(cg, group, id, l->memory_bytes, errp) < 0)
		return -1;
	if (cg->pids && set_pids(cg, group, id, l->max_pids, errp) < 0)
		return -1;
	if (cg->cpu && set_cpu(cg, group, id, l->cpu_millis, errp) < 0)
		return -1;
	return 0;
}

/*
 * The directories of a sandbox's cgroups: one per v1 controller in use (and
 * cpuacct mounted on its own), the one shared directory under v2. Returns how
 * many it put in dirs.
 */
#define CG_MAX_BASES 4
static size_t cg_bases(const struct sess_cgroup *cg, const char *dirs[CG_MAX_BASES])
{
	size_t n = 0;

	if (cg->version == 2) {
		dirs[n++] = cg->mem_base;
		return n;
	}
	if (cg->memory)
		dirs[n++] = cg->mem_base;
	if (cg->pids)
		dirs[n++] = cg->pids_base;
	if (cg->cpu)
		dirs[n++] = cg->cpu_base;
	if (cg->acct_base)
		dirs[n++] = cg->acct_base;
	return n;
}

/* v2: a group hands its sandboxes the controllers the base has (each time:
   another mcpbox on the base may have made the group a moment ago). A group
   that is gone meanwhile is made again by the caller. */
static int group_enable_controllers(const struct sess_cgroup *cg, const char *group, struct err **errp)
{
	auto_free char *p = cg_path(cg->mem_base, group, NULL, "cgroup.subtree_control");

	if (enable_controllers(p, cg->cpu, cg->memory, cg->pids) < 0 && errno != ENOENT)
		return err_set(errp, errno, "cgroup: enable the controllers in the group");
	return 0;
}

/*
 * mkdir <base>/<group>/<id> in every hierarchy, and the group when it is not
 * there. Whoever removes a group that has just become empty (our zygote, or
 * another mcpbox on the same base) may do so between our two mkdirs: then
 * the group is made again.
 */
#define CG_MKDIR_TRIES 4
static int make_dirs(const struct sess_cgroup *cg, const char *group, const char *id, struct err **errp)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);

	for (size_t i = 0; i < n; i++) {
		auto_free char *g = cg_path(bases[i], group, NULL, NULL);
		auto_free char *p = cg_path(bases[i], group, id, NULL);
		int tries = 0;
		for (;;) {
			if (mkdir(g, 0755) < 0 && errno != EEXIST)
				return err_set(errp, errno, "cgroup: create the group");
			if (cg->version == 2 && group_enable_controllers(cg, group, errp) < 0)
				return -1;
			if (mkdir(p, 0755) == 0 || errno == EEXIST)
				break;
			if (errno != ENOENT || ++tries == CG_MKDIR_TRIES)
				return err_set(errp, errno, "cgroup: create");
		}
	}
	return 0;
}

/* The group's CPU cap, written each time a sandbox joins (another mcpbox on
   the base may have written its own); not being able to is no reason to
   refuse the sandbox, but it is said. */
static void set_group_cpu(const struct sess_cgroup *cg, const char *group, uint32_t millis)
{
	struct err *e = NULL;

	if (cg->cpu && set_cpu(cg, group, NULL, millis, &e) < 0) {
		log_warn("cgroup: cannot cap the CPU of group %s: %s", group, err_text(e));
		err_free(e);
	}
}

int sess_cgroup_create(const struct sess_cgroup *cg, const char *group, uint32_t group_cpu_millis,
		       const char *id, const struct sess_limits *l, struct err **errp)
{
	if (make_dirs(cg, group, id, errp) < 0)
		return -1;
	set_group_cpu(cg, group, group_cpu_millis);
	if (cg->memory && l->memory_bytes && set_memory(cg, group, id, l->memory_bytes, errp) < 0)
		return -1;
	if (cg->pids && l->max_pids && set_pids(cg, group, id, l->max_pids, errp) < 0)
		return -1;
	if (cg->cpu && l->cpu_millis && set_cpu(cg, group, id, l->cpu_millis, errp) < 0)
		return -1;
	return 0;
}

int sess_cgroup_attach(const struct sess_cgroup *cg, const char *group, const char *id, pid_t pid,
		       struct err **errp)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < n; i++)
		if (cg_write(bases[i], group, id, "cgroup.procs", v, errp) < 0)
			return -1;
	return 0;
}

/*
 * Move what is in from's cgroup.procs to to's until from is empty: a process
 * forked meanwhile is born where its parent was, and the next pass takes it.
 * (A pid read here that exits before its write could only name another
 * process once the kernel's pids have wrapped around in between.) 0, or -1
 * with errno (EBUSY: still not empty after every pass).
 */
#define CG_MOVE_PASSES 16
static int move_procs(const char *from, const char *to)
{
	auto_free char *src = cg_path(from, NULL, NULL, "cgroup.procs");
	auto_free char *dst = cg_path(to, NULL, NULL, "cgroup.procs");

	for (int pass = 0; pass < CG_MOVE_PASSES; pass++) {
		FILE *f = fopen(src, "re");
		char line[32];
		size_t moved = 0;
		if (!f)
			return errno == ENOENT ? 0 : -1;	/* gone with its sandbox */
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			/* one that exited meanwhile is no failure */
			if (write_str(dst, line) < 0 && errno != ESRCH) {
				int e = errno;
				fclose(f);
				errno = e;
				return -1;
			}
			moved++;
		}
		fclose(f);
		if (!moved)
			return 0;
	}
	errno = EBUSY;
	return -1;
}

int sess_cgroup_move(const struct sess_cgroup *cg, const char *from, const char *to, uint32_t to_cpu_millis,
		     const char *id, const struct sess_limits *l, struct err **errp)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);

	if (sess_cgroup_create(cg, to, to_cpu_millis, id, l, errp) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		auto_free char *src = cg_path(bases[i], from, id, NULL);
		auto_free char *dst = cg_path(bases[i], to, id, NULL);
		if (move_procs(src, dst) < 0)
			return err_set(errp, errno, "cgroup: move the sandbox into its owner's group");
	}
	sess_cgroup_remove(cg, from, id);	/* the zygote tries again later if it cannot yet */
	return 0;
}

int sess_cgroup_remove(const struct sess_cgroup *cg, const char *group, const char *id)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);
	int ret = 0, e = 0;

	for (size_t i = 0; i < n; i++) {
		auto_free char *p = cg_path(bases[i], group, id, NULL);
		if (rmdir(p) < 0 && errno != ENOENT) {
			ret = -1;
			e = errno;
			continue;
		}
		/* the group's last sandbox: the group goes too (EBUSY while others remain) */
		auto_free char *g = cg_path(bases[i], group, NULL, NULL);
		rmdir(g);
	}
	errno = e;
	return ret;
}

/* Another mcpbox may share the base: leave young directories alone (one
   being created is empty until its worker is attached, a few ms later). */
#define STALE_AGE_S 30

/* rmdir every empty cgroup in dir older than STALE_AGE_S; depth 1: first
   the sandboxes' in each group. Cgroups hold only cgroups as directories. */
static void cleanup_dir(int parent, const char *name, int depth, time_t before)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_type != DT_DIR || !sess_cgroup_id_ok(de->d_name))
			continue;
		/* its age before its contents go (that may count as a change) */
		bool old = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime <= before;
		if (depth > 0)
			cleanup_dir(dirfd(d), de->d_name, depth - 1, before);
		if (!old)
			continue;
		/* Only empty cgroups go: rmdir fails with EBUSY otherwise. */
		if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
			log_info("cgroup: removed stale cgroup %s%s%s", depth ? "" : name, depth ? "" : "/",
				 de->d_name);
	}
	closedir(d);
}

void sess_cgroup_cleanup_stale(const struct sess_cgroup *cg)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	/* <base>/<group>/<id>, and <base>/<id> as versions before groups made them */
	for (size_t i = 0; i < n; i++)
		cleanup_dir(AT_FDCWD, bases[i], 1, now.tv_sec - STALE_AGE_S);
}

/* Value of "key N" in a flat keyed file, or of a single-number file (key NULL). */
static int read_counter(const char *base, const char *group, const char *id, const char *file,
			const char *key, uint64_t *n)
{
	auto_free char *p = cg_path(base, group, id, file);
	char data[4096];
	const char *at = data;

	if (read_small(p, data, sizeof(data)) < 0)
		return -1;
	if (key) {
		size_t kl = strlen(key);
		at = NULL;
		for (const char *l = data; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			if (!strncmp(l, key, kl) && l[kl] == ' ') {
				at = l + kl + 1;
				break;
			}
		}
		if (!at) {
			errno = ENOENT;
			return -1;
		}
	}
	if (!strncmp(at, "max", 3)) {
		*n = UINT64_MAX;
		return 0;
	}
	*n = strtoull(at, NULL, 10);
	return 0;
}

int sess_cgroup_oom_kills(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n)
{
	if (!cg->memory) {
		errno = ENOTSUP;
		return -1;
	}
	if (cg->version == 2)
		return read_counter(cg->mem_base, group, id, "memory.events", "oom_kill", n);
	return read_counter(cg->mem_base, group, id, "memory.oom_control", "oom_kill", n);
}

int sess_cgroup_memory_current(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n)
{
	if (!cg->memory) {
		errno = ENOTSUP;
		return -1;
	}
	return read_counter(cg->mem_base, group, id,
			    cg->version == 2 ? "memory.current" : "memory.usage_in_bytes", NULL, n);
}

int sess_cgroup_base_memory(const struct sess_cgroup *cg, uint64_t *bytes)
{
	return sess_cgroup_memory_current(cg, NULL, NULL, bytes);
}

int sess_cgroup_base_cpu_ns(const struct sess_cgroup *cg, uint64_t *ns)
{
	uint64_t v;
	if (cg->acct_base)
		return read_counter(cg->acct_base, NULL, NULL, "cpuacct.usage", NULL, ns);
	/* v2's cpu.stat is there whether the cpu controller is on or not */
	if (cg->version == 2) {
		if (read_counter(cg->cpu_base, NULL, NULL, "cpu.stat", "usage_usec", &v) < 0)
			return -1;
		*ns = v * 1000;
		return 0;
	}
	if (!cg->cpu) {
		errno = ENOTSUP;
		return -1;
	}
	return read_counter(cg->cpu_base, NULL, NULL, "cpuacct.usage", NULL, ns);
}

int sess_cgroup_pids_current(const struct sess_cgroup *cg, const char *group, const char *id, uint64_t *n)
{
	if (!cg->pids) {
		errno = ENOTSUP;
		return -1;
	}
	return read_counter(cg->pids_base, group, id, "pids.current", NULL, n);
}
