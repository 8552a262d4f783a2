"""Baseline for bench/src/kernel.bench.ts: the same kernel driven by Python's jupyter_client.

Reads commands on stdin, one per line, and answers each with one JSON line, so the TypeScript
side can interleave its own measurements with these (machine load then hits both alike):

  start        spawn a bare kernel process, time spawn -> first kernel_info_reply, stop it
               -> {"start_ms": float}
  open         start the kernel used for round trips, warm it up -> {}
  rt N         N round trips of `1+1` with BlockingKernelClient.execute_interactive (until
               execute_reply and iopub idle) -> {"round_trip_ms": [float, ...]}
  close        stop that kernel -> {}

Usage: python3 kernel-baseline.py <workdir>
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

ENV = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")


def start_kernel(directory, workdir, index):
    connection_file, _ = write_connection_file(os.path.join(directory, "kernel-%d.json" % index))
    # The same command line as the TypeScript local runtime.
    command = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file, "--HistoryManager.enabled=False"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels(hb=False)
    client.kernel_info()
    client.get_shell_msg(timeout=120)
    return process, client, (time.perf_counter() - started) * 1000


def stop_kernel(process, client):
    try:
        client.shutdown()
        process.wait(timeout=5)
    except Exception:
        process.kill()
    client.stop_channels()


def quiet(message):
    """Output is not the point of this benchmark."""


def main():
    workdir = sys.argv[1]
    os.makedirs(workdir, exist_ok=True)
    kernel = None
    with tempfile.TemporaryDirectory() as directory:
        for index, line in enumerate(sys.stdin):
            command = line.split()
            answer = {}
            if command[0] == "start":
                process, client, elapsed = start_kernel(directory, workdir, index)
                stop_kernel(process, client)
                answer = {"start_ms": elapsed}
            elif command[0] == "open":
                process, client, _ = start_kernel(directory, workdir, index)
                client.wait_for_ready(timeout=60)
                for _ in range(10):
                    client.execute_interactive("1+1", output_hook=quiet, timeout=60)
                kernel = (process, client)
            elif command[0] == "rt":
                times = []
                for _ in range(int(command[1])):
                    started = time.perf_counter()
                    kernel[1].execute_interactive("1+1", output_hook=quiet, timeout=60)
                    times.append((time.perf_counter() - started) * 1000)
                answer = {"round_trip_ms": times}
            elif command[0] == "close":
                stop_kernel(*kernel)
                kernel = None
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    if kernel is not None:
        stop_kernel(*kernel)


if __name__ == "__main__":
    main()
