/**
 * monitor.h — the server's measured history: a bounded ring of samples of
 * its metrics (server/base/alert.h's list, plus the execution and sandbox
 * counters of metrics.h at that moment) and the last health check of each
 * component. server/alerts.c writes it on every sample; tools (server_metrics,
 * server_health) and the REST dialects' live feeds read it. Nothing here
 * measures anything itself.
 *
 * Owns the ring (srv_mon_init .. srv_mon_release). Loop thread only.
 */
#ifndef MCPBOX_SRV_MONITOR_H
#define MCPBOX_SRV_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "metrics.h"

struct srv_mon_sample {
	uint64_t at_ms;				/* wall clock */
	double v[SRV_METRIC_COUNT];		/* NaN: not measured */
	uint64_t sessions_total;		/* sessions in any state */
	struct metrics_exec_totals ex;		/* since start */
	struct metrics_sandbox_totals sb;	/* since start */
};

/** Keep the last cap samples (cap >= 1); now is when the server started (srv_mon_started_ms). */
void srv_mon_init(size_t cap);
uint64_t srv_mon_started_ms(void);
void srv_mon_release(void);
void srv_mon_push(const struct srv_mon_sample *s);
/** The sample n back from the newest (0: the newest), or NULL. */
const struct srv_mon_sample *srv_mon_back(size_t n);
/** Samples kept. */
size_t srv_mon_count(void);
/** The oldest sample at most window_ms older than the newest, or NULL when there is none. */
const struct srv_mon_sample *srv_mon_window_start(uint64_t window_ms);

/** A metric over the samples of a window (NaN fields when no sample measured it). */
struct srv_mon_stat {
	double current, average, peak;
	size_t samples;
};
void srv_mon_stat(enum srv_metric m, uint64_t window_ms, struct srv_mon_stat *out);

/** The health of the parts the server checks on every sample. */
enum srv_mon_component { SRV_MON_DATABASE, SRV_MON_CONTAINERS, SRV_MON_NCOMPONENTS };
struct srv_mon_health {
	bool checked;		/* false: not checked yet */
	bool healthy;
	uint64_t checked_ms;	/* wall clock of the check */
	char message[200];	/* why not healthy ("" when healthy) */
};
/** "database", "container_manager". */
const char *srv_mon_component_name(enum srv_mon_component c);
void srv_mon_health_set(enum srv_mon_component c, bool healthy, const char *message);
const struct srv_mon_health *srv_mon_health_get(enum srv_mon_component c);

#endif
