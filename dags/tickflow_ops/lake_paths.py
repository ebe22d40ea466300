"""The lake's files on local disk or in S3 (MinIO), behind the few path operations the batch jobs
use. A local lake is a `pathlib.Path`; an `s3://bucket/prefix` lake is an `S3Path`, which answers
the same calls through pyarrow's S3 filesystem (endpoint, region and keys from the same `AWS_*`
variables the lake-writer reads). Parquet is read and written through `open_input` and
`parquet_writer_args`, so one code path serves both.

S3 has no rename and no settable write time: `rename` is a server-side copy and a delete (the
target appears whole, as any object does), and `set_write_time` is refused."""

import fnmatch
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath

from pyarrow import fs as pafs


@cache
def s3_filesystem() -> pafs.S3FileSystem:
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or ""
    scheme, _, host = endpoint.rpartition("://") if "://" in endpoint else ("https", "", endpoint)
    return pafs.S3FileSystem(
        access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_override=host.rstrip("/") or None, scheme=scheme or "https",
        allow_bucket_creation=False, allow_bucket_deletion=False)


@dataclass(frozen=True)
class Stat:
    st_mtime_ns: int
    st_size: int


@dataclass(frozen=True, order=True)
class S3Path:
    """`bucket/key` in S3, with the subset of pathlib's interface the batch jobs use."""

    key: str

    def __str__(self):
        return f"s3://{self.key}"

    def __truediv__(self, part):
        return S3Path(f"{self.key.rstrip('/')}/{part}")

    @property
    def name(self):
        return PurePosixPath(self.key).name

    @property
    def parent(self):
        return S3Path(str(PurePosixPath(self.key).parent))

    def with_name(self, name):
        return self.parent / name

    def relative_to(self, other):
        return PurePosixPath(self.key).relative_to(other.key)

    def _info(self):
        return s3_filesystem().get_file_info(self.key)

    def exists(self):
        return self._info().type != pafs.FileType.NotFound

    def glob(self, pattern):
        """The entries of this folder whose names match `pattern` (one level, as the jobs use it)."""
        selector = pafs.FileSelector(self.key, allow_not_found=True)
        return [S3Path(info.path) for info in s3_filesystem().get_file_info(selector)
                if fnmatch.fnmatchcase(info.base_name, pattern)]

    def stat(self):
        info = self._info()
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(str(self))
        return Stat(info.mtime_ns or 0, info.size or 0)

    def read_text(self):
        with s3_filesystem().open_input_stream(self.key) as stream:
            return stream.read().decode()

    def unlink(self, missing_ok=False):
        if missing_ok and not self.exists():
            return
        s3_filesystem().delete_file(self.key)

    def rename(self, target):
        s3_filesystem().move(self.key, target.key)
        return target

    def mkdir(self, parents=False, exist_ok=False):
        """Folders are implied by keys in S3."""


def lake_path(url) -> Path | S3Path:
    """The lake at `url`: s3://bucket/prefix, file:///dir or a folder."""
    text = str(url)
    if text.startswith("s3://"):
        return S3Path(text.removeprefix("s3://").rstrip("/"))
    return Path(text.removeprefix("file://")).resolve()


def open_input(path):
    """What pyarrow's Parquet reader takes for `path`."""
    return s3_filesystem().open_input_file(path.key) if isinstance(path, S3Path) else path


def parquet_writer_args(path) -> dict:
    """`where` and `filesystem` for pyarrow's ParquetWriter / write_table at `path`."""
    if isinstance(path, S3Path):
        return {"where": path.key, "filesystem": s3_filesystem()}
    return {"where": str(path)}


def replace(temporary, path):
    """Puts `temporary` in place of `path` (a rename on disk; a copy and a delete in S3)."""
    if isinstance(path, S3Path):
        temporary.rename(path)
    else:
        os.replace(temporary, path)


def set_write_time(path, ns: int):
    if isinstance(path, S3Path):
        raise NotImplementedError("S3 objects keep the time they were written; the roll-up needs a local lake")
    os.utime(path, ns=(ns, ns))
