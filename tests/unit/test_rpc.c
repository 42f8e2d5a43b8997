/* Unit tests of the JSON-RPC engine (server/rpc.c) with a fake transport and app. */
#include "tap.h"
#include "server/base/rpc.h"
#include "server/base/buf.h"
#include "server/base/json_out.h"
#include "server/base/offload.h"

#include <jansson.h>

static json_t *sent;		/* every message the engine sent, parsed */
static struct srv_req *held[16];	/* requests the fake app left open */
static int nheld;
static int notes;		/* notifications the app saw */
static int closed_calls, released;

static int dones;		/* ops->done calls */
static void *last_ctx;

static void *done_ctx[8];	/* the first contexts done, in order (after done_reset) */

static void fake_done(void *tp, void *ctx)
{
	if (dones < 8)
		done_ctx[dones] = ctx;
	dones++;
	last_ctx = ctx;
}

static void *send_ctx;

static void fake_send(void *tp, void *ctx, const char *json, size_t len, bool answer)
{
	send_ctx = ctx;
	json_error_t e;
	json_t *v = json_loadb(json, len, 0, &e);
	if (!v)
		v = json_string("<unparsable>");
	json_array_append_new(sent, v);
}

static const struct tp_ops fake_tp = { .name = "fake", .send = fake_send, .done = fake_done };

static void on_cancel(void *arg)
{
	(*(int *)arg)++;
}

static int cancels;

static void app_request(struct srv_req *r, const char *method, json_t *params)
{
	if (!strcmp(method, "echo"))
		srv_req_result(r, json_pack("{s:O?}", "params", params));
	else if (!strcmp(method, "hold")) {
		srv_req_on_cancel(r, on_cancel, &cancels);
		held[nheld++] = r;
	} else
		srv_req_error(r, RPC_METHOD_NOT_FOUND, "Method not found: %s", method);
}

/* ---- a transport that takes the engine's buffers, and an offload runner run by hand ---- */

#define HEADROOM 24
static json_t *bsent;		/* what the buffer transport got, parsed */
static int headroom_clean;	/* texts whose headroom was all zeros */

static void buf_tp_send_buf(void *tp, void *ctx, struct buf *text, bool answer)
{
	static const char zeros[HEADROOM];
	json_error_t e;
	headroom_clean += text->len > HEADROOM && !memcmp(text->data, zeros, HEADROOM);
	json_t *v = json_loadb(text->data + HEADROOM, text->len - HEADROOM, 0, &e);
	json_array_append_new(bsent, v ? v : json_string("<unparsable>"));
	buf_release(text);
}

static const struct tp_ops buf_tp = { .name = "buf", .send = fake_send, .send_buf = buf_tp_send_buf,
				      .headroom = HEADROOM };

struct job {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};
static struct job jobs[16];
static int njobs;

static char job_principal[64];	/* whom the last job was queued for */

static void fake_offload(const char *principal, void (*work)(void *), void (*done)(void *), void *arg)
{
	snprintf(job_principal, sizeof(job_principal), "%s", principal ? principal : "(null)");
	jobs[njobs++] = (struct job){ work, done, arg };
}

static void run_jobs(void)
{
	for (int i = 0; i < njobs; i++) {
		jobs[i].work(jobs[i].arg);
		jobs[i].done(jobs[i].arg);
	}
	njobs = 0;
}

/* A text of at least n bytes: a request (id) with method and a long param (taken by the caller: free). */
static char *big_text(int id, const char *method, size_t n)
{
	struct buf b = BUF_INIT;
	buf_addf(&b, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\",\"params\":{\"pad\":\"", id, method);
	for (size_t i = 0; i < n; i++)
		buf_addch(&b, 'p');
	buf_add(&b, "\"}}", 3);
	return buf_detach(&b);
}

/* A result of n bytes of text. */
static json_t *big_result(size_t n)
{
	char *t = malloc(n);
	memset(t, 'a', n);
	json_t *r = json_pack("{s:[{s:s, s:s%}]}", "content", "type", "text", "text", t, n);
	free(t);
	return r;
}

static void app_note(struct srv_conn *c, const char *m, json_t *p)
{
	notes++;
}

static void app_closed(struct srv_conn *c) { closed_calls++; }
static void app_release(struct srv_conn *c) { released++; }

static const struct srv_app app = { app_request, app_note, app_closed, app_release, NULL };

static json_t *app_oversize(struct srv_req *r, const char *method, size_t len, size_t max)
{
	return json_pack("{s:s, s:I, s:I}", "method", method, "len", (json_int_t)len, "max", (json_int_t)max);
}

static const struct srv_app oversize_app = { app_request, app_note, app_closed, app_release, app_oversize };

static json_t *last(void)
{
	size_t n = json_array_size(sent);
	return n ? json_array_get(sent, n - 1) : NULL;
}

static void send_text(struct srv_conn *c, const char *s)
{
	srv_conn_receive(c, s, strlen(s), (void *)s);
}

static int err_code(json_t *m)
{
	return (int)json_integer_value(json_object_get(json_object_get(m, "error"), "code"));
}

/* srv_json_write must write exactly what json_dumps does. */
static void json_out_matches(const char *what, json_t *v)
{
	struct buf b = BUF_INIT;
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = srv_json_write(&b, v);
	ok(rc == 0 && want && b.len == strlen(want) && !memcmp(b.data, want, b.len), "json_out: %s", what);
	if (!(rc == 0 && want && b.len == strlen(want) && !memcmp(b.data, want, b.len)))
		printf("#   got:  %.*s\n#   want: %s\n", (int)b.len, b.data ? b.data : "", want ? want : "(null)");
	free(want);
	buf_release(&b);
	json_decref(v);
}

/* ... except reals, which get their shortest exact text */
static void json_out_writes(const char *what, json_t *v, const char *want)
{
	struct buf b = BUF_INIT;
	int rc = srv_json_write(&b, v);
	ok(rc == 0 && b.len == strlen(want) && !memcmp(b.data, want, b.len), "json_out: %s", what);
	if (!(rc == 0 && b.len == strlen(want) && !memcmp(b.data, want, b.len)))
		printf("#   got:  %.*s\n#   want: %s\n", (int)b.len, b.data ? b.data : "", want);
	buf_release(&b);
	json_decref(v);
}

int main(void)
{
	struct srv_conn *c;
	json_t *m;

	sent = json_array();
	c = srv_conn_new(&app, &fake_tp, NULL, "tester");

	/* ids of every type come back with the same type */
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"echo\"}");
	m = last();
	ok(json_is_integer(json_object_get(m, "id")) && json_integer_value(json_object_get(m, "id")) == 0, "id 0 echoed as integer");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":9007199254740993,\"method\":\"echo\"}");
	ok(json_integer_value(json_object_get(last(), "id")) == 9007199254740993LL, "large integer id kept exactly");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":\"123\",\"method\":\"echo\"}");
	m = last();
	ok(json_is_string(json_object_get(m, "id")) && !strcmp(json_string_value(json_object_get(m, "id")), "123"), "string id \"123\" stays a string");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"echo\",\"params\":null}");
	m = last();
	ok(json_object_get(m, "result") != NULL, "params null tolerated, empty string id accepted");

	/* errors */
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"echo\"}");
	ok(err_code(last()) == RPC_INVALID_REQUEST && json_is_null(json_object_get(last(), "id")), "id null is -32600");
	send_text(c, "{\"id\":1,\"method\":\"echo\"}");
	ok(err_code(last()) == RPC_INVALID_REQUEST, "missing jsonrpc is -32600");
	send_text(c, "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}");
	ok(err_code(last()) == RPC_INVALID_REQUEST, "jsonrpc 1.0 is -32600");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":7}");
	ok(err_code(last()) == RPC_INVALID_REQUEST, "non-string method is -32600");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\",\"params\":5}");
	ok(err_code(last()) == RPC_INVALID_REQUEST, "scalar params is -32600");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"nope\"}");
	ok(err_code(last()) == RPC_METHOD_NOT_FOUND && json_integer_value(json_object_get(last(), "id")) == 4, "unknown method is -32601 with the id");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":5,");
	ok(err_code(last()) == RPC_PARSE_ERROR && json_is_null(json_object_get(last(), "id")), "truncated JSON is -32700 with id null");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"id\":7,\"method\":\"echo\"}");
	ok(err_code(last()) == RPC_PARSE_ERROR, "duplicate keys are a parse error");
	send_text(c, "\"just a string\"");
	ok(err_code(last()) == RPC_INVALID_REQUEST, "a bare string is -32600");
	send_text(c, "[]");
	ok(err_code(last()) == RPC_INVALID_REQUEST && json_is_object(last()), "empty batch is one -32600 object");

	/* notifications are never answered */
	size_t before = json_array_size(sent);
	send_text(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}");
	ok(json_array_size(sent) == before && notes == 2, "notifications reach the app and get no answer");
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
	ok(json_array_size(sent) == before, "a response from the client gets no answer");

	/* batches: one array, no entries for notifications */
	send_text(c, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"},"
		     "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
		     "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"nope\"},5]");
	m = last();
	ok(json_is_array(m) && json_array_size(m) == 3, "batch answered with one array of 3 (notification skipped)");
	before = json_array_size(sent);
	send_text(c, "[{\"jsonrpc\":\"2.0\",\"method\":\"n\"}]");
	ok(json_array_size(sent) == before, "batch of notifications only: no answer at all");

	/* batch members finish independently; the array goes when the last does */
	nheld = 0;
	before = json_array_size(sent);
	send_text(c, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"hold\"},{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"hold\"}]");
	ok(nheld == 2 && json_array_size(sent) == before && srv_conn_inflight(c) == 2, "held batch: nothing sent yet, 2 in flight");
	srv_req_result(held[1], json_string("second"));
	ok(json_array_size(sent) == before, "batch not sent while a member runs");
	srv_req_result(held[0], json_string("first"));
	m = last();
	ok(json_is_array(m) && json_array_size(m) == 2 && srv_conn_inflight(c) == 0, "batch sent once both finished");

	/* cancellation: hook runs, no answer is sent */
	nheld = 0;
	cancels = 0;
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"hold\"}");
	json_t *xid = json_string("x");
	struct srv_req *r = srv_conn_find(c, xid);
	json_t *xint = json_integer(0);
	ok(r == held[0] && srv_conn_find(c, xint) == NULL, "find by id respects the id's type");
	json_decref(xid);
	json_decref(xint);
	before = json_array_size(sent);
	srv_req_cancel(r);
	srv_req_cancel(r);
	ok(cancels == 1, "cancel hook runs exactly once");
	srv_req_result(r, json_string("late"));
	ok(json_array_size(sent) == before, "no response for a cancelled request");

	/* progress: only with a token, strictly increasing, token type kept */
	nheld = 0;
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"hold\",\"params\":{\"_meta\":{\"progressToken\":\"tok\"}}}");
	srv_req_progress(held[0], 1, 0, "one");
	m = last();
	ok(!strcmp(json_string_value(json_object_get(m, "method")), "notifications/progress") &&
	   !strcmp(json_string_value(json_object_get(json_object_get(m, "params"), "progressToken")), "tok"),
	   "progress notification carries the string token");
	srv_req_progress(held[0], 1, 0, "again");
	ok(json_number_value(json_object_get(json_object_get(last(), "params"), "progress")) > 1, "progress never repeats a value");
	srv_req_result(held[0], json_object());
	nheld = 0;
	before = json_array_size(sent);
	send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"hold\"}");
	srv_req_progress(held[0], 1, 0, "x");
	ok(json_array_size(sent) == before, "no progress without a token");

	/* contexts: every text is done exactly once, answers travel with their context */
	static char c1[] = "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}";
	static char c2[] = "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"hold\",\"params\":{\"_meta\":{\"progressToken\":1}}}";
	static char c3[] = "{\"jsonrpc\":\"2.0\",\"id\":31,\"method\":\"hold\"}";
	dones = 0;
	srv_conn_receive(c, c1, strlen(c1), c1);
	ok(dones == 1 && last_ctx == c1, "a notification's text is done at once");
	int base = nheld;
	srv_conn_receive(c, c2, strlen(c2), c2);
	srv_conn_receive(c, c3, strlen(c3), c3);
	ok(dones == 1, "held requests: not done yet");
	srv_req_progress(held[base], 1, 0, NULL);
	ok(send_ctx == c2, "progress travels with its request's context");
	srv_req_result(held[base], json_object());
	ok(send_ctx == c2 && dones == 2 && last_ctx == c2, "answer then done, both with the request's context");
	before = json_array_size(sent);
	srv_req_cancel(held[base + 1]);
	srv_req_result(held[base + 1], json_object());
	ok(json_array_size(sent) == before && dones == 3 && last_ctx == c3, "cancelled: done without an answer");
	static char c4[] = "{oops";
	srv_conn_receive(c, c4, strlen(c4), c4);
	ok(send_ctx == c4 && dones == 4 && last_ctx == c4, "parse error answered and done with its context");

	/* closing cancels what runs; the connection is freed after the last finishes */
	cancels = 0;
	srv_conn_close(c);
	ok(cancels == 1 && closed_calls == 1 && released == 0, "close cancels in-flight requests, waits for them");
	srv_req_result(held[0], json_object());
	ok(released == 1, "connection released after its last request finished");

	json_decref(sent);

	/* large results are written off the loop (an offload runner), into the transport's own buffer */
	{
		bsent = json_array();
		released = 0;
		srv_offload_set(fake_offload);
		c = srv_conn_new(&app, &buf_tp, NULL, "tester");
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}");
		ok(json_array_size(bsent) == 1 && njobs == 0 && headroom_clean == 1,
		   "a small answer goes at once, through send_buf, after zeroed headroom");
		nheld = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"hold\"}");
		srv_req_result(held[0], big_result(300000));
		ok(json_array_size(bsent) == 1 && njobs == 1 && srv_conn_inflight(c) == 1,
		   "a 300 KB result: nothing sent, its text is written off the loop, still in flight");
		ok(!strcmp(job_principal, "tester"), "... in its connection's principal's turn");
		run_jobs();
		m = json_array_get(bsent, 1);
		ok(m && json_integer_value(json_object_get(m, "id")) == 2 &&
		   json_string_length(json_object_get(json_array_get(json_object_get(json_object_get(m, "result"), "content"), 0), "text")) == 300000 &&
		   srv_conn_inflight(c) == 0 && headroom_clean == 2,
		   "then answered whole with its id, and finished");

		/* a batch mixing a large and a small answer */
		nheld = 0;
		send_text(c, "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"hold\"},{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"echo\"}]");
		srv_req_result(held[0], big_result(400000));
		ok(json_array_size(bsent) == 2, "batch: not sent while its large member is being written");
		run_jobs();
		m = json_array_get(bsent, 2);
		ok(json_is_array(m) && json_array_size(m) == 2 &&
		   json_integer_value(json_object_get(json_array_get(m, 0), "id")) == 4 &&
		   json_integer_value(json_object_get(json_array_get(m, 1), "id")) == 3, "batch: one array of both answers");

		/* cancelled while its text is written: no answer, and the tool's cancel hook is not called */
		nheld = 0;
		cancels = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"hold\"}");
		srv_req_result(held[0], big_result(300000));
		json_t *id5 = json_integer(5);
		struct srv_req *r5 = srv_conn_find(c, id5);
		json_decref(id5);
		ok(r5 != NULL, "a request whose answer is being written can still be found (cancelled)");
		srv_req_cancel(r5);
		run_jobs();
		ok(json_array_size(bsent) == 3 && cancels == 0 && srv_conn_inflight(c) == 0,
		   "cancelled meanwhile: no answer, no call to the finished work's hook");

		/* closed meanwhile: freed only once the text is back */
		nheld = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"hold\"}");
		srv_req_result(held[0], big_result(300000));
		srv_conn_close(c);
		ok(released == 0, "closed while an answer is written: not released yet");
		run_jobs();
		ok(released == 1 && json_array_size(bsent) == 3, "released when it is back, nothing sent");

		/* a large result that shares an object with state the loop keeps is written at once */
		released = 0;
		c = srv_conn_new(&app, &buf_tp, NULL, "tester");
		nheld = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"hold\"}");
		json_t *kept = big_result(300000);
		srv_req_result(held[0], json_incref(kept));
		ok(njobs == 0 && json_array_size(bsent) == 4 && srv_conn_inflight(c) == 0,
		   "a large result sharing an object: answered at once on the loop, not off it");
		json_decref(kept);
		srv_conn_close(c);

		/* answers past the connection's max_answer: replaced, on the loop and off it */
		c = srv_conn_new(&app, &buf_tp, NULL, "tester");
		srv_conn_set_max_answer(c, 200000);
		nheld = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"hold\"}");
		srv_req_result(held[0], big_result(300000));
		run_jobs();
		m = json_array_get(bsent, json_array_size(bsent) - 1);
		ok(m && json_integer_value(json_object_get(m, "id")) == 8 && err_code(m) == RPC_INTERNAL_ERROR &&
		   strstr(json_string_value(json_object_get(json_object_get(m, "error"), "message")), "(200000)") &&
		   srv_conn_inflight(c) == 0, "max_answer: a 300 KB answer written off the loop becomes an error naming the bound");
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\",\"params\":{\"a\":1}}");
		m = json_array_get(bsent, json_array_size(bsent) - 1);
		ok(m && json_integer_value(json_object_get(m, "id")) == 9 && json_object_get(m, "result"),
		   "max_answer: an answer under it goes as it is");
		srv_conn_set_max_answer(c, 20);
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"echo\",\"params\":{\"a\":1}}");
		m = json_array_get(bsent, json_array_size(bsent) - 1);
		ok(m && json_integer_value(json_object_get(m, "id")) == 10 && err_code(m) == RPC_INTERNAL_ERROR,
		   "max_answer: an answer written on the loop is replaced too");
		srv_conn_close(c);
		c = srv_conn_new(&oversize_app, &buf_tp, NULL, "tester");
		srv_conn_set_max_answer(c, 200000);
		nheld = 0;
		send_text(c, "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"hold\"}");
		srv_req_result(held[0], big_result(300000));
		run_jobs();
		m = json_array_get(bsent, json_array_size(bsent) - 1);
		ok(m && json_integer_value(json_object_get(m, "id")) == 11 &&
		   json_integer_value(json_object_get(json_object_get(m, "result"), "len")) > 300000 &&
		   !strcmp(json_string_value(json_object_get(json_object_get(m, "result"), "method")), "hold"),
		   "max_answer: the app's oversize hook gives the result sent instead (with the method and length)");
		srv_conn_close(c);

		/* a large text is parsed off the loop; later texts (small ones too) wait and are handled in order */
		sent = json_array();
		released = 0;
		c = srv_conn_new(&app, &fake_tp, NULL, "tester");
		char *big1 = big_text(1, "nope", 300000);
		static char small2[] = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}";
		static char note3[] = "{\"jsonrpc\":\"2.0\",\"method\":\"n\"}";
		dones = 0;
		notes = 0;
		char *tbuf = strdup(big1);
		srv_conn_receive(c, tbuf, strlen(tbuf), big1);
		memset(tbuf, 'x', strlen(tbuf)); /* the transport frees its buffer: the engine kept a copy */
		free(tbuf);
		srv_conn_receive(c, small2, strlen(small2), small2);
		srv_conn_receive(c, note3, strlen(note3), note3);
		ok(njobs == 1 && json_array_size(sent) == 0 && dones == 0 && notes == 0 && srv_conn_inflight(c) == 3,
		   "a 300 KB text goes to the runner; a small request and a notification after it wait (in flight: 3)");
		run_jobs();
		ok(json_array_size(sent) == 2 && json_integer_value(json_object_get(json_array_get(sent, 0), "id")) == 1 &&
		   err_code(json_array_get(sent, 0)) == RPC_METHOD_NOT_FOUND &&
		   json_integer_value(json_object_get(json_array_get(sent, 1), "id")) == 2 && notes == 1,
		   "parsed: the large text is answered first, then the small one, then the notification is seen");
		ok(dones == 3 && done_ctx[0] == big1 && done_ctx[1] == small2 && done_ctx[2] == note3 &&
		   srv_conn_inflight(c) == 0, "each text is done once, in arrival order, with its context");

		/* a large text that is not JSON: the parse error comes back from the thread */
		char *bad = strdup(big1);
		bad[strlen(bad) - 1] = '{';
		srv_conn_receive(c, bad, strlen(bad), big1);
		free(bad);
		run_jobs();
		ok(json_array_size(sent) == 3 && err_code(json_array_get(sent, 2)) == RPC_PARSE_ERROR && dones == 4 &&
		   last_ctx == big1, "a large text that does not parse: -32700, done");

		/* too much waiting behind a large text: refused whole, at once */
		char *big2 = big_text(4, "nope", 300000);
		srv_conn_receive(c, big2, strlen(big2), big2);
		for (int i = 0; i < SRV_WAIT_TEXTS - 1; i++)
			srv_conn_receive(c, small2, strlen(small2), small2);
		ok(json_array_size(sent) == 3 && srv_conn_inflight(c) == SRV_WAIT_TEXTS, "texts wait up to SRV_WAIT_TEXTS");
		srv_conn_receive(c, note3, strlen(note3), note3);
		m = last();
		ok(json_array_size(sent) == 4 && err_code(m) == -32000 && json_is_null(json_object_get(m, "id")) &&
		   last_ctx == note3 && srv_conn_inflight(c) == SRV_WAIT_TEXTS, "one more is refused at once with -32000, done");
		run_jobs();
		ok(json_array_size(sent) == 4 + SRV_WAIT_TEXTS && srv_conn_inflight(c) == 0,
		   "then the waiting ones are all answered");
		free(big2);

		/* closed while a large text is parsed: freed once it is back; nothing is answered or done after */
		dones = 0;
		srv_conn_receive(c, big1, strlen(big1), big1);
		srv_conn_receive(c, small2, strlen(small2), small2);
		size_t nsent = json_array_size(sent);
		srv_conn_close(c);
		ok(released == 0 && njobs == 1, "closed while a text is parsed: not released yet");
		run_jobs();
		ok(released == 1 && json_array_size(sent) == nsent && dones == 0,
		   "released once the parse is back; no answer, no done (the transport finishes its contexts)");

		/* without a runner a large text is handled at once, as before */
		srv_offload_set(NULL);
		released = 0;
		c = srv_conn_new(&app, &fake_tp, NULL, "tester");
		srv_conn_receive(c, big1, strlen(big1), big1);
		ok(njobs == 0 && json_array_size(sent) == nsent + 1 && dones == 1 && srv_conn_inflight(c) == 0,
		   "no runner: a large text is parsed and answered before receive returns");
		srv_conn_close(c);
		ok(released == 1, "and the connection is released at close");
		free(big1);
		json_decref(sent);
		json_decref(bsent);

		json_t *small = json_pack("{s:s, s:[i,i]}", "a", "bc", "n", 1, 2), *big = big_result(300000);
		ok(!srv_json_size_reaches(small, 1000) && srv_json_size_reaches(big, 256 << 10) &&
		   !srv_json_size_reaches(big, 400000), "srv_json_size_reaches: counts the strings, stops at the limit");
		json_decref(small);
		json_decref(big);
	}

	/* srv_json_text: valid text as it is, each invalid byte or NUL as U+FFFD, wherever it falls in 8-byte runs */
	{
		struct { const char *in; size_t len; const char *want; } cases[] = {
			{ "", 0, "" },
			{ "abcdefghijklmnopqrstuvwxyz", 26, "abcdefghijklmnopqrstuvwxyz" },
			{ "abcdefg\0ijklmnop", 16, "abcdefg\xef\xbf\xbdijklmnop" },
			{ "abcdefghijklmno\0", 16, "abcdefghijklmno\xef\xbf\xbd" },
			{ "\0bcdefghij", 10, "\xef\xbf\xbd" "bcdefghij" },
			{ "abcdefgh\xc3\xa9ijklmnopq\xffrs", 22, "abcdefgh\xc3\xa9ijklmnopq\xef\xbf\xbdrs" },
			{ "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac" },
			{ "abcdefg\xe2\x82", 9, "abcdefg\xef\xbf\xbd\xef\xbf\xbd" },
			{ "\x01\x02\x7f abcdefgh", 12, "\x01\x02\x7f abcdefgh" },
		};
		int bad = -1;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && bad < 0; i++) {
			json_t *t = srv_json_text(cases[i].in, cases[i].len);
			if (!t || json_string_length(t) != strlen(cases[i].want) ||
			    memcmp(json_string_value(t), cases[i].want, strlen(cases[i].want)))
				bad = (int)i;
			json_decref(t);
		}
		ok(bad < 0, "srv_json_text: ASCII runs, NULs and bad bytes at every place (case %d differs)", bad);
	}

	/* json_out: compact output identical to jansson's */
	{
		char ctl[40];
		for (int i = 0; i < 32; i++)
			ctl[i] = (char)(i + 1 < 32 ? i + 1 : 'x');
		ctl[32] = '"';
		ctl[33] = '\\';
		ctl[34] = '/';
		ctl[35] = 0;
		json_out_matches("control characters, quote, backslash, slash", json_string(ctl));
		json_out_matches("UTF-8 (2, 3 and 4 byte sequences) stays raw", json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
		json_out_matches("an embedded NUL", json_stringn("a\0b", 3));
		json_out_matches("nested containers, empty ones, key order",
				 json_pack("{s:[], s:{}, s:[i,{s:n,s:b,s:b}], s:s, s:I}", "z", "a", "m", 1, "k", "t", 1, "f", 0,
					   "\n\"key\"", "v", "big", (json_int_t)-9007199254740993LL));
		json_out_writes("reals with the fewest digits that read back exactly",
				json_pack("[f,f,f,f,f,f,f,f]", 0.6666666666666666, 1.0, -0.0, 1e300, 3.5e-7, 0.05, 7.906, 0.1 + 0.2),
				"[0.6666666666666666,1.0,-0.0,1e+300,3.5e-07,0.05,7.906,0.30000000000000004]");
		json_out_matches("a bare scalar", json_integer(42));
		size_t n = 300000;
		char *big = malloc(n);
		for (size_t i = 0; i < n; i++)
			big[i] = "ABCabc012+/="[i % 12];
		json_out_matches("a 300 KB base64-like string", json_pack("{s:s%}", "data", big, n));
		free(big);
	}
	return tap_done();
}
