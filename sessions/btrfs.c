#include "btrfs.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static bool enforced;	/* written once by sess_btrfs_init, before any workspace is made */

bool sess_btrfs_enforced(void)
{
	return enforced;
}

/* A subvolume named by a path: the directory holding its last component
   (dirfd itself, or an fd of our own) and the ioctl's argument naming it. */
struct subvol_at {
	int parent;
	int owned;
	const char *name;
	struct btrfs_ioctl_vol_args va;
};

static void subvol_at_release(struct subvol_at *at)
{
	if (at->owned >= 0)
		close(at->owned);
}

/* 0, or -1 with errno (at needs subvol_at_release either way). */
static int subvol_at_open(struct subvol_at *at, int dirfd, const char *path)
{
	const char *slash = strrchr(path, '/');

	memset(at, 0, sizeof(*at));
	at->owned = at->parent = -1;
	at->name = slash ? slash + 1 : path;
	if (!*at->name || strlen(at->name) > BTRFS_PATH_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(at->va.name, at->name, strlen(at->name)); /* the rest stays NUL */
	if (!slash) {
		at->parent = dirfd;
		return 0;
	}
	auto_free char *dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
	at->parent = at->owned = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return at->parent < 0 ? -1 : 0;
}

#define auto_subvol_at __attribute__((cleanup(subvol_at_release))) struct subvol_at

/* Is fd the top directory of a btrfs subvolume? */
static bool is_subvol_top(int fd)
{
	struct stat st;
	struct statfs sf;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == BTRFS_FIRST_FREE_OBJECTID &&
	       fstatfs(fd, &sf) == 0 && sf.f_type == BTRFS_SUPER_MAGIC;
}

int sess_btrfs_subvol_create(const char *path, struct err **errp)
{
	auto_subvol_at at;

	if (subvol_at_open(&at, AT_FDCWD, path) < 0)
		return err_set(errp, errno, "cannot open the directory of a new subvolume");
	if (ioctl(at.parent, BTRFS_IOC_SUBVOL_CREATE, &at.va) < 0)
		return err_set(errp, errno, "cannot create a btrfs subvolume");
	/* the kernel makes its top 0755: a workspace is 0700 until the zygote gives it to the sandbox */
	auto_close int fd = openat(at.parent, at.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, 0700) < 0) {
		int e = errno;
		ioctl(at.parent, BTRFS_IOC_SNAP_DESTROY, &at.va);
		return err_set(errp, e, "cannot set the mode of a new subvolume");
	}
	return 0;
}

int sess_btrfs_limit(int fd, uint64_t bytes, struct err **errp)
{
	struct btrfs_ioctl_qgroup_limit_args a = {
		.qgroupid = 0,	/* the subvolume of fd */
		.lim = {
			.flags = BTRFS_QGROUP_LIMIT_MAX_RFER,
			.max_rfer = bytes ? bytes : (uint64_t)-1,	/* -1 clears it */
		},
	};

	if (!enforced || !is_subvol_top(fd))
		return 0;
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &a) < 0)
		return err_set(errp, errno, "cannot set the workspace's btrfs qgroup limit");
	return 0;
}

int sess_btrfs_subvol_destroy(int dirfd, const char *path)
{
	auto_subvol_at at;

	if (subvol_at_open(&at, dirfd, path) < 0)
		return -1;
	{
		auto_close int fd = openat(at.parent, at.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (!is_subvol_top(fd)) {
			errno = ENOTTY;
			return -1;
		}
	}
	/* The kernel drops the subvolume's qgroup itself once its cleaner has
	   freed the extents (a qgroup still in use cannot be removed before). */
	return ioctl(at.parent, BTRFS_IOC_SNAP_DESTROY, &at.va) < 0 ? -1 : 0;
}

/* Can a qgroup limit be set on a subvolume made in ws_root? NULL: yes; else why not. */
static const char *probe(const char *ws_root)
{
	struct buf path = BUF_INIT;
	uint64_t r;
	const char *why = NULL;
	auto_err struct err *err = NULL;

	srv_random_bytes(&r, sizeof(r));
	buf_addf(&path, "%s/.mcpbox-qgroup-probe-%016llx", ws_root, (unsigned long long)r);
	if (sess_btrfs_subvol_create(path.data, &err) < 0) {
		buf_release(&path);
		return err->errnum == EPERM || err->errnum == EACCES ? "cannot create subvolumes there"
								       : "subvolumes fail there";
	}
	int fd = open(path.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	enforced = true;	/* so that sess_btrfs_limit tries */
	if (fd < 0 || sess_btrfs_limit(fd, 1 << 20, &err) < 0) {
		int e = fd < 0 ? errno : err->errnum;
		why = e == ENOTCONN ? "btrfs quotas are not enabled (btrfs quota enable)"
		    : e == EPERM ? "setting qgroup limits needs CAP_SYS_ADMIN (run as root)"
				 : "the kernel refused a qgroup limit";
	}
	enforced = false;
	if (fd >= 0)
		close(fd);
	if (sess_btrfs_subvol_destroy(AT_FDCWD, path.data) < 0 && rmdir(path.data) < 0)
		log_warn("disk limits: cannot remove the probe subvolume %s: %s", path.data, strerror(errno));
	buf_release(&path);
	return why;
}

bool sess_btrfs_init(const char *ws_root)
{
	struct statfs sf;
	const char *why;

	enforced = false;
	if (statfs(ws_root, &sf) < 0)
		why = "cannot statfs the workspaces directory";
	else if (sf.f_type != BTRFS_SUPER_MAGIC)
		why = "workspaces not on btrfs";
	else
		why = probe(ws_root);
	if (why) {
		log_info("disk limits: measured (%s)", why);
		return false;
	}
	enforced = true;
	log_info("disk limits: enforced by btrfs qgroups (%s)", ws_root);
	return true;
}
