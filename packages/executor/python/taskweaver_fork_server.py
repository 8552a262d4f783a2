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
  ``{"ready": true, "pid": N, "threads": N, "imported": [...], "failed": {"name": "error"},
  "prepared": bool, "support": bool}`` (``prepared``: the kernel application and its shell are
  built ahead; ``support``: a child can install the support code itself)
  and serves ``argv[1]`` (the socket path);
  (``argv[4]``, JSON, are ipykernel's command-line arguments, the same for every kernel);
* a client connects and sends ``{"connection_file", "cwd", "env", "log_file", "limits"}``
  (without ``env``, the child keeps the template's environment, as in a container) and,
  optionally, ``"support_options"`` (the support code's ``install`` options; the child installs
  it before it reads its first request);
* the template answers ``{"pid": N}`` at once, then ``{"exit_code": N}`` or ``{"signal": N}``
  when that child ends, and closes the connection. ``{"error": "..."}`` when the fork failed;
* ``{"kill": pid, "signal": N}`` sends signal N to the process group of that child (never to
  the template) and is answered ``{"ok": true}`` or ``{"error": "..."}``: for a host that cannot
  signal the kernel itself, as a container's host cannot. ``TASKWEAVER_FORK_SOCKET_MODE``
  (octal, default 600) sets the socket's permissions.

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


def _warm_up(app):
    """Does once, in the template, what every kernel's first cells would do for themselves.

    Much of IPython, pandas and matplotlib is built on first use rather than at import: the
    tokenizer's patterns behind IPython's cell transformation, the display formatters, pandas'
    repr and HTML machinery, matplotlib's Agg renderer and PNG writer. Done here, it is shared by
    every child instead of costing each kernel's first result tens of milliseconds. Nothing is
    left in the user namespace, no figure stays open, and a failure only means less is shared.
    """
    shell = app.shell if app is not None else None
    steps = []
    if shell is not None:
        def cell_machinery():
            source = shell.transform_cell("value = (1, 2)\nvalue\n")
            shell.compile.ast_parse(source)
            shell.display_formatter.format((1, 1))

        steps.append(cell_machinery)
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        def pandas_first_use():
            frame = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]})
            frame.shape, frame.describe(), frame.groupby("b").sum()
            if shell is not None:
                shell.display_formatter.format(frame)
            else:
                repr(frame), frame._repr_html_()

        steps.append(pandas_first_use)
    if "matplotlib.pyplot" in sys.modules:
        def matplotlib_first_use():
            import io

            pyplot = sys.modules["matplotlib.pyplot"]
            figure = pyplot.figure()
            try:
                pyplot.plot([1, 2, 3], [1, 4, 9], label="warm-up")
                pyplot.title("warm-up")
                pyplot.legend()
                figure.savefig(io.BytesIO(), format="png", bbox_inches="tight")
            finally:
                pyplot.close("all")

        steps.append(matplotlib_first_use)
    for step in steps:
        try:
            step()
        except BaseException:
            traceback.print_exc()


_FILLERS = []


def _small_block_gaps():
    """Free blocks per size class in the allocator's partly used pools (CPython's own report)."""
    import re
    import tempfile

    with tempfile.TemporaryFile(mode="w+b") as report:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(report.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        report.seek(0)
        text = report.read().decode("utf-8", "replace")
    gaps = {}
    for match in re.finditer(r"^\s*\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$", text, re.M):
        gaps[int(match.group(1))] = int(match.group(2))
    return gaps


def _fill_small_block_gaps():
    """Fills the free slots of the template's partly used allocator pools, for good.

    A child allocates its small objects first in the free slots of pools the template left
    partly used; each such slot sits on a page shared with the template and its siblings, so one
    32-byte object makes the kernel copy a whole 4 KiB page. With the slots taken (by objects
    that live as long as the template), a child's new objects go to fresh pools, densely.
    """
    if not hasattr(sys, "_debugmallocstats"):
        return
    try:
        for size, free in _small_block_gaps().items():
            if size <= 16:
                _FILLERS.extend(object() for _ in range(free))
            elif size <= 32:
                _FILLERS.extend(float(index) + 0.5 for index in range(free))
            else:
                # bytes of length n take 33 + n bytes: exactly this size class.
                _FILLERS.extend(bytes(size - 33) for _ in range(free))
    except Exception:
        traceback.print_exc()


def _load_support_module(path):
    """The support module, run once here (its imports land in the template too).

    Not in ``sys.modules``: a child puts it there and installs it only when its request says
    how (``support_options``); otherwise the host sends the support code itself, as to a spawned
    kernel. The code is the same file the host would send.
    """
    if not path:
        return None
    try:
        import types

        with open(path, encoding="utf-8") as source:
            code = compile(source.read(), "taskweaver_support.py", "exec")
        module = types.ModuleType("_taskweaver_support")
        exec(code, module.__dict__)
        return module
    except Exception:
        traceback.print_exc()
        return None


def _prepare_kernel_app(argv):
    """Builds, in the template, the part of an ipykernel start that no session changes.

    That is the application with its configuration (command line, profile, config files) and
    the ``InteractiveShell`` with its magics, extensions and startup code: about half of a
    kernel's start. What a session owns is left for the child: the connection file and its key,
    the ZeroMQ context and sockets, ipykernel's threads, the output streams, the kernel object,
    and the Jupyter ``Session`` (its id and pid). Returns None when anything fails; children then
    start ipykernel from the beginning, as a spawned kernel does.
    """
    try:
        from IPython.core.application import BaseIPythonApplication
        from ipykernel.compiler import XCachingCompiler
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app._init_asyncio_patch()
        BaseIPythonApplication.initialize(app, list(argv))
        if app.subapp is not None:
            return None
        app.init_pdb()
        app.init_path()
        # The kernel class asks for the shell singleton with these arguments; in the child it
        # gets this one, and the child gives it its kernel.
        shell_class = app.kernel_class.class_traits()["shell_class"].default()
        if isinstance(shell_class, str):
            from traitlets.utils.importstring import import_item

            shell_class = import_item(shell_class)
        if "shell_class" in app.config.get(app.kernel_class.__name__, {}):
            return None
        app.shell = shell_class.instance(
            parent=app,
            profile_dir=app.profile_dir,
            user_module=None,
            user_ns=app.user_ns,
            kernel=None,
            compiler_class=XCachingCompiler,
        )
        app.init_gui_pylab()
        app.init_extensions()
        app.init_code()
        # Per kernel, never shared: created on first use, in the child.
        for name in ("session", "context", "kernel"):
            if app._trait_values.get(name) is not None:
                return None
        return app
    except BaseException:
        traceback.print_exc()
        # Half-built singletons must not be found by a child's own ipykernel start.
        try:
            from ipykernel.kernelapp import IPKernelApp

            from ipykernel.zmqshell import ZMQInteractiveShell

            ZMQInteractiveShell.clear_instance()
            IPKernelApp.clear_instance()
        except BaseException:
            pass
        return None


def _start_prepared_kernel(app, connection_file, support, support_options):
    """The rest of ``IPKernelApp.initialize`` and ``start``, in the child; ZeroMQ starts here.

    With ``support``, the support module is installed before the first request is read, as the
    host's bootstrap would (same module, same options), so the host skips that execute.
    """
    import logging

    shell = app.shell
    app.connection_file = connection_file
    app.init_blackhole()
    app.init_connection_file()
    app.init_poller()
    app.init_sockets()
    app.init_heartbeat()
    app.write_connection_file()
    app.log_connection_info()
    app.init_io()
    try:
        app.init_signal()
    except Exception:
        if app.log_level < logging.CRITICAL:
            app.log.error("Unable to initialize signal:", exc_info=True)
    app.init_kernel()
    if app.kernel.shell is not shell:
        raise RuntimeError("the kernel did not take the template's shell")
    shell.kernel = app.kernel
    shell.parent = app.kernel
    shell.starting_dir = os.getcwd()
    app.init_shell()
    if support is not None:
        sys.modules["_taskweaver_support"] = support
        support.install(json.dumps(support_options))
    sys.stdout.flush()
    sys.stderr.flush()
    app.start()


def _find_thread_pool_setters():
    """In the template: the call that sizes OpenBLAS's thread pool, looked up once among the
    loaded libraries, so a child only calls it (numexpr is sized through its own module)."""
    setters = []
    try:
        import ctypes

        seen = set()
        for line in open("/proc/self/maps", encoding="utf-8"):
            path = line.split()[-1]
            name = os.path.basename(path)
            if "openblas" not in name or ".so" not in name or path in seen:
                continue
            seen.add(path)
            library = ctypes.CDLL(path)
            if hasattr(library, "openblas_set_num_threads"):
                setters.append(library.openblas_set_num_threads)
                break
    except Exception:
        pass
    return setters


def _restore_thread_pools(setters):
    """Gives numerical libraries in a child the thread count they would have chosen themselves."""
    wanted = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    try:
        count = int(wanted) if wanted else (len(os.sched_getaffinity(0)) or 1)
    except Exception:
        count = os.cpu_count() or 1
    if count > 1:
        for setter in setters:
            try:
                setter(count)
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


class _Prepared:
    """What the template made ahead for every child."""

    def __init__(self, kernel_argv, app, support, thread_pool_setters):
        self.kernel_argv = list(kernel_argv)
        self.app = app
        self.support = support
        self.thread_pool_setters = thread_pool_setters


def _run_child(request, prepared):
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
        if request.get("env") is not None:
            os.environ.clear()
            os.environ.update(request["env"])
        _restore_thread_pools(prepared.thread_pool_setters)
        _apply_limits(request.get("limits"))
        os.chdir(request["cwd"])
        _reseed()
        argv = ["ipykernel_launcher", "-f", request["connection_file"]] + prepared.kernel_argv
        sys.argv = argv
        try:
            if prepared.app is not None:
                support_options = request.get("support_options")
                _start_prepared_kernel(
                    prepared.app,
                    request["connection_file"],
                    prepared.support if support_options is not None else None,
                    support_options,
                )
            else:
                from ipykernel.kernelapp import IPKernelApp

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


def serve(socket_path, preload, support_path, kernel_argv):
    parent_pid = os.getppid()
    # Its own process group, like a spawned kernel: terminal Ctrl-C is not for it.
    os.setpgid(0, 0)
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    # OpenBLAS reads this once, when it loads: how long (2**N cycles) an idle worker thread spins
    # before it sleeps. Its default (2**28, about 0.1 s) would have every new kernel's freshly
    # sized pool burn a core while the kernel starts; 2**20 is well under a millisecond.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")
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
    support = _load_support_module(support_path)
    app = _prepare_kernel_app(kernel_argv)
    _warm_up(app)
    prepared = _Prepared(kernel_argv, app, support, _find_thread_pool_setters())
    # The template's own environment for children: thread variables as the host gave them.
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    gc.collect()
    _fill_small_block_gaps()
    gc.freeze()
    gc.enable()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    # Owner only, unless the host says otherwise: a container's host may be another, unprivileged uid.
    os.chmod(socket_path, int(os.environ.get("TASKWEAVER_FORK_SOCKET_MODE", "600"), 8))
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
                "prepared": app is not None,
                "support": app is not None and support is not None,
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

    def signal_child(connection, request):
        # For hosts that cannot signal a kernel themselves (a container's pid namespace): only
        # the group of a child of this template, never the template's own.
        pid = request.get("kill")
        try:
            if pid not in children:
                raise ProcessLookupError("%s is not a kernel of this template" % pid)
            os.killpg(int(pid), int(request.get("signal", signal.SIGKILL)))
            _send(connection, {"ok": True})
        except (OSError, ValueError, TypeError) as error:
            _send(connection, {"error": str(error)})
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
            _run_child(request, prepared)
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
                if "kill" in request:
                    signal_child(connection, request)
                else:
                    fork(connection, request)
        reap()


if __name__ == "__main__":
    serve(
        sys.argv[1],
        json.loads(sys.argv[2]) if len(sys.argv) > 2 else [],
        sys.argv[3] if len(sys.argv) > 3 else "",
        json.loads(sys.argv[4]) if len(sys.argv) > 4 else [],
    )
