"""Download dataset archives with resume, checksum verification and extraction (stdlib only).

:func:`download` writes ``<dest>.part`` while it runs and asks for the missing bytes with an
HTTP ``Range`` request after a cut connection (and on the next run), so a 19 GB archive is
never fetched twice. A finished file is checked against its md5 or sha256 before it gets its
final name; a mismatch deletes it and raises :class:`ChecksumError`. :func:`extract` unpacks
zip and tar archives, refusing members that would land outside the target folder.
:func:`download_main` is the command line the ``dataset/*/download_*.py`` scripts share.
"""
import argparse
import hashlib
import http.client
import os
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ['ChecksumError', 'DownloadError', 'RemoteFile', 'download', 'download_main',
           'extract', 'fetch', 'file_digest', 'verify']

CHUNK_SIZE = 1 << 20
RETRYABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
             socket.timeout, TimeoutError)
"""Errors after which a download is retried from where it stopped."""


class DownloadError(RuntimeError):
    """A file could not be downloaded (an HTTP error, or no progress after every retry)."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected digest; it has been deleted."""


@dataclass(frozen=True)
class RemoteFile:
    """One archive of a dataset.

    Attributes:
        name: file name (also the last part of ``url``, and the key of ``--checksum``).
        url: where to fetch it.
        part: the group it belongs to (``--parts``), e.g. ``'val'``.
        md5: expected md5 hex digest, when published.
        sha256: expected sha256 hex digest, when published.
        extract_to: folder, relative to the dataset root, to unpack it into; None keeps the
            file as it is (a json, a .mat).
    """

    name: str
    url: str
    part: str
    md5: Optional[str] = None
    sha256: Optional[str] = None
    extract_to: Optional[str] = '.'

    def checksum(self) -> Optional[Tuple[str, str]]:
        """(algorithm, hex digest) to verify against, sha256 first, or None."""
        if self.sha256:
            return 'sha256', self.sha256.lower()
        if self.md5:
            return 'md5', self.md5.lower()
        return None


def file_digest(path: str, algorithm: str) -> str:
    """Hex digest of a file (``'md5'`` or ``'sha256'``), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b''):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str, checksum: Optional[Tuple[str, str]]) -> None:
    """Raise :class:`ChecksumError` (and delete ``path``) when its digest is not ``checksum``.

    Args:
        path: the file.
        checksum: (algorithm, expected hex digest); None checks nothing.
    """
    if checksum is None:
        return
    algorithm, expected = checksum
    actual = file_digest(path, algorithm)
    if actual != expected.lower():
        os.remove(path)
        raise ChecksumError(f'{os.path.basename(path)}: {algorithm} is {actual}, expected '
                            f'{expected}; the file was deleted (a wrong mirror, or a corrupt '
                            f'download: run again to fetch it anew)')


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {'User-Agent': 'ppkpt-download'}
    if offset:
        headers['Range'] = f'bytes={offset}-'
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resume_offset(response: http.client.HTTPResponse, offset: int, part: str) -> int:
    """Where the response body starts in the file: ``offset`` for a 206 that starts there, 0
    for a whole file (200).

    Raises:
        http.client.HTTPException: a 206 for another range; the part is deleted, so the next
            attempt asks for the whole file.
    """
    if response.status != 206:
        return 0
    content_range = response.headers.get('Content-Range', '')
    if offset and content_range.startswith(f'bytes {offset}-'):
        return offset
    if os.path.exists(part):
        os.remove(part)
    raise http.client.HTTPException(f'the server sent the range {content_range!r} instead of '
                                    f'bytes {offset}-')


def _fetch_once(url: str, part: str, timeout: float,
                progress: Optional[Callable[[int, Optional[int]], None]]) -> None:
    """Append the missing bytes of ``url`` to ``part`` in one request.

    Raises:
        http.client.IncompleteRead: the connection ended before the announced length.
        urllib.error.HTTPError and the other :data:`RETRYABLE` errors.
    """
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the part is complete
            return
        raise
    with response:
        start = _resume_offset(response, offset, part)
        length = response.headers.get('Content-Length')
        total = start + int(length) if length is not None else None
        written = start
        with open(part, 'ab' if start else 'wb') as f:
            for chunk in iter(lambda: response.read(CHUNK_SIZE), b''):
                f.write(chunk)
                written += len(chunk)
                if progress:
                    progress(written, total)
    if total is not None and written < total:
        raise http.client.IncompleteRead(b'', total - written)


def download(url: str, dest: str, checksum: Optional[Tuple[str, str]] = None,
             retries: int = 5, timeout: float = 60.0, retry_wait: float = 2.0,
             progress: Optional[Callable[[int, Optional[int]], None]] = None) -> str:
    """Download ``url`` to ``dest``, resuming a partial ``dest + '.part'``.

    An existing ``dest`` that passes the checksum is kept. After a cut connection the next
    attempt asks only for the missing bytes (HTTP Range); a server that ignores the range sends
    the whole file again, which then replaces the part.

    Args:
        url: http(s) or file URL.
        dest: the final path.
        checksum: (``'md5'`` | ``'sha256'``, hex digest), or None to check only the length.
        retries: attempts after the first that follow a connection error or cut.
        timeout: seconds a read may wait.
        retry_wait: seconds before the first retry (doubled each time).
        progress: called with (bytes so far, total or None) after each chunk.

    Returns:
        ``dest``.

    Raises:
        ChecksumError: the finished file has another digest (it is deleted).
        DownloadError: an HTTP error other than a server error, or every attempt failed.
    """
    if os.path.isfile(dest):
        verify(dest, checksum)
        return dest
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = f'{dest}.part'
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout, progress)
            break
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == retries:
                raise DownloadError(f'{url}: HTTP {err.code} {err.reason}') from err
        except RETRYABLE as err:
            if attempt == retries:
                raise DownloadError(f'{url}: gave up after {retries + 1} attempts '
                                    f'({type(err).__name__}: {err}); run again to resume') from err
        print(f'{os.path.basename(dest)}: connection lost, resuming (attempt {attempt + 2})',
              file=sys.stderr)
        time.sleep(retry_wait * 2 ** attempt)
    verify(part, checksum)
    os.replace(part, dest)
    return dest


def _safe_target(root: str, member: str) -> str:
    """``root/member``, or DownloadError when it would lie outside ``root``."""
    target = os.path.realpath(os.path.join(root, member))
    if os.path.commonpath([os.path.realpath(root), target]) != os.path.realpath(root):
        raise DownloadError(f'archive member {member!r} would be written outside {root}')
    return target


def extract(archive: str, dest_dir: str) -> List[str]:
    """Unpack a zip or tar (gz, bz2, xz) archive into ``dest_dir``.

    Returns:
        the member names, in archive order.

    Raises:
        DownloadError: an unknown format, or a member with an absolute path, ``..`` or a link
            that points outside ``dest_dir`` (nothing is written then).
    """
    os.makedirs(dest_dir, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            for name in names:
                _safe_target(dest_dir, name)
            zf.extractall(dest_dir)
        return names
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _safe_target(dest_dir, member.name)
                if member.issym() or member.islnk():
                    _safe_target(os.path.dirname(os.path.join(dest_dir, member.name)),
                                 member.linkname)
            safe = {'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}
            tf.extractall(dest_dir, members=members, **safe)
        return [m.name for m in members]
    raise DownloadError(f'{archive} is neither a zip nor a tar archive')


# --------------------------------------------------------------------------- command line


def _parse_checksums(values: Sequence[str]) -> Dict[str, Tuple[str, str]]:
    """``['val2017.zip=md5:abc...']`` -> ``{'val2017.zip': ('md5', 'abc...')}``."""
    out = {}
    for value in values:
        name, _, spec = value.partition('=')
        algorithm, _, digest = spec.partition(':')
        if not (name and digest and algorithm in ('md5', 'sha256')):
            raise argparse.ArgumentTypeError(f'--checksum {value!r} must look like '
                                             f'FILE=md5:HEX or FILE=sha256:HEX')
        out[name] = (algorithm, digest.lower())
    return out


def _progress_printer(name: str) -> Callable[[int, Optional[int]], None]:
    """A progress callback printing at most every 5% (or 100 MiB without a total)."""
    state = {'next': 0}

    def show(done: int, total: Optional[int]) -> None:
        step = max(total // 20, CHUNK_SIZE) if total else 100 * CHUNK_SIZE
        if done >= state['next'] or done == total:
            state['next'] = done + step
            share = f' ({100 * done / total:.0f}%)' if total else ''
            print(f'\r{name}: {done / CHUNK_SIZE:.0f} MiB{share}', end='', file=sys.stderr)
            if done == total:
                print(file=sys.stderr)
    return show


def fetch(remote: RemoteFile, root: str, url: str, checksum: Optional[Tuple[str, str]],
          keep_archive: bool, retries: int, timeout: float) -> None:
    """Download, verify and extract one file into ``root``; a stamp makes a re-run skip it."""
    stamp = os.path.join(root, f'.{remote.name}.done')
    if os.path.isfile(stamp):
        print(f'{remote.name}: already done ({stamp})')
        return
    if checksum is None:
        print(f'{remote.name}: no published checksum; only the length is checked '
              f'(pass --checksum {remote.name}=sha256:HEX to verify it)', file=sys.stderr)
    archive = os.path.join(root, remote.name)
    download(url, archive, checksum, retries=retries, timeout=timeout,
             progress=_progress_printer(remote.name))
    if remote.extract_to is not None:
        target = os.path.join(root, remote.extract_to)
        print(f'{remote.name}: extracting {len(extract(archive, target))} entries into {target}')
        if not keep_archive:
            os.remove(archive)
    with open(stamp, 'w', encoding='utf-8') as f:
        f.write(f'{url}\n')


def download_main(description: str, files: Sequence[RemoteFile], default_root: str,
                  argv: Optional[Sequence[str]] = None) -> int:
    """The command line of a dataset's download script.

    Options: ``--root`` (where the dataset goes), ``--parts`` (which groups), ``--base-url`` (a
    mirror holding the same file names), ``--checksum FILE=ALGO:HEX`` (verify a file that has
    no published digest, or override one), ``--keep-archives``, ``--retries``, ``--timeout``.

    Returns:
        the exit code: 0, or 1 after a download or checksum error (printed as one line).
    """
    parts = sorted({f.part for f in files})
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=default_root, help='dataset folder to fill')
    parser.add_argument('--parts', nargs='+', choices=parts, default=parts,
                        help='what to fetch (default: everything)')
    parser.add_argument('--base-url', help='a mirror with the same file names')
    parser.add_argument('--checksum', action='append', default=[], metavar='FILE=ALGO:HEX',
                        help='expected md5/sha256 of a file (repeatable)')
    parser.add_argument('--keep-archives', action='store_true',
                        help='keep the archives after extraction')
    parser.add_argument('--retries', type=int, default=5, help='retries after a cut connection')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds a read may wait')
    args = parser.parse_args(argv)
    try:
        checksums = _parse_checksums(args.checksum)
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    try:
        for remote in (f for f in files if f.part in args.parts):
            url = f'{args.base_url.rstrip("/")}/{remote.name}' if args.base_url else remote.url
            fetch(remote, args.root, url, checksums.get(remote.name, remote.checksum()),
                  args.keep_archives, args.retries, args.timeout)
    except DownloadError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'done: {", ".join(args.parts)} in {args.root}')
    return 0
