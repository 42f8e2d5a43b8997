/*
 * The cost of a rate-limit check (server/base/rate.c) as tools/registry.c makes it for every tool
 * call: one srv_rate_take. Prints a markdown table: ns per check (median and p99 of batches of
 * 1,000 checks), beside an uncontended mutex lock/unlock measured the same way in the same run.
 */
#include "server/base/rate.h"
#include "server/base/common.h"
#include "tests/bench/bench_clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BATCH 1000
#define BATCHES 3000

static char (*names)[24];

/* ns per check for n distinct principals (cycled) in a table of cap; admin: an exempt principal */
static void measure(const char *what, size_t n, uint64_t cap, int admin)
{
	struct srv_rate_config c = { .principals = cap };
	for (int i = 0; i < SRV_RATE_NCAT; i++)
		c.cat[i] = (struct srv_rate_limit){ 1000000, 1000000 };
	struct srv_rate *rl = srv_rate_new(&c);
	struct srv_rate_verdict v;
	static double per[BATCHES];
	size_t k = 0;
	uint64_t t = 1;

	for (size_t i = 0; i < n; i++) /* warm: every principal once */
		srv_rate_take(rl, names[i], SRV_RATE_REQUESTS, t++, &v);
	for (int b = 0; b < BATCHES; b++) {
		uint64_t a = bench_mono();
		for (int i = 0; i < BATCH; i++) {
			srv_rate_take(rl, admin ? "admin:key_0" : names[k], SRV_RATE_REQUESTS, t++, &v);
			if (++k == n)
				k = 0;
		}
		per[b] = (double)(bench_mono() - a) / BATCH;
	}
	qsort(per, BATCHES, sizeof(*per), bench_cmp);
	printf("| %s | %.1f | %.1f |\n", what, per[BATCHES / 2], per[BATCHES * 99 / 100]);
	srv_rate_free(rl);
}

int main(void)
{
	names = xcalloc(20000, sizeof(*names));
	for (int i = 0; i < 20000; i++)
		snprintf(names[i], sizeof(names[i]), "key_%012x", (unsigned)i * 2654435761u);
	printf("| rate-limit check (srv_rate_take) | ns median | ns p99 |\n|---|---|---|\n");
	measure("one principal", 1, 10000, 0);
	measure("1,000 principals, cycled", 1000, 10000, 0);
	measure("10,000 principals, cycled (table of 10,000)", 10000, 10000, 0);
	measure("20,000 principals in a table of 10,000 (an eviction every check)", 20000, 10000, 0);
	measure("an exempt administrator (no bucket)", 1, 10000, 1);

	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static double per[BATCHES];
	for (int b = 0; b < BATCHES; b++) {
		uint64_t a = bench_mono();
		for (int i = 0; i < BATCH; i++) {
			pthread_mutex_lock(&m);
			pthread_mutex_unlock(&m);
		}
		per[b] = (double)(bench_mono() - a) / BATCH;
	}
	qsort(per, BATCHES, sizeof(*per), bench_cmp);
	printf("| peer: an uncontended pthread mutex lock + unlock | %.1f | %.1f |\n", per[BATCHES / 2],
	       per[BATCHES * 99 / 100]);
	free(names);
	return 0;
}
