/*
 * Stateful kernels as tools: execute {kernel: true} runs a cell in the
 * session's Jupyter kernel for the language (kernel/kernel.h), kernel_restart
 * starts it fresh. A cell's outputs become MCP content: stdout/stderr and the
 * text of display_data / execute_result bundles in one text block, in order;
 * image/png, image/jpeg and image/gif as image blocks (checked, size-capped);
 * an exception as its traceback with isError. Cancelling the call interrupts
 * the cell and keeps the kernel.
 *
 * A cell still running after wait_s becomes a job (sessions/job.h, kind
 * SESS_JOB_CELL), as a program does in exec.c: the call answers with the
 * output so far and the kcall lives on without it, feeding the job its text
 * and images until the cell ends; job_cancel interrupts the cell.
 */
#include "tool.h"
#include "exec.h"
#include "exec_input.h"
#include "kernel_tools.h"
#include "lang.h"
#include "../kernel/kernel.h"
#include "../sessions/job.h"
#include "../sessions/quota.h"
#include "../server/base/base64.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/metrics.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "../server/base/banned.h"

#define IMAGE_MAX ((size_t)4 << 20)	/* bytes of one image */
#define IMAGES_MAX 8			/* image blocks per cell */

struct kcall {
	struct tool_call *call;		/* NULL once the cell is a job */
	struct sess_job *job;		/* the job it became past wait_s, or NULL */
	char *lang;			/* the kernel's language */
	struct sess_session *sess;	/* held while the cell runs */
	struct kern_cell *cell;		/* NULL once done */
	struct buf text;		/* the text block: everything, in order (a job's goes to the job) */
	char last;			/* the last byte of the text block */
	json_t *image_at;		/* where each image came in the text block (its length then) */
	struct buf out, err;		/* stdout, stderr alone (structuredContent) */
	size_t cap;			/* bytes of text kept (output_bytes) */
	bool truncated;
	json_t *images;			/* image content blocks (a job's go to the job) */
	size_t nimages;			/* images taken, the job's too */
	json_t *outputs;		/* what the displays and results were (structuredContent) */
	json_t *error;			/* {ename, evalue, traceback} */
	int64_t timeout_s;
	int64_t wait_s;
	uint64_t started_ms;		/* wall clock */
	uv_timer_t *progress;		/* heap (closes asynchronously): while the cell runs, if asked */
	uv_timer_t *wait;		/* wait_s: then the cell becomes a job (heap, as progress) */
	uint64_t ticks;
	bool cancelled;			/* the caller cancelled: it does not become a job */
	struct tool_exec_input *input;	/* the code until the cell has its copy */
	char *code_head;		/* its start, for a job's listing */
};


/* The call's kernel language by its canonical name (nodejs and js are javascript). */
static const char *kernel_lang(struct tool_call *call)
{
	const char *name = tool_arg_str(call, "language", "python");
	const struct lang *l = lang_find(name);
	return l ? l->name : name;
}

static void kcall_free(void *arg)
{
	struct kcall *kc = arg;

	tool_timer_drop(&kc->progress);
	tool_timer_drop(&kc->wait);
	tool_exec_input_free(kc->input);
	free(kc->code_head);
	free(kc->lang);
	json_decref(kc->image_at);
	buf_release(&kc->text);
	buf_release(&kc->out);
	buf_release(&kc->err);
	json_decref(kc->images);
	json_decref(kc->outputs);
	json_decref(kc->error);
	free(kc);
}

/* Add to a bounded buffer; false once something was left out. */
static bool add_capped(struct buf *b, size_t cap, const char *p, size_t n)
{
	size_t room = b->len < cap ? cap - b->len : 0;

	buf_add(b, p, n < room ? n : room);
	return n <= room;
}

static json_t *buf_text(const struct buf *b)
{
	return tool_json_text(b->data ? b->data : "", b->len);
}

static void text_add(struct kcall *kc, const char *p, size_t n)
{
	if (n)
		kc->last = p[n - 1];
	if (kc->job)
		sess_job_cell_output(kc->job, p, n);	/* the job's ring keeps it, bounded */
	else if (!add_capped(&kc->text, kc->cap, p, n))
		kc->truncated = true;
}

/* End the line the text block is on, if any. */
static void text_newline(struct kcall *kc)
{
	if (kc->last && kc->last != '\n')
		text_add(kc, "\n", 1);
}

static void text_line(struct kcall *kc, const char *line)
{
	text_newline(kc);
	text_add(kc, line, strlen(line));
	text_add(kc, "\n", 1);
}

static void on_stream(struct kcall *kc, const struct kern_msg *m)
{
	struct buf *b = m->stream == KERN_STDERR ? &kc->err : &kc->out;

	if (kc->call)
		tool_output(kc->call, m->stream == KERN_STDERR ? "stderr" : "stdout", m->text.p, m->text.len);
	if (!kc->job && !add_capped(b, kc->cap, m->text.p, m->text.len))
		kc->truncated = true;
	text_add(kc, m->text.p, m->text.len);
}

/* The bytes are an image of the type they claim; its size when PNG says it. */
static bool image_ok(const char *mime, struct kern_bytes d, unsigned *w, unsigned *h)
{
	const unsigned char *p = (const unsigned char *)d.p;

	*w = *h = 0;
	if (!strcmp(mime, "image/png")) {
		if (d.len < 24 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) || memcmp(p + 12, "IHDR", 4))
			return false;
		*w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19];
		*h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 | (unsigned)p[22] << 8 | p[23];
		return true;
	}
	if (!strcmp(mime, "image/jpeg"))
		return d.len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff;
	if (!strcmp(mime, "image/gif"))
		return d.len >= 6 && !memcmp(p, "GIF8", 4);
	return false;
}

static int find_part(const struct kern_msg *m, const char *mime)
{
	for (int i = 0; i < m->nparts; i++)
		if (!strcmp(m->parts[i].mime, mime))
			return i;
	return -1;
}

/* IPython's text/plain of an object without a text form: "<IPython.core.display.HTML object>". */
static bool plain_is_placeholder(struct kern_bytes t)
{
	return t.len > 2 && t.p[0] == '<' && t.p[t.len - 1] == '>' && memchr(t.p, '\n', t.len) == NULL &&
	       t.len >= 8 && !memcmp(t.p + t.len - 8, " object>", 8);
}

static bool take_image(struct kcall *kc, const struct kern_msg *m, json_t *o)
{
	static const char *const kinds[] = { "image/png", "image/jpeg", "image/gif" };
	char note[160];

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		int p = find_part(m, kinds[i]);
		unsigned w, h;
		if (p < 0)
			continue;
		struct kern_bytes d = m->parts[p].data;
		json_object_set_new(o, "mime", json_string(kinds[i]));
		json_object_set_new(o, "bytes", json_integer((json_int_t)d.len));
		if (!image_ok(kinds[i], d, &w, &h)) {
			snprintf(note, sizeof(note), "[%s left out: not a valid image]", kinds[i]);
		} else if (d.len > IMAGE_MAX || kc->nimages >= IMAGES_MAX) {
			snprintf(note, sizeof(note), "[%s of %zu bytes left out: a cell returns at most %d images of "
				 "%zu MiB]", kinds[i], d.len, IMAGES_MAX, IMAGE_MAX >> 20);
		} else {
			size_t n;
			auto_free char *b64 = base64_encode(d.p, d.len, &n);
			json_t *block = json_pack("{s:s, s:s%, s:s}", "type", "image", "data", b64, n, "mimeType",
						  kinds[i]);
			text_newline(kc);	/* the image comes before its note, at the start of a line */
			if (kc->job) {
				sess_job_cell_image(kc->job, block);
			} else {
				json_array_append_new(kc->images, block);
				json_array_append_new(kc->image_at, json_integer((json_int_t)kc->text.len));
			}
			kc->nimages++;
			json_object_set_new(o, "image", json_integer((json_int_t)kc->nimages));
			if (w && h) {
				json_object_set_new(o, "width", json_integer(w));
				json_object_set_new(o, "height", json_integer(h));
				snprintf(note, sizeof(note), "[%s %ux%u, %zu bytes: image %zu]", kinds[i], w, h, d.len,
					 kc->nimages);
			} else {
				snprintf(note, sizeof(note), "[%s, %zu bytes: image %zu]", kinds[i], d.len, kc->nimages);
			}
		}
		text_line(kc, note);
		return true;
	}
	return false;
}

/* A display_data or execute_result bundle: an image if it has one, else its best text. */
static void on_data(struct kcall *kc, const struct kern_msg *m)
{
	static const char *const texts[] = { "text/html", "text/markdown", "text/latex", "image/svg+xml",
					     "application/json" };
	json_t *o = json_pack("{s:s}", "type", m->origin == KERN_RESULT ? "execute_result" : "display_data");
	json_t *mimes = json_array();

	for (int i = 0; i < m->nparts; i++)
		json_array_append_new(mimes, json_string(m->parts[i].mime));
	json_object_set_new(o, "mimes", mimes);
	if (!take_image(kc, m, o)) {
		int p = find_part(m, "text/plain");
		if (p < 0 || plain_is_placeholder(m->parts[p].data))
			for (size_t i = 0; i < ARRAY_SIZE(texts) && (p < 0 || strcmp(m->parts[p].mime, "text/plain") == 0);
			     i++) {
				int q = find_part(m, texts[i]);
				if (q >= 0)
					p = q;
			}
		if (p >= 0) {
			struct kern_bytes t = m->parts[p].data;
			char head[96];
			if (m->origin == KERN_RESULT)
				snprintf(head, sizeof(head), "Out: ");
			else
				snprintf(head, sizeof(head), "[display %s]\n", m->parts[p].mime);
			text_newline(kc);
			text_add(kc, head, strlen(head));
			text_add(kc, t.p, t.len);
			text_add(kc, "\n", 1);
			json_object_set_new(o, "mime", json_string(m->parts[p].mime));
			json_object_set_new(o, "text", tool_json_text(t.p, t.len < kc->cap ? t.len : kc->cap));
		}
	}
	json_array_append_new(kc->outputs, o);
}

static void on_error(struct kcall *kc, const struct kern_msg *m)
{
	size_t tl = m->traceback.len < kc->cap ? m->traceback.len : kc->cap;

	json_decref(kc->error);
	kc->error = json_pack("{s:o, s:o, s:o}", "ename", tool_json_text(m->ename.p, m->ename.len < 200 ? m->ename.len : 200),
			      "evalue", tool_json_text(m->evalue.p, m->evalue.len < kc->cap ? m->evalue.len : kc->cap),
			      "traceback", tool_json_text(m->traceback.p, tl));
	if (m->traceback.len)
		text_line(kc, "");
	text_add(kc, m->traceback.p, m->traceback.len);
	if (!m->traceback.len) {
		text_add(kc, m->ename.p, m->ename.len);
		text_add(kc, ": ", 2);
		text_add(kc, m->evalue.p, m->evalue.len);
	}
}

static void cell_msg(void *arg, const struct kern_msg *m)
{
	struct kcall *kc = arg;

	switch (m->type) {
	case KERN_STREAM:
		on_stream(kc, m);
		break;
	case KERN_DATA:
		on_data(kc, m);
		break;
	case KERN_ERROR:
		on_error(kc, m);
		break;
	default:
		break;
	}
}

/* The structured fields and the status line of a cell that ended; *failed: execute's isError. */
static json_t *cell_end_fields(struct kcall *kc, const struct kern_end *e, struct buf *status, bool *failed)
{
	const char *lang = kc->lang;

	*failed = e->how != KERN_END_DONE || e->status != KERN_OK || e->timed_out;
	json_t *sc = json_pack("{s:I, s:b, s:b, s:b}", "duration_ms", (json_int_t)e->duration_ms, "timed_out",
			       e->timed_out, "interrupted", e->interrupted, "truncated", kc->truncated);
	json_t *kern = json_pack("{s:s, s:s, s:b}", "language", lang, "implementation", e->kernel, "started",
				 e->started);
	if (e->ahead)
		json_object_set_new(kern, "started_ahead", json_true());
	if (e->started || (e->ahead && e->how == KERN_END_DONE))
		json_object_set_new(kern, "start_ms", json_integer((json_int_t)e->start_ms));
	if (e->previous)
		json_object_set_new(kern, "previous_died", json_string(e->previous));
	json_object_set_new(sc, "kernel", kern);
	json_object_set_new(sc, "outputs", json_incref(kc->outputs));
	if (kc->error)
		json_object_set_new(sc, "error", json_incref(kc->error));

	if (e->how == KERN_END_DONE) {
		json_object_set_new(sc, "execution_count", json_integer(e->count));
		json_object_set_new(sc, "status", json_string(e->status == KERN_OK ? "ok"
							     : e->status == KERN_EXC ? "error" : "aborted"));
		if (e->timed_out)
			buf_addf(status, "[timed out after %lld s: interrupted; the kernel keeps its state]",
				 (long long)kc->timeout_s);
		else if (e->interrupted)
			buf_adds(status, "[interrupted; the kernel keeps its state]");
		else if (e->status == KERN_OK)
			buf_addf(status, "[ok, In [%u]]", e->count);
		else if (e->status == KERN_EXC)
			buf_addf(status, "[error: %s, In [%u]]", kc->error ? json_string_value(json_object_get(kc->error, "ename")) : "exception", e->count);
		else
			buf_adds(status, "[aborted]");
	} else {
		json_object_set_new(sc, "status", json_string(e->how == KERN_END_DIED ? "died" : "failed"));
		json_object_set_new(sc, "kernel_error", json_string(e->why));
		/* the kernel ended (or its agent went) with its sandbox: said as a program's run says it (run.h) */
		const char *ended = e->interrupted || e->server_ending || kc->sess->state == SESS_RUNNING ? NULL
				    : kc->sess->state == SESS_DELETED ? "destroyed" : "stopped";
		if (ended) {
			json_object_set_new(sc, "session_ended", json_string(ended));
			buf_addf(status, "[killed: its session was %s]", ended);
		} else if (e->how == KERN_END_DIED) {
			buf_addf(status, "[%s", e->why);
			if (e->wstatus >= 0 && WIFSIGNALED(e->wstatus) && WTERMSIG(e->wstatus) == 9 &&
			    kc->sess->limits.memory_bytes)
				buf_addf(status, "; SIGKILL in a session limited to %llu MiB of memory is most often "
					 "the out-of-memory killer", (unsigned long long)(kc->sess->limits.memory_bytes >> 20));
			buf_adds(status, "; its variables are gone, the next call starts a new kernel]");
		} else {
			buf_addf(status, "[%s]", e->why);
		}
	}
	if (kc->truncated)
		buf_addf(status, " [output truncated at %zu bytes]", kc->cap);
	buf_addf(status, " (%llu ms", (unsigned long long)e->duration_ms);
	if (e->started)
		buf_addf(status, ", %s kernel started in %llu ms", lang, (unsigned long long)e->start_ms);
	else if (e->ahead)
		buf_addf(status, ", a %s kernel started ahead", lang);
	buf_adds(status, ")");
	return sc;
}

/* The cell of a job ended: the job gets its end, the kcall goes. */
static void cell_job_done(struct kcall *kc, const struct kern_end *e, json_t *sc, const struct buf *status,
			  bool failed)
{
	struct sess_session *sess = kc->sess;
	struct buf note = BUF_INIT;
	/* as a program's job: cancelled by job_cancel or by its session's end */
	enum sess_job_state st = e->server_ending ? SESS_JOB_LOST : e->timed_out ? SESS_JOB_TIMED_OUT
				 : e->interrupted || json_object_get(sc, "session_ended") ? SESS_JOB_CANCELLED
				 : SESS_JOB_EXITED;

	text_newline(kc);
	if (e->previous)
		buf_addf(&note, "[the previous %s kernel had ended (%s): this cell ran in a new kernel] ", kc->lang,
			 e->previous);
	buf_add(&note, status->data, status->len);
	sess_job_cell_end(kc->job, st, e->duration_ms, sc, note.data, failed);
	buf_release(&note);
	kcall_free(kc);
	sess_put(sess);
}

static void cell_done(void *arg, const struct kern_end *e)
{
	struct kcall *kc = arg;
	struct tool_call *call = kc->call;
	struct sess_session *sess = kc->sess;
	struct buf status = BUF_INIT;
	bool failed;

	kc->cell = NULL;
	json_t *sc = cell_end_fields(kc, e, &status, &failed);
	metrics_execution("kernel", e->timed_out ? "timeout" : e->how != KERN_END_DONE ? "died"
				    : e->interrupted ? "cancelled" : e->status == KERN_OK ? "ok" : "error", e->duration_ms);
	if (kc->job) {
		cell_job_done(kc, e, sc, &status, failed);
		buf_release(&status);
		return;
	}
	json_object_set_new(sc, "stdout", buf_text(&kc->out));
	json_object_set_new(sc, "stderr", buf_text(&kc->err));

	struct buf text = BUF_INIT;
	if (e->previous)
		buf_addf(&text, "[the previous %s kernel ended (%s): this is a new kernel, its variables are gone]\n",
			 kc->lang, e->previous);
	buf_add(&text, kc->text.data, kc->text.len);
	if (text.len && text.data[text.len - 1] != '\n')
		buf_addch(&text, '\n');
	buf_add(&text, status.data, status.len);
	json_t *content = json_array();
	json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text", "text", buf_text(&text)));
	json_array_extend(content, kc->images);
	json_t *result = json_pack("{s:o, s:o}", "content", content, "structuredContent", sc);
	if (failed)
		json_object_set_new(result, "isError", json_true());
	buf_release(&text);
	buf_release(&status);
	kc->sess = NULL;
	if (failed && e->how != KERN_END_DONE)
		tool_finish_as(call, result, e->interrupted ? ERR_INTERNAL : ERR_UNAVAILABLE);
	else
		tool_finish(call, result);
	sess_put(sess);
}

static const struct kern_cell_ops cell_ops = { .msg = cell_msg, .done = cell_done };

/* Every second while the cell runs, as execute does: its latest output line, so clients that reset their
 * timeout on progress keep waiting for a long cell. */
static void progress_tick(uv_timer_t *t)
{
	struct kcall *kc = t->data;
	const char *p = kc->text.data, *end = p + kc->text.len, *nl;
	struct buf msg = BUF_INIT;

	kc->ticks++;
	while (end > p && end[-1] == '\n')
		end--;
	nl = end > p ? memrchr(p, '\n', (size_t)(end - p)) : NULL;
	p = nl ? nl + 1 : p;
	if (end > p)
		buf_add(&msg, p, (size_t)(end - p) > 200 ? 200 : (size_t)(end - p));
	else
		buf_addf(&msg, "cell running for %llu s", (unsigned long long)kc->ticks);
	json_t *m = tool_json_text(msg.data, msg.len);
	tool_progress(kc->call, (double)kc->ticks, 0, json_string_value(m));
	json_decref(m);
	buf_release(&msg);
}

static void on_cancel(void *arg)
{
	struct kcall *kc = arg;

	kc->cancelled = true;
	if (kc->cell)
		kern_cell_interrupt(kc->cell);	/* may finish the call at once: kc is gone then */
}

static void cell_job_cancel(void *arg)
{
	struct kcall *kc = arg;

	if (kc->cell)
		kern_cell_interrupt(kc->cell);	/* may end the job at once: kc is gone then */
}

static const struct sess_job_cell_ops cell_job_ops = { .cancel = cell_job_cancel };

/* The text block so far goes to the job with its images where they came. */
static void job_takes_so_far(struct kcall *kc)
{
	size_t at = 0, i;
	json_t *im;

	json_array_foreach(kc->images, i, im) {
		size_t to = (size_t)json_integer_value(json_array_get(kc->image_at, i));
		sess_job_cell_output(kc->job, kc->text.data + at, to - at);
		sess_job_cell_image(kc->job, json_incref(im));
		at = to;
	}
	sess_job_cell_output(kc->job, kc->text.data + at, kc->text.len - at);
	buf_release(&kc->text);
	json_array_clear(kc->images);
	json_array_clear(kc->image_at);
}

/*
 * wait_s passed and the cell still runs (or waits for the kernel): answer now
 * (most clients give up at a fixed 60 s) and let it go on as a job, as
 * exec.c's wait_passed does for a program; its timeout still applies.
 */
static void wait_passed(uv_timer_t *t)
{
	struct kcall *kc = t->data;
	struct tool_call *call = kc->call;
	auto_err struct err *err = NULL;
	struct sess_job *job;
	struct buf what = BUF_INIT;

	if (!kc->cell || kc->cancelled)
		return;
	struct sess_job_opts jo = {
		.language = kc->lang, .code = kc->code_head, .timeout_s = kc->timeout_s,
	};
	if (sess_job_adopt_cell(kc->sess, &jo, wall_ms() - kc->started_ms, &cell_job_ops, kc, &job, &err) < 0) {
		tool_log(call, LOG_LVL_WARNING, "the kernel cell keeps running in the foreground: %s", err_text(err));
		return;
	}
	kc->job = job;
	job_takes_so_far(kc);
	tool_timer_drop(&kc->progress);
	tool_timer_drop(&kc->wait);
	/* the kcall outlives its call now: the cell's end frees it */
	kc->call = NULL;
	call->state = NULL;
	call->state_free = NULL;
	buf_addf(&what, "cell still running after %lld s (wait_s); it keeps running in the %s kernel",
		 (long long)kc->wait_s, kc->lang);
	json_t *result = tool_job_running_result(job, 0, kc->cap, what.data);
	buf_release(&what);
	tool_finish(call, result);
}

static void kernel_in_session(struct tool_call *call, struct sess_session *s)
{
	struct kcall *kc = call->state;
	json_t *input = json_object_get(call->args, "stdin");
	size_t code_len;
	const char *code = tool_exec_input_data(kc->input, &code_len);
	int64_t timeout = tool_arg_int(call, "timeout_s", (int64_t)s->timeout_s);
	int64_t wait_s = tool_arg_int(call, "wait_s", (int64_t)call->env->cfg->wait_s);
	auto_err struct err *err = NULL;

	if (!tool_exec_admit(call, s, timeout))
		return;
	char **envp = tool_exec_env(s->env, json_object_get(call->args, "env"));
	struct kern_cell_opts o = {
		.lang = kernel_lang(call),
		.code = code,
		.code_len = code_len,
		.input = json_string_value(input),
		.input_len = json_string_length(input),
		.timeout_ms = (uint64_t)timeout * 1000,
		.envp = (const char *const *)envp,
		.ops = &cell_ops,
		.arg = kc,
	};
	kc->timeout_s = timeout;
	kc->started_ms = wall_ms();
	int r = kern_cell_run(s, &o, &kc->cell, &err);
	tool_exec_env_free(envp);
	/* the cell has its own copy (at most KERN_CODE_MAX of each), or failed */
	tool_exec_input_free(steal_ptr(kc->input));
	json_object_del(call->args, "stdin");
	if (r < 0) {
		tool_fail_err(call, err, "cannot run the cell");
		return;
	}
	kc->sess = s;
	sess_hold(s);
	if (tool_wants_progress(call))
		kc->progress = tool_timer_start(progress_tick, kc, 1000, 1000);
	if (wait_s < timeout) {
		kc->wait_s = wait_s;
		kc->wait = tool_timer_start(wait_passed, kc, (uint64_t)wait_s * 1000, 0);
	}
}

void tool_kernel_execute(struct tool_call *call)
{
	static const char *const refused[] = { "background", "event" };

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (json_object_get(call->args, refused[i])) {
			tool_fail(call, "argument \"%s\" does not go with kernel: true", refused[i]);
			return;
		}
	/* the code leaves the arguments, counted until the cell has it */
	auto_err struct err *err = NULL;
	struct tool_exec_input *input;
	char *head;
	if (tool_exec_input_take(call, false, &head, &input, &err) < 0) {
		tool_fail_err(call, err, NULL);
		return;
	}
	kern_init(uv_default_loop());
	struct kcall *kc = xcalloc(1, sizeof(*kc));
	kc->call = call;
	kc->input = input;
	kc->code_head = head;
	kc->cap = call->env->cfg->output_bytes.def;
	kc->lang = xstrdup(kernel_lang(call));
	kc->images = json_array();
	kc->image_at = json_array();
	kc->outputs = json_array();
	call->state = kc;
	call->state_free = kcall_free;
	tool_on_cancel(call, on_cancel, kc);
	tool_with_session(call, kernel_in_session);
}

void tool_kernel_pool_init(struct sess_registry *reg, uint64_t idle_ms)
{
	json_t *none = json_object();
	char **envp = tool_exec_env(none, NULL);

	kern_init(uv_default_loop());
	kern_pool_start(reg, (const char *const *)envp, idle_ms);
	tool_exec_env_free(envp);
	json_decref(none);
}

static void restart_in_session(struct tool_call *call, struct sess_session *s)
{
	const char *lang = kernel_lang(call);
	auto_err struct err *err = NULL;
	bool was;

	char **envp = tool_exec_env(s->env, NULL);
	int r = kern_restart(s, lang, (const char *const *)envp, &was, &err);
	tool_exec_env_free(envp);
	if (r < 0) {
		tool_fail_err(call, err, "cannot restart the kernel");
		return;
	}
	json_t *sc = json_pack("{s:s, s:s, s:b}", "session_id", s->id, "language", lang, "was_running", was);
	struct buf t = BUF_INIT;
	buf_addf(&t, "%s %s kernel of session %s: a new one is starting; variables and imports are gone", lang,
		 was ? "restarted the" : "no running", s->id);
	tool_ok(call, sc, t.data);
	buf_release(&t);
}

static void kernel_restart_run(struct tool_call *call)
{
	kern_init(uv_default_loop());
	tool_with_session(call, restart_in_session);
}

const struct tool_def tool_kernel_defs[] = {
	{
		.name = "kernel_restart",
		.title = "Restart a kernel",
		.description = "Stop the session's stateful kernel for a language (execute with kernel: true) and "
			       "start a fresh one: its variables, imports and open files are gone. A cell still "
			       "running ends.",
		.input_schema = "{\"type\":\"object\",\"properties\":{"
				"\"session_id\":{\"type\":\"string\",\"description\":\"Session; default: this connection's own.\"},"
				"\"language\":{\"type\":\"string\",\"enum\":" KERN_LANGS_JSON ",\"description\":\"Default python.\"}"
				"},\"additionalProperties\":false}",
		.output_schema = "{\"type\":\"object\",\"properties\":{\"session_id\":{\"type\":\"string\"},"
				 "\"language\":{\"type\":\"string\"},\"was_running\":{\"type\":\"boolean\"}},"
				 "\"required\":[\"session_id\",\"language\",\"was_running\"]}",
		.destructive = true,
		.idempotent = true,
		.run = kernel_restart_run,
	},
	{ 0 },
};
