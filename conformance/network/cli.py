"""``npdrop-conform --network MODULE:NAME``: the network check from the command line.

    npdrop-conform --network MODULE:NAME [--loss MODULE:NAME] [--form original] [--p LAYER=P ...]
                   [--steps K] [--batch N] [--lr LR] [--seed S] [--call-timeout SECONDS]
                   [--worker-prefix 'CMD ...']
                   [--report-json PATH] [--report-md PATH] [--log-dir DIR]

NAME is the model, or a function or class that builds it with no arguments. It is imported,
built and called only in a process of its own (:mod:`.remote`). The exit status is the
layer check's: 0 the network agrees with torch, 1 it differs (or its process ended during a
call: the report's verdict is INCOMPLETE), 4 it cannot be loaded or driven (one message:
what was found, and which option would help; its process ending while it loads), 6 a call
into it did not return within ``--call-timeout`` seconds (default 60).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import tempfile
from typing import Optional

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 4, 6


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="npdrop-conform --network",
                                description="Check a whole from-scratch network against a torch twin: the same "
                                            "weights and dropout masks, the loss and every gradient over K SGD steps.")
    p.add_argument("--network", required=True, metavar="MODULE:NAME", help="the model, or a function or class "
                   "building it with no arguments")
    p.add_argument("--loss", metavar="MODULE:NAME", help="the loss, for a model without a training step or loss "
                   "of its own: an object with forward/calculate and backward, or f(pred, y) -> (loss, dpred)")
    p.add_argument("--form", choices=("inverted", "original"), default="inverted",
                   help="the dropout form expected (original: training x*m, evaluation x*(1-p))")
    p.add_argument("--p", action="append", default=[], metavar="LAYER=P", help="a dropout's drop probability, "
                   "LAYER as the screen labels it (layers[2]) or its index among the dropouts (0, 1, ...)")
    p.add_argument("--l2", type=float, default=0.0, metavar="REG", help="an L2 penalty 0.5*REG*sum(W**2) your "
                   "loss value includes (found on model.reg / weight_decay_lambda without it)")
    p.add_argument("--steps", type=int, default=3, help="SGD steps (default 3)")
    p.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of np.random (default 0)")
    p.add_argument("--call-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="the longest one call into your code may take (default 60; 0: no limit)")
    p.add_argument("--worker-prefix", metavar="'CMD ...'", default="", help="a command put before the process your "
                   "network runs in (another user, a sandbox): 'CMD ... python -m npdrop_conform.served'")
    p.add_argument("--report-json", metavar="PATH")
    p.add_argument("--report-md", metavar="PATH")
    p.add_argument("--log-dir", metavar="DIR", help="where the reports go when no path is given "
                   "(default: a new temporary directory)")
    return p


def _p_options(values: list) -> dict:
    out = {}
    for text in values:
        label, sep, value = text.rpartition("=")
        try:
            p = float(value)
        except ValueError:
            p = -1.0
        if not sep or not label or not 0 <= p < 1:
            raise ValueError(f"--p expects LAYER=P with 0 <= P < 1 (e.g. --p 'layers[2]=0.1'), got {text!r}")
        out[label] = p
    return out


def load_model(spec: str):
    """The model named by ``MODULE:NAME``: the object, or what calling it with no arguments builds."""
    from ..adapters.usercode import AdapterError, call, where

    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise AdapterError(f"--network expects MODULE:NAME (e.g. mynet:build_model), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target = importlib.import_module(module_name)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise AdapterError(f"cannot load {spec}: {type(exc).__name__}: {exc}\n  at {where(exc)}") from exc
    if inspect.isfunction(target) or inspect.isclass(target):
        try:
            target = call(f"{spec}()", target)
        except AssertionError as exc:
            raise AdapterError(f"building the model with {spec}() failed: {exc}") from exc
    return target


def run(args) -> tuple:
    """(report, exit status) for parsed arguments; raises AdapterError/ValueError if it cannot drive.

    The network is loaded and called in a process of its own (:mod:`.remote`); a call that
    overruns ``--call-timeout`` or a process that ends gives an INCOMPLETE report."""
    from .culprit import culprits
    from .remote import RemoteNetwork, Stopped
    from .screen import build, stopped
    from .stepper import Check, Options

    if args.steps < 1 or args.batch < 1:
        raise ValueError("--steps and --batch must be at least 1")
    command = "npdrop-conform " + " ".join(sys.argv[1:])
    options = Options(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                      form_original=args.form == "original", p=_p_options(args.p), l2=args.l2)
    net = None
    try:
        net = RemoteNetwork(args.network, args.loss, args.call_timeout, args.worker_prefix)
        check = Check(net, options).run()
    except Stopped as stop:
        report = stopped(args.network, stop, command, EXIT_TIMEOUT if stop.timed_out else
                         EXIT_USAGE if stop.loading else EXIT_FAIL)
        return report, report["exit_status"]
    finally:
        if net is not None:
            net.close()
    report = build(args.network, check, culprits(check), command)
    return report, report["exit_status"]


def main(argv: Optional[list] = None) -> int:
    from ..adapters.usercode import AdapterError, UserCodeError
    from .screen import screen, write_reports

    args = parser().parse_args(argv)
    try:
        report, status = run(args)
    except (AdapterError, ValueError, UserCodeError) as exc:
        print(f"npdrop-conform --network: {exc}", file=sys.stderr)
        return EXIT_USAGE
    folder = args.log_dir
    if not (args.report_json and args.report_md):
        folder = folder or tempfile.mkdtemp(prefix="npdrop-network-")
        os.makedirs(folder, exist_ok=True)
    json_path = args.report_json or os.path.join(folder, "report.json")
    md_path = args.report_md or os.path.join(folder, "report.md")
    write_reports(report, json_path, md_path)
    print("\n".join(screen(report, (f"report: {md_path} (Markdown), {json_path} (JSON)",))), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
