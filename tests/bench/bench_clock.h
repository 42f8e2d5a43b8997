/* What the C benchmarks share: a monotonic clock in ns and a comparison of doubles for qsort. */
#ifndef MCPBOX_BENCH_CLOCK_H
#define MCPBOX_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static inline uint64_t bench_mono(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

#endif
