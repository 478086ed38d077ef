"""`dropsafe explain RULE` shows the failure as users met it (tokio's and std's
own panic messages, the deadlock) and the guarded forms the rule leaves quiet."""

import pytest

from bot.cli import main

FAILURES_AND_GUARDS = {
    "drop-runtime-context": (
        "there is no reactor running, must be called from the context of a Tokio 1.x runtime",
        "can call blocking only when running on the multi-threaded runtime",
        "Cannot drop a runtime in a context where blocking is not allowed",
        "Handle::try_current()",
        "runtime_flavor()",
        "shutdown_background()",
    ),
    "drop-block-on": (
        "Cannot start a runtime from within a runtime",
        "Cannot block the current thread from within a runtime",
        "blocking_lock",
        "blocking_send",
        "block_in_place",
    ),
    "drop-self-join": (
        "failed to join thread: Resource deadlock avoided",
        "std::thread::current().id()",
        "ThreadPool",
    ),
    "temp-path-unguarded": ("into_path()", "keep()", "persist(target)", "atomic-write"),
    "lock-across-await": ("temporary", "self.state.lock().await.refresh().await", "deadlocks"),
    "mem-forget": ("this: Self", "unsafe", "ManuallyDrop::take"),
    "drop-unwrap": ("for_each", "std::thread::spawn", "tokio::spawn"),
}


@pytest.mark.parametrize("rule_id", sorted(FAILURES_AND_GUARDS))
def test_explain_names_the_failure_and_the_quiet_forms(rule_id, capsys):
    assert main(["explain", rule_id]) == 0
    page = " ".join(capsys.readouterr().out.split())
    for phrase in FAILURES_AND_GUARDS[rule_id]:
        assert phrase in page, f"`dropsafe explain {rule_id}` should say {phrase!r}"
