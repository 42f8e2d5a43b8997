/**
 * keys.h — text and key names to X keysyms (pure functions, any thread).
 */
#ifndef MCPBOX_VNC_KEYS_H
#define MCPBOX_VNC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "../server/base/err.h"

#define VNC_MAX_COMBO 8

/** The keysym that types Unicode code point cp ("\n" → Return, "\t" → Tab). */
uint32_t vnc_keysym_for_char(uint32_t cp);

/**
 * Parse "ctrl+shift+t", "Return", "F5", "a" into keysyms (modifiers first,
 * in the order written). Names are X keysym names plus friendly aliases
 * (ctrl, alt, shift, super/cmd/win/meta, enter, esc, del, pgup, ...),
 * case-insensitive. Returns the count or -1 with *errp naming the bad key.
 */
int vnc_keys_parse(const char *combo, uint32_t *syms, int max, struct err **errp);

/**
 * Decode the next UTF-8 code point of s (len bytes left) into *cp; returns
 * the bytes used (>= 1; invalid bytes decode as U+FFFD).
 */
int vnc_utf8_next(const char *s, size_t len, uint32_t *cp);

#endif
