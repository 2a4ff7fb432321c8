"""The node's store (mic/dicom/store.py) without a network: durability bookkeeping,
recovery after a crash, C-FIND matching, paths that stay inside the store."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from mic.dicom.store import Store, matches


def _instance(study: str, series: str, **attrs: str) -> pydicom.Dataset:
    ds = copy.deepcopy(pydicom.dcmread(get_testdata_file("CT_small.dcm")))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = generate_uid()
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def _put(store: Store, ds: pydicom.Dataset) -> Path:
    def write(f: io.BufferedWriter) -> None:
        pydicom.dcmwrite(f, ds, enforce_file_format=True)

    return store.put(ds, write, transfer_syntax="1.2.840.10008.1.2.1",
                     received_syntax="1.2.840.10008.1.2.1", bytes_received=1000).path


def test_find_at_each_level(tmp_path: Path) -> None:
    s = Store(tmp_path)
    st1, st2, se1, se2, se3 = (generate_uid() for _ in range(5))
    a = [_put(s, _instance(st1, se1, PatientID="P1", PatientName="DOE^JANE", Modality="CT",
                           StudyDate="20200615")) for _ in range(3)]
    _put(s, _instance(st1, se2, PatientID="P1", PatientName="DOE^JANE", Modality="MR",
                      StudyDate="20200615"))
    _put(s, _instance(st2, se3, PatientID="P2", PatientName="ROE^RICHARD", Modality="CT",
                      StudyDate="20221201"))
    assert len(a) == 3 and all(p.is_file() for p in a)
    (p1,) = s.find("PATIENT", {"PatientName": "DOE*"})
    assert p1["PatientID"] == "P1" and p1["NumberOfPatientRelatedInstances"] == "4"
    (study,) = s.find("STUDY", {"StudyDate": "20200101-20201231"})
    assert study["StudyInstanceUID"] == st1 and study["ModalitiesInStudy"] == "CT\\MR"
    assert study["NumberOfStudyRelatedSeries"] == "2"
    assert len(s.find("STUDY", {"StudyInstanceUID": f"{st1}\\{st2}"})) == 2
    assert len(s.find("STUDY", {"ModalitiesInStudy": "MR"})) == 1
    series = s.find("SERIES", {"StudyInstanceUID": st1, "Modality": "C?"})
    assert [x["SeriesInstanceUID"] for x in series] == [se1]
    assert series[0]["NumberOfSeriesRelatedInstances"] == "3"
    imgs = s.find("IMAGE", {"SeriesInstanceUID": se1})
    assert len(imgs) == 3 and all(Path(x["_path"]).is_file() for x in imgs)
    assert s.find("IMAGE", {"PatientID": "NOBODY"}) == []
    assert s.stats()["instances"] == 5 and s.stats()["studies"] == 2
    with pytest.raises(ValueError):
        s.find("FRAME", {})


def test_recover_after_a_crash(tmp_path: Path) -> None:
    s = Store(tmp_path)
    study, series = generate_uid(), generate_uid()
    kept, gone, resent = (_instance(study, series) for _ in range(3))
    for ds in (kept, gone, resent):
        _put(s, ds)
    rows = {ds.SOPInstanceUID: s.instance(ds.SOPInstanceUID) for ds in (kept, gone, resent)}
    folder = rows[kept.SOPInstanceUID].path.parent
    (folder / ".x.dcm.abc123.part").write_bytes(b"half")            # a writer killed
    (folder / "1.2.3.dcm").write_bytes(b"never acknowledged")         # file, no row
    rows[gone.SOPInstanceUID].path.unlink()                            # row, no file
    resent.PatientComments = "resent with more data"                   # renamed, row not
    pydicom.dcmwrite(rows[resent.SOPInstanceUID].path, resent, enforce_file_format=True)
    s.close()

    s = Store(tmp_path)
    fixed = s.recover()
    assert fixed == {"partial_files": 1, "unindexed_files": 1, "orphan_rows": 1,
                     "rows_updated": 1}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{ds.SOPInstanceUID}.dcm" for ds in (kept, resent))
    assert s.instance(gone.SOPInstanceUID) is None
    r = s.instance(resent.SOPInstanceUID)
    assert r is not None and r.bytes_stored == r.path.stat().st_size
    assert s.recover() == dict.fromkeys(fixed, 0)  # idempotent
    # a study left without instances disappears from queries
    gone_only = _instance(generate_uid(), generate_uid())
    p = _put(s, gone_only)
    p.unlink()
    s.recover()
    assert s.find("STUDY", {"StudyInstanceUID": gone_only.StudyInstanceUID}) == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_paths_stay_inside_and_a_failed_index_leaves_no_file(tmp_path: Path) -> None:
    s = Store(tmp_path / "store")
    ds = _instance("../../..", "..", PatientID="../../etc/passwd")
    ds.SOPInstanceUID = "../../../../evil"
    p = _put(s, ds)
    assert p.resolve().is_relative_to((tmp_path / "store" / "studies").resolve())
    assert [x.name for x in tmp_path.iterdir()] == ["store"]

    def broken(f: io.BufferedWriter) -> None:
        f.write(b"DICM")

    # the index update fails after the file was written: the file goes again, no row stays
    s._db.execute("CREATE TRIGGER full BEFORE INSERT ON instances "
                  "BEGIN SELECT RAISE(ABORT, 'index refused'); END")
    other = _instance(generate_uid(), generate_uid())
    with pytest.raises(Exception, match="index refused"):
        s.put(other, broken, transfer_syntax="x", received_syntax="x", bytes_received=1)
    rel = s.path_for(other.StudyInstanceUID, other.SeriesInstanceUID, other.SOPInstanceUID)
    assert (tmp_path / "store" / rel).parent.is_dir()  # it got as far as writing the file
    assert not (tmp_path / "store" / rel).exists()
    assert s.instance(other.SOPInstanceUID) is None
    assert s.find("STUDY", {"StudyInstanceUID": other.StudyInstanceUID}) == []


def test_matching_rules() -> None:
    assert matches("PatientName", "*", "")
    assert matches("PatientName", "D?E^*", "DOE^JANE")
    assert not matches("PatientName", "DOE", "DOE^JANE")
    assert matches("StudyTime", "0800-1200", "101500")
    assert not matches("StudyTime", "0800-1000", "101500")
    assert matches("StudyDate", "20200615\\20200616", "20200616")
    assert matches("SOPInstanceUID", "1.2\\1.3 ", "1.3")
