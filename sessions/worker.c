/*
 * worker.c — the server's handle on one sandbox: its control socket on the
 * loop, the table of running programs and their exit callbacks.
 *
 * The worker is PID 1 inside the sandbox, so everything it sends is
 * untrusted: records have exact sizes, exec ids must be ones we issued and
 * still wait for, no fds may come along. Anything else counts as the worker
 * dying: every pending program "exits" with SIGKILL and on_death runs.
 *
 * Callbacks may call sess_worker_free(): it only marks the worker closing
 * and starts uv_close; the memory goes in the close callback, and every loop
 * over callbacks checks the closing flag after each call.
 */
#include "internal.h"
#include "proto.h"
#include "sandbox.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../server/base/banned.h"

struct wexec {
	struct wexec *next;
	uint64_t id;
	sess_exit_cb cb;
	void *arg;
	uint64_t oom_before;	/* cgroup oom_kill counter at spawn */
	bool oom_known;
};

/* A connection asked of the worker, waiting for its answer. */
struct wconn {
	struct wconn *next;
	uint64_t id;
	sess_connect_cb cb;
	void *arg;
};

/* A record waiting for room in the socket (the worker's queue is short). */
struct wout {
	struct wout *next;
	struct buf msg;
	int fds[SESS_PROTO_MAX_FDS];	/* our own dups, closed once sent */
	int nfds;
};

struct sess_worker {
	uv_loop_t *loop;
	uv_poll_t poll;
	int fd;
	pid_t pid;
	char *id;
	char group[SESS_CGROUP_GROUP_SIZE];	/* where its cgroups are (cgroup.h) */
	struct sess_cgroup cg;		/* own copy: may outlive the zygote */
	struct wexec *execs;
	struct wconn *conns;
	uint64_t next_exec_id;
	struct wout *out_head, *out_tail;
	int events;
	bool dead;
	bool closing;
	void (*on_death)(void *arg);
	void *death_arg;
	char rbuf[512];
};

static void worker_poll_cb(uv_poll_t *h, int status, int events);

static void update_events(struct sess_worker *w)
{
	int ev = 0;

	if (w->closing)
		return;
	if (!w->dead)
		ev = UV_READABLE | (w->out_head ? UV_WRITABLE : 0);
	if (ev == w->events)
		return;
	w->events = ev;
	if (ev)
		uv_poll_start(&w->poll, ev, worker_poll_cb);
	else
		uv_poll_stop(&w->poll);
}

struct sess_worker *sess_worker_new(uv_loop_t *loop, int fd, pid_t pid, const char *id, const char *group,
				    const struct sess_cgroup *cg, struct err **errp)
{
	struct sess_worker *w = xcalloc(1, sizeof(*w));
	int sndbuf = 1 << 20, rc;

	w->loop = loop;
	w->fd = fd;
	w->pid = pid;
	w->id = xstrdup(id);
	snprintf(w->group, sizeof(w->group), "%s", group);
	if (cg && cg->version) {
		sess_cgroup_copy(&w->cg, cg);
	}
	/* SEQPACKET records must fit in the send buffer: spawn records can be
	   SESS_PROTO_MAX_MSG (the kernel caps this at 2 * wmem_max). */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	fd_set_nonblock(fd, true);
	rc = uv_poll_init(loop, &w->poll, fd);
	if (rc < 0) {
		err_set(errp, -rc, "sandbox: watch control socket");
		close(fd);
		sess_cgroup_release(&w->cg);
		free(w->id);
		free(w);
		return NULL;
	}
	w->poll.data = w;
	update_events(w);
	return w;
}

pid_t sess_worker_pid(const struct sess_worker *w)
{
	return w->pid;
}

const char *sess_worker_id(const struct sess_worker *w)
{
	return w->id;
}

const char *sess_worker_group(const struct sess_worker *w)
{
	return w->group;
}

int sess_worker_move(struct sess_worker *w, const char *group, uint32_t group_cpu_millis, const struct sess_limits *l,
		     struct err **errp)
{
	char from[SESS_CGROUP_GROUP_SIZE];

	if (!w->cg.version)
		return 0;
	memcpy(from, w->group, sizeof(from));
	snprintf(w->group, sizeof(w->group), "%s", group);
	return sess_cgroup_move(&w->cg, from, group, group_cpu_millis, w->id, l, errp);
}

bool sess_worker_memory_cgroup(const struct sess_worker *w)
{
	return w->cg.memory;
}

void sess_worker_on_death(struct sess_worker *w, void (*cb)(void *arg), void *arg)
{
	w->on_death = cb;
	w->death_arg = arg;
}

static void wout_free(struct wout *o)
{
	for (int i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	buf_release(&o->msg);
	free(o);
}

/* One record with optional fds; 0 sent, 1 would block, -1 error (errno). */
static int send_record(int fd, const void *data, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SESS_PROTO_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)data, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		struct cmsghdr *c;
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	for (;;) {
		if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 1 : -1;
	}
}

static int flush_out(struct sess_worker *w)
{
	while (w->out_head) {
		struct wout *o = w->out_head;
		int r = send_record(w->fd, o->msg.data, o->msg.len, o->fds, o->nfds);
		if (r == 1)
			break;
		if (r < 0)
			return -1;
		w->out_head = o->next;
		if (!w->out_head)
			w->out_tail = NULL;
		wout_free(o);
	}
	update_events(w);
	return 0;
}

/* Send now, or queue (with our own copies of the fds) behind earlier records. */
static int send_or_queue(struct sess_worker *w, struct buf *msg, const int *fds, int nfds,
			 struct err **errp)
{
	struct wout *o;

	if (!w->out_head) {
		int r = send_record(w->fd, msg->data, msg->len, fds, nfds);
		if (r == 0) {
			buf_release(msg);
			return 0;
		}
		if (r < 0) {
			buf_release(msg);
			return err_set(errp, errno == EPIPE || errno == ECONNRESET ? 0 : errno,
				       "sandbox is gone");
		}
	}
	o = xcalloc(1, sizeof(*o));
	o->msg = *msg;
	*msg = (struct buf)BUF_INIT;
	for (int i = 0; i < nfds; i++) {
		o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (o->fds[i] < 0) {
			int e = errno;
			o->nfds = i;
			wout_free(o);
			return err_set(errp, e, "sandbox: dup");
		}
	}
	o->nfds = nfds;
	if (w->out_tail)
		w->out_tail->next = o;
	else
		w->out_head = o;
	w->out_tail = o;
	update_events(w);
	return 0;
}

int sess_worker_spawn(struct sess_worker *w, const struct sess_spawn *s, sess_exit_cb cb,
		      void *arg, uint64_t *exec_id, struct err **errp)
{
	struct sess_msg_spawn m;
	struct buf b = BUF_INIT;
	struct wexec *x;
	int fds[SESS_PROTO_MAX_FDS], nfds = 0;
	uint32_t argc = 0, envc = 0;

	if (w->dead || w->closing)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "sandbox is gone");
	if (!s->argv || !s->argv[0] || !s->argv[0][0])
		return err_set(errp, EINVAL, "spawn: empty argv");
	if (s->nfds < 3 || s->nfds > SESS_PROTO_MAX_FDS)
		return err_set(errp, EINVAL, "spawn: nfds must be 3..%d", SESS_PROTO_MAX_FDS);
	while (s->argv[argc])
		argc++;
	while (s->envp && s->envp[envc])
		envc++;
	if (argc + envc > SESS_PROTO_MAX_ARGS)
		return err_set(errp, E2BIG, "spawn: too many arguments");
	if ((s->pty_rows || s->pty_cols) &&
	    (s->nfds != 4 || s->fds[3] < 0 || s->pty_rows < 1 || s->pty_rows > SESS_PTY_MAX ||
	     s->pty_cols < 1 || s->pty_cols > SESS_PTY_MAX))
		return err_set(errp, EINVAL, "spawn: a pty needs 1..%d rows and columns and its socket as fd 3",
			       SESS_PTY_MAX);

	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_SPAWN;
	m.exec_id = ++w->next_exec_id;
	m.nfds = (uint32_t)s->nfds;
	for (int i = 0; i < s->nfds; i++)
		if (s->fds[i] >= 0) {
			m.fd_mask |= 1u << i;
			fds[nfds++] = s->fds[i];
		}
	m.argc = argc;
	m.envc = envc;
	m.has_memory_cg = w->cg.memory;
	m.has_pids_cg = w->cg.pids;
	m.pty_rows = (uint16_t)s->pty_rows;
	m.pty_cols = (uint16_t)s->pty_cols;
	m.limits.memory_bytes = s->limits.memory_bytes;
	m.limits.max_pids = s->limits.max_pids;
	m.limits.cpu_seconds = s->limits.cpu_seconds;
	m.limits.file_bytes = s->limits.file_bytes;
	m.limits.open_files = s->limits.open_files;
	m.limits.data_bytes = s->limits.data_bytes;
	buf_add(&b, &m, sizeof(m));
	sess_wr_str(&b, s->cwd ? s->cwd : "");
	for (uint32_t i = 0; i < argc; i++)
		sess_wr_str(&b, s->argv[i]);
	for (uint32_t i = 0; i < envc; i++)
		sess_wr_str(&b, s->envp[i]);
	if (b.len > SESS_PROTO_MAX_MSG) {
		buf_release(&b);
		return err_set(errp, E2BIG, "spawn: arguments and environment exceed %u bytes",
			       SESS_PROTO_MAX_MSG);
	}

	x = xcalloc(1, sizeof(*x));
	x->id = m.exec_id;
	x->cb = cb;
	x->arg = arg;
	if (w->cg.memory && sess_cgroup_oom_kills(&w->cg, w->group, w->id, &x->oom_before) == 0)
		x->oom_known = true;
	if (send_or_queue(w, &b, fds, nfds, errp) < 0) {
		free(x);
		return -1;
	}
	x->next = w->execs;
	w->execs = x;
	*exec_id = x->id;
	return 0;
}

void sess_worker_rebase(struct sess_worker *w, uint64_t exec_id)
{
	for (struct wexec *x = w->execs; x; x = x->next)
		if (x->id == exec_id) {
			x->oom_known = w->cg.memory && sess_cgroup_oom_kills(&w->cg, w->group, w->id, &x->oom_before) == 0;
			return;
		}
}

static int send_kill(struct sess_worker *w, uint64_t exec_id, int sig, uint32_t flags, struct err **errp)
{
	struct sess_msg_kill m;
	struct buf b = BUF_INIT;

	if (sig <= 0 || sig >= NSIG)
		return err_set(errp, EINVAL, "kill: bad signal %d", sig);
	if (w->dead || w->closing)
		return 0;
	/* Also after the exit report: the worker still knows the program's
	   process group while children of it live on (see sandbox.h). */
	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_KILL;
	m.exec_id = exec_id;
	m.sig = sig;
	m.flags = flags;
	buf_add(&b, &m, sizeof(m));
	return send_or_queue(w, &b, NULL, 0, errp);
}

int sess_worker_kill(struct sess_worker *w, uint64_t exec_id, int sig, struct err **errp)
{
	return send_kill(w, exec_id, sig, 0, errp);
}

int sess_worker_kill_session(struct sess_worker *w, uint64_t exec_id, int sig, struct err **errp)
{
	return send_kill(w, exec_id, sig, SESS_KILL_SESSION, errp);
}

int sess_worker_set_limits(struct sess_worker *w, const struct sess_limits *l, struct err **errp)
{
	if (!w->cg.version)
		return 0;	/* no cgroups here: per-program rlimits are all we have */
	return sess_cgroup_set_limits(&w->cg, w->group, w->id, l, errp);
}

/* The pid namespace link of pid, or of one of its children when pid's own
   is closed to us (the worker is not dumpable; an unprivileged server may
   not read it, but it may read those of the programs, which are). */
static int ns_of(pid_t worker, char *out, size_t size)
{
	char path[300], stat[512];
	struct dirent *de;
	ssize_t len;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)worker);
	len = readlink(path, out, size - 1);
	if (len >= 0) {
		out[len] = '\0';
		return 0;
	}
	d = opendir("/proc");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		const char *p;
		int fd, ppid;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		stat[len > 0 ? len : 0] = '\0';
		/* "pid (comm) state ppid ...": comm may hold anything, skip past its last ')' */
		p = strrchr(stat, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid != (int)worker)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		len = readlink(path, out, size - 1);
		if (len >= 0) {
			out[len] = '\0';
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

/* Processes in the worker's pid namespace, counted through the host's /proc. */
static int count_ns_procs(pid_t worker, uint32_t *n)
{
	char path[300], want[64], got[64];
	struct dirent *de;
	ssize_t len;
	DIR *d;

	if (ns_of(worker, want, sizeof(want)) < 0)
		return -1;
	d = opendir("/proc");
	if (!d)
		return -1;
	*n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		len = readlink(path, got, sizeof(got) - 1);
		if (len < 0) {
			/* the worker itself, when it is closed to us */
			if (atoi(de->d_name) == (int)worker)
				(*n)++;
			continue;
		}
		got[len] = '\0';
		if (!strcmp(got, want))
			(*n)++;
	}
	closedir(d);
	return 0;
}

int sess_worker_usage(struct sess_worker *w, struct sess_usage *u, struct err **errp)
{
	uint64_t v;

	memset(u, 0, sizeof(*u));
	if (w->dead || w->closing)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "sandbox is gone");
	if (w->cg.memory && sess_cgroup_memory_current(&w->cg, w->group, w->id, &v) == 0)
		u->memory_bytes = v;
	if (w->cg.pids && sess_cgroup_pids_current(&w->cg, w->group, w->id, &v) == 0) {
		u->pids = (uint32_t)v;
	} else if (count_ns_procs(w->pid, &u->pids) < 0) {
		u->pids = 1;
		for (struct wexec *x = w->execs; x; x = x->next)
			u->pids++;
	}
	return 0;
}

/* Every connection still asked for fails: the worker cannot answer any more. */
static void fail_conns(struct sess_worker *w)
{
	while (w->conns) {
		struct wconn *c = w->conns;
		w->conns = c->next;
		struct err *e = NULL;
		err_setc(&e, ERR_UNAVAILABLE, 0, "the session's sandbox is gone");
		if (c->cb)
			c->cb(c->arg, -1, e);
		else
			err_free(e);
		free(c);
	}
}

static bool oom_since(struct sess_worker *w, const struct wexec *x, int status)
{
	uint64_t now;

	if (!x->oom_known || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return false;
	return sess_cgroup_oom_kills(&w->cg, w->group, w->id, &now) == 0 && now > x->oom_before;
}

/* The worker is gone (or misbehaved): fail everything, tell the owner. */
static void worker_died(struct sess_worker *w, const char *why)
{
	if (w->dead)
		return;
	w->dead = true;
	update_events(w);
	if (why)
		log_warn("sandbox %s: worker %s", w->id, why);
	while (w->execs && !w->closing) {
		struct wexec *x = w->execs;
		struct sess_exit ex = { .status = SIGKILL };
		w->execs = x->next;
		ex.oom_killed = oom_since(w, x, ex.status);
		if (x->cb)
			x->cb(x->arg, x->id, &ex);
		free(x);
	}
	fail_conns(w);
	if (!w->closing && w->on_death)
		w->on_death(w->death_arg);
}

static void handle_exit(struct sess_worker *w, size_t len)
{
	struct sess_msg_exit m;
	struct sess_exit ex;
	struct wexec **pp, *x;

	if (len != sizeof(m)) {
		worker_died(w, "sent a malformed record");
		return;
	}
	memcpy(&m, w->rbuf, sizeof(m));
	for (pp = &w->execs; *pp && (*pp)->id != m.exec_id; pp = &(*pp)->next)
		;
	if (!*pp) {
		worker_died(w, "reported an unknown program");
		return;
	}
	x = *pp;
	*pp = x->next;
	memset(&ex, 0, sizeof(ex));
	ex.status = m.status;
	ex.cpu_ms = m.cpu_ms;
	ex.max_rss_kb = m.max_rss_kb;
	ex.oom_killed = oom_since(w, x, m.status);
	if (x->cb)
		x->cb(x->arg, x->id, &ex);
	free(x);
}

/* The answer to a connect request: an error, or exactly one stream socket. */
static void handle_connected(struct sess_worker *w, size_t len, const int *fds, size_t nfds)
{
	struct sess_msg_connected m;
	struct wconn **pp, *c;
	int type = 0;
	socklen_t tl = sizeof(type);
	struct stat st;

	if (len != sizeof(m)) {
		worker_died(w, "sent a malformed record");
		return;
	}
	memcpy(&m, w->rbuf, sizeof(m));
	for (pp = &w->conns; *pp && (*pp)->id != m.req_id; pp = &(*pp)->next)
		;
	if (!*pp || nfds != (m.error ? 0u : 1u) ||
	    (nfds && (fstat(fds[0], &st) < 0 || !S_ISSOCK(st.st_mode) ||
		      getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM))) {
		if (nfds)
			close(fds[0]);
		worker_died(w, "answered a connection it was not asked for");
		return;
	}
	c = *pp;
	*pp = c->next;
	if (!c->cb) {
		if (nfds)
			close(fds[0]);
	} else if (m.error) {
		struct err *e = NULL;
		err_setc(&e, ERR_UNAVAILABLE, m.error > 0 && m.error < 4096 ? m.error : 0, "connect inside the sandbox");
		c->cb(c->arg, -1, e);
	} else {
		c->cb(c->arg, fds[0], NULL);
	}
	free(c);
}

int sess_worker_connect(struct sess_worker *w, unsigned port, bool ipv6, sess_connect_cb cb, void *arg,
			uint64_t *req_id, struct err **errp)
{
	struct sess_msg_connect m;
	struct buf b = BUF_INIT;
	struct wconn *c;

	if (w->dead || w->closing)
		return err_setc(errp, ERR_UNAVAILABLE, 0, "the session's sandbox is gone");
	if (port < 1 || port > 65535)
		return err_setc(errp, ERR_INVALID, 0, "port %u is not 1..65535", port);
	memset(&m, 0, sizeof(m));
	m.h.type = SESS_MSG_CONNECT;
	m.req_id = ++w->next_exec_id;	/* one counter: ids never repeat in a worker */
	m.port = port;
	m.ipv6 = ipv6;
	buf_add(&b, &m, sizeof(m));
	if (send_or_queue(w, &b, NULL, 0, errp) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->id = m.req_id;
	c->cb = cb;
	c->arg = arg;
	c->next = w->conns;
	w->conns = c;
	*req_id = c->id;
	return 0;
}

void sess_worker_connect_cancel(struct sess_worker *w, uint64_t req_id)
{
	for (struct wconn *c = w->conns; c; c = c->next)
		if (c->id == req_id) {
			c->cb = NULL;	/* the answer's socket is closed when it comes */
			return;
		}
}

static void worker_poll_cb(uv_poll_t *h, int status, int events)
{
	struct sess_worker *w = h->data;

	if (w->closing || w->dead)
		return;
	if (status < 0) {
		worker_died(w, uv_strerror(status));
		return;
	}
	if ((events & UV_WRITABLE) && flush_out(w) < 0) {
		worker_died(w, NULL);
		return;
	}
	while (!w->closing && !w->dead && (events & (UV_READABLE | UV_DISCONNECT))) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * SESS_PROTO_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { w->rbuf, sizeof(w->rbuf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		struct sess_msg_hdr hdr;
		int fds[1] = { -1 };
		size_t nfds;
		ssize_t n = recvmsg(w->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			worker_died(w, NULL);	/* EOF: the sandbox ended */
			return;
		}
		/* Only a connect answer carries an fd, one at most: close what else
		   it smuggles in. */
		nfds = sess_proto_take_fds(&mh, fds, 1);
		if (nfds > 1 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(hdr)) {
			if (nfds)
				close(fds[0]);
			worker_died(w, "sent a malformed record");
			return;
		}
		memcpy(&hdr, w->rbuf, sizeof(hdr));
		if (hdr.type == SESS_MSG_CONNECTED) {
			handle_connected(w, (size_t)n, fds, nfds);
			continue;
		}
		if (nfds)
			close(fds[0]);
		if (hdr.type != SESS_MSG_EXIT || nfds) {
			worker_died(w, "sent an unknown record");
			return;
		}
		handle_exit(w, (size_t)n);
	}
}

static void worker_close_cb(uv_handle_t *h)
{
	struct sess_worker *w = h->data;

	close(w->fd);	/* EOF for the worker: it exits, the kernel kills the rest */
	while (w->execs) {
		struct wexec *x = w->execs;
		w->execs = x->next;
		free(x);
	}
	while (w->out_head) {
		struct wout *o = w->out_head;
		w->out_head = o->next;
		wout_free(o);
	}
	sess_cgroup_release(&w->cg);
	free(w->id);
	free(w);
}

void sess_worker_free(struct sess_worker *w)
{
	struct sess_msg_hdr q = { SESS_MSG_SHUTDOWN, 0 };

	if (!w || w->closing)
		return;
	if (!w->dead)
		send(w->fd, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT);
	w->closing = true;
	fail_conns(w);
	/* libuv may still reference the handle: free in the close callback. */
	uv_close((uv_handle_t *)&w->poll, worker_close_cb);
}
