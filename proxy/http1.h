/**
 * http1.h — the bits of HTTP/1 that mcpbox speaks as a client to servers
 * inside sandboxes: reading a response head (WebSocket frames are
 * transport/wsframe.h's). Pure functions over bytes from a hostile peer:
 * every length is bounded, anything malformed is an error. Any thread.
 */
#ifndef MCPBOX_PX_HTTP1_H
#define MCPBOX_PX_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/buf.h"

#define PX_HEAD_MAX (32u << 10)		/* a response head longer than this is refused */
#define PX_HEADERS_MAX 100

/** A response head: status and headers ("name\0value\0" pairs, names lower-cased). */
struct px_head {
	int status;
	int64_t length;		/* Content-Length, -1 when absent */
	bool chunked;		/* Transfer-Encoding other than identity */
	struct buf hdrs;
	unsigned nhdrs;
};

/**
 * Parse a response head at the start of p[0..n): its length (through the
 * blank line) with h filled, 0 when more bytes are needed (and n is still
 * under PX_HEAD_MAX), -1 when malformed or too long. h is released and
 * filled again on each call.
 */
long px_head_parse(const char *p, size_t n, struct px_head *h);
/** The value of header name (lower case), or NULL. */
const char *px_head_get(const struct px_head *h, const char *name);
void px_head_release(struct px_head *h);

/** Hop-by-hop and credential headers that never pass a proxy (name lower case). */
bool px_header_hop(const char *name);

#endif
