"""What the commands share (``ksi.cli._common``): one ``-v`` that makes every command print the
commands it runs, one ``--shared-dir``, errors as one line with a documented code."""

from __future__ import annotations

from tests.conftest import World


def test_list_and_delete_print_their_commands_with_v(world: World):
    listing = world.ksi("list", "-v")
    assert listing.returncode == 0, listing.stderr
    assert "$ kind get clusters" in listing.stderr
    assert "$ kind" not in world.ksi("list").stderr
    # delete's "rerun with -v" hint must lead somewhere: -v shows what it ran
    deleting = world.ksi("delete", "-v", "--stale")
    assert deleting.returncode == 0, deleting.stderr
    assert "$ kind get clusters" in deleting.stderr


def test_ksi_verbose_in_the_environment_is_v_for_every_command(world: World):
    res = world.ksi("list", env={"KSI_VERBOSE": "1"})
    assert "$ kind get clusters" in res.stderr


def test_every_command_takes_the_same_shared_dir_option(world: World):
    for command in (["run"], ["list"], ["doctor"], ["images", "save"]):
        res = world.ksi(*command, "--help")
        assert res.returncode == 0, res.stderr
        assert "--shared-dir" in res.stdout and "KSI_SHARED_DIR" in res.stdout, command
        assert "[default: ~/.ksi]" in res.stdout, command
