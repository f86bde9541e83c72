#!/usr/bin/python3
"""The Docker image's runtime stage installs only `scripts/setup --runtime`.

Docker cannot run on our machines, so this checks the image's runtime stage
indirectly: every shared library that the given binaries load (ldd) must
belong to a Debian package that the runtime list installs, itself or through
its dependencies (read from dpkg, so it works offline).

Usage: runtime_packages_test.py SOURCE_DIR BINARY...
"""
import re
import subprocess
import sys


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=False)


def owner(path):
    """The package that installed `path` (usrmerge: /lib and /usr/lib are one)."""
    candidates = [path]
    if path.startswith("/usr/lib/"):
        candidates.append(path[len("/usr"):])
    elif path.startswith("/lib"):
        candidates.append("/usr" + path)
    for candidate in candidates:
        out = run("dpkg", "-S", candidate)
        if out.returncode == 0:
            return out.stdout.split(":")[0].strip()
    return None


def installed_dependencies(package):
    out = run("dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package)
    if out.returncode != 0:
        return []
    names = []
    for clause in out.stdout.split(","):
        # "a (>= 1) | b": the first alternative that is installed.
        for alternative in clause.split("|"):
            name = re.sub(r"[ (:].*", "", alternative.strip())
            if name and run("dpkg-query", "-W", "-f=${Status}", name).stdout == "install ok installed":
                names.append(name)
                break
    return names


def main():
    source, binaries = sys.argv[1], sys.argv[2:]
    runtime = run(f"{source}/scripts/setup", "--list=runtime").stdout.split()
    assert runtime, "scripts/setup --list=runtime printed nothing"
    closure, todo = set(), list(runtime)
    while todo:
        package = todo.pop()
        if package not in closure:
            closure.add(package)
            todo.extend(installed_dependencies(package))

    problems = []
    for binary in binaries:
        libraries = set()
        for line in run("ldd", binary).stdout.splitlines():
            match = re.search(r"=> (/\S+)", line)
            if match:
                libraries.add(run("readlink", "-f", match.group(1)).stdout.strip())
        if not libraries:
            problems.append(f"{binary}: ldd found no shared library")
        for library in sorted(libraries):
            package = owner(library)
            if package is None:
                problems.append(f"{binary}: {library} belongs to no Debian package")
            elif package not in closure:
                problems.append(f"{binary}: {library} is in {package}, which scripts/setup --runtime does not install")
        print(f"{binary}: {len(libraries)} shared libraries, all from the runtime packages"
              if not problems else f"{binary}: checked {len(libraries)} libraries")
    if problems:
        sys.exit("\n".join(problems))
    print(f"runtime list: {len(runtime)} packages, {len(closure)} with their dependencies")


if __name__ == "__main__":
    main()
