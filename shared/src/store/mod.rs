//! The storage port and its DynamoDB adapter.

mod dynamo;

use std::future::Future;
use std::time::Duration;

pub use dynamo::{create_table, DynamoStore, StoreSettings};

use crate::domain::{PlaybackKey, PlaybackState, PlaybackUpdate, Stamp};

/// The answer of one conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// The update is stored.
    Applied,
    /// The rule kept the stored state; it came back with the rejection.
    Rejected { winner: PlaybackState },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The call did not finish within its budget (the SDK's own retries included).
    #[error("store call exceeded its {0:?} budget")]
    Timeout(Duration),
    /// The database refused or could not be reached (throttling, network, missing table...).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// What is stored cannot be read back as a playback state: a bug or a foreign writer.
    #[error("stored item is invalid: {0}")]
    Corrupt(String),
}

/// Where playback states live. Implementations enforce [`crate::domain::ordering::supersedes`] atomically.
pub trait PlaybackStore: Send + Sync {
    /// Applies `update` if it supersedes what is stored, in one atomic step.
    fn apply(
        &self,
        update: &PlaybackUpdate,
    ) -> impl Future<Output = Result<WriteResult, StoreError>> + Send;

    /// The live state for `key`; entries expired at `now` are absent.
    fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> impl Future<Output = Result<Option<PlaybackState>, StoreError>> + Send;
}
