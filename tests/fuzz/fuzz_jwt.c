/*
 * libFuzzer target: the login token verifier (server/jwt.c). Two kinds of
 * input, by the first byte:
 *  - even: the rest is a token (any bytes up to a NUL). Nothing crashes or
 *    reads out of bounds, and nothing is accepted: the fuzzer does not know
 *    the secret, so an accepted token means a broken signature check.
 *  - odd: the rest is a header and a payload (split at the first NUL) that
 *    this harness encodes and signs with the secret, so the JSON checks
 *    behind the signature see arbitrary bytes. An accepted token must have
 *    said alg HS256 and carry bounded, NUL-terminated claims with exp in the
 *    future (within the skew).
 */
#include "server/jwt.h"
#include "server/base/buf.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const unsigned char secret[32] = "fuzz-secret-fuzz-secret-fuzz-sec";
#define ISS "mcpbox:fuzz"
#define NOW 1800000000

static void signed_case(const unsigned char *data, size_t size)
{
	const unsigned char *nul = memchr(data, 0, size);
	size_t hn = nul ? (size_t)(nul - data) : size, pn = nul ? size - hn - 1 : 0;
	struct buf b = BUF_INIT;
	unsigned char mac[32];
	unsigned int mn = 0;
	struct srv_jwt_claims c;

	srv_jwt_b64url(&b, data, hn);
	buf_add(&b, ".", 1);
	srv_jwt_b64url(&b, nul ? nul + 1 : data + size, pn);
	HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)b.data, b.len, mac, &mn);
	buf_add(&b, ".", 1);
	srv_jwt_b64url(&b, mac, sizeof(mac));
	char *tok = buf_detach(&b);
	if (srv_jwt_verify(secret, sizeof(secret), ISS, tok, NOW, &c) == SRV_JWT_OK) {
		if (!memmem(data, hn, "HS256", 5))
			abort();
		if (strnlen(c.sub, sizeof(c.sub)) == sizeof(c.sub) || strnlen(c.role, sizeof(c.role)) == sizeof(c.role) ||
		    !c.sub[0] || !c.role[0] || NOW >= c.exp + SRV_JWT_SKEW_S || c.nbf > NOW + SRV_JWT_SKEW_S)
			abort();
	}
	free(tok);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct srv_jwt_claims c;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		signed_case(data + 1, size - 1);
		return 0;
	}
	char *in = malloc(size);
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';
	if (srv_jwt_verify(secret, sizeof(secret), ISS, in, NOW, &c) == SRV_JWT_OK)
		abort();	/* forging an HMAC-SHA256 by chance: a broken verifier */
	free(in);
	return 0;
}
