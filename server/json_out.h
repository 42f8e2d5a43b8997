/**
 * json_out.h — compact JSON text of a jansson value, appended to a buf.
 *
 * Byte for byte what json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) writes,
 * but strings are copied in runs instead of decoded one code point at a time
 * (jansson checked them when they were made): a response carrying a
 * screenshot's 270 KB of base64 serializes in tens of microseconds instead
 * of more than a millisecond.
 */
#ifndef MCPBOX_JSON_OUT_H
#define MCPBOX_JSON_OUT_H

#include <jansson.h>

#include "buf.h"

/** Append j to out; -1 (out partly written) for a value jansson could not dump either. */
int srv_json_write(struct buf *out, const json_t *j);

#endif
