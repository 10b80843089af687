"""The dataset download scripts against a local HTTP server: resume, checksums, extraction."""
import hashlib
import http.server
import io
import os
import re
import tarfile
import threading
import zipfile
from typing import Dict, Iterator, List, Optional

import pytest

from helpers import run_tool
from ppkpt.utils.download import ChecksumError, DownloadError, download, extract

COCO_SCRIPT = 'dataset/coco/download_coco.py'
MPII_SCRIPT = 'dataset/mpii/download_mpii.py'


class ArchiveServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` on 127.0.0.1 with HTTP Range support.

    ``cuts[name]`` first requests for ``name`` send the headers of the whole file but only half
    its bytes, then close the connection. ``log`` records (path, Range header) per request.
    """

    daemon_threads = True

    def __init__(self, files: Dict[str, bytes]) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.files = files
        self.cuts: Dict[str, int] = {}
        self.log: List[tuple] = []

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.server_address[1]}'


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ArchiveServer
    timeout = 10

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip('/')
        range_header = self.headers.get('Range')
        self.server.log.append((name, range_header))
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = int(re.fullmatch(r'bytes=(\d+)-', range_header).group(1)) if range_header else 0
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206 if range_header else 200)
        if range_header:
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        self.send_header('Content-Length', str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.server.cuts.get(name, 0) > 0:
            self.server.cuts[name] -= 1
            body = body[:len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    """A running :class:`ArchiveServer`, shut down after the test."""
    srv = ArchiveServer({})
    thread = threading.Thread(target=srv.serve_forever, kwargs={'poll_interval': 0.05},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def zip_bytes(members: Dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: Dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:gz') as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# An incompressible payload, so the archive is big enough to be cut in the middle of a file.
PAYLOAD = os.urandom(300_000)
VAL_ZIP = zip_bytes({'val2017/000000000785.jpg': PAYLOAD, 'val2017/000000040083.jpg': b'x' * 10})


def download_args(root: str, server: ArchiveServer, *extra: str,
                  parts: Optional[List[str]] = None) -> List[str]:
    return ['--root', root, '--base-url', server.url, '--retries', '2', '--timeout', '5',
            '--parts', *(parts or ['val']), *extra]


def test_download_resumes_after_a_cut_with_a_range_request(tmp_path, server):
    server.files['a.zip'] = VAL_ZIP
    server.cuts['a.zip'] = 1
    dest = str(tmp_path / 'a.zip')
    download(f'{server.url}/a.zip', dest, ('sha256', sha256(VAL_ZIP)), retries=2, timeout=5,
             retry_wait=0)
    with open(dest, 'rb') as f:
        assert f.read() == VAL_ZIP
    assert not os.path.exists(dest + '.part')
    half = len(VAL_ZIP) // 2
    assert server.log == [('a.zip', None), ('a.zip', f'bytes={half}-')]


def test_a_wrong_checksum_deletes_the_file(tmp_path, server):
    server.files['a.zip'] = VAL_ZIP
    dest = str(tmp_path / 'a.zip')
    with pytest.raises(ChecksumError, match='expected 0{64}'):
        download(f'{server.url}/a.zip', dest, ('sha256', '0' * 64), retries=0, timeout=5)
    assert not os.path.exists(dest) and not os.path.exists(dest + '.part')


def test_a_missing_file_is_an_error_without_retries(tmp_path, server):
    with pytest.raises(DownloadError, match='HTTP 404'):
        download(f'{server.url}/nothing.zip', str(tmp_path / 'x.zip'), retries=3, timeout=5,
                 retry_wait=0)
    assert len(server.log) == 1


def test_coco_script_resumes_verifies_extracts_and_skips_when_done(tmp_path, server):
    server.files['val2017.zip'] = VAL_ZIP
    server.cuts['val2017.zip'] = 1
    root = str(tmp_path / 'coco')
    checksum = f'val2017.zip=sha256:{sha256(VAL_ZIP)}'
    result = run_tool([COCO_SCRIPT, *download_args(root, server, '--checksum', checksum)],
                      timeout=120)
    assert 'connection lost, resuming' in result.stderr
    assert [r for _, r in server.log] == [None, f'bytes={len(VAL_ZIP) // 2}-']
    with open(os.path.join(root, 'val2017', '000000000785.jpg'), 'rb') as f:
        assert f.read() == PAYLOAD
    assert not os.path.exists(os.path.join(root, 'val2017.zip'))   # archive removed
    again = run_tool([COCO_SCRIPT, *download_args(root, server, '--checksum', checksum)])
    assert 'val2017.zip: already done' in again.stdout and len(server.log) == 2


def test_coco_script_refuses_an_archive_with_the_wrong_md5(tmp_path, server):
    server.files['val2017.zip'] = VAL_ZIP        # not the real val2017.zip: its md5 differs
    root = str(tmp_path / 'coco')
    result = run_tool([COCO_SCRIPT, *download_args(root, server)], check=False, timeout=120)
    assert result.returncode == 1
    assert 'md5 is' in result.stderr and 'expected 442b8da7639aecaf257c1dceb8ba8c80' in \
        result.stderr
    assert sorted(os.listdir(root)) == []      # no archive, no part, no extraction, no stamp


def test_mpii_script_extracts_tar_archives_into_their_folders(tmp_path, server):
    server.files['mpii_annotations.tar'] = tar_gz_bytes({'mpii_val.json': b'[]',
                                                         'mpii_gt_val.mat': b'mat'})
    server.files['mpii_human_pose_v1.tar.gz'] = tar_gz_bytes({'images/000001163.jpg': PAYLOAD})
    root = str(tmp_path / 'mpii')
    result = run_tool([MPII_SCRIPT, *download_args(root, server,
                                                   parts=['annotations', 'images'])])
    assert 'no published checksum' in result.stderr
    assert sorted(os.listdir(os.path.join(root, 'annotations'))) == ['mpii_gt_val.mat',
                                                                     'mpii_val.json']
    assert os.path.getsize(os.path.join(root, 'images', '000001163.jpg')) == len(PAYLOAD)


def test_extract_refuses_members_outside_the_folder(tmp_path):
    archive = tmp_path / 'evil.zip'
    archive.write_bytes(zip_bytes({'ok.txt': b'1', '../evil.txt': b'2'}))
    with pytest.raises(DownloadError, match='outside'):
        extract(str(archive), str(tmp_path / 'out'))
    assert not (tmp_path / 'evil.txt').exists() and not (tmp_path / 'out' / 'ok.txt').exists()
