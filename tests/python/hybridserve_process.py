"""A real hybridserve for Python tests: loopback, OS-chosen ports, a fresh state folder.

    with Hybridserve(binary, repository, "--load_models=lorenz63") as server:
        channel = grpc.insecure_channel(server.target)

`tokens`: lines of an --auth_tokens file ("client roles token"), written into
the server's own folder. `state_dir`: the --state_dir to use (a restart on the
same state); default: a fresh one in the server's folder. kill() is SIGKILL.
"""
import os
import signal
import subprocess
import tempfile
import time


class Hybridserve:
    def __init__(self, binary, repository, *flags, tokens=None, state_dir=None):
        self.work = tempfile.TemporaryDirectory()
        self.state_dir = state_dir or f"{self.work.name}/state"
        ports = os.path.join(self.work.name, "ports")
        if tokens is not None:
            path = os.path.join(self.work.name, "tokens")
            with open(path, "w") as f:
                f.write("".join(line + "\n" for line in tokens))
            flags = (*flags, f"--auth_tokens={path}")
        self.log = open(os.path.join(self.work.name, "server.log"), "w+")
        self.process = subprocess.Popen(
            [binary, f"--model_repository={repository}", f"--state_dir={self.state_dir}",
             "--grpc_address=127.0.0.1:0", "--metrics_address=127.0.0.1:0", f"--ports_file={ports}", *flags],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if os.path.exists(ports) or self.process.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(ports):
            self.stop()
            raise RuntimeError(f"hybridserve did not start:\n{self.output()}")
        with open(ports) as f:
            values = dict(line.split("=") for line in f.read().split())
        self.grpc_port, self.metrics_port = int(values["grpc_port"]), int(values["metrics_port"])
        self.target = f"127.0.0.1:{self.grpc_port}"

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self):
        self.process.kill()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()
        self.log.close()
        self.work.cleanup()
