/**
 * offload.h — large JSON answers written off the loop thread, for every
 * protocol: MCP's JSON-RPC engine (rpc.c) and the REST dialects' answers
 * (transport/http.h's tp_req_json), and large received texts parsed off it
 * (rpc.c, srv_offload_run; the REST dialects' request bodies: http.h's
 * tp_req_body_json). Turning a many-MiB value into text, text into a value,
 * and freeing it take milliseconds that every other client would wait for.
 * Each piece of such work is done for a principal (pool.h's: a key or user,
 * or "peer:ADDR" before one is known) and waits for its turn in the
 * principal's fair queue, so that one key's many large texts hold at most
 * its share of the pool's threads.
 *
 * A value is written off the loop when its strings (and keys) pass
 * SRV_OFFLOAD_MIN bytes, a runner is set, and every array and object in it
 * belongs to it alone (reference count 1): one shared with state the loop
 * keeps (a stored document, a cache) could change while another thread reads
 * it, so such a value is written on the loop as before. Strings and numbers
 * may be shared: nothing changes them after they are made, and jansson's
 * reference counts are atomic.
 *
 * Threads: srv_offload_set at start-up; srv_json_write_off_loop on the loop
 * thread, whose done runs on the loop thread too.
 */
#ifndef MCPBOX_OFFLOAD_H
#define MCPBOX_OFFLOAD_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "json_out.h"

#define SRV_OFFLOAD_MIN (256u << 10)

/**
 * How work leaves the loop: run(principal, work, done, arg) calls work(arg)
 * on another thread in principal's turn, then done(arg) on the loop thread.
 * Set once at start-up (server/main.c: pool.h's fair queue); without one
 * (unit tests, fuzzing, stdio tools) every value is written on the caller's
 * thread.
 */
typedef void (*srv_offload_fn)(const char *principal, void (*work)(void *arg), void (*done)(void *arg), void *arg);
void srv_offload_set(srv_offload_fn run);

/**
 * Run work(arg) on another thread for principal and then done(arg) on the
 * loop thread (done may be NULL): true when a runner is set (done follows, or
 * both run at once when the runner cannot queue), false when none is (nothing
 * ran: the caller does the work itself). Used to parse and free large texts.
 */
bool srv_offload_run(const char *principal, void (*work)(void *arg), void (*done)(void *arg), void *arg);

/**
 * What a value written off the loop became: text holds headroom zero bytes
 * and then the JSON text (the callee may take it, e.g. buf_detach or a move;
 * what is left is released after done returns), or rc -1 and text empty when
 * write failed.
 */
typedef void (*srv_json_written_fn)(void *arg, struct buf *text, int rc);

/**
 * Write j after headroom zero bytes with write, off the loop for principal: true when it
 * does (j is taken and released on the other thread; done(arg, ...) follows
 * on the loop thread, or at once when the runner cannot queue), false when j is small,
 * shared or no runner is set (nothing happened: the caller still owns j and
 * writes it at once, e.g. with srv_json_write_text).
 */
bool srv_json_write_off_loop(const char *principal, json_t *j, size_t headroom, srv_json_writer_fn write,
			     srv_json_written_fn done, void *arg);

#endif
