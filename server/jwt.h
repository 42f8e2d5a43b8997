/**
 * jwt.h — the access tokens `POST /auth/login` issues: compact JWS (RFC
 * 7515/7519) signed with HMAC-SHA256 ("HS256") under a secret of this
 * server's. Pure functions: no store, no clock of their own (the caller
 * passes "now"), callable from any thread.
 *
 * A token is header.payload.signature, each unpadded base64url. The header
 * is exactly {"alg":"HS256","typ":"JWT"} (typ optional); the payload holds
 * iss, sub, role, iat, nbf and exp (seconds since the epoch), and jti (a
 * random id, so that two logins in one second get tokens a logout can tell
 * apart; not required when verifying).
 *
 * Verification treats the token as hostile input: at most SRV_JWT_MAX bytes,
 * strict base64url (no padding, no other characters, no stray bits), the
 * signature checked (constant time) before any JSON is parsed, JSON parsed by
 * jansson with duplicate keys refused and sizes bounded, alg exactly HS256,
 * iss equal to the issuer given, times checked with SRV_JWT_SKEW_S of skew.
 */
#ifndef MCPBOX_SRV_JWT_H
#define MCPBOX_SRV_JWT_H

#include <stddef.h>
#include <stdint.h>

/** Longest token accepted (and made), in bytes. */
#define SRV_JWT_MAX 1024
/** Clock skew allowed for exp, nbf and iat, in seconds. */
#define SRV_JWT_SKEW_S 30
/** Longest sub and role, in bytes. */
#define SRV_JWT_SUB_MAX 64
#define SRV_JWT_ROLE_MAX 16
#define SRV_JWT_JTI_MAX 32

struct srv_jwt_claims {
	char sub[SRV_JWT_SUB_MAX + 1];
	char role[SRV_JWT_ROLE_MAX + 1];
	char jti[SRV_JWT_JTI_MAX + 1];	/* signed when not empty; verify leaves it empty */
	int64_t iat, nbf, exp;
};

/** Why a token was refused (SRV_JWT_OK: it was not). */
enum srv_jwt_status {
	SRV_JWT_OK = 0,
	SRV_JWT_MALFORMED,	/* not three strict base64url parts, too long, bad JSON, missing claims */
	SRV_JWT_BAD_SIGNATURE,	/* not signed with this secret (or altered) */
	SRV_JWT_BAD_ALG,	/* a header other than HS256 */
	SRV_JWT_BAD_ISSUER,
	SRV_JWT_EXPIRED,
	SRV_JWT_NOT_YET_VALID,	/* nbf or iat in the future */
};

/** A short English name of a status ("expired"), for logs and tests. */
const char *srv_jwt_status_name(enum srv_jwt_status s);

/**
 * Sign claims for issuer iss with secret (at least 32 bytes). Returns a
 * malloc'd token, or NULL when a claim is too long or not valid UTF-8.
 */
char *srv_jwt_sign(const unsigned char *secret, size_t secret_len, const char *iss,
		   const struct srv_jwt_claims *c);

/**
 * Check token (NUL-terminated, any bytes) against secret and issuer at time
 * now (seconds). On SRV_JWT_OK *out holds the claims; otherwise *out is
 * untouched.
 */
enum srv_jwt_status srv_jwt_verify(const unsigned char *secret, size_t secret_len, const char *iss,
				   const char *token, int64_t now, struct srv_jwt_claims *out);

struct buf;
/** Append n bytes as unpadded base64url (the encoding of each part of a token). */
void srv_jwt_b64url(struct buf *b, const void *p, size_t n);

/** Does s have the shape of a JWT (two dots, no API key prefix)? Cheap; no verification. */
int srv_jwt_shaped(const char *s);

#endif
