#include "template.h"
#include "banned.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

int srv_tmpl_name_check(const char *name, struct err **errp)
{
	size_t n = strlen(name);

	if (!n || n > SRV_TMPL_NAME_MAX || !isalnum((unsigned char)name[0]))
		return err_setc(errp, ERR_INVALID, 0, "template name \"%.80s\" must be 1 to %d characters starting with "
				"a letter or digit", name, SRV_TMPL_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._:-", name[i]))
			return err_setc(errp, ERR_INVALID, 0, "template name \"%.80s\": only letters, digits and . _ : - "
					"are allowed", name);
	return 0;
}

static int check_env(const char *name, json_t *env, struct err **errp)
{
	const char *k;
	json_t *v;

	if (!json_is_object(env) || json_object_size(env) > 256)
		return err_setc(errp, ERR_INVALID, 0, "template %s: env must be an object of at most 256 strings", name);
	json_object_foreach(env, k, v) {
		if (!*k || strchr(k, '=') || strlen(k) > 256)
			return err_setc(errp, ERR_INVALID, 0, "template %s: env: invalid variable name \"%.80s\"", name, k);
		if (!json_is_string(v) || json_string_length(v) > 32768)
			return err_setc(errp, ERR_INVALID, 0, "template %s: env.%s must be a string of at most 32 KiB", name,
					k);
	}
	return 0;
}

static int check_files(const char *name, json_t *files, struct err **errp)
{
	const char *path;
	json_t *v;
	size_t total = 0;

	if (!json_is_object(files) || json_object_size(files) > SRV_TMPL_FILES_MAX)
		return err_setc(errp, ERR_INVALID, 0, "template %s: files must be an object of at most %d {path: content}",
				name, SRV_TMPL_FILES_MAX);
	json_object_foreach(files, path, v) {
		const char *rel = !strncmp(path, "/workspace/", 11) ? path + 11 : path;
		if (!*rel || rel[0] == '/' || strlen(rel) > 4096 || !strcmp(rel, "..") || !strncmp(rel, "../", 3) ||
		    strstr(rel, "/../") || (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/..")))
			return err_setc(errp, ERR_INVALID, 0, "template %s: files: \"%.80s\" must be a path inside /workspace",
					name, path);
		if (!json_is_string(v))
			return err_setc(errp, ERR_INVALID, 0, "template %s: files[\"%.80s\"] must be a string (the content)",
					name, path);
		total += json_string_length(v);
	}
	if (total > SRV_TMPL_FILE_BYTES)
		return err_setc(errp, ERR_INVALID, 0, "template %s: files hold %zu bytes (at most %u)", name, total,
				SRV_TMPL_FILE_BYTES);
	return 0;
}

int srv_tmpl_check(const char *name, json_t *t, struct err **errp)
{
	const char *k;
	json_t *v;

	if (!json_is_object(t))
		return err_setc(errp, ERR_INVALID, 0, "template %s must be an object of settings", name);
	json_object_foreach(t, k, v) {
		bool bad = false;
		if (!strcmp(k, "memory_mb")) {
			bad = !json_is_integer(v) || json_integer_value(v) < 16 || json_integer_value(v) > (1 << 24);
		} else if (!strcmp(k, "disk_mb")) {
			bad = !json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 30);
		} else if (!strcmp(k, "cpus")) {
			bad = !json_is_number(v) || !(json_number_value(v) >= 0.01) || json_number_value(v) > 4096;
		} else if (!strcmp(k, "timeout_s")) {
			bad = !json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 3600;
		} else if (!strcmp(k, "network")) {
			bad = !json_is_boolean(v);
		} else if (!strcmp(k, "snapshot_id") || !strcmp(k, "language") || !strcmp(k, "description")) {
			size_t max = k[0] == 'd' ? 500 : k[0] == 'l' ? 32 : 128;
			bad = !json_is_string(v) || !json_string_length(v) || json_string_length(v) > max;
		} else if (!strcmp(k, "env")) {
			if (check_env(name, v, errp) < 0)
				return -1;
		} else if (!strcmp(k, "files")) {
			if (check_files(name, v, errp) < 0)
				return -1;
		} else {
			return err_setc(errp, ERR_INVALID, 0, "template %s: unknown key \"%.80s\" (expected description, "
					"memory_mb, cpus, disk_mb, timeout_s, network, env, files, snapshot_id, language)", name, k);
		}
		if (bad)
			return err_setc(errp, ERR_INVALID, 0, "template %s: %s has a bad value (memory_mb: an integer >= 16; "
					"cpus: a number from 0.01; disk_mb: an integer >= 1; timeout_s: 1 to 3600; network: a boolean; snapshot_id, "
					"language, description: non-empty strings)", name, k);
	}
	return 0;
}

json_t *srv_tmpl_merge(json_t *t, json_t *args)
{
	static const char *const plain[] = { "memory_mb", "cpus", "disk_mb", "timeout_s", "network", "snapshot_id" };
	json_t *out = args ? json_deep_copy(args) : json_object();
	json_t *tenv = json_object_get(t, "env");

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		json_t *v = json_object_get(t, plain[i]);
		if (v && !json_object_get(out, plain[i]))
			json_object_set(out, plain[i], v);
	}
	if (json_object_size(tenv)) {
		json_t *env = json_deep_copy(tenv);
		json_object_update(env, json_object_get(out, "env")); /* the caller's values win */
		json_object_set_new(out, "env", env);
	}
	return out;
}
