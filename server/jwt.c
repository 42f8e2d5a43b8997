#include "jwt.h"
#include "base/buf.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/banned.h"

#define MAC_LEN 32
#define HEADER_JSON_MAX 128	/* {"alg":"HS256","typ":"JWT"} is 27 */
#define PAYLOAD_JSON_MAX 640

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void srv_jwt_b64url(struct buf *b, const void *data, size_t n)
{
	const unsigned char *p = data;

	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = { b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63], b64url[v & 63] };
		buf_add(b, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[2] = { b64url[v >> 18], b64url[(v >> 12) & 63] };
		buf_add(b, q, 2);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char q[3] = { b64url[v >> 18], b64url[(v >> 12) & 63], b64url[(v >> 6) & 63] };
		buf_add(b, q, 3);
	}
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict unpadded base64url: only the alphabet, a length that is not 1 mod 4,
 * and zero bits past the last byte (so each value has one encoding).
 * Decodes into out (cap bytes); returns the length, or -1.
 */
static long b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1 || n * 3 / 4 > cap)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64url_value((unsigned char)s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (long)o;
}

static int mac(const unsigned char *secret, size_t secret_len, const char *data, size_t n,
	       unsigned char out[MAC_LEN])
{
	unsigned int len = 0;

	if (secret_len > INT32_MAX || !HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)data, n, out,
					    &len) || len != MAC_LEN)
		return -1;
	return 0;
}

const char *srv_jwt_status_name(enum srv_jwt_status s)
{
	switch (s) {
	case SRV_JWT_OK: return "ok";
	case SRV_JWT_MALFORMED: return "malformed";
	case SRV_JWT_BAD_SIGNATURE: return "bad signature";
	case SRV_JWT_BAD_ALG: return "unsupported algorithm";
	case SRV_JWT_BAD_ISSUER: return "wrong issuer";
	case SRV_JWT_EXPIRED: return "expired";
	case SRV_JWT_NOT_YET_VALID: return "not yet valid";
	}
	return "?";
}

static void add_json_part(struct buf *b, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	srv_jwt_b64url(b, (const unsigned char *)s, strlen(s));
	free(s);
}

char *srv_jwt_sign(const unsigned char *secret, size_t secret_len, const char *iss, const struct srv_jwt_claims *c)
{
	struct buf b = BUF_INIT;
	unsigned char m[MAC_LEN];
	json_t *h, *p;

	if (strnlen(c->sub, sizeof(c->sub)) > SRV_JWT_SUB_MAX || strnlen(c->role, sizeof(c->role)) > SRV_JWT_ROLE_MAX ||
	    strnlen(c->jti, sizeof(c->jti)) > SRV_JWT_JTI_MAX)
		return NULL;
	p = json_pack("{s:s?, s:s?, s:s?, s:I, s:I, s:I, s:s?}", "iss", iss, "sub", c->sub, "role", c->role,
		      "iat", (json_int_t)c->iat, "nbf", (json_int_t)c->nbf, "exp", (json_int_t)c->exp,
		      "jti", c->jti[0] ? c->jti : NULL);
	if (!p)
		return NULL;	/* a string that is not UTF-8 */
	h = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
	add_json_part(&b, h);
	buf_add(&b, ".", 1);
	add_json_part(&b, p);
	json_decref(h);
	json_decref(p);
	if (b.len > SRV_JWT_MAX - 44 || mac(secret, secret_len, b.data, b.len, m) < 0) {
		buf_release(&b);
		return NULL;
	}
	buf_add(&b, ".", 1);
	srv_jwt_b64url(&b, m, sizeof(m));
	return buf_detach(&b);
}

int srv_jwt_shaped(const char *s)
{
	const char *d1, *d2;

	if (!s || strnlen(s, SRV_JWT_MAX + 1) > SRV_JWT_MAX)
		return 0;
	d1 = strchr(s, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	return d2 && !strchr(d2 + 1, '.');
}

/* Decode a part that must be a JSON object of at most cap bytes. */
static json_t *part_json(const char *s, size_t n, size_t cap)
{
	unsigned char raw[PAYLOAD_JSON_MAX];
	long len;
	json_t *j;

	if (cap > sizeof(raw))
		return NULL;
	len = b64url_decode(s, n, raw, cap);
	if (len <= 0)
		return NULL;
	j = json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool get_time(json_t *o, const char *name, bool required, int64_t *out)
{
	json_t *v = json_object_get(o, name);

	if (!v)
		return !required;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > ((int64_t)1 << 40))
		return false;
	*out = json_integer_value(v);
	return true;
}

static bool get_str(json_t *o, const char *name, char *out, size_t cap)
{
	json_t *v = json_object_get(o, name);
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (n == 0 || n >= cap || memchr(json_string_value(v), '\0', n))
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

static enum srv_jwt_status check_header(json_t *h)
{
	const char *k;
	json_t *v;

	if (!h)
		return SRV_JWT_MALFORMED;
	json_object_foreach(h, k, v) {
		if (!strcmp(k, "alg")) {
			if (!json_is_string(v) || strcmp(json_string_value(v), "HS256"))
				return SRV_JWT_BAD_ALG;
		} else if (!strcmp(k, "typ")) {
			if (!json_is_string(v) || strcasecmp(json_string_value(v), "JWT"))
				return SRV_JWT_MALFORMED;
		} else {
			/* crit, jku, kid, ...: nothing we issue, so nothing we accept */
			return SRV_JWT_MALFORMED;
		}
	}
	return json_object_get(h, "alg") ? SRV_JWT_OK : SRV_JWT_BAD_ALG;
}

static enum srv_jwt_status check_payload(json_t *p, const char *iss, int64_t now, struct srv_jwt_claims *c)
{
	char got_iss[128];

	memset(c, 0, sizeof(*c));
	if (!p)
		return SRV_JWT_MALFORMED;
	if (!get_str(p, "iss", got_iss, sizeof(got_iss)))
		return json_object_get(p, "iss") ? SRV_JWT_BAD_ISSUER : SRV_JWT_MALFORMED;
	if (!get_str(p, "sub", c->sub, sizeof(c->sub)) || !get_str(p, "role", c->role, sizeof(c->role)) ||
	    !get_time(p, "iat", true, &c->iat) || !get_time(p, "exp", true, &c->exp) ||
	    !get_time(p, "nbf", false, &c->nbf))
		return SRV_JWT_MALFORMED;
	if (strcmp(got_iss, iss))
		return SRV_JWT_BAD_ISSUER;
	if (now >= c->exp + SRV_JWT_SKEW_S)
		return SRV_JWT_EXPIRED;
	if (c->nbf > now + SRV_JWT_SKEW_S || c->iat > now + SRV_JWT_SKEW_S)
		return SRV_JWT_NOT_YET_VALID;
	return SRV_JWT_OK;
}

enum srv_jwt_status srv_jwt_verify(const unsigned char *secret, size_t secret_len, const char *iss,
				   const char *token, int64_t now, struct srv_jwt_claims *out)
{
	unsigned char want[MAC_LEN], got[MAC_LEN + 3];
	struct srv_jwt_claims c;
	enum srv_jwt_status st;
	const char *d1, *d2;
	size_t n;
	json_t *h, *p;

	if (!srv_jwt_shaped(token))
		return SRV_JWT_MALFORMED;
	n = strlen(token);
	d1 = strchr(token, '.');
	d2 = strchr(d1 + 1, '.');
	if (d1 == token || d2 == d1 + 1)
		return SRV_JWT_MALFORMED;
	/* the signature first: nothing an outsider wrote is parsed as JSON */
	if (b64url_decode(d2 + 1, (size_t)(token + n - d2 - 1), got, sizeof(got)) != MAC_LEN)
		return token + n == d2 + 1 ? SRV_JWT_BAD_SIGNATURE : SRV_JWT_MALFORMED;
	if (mac(secret, secret_len, token, (size_t)(d2 - token), want) < 0 || CRYPTO_memcmp(want, got, MAC_LEN) != 0)
		return SRV_JWT_BAD_SIGNATURE;
	h = part_json(token, (size_t)(d1 - token), HEADER_JSON_MAX);
	st = check_header(h);
	json_decref(h);
	if (st != SRV_JWT_OK)
		return st;
	p = part_json(d1 + 1, (size_t)(d2 - d1 - 1), PAYLOAD_JSON_MAX);
	st = check_payload(p, iss, now, &c);
	json_decref(p);
	if (st == SRV_JWT_OK)
		*out = c;
	return st;
}
