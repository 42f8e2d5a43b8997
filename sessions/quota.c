#include "quota.h"
#include "catalog.h"
#include "run.h"
#include "trash.h"
#include "../server/base/log.h"
#include "../server/base/common.h"
#include "../server/base/config.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

/* per workspace: a walk costs the pool a bounded time and fds; what it cannot see
   cannot be hidden there, since a workspace past either bound counts as over quota */
#define DU_MAX_DEPTH 256
#define DU_MAX_ENTRIES (4u << 20)

bool sess_quota_applies(const char *principal)
{
	return principal && !sess_principal_admin(principal) && strcmp(principal, "local") != 0;
}

/* One walk of the registry: what principal holds, and executions running on the whole server. */
struct tally {
	const char *principal;	/* NULL: no quota to count for */
	struct sess_held mine;
	uint64_t running;
	const char *unmeasured;	/* one of its sessions whose workspace could not be measured */
	uint64_t entries;	/* in its workspaces, as last measured */
	uint64_t trash_bytes;	/* of it, in destroyed workspaces not yet removed (trash.h) */
};

static void tally_session(void *arg, struct sess_session *s)
{
	struct tally *t = arg;

	t->running += s->running;
	if (!t->principal || !srv_principal_owned_by(t->principal, s->owner))
		return;
	t->mine.sessions++;
	if (s->state != SESS_STOPPED && s->state != SESS_FAILED)
		t->mine.memory_bytes += s->limits.memory_bytes;
	t->mine.executions += s->running;
	t->mine.disk_bytes += s->disk_bytes;
	t->entries += s->disk_entries;
	if (s->disk_unmeasured)
		t->unmeasured = s->id;
}

/* What principal holds: its sessions, and its destroyed workspaces until they are removed. */
static void tally(struct sess_registry *reg, struct tally *t)
{
	uint64_t entries;

	sess_foreach(reg, NULL, tally_session, t);
	if (!t->principal)
		return;
	sess_trash_held(t->principal, &t->trash_bytes, &entries);
	t->mine.disk_bytes += t->trash_bytes;
	t->entries += entries;
}

int sess_quota_check(struct sess_registry *reg, const char *principal, const struct sess_held *add,
		     struct err **errp)
{
	const struct srv_quota *q = &sess_registry_config(reg)->quota;
	struct tally t = { .principal = sess_quota_applies(principal) ? principal : NULL };

	if (!t.principal && !add->executions)
		return 0;
	tally(reg, &t);
	if (add->executions && q->server_executions && t.running + add->executions > q->server_executions)
		/* the whole server's bound holds for everyone: it keeps fds and CPU for the work already admitted */
		return err_setc(errp, err_class_of(EAGAIN), 0, "the server runs %" PRIu64 " executions, its maximum (quota "
			       "server_executions); try again when one has finished", t.running);
	if (!t.principal)
		return 0;
	if (add->snapshots || add->snapshot_bytes)
		for (struct sess_snap *sn = *sess_registry_snaps(reg); sn; sn = sn->next)
			if (srv_principal_owned_by(principal, sn->owner)) {
				t.mine.snapshots++;
				t.mine.snapshot_bytes += sn->bytes;
			}
	if (add->disk_bytes && (q->disk_bytes || q->inodes) && t.unmeasured)
		return err_setc(errp, ERR_LIMIT, 0, "quota: the workspace of session %s cannot be measured (directories nested "
			       "deeper than %d levels, or more than %u entries), so it counts as over this key's disk "
			       "quota: remove some", t.unmeasured, DU_MAX_DEPTH, DU_MAX_ENTRIES);
	if (add->disk_bytes && q->disk_bytes && t.mine.disk_bytes + add->disk_bytes > q->disk_bytes) {
		if (t.mine.disk_bytes >= q->disk_bytes)
			return err_setc(errp, ERR_LIMIT, 0, "quota: this key's workspaces take %" PRIu64 " MiB of disk; its "
				       "quota is %" PRIu64 " MiB (delete files or sessions; use is measured every %" PRIu64
				       " s)%s", t.mine.disk_bytes >> 20, q->disk_bytes >> 20, q->disk_scan_s,
				       t.trash_bytes ? "; destroyed sessions count until their workspaces are removed, "
				       "in the background" : "");
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key's workspaces take %" PRIu64 " MiB of disk; %" PRIu64
			       " bytes more would pass its quota of %" PRIu64 " MiB (delete files or sessions)",
			       t.mine.disk_bytes >> 20, add->disk_bytes, q->disk_bytes >> 20);
	}
	if (add->disk_bytes && q->inodes && t.entries >= q->inodes)
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key's workspaces hold %" PRIu64 " files and directories; "
			       "its quota is %" PRIu64 " (quota.inodes): delete files or sessions (use is measured every %"
			       PRIu64 " s)", t.entries, q->inodes, q->disk_scan_s);
	const char *free_one = "remove one, or ask the operator for a larger quota";
	const struct quota_field {
		const char *what;
		uint64_t want, held, max;
		bool bytes;
		const char *hint;
	} fields[] = {
		{ "sessions", add->sessions, t.mine.sessions, q->sessions, false, free_one },
		{ "memory", add->memory_bytes, t.mine.memory_bytes, q->memory_bytes, true,
		  "stop or destroy a session, or ask the operator for a larger quota" },
		{ "running executions", add->executions, t.mine.executions, q->executions, false, "wait for one to finish" },
		{ "snapshots", add->snapshots, t.mine.snapshots, q->snapshots, false, free_one },
		{ "snapshots (apparent sizes of their files)", add->snapshot_bytes, t.mine.snapshot_bytes,
		  q->snapshot_bytes, true, "delete snapshots, or ask the operator for a larger quota" },
	};
	for (const struct quota_field *f = fields; f < fields + ARRAY_SIZE(fields); f++) {
		if (!f->want || !f->max || f->held + f->want <= f->max)
			continue;
		if (f->bytes && f->held >= f->max)
			return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %" PRIu64 " MiB of %s and holds %" PRIu64
				       " MiB (%s)", f->max >> 20, f->what, f->held >> 20, f->hint);
		if (f->bytes)
			return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %" PRIu64 " MiB of %s; it holds %" PRIu64
				       " MiB and asked for %" PRIu64 " MiB more (%s)", f->max >> 20, f->what, f->held >> 20,
				       f->want >> 20, f->hint);
		return err_setc(errp, ERR_LIMIT, 0, "quota: this key may hold %" PRIu64 " %s and holds %" PRIu64 " (%s)", f->max,
			       f->what, f->held, f->hint);
	}
	return 0;
}

int sess_quota_disk_check(struct sess_registry *reg, struct sess_session *s, const char *principal, uint64_t bytes,
			  struct err **errp)
{
	const struct srv_quota *q = &sess_registry_config(reg)->quota;
	struct sess_held add = { .disk_bytes = bytes ? bytes : 1 };

	if (s->disk_limit && s->disk_unmeasured)
		return err_setc(errp, ERR_LIMIT, 0, "disk: the workspace of session %s cannot be measured (directories "
			       "nested deeper than %d levels, or more than %u entries), so it counts as over its disk "
			       "limit of %" PRIu64 " MiB (disk_mb): remove some", s->id, DU_MAX_DEPTH, DU_MAX_ENTRIES,
			       s->disk_limit >> 20);
	if (s->disk_limit && s->disk_bytes + add.disk_bytes > s->disk_limit) {
		if (s->disk_bytes >= s->disk_limit)
			return err_setc(errp, ERR_LIMIT, 0, "disk: session %s may take %" PRIu64 " MiB of disk (its "
				       "disk_mb) and its workspace takes %" PRIu64 " MiB: delete files, or raise the limit "
				       "with session_update {disk_mb} (use is measured every %" PRIu64 " s)", s->id,
				       s->disk_limit >> 20, s->disk_bytes >> 20, q->disk_scan_busy_s ? q->disk_scan_busy_s
				       : q->disk_scan_s);
		return err_setc(errp, ERR_LIMIT, 0, "disk: session %s may take %" PRIu64 " MiB of disk (its disk_mb); "
			       "its workspace takes %" PRIu64 " MiB, and %" PRIu64 " bytes more would pass the limit",
			       s->id, s->disk_limit >> 20, s->disk_bytes >> 20, add.disk_bytes);
	}
	return sess_quota_check(reg, principal, &add, errp);
}

void sess_quota_disk_add(struct sess_session *s, uint64_t bytes)
{
	s->disk_bytes += bytes;
	s->disk_dirty = true;
}

void sess_quota_disk_add_hidden(struct sess_session *s, uint64_t bytes)
{
	sess_quota_disk_add(s, bytes);
	s->disk_hidden += bytes;
}

void sess_quota_disk_reveal(struct sess_session *s, uint64_t bytes, bool gone)
{
	bytes = bytes < s->disk_hidden ? bytes : s->disk_hidden;
	s->disk_hidden -= bytes;
	if (gone)
		s->disk_bytes -= bytes < s->disk_bytes ? bytes : s->disk_bytes;
	s->disk_dirty = true;
}

/* What one entry counts for in a measure: its blocks, at least SESS_DISK_ENTRY_BYTES. */
static uint64_t entry_bytes(const struct stat *st)
{
	uint64_t b = (uint64_t)st->st_blocks * 512;
	return b > SESS_DISK_ENTRY_BYTES ? b : SESS_DISK_ENTRY_BYTES;
}

void sess_quota_disk_removed(struct sess_session *s, const struct stat *st)
{
	uint64_t b = entry_bytes(st);

	s->disk_bytes -= b < s->disk_bytes ? b : s->disk_bytes;
	if (s->disk_entries)
		s->disk_entries--;
	s->disk_dirty = true;
}

/* ---- disk use ------------------------------------------------------------------ */

struct du_item {
	char id[64];
	int fd;			/* the workspace, opened for the walk (which closes it) */
	uint64_t bytes;
	uint64_t entries;
	bool incomplete;	/* the walk met DU_MAX_DEPTH or DU_MAX_ENTRIES */
};

struct du_walk {
	uint64_t budget;	/* entries left: DU_MAX_ENTRIES - budget were seen */
	bool incomplete;
};

struct du_scan {
	uv_work_t req;
	struct du_item *items;
	size_t n;
};

static struct {
	struct sess_registry *reg;
	uv_timer_t timer;	/* every workspace, every disk_scan_s */
	uv_timer_t busy_timer;	/* those being written, every disk_scan_busy_s */
	bool on, busy, busy_on;
	sess_quota_over_fn over;	/* who else runs executions (kernel cells) */
} Q;

void sess_quota_set_over_hook(sess_quota_over_fn fn)
{
	Q.over = fn;
}

/* s's running executions are killed: its programs here, the others (kernel cells) by the hook */
static void stop_over(struct sess_session *s, enum sess_over why)
{
	sess_run_stop_over_quota(s, why);
	if (Q.over)
		Q.over(s, why);
}

/* Bytes beneath dfd (which this closes), never following a symlink or leaving it: allocated
   blocks, each entry counting at least SESS_DISK_ENTRY_BYTES (entry_bytes), also one that
   vanished while walked. The entries seen are what w's budget lost. */
static uint64_t du_dir(int dfd, int depth, struct du_walk *w)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	uint64_t total = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!w->budget) {
			w->incomplete = true;
			break;
		}
		w->budget--;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			total += SESS_DISK_ENTRY_BYTES;
			continue;
		}
		total += entry_bytes(&st);
		if (!S_ISDIR(st.st_mode))
			continue;
		if (depth + 1 >= DU_MAX_DEPTH) {
			w->incomplete = true;
			continue;
		}
		int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd >= 0)
			total += du_dir(cfd, depth + 1, w);
	}
	closedir(d);
	return total;
}

static void du_run(uv_work_t *req)
{
	struct du_scan *sc = req->data;
	/* a bound per workspace: one full of entries never leaves another unmeasured */
	for (size_t i = 0; i < sc->n; i++) {
		struct du_walk w = { .budget = DU_MAX_ENTRIES };
		sc->items[i].bytes = du_dir(sc->items[i].fd, 0, &w);
		sc->items[i].entries = DU_MAX_ENTRIES - w.budget;
		sc->items[i].incomplete = w.incomplete;
		sc->items[i].fd = -1;
	}
}

struct stop_key {
	const char *owner;
	enum sess_over why;
};

static void stop_runs(void *arg, struct sess_session *s)
{
	const struct stop_key *k = arg;

	if (s->running && !strcmp(s->owner, k->owner))
		stop_over(s, k->why);
}

/* A session found over its own disk limit while its programs write: they are killed. */
static void enforce_session(struct sess_session *s)
{
	if (!s->disk_limit || !s->running || (s->disk_bytes < s->disk_limit && !s->disk_unmeasured))
		return;
	log_warn("disk: session %s takes %" PRIu64 " MiB of disk, over its limit of %" PRIu64 " MiB: its %u running "
		 "executions are killed", s->id, s->disk_bytes >> 20, s->disk_limit >> 20, s->running);
	stop_over(s, SESS_OVER_SESSION_DISK);
}

/* A key found over its disk quota (bytes or entries) while its programs write: they are
   killed, so what it takes past the quota is what it wrote since the last scan. */
static void enforce(const char *owner)
{
	const struct srv_quota *q = &sess_registry_config(Q.reg)->quota;
	struct tally t = { .principal = owner };
	struct stop_key k = { .owner = owner, .why = SESS_OVER_KEY_DISK };

	if ((!q->disk_bytes && !q->inodes) || !sess_quota_applies(owner))
		return;
	tally(Q.reg, &t);
	if (!t.mine.executions)
		return;
	if (q->disk_bytes && (t.mine.disk_bytes >= q->disk_bytes || t.unmeasured))
		log_warn("quota: key %s takes %" PRIu64 " MiB of disk, over its quota of %" PRIu64
			 " MiB: its %" PRIu64 " running executions are killed", owner, t.mine.disk_bytes >> 20,
			 q->disk_bytes >> 20, t.mine.executions);
	else if (q->inodes && (t.entries >= q->inodes || t.unmeasured)) {
		k.why = SESS_OVER_KEY_ENTRIES;
		log_warn("quota: key %s holds %" PRIu64 " files and directories, over its quota of %" PRIu64
			 " (quota.inodes): its %" PRIu64 " running executions are killed", owner, t.entries,
			 q->inodes, t.mine.executions);
	} else
		return;
	sess_foreach(Q.reg, NULL, stop_runs, &k);
}

static void du_done(uv_work_t *req, int status)
{
	struct du_scan *sc = req->data;
	char **owners = xcalloc(sc->n + 1, sizeof(*owners));
	size_t nowners = 0;

	for (size_t i = 0; i < sc->n; i++) {
		struct sess_session *s = Q.on && status == 0 ? sess_find(Q.reg, sc->items[i].id, NULL) : NULL;
		if (s) {
			s->disk_bytes = sc->items[i].bytes + s->disk_hidden; /* uploads not yet named: the walk saw none */
			s->disk_entries = sc->items[i].entries;
			s->disk_unmeasured = sc->items[i].incomplete;
			enforce_session(s);
			size_t k = 0;
			while (k < nowners && strcmp(owners[k], s->owner))
				k++;
			if (k == nowners)
				owners[nowners++] = xstrdup(s->owner);
		}
		if (sc->items[i].fd >= 0)
			close(sc->items[i].fd);
	}
	free(sc->items);
	free(sc);
	Q.busy = false;
	for (size_t k = 0; k < nowners; k++) {
		enforce(owners[k]);
		free(owners[k]);
	}
	free(owners);
}

static void collect(void *arg, struct sess_session *s)
{
	struct du_scan *sc = arg;
	const struct srv_quota *q = &sess_registry_config(Q.reg)->quota;
	/* without a key quota, only sessions with a limit of their own need measuring */
	if (s->wsfd < 0 || (!q->disk_bytes && !q->inodes && !s->disk_limit))
		return;
	/* a new open file, not a dup: a directory stream's offset is shared by dups */
	int fd = openat(s->wsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	sc->items = xrealloc(sc->items, (sc->n + 1) * sizeof(*sc->items));
	struct du_item *it = &sc->items[sc->n++];
	snprintf(it->id, sizeof(it->id), "%s", s->id);
	it->fd = fd;
	it->bytes = 0;
	it->entries = 0;
}

/* Only the workspaces being written: executions running or ended since. */
static void collect_busy(void *arg, struct sess_session *s)
{
	if (!s->running && !s->disk_dirty)
		return;
	collect(arg, s);
	s->disk_dirty = false;
}

static void scan(uv_loop_t *loop, void (*pick)(void *arg, struct sess_session *s))
{
	if (Q.busy)
		return; /* the last walk is still going: never two at once */
	struct du_scan *sc = xcalloc(1, sizeof(*sc));
	sess_foreach(Q.reg, NULL, pick, sc);
	if (!sc->n) {
		free(sc);
		return;
	}
	sc->req.data = sc;
	Q.busy = true;
	if (uv_queue_work(loop, &sc->req, du_run, du_done) < 0) {
		du_run(&sc->req);
		du_done(&sc->req, 0);
	}
}

static void du_tick(uv_timer_t *t)
{
	scan(t->loop, collect);
}

static void du_busy_tick(uv_timer_t *t)
{
	scan(t->loop, collect_busy);
}

void sess_quota_start(struct sess_registry *reg, uv_loop_t *loop)
{
	const struct srv_config *cfg = sess_registry_config(reg);
	const struct srv_quota *q = &cfg->quota;
	/* measured for the key quota, or for sessions' own limits (limits.disk: some may be asked for) */
	if ((!q->disk_bytes && !q->inodes && !cfg->disk_bytes.def && !cfg->disk_bytes.max) || !q->disk_scan_s)
		return;
	Q.reg = reg;
	Q.on = true;
	uv_timer_init(loop, &Q.timer);
	uv_timer_start(&Q.timer, du_tick, q->disk_scan_s * 1000, q->disk_scan_s * 1000);
	uv_unref((uv_handle_t *)&Q.timer);
	if (q->disk_scan_busy_s) {
		Q.busy_on = true;
		uv_timer_init(loop, &Q.busy_timer);
		uv_timer_start(&Q.busy_timer, du_busy_tick, q->disk_scan_busy_s * 1000, q->disk_scan_busy_s * 1000);
		uv_unref((uv_handle_t *)&Q.busy_timer);
	}
}

void sess_quota_stop(void)
{
	if (!Q.on)
		return;
	Q.on = false;
	uv_timer_stop(&Q.timer);
	uv_close((uv_handle_t *)&Q.timer, NULL);
	if (Q.busy_on) {
		Q.busy_on = false;
		uv_timer_stop(&Q.busy_timer);
		uv_close((uv_handle_t *)&Q.busy_timer, NULL);
	}
}
