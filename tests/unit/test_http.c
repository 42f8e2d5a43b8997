/*
 * The HTTP transport's route table, driven by real requests over a socket:
 * captures and query, bodies for POST/PUT/PATCH, 404/405/413, trailing
 * slashes, extra headers, a route that answers later, a client that leaves
 * before the answer (told, nothing freed twice), draining counts, a
 * streamed body (pieces in order through pauses, the cap before 100
 * Continue, a refusal at the headers with the rest dropped, a client that
 * leaves mid-body), JSON bodies (tp_req_body_json: a large one parsed
 * before the route runs gives what json_loadb would with every route's
 * flags), and a loop that closes cleanly after tp_http_stop().
 */
#include "transport/http.h"
#include "transport/tp.h"
#include "server/base/buf.h"
#include "server/base/log.h"
#include "server/base/offload.h"
#include "tap.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static volatile int client_done;
static int gone_calls, late_answered;
static struct tp_req *held;

static void echo(struct tp_req *r, void *arg)
{
	char q[64], h[64];
	size_t len;
	const char *body = tp_req_body(r, &len);
	if (tp_req_query(r, "q", q, sizeof(q)) < 0)
		strcpy(q, "-");
	if (tp_req_header(r, "x-test", h, sizeof(h)) < 0)
		strcpy(h, "-");
	tp_req_add_header(r, "x-route", "echo");
	tp_req_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "method", tp_req_method_name(r), "id",
				      tp_req_param(r, "id") ? tp_req_param(r, "id") : "-", "q", q, "h", h, "body",
				      body, "len", (json_int_t)len));
}

static void on_gone(void *arg)
{
	gone_calls++;
}

/* answers only when the test says so (after its client left) */
static void later(struct tp_req *r, void *arg)
{
	held = r;
	tp_req_on_gone(r, on_gone, NULL);
}

/* answers from a timer, as a REST dialect answers after a tool call */
static uv_timer_t async_timer;
static struct tp_req *async_req;

static void async_answer(uv_timer_t *t)
{
	size_t len;
	tp_req_body(async_req, &len);
	tp_req_json(async_req, 200, json_pack("{s:s, s:I}", "async", tp_req_param(async_req, "id"), "len", (json_int_t)len));
	async_req = NULL;
}

static void async_route(struct tp_req *r, void *arg)
{
	async_req = r;
	uv_timer_start(&async_timer, async_answer, 20, 0);
}

/* Do e and f say the same? */
static bool same_error(const json_error_t *e, const json_error_t *f)
{
	return !strcmp(e->text, f->text) && e->position == f->position && e->line == f->line &&
	       e->column == f->column && json_error_code(e) == json_error_code(f);
}

/*
 * Answers whether tp_req_body_json gives what json_loadb gives, with every
 * flag a route uses ("same": how many of them), and whether two calls share
 * one value (a body parsed before the route ran).
 */
static void json_route(struct tp_req *r, void *arg)
{
	static const size_t flags[] = {
		0, JSON_REJECT_DUPLICATES, JSON_DECODE_ANY, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
		JSON_DECODE_ANY | TP_JSON_AFTER_BOM, JSON_REJECT_DUPLICATES | TP_JSON_AFTER_BOM,
	};
	size_t len, same = 0, failed = 0;
	const char *body = tp_req_body(r, &len);
	json_t *a = tp_req_body_json(r, JSON_DECODE_ANY | TP_JSON_AFTER_BOM, NULL);
	json_t *b = tp_req_body_json(r, JSON_DECODE_ANY | TP_JSON_AFTER_BOM, NULL);
	bool shared = a && a == b;

	json_decref(a);
	json_decref(b);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		json_error_t e, f;
		size_t skip = (flags[i] & TP_JSON_AFTER_BOM) && len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3) ? 3 : 0;
		json_t *got = tp_req_body_json(r, flags[i], &e);
		json_t *want = json_loadb(body + skip, len - skip, flags[i] & ~(size_t)TP_JSON_AFTER_BOM, &f);
		if (got ? want && json_equal(got, want) : !want && same_error(&e, &f))
			same++;
		failed += !want;
		json_decref(got);
		json_decref(want);
	}
	tp_req_json(r, 200, json_pack("{s:I, s:I, s:b}", "same", (json_int_t)same, "failed", (json_int_t)failed,
				      "shared", shared));
}

/* The offload runner of server/main.c, without a pool: work and done at once, as when it cannot queue. */
static void run_now(const char *principal, void (*work)(void *), void (*done)(void *), void *arg)
{
	work(arg);
	done(arg);
}

static void stream(struct tp_req *r, void *arg)
{
	tp_req_start(r, 200, "text/plain");
	tp_req_write(r, "one,", 4);
	tp_req_write(r, "two", 3);
	tp_req_end(r);
}

/* ---- a streamed route: sums its body as it comes, pausing after every 64 KiB for 5 ms ---- */
struct upstate {
	struct tp_req *r;
	uint64_t got, sum;
	unsigned pieces, pauses, since_pause;
	bool slow;
};
static struct upstate up;
static uv_timer_t resume_timer;
static int body_gone, body_large;

static void resume(uv_timer_t *t)
{
	tp_req_pause_body(up.r, false);
}

static void up_data(void *arg, const void *data, size_t len)
{
	struct upstate *u = arg;
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++)
		u->sum = u->sum * 31 + p[i];
	u->got += len;
	u->pieces++;
	u->since_pause += (unsigned)len;
	if (u->slow && u->since_pause >= 65536) {
		u->since_pause = 0;
		u->pauses++;
		tp_req_pause_body(u->r, true);
		uv_timer_start(&resume_timer, resume, 5, 0);
	}
}

static void up_end(void *arg, enum tp_body_end how)
{
	struct upstate *u = arg;
	uv_timer_stop(&resume_timer);
	if (how == TP_BODY_GONE) {
		body_gone++;
		tp_req_end(u->r);
	} else if (how == TP_BODY_TOO_LARGE) {
		body_large++;
		tp_req_json(u->r, 413, json_pack("{s:s}", "streamed", "too large"));
	} else {
		tp_req_json(u->r, 200, json_pack("{s:I, s:I, s:i}", "got", (json_int_t)u->got, "sum", (json_int_t)u->sum,
						 "paused", u->pauses > 0));
	}
}

static const struct tp_body_ops up_ops = { up_data, up_end };

static void upload_route(struct tp_req *r, void *arg)
{
	char mode[16];
	if (tp_req_header(r, "x-mode", mode, sizeof(mode)) < 0)
		strcpy(mode, "-");
	if (!strcmp(mode, "refuse")) {
		tp_req_json(r, 403, json_pack("{s:s}", "streamed", "refused at the headers"));
		return;
	}
	memset(&up, 0, sizeof(up));
	up.r = r;
	up.slow = !strcmp(mode, "slow");
	if (tp_req_read_body(r, &up_ops, &up) == TP_BODY_TOO_LARGE)
		tp_req_json(r, 413, json_pack("{s:s}", "streamed", "declared too large"));
}

/* A POST of n pattern bytes to path with extra headers; the pattern's sum as up_data computes it. */
static char *upload_request(const char *path, const char *extra, size_t n, uint64_t *sum)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n", path, extra, n);
	*sum = 0;
	for (size_t i = 0; i < n; i++) {
		char c = (char)('a' + (i * 7 + i / 1000) % 26);
		buf_add(&b, &c, 1);
		*sum = *sum * 31 + (unsigned char)c;
	}
	return buf_detach(&b);
}

static uint64_t up_sum;

static void noop_request(struct srv_req *req, const char *method, json_t *params)
{
}

static const struct srv_app app = { .request = noop_request };

/* One answer from fd: until the server closes or Content-Length is in. */
static char *read_answer(int fd)
{
	struct buf b = BUF_INIT;
	char tmp[4096];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(&b, tmp, (size_t)n);
		const char *end = b.data ? strstr(b.data, "\r\n\r\n") : NULL;
		const char *cl = b.data ? strcasestr(b.data, "content-length:") : NULL;
		if (end && cl && cl < end && b.len >= (size_t)(end + 4 - b.data) + strtoul(cl + 15, NULL, 10))
			break;
	}
	return b.data ? buf_detach(&b) : strdup("");
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { 5, 0 };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on a new connection; the whole answer. */
static char *roundtrip(const char *raw, bool leave_early)
{
	int fd = dial();
	if (fd < 0 || write(fd, raw, strlen(raw)) < 0) {
		if (fd >= 0)
			close(fd);
		return strdup("connect failed");
	}
	if (leave_early) {
		usleep(200000);
		close(fd);
		return strdup("");
	}
	char *r = read_answer(fd);
	close(fd);
	return r;
}

/* Two requests, one after the other's answer, on one kept-alive connection: the second's answer. */
static char *keepalive(const char *first, const char *second)
{
	int fd = dial();
	char *r = NULL;
	if (fd >= 0 && write(fd, first, strlen(first)) > 0) {
		free(read_answer(fd));
		if (write(fd, second, strlen(second)) > 0)
			r = read_answer(fd);
	}
	if (fd >= 0)
		close(fd);
	return r ? r : strdup("connect failed");
}

#define NJSON 9
static char *results[16 + NJSON];
static double took[16 + NJSON];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *timed(int i, const char *raw, bool early)
{
	double t0 = now_s();
	char *r = roundtrip(raw, early);
	took[i] = now_s() - t0;
	return r;
}

static void *client(void *arg)
{
	results[0] = timed(0, "GET /t/abc?q=hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: yes\r\n\r\n", false);
	results[1] = timed(1, "POST /t/p1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
			       "Content-Length: 11\r\n\r\n{\"a\":\"b c\"}", false);
	results[2] = timed(2, "PUT /t/p2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nput", false);
	results[3] = timed(3, "PATCH /t/p3 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\npatch", false);
	results[4] = timed(4, "DELETE /t/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false);
	results[5] = timed(5, "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false);
	results[6] = timed(6, "POST /t/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\n\r\n", false);
	results[7] = timed(7, "GET /t/slash/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false);
	results[8] = timed(8, "GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false);
	results[9] = timed(9, "POST /t/empty HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", false);
	/* aiohttp's POST without a body, on a connection that carried a POST with one */
	results[11] = keepalive("POST /t/k1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
				"POST /async/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
				"Content-Length: 0\r\n\r\n");
	/* streamed bodies */
	char *req = upload_request("/up/a", "X-Mode: slow\r\n", 600 * 1000, &up_sum);
	results[12] = timed(12, req, false);
	free(req);
	results[13] = timed(13, "POST /up/b HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
				"Content-Length: 5000000\r\n\r\n", false);
	uint64_t ignored;
	req = upload_request("/up/c", "X-Mode: refuse\r\n", 300 * 1000, &ignored);
	results[14] = keepalive(req, "GET /t/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	free(req);
	results[15] = timed(15, "POST /up/d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 900000\r\n\r\npartial body", true);
	/* JSON bodies: large ones (a string of 300 KB in them) and a small one */
	static const char *const shapes[NJSON] = {
		"{\"a\": \"%s\"}", "{\"a\": \"%s\", \"a\": 1}", "\"%s\"", "  12345 %s", "[\"%s\",]",
		"\xef\xbb\xbf{\"a\": \"%s\"}", "x%s", "{\"a\": \"%s\"} x", "{\"a\": 1, \"a\": 2}%.0s",
	};
	char *pad = malloc(300001);
	memset(pad, 'p', 300000);
	pad[300000] = '\0';
	for (int i = 0; i < NJSON; i++) {
		struct buf body = BUF_INIT, raw = BUF_INIT;
		buf_addf(&body, shapes[i], i == 3 ? "" : pad);
		if (i == 3) /* a number, then spaces */
			for (int k = 0; k < 300000; k++)
				buf_addch(&body, ' ');
		buf_addf(&raw, "POST /json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n", body.len);
		buf_add(&raw, body.data, body.len);
		results[16 + i] = timed(16 + i, raw.data, false);
		buf_release(&body);
		buf_release(&raw);
	}
	free(pad);
	results[10] = timed(10, "GET /later HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", true);
	client_done = 1;
	return NULL;
}

static bool has(int i, const char *s)
{
	bool r = results[i] && strstr(results[i], s);
	if (!r)
		printf("#   result %d lacks %s:\n#   %s\n", i, s, results[i] ? results[i] : "(null)");
	return r;
}

int main(void)
{
	uv_loop_t *loop = uv_default_loop();
	struct tp_http_opts o = {
		.host = "127.0.0.1", .port = 0, .max_body = 1 << 20, .max_ws_message = 1024, .max_inflight = 16,
		.max_connections = 64, .max_unauthenticated = 64, .header_timeout_s = 10, .max_receiving = 4 << 20,
		.session_idle_s = 60, .stall_s = 60, .auth_none = true, .max_upload = 1 << 20,
	};
	struct err *e = NULL;
	pthread_t th;
	double t_start = now_s();

	setvbuf(stdout, NULL, _IONBF, 0);
	log_set_level(LOG_LVL_ERROR);
	tp_http_route(TP_GET | TP_POST | TP_PUT | TP_PATCH, "/t/{id}", echo, NULL);
	tp_http_route(TP_GET, "/later", later, NULL);
	tp_http_route(TP_GET, "/stream", stream, NULL);
	tp_http_route(TP_POST, "/async/{id}", async_route, NULL);
	tp_http_route_streamed(TP_POST, "/up/{id}", upload_route, NULL);
	tp_http_route(TP_POST, "/json", json_route, NULL);
	srv_offload_set(run_now);
	uv_timer_init(loop, &async_timer);
	uv_timer_init(loop, &resume_timer);
	ok(tp_http_start(loop, &app, &o, &e) == 0, "the transport starts");
	port = tp_http_port();
	pthread_create(&th, NULL, client, NULL);
	while (!client_done || (held && gone_calls == 0) || !body_gone)
		uv_run(loop, UV_RUN_ONCE);
	pthread_join(th, NULL);
	ok(now_s() - t_start < 5, "a client that left is noticed in %.0f ms (not at lws' 30 s timeout)",
	   (now_s() - t_start) * 1000);

	ok(has(0, "200") && has(0, "\"id\":\"abc\"") && has(0, "\"q\":\"hello\"") && has(0, "\"h\":\"yes\"") &&
	   has(0, "\"method\":\"GET\""), "GET: capture, query and header reach the route");
	ok(has(0, "x-route: echo"), "a route's extra header is sent");
	ok(has(1, "\"method\":\"POST\"") && has(1, "\"body\":\"{\\\"a\\\":\\\"b c\\\"}\"") && has(1, "\"len\":11"),
	   "POST: the whole body");
	ok(has(2, "\"method\":\"PUT\"") && has(2, "\"body\":\"put\""), "PUT: the body");
	ok(has(3, "\"method\":\"PATCH\"") && has(3, "\"body\":\"patch\""), "PATCH: the body");
	ok(has(4, "405"), "a method the route does not serve: 405");
	ok(has(5, "404"), "no route: 404");
	ok(has(6, "413"), "a body past max_body: 413 before it is read");
	ok(has(7, "\"id\":\"slash\""), "a trailing slash is the same path");
	ok(has(8, "one,two"), "a streamed answer arrives whole");
	ok(has(9, "\"len\":0") && has(9, "\"body\":\"\""), "POST without a body reaches the route at once");
	ok(has(11, "\"async\":\"a\"") && has(11, "\"len\":0") && !strstr(results[11], "jsonrpc"),
	   "an empty POST answered later, after a POST with a body on the same connection, is the route's alone");
	char want[128];
	snprintf(want, sizeof(want), "\"got\":600000,\"sum\":%lld,\"paused\":1", (long long)(int64_t)up_sum);
	ok(has(12, "200") && has(12, want), "a streamed body reaches the route whole and in order through pauses");
	ok(has(13, "413") && has(13, "declared too large") && !strstr(results[13], "100 Continue"),
	   "a declared length past max_upload: the route's 413, and no 100 Continue");
	ok(has(14, "\"id\":\"after\""), "a streamed route that refuses at the headers: its body is dropped, "
	   "and the connection serves the next request");
	static const char *const json_what[NJSON] = {
		"an object", "a duplicate key", "a string", "a number and spaces", "an array with a trailing comma",
		"an object after a byte-order mark", "not JSON", "an object and more", "a small one, a duplicate key",
	};
	/* how many of the six flags refuse it (json_loadb's verdict); parsed before the route: shared */
	static const int json_failed[NJSON] = { 0, 3, 3, 3, 6, 4, 6, 6, 3 };
	static const bool json_shared[NJSON] = { true, true, true, true, false, true, false, false, false };
	for (int i = 0; i < NJSON; i++) {
		char want_same[64];
		snprintf(want_same, sizeof(want_same), "\"same\":6,\"failed\":%d,\"shared\":%s", json_failed[i],
			 json_shared[i] ? "true" : "false");
		ok(has(16 + i, want_same), "tp_req_body_json, %s: as json_loadb with every flag", json_what[i]);
	}
	ok(body_gone == 1 && !body_large, "a client that leaves mid-body: the route is told TP_BODY_GONE once");
	ok(held && gone_calls == 1, "a client that leaves before the answer is told to the route, once");
	ok(tp_http_busy() == 1, "an unanswered request counts as in flight (draining waits for it)");
	if (held) {
		tp_req_json(held, 200, json_pack("{s:b}", "late", 1)); /* dropped: nobody to read it */
		late_answered = 1;
	}
	ok(late_answered && tp_http_busy() == 0, "answering after the client left is fine and ends it");
	tp_http_stop();
	uv_close((uv_handle_t *)&async_timer, NULL);
	uv_close((uv_handle_t *)&resume_timer, NULL);
	uv_run(loop, UV_RUN_DEFAULT);

	ok(uv_loop_close(loop) == 0, "every handle is closed: the loop closes");
	for (size_t i = 0; i < 16 + NJSON; i++) {
		if (results[i] && took[i] > 1)
			printf("# request %zu took %.0f ms\n", i, took[i] * 1000);
		free(results[i]);
	}
	return tap_done();
}
