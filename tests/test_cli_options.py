"""`journeyline load`, `demo` and `up` as a new user meets them: real options in --help, one name for
the demo's date, `up`'s options (and --help) passed to deploy.up, one-line errors."""
from __future__ import annotations

import os

import pytest

from services.cli.__main__ import main


def test_load_help_shows_its_options(capsys):
    with pytest.raises(SystemExit) as done:
        main(["load", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("FILE", "--demo", "--customers", "--seed", "--until", "--url", "--write-key", "--batch-size",
                   "--no-progress"):
        assert option in out


@pytest.mark.parametrize("command", [["demo"], ["load", "--demo"]])
def test_the_demo_date_has_one_name(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--now=2026-11-01"])
    assert done.value.code == 2
    assert "unrecognized arguments: --now=2026-11-01" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*command, "--until", "someday"])
    assert "--until: 'someday' is not a date" in capsys.readouterr().err


@pytest.mark.parametrize("options", [["--customers", "5", "--no-demo"], ["--help"], []])
def test_up_runs_deploy_up_with_its_options(options, monkeypatch):
    ran = []
    monkeypatch.setattr(os, "execv", lambda path, argv: ran.append(argv))
    main(["up", *options])
    assert ran[0][1:] == ["-m", "deploy.up", *options]


def test_an_unknown_option_names_the_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["load", "events.jsonl", "--bogus"])
    assert done.value.code == 2
    assert "journeyline load: error: unrecognized arguments: --bogus" in capsys.readouterr().err


def test_load_stops_with_one_line(tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_text('{"event_id": "e-1"}\n')
    assert main(["load", str(path), "--url", "ftp://127.0.0.1:1", "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was sent: no summary
    assert captured.err.splitlines()[-1].startswith("stopped: bad ingest URL 'ftp://127.0.0.1:1/v1/events'")
    missing = tmp_path / "missing.jsonl"
    assert main(["load", str(missing)]) == 1
    assert capsys.readouterr().err.strip() == f"error: cannot read {missing}: No such file or directory"
