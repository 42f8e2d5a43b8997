#include "rate.h"
#include "common.h"
#include "rights.h"
#include "banned.h"

#include <string.h>
#include <sys/queue.h>

#define NS_PER_MIN 60000000000ull

struct entry {
	char *principal;
	uint64_t hash;
	uint64_t full_at[SRV_RATE_NCAT];	/* monotonic ns: the bucket is full from then on */
	struct entry *chain;			/* next in its hash slot */
	TAILQ_ENTRY(entry) lru;			/* most recently seen first */
};

struct srv_rate {
	struct srv_rate_config cfg;
	uint64_t interval[SRV_RATE_NCAT];	/* ns per token; 0: no limit */
	struct entry **slots;
	size_t mask;				/* slots - 1 (a power of two) */
	size_t count;
	TAILQ_HEAD(entry_list, entry) lru;
};

struct srv_rate *srv_rate_new(const struct srv_rate_config *cfg)
{
	struct srv_rate *rl = xcalloc(1, sizeof(*rl));
	size_t n = 16;

	rl->cfg = *cfg;
	if (!rl->cfg.principals)
		rl->cfg.principals = 1;
	for (int c = 0; c < SRV_RATE_NCAT; c++) {
		const struct srv_rate_limit *l = &rl->cfg.cat[c];
		rl->interval[c] = l->per_minute && l->burst ? (NS_PER_MIN + l->per_minute - 1) / l->per_minute : 0;
	}
	while (n < rl->cfg.principals * 2 && n < (1u << 24))
		n <<= 1;
	rl->slots = xcalloc(n, sizeof(*rl->slots));
	rl->mask = n - 1;
	TAILQ_INIT(&rl->lru);
	return rl;
}

static void entry_unlink(struct srv_rate *rl, struct entry *e)
{
	struct entry **pp = &rl->slots[e->hash & rl->mask];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	TAILQ_REMOVE(&rl->lru, e, lru);
	rl->count--;
	free(e->principal);
	free(e);
}

void srv_rate_free(struct srv_rate *rl)
{
	if (!rl)
		return;
	while (!TAILQ_EMPTY(&rl->lru))
		entry_unlink(rl, TAILQ_FIRST(&rl->lru));
	free(rl->slots);
	free(rl);
}

size_t srv_rate_count(const struct srv_rate *rl)
{
	return rl->count;
}

const char *srv_rate_cat_name(enum srv_rate_cat cat)
{
	static const char *const names[SRV_RATE_NCAT] = { "execute", "sessions", "requests" };
	return (unsigned)cat < SRV_RATE_NCAT ? names[cat] : "?";
}

bool srv_rate_applies(const struct srv_rate *rl, const char *principal, enum srv_rate_cat cat)
{
	if (!rl || (unsigned)cat >= SRV_RATE_NCAT || !rl->interval[cat] || !principal)
		return false;
	if (!rl->cfg.admins && !strncmp(principal, "admin:", 6))
		return false;
	if (!rl->cfg.local && !strcmp(principal, "local"))
		return false;
	return true;
}

/* The entry of principal's owner (its first len bytes), made (and the least recently seen one
   forgotten if the table is full) when new */
static struct entry *entry_get(struct srv_rate *rl, const char *principal, size_t len)
{
	uint64_t h = fnv1a(FNV1A_INIT, principal, len);
	struct entry *e;

	for (e = rl->slots[h & rl->mask]; e; e = e->chain) {
		if (e->hash == h && !strncmp(e->principal, principal, len) && !e->principal[len]) {
			if (e != TAILQ_FIRST(&rl->lru)) {
				TAILQ_REMOVE(&rl->lru, e, lru);
				TAILQ_INSERT_HEAD(&rl->lru, e, lru);
			}
			return e;
		}
	}
	if (rl->count >= rl->cfg.principals)
		entry_unlink(rl, TAILQ_LAST(&rl->lru, entry_list));
	e = xcalloc(1, sizeof(*e));
	e->principal = xstrndup(principal, len);
	e->hash = h;
	e->chain = rl->slots[h & rl->mask];
	rl->slots[h & rl->mask] = e;
	TAILQ_INSERT_HEAD(&rl->lru, e, lru);
	rl->count++;
	return e;
}

static uint64_t ns_to_ms_up(uint64_t ns)
{
	return (ns + 999999) / 1000000;
}

bool srv_rate_take(struct srv_rate *rl, const char *principal, enum srv_rate_cat cat, uint64_t now_ns,
		   struct srv_rate_verdict *v)
{
	if (!srv_rate_applies(rl, principal, cat))
		return false;
	/* a key's keys share its buckets, as they share its quotas: minting keys is no way round a limit */
	struct entry *e = entry_get(rl, principal, srv_principal_owner_len(principal));
	uint64_t t = rl->interval[cat], cap = t * rl->cfg.cat[cat].burst;
	uint64_t full_at = e->full_at[cat] > now_ns ? e->full_at[cat] : now_ns;
	uint64_t missing = full_at - now_ns;	/* ns until full: tokens missing times t */

	memset(v, 0, sizeof(*v));
	v->cat = cat;
	v->limit = rl->cfg.cat[cat].burst;
	v->per_minute = rl->cfg.cat[cat].per_minute;
	if (missing + t > cap) {
		v->refused = true;
		v->retry_after_ms = ns_to_ms_up(missing + t - cap);
		v->reset_after_ms = ns_to_ms_up(missing);
		return true;
	}
	e->full_at[cat] = full_at + t;
	v->remaining = (cap - missing - t) / t;
	v->reset_after_ms = ns_to_ms_up(missing + t);
	return true;
}

uint64_t srv_rate_reset_epoch(const struct srv_rate_verdict *v)
{
	return (wall_ms() + v->reset_after_ms + 999) / 1000;
}
