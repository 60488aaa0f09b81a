"""A zygote for the gallery's implementation processes: each is forked from one process that
imported numpy, ml_dtypes and the worker's own modules once, instead of starting afresh.

A fresh ``python -m conformance.served`` spends about 0.8 s of CPU before its first call
(0.6 s of it importing ml_dtypes, at the first bfloat16 test); the gallery starts one per
entry. The runs use it through the suite's own ``--worker-prefix``: the prefix is this
file's client, which hands its standard streams and the judge's page (``--board``) to the
zygote over a Unix socket, waits for the forked worker to end and exits as it did. Killing
the client (the judge kills the worker's process group) makes the zygote kill the worker
and its process group. The worker itself is unchanged: the same module, the same protocol,
its own process, in a process group of its own.

    python tests/worker_zygote.py serve SOCKET               # the zygote (started by the gallery's driver)
    python -S tests/worker_zygote.py SOCKET CMD ...          # the client: the worker prefix
"""
import json
import os
import select
import signal
import socket
import struct
import sys

#: the most descriptors a client hands over: stdin, stdout, stderr and the page
MAX_FDS = 4


def _board_fd(argv: list):
    """The page's descriptor named on the worker's command line (``--board FD:MARK``), if any."""
    if "--board" in argv[:-1]:
        number = argv[argv.index("--board") + 1].partition(":")[0]
        if number.isdigit():
            return int(number)
    return None


def client(path: str, argv: list) -> None:
    """Hand this process's streams to the zygote, then wait and exit as the worker did."""
    board = _board_fd(argv)
    fds = [0, 1, 2] + ([board] if board is not None else [])
    payload = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(path)
        socket.send_fds(connection, [struct.pack("<Q", len(payload))], fds)
        connection.sendall(payload)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):   # the pipes are the worker's now: they close when it ends
            os.dup2(null, fd)
        if board is not None:
            os.close(board)
        status = b""
        while len(status) < 8:
            chunk = connection.recv(8 - len(status))
            if not chunk:
                os._exit(70)   # the zygote ended first
            status += chunk
    (code,) = struct.unpack("<q", status)
    if code < 0:   # ended by a signal: so does this process
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code)


def _receive(connection: socket.socket):
    header, fds, _, _ = socket.recv_fds(connection, 8, MAX_FDS)
    (size,) = struct.unpack("<Q", header)
    payload = b""
    while len(payload) < size:
        chunk = connection.recv(min(1 << 20, size - len(payload)))
        if not chunk:
            raise EOFError
        payload += chunk
    return json.loads(payload), fds


def _become_worker(request: dict, fds: list, keep_closed: list) -> None:
    """In the forked child: the client's streams and page, environment and folder; then the
    worker's module as ``python -m`` would run it."""
    try:
        for fd in keep_closed:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        board = _board_fd(request["argv"])
        if board is not None and len(fds) > 3:
            os.dup2(fds[3], board)
        for fd in fds:
            if fd > 2 and fd != board:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        argv = request["argv"]
        module = argv[argv.index("-m") + 1]
        sys.argv = [module, *argv[argv.index("-m") + 2:]]
        import runpy

        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - said on the worker's stderr, as a fresh process would
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def serve(path: str) -> None:
    """Import what every worker imports, then fork one per client until stdin closes."""
    import numpy  # noqa: F401

    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        pass
    import conformance.served  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    children = {}   # pid -> the client's connection
    while True:
        watched = [listener, sys.stdin, *children.values()]
        readable, _, _ = select.select(watched, [], [], 0.05)
        if sys.stdin in readable and not sys.stdin.buffer.read1(1):
            break   # the driver is done (or gone)
        if listener in readable:
            connection, _ = listener.accept()
            try:
                request, fds = _receive(connection)
            except (EOFError, OSError, ValueError):
                connection.close()
                continue
            pid = os.fork()
            if pid == 0:
                _become_worker(request, fds, [listener.fileno(), connection.fileno(),
                                              *(c.fileno() for c in children.values())])
            for fd in fds:
                os.close(fd)
            children[pid] = connection
        for pid, connection in list(children.items()):
            if connection in readable:   # the client ended (killed): so does its worker
                _kill(pid)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            connection = children.pop(pid, None)
            if connection is not None:
                code = os.waitstatus_to_exitcode(status)
                try:
                    connection.sendall(struct.pack("<q", code))
                except OSError:
                    pass
                connection.close()
    for pid in children:
        _kill(pid)
    listener.close()


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        client(sys.argv[1], sys.argv[2:])
