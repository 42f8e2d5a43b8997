/**
 * module.h — parts of mcpbox that need heavy libraries live in shared
 * objects beside the binary and are loaded the first time they are needed:
 *
 *	mcpbox-snapshot.so	the snapshot engine (libgit2 and its TLS/ssh/http stack)
 *	mcpbox-rfb.so		the VNC protocol server (libvncserver, GnuTLS, libgcrypt)
 *
 * Why: those libraries and their dependencies are ~40 shared objects; mapping
 * and relocating them cost every process start ~8 ms of CPU (every stdio
 * client pays it before `initialize`) and made the sandbox zygote's address
 * space, which every execution copies, several MiB larger. Most sessions
 * never take a snapshot or open a viewer.
 *
 * A module exports exactly one symbol, mcpbox_<name>_api: a table of functions
 * that starts with struct srv_module_hdr. It calls back into the binary's own
 * functions (log_msg, err_set, buf_*, ...), which the binary exports
 * (-rdynamic). Where a program links a module's objects directly (the unit
 * tests), the table is found in the program itself and nothing is loaded.
 *
 * Search order: the directory of /proc/self/exe, then ../lib/mcpbox beside it.
 * A module built for another ABI is refused with a clear error.
 *
 * Threads: any thread; the first call loads, later calls return the cached
 * table (a mutex). Modules are never unloaded.
 */
#ifndef MCPBOX_MODULE_H
#define MCPBOX_MODULE_H

#include <stddef.h>

#include "err.h"

/* Bump whenever a module's table or a type it passes changes. */
#define SRV_MODULE_ABI 3

struct srv_module_hdr {
	unsigned abi;		/* SRV_MODULE_ABI of the module's build */
	size_t size;		/* sizeof the whole table */
};

/**
 * The table mcpbox_<name>_api of module name, whose size must be size; NULL
 * and *errp ("snapshots are not available: ...") when it cannot be loaded.
 * The table is owned by the module and valid for the life of the process.
 */
const void *srv_module_api(const char *name, size_t size, struct err **errp);

#endif
