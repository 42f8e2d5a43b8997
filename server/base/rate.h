/**
 * rate.h — rate limits per principal and category: one token bucket per
 * (principal's owner, category): a key and the keys it made share theirs
 * (srv_principal_owner_len). O(1) per check, no lock (loop thread only).
 *
 * A bucket holds `burst` tokens and gains `per_minute` per minute; a call
 * takes one or is refused with the time until one is there. Each bucket is
 * kept as the single time at which it is full again (the generic cell rate
 * algorithm's "theoretical arrival time"): a bucket whose time has passed is
 * full, exactly as a bucket never seen. Principals live in a hash table
 * bounded by `principals`; when it is full the least recently seen principal
 * is forgotten (its buckets start full again: lossless when they were full
 * already, which is the common case for an idle one).
 *
 * Owns its table; principals are copied. Times are monotonic nanoseconds
 * (passed in, so tests control the clock).
 */
#ifndef MCPBOX_SRV_RATE_H
#define MCPBOX_SRV_RATE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/** The state of the bucket a call used, for headers and refusals. */
struct srv_rate_verdict {
	enum srv_rate_cat cat;
	bool refused;
	uint64_t limit;		/* the bucket's size (X-RateLimit-Limit) */
	uint64_t per_minute;	/* its refill: what a minute allows (differs from limit when burst does) */
	uint64_t remaining;	/* tokens left after this call (X-RateLimit-Remaining) */
	uint64_t reset_after_ms;	/* until it is full again (X-RateLimit-Reset: srv_rate_reset_epoch) */
	uint64_t retry_after_ms;	/* refused: when one token is there again (0 otherwise) */
};

struct srv_rate;

/** A table for cfg (copied). */
struct srv_rate *srv_rate_new(const struct srv_rate_config *cfg);
void srv_rate_free(struct srv_rate *rl);

/** Does a limit apply to principal in cat at all (limit on, principal not exempt)? */
bool srv_rate_applies(const struct srv_rate *rl, const char *principal, enum srv_rate_cat cat);

/**
 * Take a token of principal's bucket for cat at now_ns (monotonic). Returns
 * false (no verdict) when no limit applies; else fills *v (refused or not).
 */
bool srv_rate_take(struct srv_rate *rl, const char *principal, enum srv_rate_cat cat, uint64_t now_ns,
		   struct srv_rate_verdict *v);

/** When v's bucket is full again, in seconds since the epoch (rounded up). */
uint64_t srv_rate_reset_epoch(const struct srv_rate_verdict *v);

/** Principals in the table now (tests, metrics). */
size_t srv_rate_count(const struct srv_rate *rl);

/** "execute", "sessions", "requests". */
const char *srv_rate_cat_name(enum srv_rate_cat cat);

#endif
