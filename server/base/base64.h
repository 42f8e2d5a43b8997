/**
 * base64.h — standard base64 (RFC 4648, with padding) for file contents and
 * images in JSON. Results are malloc'd and owned by the caller.
 */
#ifndef MCPBOX_BASE64_H
#define MCPBOX_BASE64_H

#include <stddef.h>

/** Encode n bytes; returns a NUL-terminated string, *outlen its length. */
char *base64_encode(const void *data, size_t n, size_t *outlen);
/** Decode; whitespace is skipped. Returns NULL if the text is not base64. */
void *base64_decode(const char *text, size_t n, size_t *outlen);

#endif
