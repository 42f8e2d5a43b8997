/*
 * libFuzzer target: multipart/form-data bodies (server/rest/multipart.c).
 * Input: boundary NUL body. Invariants: at most max parts; each part's
 * data lies inside the body; names and filenames are NUL-terminated within
 * their arrays; a refusal says why.
 */
#include "server/rest/multipart.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, 0, size);
	char boundary[80];
	struct rest_mp_part parts[8];
	const char *why = NULL;

	if (!nul || (size_t)(nul - in) >= sizeof(boundary) || nul == in)
		return 0;
	memcpy(boundary, in, (size_t)(nul - in) + 1);
	const char *body = nul + 1;
	size_t len = size - (size_t)(body - in);
	char *copy = malloc(len ? len : 1); /* its own allocation: ASan sees any read past it */
	memcpy(copy, body, len);
	int n = rest_mp_parse(copy, len, boundary, parts, 8, &why);
	if (n < 0 && !why)
		abort();
	if (n > 8)
		abort();
	for (int i = 0; i < n; i++) {
		if (parts[i].data < copy || parts[i].data + parts[i].len > copy + len)
			abort();
		if (!memchr(parts[i].name, 0, sizeof(parts[i].name)) || !memchr(parts[i].filename, 0, sizeof(parts[i].filename)))
			abort();
	}
	free(copy);
	return 0;
}
