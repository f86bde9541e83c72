"""What the deploy checks share: collecting problems, and asking a built binary for its flags."""
import re
import subprocess

problems = []


def check(condition, message):
    """Records `message` unless `condition`; returns `condition` so that callers can skip dependent checks."""
    if not condition:
        problems.append(message)
    return condition


def known_flags(binary):
    """The flag names `binary --helpfull` lists (Abseil flags)."""
    out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True, check=False)
    flags = set(re.findall(r"^\s+--([a-z0-9_]+) ", out.stdout + out.stderr, re.M))
    assert flags, f"{binary} --helpfull listed no flags"
    return flags
