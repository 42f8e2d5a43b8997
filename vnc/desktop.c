/*
 * desktop.c — the standard desktop of a display (see desktop.h). Runs in the
 * display agent, inside the sandbox.
 */
#include "desktop.h"
#include "../server/base/common.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../server/base/banned.h"

#define WM "/usr/bin/jwm"
#define TERMINAL "/usr/bin/xterm"

/* Colours match the bare display's background (vnc/agent.c). Only bindings
   with a modifier: a bare key bound here would be taken from every program. */
static const char jwmrc[] =
	"<?xml version=\"1.0\"?>\n"
	"<JWM>\n"
	"  <RootMenu onroot=\"3\">\n"
	"    <Program label=\"Terminal\">xterm</Program>\n"
	"  </RootMenu>\n"
	"  <Tray x=\"0\" y=\"-1\" height=\"28\" autohide=\"off\">\n"
	"    <TrayButton label=\"Terminal\">exec:xterm</TrayButton>\n"
	"    <Spacer width=\"4\"/>\n"
	"    <TaskList maxwidth=\"240\"/>\n"
	"    <Clock format=\"%H:%M\"/>\n"
	"  </Tray>\n"
	"  <WindowStyle decorations=\"flat\">\n"
	"    <Font>DejaVu Sans-10:bold</Font>\n"
	"    <Width>4</Width>\n"
	"    <Height>24</Height>\n"
	"    <Foreground>#d8dee9</Foreground>\n"
	"    <Background>#4c566a</Background>\n"
	"    <Active><Foreground>#eceff4</Foreground><Background>#5e81ac</Background></Active>\n"
	"  </WindowStyle>\n"
	"  <TrayStyle decorations=\"flat\">\n"
	"    <Font>DejaVu Sans-10</Font>\n"
	"    <Foreground>#eceff4</Foreground>\n"
	"    <Background>#3b4252</Background>\n"
	"  </TrayStyle>\n"
	"  <TaskListStyle>\n"
	"    <Font>DejaVu Sans-10</Font>\n"
	"    <Foreground>#d8dee9</Foreground>\n"
	"    <Background>#3b4252</Background>\n"
	"    <Active><Foreground>#eceff4</Foreground><Background>#5e81ac</Background></Active>\n"
	"  </TaskListStyle>\n"
	"  <MenuStyle decorations=\"flat\">\n"
	"    <Font>DejaVu Sans-10</Font>\n"
	"    <Foreground>#eceff4</Foreground>\n"
	"    <Background>#3b4252</Background>\n"
	"    <Active><Foreground>#eceff4</Foreground><Background>#5e81ac</Background></Active>\n"
	"  </MenuStyle>\n"
	"  <Desktops width=\"1\" height=\"1\"><Background type=\"solid\">#2e3440</Background></Desktops>\n"
	"  <FocusModel>click</FocusModel>\n"
	"  <MoveMode>opaque</MoveMode>\n"
	"  <ResizeMode>opaque</ResizeMode>\n"
	"  <Key mask=\"A\" key=\"Tab\">nextstacked</Key>\n"
	"  <Key mask=\"A\" key=\"F4\">close</Key>\n"
	"  <Key mask=\"A\" key=\"F10\">maximize</Key>\n"
	"</JWM>\n";

/* A child of the agent in its process group, killed with it. */
static void start(const char *const *argv, const char *const *envp)
{
	if (access(argv[0], X_OK) < 0)
		return;	/* not installed: left out */
	pid_t pid = fork();
	if (pid != 0)
		return;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGCHLD, SIG_DFL);	/* the agent ignores it; they must not */
	signal(SIGPIPE, SIG_DFL);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	close_range(3, ~0U, 0);
	if (chdir("/workspace") < 0)
		_exit(127);
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	_exit(127);
}

void vnc_desktop_start(const char *dir, const char *const *envp)
{
	char path[256];
	const char *env[16];
	size_t n = 0;

	for (; envp[n] && n < ARRAY_SIZE(env) - 2; n++)
		env[n] = envp[n];
	env[n++] = "DISPLAY=:0";
	env[n] = NULL;

	snprintf(path, sizeof(path), "%s/jwmrc", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		bool ok = write(fd, jwmrc, sizeof(jwmrc) - 1) == (ssize_t)(sizeof(jwmrc) - 1);
		close(fd);
		if (ok)
			start((const char *const[]){ WM, "-f", path, NULL }, env);
	}
	start((const char *const[]){ TERMINAL, "-geometry", "100x30+40+40", NULL }, env);
}
