#include "workspace.h"
#include "btrfs.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

int sess_ws_create(const char *path, bool for_overlay, struct err **errp)
{
	if (sess_btrfs_enforced() && !for_overlay) {
		auto_err struct err *err = NULL;
		if (sess_btrfs_subvol_create(path, &err) == 0)
			return 0;
		log_warn("a workspace made as a directory, its disk limit only measured: %s", err_text(err));
	}
	if (mkdir(path, 0700) < 0)
		return err_set(errp, errno, "cannot create a workspace");
	return 0;
}

/* A tree may be as deep as the sandbox made it. Walking it with one open
   directory per level would take the server's fds (and stack) in proportion:
   below RM_MAX_DEPTH levels a directory is moved up into the top directory
   being removed instead (a rename beneath it: nothing climbs ".."), and the
   top is walked again until nothing more comes up. */
#define RM_MAX_DEPTH 32
#define RM_MAX_PASSES 1000000

struct rm_walk {
	int top;		/* the directory being emptied at depth 0, or -1 */
	unsigned long moved;	/* directories moved up during this pass */
	unsigned long seq;	/* for their names */
	const atomic_bool *cancel;	/* stop when it turns true (NULL: never) */
};

static int openat2_how(int dirfd, const char *rel, const struct open_how *how)
{
	long fd;
	do
		fd = syscall(SYS_openat2, dirfd, rel, how, sizeof(*how));
	while (fd < 0 && errno == EINTR);
	return (int)fd;
}

/* The directory dirfd/name, not a symlink. Beneath the top (depth > 0, name
   one component from readdir): no mount crossed either, so a mount point
   met in the tree is never entered (a btrfs subvolume is no mount). The top
   is the caller's own path, which may cross mounts on its way. */
static int open_dir(int dirfd, const char *name, int depth)
{
	if (depth == 0)
		return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	return openat2_how(dirfd, name, &how);
}

static int remove_dir_contents(struct rm_walk *w, int dfd, int depth);

/* Move dirfd/name into the top directory under a fresh name; 0 if done. */
static int move_up(struct rm_walk *w, int dirfd, const char *name)
{
	char to[48];

	for (int tries = 0; tries < 8; tries++) {
		snprintf(to, sizeof(to), ".mcpbox-rm-%lu", w->seq++);
		if (renameat2(dirfd, name, w->top, to, RENAME_NOREPLACE) == 0) {
			w->moved++;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static int remove_entry(struct rm_walk *w, int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (w->top >= 0 && depth >= RM_MAX_DEPTH && move_up(w, dirfd, name) == 0)
		return 0;
	int fd = open_dir(dirfd, name, depth);
	if (fd < 0 && errno == EACCES) {
		/* a directory the sandbox made unreadable: we own it, so fix it */
		fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW);
		fd = open_dir(dirfd, name, depth);
	}
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	fchmod(fd, 0700);
	bool is_top = w->top < 0;
	int r, passes = 0;
	if (is_top)
		w->top = fd;
	do {
		w->moved = 0;
		r = remove_dir_contents(w, fd, depth + 1);
	} while (is_top && r == 0 && w->moved && ++passes < RM_MAX_PASSES);
	if (is_top)
		w->top = -1;
	close(fd);
	if (r < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Takes no ownership of dfd. */
static int remove_dir_contents(struct rm_walk *w, int dfd, int depth)
{
	int fd = dup(dfd);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(fd);
		return -1;
	}
	rewinddir(d);	/* the dup shares dfd's offset: the top is read more than once */
	while ((de = readdir(d))) {
		if (w->cancel && atomic_load_explicit(w->cancel, memory_order_relaxed)) {
			r = -1;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (remove_entry(w, dfd, de->d_name, depth) < 0)
			r = -1;
	}
	closedir(d);
	return r;
}

/* Remove dirfd/name and everything under it, never following symlinks: a
   btrfs subvolume is destroyed whole, without a walk, where the kernel lets us. */
static int remove_tree(int dirfd, const char *name, const atomic_bool *cancel)
{
	struct rm_walk w = { .top = -1, .cancel = cancel };

	if (sess_btrfs_subvol_destroy(dirfd, name) == 0)
		return 0;
	int r = remove_entry(&w, dirfd, name, 0);
	if (r < 0 && cancel && atomic_load(cancel))
		errno = ECANCELED;
	return r;
}

int sess_ws_remove_at(int dirfd, const char *name, struct err **errp)
{
	return sess_ws_remove_until(dirfd, name, NULL, errp);
}

int sess_ws_remove_until(int dirfd, const char *name, const atomic_bool *cancel, struct err **errp)
{
	if (remove_tree(dirfd, name, cancel) < 0)
		return err_set(errp, errno, "cannot remove");
	return 0;
}

int sess_ws_overlay(const char *workspace, const char *lower, const char *overlay_dir, uid_t uid, gid_t gid,
		    struct err **errp)
{
	struct buf upper = BUF_INIT, work = BUF_INIT, opts = BUF_INIT;
	int r = -1;

	buf_addf(&upper, "%s/upper", overlay_dir);
	buf_addf(&work, "%s/work", overlay_dir);
	/* the writable layer is what the session writes: where limits are enforced, a subvolume of its own */
	if (sess_btrfs_enforced() && access(overlay_dir, F_OK) < 0) {
		auto_err struct err *err = NULL;
		if (sess_btrfs_subvol_create(overlay_dir, &err) < 0)
			log_warn("an overlay made as a directory, its disk limit only measured: %s", err_text(err));
	}
	if ((mkdir(overlay_dir, 0700) < 0 && errno != EEXIST) || (mkdir(upper.data, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(work.data, 0700) < 0 && errno != EEXIST)) {
		err_set(errp, errno, "cannot create the overlay's directories");
		goto out;
	}
	if (chown(upper.data, uid, gid) < 0) {
		err_set(errp, errno, "cannot give the overlay to the sandbox user");
		goto out;
	}
	/* the paths are ours (data directory), but refuse what the option syntax cannot carry */
	if (strpbrk(lower, ",:\\") || strpbrk(overlay_dir, ",:\\")) {
		err_setc(errp, ERR_UNAVAILABLE, 0, "the data directory path contains ',', ':' or '\\': overlays are unavailable");
		goto out;
	}
	buf_addf(&opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper.data, work.data);
	if (mount("overlay", workspace, "overlay", MS_NOSUID | MS_NODEV, opts.data) < 0) {
		err_set(errp, errno, "cannot mount the workspace overlay");
		goto out;
	}
	r = 0;
out:
	buf_release(&upper);
	buf_release(&work);
	buf_release(&opts);
	return r;
}

bool sess_ws_is_mounted(const char *path)
{
	struct statx a, b;
	struct buf parent = BUF_INIT;
	bool mounted;

	/* not st_dev: every btrfs subvolume has a device number of its own */
	buf_addf(&parent, "%s/..", path);
	if (statx(AT_FDCWD, path, 0, STATX_MNT_ID, &a) < 0 || statx(AT_FDCWD, parent.data, 0, STATX_MNT_ID, &b) < 0)
		mounted = false;
	else if (a.stx_mask & b.stx_mask & STATX_MNT_ID)
		mounted = a.stx_mnt_id != b.stx_mnt_id;
	else	/* a kernel before 5.8 */
		mounted = a.stx_dev_major != b.stx_dev_major || a.stx_dev_minor != b.stx_dev_minor;
	buf_release(&parent);
	return mounted;
}

void sess_ws_detach(const char *workspace)
{
	if (umount2(workspace, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		log_warn("cannot detach the overlay of a workspace: %s", strerror(errno));
}

int sess_ws_relpath(const char *path, char **rel, struct err **errp)
{
	struct buf b = BUF_INIT;
	const char *p = path;
	size_t depth = 0;

	if (*p == '/') {
		if (strncmp(p, "/workspace", 10) != 0 || (p[10] != '\0' && p[10] != '/'))
			return err_setc(errp, ERR_INVALID, 0, "path \"%s\" is outside the workspace: use a path relative "
					 "to /workspace or one that starts with /workspace/", path);
		p += 10;
	}
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 1 && p[0] == '.') {
			/* skip */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (depth == 0) {
				buf_release(&b);
				return err_setc(errp, ERR_INVALID, 0, "path \"%s\" escapes the workspace", path);
			}
			/* drop the last component */
			char *slash = strrchr(b.data, '/');
			b.len = slash ? (size_t)(slash - b.data) : 0;
			b.data[b.len] = '\0';
			depth--;
		} else {
			if (n > 255) {
				buf_release(&b);
				return err_setc(errp, ERR_INVALID, 0, "path \"%s\": a component is longer than 255 bytes", path);
			}
			if (b.len)
				buf_addch(&b, '/');
			buf_add(&b, p, n);
			depth++;
		}
		p = end;
	}
	if (b.len > 4000) {
		buf_release(&b);
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\" is too long", path);
	}
	if (!b.len)
		buf_addch(&b, '.');
	*rel = buf_detach(&b);
	return 0;
}

static int openat2_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	return openat2_how(dirfd, rel, &how);
}

/* Mix in whether st is there (ok) and what changes with any write. */
static uint64_t mix_stat(uint64_t h, bool ok, const struct stat *st)
{
	uint64_t v[8] = { 0 };
	if (ok) {
		v[0] = 1;
		v[1] = st->st_ino;
		v[2] = (uint64_t)st->st_size;
		v[3] = st->st_nlink;
		v[4] = (uint64_t)st->st_mtim.tv_sec;
		v[5] = (uint64_t)st->st_mtim.tv_nsec;
		v[6] = (uint64_t)st->st_ctim.tv_sec;
		v[7] = (uint64_t)st->st_ctim.tv_nsec;
	}
	return fnv1a(h, v, sizeof(v));
}

/* A pattern whose last component is a star and a suffix ("d/" "*.pth"):
   every entry of that directory whose name ends in the suffix, in directory
   order. */
/*
 * The fingerprint runs on the loop thread before each execution: a directory
 * the sandbox filled with entries is not read past this many; the fingerprint
 * then differs on every call (a spare started ahead is never reused for it).
 */
#define FP_MAX_ENTRIES 4096

static uint64_t mix_matching(uint64_t h, int wsfd, const char *pattern)
{
	static _Atomic uint64_t too_big;
	const char *star = strrchr(pattern, '/');
	auto_free char *dir = star ? xstrndup(pattern, (size_t)(star - pattern)) : xstrdup(".");
	const char *suffix = (star ? star + 1 : pattern) + 1;
	size_t sl = strlen(suffix);
	int fd = openat2_beneath(wsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return fnv1a(h, "-", 1);
	}
	for (unsigned seen = 0; (de = readdir(d)); seen++) {
		size_t nl = strlen(de->d_name);
		if (seen == FP_MAX_ENTRIES) {
			uint64_t n = atomic_fetch_add(&too_big, 1);
			h = fnv1a(h, &n, sizeof(n));
			break;
		}
		if (nl < sl || strcmp(de->d_name + nl - sl, suffix))
			continue;
		h = fnv1a(h, de->d_name, nl + 1);
		h = mix_stat(h, fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0, &st);
	}
	closedir(d);
	return h;
}

uint64_t sess_ws_fingerprint(int wsfd, const char *const *paths)
{
	uint64_t h = FNV1A_INIT;

	for (; paths && *paths; paths++) {
		const char *last = strrchr(*paths, '/');
		if ((last ? last[1] : (*paths)[0]) == '*') {
			h = mix_matching(h, wsfd, *paths);
			continue;
		}
		struct stat st;
		int fd = openat2_beneath(wsfd, *paths, O_PATH, 0);
		bool ok = fd >= 0 && fstat(fd, &st) == 0;
		if (fd >= 0)
			close(fd);
		h = mix_stat(h, ok, &st);
	}
	return h;
}

static int open_error(struct err **errp, const char *shown)
{
	switch (errno) {
	case EXDEV:
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\" escapes the workspace (through \"..\" or a symlink)", shown);
	case ELOOP:
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\": too many symlinks, or a symlink where none may be", shown);
	case ENOENT:
		return err_setc(errp, ERR_NOT_FOUND, 0, "path \"%s\" does not exist", shown);
	case ENOTDIR:
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\": a component is not a directory", shown);
	case EISDIR:
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\" is a directory", shown);
	case EEXIST:
		return err_setc(errp, ERR_CONFLICT, 0, "path \"%s\" already exists", shown);
	default:
		return err_set(errp, errno, "path \"%s\"", shown);
	}
}

int sess_ws_open(int wsfd, const char *rel, int flags, mode_t mode, const char *shown, struct err **errp)
{
	int fd = openat2_beneath(wsfd, rel, flags, mode);
	if (fd < 0)
		return open_error(errp, shown);
	return fd;
}

int sess_ws_tmpfile(int wsfd, int flags, mode_t mode, struct err **errp)
{
	int fd = openat2_beneath(wsfd, ".", flags | O_TMPFILE, mode);
	if (fd >= 0)
		return fd;
	/* EISDIR: a kernel older than O_TMPFILE sees only its O_DIRECTORY bit */
	if (errno == EOPNOTSUPP || errno == EISDIR)
		return err_setc(errp, ERR_UNAVAILABLE, EOPNOTSUPP, "the workspace's filesystem makes no unnamed files");
	return err_set(errp, errno, "an unnamed file in the workspace");
}

/* linkat of an unnamed file: by its fd where the kernel allows it (CAP_DAC_READ_SEARCH), else through /proc. */
static int link_unnamed(int fd, int dirfd, const char *name)
{
	char proc[40];
	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

int sess_ws_link(int fd, int dirfd, const char *base, const char *shown, struct err **errp)
{
	char tmp[48];
	struct stat st;

	if (link_unnamed(fd, dirfd, base) == 0)
		return 0;
	if (errno != EEXIST)
		return open_error(errp, shown);
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\" is a directory", shown);
	/* replacing: a name of its own first, then one rename, so the old file is never missing */
	for (int tries = 0;; tries++) {
		uint64_t r;
		srv_random_bytes(&r, sizeof(r));
		snprintf(tmp, sizeof(tmp), ".mcpbox-link-%016llx", (unsigned long long)r);
		if (link_unnamed(fd, dirfd, tmp) == 0)
			break;
		if (errno != EEXIST || tries == 8)
			return open_error(errp, shown);
	}
	if (renameat(dirfd, tmp, dirfd, base) < 0) {
		int e = errno;
		unlinkat(dirfd, tmp, 0);
		errno = e;
		return open_error(errp, shown);
	}
	return 0;
}

int sess_ws_open_parent(int wsfd, const char *rel, bool mkdirs, uid_t uid, gid_t gid, const char **base,
			const char *shown, struct err **errp)
{
	const char *slash = strrchr(rel, '/');
	auto_free char *dir = NULL;
	int fd;

	if (!strcmp(rel, "."))
		return err_setc(errp, ERR_INVALID, 0, "path \"%s\" is the workspace itself", shown);
	*base = slash ? slash + 1 : rel;
	dir = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup(".");
	fd = openat2_beneath(wsfd, dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT || !mkdirs)
		return fd >= 0 ? fd : open_error(errp, shown);

	/* walk down, creating what is missing; each step is confined again */
	int cur = dup(wsfd);
	char *p = dir;
	if (cur < 0)
		return err_set(errp, errno, "dup");
	fd_set_cloexec(cur);
	while (*p) {
		char *end = strchrnul(p, '/');
		char save = *end;
		*end = '\0';
		if (mkdirat(cur, p, 0755) == 0) {
			if (geteuid() == 0)
				fchownat(cur, p, uid, gid, AT_SYMLINK_NOFOLLOW);
		} else if (errno != EEXIST) {
			int e = errno;
			close(cur);
			errno = e;
			return open_error(errp, shown);
		}
		int next = openat2_beneath(cur, p, O_RDONLY | O_DIRECTORY, 0);
		int e = errno;
		close(cur);
		if (next < 0) {
			errno = e;
			return open_error(errp, shown);
		}
		cur = next;
		*end = save;
		p = save ? end + 1 : end;
	}
	return cur;
}
