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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define CG_ROOT "/sys/fs/cgroup"

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

static char *v1_base(const char *controller)
{
	struct buf b = BUF_INIT;
	auto_free char *own = own_cgroup(controller);

	buf_addf(&b, CG_ROOT "/%s", controller);
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

static void detect_v2(struct sess_cgroup *cg)
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
	buf_addf(&b, CG_ROOT "%s", strcmp(own, "/") ? own : "");
	buf_addf(&f, "%s/cgroup.subtree_control", b.data);
	if (!file_has_word(f.data, "memory") && !file_has_word(f.data, "pids") &&
	    !file_has_word(f.data, "cpu"))
		goto out;
	buf_adds(&b, "/mcpbox");
	if (!base_usable(b.data))
		goto out;
	buf_reset(&f);
	buf_addf(&f, "%s/cgroup.subtree_control", b.data);
	write_str(f.data, "+memory");
	write_str(f.data, "+pids");
	write_str(f.data, "+cpu");
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
static char *v1_acct_base(const char *cpu_base)
{
	char *acct = v1_base("cpuacct");
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

void sess_cgroup_detect(struct sess_cgroup *cg, unsigned cpus)
{
	memset(cg, 0, sizeof(*cg));
	if (access(CG_ROOT "/cgroup.controllers", F_OK) == 0) {
		detect_v2(cg);
	} else {
		cg->mem_base = v1_base("memory");
		cg->pids_base = v1_base("pids");
		cg->cpu_base = v1_base("cpu");
		cg->memory = cg->mem_base != NULL;
		cg->pids = cg->pids_base != NULL;
		cg->cpu = cg->cpu_base && v1_has_bandwidth(cg->cpu_base);
		if (!cg->cpu) {
			free(cg->cpu_base);
			cg->cpu_base = NULL;
		}
		cg->acct_base = v1_acct_base(cg->cpu_base);
		if (cg->memory || cg->pids || cg->cpu || cg->acct_base)
			cg->version = 1;
		if (cg->memory) {
			struct buf b = BUF_INIT;
			buf_addf(&b, "%s/memory.memsw.limit_in_bytes", cg->mem_base);
			cg->memsw = access(b.data, F_OK) == 0;
			buf_release(&b);
		}
	}
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

static char *cg_file(const char *base, const char *id, const char *file)
{
	struct buf b = BUF_INIT;

	buf_addf(&b, "%s/%s%s%s", base, id, file ? "/" : "", file ? file : "");
	return buf_detach(&b);
}

static int cg_write(const char *base, const char *id, const char *file, const char *val,
		    struct err **errp)
{
	auto_free char *p = cg_file(base, id, file);

	if (write_str(p, val) < 0)
		return err_set(errp, errno, "cgroup: set %s", file);
	return 0;
}

static int set_memory(const struct sess_cgroup *cg, const char *id, uint64_t bytes,
		      struct err **errp)
{
	char v[32];

	if (cg->version == 2) {
		snprintf(v, sizeof(v), bytes ? "%" PRIu64 : "max", bytes);
		if (cg_write(cg->mem_base, id, "memory.max", v, errp) < 0)
			return -1;
		/* No swap: the limit means what it says, and OOM comes promptly. */
		cg_write(cg->mem_base, id, "memory.swap.max", bytes ? "0" : "max", NULL);
		return 0;
	}
	snprintf(v, sizeof(v), bytes ? "%" PRIu64 : "-1", bytes);
	if (!cg->memsw)
		return cg_write(cg->mem_base, id, "memory.limit_in_bytes", v, errp);
	/* memsw must stay >= limit: lower limit first, raise memsw first. */
	if (cg_write(cg->mem_base, id, "memory.limit_in_bytes", v, NULL) == 0) {
		return cg_write(cg->mem_base, id, "memory.memsw.limit_in_bytes", v, errp);
	}
	if (cg_write(cg->mem_base, id, "memory.memsw.limit_in_bytes", v, errp) < 0)
		return -1;
	return cg_write(cg->mem_base, id, "memory.limit_in_bytes", v, errp);
}

static int set_pids(const struct sess_cgroup *cg, const char *id, uint32_t n, struct err **errp)
{
	char v[32];

	snprintf(v, sizeof(v), n ? "%" PRIu32 : "max", n);
	return cg_write(cg->pids_base, id, "pids.max", v, errp);
}

/*
 * CFS bandwidth: millis thousandths of a CPU are a quota of millis * period /
 * 1000 in every period. The kernel's default period (100 ms) lets a 0.5 CPU
 * session run 50 ms, then wait 50 ms.
 */
#define CPU_PERIOD_US 100000

static int set_cpu(const struct sess_cgroup *cg, const char *id, uint32_t millis, struct err **errp)
{
	uint64_t quota = (uint64_t)millis * CPU_PERIOD_US / 1000;
	char v[64];

	if (cg->version == 2) {
		if (millis)
			snprintf(v, sizeof(v), "%" PRIu64 " %u", quota, CPU_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %u", CPU_PERIOD_US);
		return cg_write(cg->cpu_base, id, "cpu.max", v, errp);
	}
	snprintf(v, sizeof(v), "%u", CPU_PERIOD_US);
	if (cg_write(cg->cpu_base, id, "cpu.cfs_period_us", v, errp) < 0)
		return -1;
	snprintf(v, sizeof(v), millis ? "%" PRIu64 : "-1", quota);
	return cg_write(cg->cpu_base, id, "cpu.cfs_quota_us", v, errp);
}

int sess_cgroup_set_limits(const struct sess_cgroup *cg, const char *id,
			   const struct sess_limits *l, struct err **errp)
{
	if (cg->memory && set_memory(cg, id, l->memory_bytes, errp) < 0)
		return -1;
	if (cg->pids && set_pids(cg, id, l->max_pids, errp) < 0)
		return -1;
	if (cg->cpu && set_cpu(cg, id, l->cpu_millis, errp) < 0)
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

int sess_cgroup_create(const struct sess_cgroup *cg, const char *id,
		       const struct sess_limits *l, struct err **errp)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);

	for (size_t i = 0; i < n; i++) {
		auto_free char *p = cg_file(bases[i], id, NULL);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return err_set(errp, errno, "cgroup: create");
	}
	if (cg->memory && l->memory_bytes && set_memory(cg, id, l->memory_bytes, errp) < 0)
		return -1;
	if (cg->pids && l->max_pids && set_pids(cg, id, l->max_pids, errp) < 0)
		return -1;
	if (cg->cpu && l->cpu_millis && set_cpu(cg, id, l->cpu_millis, errp) < 0)
		return -1;
	return 0;
}

int sess_cgroup_attach(const struct sess_cgroup *cg, const char *id, pid_t pid,
		       struct err **errp)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);
	char v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	for (size_t i = 0; i < n; i++)
		if (cg_write(bases[i], id, "cgroup.procs", v, errp) < 0)
			return -1;
	return 0;
}

int sess_cgroup_remove(const struct sess_cgroup *cg, const char *id)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);
	int ret = 0, e = 0;

	for (size_t i = 0; i < n; i++) {
		auto_free char *p = cg_file(bases[i], id, NULL);
		if (rmdir(p) < 0 && errno != ENOENT) {
			ret = -1;
			e = errno;
		}
	}
	errno = e;
	return ret;
}

/* Another mcpbox may share the base: leave young directories alone (one
   being created is empty until its worker is attached, a few ms later). */
#define STALE_AGE_S 30

static void cleanup_base(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !sess_cgroup_id_ok(de->d_name) ||
		    !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime > now.tv_sec - STALE_AGE_S)
			continue;
		/* Only empty cgroups go: rmdir fails with EBUSY otherwise. */
		if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
			log_info("cgroup: removed stale sandbox cgroup %s", de->d_name);
	}
	closedir(d);
}

void sess_cgroup_cleanup_stale(const struct sess_cgroup *cg)
{
	const char *bases[CG_MAX_BASES];
	size_t n = cg_bases(cg, bases);

	for (size_t i = 0; i < n; i++)
		cleanup_base(bases[i]);
}

/* Value of "key N" in a flat keyed file, or of a single-number file (key NULL). */
static int read_counter(const char *base, const char *id, const char *file, const char *key,
			uint64_t *n)
{
	auto_free char *p = cg_file(base, id, file);
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

int sess_cgroup_oom_kills(const struct sess_cgroup *cg, const char *id, uint64_t *n)
{
	if (!cg->memory) {
		errno = ENOTSUP;
		return -1;
	}
	if (cg->version == 2)
		return read_counter(cg->mem_base, id, "memory.events", "oom_kill", n);
	return read_counter(cg->mem_base, id, "memory.oom_control", "oom_kill", n);
}

int sess_cgroup_memory_current(const struct sess_cgroup *cg, const char *id, uint64_t *n)
{
	if (!cg->memory) {
		errno = ENOTSUP;
		return -1;
	}
	return read_counter(cg->mem_base, id,
			    cg->version == 2 ? "memory.current" : "memory.usage_in_bytes", NULL, n);
}

int sess_cgroup_base_memory(const struct sess_cgroup *cg, uint64_t *bytes)
{
	return sess_cgroup_memory_current(cg, "", bytes);
}

int sess_cgroup_base_cpu_ns(const struct sess_cgroup *cg, uint64_t *ns)
{
	uint64_t v;
	if (cg->acct_base)
		return read_counter(cg->acct_base, "", "cpuacct.usage", NULL, ns);
	if (!cg->cpu) {
		errno = ENOTSUP;
		return -1;
	}
	if (cg->version == 2) {
		if (read_counter(cg->cpu_base, "", "cpu.stat", "usage_usec", &v) < 0)
			return -1;
		*ns = v * 1000;
		return 0;
	}
	return read_counter(cg->cpu_base, "", "cpuacct.usage", NULL, ns);
}

int sess_cgroup_pids_current(const struct sess_cgroup *cg, const char *id, uint64_t *n)
{
	if (!cg->pids) {
		errno = ENOTSUP;
		return -1;
	}
	return read_counter(cg->pids_base, id, "pids.current", NULL, n);
}
