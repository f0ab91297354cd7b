//! Optimistic inline runs: an async edge may run a chain holding plugins that do I/O on its
//! reactor thread when every such plugin asks [`Host::may_block`] first
//! ([`Plugin::ASKS_BEFORE_BLOCKING`]). While the attempt runs, `may_block` answers `false`;
//! a plugin that wanted to block returns, the host skips the rest of the attempt, throws it
//! away and runs the request again on a blocking thread. Most requests never ask (htpasswd
//! with a `{SHA}` entry and a file that has not changed), so they cost no thread hand-off.
//!
//! [`Host::may_block`]: rewho_plugin_api::Host::may_block
//! [`Plugin::ASKS_BEFORE_BLOCKING`]: rewho_plugin_api::Plugin::ASKS_BEFORE_BLOCKING

use std::cell::Cell;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not in an attempt: blocking is fine (a blocking thread, a synchronous caller).
    Free,
    /// In an inline attempt, nobody asked yet.
    Attempt,
    /// In an inline attempt, and a plugin asked to block: the attempt is void.
    Yielded,
}

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State::Free) };
}

/// What a plugin's [`Host::may_block`](rewho_plugin_api::Host::may_block) answers on this
/// thread; asking during an attempt voids it.
pub(crate) fn may_block() -> bool {
    STATE.with(|s| match s.get() {
        State::Free => true,
        State::Attempt | State::Yielded => {
            s.set(State::Yielded);
            false
        }
    })
}

/// Whether the current attempt was voided: later plugin calls are skipped and failures are
/// not logged (they are the plugins' way of returning early).
pub(crate) fn yielded() -> bool {
    STATE.with(|s| s.get() == State::Yielded)
}

/// Runs `f` as an inline attempt; `None` when a plugin asked to block (discard what `f`
/// changed and run it again where blocking is fine).
pub(crate) fn attempt<R>(f: impl FnOnce() -> R) -> Option<R> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            STATE.with(|s| s.set(State::Free));
        }
    }
    let _reset = Reset;
    STATE.with(|s| s.set(State::Attempt));
    let out = f();
    (!yielded()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_voided_by_asking() {
        assert!(may_block(), "outside an attempt blocking is fine");
        assert_eq!(attempt(|| 1), Some(1));
        assert_eq!(
            attempt(|| {
                assert!(!may_block());
                assert!(yielded());
                2
            }),
            None
        );
        assert!(
            may_block() && !yielded(),
            "the state is reset after an attempt"
        );
        let unwound = std::panic::catch_unwind(|| attempt(|| panic!("plugin bug")));
        assert!(unwound.is_err());
        assert!(may_block(), "and after an attempt that unwound");
    }
}
