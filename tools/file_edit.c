/*
 * file_edit: change a workspace file in place, as coding agents do (an
 * exact string replaced, lines inserted, replaced or deleted). The file is
 * read, edited (tools/edit.h) and written on the thread pool, beneath its
 * directory's fd opened on the loop through sessions/workspace.h; the new
 * contents go to a temporary file in the same directory that is renamed
 * over the old one, so readers see the old file or the new one, never half.
 */
#include "tool.h"
#include "edit.h"
#include "../sessions/quota.h"
#include "../sessions/workspace.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/banned.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define EDIT_DIFF_CONTEXT 3
#define EDIT_DIFF_LINES 60

struct edit_job {
	uv_work_t req;
	struct tool_call *call;
	struct sess_session *sess;
	int dfd;		/* the directory holding the file */
	char *base;		/* the file's name in it */
	const char *shown;	/* the path as the client gave it (call->args) */
	struct tool_edit edit;
	const char *op;		/* the operation's name in the result */
	size_t cap;
	bool root;		/* the server runs as root: keep the file's owner */
	struct err *err;
	json_t *sc;
	struct buf text;
};

/* Read fd (a regular file of size st_size) whole, at most cap bytes. */
static int read_whole(int fd, size_t cap, struct buf *b, struct err **errp)
{
	for (;;) {
		if (b->len > cap)
			return err_setc(errp, ERR_LIMIT, 0, "it is larger than %zu bytes, the edit limit (limits.read)", cap);
		buf_grow(b, 65536);
		ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(errp, errno, "cannot read it");
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	if (memchr(b->data ? b->data : "", '\0', b->len))
		return err_setc(errp, ERR_INVALID, 0, "it is a binary file (it contains NUL bytes)");
	return 0;
}

/* Write data to a new file in dfd shaped like st, then rename it over base
   unless base changed since st was read. */
static int replace_file(struct edit_job *j, const struct stat *st, const char *data, size_t len,
			struct err **errp)
{
	char tmp[48];
	unsigned char rnd[8];
	int fd = -1;

	for (int tries = 0; fd < 0 && tries < 8; tries++) {
		srv_random_bytes(rnd, sizeof(rnd));
		snprintf(tmp, sizeof(tmp), ".mcpbox-edit-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
			 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		fd = openat(j->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return err_set(errp, errno, "cannot create a temporary file beside it");
	}
	if (fd < 0)
		return err_set(errp, EEXIST, "cannot create a temporary file beside it");
	if (j->root && fchown(fd, st->st_uid, st->st_gid) < 0) {
		err_set(errp, errno, "cannot give the new file the old one's owner");
		goto fail;
	}
	if (fchmod(fd, st->st_mode & 07777) < 0 || write_all(fd, data, len) < 0) {
		err_set(errp, errno, "cannot write the new contents");
		goto fail;
	}
	struct stat now;
	if (fstatat(j->dfd, j->base, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != st->st_ino ||
	    now.st_dev != st->st_dev || now.st_size != st->st_size || now.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	    now.st_mtim.tv_nsec != st->st_mtim.tv_nsec) {
		err_setc(errp, ERR_CONFLICT, 0, "it changed while it was being edited: read it again and retry");
		goto fail;
	}
	if (renameat(j->dfd, tmp, j->dfd, j->base) < 0) {
		err_set(errp, errno, "cannot replace it");
		goto fail;
	}
	close(fd);
	return 0;
fail:
	close(fd);
	unlinkat(j->dfd, tmp, 0);
	return -1;
}

static void describe(struct edit_job *j, const struct tool_edit_result *res, const char *old, size_t old_len,
		     size_t size)
{
	struct buf diff = BUF_INIT;
	tool_edit_diff(old, old_len, res, EDIT_DIFF_CONTEXT, EDIT_DIFF_LINES, &diff);
	j->sc = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "path", j->shown, "operation", j->op,
			  "changes", (json_int_t)res->nspans, "first_line", (json_int_t)res->first_line,
			  "lines_removed", (json_int_t)res->lines_removed, "lines_added", (json_int_t)res->lines_added,
			  "size", (json_int_t)size, "diff", tool_json_text(diff.data ? diff.data : "", diff.len));
	buf_addf(&j->text, "edited %s: ", j->shown);
	if (j->edit.kind == TOOL_EDIT_REPLACE)
		buf_addf(&j->text, "%zu replacement%s, first at line %lld", res->nspans, res->nspans == 1 ? "" : "s",
			 (long long)res->first_line);
	else
		buf_addf(&j->text, "%s at line %lld", j->op, (long long)res->first_line);
	buf_addf(&j->text, " (-%lld +%lld lines, size now %zu)\n%s", (long long)res->lines_removed,
		 (long long)res->lines_added, size, diff.data ? diff.data : "");
	buf_release(&diff);
}

static void edit_run(uv_work_t *req)
{
	struct edit_job *j = req->data;
	struct buf old = BUF_INIT;
	struct tool_edit_result res = { .out = BUF_INIT };
	struct stat st;
	auto_close int fd = openat(j->dfd, j->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ELOOP)
			err_setc(&j->err, ERR_INVALID, 0, "it is a symlink: edit the file it points to");
		else if (errno == ENOENT)
			err_setc(&j->err, ERR_NOT_FOUND, 0, "it does not exist (file_write creates files)");
		else
			err_set(&j->err, errno, "cannot open it");
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_setc(&j->err, ERR_INVALID, 0, "it is %s, not a regular file", S_ISDIR(st.st_mode) ? "a directory" : "special");
		return;
	}
	if (read_whole(fd, j->cap, &old, &j->err) == 0 &&
	    tool_edit_apply(old.data ? old.data : "", old.len, &j->edit, j->cap, &res, &j->err) == 0 &&
	    replace_file(j, &st, res.out.data ? res.out.data : "", res.out.len, &j->err) == 0)
		describe(j, &res, old.data ? old.data : "", old.len, res.out.len);
	tool_edit_result_release(&res);
	buf_release(&old);
}

static void edit_done(uv_work_t *req, int status)
{
	struct edit_job *j = req->data;

	if (j->err)
		tool_fail_err(j->call, j->err, "file_edit: \"%s\"", j->shown);
	else
		tool_ok(j->call, j->sc, j->text.data);
	err_free(j->err);
	buf_release(&j->text);
	close(j->dfd);
	free(j->base);
	sess_put(j->sess);
	free(j);
}

/* The operation the arguments ask for, into e; -1 (call finished) if they are not one. */
static int edit_args(struct tool_call *call, struct tool_edit *e, const char **op)
{
	json_t *a = call->args;
	const char *modes[] = { "old_string", "insert_before", "insert_after", "start_line" };
	int given = 0, which = -1;
	for (int i = 0; i < 4; i++)
		if (json_object_get(a, modes[i])) {
			given++;
			which = i;
		}
	if (given != 1) {
		tool_fail(call, "file_edit: give exactly one of old_string (replace that text), insert_before or "
			  "insert_after (a line number), start_line (with end_line: replace or delete lines)");
		return -1;
	}
	json_t *nw = json_object_get(a, "new_string");
	if (!nw) {
		tool_fail(call, "file_edit: argument \"new_string\" is required (\"\" with start_line deletes the lines)");
		return -1;
	}
	if (which != 0 && json_object_get(a, "replace_all")) {
		tool_fail(call, "file_edit: replace_all goes with old_string only");
		return -1;
	}
	if (which != 3 && json_object_get(a, "end_line")) {
		tool_fail(call, "file_edit: end_line goes with start_line only");
		return -1;
	}
	*e = (struct tool_edit){ .new_s = json_string_value(nw), .new_len = json_string_length(nw) };
	switch (which) {
	case 0:
		e->kind = TOOL_EDIT_REPLACE;
		e->old_s = tool_arg_str(call, "old_string", "");
		e->old_len = json_string_length(json_object_get(a, "old_string"));
		e->all = tool_arg_bool(call, "replace_all", false);
		*op = "replace";
		break;
	case 1:
	case 2:
		e->kind = which == 1 ? TOOL_EDIT_INSERT_BEFORE : TOOL_EDIT_INSERT_AFTER;
		e->line = tool_arg_int(call, modes[which], 0);
		*op = modes[which];
		break;
	default:
		e->start = tool_arg_int(call, "start_line", 1);
		e->end = tool_arg_int(call, "end_line", e->start);
		e->kind = e->new_len ? TOOL_EDIT_REPLACE_LINES : TOOL_EDIT_DELETE_LINES;
		*op = e->new_len ? "replace_lines" : "delete_lines";
	}
	return 0;
}

static void file_edit_run_s(struct tool_call *call, struct sess_session *s)
{
	const char *shown = tool_arg_str(call, "path", "");
	auto_err struct err *err = NULL;
	auto_free char *rel = NULL;
	struct tool_edit e;
	const char *op, *base;

	if (edit_args(call, &e, &op) < 0)
		return;
	if (sess_ws_relpath(shown, &rel, &err) < 0) {
		tool_fail_err(call, err, "argument \"path\"");
		return;
	}
	if (sess_quota_disk_check(call->env->sessions, s, call->principal, 0, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	int dfd = sess_ws_open_parent(s->wsfd, rel, false, 0, 0, &base, shown, &err);
	if (dfd < 0) {
		tool_fail_err(call, err, "file_edit");
		return;
	}
	struct edit_job *j = xcalloc(1, sizeof(*j));
	j->req.data = j;
	j->call = call;
	j->sess = s;
	sess_hold(s);
	j->dfd = dfd;
	j->base = xstrdup(base);
	j->shown = shown;
	j->edit = e;
	j->op = op;
	j->cap = call->env->cfg->read_bytes.def;
	j->root = sess_registry_host(call->env->sessions)->root;
	j->text = (struct buf)BUF_INIT;
	srv_pool_queue(call->principal, &j->req, edit_run, edit_done);
}

static void file_edit_run(struct tool_call *call) { tool_with_session(call, file_edit_run_s); }

const struct tool_def tool_edit_defs[] = {
	{
		.name = "file_edit",
		.title = "Edit a file",
		.description = "Edit a text file of the session workspace in place. Either replace an exact string "
			       "(old_string → new_string; old_string must occur exactly once unless replace_all, and "
			       "must match whitespace and indentation exactly), or work on lines (1-based): "
			       "insert_before / insert_after a line number, or start_line..end_line replaced by "
			       "new_string (\"\" deletes them). The file is replaced atomically; the result shows "
			       "the change as a unified diff.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"path\":{\"type\":\"string\",\"description\":\"File relative to /workspace (\\\"/workspace/...\\\" also accepted).\"},"
				"\"old_string\":{\"type\":\"string\",\"description\":\"Exact text to replace.\"},"
				"\"new_string\":{\"type\":\"string\",\"description\":\"Replacement, or the lines to insert.\"},"
				"\"replace_all\":{\"type\":\"boolean\",\"description\":\"Replace every occurrence of old_string.\"},"
				"\"insert_before\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Insert new_string as lines before this line (last line + 1 appends).\"},"
				"\"insert_after\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"Insert new_string as lines after this line (0: at the top).\"},"
				"\"start_line\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"First line to replace or delete.\"},"
				"\"end_line\":{\"type\":\"integer\",\"minimum\":1,\"description\":\"Last line (default start_line).\"},"
				"\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own session.\"}"
				"},\"required\":[\"path\"],\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
				 "\"operation\":{\"type\":\"string\",\"enum\":[\"replace\",\"insert_before\",\"insert_after\",\"replace_lines\",\"delete_lines\"]},"
				 "\"changes\":{\"type\":\"integer\"},\"first_line\":{\"type\":\"integer\"},"
				 "\"lines_removed\":{\"type\":\"integer\"},\"lines_added\":{\"type\":\"integer\"},"
				 "\"size\":{\"type\":\"integer\"},\"diff\":{\"type\":\"string\"}},"
				 "\"required\":[\"path\",\"operation\",\"changes\",\"first_line\",\"lines_removed\",\"lines_added\",\"size\",\"diff\"]}",
		.destructive = true,
		.run = file_edit_run,
	},
	{ 0 },
};
