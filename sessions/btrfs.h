/**
 * btrfs.h — session disk limits the kernel enforces: when DATA/workspaces is
 * on btrfs with quotas enabled (the operator's `btrfs quota enable`; never
 * enabled here) and the server may set qgroup limits (CAP_SYS_ADMIN), each
 * workspace is a subvolume whose qgroup limits its referenced bytes: a
 * program writing past it gets EDQUOT at once. Elsewhere nothing changes:
 * workspaces are directories and disk use is only measured (quota.h).
 *
 * Only the ioctls of <linux/btrfs.h>: no btrfs-progs at run time.
 * sess_btrfs_init runs once at start, before any other call; the others may
 * run on any thread (they keep no state but the mode chosen at start).
 */
#ifndef MCPBOX_SESS_BTRFS_H
#define MCPBOX_SESS_BTRFS_H

#include <stdbool.h>
#include <stdint.h>

#include "../server/base/err.h"

/**
 * Decide the mode for workspaces made in ws_root and log it once ("disk
 * limits: enforced by btrfs qgroups" or "disk limits: measured (why)"): on
 * btrfs, a probe subvolume is made there, limited, and destroyed. Returns
 * whether limits are enforced.
 */
bool sess_btrfs_init(const char *ws_root);
/** The mode sess_btrfs_init chose. */
bool sess_btrfs_enforced(void);

/** Make path a subvolume (mode 0700, owned by the caller). -1 with *errp. */
int sess_btrfs_subvol_create(const char *path, struct err **errp);
/**
 * Limit the referenced bytes of the subvolume whose top directory is fd
 * (bytes 0: no limit). 0 without doing anything when limits are not
 * enforced or fd is not the top of a subvolume (a directory made before, or
 * on another filesystem). -1 with *errp if the kernel refuses.
 */
int sess_btrfs_limit(int fd, uint64_t bytes, struct err **errp);
/**
 * Destroy the subvolume path (relative to dirfd, or absolute) whole, at
 * once, then its qgroup if the kernel left it. -1 with errno when path is
 * not a subvolume on btrfs or the kernel refuses (not root and no
 * user_subvol_rm_allowed, nested subvolumes): then walk the tree instead.
 */
int sess_btrfs_subvol_destroy(int dirfd, const char *path);

#endif
