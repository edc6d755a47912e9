//! The playback domain: what a valid update is, what the service stores, and which update wins.
//!
//! Nothing here knows about HTTP, Lambda or DynamoDB; the store enforces [`ordering::supersedes`] and the
//! HTTP layer only builds these types from requests.

mod completion;
mod guardrails;
mod ids;
pub mod listing;
pub mod ordering;
mod position;

use std::time::Duration;

pub use completion::{percent, Completion, Status};
pub use guardrails::{Advice, Guardrails, Guidance};
pub use ids::{AccountId, DeviceId, ProfileId, VideoId, KEY_SEPARATOR, MAX_ID_LEN};
pub use position::{Position, Stamp, MAX_POSITION_SECONDS};

/// A request value that broke a rule. `field` is the name the client sent; `rule` says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {rule}")]
pub struct InvalidField {
    pub field: &'static str,
    pub rule: String,
}

impl InvalidField {
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

/// Largest integer a JSON number carries exactly in every client language (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Parses a non-negative whole number that JavaScript clients can represent exactly.
fn parse_safe_integer(field: &'static str, value: f64) -> Result<u64, InvalidField> {
    if !value.is_finite() || value.fract() != 0.0 || value < 0.0 || value > MAX_SAFE_INTEGER as f64
    {
        return Err(InvalidField::new(
            field,
            format!("must be a whole number between 0 and {MAX_SAFE_INTEGER}"),
        ));
    }
    Ok(value as u64)
}

/// A device's own counter of its updates: it must grow with every update the device sends, so a
/// retried or delayed request can be told apart from a newer one without trusting any clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(u64);

impl Seq {
    pub const FIELD: &'static str = "seq";

    pub fn parse(value: f64) -> Result<Self, InvalidField> {
        parse_safe_integer(Self::FIELD, value).map(Self)
    }

    pub fn new(value: u64) -> Option<Self> {
        (value <= MAX_SAFE_INTEGER).then_some(Self(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// How long ago, on the device's monotonic clock, the position was recorded (0 for a live update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Age(Duration);

impl Age {
    pub const FIELD: &'static str = "age_ms";

    pub fn parse_millis(value: f64) -> Result<Self, InvalidField> {
        parse_safe_integer(Self::FIELD, value).map(|ms| Self(Duration::from_millis(ms)))
    }

    pub fn from_duration(age: Duration) -> Self {
        Self(age)
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

/// One profile of one account: the partition of the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileKey {
    pub account: AccountId,
    pub profile: ProfileId,
}

impl ProfileKey {
    /// The partition key. Ids cannot contain the separator, so distinct (account, profile) pairs
    /// always give distinct keys.
    pub fn partition_key(&self) -> String {
        format!("{}{KEY_SEPARATOR}{}", self.account, self.profile)
    }

    pub fn video(&self, video: VideoId) -> PlaybackKey {
        PlaybackKey {
            account: self.account.clone(),
            profile: self.profile.clone(),
            video,
        }
    }
}

/// One viewer's progress slot: `(account_id#profile_id, video_id)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlaybackKey {
    pub account: AccountId,
    pub profile: ProfileId,
    pub video: VideoId,
}

impl PlaybackKey {
    pub fn profile_key(&self) -> ProfileKey {
        ProfileKey {
            account: self.account.clone(),
            profile: self.profile.clone(),
        }
    }

    pub fn partition_key(&self) -> String {
        self.profile_key().partition_key()
    }
}

/// Who last changed a key and when: the part of a state the conflict rule compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub device: DeviceId,
    pub seq: Seq,
    /// Server time at which the change happened (the ordering stamp).
    pub updated_at: Stamp,
}

/// What the service keeps for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackState {
    pub position: Position,
    /// The video's length, when a player has reported it.
    pub duration: Option<Position>,
    /// Removed from continue watching; the next position report brings it back.
    pub hidden: bool,
    pub origin: Origin,
}

/// What an update does to the stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A player's position report; a report without duration keeps the stored one.
    Report {
        position: Position,
        duration: Option<Position>,
    },
    /// Remove from continue watching (the position is kept).
    Remove,
    /// Mark unwatched: back to the start, shown again once watched.
    Unwatch,
}

impl Change {
    /// Whether the change may create an entry; remove and unwatch only act on a live one.
    pub fn creates(&self) -> bool {
        matches!(self, Self::Report { .. })
    }
}

/// A change as a player sends it, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub key: PlaybackKey,
    pub device: DeviceId,
    pub seq: Seq,
    pub age: Age,
    pub change: Change,
}

/// The domain's settings. Defaults are documented in the README.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// How long an entry lives after its last update before it expires (TTL).
    pub retention: Duration,
    /// How far back an offline report may place itself; older reports are placed at this bound.
    pub max_offline_age: Duration,
    pub completion: Completion,
    pub guardrails: Guardrails,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(180 * 24 * 3600),
            max_offline_age: Duration::from_secs(7 * 24 * 3600),
            completion: Completion::default(),
            guardrails: Guardrails::default(),
        }
    }
}

/// A change stamped by the server and ready for the conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackUpdate {
    pub key: PlaybackKey,
    pub origin: Origin,
    pub change: Change,
    /// The server time of the write: stored items whose expiry is not after it count as absent.
    pub now: Stamp,
    /// When the entry expires unless updated again (TTL, epoch seconds).
    pub expires_at: u64,
}

impl Report {
    /// Stamps the change with server time: `now - age`, with the age capped at `max_offline_age`.
    /// The device's wall clock is never consulted, so a wrong device clock cannot reorder anything.
    pub fn stamp(self, now: Stamp, rules: &Rules) -> PlaybackUpdate {
        let age = self.age.duration().min(rules.max_offline_age);
        PlaybackUpdate {
            expires_at: now
                .saturating_add_millis(millis(rules.retention))
                .epoch_seconds(),
            now,
            key: self.key,
            origin: Origin {
                device: self.device,
                seq: self.seq,
                updated_at: now.saturating_sub_millis(millis(age)),
            },
            change: self.change,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Source of server time, injectable so tests can model skewed or stepping clocks.
pub trait Clock: Send + Sync {
    fn now(&self) -> Stamp;
}

/// The host's wall clock (Lambda hosts are kept in sync by Amazon Time Sync).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Stamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Stamp::from_millis(millis(since_epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(age_ms: u64) -> Report {
        Report {
            key: PlaybackKey {
                account: AccountId::parse("a").unwrap(),
                profile: ProfileId::parse("p").unwrap(),
                video: VideoId::parse("v").unwrap(),
            },
            device: DeviceId::parse("tv").unwrap(),
            seq: Seq::new(1).unwrap(),
            age: Age::from_duration(Duration::from_millis(age_ms)),
            change: Change::Remove,
        }
    }

    #[test]
    fn partition_key_joins_account_and_profile() {
        assert_eq!(report(0).key.partition_key(), "a#p");
    }

    #[test]
    fn live_report_is_stamped_with_server_time_and_ttl_from_retention() {
        let update = report(0).stamp(Stamp::from_millis(1_000_000_000), &Rules::default());
        assert_eq!(update.origin.updated_at, Stamp::from_millis(1_000_000_000));
        assert_eq!(update.expires_at, 1_000_000 + 180 * 24 * 3600);
    }

    #[test]
    fn offline_report_is_placed_when_it_happened() {
        let update = report(90_000).stamp(Stamp::from_millis(1_000_000_000), &Rules::default());
        assert_eq!(
            update.origin.updated_at,
            Stamp::from_millis(1_000_000_000 - 90_000)
        );
    }

    #[test]
    fn offline_age_is_capped_at_the_configured_bound() {
        let rules = Rules {
            max_offline_age: Duration::from_secs(60),
            ..Rules::default()
        };
        let update = report(3_600_000).stamp(Stamp::from_millis(1_000_000_000), &rules);
        assert_eq!(
            update.origin.updated_at,
            Stamp::from_millis(1_000_000_000 - 60_000)
        );
    }

    #[test]
    fn only_reports_create_entries() {
        assert!(Change::Report {
            position: Position::from_seconds(1.0).unwrap(),
            duration: None
        }
        .creates());
        assert!(!Change::Remove.creates());
        assert!(!Change::Unwatch.creates());
    }

    #[test]
    fn seq_and_age_must_be_safe_whole_numbers() {
        assert_eq!(Seq::parse(7.0).unwrap().get(), 7);
        for bad in [-1.0, 1.5, f64::NAN, 9.1e15, f64::INFINITY] {
            assert_eq!(Seq::parse(bad).unwrap_err().field, "seq");
            assert_eq!(Age::parse_millis(bad).unwrap_err().field, "age_ms");
        }
    }
}
