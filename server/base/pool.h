/**
 * pool.h — work on libuv's thread pool, fair between principals.
 *
 * libuv's pool is one FIFO in front of a few threads (four), shared by every
 * client: a principal that asks for a hundred searches, listings, snapshots
 * or parses of large texts at once would put them all ahead of every other
 * principal's work. Here each principal has at most SRV_POOL_PER_PRINCIPAL
 * jobs in libuv's hands (queued there or running); the rest wait in the
 * principal's own FIFO and go to libuv one by one as its earlier jobs finish.
 * Another principal's job then waits behind at most that many jobs of each
 * busy principal.
 *
 * A principal is whoever the work is for: an authenticated key or user (a
 * user's keys share the user's turn: "user:a#key_x" is "user:a"'s), or, for
 * a request not yet authenticated, a name the transport makes from its peer
 * ("peer:ADDR"). NULL is "" (tools run without a caller).
 *
 * Users: the tools' jobs (tools/), large JSON texts parsed and large answers
 * written or freed (offload.h, through the runner server/main.c sets).
 *
 * Loop thread only (run callbacks run on pool threads, as ever; done on the
 * loop, once, with status 0 or UV_ECANCELED).
 */
#ifndef MCPBOX_POOL_H
#define MCPBOX_POOL_H

#include <stdbool.h>
#include <uv.h>

#define SRV_POOL_PER_PRINCIPAL 2

/**
 * Run run(req) on libuv's pool and done(req, status) on the loop after, as
 * uv_queue_work does, but in principal's turn. req is the caller's until
 * done (its data field is the caller's too).
 */
void srv_pool_queue(const char *principal, uv_work_t *req, uv_work_cb run, uv_after_work_cb done);
/**
 * The same, ahead of principal's other waiting jobs (still in its turn, and
 * never ahead of other principals'): short work that holds memory until it
 * runs, such as a received text to parse or an answer to write.
 */
void srv_pool_queue_first(const char *principal, uv_work_t *req, uv_work_cb run, uv_after_work_cb done);
/** Take req off the pool if it has not started: done then runs later with UV_ECANCELED. */
void srv_pool_cancel(uv_work_t *req);

#endif
