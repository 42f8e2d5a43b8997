/**
 * module.c — find, load and check the optional modules (see module.h).
 */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "log.h"

struct loaded {
	char name[32];
	const struct srv_module_hdr *api;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct loaded loaded[4];
static size_t nloaded;

static int check(const char *name, const struct srv_module_hdr *h, size_t size, struct err **errp)
{
	if (h->abi != SRV_MODULE_ABI || h->size != size)
		return err_set(errp, 0, "module %s was built for another mcpbox (ABI %u, table of %zu bytes; "
			       "this binary needs ABI %u, %zu bytes): rebuild both", name, h->abi, h->size,
			       SRV_MODULE_ABI, size);
	return 0;
}

/* dlopen name's shared object from the binary's directory or ../lib/mcpbox. */
static void *open_module(const char *name, struct err **errp)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], first_err[512] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return err_set(errp, errno, "module %s: cannot find the program's directory", name), NULL;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	const char *const where[] = { "%s/mcpbox-%s.so", "%s/../lib/mcpbox/mcpbox-%s.so" };
	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		snprintf(path, sizeof(path), where[i], exe, name);
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h) {
			log_debug("module %s loaded from %s", name, path);
			return h;
		}
		if (!first_err[0] || access(path, F_OK) == 0)
			snprintf(first_err, sizeof(first_err), "%s", dlerror());
		else
			(void)dlerror();
	}
	/* The operator's log gets the loader's words (they hold host paths); the client a summary. */
	log_error("module %s: %s", name, first_err);
	return err_set(errp, 0, "module mcpbox-%s.so could not be loaded (see the server log)", name), NULL;
}

const void *srv_module_api(const char *name, size_t size, struct err **errp)
{
	char sym[64];
	const struct srv_module_hdr *api = NULL;

	snprintf(sym, sizeof(sym), "mcpbox_%s_api", name);
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nloaded; i++)
		if (!strcmp(loaded[i].name, name)) {
			api = loaded[i].api;
			if (check(name, api, size, errp) < 0)
				api = NULL;
			goto out;
		}
	/* Linked into this program (unit tests)? */
	api = dlsym(RTLD_DEFAULT, sym);
	if (!api) {
		void *h = open_module(name, errp);
		if (!h)
			goto out;
		api = dlsym(h, sym);
		if (!api) {
			log_error("module %s: no symbol %s: %s", name, sym, dlerror());
			err_set(errp, 0, "module mcpbox-%s.so is not an mcpbox module", name);
			goto out; /* never dlclose: a failed module may have run constructors */
		}
	}
	if (check(name, api, size, errp) < 0) {
		api = NULL;
		goto out;
	}
	if (nloaded < ARRAY_SIZE(loaded)) {
		snprintf(loaded[nloaded].name, sizeof(loaded[nloaded].name), "%s", name);
		loaded[nloaded++].api = api;
	}
out:
	pthread_mutex_unlock(&lock);
	return api;
}
