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


@pytest.mark.parametrize("uri", ["s3://bucket/key", "gcs://bucket/key", "file://host/tmp/x"])
def test_remote_stores_are_refused_by_name(uri: str) -> None:
    with pytest.raises(ValueError, match="ObjectStoragePath"):
        ObjectStoragePath(uri, conn_id="aws_default")
