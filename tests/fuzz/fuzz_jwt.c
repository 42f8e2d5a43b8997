/*
 * libFuzzer target: the login token verifier (server/jwt.c). Input: a token
 * (any bytes up to the first NUL). Invariants: nothing crashes or reads out
 * of bounds; a token is accepted only if it verifies, and then its claims are
 * NUL-terminated within their bounds; a token the fuzzer did not sign with
 * the secret is never accepted (the secret is not in the input), and a token
 * signed here round-trips.
 */
#include "server/jwt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const unsigned char secret[32] = "fuzz-secret-fuzz-secret-fuzz-sec";

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *in = malloc(size + 1);
	struct srv_jwt_claims c;

	memcpy(in, data, size);
	in[size] = '\0';
	if (srv_jwt_verify(secret, sizeof(secret), "mcpbox:fuzz", in, 1800000000, &c) == SRV_JWT_OK)
		abort();	/* forging an HMAC-SHA256 by chance: a broken verifier */
	/* the same bytes as claims: whatever is signed must verify with what went in */
	struct srv_jwt_claims s = { .iat = 1800000000, .nbf = 1800000000, .exp = 1800003600 };
	size_t n = size < SRV_JWT_SUB_MAX ? size : SRV_JWT_SUB_MAX;
	memcpy(s.sub, data, n);
	s.sub[strnlen(s.sub, n)] = '\0';
	snprintf(s.role, sizeof(s.role), "user");
	char *t = srv_jwt_sign(secret, sizeof(secret), "mcpbox:fuzz", &s);
	if (t) {
		enum srv_jwt_status st = srv_jwt_verify(secret, sizeof(secret), "mcpbox:fuzz", t, 1800000000, &c);
		if (s.sub[0] && (st != SRV_JWT_OK || strcmp(c.sub, s.sub)))
			abort();
		if (st == SRV_JWT_OK && (strnlen(c.sub, sizeof(c.sub)) == sizeof(c.sub) ||
					 strnlen(c.role, sizeof(c.role)) == sizeof(c.role)))
			abort();
		free(t);
	}
	free(in);
	return 0;
}
