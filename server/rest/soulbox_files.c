/*
 * server/rest/soulbox_files.c — SoulBox's files and snapshots (see soulbox.h,
 * docs/compat.md 004): upload (multipart/form-data), list, download, delete;
 * snapshots of a sandbox's workspace, restore and delete.
 *
 * An upload is a streamed route (tp_http_route_streamed): its body comes
 * piece by piece, bounded by the server's max_upload (413
 * RESOURCE_LIMIT_EXCEEDED above it), is parsed as it arrives
 * (rest_mp_stream) and each file part goes to a workspace sink of the core's
 * (tools/file_stream.h: an unnamed file written off the loop, allowed as
 * file_write is, counted against the disk quota, linked into place when the
 * body ended well, gone on any failure or when the client leaves); the
 * body stops being read while the disk is behind. A download reads the file
 * in pieces off the loop (tool_source, allowed as file_read is) and streams
 * them to the client as each arrives, pausing while the client has more
 * than QUEUE_MAX unread. Neither is ever held whole in memory. Every path
 * goes through sessions/workspace.h, which confines it to /workspace.
 */
#include "soulbox.h"
#include "multipart.h"
#include "../../tools/file_stream.h"
#include "../base/log.h"
#include "../base/buf.h"
#include "../base/common.h"
#include "../base/json_out.h"
#include "../base/mime.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../base/banned.h"

#define QUEUE_MAX (8u << 20)
#define MAX_PARTS 64
#define WS_PREFIX "/workspace/"
#define DOC_PREFIX "/sandbox/"

static const char *str(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
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

/* ---- upload ---- */

/*
 * An upload is parsed as it arrives (rest_mp_stream) and each file part goes
 * to a sink of the core's (tools/file_stream.h: an unnamed file in the
 * workspace, written off the loop, allowed as file_write is), linked into
 * place once the body ended well; a failure or a client that leaves drops
 * them. A chunked body comes decoded (transport/chunked.h). sandbox_id names the sandbox (resolved as every route resolves it,
 * with a session_info call while the body waits); file bytes that come
 * before it are held, up to EARLY_MAX.
 */
#define EARLY_MAX (8u << 20)
#define FIELD_MAX 1024

struct upfile {
	char filename[256];
	struct tool_sink *sink;	/* NULL until the sandbox is known */
	struct buf early;	/* its bytes before that */
};

struct upload {
	struct sb_call *c;
	struct rest_mp_stream *mp;
	struct upfile files[MAX_PARTS];
	int nfiles;
	bool in_file;		/* a file part is arriving (files[nfiles - 1]) */
	size_t early;		/* bytes held in the files' early buffers */
	char sandbox[FIELD_MAX + 1], dir[FIELD_MAX + 1];
	bool has_dir;
	bool resolving;		/* session_info runs: the body waits */
	bool resolved;		/* c->id is the sandbox's id */
	bool sink_full;		/* a sink asked the body to wait */
	bool body_done;		/* the body ended well */
	bool gone;		/* the client left during a call */
	/* a refusal found while parsing, answered once the parser returned */
	int fail_status;
	enum sb_code fail_code;
	const char *fail_field;
	char fail_text[300];
	enum err_class fail_cls;
	bool fail_by_class;
	/* committing: the next file, and the answer's entries */
	int next;
	json_t *answer;
};

static void upload_drop_sinks(struct upload *u)
{
	for (int i = 0; i < u->nfiles; i++) {
		if (u->files[i].sink)
			tool_sink_abort(u->files[i].sink);
		u->files[i].sink = NULL;
		buf_release(&u->files[i].early);
	}
}

static void upload_free(void *p)
{
	struct upload *u = p;
	upload_drop_sinks(u);
	rest_mp_stream_free(u->mp);
	json_decref(u->answer);
	free(u);
}

static int upload_refuse(struct upload *u, int status, enum sb_code code, const char *field, const char *text)
{
	if (!u->fail_status && !u->fail_by_class) {
		u->fail_status = status;
		u->fail_code = code;
		u->fail_field = field;
		snprintf(u->fail_text, sizeof(u->fail_text), "%s", text);
	}
	return -1;
}

static int upload_refuse_err(struct upload *u, struct err *e)
{
	if (!u->fail_status && !u->fail_by_class) {
		u->fail_by_class = true;
		u->fail_cls = e->cls;
		snprintf(u->fail_text, sizeof(u->fail_text), "%s", err_text(e));
	}
	return -1;
}

/* Answer the refusal recorded (or what) and free everything. */
static void upload_fail(struct upload *u)
{
	struct sb_call *c = u->c;
	upload_drop_sinks(u);
	if (u->fail_by_class) {
		sb_fail_class(c->r, u->fail_cls, u->fail_text);
		sb_call_free(c);
	} else {
		sb_call_fail(c, u->fail_status ? u->fail_status : 500, u->fail_status ? u->fail_code : SB_SYSTEM_ERROR,
			     u->fail_field, "%s", u->fail_status ? u->fail_text : "the upload failed");
	}
}

static void upload_flow(struct upload *u)
{
	tp_req_pause_body(u->c->r, u->resolving || u->sink_full);
}

static void sink_ready(void *arg)
{
	struct upload *u = arg;
	u->sink_full = false;
	upload_flow(u);
}

/* Give bytes to the file's sink (or hold them until there is one). */
static int file_bytes(struct upload *u, struct upfile *f, const char *data, size_t len)
{
	if (!f->sink) {
		if (u->early + len > EARLY_MAX)
			return upload_refuse(u, 400, SB_VALIDATION_ERROR, "sandbox_id", "sandbox_id must come before the "
					     "file parts (more than 8 MiB of file data came first)");
		buf_add(&f->early, data, len);
		u->early += len;
		return 0;
	}
	if (!tool_sink_write(f->sink, data, len)) {
		if (tool_sink_failure(f->sink))
			return upload_refuse_err(u, tool_sink_failure(f->sink));
		u->sink_full = true;
		tool_sink_on_ready(f->sink, sink_ready, u);
	}
	return 0;
}

/* Where f goes, as far as the parts so far tell: path names the file when it is the only one and ends in no "/". */
static void upload_dest(const struct upload *u, const struct upfile *f, struct buf *dest)
{
	const char *dir = u->has_dir ? rel_path(u->dir) : NULL;
	size_t dl = dir ? strlen(dir) : 0;
	if (dir && dl && dir[dl - 1] != '/' && u->nfiles == 1)
		buf_adds(dest, dir);
	else if (dir && dl)
		buf_addf(dest, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", f->filename);
	else
		buf_adds(dest, f->filename);
}

/* A sink for f in the resolved sandbox, with what was held for it. */
static int file_open(struct upload *u, struct upfile *f)
{
	auto_err struct err *err = NULL;
	struct buf dest = BUF_INIT;
	upload_dest(u, f, &dest);
	/* a path that leads out through a symlink is refused here, before a byte of the file is written */
	f->sink = tool_sink_open(u->c->principal, u->c->conn, u->c->id, dest.data, &err);
	buf_release(&dest);
	if (!f->sink)
		return upload_refuse_err(u, err);
	struct buf early = f->early;
	f->early = (struct buf)BUF_INIT;
	u->early -= early.len;
	int r = early.len ? file_bytes(u, f, early.data, early.len) : 0;
	buf_release(&early);
	return r;
}

static bool text_ok(const char *s, size_t n)
{
	return n && !memchr(s, 0, n) && srv_utf8_valid(s, n);
}

static int mp_field(void *arg, const char *name, const char *value, size_t len)
{
	struct upload *u = arg;
	bool sandbox = !strcmp(name, "sandbox_id");
	if (!sandbox && strcmp(name, "path"))
		return 0; /* another field: not the document's, ignored */
	if (!text_ok(value, len))
		return upload_refuse(u, 400, SB_VALIDATION_ERROR, sandbox ? "sandbox_id" : "path",
				     sandbox ? "sandbox_id must be UTF-8 text of 1 to 1024 bytes"
					     : "path must be UTF-8 text of 1 to 1024 bytes");
	auto_err struct err *err = NULL;
	if (!sandbox && tool_sink_path_check(rel_path(value), &err) < 0)
		return upload_refuse_err(u, err); /* refused before any file byte is written */
	memcpy(sandbox ? u->sandbox : u->dir, value, len + 1);
	u->has_dir |= !sandbox;
	return 0;
}

static int mp_file_begin(void *arg, const struct rest_mp_part *pt)
{
	struct upload *u = arg;
	if (strcmp(pt->name, "file"))
		return 0; /* another file field: read and dropped */
	const char *base = strrchr(pt->filename, '/') ? strrchr(pt->filename, '/') + 1 : pt->filename;
	if (!srv_utf8_valid(pt->filename, strlen(pt->filename)) || !*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", "the file part's filename must name a file");
	if (u->nfiles == MAX_PARTS)
		return upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", "too many files in one upload");
	struct upfile *f = &u->files[u->nfiles++];
	snprintf(f->filename, sizeof(f->filename), "%s", base);
	u->in_file = true;
	return u->resolved ? file_open(u, f) : 0;
}

static int mp_file_data(void *arg, const char *data, size_t len)
{
	struct upload *u = arg;
	return u->in_file ? file_bytes(u, &u->files[u->nfiles - 1], data, len) : 0;
}

static int mp_file_end(void *arg)
{
	struct upload *u = arg;
	u->in_file = false;
	return 0;
}

static const struct rest_mp_ops mp_ops = { mp_field, mp_file_begin, mp_file_data, mp_file_end };

static void commit_next(struct upload *u);

static void committed(void *arg, struct err *err, uint64_t size)
{
	struct upload *u = arg;
	struct upfile *f = &u->files[u->next];
	f->sink = NULL; /* the core freed it */
	if (err) {
		upload_refuse_err(u, err);
		upload_fail(u);
		return;
	}
	const char *dest = json_string_value(u->c->keep);
	const char *slash = strrchr(dest, '/');
	json_array_append_new(u->answer, json_pack("{s:s, s:o, s:I, s:o}", "name", slash ? slash + 1 : dest, "path",
						   shown_path(dest), "size", (json_int_t)size, "uploaded_at", rest_now()));
	u->next++;
	commit_next(u);
}

/* Rename the files into place one after another, then answer. */
static void commit_next(struct upload *u)
{
	struct sb_call *c = u->c;
	if (u->next == u->nfiles) {
		json_t *files = steal_ptr(u->answer);
		sb_call_answer(c, 200, json_pack("{s:o}", "files", files));
		return;
	}
	struct upfile *f = &u->files[u->next];
	struct buf dest = BUF_INIT;
	upload_dest(u, f, &dest);
	json_decref(c->keep);
	c->keep = json_string(dest.data);
	buf_release(&dest);
	if (!c->keep) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "path", "path must be UTF-8 text of 1 to 1024 bytes");
		upload_fail(u);
		return;
	}
	tool_sink_commit(f->sink, json_string_value(c->keep), committed, u);
}

/* The body is in and parsed, the sandbox known: check what the document asks for, then commit. */
static void upload_complete(struct upload *u)
{
	if (!u->sandbox[0]) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "sandbox_id", "sandbox_id is required");
	} else if (!u->nfiles) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", "a file part (with a filename) is required");
	}
	if (u->fail_status || u->fail_by_class) {
		upload_fail(u);
		return;
	}
	u->answer = json_array();
	commit_next(u);
}

static void sandbox_known(struct sb_call *c, json_t *info)
{
	(void)info;
	struct upload *u = c->ext;
	u->resolving = false;
	u->resolved = true;
	if (u->gone) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, NULL, "the client left");
		upload_fail(u);
		return;
	}
	for (int i = 0; i < u->nfiles; i++)
		if (!u->files[i].sink && file_open(u, &u->files[i]) < 0) {
			upload_fail(u);
			return;
		}
	if (u->body_done) {
		upload_complete(u);
		return;
	}
	upload_flow(u);
}

/* After each piece: a refusal is answered, a newly named sandbox looked up (the body waits meanwhile). */
static void upload_step(struct upload *u)
{
	if (u->fail_status || u->fail_by_class) {
		upload_fail(u);
		return;
	}
	if (u->sandbox[0] && !u->resolved && !u->resolving) {
		u->resolving = true;
		snprintf(u->c->id, sizeof(u->c->id), "%.256s", u->sandbox);
		upload_flow(u);
		sb_call_tool(u->c, "session_info", json_pack("{s:s}", "session_id", u->sandbox), sandbox_known);
		return;
	}
	upload_flow(u); /* a sink that is behind stops the socket until it is ready */
}

static void upload_data(void *arg, const void *data, size_t len)
{
	struct upload *u = arg;
	const char *why = NULL;
	if (rest_mp_stream_feed(u->mp, data, len, &why) < 0 && why)
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", why);
	upload_step(u);
}

static void upload_end(void *arg, enum tp_body_end how)
{
	struct upload *u = arg;
	const char *why = NULL;

	if (how == TP_BODY_GONE && u->resolving) {
		u->gone = true; /* the lookup ends (cancelled), then this is answered */
		upload_drop_sinks(u);
		return;
	}
	if (how == TP_BODY_TOO_LARGE) {
		upload_refuse(u, 413, SB_RESOURCE_LIMIT_EXCEEDED, NULL, "");
		snprintf(u->fail_text, sizeof(u->fail_text),
			 "The upload is larger than this server takes (max_upload: %" PRIu64 " bytes%s)", tp_http_max_upload(),
			 tp_req_body_chunked(u->c->r) ? "; a chunked body at most 100 MiB with its framing: send a "
			 "Content-Length for more" : "");
	} else if (how == TP_BODY_MALFORMED) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", "the body's chunked framing is malformed");
	} else if (how == TP_BODY_GONE) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, NULL, "the client left before the upload ended");
	} else if (rest_mp_stream_end(u->mp, &why) < 0) {
		upload_refuse(u, 400, SB_VALIDATION_ERROR, "file", why);
	}
	if (u->fail_status || u->fail_by_class) {
		upload_fail(u);
		return;
	}
	u->body_done = true;
	if (u->resolving)
		return; /* sandbox_known goes on */
	if (u->sandbox[0] && !u->resolved) {
		upload_step(u);
		return;
	}
	upload_complete(u);
}

static const struct tp_body_ops upload_body = { upload_data, upload_end };

static void upload(struct tp_req *r, void *arg)
{
	(void)arg;
	char principal[SB_PRINCIPAL_MAX], ctype[512], boundary[80];

	if (sb_begin(r, SB_RATE_UPLOADS, principal))
		return;
	if (tp_req_header(r, "Content-Type", ctype, sizeof(ctype)) || rest_mp_boundary(ctype, boundary, sizeof(boundary))) {
		sb_fail(r, 400, SB_VALIDATION_ERROR, "file",
			"Send the upload as multipart/form-data (with a boundary): sandbox_id, file, path");
		return;
	}
	struct upload *u = xcalloc(1, sizeof(*u));
	u->mp = rest_mp_stream_new(boundary, MAX_PARTS, FIELD_MAX, &mp_ops, u);
	if (!u->mp) {
		free(u);
		sb_fail(r, 400, SB_VALIDATION_ERROR, "file", "the multipart boundary must be 1 to 70 characters");
		return;
	}
	int refused = tp_req_read_body(r, &upload_body, u);
	if (refused) {
		rest_mp_stream_free(u->mp);
		free(u);
		if (refused == TP_BODY_TOO_LARGE)
			sb_fail(r, 413, SB_RESOURCE_LIMIT_EXCEEDED, NULL,
				"The upload is larger than this server takes (max_upload: %" PRIu64 " bytes)",
				tp_http_max_upload());
		else
			sb_fail(r, 411, SB_VALIDATION_ERROR, "file",
				"Send the upload with a Content-Length, or Transfer-Encoding: chunked alone (no other "
				"transfer coding is read)");
		return;
	}
	u->c = sb_call_new(r, principal, NULL);
	u->c->ext = u;
	u->c->ext_free = upload_free;
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

/*
 * A download: the file read in pieces off the loop (tools/file_stream.h,
 * allowed as file_read is) and written to the client as each arrives,
 * pausing while the client has more than QUEUE_MAX unread.
 */
struct download {
	char path[1100];
	struct tool_source *src;
	uint64_t off, size;
	bool waiting;		/* for the client to read what is queued */
};

static void download_free(void *p)
{
	struct download *d = p;
	if (d->src)
		tool_source_close(d->src);
	free(d);
}

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

static void piece_read(void *arg, const char *data, size_t n, struct err *err)
{
	struct sb_call *c = arg;
	struct download *d = c->ext;
	if (err)
		log_info("soulbox: download of %s ended early: %s", d->path, err_text(err));
	if (n > d->size - d->off)
		n = (size_t)(d->size - d->off); /* the file grew meanwhile: the length promised stands */
	if (n)
		tp_req_write(c->r, data, n);
	d->off += n;
	if (!n || d->off >= d->size || tp_req_gone(c->r)) {
		download_end(c); /* done, or it shrank or failed (the client sees a short body), or the client left */
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

static void read_piece(struct sb_call *c)
{
	struct download *d = c->ext;
	tool_source_read(d->src, piece_read, c);
}

/* The sandbox is the caller's (and its name resolved): open the file, answer its headers, stream it. */
static void download_open(struct sb_call *c, json_t *info)
{
	(void)info;
	struct download *d = c->ext;
	auto_err struct err *err = NULL;

	d->src = tool_source_open(c->principal, c->conn, c->id, d->path, &d->size, &err);
	if (!d->src) {
		sb_fail_class(c->r, err->cls, err_text(err));
		sb_call_free(c);
		return;
	}
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
	char type[96];
	srv_mime_http(d->path, type, sizeof(type));
	tp_req_start_raw(c->r, 200, type, (int64_t)d->size);
	if (!d->size) {
		download_end(c);
		return;
	}
	read_piece(c);
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
	c->ext_free = download_free;
	sb_call_tool(c, "session_info", json_pack("{s:s}", "session_id", c->id), download_open);
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
	{ TP_POST | REST_STREAMED, "/api/files/upload", upload },
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
