"""A hybridserve on this machine for trying models out (notebooks, scripts): loopback only, OS-chosen ports, its
state in a temporary folder unless given.

    with hm.serve("repository") as server, HybridClient(server.target) as client:
        client.predict("sir", [0.99, 0.01, 0.0], times=[1, 5])
"""
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from typing import Iterator, Optional

from hybridserve_model.folder import find_server


class LocalServer:
    def __init__(self, process: subprocess.Popen, grpc_port: int, metrics_port: int, log: str):
        self.process, self.grpc_port, self.metrics_port, self.log = process, grpc_port, metrics_port, log

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


@contextlib.contextmanager
def serve(repository: str, *flags: str, server: Optional[str] = None, state_dir: Optional[str] = None,
          start_timeout: float = 60.0) -> Iterator[LocalServer]:
    """Serves `repository` until the block ends (then SIGTERM: queued work is answered and checkpointed).
    `flags`: more hybridserve flags. Raises RuntimeError with the server's output if it does not start."""
    with tempfile.TemporaryDirectory() as work:
        ports, log = os.path.join(work, "ports"), os.path.join(work, "server.log")
        with open(log, "w") as out:
            process = subprocess.Popen(
                [find_server(server), f"--model_repository={repository}",
                 f"--state_dir={state_dir or os.path.join(work, 'state')}", "--grpc_address=127.0.0.1:0",
                 "--metrics_address=127.0.0.1:0", f"--ports_file={ports}", *flags],
                stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_timeout
            while not os.path.exists(ports):
                if process.poll() is not None or time.monotonic() > deadline:
                    with open(log) as f:
                        raise RuntimeError(f"hybridserve did not start:\n{f.read()}")
                time.sleep(0.1)
            with open(ports) as f:
                values = dict(line.split("=") for line in f.read().split())
            yield LocalServer(process, int(values["grpc_port"]), int(values["metrics_port"]), log)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
