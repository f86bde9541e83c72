#!/usr/bin/python3
"""hybridbridge end to end: Debian's mosquitto broker on loopback, a real hybridserve, sensor messages published
with mosquitto_pub at QoS 1 (each retried until the broker acknowledges it, as a sensor would).

Along one stream of 240 reports for two entities of a model that estimates θ with the states:
- the server is not up yet for the first 40 messages (the bridge holds them and retries);
- the broker is restarted (SIGTERM, persistent sessions on disk) after 100;
- the bridge is killed with SIGKILL after 170 and started again 20 messages later;
- three bad messages (not JSON, an unknown observable, too many reports) go to the dead letters and hold nothing up.
At the end every acknowledged message is in the server exactly once: report counts, ensembles and θ equal, bit
for bit, those of a server fed the good reports directly with Observe.

Over TLS (a mosquitto listener that requires client certificates, throw-away certificates from
tests/e2e/make_test_certs.sh): a bridge with the right CA and client certificate delivers a stream whole across a
broker restart; plain
MQTT, an untrusted broker certificate, a name the certificate does not carry, no client certificate and one from
another CA are each refused with the reason; files that cannot be loaded stop the bridge at once, named.

Usage: mqtt_bridge_test.py BUILD_DIR SOURCE_DIR
"""
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

BUILD, SOURCE = sys.argv[1], sys.argv[2]
sys.path[:0] = [os.path.join(BUILD, "python"), os.path.join(SOURCE, "tests/python")]
del sys.argv[1:3]

from hybridserve_client import HybridClient, Report  # noqa: E402
from hybridserve_process import Hybridserve  # noqa: E402

HYBRIDSERVE = os.path.join(BUILD, "server/hybridserve")
HYBRIDBRIDGE = os.path.join(BUILD, "ingest/hybridbridge")
CONFIG = """name: "tracker"
physics: PHYSICS_KIND_LORENZ63
parameters { name: "rho" initial: 24 trainable: true }
correction { composition: COMPOSITION_PHYSICS_ONLY }
ensemble_members: 12
member_jitter: 0.05
seed: 3
uncertainty { observation_noise_std: 1 }
observables { name: "xy" unit: "1" terms { component: "x" weight: 0.5 } terms { component: "y" weight: 0.5 } noise_std: 1 }
inputs { name: "kick" component: "z" }
entities { prior_mean: [0, 0, 25] prior_std: [6, 7, 6] inflation: 1.02 estimate_parameters: true
           max_reports_per_request: 8 }
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lorenz63_stream(count):
    """(entity, time, readings, inputs) of two Lorenz-63 trajectories (ρ = 28), x and xy noisy, 0.05 apart."""
    rng = np.random.default_rng(5)
    f = lambda s: np.array([10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]])
    states = {"a": np.array([1.0, 1.0, 20.0]), "b": np.array([-3.0, 2.0, 25.0])}
    out = []
    for k in range(count // 2):
        for name in ("a", "b"):
            s = states[name]
            for _ in range(5):
                h = 0.01
                k1 = f(s); k2 = f(s + h / 2 * k1); k3 = f(s + h / 2 * k2); k4 = f(s + h * k3)
                s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            states[name] = s
            readings = {"x": round(float(s[0] + rng.normal()), 6)}
            if k % 3 == 0:
                readings["xy"] = {"value": round(float((s[0] + s[1]) / 2 + rng.normal()), 6), "noise_std": 1.5}
            out.append((name, round(0.05 * (k + 1), 10), readings, {"kick": 0.5} if k % 25 == 24 else {}))
    return out


class Broker:
    """mosquitto on 127.0.0.1 with its persistence in a folder: restart() keeps sessions and queued messages.
    With `certs` (tests/e2e/make_test_certs.sh), a TLS listener that requires a client certificate from the CA."""

    def __init__(self, folder, certs=None):
        self.port, self.folder, self.certs = free_port(), folder, certs
        self.config = os.path.join(folder, "mosquitto.conf")
        with open(self.config, "w") as f:
            # user: started as root, mosquitto would become "mosquitto" and could not write the folder.
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
                    f"persistence true\n"
                    f"persistence_location {folder}/\nlog_dest file {folder}/mosquitto.log\n")
            if certs:
                f.write(f"cafile {certs}/ca.crt\ncertfile {certs}/server.crt\nkeyfile {certs}/server.key\n"
                        f"require_certificate true\n")
        self.start()

    def start(self):
        self.process = subprocess.Popen(["mosquitto", "-c", self.config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def restart(self):
        self.stop()
        self.start()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()  # Writes its persistence file.
            self.process.wait(timeout=20)

    def publish(self, topic, payload):
        """QoS 1, again until the broker acknowledges (a retry may deliver it twice: QoS 1 is at least once)."""
        for _ in range(200):
            tls = [] if not self.certs else ["--cafile", f"{self.certs}/ca.crt", "--cert", f"{self.certs}/client.crt",
                                             "--key", f"{self.certs}/client.key"]
            done = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-t", topic,
                                   "-m", payload] + tls, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=20)
            if done.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"the broker never took {topic}")


class Bridge:
    def __init__(self, folder, broker_port, target, extra=(), subscribe=True, log="bridge.log"):
        self.log_path = os.path.join(folder, log)
        self.args = [HYBRIDBRIDGE, f"--mqtt=127.0.0.1:{broker_port}", f"--target={target}",
                     "--topics=sensors/{model}/{entity}", f"--dead_letters={folder}/dead.jsonl", "--retry_max=0.3",
                     "--stats_every=1", "--mqtt_keep_alive=10", "--timeout=5", *extra]
        self.start(subscribe)

    def start(self, subscribe=True):
        """Starts the bridge and, with `subscribe`, waits until it has subscribed."""
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(self.log_path, "a")
        before = self.output().count("subscribed to")
        self.process = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while subscribe and self.output().count("subscribed to") == before:
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"hybridbridge did not subscribe:\n{self.output()}")
            time.sleep(0.05)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, text, seconds=30):
        """Until the log holds `text` (or one of a tuple of texts)."""
        texts = text if isinstance(text, tuple) else (text,)
        deadline = time.time() + seconds
        while not any(t in self.output() for t in texts):
            if time.time() > deadline:
                raise AssertionError(f"hybridbridge never said '{text}':\n{self.output()}")
            time.sleep(0.05)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


class BridgeDeliversEveryMessageOnce(unittest.TestCase):
    def test_outages_restarts_and_bad_messages(self):
        work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        repository = os.path.join(work, "repository")
        os.makedirs(os.path.join(repository, "tracker"))
        with open(os.path.join(repository, "tracker", "config.pbtxt"), "w") as f:
            f.write(CONFIG)
        broker = Broker(work)
        self.addCleanup(broker.stop)
        grpc_port = free_port()
        bridge = Bridge(work, broker.port, f"127.0.0.1:{grpc_port}")
        self.addCleanup(bridge.close)

        stream = lorenz63_stream(240)
        # Not JSON; an unknown observable; more reports than a request may carry (a batch of 16 messages is too: the
        # bridge must split what the server refuses as a whole rather than hold it forever).
        bad = {30: "{not json", 130: json.dumps({"time": 100.0, "readings": {"w": 1.0}}),
               200: json.dumps([{"time": 100.0 + i, "readings": {"x": 1.0}} for i in range(9)])}
        server = None
        for i, (entity, t, readings, inputs) in enumerate(stream):
            if i == 40:  # The server comes up on the port the bridge has been calling.
                server = Hybridserve(HYBRIDSERVE, repository, "--load_models=tracker",
                                     f"--grpc_address=127.0.0.1:{grpc_port}")
                self.addCleanup(server.stop)
                self.assertEqual(server.grpc_port, grpc_port)
                bridge.wait_for("takes reports again")  # What it held goes in.
            if i == 100:
                broker.restart()
            if i == 170:
                bridge.process.kill()
                bridge.process.wait()
            if i == 190:
                bridge.start()
            if i in bad:
                broker.publish(f"sensors/tracker/{entity}", bad[i])
            payload = {"time": t, "readings": readings}
            if inputs:
                payload["inputs"] = inputs
            broker.publish(f"sensors/tracker/{entity}", json.dumps(payload))

        with HybridClient(server.target) as client:
            deadline = time.time() + 60
            while sum(e[2] for e in client.entities("tracker")) < len(stream) and time.time() < deadline:
                time.sleep(0.1)
            out = bridge.output()
            self.assertEqual(sum(e[2] for e in client.entities("tracker")), len(stream), out + server.output())
            served = {name: client.entity("tracker", name) for name in ("a", "b")}
            served_theta = client.parameters("tracker")
        self.assertIn("cannot take model 'tracker''s reports now", out)  # Held while the server was away.
        self.assertIn("session resumed", out)  # The broker kept the bridge's session across its restart.

        # The same reports, straight into a fresh server, give the same numbers, bit for bit.
        with Hybridserve(HYBRIDSERVE, repository, "--load_models=tracker") as reference, \
                HybridClient(reference.target) as direct:
            for entity, t, readings, inputs in stream:
                plain = {k: (v["value"], v["noise_std"]) if isinstance(v, dict) else v for k, v in readings.items()}
                self.assertTrue(direct.observe("tracker", [Report(entity, t, plain, inputs)])[0].ok)
            for name in ("a", "b"):
                expected = direct.entity("tracker", name)
                self.assertEqual(served[name].reports, expected.reports)
                np.testing.assert_array_equal(served[name].ensemble, expected.ensemble)
            self.assertEqual(served_theta, direct.parameters("tracker"))

        with open(os.path.join(work, "dead.jsonl")) as f:
            letters = [json.loads(line) for line in f]
        self.assertEqual({letter["payload"] for letter in letters}, set(bad.values()))
        reasons = " ".join(letter["reason"] for letter in letters)
        self.assertIn("payload: not JSON", reasons)
        self.assertIn("readings[0].observable 'w'", reasons)
        self.assertIn("entities.max_reports_per_request", reasons)

        bridge.process.send_signal(signal.SIGTERM)
        self.assertEqual(bridge.process.wait(timeout=20), 0)
        self.assertRegex(bridge.output().splitlines()[-1], r"messages acknowledged: \d+ reports applied")


class BridgeOverTls(unittest.TestCase):
    def test_mutual_tls_verified_and_every_other_broker_refused(self):
        work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        certs = os.path.join(work, "certs")
        subprocess.run([os.path.join(SOURCE, "tests/e2e/make_test_certs.sh"), certs], check=True)
        repository = os.path.join(work, "repository")
        os.makedirs(os.path.join(repository, "tracker"))
        with open(os.path.join(repository, "tracker", "config.pbtxt"), "w") as f:
            f.write(CONFIG)
        broker = Broker(work, certs=certs)
        self.addCleanup(broker.stop)
        server = Hybridserve(HYBRIDSERVE, repository, "--load_models=tracker")
        self.addCleanup(server.stop)
        client_cert = [f"--mqtt_tls_cert={certs}/client.crt", f"--mqtt_tls_key={certs}/client.key"]
        trusted = [f"--mqtt_tls_ca={certs}/ca.crt"] + client_cert

        # Each of these never subscribes, and says why.
        refusals = [
            ([], ("closed the connection", "Connection reset by peer")),  # Plain MQTT to a TLS port.
            ([f"--mqtt_tls_ca={certs}/rogue_ca.crt"] + client_cert,  # A broker certificate from a CA not trusted.
             ("certificate is not trusted: unable to get local issuer certificate",
              "certificate is not trusted: self-signed certificate in certificate chain")),
            (trusted + ["--mqtt_tls_server_name=broker.example"],  # The certificate is not for that name.
             "certificate is not trusted: hostname mismatch"),
            ([f"--mqtt_tls_ca={certs}/ca.crt"], "certificate required"),  # No client certificate for mutual TLS.
            ([f"--mqtt_tls_ca={certs}/ca.crt", f"--mqtt_tls_cert={certs}/rogue_client.crt",
              f"--mqtt_tls_key={certs}/rogue_client.key"], "unknown ca"),  # One the broker's CA did not sign.
        ]
        for i, (extra, reason) in enumerate(refusals):
            bridge = Bridge(work, broker.port, server.target, extra, subscribe=False, log=f"refused{i}.log")
            try:
                bridge.wait_for(reason, seconds=20)
                self.assertNotIn("subscribed to", bridge.output())
            finally:
                bridge.close()

        # Files that cannot be loaded stop it at once, named.
        for extra, named in (([f"--mqtt_tls_ca={work}/missing.crt"], "missing.crt"),
                             ([f"--mqtt_tls_ca={certs}/ca.crt", f"--mqtt_tls_cert={certs}/client.crt",
                               f"--mqtt_tls_key={certs}/server.key"], "server.key"),
                             ([f"--mqtt_tls_cert={certs}/client.crt"], "--mqtt_tls_key")):
            done = subprocess.run([HYBRIDBRIDGE, f"--mqtt=127.0.0.1:{broker.port}", f"--target={server.target}",
                                   *extra], capture_output=True, text=True, timeout=20)
            self.assertEqual(done.returncode, 2, done.stderr)
            self.assertIn(named, done.stderr)

        # Dialled by address, the certificate's IP address is what is verified.
        Bridge(work, broker.port, server.target, trusted + ["--mqtt_client_id=by-address"], log="ip.log").close()
        # Dialled by name (its DNS name, and SNI): verified both ways, the stream arrives whole, each message
        # applied once, across a broker restart.
        bridge = Bridge(work, broker.port, server.target, trusted + [f"--mqtt=localhost:{broker.port}"],
                        log="trusted.log")
        self.addCleanup(bridge.close)
        stream = lorenz63_stream(30)
        for i, (entity, t, readings, inputs) in enumerate(stream):
            if i == 15:
                broker.restart()
            broker.publish(f"sensors/tracker/{entity}", json.dumps({"time": t, "readings": readings}))
        with HybridClient(server.target) as client:
            deadline = time.time() + 30
            while sum(e[2] for e in client.entities("tracker")) < len(stream) and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(sum(e[2] for e in client.entities("tracker")), len(stream), bridge.output())
            self.assertEqual(client.entity("tracker", "b").time, stream[-1][1])
        self.assertIn("session resumed", bridge.output())  # Reconnected over TLS to the restarted broker.


if __name__ == "__main__":
    unittest.main(verbosity=2)
