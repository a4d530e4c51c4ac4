"""The trust suite's own ground: a root daemon, an allow_other mount, and a
second uid that can browse it (so the refusals the other tests check are
refusals, not a mount nobody could reach)."""
import conftest


def test_nobody_browses_an_allow_other_mount(trust_hub):
    trust_hub.mount(extra=["allow_other"])
    r = conftest.as_nobody("import os,sys; print(os.getuid()); print(open(sys.argv[1]).read())",
                           trust_hub.p("alice", "vision:main", ".hub", "commit"))
    assert r.returncode == 0, r.stderr
    uid, sha = r.stdout.split()
    assert uid == "65534"
    assert len(sha) == 40
