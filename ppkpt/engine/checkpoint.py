"""Saving and loading training snapshots (weights alone load through :mod:`ppkpt.engine.weights`).

A snapshot named ``N`` (an epoch number, ``model_final`` or ``best_model``) is three files in
the run folder::

    N.pdparams        the model state_dict (the EMA weights with use_ema): what eval and export load
    N.pdopt           the optimiser state_dict (with LR_Scheduler) and the ``extra`` entries
                      (last_epoch, rng, ema, raw_weights, history, ...) beside its keys, as
                      PaddleDetection stores last_epoch
    N.manifest.json   the commit point: format, state, last_epoch, byte size and sha256 of both

:func:`save_checkpoint` first writes the manifest with ``"state": "writing"`` (which retires any
older snapshot of that name in one rename), then ``N.pdparams``, then ``N.pdopt``, then the
manifest again with ``"state": "complete"`` and the checksums. Every file goes to a temporary
file in the same folder, is fsynced and renamed into place. A snapshot is complete only when
its manifest says so and both files match their sizes and checksums; :func:`load_resume` loads
nothing else. A snapshot without a manifest was written by PaddleDetection or an older ppkpt:
it loads with a warning, as its two files cannot be checked against each other.

:func:`load_resume` reads a complete snapshot back for the trainer; given a run folder it
picks the newest complete epoch snapshot (``N`` or ``model_final``).

Test hook: when the environment variable ``PPKPT_TEST_SIGKILL_AT`` is ``NAME:STEP``, the process
sends itself SIGKILL in the write of snapshot ``NAME`` right after STEP: ``begin`` (the
"writing" manifest is in place), ``pdparams``, ``pdopt`` or ``commit`` (the complete manifest is
in place). ``tests/engine/test_kill_resume.py`` uses it to kill a run during a snapshot write.

Resuming and optimiser key names: paddle names optimiser accumulators after the parameters
plus a process-wide counter (``conv2d_0.w_0_moment1_0``), created at the FIRST optimiser step.
If another optimiser over same-named parameters has stepped earlier in the process, the
counter differs and the first step after ``set_state_dict`` fails with "Optimizer set error,
... should in state dict". The trainer avoids this by building the model and optimiser and
loading the snapshot in a fresh process before any step. Code that resumes inside a process
that already trained something must run each build, load and training run inside its own
``paddle.utils.unique_name.guard()`` (tests do this).
"""
import dataclasses
import hashlib
import json
import logging
import os
import re
import signal
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import paddle

__all__ = ['save_checkpoint', 'load_resume', 'snapshot_problems', 'latest_snapshot',
           'remove_stale_temp_files', 'Snapshot', 'SnapshotError', 'EXTRA_KEYS_ENTRY',
           'MANIFEST_SUFFIX', 'KILL_HOOK_ENV']

logger = logging.getLogger('ppkpt')

# The .pdopt entry that lists which top-level keys are ``extra`` rather than optimiser state.
EXTRA_KEYS_ENTRY = 'ppkpt_extra_keys'
# Extra keys recognised in .pdopt files that lack EXTRA_KEYS_ENTRY (PaddleDetection snapshots).
_LEGACY_EXTRA_KEYS = ('last_epoch',)
MANIFEST_SUFFIX = '.manifest.json'
_FORMAT = 'ppkpt-snapshot/1'
_DATA_SUFFIXES = ('.pdparams', '.pdopt')
# Snapshot names a run folder is resumed from (best_model is a copy of one of them).
_EPOCH_NAME = re.compile(r'\d+|model_final')
_TEMP_NAME = re.compile(r'\..+\.\d+\.tmp')
KILL_HOOK_ENV = 'PPKPT_TEST_SIGKILL_AT'


class SnapshotError(RuntimeError):
    """A snapshot cannot be resumed: incomplete, corrupt, or none in the folder."""


@dataclasses.dataclass
class Snapshot:
    """A snapshot read back by :func:`load_resume`.

    Attributes:
        prefix: the path without suffix, e.g. ``output/run/3``.
        model_state: the ``.pdparams`` state dict.
        optimizer_state: the optimiser ``state_dict`` without the extra entries.
        extra: the extra entries (``last_epoch``, ``rng``, ``ema``, ``history``, ...).
    """

    prefix: str
    model_state: Dict[str, Any]
    optimizer_state: Dict[str, Any]
    extra: Dict[str, Any]

    @property
    def last_epoch(self) -> int:
        """The last finished epoch (-1 when the snapshot does not say)."""
        return int(self.extra.get('last_epoch', -1))


# ------------------------------------------------------------------ writing


def _kill_hook(name: str, step: str) -> None:
    """SIGKILL this process when :data:`KILL_HOOK_ENV` is ``name:step`` (a test hook)."""
    if os.environ.get(KILL_HOOK_ENV) == f'{name}:{step}':
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(folder: str) -> None:
    """Make the renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` to ``.{name}.{pid}.tmp`` beside ``path``, fsync, rename onto ``path``.

    The temporary file is created with the usual umask permissions. A failure removes it and
    leaves any previous ``path`` untouched.
    """
    folder = os.path.dirname(path) or '.'
    tmp_path = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    os.close(os.open(tmp_path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o666))
    try:
        write(tmp_path)
        with open(tmp_path, 'rb') as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    _fsync_dir(folder)


def _atomic_save(obj: Any, path: str) -> None:
    """``paddle.save(obj, path)`` through :func:`_atomic_write`."""
    _atomic_write(path, lambda tmp: paddle.save(obj, tmp))


def _write_json(obj: Dict[str, Any], path: str) -> None:
    """Write ``obj`` as indented JSON through :func:`_atomic_write`."""
    def write(tmp: str) -> None:
        with open(tmp, 'w') as f:
            json.dump(obj, f, indent=1)
    _atomic_write(path, write)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _manifest(name: str, last_epoch: Optional[int], files: Dict[str, Any],
              state: str) -> Dict[str, Any]:
    return {'format': _FORMAT, 'state': state, 'name': name, 'last_epoch': last_epoch,
            'files': files}


def save_checkpoint(model_state: Mapping[str, Any], optimizer_state: Optional[Mapping[str, Any]],
                    save_dir: str, name: str, extra: Optional[Dict[str, Any]] = None) -> str:
    """Write snapshot ``{save_dir}/{name}`` as one unit (see the module docstring for the order).

    A crash or kill at any moment leaves either the complete new snapshot, or one whose
    manifest says "writing" (never loaded); other snapshots are untouched.

    Args:
        model_state: ``model.state_dict()`` (or the EMA weights).
        optimizer_state: ``optimizer.state_dict()``; None writes only the extra entries.
        save_dir: output folder, created if needed.
        name: file stem, e.g. ``'3'``, ``'model_final'`` or ``'best_model'``.
        extra: entries stored beside the optimiser state, e.g. ``{'last_epoch': 3,
            'ema': ema.state_dict()}``; their names must not clash with optimiser keys.
            ``last_epoch`` is also written to the manifest.

    Returns:
        The path prefix ``{save_dir}/{name}`` (what :func:`load_resume` accepts).
    """
    extra = dict(extra or {})
    opt_state = dict(optimizer_state or {})
    clash = sorted(set(extra) & (set(opt_state) | {EXTRA_KEYS_ENTRY}))
    if clash:
        raise ValueError(f'save_checkpoint: extra keys {clash} clash with optimizer state keys')
    os.makedirs(save_dir, exist_ok=True)
    prefix = os.path.join(save_dir, name)
    last_epoch = extra.get('last_epoch')
    files = [name + suffix for suffix in _DATA_SUFFIXES]
    _write_json(_manifest(name, last_epoch, {f: None for f in files}, 'writing'),
                prefix + MANIFEST_SUFFIX)
    _kill_hook(name, 'begin')
    _atomic_save(dict(model_state), prefix + '.pdparams')
    _kill_hook(name, 'pdparams')
    opt_state.update(extra)
    opt_state[EXTRA_KEYS_ENTRY] = sorted(extra)
    _atomic_save(opt_state, prefix + '.pdopt')
    _kill_hook(name, 'pdopt')
    entries = {f: {'bytes': os.path.getsize(os.path.join(save_dir, f)),
                   'sha256': _sha256(os.path.join(save_dir, f))} for f in files}
    _write_json(_manifest(name, last_epoch, entries, 'complete'), prefix + MANIFEST_SUFFIX)
    _kill_hook(name, 'commit')
    return prefix


def remove_stale_temp_files(folder: str) -> List[str]:
    """Delete the temporary files that killed writers left in ``folder``; return their names.

    Call it only while no other process writes snapshots to ``folder``.
    """
    if not os.path.isdir(folder):
        return []
    stale = sorted(f for f in os.listdir(folder) if _TEMP_NAME.fullmatch(f))
    for name in stale:
        os.remove(os.path.join(folder, name))
    return stale


# ------------------------------------------------------------------ checking


def _read_manifest(prefix: str) -> Tuple[Optional[Dict[str, Any]], str]:
    """``(manifest, '')``, or ``(None, why)`` when it is missing or not a ppkpt manifest."""
    path = prefix + MANIFEST_SUFFIX
    base = os.path.basename(path)
    if not os.path.isfile(path):
        return None, f'{base} is missing'
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        return None, f'{base} cannot be read ({exc})'
    if not isinstance(manifest, dict) or manifest.get('format') != _FORMAT:
        return None, f'{base} is not a {_FORMAT} manifest'
    return manifest, ''


def _file_problem(folder: str, name: str, entry: Optional[Dict[str, Any]]) -> Optional[str]:
    """Why file ``name`` does not match its manifest ``entry`` (None when it does)."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        return f'{name} is missing'
    if entry is None:
        return f'{name} has no checksum in the manifest'
    size = os.path.getsize(path)
    if size != entry['bytes']:
        return f'{name} has {size} bytes, the manifest says {entry["bytes"]}'
    if _sha256(path) != entry['sha256']:
        return f'{name} does not match its sha256 in the manifest'
    return None


def snapshot_problems(prefix: str) -> List[str]:
    """Everything that keeps snapshot ``prefix`` from being complete; empty when it is.

    Complete means: the manifest says ``complete`` and both files it lists exist with the
    recorded sizes and sha256 checksums.
    """
    manifest, why = _read_manifest(prefix)
    folder = os.path.dirname(prefix) or '.'
    name = os.path.basename(prefix)
    data_files = [name + suffix for suffix in _DATA_SUFFIXES]
    missing = [f'{f} is missing' for f in data_files
               if not os.path.isfile(os.path.join(folder, f))]
    if manifest is None:
        return [why] + missing
    if manifest.get('state') != 'complete':
        state = manifest.get('state')
        return [f'{name}{MANIFEST_SUFFIX} says its write was interrupted (state {state!r})'] \
            + missing
    files = manifest.get('files') or {}
    problems = [_file_problem(folder, f, files.get(f)) for f in data_files]
    return [p for p in problems if p is not None]


def _epoch_snapshots(folder: str) -> List[Tuple[int, str]]:
    """``(last_epoch, prefix)`` of every epoch snapshot with a manifest, newest first."""
    found = []
    for file_name in os.listdir(folder):
        name = file_name[:-len(MANIFEST_SUFFIX)]
        if not file_name.endswith(MANIFEST_SUFFIX) or not _EPOCH_NAME.fullmatch(name):
            continue
        manifest, _ = _read_manifest(os.path.join(folder, name))
        epoch = manifest.get('last_epoch') if manifest is not None else None
        found.append((epoch if isinstance(epoch, int) else -1, os.path.join(folder, name)))
    return sorted(found, reverse=True)


def _unmanifested(folder: str) -> List[str]:
    """Epoch snapshot names whose ``.pdparams`` has no manifest (PaddleDetection or older)."""
    names = {f[:-len('.pdparams')] for f in os.listdir(folder) if f.endswith('.pdparams')}
    return sorted((n for n in names if _EPOCH_NAME.fullmatch(n)
                   and not os.path.isfile(os.path.join(folder, n + MANIFEST_SUFFIX))),
                  key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0))


def _latest(folder: str) -> Tuple[Optional[str], Dict[str, List[str]]]:
    """The newest complete epoch snapshot in ``folder`` (or None) and the newer incomplete
    ones with their problems."""
    skipped: Dict[str, List[str]] = {}
    for _, prefix in _epoch_snapshots(folder):
        problems = snapshot_problems(prefix)
        if not problems:
            return prefix, skipped
        skipped[prefix] = problems
    return None, skipped


def latest_snapshot(folder: str) -> Optional[str]:
    """The prefix of the newest complete epoch snapshot (``N`` or ``model_final``, highest
    ``last_epoch``) in run folder ``folder``, or None."""
    return _latest(folder)[0] if os.path.isdir(folder) else None


def _pointer(folder: str) -> str:
    """A sentence naming the last complete snapshot in ``folder`` and how to resume it."""
    prefix = latest_snapshot(folder)
    if prefix is None:
        legacy = _unmanifested(folder) if os.path.isdir(folder) else []
        hint = (f' Snapshots without a manifest (PaddleDetection or older ppkpt): '
                f'{", ".join(legacy)}; pass one as -r {os.path.join(folder, legacy[-1])}.'
                if legacy else '')
        return f'There is no complete snapshot in {folder}.{hint}'
    return (f'The last complete snapshot is {prefix} (epoch {_manifest_epoch(prefix)}): '
            f'resume with -r {prefix} or -r {folder}.')


def _manifest_epoch(prefix: str) -> Any:
    manifest, _ = _read_manifest(prefix)
    return manifest.get('last_epoch') if manifest is not None else None


# ------------------------------------------------------------------ loading


def _snapshot_prefix(path: str) -> str:
    """``path`` without a ``.pdparams``, ``.pdopt`` or ``.manifest.json`` suffix."""
    for suffix in _DATA_SUFFIXES + (MANIFEST_SUFFIX,):
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def _resolve_folder(folder: str) -> str:
    """The newest complete epoch snapshot of run folder ``folder``, logged with what it skipped.

    Raises:
        SnapshotError: there is none.
    """
    prefix, skipped = _latest(folder)
    for bad, problems in skipped.items():
        logger.warning('Skipping incomplete snapshot %s: %s', bad, '; '.join(problems))
    if prefix is None:
        raise SnapshotError(f'Cannot resume from {folder}: {_pointer(folder)}')
    logger.info('Resuming from the newest complete snapshot in %s: %s (epoch %s)', folder,
                prefix, _manifest_epoch(prefix))
    return prefix


def _resolve_file(prefix: str) -> str:
    """``prefix`` when it is complete, or a legacy pair (logged as unverifiable).

    Raises:
        SnapshotError: naming what is missing or wrong and the last complete snapshot.
    """
    problems = snapshot_problems(prefix)
    if not problems:
        return prefix
    has_manifest = os.path.isfile(prefix + MANIFEST_SUFFIX)
    if not has_manifest and all(os.path.isfile(prefix + s) for s in _DATA_SUFFIXES):
        logger.warning('%s has no manifest (PaddleDetection or older ppkpt): its .pdparams and '
                       '.pdopt cannot be checked against each other', prefix)
        return prefix
    if not has_manifest:  # a pair from before manifests: name only its missing file
        problems = problems[1:]
    folder = os.path.dirname(prefix) or '.'
    raise SnapshotError(f'Cannot resume from {prefix}: the snapshot is incomplete: '
                        f'{"; ".join(problems)}. {_pointer(folder)}')


def load_resume(path: str) -> Snapshot:
    """Read a complete snapshot written by :func:`save_checkpoint` (or a PaddleDetection one).

    Args:
        path: a run folder (``'output/x'``: its newest complete epoch snapshot, logged), or a
            snapshot ``'output/x/3'``, ``'output/x/3.pdparams'`` or ``'output/x/3.pdopt'``.

    Returns:
        The snapshot: model state, optimiser state without extra entries, and the extra
        entries (``last_epoch``, ``ema``, ...).

    Raises:
        SnapshotError: the snapshot is incomplete or corrupt (the message names what is
            missing or wrong and points to the last complete snapshot), or the folder holds
            no complete snapshot.
    """
    if os.path.isdir(path):
        prefix = _resolve_folder(path.rstrip('/\\') or path)
    else:
        prefix = _resolve_file(_snapshot_prefix(path))
    model_state = paddle.load(prefix + '.pdparams')
    opt_state = paddle.load(prefix + '.pdopt')
    extra_keys = opt_state.pop(EXTRA_KEYS_ENTRY, None)
    if extra_keys is None:
        extra_keys = [k for k in _LEGACY_EXTRA_KEYS if k in opt_state]
    extra = {k: opt_state.pop(k) for k in extra_keys}
    return Snapshot(prefix, model_state, opt_state, extra)


# ------------------------------------------------------------------ weights
