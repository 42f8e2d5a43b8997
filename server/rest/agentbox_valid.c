/*
 * server/rest/agentbox_valid.c — the pure parts of dialect 003 (see
 * agentbox.h): the twin's request validator with its messages, quantities,
 * label selectors, statuses, and Go's JSON bytes.
 */
#include "agentbox.h"
#include "../base/common.h"
#include "../base/json_out.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../base/banned.h"

static int say(char *msg, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *msg, size_t cap, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- quantities ---- */

static const struct {
	const char *suffix;
	unsigned shift;
	unsigned kinds;		/* 1 << enum ab_quantity */
} units[] = {
	{ "Ki", 10, 6 }, { "K", 10, 6 }, { "Mi", 20, 6 }, { "M", 20, 6 },
	{ "Gi", 30, 6 }, { "G", 30, 6 }, { "Ti", 40, 4 }, { "T", 40, 4 },
};

int ab_quantity_parse(enum ab_quantity kind, const char *s, uint64_t *out, char *msg, size_t cap)
{
	static const char *const expected[] = { "100m or 1", "512Mi, 1Gi, etc", "1Gi, 5Gi, etc" };
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		if (v > (UINT64_MAX - 9) / 10)
			return say(msg, cap, -1, "strconv.ParseInt: parsing \"%.40s\": value out of range", s);
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if (kind == AB_CPU) {
		if (*p == 'm' && !p[1]) {
			*out = v;
			return 0;
		}
		if (*p)
			goto bad;
		if (v > UINT64_MAX / 1000)
			return say(msg, cap, -1, "strconv.ParseInt: parsing \"%.40s\": value out of range", s);
		*out = v * 1000;
		return 0;
	}
	unsigned shift = 0;
	if (*p) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if ((units[i].kinds & (1u << kind)) && !strcmp(p, units[i].suffix))
				break;
		if (i == ARRAY_SIZE(units))
			goto bad;
		shift = units[i].shift;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return say(msg, cap, -1, "strconv.ParseInt: parsing \"%.40s\": value out of range", s);
	*out = v << shift;
	return 0;
bad:
	return say(msg, cap, -1, "invalid format (expected: %s)", expected[kind]);
}

/* ---- the request's JSON types (what Go's decoder would refuse) ---- */

struct field_type {
	const char *path;	/* "resources.cpu" */
	json_type type;
	const char *go;		/* the Go type named in the decoder's message */
};

static const struct field_type create_types[] = {
	{ "name", JSON_STRING, "string" },
	{ "image", JSON_STRING, "string" },
	{ "resources", JSON_OBJECT, "models.ResourceSpec" },
	{ "resources.cpu", JSON_STRING, "string" },
	{ "resources.memory", JSON_STRING, "string" },
	{ "resources.storage", JSON_STRING, "string" },
	{ "timeout", JSON_INTEGER, "int" },
	{ "env", JSON_OBJECT, "map[string]string" },
	{ "command", JSON_ARRAY, "[]string" },
	{ "labels", JSON_OBJECT, "map[string]string" },
	{ "node_selector", JSON_OBJECT, "map[string]string" },
	{ "tolerations", JSON_ARRAY, "[]models.Toleration" },
	{ "isolation", JSON_OBJECT, "models.IsolationConfig" },
	{ "isolation.runtime_class", JSON_STRING, "string" },
	{ "isolation.network_policy", JSON_OBJECT, "models.NetworkPolicyConfig" },
	{ "isolation.network_policy.allow_internet", JSON_TRUE, "bool" },
	{ "isolation.network_policy.allowed_egress_cidrs", JSON_ARRAY, "[]string" },
	{ "isolation.network_policy.allowed_ingress_ports", JSON_ARRAY, "[]int32" },
	{ "isolation.network_policy.allow_cluster_internal", JSON_TRUE, "bool" },
	{ "isolation.security_context", JSON_OBJECT, "models.SecurityContextConfig" },
	{ "isolation.security_context.run_as_user", JSON_INTEGER, "int64" },
	{ "isolation.security_context.run_as_group", JSON_INTEGER, "int64" },
	{ "isolation.security_context.run_as_non_root", JSON_TRUE, "bool" },
	{ "isolation.security_context.read_only_root_filesystem", JSON_TRUE, "bool" },
	{ "isolation.security_context.allow_privilege_escalation", JSON_TRUE, "bool" },
};

/* The value at a dotted path, or NULL (absent, or a parent that is not an object). */
static json_t *at(json_t *o, const char *path)
{
	char part[64];
	while (o && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = 0;
		o = json_is_object(o) ? json_object_get(o, part) : NULL;
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *json_kind(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	case JSON_NULL: break;
	}
	return "null";
}

static bool type_ok(json_t *v, json_type want)
{
	if (json_is_null(v))
		return true; /* Go leaves the field as it is */
	if (want == JSON_TRUE)
		return json_is_boolean(v);
	if (want == JSON_INTEGER)
		return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(json_int_t)json_real_value(v));
	return json_typeof(v) == want;
}

static int strings_of(json_t *v, bool object)
{
	size_t i;
	const char *k;
	json_t *e;
	if (object) {
		json_object_foreach(v, k, e)
			if (!json_is_string(e) && !json_is_null(e))
				return -1;
	} else {
		json_array_foreach(v, i, e)
			if (!json_is_string(e) && !json_is_null(e))
				return -1;
	}
	return 0;
}

static int check_types(json_t *body, char *msg, size_t cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(create_types); i++) {
		const struct field_type *f = &create_types[i];
		json_t *v = at(body, f->path);
		if (!v)
			continue;
		bool ok = type_ok(v, f->type);
		if (ok && !strncmp(f->go, "map[string]string", 17))
			ok = !strings_of(v, true);
		if (ok && !strcmp(f->go, "[]string"))
			ok = !strings_of(v, false);
		if (!ok)
			return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field %s of type %s", json_kind(v),
				   f->path, f->go);
	}
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(body, "tolerations"), i, t) {
		static const char *const strs[] = { "key", "operator", "value", "effect" };
		if (!json_is_object(t))
			return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field tolerations of type "
				   "models.Toleration", json_kind(t));
		for (size_t k = 0; k < ARRAY_SIZE(strs); k++) {
			json_t *v = json_object_get(t, strs[k]);
			if (v && !type_ok(v, JSON_STRING))
				return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field tolerations.%s of type "
					   "string", json_kind(v), strs[k]);
		}
		json_t *ts = json_object_get(t, "tolerationSeconds");
		if (ts && !type_ok(ts, JSON_INTEGER))
			return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field tolerations.tolerationSeconds "
				   "of type int64", json_kind(ts));
	}
	json_array_foreach(at(body, "isolation.network_policy.allowed_egress_cidrs"), i, t)
		if (!type_ok(t, JSON_STRING))
			return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field "
				   "isolation.network_policy.allowed_egress_cidrs of type string", json_kind(t));
	json_array_foreach(at(body, "isolation.network_policy.allowed_ingress_ports"), i, t)
		if (!type_ok(t, JSON_INTEGER) || json_number_value(t) > 2147483647.0 || json_number_value(t) < -2147483648.0)
			return say(msg, cap, -2, "json: cannot unmarshal %s into Go struct field "
				   "isolation.network_policy.allowed_ingress_ports of type int32", json_kind(t));
	return 0;
}

/* ---- the validator ---- */

static const char *str(json_t *o, const char *path)
{
	const char *s = json_string_value(at(o, path));
	return s ? s : "";
}

/* ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ */
static bool dns_label(const char *s)
{
	size_t n = strlen(s);
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return s[0] != '-' && s[n - 1] != '-';
}

/* ^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$ */
static bool cidr_shaped(const char *s)
{
	for (int part = 0; part < 5; part++) {
		int digits = 0;
		while (isdigit((unsigned char)*s)) {
			s++;
			digits++;
		}
		if (!digits || digits > (part == 4 ? 2 : 3))
			return false;
		if (part == 4)
			return !*s;
		if (*s++ != (part == 3 ? '/' : '.'))
			return false;
	}
	return false;
}

static int validate_resources(json_t *body, char *msg, size_t cap)
{
	static const struct {
		const char *name;
		enum ab_quantity kind;
		uint64_t max;
		const char *unit;
	} rs[] = {
		{ "cpu", AB_CPU, AB_MAX_CPU_MILLIS, "m" },
		{ "memory", AB_MEMORY, AB_MAX_MEMORY, " bytes" },
		{ "storage", AB_STORAGE, AB_MAX_STORAGE, " bytes" },
	};
	char why[160];
	for (size_t i = 0; i < ARRAY_SIZE(rs); i++) {
		char path[32];
		uint64_t v;
		snprintf(path, sizeof(path), "resources.%s", rs[i].name);
		const char *s = str(body, path);
		if (!*s)
			return say(msg, cap, -1, "invalid resources: %s is required", rs[i].name);
		if (ab_quantity_parse(rs[i].kind, s, &v, why, sizeof(why)) < 0)
			return say(msg, cap, -1, "invalid resources: invalid %s format: %s", rs[i].name, why);
		if (v > rs[i].max)
			return say(msg, cap, -1, "invalid resources: %s exceeds maximum allowed (%llu%s)", rs[i].name,
				   (unsigned long long)rs[i].max, rs[i].unit);
		if (!v)
			return say(msg, cap, -1, "invalid resources: %s must be positive", rs[i].name);
	}
	return 0;
}

static int validate_maps(json_t *body, char *msg, size_t cap)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(body, "env"), k, v)
		if (!*k)
			return say(msg, cap, -1, "environment variable name cannot be empty");
	json_object_foreach(json_object_get(body, "labels"), k, v) {
		if (!*k)
			return say(msg, cap, -1, "label key cannot be empty");
		if (strlen(k) > 63)
			return say(msg, cap, -1, "label key must be 63 characters or less");
		if (json_string_length(v) > 63)
			return say(msg, cap, -1, "label value must be 63 characters or less");
	}
	json_object_foreach(json_object_get(body, "node_selector"), k, v) {
		if (!*k)
			return say(msg, cap, -1, "node selector key cannot be empty");
		if (strlen(k) > 253)
			return say(msg, cap, -1, "node selector key must be 253 characters or less");
		if (json_string_length(v) > 63)
			return say(msg, cap, -1, "node selector value must be 63 characters or less");
	}
	return 0;
}

static int validate_tolerations(json_t *body, char *msg, size_t cap)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(body, "tolerations"), i, t) {
		const char *op = str(t, "operator"), *effect = str(t, "effect");
		if (*op && strcmp(op, "Exists") && strcmp(op, "Equal"))
			return say(msg, cap, -1, "toleration[%zu]: operator must be 'Exists' or 'Equal'", i);
		if (*effect && strcmp(effect, "NoSchedule") && strcmp(effect, "PreferNoSchedule") &&
		    strcmp(effect, "NoExecute"))
			return say(msg, cap, -1, "toleration[%zu]: effect must be 'NoSchedule', 'PreferNoSchedule', or "
				   "'NoExecute'", i);
		if (!strcmp(op, "Exists") && *str(t, "value"))
			return say(msg, cap, -1, "toleration[%zu]: value must be empty when operator is 'Exists'", i);
		json_t *secs = json_object_get(t, "tolerationSeconds");
		if (secs && !json_is_null(secs) && strcmp(effect, "NoExecute"))
			return say(msg, cap, -1, "toleration[%zu]: tolerationSeconds can only be set when effect is "
				   "'NoExecute'", i);
		if (strlen(str(t, "key")) > 253)
			return say(msg, cap, -1, "toleration[%zu]: key must be 253 characters or less", i);
	}
	return 0;
}

static int validate_isolation(json_t *body, char *msg, size_t cap)
{
	const char *rc = str(body, "isolation.runtime_class");
	if (*rc && !dns_label(rc))
		return say(msg, cap, -1, "isolation.runtime_class must be lowercase alphanumeric with hyphens");
	if (strlen(rc) > 63)
		return say(msg, cap, -1, "isolation.runtime_class must be 63 characters or less");
	size_t i;
	json_t *v;
	json_array_foreach(at(body, "isolation.network_policy.allowed_egress_cidrs"), i, v) {
		const char *c = json_string_value(v);
		if (c && *c && !cidr_shaped(c))
			return say(msg, cap, -1, "isolation.network_policy.allowed_egress_cidrs[%zu]: invalid CIDR format "
				   "'%.64s'", i, c);
	}
	json_array_foreach(at(body, "isolation.network_policy.allowed_ingress_ports"), i, v) {
		json_int_t p = (json_int_t)json_number_value(v);
		if (p < 1 || p > 65535)
			return say(msg, cap, -1, "isolation.network_policy.allowed_ingress_ports[%zu]: port must be between "
				   "1 and 65535", i);
	}
	static const char *const ids[] = { "run_as_user", "run_as_group" };
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		char path[64];
		snprintf(path, sizeof(path), "isolation.security_context.%s", ids[i]);
		v = at(body, path);
		if (v && json_number_value(v) < 0)
			return say(msg, cap, -1, "isolation.security_context.%s must be non-negative", ids[i]);
	}
	return 0;
}

int ab_env_validate(json_t *body, char *msg, size_t cap)
{
	if (!json_is_object(body))
		return say(msg, cap, -2, "json: cannot unmarshal %s into Go value of type models.CreateEnvironmentRequest",
			   body ? json_kind(body) : "null");
	if (check_types(body, msg, cap) < 0)
		return -2;
	const char *name = str(body, "name");
	if (!*name)
		return say(msg, cap, -1, "name is required");
	if (!dns_label(name))
		return say(msg, cap, -1, "name must be lowercase alphanumeric with hyphens");
	if (strlen(name) > 63)
		return say(msg, cap, -1, "name must be 63 characters or less");
	if (!*str(body, "image"))
		return say(msg, cap, -1, "image is required");
	if (validate_resources(body, msg, cap) < 0)
		return -1;
	json_t *t = json_object_get(body, "timeout");
	if (t && json_number_value(t) > AB_MAX_TIMEOUT)
		return say(msg, cap, -1, "timeout exceeds maximum allowed (%d seconds)", AB_MAX_TIMEOUT);
	if (t && json_number_value(t) < 0)
		return say(msg, cap, -1, "timeout cannot be negative");
	if (validate_maps(body, msg, cap) < 0 || validate_tolerations(body, msg, cap) < 0 ||
	    validate_isolation(body, msg, cap) < 0)
		return -1;
	return 0;
}

/* ---- label selectors ---- */

struct sel {
	const char *p;
	char *msg;
	size_t cap;
};

static void skip_ws(struct sel *s)
{
	while (*s->p == ' ' || *s->p == '\t')
		s->p++;
}

static bool key_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* A key or value: its [start, end) in *w; empty allowed for values only. */
static void word(struct sel *s, const char **w, size_t *n)
{
	skip_ws(s);
	*w = s->p;
	while (key_char(*s->p))
		s->p++;
	*n = (size_t)(s->p - *w);
	skip_ws(s);
}

static bool label_is(json_t *labels, const char *k, size_t kn, const char *v, size_t vn, bool *has)
{
	char key[256];
	if (kn >= sizeof(key))
		return *has = false;
	memcpy(key, k, kn);
	key[kn] = 0;
	json_t *have = json_object_get(labels, key);
	*has = json_is_string(have);
	return *has && v && json_string_length(have) == vn && !memcmp(json_string_value(have), v, vn);
}

/* One requirement at s->p: 1 met, 0 not, -1 malformed. */
static int requirement(struct sel *s, json_t *labels)
{
	const char *k, *v;
	size_t kn, vn;
	bool neg = false, has;

	skip_ws(s);
	if (*s->p == '!') {
		neg = true;
		s->p++;
	}
	word(s, &k, &kn);
	if (!kn)
		return say(s->msg, s->cap, -1, "invalid label selector: a key is expected at \"%.40s\"", s->p);
	if (neg || !*s->p || *s->p == ',') {
		label_is(labels, k, kn, NULL, 0, &has);
		return neg ? !has : has;
	}
	if (*s->p == '=' || (*s->p == '!' && s->p[1] == '=')) {
		bool ne = *s->p == '!';
		s->p += ne ? 2 : 1;
		if (!ne && *s->p == '=')
			s->p++;
		word(s, &v, &vn);
		bool eq = label_is(labels, k, kn, v, vn, &has);
		return ne ? !eq : eq;
	}
	bool notin = !strncmp(s->p, "notin", 5) && !key_char(s->p[5]);
	if (!notin && !(s->p[0] == 'i' && s->p[1] == 'n' && !key_char(s->p[2])))
		return say(s->msg, s->cap, -1, "invalid label selector: =, !=, in or notin expected at \"%.40s\"", s->p);
	s->p += notin ? 5 : 2;
	skip_ws(s);
	if (*s->p++ != '(')
		return say(s->msg, s->cap, -1, "invalid label selector: ( expected after in/notin");
	bool any = false;
	for (;;) {
		word(s, &v, &vn);
		any |= label_is(labels, k, kn, v, vn, &has);
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p++ != ')')
			return say(s->msg, s->cap, -1, "invalid label selector: ) expected");
		break;
	}
	skip_ws(s);
	return notin ? !any : any;
}

int ab_selector_match(const char *sel, json_t *labels, char *msg, size_t cap)
{
	struct sel s = { sel, msg, cap };
	int all = 1;
	skip_ws(&s);
	if (!*s.p)
		return 1;
	for (;;) {
		int r = requirement(&s, labels);
		if (r < 0)
			return -1;
		all &= r;
		if (!*s.p)
			return all;
		if (*s.p++ != ',')
			return say(msg, cap, -1, "invalid label selector: , expected at \"%.40s\"", s.p - 1);
	}
}

/* ---- statuses, numbers, bytes ---- */

static const struct {
	const char *session, *env;
} statuses[] = {
	{ "creating", "pending" },    { "running", "running" },	    { "stopping", "terminating" },
	{ "stopped", "terminated" },  { "deleted", "terminated" }, { "failed", "failed" },
};

const char *ab_env_status(const char *session_status)
{
	for (size_t i = 0; session_status && i < ARRAY_SIZE(statuses); i++)
		if (!strcmp(statuses[i].session, session_status))
			return statuses[i].env;
	return "pending";
}

int ab_env_status_valid(const char *s)
{
	return !strcmp(s, "pending") || !strcmp(s, "running") || !strcmp(s, "terminating") ||
	       !strcmp(s, "terminated") || !strcmp(s, "failed");
}

void ab_bytes_string(uint64_t bytes, char *out, size_t cap)
{
	if (bytes >= (1u << 20))
		snprintf(out, cap, "%lluMi", (unsigned long long)(bytes >> 20));
	else
		snprintf(out, cap, "%lluKi", (unsigned long long)(bytes >> 10));
}

int ab_go_json(struct buf *out, const json_t *j)
{
	struct buf b = BUF_INIT;
	if (srv_json_write(&b, j) < 0) {
		buf_release(&b);
		return -1;
	}
	size_t from = 0;
	for (size_t i = 0; i < b.len; i++) {
		char c = b.data[i];
		if (c == '<' || c == '>' || c == '&') {
			buf_add(out, b.data + from, i - from);
			buf_addf(out, "\\u%04x", (unsigned)c);
			from = i + 1;
		}
	}
	buf_add(out, b.data + from, b.len - from);
	buf_addch(out, '\n');
	buf_release(&b);
	return 0;
}

json_t *ab_time(const char *iso)
{
	if (!iso || strlen(iso) < 19)
		return json_null();
	char b[40];
	const char *dot = strchr(iso + 19, '.');
	size_t n = 19;
	if (dot) {
		/* keep the fraction without its trailing zeros, as Go's RFC3339Nano */
		size_t end = (size_t)(dot - iso) + 1;
		while (isdigit((unsigned char)iso[end]))
			end++;
		size_t last = end;
		while (last > (size_t)(dot - iso) + 1 && iso[last - 1] == '0')
			last--;
		n = last == (size_t)(dot - iso) + 1 ? 19 : last;
	}
	if (n >= sizeof(b) - 2)
		n = 19;
	memcpy(b, iso, n);
	b[n] = 'Z';
	b[n + 1] = 0;
	return json_string(b);
}
