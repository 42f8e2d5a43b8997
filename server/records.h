/**
 * records.h — what the server remembers about sessions and executions across
 * restarts: it connects the session registry's persistence hooks to the
 * store, brings sessions of an earlier run back (as stopped) at start-up,
 * and keeps execution records with their output files under a retention
 * limit. Loop thread only.
 */
#ifndef MCPBOX_RECORDS_H
#define MCPBOX_RECORDS_H

#include "base/config.h"
#include "base/err.h"
#include "store.h"
#include "../sessions/instance.h"
#include "../sessions/session.h"

/**
 * Install the hooks on reg and reconcile: sessions recorded by a server that
 * is no longer running (its instance, sessions/instance.h, is not held) come
 * back stopped (workspace intact); implicit ones (their connection is gone)
 * are deleted; those of a process that still runs on the same data
 * directory are left to it. Workspaces without a record are reported, never
 * removed (another process may be about to record one); only empty ones that
 * are older than an hour go. st, reg and in must outlive the hooks.
 */
int srv_records_init(struct srv_store *st, struct sess_registry *reg, const struct srv_config *cfg,
		     const struct sess_instance *in, struct err **errp);

struct tool_tmpl_store;
/** Session templates made by tool, kept in the store (for tool_env.templates); NULL before init. */
const struct tool_tmpl_store *srv_records_templates(void);

/** Store what is queued now (the loop does it after each iteration; call before closing the store). */
void srv_records_flush(void);
/** Stop the flusher handle (before the loop ends). */
void srv_records_close(void);

#endif
