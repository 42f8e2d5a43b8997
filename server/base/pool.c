/*
 * server/base/pool.c — work on libuv's thread pool, fair between principals
 * (see pool.h).
 */
#include "pool.h"
#include "common.h"
#include "rights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "banned.h"

struct pjob {
	uv_work_t w;			/* ours; w.data is the job */
	uv_work_t *req;			/* the caller's, passed to run and done */
	uv_work_cb run;
	uv_after_work_cb done;
	struct principal *p;
	bool on_pool;			/* handed to libuv (else waiting in p->waiting) */
	TAILQ_ENTRY(pjob) link;		/* in p->waiting, or in p->running */
};
TAILQ_HEAD(pjobs, pjob);

struct principal {
	char *name;
	unsigned on_pool;		/* jobs handed to libuv (at most SRV_POOL_PER_PRINCIPAL) */
	unsigned jobs;			/* every job that names it: freed at 0 */
	struct pjobs waiting, running;
	struct pjob *last_first;	/* the last of the jobs queued first, at the front of waiting */
	LIST_ENTRY(principal) link;
};
static LIST_HEAD(, principal) principals = LIST_HEAD_INITIALIZER(principals);

static void job_run(uv_work_t *w)
{
	struct pjob *j = w->data;
	j->run(j->req);
}

static void noop_run(uv_work_t *w)
{
	(void)w;
}

static void start(struct pjob *j);

static void waiting_remove(struct principal *p, struct pjob *j)
{
	if (p->last_first == j)
		p->last_first = TAILQ_PREV(j, pjobs, link);
	TAILQ_REMOVE(&p->waiting, j, link);
}

/* On the loop: j is done (or was cancelled); hand the principal's next job to libuv. */
static void job_done(uv_work_t *w, int status)
{
	struct pjob *j = w->data;
	struct principal *p = j->p;
	uv_after_work_cb done = j->done;
	uv_work_t *req = j->req;

	if (j->on_pool) {
		TAILQ_REMOVE(&p->running, j, link);
		p->on_pool--;
	}
	p->jobs--;
	free(j);
	struct pjob *next = TAILQ_FIRST(&p->waiting);
	if (next && p->on_pool < SRV_POOL_PER_PRINCIPAL) {
		waiting_remove(p, next);
		start(next);
	}
	if (!p->jobs) {
		LIST_REMOVE(p, link);
		free(p->name);
		free(p);
	}
	done(req, status);
}

/* A cancelled job that never reached libuv: done with UV_ECANCELED, from the loop, later. */
static void cancelled_done(uv_work_t *w, int status)
{
	(void)status;
	job_done(w, UV_ECANCELED);
}

static void start(struct pjob *j)
{
	j->on_pool = true;
	j->p->on_pool++;
	TAILQ_INSERT_TAIL(&j->p->running, j, link);
	if (uv_queue_work(uv_default_loop(), &j->w, job_run, job_done) < 0) {
		job_run(&j->w);
		job_done(&j->w, 0);
	}
}

static void queue(const char *principal, uv_work_t *req, uv_work_cb run, uv_after_work_cb done, bool first)
{
	struct principal *p;
	struct pjob *j = xcalloc(1, sizeof(*j));

	if (!principal)
		principal = "";
	/* a user's keys share the user's turn ("user:a#key_x" is "user:a"'s) */
	size_t len = srv_principal_owner_len(principal);
	LIST_FOREACH(p, &principals, link)
		if (strlen(p->name) == len && !memcmp(p->name, principal, len))
			break;
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->name = xstrndup(principal, len);
		TAILQ_INIT(&p->waiting);
		TAILQ_INIT(&p->running);
		LIST_INSERT_HEAD(&principals, p, link);
	}
	j->w.data = j;
	j->req = req;
	j->run = run;
	j->done = done;
	j->p = p;
	p->jobs++;
	if (p->on_pool < SRV_POOL_PER_PRINCIPAL)
		start(j);
	else if (!first)
		TAILQ_INSERT_TAIL(&p->waiting, j, link);
	else if (p->last_first)
		TAILQ_INSERT_AFTER(&p->waiting, p->last_first, j, link);
	else
		TAILQ_INSERT_HEAD(&p->waiting, j, link);
	if (first && !j->on_pool)
		p->last_first = j;
}

void srv_pool_queue(const char *principal, uv_work_t *req, uv_work_cb run, uv_after_work_cb done)
{
	queue(principal, req, run, done, false);
}

void srv_pool_queue_first(const char *principal, uv_work_t *req, uv_work_cb run, uv_after_work_cb done)
{
	queue(principal, req, run, done, true);
}

void srv_pool_cancel(uv_work_t *req)
{
	struct principal *p;
	struct pjob *j;

	LIST_FOREACH(p, &principals, link) {
		TAILQ_FOREACH(j, &p->running, link)
			if (j->req == req) {
				uv_cancel((uv_req_t *)&j->w); /* fails harmlessly once it runs */
				return;
			}
		TAILQ_FOREACH(j, &p->waiting, link)
			if (j->req == req) {
				/* through the pool with nothing to do, so that done comes later, never from here */
				waiting_remove(p, j);
				(void)uv_queue_work(uv_default_loop(), &j->w, noop_run, cancelled_done); /* cannot fail */
				return;
			}
	}
}
