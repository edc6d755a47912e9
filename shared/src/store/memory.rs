//! The store contract in plain Rust: an in-memory [`PlaybackStore`] that applies
//! [`crate::domain::ordering::supersedes`] directly. It is the reference the DynamoDB adapter is
//! checked against (property tests) and the store of the CPU benchmarks; it keeps nothing across
//! restarts and is not for production.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{PlaybackStore, StoreError, WriteResult};
use crate::domain::ordering::{supersedes, Current};
use crate::domain::{
    Change, DeviceId, PlaybackKey, PlaybackState, PlaybackUpdate, Position, ProfileKey, Seq, Stamp,
    VideoId,
};

/// What DynamoDB keeps per item: the state, its expiry and every device's last `seq`. As in
/// DynamoDB, an expired item's attributes stay until overwritten (a report without duration keeps
/// an expired entry's duration; device seqs outlive expiry).
#[derive(Debug, Clone)]
struct Item {
    state: PlaybackState,
    expires_at: u64,
    device_seqs: HashMap<DeviceId, Seq>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<(String, VideoId), Item>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn live(item: &Item, now: Stamp) -> bool {
        item.expires_at > now.epoch_seconds()
    }

    /// Applies `update` under the rule; the same answers as the DynamoDB adapter.
    pub fn apply_now(&self, update: &PlaybackUpdate) -> WriteResult {
        let mut items = self.items.lock().expect("memory store lock");
        let slot = (update.key.partition_key(), update.key.video.clone());
        let item = items.get(&slot);
        let live = item.filter(|i| Self::live(i, update.now)).map(|i| &i.state);
        let current = Current {
            state: live,
            device_seq: item.and_then(|i| i.device_seqs.get(&update.origin.device).copied()),
        };
        if !supersedes(&update.origin, &update.change, current) {
            return match live {
                Some(winner) => WriteResult::Rejected {
                    winner: winner.clone(),
                },
                None => WriteResult::Missing,
            };
        }
        let previous = item.map(|i| &i.state);
        let (position, duration, hidden) = match (&update.change, previous) {
            (Change::Report { position, duration }, previous) => (
                *position,
                duration.or(previous.and_then(|p| p.duration)),
                false,
            ),
            (Change::Remove, Some(p)) => (p.position, p.duration, true),
            (Change::Unwatch, Some(p)) => {
                (Position::from_millis(0).expect("zero"), p.duration, false)
            }
            (Change::Remove | Change::Unwatch, None) => {
                unreachable!("the rule requires a live entry")
            }
        };
        let state = PlaybackState {
            position,
            duration,
            hidden,
            origin: update.origin.clone(),
        };
        let mut device_seqs = item.map(|i| i.device_seqs.clone()).unwrap_or_default();
        device_seqs.insert(update.origin.device.clone(), update.origin.seq);
        items.insert(
            slot,
            Item {
                state: state.clone(),
                expires_at: update.expires_at,
                device_seqs,
            },
        );
        WriteResult::Applied { state }
    }
}

impl PlaybackStore for MemoryStore {
    async fn apply(&self, update: &PlaybackUpdate) -> Result<WriteResult, StoreError> {
        Ok(self.apply_now(update))
    }

    async fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> Result<Option<PlaybackState>, StoreError> {
        let items = self.items.lock().expect("memory store lock");
        Ok(items
            .get(&(key.partition_key(), key.video.clone()))
            .filter(|i| Self::live(i, now))
            .map(|i| i.state.clone()))
    }

    async fn list(
        &self,
        profile: &ProfileKey,
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        let pk = profile.partition_key();
        let items = self.items.lock().expect("memory store lock");
        Ok(items
            .iter()
            .filter(|((p, _), item)| *p == pk && Self::live(item, now))
            .map(|((_, video), item)| (video.clone(), item.state.clone()))
            .collect())
    }

    async fn batch_get(
        &self,
        profile: &ProfileKey,
        videos: &[VideoId],
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        let pk = profile.partition_key();
        let items = self.items.lock().expect("memory store lock");
        Ok(videos
            .iter()
            .filter_map(|video| {
                let item = items.get(&(pk.clone(), video.clone()))?;
                Self::live(item, now).then(|| (video.clone(), item.state.clone()))
            })
            .collect())
    }
}
