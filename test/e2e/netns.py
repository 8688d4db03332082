"""What every network-namespace test shares: whether this machine can run them, and a private
namespace with lo up whose commands and processes run inside it and go with it on destroy()."""

import os
import signal
import shutil
import subprocess
import uuid


def skip_reason(tools, binary):
    """Why these tests cannot run here (not root, a tool or `binary` missing, no netns), or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if not binary.exists():
        return f"{binary} not built"
    probe = f"remora-probe-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if r.returncode != 0:
        return "ip netns unavailable: " + r.stderr.decode().strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NetnsBase:
    """A namespace named `<prefix>-<pid>-<random>`; add() creates it with lo up."""

    def __init__(self, prefix):
        self.name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.procs = []

    def add(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=10)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *cmd, check=True, input=None, timeout=20):
        r = subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{cmd} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def spawn(self, *cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)
        self.procs.append(p)
        return p

    def destroy(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        # Whatever those started (remoractl sidecar's remora, say) is in the namespace too: a
        # process outlives `ip netns del`, so everything still in it is killed first.
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                              text=True, timeout=10).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Deleting the namespace removes its addresses and iptables rules with it.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
