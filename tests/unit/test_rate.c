/* Unit tests of the rate limits (server/base/rate.c): refill, burst, exhaustion, recovery, eviction, config. */
#include "tap.h"
#include "server/base/rate.h"
#include "server/base/common.h"

#include <time.h>

#define SEC 1000000000ull

static struct srv_rate_config cfg_of(uint64_t per_minute, uint64_t burst, uint64_t principals)
{
	struct srv_rate_config c = { .principals = principals };
	for (int i = 0; i < SRV_RATE_NCAT; i++)
		c.cat[i] = (struct srv_rate_limit){ per_minute, burst };
	return c;
}

int main(void)
{
	struct srv_rate_config c = cfg_of(60, 5, 100);	/* one token a second, five at once */
	struct srv_rate *rl = srv_rate_new(&c);
	struct srv_rate_verdict v;
	uint64_t t = 1000 * SEC;
	int admitted = 0;

	/* burst: five at once, then refused with the time until the next token */
	for (int i = 0; i < 5; i++) {
		ok(srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t, &v) && !v.refused, "call %d of the burst admitted", i + 1);
		ok(v.limit == 5 && v.remaining == (uint64_t)(4 - i), "remaining %llu after %d", (unsigned long long)v.remaining,
		   i + 1);
	}
	ok(srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t, &v) && v.refused, "the sixth is refused (exhausted)");
	ok(v.limit == 5 && v.per_minute == 60, "the verdict tells the bucket (5) from the rate (60 a minute)");
	ok(v.retry_after_ms == 1000 && v.remaining == 0, "retry after one token's time (%llu ms)",
	   (unsigned long long)v.retry_after_ms);
	ok(v.reset_after_ms == 5000, "full again after five tokens' time (%llu ms)", (unsigned long long)v.reset_after_ms);
	ok(srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t + SEC / 2, &v) && v.refused && v.retry_after_ms == 500,
	   "half a token later: still refused, 500 ms to go (%llu)", (unsigned long long)v.retry_after_ms);

	/* refill: one token a second, never more than the burst */
	ok(srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t + SEC, &v) && !v.refused && v.remaining == 0,
	   "one second later one call is admitted");
	ok(srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t + SEC, &v) && v.refused, "and only one");
	t += 3600 * SEC; /* recovery: an hour idle refills to the burst, not beyond */
	admitted = 0;
	for (int i = 0; i < 20; i++)
		admitted += srv_rate_take(rl, "key_a", SRV_RATE_EXECUTE, t, &v) && !v.refused;
	ok(admitted == 5, "after a long idle time the bucket holds the burst again (%d admitted)", admitted);

	/* a steady rate at the refill speed is never refused */
	t += 3600 * SEC;
	admitted = 0;
	for (int i = 0; i < 300; i++)
		admitted += srv_rate_take(rl, "key_s", SRV_RATE_REQUESTS, t + (uint64_t)i * SEC, &v) && !v.refused;
	ok(admitted == 300, "a call a second for five minutes: all admitted (%d)", admitted);

	/* principals and categories are separate buckets */
	ok(srv_rate_take(rl, "key_b", SRV_RATE_EXECUTE, t, &v) && !v.refused && v.remaining == 4,
	   "another principal has its own bucket");
	ok(srv_rate_take(rl, "key_a", SRV_RATE_SESSIONS, t, &v) && !v.refused, "another category has its own bucket");

	/* exemptions: administrators and stdio unless configured */
	ok(!srv_rate_take(rl, "admin:key_x", SRV_RATE_EXECUTE, t, &v), "administrators are exempt by default");
	ok(!srv_rate_take(rl, "local", SRV_RATE_EXECUTE, t, &v), "the stdio user is exempt by default");
	srv_rate_free(rl);
	c.admins = c.local = true;
	rl = srv_rate_new(&c);
	ok(srv_rate_applies(rl, "admin:key_x", SRV_RATE_EXECUTE) && srv_rate_applies(rl, "local", SRV_RATE_EXECUTE),
	   "admins and local limited when configured");
	srv_rate_free(rl);

	/* 0 = off */
	c = cfg_of(60, 5, 100);
	c.cat[SRV_RATE_REQUESTS].per_minute = 0;
	rl = srv_rate_new(&c);
	ok(!srv_rate_take(rl, "key_a", SRV_RATE_REQUESTS, t, &v) && srv_rate_applies(rl, "key_a", SRV_RATE_EXECUTE),
	   "per_minute 0 turns a category off");
	srv_rate_free(rl);

	/* eviction: the table keeps at most `principals`; the least recently seen goes */
	c = cfg_of(60, 2, 3);
	rl = srv_rate_new(&c);
	srv_rate_take(rl, "p1", SRV_RATE_EXECUTE, t, &v);
	srv_rate_take(rl, "p1", SRV_RATE_EXECUTE, t, &v);
	ok(srv_rate_take(rl, "p1", SRV_RATE_EXECUTE, t, &v) && v.refused, "p1 exhausted");
	srv_rate_take(rl, "p2", SRV_RATE_EXECUTE, t, &v);
	srv_rate_take(rl, "p3", SRV_RATE_EXECUTE, t, &v);
	srv_rate_take(rl, "p1", SRV_RATE_EXECUTE, t, &v); /* p1 seen again: p2 is now the oldest */
	ok(srv_rate_count(rl) == 3, "three principals kept");
	srv_rate_take(rl, "p4", SRV_RATE_EXECUTE, t, &v);
	ok(srv_rate_count(rl) == 3, "a fourth evicts one (count %zu)", srv_rate_count(rl));
	ok(srv_rate_take(rl, "p1", SRV_RATE_EXECUTE, t, &v) && v.refused, "p1 (recently seen) kept its state");
	ok(srv_rate_take(rl, "p2", SRV_RATE_EXECUTE, t, &v) && !v.refused && v.remaining == 1,
	   "p2 (least recently seen) was evicted and starts full");
	for (int i = 0; i < 10000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "k%d", i);
		srv_rate_take(rl, name, SRV_RATE_REQUESTS, t, &v);
	}
	ok(srv_rate_count(rl) == 3, "10,000 principals later the table still holds 3");
	srv_rate_free(rl);

	/* the cost of a check (reported, not asserted: machines differ) */
	c = cfg_of(1000000, 1000000, 10000);
	rl = srv_rate_new(&c);
	char names[1000][16];
	for (int i = 0; i < 1000; i++)
		snprintf(names[i], sizeof(names[i]), "key_%08d", i);
	struct timespec a, b;
	const int n = 2000000;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		srv_rate_take(rl, names[i % 1000], SRV_RATE_EXECUTE, t + (uint64_t)i, &v);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
	printf("# rate check: %.1f ns per check (1,000 principals)\n", ns);
	ok(ns > 0, "the check was timed");
	srv_rate_free(rl);
	return tap_done();
}
