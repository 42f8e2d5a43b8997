/*
 * server/base/offload.c — large JSON answers written off the loop (see offload.h).
 */
#include "offload.h"
#include "common.h"

#include <stdlib.h>

#include "banned.h"

static srv_offload_fn runner;

void srv_offload_set(srv_offload_fn run)
{
	runner = run;
}

static void nothing(void *arg)
{
}

bool srv_offload_run(const char *principal, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	if (!runner)
		return false;
	runner(principal, work, done ? done : nothing, arg);
	return true;
}

/* Is every array and object of j referenced only from j's tree (so no other code can change it)? */
static bool tree_private(const json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (j->refcount != 1)
			return false;
		json_object_foreach((json_t *)j, key, v)
			if (!tree_private(v))
				return false;
		return true;
	case JSON_ARRAY:
		if (j->refcount != 1)
			return false;
		json_array_foreach(j, i, v)
			if (!tree_private(v))
				return false;
		return true;
	default:
		return true;
	}
}

struct written {
	json_t *j;
	size_t headroom;
	srv_json_writer_fn write;
	srv_json_written_fn done;
	void *arg;
	struct buf text;
	int rc;
};

static void write_work(void *arg)
{
	struct written *w = arg;

	w->rc = srv_json_write_text(&w->text, w->headroom, w->j, w->write);
	json_decref(w->j); /* its large strings are freed here too, not on the loop */
	w->j = NULL;
}

static void write_done(void *arg)
{
	struct written *w = arg;

	w->done(w->arg, &w->text, w->rc);
	buf_release(&w->text);
	free(w);
}

bool srv_json_write_off_loop(const char *principal, json_t *j, size_t headroom, srv_json_writer_fn write,
			     srv_json_written_fn done, void *arg)
{
	if (!runner || !srv_json_size_reaches(j, SRV_OFFLOAD_MIN) || !tree_private(j))
		return false;
	struct written *w = xcalloc(1, sizeof(*w));
	w->j = j;
	w->headroom = headroom;
	w->write = write;
	w->done = done;
	w->arg = arg;
	runner(principal, write_work, write_done, w);
	return true;
}
