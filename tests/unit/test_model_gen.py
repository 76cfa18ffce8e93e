#!/usr/bin/env python3
"""The generated model tables are what the generator writes: for each generated file, re-run
the command its header records (from the repository root) and diff the output with the
committed file. Exit 77 (ctest SKIP_RETURN_CODE) when that cannot be checked here: botocore
is not importable, or it is another version than the one the header records."""

import difflib
import os
import re
import shlex
import subprocess
import sys

SKIP = 77
FILES = ["core/aws/model_gen.c", "tests/lib/model_test_gen.c"]
ROOT = os.environ.get("BSUP_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def header(path):
    with open(os.path.join(ROOT, path)) as f:
        head = "".join(f.readline() for _ in range(8))
    version = re.search(r"botocore (\S+)'s service models", head)
    command = re.search(r"^ \*   (tools/gen_aws_model\.py.*) > (\S+)$", head, re.M)
    if not version or not command or command.group(2) != path:
        print(f"FAIL {path}: its header does not record the botocore version and the command "
              f"'tools/gen_aws_model.py ... > {path}'")
        sys.exit(1)
    return version.group(1), shlex.split(command.group(1))


def main():
    try:
        import botocore
    except ImportError:
        print("SKIP: botocore is not importable (python3 -c 'import botocore'), so the "
              "generated model tables cannot be regenerated and compared here")
        return SKIP
    status = 0
    for path in FILES:
        version, argv = header(path)
        if version != botocore.__version__:
            print(f"SKIP: {path} was generated from botocore {version}, this python3 has "
                  f"botocore {botocore.__version__}: cannot compare (regenerate with "
                  f"'{shlex.join(argv)} > {path}' when upgrading on purpose)")
            return SKIP
        p = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL {path}: '{shlex.join(argv)}' failed:\n{p.stderr}")
            status = 1
            continue
        with open(os.path.join(ROOT, path)) as f:
            committed = f.read()
        if p.stdout == committed:
            print(f"ok {path}: equal to '{shlex.join(argv)}' (botocore {version})")
            continue
        diff = list(difflib.unified_diff(committed.splitlines(), p.stdout.splitlines(),
                                         f"{path} (committed)", f"{path} (generated)",
                                         lineterm=""))
        print(f"FAIL {path}: differs from what '{shlex.join(argv)}' writes "
              f"({len(diff)} diff lines, first 60 below); regenerate and commit it")
        print("\n".join(diff[:60]))
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
