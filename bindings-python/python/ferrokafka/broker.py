"""The bundled broker, in-process: ``ferrokafka.broker.start(...)``, or from a shell
``python -m ferrokafka.broker --listen 127.0.0.1:9092 --data-dir DIR [--set KEY=VALUE]``,
which prints ``ferrokafka-broker listening on HOST:PORT`` when ready and stops on SIGINT or
SIGTERM."""
import argparse
import signal
import sys
import threading

from . import _native

__all__ = ["Broker", "start", "main"]


class Broker:
    """A running broker; ``bootstrap`` is its ``host:port``. Stop it with ``stop()`` (or use
    it as a context manager)."""

    def __init__(self, listen="127.0.0.1:0", data_dir="./ferrokafka-data", settings=None):
        pairs = [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (settings or {}).items()]
        self._native = _native.NativeBroker(listen, str(data_dir), pairs)
        self.bootstrap = self._native.bootstrap

    def stop(self):
        """Flushes and closes every log."""
        self._native.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(listen="127.0.0.1:0", data_dir="./ferrokafka-data", settings=None):
    """Starts a broker and returns it once clients can connect."""
    return Broker(listen, data_dir, settings)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ferrokafka.broker", description=__doc__)
    ap.add_argument("--listen", default="127.0.0.1:9092")
    ap.add_argument("--data-dir", default="./ferrokafka-data")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a broker setting by its Kafka name")
    args = ap.parse_args(argv)
    settings = dict(kv.split("=", 1) for kv in args.set)
    broker = start(args.listen, args.data_dir, settings)
    print(f"ferrokafka-broker listening on {broker.bootstrap}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
