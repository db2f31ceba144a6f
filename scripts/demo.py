"""Render the nested example job on an embedded farm and print the output video's path.

Starts `aefarm up --agents 2 --simulate` on a free port, builds the example templates, submits
examples/nested.json with --wait, downloads the result into out/, stops the farm, and prints the
path of the downloaded video as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
READY_TIMEOUT_SECONDS = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", type=Path, default=TOP / "examples" / "nested.json")
    parser.add_argument("--out", type=Path, default=TOP / "out", help="folder for the video")
    parser.add_argument("--data-dir", type=Path, default=TOP / ".aefarm" / "demo")
    args = parser.parse_args()

    subprocess.run([sys.executable, str(TOP / "examples" / "make_templates.py")], check=True)
    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)

    farm = subprocess.Popen(
        [str(BIN / "aefarm"), "up", "--agents", "2", "--simulate", "--port", "0"]
        + ["--data-dir", str(args.data_dir)],
        # The agents may read local files only under the folder `aefarm up` runs in.
        cwd=TOP,
        stdout=subprocess.DEVNULL,
        stderr=open(args.data_dir / "farm.log", "wb"),  # noqa: SIM115
    )
    try:
        address = wait_for_controller(args.data_dir / "controller.json", farm)
        env = {**os.environ, "AEFARM_CONTROLLER": address}
        print(f"farm running at {address} with 2 simulated agents", file=sys.stderr)

        submitted = subprocess.run(
            [str(BIN / "aefarm"), "submit", str(args.job), "--wait"], env=env, check=False
        )
        if submitted.returncode != 0:
            print(
                f"the job did not finish; farm log: {args.data_dir / 'farm.log'}", file=sys.stderr
            )
            return submitted.returncode

        job_id = latest_root_job(env)
        downloaded = subprocess.run(
            [str(BIN / "aefarm"), "output", job_id, "-o", str(args.out)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        print(downloaded.stdout.strip().splitlines()[-1])
        return 0
    finally:
        stop(farm)


def wait_for_controller(ready_file: Path, farm: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if farm.poll() is not None:
            raise SystemExit(f"aefarm up exited with code {farm.returncode}; see its log")
        if ready_file.exists():
            return str(json.loads(ready_file.read_text())["address"])
        time.sleep(0.1)
    raise SystemExit(f"the controller did not write {ready_file} within {READY_TIMEOUT_SECONDS} s")


def latest_root_job(env: dict[str, str]) -> str:
    listed = subprocess.run(
        [str(BIN / "aefarm"), "jobs", "--state", "finished", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    jobs = json.loads(listed.stdout)
    newest = max(jobs, key=lambda job: job["created_at"])
    return str(newest["id"])


def stop(farm: subprocess.Popen[bytes]) -> None:
    if farm.poll() is None:
        farm.send_signal(signal.SIGTERM)
        try:
            farm.wait(timeout=30)
        except subprocess.TimeoutExpired:
            farm.kill()
            farm.wait()


if __name__ == "__main__":
    sys.exit(main())
