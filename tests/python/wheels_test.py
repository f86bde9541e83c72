#!/usr/bin/python3
"""The Python packages install as Python users expect: the wheels scripts/build writes (build/python/dist) go into
a fresh virtual environment (python3 -m venv --system-site-packages: numpy, grpcio, protobuf and torch from
Debian) with pip, offline; from there, outside the source tree and without PYTHONPATH, both import — the
client with its generated stubs — and the SIR worked example exports a model that the server's checks pass.

Usage: wheels_test.py BUILD_DIR SOURCE_DIR
"""
import glob
import os
import subprocess
import sys
import tempfile
import unittest

BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
del sys.argv[1:3]


class WheelsInAVirtualEnvironment(unittest.TestCase):
    def test_both_wheels_install_offline_and_work_outside_the_tree(self):
        wheels = sorted(glob.glob(os.path.join(BUILD, "python/dist/*.whl")))
        self.assertEqual([os.path.basename(w).split("-")[0] for w in wheels],
                         ["hybridserve_client", "hybridserve_model"])
        with tempfile.TemporaryDirectory() as work:
            venv = os.path.join(work, "venv")
            subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True)
            python = os.path.join(venv, "bin/python")
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            installed = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-cache-dir", *wheels],
                                       cwd=work, env=env, capture_output=True, text=True)
            self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)

            probe = ("import hybridserve_client, hybridserve_model, hybrid.v1.hybrid_service_pb2_grpc as s\n"
                     "print(hybridserve_client.__file__, hybridserve_model.__file__, s.__file__, sep='\\n')\n")
            where = subprocess.run([python, "-c", probe], cwd=work, env=env, capture_output=True, text=True)
            self.assertEqual(where.returncode, 0, where.stderr)
            for path in where.stdout.split():
                self.assertTrue(path.startswith(venv), where.stdout)

            env["HYBRIDSERVE"] = os.path.join(BUILD, "server/hybridserve")
            folder = os.path.join(work, "repository/sir")
            example = subprocess.run([python, os.path.join(SOURCE, "python/examples/sir_model.py"), folder],
                                     cwd=work, env=env, capture_output=True, text=True)
            self.assertEqual(example.returncode, 0, example.stdout + example.stderr)
            self.assertIn("model 'sir' passes every load check", example.stdout)
            self.assertTrue(os.path.isfile(os.path.join(folder, "correction.pt")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
