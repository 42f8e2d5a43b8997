#include "rights.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banned.h"

static const struct {
	const char *name;
	unsigned cap;
} caps_table[] = {
	{ "execute", SRV_CAP_EXECUTE },
	{ "sandbox_read", SRV_CAP_READ },
	{ "sandbox_write", SRV_CAP_WRITE },
};

static const struct {
	const char *name;
	enum srv_level level;
} levels_table[] = {
	{ "viewer", SRV_LEVEL_VIEWER },
	{ "editor", SRV_LEVEL_EDITOR },
	{ "owner", SRV_LEVEL_OWNER },
	/* 003's names for the same levels */
	{ "read", SRV_LEVEL_VIEWER },
	{ "write", SRV_LEVEL_EDITOR },
	{ "admin", SRV_LEVEL_OWNER },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

void srv_rights_full(struct srv_rights *r, bool admin, bool no_network)
{
	memset(r, 0, sizeof(*r));
	r->caps = SRV_CAP_ALL;
	r->admin = admin;
	r->no_network = no_network;
}

const char *srv_cap_name(unsigned cap)
{
	for (size_t i = 0; i < N(caps_table); i++)
		if (caps_table[i].cap == cap)
			return caps_table[i].name;
	return NULL;
}

unsigned srv_cap_parse(const char *name)
{
	for (size_t i = 0; name && i < N(caps_table); i++)
		if (!strcmp(caps_table[i].name, name))
			return caps_table[i].cap;
	return 0;
}

int srv_caps_parse_list(const char *list, unsigned *caps, struct err **errp)
{
	unsigned out = 0;
	const char *p = list ? list : "";

	while (*p) {
		char word[32];
		size_t n;

		p += strspn(p, ", ");
		n = strcspn(p, ", ");
		if (!n)
			break;
		if (n >= sizeof(word))
			return err_setc(errp, ERR_INVALID, 0, "unknown permission \"%.*s...\" (expected execute, "
					"sandbox_read, sandbox_write)", 20, p);
		memcpy(word, p, n);
		word[n] = '\0';
		unsigned c = srv_cap_parse(word);
		if (!c)
			return err_setc(errp, ERR_INVALID, 0, "unknown permission \"%s\" (expected execute, "
					"sandbox_read, sandbox_write)", word);
		out |= c;
		p += n;
	}
	if (!out)
		return err_setc(errp, ERR_INVALID, 0, "no permission named (expected some of execute, sandbox_read, "
				"sandbox_write)");
	*caps = out;
	return 0;
}

void srv_caps_format(unsigned caps, const char *sep, char *out, size_t cap)
{
	size_t used = 0;

	if (!cap)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < N(caps_table); i++) {
		if (!(caps & caps_table[i].cap))
			continue;
		int n = snprintf(out + used, cap - used, "%s%s", used ? sep : "", caps_table[i].name);
		if (n < 0 || (size_t)n >= cap - used)
			return;
		used += (size_t)n;
	}
}

enum srv_level srv_level_parse(const char *s)
{
	for (size_t i = 0; s && i < N(levels_table); i++)
		if (!strcmp(levels_table[i].name, s))
			return levels_table[i].level;
	return SRV_LEVEL_NONE;
}

const char *srv_level_name(enum srv_level l)
{
	for (size_t i = 0; i < N(levels_table); i++)
		if (levels_table[i].level == l)
			return levels_table[i].name;
	return "none";
}

static bool sid_valid(const char *sid)
{
	size_t n = sid ? strlen(sid) : 0;

	if (!n || n > SRV_GRANT_SID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)sid[i]) && sid[i] != '_' && sid[i] != '-')
			return false;
	return true;
}

int srv_rights_add_grant(struct srv_rights *r, const char *sid, enum srv_level level, struct err **errp)
{
	if (!sid_valid(sid))
		return err_setc(errp, ERR_INVALID, 0, "bad session id \"%.64s\" in a grant (1 to %d of A-Z a-z 0-9 _ -)",
				sid ? sid : "", SRV_GRANT_SID_MAX);
	if (level <= SRV_LEVEL_NONE || level > SRV_LEVEL_OWNER)
		return err_setc(errp, ERR_INVALID, 0, "bad level for session %s (expected viewer, editor or owner; "
				"read, write, admin)", sid);
	for (unsigned i = 0; i < r->ngrants; i++)
		if (!strcmp(r->grants[i].session_id, sid)) {
			r->grants[i].level = level;
			return 0;
		}
	if (r->ngrants >= SRV_GRANTS_MAX)
		return err_setc(errp, ERR_LIMIT, 0, "at most %d session grants per key", SRV_GRANTS_MAX);
	snprintf(r->grants[r->ngrants].session_id, sizeof(r->grants[0].session_id), "%s", sid);
	r->grants[r->ngrants++].level = level;
	return 0;
}

int srv_rights_parse_grant(struct srv_rights *r, const char *spec, struct err **errp)
{
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	char sid[SRV_GRANT_SID_MAX + 1];
	enum srv_level level;

	if (!colon || colon == spec || (size_t)(colon - spec) > SRV_GRANT_SID_MAX)
		return err_setc(errp, ERR_INVALID, 0, "a grant is SESSION_ID:LEVEL (got \"%.80s\")", spec ? spec : "");
	memcpy(sid, spec, (size_t)(colon - spec));
	sid[colon - spec] = '\0';
	level = srv_level_parse(colon + 1);
	if (level == SRV_LEVEL_NONE)
		return err_setc(errp, ERR_INVALID, 0, "unknown level \"%.20s\" for session %s (expected viewer, editor "
				"or owner; read, write, admin)", colon + 1, sid);
	return srv_rights_add_grant(r, sid, level, errp);
}

enum srv_level srv_rights_level(const struct srv_rights *r, const char *sid)
{
	if (!r->ngrants)
		return SRV_LEVEL_OWNER;
	for (unsigned i = 0; sid && i < r->ngrants; i++)
		if (!strcmp(r->grants[i].session_id, sid))
			return r->grants[i].level;
	return SRV_LEVEL_NONE;
}

bool srv_rights_expired(const struct srv_rights *r, int64_t now_ms)
{
	return r->expires_at && now_ms >= r->expires_at;
}

bool srv_rights_allow(const struct srv_rights *r, unsigned cap, enum srv_level level, const char *sid, char *why,
		      size_t why_cap)
{
	unsigned missing = cap & ~r->caps;

	if (missing) {
		char names[64];
		srv_caps_format(missing, ", ", names, sizeof(names));
		snprintf(why, why_cap, "this key lacks the %s permission", names);
		return false;
	}
	if (!sid || level == SRV_LEVEL_NONE)
		return true;
	enum srv_level have = srv_rights_level(r, sid);
	if (have >= level)
		return true;
	if (have == SRV_LEVEL_NONE)
		snprintf(why, why_cap, "this key is limited to other sessions than %s", sid);
	else
		snprintf(why, why_cap, "this key is a%s %s of session %s; this needs %s", have == SRV_LEVEL_EDITOR ?
			 "n" : "", srv_level_name(have), sid, srv_level_name(level));
	return false;
}

int srv_rights_derive(const struct srv_rights *creator, bool caps_set, struct srv_rights *want, int64_t now_ms,
		      enum srv_level (*reach)(void *arg, const char *sid), void *arg, struct err **errp)
{
	if (want->admin && !creator->admin)
		return err_setc(errp, ERR_DENIED, 0, "only an administrator can create an admin key");
	if (!caps_set)
		want->caps = creator->caps;
	if (!want->caps)
		return err_setc(errp, ERR_INVALID, 0, "a key needs at least one permission (execute, sandbox_read, "
				"sandbox_write)");
	if (want->caps & ~creator->caps) {
		char names[64];
		srv_caps_format(want->caps & ~creator->caps, ", ", names, sizeof(names));
		return err_setc(errp, ERR_DENIED, 0, "cannot grant %s: the credential creating the key does not "
				"hold it", names);
	}
	if (want->expires_at && want->expires_at <= now_ms)
		return err_setc(errp, ERR_INVALID, 0, "the expiry is in the past");
	if (creator->expires_at) {
		if (want->expires_at > creator->expires_at)
			return err_setc(errp, ERR_DENIED, 0, "a key cannot outlive the credential creating it "
					"(which expires sooner)");
		if (!want->expires_at)
			want->expires_at = creator->expires_at;
	}
	if (creator->no_network)
		want->no_network = true;
	if (creator->ngrants && !want->ngrants) {
		want->ngrants = creator->ngrants;
		memcpy(want->grants, creator->grants, sizeof(want->grants));
		return 0;
	}
	for (unsigned i = 0; i < want->ngrants; i++) {
		const struct srv_grant *g = &want->grants[i];
		enum srv_level have = srv_rights_level(creator, g->session_id);

		/* never above what its owner holds there: a session shared with a user is not the user's own */
		if (have != SRV_LEVEL_NONE && reach) {
			enum srv_level held = reach(arg, g->session_id);
			if (held < have)
				have = held;
		}
		if (have == SRV_LEVEL_NONE)
			return err_setc(errp, ERR_DENIED, 0, "cannot grant session %s: the credential creating the key "
					"cannot reach it", g->session_id);
		if (g->level > have)
			return err_setc(errp, ERR_DENIED, 0, "cannot grant %s on session %s: the credential creating "
					"the key is only %s there", srv_level_name(g->level), g->session_id,
					srv_level_name(have));
	}
	return 0;
}

int srv_expiry_parse(const char *s, int64_t now_ms, int64_t *out, struct err **errp)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 'd', 86400000 }, { 'h', 3600000 }, { 'm', 60000 }, { 's', 1000 },
	};
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, used;
	char *end;

	if (!s || !*s)
		return err_setc(errp, ERR_INVALID, 0, "empty expiry");
	if (isdigit((unsigned char)s[0]) && strlen(s) <= 8) {
		unsigned long long v = strtoull(s, &end, 10);
		for (size_t i = 0; end != s && i < N(units); i++)
			if (end[0] == units[i].unit && !end[1]) {
				if (v == 0 || v > 36500ull * 86400000 / (unsigned long long)units[i].ms)
					break;
				*out = now_ms + (int64_t)v * units[i].ms;
				return 0;
			}
	}
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		goto bad;
	used = n;
	if (s[used] == 'T' || s[used] == ' ') {
		if (sscanf(s + used + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
			goto bad;
		used += 1 + n;
		if (s[used] == '.')
			for (used++; isdigit((unsigned char)s[used]); used++)
				;
	}
	int off_min = 0;
	if (s[used] == 'Z') {
		used++;
	} else if (s[used] == '+' || s[used] == '-') {
		int oh, om;
		if (sscanf(s + used + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
			goto bad;
		off_min = (s[used] == '-' ? -1 : 1) * (oh * 60 + om);
		used += 1 + n;
	}
	if (s[used] || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		goto bad;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			 .tm_sec = sec };
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)	/* timegm normalizes 31 February into March */
		goto bad;
	*out = ((int64_t)t - (int64_t)off_min * 60) * 1000;
	return 0;
bad:
	return err_setc(errp, ERR_INVALID, 0, "bad expiry \"%.40s\": give a duration (90d, 12h, 30m) or a UTC time "
			"(2026-12-31T23:59:59Z)", s);
}

/* ---- principal strings ---- */

size_t srv_principal_owner_len(const char *principal)
{
	const char *h = strchr(principal, '#');
	return h ? (size_t)(h - principal) : strlen(principal);
}

bool srv_principal_owned_by(const char *principal, const char *owner)
{
	size_t n = srv_principal_owner_len(principal);
	return strlen(owner) == n && !memcmp(principal, owner, n);
}

/* The part that carries the flags: after "#" for a key of an owner, else the whole string. */
static const char *flags_part(const char *principal)
{
	const char *h = strchr(principal, '#');
	return h ? h + 1 : principal;
}

bool srv_principal_is_admin(const char *principal)
{
	return principal && !strncmp(flags_part(principal), "admin:", 6);
}

bool srv_principal_is_no_network(const char *principal)
{
	return principal && !strncmp(flags_part(principal), "nonet:", 6);
}

const char *srv_principal_key_id(const char *principal)
{
	const char *p;

	if (!principal)
		return NULL;
	p = flags_part(principal);
	if (!strncmp(p, "admin:", 6) || !strncmp(p, "nonet:", 6))
		p += 6;
	if (strncmp(p, "key_", 4) || !p[4] || strlen(p) > 31)
		return NULL;
	for (const char *c = p + 4; *c; c++)
		if (!isxdigit((unsigned char)*c))
			return NULL;
	return p;
}
