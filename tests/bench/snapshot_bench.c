/*
 * snapshot_bench — the snapshot engine on a workspace of 2,000 files / 50 MB,
 * beside the git CLI (git add -A && git commit on a copy) and cp -a, in the
 * same run on the same tree. Prints a markdown table.
 *
 *   snapshot_bench [--files N] [--mb M] [--runs R] [--dir TMPDIR]
 */
#include "sessions/snapshot.h"
#include "server/base/buf.h"
#include "server/base/common.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int files = 2000, mb = 50, runs = 50;
static char base[256];

static void die(const char *what, struct err *e)
{
	fprintf(stderr, "snapshot_bench: %s: %s\n", what, e ? err_text(e) : strerror(errno));
	exit(1);
}

static double run_ms(const char *cmd)
{
	uint64_t t0 = now_ns();
	if (system(cmd) != 0)
		die(cmd, NULL);
	return (double)(now_ns() - t0) / 1e6;
}

static void put(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_all(fd, p, n) < 0)
		die(path, NULL);
	close(fd);
}

/* Mostly source-like text (compressible, some shared lines), a tenth binary. */
static void make_workspace(const char *ws)
{
	size_t total = (size_t)mb << 20, each = total / (size_t)files;
	char *b = xmalloc(each + 64);
	uint64_t x = 88172645463325252ull;
	char path[512];

	mkdir(ws, 0755);
	for (int d = 0; d < 40; d++) {
		snprintf(path, sizeof(path), "%s/pkg%02d", ws, d);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/pkg%02d/sub", ws, d);
		mkdir(path, 0755);
	}
	for (int i = 0; i < files; i++) {
		size_t n = 0;
		if (i % 10 == 9) {
			for (; n < each; n++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				b[n] = (char)x;
			}
		} else {
			while (n < each) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				n += (size_t)snprintf(b + n, each + 64 - n, "\tvalue_%llu = compute(%llu, \"item %d\");\n",
						      (unsigned long long)(x % 5000), (unsigned long long)(x >> 40), i);
			}
			n = each;
		}
		snprintf(path, sizeof(path), "%s/pkg%02d/%sfile%04d.%s", ws, i % 40, i % 3 ? "" : "sub/", i,
			 i % 10 == 9 ? "bin" : "c");
		put(path, b, n);
	}
	free(b);
}

static void touch3(const char *ws, int round)
{
	char path[512], line[128];
	for (int k = 0; k < 3; k++) {
		int i = (round * 37 + k * 611) % files;
		if (i % 10 == 9)
			i--;
		snprintf(path, sizeof(path), "%s/pkg%02d/%sfile%04d.c", ws, i % 40, i % 3 ? "" : "sub/", i);
		int fd = open(path, O_WRONLY | O_APPEND);
		int n = snprintf(line, sizeof(line), "// round %d\n", round);
		if (fd < 0 || write_all(fd, line, (size_t)n) < 0)
			die(path, NULL);
		close(fd);
	}
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	int i = (int)(p * (n - 1) + 0.5);
	return v[i];
}

static uint64_t du_kb(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "du -sk %s", path);
	FILE *f = popen(cmd, "r");
	unsigned long long k = 0;
	if (!f || fscanf(f, "%llu", &k) != 1)
		k = 0;
	if (f)
		pclose(f);
	return k;
}

int main(int argc, char **argv)
{
	const char *tmp = "/tmp";
	struct err *e = NULL;
	struct snap_store *st;
	struct snap_result r, first;
	char ws[300], data[300], idx[300], cmd[2048];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--files"))
			files = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--mb"))
			mb = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--runs"))
			runs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--dir"))
			tmp = argv[i + 1];
	}
	snprintf(base, sizeof(base), "%s/snapbench.XXXXXX", tmp);
	if (!mkdtemp(base))
		die("mkdtemp", NULL);
	snprintf(ws, sizeof(ws), "%s/ws", base);
	snprintf(data, sizeof(data), "%s/data", base);
	snprintf(idx, sizeof(idx), "%s/data/snapshots/ws.index", base);
	mkdir(data, 0700);
	make_workspace(ws);
	if (system("sync") != 0)
		die("sync", NULL);

	/* git CLI on a copy, same tree, same page cache state */
	snprintf(cmd, sizeof(cmd), "cp -a %s %s/gitcopy", ws, base);
	run_ms(cmd);
	snprintf(cmd, sizeof(cmd),
		 "cd %s/gitcopy && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git init -q && "
		 "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git add -A && "
		 "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=b -c user.email=b@b commit -q -m x",
		 base);
	double git_ms = run_ms(cmd);
	snprintf(cmd, sizeof(cmd), "%s/gitcopy/.git", base);
	uint64_t git_kb = du_kb(cmd);

	if (snap_store_open(&st, data, &e) < 0)
		die("open", e);
	if (snap_take(st, ws, idx, NULL, "first", "first", 0, &first, &e) < 0)
		die("first snapshot", e);
	snprintf(cmd, sizeof(cmd), "%s/snapshots.git", data);
	uint64_t store_kb = du_kb(cmd);

	/* re-snapshot after changing 3 files */
	double *snap = xcalloc((size_t)runs, sizeof(double)), *rest = xcalloc((size_t)runs, sizeof(double));
	char parent[41], id[32];
	memcpy(parent, first.commit, 41);
	uint64_t hashed = 0;
	struct timespec pause = { 0, 30 * 1000000 };
	for (int i = 0; i < runs; i++) {
		touch3(ws, i);
		nanosleep(&pause, NULL);	/* leave the 20 ms racy window, as a session would */
		snprintf(id, sizeof(id), "inc%d", i);
		if (snap_take(st, ws, idx, parent, id, NULL, 0, &r, &e) < 0)
			die("re-snapshot", e);
		snap[i] = (double)r.duration_us / 1000;
		hashed += r.hashed_files;
		memcpy(parent, r.commit, 41);
	}
	unsigned packs = r.packs;

	/* restore of a changed workspace back to the first snapshot */
	for (int i = 0; i < runs; i++) {
		touch3(ws, 1000 + i);
		nanosleep(&pause, NULL);
		uint64_t t0 = now_ns();
		if (snap_restore(st, first.commit, ws, idx, &e) < 0)
			die("restore", e);
		rest[i] = (double)(now_ns() - t0) / 1e6;
	}
	double cp_ms[5];
	for (int i = 0; i < 5; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s/cp && cp -a %s %s/cp", base, ws, base);
		uint64_t t0 = now_ns();
		if (system(cmd + strlen("rm -rf ") + strlen(base) + strlen("/cp && ")) != 0)
			die("cp", NULL);
		cp_ms[i] = (double)(now_ns() - t0) / 1e6;
		snprintf(cmd, sizeof(cmd), "rm -rf %s/cp", base);
		if (system(cmd) != 0)
			die("rm", NULL);
	}

	char mat[320];
	snprintf(mat, sizeof(mat), "%s/mat", base);
	uint64_t t0 = now_ns();
	if (snap_materialize(st, first.commit, mat, &e) < 0)
		die("materialize", e);
	double mat_ms = (double)(now_ns() - t0) / 1e6;

	for (int i = 0; i < runs / 2; i++) {
		snprintf(id, sizeof(id), "inc%d", i);
		snap_delete(st, id, NULL);
	}
	t0 = now_ns();
	if (snap_gc(st, &e) < 0)
		die("gc", e);
	double gc_ms = (double)(now_ns() - t0) / 1e6;
	snprintf(cmd, sizeof(cmd), "%s/snapshots.git", data);
	uint64_t gc_kb = du_kb(cmd);
	t0 = now_ns();
	uint64_t nobj = 0;
	if (snap_verify(st, NULL, &nobj, &e) < 0)
		die("verify", e);
	double verify_ms = (double)(now_ns() - t0) / 1e6;

	printf("Snapshot engine, workspace of %d files / %d MB (90%% text, 10%% random binary), %d runs each.\n\n",
	       files, mb, runs);
	printf("| operation | mcpbox | beside it |\n|---|---|---|\n");
	printf("| first snapshot | %.0f ms (pack %.1f MB, store %.1f MB) | git add -A && git commit: %.0f ms "
	       "(.git %.1f MB); ratio %.2fx |\n",
	       (double)first.duration_us / 1000, (double)first.pack_bytes / 1048576, (double)store_kb / 1024, git_ms,
	       (double)git_kb / 1024, (double)first.duration_us / 1000 / git_ms);
	printf("| re-snapshot after changing 3 files | p50 %.1f ms, p99 %.1f ms (%.1f files read per run) | target p50 <= 30 ms |\n",
	       pct(snap, runs, 0.5), pct(snap, runs, 0.99), (double)hashed / runs);
	printf("| restore of a workspace with 3 changed files | p50 %.1f ms, p99 %.1f ms | cp -a of the workspace: p50 %.0f ms; target p50 <= 50 ms |\n",
	       pct(rest, runs, 0.5), pct(rest, runs, 0.99), pct(cp_ms, 5, 0.5));
	printf("| materialize a snapshot into a new directory | %.0f ms | |\n", mat_ms);
	printf("| gc (%d snapshots kept, %u packs before) | %.0f ms, store %.1f MB after | |\n", runs - runs / 2 + 1,
	       packs, gc_ms, (double)gc_kb / 1024);
	printf("| verify (every object read and hashed) | %.0f ms, %llu objects | |\n", verify_ms,
	       (unsigned long long)nobj);
	snap_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		return 1;
	free(snap);
	free(rest);
	return 0;
}
