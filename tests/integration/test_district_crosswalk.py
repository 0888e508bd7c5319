"""The ZIP crosswalk: `muster districts load` (Muster's columns and zcta-cd118.csv as it is), the
default congressional crosswalk with its vintage, `muster districts show`, and a ZIP that gives a
district only when it lies inside one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import Container
from bot.districts_cli import load, load_default, show
from handlers.district_crosswalk import DEFAULT_VINTAGE, apply_zip
from handlers.districts import known_districts
from storage.districts import crosswalk_size
from tests.builders import make_volunteer
from tests.conftest import T0


def test_default_crosswalk_is_loaded_once_with_its_vintage(container: Container, capsys) -> None:
    assert load_default(container) == 42033
    assert load_default(container) == 0  # already there
    with container.read_uow() as uow:
        assert crosswalk_size(uow.session, vintage=DEFAULT_VINTAGE) == 42033
    assert show(container, "02492") == 0
    out = capsys.readouterr().out
    assert "02492 cd: ma/cd:4 (US House MA-4) [zcta-cd118]" in out
    show(container, "02124")
    out = capsys.readouterr().out
    assert "split between 2 districts, none for sure" in out
    assert "ma/cd:7" in out and "ma/cd:8" in out
    show(container, "99501")  # Alaska: at-large, written 0 by the source
    assert "ak/cd:at-large" in capsys.readouterr().out
    show(container, "20001")  # DC: the delegate
    assert "20001 cd: dc " in capsys.readouterr().out


def test_a_zip_inside_one_district_gives_it_and_a_split_one_none(container: Container) -> None:
    load_default(container)
    with container.uow() as uow:
        needham = make_volunteer(uow.session, zip="02492")
        dorchester = make_volunteer(uow.session, zip="02124")
        inside = apply_zip(uow.session, needham.id, "02492", now=T0)
        split = apply_zip(uow.session, dorchester.id, "02124", now=T0)
        assert set(inside.sure) == {"cd"} and not inside.split
        assert set(split.split) == {"cd"} and not split.sure
        [known] = known_districts(uow.session, needham.id)
        assert (known.district, known.source, known.vintage) == (
            "ma/cd:4",
            "zip_crosswalk",
            "zcta-cd118",
        )
        assert known_districts(uow.session, dorchester.id) == []
        uow.commit()


def test_load_muster_columns_with_shares_and_rejects(
    container: Container, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "house-2024.csv"
    path.write_text(
        "zip,district,share\n"
        "02720,ma/sldl:10th_bristol,100\n"
        "02492,ocd-division/country:us/state:ma/sldl:13th_norfolk,0.7\n"
        "02492,ma/sldl:14th_norfolk,0.3\n"
        "02492,ma/sldl:13th_norfok,\n"
        "abcde,ma/sldl:10th_bristol,\n"
    )
    assert load(container, str(path)) == 0
    out = capsys.readouterr().out
    assert "5 rows read, 3 loaded for 2 ZIP codes" in out
    assert "ma/sldl:13th_norfolk" in out  # the nearest name for the typo
    with container.uow() as uow:
        v = make_volunteer(uow.session, zip="02720")
        found = apply_zip(uow.session, v.id, "02720", now=T0)
        assert found.sure["sldl"].district == "ma/sldl:10th_bristol"
        assert found.sure["sldl"].vintage == "house-2024"
        split = apply_zip(uow.session, v.id, "02492", now=T0)
        assert [r.share for r in split.split["sldl"]] == [pytest.approx(0.7), pytest.approx(0.3)]
        assert known_districts(uow.session, v.id) == []  # the old ZIP's guess went with it
