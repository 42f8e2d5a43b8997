/*
 * server/rest/fastapi_req.c — a route's request body read as FastAPI does
 * (fastapi.h, fastapi_req_body), with the refusals that read a large body
 * whole worked out off the loop: scanning 64 MiB for Python's error position
 * takes about 130 ms that every other client would wait for.
 */
#include "fastapi.h"
#include "../base/common.h"
#include "../base/offload.h"
#include "../../transport/http.h"

#include <string.h>

#include "../base/banned.h"

/* A refusal worked out off the loop: what work reads, and what it made. */
struct refusal {
	struct tp_req *r;
	const char *text;		/* r's body: r stays until answered */
	size_t len;
	char ctype[256];
	bool has_ctype;
	const struct fastapi_field *model;
	int status;
	json_t *error;
};

static void refusal_work(void *arg)
{
	struct refusal *f = arg;
	json_t *out = NULL;

	f->status = fastapi_body_parsed(f->has_ctype ? f->ctype : NULL, f->text, f->len, NULL, f->model, &out,
					&f->error);
	/* fastapi_refusal_reads_body said it is refused; a value would be a bug here, never an answer */
	json_decref(out);
	if (!f->status) {
		f->status = 400;
		f->error = fastapi_detail("There was an error parsing the body");
	}
}

static void refusal_done(void *arg)
{
	struct refusal *f = arg;

	tp_req_json(f->r, f->status, f->error);
	free(f);
}

json_t *fastapi_req_body(struct tp_req *r, const struct fastapi_field *model)
{
	char ctype[256];
	size_t len;
	const char *text = tp_req_body(r, &len);
	bool has_ctype = tp_req_header(r, "content-type", ctype, sizeof(ctype)) == 0;
	json_t *parsed = tp_req_body_json(r, JSON_DECODE_ANY | TP_JSON_AFTER_BOM, NULL);
	json_t *out = NULL, *error = NULL;

	if (len >= SRV_OFFLOAD_MIN && fastapi_refusal_reads_body(has_ctype ? ctype : NULL, len, parsed)) {
		struct refusal *f = xcalloc(1, sizeof(*f));
		f->r = r;
		f->text = text;
		f->len = len;
		f->has_ctype = has_ctype;
		if (has_ctype)
			memcpy(f->ctype, ctype, sizeof(ctype));
		f->model = model;
		json_decref(parsed);
		tp_req_offload(r, refusal_work, refusal_done, f);
		return NULL;
	}
	int status = fastapi_body_parsed(has_ctype ? ctype : NULL, text, len, parsed, model, &out, &error);
	json_decref(parsed);
	if (status) {
		tp_req_json(r, status, error);
		return NULL;
	}
	return out;
}
