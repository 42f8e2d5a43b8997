/**
 * json_out.h — compact JSON text of a jansson value, appended to a buf.
 *
 * What json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) writes, with two
 * differences: strings are copied in runs instead of decoded one code point
 * at a time (jansson checked them when they were made): a response carrying
 * a screenshot's 270 KB of base64 serializes in tens of microseconds instead
 * of more than a millisecond; and reals get the fewest digits that read back
 * exactly (0.05, not jansson's 0.050000000000000003).
 */
#ifndef MCPBOX_JSON_OUT_H
#define MCPBOX_JSON_OUT_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"

/** Append j to out; -1 (out partly written) for a value jansson could not dump either. */
int srv_json_write(struct buf *out, const json_t *j);
/** A writer of JSON text in some style: srv_json_write, or a dialect's own (same contract). */
typedef int (*srv_json_writer_fn)(struct buf *out, const json_t *j);
/**
 * out (emptied first) := headroom zero bytes (a transport's, e.g. LWS_PRE),
 * then j's text by write: 0, or -1 (out released) when write failed or
 * wrote nothing.
 */
int srv_json_write_text(struct buf *out, size_t headroom, const json_t *j, srv_json_writer_fn write);
/**
 * Whether j's strings (and keys) hold at least limit bytes: a cheap look at
 * how much writing j will cost, which stops as soon as it knows.
 */
bool srv_json_size_reaches(const json_t *j, size_t limit);
/** The same as a malloc'd NUL-terminated string (NULL where srv_json_write fails). */
char *srv_json_dumps(const json_t *j);
/**
 * A JSON string of len bytes that may not be UTF-8 (file names, file
 * contents): valid text as it is, each invalid byte or NUL as U+FFFD.
 */
json_t *srv_json_text(const char *data, size_t len);
/** A time as a JSON string (common.h's srv_time_iso). */
json_t *srv_json_time(int64_t ms, bool millis);
/** How many of len bytes, from the start, are valid UTF-8 with no NUL (len: all of them). */
size_t srv_utf8_prefix(const char *data, size_t len);
/** Are the len bytes well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF; NUL allowed)? */
bool srv_utf8_valid(const char *data, size_t len);

#endif
