"""Starts the bundled broker binary once per test session, on a free port and a temp dir."""
import os
import subprocess
import tempfile

import pytest

READY = "ferrokafka-broker listening on "


@pytest.fixture(scope="session")
def bootstrap():
    binary = os.environ.get("FERROKAFKA_BROKER_BIN", "target/debug/ferrokafka-broker")
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--log-level", "warn"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = proc.stdout.readline()  # blocks until the broker is ready (or exits)
            assert line.startswith(READY), f"broker did not start: {line!r}"
            yield line[len(READY):].strip()
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0, "broker shut down cleanly on SIGTERM"
