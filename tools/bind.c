/*
 * tools/bind.c — session-scoped tokens: what lets an MCP endpoint act on one
 * session and nothing else (session_info's mcp_url; seed 000's mcpUrl).
 *
 * A token is HMAC-SHA256(process secret, owner "\n" session id), truncated
 * to 128 bits, in hex: nothing is stored, so a token is valid exactly while
 * its session exists under the same owner and this process runs (a restart
 * or the session's destruction ends it). The secret is random per process.
 */
#include "tool.h"
#include "../server/base/common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "../server/base/banned.h"

static unsigned char secret[32];
static bool have_secret;

static void token_of(const char *owner, const char *sid, char out[TOOL_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t ol = strlen(owner), sl = strlen(sid);
	unsigned char *msg = xmalloc(ol + sl + 1);

	if (!have_secret) {
		srv_random_bytes(secret, sizeof(secret));
		have_secret = true;
	}
	memcpy(msg, owner, ol);
	msg[ol] = '\n';
	memcpy(msg + ol + 1, sid, sl);
	if (!HMAC(EVP_sha256(), secret, sizeof(secret), msg, ol + sl + 1, mac, &n) || n < TOOL_TOKEN_LEN / 2)
		abort(); /* OpenSSL cannot compute SHA-256: nothing sensible is left to do */
	free(msg);
	for (size_t i = 0; i < TOOL_TOKEN_LEN / 2; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[TOOL_TOKEN_LEN] = '\0';
}

void tool_session_token(const char *owner, const char *sid, char out[TOOL_TOKEN_LEN + 1])
{
	token_of(owner, sid, out);
}

int tool_session_token_check(const struct tool_env *env, const char *sid, const char *token, char *owner,
			     size_t cap)
{
	char want[TOOL_TOKEN_LEN + 1];
	struct sess_session *s = env && sid ? sess_find(env->sessions, sid, NULL) : NULL;

	owner[0] = '\0';
	if (!s || !token || strlen(token) != TOOL_TOKEN_LEN || strlen(s->owner) >= cap)
		return 0;
	token_of(s->owner, s->id, want);
	if (CRYPTO_memcmp(want, token, TOOL_TOKEN_LEN) != 0)
		return 0;
	memcpy(owner, s->owner, strlen(s->owner) + 1);
	return 1;
}
