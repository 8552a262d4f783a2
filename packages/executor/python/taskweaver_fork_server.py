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
import select
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
        kind = getattr(resource, name)
        # Only ever lowered: a limit the host already set lower (or one a user may not raise) stays.
        _, current = resource.getrlimit(kind)
        hard = int(hard) if current == resource.RLIM_INFINITY else min(int(hard), current)
        resource.setrlimit(kind, (min(int(soft), hard), hard))


class _Prepared:
    """What the template made ahead for every child."""

    def __init__(self, kernel_argv, app, support, thread_pool_setters):
        self.kernel_argv = list(kernel_argv)
        self.app = app
        self.support = support
        self.thread_pool_setters = thread_pool_setters


def _run_child(request, prepared, sandboxed=False):
    """Everything after the fork, in the child; never returns.

    ``sandboxed``: the child is the kernel of a sandboxed request, PID 2 of a namespace of its
    own, whose init (its parent, PID 1) is outside the template's reach to check.
    """
    code = 1
    try:
        os.setpgid(0, 0)
        _set_parent_death_signal(signal.SIGKILL)
        if not sandboxed and os.getppid() != _template_pid:
            os._exit(1)
        # The support code's parent watchdog watches the template: it ends with the host. A
        # sandboxed kernel's parent is its sandbox's init (pid 1), as under bubblewrap.
        sys._taskweaver_template_pid = None if sandboxed else _template_pid
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


# ---------------------------------------------------------------------------------------------
# Sandboxed children (the template runs in bubblewrap; see fork-kernel-launcher.ts)
#
# A sandboxed request carries ``"sandbox": {"mounts": [...], "unshare_net": bool}``. The forked
# child makes new mount, PID, IPC, UTS and (without network) network namespaces (a user namespace
# too when it has no CAP_SYS_ADMIN, as under an unprivileged bubblewrap), builds the kernel's file
# system view from the mount list, and forks the sandbox's init: PID 1 of its own PID namespace,
# which mounts its own /proc, drops every capability and sets no_new_privs, then forks the
# kernel (PID 2) and reaps the namespace's processes, as bubblewrap's init does. The kernel's host
# pid goes back to the template over a pipe and the first child exits; the template, a child
# subreaper, adopts the init and reports its exit as the kernel's.

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_CAP_SYS_ADMIN = 21


class SandboxError(Exception):
    """The child could not isolate itself; the host falls back to spawning sandboxed kernels."""


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        import ctypes

        number = ctypes.get_errno()
        raise SandboxError("%s: %s" % (what, os.strerror(number)))


def _has_capability(number):
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << number))
    except OSError:
        pass
    return False


def _write_file(path, text):
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _isolate_namespaces(libc, unshare_net):
    """New namespaces for the kernel-to-be (its PID namespace starts with the next fork)."""
    flags = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC | _CLONE_NEWUTS
    if unshare_net:
        flags |= _CLONE_NEWNET
    # Root under bubblewrap keeps its capabilities and needs no user namespace (mounts made in
    # one would be locked together and a new /proc refused); anyone else makes one, mapped to
    # the same uid and gid, to get CAP_SYS_ADMIN over the new namespaces.
    owned = not _has_capability(_CAP_SYS_ADMIN)
    uid, gid = os.geteuid(), os.getegid()
    if owned:
        flags |= _CLONE_NEWUSER
    _check(libc.unshare(flags), "unshare")
    if owned:
        _write_file("/proc/self/setgroups", "deny")
        _write_file("/proc/self/uid_map", "%d %d 1" % (uid, uid))
        _write_file("/proc/self/gid_map", "%d %d 1" % (gid, gid))
    # Nothing mounted from here on may reach the template or a sibling.
    _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "making / private")


def _apply_mounts(libc, mounts):
    """The kernel's view: fresh tmpfs mounts and binds, in order (later ones on top).

    Every bind source is opened first, because a tmpfs of the list may cover it (the staging
    directories the template sees under its /tmp are gone once the kernel's own /tmp is there).
    """
    sources = {}
    try:
        for index, mount in enumerate(mounts):
            if mount["type"] == "bind":
                sources[index] = os.open(mount["source"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        for index, mount in enumerate(mounts):
            target = mount["path"]
            if mount["type"] in ("tmpfs", "bind"):
                try:
                    os.makedirs(target, exist_ok=True)
                except OSError:
                    pass  # an existing directory on the read-only root; the mount says if not
            encoded = target.encode("utf-8")
            if mount["type"] == "readonly":
                # Only this mount point, not what is mounted below it (/dev, not /dev/shm).
                _check(
                    libc.mount(None, encoded, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None),
                    "read-only %s" % target,
                )
            elif mount["type"] == "devpts":
                # A pseudo-terminal instance of its own: a sibling's terminals are not here.
                _check(
                    libc.mount(b"devpts", encoded, b"devpts", _MS_NOSUID | _MS_NOEXEC, b"newinstance,ptmxmode=0666,mode=0620"),
                    "devpts on %s" % target,
                )
            elif mount["type"] == "tmpfs":
                options = "mode=0755"
                if mount.get("size") is not None:
                    options += ",size=%d" % int(mount["size"])
                _check(
                    libc.mount(b"tmpfs", encoded, b"tmpfs", _MS_NOSUID | _MS_NODEV, options.encode("ascii")),
                    "tmpfs on %s" % target,
                )
            else:
                source = ("/proc/self/fd/%d" % sources[index]).encode("ascii")
                _check(libc.mount(source, encoded, None, _MS_BIND | _MS_REC, None), "bind on %s" % target)
                if mount.get("readonly"):
                    _check(
                        libc.mount(None, encoded, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV, None),
                        "read-only %s" % target,
                    )
    finally:
        for descriptor in sources.values():
            os.close(descriptor)


def _loopback_up():
    """A new network namespace has its loopback down; bubblewrap brings it up, so do we."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(probe, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1 | 0x40))  # IFF_UP|IFF_RUNNING


def _drop_capabilities(libc):
    """No capability left, none to regain: the bounding and ambient sets emptied, no_new_privs."""
    import ctypes

    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as last:
            last_cap = int(last.read())
    except (OSError, ValueError):
        last_cap = 63
    for number in range(last_cap + 1):
        libc.prctl(24, number, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly without CAP_SETPCAP)
    libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL
    _check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")  # PR_SET_NO_NEW_PRIVS

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    import platform

    number = {"x86_64": 126, "aarch64": 91}.get(platform.machine())  # SYS_capset
    if number is None:
        raise SandboxError("capset's system call number is not known on %s" % platform.machine())
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    _check(libc.syscall(number, ctypes.byref(header), data), "capset")
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("CapEff:", "CapPrm:", "CapBnd:")) and int(line.split()[1], 16) != 0:
                raise SandboxError("capabilities left after dropping them: %s" % line.strip())


def _send_own_pid(channel):
    """Tells the other end this process's pid as its PID namespace sees it (SCM_CREDENTIALS)."""
    import struct

    credentials = struct.pack("3i", os.getpid(), os.getuid(), os.getgid())
    channel.sendmsg([b"p"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, credentials)])


def _receive_pid(channel):
    """The pid sent by ``_send_own_pid``, translated by the kernel into this namespace."""
    import struct

    size = struct.calcsize("3i")
    _, ancillary, _, _ = channel.recvmsg(1, socket.CMSG_SPACE(size))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return struct.unpack("3i", data[:size])[0]
    raise SandboxError("the kernel did not tell its pid")


def _wait_until_adopted(go, lifeline):
    """In a sandbox's init: waits for the template's word that it has reaped the isolating child
    (this process's first parent), then asks for the parent-death signal (see _run_isolating_child)."""
    if os.read(go, 1) != b"g":
        os._exit(1)
    os.close(go)
    _set_parent_death_signal(signal.SIGKILL)
    # The template may have died just before: then every write end of the lifeline is closed.
    if _closed(lifeline):
        os._exit(1)
    os.close(lifeline)


def _reap_until_kernel_ends(kernel):
    """PID 1 of a sandbox, as bubblewrap's own init: reaps every process of the namespace (orphans
    come here) and ends with the kernel, with its status; then the namespace ends, and everything
    in it."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(1)
        if pid != kernel:
            continue
        # A signal cannot end PID 1 from inside: the template reads 128 + N as "killed by N".
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status))


def _fork_sandboxed_kernel(request, prepared, pid_sender, keep=()):
    """In a sandbox's init: forks the kernel (PID 2), which tells its pid over ``pid_sender``."""
    kernel = os.fork()
    if kernel == 0:
        for descriptor in keep:
            try:
                os.close(descriptor)
            except OSError:
                pass
        # The init never changes: it is this kernel's parent until the namespace ends.
        _set_parent_death_signal(signal.SIGKILL)
        _send_own_pid(pid_sender)
        pid_sender.close()
        _run_child(request, prepared, sandboxed=True)
    return kernel


def _reusable_source(mount, reusable):
    """A per-kernel bind's source through the spare's descriptor of the directory that holds it
    (the directory itself is covered by the sandbox's own mounts by then)."""
    if mount.get("type") != "bind":
        return mount
    source = mount["source"]
    for directory, descriptor in sorted(reusable.items(), key=lambda item: -len(item[0])):
        prefix = directory.rstrip("/")
        if source == directory or source.startswith(prefix + "/"):
            return dict(mount, source="/proc/self/fd/%d%s" % (descriptor, source[len(prefix):]))
    raise SandboxError("%s is not under a directory the sandbox kept" % source)


def _run_spare_init(libc, prepared, reusable, control, pid_sender):
    """A spare sandbox's init, made ahead: namespaces, common mounts, /proc and loopback are done.
    It waits for a request (one JSON line on ``control``: ``{"request", "kernel_mounts"}``), binds
    that kernel's own directories, drops its capabilities and forks the kernel: one fork on the
    session's path instead of three. Never returns."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(control, 65536)
        if not chunk:
            os._exit(0)  # the template let the spare go
        data += chunk
    os.close(control)
    try:
        message = json.loads(data.split(b"\n", 1)[0].decode("utf-8"))
        _apply_mounts(libc, [_reusable_source(mount, reusable) for mount in message.get("kernel_mounts") or []])
        for descriptor in reusable.values():
            os.close(descriptor)
        _drop_capabilities(libc)
        # Not to be traced or read by its kernel (the same user, now the same capabilities).
        _check(libc.prctl(4, 0, 0, 0, 0), "PR_SET_DUMPABLE")
        kernel = _fork_sandboxed_kernel(message["request"], prepared, pid_sender)
    except BaseException as error:
        try:
            pid_sender.send(b"e" + ("%s" % error).encode("utf-8", "replace")[:4000])
        except OSError:
            pass
        os._exit(1)
    pid_sender.close()
    _reap_until_kernel_ends(kernel)


def _run_isolating_child(request, prepared, plan, report, go, lifeline, spare=None):
    """The sandboxed request's first child; never returns.

    Makes the namespaces and the mounts and forks the sandbox's init into the new PID namespace;
    the init forks the kernel (PID 2). This process tells the template the kernel's pid and the
    init's (``report``, a pipe: one JSON line) and exits. The init, orphaned, goes to the template
    (a child subreaper), which reaps it and reports its exit as the kernel's. The template writes
    ``go`` once it has reaped this process, so the init's parent is the template when the init
    asks for its parent-death signal (asked earlier, the signal would come with this exit).

    With ``spare`` (the control pipe's read end and the sending end of the template's pid socket),
    the init is made ahead for a later request (``_run_spare_init``) and only its pid is reported.
    """
    init = -1
    try:
        _set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != _template_pid:
            os._exit(1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        libc = _libc()
        _isolate_namespaces(libc, bool(plan.get("unshare_net")))
        reusable = {}
        if spare is not None:
            for directory in plan.get("reusable") or []:
                reusable[directory] = os.open(directory, os.O_PATH | os.O_DIRECTORY)
            _apply_mounts(libc, plan.get("mounts") or [])
            control, pid_sender = spare
            pid_channel = None
        else:
            _apply_mounts(libc, (plan.get("mounts") or []) + (plan.get("kernel_mounts") or []))
            pid_channel, pid_sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            pid_channel.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        ready_read, ready_write = os.pipe()
        init = os.fork()
        if init == 0:
            os.close(report)
            os.close(ready_read)
            if pid_channel is not None:
                pid_channel.close()
            kernel = -1
            try:
                _check(libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None), "mounting /proc")
                if plan.get("unshare_net"):
                    _loopback_up()
                if spare is None:
                    _drop_capabilities(libc)
                    # Not to be traced or read by its kernel (the same user, now the same capabilities).
                    _check(libc.prctl(4, 0, 0, 0, 0), "PR_SET_DUMPABLE")
                    kernel = _fork_sandboxed_kernel(request, prepared, pid_sender, keep=(ready_write, go, lifeline))
            except BaseException as error:
                os.write(ready_write, ("%s" % error).encode("utf-8", "replace")[:4000] or b"failed")
                os._exit(1)
            os.close(ready_write)
            _wait_until_adopted(go, lifeline)
            if spare is not None:
                _run_spare_init(libc, prepared, reusable, control, pid_sender)
            pid_sender.close()
            _reap_until_kernel_ends(kernel)
        os.close(ready_write)
        os.close(go)
        if spare is None:
            pid_sender.close()
        problem = b""
        while True:
            chunk = os.read(ready_read, 4096)
            if not chunk:
                break
            problem += chunk
        os.close(ready_read)
        if problem:
            raise SandboxError(problem.decode("utf-8", "replace"))
        answer = {"init_pid": init}
        if pid_channel is not None:
            answer["pid"] = _receive_pid(pid_channel)
            pid_channel.close()
        os.write(report, (json.dumps(answer) + "\n").encode("utf-8"))
        os.close(report)
    except BaseException as error:
        try:
            message = error if isinstance(error, SandboxError) else "%s: %s" % (type(error).__name__, error)
            os.write(report, (json.dumps({"error": "sandbox: %s" % message}) + "\n").encode("utf-8"))
        except BaseException:
            pass
        if init > 0:
            try:
                os.kill(init, signal.SIGKILL)
            except OSError:
                pass
        os._exit(1)
    os._exit(0)


def _closed(read_end):
    """True when every write end of the pipe is closed (nothing is ever written to it)."""
    import select

    readable, _, _ = select.select([read_end], [], [], 0)
    return bool(readable)


def _read_isolation_report(report, child):
    """The isolating child's one line: the kernel's pid, or why the sandbox could not be made."""
    read_end, write_end = report
    os.close(write_end)
    data = b""
    deadline_selector = selectors.DefaultSelector()
    deadline_selector.register(read_end, selectors.EVENT_READ)
    try:
        while b"\n" not in data:
            # Isolating takes milliseconds; a child that hangs must not stall the template.
            if not deadline_selector.select(timeout=20.0):
                break
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        deadline_selector.close()
        os.close(read_end)
    try:
        answer = json.loads(data.split(b"\n", 1)[0].decode("utf-8"))
        if isinstance(answer, dict) and ("init_pid" in answer or "error" in answer):
            return answer
    except ValueError:
        pass
    try:
        os.kill(child, signal.SIGKILL)
    except OSError:
        pass
    return {"error": "sandbox: the isolating child ended without a report"}


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
    subreaper = [False]
    # Sandboxes' inits, reaped for their kernels.
    sandbox_inits = set()

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
            mirrored = pid in sandbox_inits
            sandbox_inits.discard(pid)
            if os.WIFSIGNALED(status):
                _send(connection, {"signal": os.WTERMSIG(status)})
            elif mirrored and os.WEXITSTATUS(status) > 128:
                _send(connection, {"signal": os.WEXITSTATUS(status) - 128})
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

    # Read by sandboxed kernels once, to see that the template is still alive when they start;
    # only the template holds the write end.
    lifeline = os.pipe()

    # A sandbox made ahead for the next sandboxed request (see _run_spare_init): its init's pid,
    # the write end of its control pipe, the socket its kernel tells its pid on, and the key of
    # the mounts it was made with.
    spare = {}
    spare_failed = [False]

    def close_in_child(connection):
        """Nothing of the server may stay open in a kernel."""
        signal.set_wakeup_fd(-1)
        for key in list(selector.get_map().values()):
            try:
                key.fileobj.close()
            except OSError:
                pass
        for other in list(buffers) + list(children.values()) + ([connection] if connection else []):
            try:
                other.close()
            except OSError:
                pass
        os.close(lifeline[1])
        if spare:
            os.close(spare["control"])
            spare["channel"].close()

    def isolate(connection, request, plan, spare_ends=None):
        """Forks the isolating child; its answer: ``init_pid`` (and the kernel's ``pid`` unless
        a spare is made), or ``error``."""
        report, go = os.pipe(), os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            for pipe in (report, go):
                os.close(pipe[0])
                os.close(pipe[1])
            return {"error": "fork failed: %s" % error}
        if pid == 0:
            close_in_child(connection)
            os.close(report[0])
            os.close(go[1])
            _run_isolating_child(request, prepared, plan, report[1], go[0], lifeline[0], spare_ends)
        os.close(go[0])
        answer = _read_isolation_report(report, pid)
        # The isolating child exits once it has reported (or is killed): reaped here, so the
        # init is the template's child from now on, and may ask for its parent-death signal.
        while True:
            try:
                os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
        if "init_pid" in answer:
            try:
                os.write(go[1], b"g")
            except OSError:
                pass  # the init is already gone: reap() collects it
        os.close(go[1])
        return answer

    def make_spare(plan, key):
        control = os.pipe()
        channel, sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        channel.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        answer = isolate(None, None, plan, (control[0], sender))
        os.close(control[0])
        sender.close()
        if "init_pid" not in answer:
            # Not again: requests are served the direct way.
            spare_failed[0] = True
            os.close(control[1])
            channel.close()
            return
        spare.update(key=key, init=int(answer["init_pid"]), control=control[1], channel=channel)

    def use_spare(request, plan):
        """Hands the request to the spare; the kernel's and its init's pids, or None."""
        import struct

        init, control, channel = spare["init"], spare["control"], spare["channel"]
        spare.clear()
        try:
            data = (json.dumps({"request": request, "kernel_mounts": plan.get("kernel_mounts") or []}) + "\n").encode("utf-8")
            while data:
                data = data[os.write(control, data):]
            os.close(control)
            control = -1
            readable, _, _ = select.select([channel], [], [], 20.0)
            if not readable:
                raise SandboxError("the spare sandbox did not answer")
            size = struct.calcsize("3i")
            payload, ancillary, _, _ = channel.recvmsg(4096, socket.CMSG_SPACE(size))
            if payload[:1] != b"p":
                raise SandboxError(payload[1:].decode("utf-8", "replace") or "the spare sandbox failed")
            for level, kind, credentials in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    return {"pid": struct.unpack("3i", credentials[:size])[0], "init_pid": init}
            raise SandboxError("the kernel did not tell its pid")
        except (OSError, ValueError, SandboxError):
            spare_failed[0] = True
            try:
                os.kill(init, signal.SIGKILL)
            except OSError:
                pass
            return None
        finally:
            if control >= 0:
                os.close(control)
            channel.close()

    def fork_sandboxed(connection, request, plan):
        if not subreaper[0]:
            # Sandboxes' inits are orphaned on purpose (see _run_isolating_child): they come here.
            try:
                _check(_libc().prctl(36, 1, 0, 0, 0), "PR_SET_CHILD_SUBREAPER")
            except SandboxError as error:
                _send(connection, {"error": "sandbox: %s" % error})
                connection.close()
                return
            subreaper[0] = True
        # Made ahead only where the request says which mounts are its kernel's own.
        reusable = "kernel_mounts" in plan and bool(plan.get("reusable"))
        key = json.dumps([plan.get("mounts"), bool(plan.get("unshare_net")), plan.get("reusable")], sort_keys=True)
        if spare and spare["key"] != key:
            # Made for other mounts: let it go (its init exits when its control pipe closes).
            os.close(spare["control"])
            spare["channel"].close()
            spare.clear()
        answer = use_spare(request, plan) if reusable and spare else None
        ahead = answer is not None
        if answer is None:
            answer = isolate(connection, request, plan)
        if "pid" in answer and "init_pid" in answer:
            # The init's exit is the kernel's (it mirrors a signal as 128 + N).
            children[int(answer["init_pid"])] = connection
            sandbox_inits.add(int(answer["init_pid"]))
            _send(connection, dict({"pid": answer["pid"]}, **({"ahead": True} if ahead else {})))
        else:
            _send(connection, answer if "error" in answer else {"error": "sandbox: no kernel was forked"})
            connection.close()
            return
        if reusable and not spare and not spare_failed[0]:
            make_spare(plan, key)

    def fork(connection, request):
        plan = request.get("sandbox")
        if plan is not None:
            fork_sandboxed(connection, request, plan)
            return
        try:
            pid = os.fork()
        except OSError as error:
            _send(connection, {"error": "fork failed: %s" % error})
            connection.close()
            return
        if pid == 0:
            close_in_child(connection)
            os.close(lifeline[0])
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
