/*
 * What the key rights add to a request (server/auth.c, server/base/rights.c): per tool call,
 * srv_auth_rights (the credential's rights by key id, from the verifier's cache, after the store's
 * generation check) and srv_rights_allow (the tool's capability and level on its session); beside
 * the peer every request already paid before rights existed, srv_auth_verify of a cached key (the
 * generation check, SHA-256 of the key, the cache lookup). Prints a markdown table: ns per call
 * (median and p99 of batches of 1,000 calls), all measured in the same run.
 */
#include "server/auth.h"
#include "server/base/common.h"
#include "tests/bench/bench_clock.h"
#include "server/base/rights.h"
#include "server/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1000
#define BATCHES 2000

static struct srv_auth *A;
static const char *KEY, *PRINCIPAL;
static struct srv_rights R;
static volatile int sink;

static void do_verify(void)
{
	struct srv_principal p;
	sink += srv_auth_verify(A, KEY, &p);
}

static void do_rights(void)
{
	struct srv_rights r;
	sink += srv_auth_rights(A, PRINCIPAL, &r);
}

static void do_rights_login(void)
{
	struct srv_rights r;
	sink += srv_auth_rights(A, "user:alice", &r);
}

static void do_allow(void)
{
	char why[200];
	sink += srv_rights_allow(&R, SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, "ses_000000000000000000000009", why, sizeof(why));
}

static void measure(const char *what, void (*fn)(void))
{
	static double per[BATCHES];

	for (int i = 0; i < BATCH; i++)
		fn();
	for (int b = 0; b < BATCHES; b++) {
		uint64_t a = bench_mono();
		for (int i = 0; i < BATCH; i++)
			fn();
		per[b] = (double)(bench_mono() - a) / BATCH;
	}
	qsort(per, BATCHES, sizeof(*per), bench_cmp);
	printf("| %s | %.0f | %.0f |\n", what, per[BATCHES / 2], per[BATCHES * 99 / 100]);
}

int main(void)
{
	char tmpl[] = "/tmp/mcpbox-keys-bench-XXXXXX", ps[SRV_PRINCIPAL_MAX], cmd[128];
	struct srv_store *st = NULL;
	struct err *e = NULL;
	struct srv_key_made m = { 0 };
	struct srv_key_spec spec = { .name = "bench" };
	struct srv_principal p;

	if (!mkdtemp(tmpl) || srv_store_open(&st, tmpl, &e) < 0) {
		fprintf(stderr, "keys_bench: %s\n", e ? err_text(e) : "mkdtemp");
		return 1;
	}
	A = srv_auth_new(st);
	/* a user's keys verify only while the user exists and is enabled */
	struct srv_user_row alice = { .name = "alice", .hash = "-", .role = "user", .created_at = 1 };
	if (srv_store_user_insert(st, &alice, &e) != 1) {
		fprintf(stderr, "keys_bench: cannot add user alice: %s\n", e ? err_text(e) : "exists");
		return 1;
	}
	/* a key of alice's limited to 10 sessions, the tenth at editor: the longest scan of grants */
	for (int i = 0; i < 10; i++) {
		char g[64];
		snprintf(g, sizeof(g), "ses_%024d:%s", i, i == 9 ? "editor" : "viewer");
		if (srv_rights_parse_grant(&spec.rights, g, &e) < 0)
			return 1;
	}
	if (srv_auth_key_make(A, "user:alice", &spec, NULL, NULL, &m, &e) < 0) {
		fprintf(stderr, "keys_bench: %s\n", err_text(e));
		return 1;
	}
	int v = srv_auth_verify(A, m.key, &p);
	if (v != 1 || srv_principal_format(&p, ps, sizeof(ps)) < 0 || !srv_auth_rights(A, ps, &R)) {
		fprintf(stderr, "keys_bench: the key does not verify (%d) or has no rights (%s)\n", v, v == 1 ? ps : "-");
		return 1;
	}
	KEY = m.key;
	PRINCIPAL = ps;
	printf("| per request (a cached key of alice's limited to 10 sessions) | ns median | ns p99 |\n|---|---|---|\n");
	measure("peer, paid before rights existed: `srv_auth_verify` (generation check, SHA-256, cache)", do_verify);
	measure("added per tool call: `srv_auth_rights` by key id (generation check, cache by id)", do_rights);
	measure("added per tool call: `srv_rights_allow` (capability, level on the 10th grant)", do_allow);
	measure("a login's or stdio's principal: `srv_auth_rights` without a key (no lookup)", do_rights_login);
	srv_key_made_release(&m);
	srv_auth_free(A);
	srv_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	return system(cmd) == 0 ? 0 : 1;
}
