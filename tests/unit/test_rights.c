/* Key rights (server/base/rights.c) and keys that carry them (server/auth.c). */
#include "server/auth.h"
#include "server/base/common.h"
#include "server/base/rights.h"
#include "server/store.h"
#include "server/users.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000000ll	/* epoch ms */

static void test_names(void)
{
	ok(srv_level_parse("viewer") == SRV_LEVEL_VIEWER && srv_level_parse("read") == SRV_LEVEL_VIEWER,
	   "viewer and read are one level");
	ok(srv_level_parse("editor") == SRV_LEVEL_EDITOR && srv_level_parse("write") == SRV_LEVEL_EDITOR,
	   "editor and write are one level");
	ok(srv_level_parse("owner") == SRV_LEVEL_OWNER && srv_level_parse("admin") == SRV_LEVEL_OWNER,
	   "owner and admin are one level");
	ok(srv_level_parse("Owner") == SRV_LEVEL_NONE && srv_level_parse("") == SRV_LEVEL_NONE &&
	   srv_level_parse(NULL) == SRV_LEVEL_NONE, "anything else is no level");
	is_str(srv_level_name(SRV_LEVEL_EDITOR), "editor", "levels are named by their 004/code names");

	unsigned caps = 0;
	struct err *e = NULL;
	ok(srv_caps_parse_list("execute, sandbox_read", &caps, &e) == 0 && caps == (SRV_CAP_EXECUTE | SRV_CAP_READ),
	   "a list of capabilities");
	ok(srv_caps_parse_list("execute,sandbox_admin", &caps, &e) < 0 && e->cls == ERR_INVALID &&
	   strstr(err_text(e), "sandbox_admin"), "an unknown one is named: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	ok(srv_caps_parse_list(" , ", &caps, &e) < 0, "an empty list is refused");
	err_free(e), e = NULL;
	char out[64];
	srv_caps_format(SRV_CAP_ALL, ",", out, sizeof(out));
	is_str(out, "execute,sandbox_read,sandbox_write", "formatted in a fixed order");

	struct srv_rights r;
	srv_rights_full(&r, false, false);
	ok(srv_rights_parse_grant(&r, "ses_a:read", &e) == 0 && srv_rights_parse_grant(&r, "ses_b:admin", &e) == 0 &&
	   r.ngrants == 2, "grants in 003's words");
	ok(srv_rights_level(&r, "ses_a") == SRV_LEVEL_VIEWER && srv_rights_level(&r, "ses_b") == SRV_LEVEL_OWNER &&
	   srv_rights_level(&r, "ses_c") == SRV_LEVEL_NONE, "a scoped key's level per session");
	ok(srv_rights_parse_grant(&r, "ses_a:editor", &e) == 0 && r.ngrants == 2 &&
	   srv_rights_level(&r, "ses_a") == SRV_LEVEL_EDITOR, "a second grant for a session replaces the first");
	ok(srv_rights_parse_grant(&r, "ses_a:boss", &e) < 0 && e->cls == ERR_INVALID, "unknown level refused");
	err_free(e), e = NULL;
	ok(srv_rights_parse_grant(&r, "../x:viewer", &e) < 0, "a session id with a slash refused");
	err_free(e), e = NULL;
	ok(srv_rights_parse_grant(&r, "viewer", &e) < 0, "a grant without a session refused");
	err_free(e), e = NULL;
	for (int i = 0; i < SRV_GRANTS_MAX + 1; i++) {
		char g[32];
		snprintf(g, sizeof(g), "ses_%d:viewer", i);
		if (srv_rights_parse_grant(&r, g, &e) < 0)
			break;
	}
	ok(e && e->cls == ERR_LIMIT && r.ngrants == SRV_GRANTS_MAX, "at most %d grants", SRV_GRANTS_MAX);
	err_free(e), e = NULL;
	srv_rights_full(&r, false, false);
	ok(srv_rights_level(&r, "anything") == SRV_LEVEL_OWNER, "an unscoped key is owner of every session it reaches");
}

static void test_allow(void)
{
	struct srv_rights r;
	struct err *e = NULL;
	char why[200];

	srv_rights_full(&r, false, false);
	r.caps = SRV_CAP_READ;
	ok(srv_rights_allow(&r, SRV_CAP_READ, SRV_LEVEL_VIEWER, "ses_a", why, sizeof(why)), "read-only key reads");
	ok(!srv_rights_allow(&r, SRV_CAP_WRITE, SRV_LEVEL_EDITOR, "ses_a", why, sizeof(why)) &&
	   strstr(why, "sandbox_write"), "but does not write: %s", why);
	ok(!srv_rights_allow(&r, SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, NULL, why, sizeof(why)) && strstr(why, "execute"),
	   "nor execute: %s", why);

	srv_rights_full(&r, false, false);
	srv_rights_parse_grant(&r, "ses_a:viewer", &e);
	srv_rights_parse_grant(&r, "ses_b:editor", &e);
	ok(srv_rights_allow(&r, SRV_CAP_READ, SRV_LEVEL_VIEWER, "ses_a", why, sizeof(why)), "viewer reads its session");
	ok(!srv_rights_allow(&r, SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, "ses_a", why, sizeof(why)) &&
	   strstr(why, "viewer") && strstr(why, "editor"), "a viewer cannot execute: %s", why);
	ok(srv_rights_allow(&r, SRV_CAP_EXECUTE, SRV_LEVEL_EDITOR, "ses_b", why, sizeof(why)), "an editor executes");
	ok(!srv_rights_allow(&r, SRV_CAP_WRITE, SRV_LEVEL_OWNER, "ses_b", why, sizeof(why)) && strstr(why, "owner"),
	   "an editor does not destroy: %s", why);
	ok(!srv_rights_allow(&r, SRV_CAP_READ, SRV_LEVEL_VIEWER, "ses_c", why, sizeof(why)) && strstr(why, "ses_c"),
	   "another session is out of reach: %s", why);
	ok(srv_rights_allow(&r, SRV_CAP_READ, SRV_LEVEL_VIEWER, NULL, why, sizeof(why)),
	   "no session named: only the capability counts");

	srv_rights_full(&r, false, false);
	r.expires_at = NOW;
	ok(!srv_rights_expired(&r, NOW - 1), "valid one millisecond before its expiry");
	ok(srv_rights_expired(&r, NOW), "refused at its expiry");
	ok(srv_rights_expired(&r, NOW + 1), "and after");
	r.expires_at = 0;
	ok(!srv_rights_expired(&r, INT64_MAX), "no expiry: never");
}

static enum srv_level reach_a(void *arg, const char *sid)
{
	(void)arg;
	return !strcmp(sid, "ses_a") ? SRV_LEVEL_OWNER : !strcmp(sid, "ses_shared") ? SRV_LEVEL_EDITOR : SRV_LEVEL_NONE;
}

static void test_derive(void)
{
	struct srv_rights user, want, scoped;
	struct err *e = NULL;

	srv_rights_full(&user, false, false);
	memset(&want, 0, sizeof(want));
	want.admin = true;
	ok(srv_rights_derive(&user, false, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_DENIED &&
	   strstr(err_text(e), "admin"), "a non-administrator cannot make an admin key: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;

	struct srv_rights admin;
	srv_rights_full(&admin, true, false);
	memset(&want, 0, sizeof(want));
	want.admin = true;
	ok(srv_rights_derive(&admin, false, &want, NOW, NULL, NULL, &e) == 0 && want.admin && want.caps == SRV_CAP_ALL,
	   "an administrator can, with all its capabilities by default");

	struct srv_rights reader;
	srv_rights_full(&reader, false, false);
	reader.caps = SRV_CAP_READ;
	memset(&want, 0, sizeof(want));
	want.caps = SRV_CAP_READ | SRV_CAP_WRITE;
	ok(srv_rights_derive(&reader, true, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_DENIED &&
	   strstr(err_text(e), "sandbox_write") && !strstr(err_text(e), "sandbox_read"),
	   "a read-only key cannot grant sandbox_write: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	memset(&want, 0, sizeof(want));
	ok(srv_rights_derive(&reader, false, &want, NOW, NULL, NULL, &e) == 0 && want.caps == SRV_CAP_READ,
	   "by default a key gets what its creator holds, no more");
	memset(&want, 0, sizeof(want));
	ok(srv_rights_derive(&reader, true, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_INVALID,
	   "an empty capability set asked is refused");
	err_free(e), e = NULL;

	/* sessions: an unscoped creator grants what it reaches */
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_a:owner", &e);
	ok(srv_rights_derive(&user, false, &want, NOW, reach_a, NULL, &e) == 0, "a session the creator reaches");
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_z:viewer", &e);
	ok(srv_rights_derive(&user, false, &want, NOW, reach_a, NULL, &e) < 0 && e->cls == ERR_DENIED &&
	   strstr(err_text(e), "ses_z"), "not one it does not: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	/* a session shared with the creator's user as editor: up to editor, never owner */
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_shared:editor", &e);
	ok(srv_rights_derive(&user, false, &want, NOW, reach_a, NULL, &e) == 0, "a shared session, at its shared level");
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_shared:owner", &e);
	ok(srv_rights_derive(&user, false, &want, NOW, reach_a, NULL, &e) < 0 && e->cls == ERR_DENIED &&
	   strstr(err_text(e), "only editor"), "not above it: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;

	/* a scoped creator: within its grants, at most at its levels */
	srv_rights_full(&scoped, false, false);
	srv_rights_parse_grant(&scoped, "ses_a:editor", &e);
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_a:owner", &e);
	ok(srv_rights_derive(&scoped, false, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_DENIED &&
	   strstr(err_text(e), "editor"), "an editor cannot grant owner: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_a:read", &e);
	ok(srv_rights_derive(&scoped, false, &want, NOW, NULL, NULL, &e) == 0 && want.grants[0].level == SRV_LEVEL_VIEWER,
	   "but can grant viewer");
	memset(&want, 0, sizeof(want));
	srv_rights_parse_grant(&want, "ses_b:viewer", &e);
	ok(srv_rights_derive(&scoped, false, &want, NOW, reach_a, NULL, &e) < 0 && e->cls == ERR_DENIED,
	   "nor a session outside its grants (even one its owner reaches)");
	err_free(e), e = NULL;
	memset(&want, 0, sizeof(want));
	ok(srv_rights_derive(&scoped, false, &want, NOW, NULL, NULL, &e) == 0 && want.ngrants == 1 &&
	   !strcmp(want.grants[0].session_id, "ses_a") && want.grants[0].level == SRV_LEVEL_EDITOR,
	   "asking no grants from a scoped creator gets its grants, not everything");

	/* expiry and network follow the creator */
	struct srv_rights expiring;
	srv_rights_full(&expiring, false, true);
	expiring.expires_at = NOW + 1000;
	memset(&want, 0, sizeof(want));
	ok(srv_rights_derive(&expiring, false, &want, NOW, NULL, NULL, &e) == 0 && want.expires_at == NOW + 1000 &&
	   want.no_network, "a key of an expiring creator expires with it, and has no network if it has none");
	memset(&want, 0, sizeof(want));
	want.expires_at = NOW + 2000;
	ok(srv_rights_derive(&expiring, false, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_DENIED,
	   "it cannot outlive its creator");
	err_free(e), e = NULL;
	memset(&want, 0, sizeof(want));
	want.expires_at = NOW - 1;
	ok(srv_rights_derive(&user, false, &want, NOW, NULL, NULL, &e) < 0 && e->cls == ERR_INVALID,
	   "an expiry in the past is refused");
	err_free(e), e = NULL;
}

static void test_principals(void)
{
	ok(srv_principal_owned_by("user:alice#key_0123456789ab", "user:alice"), "a key of alice acts for alice");
	ok(!srv_principal_owned_by("user:alice#key_0123456789ab", "user:alic"), "a prefix is not the owner");
	ok(!srv_principal_owned_by("user:alice", "user:alice#key_0123456789ab"), "nor the other way round");
	ok(srv_principal_owned_by("key_0123456789ab", "key_0123456789ab"), "a CLI key owns its own sessions");
	ok(srv_principal_is_admin("admin:user:root") && srv_principal_is_admin("admin:key_0123456789ab"),
	   "administrators");
	ok(!srv_principal_is_admin("admin:user:root#key_0123456789ab"),
	   "a key an administrator made without --admin is no administrator");
	ok(srv_principal_is_admin("admin:user:root#admin:key_0123456789ab"), "with it, it is");
	ok(srv_principal_is_no_network("user:bob#nonet:key_0123456789ab"), "a no-network key of a user");
	is_str(srv_principal_key_id("user:alice#key_0123456789ab"), "key_0123456789ab", "the key of an owner's key");
	is_str(srv_principal_key_id("nonet:key_0123456789ab"), "key_0123456789ab", "the key of a CLI key");
	ok(!srv_principal_key_id("user:alice") && !srv_principal_key_id("admin:user:key_00") &&
	   !srv_principal_key_id("local") && !srv_principal_key_id("user:x#key_zz"), "no key in logins and stdio");

	int64_t t;
	struct err *e = NULL;
	ok(srv_expiry_parse("90d", NOW, &t, &e) == 0 && t == NOW + 90ll * 86400000, "90 days");
	ok(srv_expiry_parse("2027-01-15T12:00:00Z", NOW, &t, &e) == 0 && t == 1800014400000ll, "an ISO time: %lld",
	   (long long)t);
	ok(srv_expiry_parse("2027-01-15T14:00:00.250+02:00", NOW, &t, &e) == 0 && t == 1800014400000ll,
	   "with a fraction and an offset");
	ok(srv_expiry_parse("2027-01-15", NOW, &t, &e) == 0 && t == 1799971200000ll, "a day");
	ok(srv_expiry_parse("2027-02-30", NOW, &t, &e) < 0, "no 30 February");
	err_free(e), e = NULL;
	ok(srv_expiry_parse("0d", NOW, &t, &e) < 0 && srv_expiry_parse("soon", NOW, &t, &e) < 0, "nonsense refused");
	err_free(e), e = NULL;
}

static enum srv_level reach_any(void *arg, const char *sid)
{
	(void)arg, (void)sid;
	return SRV_LEVEL_OWNER;
}

/* Keys made by principals, through the store and the verifier. */
static void test_keys(void)
{
	char tmpl[] = "/tmp/mcpbox-rights-XXXXXX";
	char *dir = mkdtemp(tmpl);
	struct srv_store *st = NULL;
	struct srv_auth *a;
	struct err *e = NULL;
	struct srv_key_spec spec = { .name = "ci", .description = "CI pipeline" };
	struct srv_key_made full = { 0 }, ro = { 0 }, child = { 0 };
	struct srv_principal p;
	struct srv_rights r;
	char ps[SRV_PRINCIPAL_MAX], ps_ro[SRV_PRINCIPAL_MAX];
	json_t *list;

	ok(dir && srv_store_open(&st, dir, &e) == 0, "open a store");
	a = srv_auth_new(st);
	ok(srv_user_add(st, "alice", "user", "alice-password-1", 16, &e) == 0 &&
	   srv_user_add(st, "carol", "user", "carol-password-1", 16, &e) == 0 &&
	   srv_user_add(st, "root", "super_admin", "root-password-1", 15, &e) == 0, "users alice, carol, root (admin)");

	ok(srv_auth_key_make(a, "user:alice", &spec, reach_any, NULL, &full, &e) == 0, "alice makes a key");
	ok(srv_auth_verify(a, full.key, &p) == 1 && !strcmp(p.owner, "user:alice") && p.rights.caps == SRV_CAP_ALL,
	   "it verifies as alice's, with all she holds");
	ok(srv_principal_format(&p, ps, sizeof(ps)) == 0 && !strncmp(ps, "user:alice#key_", 15), "principal %s", ps);
	is_str(json_string_value(json_object_get(full.info, "description")), "CI pipeline", "its description");

	spec.caps_set = true;
	spec.rights.caps = SRV_CAP_READ;
	spec.description = NULL;
	ok(srv_auth_key_make(a, ps, &spec, reach_any, NULL, &ro, &e) == 0, "her key makes a read-only key");
	ok(srv_auth_verify(a, ro.key, &p) == 1 && !strcmp(p.owner, "user:alice") && p.rights.caps == SRV_CAP_READ,
	   "which belongs to alice too, reading only");
	srv_principal_format(&p, ps_ro, sizeof(ps_ro));

	spec.rights.caps = SRV_CAP_READ | SRV_CAP_EXECUTE;
	ok(srv_auth_key_make(a, ps_ro, &spec, reach_any, NULL, &child, &e) < 0 && e->cls == ERR_DENIED,
	   "the read-only key cannot make a key that executes: %s", e ? err_text(e) : "");
	err_free(e), e = NULL;
	spec.caps_set = false;
	spec.rights.admin = true;
	ok(srv_auth_key_make(a, "user:alice", &spec, reach_any, NULL, &child, &e) < 0 && e->cls == ERR_DENIED,
	   "alice cannot make an admin key");
	err_free(e), e = NULL;
	ok(srv_auth_key_make(a, "admin:user:root", &spec, reach_any, NULL, &child, &e) == 0, "an administrator can");
	ok(srv_auth_verify(a, child.key, &p) == 1 && p.admin && srv_principal_format(&p, ps, sizeof(ps)) == 0 &&
	   srv_principal_is_admin(ps), "and it is an admin key: %s", ps);
	spec.rights.admin = false;

	ok(srv_auth_rights(a, ps_ro, &r) == 1 && r.caps == SRV_CAP_READ, "the rights behind a principal string");
	ok(srv_auth_rights(a, "user:alice", &r) == 1 && r.caps == SRV_CAP_ALL && !r.admin, "a login holds all");
	char forged[SRV_PRINCIPAL_MAX];
	snprintf(forged, sizeof(forged), "user:mallory#%s", srv_principal_key_id(ps_ro));
	ok(srv_auth_rights(a, forged, &r) == 0, "a key's id under another owner is nobody's");

	ok(srv_auth_key_list_as(a, "user:alice", &list, &e) == 0 && json_array_size(list) == 2,
	   "alice sees her two keys");
	json_decref(list);
	ok(srv_auth_key_list_as(a, ps_ro, &list, &e) == 0 && json_array_size(list) == 1, "her read-only key sees itself only");
	json_decref(list);
	ok(srv_auth_key_list_as(a, "user:bob", &list, &e) == 0 && json_array_size(list) == 0, "bob sees none");
	json_decref(list);
	ok(srv_auth_key_revoke_as(a, "user:bob", full.id, &e) < 0 && e->cls == ERR_NOT_FOUND,
	   "bob cannot revoke alice's key");
	err_free(e), e = NULL;
	ok(srv_auth_key_list_as(a, "admin:user:root", &list, &e) == 0 && json_array_size(list) == 3,
	   "an administrator sees all");
	json_decref(list);

	ok(srv_auth_key_revoke_as(a, "user:alice", ro.id, &e) == 0, "alice revokes the read-only key");
	ok(srv_auth_verify(a, ro.key, &p) == 0, "it is refused at once");
	ok(srv_auth_rights(a, ps_ro, &r) == 0, "also for a connection that verified it before");

	/* expiry: refused from its instant on */
	struct srv_key_made soon = { 0 };
	spec.rights.expires_at = (int64_t)wall_ms() + 1500;
	ok(srv_auth_key_make(a, "user:alice", &spec, reach_any, NULL, &soon, &e) == 0, "a key expiring in 1.5 s");
	ok(srv_auth_verify(a, soon.key, &p) == 1, "valid now");
	json_t *info = soon.info;
	ok(json_is_string(json_object_get(info, "expires_at")) && json_is_false(json_object_get(info, "expired")),
	   "listed with its expiry");
	usleep(1600 * 1000);
	ok(srv_auth_verify(a, soon.key, &p) == 0, "refused once expired (from the cache)");
	srv_principal_format(&p, ps, sizeof(ps));

	/* revoking a key revokes what it made, and what those made; not its siblings */
	struct srv_key_made k1 = { 0 }, k2 = { 0 }, k3 = { 0 }, sib = { 0 };
	char p1[SRV_PRINCIPAL_MAX], p2[SRV_PRINCIPAL_MAX];
	spec.rights.expires_at = 0;
	ok(srv_auth_key_make(a, "user:carol", &spec, reach_any, NULL, &k1, &e) == 0 && srv_auth_verify(a, k1.key, &p) == 1 &&
	   srv_principal_format(&p, p1, sizeof(p1)) == 0 &&
	   srv_auth_key_make(a, p1, &spec, reach_any, NULL, &k2, &e) == 0 && srv_auth_verify(a, k2.key, &p) == 1 &&
	   srv_principal_format(&p, p2, sizeof(p2)) == 0 &&
	   srv_auth_key_make(a, p2, &spec, reach_any, NULL, &k3, &e) == 0 &&
	   srv_auth_key_make(a, "user:carol", &spec, reach_any, NULL, &sib, &e) == 0, "carol's key makes a key that makes a key");
	ok(srv_auth_key_revoke_as(a, "user:carol", k1.id, &e) == 0, "carol revokes the first");
	ok(srv_auth_verify(a, k1.key, &p) == 0 && srv_auth_verify(a, k2.key, &p) == 0 && srv_auth_verify(a, k3.key, &p) == 0,
	   "the keys it made, and theirs, are refused with it");
	ok(srv_auth_verify(a, sib.key, &p) == 1, "a key carol made herself stays");
	/* a user's keys stop with the user: disabled, or no longer in the role the key was made in */
	struct srv_key_made dk = { 0 }, ak = { 0 };
	ok(srv_user_add(st, "dora", "user", "dora-password-1", 15, &e) == 0 &&
	   srv_user_add(st, "root2", "admin", "root-password-1", 15, &e) == 0, "users dora and root2 (admin)");
	ok(srv_auth_key_make(a, "user:dora", &spec, reach_any, NULL, &dk, &e) == 0 && srv_auth_verify(a, dk.key, &p) == 1,
	   "dora's key works");
	ok(srv_user_disable(st, "dora", &e) == 0 && srv_auth_verify(a, dk.key, &p) == 0, "not once dora is disabled");
	ok(srv_user_enable(st, "dora", &e) == 0 && srv_auth_verify(a, dk.key, &p) == 1, "again once she is enabled");
	ok(srv_auth_key_make(a, "admin:user:root2", &spec, reach_any, NULL, &ak, &e) == 0 &&
	   srv_auth_verify(a, ak.key, &p) == 1, "an administrator's key works");
	ok(srv_user_set_role(st, "root2", "user", &e) == 0 && srv_auth_verify(a, ak.key, &p) == 0,
	   "not once the administrator is demoted");
	struct srv_key_made gk = { 0 };
	ok(srv_auth_key_make(a, "user:ghost", &spec, reach_any, NULL, &gk, &e) == 0 && srv_auth_verify(a, gk.key, &p) == 0,
	   "a key of a user who does not exist is refused");
	srv_key_made_release(&gk);
	srv_key_made_release(&dk);
	srv_key_made_release(&ak);
	srv_key_made_release(&k1);
	srv_key_made_release(&k2);
	srv_key_made_release(&k3);
	srv_key_made_release(&sib);

	srv_key_made_release(&full);
	srv_key_made_release(&ro);
	srv_key_made_release(&child);
	srv_key_made_release(&soon);
	srv_auth_free(a);
	srv_store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpl);
}

int main(void)
{
	test_names();
	test_allow();
	test_derive();
	test_principals();
	test_keys();
	return tap_done();
}
