"""User accounts for closed access: scrypt hashes, the file, authentication."""

import json

import pytest

from triton_openai.frontend import errors
from triton_openai.frontend.users import UserStore, check_password, hash_password
from triton_openai.launch.cli import main


def test_hashes_are_salted_and_check_in_both_directions():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert check_password("correct horse", first) and check_password("correct horse", second)
    assert not check_password("correct horsE", first)
    assert not check_password("x", "garbage") and not check_password("x", "md5$1$2$3$4$5")


def test_add_and_authenticate(tmp_path):
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "correct horse")
    assert "correct horse" not in (tmp_path / "users.json").read_text()
    assert store.authenticate("alice:correct horse") == "user-alice"
    for bad in (None, "", "alice", "alice:wrong", "bob:correct horse"):
        with pytest.raises(errors.Unauthorized):
            store.authenticate(bad)


def test_a_password_may_contain_colons_and_accounts_added_later_are_seen(tmp_path):
    first, second = UserStore(tmp_path / "users.json"), UserStore(tmp_path / "users.json")
    first.add("alice", "a:b:c:d:e")
    assert second.authenticate("alice:a:b:c:d:e") == "user-alice"  # another worker's store reads the file again


@pytest.mark.parametrize("name, password", [("al:ice", "long enough"), ("", "long enough"), ("bob", "short")])
def test_bad_names_and_short_passwords_are_refused(tmp_path, name, password):
    with pytest.raises(ValueError):
        UserStore(tmp_path / "users.json").add(name, password)


def test_the_add_user_command(tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    main(["add-user", "--users-file", str(tmp_path / "u.json"), "carol", "--password-stdin"])
    assert "carol" in json.loads((tmp_path / "u.json").read_text())["users"]
    assert UserStore(tmp_path / "u.json").authenticate("carol:a long password") == "user-carol"


def test_closed_access_needs_a_users_file():
    from triton_openai.frontend.settings import Settings

    with pytest.raises(ValueError, match="needs --users-file"):
        Settings(auth_access="closed")


def test_a_broken_users_file_keeps_the_last_good_accounts(tmp_path, monkeypatch):
    from triton_openai.frontend import watched_file

    monkeypatch.setattr(watched_file, "RECHECK_SECONDS", 0.0)
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "correct horse")
    (tmp_path / "users.json").write_text('{"users": ["half written')
    assert store.authenticate("alice:correct horse") == "user-alice"
    (tmp_path / "users.json").write_text("[]")
    assert store.authenticate("alice:correct horse") == "user-alice"
