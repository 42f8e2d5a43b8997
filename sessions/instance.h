/**
 * instance.h — this process's claim on a data directory that others may share.
 *
 * Several mcpbox processes may run on one data directory at once: two
 * editors with the same stdio config, an editor and `claude mcp list` (its
 * health check starts another `mcpbox stdio`), `serve` beside them. Each
 * process holds an instance:
 *
 *   DATA/instances/<id>.lock   flock()ed for the life of the process
 *   DATA/instances/<id>/       what it makes before any record names it
 *                              (warm-pool workspaces)
 *
 * A lock the kernel holds is the proof that its owner runs: no pid that may
 * be reused, no clock. The lock file is created unnamed (O_TMPFILE), locked,
 * and only then linked into place, so no other process ever sees an
 * instance whose lock is not yet held. A sweep removes what belongs to
 * instances whose lock it can take (their process is gone, killed -9 or
 * not), and nothing else.
 *
 * Loop thread (or start-up) only. Ownership: the caller owns the instance
 * and frees it at exit, which releases the lock and removes its directory.
 */
#ifndef MCPBOX_SESS_INSTANCE_H
#define MCPBOX_SESS_INSTANCE_H

#include <stdbool.h>

#include "../server/base/err.h"

struct sess_instance;

/** Claim a new instance in data_dir (absolute path). */
int sess_instance_open(struct sess_instance **out, const char *data_dir, struct err **errp);
/** "i_<hex>": what records store to say which process made them. */
const char *sess_instance_id(const struct sess_instance *in);
/** DATA/instances/<id>: where this process keeps what no record names yet (0711). */
const char *sess_instance_dir(const struct sess_instance *in);
/**
 * Is the instance id still held by a running process? Our own id is alive;
 * an id that is not of this form (records of older versions: "pid:start")
 * is judged by that process's pid and start time.
 */
bool sess_instance_alive(const struct sess_instance *in, const char *id);
/**
 * Remove the directories and lock files of instances whose process is gone.
 * Returns how many were swept. Removal of their trees runs in the caller's
 * thread (start-up, before any sandbox of ours exists).
 */
unsigned sess_instance_sweep(struct sess_instance *in);
/**
 * Remove the display directories that versions before the per-sandbox tmpfs
 * left in BASE/mcpbox-<euid>/<pid>/ (BASE: each of bases, NULL-terminated;
 * the server passes /dev/shm and /tmp) for every <pid> that no longer runs,
 * however deep the trees its sandboxes made, then the top directory once
 * empty. Only a real directory owned by our euid is touched. Returns how many
 * were removed. Start-up only (the caller's thread).
 */
unsigned sess_instance_sweep_legacy_displays(const char *const *bases);
/** Release the lock and remove this instance's directory (exit). NULL is fine. */
void sess_instance_free(struct sess_instance *in);

#endif
