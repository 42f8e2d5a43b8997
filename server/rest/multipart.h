/**
 * multipart.h — multipart/form-data request bodies (RFC 7578), parsed in
 * place: the parts' data point into the body, nothing is copied. For
 * uploads of the REST dialects. Pure; any thread. Bodies are hostile input:
 * every bound is checked (tests/unit/test_multipart.c,
 * tests/fuzz/fuzz_multipart.c).
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

/**
 * The parts of body (len bytes) between the boundaries: their count, or -1
 * with *why (a static text for people). At most max parts, each part's
 * headers at most 8 KiB, a Content-Disposition of form-data with a name
 * (a longer name than the struct holds is refused; a longer filename counts
 * as none).
 */
int rest_mp_parse(const char *body, size_t len, const char *boundary, struct rest_mp_part *parts, size_t max,
		  const char **why);

#endif
