/**
 * multipart.h — multipart/form-data request bodies (RFC 7578), parsed as
 * the body arrives (rest_mp_stream: form fields buffered, bounded; file
 * parts handed on piece by piece, so an upload is never held whole). For
 * uploads of the REST dialects. Pure; any thread. Bodies are hostile input:
 * every bound is checked (tests/unit/test_multipart.c,
 * tests/fuzz/fuzz_multipart.c, which compare it with an in-place parser of
 * their own: tests/unit/multipart_oracle.h).
 */
#ifndef MCPBOX_REST_MULTIPART_H
#define MCPBOX_REST_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/** One part: its form name, its filename when it has one, its data (in the body). */
struct rest_mp_part {
	char name[64];
	char filename[256];
	bool has_filename;
	const char *data;
	size_t len;
};

/** The boundary of a multipart/form-data Content-Type (1..70 bytes), into out: 0, or -1. */
int rest_mp_boundary(const char *ctype, char *out, size_t cap);

/** The most bytes of one part's headers. */
#define REST_MP_HEADERS_MAX 8192

/**
 * A part's headers (p up to hend, lines ended by CRLF) into pt: 0, or -1
 * with *why (a static text for people). A Content-Disposition of form-data
 * with a name is required (a longer name than the struct holds is refused;
 * a longer filename counts as none). data and len are left 0.
 */
int rest_mp_part_head(const char *p, const char *hend, struct rest_mp_part *pt, const char **why);

/* ---- a body as it arrives (uploads streamed to disk) ---- */

/** What a streamed multipart body tells its reader. Each returns 0, or -1 to stop (the feed then fails, why NULL). */
struct rest_mp_ops {
	/* A part without a filename (a form field), whole: value is NUL-terminated (len bytes, may hold NULs). */
	int (*field)(void *arg, const char *name, const char *value, size_t len);
	/* A file part begins (pt: its name and filename; data and len unused). */
	int (*file_begin)(void *arg, const struct rest_mp_part *pt);
	/* The next bytes of the current file part (any split; valid during the call). */
	int (*file_data)(void *arg, const char *data, size_t len);
	/* The current file part ended. */
	int (*file_end)(void *arg);
};

struct rest_mp_stream;
/**
 * A parser of one body with boundary (1..70 bytes, no CR or LF: NULL
 * otherwise): at most max_parts parts, each part's headers at most
 * REST_MP_HEADERS_MAX bytes (rest_mp_part_head's rules), and form fields
 * of at most field_max bytes (longer: refused). ops and arg are the caller's and outlive it.
 */
struct rest_mp_stream *rest_mp_stream_new(const char *boundary, size_t max_parts, size_t field_max,
					  const struct rest_mp_ops *ops, void *arg);
/**
 * The next len bytes of the body, split anywhere: 0, or -1 with *why (a
 * static text for people), or -1 with *why NULL when a callback stopped it.
 * After -1 the parser takes nothing more.
 */
int rest_mp_stream_feed(struct rest_mp_stream *m, const char *data, size_t len, const char **why);
/** The body ended: 0 if it closed properly ("--boundary--"), else -1 with *why. */
int rest_mp_stream_end(struct rest_mp_stream *m, const char **why);
void rest_mp_stream_free(struct rest_mp_stream *m);

#endif
