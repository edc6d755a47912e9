//! Playback position and the times used to order updates.

use std::fmt;

use super::InvalidField;

/// Longest position accepted: 7 days. Longer values are client bugs (a timestamp sent as a position,
/// a unit mix-up), not videos.
pub const MAX_POSITION_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// Offset into a video, kept in whole milliseconds so it round-trips through storage exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u64);

impl Position {
    pub const FIELD: &'static str = "position";

    /// Parses seconds as sent by players (`1200`, `1200.5`).
    pub fn from_seconds(seconds: f64) -> Result<Self, InvalidField> {
        Self::parse_seconds(Self::FIELD, seconds)
    }

    /// Parses seconds for `field` (positions, durations and local positions share the rule).
    pub fn parse_seconds(field: &'static str, seconds: f64) -> Result<Self, InvalidField> {
        if !seconds.is_finite() {
            return Err(InvalidField::new(field, "must be a finite number"));
        }
        if seconds < 0.0 {
            return Err(InvalidField::new(field, "must not be negative"));
        }
        if seconds > MAX_POSITION_SECONDS {
            return Err(InvalidField::new(
                field,
                format!("must be at most {MAX_POSITION_SECONDS} seconds"),
            ));
        }
        Ok(Self((seconds * 1000.0).round() as u64))
    }

    /// `H:MM:SS`, or `M:SS` under an hour, as players show it ("Resume from 11:11?").
    pub fn clock_face(self) -> String {
        let total = self.0 / 1000;
        let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
        if hours > 0 {
            format!("{hours}:{minutes:02}:{seconds:02}")
        } else {
            format!("{minutes}:{seconds:02}")
        }
    }

    /// Rebuilds a position read back from storage; `None` if it is outside the accepted range.
    pub fn from_millis(millis: u64) -> Option<Self> {
        (millis as f64 <= MAX_POSITION_SECONDS * 1000.0).then_some(Self(millis))
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// Server time in milliseconds since the Unix epoch: when an update happened, as the service judges it.
/// Ordering between devices uses only these, never a device's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(u64);

impl Stamp {
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch, as DynamoDB's TTL attribute wants them.
    pub fn epoch_seconds(self) -> u64 {
        self.0 / 1000
    }

    pub fn saturating_sub_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_sub(millis))
    }

    pub fn saturating_add_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Stamp {
    /// RFC 3339 in UTC with milliseconds, e.g. `2026-12-04T21:19:12.345Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0 % 1000;
        let secs = self.0 / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_keeps_milliseconds() {
        let p = Position::from_seconds(1200.5).unwrap();
        assert_eq!(p.millis(), 1_200_500);
        assert_eq!(p.seconds(), 1200.5);
    }

    #[test]
    fn negative_nan_infinite_and_absurd_positions_are_rejected() {
        for bad in [
            -0.001,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            MAX_POSITION_SECONDS + 1.0,
            1e300,
        ] {
            let err = Position::from_seconds(bad).unwrap_err();
            assert_eq!(err.field, "position", "{bad}");
        }
        assert!(Position::from_seconds(0.0).is_ok());
        assert!(Position::from_seconds(MAX_POSITION_SECONDS).is_ok());
    }

    #[test]
    fn clock_face_is_what_players_show() {
        assert_eq!(Position::from_seconds(671.0).unwrap().clock_face(), "11:11");
        assert_eq!(Position::from_seconds(5.9).unwrap().clock_face(), "0:05");
        assert_eq!(
            Position::from_seconds(3723.0).unwrap().clock_face(),
            "1:02:03"
        );
    }

    #[test]
    fn stored_position_out_of_range_is_refused() {
        assert!(Position::from_millis(u64::MAX).is_none());
        assert_eq!(Position::from_millis(5).unwrap().millis(), 5);
    }

    #[test]
    fn stamp_formats_as_rfc3339() {
        assert_eq!(
            Stamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Stamp::from_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Stamp::from_millis(1_796_418_552_345).to_string(),
            "2026-12-04T21:09:12.345Z"
        );
    }
}
