#include "tp.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"
#include "../server/base/banned.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct stdio_tp {
	uv_loop_t *loop;
	struct srv_conn *conn;
	uint64_t max_line;
	struct buf in;			/* bytes not yet split into lines */
	bool discarding;		/* inside an over-long line: drop to its newline */
	bool eof;
	bool held;			/* too many texts wait to be parsed (rpc.h): stdin is not read */
	uv_timer_t unhold;		/* while held: whether they are down to a quarter */
	bool unhold_open;

	uv_handle_type in_type;
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
	} in_h;
	bool in_open;
	uv_fs_t fs_req;			/* stdin is a regular file */
	char fs_buf[65536];
	int64_t fs_off;

	bool out_pipe;
	uv_pipe_t out_h;
	bool out_open;

	uv_timer_t drain;		/* after EOF: wait for the answers in flight before closing */
	bool drain_open;
	uv_poll_t gone;			/* after EOF: a dup of stdout, polled for its reader's end */
	int gone_fd;
	bool gone_open;
	uv_shutdown_t shut;

	void (*on_eof)(void *arg);
	void *arg;
};

static struct stdio_tp tp;

struct out_write {
	uv_write_t req;
	char *data;
};

static void write_done(uv_write_t *req, int status)
{
	struct out_write *w = req->data;
	if (status < 0 && status != UV_ECANCELED)
		log_warn("stdout: %s", uv_strerror(status));
	free(w->data);
	free(w);
}

/* Write one line (text: the JSON and its newline; taken). */
static void send_line(struct buf *text)
{
	if (!tp.out_pipe) {
		/* a file or terminal: plain blocking writes */
		if (write_all(STDOUT_FILENO, text->data, text->len) < 0)
			log_warn("stdout: %s", strerror(errno));
		buf_release(text);
		return;
	}
	if (!tp.out_open) {
		buf_release(text);
		return;
	}
	struct out_write *w = xmalloc(sizeof(*w));
	size_t len = text->len;
	w->data = buf_detach(text);
	w->req.data = w;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	int e = uv_write(&w->req, (uv_stream_t *)&tp.out_h, &b, 1, write_done);
	if (e < 0) {
		log_warn("stdout: %s", uv_strerror(e));
		free(w->data);
		free(w);
	}
}

static void stdio_send(void *arg, void *ctx, const char *json, size_t len, bool answer)
{
	struct buf b = BUF_INIT;
	buf_grow(&b, len + 1);
	buf_add(&b, json, len);
	buf_addch(&b, '\n');
	send_line(&b);
}

/* The engine's own buffer (no headroom): a large answer is not copied again. */
static void stdio_send_buf(void *arg, void *ctx, struct buf *text, bool answer)
{
	buf_addch(text, '\n');
	send_line(text);
}

static const struct tp_ops stdio_ops = {
	.name = "stdio",
	.send = stdio_send,	/* one stream: contexts need no routing */
	.send_buf = stdio_send_buf,
};

static void hold(void);

/* Take len more bytes of stdin and hand on its lines, up to a hold (the rest stays in tp.in). */
static void feed(const char *data, size_t len)
{
	if (len)
		buf_add(&tp.in, data, len);
	size_t start = 0;
	while (tp.in.len > start) {
		char *nl = memchr(tp.in.data + start, '\n', tp.in.len - start);
		if (!nl)
			break;
		size_t end = (size_t)(nl - tp.in.data), n = end - start;
		if (tp.discarding) {
			tp.discarding = false;
		} else {
			const char *line = tp.in.data + start;
			if (n && line[n - 1] == '\r')
				n--;
			/* blank lines are not messages */
			size_t k = 0;
			while (k < n && (line[k] == ' ' || line[k] == '\t'))
				k++;
			if (k < n) {
				srv_conn_receive(tp.conn, line, n, NULL);
				if (tp.conn && srv_conn_hold(tp.conn))
					hold();
			}
		}
		start = end + 1;
		if (!tp.conn || tp.eof || tp.held)
			break;
	}
	buf_consume(&tp.in, start);
	if (tp.in.len > tp.max_line) {
		/* answer once, then skip the rest of this line */
		char msg[160];
		int n = snprintf(msg, sizeof(msg),
				 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
				 "\"Parse error: message longer than %llu bytes\"}}",
				 (unsigned long long)tp.max_line);
		if (!tp.discarding)
			stdio_send(NULL, NULL, msg, (size_t)n, true);
		tp.discarding = true;
		buf_reset(&tp.in);
	}
}

static void close_conn(void)
{
	if (!tp.conn)
		return;
	srv_conn_close(tp.conn);
	tp.conn = NULL;
	if (tp.on_eof)
		tp.on_eof(tp.arg);
}

static void drain_tick(uv_timer_t *t)
{
	if (tp.conn && srv_conn_inflight(tp.conn))
		return;
	uv_timer_stop(t);
	close_conn();
}

/* The pipe on stdout lost its reader: the client is gone, nobody reads the answers. */
static void gone_cb(uv_poll_t *p, int status, int events)
{
	uv_poll_stop(p);
	if (tp.conn && srv_conn_inflight(tp.conn))
		log_info("stdio: the client closed its end of stdout: cancelling what still runs");
	close_conn();
}

static void watch_stdout(void)
{
	tp.gone_fd = tp.out_pipe ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
	if (tp.gone_fd < 0)
		return;
	/* a pipe whose reader closed polls as an error, whatever was asked */
	if (uv_poll_init(tp.loop, &tp.gone, tp.gone_fd) < 0) {
		close(tp.gone_fd);
		tp.gone_fd = -1;
		return;
	}
	tp.gone_open = true;
	uv_poll_start(&tp.gone, UV_DISCONNECT, gone_cb);
}

static void gone_closed(uv_handle_t *h)
{
	close(tp.gone_fd);
	tp.gone_fd = -1;
}

/*
 * stdin ended: the client sent everything it will send, as a script piped in
 * (printf ... | mcpbox stdio) or a file does, and as clients do when they
 * close. The calls in flight are finished (each bounded by its own timeout)
 * and answered before the connection closes, as other MCP servers do; what
 * waits for the client (sampling, elicitation) fails at once. A client that
 * is gone closes stdout's pipe too: then what still runs is cancelled. A
 * signal cancels it as well (tp_stdio_stop).
 */
static void input_ended(void)
{
	if (tp.eof)
		return;
	tp.eof = true;
	/* a last line without a newline still counts */
	if (tp.in.len && !tp.discarding)
		feed("\n", 1);
	buf_release(&tp.in);
	if (!tp.conn)
		return;
	srv_conn_input_ended(tp.conn);
	if (!srv_conn_inflight(tp.conn)) {
		close_conn();
		return;
	}
	watch_stdout();
	uv_timer_init(tp.loop, &tp.drain);
	tp.drain_open = true;
	uv_timer_start(&tp.drain, drain_tick, 5, 5);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	b->base = tp.fs_buf;
	b->len = sizeof(tp.fs_buf);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	if (n > 0) {
		feed(b->base, (size_t)n);
		return;
	}
	if (n == 0)
		return;
	if (n != UV_EOF)
		log_warn("stdin: %s", uv_strerror((int)n));
	uv_read_stop(s);
	input_ended();
}

static void fs_read_cb(uv_fs_t *req);

/* Read on in a regular file on stdin; false when the read could not start (its end, then). */
static bool read_file_on(void)
{
	uv_buf_t b = uv_buf_init(tp.fs_buf, sizeof(tp.fs_buf));
	return uv_fs_read(tp.loop, &tp.fs_req, STDIN_FILENO, &b, 1, tp.fs_off, fs_read_cb) == 0;
}

/*
 * Texts wait for a large one to be parsed (rpc.h): rather than have the
 * client's later messages refused past the bound, stdin is not read until
 * they are down to a quarter; the lines already read stay in tp.in. A pipe
 * or terminal stops reading here; a file's next read is not asked for
 * (fs_read_cb).
 */
static void unhold_tick(uv_timer_t *t);

static void hold(void)
{
	tp.held = true;
	if (tp.in_open)
		uv_read_stop((uv_stream_t *)&tp.in_h);
	if (!tp.unhold_open) {
		uv_timer_init(tp.loop, &tp.unhold);
		tp.unhold_open = true;
	}
	uv_timer_start(&tp.unhold, unhold_tick, 20, 20);
}

static void unhold_tick(uv_timer_t *t)
{
	if (tp.conn && !srv_conn_may_resume(tp.conn))
		return;
	uv_timer_stop(t);
	tp.held = false;
	if (!tp.conn)
		return;
	feed(NULL, 0); /* what was read before the hold */
	if (tp.held || !tp.conn || tp.eof)
		return;
	if (tp.in_type == UV_FILE) {
		if (!read_file_on())
			input_ended();
	} else if (tp.in_open) {
		uv_read_start((uv_stream_t *)&tp.in_h, alloc_cb, read_cb);
	}
}

static void fs_read_cb(uv_fs_t *req)
{
	ssize_t n = req->result;
	uv_fs_req_cleanup(req);
	if (n > 0) {
		tp.fs_off += n;
		feed(tp.fs_buf, (size_t)n);
		if (tp.eof || tp.held || read_file_on())
			return;
	} else if (n < 0) {
		log_warn("stdin: %s", uv_strerror((int)n));
	}
	input_ended();
}

int tp_stdio_start(uv_loop_t *loop, const struct srv_app *app, uint64_t max_line, uint64_t max_answer,
		   void (*on_eof)(void *arg), void *arg, struct err **errp)
{
	int e;

	memset(&tp, 0, sizeof(tp));
	tp.gone_fd = -1;
	tp.loop = loop;
	tp.max_line = max_line;
	tp.on_eof = on_eof;
	tp.arg = arg;
	tp.conn = srv_conn_new(app, &stdio_ops, &tp, "local");
	srv_conn_set_max_answer(tp.conn, max_answer);

	if (uv_guess_handle(STDOUT_FILENO) == UV_NAMED_PIPE) {
		uv_pipe_init(loop, &tp.out_h, 0);
		if (uv_pipe_open(&tp.out_h, STDOUT_FILENO) == 0) {
			tp.out_pipe = tp.out_open = true;
		} else {
			uv_close((uv_handle_t *)&tp.out_h, NULL);
		}
	}

	tp.in_type = uv_guess_handle(STDIN_FILENO);
	switch (tp.in_type) {
	case UV_FILE: {
		uv_buf_t b = uv_buf_init(tp.fs_buf, sizeof(tp.fs_buf));
		if ((e = uv_fs_read(loop, &tp.fs_req, STDIN_FILENO, &b, 1, 0, fs_read_cb)) < 0)
			return err_set(errp, -e, "stdin");
		return 0;
	}
	case UV_TTY:
		if ((e = uv_tty_init(loop, &tp.in_h.tty, STDIN_FILENO, 1)) < 0)
			return err_set(errp, -e, "stdin");
		break;
	case UV_NAMED_PIPE:
	case UV_TCP:
	case UV_UDP:
	default:
		uv_pipe_init(loop, &tp.in_h.pipe, 0);
		if ((e = uv_pipe_open(&tp.in_h.pipe, STDIN_FILENO)) < 0) {
			uv_close((uv_handle_t *)&tp.in_h.pipe, NULL);
			return err_set(errp, -e, "stdin");
		}
		break;
	}
	tp.in_open = true;
	if ((e = uv_read_start((uv_stream_t *)&tp.in_h, alloc_cb, read_cb)) < 0)
		return err_set(errp, -e, "stdin");
	return 0;
}

static void shut_done(uv_shutdown_t *req, int status)
{
	uv_close((uv_handle_t *)&tp.out_h, NULL);
}

void tp_stdio_stop(void)
{
	if (tp.conn) {
		srv_conn_close(tp.conn);
		tp.conn = NULL;
	}
	if (tp.drain_open) {
		tp.drain_open = false;
		uv_close((uv_handle_t *)&tp.drain, NULL);
	}
	if (tp.unhold_open) {
		tp.unhold_open = false;
		uv_close((uv_handle_t *)&tp.unhold, NULL);
	}
	if (tp.gone_open) {
		tp.gone_open = false;
		uv_close((uv_handle_t *)&tp.gone, gone_closed);
	}
	if (tp.in_open) {
		tp.in_open = false;
		uv_close((uv_handle_t *)&tp.in_h, NULL);
	}
	if (tp.out_open) {
		tp.out_open = false;
		/* flush queued answers, then close */
		if (uv_shutdown(&tp.shut, (uv_stream_t *)&tp.out_h, shut_done) < 0)
			uv_close((uv_handle_t *)&tp.out_h, NULL);
	}
	buf_release(&tp.in);
}
