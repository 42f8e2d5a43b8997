/*
 * term_keys.c — key names (term.h: sess_term_key_parse) onto libvterm's keys
 * and modifiers; libvterm encodes them for the terminal's current modes.
 */
#include "term.h"
#include "../server/base/common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <vterm.h>

#include "../server/base/banned.h"

static const struct {
	const char *name;
	int key;
	uint32_t ch;
} key_names[] = {
	{ "Enter", VTERM_KEY_ENTER, 0 },
	{ "Return", VTERM_KEY_ENTER, 0 },
	{ "Tab", VTERM_KEY_TAB, 0 },
	{ "Escape", VTERM_KEY_ESCAPE, 0 },
	{ "Esc", VTERM_KEY_ESCAPE, 0 },
	{ "Backspace", VTERM_KEY_BACKSPACE, 0 },
	{ "Delete", VTERM_KEY_DEL, 0 },
	{ "Del", VTERM_KEY_DEL, 0 },
	{ "Insert", VTERM_KEY_INS, 0 },
	{ "Up", VTERM_KEY_UP, 0 },
	{ "Down", VTERM_KEY_DOWN, 0 },
	{ "Left", VTERM_KEY_LEFT, 0 },
	{ "Right", VTERM_KEY_RIGHT, 0 },
	{ "Home", VTERM_KEY_HOME, 0 },
	{ "End", VTERM_KEY_END, 0 },
	{ "PageUp", VTERM_KEY_PAGEUP, 0 },
	{ "PageDown", VTERM_KEY_PAGEDOWN, 0 },
	{ "Space", 0, ' ' },
};

static const struct {
	const char *name;
	int mod;
} mod_names[] = {
	{ "Ctrl", VTERM_MOD_CTRL },
	{ "Control", VTERM_MOD_CTRL },
	{ "Alt", VTERM_MOD_ALT },
	{ "Meta", VTERM_MOD_ALT },
	{ "Shift", VTERM_MOD_SHIFT },
};

/* One UTF-8 character that is all of s (n bytes): its code point, or 0. */
static uint32_t one_char(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t c;
	size_t len;

	if (n == 1)
		return u[0] >= 0x20 && u[0] < 0x7f ? u[0] : 0;
	if ((u[0] & 0xe0) == 0xc0)
		len = 2, c = u[0] & 0x1f;
	else if ((u[0] & 0xf0) == 0xe0)
		len = 3, c = u[0] & 0x0f;
	else if ((u[0] & 0xf8) == 0xf0)
		len = 4, c = u[0] & 0x07;
	else
		return 0;
	if (n != len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (u[i] & 0x3f);
	}
	/* no overlong forms, surrogates or C1 controls */
	if ((len == 2 && c < 0xa0) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c < 0xe000))
		return 0;
	return c;
}

static int parse_key(const char *s, size_t n, struct sess_term_keypress *k)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_names); i++)
		if (strlen(key_names[i].name) == n && !strncasecmp(s, key_names[i].name, n)) {
			k->key = key_names[i].key;
			k->ch = key_names[i].ch;
			return 0;
		}
	if (n >= 2 && n <= 3 && (s[0] == 'F' || s[0] == 'f') && s[1] >= '1' && s[1] <= '9') {
		int f = s[1] - '0';
		if (n == 3) {
			if (s[2] < '0' || s[2] > '9')
				return -1;
			f = f * 10 + (s[2] - '0');
		}
		if (f > 12)
			return -1;
		k->key = VTERM_KEY_FUNCTION(f);
		return 0;
	}
	k->key = 0;
	k->ch = one_char(s, n);
	return k->ch ? 0 : -1;
}

int sess_term_key_parse(const char *name, struct sess_term_keypress *k, struct err **errp)
{
	struct sess_term_keypress r = { 0 };
	const char *p = name;
	const char *plus;

	/* a modifier is a known name followed by '+'; "+" alone or "Ctrl++" means the key '+' */
	while ((plus = strchr(p, '+')) && plus[1]) {
		size_t n = (size_t)(plus - p), i;
		for (i = 0; i < ARRAY_SIZE(mod_names); i++)
			if (strlen(mod_names[i].name) == n && !strncasecmp(p, mod_names[i].name, n))
				break;
		if (i == ARRAY_SIZE(mod_names))
			break;
		r.mods |= mod_names[i].mod;
		p = plus + 1;
	}
	if (!*p || parse_key(p, strlen(p), &r) < 0)
		return err_setc(errp, ERR_INVALID, 0,
				"unknown key \"%.40s\" (keys: Enter, Tab, Escape, Backspace, Delete, Insert, Up, Down, "
				"Left, Right, Home, End, PageUp, PageDown, F1..F12, Space or one character, after "
				"Ctrl+, Alt+ or Shift+)", name);
	/* Ctrl+C is the control character of c: libvterm encodes Ctrl with a capital as CSI u */
	if ((r.mods & VTERM_MOD_CTRL) && r.ch >= 'A' && r.ch <= 'Z')
		r.ch += 'a' - 'A';
	*k = r;
	return 0;
}
