"""Baseline for bench/src/kernel.bench.ts: the same kernel driven by Python's jupyter_client.

Prints one JSON object: spawn-to-first-kernel_info_reply times of bare kernel processes, and the
round-trip times of `1+1` (execute_request until both execute_reply and iopub idle arrived,
as BlockingKernelClient.execute_interactive waits) over N runs.

Usage: python3 kernel-baseline.py <starts> <runs> <workdir>
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

COMMAND = [sys.executable, "-m", "ipykernel_launcher", "-f", None, "--HistoryManager.enabled=False"]
ENV = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")


def start_kernel(directory, workdir, index):
    connection_file, _ = write_connection_file(os.path.join(directory, "kernel-%d.json" % index))
    command = list(COMMAND)
    command[4] = connection_file
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels(hb=False)
    client.kernel_info()
    client.get_shell_msg(timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    return process, client, elapsed


def stop_kernel(process, client):
    try:
        client.shutdown()
        process.wait(timeout=5)
    except Exception:
        process.kill()
    client.stop_channels()


def main():
    starts = int(sys.argv[1])
    runs = int(sys.argv[2])
    workdir = sys.argv[3]
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as directory:
        start_times = []
        for index in range(starts):
            process, client, elapsed = start_kernel(directory, workdir, index)
            start_times.append(elapsed)
            stop_kernel(process, client)

        process, client, _ = start_kernel(directory, workdir, starts)
        client.wait_for_ready(timeout=60)
        quiet = lambda message: None  # noqa: E731 - output is not the point here
        for _ in range(10):  # warm-up, as the TypeScript side does
            client.execute_interactive("1+1", output_hook=quiet, timeout=60)
        round_trips = []
        for _ in range(runs):
            started = time.perf_counter()
            client.execute_interactive("1+1", output_hook=quiet, timeout=60)
            round_trips.append((time.perf_counter() - started) * 1000)
        stop_kernel(process, client)
    print(json.dumps({"start_ms": start_times, "round_trip_ms": round_trips}))


if __name__ == "__main__":
    main()
