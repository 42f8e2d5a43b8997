/**
 * term.h — terminals: programs of a session running on a pseudo-terminal,
 * driven by writes and key presses, read as raw output and as the text of
 * their screen.
 *
 * The pty is made INSIDE the sandbox, from its own devpts: the worker's
 * child opens /dev/ptmx, makes the slave its controlling terminal (it is
 * already a session leader) and sends the master to the server over a
 * socketpair before its execve (sandbox.h: pty_rows/pty_cols). The server
 * reads the master on the loop. Everything the program writes is hostile:
 * each terminal is read at most SESS_TERM_READ_BUDGET bytes per loop turn
 * (a flood cannot starve other terminals or connections), its raw output
 * goes to a bounded ring (the config's terminal_output bytes, oldest
 * dropped and counted) and into a terminal emulator (libvterm) of a bounded
 * size that keeps the screen. Bytes for the program (writes, keys, the
 * emulator's answers to queries) wait in a bounded queue.
 *
 * Lifetime: the session owns its terminals (s->terms; at most the config's
 * terminals_per_session: a new one pushes out the oldest whose program
 * ended, else ERR_LIMIT). A terminal stays after its program ended (its
 * screen and output can still be read) until sess_term_close(), the idle
 * timeout (terminal_idle: no call and no viewer) or the end of its
 * session's sandbox (sess_terms_close_all). Closing kills the program's
 * process group and every process of its terminal session. A terminal being closed leaves the list at once; its
 * memory goes once its handles closed and its exit was reported.
 *
 * Loop thread only.
 */
#ifndef MCPBOX_SESS_TERM_H
#define MCPBOX_SESS_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../server/base/buf.h"
#include "../server/base/err.h"
#include "ring.h"
#include "sandbox.h"
#include "session.h"

#define SESS_TERM_MAX_ROWS 200
#define SESS_TERM_MAX_COLS 500
#define SESS_TERM_READ_BUDGET (64u * 1024)	/* bytes read from one terminal per loop turn */
#define SESS_TERM_QUEUE (256u * 1024)		/* bytes for the program that may wait unwritten */
#define SESS_TERM_OPEN_TIMEOUT_MS 10000		/* the sandbox hands over the pty within this */

enum sess_term_state {
	SESS_TERM_OPENING,
	SESS_TERM_RUNNING,
	SESS_TERM_EXITED,	/* its program ended (exit holds how) */
};

struct sess_term;

/** Someone watching a terminal's raw output as it arrives (a browser). */
struct sess_term_viewer {
	LIST_ENTRY(sess_term_viewer) link;
	void (*output)(struct sess_term_viewer *v, const char *data, size_t len);
	/* its size (rows, cols) or state changed; may be NULL */
	void (*changed)(struct sess_term_viewer *v);
	/* the terminal goes away; v was removed before this call */
	void (*closed)(struct sess_term_viewer *v);
};

struct sess_term_io;

struct sess_term {
	char *id;			/* "term_…" */
	struct sess_session *sess;	/* not held: the session closes its terminals */
	char *command;			/* what runs, for listings */
	int rows, cols;
	enum sess_term_state state;
	struct sess_exit exit;		/* when EXITED */
	uint64_t opened_at;		/* wall clock, ms */
	uint64_t last_used;		/* monotonic ms: last call or viewer input */
	uint64_t last_output;		/* monotonic ms: last byte read (0: none yet) */
	uint64_t input_at;		/* output offset when input was last written: what answers it starts there */
	struct sess_ring out;		/* raw output */
	LIST_HEAD(, sess_term_viewer) viewers;
	LIST_ENTRY(sess_term) link;
	struct sess_term_io *io;	/* private to term.c */
};

struct sess_term_opts {
	const char *const *argv;	/* argv[0] absolute inside the sandbox */
	const char *const *envp;
	const char *cwd;		/* NULL: /workspace */
	int rows, cols;			/* 1..SESS_TERM_MAX_ROWS, 1..SESS_TERM_MAX_COLS */
	struct sess_limits limits;	/* rlimits of the program */
};

/** The terminal runs (t, err NULL) or could not be opened (t NULL, err owned by the callee). */
typedef void (*sess_term_opened_cb)(void *arg, struct sess_term *t, struct err *err);

/**
 * Open a terminal in s (running) with o's program; cb runs later, never
 * inside this call. ERR_LIMIT when the session keeps its most terminals
 * and all their programs run, or its key (quota.terminals); EAGAIN's class
 * when the whole server holds quota.server_terminals terminals with a pty
 * (or the socket it comes through) open, whoever's.
 */
int sess_term_open(struct sess_session *s, const struct sess_term_opts *o, sess_term_opened_cb cb, void *arg,
		   struct err **errp);

/** The terminal id of a session owner may see (sess_find's rule), or NULL. bound: only in that session (may be NULL). */
struct sess_term *sess_term_find(struct sess_registry *reg, const char *id, const char *owner, const char *bound);

/** Queue bytes for the program. ERR_CONFLICT once it ended, ERR_LIMIT past SESS_TERM_QUEUE waiting. */
int sess_term_write(struct sess_term *t, const char *data, size_t len, struct err **errp);
/**
 * Press a named key ("Enter", "Ctrl+C", "F5", "PageUp", "a", "Alt+x" …;
 * sess_term_key_parse) as the terminal's emulator encodes it in its current
 * modes (e.g. cursor keys in application mode for vim). Errors as
 * sess_term_write, ERR_INVALID for an unknown name.
 */
int sess_term_key(struct sess_term *t, const char *name, struct err **errp);
/** New size (bounds as open): the program gets SIGWINCH, the screen is resized. */
int sess_term_resize(struct sess_term *t, int rows, int cols, struct err **errp);
/** The screen as text (rows joined by \n, trailing blanks and blank rows dropped) and the cursor (0-based). */
void sess_term_screen(const struct sess_term *t, struct buf *text, int *cursor_row, int *cursor_col);
/** A call or a viewer used it now (the idle timeout counts from the last use). */
void sess_term_touch(struct sess_term *t);
/** Kill its program's process group and close it (t leaves s->terms now). */
void sess_term_close(struct sess_term *t);

/**
 * Watch t: v's callbacks run on the loop until sess_term_viewer_remove() or
 * its closed callback; any of them may remove v (never another viewer).
 */
void sess_term_viewer_add(struct sess_term *t, struct sess_term_viewer *v);
void sess_term_viewer_remove(struct sess_term_viewer *v);

/** "opening", "running", "exited". */
const char *sess_term_state_name(enum sess_term_state st);
/** Terminals s keeps. */
unsigned sess_term_count(const struct sess_session *s);
/**
 * The sandbox of s is going away (its worker is freed right after): close
 * every terminal; no exit report will come for them. Openings in flight
 * fail.
 */
void sess_terms_close_all(struct sess_session *s);

/* ---- keys (term_keys.c) ---- */

/** A key press: a key of libvterm's (VTERM_KEY_*) or a character, with modifiers (VTERM_MOD_*). */
struct sess_term_keypress {
	int key;		/* VTermKey; 0: the character ch */
	uint32_t ch;		/* Unicode code point when key is 0 */
	int mods;		/* VTermModifier bits */
};

/**
 * Parse a key name: modifiers "Ctrl+", "Alt+", "Shift+" (any order, any
 * case) before a key: Enter, Tab, Escape (Esc), Backspace, Delete, Insert,
 * Up, Down, Left, Right, Home, End, PageUp, PageDown, F1..F12, Space, or
 * one character. ERR_INVALID with the name otherwise.
 */
int sess_term_key_parse(const char *name, struct sess_term_keypress *k, struct err **errp);

#endif
