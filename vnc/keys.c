/*
 * keys.c — key names and characters to X keysyms.
 */
#include "keys.h"
#include "../server/base/common.h"

#include <X11/Xlib.h>
#include <X11/keysym.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "../server/base/banned.h"

uint32_t vnc_keysym_for_char(uint32_t cp)
{
	switch (cp) {
	case '\n':
	case '\r':
		return XK_Return;
	case '\t':
		return XK_Tab;
	case '\b':
		return XK_BackSpace;
	case 0x1b:
		return XK_Escape;
	case 0x7f:
		return XK_Delete;
	}
	/* Latin-1 keysyms equal their code points; the rest use the Unicode range. */
	if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff))
		return cp;
	return 0x01000000u | cp;
}

static const struct {
	const char *alias;
	uint32_t sym;
} aliases[] = {
	{ "ctrl", XK_Control_L }, { "control", XK_Control_L }, { "shift", XK_Shift_L },
	{ "alt", XK_Alt_L }, { "option", XK_Alt_L }, { "super", XK_Super_L }, { "meta", XK_Super_L },
	{ "cmd", XK_Super_L }, { "command", XK_Super_L }, { "win", XK_Super_L }, { "altgr", XK_ISO_Level3_Shift },
	{ "enter", XK_Return }, { "return", XK_Return }, { "esc", XK_Escape }, { "escape", XK_Escape },
	{ "tab", XK_Tab }, { "space", XK_space }, { "backspace", XK_BackSpace }, { "del", XK_Delete },
	{ "delete", XK_Delete }, { "ins", XK_Insert }, { "insert", XK_Insert }, { "home", XK_Home },
	{ "end", XK_End }, { "pgup", XK_Prior }, { "pageup", XK_Prior }, { "pgdn", XK_Next },
	{ "pagedown", XK_Next }, { "up", XK_Up }, { "down", XK_Down }, { "left", XK_Left },
	{ "right", XK_Right }, { "plus", XK_plus }, { "minus", XK_minus }, { "menu", XK_Menu },
	{ "printscreen", XK_Print }, { "print", XK_Print }, { "capslock", XK_Caps_Lock },
};

static uint32_t lookup(const char *name)
{
	KeySym ks;
	char tmp[64];

	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++)
		if (!strcasecmp(name, aliases[i].alias))
			return aliases[i].sym;
	/* one character: the key that types it (a UTF-8 sequence counts as one) */
	uint32_t cp;
	size_t n = strlen(name);
	if (n && (size_t)vnc_utf8_next(name, n, &cp) == n)
		return vnc_keysym_for_char(cp < 0x80 && isupper((int)cp) ? (uint32_t)tolower((int)cp) : cp);
	if ((ks = XStringToKeysym(name)) != NoSymbol)
		return (uint32_t)ks;
	/* f5 → F5, return → Return */
	if (n >= sizeof(tmp))
		return 0;
	memcpy(tmp, name, n + 1);
	tmp[0] = (char)toupper((unsigned char)tmp[0]);
	if ((ks = XStringToKeysym(tmp)) != NoSymbol)
		return (uint32_t)ks;
	return 0;
}

int vnc_keys_parse(const char *combo, uint32_t *syms, int max, struct err **errp)
{
	char part[64];
	int n = 0;
	const char *p = combo;

	if (!*combo)
		return err_set(errp, 0, "empty key combination");
	while (*p) {
		/* "+" alone or at the end is the plus key ("ctrl++") */
		const char *e = strchr(p + 1, '+');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 0 || len >= sizeof(part))
			return err_set(errp, 0, "bad key combination \"%s\"", combo);
		memcpy(part, p, len);
		part[len] = '\0';
		uint32_t s = lookup(part);
		if (!s)
			return err_set(errp, 0, "unknown key \"%s\" in \"%s\"", part, combo);
		if (n == max)
			return err_set(errp, 0, "too many keys in \"%s\" (at most %d)", combo, max);
		syms[n++] = s;
		p += len;
		if (*p == '+')
			p++;
	}
	return n;
}

int vnc_utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	int need;
	uint32_t c;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		need = 1;
		c = u[0] & 0x1f;
	} else if ((u[0] & 0xf0) == 0xe0) {
		need = 2;
		c = u[0] & 0x0f;
	} else if ((u[0] & 0xf8) == 0xf0) {
		need = 3;
		c = u[0] & 0x07;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if ((size_t)need >= len) {
		*cp = 0xfffd;
		return 1;
	}
	for (int i = 1; i <= need; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		c = (c << 6) | (u[i] & 0x3f);
	}
	*cp = c;
	return need + 1;
}
