//! The storage port and its DynamoDB adapter.

mod cache;
mod dynamo;
mod memory;

use std::future::Future;
use std::time::Duration;

pub use cache::{CacheSettings, CachedStore};
pub use dynamo::{create_table, DynamoStore, StoreSettings};
pub use memory::MemoryStore;

use crate::domain::{PlaybackKey, PlaybackState, PlaybackUpdate, ProfileKey, Stamp, VideoId};

/// The answer of one conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    /// The update is stored; this is the state now stored.
    Applied { state: PlaybackState },
    /// The rule kept the stored state; it came back with the rejection.
    Rejected { winner: PlaybackState },
    /// A remove or unwatch found no live entry to act on.
    Missing,
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

    /// Every live entry of one profile, in no particular order (bounded by the adapter).
    fn list(
        &self,
        profile: &ProfileKey,
        now: Stamp,
    ) -> impl Future<Output = Result<Vec<(VideoId, PlaybackState)>, StoreError>> + Send;

    /// The live entries among `videos` of one profile (at most 100), in no particular order.
    fn batch_get(
        &self,
        profile: &ProfileKey,
        videos: &[VideoId],
        now: Stamp,
    ) -> impl Future<Output = Result<Vec<(VideoId, PlaybackState)>, StoreError>> + Send;
}
