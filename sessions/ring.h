/**
 * ring.h — a bounded log of program output: chunks tagged with a stream
 * (1 stdout, 2 stderr), a source (the worker's execution number) and the
 * wall-clock time of their first byte, addressed by absolute byte offsets
 * (the first byte ever added is offset 0).
 *
 * Whatever a sandboxed program writes ends up here, so the memory is bounded:
 * the bytes kept plus a fixed overhead per chunk never pass the ring's cap;
 * when they would, the oldest chunks are dropped whole, and sess_ring_start()
 * (the first offset still kept) says how many bytes went. Chunks are at most
 * cap/8 bytes (and at most 64 KiB), so a drop loses at most an eighth of the
 * cap beyond what it must. A job's output and a session's log are rings.
 *
 * The ring owns its chunks; sess_ring_release() frees them. Any thread, but
 * one at a time (the server uses rings on the loop only).
 */
#ifndef MCPBOX_SESS_RING_H
#define MCPBOX_SESS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../server/base/buf.h"

struct sess_ring_chunk {
	TAILQ_ENTRY(sess_ring_chunk) link;
	uint64_t off;		/* absolute offset of data[0] */
	uint64_t ms;		/* wall clock of its first byte, ms */
	uint64_t source;	/* who wrote it (execution number) */
	int stream;		/* 1 stdout, 2 stderr */
	char *data;
	size_t len, cap;
};

TAILQ_HEAD(sess_ring_list, sess_ring_chunk);

struct sess_ring {
	struct sess_ring_list chunks;	/* oldest first */
	uint64_t cap;			/* bytes (data capacity + overhead) kept at most */
	uint64_t used;
	uint64_t start;			/* offset of the first byte kept (= bytes dropped) */
	uint64_t end;			/* offset after the last byte (= bytes ever added) */
	uint64_t merge_ms;		/* add to the last chunk only if it began at most this long ago */
};

/** An empty ring keeping at most cap bytes (at least 4 KiB is used whatever cap says). */
void sess_ring_init(struct sess_ring *r, uint64_t cap, uint64_t merge_ms);
void sess_ring_release(struct sess_ring *r);
/** Append len bytes of stream from source at time ms, dropping the oldest chunks beyond the cap. */
void sess_ring_add(struct sess_ring *r, int stream, uint64_t source, uint64_t ms, const char *data, size_t len);
/**
 * The kept output from offset since (raised to the first kept byte) on, at
 * most limit bytes, per stream (appended to out/err); returns the offset after
 * the last byte given (where the next read starts).
 */
uint64_t sess_ring_split(const struct sess_ring *r, uint64_t since, uint64_t limit, struct buf *out,
			 struct buf *err);
/** The last complete non-empty line of output (at most max bytes of it) into line; false if none. */
bool sess_ring_last_line(const struct sess_ring *r, struct buf *line, size_t max);

/**
 * Where a reader of a terminal's raw output may start once the oldest
 * bytes were dropped (since < r->start): the first kept byte that begins an
 * escape sequence (ESC) or follows a newline, so a replay never starts in the
 * middle of an escape sequence or a UTF-8 character (CSI sequences hold no
 * newline); when the kept bytes have neither, the first byte that does not
 * continue a UTF-8 character. since itself when nothing before it was dropped.
 */
uint64_t sess_ring_resume(const struct sess_ring *r, uint64_t since);

#endif
