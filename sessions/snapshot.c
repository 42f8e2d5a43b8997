/**
 * snapshot.c — the server's side of snapshot.h: every call goes to the
 * engine in mcpbox-snapshot.so, loaded on the first snap_store_open (so
 * processes that never snapshot never map libgit2; see server/module.h).
 */
#include "snapshot.h"

static const struct snap_engine *E;	/* set by snap_store_open; a store implies it */

int snap_store_open(struct snap_store **out, const char *data_dir, struct err **errp)
{
	const struct snap_engine *e = srv_module_api("snapshot", sizeof(*e), errp);
	if (!e)
		return err_wrap(errp, "snapshots are not available");
	E = e;
	return e->store_open(out, data_dir, errp);
}

void snap_store_close(struct snap_store *st)
{
	if (st)
		E->store_close(st);
}

int snap_take(struct snap_store *st, const char *workspace_dir, const char *index_path,
	      const char *parent_commit_hex, const char *snapshot_id, const char *message,
	      uint64_t max_bytes, struct snap_result *res, struct err **errp)
{
	return E->take(st, workspace_dir, index_path, parent_commit_hex, snapshot_id, message,
		       max_bytes, res, errp);
}

int snap_restore(struct snap_store *st, const char *commit_hex, const char *workspace_dir,
		 const char *index_path, struct err **errp)
{
	return E->restore(st, commit_hex, workspace_dir, index_path, errp);
}

int snap_materialize(struct snap_store *st, const char *commit_hex, const char *dest_dir,
		     struct err **errp)
{
	return E->materialize(st, commit_hex, dest_dir, errp);
}

int snap_diff(struct snap_store *st, const char *from_hex, const char *to_hex,
	      const char *workspace_dir, uint64_t max_memory, json_t **out, struct err **errp)
{
	return E->diff(st, from_hex, to_hex, workspace_dir, max_memory, out, errp);
}

int snap_delete(struct snap_store *st, const char *snapshot_id, struct err **errp)
{
	return E->del(st, snapshot_id, errp);
}

int snap_gc(struct snap_store *st, struct err **errp)
{
	return E->gc(st, errp);
}

int snap_verify(struct snap_store *st, uint64_t *refs, uint64_t *objects, struct err **errp)
{
	return E->verify(st, refs, objects, errp);
}

int snap_resolve(struct snap_store *st, const char *snapshot_id, char hex[41], struct err **errp)
{
	return E->resolve(st, snapshot_id, hex, errp);
}
