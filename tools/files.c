/*
 * file_read, file_write, file_list, file_delete: the session workspace seen
 * from the server. Every path goes through sessions/workspace.h (openat2
 * beneath the workspace), so nothing outside /workspace can be named.
 */
#include "tool.h"
#include "../sessions/quota.h"
#include "../sessions/workspace.h"
#include "../server/base/base64.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define LIST_MAX_ENTRIES 10000
/* Bytes of the entries' paths a listing holds: the sandbox chooses them, up
   to 4 KiB each, and every one is kept twice (JSON and text) until the answer. */
#define LIST_MAX_PATH_BYTES (4u << 20)

/* Resolve the call's path argument. On error the call is finished (and
 * freed): the caller must return at once without touching it. */
static char *rel_path(struct tool_call *call, const char *arg)
{
	auto_err struct err *err = NULL;
	char *rel;
	if (sess_ws_relpath(tool_arg_str(call, arg, "."), &rel, &err) < 0) {
		tool_fail_err(call, err, "argument \"%s\"", arg);
		return NULL;
	}
	return rel;
}

static bool utf8_valid(const unsigned char *p, size_t n, size_t *valid_prefix)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
			   : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
		if (!len)
			break;
		if (i + len > n) {
			*valid_prefix = i;
			return true; /* a sequence cut by the read window: valid so far */
		}
		size_t k;
		for (k = 1; k < len && (p[i + k] & 0xc0) == 0x80; k++)
			;
		if (k < len)
			break;
		/* no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF */
		unsigned c1 = p[i + 1];
		if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
		    (c == 0xf4 && c1 > 0x8f))
			break;
		i += len;
	}
	*valid_prefix = i;
	return i == n;
}

/*
 * A read window of a file: read and encoded on the thread pool when it is
 * larger than READ_INLINE_MAX (up to read_bytes, 8 MiB by default, whose
 * pread, UTF-8 check and base64 take milliseconds), on the loop otherwise.
 * The fd is the job's own, so the session may go away meanwhile.
 */
#define READ_INLINE_MAX (256 * 1024)

struct read_job {
	uv_work_t req;
	struct tool_call *call;
	int fd;
	int64_t offset;
	uint64_t want;
	int64_t size;		/* of the file, when opened */
	bool base64;
	/* results */
	json_t *content;	/* NULL: not UTF-8 (at offset + bad) */
	size_t got, bad;
	bool nul;		/* content holds a NUL byte */
};

static void read_window(uv_work_t *req)
{
	struct read_job *j = req->data;
	char *data = xmalloc(j->want + 1);
	size_t got = 0;

	while (got < j->want) {
		ssize_t n = pread(j->fd, data + got, j->want - got, j->offset + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (j->base64) {
		size_t n;
		char *b = base64_encode(data, got, &n);
		j->content = json_stringn(b, n);
		free(b);
	} else {
		size_t ok;
		if (!utf8_valid((unsigned char *)data, got, &ok))
			j->bad = ok;
		else
			j->content = json_stringn(data, ok); /* ok: no character split at the window's end */
		got = ok;
	}
	j->got = got;
	j->nul = j->content && memchr(json_string_value(j->content), '\0', json_string_length(j->content));
	free(data);
}

static void read_cancel(void *arg)
{
	struct read_job *j = arg;
	srv_pool_cancel(&j->req);
}

static void read_done(uv_work_t *req, int status)
{
	struct read_job *j = req->data;
	struct tool_call *call = j->call;
	const char *shown = tool_arg_str(call, "path", ".");
	int64_t length = tool_arg_int(call, "length", -1);
	bool capped = length >= 0 && (uint64_t)length > call->env->cfg->read_bytes.def;

	close(j->fd);
	if (status == UV_ECANCELED) {
		/* the caller left before the pool got to it: no read, nobody to answer */
		tool_fail_as(call, ERR_UNAVAILABLE, "file_read: cancelled");
		free(j);
		return;
	}
	if (!j->content) {
		tool_fail(call, "file_read: \"%s\" is not UTF-8 text (invalid byte at offset %lld); read it "
				"with encoding \"base64\"", shown, (long long)(j->offset + (int64_t)j->bad));
		free(j);
		return;
	}
	bool truncated = (uint64_t)j->offset + j->got < (uint64_t)j->size && (length < 0 || capped);
	json_t *sc = json_pack("{s:s, s:O, s:s, s:I, s:I, s:I, s:b}", "path", shown, "content", j->content,
			       "encoding", j->base64 ? "base64" : "utf8", "size", (json_int_t)j->size,
			       "offset", (json_int_t)j->offset, "bytes", (json_int_t)j->got, "truncated", truncated);
	/*
	 * The text block is the content itself, the same string (no second copy
	 * or check of up to 8 MiB on the loop), unless a note follows it or a NUL
	 * must be shown as U+FFFD there.
	 */
	json_t *text;
	if (!truncated && !j->nul) {
		text = json_incref(j->content);
	} else {
		struct buf b = BUF_INIT;
		buf_add(&b, json_string_value(j->content), json_string_length(j->content));
		if (truncated)
			buf_addf(&b, "\n[truncated: %zu of %lld bytes shown from offset %lld; read more with offset]",
				 j->got, (long long)j->size, (long long)j->offset);
		text = tool_json_text(b.data ? b.data : "", b.len);
		buf_release(&b);
	}
	json_decref(j->content);
	tool_finish(call, json_pack("{s:[{s:s, s:o}], s:o}", "content", "type", "text", "text", text,
				    "structuredContent", sc));
	free(j);
}

static void file_read_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = rel_path(call, "path");
	if (!rel)
		return; /* call finished */
	const char *shown = tool_arg_str(call, "path", ".");
	int64_t offset = tool_arg_int(call, "offset", 0);
	int64_t length = tool_arg_int(call, "length", -1);
	uint64_t cap = call->env->cfg->read_bytes.def;
	auto_err struct err *err = NULL;
	auto_close int fd = -1;
	struct stat st;

	/*
	 * The default window fits in one message of the caller's transport: the
	 * text comes twice (the text block and structuredContent), base64 is 4/3
	 * of the bytes, and JSON escapes take some more. A longer length asked for
	 * is read, and answered as an error past the transport's bound (mcp.c).
	 */
	size_t max = call->conn ? call->conn->max_answer : 0;
	uint64_t fits = !strcmp(tool_arg_str(call, "encoding", "utf8"), "base64") ? max / 20 * 7 : max / 5 * 2;
	if (length < 0 && max && cap > fits)
		cap = fits;

	fd = sess_ws_open(s->wsfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, shown, &err);
	if (fd < 0) {
		tool_fail_err(call, err, "file_read");
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		tool_fail(call, "file_read: \"%s\" is %s, not a regular file%s", shown,
			  S_ISDIR(st.st_mode) ? "a directory" : "special",
			  S_ISDIR(st.st_mode) ? " (use file_list)" : "");
		return;
	}
	uint64_t want = length < 0 || (uint64_t)length > cap ? cap : (uint64_t)length;
	uint64_t avail = (uint64_t)offset < (uint64_t)st.st_size ? (uint64_t)st.st_size - (uint64_t)offset : 0;
	struct read_job *j = xcalloc(1, sizeof(*j));
	j->req.data = j;
	j->call = call;
	j->fd = steal_fd(fd);
	j->offset = offset;
	j->want = want > avail ? avail : want;
	j->size = st.st_size;
	j->base64 = !strcmp(tool_arg_str(call, "encoding", "utf8"), "base64");
	if (j->want <= READ_INLINE_MAX) {
		read_window(&j->req);
		read_done(&j->req, 0);
		return;
	}
	srv_pool_queue(call->principal, &j->req, read_window, read_done);
	/* a client that leaves takes its queued reads off the pool (one that runs finishes) */
	tool_on_cancel(call, read_cancel, j);
}

static int parse_mode(const char *s, mode_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 8);
	if (!*s || *end || v > 07777)
		return -1;
	*out = (mode_t)v;
	return 0;
}

/*
 * What writing len bytes over rel with O_TRUNC frees, as far as it can be
 * told now: the blocks the regular file there holds (what the disk scan
 * counts; never its size, which a sparse file makes anything), at most len.
 * The sandbox may change the file before it is truncated: this is only the
 * estimate the check is made with, and the next scan measures what is true.
 */
static uint64_t replaced_bytes(int wsfd, const char *rel, bool append, size_t len)
{
	auto_close int fd = -1;
	struct stat st;

	if (append || (fd = sess_ws_open(wsfd, rel, O_PATH, 0, rel, NULL)) < 0 || fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	uint64_t held = (uint64_t)st.st_blocks * 512;
	return held < len ? held : len;
}

static void file_write_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = rel_path(call, "path");
	if (!rel)
		return;
	const char *shown = tool_arg_str(call, "path", "");
	const char *enc = tool_arg_str(call, "encoding", "utf8");
	json_t *jc = json_object_get(call->args, "content");
	const char *mode_s = tool_arg_str(call, "mode", NULL);
	bool append = tool_arg_bool(call, "append", false);
	const struct sess_host_info *host = sess_registry_host(call->env->sessions);
	auto_err struct err *err = NULL;
	auto_close int dfd = -1, fd = -1;
	auto_free char *decoded = NULL;
	const char *data = json_string_value(jc), *base;
	size_t len = json_string_length(jc);
	mode_t mode = 0644;
	struct stat st;

	if (mode_s && parse_mode(mode_s, &mode) < 0) {
		tool_fail(call, "argument \"mode\" must be an octal file mode such as \"0644\" or \"755\"");
		return;
	}
	if (!strcmp(enc, "base64")) {
		decoded = base64_decode(data, len, &len);
		if (!decoded) {
			tool_fail(call, "argument \"content\" is not valid base64 (encoding is \"base64\")");
			return;
		}
		data = decoded;
	}
	/* an overwrite frees the old file's blocks as it truncates it: only the growth is asked for */
	uint64_t grows = len - replaced_bytes(s->wsfd, rel, append, len);
	if (sess_quota_disk_check(call->env->sessions, s, call->principal, grows, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	dfd = sess_ws_open_parent(s->wsfd, rel, true, host->sandbox_uid, host->sandbox_gid, &base, shown, &err);
	if (dfd < 0) {
		tool_fail_err(call, err, "file_write");
		return;
	}
	fd = sess_ws_open(s->wsfd, rel, O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | (append ? O_APPEND : O_TRUNC),
			  mode, shown, &err);
	if (fd < 0) {
		tool_fail_err(call, err, "file_write");
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		tool_fail(call, "file_write: \"%s\" is not a regular file", shown);
		return;
	}
	if (host->root)
		fchown(fd, host->sandbox_uid, host->sandbox_gid);
	if (mode_s)
		fchmod(fd, mode);
	if (write_all(fd, data, len) < 0) {
		tool_fail(call, "file_write: \"%s\": %s", shown, strerror(errno));
		return;
	}
	fstat(fd, &st);
	/* counted at once (the busy scan measures it within quota.disk_scan_busy):
	   writes in a row cannot pass the disk quota by more than one file */
	sess_quota_disk_add(s, grows);
	json_t *sc = json_pack("{s:s, s:I, s:I}", "path", shown, "bytes", (json_int_t)len, "size",
			       (json_int_t)st.st_size);
	struct buf text = BUF_INIT;
	buf_addf(&text, "%s %zu bytes to %s (size now %lld)", append ? "appended" : "wrote", len, shown,
		 (long long)st.st_size);
	tool_ok(call, sc, text.data);
	buf_release(&text);
}

static const char *type_of(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "other";
}

struct lister {
	json_t *entries;
	size_t path_bytes;	/* of the entries' paths */
	bool truncated;
	bool too_long;		/* stopped at LIST_MAX_PATH_BYTES */
	bool recursive;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "path")),
		      json_string_value(json_object_get(*(json_t *const *)b, "path")));
}

/* List dfd (shown to the client as prefix); takes ownership of dfd. */
static void list_dir(struct lister *l, int dfd, const char *prefix, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) && !l->too_long) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (json_array_size(l->entries) >= LIST_MAX_ENTRIES) {
			l->truncated = true;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		struct buf p = BUF_INIT;
		if (strcmp(prefix, "."))
			buf_addf(&p, "%s/", prefix);
		buf_adds(&p, de->d_name);
		if (l->path_bytes + p.len > LIST_MAX_PATH_BYTES) {
			buf_release(&p);
			l->truncated = l->too_long = true;
			break;
		}
		l->path_bytes += p.len;
		json_t *name = tool_json_text(de->d_name, strlen(de->d_name));
		json_t *path = tool_json_text(p.data, p.len);
		json_array_append_new(l->entries,
				      json_pack("{s:o, s:o, s:s, s:I, s:o}", "name", name, "path", path, "type",
						type_of(st.st_mode), "size", (json_int_t)st.st_size, "mtime",
						tool_json_time((uint64_t)st.st_mtim.tv_sec * 1000 +
							       (uint64_t)st.st_mtim.tv_nsec / 1000000)));
		if (l->recursive && S_ISDIR(st.st_mode) && depth < 64) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				list_dir(l, sub, p.data, depth + 1);
		}
		buf_release(&p);
	}
	closedir(d);
}

/* A listing on the thread pool: up to LIST_MAX_ENTRIES fstatat calls and
   their JSON are not the loop's to wait for. The session is held; the walk
   goes on beneath the fd opened on the loop even if it is destroyed. */
struct list_job {
	uv_work_t req;
	struct tool_call *call;
	struct sess_session *sess;
	int fd;
	char *rel;
	struct lister l;
	struct buf text;
};

static void list_run(uv_work_t *req)
{
	struct list_job *j = req->data;
	struct lister *l = &j->l;

	list_dir(l, j->fd, j->rel, 0);	/* takes the fd */
	j->fd = -1;
	/* sorted by path: stable output for models and tests */
	size_t n = json_array_size(l->entries);
	tool_json_sort(l->entries, cmp_entry);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(l->entries, i);
		const char *type = json_string_value(json_object_get(e, "type"));
		buf_addf(&j->text, "%s%s\t%lld\t%s\n", json_string_value(json_object_get(e, "path")),
			 !strcmp(type, "directory") ? "/" : !strcmp(type, "symlink") ? "@" : "",
			 (long long)json_integer_value(json_object_get(e, "size")),
			 json_string_value(json_object_get(e, "mtime")));
	}
	if (!n)
		buf_adds(&j->text, "(empty directory)\n");
	if (l->too_long)
		buf_addf(&j->text, "[truncated at %zu entries: a listing holds at most %u bytes of paths; list a "
			 "subdirectory]\n", n, LIST_MAX_PATH_BYTES);
	else if (l->truncated)
		buf_addf(&j->text, "[truncated at %d entries]\n", LIST_MAX_ENTRIES);
}

static void list_done(uv_work_t *req, int status)
{
	struct list_job *j = req->data;
	const char *shown = tool_arg_str(j->call, "path", ".");

	json_t *sc = json_pack("{s:s, s:o, s:b}", "path", shown, "entries", j->l.entries, "truncated",
			       j->l.truncated);
	tool_ok(j->call, sc, j->text.data);
	buf_release(&j->text);
	sess_put(j->sess);
	free(j->rel);
	free(j);
}

static void file_list_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = rel_path(call, "path");
	if (!rel)
		return;
	const char *shown = tool_arg_str(call, "path", ".");
	auto_err struct err *err = NULL;

	int fd = sess_ws_open(s->wsfd, rel, O_RDONLY | O_DIRECTORY, 0, shown, &err);
	if (fd < 0) {
		tool_fail_err(call, err, "file_list");
		return;
	}
	struct list_job *j = xcalloc(1, sizeof(*j));
	j->req.data = j;
	j->call = call;
	j->sess = s;
	sess_hold(s);
	j->fd = fd;
	j->rel = steal_ptr(rel);
	j->l = (struct lister){ .entries = json_array(), .recursive = tool_arg_bool(call, "recursive", false) };
	j->text = (struct buf)BUF_INIT;
	srv_pool_queue(call->principal, &j->req, list_run, list_done);
}

static void reply_deleted(struct tool_call *call, const char *shown, bool dir)
{
	struct buf text = BUF_INIT;
	buf_addf(&text, "deleted %s%s", shown, dir ? " (directory)" : "");
	tool_ok(call, json_pack("{s:s, s:b}", "path", shown, "deleted", 1), text.data);
	buf_release(&text);
}

/* A recursive delete in flight on the thread pool, in the caller's turn (its
   time is the tree's). The session is held: it may be destroyed meanwhile
   (the walk goes on beneath its own fd, dfd). */
struct delete_job {
	uv_work_t req;
	struct tool_call *call;
	struct sess_session *sess;
	int dfd;
	char *base;		/* the last component, beneath dfd */
	struct err *err;
};

static void delete_run(uv_work_t *req)
{
	struct delete_job *j = req->data;
	sess_ws_remove_at(j->dfd, j->base, &j->err);
}

static void delete_done(uv_work_t *req, int status)
{
	struct delete_job *j = req->data;
	const char *shown = tool_arg_str(j->call, "path", "");

	(void)status; /* never cancelled */
	j->sess->disk_dirty = true;	/* measured again by the next busy scan */
	if (j->err)
		tool_fail_err(j->call, j->err, "file_delete: \"%s\"", shown);
	else
		reply_deleted(j->call, shown, true);
	err_free(j->err);
	close(j->dfd);
	free(j->base);
	sess_put(j->sess);
	free(j);
}

static void file_delete_run_s(struct tool_call *call, struct sess_session *s)
{
	auto_free char *rel = rel_path(call, "path");
	if (!rel)
		return;
	const char *shown = tool_arg_str(call, "path", "");
	bool recursive = tool_arg_bool(call, "recursive", false);
	auto_err struct err *err = NULL;
	auto_close int dfd = -1;
	const char *base;
	struct stat st;

	if (!strcmp(rel, ".")) {
		tool_fail(call, "file_delete: refusing to delete the workspace itself (argument \"path\")");
		return;
	}
	dfd = sess_ws_open_parent(s->wsfd, rel, false, 0, 0, &base, shown, &err);
	if (dfd < 0) {
		tool_fail_err(call, err, "file_delete");
		return;
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		tool_fail_as(call, ERR_NOT_FOUND, "file_delete: path \"%s\" does not exist", shown);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		if (recursive) {
			/* its size is the workspace's: off the loop */
			struct delete_job *j = xcalloc(1, sizeof(*j));
			j->req.data = j;
			j->call = call;
			j->sess = s;
			sess_hold(s);
			j->dfd = steal_fd(dfd);
			j->base = xstrdup(base);
			srv_pool_queue(call->principal, &j->req, delete_run, delete_done);
			return;
		}
		if (unlinkat(dfd, base, AT_REMOVEDIR) < 0) {
			if (errno == ENOTEMPTY || errno == EEXIST)
				tool_fail_as(call, ERR_CONFLICT, "file_delete: directory \"%s\" is not empty; pass recursive: true to "
						"delete it with its contents", shown);
			else
				tool_fail(call, "file_delete: \"%s\": %s", shown, strerror(errno));
			return;
		}
	} else if (unlinkat(dfd, base, 0) < 0) {
		tool_fail(call, "file_delete: \"%s\": %s", shown, strerror(errno));
		return;
	}
	/* what it counted for is free now: a key over its disk quota can work again at once */
	sess_quota_disk_removed(s, &st);
	reply_deleted(call, shown, S_ISDIR(st.st_mode));
}

static void file_read_run(struct tool_call *call) { tool_with_session(call, file_read_run_s); }
static void file_write_run(struct tool_call *call) { tool_with_session(call, file_write_run_s); }
static void file_list_run(struct tool_call *call) { tool_with_session(call, file_list_run_s); }
static void file_delete_run(struct tool_call *call) { tool_with_session(call, file_delete_run_s); }

#define SESSION_ARG "\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own session.\"}"
#define PATH_DESC "Path relative to /workspace (\\\"/workspace/...\\\" also accepted)."

const struct tool_def tool_file_defs[] = {
	{
		.name = "file_read",
		.title = "Read a file",
		.description = "Read a file from the session workspace (/workspace). Text is returned as UTF-8; "
			       "use encoding \"base64\" for binary files. Reads are capped (8 MiB by default): use "
			       "offset and length to page through big files.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"path\":{\"type\":\"string\",\"description\":\"" PATH_DESC "\"},"
				SESSION_ARG ","
				"\"offset\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"First byte to read (default 0).\"},"
				"\"length\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Bytes to read (default: to the end, up to the cap).\"},"
				"\"encoding\":{\"type\":\"string\",\"enum\":[\"utf8\",\"base64\"]}"
				"},\"required\":[\"path\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				 "\"content\":{\"type\":\"string\"},\"encoding\":{\"type\":\"string\"},"
				 "\"size\":{\"type\":\"integer\"},\"offset\":{\"type\":\"integer\"},"
				 "\"bytes\":{\"type\":\"integer\"},\"truncated\":{\"type\":\"boolean\"}},"
				 "\"required\":[\"path\",\"content\",\"encoding\",\"size\",\"offset\",\"bytes\",\"truncated\"]}",
		.read_only = true,
		.idempotent = true,
		.run = file_read_run,
	},
	{
		.name = "file_write",
		.title = "Write a file",
		.description = "Create or replace (or, with append, extend) a file in the session workspace. "
			       "Missing parent directories are created.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"path\":{\"type\":\"string\",\"description\":\"" PATH_DESC "\"},"
				"\"content\":{\"type\":\"string\",\"description\":\"File content (UTF-8 text, or base64 with encoding base64).\"},"
				SESSION_ARG ","
				"\"encoding\":{\"type\":\"string\",\"enum\":[\"utf8\",\"base64\"]},"
				"\"append\":{\"type\":\"boolean\",\"description\":\"Append instead of replacing.\"},"
				"\"mode\":{\"type\":\"string\",\"description\":\"Octal permissions, e.g. \\\"0755\\\".\"}"
				"},\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				 "\"bytes\":{\"type\":\"integer\"},\"size\":{\"type\":\"integer\"}},"
				 "\"required\":[\"path\",\"bytes\",\"size\"]}",
		.destructive = true,
		.run = file_write_run,
	},
	{
		.name = "file_list",
		.title = "List files",
		.description = "List a directory of the session workspace (name, path, type, size, mtime), "
			       "optionally recursively.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"path\":{\"type\":\"string\",\"description\":\"Directory; default the workspace root.\"},"
				"\"recursive\":{\"type\":\"boolean\"},"
				SESSION_ARG
				"},\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				 "\"entries\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
				 "\"name\":{\"type\":\"string\"},\"path\":{\"type\":\"string\"},"
				 "\"type\":{\"type\":\"string\",\"enum\":[\"file\",\"directory\",\"symlink\",\"other\"]},"
				 "\"size\":{\"type\":\"integer\"},\"mtime\":{\"type\":\"string\"}}}},"
				 "\"truncated\":{\"type\":\"boolean\"}},\"required\":[\"path\",\"entries\",\"truncated\"]}",
		.read_only = true,
		.idempotent = true,
		.run = file_list_run,
	},
	{
		.name = "file_delete",
		.title = "Delete a file",
		.description = "Delete a file, symlink or (with recursive) a directory tree in the session workspace.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"path\":{\"type\":\"string\",\"description\":\"" PATH_DESC "\"},"
				"\"recursive\":{\"type\":\"boolean\",\"description\":\"Required to delete a non-empty directory.\"},"
				SESSION_ARG
				"},\"required\":[\"path\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				 "\"deleted\":{\"type\":\"boolean\"}},\"required\":[\"path\",\"deleted\"]}",
		.destructive = true,
		.idempotent = true,
		.run = file_delete_run,
	},
	{ 0 },
};
