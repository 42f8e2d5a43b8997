/*
 * server.c — VNC screens (through the rfb module), viewer bridges, view
 * tokens, the TCP port.
 *
 * Every client arrives through a socketpair whose other end is bridged on
 * the loop (WebSocket or TCP); we pre-feed "RFB " to the screen (and drop the
 * client's own first 4 bytes, which are always "RFB ") so that libvncserver's
 * 100 ms peek for a WebSocket/TLS hello ends at once (see rfb.c).
 */
#include "server.h"
#include "rfb.h"
#include "../server/base/buf.h"
#include "../server/base/common.h"
#include "../server/base/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "../server/base/banned.h"

#define RFB_PREFIX "RFB "
#define MAX_PENDING (1u << 20)
/* Viewer bytes libvncserver has not read yet. It stops reading while it
   cannot write its updates (the viewer does not read them), so a viewer that
   keeps sending requests without reading would otherwise grow this without
   end; past it the viewer is dropped. */
#define MAX_TO_SERVER (4u << 20)
#define TOKEN_MAX 128

/* ---- screens: forwarded to mcpbox-rfb.so ------------------------------------- */

/* Loaded by the first vnc_srv_new; a screen implies it. */
static const struct vnc_rfb_api *R;

struct vnc_srv *vnc_srv_new(struct vnc_display *d, struct vnc_fbuf *fb, struct err **errp)
{
	if (!R && !(R = srv_module_api("rfb", sizeof(*R), errp))) {
		err_wrap(errp, "VNC is not available");
		return NULL;
	}
	return R->screen_new(vnc_display_session_id(d), fb, errp);
}

void vnc_srv_damage(struct vnc_srv *s, const struct vnc_rect *r, int n)
{
	R->damage(s, r, n);
}

void vnc_srv_cursor(struct vnc_srv *s, const struct vnc_cursor *c)
{
	R->set_cursor(s, c);
}

int vnc_srv_set_password(struct vnc_srv *s, const char *password)
{
	return R->set_password(s, password);
}

void vnc_srv_free(struct vnc_srv *s)
{
	if (s)
		R->screen_free(s);
}

int vnc_srv_add_client(struct vnc_srv *s, int fd, bool view_only, struct err **errp)
{
	return R->add_client(s, fd, view_only, errp);
}

/* ---- tokens --------------------------------------------------------------------- */

struct token {
	char tok[33];
	char sid[64];
	char owner[TOKEN_MAX];
	bool control;
	uint64_t expires_ms;
	struct token *next;
};

static struct token *tokens;

static void tokens_purge(void)
{
	uint64_t now = now_ms();
	for (struct token **pp = &tokens; *pp;) {
		if ((*pp)->expires_ms <= now) {
			struct token *t = *pp;
			*pp = t->next;
			free(t);
		} else {
			pp = &(*pp)->next;
		}
	}
}

const char *vnc_token_get(const char *sid, const char *owner, bool control)
{
	uint64_t ttl = vnc_config()->view_token_ttl_s * 1000, now = now_ms();
	struct token *t;

	tokens_purge();
	for (t = tokens; t; t = t->next)
		if (!strcmp(t->sid, sid) && !strcmp(t->owner, owner) && t->control == control &&
		    t->expires_ms - now > ttl / 2)
			return t->tok;
	t = xcalloc(1, sizeof(*t));
	char *id = random_id("", 16);
	snprintf(t->tok, sizeof(t->tok), "%s", id);
	free(id);
	snprintf(t->sid, sizeof(t->sid), "%s", sid);
	snprintf(t->owner, sizeof(t->owner), "%s", owner);
	t->control = control;
	t->expires_ms = now + ttl;
	t->next = tokens;
	tokens = t;
	return t->tok;
}

bool vnc_access(const char *sid, const char *principal, const char *token, bool *control)
{
	struct sess_session *s;

	*control = false;
	if (principal && principal[0] && (s = vnc_session_find(sid, principal)) &&
	    sess_principal_may(principal, sid, SRV_CAP_READ, SRV_LEVEL_VIEWER)) {
		/* input, a terminal, a browser's CDP: an editor's key holding sandbox_write and execute */
		*control = sess_principal_may(principal, sid, SRV_CAP_WRITE | SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR);
		return true;
	}
	if (!token || !token[0])
		return false;
	tokens_purge();
	for (struct token *t = tokens; t; t = t->next) {
		size_t n = strlen(t->tok);
		/* constant-time compare: tokens are secrets */
		unsigned char diff = (unsigned char)(strlen(token) != n);
		for (size_t i = 0; i < n && token[i]; i++)
			diff |= (unsigned char)(t->tok[i] ^ token[i]);
		if (diff || strcmp(t->sid, sid))
			continue;
		/* the owner must still own the session */
		if (!vnc_session_find(sid, t->owner))
			return false;
		*control = t->control;
		return true;
	}
	return false;
}

/* ---- viewers -------------------------------------------------------------------- */

enum vstate { V_WAITING, V_CONNECTED, V_DONE };

struct vnc_viewer {
	char sid[64];
	bool control;
	bool tcp;			/* from the raw TCP port (its own screen, maybe with a password) */
	enum vstate state;
	struct vnc_display *d;		/* once connected */
	uv_pipe_t *pipe;		/* our end of the socketpair */
	struct buf pending;		/* client bytes before the display ran */
	size_t stripped;		/* of the client's "RFB " */
	bool paused;
	const struct vnc_viewer_ops *ops;
	void *arg;
	struct vnc_viewer *next;
};

static struct vnc_viewer *viewers;

static void viewer_unlink(struct vnc_viewer *v)
{
	for (struct vnc_viewer **pp = &viewers; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			return;
		}
}

static void pipe_closed(uv_handle_t *h)
{
	free(h);
}

static void viewer_drop_pipe(struct vnc_viewer *v)
{
	if (v->pipe) {
		uv_close((uv_handle_t *)v->pipe, pipe_closed);
		v->pipe = NULL;
	}
}

/* The display side ended: tell the client, forget v. */
static void viewer_end(struct vnc_viewer *v)
{
	if (v->state == V_DONE)
		return;
	v->state = V_DONE;
	viewer_drop_pipe(v);
	viewer_unlink(v);
	v->ops->closed(v->arg);
	buf_release(&v->pending);
	free(v);
}

static void vp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char tmp[65536];
	b->base = tmp;
	b->len = sizeof(tmp);
}

static void vp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct vnc_viewer *v = s->data;

	if (n > 0) {
		if (v->d)
			vnc_display_touch(v->d);
		v->ops->send(v->arg, b->base, (size_t)n);
		return;
	}
	if (n < 0)
		viewer_end(v);
}

struct vwrite {
	uv_write_t req;
	char data[];
};

static void vp_written(uv_write_t *w, int status)
{
	free(w);
}

/* Client → VNC server, dropping the client's "RFB " (we sent it already). */
static void viewer_forward(struct vnc_viewer *v, const char *data, size_t len)
{
	while (len && v->stripped < 4) {
		if (*data != RFB_PREFIX[v->stripped]) {
			viewer_end(v);
			return;
		}
		v->stripped++;
		data++;
		len--;
	}
	if (!len || !v->pipe)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)v->pipe) + len > MAX_TO_SERVER) {
		log_info("vnc: a viewer sent %u MiB its display did not take (it reads none of its updates): dropping it",
			 MAX_TO_SERVER >> 20);
		viewer_end(v);
		return;
	}
	struct vwrite *w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)v->pipe, &b, 1, vp_written) < 0) {
		free(w);
		viewer_end(v);
	}
}

static void viewer_connect(struct vnc_viewer *v, struct vnc_display *d)
{
	int sv[2];
	struct err *e = NULL;
	struct vnc_srv *srv = vnc_display_srv(d, v->tcp, &e);

	if (!srv || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("vnc: session %s: %s", v->sid, e ? err_text(e) : strerror(errno));
		err_free(e);
		viewer_end(v);
		return;
	}
	/* answers libvncserver's WebSocket sniff at once (see the top) */
	if (write(sv[0], RFB_PREFIX, 4) != 4 || vnc_srv_add_client(srv, sv[1], !v->control, &e) < 0) {
		log_warn("vnc: session %s: %s", v->sid, e ? err_text(e) : "cannot start the client");
		err_free(e);
		close(sv[0]);
		viewer_end(v);
		return;
	}
	v->d = d;
	v->state = V_CONNECTED;
	v->pipe = xcalloc(1, sizeof(*v->pipe));
	uv_pipe_init(uv_default_loop(), v->pipe, 0);
	uv_pipe_open(v->pipe, sv[0]);
	v->pipe->data = v;
	if (!v->paused)
		uv_read_start((uv_stream_t *)v->pipe, vp_alloc, vp_read);
	vnc_display_touch(d);
	if (v->pending.len) {
		struct buf p = v->pending;
		v->pending = (struct buf)BUF_INIT;
		viewer_forward(v, p.data, p.len);
		buf_release(&p);
	}
}

static void viewer_display_cb(void *arg, struct vnc_display *d, struct err *err)
{
	err_free(err);	/* viewers learn through vnc_viewers_ready */
}

static int viewer_open(const char *sid, const char *principal, const char *token, bool tcp,
		       const struct vnc_viewer_ops *ops, void *arg, struct vnc_viewer **out, struct err **errp)
{
	bool control;
	struct sess_session *s;

	if (strlen(sid) >= 64 || !vnc_access(sid, principal, token, &control))
		return err_set(errp, EACCES, "not allowed");
	s = vnc_session_find(sid, NULL);
	if (!s || s->state != SESS_RUNNING)
		return err_set(errp, ENOENT, "session not running");
	struct vnc_viewer *v = xcalloc(1, sizeof(*v));
	snprintf(v->sid, sizeof(v->sid), "%s", sid);
	v->control = control;
	v->tcp = tcp;
	v->ops = ops;
	v->arg = arg;
	v->state = V_WAITING;
	v->next = viewers;
	viewers = v;
	*out = v;
	struct vnc_display *d = vnc_display_find(sid, NULL);
	if (d && vnc_display_running(d))
		viewer_connect(v, d);
	else
		vnc_display_ensure(s, viewer_display_cb, NULL);
	return 0;
}

int vnc_viewer_open(const char *sid, const char *principal, const char *token,
		    const struct vnc_viewer_ops *ops, void *arg, struct vnc_viewer **out, struct err **errp)
{
	return viewer_open(sid, principal, token, false, ops, arg, out, errp);
}

void vnc_viewer_write(struct vnc_viewer *v, const void *data, size_t len)
{
	if (v->state == V_WAITING) {
		if (v->pending.len + len > MAX_PENDING) {
			viewer_end(v);
			return;
		}
		buf_add(&v->pending, data, len);
		return;
	}
	if (v->state == V_CONNECTED)
		viewer_forward(v, data, len);
}

void vnc_viewer_pause(struct vnc_viewer *v, bool paused)
{
	if (v->paused == paused)
		return;
	v->paused = paused;
	if (!v->pipe)
		return;
	if (paused)
		uv_read_stop((uv_stream_t *)v->pipe);
	else
		uv_read_start((uv_stream_t *)v->pipe, vp_alloc, vp_read);
}

void vnc_viewer_close(struct vnc_viewer *v)
{
	if (v->state == V_DONE)
		return;
	v->state = V_DONE;
	viewer_drop_pipe(v);	/* EOF ends its libvncserver client */
	viewer_unlink(v);
	buf_release(&v->pending);
	free(v);
}

unsigned vnc_viewer_count(const struct vnc_display *d)
{
	unsigned n = 0;
	for (struct vnc_viewer *v = viewers; v; v = v->next)
		if (v->d == d && v->state == V_CONNECTED)
			n++;
	return n;
}

void vnc_viewers_end(struct vnc_display *d)
{
	struct vnc_viewer *v, *next;
	for (v = viewers; v; v = next) {
		next = v->next;
		if (v->d == d)
			viewer_end(v);
	}
}

void vnc_viewers_ready(struct vnc_display *d, struct err *err)
{
	struct vnc_viewer *v, *next;
	const char *sid = vnc_display_session_id(d);

	for (v = viewers; v; v = next) {
		next = v->next;
		if (v->state != V_WAITING || strcmp(v->sid, sid))
			continue;
		if (err)
			viewer_end(v);
		else
			viewer_connect(v, d);
	}
}

/* ---- raw TCP port ------------------------------------------------------------------ */

struct tcp_listener {
	uv_tcp_t tcp;
	char sid[64];
	struct tcp_listener *next;
};

struct tcp_client {
	uv_tcp_t tcp;
	struct vnc_viewer *v;
	bool closing;
};

static struct tcp_listener *listeners;

static void listener_closed(uv_handle_t *h)
{
	free(h->data);
}

static void tcp_client_closed(uv_handle_t *h)
{
	free(h->data);
}

static void tcp_client_close(struct tcp_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->v)
		vnc_viewer_close(c->v);
	c->v = NULL;
	uv_close((uv_handle_t *)&c->tcp, tcp_client_closed);
}

static void tcp_send(void *arg, const void *data, size_t len)
{
	struct tcp_client *c = arg;
	struct vwrite *w;

	if (c->closing)
		return;
	w = xmalloc(sizeof(*w) + len);
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, vp_written) < 0) {
		free(w);
		tcp_client_close(c);
		return;
	}
	/* backpressure: a slow client stops us reading from the VNC side */
	if (c->v)
		vnc_viewer_pause(c->v, uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > (4u << 20));
}

static void tcp_ended(void *arg)
{
	struct tcp_client *c = arg;
	c->v = NULL;
	tcp_client_close(c);
}

static const struct vnc_viewer_ops tcp_ops = { tcp_send, tcp_ended };

static void tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char tmp[65536];
	b->base = tmp;
	b->len = sizeof(tmp);
}

static void tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct tcp_client *c = s->data;

	if (n > 0 && c->v)
		vnc_viewer_write(c->v, b->base, (size_t)n);
	else if (n < 0)
		tcp_client_close(c);
}

static void tcp_accept(uv_stream_t *server, int status)
{
	struct tcp_listener *l = server->data;
	struct tcp_client *c;
	struct err *e = NULL;
	struct sess_session *s;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	uv_tcp_init(uv_default_loop(), &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		tcp_client_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	/* The port is the owner's (loopback by default, password when set):
	   the client acts with the owner's rights, as with a control token. */
	s = vnc_session_find(l->sid, NULL);
	if (!s || viewer_open(l->sid, s->owner, NULL, true, &tcp_ops, c, &c->v, &e) < 0) {
		err_free(e);
		tcp_client_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, tcp_alloc, tcp_read);
}

int vnc_tcp_listen(struct vnc_display *d, struct err **errp)
{
	struct tcp_listener *l = xcalloc(1, sizeof(*l));
	const char *host = vnc_config()->vnc_tcp_host ? vnc_config()->vnc_tcp_host : "127.0.0.1";
	struct sockaddr_storage sa;
	int len = sizeof(sa), r;

	snprintf(l->sid, sizeof(l->sid), "%s", vnc_display_session_id(d));
	uv_tcp_init(uv_default_loop(), &l->tcp);
	l->tcp.data = l;
	if ((r = uv_ip4_addr(host, 0, (struct sockaddr_in *)&sa)) < 0 &&
	    (r = uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&sa)) < 0)
		goto fail;
	if ((r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&sa, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&l->tcp, 16, tcp_accept)) < 0 ||
	    (r = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&sa, &len)) < 0)
		goto fail;
	l->next = listeners;
	listeners = l;
	return ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
					       : ((struct sockaddr_in6 *)&sa)->sin6_port);
fail:
	uv_close((uv_handle_t *)&l->tcp, listener_closed);
	return err_set(errp, 0, "listen on %s: %s", host, uv_strerror(r));
}

void vnc_tcp_close(struct vnc_display *d)
{
	const char *sid = vnc_display_session_id(d);
	for (struct tcp_listener **pp = &listeners; *pp;) {
		struct tcp_listener *l = *pp;
		if (!strcmp(l->sid, sid)) {
			*pp = l->next;
			uv_close((uv_handle_t *)&l->tcp, listener_closed);
		} else {
			pp = &l->next;
		}
	}
}
