/**
 * quota.h — what one principal (API key) may hold at once, so that no tenant
 * can take the host from the others: sessions, the memory their limits add
 * up to, executions running, snapshots (config "quota", server/config.h).
 *
 * Administrators and the local user of stdio have no quota. Usage is counted
 * from the registry when asked (a walk of the principal's sessions), so
 * nothing can drift. Loop thread only.
 */
#ifndef MCPBOX_SESS_QUOTA_H
#define MCPBOX_SESS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"
#include "../server/err.h"

struct sess_held {
	uint64_t sessions;
	uint64_t memory_bytes;	/* limits of its sessions that are not stopped */
	uint64_t executions;	/* running */
	uint64_t snapshots;
};

/** Does principal have a quota at all? */
bool sess_quota_applies(const char *principal);
/** What principal holds now (NULL: everyone). */
void sess_held_by(struct sess_registry *reg, const char *principal, struct sess_held *u);
/**
 * 0 if principal may hold add more; else -1 with errno EDQUOT and a message
 * naming the quota, what it holds and what it asked for. Executions are
 * also bounded for the whole server (everyone, EAGAIN).
 */
int sess_quota_check(struct sess_registry *reg, const char *principal, const struct sess_held *add,
		     struct err **errp);

#endif
