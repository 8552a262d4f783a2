"""TaskWeaver kernel support.

The host sends this file to every kernel it starts, as the source of an in-memory module named
``_taskweaver_support`` (nothing is installed into the Python environment), then calls
``install(options)``. It makes the kernel behave as TaskWeaver expects:

* the value of the last expression or the last assignment is displayed;
* tracebacks carry no ANSI colours;
* matplotlib draws with Agg, and the figures a cell leaves open are saved as PNG files in the
  working directory and reported as artifacts;
* ``taskweaver.plugin`` exists, so unmodified TaskWeaver plugins load and run;
* plugins read session variables set by the host;
* the tools of the session's MCP servers are methods of one object per server, and a call is
  handed to the host over the kernel's stdin channel (no network needed in the kernel).

Everything the host must collect (artifacts, plugin log entries) travels as a ``display_data``
with the private MIME type ``EVENT_MIME``; the host hides those displays from the user.
"""

import json
import os
import sys
import threading
import types

EVENT_MIME = "application/vnd.taskweaver.event+json"

_state = {
    "workdir": None,
    "session_variables": {},
    "execution_id": None,
    "counter": 0,
    "plugins": {},
    "collecting": None,
    "output_budget": None,
}


def _shell():
    from IPython import get_ipython

    return get_ipython()


def _emit(event):
    from IPython.display import publish_display_data

    publish_display_data({EVENT_MIME: event})


def _workdir():
    return _state["workdir"] or os.getcwd()


def _relative(path):
    return os.path.relpath(os.path.abspath(path), _workdir()).replace(os.sep, "/")


def _safe_file_name(file_name):
    name = os.path.basename(str(file_name)) or "artifact"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def current_execution_id():
    """The id the host gave the running execution (request metadata), else a local counter."""
    return _state["execution_id"] or "exec-%d" % _state["counter"]


def _report_artifact(name, artifact_type, mime_type, path, description):
    _emit(
        {
            "kind": "artifact",
            "name": str(name),
            "type": artifact_type,
            "mime_type": mime_type,
            "path": _relative(path),
            "description": str(description or ""),
        }
    )


# ---------------------------------------------------------------------------------------------
# Cell hooks


def _pre_run_cell(info=None):
    _state["counter"] += 1
    execution_id = None
    try:
        kernel = getattr(_shell(), "kernel", None)
        parent = kernel.get_parent("shell") if hasattr(kernel, "get_parent") else kernel._parent_header
        execution_id = (parent or {}).get("metadata", {}).get("taskweaver_execution_id")
    except Exception:
        execution_id = None
    _state["execution_id"] = execution_id
    _state["figure_index"] = 0
    _start_output_budget()


def _figure_description(figure, index):
    titles = []
    try:
        if figure._suptitle is not None and figure._suptitle.get_text():
            titles.append(figure._suptitle.get_text())
        for axes in figure.get_axes():
            if axes.get_title():
                titles.append(axes.get_title())
    except Exception:
        pass
    if titles:
        return "matplotlib figure: " + "; ".join(titles)
    return "matplotlib figure %d" % index


def _post_run_cell(result=None):
    _end_output_budget()
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    try:
        numbers = pyplot.get_fignums()
    except Exception:
        return
    for number in numbers:
        figure = pyplot.figure(number)
        _state["figure_index"] = _state.get("figure_index", 0) + 1
        index = _state["figure_index"]
        name = "figure_%d" % index
        path = os.path.join(_workdir(), "%s-%s.png" % (current_execution_id(), name))
        try:
            figure.savefig(path, format="png", bbox_inches="tight")
        except Exception as error:  # a broken figure must not break the cell's result
            sys.stderr.write("TaskWeaver could not save figure %d: %s\n" % (number, error))
            continue
        finally:
            pyplot.close(figure)
        _report_artifact(name, "image", "image/png", path, _figure_description(figure, index))


# ---------------------------------------------------------------------------------------------
# The taskweaver.plugin shim


class PluginContext:
    """What TaskWeaver hands a plugin as ``self.ctx``."""

    def __init__(self, plugin_name):
        self.plugin_name = plugin_name

    @property
    def execution_id(self):
        return current_execution_id()

    @property
    def execution_idx(self):
        return _state["counter"]

    @property
    def session_id(self):
        return _state["session_variables"].get("session_id", "")

    @property
    def env_id(self):
        return "local"

    def create_artifact_path(self, name, file_name, type, desc=None):
        """Reserves a file in the working directory; the caller writes it. Returns (id, path)."""
        artifact_id = "%s-%s" % (current_execution_id(), _safe_file_name(name))
        path = os.path.join(_workdir(), "%s-%s" % (current_execution_id(), _safe_file_name(file_name)))
        _report_artifact(name, _artifact_type(type), _mime_type(type, path), path, desc or name)
        return artifact_id, path

    def add_artifact(self, name, file_name, type, val, desc=None):
        """Saves ``val`` into the working directory and reports it; returns the artifact's relative path."""
        artifact_type = _artifact_type(type)
        path = os.path.join(_workdir(), "%s-%s" % (current_execution_id(), _safe_file_name(file_name)))
        _write_value(artifact_type, val, path)
        _report_artifact(name, artifact_type, _mime_type(artifact_type, path), path, desc or _preview(artifact_type, val))
        return _relative(path)

    def get_session_var(self, variable_name, default=None):
        return _state["session_variables"].get(variable_name, default)

    def log(self, level, message):
        _emit({"kind": "log", "level": str(level), "message": str(message), "plugin": self.plugin_name})


_ARTIFACT_TYPES = ("chart", "df", "file", "txt", "svg", "html", "image")


def _artifact_type(value):
    if value not in _ARTIFACT_TYPES:
        raise ValueError("artifact type must be one of %s, not %r" % (", ".join(_ARTIFACT_TYPES), value))
    return value


def _mime_type(artifact_type, path):
    extension = os.path.splitext(path)[1].lower()
    by_extension = {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".svg": "image/svg+xml",
        ".html": "text/html",
        ".htm": "text/html",
        ".csv": "text/csv",
        ".txt": "text/plain",
        ".json": "application/json",
    }
    if extension in by_extension:
        return by_extension[extension]
    return {"df": "text/csv", "txt": "text/plain", "svg": "image/svg+xml", "html": "text/html"}.get(
        artifact_type, "application/octet-stream"
    )


def _write_value(artifact_type, value, path):
    if artifact_type == "df" and hasattr(value, "to_csv"):
        value.to_csv(path, index=False)
        return
    if hasattr(value, "savefig"):  # a matplotlib figure handed as a chart
        value.savefig(path, bbox_inches="tight")
        return
    if isinstance(value, (bytes, bytearray)):
        with open(path, "wb") as handle:
            handle.write(value)
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(value if isinstance(value, str) else str(value))


def _preview(artifact_type, value):
    if artifact_type == "df" and hasattr(value, "shape"):
        return "data frame with %d rows and %d columns" % (value.shape[0], value.shape[1])
    if isinstance(value, str):
        return value[:80]
    return "%s artifact" % artifact_type


class Plugin:
    """Base class of TaskWeaver plugins: ``__call__`` does the work."""

    def __init__(self, name, ctx, config):
        self.name = name
        self.ctx = ctx
        self.config = config or {}

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("a plugin must implement __call__")

    def log(self, level, message):
        self.ctx.log(level, message)

    def get_env(self, variable_name):
        key = "PLUGIN_%s_%s" % (self.name, variable_name)
        if key not in os.environ:
            raise KeyError("environment variable %s is not set for plugin %s" % (key, self.name))
        return os.environ[key]


def register_plugin(target):
    """Marks the plugin class (or plain function) of a plugin module."""
    collecting = _state["collecting"]
    if collecting is not None:
        collecting.append(target)
    return target


def test_plugin(name=None, description=None):
    """TaskWeaver's self-test decorator; accepted and ignored here."""

    def decorate(function):
        return function

    return decorate


def _install_shim():
    package = sys.modules.get("taskweaver")
    if package is None:
        package = types.ModuleType("taskweaver")
        package.__path__ = []
        sys.modules["taskweaver"] = package
    shim = types.ModuleType("taskweaver.plugin")
    shim.__path__ = []
    shim.Plugin = Plugin
    shim.register_plugin = register_plugin
    shim.test_plugin = test_plugin
    shim.PluginContext = PluginContext
    shim.McpServer = McpServer
    shim.McpToolError = McpToolError
    context_module = types.ModuleType("taskweaver.plugin.context")
    context_module.PluginContext = PluginContext
    shim.context = context_module
    package.plugin = shim
    sys.modules["taskweaver.plugin"] = shim
    sys.modules["taskweaver.plugin.context"] = context_module


class PluginUnavailableError(RuntimeError):
    """Raised by the stand-in of a plugin that could not be loaded into this kernel."""


class PluginLoadFailure(Exception):
    """Tells the host, in one line, why a plugin did not load (its ``evalue`` is the reason)."""


def _load_failure_reason(error):
    """The last line of a traceback, without the plugin's source: ``ModuleNotFoundError: ...``."""
    if isinstance(error, SyntaxError):
        where = " (line %s)" % error.lineno if error.lineno else ""
        return "SyntaxError: %s%s" % (error.msg, where)
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


def _bind_unavailable(name, reason):
    """Binds a stand-in under the plugin's name, so code that calls it anyway learns why it fails."""

    def unavailable(*args, **kwargs):
        raise PluginUnavailableError(
            "plugin %s is not available in this session: it failed to load (%s). "
            "Do this step without it." % (name, reason)
        )

    unavailable.__name__ = name
    _state["plugins"].pop(name, None)
    _shell().user_ns[name] = unavailable


def load_plugin(name, code, config_json):
    """Loads a plugin, or binds a stand-in that explains the failure and raises PluginLoadFailure."""
    try:
        _load_plugin(name, code, config_json)
    except Exception as error:  # KeyboardInterrupt (a timeout) passes through
        reason = _load_failure_reason(error)
        _bind_unavailable(name, reason)
        raise PluginLoadFailure(reason) from None


def _load_plugin(name, code, config_json):
    """Runs a plugin module and binds its instance, callable by ``name``, in the user namespace."""
    import linecache

    config = json.loads(config_json)
    file_name = "<plugin %s>" % name
    # Registered in linecache so tracebacks through plugin code show its lines.
    linecache.cache[file_name] = (len(code), None, code.splitlines(True), file_name)
    module = types.ModuleType("taskweaver_plugin_%s" % name)
    module.__file__ = file_name
    collected = []
    _state["collecting"] = collected
    try:
        exec(compile(code, file_name, "exec"), module.__dict__)
    finally:
        _state["collecting"] = None
    if not collected:
        collected = [
            value
            for value in module.__dict__.values()
            if isinstance(value, type) and issubclass(value, Plugin) and value is not Plugin
        ]
    if not collected:
        raise ValueError("plugin %s registers nothing: decorate its class with @register_plugin" % name)
    target = collected[-1]
    if isinstance(target, type):
        instance = target(name, PluginContext(name), config)
    else:
        function = target

        def instance(*args, **kwargs):
            return function(*args, **kwargs)

        instance.__name__ = name
        instance.__doc__ = getattr(function, "__doc__", None)
    sys.modules[module.__name__] = module
    _state["plugins"][name] = instance
    _shell().user_ns[name] = instance


# ---------------------------------------------------------------------------------------------
# Host calls and MCP servers

# Marks the input_request prompts that are host calls; must match HOST_CALL_PREFIX in support-code.ts.
HOST_CALL_PREFIX = "\x1etaskweaver-host-call:"


class McpToolError(Exception):
    """An MCP tool reported an error, refused its arguments, or could not be reached."""


def host_call(request):
    """Sends a JSON request to the host over the stdin channel and returns its JSON answer.

    The kernel's own ``_input_request`` is used rather than ``input()``: the host leaves
    ``allow_stdin`` off, so a user's ``input()`` still raises instead of waiting, and only these
    marked prompts are ever sent. An interrupt (timeout, cancel) raises KeyboardInterrupt here.
    """
    kernel = getattr(_shell(), "kernel", None)
    prompt = HOST_CALL_PREFIX + json.dumps(request)
    if kernel is None or not hasattr(kernel, "_input_request"):
        raise McpToolError("this kernel cannot reach the host (no Jupyter stdin channel)")
    if hasattr(kernel, "get_parent"):
        parent = kernel.get_parent("shell")
        ident = kernel._parent_ident["shell"]
    else:  # ipykernel 5
        parent = kernel._parent_header
        ident = kernel._parent_ident
    answer = kernel._input_request(prompt, ident, parent, password=False)
    try:
        return json.loads(answer)
    except ValueError:
        raise McpToolError("the host gave no answer to the call") from None


def _mcp_tool_call(server, tool, arguments):
    reply = host_call({"kind": "mcp-tool-call", "server": server, "tool": tool, "arguments": arguments})
    if not isinstance(reply, dict):
        raise McpToolError("the host gave an answer of the wrong shape")
    error = reply.get("error")
    if error:
        raise McpToolError(str(error.get("message") if isinstance(error, dict) else error))
    for artifact in reply.get("artifacts") or []:
        import base64

        # Written here rather than by the host: the host reaches a remote kernel's files through
        # the kernel, which is busy running this call.
        path = os.path.join(_workdir(), _safe_file_name(artifact["file_name"]))
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(artifact["data"]))
        _report_artifact(
            artifact.get("name", "image"),
            artifact.get("type", "image"),
            artifact.get("mime_type", "application/octet-stream"),
            path,
            artifact.get("description", ""),
        )
    return reply.get("value")


class McpServer(Plugin):
    """One MCP server of the session: each of its tools is a method taking keyword arguments.

    The host checks the arguments against the tool's input schema and calls the server; the
    method returns the structured content (a dict) when there is some, else the text (a str).
    """

    def __init__(self, name, ctx, config):
        super().__init__(name, ctx, config)
        self._server = self.config.get("server", name)
        self._tools = dict(self.config.get("tools") or {})
        for method_name, tool in self._tools.items():
            setattr(self, method_name, self._method(method_name, tool))
        # Code catches it by name, like the builtin exceptions.
        _shell().user_ns.setdefault("McpToolError", McpToolError)

    def _method(self, method_name, tool):
        server = self._server
        tool_name = tool.get("name", method_name)

        def call(*args, **kwargs):
            if args:
                raise TypeError("%s.%s takes keyword arguments only, e.g. %s.%s(name=value)" % (self.name, method_name, self.name, method_name))
            return _mcp_tool_call(server, tool_name, kwargs)

        call.__name__ = method_name
        call.__qualname__ = "%s.%s" % (self.name, method_name)
        call.__doc__ = tool.get("description") or None
        return call

    def __call__(self, *args, **kwargs):
        raise TypeError("%s is an MCP server; call one of its tools: %s" % (self.name, ", ".join(sorted(self._tools))))

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._tools))

    def __repr__(self):
        return "<MCP server %s: %s>" % (self.name, ", ".join(sorted(self._tools)))


def set_session_variables(variables_json):
    _state["session_variables"].update(json.loads(variables_json))


# ---------------------------------------------------------------------------------------------
# Parent watchdog


def _end_kernel_group(signum=None, frame=None):
    """Kills the kernel's process group (itself and the programs it started), else just exits."""
    import signal

    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


def _watch_parent(parent_pid):
    """Ends the kernel when the host process dies, even if it was killed with SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            # PR_SET_PDEATHSIG = 1: the kernel gets SIGTERM as soon as its parent exits; the
            # handler takes down the whole group, so `!sleep 100 &` does not linger either.
            signal.signal(signal.SIGTERM, _end_kernel_group)
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
            if os.getppid() != parent_pid:  # the parent died before the call
                _end_kernel_group()
            return
        except Exception:
            pass

    def poll():
        import time

        while True:
            if os.getppid() != parent_pid:
                _end_kernel_group()
            time.sleep(1.0)

    threading.Thread(target=poll, name="taskweaver-parent-watchdog", daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Latency


def _skip_empty_flushes():
    """Makes flushing an empty ipykernel output stream free.

    ipykernel flushes stdout and stderr several times per request, and each flush is a round trip
    to its IOPub thread (schedule, then wait on an Event) even when nothing was written. With
    nothing buffered and no flush pending there is nothing to send, so the round trip is skipped;
    otherwise the original flush runs. Only applied to the OutStream layout we know.
    """
    try:
        from ipykernel.iostream import OutStream
    except Exception:
        return
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, OutStream) or getattr(stream, "echo", None) is not None:
            continue
        if not all(hasattr(stream, name) for name in ("_buffer", "_buffer_lock", "_flush_pending")):
            continue

        def flush(stream=stream, original=stream.flush):
            with stream._buffer_lock:
                empty = stream._buffer.tell() == 0
            if empty and not stream._flush_pending:
                return
            original()

        stream.flush = flush


def _limit_output(max_chars):
    """Drops stdout/stderr text of a cell beyond ``max_chars`` in the kernel, before it is sent.

    The host keeps the same limit; cutting here as well means printing 10 MB never puts 10 MB on
    the wire or in the host's memory. How much was dropped is reported after the cell.
    """
    try:
        from ipykernel.iostream import OutStream
    except Exception:
        return
    budget = _state["output_budget"] = {"active": False, "used": 0, "stdout": 0, "stderr": 0}
    for stream in (sys.stdout, sys.stderr):
        name = getattr(stream, "name", None)
        if not isinstance(stream, OutStream) or name not in ("stdout", "stderr"):
            continue

        def write(text, original=stream.write, name=name):
            if not budget["active"] or not isinstance(text, str):
                return original(text)
            room = max_chars - budget["used"]
            if room >= len(text):
                budget["used"] += len(text)
                return original(text)
            kept = text[: max(room, 0)]
            budget["used"] += len(kept)
            budget[name] += len(text) - len(kept)
            if kept:
                original(kept)
            return len(text)

        stream.write = write


def _start_output_budget():
    budget = _state.get("output_budget")
    if budget is not None:
        budget.update(active=True, used=0, stdout=0, stderr=0)


def _end_output_budget():
    budget = _state.get("output_budget")
    if budget is None:
        return
    budget["active"] = False
    if budget["stdout"] or budget["stderr"]:
        _emit({"kind": "output_dropped", "stdout": budget["stdout"], "stderr": budget["stderr"]})


# ---------------------------------------------------------------------------------------------


def bind_workdir(workdir):
    """Moves a kernel started ahead (warm pool) into a session's working directory.

    An empty path keeps the current directory (a runtime that moved the kernel already)."""
    workdir = os.path.abspath(workdir) if workdir else os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    _state["workdir"] = workdir


def install(options_json):
    """Configures the running IPython kernel; called once after the module is created."""
    options = json.loads(options_json)
    shell = _shell()
    _state["workdir"] = options.get("workdir") or os.getcwd()
    os.makedirs(_state["workdir"], exist_ok=True)
    os.chdir(_state["workdir"])
    parent_pid = options.get("parent_pid")
    # A kernel forked by the fork server is the template's child, and the template ends with
    # the host: the kernel watches the template.
    parent_pid = getattr(sys, "_taskweaver_template_pid", None) or parent_pid
    if parent_pid:
        _watch_parent(int(parent_pid))

    shell.ast_node_interactivity = "last_expr_or_assign"
    try:
        shell.run_line_magic("colors", "NoColor")
    except Exception:
        shell.colors = "NoColor"

    # Agg needs no display; figures are collected after each cell instead of shown inline.
    os.environ["MPLBACKEND"] = "Agg"
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    import warnings

    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
    warnings.filterwarnings("ignore", message=".*non-GUI backend.*")

    if options.get("skip_empty_flushes", True):
        _skip_empty_flushes()
    if options.get("max_output_chars"):
        _limit_output(int(options["max_output_chars"]))

    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    _install_shim()
