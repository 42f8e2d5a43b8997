/* Unit tests of the workspace walk shared by glob and grep (tools/search.c):
   its order, and the bound on the names it holds for the directories open. */
#include "tap.h"
#include "tools/search.h"
#include "server/base/buf.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
	struct buf paths;	/* "path\n" for each entry */
	size_t n;
	size_t name_bytes;	/* of the names visited, each with its NUL */
};

static enum tool_walk_next visit(void *arg, const struct tool_walk_entry *e)
{
	struct seen *s = arg;
	if (s->n < 16)
		buf_addf(&s->paths, "%s\n", e->path);
	s->n++;
	s->name_bytes += strlen(e->name) + 1;
	return TOOL_WALK_DESCEND;
}

static void walk(int fd, struct seen *s, struct tool_walk_stats *ws)
{
	struct tool_search_ctl ctl = { 0 };
	atomic_init(&ctl.cancelled, false);
	atomic_init(&ctl.timed_out, false);
	*s = (struct seen){ .paths = BUF_INIT };
	tool_walk(fd, &ctl, 200000, visit, s, ws);
}

static void touch(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

/* Remove what dfd holds, files and directories alike. */
static void empty_dir(int dfd)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			empty_dir(sub);
			close(sub);
			unlinkat(dfd, de->d_name, AT_REMOVEDIR);
		} else
			unlinkat(dfd, de->d_name, 0);
	}
	if (d)
		closedir(d);
}

int main(void)
{
	char root[] = "/tmp/mcpbox-walk-XXXXXX";
	struct seen s;
	struct tool_walk_stats ws;
	char name[256];

	if (!mkdtemp(root))
		return 1;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* an ordinary tree: every entry, in name order, directories' contents after their name */
	mkdirat(fd, "b", 0700);
	touch(fd, "a.txt");
	touch(fd, "c");
	int b = openat(fd, "b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	touch(b, "z");
	touch(b, "y");
	walk(fd, &s, &ws);
	is_str(s.paths.data, "a.txt\nb\nb/y\nb/z\nc\n", "a small tree is walked whole, in order");
	ok(!ws.truncated && ws.entries == 5, "not truncated (%zu entries)", ws.entries);
	buf_release(&s.paths);

	/* 70,000 names of 255 bytes (17.9 MB) in one directory below b: the walk holds at most
	   16 MiB of names, so it reads 65,536 of them less what the levels above hold */
	mkdirat(b, "many", 0700);
	int many = openat(b, "many", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(name, 'n', 250);
	for (unsigned i = 0; i < 70000; i++) {
		snprintf(name + 250, 6, "%05u", i % 100000);
		touch(many, name);
	}
	walk(fd, &s, &ws);
	size_t above = sizeof("a.txt") + sizeof("b") + sizeof("c") + sizeof("many") + sizeof("y") + sizeof("z");
	size_t want = (TOOL_WALK_MAX_NAME_BYTES - above) / 256;
	ok(ws.truncated, "a directory of names over TOOL_WALK_MAX_NAME_BYTES: the walk says truncated");
	ok(s.n == 5 + 1 + want, "it visits %zu entries (%zu of that directory's 70000)", s.n, s.n - 6);
	ok(s.name_bytes <= TOOL_WALK_MAX_NAME_BYTES, "the names visited take %zu bytes", s.name_bytes);
	const char *start = "a.txt\nb\nb/many\nb/many/";
	ok(s.paths.data && !strncmp(s.paths.data, start, strlen(start)), "the walk starts in order");
	buf_release(&s.paths);

	close(many);
	close(b);
	empty_dir(fd);
	close(fd);
	rmdir(root);
	return tap_done();
}
