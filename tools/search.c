/*
 * The workspace walk shared by glob and grep. A directory's names are read
 * whole, sorted and then visited, so the order does not depend on the
 * filesystem; one directory fd stays open per level (at most
 * TOOL_WALK_MAX_DEPTH), each opened from its parent by name with
 * O_NOFOLLOW: no path is ever resolved, so nothing can lead out.
 */
#include "search.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

bool tool_search_stop(struct tool_search_ctl *ctl)
{
	if (atomic_load_explicit(&ctl->cancelled, memory_order_relaxed) ||
	    atomic_load_explicit(&ctl->timed_out, memory_order_relaxed))
		return true;
	if (ctl->deadline_ns && now_ns() > ctl->deadline_ns) {
		atomic_store(&ctl->timed_out, true);
		return true;
	}
	return false;
}

struct walk {
	struct tool_search_ctl *ctl;
	size_t max;
	tool_walk_cb cb;
	void *arg;
	struct tool_walk_stats *stats;
	bool halted;
	unsigned long dirs;	/* directories opened */
	size_t name_bytes;	/* of the names read_names holds for the levels open */
	struct buf path;
};

struct name {
	char *name;
	unsigned char type;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct name *)a)->name, ((const struct name *)b)->name);
}

/* Read the names of d (without "." "..", ".git"), sorted; at most room of them. */
static struct name *read_names(struct walk *w, DIR *d, size_t room, size_t *count)
{
	struct name *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if ((s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2]))) || !strcmp(s, ".git"))
			continue;
		size_t len = strlen(s) + 1;
		if (n >= room || w->name_bytes + len > TOOL_WALK_MAX_NAME_BYTES) {
			w->stats->truncated = true;
			break;
		}
		w->name_bytes += len;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof(*v));
		}
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			struct stat st;
			type = fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) < 0 ? DT_UNKNOWN
			     : S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR
			     : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
		}
		v[n].name = xstrdup(s);
		v[n++].type = type;
	}
	qsort(v, n, sizeof(*v), cmp_name);
	*count = n;
	return v;
}

/* Walk the directory open at fd (taken over), whose path is w->path. */
static void walk_dir(struct walk *w, int fd, int depth)
{
	DIR *d = fdopendir(fd);
	size_t n, base = w->path.len;
	unsigned long seq = ++w->dirs;

	if (!d) {
		close(fd);
		return;
	}
	size_t room = w->max > w->stats->entries ? w->max - w->stats->entries : 0;
	struct name *v = read_names(w, d, room, &n);
	for (size_t i = 0; i < n; i++) {
		if (w->halted || tool_search_stop(w->ctl)) {
			w->halted = true;
			w->stats->truncated = true;
			break;
		}
		w->path.len = base;
		if (base)
			buf_addch(&w->path, '/');
		buf_adds(&w->path, v[i].name);
		w->stats->entries++;
		struct tool_walk_entry e = {
			.path = w->path.data, .name = v[i].name, .dirfd = dirfd(d), .type = v[i].type, .depth = depth,
			.dir_seq = seq,
		};
		enum tool_walk_next next = w->cb(w->arg, &e);
		if (next == TOOL_WALK_HALT) {
			w->halted = true;
			break;
		}
		if (next != TOOL_WALK_DESCEND || v[i].type != DT_DIR)
			continue;
		if (depth + 1 >= TOOL_WALK_MAX_DEPTH) {
			w->stats->truncated = true;
			continue;
		}
		int sub = openat(dirfd(d), v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (sub >= 0)
			walk_dir(w, sub, depth + 1);
	}
	for (size_t i = 0; i < n; i++) {
		w->name_bytes -= strlen(v[i].name) + 1;
		free(v[i].name);
	}
	free(v);
	w->path.len = base;
	if (w->path.data)
		w->path.data[base] = '\0';
	closedir(d);
}

void tool_walk(int rootfd, struct tool_search_ctl *ctl, size_t max_entries, tool_walk_cb cb, void *arg,
	       struct tool_walk_stats *stats)
{
	struct walk w = { .ctl = ctl, .max = max_entries, .cb = cb, .arg = arg, .stats = stats, .path = BUF_INIT };
	int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*stats = (struct tool_walk_stats){ 0 };
	if (fd >= 0)
		walk_dir(&w, fd, 0);
	buf_release(&w.path);
}
