/**
 * quota.h — what one principal (API key) may hold at once, so that no tenant
 * can take the host from the others: sessions, the memory their limits add
 * up to, executions running, snapshots and the bytes they hold (config
 * "quota", server/config.h).
 *
 * Administrators and the local user of stdio have no quota. Usage is counted
 * from the registry when asked (one walk of the sessions; snapshots only
 * when a snapshot is asked for), so nothing can drift; only disk use is measured ahead: every disk_scan
 * seconds libuv's pool walks each workspace (du: allocated blocks, each
 * entry counting at least SESS_DISK_ENTRY_BYTES, no symlink followed, never
 * leaving the workspace) and the loop records the result, bytes and entries,
 * in the session. A destroyed session's workspace still counts, as last
 * measured, until its removal in the background ends (trash.h). A key over
 * its disk quota (quota.disk bytes, or quota.inodes entries summed over its
 * workspaces) cannot start executions
 * or write files until it frees space; nor can a session over its own disk
 * limit (session_create {disk_mb}, sess_session.disk_limit), whatever its
 * key. A scan that finds either over kills the running executions concerned
 * (the key's, or the session's). Loop thread only.
 */
#ifndef MCPBOX_SESS_QUOTA_H
#define MCPBOX_SESS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "session.h"
#include "../server/base/err.h"

struct sess_held {
	uint64_t sessions;
	uint64_t memory_bytes;	/* limits of its sessions that are not stopped */
	uint64_t executions;	/* running */
	uint64_t snapshots;
	uint64_t snapshot_bytes;	/* apparent sizes of its snapshots' files, each snapshot counted whole */
	uint64_t disk_bytes;	/* its workspaces, as last measured; in a check: non-zero means "will write" */
};

/** Does principal have a quota at all? */
bool sess_quota_applies(const char *principal);
/**
 * 0 if principal may hold add more; else -1 with ERR_LIMIT and a message
 * naming the quota, what it holds and what it asked for (no strerror after
 * it). Executions are also bounded for the whole server (everyone, EAGAIN's class).
 */
int sess_quota_check(struct sess_registry *reg, const char *principal, const struct sess_held *add,
		     struct err **errp);

/**
 * May session s take `bytes` more bytes of disk in its workspace, written on
 * behalf of principal (the caller: its key's quota.disk applies unless it
 * has none, sess_quota_applies)? Ask before writing; bytes 0 asks "may it
 * write at all". 0: yes. -1: ERR_LIMIT, with a message naming what refuses:
 * the session's own limit ("session ses_… may take N MiB of disk (its
 * disk_mb) ...") or the key's quota, what is held and what was asked. A
 * workspace that could not be measured counts as over both. Both compare
 * the last measure (plus what sess_quota_disk_add reported since) with
 * held + bytes > limit. For streamed writes, ask per piece with the piece's
 * size, then report it with sess_quota_disk_add. Loop thread only.
 */
int sess_quota_disk_check(struct sess_registry *reg, struct sess_session *s, const char *principal, uint64_t bytes,
			  struct err **errp);
/**
 * bytes were just written into s's workspace: count them at once (writes in
 * a row cannot pass a limit by more than one piece) and have the busy scan
 * measure the workspace soon (quota.disk_scan_busy). Loop thread only.
 */
void sess_quota_disk_add(struct sess_session *s, uint64_t bytes);
/**
 * The same for bytes written into a file the scan cannot see yet (an upload
 * still unnamed, O_TMPFILE): they are also added to every measure until
 * sess_quota_disk_reveal, so a scan that ends meanwhile does not forget them.
 */
void sess_quota_disk_add_hidden(struct sess_session *s, uint64_t bytes);
/** bytes of such a file are now named, so the scan sees them; or, gone, they were dropped with the file. */
void sess_quota_disk_reveal(struct sess_session *s, uint64_t bytes, bool gone);
/**
 * The entry st describes (as lstat saw it just before) was removed from s's
 * workspace by the server: take off at once what a measure counts for it
 * (its blocks, at least SESS_DISK_ENTRY_BYTES, and one entry), so a key
 * over its quota can work again without waiting for the next scan; the
 * busy scan measures the workspace soon. Loop thread only.
 */
void sess_quota_disk_removed(struct sess_session *s, const struct stat *st);

/**
 * Executions that are not programs of sessions/run.h (kernel cells) are
 * killed by fn when a scan kills s's running executions, for the reason
 * why. One hook; NULL removes it. Loop thread only.
 */
typedef void (*sess_quota_over_fn)(struct sess_session *s, enum sess_over why);
void sess_quota_set_over_hook(sess_quota_over_fn fn);

/** Measure workspaces every quota.disk_scan_s (nothing if 0). */
void sess_quota_start(struct sess_registry *reg, uv_loop_t *loop);
/** Stop measuring (shutdown); a walk in flight finishes and is dropped. */
void sess_quota_stop(void);

#endif
