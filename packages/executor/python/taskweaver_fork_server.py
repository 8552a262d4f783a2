"""TaskWeaver kernel fork server.

A long-lived *template* process: it imports, once, what every kernel would import anyway
(ipykernel and IPython's machinery, numpy, pandas, matplotlib, ...), then waits on a unix socket
in a private directory. Each request forks the template; the child becomes an ordinary ipykernel
with its own connection file, working directory, environment, process group and limits. The
pages the template touched are shared copy-on-write between all its children, which is why a
forked kernel starts in milliseconds and costs a fraction of a spawned one's memory.

What must hold for fork to be safe: the template runs a single thread and owns no ZeroMQ context
or socket (ipykernel creates both in the child, after the fork). Thread pools that numerical
libraries would start at import (OpenBLAS, numexpr, OpenMP) are held at one thread while the
template imports, and given back their usual size in each child.

Protocol (one JSON object per line, UTF-8):

* on start, the template prints to stdout
  ``{"ready": true, "pid": N, "threads": N, "imported": [...], "failed": {"name": "error"}}``
  and serves ``argv[1]`` (the socket path);
* a client connects and sends ``{"connection_file", "cwd", "env", "argv", "log_file", "limits"}``;
* the template answers ``{"pid": N}`` at once, then ``{"exit_code": N}`` or ``{"signal": N}``
  when that child ends, and closes the connection. ``{"error": "..."}`` when the fork failed.

The template ends when its parent (the host) ends, and its kernels end when it does.
"""

import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback

# Libraries that read these when they load start that many threads; a forked child would keep
# the bookkeeping and lose the threads. One thread each in the template; children get theirs back.
THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)

# What ipykernel and IPython import while they start, on top of the user's preload list.
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.iostream",
    "ipykernel.heartbeat",
    "ipykernel.parentpoller",
    "ipykernel.eventloops",
    "ipykernel.comm",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "IPython.core.magics",
    "IPython.display",
    "jupyter_client.session",
    "jupyter_client.connect",
    "zmq",
    "zmq.eventloop.zmqstream",
    "tornado.ioloop",
    "ctypes",
    "resource",
)

_template_pid = os.getpid()


def _set_parent_death_signal(signum):
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signum), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def _preload(names):
    """Imports the modules; returns (imported, failed). matplotlib gets Agg and its font cache."""
    imported, failed = [], {}
    for name in list(KERNEL_MODULES) + list(names):
        try:
            if name == "matplotlib" or name.startswith("matplotlib."):
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot  # noqa: F401  pyplot is what user code imports
                from matplotlib import font_manager

                # Loads (or builds, on first use) the font cache here, not in every kernel.
                font_manager.fontManager.findfont("DejaVu Sans")
            importlib.import_module(name)
            imported.append(name)
        except BaseException as error:  # a broken optional module must not stop the template
            failed[name] = "%s: %s" % (type(error).__name__, error)
    return imported, failed


def _prime_support_code(path):
    """Runs the support module's top level once, so its imports are in the template too."""
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as source:
            code = compile(source.read(), path, "exec")
        exec(code, {"__name__": "_taskweaver_support_primer"})
    except Exception:
        pass


def _restore_thread_pools(saved):
    """Gives numerical libraries in a child the thread count they would have chosen themselves."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    wanted = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    try:
        count = int(wanted) if wanted else (len(os.sched_getaffinity(0)) or 1)
    except Exception:
        count = os.cpu_count() or 1
    if count > 1:
        try:
            import ctypes

            for line in open("/proc/self/maps", encoding="utf-8"):
                path = line.split()[-1]
                if "openblas" in path and path.endswith(".so") or "openblas" in path and ".so." in path:
                    library = ctypes.CDLL(path)
                    if hasattr(library, "openblas_set_num_threads"):
                        library.openblas_set_num_threads(count)
                        break
        except Exception:
            pass
    numexpr = sys.modules.get("numexpr")
    if numexpr is not None:
        try:
            from numexpr import utils

            numexpr.set_num_threads(utils._init_num_threads())
        except Exception:
            pass


def _reseed():
    """A child must not draw the same random numbers as its siblings."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        try:
            numpy.random.seed()
        except Exception:
            pass


def _apply_limits(limits):
    if not limits:
        return
    import resource

    for name, (soft, hard) in limits.items():
        resource.setrlimit(getattr(resource, name), (int(soft), int(hard)))


def _run_child(request, saved_thread_variables):
    """Everything after the fork, in the child; never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        _set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != _template_pid:
            os._exit(1)
        # The support code's parent watchdog watches the template: it ends with the host.
        sys._taskweaver_template_pid = _template_pid
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(request["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()
        os.environ.update(request.get("env") or {})
        _restore_thread_pools(saved_thread_variables)
        _apply_limits(request.get("limits"))
        os.chdir(request["cwd"])
        _reseed()
        argv = ["ipykernel_launcher", "-f", request["connection_file"]] + list(request.get("argv") or [])
        sys.argv = argv
        from ipykernel.kernelapp import IPKernelApp

        try:
            IPKernelApp.launch_instance(argv=argv[1:])
            code = 0
        except SystemExit as exit_request:
            code = exit_request.code if isinstance(exit_request.code, int) else (0 if exit_request.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def _send(connection, message):
    try:
        connection.sendall((json.dumps(message) + "\n").encode("utf-8"))
    except OSError:
        pass


def serve(socket_path, preload, support_path):
    parent_pid = os.getppid()
    # Its own process group, like a spawned kernel: terminal Ctrl-C is not for it.
    os.setpgid(0, 0)
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    os.environ["MPLBACKEND"] = "Agg"
    # No collection while importing; what the imports made is then frozen (moved out of the
    # collector's generations), so a child's collections never write to the template's pages
    # and they stay shared.
    gc.disable()
    imported, failed = _preload(preload)
    missing = [name for name in KERNEL_MODULES if name in failed]
    if missing:
        # No kernel could start from this template; the host spawns kernels instead, and the
        # spawned kernel says what is missing.
        sys.stderr.write("cannot import %s: %s\n" % (missing[0], failed[missing[0]]))
        sys.exit(3)
    _prime_support_code(support_path)
    # The template's own environment for children: thread variables as the host gave them.
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    gc.collect()
    gc.freeze()
    gc.enable()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(64)
    listener.setblocking(False)

    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # Terminal Ctrl-C is for the host; the host ends the template by killing it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    buffers = {}
    children = {}

    print(
        json.dumps(
            {
                "ready": True,
                "pid": os.getpid(),
                "threads": _thread_count(),
                "imported": imported,
                "failed": failed,
            }
        ),
        flush=True,
    )

    def reap():
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = children.pop(pid, None)
            if connection is None:
                continue
            if os.WIFSIGNALED(status):
                _send(connection, {"signal": os.WTERMSIG(status)})
            else:
                _send(connection, {"exit_code": os.WEXITSTATUS(status)})
            connection.close()

    def fork(connection, request):
        try:
            pid = os.fork()
        except OSError as error:
            _send(connection, {"error": "fork failed: %s" % error})
            connection.close()
            return
        if pid == 0:
            # Nothing of the server may stay open in a kernel.
            signal.set_wakeup_fd(-1)
            for key in list(selector.get_map().values()):
                try:
                    key.fileobj.close()
                except OSError:
                    pass
            for other in list(buffers) + list(children.values()):
                try:
                    other.close()
                except OSError:
                    pass
            connection.close()
            _run_child(request, saved)
        children[pid] = connection
        _send(connection, {"pid": pid})

    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        for key, _ in selector.select(timeout=1.0):
            if key.data == "wake":
                try:
                    while wake_read.recv(512):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                reap()
            elif key.data == "listen":
                try:
                    connection, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                connection.setblocking(True)
                buffers[connection] = b""
                selector.register(connection, selectors.EVENT_READ, "request")
            else:
                connection = key.fileobj
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(connection)
                    buffers.pop(connection, None)
                    connection.close()
                    continue
                buffers[connection] += chunk
                if b"\n" not in buffers[connection]:
                    continue
                line = buffers.pop(connection).split(b"\n", 1)[0]
                selector.unregister(connection)
                try:
                    request = json.loads(line.decode("utf-8"))
                except ValueError as error:
                    _send(connection, {"error": "bad request: %s" % error})
                    connection.close()
                    continue
                fork(connection, request)
        reap()


if __name__ == "__main__":
    serve(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else [], sys.argv[3] if len(sys.argv) > 3 else "")
