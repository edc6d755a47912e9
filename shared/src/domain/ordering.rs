//! Which update wins. This is the rule; `store::dynamo` enforces the same rule inside the conditional
//! write, and the integration tests check the two against each other.
//!
//! An incoming change supersedes the stored state when
//! 1. nothing is stored for the key (or what is stored has expired) and the change is a position
//!    report (remove and unwatch act only on a live entry), or
//! 2. it was recorded later by server time (`updated_at` strictly greater) **and** it is newer than
//!    anything the same device sent before (`seq` strictly greater than the last `seq` stored for
//!    that device, if any).
//!
//! Rule 2's first half orders devices without trusting their clocks; its second half stops a retried
//! or delayed request from overwriting a newer update of the same device, even when another device
//! wrote in between. Strict comparison means the same item is never written twice with one stamp.

use super::{Change, Origin, PlaybackState, Seq};

/// What the store holds for a key, as far as ordering is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    /// The live state, `None` when absent or expired.
    pub state: Option<&'a PlaybackState>,
    /// The last `seq` stored for the incoming update's device, if that device ever wrote this key.
    pub device_seq: Option<Seq>,
}

/// Whether a `change` from `incoming` applies over `current`.
pub fn supersedes(incoming: &Origin, change: &Change, current: Current<'_>) -> bool {
    match current.state {
        None => change.creates(),
        Some(stored) => {
            incoming.updated_at > stored.origin.updated_at
                && current.device_seq.is_none_or(|last| incoming.seq > last)
        }
    }
}

/// What a write did, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The update is now the stored state.
    Applied(PlaybackState),
    /// This exact update (same device and seq) was already stored: a retry of an acknowledged write.
    AlreadyApplied(PlaybackState),
    /// A newer update won; the state returned is the winner.
    Superseded(PlaybackState),
}

impl WriteOutcome {
    /// Classifies a rejected write by the winner the store returned with the rejection.
    pub fn rejected(incoming: &Origin, winner: PlaybackState) -> Self {
        if winner.origin.device == incoming.device && winner.origin.seq == incoming.seq {
            Self::AlreadyApplied(winner)
        } else {
            Self::Superseded(winner)
        }
    }

    pub fn applied(&self) -> bool {
        !matches!(self, Self::Superseded(_))
    }

    pub fn state(&self) -> &PlaybackState {
        match self {
            Self::Applied(s) | Self::AlreadyApplied(s) | Self::Superseded(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceId, Position, Stamp};

    fn origin(device: &str, seq: u64, at: u64) -> Origin {
        Origin {
            device: DeviceId::parse(device).unwrap(),
            seq: Seq::new(seq).unwrap(),
            updated_at: Stamp::from_millis(at),
        }
    }

    fn state(device: &str, seq: u64, at: u64) -> PlaybackState {
        PlaybackState {
            position: Position::from_seconds(1.0).unwrap(),
            duration: None,
            hidden: false,
            origin: origin(device, seq, at),
        }
    }

    fn report() -> Change {
        Change::Report {
            position: Position::from_seconds(2.0).unwrap(),
            duration: None,
        }
    }

    fn current(state: &PlaybackState, device_seq: Option<u64>) -> Current<'_> {
        Current {
            state: Some(state),
            device_seq: device_seq.map(|s| Seq::new(s).unwrap()),
        }
    }

    const NOTHING: Current<'static> = Current {
        state: None,
        device_seq: None,
    };

    #[test]
    fn first_report_is_applied_but_remove_and_unwatch_need_an_entry() {
        assert!(supersedes(&origin("tv", 1, 10), &report(), NOTHING));
        assert!(!supersedes(&origin("tv", 1, 10), &Change::Remove, NOTHING));
        assert!(!supersedes(&origin("tv", 1, 10), &Change::Unwatch, NOTHING));
    }

    #[test]
    fn later_update_from_other_device_wins() {
        let stored = state("tv", 5, 100);
        assert!(supersedes(
            &origin("phone", 1, 101),
            &report(),
            current(&stored, None)
        ));
        assert!(supersedes(
            &origin("phone", 2, 101),
            &Change::Remove,
            current(&stored, Some(1))
        ));
    }

    #[test]
    fn stale_write_from_other_device_is_rejected() {
        let stored = state("tv", 5, 100);
        assert!(!supersedes(
            &origin("phone", 1, 99),
            &report(),
            current(&stored, None)
        ));
        assert!(!supersedes(
            &origin("phone", 1, 99),
            &Change::Remove,
            current(&stored, None)
        ));
    }

    #[test]
    fn equal_stamp_is_rejected_so_no_stamp_is_written_twice() {
        let stored = state("tv", 5, 100);
        assert!(!supersedes(
            &origin("phone", 1, 100),
            &report(),
            current(&stored, None)
        ));
    }

    #[test]
    fn delayed_request_of_same_device_loses_to_its_newer_update_even_after_another_device() {
        // tv wrote seq 7, then the phone wrote; tv's seq 6 arrives late with a later server stamp.
        let stored = state("phone", 3, 200);
        assert!(!supersedes(
            &origin("tv", 6, 300),
            &report(),
            current(&stored, Some(7))
        ));
        assert!(supersedes(
            &origin("tv", 8, 300),
            &report(),
            current(&stored, Some(7))
        ));
    }

    #[test]
    fn retry_of_stored_update_is_reported_as_already_applied() {
        let stored = state("tv", 7, 200);
        let retry = origin("tv", 7, 250);
        assert_eq!(
            WriteOutcome::rejected(&retry, stored.clone()),
            WriteOutcome::AlreadyApplied(stored)
        );
        let winner = state("phone", 7, 260);
        assert!(!WriteOutcome::rejected(&retry, winner).applied());
    }
}
