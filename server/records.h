/**
 * records.h — what the server remembers about sessions and executions across
 * restarts: it connects the session registry's persistence hooks to the
 * store, brings sessions of an earlier run back (as stopped) at start-up,
 * and keeps execution records with their output files under a retention
 * limit. Loop thread only.
 */
#ifndef MCPBOX_RECORDS_H
#define MCPBOX_RECORDS_H

#include "config.h"
#include "err.h"
#include "store.h"
#include "../sessions/session.h"

/**
 * Install the hooks on reg and reconcile: sessions recorded by a server that
 * is no longer running come back stopped (workspace intact); implicit ones
 * (their connection is gone) are deleted; workspaces without a record are
 * reported (empty ones, left by a warm pool, are removed). st and reg must
 * outlive the hooks.
 */
int srv_records_init(struct srv_store *st, struct sess_registry *reg, const struct srv_config *cfg,
		     struct err **errp);

/** Store what is queued now (the loop does it after each iteration; call before closing the store). */
void srv_records_flush(void);
/** Stop the flusher handle (before the loop ends). */
void srv_records_close(void);

#endif
