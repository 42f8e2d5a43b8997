/* JWTs (server/jwt.c) and password hashing (server/users.c). */
#include "server/jwt.h"
#include "server/users.h"
#include "server/base/buf.h"
#include "tap.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>

static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[32] = "fedcba9876543210fedcba9876543210";
#define ISS "mcpbox:test"
#define NOW 1800000000

static char *sign(const unsigned char *key, int64_t iat, int64_t nbf, int64_t exp, const char *iss)
{
	struct srv_jwt_claims c = { .sub = "alice", .role = "user", .iat = iat, .nbf = nbf, .exp = exp };
	return srv_jwt_sign(key, 32, iss, &c);
}

static enum srv_jwt_status check(const char *tok, struct srv_jwt_claims *c)
{
	return srv_jwt_verify(secret, sizeof(secret), ISS, tok, NOW, c);
}

/* A token with any header and payload, signed (HS256) with key, or with sig as given. */
static char *forge(const char *header, const char *payload, const unsigned char *key, const char *sig)
{
	struct buf b = BUF_INIT;
	unsigned char m[32];
	unsigned int n = 0;

	srv_jwt_b64url(&b, header, strlen(header));
	buf_add(&b, ".", 1);
	srv_jwt_b64url(&b, payload, strlen(payload));
	HMAC(EVP_sha256(), key, 32, (const unsigned char *)b.data, b.len, m, &n);
	buf_add(&b, ".", 1);
	if (sig)
		buf_adds(&b, sig);
	else
		srv_jwt_b64url(&b, (const char *)m, 32);
	return buf_detach(&b);
}

#define PAYLOAD "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"role\":\"user\",\"iat\":1800000000,\"exp\":1800003600}"

int main(void)
{
	struct srv_jwt_claims c;
	char *t;

	t = sign(secret, NOW, NOW, NOW + 3600, ISS);
	ok(t && strlen(t) <= SRV_JWT_MAX && srv_jwt_shaped(t), "a token is made");
	ok(check(t, &c) == SRV_JWT_OK, "a good token is accepted");
	is_str(c.sub, "alice", "its sub");
	is_str(c.role, "user", "its role");
	ok(c.exp == NOW + 3600 && c.iat == NOW, "its times");
	ok(srv_jwt_verify(other, 32, ISS, t, NOW, &c) == SRV_JWT_BAD_SIGNATURE, "another secret: refused");
	ok(srv_jwt_verify(secret, 32, "mcpbox:other", t, NOW, &c) == SRV_JWT_BAD_ISSUER, "wrong issuer: refused");
	ok(srv_jwt_verify(secret, 32, ISS, t, NOW + 3600 + SRV_JWT_SKEW_S, &c) == SRV_JWT_EXPIRED, "expired: refused");
	ok(srv_jwt_verify(secret, 32, ISS, t, NOW + 3600 + SRV_JWT_SKEW_S - 1, &c) == SRV_JWT_OK, "within the skew: ok");

	/* tampered payload: one character of the payload changed, signature kept */
	char *dot = strchr(t, '.') + 5;
	*dot = *dot == 'A' ? 'B' : 'A';
	ok(check(t, &c) == SRV_JWT_BAD_SIGNATURE, "tampered payload: refused");
	*dot = *dot == 'A' ? 'B' : 'A';
	char *last = t + strlen(t) - 2;
	*last = *last == 'A' ? 'B' : 'A';
	ok(check(t, &c) == SRV_JWT_BAD_SIGNATURE, "tampered signature: refused");
	/* the last character carries 2 spare bits: changing only them is not a second encoding we accept */
	*last = *last == 'A' ? 'B' : 'A';
	t[strlen(t) - 1] ^= 1;
	ok(check(t, &c) != SRV_JWT_OK, "non-canonical base64url: refused");
	free(t);

	t = sign(secret, NOW, NOW + 120, NOW + 3600, ISS);
	ok(check(t, &c) == SRV_JWT_NOT_YET_VALID, "nbf in the future: refused");
	free(t);
	t = sign(secret, NOW + 120, NOW, NOW + 3600, ISS);
	ok(check(t, &c) == SRV_JWT_NOT_YET_VALID, "iat in the future: refused");
	free(t);
	t = sign(secret, NOW - 7200, NOW - 7200, NOW - 3600, ISS);
	ok(check(t, &c) == SRV_JWT_EXPIRED, "expired an hour ago: refused");
	free(t);
	t = sign(other, NOW, NOW, NOW + 3600, ISS);
	ok(check(t, &c) == SRV_JWT_BAD_SIGNATURE, "signed with another secret: refused");
	free(t);

	t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", PAYLOAD, secret, "");
	ok(check(t, &c) != SRV_JWT_OK, "alg none without a signature: refused");
	free(t);
	t = forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", PAYLOAD, secret, NULL);
	ok(check(t, &c) == SRV_JWT_BAD_ALG, "alg none even with a valid MAC: refused");
	free(t);
	t = forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", PAYLOAD, secret, NULL);
	ok(check(t, &c) == SRV_JWT_BAD_ALG, "alg HS512: refused");
	free(t);
	t = forge("{\"alg\":\"HS256\",\"kid\":\"../x\"}", PAYLOAD, secret, NULL);
	ok(check(t, &c) == SRV_JWT_MALFORMED, "unknown header field: refused");
	free(t);
	t = forge("{\"alg\":\"HS256\",\"alg\":\"none\"}", PAYLOAD, secret, NULL);
	ok(check(t, &c) != SRV_JWT_OK, "duplicate header field: refused");
	free(t);
	t = forge("{\"alg\":\"HS256\"}", PAYLOAD, secret, NULL);
	ok(check(t, &c) == SRV_JWT_OK, "a hand-made HS256 token with a valid MAC: accepted (the test forges right)");
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"role\":\"user\",\"iat\":1800000000}",
		  secret, NULL);
	ok(check(t, &c) == SRV_JWT_MALFORMED, "no exp: refused");
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"role\":\"user\",\"iat\":1800000000,"
		  "\"exp\":1.8e9}", secret, NULL);
	ok(check(t, &c) == SRV_JWT_MALFORMED, "a non-integer exp: refused");
	free(t);
	t = forge("{\"alg\":\"HS256\"}", "[1,2,3]", secret, NULL);
	ok(check(t, &c) == SRV_JWT_MALFORMED, "a payload that is not an object: refused");
	free(t);

	const char *garbage[] = { "", ".", "..", "a.b.c", "a.b", "a.b.c.d", "eyJ.eyJ.", "====.====.====",
				  "eyJhbGciOiJIUzI1NiJ9.e30.!!!!", "\xff\xfe.\x01.\x02" };
	for (size_t i = 0; i < sizeof(garbage) / sizeof(*garbage); i++)
		ok(check(garbage[i], &c) != SRV_JWT_OK, "garbage %zu: refused", i);
	ok(check(NULL, &c) == SRV_JWT_MALFORMED, "NULL: refused");
	struct buf big = BUF_INIT;
	buf_adds(&big, "eyJhbGciOiJIUzI1NiJ9.");
	for (int i = 0; i < 2000; i++)
		buf_adds(&big, "A");
	buf_adds(&big, ".AAAA");
	ok(check(big.data, &c) == SRV_JWT_MALFORMED && !srv_jwt_shaped(big.data), "oversized: refused");
	buf_release(&big);

	/* the cost a request pays (printed; a TAP comment) */
	t = sign(secret, NOW, NOW, NOW + 3600, ISS);
	struct timespec a, b;
	int good = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 20000; i++)
		good += check(t, &c) == SRV_JWT_OK;
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# jwt verify: %.2f us per token\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 20000 / 1e3);
	ok(good == 20000, "the timed verifications all passed");
	free(t);

	/* passwords */
	char hash[SRV_USER_HASH_MAX];
	struct err *e = NULL;
	ok(srv_user_hash_password("correct horse", 13, hash, &e) == 0, "a password is hashed");
	ok(!strncmp(hash, "$argon2id$", 10), "with argon2id: %.30s", hash);
	ok(srv_user_password_ok(hash, "correct horse", 13), "the right password matches");
	ok(!srv_user_password_ok(hash, "correct horsE", 13), "a wrong one does not");
	ok(!srv_user_password_ok(hash, "correct hors", 12), "nor a prefix");
	char hash2[SRV_USER_HASH_MAX];
	ok(srv_user_hash_password("correct horse", 13, hash2, &e) == 0 && strcmp(hash, hash2), "salted: two hashes differ");
	ok(!srv_user_password_ok("not a hash", "correct horse", 13), "a malformed hash matches nothing");
	ok(srv_user_hash_password("short", 5, hash, &e) < 0 && e && e->cls == ERR_INVALID, "too short: refused");
	err_free(e);
	ok(srv_user_role_valid("super_admin") && !srv_user_role_valid("root"), "roles");
	return tap_done();
}
