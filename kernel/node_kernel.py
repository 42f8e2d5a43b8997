"""kernel/node_kernel.py: mcpbox's JavaScript kernel, a Jupyter wrapper kernel.

Started by the kernel agent (kernel/agent.c) inside the session's sandbox as
    python3 node_kernel.py DRIVER -f CONNECTION_FILE [ipykernel options]
It speaks the Jupyter protocol through ipykernel's Kernel base class and runs
the cells in one long-lived Node.js process (DRIVER, kernel/node_driver.js),
so declarations and required modules persist between cells. The driver's
stdout and stderr become stream messages as they arrive; its events (results,
display data, the end of a cell) come on a pipe of their own, one JSON line
each. SIGINT to this process (the agent's interrupt) is passed to the driver,
which stops the cell and lives on. If the driver dies the cell fails with the
reason and the next cell starts a new one.
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

NODE = "/usr/bin/node"
READ = 65536


def node_version():
    try:
        out = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.strip().lstrip("v") or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class NodeKernel(Kernel):
    implementation = "mcpbox-node"
    implementation_version = "1"
    language = "javascript"
    banner = "Node.js (mcpbox JavaScript kernel)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.version = node_version()
        self.language_info = {
            "name": "javascript",
            "version": self.version,
            "mimetype": "application/javascript",
            "file_extension": ".js",
        }
        self.proc = None
        self.start_driver()

    def start_driver(self):
        cmd_r, self.cmd_w = os.pipe()
        self.ev_r, ev_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.proc = subprocess.Popen(
            [NODE, "--expose-internals", DRIVER, str(cmd_r), str(ev_w)],
            stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w,
            pass_fds=(cmd_r, ev_w), close_fds=True,
        )
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
        """What the driver printed before it said the cell ended (its pipes are synchronous writes)."""
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
            try:
                ready = select.select(fds, [], [])[0]
            except KeyboardInterrupt:
                self.proc.send_signal(signal.SIGINT)
                continue
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

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False,
                   *, cell_id=None):
        if self.proc is None or self.proc.poll() is not None:
            status = None if self.proc is None else self.proc.returncode
            self.stop_driver()
            self.start_driver()
            if status is not None:
                self.stream("stderr", f"[node exited (status {status}) after the last cell: this cell runs in a "
                                      f"new one, earlier variables are gone]\n".encode())
        try:
            os.write(self.cmd_w, (json.dumps({"code": code}) + "\n").encode())
            done = self.wait_cell()
        except (OSError, ValueError) as e:
            done, why = None, str(e)
        else:
            why = None
        if done is None:
            self.drain()
            status = self.proc.wait() if self.proc.poll() is None else self.proc.returncode
            done = {"ok": False, "ename": "KernelDied",
                    "evalue": why or f"node exited (status {status}); the next cell starts a new one",
                    "traceback": []}
            self.stop_driver()
        if done.get("ok"):
            return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                    "user_expressions": {}}
        err = {"ename": done.get("ename", "Error"), "evalue": done.get("evalue", ""),
               "traceback": done.get("traceback", [])}
        self.send_response(self.iopub_socket, "error", err)
        return {"status": "error", "execution_count": self.execution_count, **err}

    def do_shutdown(self, restart):
        self.stop_driver()
        return {"status": "ok", "restart": restart}


if __name__ == "__main__":
    DRIVER = sys.argv.pop(1)
    IPKernelApp.launch_instance(kernel_class=NodeKernel)
