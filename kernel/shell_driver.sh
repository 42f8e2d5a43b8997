# kernel/shell_driver.sh — the bash side of mcpbox's shell kernel (kernel/wrap_kernel.py
# starts it as `bash --norc --noprofile shell_driver.sh CMD_FD EV_FD`; both run inside
# the session's sandbox).
#
# Cells arrive NUL-terminated on fd CMD_FD. Each is eval'd in this one shell, so the
# working directory, variables, functions, aliases and options persist from one cell
# to the next, as in a terminal. What a cell prints goes to stdout/stderr (pipes the
# kernel forwards); its end goes as a JSON line on fd EV_FD:
#   {"type":"done","ok":true,"status":N}
# SIGINT (the kernel passes the agent's interrupt to this shell and its children)
# ends the running cell with status 130 and keeps the shell.

__mcpbox_cmd=$1
__mcpbox_ev=$2
shift 2

__mcpbox_cell() {
	eval "$1"
}

while :; do
	# in a cell: return from __mcpbox_cell; between cells there is nothing to stop. Set again for
	# every cell: after a trap has returned from the function once, bash runs it no more
	trap 'return 130 2>/dev/null' INT
	IFS= read -r -d '' __mcpbox_code <&"$__mcpbox_cmd"
	__mcpbox_st=$?
	if [ "$__mcpbox_st" -gt 128 ]; then
		continue	# a signal while waiting for a cell
	elif [ "$__mcpbox_st" -ne 0 ]; then
		exit 0		# the kernel went away
	fi
	# the cell and what it starts (a program left running in the background) do not get the two
	# pipes: the kernel sees the end of this shell by the end of its events
	__mcpbox_cell "$__mcpbox_code" {__mcpbox_cmd}<&- {__mcpbox_ev}>&-
	__mcpbox_st=$?
	printf '{"type":"done","ok":true,"status":%d}\n' "$__mcpbox_st" >&"$__mcpbox_ev"
done
