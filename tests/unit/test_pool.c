/*
 * Unit tests of the fair queue (server/base/pool.c) on libuv's real pool:
 * each job waits on its own semaphore, so the test decides when each ends
 * and sees which job a principal's freed turn goes to.
 */
#include "tap.h"
#include "server/base/pool.h"

#include <uv.h>

struct job {
	uv_work_t req;
	const char *name;
	uv_sem_t go;		/* posted: the job's run returns */
	int status;		/* done's, or 1 before it ran */
};

static uv_mutex_t lock;
static const char *started[16];	/* names, in the order their run began */
static int nstarted;

static void run(uv_work_t *w)
{
	struct job *j = w->data;
	uv_mutex_lock(&lock);
	started[nstarted++] = j->name;
	uv_mutex_unlock(&lock);
	uv_sem_wait(&j->go);
}

static void done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	j->status = status;
}

static int count_started(void)
{
	uv_mutex_lock(&lock);
	int n = nstarted;
	uv_mutex_unlock(&lock);
	return n;
}

/* Run the loop until n jobs have begun (or 5 s pass): whether they did. */
static bool wait_started(int n)
{
	for (int i = 0; i < 5000 && count_started() < n; i++) {
		uv_run(uv_default_loop(), UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	return count_started() >= n;
}

static void job_init(struct job *j, const char *name)
{
	j->req.data = j;
	j->name = name;
	j->status = 1;
	uv_sem_init(&j->go, 0);
}

int main(void)
{
	struct job a1, a2, n1, f1, f2, n2, b1, x;

	uv_mutex_init(&lock);
	job_init(&a1, "a1");
	job_init(&a2, "a2");
	job_init(&n1, "n1");
	job_init(&f1, "f1");
	job_init(&f2, "f2");
	job_init(&n2, "n2");
	job_init(&b1, "b1");
	job_init(&x, "x");

	srv_pool_queue("key_a", &a1.req, run, done);
	srv_pool_queue("key_a", &a2.req, run, done);
	ok(wait_started(2), "a principal's first %d jobs go to the pool at once", SRV_POOL_PER_PRINCIPAL);
	srv_pool_queue("key_a", &n1.req, run, done);
	srv_pool_queue_first("key_a", &f1.req, run, done);
	srv_pool_queue_first("key_a", &f2.req, run, done);
	srv_pool_queue("key_a", &n2.req, run, done);
	srv_pool_queue("key_a#key_c", &x.req, run, done); /* a key of key_a's: key_a's turn */
	srv_pool_queue("key_b", &b1.req, run, done);
	ok(wait_started(3) && !strcmp(started[2], "b1"), "another principal's job starts while the first's wait");
	uv_sleep(50);
	ok(count_started() == 3, "the first principal's others wait (%d started)", count_started());

	srv_pool_cancel(&n2.req);
	uv_sem_post(&a1.go);
	ok(wait_started(4) && !strcmp(started[3], "f1"), "a freed turn goes to the jobs queued first, in their order (%s)",
	   started[3]);
	uv_sem_post(&a2.go);
	ok(wait_started(5) && !strcmp(started[4], "f2"), "... then the second of them (%s)", started[4]);
	uv_sem_post(&f1.go);
	ok(wait_started(6) && !strcmp(started[5], "n1"), "... then the others, in order (%s)", started[5]);
	uv_sem_post(&f2.go);
	ok(wait_started(7) && !strcmp(started[6], "x"), "a key of the principal waits in its turn (%s)", started[6]);
	uv_sem_post(&n1.go);
	uv_sem_post(&x.go);
	uv_sem_post(&b1.go);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	ok(n2.status == UV_ECANCELED && count_started() == 7, "a cancelled job never runs; its done hears UV_ECANCELED");
	ok(a1.status == 0 && f1.status == 0 && n1.status == 0 && x.status == 0 && b1.status == 0, "the others are done with 0");
	ok(uv_loop_close(uv_default_loop()) == 0, "nothing is left on the loop");
	return tap_done();
}
