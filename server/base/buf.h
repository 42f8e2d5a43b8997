/**
 * buf.h — a growable byte buffer for all string building (git's strbuf).
 *
 * data is always NUL-terminated (when non-NULL) so it can be used as a C
 * string, but may also hold binary bytes; len does not count the NUL.
 * The buffer owns data until buf_detach() hands it to the caller.
 */
#ifndef MCPBOX_BUF_H
#define MCPBOX_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addch(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Return data (never NULL; "" when empty) and reset b; the caller frees it. */
char *buf_detach(struct buf *b);
void buf_release(struct buf *b);

#endif
