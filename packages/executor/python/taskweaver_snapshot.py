"""TaskWeaver kernel snapshots.

The host sends this file, like the support module, as the source of an in-memory module named
``_taskweaver_snapshot`` and calls ``save`` before it stops a kernel on purpose, ``restore`` on
the next kernel of the session. Nothing here decides when; the host does.

``save`` writes the picklable part of the user namespace to one file in the working directory
(the host moves it to the session's folder, through the executor's file access, so it works the
same for local, container and remote kernels) and a JSON report beside it:

* modules are saved by name, under the name they were bound to (``pd`` -> ``pandas``);
* other values one by one, with ``dill`` when the kernel has it (functions and classes defined
  in the session then survive), else with ``pickle`` (functions defined in the session are
  then named as lost: "dill not installed");
* values are taken in the order their names were first bound; one that does not fit in what is
  left of ``max_bytes`` is refused by name, and a later, smaller one may still fit;
* what cannot be pickled (an open file, a generator, a lock) is named with the reason.

Each value is pickled on its own: two names bound to one object come back as two copies.
"""

import importlib
import io
import json
import os
import pickle
import sys
import time
import types

FORMAT = "taskweaver-kernel-snapshot"
FORMAT_VERSION = 1

# Names IPython and TaskWeaver bind in every kernel; they are not the session's state.
_ALWAYS_SKIPPED = {"In", "Out", "exit", "quit", "get_ipython", "open"}


class _BudgetExceeded(Exception):
    pass


class _BoundedBuffer:
    """A write-only buffer that gives up as soon as it holds more than ``limit`` bytes.

    Pickling a value far larger than the budget stops early instead of building it in memory."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0

    def write(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise _BudgetExceeded()
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self):
        return b"".join(self.parts)


def _serializer():
    try:
        import dill

        return "dill", dill
    except Exception:
        return "pickle", pickle


def _shell():
    from IPython import get_ipython

    return get_ipython()


def _workdir():
    support = sys.modules.get("_taskweaver_support")
    if support is not None:
        return support._workdir()
    return os.getcwd()


def _skipped_names(shell):
    skipped = set(_ALWAYS_SKIPPED)
    skipped.update(getattr(shell, "user_ns_hidden", {}).keys())
    support = sys.modules.get("_taskweaver_support")
    if support is not None:
        # Plugins are loaded again by the executor into every new kernel.
        skipped.update(support._state.get("plugins", {}).keys())
    return skipped


def _defined_here(value):
    """A function or class defined in the session: plain pickle saves only a reference to it."""
    if isinstance(value, (types.FunctionType, type)):
        return getattr(value, "__module__", None) == "__main__"
    return False


def _reason(error):
    text = str(error).strip().splitlines()
    text = text[0] if text else ""
    reason = type(error).__name__ + (": " + text if text else "")
    return reason[:200]


def _write_atomically(path, data):
    temporary = "%s.tmp-%d" % (path, os.getpid())
    with open(temporary, "wb") as file:
        file.write(data)
    os.replace(temporary, path)


def save(name, max_bytes):
    """Saves the user namespace to ``name`` (relative to the working directory) and its report
    to ``name + ".json"``."""
    shell = _shell()
    namespace = shell.user_ns
    skipped = _skipped_names(shell)
    serializer_name, serializer = _serializer()
    modules = []
    values = []
    lost = []
    budget = max(0, int(max_bytes))
    for key, value in list(namespace.items()):
        if key.startswith("_") or key in skipped or not key.isidentifier():
            continue
        if isinstance(value, types.ModuleType):
            module_name = getattr(value, "__name__", None)
            if module_name and module_name in sys.modules and not module_name.startswith("taskweaver_plugin_"):
                modules.append({"name": key, "module": module_name})
            else:
                lost.append({"name": key, "reason": "a module that cannot be imported by name"})
            continue
        if isinstance(value, io.IOBase):
            # dill would reopen the file on restore, and a file opened for writing would be emptied.
            lost.append({"name": key, "reason": "an open file or stream (%s); open it again" % type(value).__name__})
            continue
        if serializer_name == "pickle" and _defined_here(value):
            lost.append({"name": key, "reason": "functions not saved: dill not installed"})
            continue
        buffer = _BoundedBuffer(budget)
        try:
            if serializer_name == "dill":
                serializer.dump(value, buffer, protocol=pickle.HIGHEST_PROTOCOL)
            else:
                pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
        except _BudgetExceeded:
            lost.append(
                {
                    "name": key,
                    "reason": "too large for the snapshot (execution_service.snapshot_max_bytes, %d bytes left)"
                    % budget,
                }
            )
            continue
        except Exception as error:  # KeyboardInterrupt (a timeout) passes through
            lost.append({"name": key, "reason": "cannot be pickled (%s, %s)" % (type(value).__name__, _reason(error))})
            continue
        data = buffer.getvalue()
        budget -= len(data)
        values.append({"name": key, "type": type(value).__name__, "data": data})
    snapshot = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "serializer": serializer_name,
        "python": "%d.%d" % sys.version_info[:2],
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "modules": modules,
        "values": values,
        "lost": lost,
    }
    path = os.path.join(_workdir(), name)
    _write_atomically(path, pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL))
    report = {
        "serializer": serializer_name,
        "modules": modules,
        "saved": [{"name": item["name"], "type": item["type"]} for item in values],
        "lost": lost,
    }
    _write_atomically(path + ".json", json.dumps(report).encode("utf-8"))


def restore(name):
    """Restores the snapshot at ``name`` (relative to the working directory) into the user
    namespace, removes it, and writes what came back to ``name + ".json"``. Never raises for a
    bad snapshot: the report says what went wrong."""
    path = os.path.join(_workdir(), name)
    report = {"restored": [], "modules": [], "lost": [], "error": None}
    try:
        try:
            with open(path, "rb") as file:
                snapshot = pickle.load(file)
            if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT:
                raise ValueError("not a TaskWeaver kernel snapshot")
            if snapshot.get("version") != FORMAT_VERSION:
                raise ValueError("snapshot format version %r, this kernel reads %d" % (snapshot.get("version"), FORMAT_VERSION))
        except Exception as error:
            report["error"] = "the snapshot could not be read (%s)" % _reason(error)
            return
        namespace = _shell().user_ns
        for item in snapshot.get("modules", []):
            try:
                namespace[item["name"]] = importlib.import_module(item["module"])
                report["modules"].append({"name": item["name"], "module": item["module"]})
            except Exception as error:
                report["lost"].append({"name": item["name"], "reason": "import %s failed (%s)" % (item["module"], _reason(error))})
        loader = pickle
        if snapshot.get("serializer") == "dill":
            try:
                import dill

                loader = dill
            except Exception:
                loader = None
        for item in snapshot.get("values", []):
            if loader is None:
                report["lost"].append({"name": item["name"], "reason": "saved with dill, which this kernel does not have"})
                continue
            try:
                namespace[item["name"]] = loader.loads(item["data"])
                report["restored"].append({"name": item["name"], "type": item.get("type", "")})
            except Exception as error:
                report["lost"].append({"name": item["name"], "reason": "could not be unpickled (%s)" % _reason(error)})
        report["lost"].extend(snapshot.get("lost", []))
        report["created_at"] = snapshot.get("created_at")
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
        _write_atomically(path + ".json", json.dumps(report).encode("utf-8"))


def discard(name):
    """Removes the files ``save``/``restore`` left for the host."""
    path = os.path.join(_workdir(), name)
    for leftover in (path, path + ".json"):
        try:
            os.remove(leftover)
        except OSError:
            pass
