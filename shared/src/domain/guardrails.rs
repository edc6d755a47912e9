//! What a player should do with a resume answer when it already has a position of its own
//! (the article's UX guardrails): jump silently, stay where it is, or ask the viewer.

use std::time::Duration;

use super::{DeviceId, PlaybackState, Position};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// Seek to the saved position without asking.
    Jump,
    /// Keep playing from the local position; the difference is noise or an older checkpoint.
    Stay,
    /// The position moved far (another device, or backwards): ask "Resume from 11:11?".
    Ask,
}

impl Advice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jump => "jump",
            Self::Stay => "stay",
            Self::Ask => "ask",
        }
    }
}

/// The advice and why, for players and for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guidance {
    pub advice: Advice,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    /// Differences up to this, either way, are ignored.
    pub tolerance: Duration,
    /// Going back more than this needs the viewer's say ("don't resume 5 minutes earlier unless asked").
    pub max_backward: Duration,
    /// Going forward more than this (another device watched far ahead) needs the viewer's say.
    pub max_forward: Duration,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            tolerance: Duration::from_secs(15),
            max_backward: Duration::from_secs(300),
            max_forward: Duration::from_secs(600),
        }
    }
}

impl Guardrails {
    /// Advice for a device at `local` whose saved position says to resume from `target`.
    pub fn advise(
        &self,
        local: Position,
        requester: Option<&DeviceId>,
        stored: &PlaybackState,
        target: Position,
    ) -> Guidance {
        let guidance = |advice, reason| Guidance { advice, reason };
        let (local, target) = (u128::from(local.millis()), u128::from(target.millis()));
        let distance = local.abs_diff(target);
        if distance <= self.tolerance.as_millis() {
            return guidance(Advice::Stay, "within_tolerance");
        }
        if target < local {
            if requester == Some(&stored.origin.device) {
                // The device's own checkpoint lags its playhead: nothing moved elsewhere.
                guidance(Advice::Stay, "own_older_checkpoint")
            } else if distance <= self.max_backward.as_millis() {
                guidance(Advice::Stay, "small_regression")
            } else {
                guidance(Advice::Ask, "far_behind")
            }
        } else if distance <= self.max_forward.as_millis() {
            guidance(Advice::Jump, "moved_ahead")
        } else {
            guidance(Advice::Ask, "far_ahead")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Origin, Seq, Stamp};

    fn stored_by(device: &str) -> PlaybackState {
        PlaybackState {
            position: Position::from_seconds(0.0).unwrap(),
            duration: None,
            hidden: false,
            origin: Origin {
                device: DeviceId::parse(device).unwrap(),
                seq: Seq::new(1).unwrap(),
                updated_at: Stamp::from_millis(0),
            },
        }
    }

    #[test]
    fn decision_table() {
        let rules = Guardrails::default();
        let phone = DeviceId::parse("phone").unwrap();
        let tv = DeviceId::parse("tv").unwrap();
        // (local s, target s, requester, stored by, advice, reason)
        let cases = [
            (
                600.0,
                600.0,
                Some(&phone),
                "tv",
                Advice::Stay,
                "within_tolerance",
            ),
            (
                600.0,
                614.0,
                Some(&phone),
                "tv",
                Advice::Stay,
                "within_tolerance",
            ),
            (600.0, 586.0, None, "tv", Advice::Stay, "within_tolerance"),
            (
                600.0,
                900.0,
                Some(&phone),
                "tv",
                Advice::Jump,
                "moved_ahead",
            ),
            (
                600.0,
                1200.0,
                Some(&phone),
                "tv",
                Advice::Jump,
                "moved_ahead",
            ),
            (600.0, 1201.0, Some(&phone), "tv", Advice::Ask, "far_ahead"),
            (
                600.0,
                400.0,
                Some(&phone),
                "tv",
                Advice::Stay,
                "small_regression",
            ),
            (
                600.0,
                300.0,
                Some(&phone),
                "tv",
                Advice::Stay,
                "small_regression",
            ),
            (600.0, 299.0, Some(&phone), "tv", Advice::Ask, "far_behind"),
            (3000.0, 0.0, None, "tv", Advice::Ask, "far_behind"),
            (
                3000.0,
                100.0,
                Some(&tv),
                "tv",
                Advice::Stay,
                "own_older_checkpoint",
            ),
            (100.0, 3000.0, Some(&tv), "tv", Advice::Ask, "far_ahead"),
        ];
        for (local, target, requester, stored, advice, reason) in cases {
            let got = rules.advise(
                Position::from_seconds(local).unwrap(),
                requester,
                &stored_by(stored),
                Position::from_seconds(target).unwrap(),
            );
            assert_eq!(
                (got.advice, got.reason),
                (advice, reason),
                "local {local}, target {target}"
            );
        }
    }

    #[test]
    fn thresholds_are_configurable() {
        let strict = Guardrails {
            tolerance: Duration::ZERO,
            max_backward: Duration::ZERO,
            max_forward: Duration::from_secs(1),
        };
        let s = |v: f64| Position::from_seconds(v).unwrap();
        assert_eq!(
            strict
                .advise(s(10.0), None, &stored_by("tv"), s(9.0))
                .advice,
            Advice::Ask
        );
        assert_eq!(
            strict
                .advise(s(10.0), None, &stored_by("tv"), s(11.0))
                .advice,
            Advice::Jump
        );
    }
}
