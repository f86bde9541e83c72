#!/usr/bin/python3
"""The Dockerfile, checked without Docker.

Docker cannot run on our machines. So: dockerfile-utils (npm, installed by
scripts/setup into tools/lint) lints it, and this script checks what would make
the image wrong even when it builds:
  * the build stage runs exactly scripts/setup + scripts/build, the steps CI
    runs on every change, with portable kernels (HYBRID_NATIVE_KERNELS=OFF), and
    every file the runtime stage copies from it is
    something that build produces (found in BUILD_DIR);
  * the runtime stage installs `scripts/setup --runtime` (whose completeness
    tests/deploy/runtime_packages_test.py checks), runs as a non-root user,
    and has a health check;
  * every flag of ENTRYPOINT/CMD and HEALTHCHECK exists in the built binaries,
    the state folder is the VOLUME, the model repository is the folder copied
    in, and EXPOSE matches the addresses.

Usage: dockerfile_check.py SOURCE_DIR BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys

from check_helpers import check, known_flags, problems

def instructions(path):
    """(INSTRUCTION, text) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if stripped.startswith("#"):
                continue
            pending += " " + stripped.rstrip("\\").strip() if pending else stripped.rstrip("\\").strip()
            if not stripped.endswith("\\"):
                keyword, _, rest = pending.partition(" ")
                out.append((keyword.upper(), rest.strip()))
                pending = ""
    return out


def flag_values(words, flags, where):
    values = {}
    for word in words:
        if word.startswith("--"):
            name, _, value = word[2:].partition("=")
            check(name in flags, f"{where}: no flag --{name}")
            values[name] = value
    return values


def main():
    source, build = sys.argv[1], sys.argv[2]
    dockerfile = os.path.join(source, "Dockerfile")
    lint = subprocess.run([os.path.join(source, "tools/lint/node_modules/.bin/dockerfile-utils"), "lint", dockerfile],
                          capture_output=True, text=True, check=False)
    check(lint.returncode == 0 and not lint.stdout.strip(), f"dockerfile-utils lint:\n{lint.stdout}{lint.stderr}")

    stages, current = {}, None
    for keyword, text in instructions(dockerfile):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", text, re.I)
            if check(match, f"FROM without a stage name: {text}"):
                check(match.group(1) == "debian:12", f"stage {match.group(2)} is not on debian:12 (scripts/setup's)")
                current = stages.setdefault(match.group(2), [])
            continue
        if check(current is not None, f"{keyword} before FROM"):
            current.append((keyword, text))
    check(list(stages) == ["build", "runtime"], f"stages: {list(stages)}")
    build_stage, runtime = stages.get("build", []), stages.get("runtime", [])

    runs = [text for keyword, text in build_stage if keyword == "RUN"]
    check(len(runs) == 1 and re.fullmatch(r"scripts/setup && scripts/build( [a-z_]+)+", runs[0] if runs else ""),
          f"the build stage must run exactly 'scripts/setup && scripts/build TARGETS': {runs}")
    targets = runs[0].split()[3:] if runs else []
    # -march=native kernels would die with SIGILL on a CPU older than the builder's.
    check(any(k == "ENV" and "-DHYBRID_NATIVE_KERNELS=OFF" in text for k, text in build_stage),
          "the build stage must build portable kernels: ENV CMAKE_ARGS=-DHYBRID_NATIVE_KERNELS=OFF")

    def of(keyword):
        return [text for k, text in runtime if k == keyword]

    check(any("scripts/setup --runtime" in run for run in of("RUN")), "the runtime stage must run scripts/setup --runtime")
    users = of("USER")
    useradd = re.search(r"useradd .*--uid (\d+)", " ".join(of("RUN")))
    check(len(users) == 1 and useradd and users[0].split(":")[0] == useradd.group(1) and users[0].split(":")[0] != "0",
          f"the runtime stage must switch to the non-root user it creates: USER {users}")

    copied, repository_dest = set(), None
    for text in of("COPY"):
        words = text.split()
        if words[0] == "--from=build":
            *sources, dest = words[1:]
            for path in sources:
                check(path.startswith("/src/build/"), f"COPY --from=build of {path}, not a build output")
                relative = path[len("/src/build/"):]
                check(os.path.isfile(os.path.join(build, relative)), f"{relative} is not produced by the build")
                check(os.path.basename(path) in targets, f"{os.path.basename(path)} is not a target the stage builds")
                copied.add(os.path.basename(path))
            check(dest == "/usr/local/bin/", f"binaries copied to {dest}")
        elif words[0] == "deploy/model_repository":
            repository_dest = words[1]
            check(os.path.isdir(os.path.join(source, words[0])), "deploy/model_repository is missing")

    entrypoint, cmd = json.loads(of("ENTRYPOINT")[0]), json.loads(of("CMD")[0])
    check(entrypoint == ["hybridserve"] and "hybridserve" in copied, f"ENTRYPOINT {entrypoint}")
    args = flag_values(cmd, known_flags(os.path.join(build, "server/hybridserve")), "CMD")
    check(args.get("model_repository") == repository_dest, "--model_repository is not the copied repository")
    check(of("VOLUME") == [args.get("state_dir")], f"--state_dir {args.get('state_dir')} is not the VOLUME")
    exposed = set(" ".join(of("EXPOSE")).split())
    check(exposed == {args["grpc_address"].rsplit(":", 1)[1], args["metrics_address"].rsplit(":", 1)[1]},
          f"EXPOSE {sorted(exposed)} is not the two addresses' ports")

    health = of("HEALTHCHECK")
    if check(len(health) == 1, "the runtime stage needs one HEALTHCHECK"):
        probe = json.loads(health[0].split(" CMD ", 1)[1])
        check(probe[0] in copied and probe[-1] == "health", f"HEALTHCHECK runs {probe}")
        ctl = flag_values(probe, known_flags(os.path.join(build, "client/hybridctl")), "HEALTHCHECK")
        check(ctl.get("target", "").endswith(":" + args["grpc_address"].rsplit(":", 1)[1]),
              "HEALTHCHECK does not probe the gRPC port")

    with open(os.path.join(source, ".dockerignore")) as f:
        ignored = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    check({"build", ".git"} <= ignored, ".dockerignore must keep build/ and .git out of the context")
    if problems:
        sys.exit("\n".join(problems))
    print(f"Dockerfile: lint clean; stages {list(stages)}; runtime copies {sorted(copied)} and runs as USER {users[0]}")


if __name__ == "__main__":
    main()
