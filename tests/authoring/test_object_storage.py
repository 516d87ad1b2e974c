"""`ObjectStoragePath` on local storage: plain paths and file:// URIs, no fsspec needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerovane.authoring.object_storage import ObjectStoragePath


def test_file_uris_and_plain_paths_name_the_same_file(tmp_path: Path) -> None:
    base = ObjectStoragePath(f"file://{tmp_path}/data", conn_id=None)
    assert base == ObjectStoragePath(tmp_path / "data") == ObjectStoragePath(f"{tmp_path}/data")
    target = base / "year=2024" / "rows.csv"
    assert isinstance(target, ObjectStoragePath)
    target.parent.mkdir(parents=True)
    target.write_text("a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n" and target.size() == 8
    assert target.protocol == "file" and target.key == str(target).lstrip("/")
    with target.open("rb") as handle:
        assert handle.read(3) == b"a,b"
    assert [p.name for p in base.rglob("*.csv")] == ["rows.csv"]
    spaced = ObjectStoragePath(f"file://{tmp_path}/with%20space")
    assert spaced.name == "with space"


def test_copy_move_rm(tmp_path: Path) -> None:
    src = ObjectStoragePath(tmp_path) / "src.txt"
    src.write_text("x")
    src.copy(f"file://{tmp_path}/out/")  # into a directory
    assert (tmp_path / "out" / "src.txt").read_text() == "x"
    src.copy(ObjectStoragePath(tmp_path) / "nested" / "copy.txt")
    assert (tmp_path / "nested" / "copy.txt").read_text() == "x"
    folder = ObjectStoragePath(tmp_path) / "nested"
    with pytest.raises(IsADirectoryError):
        folder.copy(tmp_path / "elsewhere")
    folder.copy(tmp_path / "elsewhere", recursive=True)
    assert (tmp_path / "elsewhere" / "copy.txt").exists()
    src.move(tmp_path / "moved.txt")
    assert not src.exists() and (tmp_path / "moved.txt").read_text() == "x"
    with pytest.raises(IsADirectoryError):
        folder.rm()
    folder.rm(recursive=True)
    assert not folder.exists()


def test_serialization_round_trip(tmp_path: Path) -> None:
    path = ObjectStoragePath(tmp_path / "a.txt")
    data = path.serialize()
    assert data == {"path": f"file://{tmp_path}/a.txt", "conn_id": None, "kwargs": {}}
    assert ObjectStoragePath.deserialize(data, 1) == path
    with pytest.raises(ValueError, match="version"):
        ObjectStoragePath.deserialize(data, 2)


def test_a_file_uri_on_another_host_is_refused() -> None:
    with pytest.raises(ValueError, match="must name a local path"):
        ObjectStoragePath("file://host/tmp/x")


@pytest.mark.parametrize("uri", ["s3://aws_default@bucket/", "gcs://bucket/"])
def test_remote_paths_are_made_and_joined_but_refuse_io_by_name(uri: str) -> None:
    import pickle

    base = ObjectStoragePath(uri, conn_id="aws_default")
    path = base / "dir" / "data.parquet"
    protocol = uri.split(":")[0]
    assert isinstance(path, ObjectStoragePath)
    assert str(path) == f"{protocol}://bucket/dir/data.parquet"
    assert (path.protocol, path.conn_id, path.bucket, path.key) == (
        protocol,
        "aws_default",
        "bucket",
        "dir/data.parquet",
    )
    assert path.parent == base / "dir" and path.name == "data.parquet"
    assert path != ObjectStoragePath("/bucket/dir/data.parquet")
    assert ObjectStoragePath.deserialize(path.serialize(), 1) == path
    assert pickle.loads(pickle.dumps(path)) == path
    refused = f"protocol '{protocol}' is not available in Aerovane"
    for io in (path.exists, path.read_text, lambda: path.write_bytes(b"x"), path.size, path.mkdir):
        with pytest.raises(ValueError, match=refused):
            io()
