#include "quota.h"
#include "catalog.h"
#include "../server/config.h"
#include "../server/banned.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

bool sess_quota_applies(const char *principal)
{
	return principal && !sess_principal_admin(principal) && strcmp(principal, "local") != 0;
}

static void count(void *arg, struct sess_session *s)
{
	struct sess_held *u = arg;
	u->sessions++;
	if (s->state != SESS_STOPPED && s->state != SESS_FAILED)
		u->memory_bytes += s->limits.memory_bytes;
	u->executions += s->running;
}

void sess_held_by(struct sess_registry *reg, const char *principal, struct sess_held *u)
{
	memset(u, 0, sizeof(*u));
	sess_foreach(reg, principal, count, u);
	for (struct sess_snap *sn = *sess_registry_snaps(reg); sn; sn = sn->next)
		if (!principal || !strcmp(sn->owner, principal))
			u->snapshots++;
}

int sess_quota_check(struct sess_registry *reg, const char *principal, const struct sess_held *add,
		     struct err **errp)
{
	const struct srv_quota *q = &sess_registry_config(reg)->quota;
	static const struct {
		const char *what;
		size_t off;
		bool bytes;
	} fields[] = {
		{ "sessions", offsetof(struct sess_held, sessions), false },
		{ "memory", offsetof(struct sess_held, memory_bytes), true },
		{ "running executions", offsetof(struct sess_held, executions), false },
		{ "snapshots", offsetof(struct sess_held, snapshots), false },
	};
	const uint64_t quota[] = { q->sessions, q->memory_bytes, q->executions, q->snapshots };
	struct sess_held have;

	if (add->executions && q->server_executions) {
		/* the whole server's bound holds for everyone: it keeps fds and CPU for the work already admitted */
		struct sess_held all;
		sess_held_by(reg, NULL, &all);
		if (all.executions + add->executions > q->server_executions)
			return err_set(errp, EAGAIN, "the server runs %" PRIu64 " executions, its maximum (quota "
				       "server_executions); try again when one has finished", all.executions);
	}
	if (!sess_quota_applies(principal))
		return 0;
	sess_held_by(reg, principal, &have);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t want = *(const uint64_t *)((const char *)add + fields[i].off);
		uint64_t held = *(const uint64_t *)((const char *)&have + fields[i].off);
		if (!want || !quota[i] || held + want <= quota[i])
			continue;
		if (fields[i].bytes)
			return err_set(errp, EDQUOT, "quota: this key may hold %" PRIu64 " MiB of %s; it holds %" PRIu64
				       " MiB and asked for %" PRIu64 " MiB more (stop or destroy a session, or ask the "
				       "operator for a larger quota)", quota[i] >> 20, fields[i].what, held >> 20, want >> 20);
		return err_set(errp, EDQUOT, "quota: this key may hold %" PRIu64 " %s and holds %" PRIu64 " (%s)",
			       quota[i], fields[i].what, held,
			       i == 2 ? "wait for one to finish" : "remove one, or ask the operator for a larger quota");
	}
	return 0;
}
