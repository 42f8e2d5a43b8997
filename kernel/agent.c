/*
 * agent.c — the kernel agent: `mcpbox kernel-agent LANGUAGE [AS_BYTES]`, started by the
 * server through the session's worker, so it runs inside the sandbox (its
 * namespaces, uid, seccomp filter, cgroup and limits) and is worth no more
 * than the sandbox's own code.
 *
 * It starts a Jupyter kernel (python: ipykernel) with a connection file of
 * its own (ipc transport under a fresh directory in the sandbox's /tmp, no
 * signing key: see write_connection_file), is the only process that speaks ZMQ and the
 * Jupyter wire protocol, and forwards each cell's outputs to the server as
 * the small messages of kernel/proto.h. The server checks all of them.
 *
 * Single-threaded apart from libzmq's own I/O threads; one zmq_poll loop over
 * the kernel's shell and iopub sockets, the server's channel and a SIGCHLD
 * pipe. The server never needs to trust this process; this process trusts
 * the server (its parent's peer), so it reads the channel blocking.
 */
#include "agent.h"
#include "chan.h"
#include "embed.h"
#include "langs.h"
#include "proto.h"
#include "../server/base/base64.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <zmq.h>

#include "../server/base/banned.h"

#define START_MS 30000		/* the kernel answers kernel_info within this (a busy machine, a cold cache) */
#define INFO_EVERY_MS 50	/* kernel_info_request again until iopub delivers (its subscription is up) */
#define FRAMES_MAX 64
#define ERRTAIL 600		/* what the kernel wrote to stderr last, for a failed start */

struct lang_kernel {
	const char *name;
	const char *const *argv;	/* "{conn}" is replaced by the connection file, "{dir}" by its directory */
	const struct kern_embedded *files;	/* written into the directory first; NULL: none */
};

/* kernel/kernel_tune.py (ipykernel tuned for the agent), written into the agent's directory ("{dir}") */
static const char *const python_argv[] = {
	"/usr/bin/python3", "{dir}/kernel_tune.py", "-f", "{conn}", "--HistoryManager.enabled=False",
	"--IPKernelApp.quiet=True", "--Kernel._execute_sleep=0", NULL,
};

/* kernel/wrap_kernel.py, written with the language's driver into the agent's directory ("{dir}") */
static const char *const node_argv[] = {
	"/usr/bin/python3", "{dir}/wrap_kernel.py", "javascript", "{dir}/node_driver.js", "-f", "{conn}",
	"--IPKernelApp.quiet=True", "--Kernel._execute_sleep=0", NULL,
};

static const char *const shell_argv[] = {
	"/usr/bin/python3", "{dir}/wrap_kernel.py", "shell", "{dir}/shell_driver.sh", "-f", "{conn}",
	"--IPKernelApp.quiet=True", "--Kernel._execute_sleep=0", NULL,
};

/* a row per language of langs.h */
#define KERNEL_ROW(name, id) { name, id##_argv, kern_##id##_files }
static const struct lang_kernel kernels[] = { KERN_LANG_LIST(KERNEL_ROW, KERN_LANG_COMMA) };
#undef KERNEL_ROW

static struct {
	unsigned long long as_bytes;	/* RLIMIT_AS for the kernel (an ASan server's agent runs without one), 0: none */
	int chan;
	pid_t kpid;
	int sigpipe[2];
	int errfd;			/* the kernel's stderr */
	char errtail[ERRTAIL + 1];
	size_t errlen;
	char dir[64], conn[96];
	char session[33];
	void *ctx, *shell, *iopub, *stdin_sock;
	uint64_t msgs;
	/* the cell running */
	uint32_t seq;
	char msg_id[64];
	bool replied, idle;
	int status;
	uint32_t count;
	char *input;			/* its stdin: lines for input() (owned), NULL: none */
	size_t input_len, input_off;
} A = { .chan = -1, .errfd = -1, .sigpipe = { -1, -1 } };

/* ---- to the server ------------------------------------------------------------- */

static void send_buf(struct buf *b)
{
	size_t off = 0;

	while (off < b->len) {
		ssize_t n = write(A.chan, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* the server went away: so do we, and the kernel with us */
			if (A.kpid > 0)
				kill(A.kpid, SIGKILL);
			_exit(0);
		}
		off += (size_t)n;
	}
	buf_reset(b);
}

static void send_msg(uint32_t type, uint32_t seq, int n, const void *const *ptrs, const size_t *lens)
{
	struct buf b = BUF_INIT;

	kern_chan_put(&b, type, seq, n, ptrs, lens);
	send_buf(&b);
	buf_release(&b);
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	char text[KERN_TEXT_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *p = text; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	const void *ptrs[] = { text };
	size_t lens[] = { strlen(text) };
	if (A.chan >= 0)
		send_msg(KERN_FAILED, 0, 1, ptrs, lens);
	if (A.kpid > 0)
		kill(A.kpid, SIGKILL);
	_exit(1);
}

/* ---- the kernel process ------------------------------------------------------ */

static void on_sigchld(int sig)
{
	int saved = errno;
	ssize_t r = write(A.sigpipe[1], "c", 1);
	(void)r;
	(void)sig;
	errno = saved;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void write_connection_file(void)
{
	unsigned char rnd[16];
	struct buf b = BUF_INIT;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		fail("getrandom: %s", strerror(errno));
	hex(rnd, 16, A.session);
	snprintf(A.dir, sizeof(A.dir), "/tmp/mcpbox-kernel-XXXXXX");
	if (!mkdtemp(A.dir))
		fail("cannot make a directory in /tmp: %s", strerror(errno));
	snprintf(A.conn, sizeof(A.conn), "%s/kernel.json", A.dir);
	/*
	 * ipc: each socket is the file "<ip>-<port>", in a directory only the
	 * sandbox's user can enter, inside the sandbox's private /tmp. No key:
	 * whoever can reach these sockets runs as the kernel's user in its
	 * sandbox and could read a key from this file, so signing (HMAC-SHA256
	 * over every message, both ends) would keep no one out; an empty key is
	 * the protocol's way to say messages are not signed.
	 */
	buf_addf(&b, "{\"transport\":\"ipc\",\"ip\":\"%s/k\",\"shell_port\":1,\"iopub_port\":2,\"stdin_port\":3,"
		 "\"control_port\":4,\"hb_port\":5,\"signature_scheme\":\"hmac-sha256\",\"key\":\"\","
		 "\"kernel_name\":\"python3\"}", A.dir);
	int fd = open(A.conn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
		fail("cannot write the connection file: %s", strerror(errno));
	close(fd);
	buf_release(&b);
}

/* The embedded files the kernel runs, into the agent's directory (read-only). */
static void write_files(const struct kern_embedded *f)
{
	char path[sizeof(A.dir) + 64];

	for (; f && f->name; f++) {
		size_t len = (size_t)(f->end - f->data), off = 0;
		snprintf(path, sizeof(path), "%s/%s", A.dir, f->name);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
		if (fd < 0)
			fail("cannot write %s: %s", path, strerror(errno));
		while (off < len) {
			ssize_t n = write(fd, f->data + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fail("cannot write %s: %s", path, n < 0 ? strerror(errno) : "short write");
			off += (size_t)n;
		}
		close(fd);
	}
}

static void kernel_start(const struct lang_kernel *k)
{
	static char expanded[16][sizeof(A.dir) + 64];
	const char *argv[16];
	int ep[2];
	size_t i;

	write_files(k->files);
	for (i = 0; k->argv[i] && i < ARRAY_SIZE(argv) - 1; i++) {
		if (!strcmp(k->argv[i], "{conn}")) {
			argv[i] = A.conn;
		} else if (!strncmp(k->argv[i], "{dir}", 5)) {
			snprintf(expanded[i], sizeof(expanded[i]), "%s%s", A.dir, k->argv[i] + 5);
			argv[i] = expanded[i];
		} else {
			argv[i] = k->argv[i];
		}
	}
	argv[i] = NULL;
	if (pipe2(A.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(ep, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL);
	/* the kernel's files stay out of the workspace */
	setenv("IPYTHONDIR", "/tmp/mcpbox-ipython", 0);
	setenv("JUPYTER_RUNTIME_DIR", A.dir, 1);
	setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1", 1);
	A.kpid = fork();
	if (A.kpid < 0)
		fail("fork: %s", strerror(errno));
	if (A.kpid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_DFL);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(ep[1], 2) < 0)
			_exit(127);
		if (chdir("/workspace") < 0 && chdir("/") < 0)
			_exit(127);
		if (A.as_bytes && setrlimit(RLIMIT_AS, &(struct rlimit){ A.as_bytes, A.as_bytes }) < 0)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(ep[1]);
	A.errfd = ep[0];
	fd_set_nonblock(A.errfd, true);
}

/* Keep the last ERRTAIL bytes the kernel wrote to stderr. */
static void err_drain(void)
{
	char b[4096];
	ssize_t n;

	while (A.errfd >= 0 && (n = read(A.errfd, b, sizeof(b))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				close(A.errfd);
				A.errfd = -1;
			}
			return;
		}
		size_t take = (size_t)n > ERRTAIL ? ERRTAIL : (size_t)n;
		if (A.errlen + take > ERRTAIL) {
			size_t drop = A.errlen + take - ERRTAIL;
			memmove(A.errtail, A.errtail + drop, A.errlen - drop);
			A.errlen -= drop;
		}
		memcpy(A.errtail + A.errlen, b + n - take, take);
		A.errlen += take;
		A.errtail[A.errlen] = 0;
	}
}

/* Has the kernel exited? Then tell the server and go. */
static void reap(bool ready)
{
	char c[64];
	int st;

	while (read(A.sigpipe[0], c, sizeof(c)) > 0)
		;
	if (waitpid(A.kpid, &st, WNOHANG) != A.kpid)
		return;
	A.kpid = 0;
	if (!ready) {
		err_drain();
		/* the last line of what it said is the reason, usually */
		char *end = A.errtail + A.errlen;
		while (end > A.errtail && (end[-1] == '\n' || end[-1] == ' '))
			*--end = 0;
		char *line = strrchr(A.errtail, '\n');
		fail("the kernel exited during start-up (status %d)%s%s", st, A.errlen ? ": " : "",
		     line ? line + 1 : A.errtail);
	}
	const void *ptrs[] = { &st };
	size_t lens[] = { sizeof(st) };
	send_msg(KERN_DIED, A.seq, 1, ptrs, lens);
	_exit(0);
}

/* ---- the Jupyter wire protocol ---------------------------------------------- */

/* Send a message (content is taken); parent: the header it answers (borrowed) or NULL. */
static void jupyter_send(void *sock, const char *msg_type, json_t *content, json_t *parent, char *msg_id_out,
			 size_t idlen)
{
	char date[40], id[64];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(date + strlen(date), sizeof(date) - strlen(date), ".%06ldZ", ts.tv_nsec / 1000);
	snprintf(id, sizeof(id), "%s_%llu", A.session, (unsigned long long)++A.msgs);
	json_t *hdr = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msg_id", id, "session", A.session, "username",
				"mcpbox", "date", date, "msg_type", msg_type, "version", "5.3");
	char *parts[4] = {
		json_dumps(hdr, JSON_COMPACT), parent ? json_dumps(parent, JSON_COMPACT) : xstrdup("{}"), xstrdup("{}"),
		json_dumps(content, JSON_COMPACT),
	};
	size_t lens[4];
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(parts[i]);
	zmq_send(sock, "<IDS|MSG>", 9, ZMQ_SNDMORE);
	zmq_send(sock, "", 0, ZMQ_SNDMORE);	/* the signature: none (no key) */
	for (int i = 0; i < 4; i++)
		zmq_send(sock, parts[i], lens[i], i < 3 ? ZMQ_SNDMORE : 0);
	for (int i = 0; i < 4; i++)
		free(parts[i]);
	json_decref(hdr);
	json_decref(content);
	if (msg_id_out)
		snprintf(msg_id_out, idlen, "%s", id);
}

/* A received message: its parts as JSON (owned). */
struct jmsg {
	json_t *header, *parent, *content;
	const char *type, *parent_id;
};

static void jmsg_release(struct jmsg *m)
{
	json_decref(m->header);
	json_decref(m->parent);
	json_decref(m->content);
	memset(m, 0, sizeof(*m));
}

/* Read one multipart message without waiting: 1 read, 0 none waiting, -1 skipped (malformed). The
 * signature frame is not looked at: there is no key (write_connection_file). */
static int jupyter_recv(void *sock, struct jmsg *out)
{
	zmq_msg_t f[FRAMES_MAX];
	int n = 0, more = 1, delim = -1, rc = -1;

	memset(out, 0, sizeof(*out));
	while (more) {
		zmq_msg_t x;
		zmq_msg_init(&x);
		if (zmq_msg_recv(&x, sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&x);
			if (!n && errno == EAGAIN)
				return 0;
			break;
		}
		more = zmq_msg_more(&x);
		if (n == FRAMES_MAX) {
			zmq_msg_close(&x);
			continue;
		}
		if (delim < 0 && zmq_msg_size(&x) == 9 && !memcmp(zmq_msg_data(&x), "<IDS|MSG>", 9))
			delim = n;
		f[n++] = x;
	}
	if (delim >= 0 && n - delim >= 6) {
		const zmq_msg_t *p = &f[delim + 2];	/* header, parent header, metadata, content */
		out->header = json_loadb(zmq_msg_data((zmq_msg_t *)&p[0]), zmq_msg_size(&p[0]), 0, NULL);
		out->parent = json_loadb(zmq_msg_data((zmq_msg_t *)&p[1]), zmq_msg_size(&p[1]), 0, NULL);
		out->content = json_loadb(zmq_msg_data((zmq_msg_t *)&p[3]), zmq_msg_size(&p[3]), 0, NULL);
		out->type = json_string_value(json_object_get(out->header, "msg_type"));
		out->parent_id = json_string_value(json_object_get(out->parent, "msg_id"));
		if (out->type && out->content)
			rc = 1;
		else
			jmsg_release(out);
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
	return rc;
}

/* ---- a cell's outputs --------------------------------------------------------- */

/* Drop terminal colour sequences (ESC [ ... final byte) from IPython's tracebacks. */
static void strip_ansi(struct buf *b, const char *s)
{
	while (*s) {
		if (s[0] == 0x1b && s[1] == '[') {
			s += 2;
			while (*s && !(*s >= 0x40 && *s <= 0x7e))
				s++;
			if (*s)
				s++;
			continue;
		}
		buf_addch(b, *s++);
	}
}

static void forward_stream(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	json_t *text = json_object_get(c, "text");
	unsigned char stream = name && !strcmp(name, "stderr") ? KERN_STDERR : KERN_STDOUT;
	size_t len = json_string_length(text);

	if (!json_is_string(text) || !len)
		return;
	if (len > KERN_MSG_MAX - 64)
		len = KERN_MSG_MAX - 64;
	const void *ptrs[] = { &stream, json_string_value(text) };
	size_t lens[] = { 1, len };
	send_msg(KERN_STREAM, A.seq, 2, ptrs, lens);
}

static bool mime_binary(const char *mime)
{
	return !strcmp(mime, "image/png") || !strcmp(mime, "image/jpeg") || !strcmp(mime, "image/gif");
}

static void forward_data(json_t *c, unsigned char origin)
{
	json_t *data = json_object_get(c, "data"), *v;
	const void *ptrs[KERN_FIELDS_MAX];
	size_t lens[KERN_FIELDS_MAX], total = 0;
	void *owned[KERN_PARTS_MAX];
	int n = 1, nowned = 0;
	const char *mime;

	ptrs[0] = &origin;
	lens[0] = 1;
	json_object_foreach(data, mime, v) {
		size_t ml = strlen(mime), len = 0;
		void *p = NULL;
		if (n + 2 > KERN_FIELDS_MAX || !ml || ml > KERN_MIME_MAX)
			continue;
		if (mime_binary(mime) && json_is_string(v))
			p = base64_decode(json_string_value(v), json_string_length(v), &len);
		else if (json_is_string(v))
			p = xstrdup(json_string_value(v)), len = json_string_length(v);
		else
			p = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), len = p ? strlen(p) : 0;
		if (!p)
			continue;
		if (total + len + ml + 64 > KERN_MSG_MAX) {	/* too big to send: leave it out */
			free(p);
			continue;
		}
		total += len + ml + 8;
		owned[nowned++] = p;
		ptrs[n] = mime;
		lens[n++] = ml;
		ptrs[n] = p;
		lens[n++] = len;
	}
	if (n > 1)
		send_msg(KERN_DATA, A.seq, n, ptrs, lens);
	for (int i = 0; i < nowned; i++)
		free(owned[i]);
}

static void forward_error(json_t *c)
{
	const char *ename = json_string_value(json_object_get(c, "ename"));
	const char *evalue = json_string_value(json_object_get(c, "evalue"));
	struct buf tb = BUF_INIT;
	size_t i;
	json_t *line;

	json_array_foreach(json_object_get(c, "traceback"), i, line) {
		if (!json_is_string(line))
			continue;
		if (tb.len)
			buf_addch(&tb, '\n');
		strip_ansi(&tb, json_string_value(line));
		if (tb.len > KERN_MSG_MAX / 2)
			break;
	}
	const void *ptrs[] = { ename ? ename : "", evalue ? evalue : "", tb.len ? tb.data : "" };
	size_t lens[] = { strlen(ptrs[0]), strnlen(ptrs[1], KERN_MSG_MAX / 4), tb.len };
	send_msg(KERN_ERROR, A.seq, 3, ptrs, lens);
	buf_release(&tb);
}

static void cell_maybe_done(void)
{
	if (!A.seq || !A.replied || !A.idle)
		return;
	unsigned char st = (unsigned char)A.status;
	const void *ptrs[] = { &st, &A.count };
	size_t lens[] = { 1, sizeof(A.count) };
	send_msg(KERN_DONE, A.seq, 2, ptrs, lens);
	A.seq = 0;
	A.msg_id[0] = 0;
}

static void on_iopub(struct jmsg *m)
{
	json_t *c = m->content;

	if (!A.seq || !m->parent_id || strcmp(m->parent_id, A.msg_id))
		return;
	if (!strcmp(m->type, "stream"))
		forward_stream(c);
	else if (!strcmp(m->type, "display_data") || !strcmp(m->type, "update_display_data"))
		forward_data(c, KERN_DISPLAY);
	else if (!strcmp(m->type, "execute_result"))
		forward_data(c, KERN_RESULT);
	else if (!strcmp(m->type, "error"))
		forward_error(c);
	else if (!strcmp(m->type, "status")) {
		const char *st = json_string_value(json_object_get(c, "execution_state"));
		if (st && !strcmp(st, "idle")) {
			A.idle = true;
			cell_maybe_done();
		}
	}
}

static void on_shell(struct jmsg *m)
{
	if (!A.seq || strcmp(m->type, "execute_reply") || !m->parent_id || strcmp(m->parent_id, A.msg_id))
		return;
	const char *st = json_string_value(json_object_get(m->content, "status"));
	A.status = !st || !strcmp(st, "ok") ? KERN_OK : !strcmp(st, "aborted") ? KERN_ABORTED : KERN_EXC;
	A.count = (uint32_t)json_integer_value(json_object_get(m->content, "execution_count"));
	A.replied = true;
	cell_maybe_done();
}

/* Hand everything iopub holds now to on_iopub. */
static void iopub_drain(void)
{
	struct jmsg m;
	int r;

	while ((r = jupyter_recv(A.iopub, &m)) != 0)
		if (r > 0) {
			on_iopub(&m);
			jmsg_release(&m);
		}
}

/*
 * Before answering an input_request: take in what iopub still carries. The
 * kernel flushed the cell's output to iopub before it asked, but that is
 * another connection, so the request can arrive first (the prompt then
 * showed before earlier output). The kernel now waits for the answer and
 * writes nothing more, so once iopub is quiet for IOPUB_QUIET_MS (at most
 * IOPUB_SETTLE_MS in all) everything it sent before is in.
 */
#define IOPUB_QUIET_MS 5
#define IOPUB_SETTLE_MS 50

static void iopub_settle(void)
{
	uint64_t end = now_ms() + IOPUB_SETTLE_MS;

	for (;;) {
		zmq_pollitem_t it = { A.iopub, 0, ZMQ_POLLIN, 0 };
		uint64_t now = now_ms();
		if (now >= end)
			return;
		int n = zmq_poll(&it, 1, (long)(end - now < IOPUB_QUIET_MS ? end - now : IOPUB_QUIET_MS));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		iopub_drain();
	}
}

/* input() in the cell: the next line of its stdin, or EOF ("\x04": ipykernel raises EOFError) once
 * they ran out, as for a program whose stdin ended. The prompt and the answer are echoed to stdout
 * as a terminal shows them (not a password's). */
static void on_stdin(struct jmsg *m)
{
	const char *prompt = json_string_value(json_object_get(m->content, "prompt"));
	bool password = json_is_true(json_object_get(m->content, "password"));
	unsigned char out = KERN_STDOUT;
	struct buf echo = BUF_INIT;
	json_t *value;

	if (!A.seq || strcmp(m->type, "input_request") || !m->parent_id || strcmp(m->parent_id, A.msg_id))
		return;
	iopub_settle();
	buf_adds(&echo, prompt ? prompt : "");
	if (A.input && A.input_off < A.input_len) {
		const char *p = A.input + A.input_off, *nl = memchr(p, '\n', A.input_len - A.input_off);
		size_t n = nl ? (size_t)(nl - p) : A.input_len - A.input_off;
		A.input_off += n + (nl ? 1 : 0);
		value = json_stringn(p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
		if (!value)
			value = json_string("");	/* not UTF-8: the server checks code, not stdin */
		if (!password)
			buf_add(&echo, json_string_value(value), json_string_length(value));
		buf_addch(&echo, '\n');
	} else {
		value = json_string("\x04");
	}
	if (echo.len) {
		const void *ptrs[] = { &out, echo.data };
		size_t lens[] = { 1, echo.len };
		send_msg(KERN_STREAM, A.seq, 2, ptrs, lens);
	}
	buf_release(&echo);
	jupyter_send(A.stdin_sock, "input_reply", json_pack("{s:o}", "value", value), m->header, NULL, 0);
}

/* ---- from the server ----------------------------------------------------------- */

static void read_full(void *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = read(A.chan, (char *)p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (A.kpid > 0)
				kill(A.kpid, SIGKILL);
			_exit(0);
		}
		off += (size_t)r;
	}
}

static void on_command(void)
{
	struct kern_hdr h;

	read_full(&h, sizeof(h));
	if (h.len > KERN_MSG_MAX)
		fail("a command of %u bytes", h.len);
	auto_free char *p = xmalloc((size_t)h.len + 1);
	read_full(p, h.len);
	if (h.type == KERN_INTERRUPT) {
		if (A.seq && h.seq == A.seq && A.kpid > 0)
			kill(A.kpid, SIGINT);
		return;
	}
	if (h.type != KERN_EXECUTE)
		fail("a command of unknown type %u", h.type);
	/* two fields: code, stdin */
	uint32_t l, il;
	if (h.len < 2 * sizeof(l) || (memcpy(&l, p, sizeof(l)), l > h.len - 2 * sizeof(l)) ||
	    (memcpy(&il, p + sizeof(l) + l, sizeof(il)), il != h.len - 2 * sizeof(l) - l))
		fail("a malformed execute command");
	json_t *code = json_stringn(p + sizeof(l), l);
	free(A.input);
	A.input = il ? xmalloc(il) : NULL;
	if (il)
		memcpy(A.input, p + 2 * sizeof(l) + l, il);
	A.input_len = il;
	A.input_off = 0;
	A.seq = h.seq;
	A.replied = A.idle = false;
	if (!code) {
		const void *ptrs[] = { "UnicodeError", "the code is not valid UTF-8", "" };
		size_t lens[] = { 12, 27, 0 };
		send_msg(KERN_ERROR, A.seq, 3, ptrs, lens);
		A.status = KERN_EXC;
		A.count = 0;
		A.replied = A.idle = true;
		cell_maybe_done();
		return;
	}
	json_t *content = json_pack("{s:o, s:b, s:b, s:{}, s:b, s:b}", "code", code, "silent", 0, "store_history", 1,
				    "user_expressions", "allow_stdin", 1, "stop_on_error", 0);
	jupyter_send(A.shell, "execute_request", content, NULL, A.msg_id, sizeof(A.msg_id));
}

/* ---- main ------------------------------------------------------------------------ */

static void *zsock(int type, int n)
{
	char ep[128];
	void *s = zmq_socket(A.ctx, type);
	int zero = 0, ivl = 10;

	if (!s)
		fail("zmq_socket: %s", zmq_strerror(errno));
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));	/* the kernel binds soon after we connect */
	if (type == ZMQ_DEALER)	/* shell and stdin: the kernel sends input_request to the shell's identity */
		zmq_setsockopt(s, ZMQ_ROUTING_ID, A.session, strlen(A.session));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	snprintf(ep, sizeof(ep), "ipc://%s/k-%d", A.dir, n);
	if (zmq_connect(s, ep) < 0)
		fail("zmq_connect %s: %s", ep, zmq_strerror(errno));
	return s;
}

/* Wait until the kernel answers kernel_info on shell and iopub delivers; then READY. */
static void wait_ready(void)
{
	uint64_t deadline = now_ms() + START_MS, next_info = 0;
	bool replied = false, iopub = false;
	char info[KERN_TEXT_MAX + 1] = "";

	while (!replied || !iopub) {
		uint64_t now = now_ms();
		if (now >= deadline)
			fail("the kernel did not start within %d s", START_MS / 1000);
		if (now >= next_info && (!replied || !iopub)) {
			if (!next_info || replied)	/* once, then again until iopub delivers */
				jupyter_send(A.shell, "kernel_info_request", json_object(), NULL, NULL, 0);
			next_info = now + INFO_EVERY_MS;
		}
		zmq_pollitem_t it[] = {
			{ A.shell, 0, ZMQ_POLLIN, 0 }, { A.iopub, 0, ZMQ_POLLIN, 0 },
			{ NULL, A.sigpipe[0], ZMQ_POLLIN, 0 }, { NULL, A.errfd, ZMQ_POLLIN, 0 },
		};
		long wait = replied ? INFO_EVERY_MS : 500;
		if (zmq_poll(it, A.errfd >= 0 ? 4 : 3, wait) < 0 && errno != EINTR)
			fail("zmq_poll: %s", zmq_strerror(errno));
		if (it[2].revents)
			reap(false);
		if (A.errfd >= 0 && it[3].revents)
			err_drain();
		struct jmsg m;
		int r;
		while ((r = jupyter_recv(A.shell, &m)) != 0) {
			if (r > 0 && !strcmp(m.type, "kernel_info_reply") && !replied) {
				json_t *li = json_object_get(m.content, "language_info");
				snprintf(info, sizeof(info), "%s %s, %s %s",
					 json_string_value(json_object_get(m.content, "implementation")) ?: "kernel",
					 json_string_value(json_object_get(m.content, "implementation_version")) ?: "",
					 json_string_value(json_object_get(li, "name")) ?: "",
					 json_string_value(json_object_get(li, "version")) ?: "");
				replied = true;
			}
			if (r > 0)
				jmsg_release(&m);
		}
		while ((r = jupyter_recv(A.iopub, &m)) != 0)
			if (r > 0) {
				iopub = true;
				jmsg_release(&m);
			}
	}
	for (char *p = info; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	const void *ptrs[] = { info };
	size_t lens[] = { strlen(info) };
	send_msg(KERN_READY, 0, 1, ptrs, lens);
}

int kern_agent_main(int argc, char **argv)
{
	const struct lang_kernel *k = NULL;
	struct stat st;
	int ioth = 1;

	A.chan = KERN_AGENT_FD_CHAN;
	if (fstat(A.chan, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "kernel-agent: started by the server only (fd %d is its channel)\n", A.chan);
		return 2;
	}
	close(KERN_AGENT_FD_EXE);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (size_t i = 0; argc > 2 && i < ARRAY_SIZE(kernels); i++)
		if (!strcmp(argv[2], kernels[i].name))
			k = &kernels[i];
	if (!k)
		fail("no kernel for language %s", argc > 2 ? argv[2] : "(none)");
	if (argc > 3) {
		char *end;
		errno = 0;
		A.as_bytes = strtoull(argv[3], &end, 10);
		if (errno || end == argv[3] || *end || !A.as_bytes)
			fail("a malformed address space bound: %s", argv[3]);
	}
	write_connection_file();
	A.ctx = zmq_ctx_new();
	if (!A.ctx)
		fail("zmq_ctx_new: %s", zmq_strerror(errno));
	zmq_ctx_set(A.ctx, ZMQ_IO_THREADS, ioth);
	A.shell = zsock(ZMQ_DEALER, 1);
	A.iopub = zsock(ZMQ_SUB, 2);
	A.stdin_sock = zsock(ZMQ_DEALER, 3);
	kernel_start(k);
	wait_ready();
	for (;;) {
		zmq_pollitem_t it[] = {
			{ A.shell, 0, ZMQ_POLLIN, 0 }, { A.iopub, 0, ZMQ_POLLIN, 0 }, { A.stdin_sock, 0, ZMQ_POLLIN, 0 },
			{ NULL, A.sigpipe[0], ZMQ_POLLIN, 0 }, { NULL, A.chan, ZMQ_POLLIN, 0 },
			{ NULL, A.errfd, ZMQ_POLLIN, 0 },	/* read on, or the kernel's writes to stderr fail */
		};
		if (zmq_poll(it, A.errfd >= 0 ? 6 : 5, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("zmq_poll: %s", zmq_strerror(errno));
		}
		iopub_drain();
		struct jmsg m;
		int r;
		while ((r = jupyter_recv(A.shell, &m)) != 0)
			if (r > 0) {
				on_shell(&m);
				jmsg_release(&m);
			}
		/* after iopub: the kernel flushed the cell's output there before it asked */
		while ((r = jupyter_recv(A.stdin_sock, &m)) != 0)
			if (r > 0) {
				on_stdin(&m);
				jmsg_release(&m);
			}
		if (it[3].revents)
			reap(true);
		if (it[4].revents)
			on_command();
		if (A.errfd >= 0 && it[5].revents)
			err_drain();
	}
}
