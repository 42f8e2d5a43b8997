/**
 * catalog.h — the snapshots the server knows: who owns each, which session it
 * came from, its commit in the object store (sessions/snapshot.h), and how
 * many sessions are being created from it right now (a snapshot in use cannot
 * be deleted). The catalog is memory; its records are saved through the
 * registry's persistence hook and loaded back at start-up.
 *
 * Visibility follows sessions: sess_snap_find() returns a snapshot only to
 * its owner (or anyone when owner is NULL). Loop thread only.
 */
#ifndef MCPBOX_SESS_CATALOG_H
#define MCPBOX_SESS_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct sess_registry;

struct sess_snap {
	char *id;		/* "snap_…", also the ref name */
	char *owner;
	char *session_id;	/* the session it was taken of */
	char *name;		/* may be NULL */
	json_t *labels;		/* object of strings */
	char commit[41];
	char parent[41];	/* the session's previous snapshot, "" if none */
	uint64_t files, bytes;
	uint64_t created_at;	/* wall clock, ms */
	unsigned in_use;	/* sessions being created from it */
	struct sess_snap *next;
};

/** Add a snapshot (takes the strings' copies); saves its record. */
struct sess_snap *sess_snap_add(struct sess_registry *reg, const struct sess_snap *tmpl);
/** Load a snapshot record at start-up (no save). */
void sess_snap_adopt(struct sess_registry *reg, const struct sess_snap *tmpl);
struct sess_snap *sess_snap_find(struct sess_registry *reg, const char *id, const char *owner);
void sess_snap_foreach(struct sess_registry *reg, const char *owner,
		       void (*fn)(void *arg, struct sess_snap *sn), void *arg);
/** Forget a snapshot and mark its record deleted. */
void sess_snap_remove(struct sess_registry *reg, struct sess_snap *sn);
/** Free the catalog's memory (records stay as saved). */
void sess_snap_forget_all(struct sess_registry *reg);

#endif
