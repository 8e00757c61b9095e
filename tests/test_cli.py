"""``python -m starlette_session``: every bad URL or missing driver gets one line naming the fix
and exit status 2, never a traceback; every option has help text.

Each case runs the command line in a fresh interpreter, as a user would. A driver "not
installed" is hidden the way it would be missing: ``sys.modules[name] = None`` makes
``import name`` raise ``ModuleNotFoundError``.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-that-must-not-show"


def run(*args: str, hidden: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for name in {hidden!r}:\n"
        "    sys.modules[name] = None  # as if it were not installed\n"
        "from starlette_session.cli import main\n"
        f"raise SystemExit(main({list(args)!r}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no $DATABASE_URL
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert PASSWORD not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "hidden", "fix"),
    [
        (
            "sqlite:///{tmp}/s.db",
            (),
            "--url sqlite+aiosqlite:///{tmp}/s.db (pip install aiosqlite)",
        ),
        (
            "postgresql+psycopg2://u:{pw}@127.0.0.1/test",
            (),
            "--url postgresql+asyncpg://u:***@127.0.0.1/test (pip install asyncpg)",
        ),
        ("mysql://root@127.0.0.1/test", (), "--url mysql+asyncmy://root@127.0.0.1/test"),
        ("mariadb://root@127.0.0.1/test", (), "--url mariadb+asyncmy://root@127.0.0.1/test"),
        ("postgresql+asyncpg://u:{pw}@127.0.0.1/test", ("asyncpg",), "pip install asyncpg"),
        ("sqlite+aiosqlite:///{tmp}/s.db", ("aiosqlite",), "pip install aiosqlite"),
        ("mysql+asyncmy://root@127.0.0.1/test", ("asyncmy",), "pip install asyncmy"),
        ("postgresql://u:{pw}@127.0.0.1/test", ("psycopg",), "pip install psycopg, or use"),
        ("postgresql+nodriver://127.0.0.1/test", (), "unknown driver; use the async driver"),
        ("not a url", (), "not a database URL; give one like sqlite+aiosqlite:///"),
        ("oracle://u:{pw}@127.0.0.1/test", (), "sessions live in SQLite, PostgreSQL, MariaDB"),
        ("sqlite+aiosqlite:///{tmp}/missing/s.db", (), "does not exist; create it first"),
        ("postgresql+asyncpg://u:{pw}@127.0.0.1:{port}/test", (), "cannot connect to the database"),
        ("postgresql+asyncpg://u:{pw}@no-such-host.invalid/test", (), "cannot connect"),
        ("mysql+asyncmy://root:{pw}@127.0.0.1:{port}/test", (), "127.0.0.1:{port} (Operational"),
    ],
)
def test_a_bad_url_or_missing_driver_gets_one_line_and_exit_2(
    tmp_path: Path, url: str, hidden: tuple[str, ...], fix: str
) -> None:
    values = {"tmp": tmp_path, "pw": PASSWORD, "port": free_port()}
    line = one_line_error(run("purge", "--url", url.format(**values), hidden=hidden))
    assert fix.format(**values) in line


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("sqlite:///s.db", "--url sqlite+aiosqlite:///s.db"),
        ("postgresql+asyncpg://u:{pw}@127.0.0.1:{port}/test", "cannot connect to the database"),
    ],
)
def test_create_table_answers_the_same(url: str, fix: str) -> None:
    values = {"pw": PASSWORD, "port": free_port()}
    line = one_line_error(run("create-table", "--url", url.format(**values)))
    assert fix.format(**values) in line


def test_no_url_names_both_ways_to_give_one() -> None:
    line = one_line_error(run("purge"))
    assert "give --url or set DATABASE_URL, for example sqlite+aiosqlite:///" in line


@pytest.mark.parametrize(
    "args", [["purge", "--url", "sqlite+aiosqlite:///s.db"], ["ddl", "--dialect", "sqlite"]]
)
def test_without_sqlalchemy_the_line_says_what_to_install(args: list[str]) -> None:
    line = one_line_error(run(*args, hidden=("sqlalchemy",)))
    assert "SQLAlchemy is not installed: pip install 'sqlalchemy[asyncio]' aiosqlite" in line


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_named() -> None:
    line = one_line_error(
        run("purge", "--url", "postgresql+asyncpg://postgres@127.0.0.1/no_such_db")
    )
    assert 'database "no_such_db" does not exist' in line


def test_a_missing_table_is_a_failed_operation_not_a_bad_url(tmp_path: Path) -> None:
    result = run("purge", "--url", f"sqlite+aiosqlite:///{tmp_path}/s.db", "--table", "missing")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: the SQL session backend failed")


@pytest.mark.parametrize("command", ["purge", "create-table", "ddl"])
def test_every_option_has_help_text(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starlette_session", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.partition("options:\n")[2].splitlines()
    for index, line in enumerate(lines):
        option = re.match(r"  (-\S+(?: [A-Z_{},a-z]+)?(?:, -\S+)?)( {2,}\S.*)?$", line)
        if option and not option.group(2):  # its help is on the next line, indented further
            assert index + 1 < len(lines), f"{command} {option.group(1)} has no help"
            assert lines[index + 1].startswith(" " * 10), f"{command} {option.group(1)}"
        elif option is None:
            assert line.startswith(" " * 10), f"{command}: {line!r}"
    assert len(lines) >= 4


def test_a_database_that_never_answers_is_given_up_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:{port}/db"
        line = one_line_error(run("purge", "--timeout", "1", "--url", url))
    assert f"the database at 127.0.0.1:{port} did not answer in 1 s" in line
