"""A model as a repository folder: `export` writes it, `check` asks the server whether it would load."""
import os
import shutil
import subprocess
import tempfile
from typing import Optional

import torch
from google.protobuf import text_format

from hybridserve_model.declaration import CORRECTION_FILE, PHYSICS_FILE, HybridModel


class ModelCheckError(Exception):
    """The server would mark the model FAILED; the message is its reason (naming the file and the fault)."""


def _scripted(module: torch.nn.Module, what: str) -> torch.jit.ScriptModule:
    if isinstance(module, torch.jit.ScriptModule):
        return module
    try:
        return torch.jit.script(module)
    except Exception as e:  # torch's frontend errors name the line; keep them, say which module.
        raise ValueError(f"{what}: torch.jit.script failed: {e}") from e


def _write_atomically(path: str, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def export(model: HybridModel, folder: str) -> str:
    """Writes `folder` (created if needed; its name must be the model's): config.pbtxt, the scripted physics
    (physics.pt) and correction (correction.pt, when there is one; an earlier export's is removed when there is
    none). Each file is replaced atomically (renamed into place, not fsynced). Returns the
    folder. The server loads it from a repository whose <name>/ it is."""
    config = model.config()
    if os.path.basename(os.path.normpath(folder)) != model.name:
        raise ValueError(f"folder: its name must be the model's name {model.name!r}, got {folder!r}")
    os.makedirs(folder, exist_ok=True)
    modules = [(PHYSICS_FILE, _scripted(model.physics, "physics"))]
    if model.correction is not None:
        modules.append((CORRECTION_FILE, _scripted(model.correction, "correction")))
    for name, module in modules:
        _write_atomically(os.path.join(folder, name), lambda path, m=module: torch.jit.save(m, path))
    if model.correction is None and os.path.exists(os.path.join(folder, CORRECTION_FILE)):
        os.unlink(os.path.join(folder, CORRECTION_FILE))  # An earlier export's, which the new config does not name.
    text = ("# Written by hybridserve_model.export: the physics in physics.pt"
            + (", the correction in correction.pt" if model.correction is not None else "") + ".\n"
            + text_format.MessageToString(config, as_utf8=True))

    def write_text(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    _write_atomically(os.path.join(folder, "config.pbtxt"), write_text)
    return folder


def find_server(server: Optional[str] = None) -> str:
    """The hybridserve binary: `server`, else $HYBRIDSERVE, else the one on PATH."""
    found = server or os.environ.get("HYBRIDSERVE") or shutil.which("hybridserve")
    if not found:
        raise FileNotFoundError("no hybridserve binary: pass server=, set HYBRIDSERVE, or put it on PATH")
    return found


def check(folder: str, server: Optional[str] = None, timeout: float = 300.0) -> str:
    """Runs the server's own load checks on `folder` (`hybridserve --check_model`: the config validated, every
    module loaded and probed — shapes, dtypes, finite values, autograd against finite differences — the model
    built and its gradients through a forecast compared with finite differences). Returns the server's report;
    raises ModelCheckError with the reason a load would give the model as FAILED."""
    done = subprocess.run([find_server(server), f"--check_model={folder}"], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise ModelCheckError((done.stderr or done.stdout).strip())
    return done.stdout.strip()
