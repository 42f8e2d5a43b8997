/*
 * server/rest/soulbox_files.c — SoulBox's files and snapshots (see soulbox.h,
 * docs/compat.md 004): upload (multipart/form-data), list, download, delete;
 * snapshots of a sandbox's workspace, restore and delete.
 *
 * The transport hands a route the whole request body (bounded by the
 * server's max_message), so an upload is held once in memory, parsed in
 * place and written to the workspace in pieces of CHUNK bytes (file_write,
 * then file_write {append}); a download is read in pieces (file_read
 * {offset, length}) and streamed to the client as each arrives, pausing
 * while the client has more than QUEUE_MAX unread. Every path goes through
 * the file tools, which confine it to /workspace.
 */
#include "soulbox.h"
#include "multipart.h"
#include "../base/base64.h"
#include "../base/buf.h"
#include "../base/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/banned.h"

#define CHUNK (8u << 20)
#define QUEUE_MAX (8u << 20)
#define MAX_PARTS 64
#define WS_PREFIX "/workspace/"
#define DOC_PREFIX "/sandbox/"

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static bool utf8_ok(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	json_decref(j);
	return j != NULL;
}

/* ---- paths ---- */

/* A path as the client gives it: /sandbox/x and /workspace/x are x; others go to the file tools as they are. */
static const char *rel_path(const char *p)
{
	if (!strncmp(p, DOC_PREFIX, strlen(DOC_PREFIX)))
		return p + strlen(DOC_PREFIX);
	if (!strncmp(p, WS_PREFIX, strlen(WS_PREFIX)))
		return p + strlen(WS_PREFIX);
	return p;
}

/* A workspace-relative path as answers show it: /workspace/x. */
static json_t *shown_path(const char *rel)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, WS_PREFIX "%s", rel[0] == '.' && !rel[1] ? "" : rel);
	json_t *s = json_string(b.data);
	buf_release(&b);
	return s;
}

static const struct {
	const char *ext, *type;
} mime[] = {
	{ ".txt", "text/plain; charset=utf-8" }, { ".py", "text/x-python; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" }, { ".json", "application/json" },
	{ ".html", "text/html; charset=utf-8" }, { ".css", "text/css" }, { ".csv", "text/csv; charset=utf-8" },
	{ ".md", "text/markdown; charset=utf-8" }, { ".xml", "application/xml" }, { ".sh", "text/x-shellscript" },
	{ ".rs", "text/x-rust" }, { ".go", "text/x-go" }, { ".java", "text/x-java" }, { ".c", "text/x-c" },
	{ ".png", "image/png" }, { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" }, { ".gif", "image/gif" },
	{ ".svg", "image/svg+xml" }, { ".pdf", "application/pdf" }, { ".zip", "application/zip" },
	{ ".gz", "application/gzip" }, { ".tar", "application/x-tar" },
};

static const char *mime_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && strchr(dot, '/'))
		dot = NULL;
	for (size_t i = 0; dot && i < sizeof(mime) / sizeof(mime[0]); i++)
		if (!strcasecmp(dot, mime[i].ext))
			return mime[i].type;
	return "application/octet-stream";
}

/* ---- upload ---- */

struct upload {
	struct rest_mp_part parts[MAX_PARTS];
	int nparts;
	int cur;		/* the file part being written */
	size_t off;		/* bytes of it written */
	char dest[1100];	/* its path in the workspace */
	const char *dir;	/* the path field: a directory (ends in '/', or several files), else the file */
	bool many;		/* several file parts */
	json_t *files;		/* the answer's entries */
};

static void upload_free(void *p)
{
	struct upload *u = p;
	json_decref(u->files);
	free(u);
}

static void upload_next(struct sb_call *c);

static void chunk_written(struct sb_call *c, json_t *data)
{
	(void)data;
	struct upload *u = c->ext;
	const struct rest_mp_part *pt = &u->parts[u->cur];
	if (u->off < pt->len) {
		upload_next(c);
		return;
	}
	const char *slash = strrchr(u->dest, '/');
	json_array_append_new(u->files, json_pack("{s:s, s:o, s:I, s:o}", "name", slash ? slash + 1 : u->dest, "path",
						  shown_path(u->dest), "size", (json_int_t)pt->len, "uploaded_at",
						  rest_now()));
	u->cur++;
	u->off = 0;
	u->dest[0] = '\0';
	upload_next(c);
}

/* The next piece of the current file part, or the next file part, or the answer. */
static void upload_next(struct sb_call *c)
{
	struct upload *u = c->ext;
	while (u->cur < u->nparts && (!u->parts[u->cur].has_filename || strcmp(u->parts[u->cur].name, "file")))
		u->cur++;
	if (u->cur == u->nparts) {
		sb_call_answer(c, 200, json_pack("{s:O}", "files", u->files));
		return;
	}
	const struct rest_mp_part *pt = &u->parts[u->cur];
	if (!u->dest[0]) {
		const char *base = strrchr(pt->filename, '/') ? strrchr(pt->filename, '/') + 1 : pt->filename;
		const char *dir = u->dir ? rel_path(u->dir) : NULL;
		size_t dl = dir ? strlen(dir) : 0;
		if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
			sb_call_fail(c, 400, SB_VALIDATION_ERROR, "file", "the file part's filename must name a file");
			return;
		}
		if (dir && dl && dir[dl - 1] != '/' && !u->many)
			snprintf(u->dest, sizeof(u->dest), "%s", dir); /* one file: path names it */
		else if (dir && dl)
			snprintf(u->dest, sizeof(u->dest), "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", base);
		else
			snprintf(u->dest, sizeof(u->dest), "%s", base);
	}
	size_t n = pt->len - u->off < CHUNK ? pt->len - u->off : CHUNK;
	size_t elen;
	char *b64 = base64_encode(pt->data + u->off, n, &elen);
	json_t *args = json_pack("{s:s, s:s, s:s%, s:s, s:b}", "session_id", c->id, "path", u->dest, "content", b64,
				 elen, "encoding", "base64", "append", u->off > 0);
	free(b64);
	u->off += n;
	sb_call_tool(c, "file_write", args, chunk_written);
}

static void upload(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX], ctype[512], boundary[80];
	const char *why = NULL;
	size_t len;

	if (sb_begin(r, SB_RATE_UPLOADS, principal))
		return;
	if (tp_req_header(r, "Content-Type", ctype, sizeof(ctype)) || rest_mp_boundary(ctype, boundary, sizeof(boundary))) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "file",
			"Send the upload as multipart/form-data (with a boundary): sandbox_id, file, path");
		return;
	}
	const char *body = tp_req_body(r, &len);
	struct upload *u = xcalloc(1, sizeof(*u));
	u->nparts = rest_mp_parse(body, len, boundary, u->parts, MAX_PARTS, &why);
	if (u->nparts < 0) {
		upload_free(u);
		sb_fail(r, 400, SB_VALIDATION_ERROR, "file", "%s", why);
		return;
	}
	const char *sandbox = NULL;
	int nfiles = 0;
	for (int i = 0; i < u->nparts; i++) {
		struct rest_mp_part *pt = &u->parts[i];
		if (!strcmp(pt->name, "file") && pt->has_filename)
			nfiles += utf8_ok(pt->filename, strlen(pt->filename)) ? 1 : (why = "file", 0);
		else if ((!strcmp(pt->name, "sandbox_id") || !strcmp(pt->name, "path")) &&
			 (!pt->len || pt->len > 1024 || memchr(pt->data, 0, pt->len) || !utf8_ok(pt->data, pt->len)))
			why = pt->name;
	}
	for (int i = 0; i < u->nparts && !why; i++) {
		struct rest_mp_part *pt = &u->parts[i];
		if (!strcmp(pt->name, "sandbox_id"))
			sandbox = pt->data;
		if (!strcmp(pt->name, "path"))
			u->dir = pt->data;
	}
	if (why) {
		upload_free(u);
		sb_fail(r, 400, SB_VALIDATION_ERROR, why, "%s must be UTF-8 text of 1 to 1024 bytes", why);
		return;
	}
	if (!sandbox || !nfiles) {
		upload_free(u);
		sb_fail(r, 400, SB_VALIDATION_ERROR, sandbox ? "file" : "sandbox_id", "%s is required",
			sandbox ? "a file part (with a filename)" : "sandbox_id");
		return;
	}
	struct sb_call *c = sb_call_new(r, principal, NULL);
	/* the text fields end at their part's data: copy them out of the body */
	const struct rest_mp_part *sp = NULL, *pp = NULL;
	for (int i = 0; i < u->nparts; i++) {
		if (!strcmp(u->parts[i].name, "sandbox_id"))
			sp = &u->parts[i];
		if (!strcmp(u->parts[i].name, "path"))
			pp = &u->parts[i];
	}
	snprintf(c->id, sizeof(c->id), "%.*s", (int)sp->len, sp->data);
	c->keep = pp ? json_stringn(pp->data, pp->len) : NULL;
	u->dir = c->keep ? json_string_value(c->keep) : NULL;
	u->many = nfiles > 1; /* several files: path is a directory */
	u->files = json_array();
	c->ext = u;
	c->ext_free = upload_free;
	upload_next(c);
}

/* ---- list, download, delete ---- */

static struct sb_call *files_call(struct tp_req *r)
{
	return sb_call_path(r, "sandbox_id", 0);
}

/* A chain for the file the path names (p: its file_path); NULL when answered. */
static struct sb_call *file_call(struct tp_req *r, const char *p)
{
	struct sb_call *c = files_call(r);
	if (c && (!p || !*p || strlen(p) > 1024)) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "file_path", "file_path must be 1 to 1024 characters");
		return NULL;
	}
	return c;
}

static void files_listed(struct sb_call *c, json_t *data)
{
	struct sb_page *p = c->ext;
	json_t *items = json_array();
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(data, "entries"), i, f) {
		const char *type = str(f, "type");
		json_t *o = json_pack("{s:O, s:o, s:s, s:o}", "name", json_object_get(f, "name"), "path",
				      shown_path(str(f, "path") ?: ""), "type", type && !strcmp(type, "directory") ? "directory"
				      : type && !strcmp(type, "symlink") ? "symlink" : "file",
				      "created_at", sb_time(str(f, "mtime")));
		if (type && strcmp(type, "directory")) {
			json_object_set(o, "size", json_object_get(f, "size"));
			json_object_set_new(o, "modified_at", sb_time(str(f, "mtime")));
		}
		json_array_append_new(items, o);
	}
	json_t *page = sb_page_apply(c->r, p, items, NULL);
	json_t *out = json_pack("{s:o}", "files", page);
	if (json_is_true(json_object_get(data, "truncated")))
		json_object_set_new(out, "truncated", json_true());
	sb_call_answer(c, 200, out);
}

static void files_list(struct tp_req *r, void *arg)
{
	(void)arg;
	char path[1024], rec[8] = "";
	struct sb_call *c = files_call(r);
	if (!c || sb_call_page(c))
		return;
	tp_req_query(r, "recursive", rec, sizeof(rec));
	if (rec[0] && strcmp(rec, "true") && strcmp(rec, "false") && strcmp(rec, "1") && strcmp(rec, "0")) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "recursive", "recursive must be true or false");
		return;
	}
	json_t *args = json_pack("{s:s, s:b}", "session_id", c->id, "recursive", !strcmp(rec, "true") || !strcmp(rec, "1"));
	if (!tp_req_query(r, "path", path, sizeof(path)) && path[0])
		json_object_set_new(args, "path", json_string(rel_path(path)[0] ? rel_path(path) : "."));
	sb_call_tool(c, "file_list", args, files_listed);
}

/* A download: pieces read with file_read and written as they come. */
struct download {
	char path[1100];
	uint64_t off, size;
	bool started;
	bool waiting;		/* for the client to read what is queued */
};

static void read_piece(struct sb_call *c);

static void download_end(struct sb_call *c)
{
	tp_req_on_written(c->r, NULL, NULL);
	tp_req_on_gone(c->r, NULL, NULL);
	tp_req_end(c->r);
	sb_call_free(c);
}

static void drained(void *arg)
{
	struct sb_call *c = arg;
	struct download *d = c->ext;
	if (!d->waiting || tp_req_queued(c->r) > QUEUE_MAX / 2)
		return;
	d->waiting = false;
	tp_req_on_written(c->r, NULL, NULL);
	tp_req_on_gone(c->r, NULL, NULL);
	read_piece(c);
}

/* The client left while the download waited for it to read: nothing will drain; end it here. */
static void download_gone(void *arg)
{
	struct sb_call *c = arg;
	struct download *d = c->ext;
	d->waiting = false;
	download_end(c);
}

static void piece_read(struct sb_call *c, json_t *data)
{
	struct download *d = c->ext;
	size_t n = 0;
	const char *b64 = str(data, "content") ?: "";
	char *bytes = base64_decode(b64, strlen(b64), &n);
	if (!bytes)
		n = 0; /* not base64 (file_read's own output always is): ends the download as a short body */
	if (!d->started) {
		d->size = (uint64_t)json_integer_value(json_object_get(data, "size"));
		const char *slash = strrchr(d->path, '/');
		struct buf disp = BUF_INIT;
		buf_addf(&disp, "attachment; filename=\"");
		for (const char *p = slash ? slash + 1 : d->path; *p; p++)
			buf_addf(&disp, "%c", *p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '_' : *p);
		buf_adds(&disp, "\"");
		tp_req_add_header(c->r, "Content-Disposition", disp.data);
		buf_release(&disp);
		char id[SB_REQ_ID_MAX];
		sb_request_id(id);
		tp_req_add_header(c->r, "X-Request-ID", id);
		tp_req_start_raw(c->r, 200, mime_of(d->path), (int64_t)d->size);
		d->started = true;
	}
	if (n > d->size - d->off)
		n = (size_t)(d->size - d->off); /* the file grew meanwhile: the length promised stands */
	if (n)
		tp_req_write(c->r, bytes, n);
	free(bytes);
	d->off += n;
	if (!n || d->off >= d->size || tp_req_gone(c->r)) {
		download_end(c); /* done, or it shrank (the client sees a short body), or the client left */
		return;
	}
	if (tp_req_queued(c->r) > QUEUE_MAX) {
		d->waiting = true;
		tp_req_on_written(c->r, drained, c);
		tp_req_on_gone(c->r, download_gone, c);
		return;
	}
	read_piece(c);
}

static void read_failed(struct sb_call *c, json_t *result, enum err_class cls)
{
	struct download *d = c->ext;
	if (!d->started) {
		sb_fail_class(c->r, cls, rest_result_text(result));
		sb_call_free(c);
	} else {
		download_end(c);
	}
}

static void read_piece(struct sb_call *c)
{
	struct download *d = c->ext;
	c->on_fail = read_failed;
	sb_call_tool(c, "file_read",
		     json_pack("{s:s, s:s, s:s, s:I, s:I}", "session_id", c->id, "path", d->path, "encoding", "base64",
			       "offset", (json_int_t)d->off, "length", (json_int_t)CHUNK),
		     piece_read);
}

static void file_download(struct tp_req *r, void *arg)
{
	const char *p = tp_req_param(r, "file_path");
	if (p && !*p) { /* ".../files/" is the listing (the router may try this route first) */
		files_list(r, arg);
		return;
	}
	struct sb_call *c = file_call(r, p);
	if (!c)
		return;
	struct download *d = xcalloc(1, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "%s", rel_path(p));
	c->ext = d;
	c->ext_free = free;
	read_piece(c);
}

static void file_deleted(struct sb_call *c, json_t *data)
{
	(void)data;
	sb_call_answer(c, 200, json_pack("{s:s}", "message", "File deleted successfully"));
}

static void file_delete(struct tp_req *r, void *arg)
{
	(void)arg;
	char rec[8] = "";
	const char *p = tp_req_param(r, "file_path");
	struct sb_call *c = file_call(r, p);
	if (!c)
		return;
	tp_req_query(r, "recursive", rec, sizeof(rec));
	sb_call_tool(c, "file_delete",
		     json_pack("{s:s, s:s, s:b}", "session_id", c->id, "path", rel_path(p), "recursive",
			       !strcmp(rec, "true") || !strcmp(rec, "1")),
		     file_deleted);
}

/* ---- snapshots ---- */

#define LABEL_TYPE "soulbox.type"
#define LABEL_DESC "soulbox.description"
#define TAG_PREFIX "soulbox.tag."

static json_t *snapshot_json(json_t *sn)
{
	json_t *tags = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(sn, "labels"), k, v)
		if (!strncmp(k, TAG_PREFIX, strlen(TAG_PREFIX)))
			json_object_set(tags, k + strlen(TAG_PREFIX), v);
	json_t *labels = json_object_get(sn, "labels");
	uint64_t bytes = (uint64_t)json_integer_value(json_object_get(sn, "bytes"));
	return json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:I, s:I}", "snapshot_id", str(sn, "snapshot_id"),
			 "name", str(sn, "name") ? json_string(str(sn, "name")) : json_null(), "status", "completed", "type",
			 str(labels, LABEL_TYPE) ?: "full", "size", sb_memory_str((bytes + (1u << 20) - 1) >> 20),
			 "created_at", sb_time(str(sn, "created_at")), "tags", tags, "description",
			 str(labels, LABEL_DESC) ? json_string(str(labels, LABEL_DESC)) : json_null(), "sandbox_id",
			 str(sn, "session_id") ?: "", "bytes", (json_int_t)bytes, "files",
			 json_integer_value(json_object_get(sn, "files")));
}

static void snapshot_made(struct sb_call *c, json_t *sn)
{
	json_t *o = snapshot_json(sn);
	/* it is complete when answered: estimated_completion is when it was */
	json_object_set(o, "estimated_completion", json_object_get(o, "created_at"));
	sb_call_answer(c, 201, o);
}

static void snapshot_create(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = sb_call_path(r, "sandbox_id", 1);
	if (!c)
		return;
	json_t *b = c->body;
	json_t *labels = json_object(), *args = json_pack("{s:s, s:o}", "session_id", c->id, "labels", labels);
	json_t *name = json_object_get(b, "name"), *desc = json_object_get(b, "description");
	json_t *type = json_object_get(b, "type"), *tags = json_object_get(b, "tags");
	const char *k;
	json_t *v;
	const char *bad = NULL, *why = NULL;

	if (json_is_true(json_object_get(b, "include_memory")))
		bad = "include_memory", why = "memory is not snapshotted: a snapshot is the sandbox's files (its "
					      "workspace); send include_memory: false";
	else if (json_object_get(b, "include_memory") && !json_is_boolean(json_object_get(b, "include_memory")))
		bad = "include_memory", why = "include_memory must be a boolean";
	else if (name && (!json_is_string(name) || !json_string_length(name) || json_string_length(name) > 200))
		bad = "name", why = "name must be a string of 1 to 200 characters";
	else if (desc && (!json_is_string(desc) || json_string_length(desc) > 256))
		bad = "description", why = "description must be a string of at most 256 characters";
	else if (type && (!json_is_string(type) || (strcmp(json_string_value(type), "full") &&
						    strcmp(json_string_value(type), "incremental"))))
		bad = "type", why = "type must be \"full\" or \"incremental\"";
	else if (json_object_get(b, "compress") && !json_is_boolean(json_object_get(b, "compress")))
		bad = "compress", why = "compress must be a boolean";
	else if (tags && (!json_is_object(tags) || json_object_size(tags) > 16))
		bad = "tags", why = "tags must be an object of at most 16 strings";
	json_object_foreach(tags, k, v)
		if (!bad && (!json_is_string(v) || strlen(k) > 48 || json_string_length(v) > 256))
			bad = "tags", why = "each tag must be a string (names up to 48 characters, values up to 256)";
	if (bad) {
		json_decref(args);
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, bad, "%s", why);
		return;
	}
	if (name)
		json_object_set(args, "name", name);
	if (desc && json_string_length(desc))
		json_object_set(labels, LABEL_DESC, desc);
	json_object_set_new(labels, LABEL_TYPE, json_string(type ? json_string_value(type) : "full"));
	json_object_foreach(tags, k, v) {
		struct buf lk = BUF_INIT;
		buf_addf(&lk, TAG_PREFIX "%s", k);
		json_object_set(labels, lk.data, v);
		buf_release(&lk);
	}
	sb_call_tool(c, "session_snapshot", args, snapshot_made);
}

static void snapshots_listed(struct sb_call *c, json_t *data)
{
	struct sb_page *p = c->ext;
	json_t *items = json_array();
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(data, "snapshots"), i, sn)
		json_array_append_new(items, snapshot_json(sn));
	sb_call_answer(c, 200, json_pack("{s:o}", "snapshots", sb_page_apply(c->r, p, items, NULL)));
}

/* The sandbox must be the caller's (an unknown one is 404, not an empty list). */
static void snapshots_of(struct sb_call *c, json_t *info)
{
	(void)info;
	sb_call_tool(c, "snapshot_list", json_pack("{s:s}", "session_id", c->id), snapshots_listed);
}

static void snapshot_list(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = files_call(r);
	if (!c || sb_call_page(c))
		return;
	sb_call_tool(c, "session_info", json_pack("{s:s}", "session_id", c->id), snapshots_of);
}


static void restored(struct sb_call *c, json_t *data)
{
	(void)data;
	sb_call_answer(c, 200, json_pack("{s:s, s:O, s:s, s:s}", "snapshot_id", c->id, "target_sandbox_id", c->keep,
					 "status", "restored", "message", "Snapshot restored successfully"));
}

static void restore_with(struct sb_call *c, json_t *sn)
{
	const char *target = str(c->body, "target_sandbox_id") ?: str(sn, "session_id");
	if (!target) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, "target_sandbox_id", "target_sandbox_id is required");
		return;
	}
	json_decref(c->keep);
	c->keep = json_string(target);
	sb_call_tool(c, "session_restore", json_pack("{s:s, s:s}", "session_id", target, "snapshot_id", c->id), restored);
}

static void snapshot_restore(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = sb_call_path(r, "snapshot_id", 1);
	if (!c)
		return;
	json_t *b = c->body, *opts = json_object_get(b, "restore_options");
	json_t *target = json_object_get(b, "target_sandbox_id");
	const char *bad = NULL, *why = NULL;
	if (target && (!json_is_string(target) || !json_string_length(target) || json_string_length(target) > 256))
		bad = "target_sandbox_id", why = "target_sandbox_id must be a sandbox id";
	else if (opts && !json_is_object(opts))
		bad = "restore_options", why = "restore_options must be an object";
	else if (json_is_true(json_object_get(opts, "include_memory")))
		bad = "restore_options.include_memory",
		why = "memory is not snapshotted: a restore brings back the sandbox's files; send include_memory: false";
	else if (json_is_false(json_object_get(opts, "include_files")))
		bad = "restore_options.include_files", why = "a restore is the sandbox's files: include_files cannot be false";
	/* preserve_network: a restore never changes the sandbox's network, whatever it says */
	if (bad) {
		sb_call_fail(c, 400, SB_VALIDATION_ERROR, bad, "%s", why);
		return;
	}
	sb_call_tool(c, "snapshot_info", json_pack("{s:s}", "snapshot_id", c->id), restore_with);
}

static void snapshot_deleted(struct sb_call *c, json_t *data)
{
	(void)data;
	sb_call_answer(c, 200, json_pack("{s:s, s:s, s:s}", "snapshot_id", c->id, "status", "deleted", "message",
					 "Snapshot deleted successfully"));
}

static void snapshot_delete(struct tp_req *r, void *arg)
{
	(void)arg;
	struct sb_call *c = sb_call_path(r, "snapshot_id", 0);
	if (c)
		sb_call_tool(c, "snapshot_delete", json_pack("{s:s}", "snapshot_id", c->id), snapshot_deleted);
}

/* ---- the part ---- */

static const struct rest_route routes[] = {
	{ TP_POST, "/api/files/upload", upload },
	{ TP_GET, "/api/sandboxes/{sandbox_id}/files", files_list },
	{ TP_GET, "/api/sandboxes/{sandbox_id}/files/{file_path*}", file_download },
	{ TP_DELETE, "/api/sandboxes/{sandbox_id}/files/{file_path*}", file_delete },
	{ TP_POST, "/api/sandboxes/{sandbox_id}/snapshots", snapshot_create },
	{ TP_GET, "/api/sandboxes/{sandbox_id}/snapshots", snapshot_list },
	{ TP_POST, "/api/snapshots/{snapshot_id}/restore", snapshot_restore },
	{ TP_DELETE, "/api/snapshots/{snapshot_id}", snapshot_delete },
	{ 0, NULL, NULL },
};

const struct sb_part sb_part_files = {
	.routes = routes,
};
