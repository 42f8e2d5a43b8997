/**
 * upstream.h — one TCP connection from mcpbox to a port inside a session's
 * sandbox. The socket is opened by the sandbox's worker inside the
 * sandbox's network namespace and passed to us (sess_worker_connect): mcpbox
 * never joins a sandbox's namespaces and opens no other path into it.
 *
 * Everything read from it is hostile: reads come in pieces of at most
 * PX_UP_READ bytes and stop while paused; what we write waits in a queue the
 * caller keeps under a bound (px_up_write says when it is full, ops->writable
 * when it drained). Connecting times out after PX_UP_CONNECT_MS; a caller may
 * arm a timeout of its own (px_up_timeout).
 *
 * Ownership: the caller owns the px_up until px_up_close(); after that no
 * callback runs and the memory goes once libuv let go of it. A callback may
 * call px_up_close(). The session is held while the px_up lives.
 * Loop thread only.
 */
#ifndef MCPBOX_PX_UPSTREAM_H
#define MCPBOX_PX_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "../server/base/err.h"
#include "../sessions/session.h"

#define PX_UP_READ (64u << 10)
#define PX_UP_QUEUE_MAX (1u << 20)
#define PX_UP_CONNECT_MS 5000

struct px_up;

struct px_up_ops {
	/* Connected (err NULL) or not (err, owned by the callee; close it then). */
	void (*connected)(void *arg, struct err *err);
	/* A piece of what the server sent, in a buffer of the connection's the callee may change in place. */
	void (*data)(void *arg, char *p, size_t n);
	/* The server closed its side (err NULL), or the connection failed or timed out (err owned by the callee). */
	void (*ended)(void *arg, struct err *err);
	/* The write queue fell under a quarter of PX_UP_QUEUE_MAX after px_up_write said it was full. */
	void (*writable)(void *arg);
};

/**
 * Connect to port on s's loopback. Fails at once if s does not run or the
 * port is not 1..65535; otherwise ops->connected runs later.
 */
struct px_up *px_up_open(struct sess_session *s, unsigned port, const struct px_up_ops *ops, void *arg,
			 struct err **errp);
/** Queue bytes; false when the queue now holds more than PX_UP_QUEUE_MAX (stop until ops->writable). */
bool px_up_write(struct px_up *u, const void *p, size_t n);
/** Bytes waiting to be written. */
size_t px_up_queued(const struct px_up *u);
/** Stop (true) or resume reading. */
void px_up_pause(struct px_up *u, bool paused);
/** ms from now, ops->ended with ERR_TIMEOUT; 0: no timeout. */
void px_up_timeout(struct px_up *u, unsigned ms);
/** Close; what is queued is written as far as the socket takes it at once; no callback runs after this. */
void px_up_close(struct px_up *u);

#endif
