/**
 * chan.h — messages between the server and a kernel agent (kernel/proto.h):
 * building them (both ends) and the server's check of what an agent sends
 * (pure functions, any thread; the fuzz target tests/fuzz/fuzz_kernel_chan.c
 * drives kern_chan_parse).
 *
 * A message that fails the check means the agent misbehaves: the caller
 * stops that kernel. Nothing here trusts a length, count or byte from the
 * agent.
 */
#ifndef MCPBOX_KERN_CHAN_H
#define MCPBOX_KERN_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "../server/base/buf.h"
#include "../server/base/err.h"

/** A run of bytes inside the buffer given to kern_chan_parse (not terminated). */
struct kern_bytes {
	const char *p;
	size_t len;
};

/** A message that passed the check; its bytes point into the parsed buffer. */
struct kern_msg {
	enum kern_msg_type type;
	uint32_t seq;
	struct kern_bytes text;		/* READY, FAILED (printable ASCII, <= KERN_TEXT_MAX), STREAM */
	enum kern_stream stream;	/* STREAM */
	enum kern_origin origin;	/* DATA */
	int nparts;			/* DATA: 1..KERN_PARTS_MAX */
	struct {
		char mime[KERN_MIME_MAX + 1];	/* terminated, [a-z0-9+.-/] */
		struct kern_bytes data;
	} parts[KERN_PARTS_MAX];
	struct kern_bytes ename, evalue, traceback;	/* ERROR */
	enum kern_status status;	/* DONE */
	uint32_t count;			/* DONE: execution count */
	int wstatus;			/* DIED */
};

/**
 * Check the message at the start of buf (len bytes received so far).
 * Returns its size (> 0) with *m filled, 0 when more bytes are needed to
 * judge it, or -1 (*errp says why) for a header or payload that breaks the
 * protocol: a length over KERN_MSG_MAX, an unknown type, fields that do not
 * fill the payload exactly or are the wrong number or size for the type, a
 * stream, origin or status out of range, a mime type that is not a
 * lowercase token, READY/FAILED text that is not printable ASCII.
 */
ssize_t kern_chan_parse(const void *buf, size_t len, struct kern_msg *m, struct err **errp);

/** Append one message to out: header, then nfields fields (lens[i] bytes at ptrs[i]). */
void kern_chan_put(struct buf *out, uint32_t type, uint32_t seq, int nfields, const void *const *ptrs,
		   const size_t *lens);

#endif
