from pathlib import Path

from serve.stores.ingested_roots import IngestedRoots


def test_roots_are_recorded_resolved_once_each(tmp_path, monkeypatch):
    roots = IngestedRoots(tmp_path / "data" / "ingested_roots.json")
    assert roots.read() == ()  # nothing ingested yet
    (tmp_path / "docs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    roots.add([Path("docs"), Path("link"), tmp_path / "a.pdf"])
    roots.add([Path("docs")])
    assert roots.read() == ((tmp_path / "docs").resolve(), (tmp_path / "a.pdf").resolve())


def test_an_unreadable_record_is_no_roots(tmp_path):
    path = tmp_path / "ingested_roots.json"
    path.write_text("{not json")
    assert IngestedRoots(path).read() == ()
    path.write_text('["relative/path", 3, "/srv/docs"]')
    assert IngestedRoots(path).read() == (Path("/srv/docs"),)
