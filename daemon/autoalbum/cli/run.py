"""`autoalbum run`: the daemon, in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from autoalbum.cli.options import Command, add_library_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_library_options(parser, model=True)


def run(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground (what systemd starts): watch, file, recluster."""
    from autoalbum.config import load_config
    from autoalbum.embedding.embedder import Device, open_bundled, open_embedder
    from autoalbum.service.build import build_service, install_signal_handlers

    config = load_config(args.config)
    device = Device(args.device or config.model.device)
    service = build_service(
        config,
        lambda model: open_embedder(model, args.device),
        earlier_model=lambda identity: open_bundled(identity, device),
    )
    install_signal_handlers(service)
    code = service.run()
    if service.left_work_behind:
        # Finalising the interpreter under a thread still in C++ code aborts the process
        # ("terminate called without an active exception", exit -6); the recluster commits
        # nothing once called off, and all else is closed, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


COMMAND = Command("run", add_arguments, run)
