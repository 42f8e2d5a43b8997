/* Unit tests of workspace watches (sessions/watch.c) on a real directory and a real loop:
   what is reported, coalescing, confinement, bounds, removal and a session that goes. */
#include "tap.h"
#include "sessions/session.h"
#include "sessions/watch.h"
#include "server/base/common.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
	int changed, gone;
};

static void on_change(void *arg, bool gone)
{
	struct seen *s = arg;
	if (gone)
		s->gone++;
	else
		s->changed++;
}

static void never(uv_timer_t *t)
{
	abort();
}

static void spin(uv_loop_t *loop, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(2000);
	}
}

static void write_file(int ws, const char *name, const char *text)
{
	int fd = openat(ws, name, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("write");
		close(fd);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/mcpbox-watch-XXXXXX", outside[] = "/tmp/mcpbox-watch-out-XXXXXX";
	uv_loop_t loop;
	struct err *e = NULL;
	struct sess_watch *w = NULL, *w2 = NULL, *other = NULL;
	struct seen a = { 0 }, b = { 0 }, c = { 0 };

	uv_loop_init(&loop);
	sess_watch_init(&loop);
	/* the module's handles do not keep a loop alive (the server's others do): this one does */
	uv_timer_t alive;
	uv_timer_init(&loop, &alive);
	uv_timer_start(&alive, never, 3600 * 1000, 0);
	ok(mkdtemp(tmpl) && mkdtemp(outside), "temp dirs");
	struct sess_session s = { .id = "ses_test", .wsfd = open(tmpl, O_RDONLY | O_DIRECTORY) };
	struct sess_session s2 = { .id = "ses_other", .wsfd = open(tmpl, O_RDONLY | O_DIRECTORY) };
	ok(mkdirat(s.wsfd, "d", 0755) == 0 && symlinkat(outside, s.wsfd, "out") == 0, "a directory and a link out");

	ok(sess_watch_add(&s, "d/f.txt", "d/f.txt", on_change, &a, &w, &e) == 0, "watch a file that does not exist yet");
	ok(sess_watch_add(&s, "d/g.txt", "d/g.txt", on_change, &b, &w2, &e) == 0, "a second file of the same directory");
	unsigned dirs;
	ok(sess_watch_count(&dirs) == 2 && dirs == 1, "two watches, one inotify watch");

	write_file(s.wsfd, "d/f.txt", "x");
	spin(&loop, 30);
	ok(a.changed == 1 && b.changed == 0, "creating it is reported at once, to its watch only (%d, %d)", a.changed,
	   b.changed);
	for (int i = 0; i < 200; i++)
		write_file(s.wsfd, "d/f.txt", "y");
	spin(&loop, 30);
	ok(a.changed == 1, "writes within the interval wait (%d)", a.changed);
	spin(&loop, SESS_WATCH_INTERVAL_MS + 50);
	ok(a.changed == 2, "200 writes within 100 ms are one more report (%d)", a.changed);
	spin(&loop, SESS_WATCH_INTERVAL_MS + 50);
	ok(a.changed == 2, "and nothing after (%d)", a.changed);

	ok(renameat(s.wsfd, "d/f.txt", s.wsfd, "d/g.txt") == 0, "rename f onto g");
	spin(&loop, 30);
	ok(a.changed == 3 && b.changed == 1, "a rename is reported for both names (%d, %d)", a.changed, b.changed);
	write_file(s.wsfd, "d/unrelated", "z");
	write_file(s.wsfd, "g.txt", "z");
	spin(&loop, SESS_WATCH_INTERVAL_MS + 50);
	ok(a.changed == 3 && b.changed == 1, "other names and directories are not reported");

	ok(sess_watch_add(&s, "out/secret", "out/secret", on_change, &c, &other, &e) < 0 && e &&
	   strstr(err_text(e), "escapes"), "a directory reached through a link out is refused: %s", e ? err_text(e) : "");
	err_free(e);
	e = NULL;
	ok(sess_watch_add(&s, "nope/x", "nope/x", on_change, &c, &other, &e) < 0 && e && e->cls == ERR_NOT_FOUND,
	   "a missing directory is not found");
	err_free(e);
	e = NULL;

	/* the per-session bound: 2 in place */
	struct sess_watch *many[SESS_WATCH_MAX];
	int added = 0;
	char name[32];
	for (int i = 0; i < SESS_WATCH_MAX; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		if (sess_watch_add(&s, name, name, on_change, &c, &many[added], &e) < 0)
			break;
		added++;
	}
	ok(added == SESS_WATCH_MAX - 2 && e && e->cls == ERR_LIMIT, "at most %d per session (%d more, then %s)",
	   SESS_WATCH_MAX, added, e ? err_text(e) : "no error");
	err_free(e);
	e = NULL;
	ok(sess_watch_add(&s2, "d/f.txt", "d/f.txt", on_change, &c, &other, &e) == 0, "another session still may");
	for (int i = 0; i < added; i++)
		sess_watch_remove(many[i]);

	sess_watch_remove(w2);
	write_file(s.wsfd, "d/g.txt", "z");
	spin(&loop, SESS_WATCH_INTERVAL_MS + 50);
	ok(b.changed == 1, "a removed watch reports nothing");

	sess_watch_session_gone(&s);
	ok(a.gone == 1 && sess_watch_count(&dirs) == 1, "the session goes: its watch is told and freed, the other stays");
	sess_watch_session_gone(&s2);
	ok(c.gone == 1 && sess_watch_count(&dirs) == 0 && dirs == 0, "none left");

	sess_watch_shutdown();
	uv_close((uv_handle_t *)&alive, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	ok(uv_loop_close(&loop) == 0, "the loop closes: every handle was closed");
	close(s.wsfd);
	close(s2.wsfd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s %s", tmpl, outside);
	if (system(cmd) != 0)
		perror(cmd);
	return tap_done();
}
