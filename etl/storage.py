"""Object storage: `s3://bucket/key` addresses, copying, listing and reading objects.

A location is either a local path or an S3 URL. Objects are streamed (never read whole into
memory); an upload creates its bucket if it does not exist yet, as the lecture's first step
("Create bucket") does.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl.aws import Endpoint, client, endpoint, errors
from models.errors import UsageError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str = ""  # "" is the bucket itself; a key ending in / is a prefix

    @classmethod
    def parse(cls, text: str) -> S3Url:
        """`s3://bucket/key` (also the `s3:/bucket/key` that pathlib makes of it)."""
        rest = _s3_rest(text)
        if rest is None:
            raise UsageError(f"{text!r} is not an s3://bucket/key address")
        bucket, _, key = rest.partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise UsageError(f"{text!r}: {bucket!r} is not a valid bucket name (3-63 lower-case letters, digits, . or -)")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The last part of the key (`genomics.csv`), or the bucket's name."""
        return self.key.rstrip("/").rpartition("/")[2] or self.bucket

    def child(self, name: str) -> S3Url:
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Url(self.bucket, base + name)


def _s3_rest(text: str) -> str | None:
    text = str(text)
    for prefix in ("s3://", "s3:/"):
        if text.startswith(prefix):
            return text[len(prefix):]
    return None


def is_s3(location: str | os.PathLike[str]) -> bool:
    return _s3_rest(str(location)) is not None


def s3_client(ep: Endpoint | None = None) -> tuple[Any, Endpoint]:
    ep = ep or endpoint("s3")
    return client("s3", ep), ep


def ensure_bucket(s3: Any, ep: Endpoint, bucket: str) -> bool:
    """Create `bucket` if it does not exist; True if it was created."""
    from botocore.exceptions import ClientError

    with errors("s3", ep, f"s3://{bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
        kwargs: dict[str, Any] = {"Bucket": bucket}
        region = s3.meta.region_name
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
            return False
    return True


def upload(path: Path, dest: S3Url, s3: Any = None, ep: Endpoint | None = None) -> S3Url:
    """Copy a local file to `dest` (a key, or a prefix ending in / to keep the file's name)."""
    if s3 is None:
        s3, ep = s3_client(ep)
    assert ep is not None
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if not dest.key or dest.key.endswith("/"):
        dest = dest.child(path.name)
    ensure_bucket(s3, ep, dest.bucket)
    with errors("s3", ep, str(dest)):
        s3.upload_file(str(path), dest.bucket, dest.key)
    return dest


def download(src: S3Url, path: Path, s3: Any = None, ep: Endpoint | None = None) -> Path:
    """Copy an object to a local file (into a directory keeping its name); written to a
    temporary file next to it and renamed, so a failed download leaves no partial file."""
    if s3 is None:
        s3, ep = s3_client(ep)
    assert ep is not None
    if not src.key or src.key.endswith("/"):
        raise UsageError(f"{src}: name an object, not a bucket or prefix")
    if path.is_dir():
        path = path / src.name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        with errors("s3", ep, str(src)):
            s3.download_file(src.bucket, src.key, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def copy(src: str, dest: str) -> str:
    """`mmbench s3 cp`: a local file to S3, S3 to a local file, or S3 to S3. Returns where it went."""
    if is_s3(src) and is_s3(dest):
        s3, ep = s3_client()
        a, b = S3Url.parse(src), S3Url.parse(dest)
        if not b.key or b.key.endswith("/"):
            b = b.child(a.name)
        ensure_bucket(s3, ep, b.bucket)
        with errors("s3", ep, f"{a} -> {b}"):
            s3.copy({"Bucket": a.bucket, "Key": a.key}, b.bucket, b.key)
        return str(b)
    if is_s3(dest):
        return str(upload(Path(src), S3Url.parse(dest)))
    if is_s3(src):
        return str(download(S3Url.parse(src), Path(dest)))
    raise UsageError("one of SRC and DEST must be an s3://bucket/key address")


@dataclass(frozen=True)
class ObjectInfo:
    url: S3Url
    size: int
    modified: str


def list_objects(url: S3Url, s3: Any = None, ep: Endpoint | None = None) -> Iterator[ObjectInfo]:
    """Every object under `url`'s key prefix (all pages)."""
    if s3 is None:
        s3, ep = s3_client(ep)
    assert ep is not None
    with errors("s3", ep, str(url)):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=url.bucket, Prefix=url.key):
            for obj in page.get("Contents", []):
                yield ObjectInfo(S3Url(url.bucket, obj["Key"]), int(obj["Size"]),
                                 obj["LastModified"].isoformat(timespec="seconds"))


def list_buckets(s3: Any = None, ep: Endpoint | None = None) -> list[str]:
    if s3 is None:
        s3, ep = s3_client(ep)
    assert ep is not None
    with errors("s3", ep):
        return sorted(b["Name"] for b in s3.list_buckets().get("Buckets", []))


# ---------------------------------------------------------------- data files under a location

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".psv")


def _hidden(name: str) -> bool:
    """Files a crawler skips, as Glue does: `_SUCCESS`, `.crc`, dot and underscore files."""
    return name.startswith((".", "_")) or name.endswith((".crc", ".part"))


def data_files(location: str) -> list[str]:
    """The data files at `location`, sorted: a file itself, or every non-hidden file under a
    directory or S3 prefix (sub-folders too, as Glue's "crawl all sub-folders")."""
    if is_s3(location):
        url = S3Url.parse(location)
        objects = list(list_objects(url))
        exact = [o for o in objects if o.url.key == url.key and url.key]
        if exact:
            return [str(exact[0].url)]
        prefix = url.key if not url.key or url.key.endswith("/") else url.key + "/"
        keys = [str(o.url) for o in objects if o.url.key.startswith(prefix) and o.size > 0
                and not any(_hidden(part) for part in o.url.key[len(prefix):].split("/"))]
        if not keys:
            raise UsageError(f"{location}: no objects there")
        return sorted(keys)
    path = Path(location)
    if path.is_file():
        return [str(path.resolve())]
    if not path.is_dir():
        raise UsageError(f"{location}: no such file or directory")
    files = sorted(str(p.resolve()) for p in path.rglob("*")
                   if p.is_file() and p.stat().st_size > 0
                   and not any(_hidden(part) for part in p.relative_to(path).parts))
    if not files:
        raise UsageError(f"{location}: no data files there")
    return files


def open_lines(location: str) -> Iterator[str]:
    """The text lines of one file or object (UTF-8, line endings kept), streamed."""
    if is_s3(location):
        url = S3Url.parse(location)
        s3, ep = s3_client()
        with errors("s3", ep, str(url)):
            body = s3.get_object(Bucket=url.bucket, Key=url.key)["Body"]
        try:
            with errors("s3", ep, str(url)):
                pending = b""
                for chunk in body.iter_chunks(1 << 16):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line.decode("utf-8") + "\n"
                if pending:
                    yield pending.decode("utf-8")
        finally:
            body.close()
        return
    with open(location, encoding="utf-8", newline="") as fh:
        yield from fh


class LocalCopy:
    """A local file holding an S3 object (or the local file itself), for readers that need a
    path; the temporary copy is removed by `close()` or when the process exits."""

    def __init__(self, location: str, directory: Path | None = None) -> None:
        self.location = location
        self._tmpdir: str | None = None
        if is_s3(location):
            self._tmpdir = tempfile.mkdtemp(prefix="mmbench-s3-", dir=directory)
            self.path = download(S3Url.parse(location), Path(self._tmpdir))
        else:
            self.path = Path(location)

    def close(self) -> None:
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __del__(self) -> None:
        self.close()


def put_tree(local_dir: Path, dest: str) -> list[str]:
    """Copy every file of `local_dir` to `dest` (a directory or an S3 prefix), replacing the
    files of the same names there. Returns the written locations."""
    files = sorted(p for p in local_dir.iterdir() if p.is_file())
    out: list[str] = []
    if is_s3(dest):
        s3, ep = s3_client()
        base = S3Url.parse(dest)
        if base.key and not base.key.endswith("/"):
            base = S3Url(base.bucket, base.key + "/")
        ensure_bucket(s3, ep, base.bucket)
        for p in files:
            target = base.child(p.name)
            with errors("s3", ep, str(target)):
                s3.upload_file(str(p), target.bucket, target.key)
            out.append(str(target))
        return out
    target_dir = Path(dest)
    target_dir.mkdir(parents=True, exist_ok=True)
    for p in files:
        shutil.copyfile(p, target_dir / p.name)
        out.append(str((target_dir / p.name).resolve()))
    return out
