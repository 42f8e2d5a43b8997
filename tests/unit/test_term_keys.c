/* Unit tests of terminal key names (sessions/term_keys.c) and what libvterm makes of them. */
#include "tap.h"
#include "sessions/term.h"
#include "server/base/buf.h"

#include <vterm.h>

static void collect(const char *s, size_t len, void *user)
{
	buf_add(user, s, len);
}

/* The bytes a program gets for the key name in vt's current modes ("" if it does not parse). */
static const char *press(VTerm *vt, struct buf *out, const char *name)
{
	struct sess_term_keypress k;
	struct err *e = NULL;

	buf_reset(out);
	if (sess_term_key_parse(name, &k, &e) < 0) {
		err_free(e);
		return "";
	}
	if (k.key)
		vterm_keyboard_key(vt, (VTermKey)k.key, (VTermModifier)k.mods);
	else
		vterm_keyboard_unichar(vt, k.ch, (VTermModifier)k.mods);
	buf_addch(out, '\0');
	out->len--;
	return out->data;
}

int main(void)
{
	VTerm *vt = vterm_new(24, 80);
	struct buf out = BUF_INIT;
	struct sess_term_keypress k;
	struct err *e = NULL;

	vterm_set_utf8(vt, 1);
	vterm_output_set_callback(vt, collect, &out);
	vterm_screen_reset(vterm_obtain_screen(vt), 1);

	is_str(press(vt, &out, "Enter"), "\r", "Enter is CR");
	is_str(press(vt, &out, "return"), "\r", "names ignore case");
	is_str(press(vt, &out, "Tab"), "\t", "Tab");
	is_str(press(vt, &out, "Escape"), "\x1b", "Escape");
	is_str(press(vt, &out, "Esc"), "\x1b", "Esc");
	is_str(press(vt, &out, "Backspace"), "\x7f", "Backspace is DEL");
	is_str(press(vt, &out, "Ctrl+C"), "\x03", "Ctrl+C is ETX (a capital letter too)");
	is_str(press(vt, &out, "ctrl+d"), "\x04", "Ctrl+D is EOT");
	is_str(press(vt, &out, "Alt+x"), "\x1bx", "Alt prefixes ESC");
	is_str(press(vt, &out, "Up"), "\x1b[A", "Up in normal cursor mode");
	is_str(press(vt, &out, "Down"), "\x1b[B", "Down");
	is_str(press(vt, &out, "Right"), "\x1b[C", "Right");
	is_str(press(vt, &out, "Left"), "\x1b[D", "Left");
	is_str(press(vt, &out, "PageUp"), "\x1b[5~", "PageUp");
	is_str(press(vt, &out, "PageDown"), "\x1b[6~", "PageDown");
	is_str(press(vt, &out, "Delete"), "\x1b[3~", "Delete");
	is_str(press(vt, &out, "F1"), "\x1bOP", "F1");
	is_str(press(vt, &out, "F5"), "\x1b[15~", "F5");
	is_str(press(vt, &out, "F12"), "\x1b[24~", "F12");
	is_str(press(vt, &out, "Space"), " ", "Space");
	is_str(press(vt, &out, "q"), "q", "one character");
	is_str(press(vt, &out, "+"), "+", "a lone + is the key +");
	is_str(press(vt, &out, "Ctrl++"), "\x1b[43;5u", "Ctrl++ is Ctrl with the key +");
	is_str(press(vt, &out, "\xc3\xa9"), "\xc3\xa9", "one UTF-8 character");

	/* a program that asks for application cursor keys (vim, less) gets them */
	vterm_input_write(vt, "\x1b[?1h", 5);
	is_str(press(vt, &out, "Up"), "\x1bOA", "Up in application cursor mode");
	vterm_input_write(vt, "\x1b[?1l", 5);
	is_str(press(vt, &out, "Up"), "\x1b[A", "and back");

	/* what does not parse */
	const char *bad[] = { "", "F0", "F13", "F1x", "Hyper+Q", "Ctrl+", "ab", "\x01", "\xc3", "\xc0\xaf",
			      "\xed\xa0\x80", "Enterx", "Ctrl+Ctrl" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ok(sess_term_key_parse(bad[i], &k, &e) < 0 && e && e->cls == ERR_INVALID,
		   "refused: key %zu", i);
		err_free(e);
		e = NULL;
	}
	ok(sess_term_key_parse("Ctrl+Alt+Shift+Home", &k, &e) == 0 && k.key == VTERM_KEY_HOME &&
		   k.mods == (VTERM_MOD_CTRL | VTERM_MOD_ALT | VTERM_MOD_SHIFT),
	   "several modifiers");

	buf_release(&out);
	vterm_free(vt);
	return tap_done();
}
