/**
 * desktop.h — what a "standard" display runs besides Xvfb: a light window
 * manager (JWM: title bars to move windows by, close buttons, click to
 * focus, a task bar to switch windows, Alt+Tab) and one terminal (xterm).
 *
 * Display agent side only (vnc/agent.c calls it once X accepts clients): the
 * programs run inside the sandbox as the agent's children, in its process
 * group, so they are the session's processes, counted against its limits,
 * and go when the display stops. A program that is not installed is left
 * out (the display works bare); nothing here can fail the display.
 */
#ifndef MCPBOX_VNC_DESKTOP_H
#define MCPBOX_VNC_DESKTOP_H

/** The `desktop` values of session_create's display, as the agent's argument. */
#define VNC_DESKTOP_STANDARD "standard"
#define VNC_DESKTOP_BARE "bare"

/**
 * Start the window manager (its configuration written to dir/jwmrc) and a
 * terminal on X display :0. envp: the environment they get (DISPLAY added).
 */
void vnc_desktop_start(const char *dir, const char *const *envp);

#endif
