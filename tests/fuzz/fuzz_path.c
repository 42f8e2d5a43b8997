/*
 * libFuzzer target: client paths into the workspace path normalizer.
 * Invariants: an accepted path is relative, has no "." or ".." component,
 * no empty component, and is "." only for the workspace itself.
 */
#include "sessions/workspace.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *path = malloc(size + 1), *rel = NULL;
	struct err *e = NULL;

	memcpy(path, data, size);
	path[size] = '\0';
	if (sess_ws_relpath(path, &rel, &e) == 0) {
		if (rel[0] == '/' || rel[0] == '\0')
			abort();
		if (strcmp(rel, ".") != 0) {
			char *copy = strdup(rel), *save = NULL;
			for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
				if (!strcmp(c, ".") || !strcmp(c, ".."))
					abort();
			if (strstr(rel, "//") || rel[strlen(rel) - 1] == '/')
				abort();
			free(copy);
		}
		free(rel);
	} else {
		err_free(e);
	}
	free(path);
	return 0;
}
