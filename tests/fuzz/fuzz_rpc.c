/*
 * libFuzzer target: arbitrary bytes into the JSON-RPC engine, as a client
 * would send them. The fake application answers some requests at once,
 * holds others and finishes them later, cancels some, and sends progress,
 * so the batch/cancel/done bookkeeping is exercised, not just the parser.
 * Invariants: no crash, no leak (ASan), every text is done exactly once,
 * and every message sent is valid JSON that writes back to the same bytes.
 */
#include "server/base/json_out.h"
#include "server/base/rpc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct srv_req *held[64];
static int nheld, texts, dones;

static void fz_send(void *tp, void *ctx, const char *json, size_t len, bool answer)
{
	json_t *v = json_loadb(json, len, 0, NULL);
	if (!v)
		abort(); /* the engine must only emit JSON */
	/* and writing what it reads back gives the same text (reals read back exactly) */
	char *again = srv_json_dumps(v);
	if (!again || strlen(again) != len || memcmp(again, json, len))
		abort();
	free(again);
	json_decref(v);
}

static void fz_done(void *tp, void *ctx)
{
	dones++;
}

static const struct tp_ops ops = { .name = "fuzz", .send = fz_send, .done = fz_done };

static void fz_request(struct srv_req *r, const char *method, json_t *params)
{
	size_t n = strlen(method);
	if (n % 3 == 0 && nheld < 64) {
		held[nheld++] = r;
		srv_req_progress(r, 1, 0, method);
	} else if (n % 3 == 1) {
		srv_req_result(r, json_pack("{s:O?}", "echo", params));
	} else {
		srv_req_error(r, RPC_METHOD_NOT_FOUND, "no %s", method);
	}
}

static void fz_note(struct srv_conn *c, const char *method, json_t *params)
{
	if (!strcmp(method, "notifications/cancelled")) {
		struct srv_req *r = srv_conn_find(c, json_object_get(params, "requestId"));
		if (r)
			srv_req_cancel(r);
	}
}

static const struct srv_app app = { fz_request, fz_note, NULL, NULL, NULL };

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct srv_conn *c = srv_conn_new(&app, &ops, NULL, "fuzz");
	size_t start = 0;

	nheld = texts = dones = 0;
	/* one text per line, like stdio */
	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			srv_conn_receive(c, (const char *)data + start, i - start, NULL);
			texts++;
			start = i + 1;
		}
	}
	for (int i = 0; i < nheld; i++)
		srv_req_result(held[i], json_object());
	if (dones != texts)
		abort(); /* every text is done exactly once */
	nheld = 0;
	srv_conn_close(c);
	return 0;
}
