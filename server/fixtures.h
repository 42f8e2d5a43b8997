/**
 * fixtures.h — the fixture catalog of `serve --fixtures conformance`: the
 * resources, resource template, prompts and completions that the official
 * MCP conformance suite asks for by name. Off by default; when on, the MCP
 * layer advertises resources, prompts and completions and routes their
 * methods here. (The fixture tools live in tools/fixtures.c.)
 * Loop thread only.
 */
#ifndef MCPBOX_FIXTURES_H
#define MCPBOX_FIXTURES_H

#include <jansson.h>

#include "rpc.h"

/** A 1x1 red PNG and a short WAV, base64 (shared with the fixture tools). */
extern const char fixture_png_b64[];
extern const char fixture_wav_b64[];

/** resources/list, resources/templates/list, resources/read, resources/(un)subscribe. */
void fixtures_resources(struct srv_req *r, const char *method, json_t *params);
/** prompts/list, prompts/get. */
void fixtures_prompts(struct srv_req *r, const char *method, json_t *params);
/** completion/complete. */
void fixtures_complete(struct srv_req *r, json_t *params);

#endif
