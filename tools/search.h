/**
 * search.h — walking and searching a workspace tree for the glob and grep
 * tools. Workspace contents are hostile: every walk is confined beneath the
 * directory fd it is given (entries are opened one component at a time with
 * O_NOFOLLOW, symlinks are reported but never followed, ".git" directories
 * are skipped), only regular files are opened (never blocking: O_NONBLOCK),
 * and every loop is bounded in entries, depth, bytes and time.
 *
 * Everything here may run on any thread (the tools run it on libuv's thread
 * pool); a struct tool_search_ctl is shared by the threads of one call and
 * by the loop thread that cancels it.
 */
#ifndef MCPBOX_TOOL_SEARCH_H
#define MCPBOX_TOOL_SEARCH_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../server/base/err.h"

#define TOOL_WALK_MAX_DEPTH 64
#define TOOL_WALK_MAX_NAME_BYTES (16u << 20)	/* of the names the walk's levels hold at once */

/** Stop conditions of one call. */
struct tool_search_ctl {
	uint64_t deadline_ns;	/* now_ns() after which work stops (0: none) */
	atomic_bool cancelled;	/* set by the loop thread when the caller gives up */
	atomic_bool timed_out;	/* set by whoever saw the deadline pass */
};

/** Should the work stop now (cancelled, or past the deadline)? */
bool tool_search_stop(struct tool_search_ctl *ctl);

/** An entry a walk visits; valid during the callback only. */
struct tool_walk_entry {
	const char *path;	/* relative to the walk's root, "/"-separated */
	const char *name;	/* the last component */
	int dirfd;		/* the directory that holds it */
	unsigned char type;	/* DT_REG, DT_DIR, DT_LNK, or another DT_ value */
	int depth;		/* 0 for entries of the root */
	unsigned long dir_seq;	/* which directory: the same for entries of one, new for each
				   directory the walk opens (dirfd numbers are reused) */
};

/** What a walk does after an entry. */
enum tool_walk_next {
	TOOL_WALK_NEXT,		/* go on (a directory is not walked into) */
	TOOL_WALK_DESCEND,	/* walk into this directory, then go on */
	TOOL_WALK_HALT,		/* stop the whole walk */
};

/** Called for every entry. */
typedef enum tool_walk_next (*tool_walk_cb)(void *arg, const struct tool_walk_entry *e);

struct tool_walk_stats {
	size_t entries;		/* entries visited */
	bool truncated;		/* stopped at max_entries, max depth, TOOL_WALK_MAX_NAME_BYTES, or by ctl */
};

/**
 * Visit the tree beneath rootfd (borrowed) depth first, each directory's
 * entries in byte order of their names (so paths come out sorted as a
 * "/"-aware sort), at most max_entries entries and TOOL_WALK_MAX_DEPTH
 * levels. A directory's names are read whole before it is visited: the
 * directories open at once hold at most TOOL_WALK_MAX_NAME_BYTES of them
 * (the names past it are not visited). Stops early when ctl says so or cb
 * returns TOOL_WALK_HALT.
 */
void tool_walk(int rootfd, struct tool_search_ctl *ctl, size_t max_entries, tool_walk_cb cb, void *arg,
	       struct tool_walk_stats *stats);

#endif
