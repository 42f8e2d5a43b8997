#include "monitor.h"
#include "common.h"
#include "banned.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv_mon_sample *ring;
static size_t cap, head, count;	/* ring[head] is the next slot */
static struct srv_mon_health health[SRV_MON_NCOMPONENTS];
static uint64_t started_ms;

void srv_mon_init(size_t n)
{
	srv_mon_release();
	cap = n ? n : 1;
	ring = xcalloc(cap, sizeof(*ring));
	started_ms = wall_ms();
}

uint64_t srv_mon_started_ms(void)
{
	return started_ms;
}

void srv_mon_release(void)
{
	free(ring);
	ring = NULL;
	cap = head = count = 0;
	memset(health, 0, sizeof(health));
}

void srv_mon_push(const struct srv_mon_sample *s)
{
	if (!ring)
		return;
	ring[head] = *s;
	head = (head + 1) % cap;
	if (count < cap)
		count++;
}

const struct srv_mon_sample *srv_mon_back(size_t n)
{
	if (n >= count)
		return NULL;
	return &ring[(head + cap - 1 - n) % cap];
}

size_t srv_mon_count(void)
{
	return count;
}

const struct srv_mon_sample *srv_mon_window_start(uint64_t window_ms)
{
	const struct srv_mon_sample *newest = srv_mon_back(0), *start = NULL;
	for (size_t n = 0; n < count && newest->at_ms - srv_mon_back(n)->at_ms <= window_ms; n++)
		start = srv_mon_back(n);
	return start;
}

void srv_mon_stat(enum srv_metric m, uint64_t window_ms, struct srv_mon_stat *out)
{
	const struct srv_mon_sample *newest = srv_mon_back(0);
	double sum = 0;

	out->current = out->average = out->peak = NAN;
	out->samples = 0;
	if (!newest)
		return;
	out->current = newest->v[m];
	for (size_t n = 0; n < count; n++) {
		const struct srv_mon_sample *s = srv_mon_back(n);
		if (newest->at_ms - s->at_ms > window_ms)
			break;
		if (isnan(s->v[m]))
			continue;
		sum += s->v[m];
		if (!out->samples || s->v[m] > out->peak)
			out->peak = s->v[m];
		out->samples++;
	}
	if (out->samples)
		out->average = sum / (double)out->samples;
}

const char *srv_mon_component_name(enum srv_mon_component c)
{
	return c == SRV_MON_DATABASE ? "database" : "container_manager";
}

void srv_mon_health_set(enum srv_mon_component c, bool healthy, const char *message)
{
	health[c].checked = true;
	health[c].healthy = healthy;
	health[c].checked_ms = wall_ms();
	snprintf(health[c].message, sizeof(health[c].message), "%s", healthy || !message ? "" : message);
}

const struct srv_mon_health *srv_mon_health_get(enum srv_mon_component c)
{
	return &health[c];
}
