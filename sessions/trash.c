/*
 * sessions/trash.c — trees thrown away, removed in the background in turns
 * (see trash.h).
 *
 * One FIFO of entries waiting and a list of those being removed. A free
 * thread takes the first waiting entry whose owner has none being removed;
 * that owner's other waiting entries then go to the back of the line, so
 * owners take turns however many entries each has.
 */
#include "trash.h"
#include "btrfs.h"
#include "workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/rights.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "../server/base/banned.h"

struct trash_item {
	uv_work_t req;
	int dirfd;		/* where name is: the trash, or its own parent (a tree that could not move) */
	char *name;
	uint64_t key;		/* its owner's turn */
	char *owner;		/* charged until removed; NULL: no one */
	uint64_t bytes, entries;
	int errnum;		/* of its removal: 0 done */
	TAILQ_ENTRY(trash_item) link;
};
TAILQ_HEAD(trash_items, trash_item);

static struct {
	uv_loop_t *loop;	/* NULL: not open, remove at once */
	int fd;			/* DATA/trash */
	char instance[64];
	uint64_t seq;
	struct trash_items waiting, running;
	unsigned n_running;
	size_t n;
	atomic_bool cancel;
	bool stopped;
	bool warned_move;
} T = { .fd = -1 };

static uint64_t owner_key(const char *owner)
{
	/* a user's keys share their user's turn, as in the fair queue (server/base/pool.c) */
	return owner ? fnv1a(FNV1A_INIT, owner, srv_principal_owner_len(owner)) : 0;
}

static void item_free(struct trash_item *it)
{
	if (it->dirfd != T.fd)
		close(it->dirfd);
	free(it->name);
	free(it->owner);
	free(it);
}

static void remove_run(uv_work_t *req)
{
	struct trash_item *it = req->data;
	struct err *err = NULL;

	if (sess_ws_remove_until(it->dirfd, it->name, &T.cancel, &err) < 0)
		it->errnum = err->errnum ? err->errnum : EIO;
	err_free(err);
}

static void pump(void);

static void remove_done(uv_work_t *req, int status)
{
	struct trash_item *it = req->data;

	TAILQ_REMOVE(&T.running, it, link);
	T.n_running--;
	T.n--;
	if (status == 0 && it->errnum && it->errnum != ENOENT && it->errnum != ECANCELED)
		log_warn("trash: cannot remove %s: %s (the next start tries again)", it->name, strerror(it->errnum));
	item_free(it);
	pump();
}

static bool owner_busy(uint64_t key)
{
	struct trash_item *r;
	TAILQ_FOREACH(r, &T.running, link)
		if (r->key == key)
			return true;
	return false;
}

/* key's owner had its turn: its other waiting entries go behind everyone else's */
static void to_back(uint64_t key)
{
	struct trash_items later = TAILQ_HEAD_INITIALIZER(later);
	struct trash_item *w, *next;

	for (w = TAILQ_FIRST(&T.waiting); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->key == key) {
			TAILQ_REMOVE(&T.waiting, w, link);
			TAILQ_INSERT_TAIL(&later, w, link);
		}
	}
	TAILQ_CONCAT(&T.waiting, &later, link);
}

static void pump(void)
{
	while (!T.stopped && T.n_running < SESS_TRASH_THREADS) {
		struct trash_item *it;
		TAILQ_FOREACH(it, &T.waiting, link)
			if (!owner_busy(it->key))
				break;
		if (!it)
			return;
		TAILQ_REMOVE(&T.waiting, it, link);
		to_back(it->key);
		TAILQ_INSERT_TAIL(&T.running, it, link);
		T.n_running++;
		it->req.data = it;
		if (uv_queue_work(T.loop, &it->req, remove_run, remove_done) < 0) {
			remove_run(&it->req);
			remove_done(&it->req, 0);
			return; /* remove_done pumped */
		}
	}
}

static void queue(int dirfd, const char *name, uint64_t key, const char *owner, uint64_t bytes, uint64_t entries)
{
	struct trash_item *it = xcalloc(1, sizeof(*it));

	it->dirfd = dirfd;
	it->name = xstrdup(name);
	it->key = key;
	it->owner = owner ? xstrdup(owner) : NULL;
	it->bytes = bytes;
	it->entries = entries;
	TAILQ_INSERT_TAIL(&T.waiting, it, link);
	T.n++;
	pump();
}

/* Rename without replacing; where the file system cannot say so (EINVAL), plainly: our names are unique. */
static int move(int fromfd, const char *from, const char *to)
{
	if (renameat2(fromfd, from, T.fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	return errno == EINVAL ? renameat(fromfd, from, T.fd, to) : -1;
}

/* A fresh name of ours in the trash. */
static void next_name(char *out, size_t cap, uint64_t key)
{
	snprintf(out, cap, "%s.%" PRIu64 ".%016" PRIx64, T.instance, T.seq++, key);
}

void sess_trash_put(const char *path, const char *owner, uint64_t bytes, uint64_t entries)
{
	uint64_t key = owner_key(owner);
	char name[128];

	if (!T.loop) {
		auto_err struct err *err = NULL;
		if (sess_ws_remove_at(AT_FDCWD, path, &err) < 0 && err->errnum != ENOENT)
			log_warn("cannot remove %s: %s", path, err_text(err));
		return;
	}
	for (int tries = 0; tries < 8; tries++) {
		next_name(name, sizeof(name), key);
		if (move(AT_FDCWD, path, name) == 0) {
			if (!T.stopped)
				queue(T.fd, name, key, owner, bytes, entries);
			else
				sess_btrfs_subvol_destroy(T.fd, name); /* see sess_trash_stop */
			return;
		}
		if (errno == ENOENT)
			return;
		if (errno != EEXIST)
			break;
	}
	/* another filesystem (DATA/workspaces mounted apart), or a mount point: removed where it is */
	if (!T.warned_move) {
		T.warned_move = true;
		log_warn("trash: cannot move %s into the trash (%s): such trees are removed in place", path,
			 strerror(errno));
	}
	auto_free char *parent = xstrdup(path);
	char *slash = strrchr(parent, '/');
	if (!slash || !slash[1] || T.stopped)
		return;
	*slash = '\0';
	int dirfd = open(slash == parent ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		log_warn("trash: cannot open the directory of %s: %s", path, strerror(errno));
		return;
	}
	queue(dirfd, slash + 1, key, owner, bytes, entries);
}

/* "<instance>.<seq>.<key>": the instance that put it there, and its owner's key (0 if unknown). */
static void parse_name(const char *name, char *instance, size_t cap, uint64_t *key)
{
	const char *dot = strchr(name, '.'), *last = strrchr(name, '.');
	size_t n = dot ? (size_t)(dot - name) : strlen(name);
	char *end;

	snprintf(instance, cap, "%.*s", (int)(n < cap ? n : cap - 1), name);
	*key = 0;
	if (last && strlen(last + 1) == 16) {
		uint64_t k = strtoull(last + 1, &end, 16);
		if (!*end)
			*key = k;
	}
}

/* Take over what gone instances left: a rename makes each ours (another process starting
   at the same time may win it, and then removes it). */
static unsigned sweep(const struct sess_instance *in)
{
	DIR *d = fdopendir(dup(T.fd));
	struct dirent *de;
	unsigned taken = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char instance[64], name[128];
		uint64_t key;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		parse_name(de->d_name, instance, sizeof(instance), &key);
		/* anything not named by a running instance is left over; ours cannot be here yet */
		if (!strncmp(instance, "i_", 2) && sess_instance_alive(in, instance))
			continue;
		next_name(name, sizeof(name), key);
		if (move(T.fd, de->d_name, name) < 0)
			continue;
		queue(T.fd, name, key, NULL, 0, 0);
		taken++;
	}
	closedir(d);
	return taken;
}

int sess_trash_open(uv_loop_t *loop, const char *data_dir, const struct sess_instance *in, struct err **errp)
{
	struct buf path = BUF_INIT;

	buf_addf(&path, "%s/trash", data_dir);
	if (mkdir(path.data, 0700) < 0 && errno != EEXIST) {
		err_set(errp, errno, "mkdir %s", path.data);
		buf_release(&path);
		return -1;
	}
	T.fd = open(path.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (T.fd < 0) {
		err_set(errp, errno, "open %s", path.data);
		buf_release(&path);
		return -1;
	}
	buf_release(&path);
	fchmod(T.fd, 0700);
	snprintf(T.instance, sizeof(T.instance), "%s", sess_instance_id(in));
	TAILQ_INIT(&T.waiting);
	TAILQ_INIT(&T.running);
	atomic_store(&T.cancel, false);
	T.stopped = false;
	T.loop = loop;
	unsigned n = sweep(in);
	if (n)
		log_info("trash: %u trees left by an earlier run are removed in the background", n);
	return 0;
}

void sess_trash_held(const char *principal, uint64_t *bytes, uint64_t *entries)
{
	struct trash_items *lists[] = { &T.waiting, &T.running };
	struct trash_item *it;

	*bytes = *entries = 0;
	if (!T.loop)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		TAILQ_FOREACH(it, lists[i], link)
			if (it->owner && srv_principal_owned_by(principal, it->owner)) {
				*bytes += it->bytes;
				*entries += it->entries;
			}
}

size_t sess_trash_pending(void)
{
	return T.n;
}

void sess_trash_stop(void)
{
	struct trash_item *it;

	if (!T.loop || T.stopped)
		return;
	T.stopped = true;
	atomic_store(&T.cancel, true);
	/* a btrfs subvolume goes whole with one ioctl (the kernel frees its extents later): none
	   outlives the server; a tree to walk waits for the next start */
	while ((it = TAILQ_FIRST(&T.waiting))) {
		TAILQ_REMOVE(&T.waiting, it, link);
		T.n--;
		sess_btrfs_subvol_destroy(it->dirfd, it->name);
		item_free(it);
	}
}

void sess_trash_close(void)
{
	if (!T.loop)
		return;
	sess_trash_stop();
	/* a removal still running (the loop was not run to its end) keeps its item: leak it, not free it under the thread */
	TAILQ_INIT(&T.running);
	T.n_running = 0;
	T.n = 0;
	if (T.fd >= 0)
		close(T.fd);
	T.fd = -1;
	T.loop = NULL;
}
