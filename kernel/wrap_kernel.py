"""kernel/wrap_kernel.py: mcpbox's kernels for JavaScript and the shell, Jupyter wrapper kernels.

Started by the kernel agent (kernel/agent.c) inside the session's sandbox as
    python3 wrap_kernel.py LANGUAGE DRIVER -f CONNECTION_FILE [ipykernel options]
It speaks the Jupyter protocol through ipykernel's Kernel base class and runs
the cells in one long-lived process, the driver:
- javascript: Node.js running DRIVER (kernel/node_driver.js); cells go as JSON
  lines, so declarations and required modules persist between cells;
- shell: bash running DRIVER (kernel/shell_driver.sh); cells go NUL-terminated
  and are eval'd in that one shell, so the directory, variables and functions
  persist.
The driver's stdout and stderr become stream messages as they arrive; its
events (results, display data, the end of a cell) come on a pipe of their own,
one JSON line each. SIGINT to this process (the agent's interrupt) is passed
on: to Node.js, which stops the cell and lives on; to bash and every process
under it, which ends the cell. If the driver dies the cell fails with the
reason and the next cell starts a new one, saying so.
"""
import codecs
import json
import os
import select
import signal
import subprocess
import sys

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

import kernel_tune

READ = 65536


def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else "unknown"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def descendants(pid):
    """Pids under pid, deepest first (read from /proc; the sandbox's own pid namespace)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out[::-1]


class Node:
    name = "node"
    implementation = "mcpbox-node"
    banner = "Node.js (mcpbox JavaScript kernel)"

    @staticmethod
    def info():
        version = version_of(["/usr/bin/node", "--version"]).lstrip("v")
        return version, {"name": "javascript", "version": version, "mimetype": "application/javascript",
                         "file_extension": ".js"}

    @staticmethod
    def argv(driver, cmd_fd, ev_fd):
        return ["/usr/bin/node", "--expose-internals", driver, str(cmd_fd), str(ev_fd)]

    @staticmethod
    def cell(code):
        return (json.dumps({"code": code}) + "\n").encode()

    @staticmethod
    def interrupt(proc):
        proc.send_signal(signal.SIGINT)

    @staticmethod
    def failed(done):
        return None if done.get("ok") else done


class Shell:
    name = "bash"
    implementation = "mcpbox-shell"
    banner = "bash (mcpbox shell kernel)"

    @staticmethod
    def info():
        version = version_of(["/bin/bash", "-c", "echo ${BASH_VERSION%%(*}"])
        return version, {"name": "bash", "version": version, "mimetype": "text/x-sh", "file_extension": ".sh"}

    @staticmethod
    def argv(driver, cmd_fd, ev_fd):
        return ["/bin/bash", "--norc", "--noprofile", driver, str(cmd_fd), str(ev_fd)]

    @staticmethod
    def cell(code):
        if "\0" in code:
            raise ValueError("a shell cell cannot contain a NUL character")
        return code.encode() + b"\0"

    @staticmethod
    def interrupt(proc):
        # bash first: it then ends the cell (its trap) once the program it waits for, which gets a
        # SIGINT of its own, has ended; the other way round bash would go on to the cell's next command
        for pid in [proc.pid] + descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:
                pass

    @staticmethod
    def failed(done):
        status = done.get("status", 0)
        if status == 0:
            return None
        if status == 130:
            return {"ename": "KeyboardInterrupt", "evalue": "the cell was interrupted (status 130)", "traceback": []}
        return {"ename": "ExitStatus", "evalue": f"the last command exited with status {status}", "traceback": []}


DRIVERS = {"javascript": Node, "shell": Shell}


class WrapKernel(Kernel):
    implementation_version = "1"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.driver = DRIVERS[LANGUAGE]
        self.implementation = self.driver.implementation
        self.banner = self.driver.banner
        self.language = LANGUAGE
        self.version, self.language_info = self.driver.info()
        self.proc = None
        self.start_driver()

    def start_driver(self):
        cmd_r, self.cmd_w = os.pipe()
        self.ev_r, ev_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        # ipykernel ignores SIGINT between cells, and an ignored signal stays ignored across exec:
        # a handler at the fork becomes the default in the driver, which bash needs to trap it
        saved = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = subprocess.Popen(
                self.driver.argv(DRIVER, cmd_r, ev_w),
                stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
                pass_fds=(cmd_r, ev_w), close_fds=True,
            )
        finally:
            signal.signal(signal.SIGINT, saved)
        for fd in (cmd_r, ev_w, out_w, err_w):
            os.close(fd)
        self.events = b""
        self.decoders = {}

    def stop_driver(self):
        if self.proc is None:
            return
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.SubprocessError):
            pass
        for fd in (self.cmd_w, self.ev_r, self.out_r, self.err_r):
            os.close(fd)
        self.proc = None

    def stream(self, name, data):
        # a chunk may end inside a UTF-8 character: each stream decodes incrementally
        dec = self.decoders.get(name)
        if dec is None:
            dec = self.decoders[name] = codecs.getincrementaldecoder("utf-8")("replace")
        text = dec.decode(data)
        if text:
            self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def drain(self):
        """What the driver printed before it said the cell ended."""
        for fd, name in ((self.out_r, "stdout"), (self.err_r, "stderr")):
            while select.select([fd], [], [], 0)[0]:
                data = os.read(fd, READ)
                if not data:
                    break
                self.stream(name, data)

    def event(self, ev):
        kind = ev.get("type")
        if kind == "display":
            self.send_response(self.iopub_socket, "display_data", {"data": ev.get("data", {}), "metadata": {}})
        elif kind == "result":
            self.send_response(self.iopub_socket, "execute_result",
                               {"execution_count": self.execution_count, "data": ev.get("data", {}),
                                "metadata": {}})
        return ev if kind == "done" else None

    def wait_cell(self):
        """Forward output until the driver ends the cell; its last event, or None if it died."""
        fds = [self.out_r, self.err_r, self.ev_r]
        while True:
            done = self.wait_step(fds)
            if done is not False:
                return done

    def wait_step(self, fds):
        """One wait: the cell's end (its done event, or None if the driver died), else False."""
        ready = select.select(fds, [], [], 0.5)[0]
        if not ready and self.proc.poll() is not None:
            return None     # it died, and something it started holds its pipes open
        for fd in ready:
            data = os.read(fd, READ)
            if fd == self.ev_r:
                if not data:
                    return None
                self.events += data
                while b"\n" in self.events:
                    line, self.events = self.events.split(b"\n", 1)
                    done = self.event(json.loads(line))
                    if done is not None:
                        self.drain()
                        return done
            elif data:
                self.stream("stdout" if fd == self.out_r else "stderr", data)
            else:
                fds.remove(fd)
        return False

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False,
                   *, cell_id=None):
        if self.proc is None or self.proc.poll() is not None:
            status = None if self.proc is None else self.proc.returncode
            self.stop_driver()
            self.start_driver()
            if status is not None:
                self.stream("stderr", f"[{self.driver.name} exited (status {status}) after the last cell: this "
                                      f"cell runs in a new one, earlier variables are gone]\n".encode())
        why = None
        # the agent's interrupt (SIGINT) goes on to the driver at once; raised as KeyboardInterrupt
        # it could land between a read and its use, and lose what was read
        saved = signal.signal(signal.SIGINT, lambda sig, frame: self.driver.interrupt(self.proc))
        try:
            os.write(self.cmd_w, self.driver.cell(code))
            done = self.wait_cell()
        except ValueError as e:
            done = {"ok": False, "ename": "ValueError", "evalue": str(e), "traceback": []}
        except OSError as e:
            done, why = None, str(e)
        finally:
            signal.signal(signal.SIGINT, saved)
        if done is None:
            self.drain()
            status = self.proc.wait() if self.proc.poll() is None else self.proc.returncode
            done = {"ok": False, "ename": "KernelDied",
                    "evalue": why or f"{self.driver.name} exited (status {status}); the next cell starts a new one",
                    "traceback": []}
            self.stop_driver()
        failed = self.driver.failed(done) if done.get("ok") else done
        if failed is None:
            return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                    "user_expressions": {}}
        err = {"ename": failed.get("ename", "Error"), "evalue": failed.get("evalue", ""),
               "traceback": failed.get("traceback", [])}
        self.send_response(self.iopub_socket, "error", err)
        return {"status": "error", "execution_count": self.execution_count, **err}

    def do_shutdown(self, restart):
        self.stop_driver()
        return {"status": "ok", "restart": restart}


if __name__ == "__main__":
    kernel_tune.apply()
    LANGUAGE = sys.argv.pop(1)
    DRIVER = sys.argv.pop(1)
    IPKernelApp.launch_instance(kernel_class=WrapKernel)
