"""Saving and loading: ``tinycv.save(model, path)`` and ``tinycv.load(path)``.

The file is an ordinary ``.npz`` archive (a zip of ``.npy`` arrays, one per
tensor, named like ``conv1.weight``), so ``numpy.load`` can open it too.
Two promises:

- Loading never runs code. Arrays are read with ``allow_pickle=False``, and
  everything that is not an array (numbers, strings, the nesting of a
  checkpoint dict) is stored as JSON text, not as a pickle.
- Saving never leaves a half-written file. The archive is written to a
  temporary file in the same directory and then renamed over the target
  with ``os.replace``, which is atomic: an interrupted save leaves the old
  file (or none) in place.

A Module is saved as its ``state_dict()``; ``load`` gives that dict back,
to be put in a model with ``model.load_state_dict(tinycv.load(path))``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections import OrderedDict

import numpy as np

from tinycv.device import to_device
from tinycv.nn.module import Module
from tinycv.tensor import Tensor

# The archive member holding the JSON description of what was saved.
_META = "__tinycv__"
_FORMAT_VERSION = 1


class SerializationError(ValueError):
    """A file that tinycv cannot load: truncated, not .npz, or holding pickles."""


# ---- saving ----------------------------------------------------------------


def save(obj, path) -> None:
    """Save a Module (its state_dict), a Tensor, or a dict/list of them.

    Containers may also hold numbers, strings, booleans and None, so a
    checkpoint such as ``{"model": model.state_dict(), "epoch": 3}`` saves
    as it is.
    """
    if isinstance(obj, Module):
        obj = obj.state_dict()
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, "", arrays)
    meta = json.dumps({"format": _FORMAT_VERSION, "tree": tree})

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, _new_file_mode())
        with os.fdopen(handle, "wb") as file:
            _write_npz(file, arrays, meta)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _new_file_mode() -> int:
    # mkstemp creates files readable by the owner only; give the saved model
    # the permissions any new file would get.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_npz(file, arrays: dict, meta: str) -> None:
    """What ``np.savez`` does, minus its reserved keyword names and pickles."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        members = dict(arrays)
        members[_META] = np.array(meta)
        for name, array in members.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _encode(value, path: str, arrays: dict):
    """JSON for ``value``, moving every array into ``arrays`` under a name."""
    if isinstance(value, Tensor):
        return {"__tensor__": _store(value.detach().cpu().data, path, arrays)}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": _store(value, path, arrays)}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_encode(v, _join(path, str(i)), arrays) for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"__tuple__": items}
    if isinstance(value, dict):
        pairs = [[k, _encode(v, _join(path, str(k)), arrays)] for k, v in value.items()]
        if any(not isinstance(k, (str, int)) for k, _ in pairs):
            raise TypeError("save: dict keys must be strings or ints")
        return {"__dict__": pairs}
    raise TypeError(
        f"save: cannot store a {type(value).__name__} (tinycv saves Modules, "
        "Tensors, arrays, numbers, strings and lists/dicts of them)"
    )


def _store(array: np.ndarray, path: str, arrays: dict) -> str:
    if array.dtype.hasobject:
        raise TypeError(f"save: {path or 'the array'} holds Python objects")
    name = path or "tensor"
    while name in arrays or name == _META:
        name += "_"
    arrays[name] = array
    return name


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---- loading ---------------------------------------------------------------


def load(path, map_location: str | None = None):
    """Read what ``save`` wrote; Tensors come back on ``map_location`` (CPU).

    A plain ``.npz`` written by ``numpy.savez`` loads as a dict of Tensors.
    Raises SerializationError (one line) for a truncated or foreign file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    arrays = _read_npz(path)
    device = map_location or "cpu"

    if _META not in arrays:
        return OrderedDict(
            (name, Tensor(to_device(array, device))) for name, array in arrays.items()
        )
    try:
        meta = json.loads(str(arrays.pop(_META)))
        return _decode(meta["tree"], arrays, device)
    except (ValueError, KeyError, TypeError) as error:
        raise SerializationError(
            f"load: {path} has a damaged tinycv header ({error})"
        ) from None


def _read_npz(path: str) -> dict:
    if not zipfile.is_zipfile(path):
        raise SerializationError(
            f"load: {path} is not a tinycv model file (.npz), or it is truncated"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise SerializationError(
                f"load: {path} contains pickled Python objects, which could run "
                "code; tinycv does not load them"
            ) from None
        raise SerializationError(f"load: {path} is damaged ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise SerializationError(
            f"load: {path} is damaged or truncated ({type(error).__name__}: {error})"
        ) from None


def _decode(tree, arrays: dict, device: str):
    if isinstance(tree, list):
        return [_decode(v, arrays, device) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__tensor__" in tree:
        return Tensor(to_device(arrays[tree["__tensor__"]], device))
    if "__ndarray__" in tree:
        return arrays[tree["__ndarray__"]]
    if "__tuple__" in tree:
        return tuple(_decode(v, arrays, device) for v in tree["__tuple__"])
    return OrderedDict((k, _decode(v, arrays, device)) for k, v in tree["__dict__"])
