//! When a video counts as finished or not yet started, in one place.

use std::time::Duration;

use super::{PlaybackState, Position};

/// Where a viewer is in a video, as far as resuming is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Under the start threshold: not worth resuming, start from the beginning.
    NotStarted,
    /// Worth resuming: shown in continue watching.
    InProgress,
    /// Watched to the end (or close enough): resume from the start.
    Finished,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::InProgress => "in_progress",
            Self::Finished => "finished",
        }
    }
}

/// Thresholds in the spirit of Jellyfin's resume percentages and Trakt's watched rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Finished at or past this share of the duration (percent).
    pub finished_percent: f64,
    /// Also finished within this much of the end (end credits), once past the halfway mark, so a
    /// three-minute clip is not finished at its first minute.
    pub finished_remaining: Duration,
    /// Positions under this are not worth resuming.
    pub min_resume: Duration,
}

impl Default for Completion {
    fn default() -> Self {
        Self {
            finished_percent: 90.0,
            finished_remaining: Duration::from_secs(120),
            min_resume: Duration::from_secs(30),
        }
    }
}

impl Completion {
    pub fn status(&self, state: &PlaybackState) -> Status {
        let position = state.position.millis();
        if let Some(duration) = state.duration.map(Position::millis).filter(|d| *d > 0) {
            let share = position as f64 * 100.0 / duration as f64;
            let remaining = duration.saturating_sub(position);
            let in_credits = remaining as u128 <= self.finished_remaining.as_millis()
                && position * 2 >= duration;
            if share >= self.finished_percent || in_credits {
                return Status::Finished;
            }
        }
        if (position as u128) < self.min_resume.as_millis() {
            Status::NotStarted
        } else {
            Status::InProgress
        }
    }

    /// Where a player should start: the saved position only while in progress.
    pub fn resume_from(&self, state: &PlaybackState) -> Position {
        match self.status(state) {
            Status::InProgress => state.position,
            Status::NotStarted | Status::Finished => {
                Position::from_millis(0).expect("zero is a position")
            }
        }
    }
}

/// Share of the video watched, in percent to one decimal, capped at 100 (players may report a
/// position a few milliseconds past the duration they were given).
pub fn percent(state: &PlaybackState) -> Option<f64> {
    let duration = state.duration?.millis();
    (duration > 0).then(|| {
        let share = (state.position.millis() as f64 * 100.0 / duration as f64).min(100.0);
        (share * 10.0).round() / 10.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceId, Origin, Seq, Stamp};

    fn state(position: f64, duration: Option<f64>) -> PlaybackState {
        PlaybackState {
            position: Position::from_seconds(position).unwrap(),
            duration: duration.map(|d| Position::from_seconds(d).unwrap()),
            hidden: false,
            origin: Origin {
                device: DeviceId::parse("tv").unwrap(),
                seq: Seq::new(1).unwrap(),
                updated_at: Stamp::from_millis(0),
            },
        }
    }

    #[test]
    fn status_table() {
        let rules = Completion::default();
        let cases = [
            // (position, duration, expected)
            (0.0, Some(3600.0), Status::NotStarted),
            (29.9, Some(3600.0), Status::NotStarted),
            (30.0, Some(3600.0), Status::InProgress),
            (3239.0, Some(3600.0), Status::InProgress), // 89.97 %
            (3240.0, Some(3600.0), Status::Finished),   // 90 %
            (3600.5, Some(3600.0), Status::Finished),   // past the end
            (7080.0, Some(7200.0), Status::Finished),   // 98.3 %, in the credits
            (6000.0, Some(7200.0), Status::InProgress), // 83 %, 20 minutes left
            (60.0, Some(180.0), Status::InProgress), // 2 minutes left of a clip, but not past half
            (100.0, Some(180.0), Status::Finished),  // past half and within the last 2 minutes
            (50_000.0, None, Status::InProgress),    // no duration: never finished
            (10.0, None, Status::NotStarted),
        ];
        for (position, duration, expected) in cases {
            assert_eq!(
                rules.status(&state(position, duration)),
                expected,
                "{position} of {duration:?}"
            );
        }
    }

    #[test]
    fn resume_from_start_unless_in_progress() {
        let rules = Completion::default();
        assert_eq!(
            rules.resume_from(&state(1200.0, Some(3600.0))).seconds(),
            1200.0
        );
        assert_eq!(
            rules.resume_from(&state(3500.0, Some(3600.0))).seconds(),
            0.0
        );
        assert_eq!(rules.resume_from(&state(12.0, Some(3600.0))).seconds(), 0.0);
    }

    #[test]
    fn percent_is_rounded_and_capped() {
        assert_eq!(percent(&state(1200.0, Some(3600.0))), Some(33.3));
        assert_eq!(percent(&state(3601.0, Some(3600.0))), Some(100.0));
        assert_eq!(percent(&state(1200.0, None)), None);
        assert_eq!(percent(&state(1.0, Some(0.0))), None);
    }

    #[test]
    fn thresholds_are_configurable() {
        let trakt_like = Completion {
            finished_percent: 80.0,
            finished_remaining: Duration::ZERO,
            min_resume: Duration::ZERO,
        };
        assert_eq!(
            trakt_like.status(&state(2880.0, Some(3600.0))),
            Status::Finished
        );
        assert_eq!(
            trakt_like.status(&state(1.0, Some(3600.0))),
            Status::InProgress
        );
    }
}
