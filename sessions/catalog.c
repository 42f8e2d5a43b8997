#include "catalog.h"
#include "session.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <string.h>

static struct sess_snap *copy(const struct sess_snap *t)
{
	struct sess_snap *sn = xcalloc(1, sizeof(*sn));
	sn->id = xstrdup(t->id);
	sn->owner = sess_principal_owner(t->owner);
	sn->session_id = xstrdup(t->session_id);
	sn->name = t->name ? xstrdup(t->name) : NULL;
	sn->labels = t->labels ? json_deep_copy(t->labels) : json_object();
	memcpy(sn->commit, t->commit, sizeof(sn->commit));
	memcpy(sn->parent, t->parent, sizeof(sn->parent));
	sn->files = t->files;
	sn->bytes = t->bytes;
	sn->created_at = t->created_at;
	return sn;
}

static void link_snap(struct sess_registry *reg, struct sess_snap *sn)
{
	struct sess_snap **pp = sess_registry_snaps(reg);
	while (*pp)
		pp = &(*pp)->next; /* oldest first */
	*pp = sn;
}

struct sess_snap *sess_snap_add(struct sess_registry *reg, const struct sess_snap *tmpl)
{
	struct sess_snap *sn = copy(tmpl);
	const struct sess_persist *p = sess_registry_persist(reg);
	link_snap(reg, sn);
	if (p->snapshot)
		p->snapshot(p->arg, sn, false);
	return sn;
}

void sess_snap_adopt(struct sess_registry *reg, const struct sess_snap *tmpl)
{
	link_snap(reg, copy(tmpl));
}

struct sess_snap *sess_snap_find(struct sess_registry *reg, const char *id, const char *owner)
{
	for (struct sess_snap *sn = *sess_registry_snaps(reg); sn; sn = sn->next)
		if (!strcmp(sn->id, id))
			/* a key limited to some sessions sees the snapshots taken of them */
			return sess_principal_sees(owner, sn->owner) && sess_principal_in_scope(owner, sn->session_id) ?
				       sn : NULL;
	return NULL;
}

void sess_snap_foreach(struct sess_registry *reg, const char *owner,
		       void (*fn)(void *arg, struct sess_snap *sn), void *arg)
{
	struct sess_snap *sn, *next;
	struct sess_scope sc;

	/* once per walk, not per snapshot: each lookup asks the key store */
	sess_scope_of(owner, &sc);
	for (sn = *sess_registry_snaps(reg); sn; sn = next) {
		next = sn->next;
		if (sess_principal_sees(owner, sn->owner) && sess_scope_has(&sc, sn->session_id))
			fn(arg, sn);
	}
}

static void snap_free(struct sess_snap *sn)
{
	free(sn->id);
	free(sn->owner);
	free(sn->session_id);
	free(sn->name);
	json_decref(sn->labels);
	free(sn);
}

void sess_snap_forget_all(struct sess_registry *reg)
{
	struct sess_snap **pp = sess_registry_snaps(reg);
	while (*pp) {
		struct sess_snap *sn = *pp;
		*pp = sn->next;
		snap_free(sn);
	}
}

void sess_snap_remove(struct sess_registry *reg, struct sess_snap *sn)
{
	const struct sess_persist *p = sess_registry_persist(reg);
	struct sess_snap **pp = sess_registry_snaps(reg);

	while (*pp && *pp != sn)
		pp = &(*pp)->next;
	if (*pp)
		*pp = sn->next;
	if (p->snapshot)
		p->snapshot(p->arg, sn, true);
	snap_free(sn);
}
