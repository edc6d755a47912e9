//! The optional read cache (ElastiCache for Valkey or Redis) in front of any store, as the article's
//! hybrid architecture has it: writes go to the database first (durable), then into the cache;
//! single resumes read the cache first and fall back to the database on a miss, an error or a slow
//! answer. The database stays the source of truth: a cache failure never fails a request.
//!
//! Every cache write is a compare-and-set on the ordering stamp (one Lua script), so concurrent
//! writers and read repopulations can only move the cached state forward: a repopulation that read
//! an older state from the database never overwrites a newer one written meanwhile. Stamps grow
//! strictly per entry (see `domain::ordering`), so "newest stamp" is "newest state".
//!
//! Lists and batch lookups read the database: they are far rarer than single resumes and a cache of
//! whole lists would need its own invalidation.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{json, Value};

use super::{PlaybackStore, StoreError, WriteResult};
use crate::domain::{
    DeviceId, Origin, PlaybackKey, PlaybackState, PlaybackUpdate, Position, ProfileKey, Seq, Stamp,
    VideoId,
};

/// Stores `ARGV[2]` under `KEYS[1]` unless the cached stamp is newer or equal and still live.
/// ARGV: stamp (ms), state (JSON), expires_at (epoch s, 0 = unknown), now (epoch s), ttl (ms).
const COMPARE_AND_SET: &str = r#"
local cached = redis.call('HMGET', KEYS[1], 'stamp', 'expires_at')
if cached[1] and tonumber(cached[1]) >= tonumber(ARGV[1])
   and (tonumber(cached[2]) == 0 or tonumber(cached[2]) > tonumber(ARGV[4])) then
  return 0
end
redis.call('HSET', KEYS[1], 'stamp', ARGV[1], 'state', ARGV[2], 'expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"#;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// `redis://host:port` or `rediss://host:port` (TLS, as ElastiCache Serverless requires).
    pub url: String,
    /// Budget of one cache call; past it the database answers instead.
    pub timeout: Duration,
    /// How long a cached entry lives: the most a failed cache write can leave it behind.
    pub ttl: Duration,
}

/// A store with an optional cache in front; without one it is the inner store unchanged.
pub struct CachedStore<S> {
    inner: S,
    cache: Option<Cache>,
}

struct Cache {
    connection: ConnectionManager,
    settings: CacheSettings,
    script: redis::Script,
}

#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error("cache call exceeded its {0:?} budget")]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("cached entry is invalid")]
    Invalid,
}

impl<S> CachedStore<S> {
    /// No cache: every call goes to `inner`.
    pub fn without_cache(inner: S) -> Self {
        Self { inner, cache: None }
    }

    /// A cache at `settings.url`. Nothing connects here: the connection is made on first use and
    /// remade after failures, so an unreachable cache cannot fail a cold start.
    pub fn with_cache(inner: S, settings: CacheSettings) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            inner,
            cache: Some(Cache {
                connection,
                settings,
                script: redis::Script::new(COMPARE_AND_SET),
            }),
        })
    }

    /// Opens the connection ahead of the first request (TLS handshake at init, not on the request
    /// path). Failures are only logged: requests fall back to the database and retry the cache.
    pub async fn warm_up(&self) {
        if let Some(cache) = &self.cache {
            let mut connection = cache.connection.clone();
            let ping = redis::cmd("PING");
            if let Err(err) = bounded(
                cache.settings.timeout * 10,
                ping.query_async::<()>(&mut connection),
            )
            .await
            {
                tracing::warn!(error = %err, "cache not reachable at init; using the database until it is");
            }
        }
    }
}

async fn bounded<T>(
    budget: Duration,
    call: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, CacheError> {
    match tokio::time::timeout(budget, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(CacheError::Timeout(budget)),
    }
}

/// Keys share the table's layout; the hash tag keeps one profile's keys in one cluster slot.
fn cache_key(key: &PlaybackKey) -> String {
    format!("playback:{{{}}}:{}", key.partition_key(), key.video)
}

fn encode(state: &PlaybackState) -> String {
    json!({
        "position_ms": state.position.millis(),
        "duration_ms": state.duration.map(Position::millis),
        "hidden": state.hidden,
        "device_id": state.origin.device.as_str(),
        "seq": state.origin.seq.get(),
        "updated_at": state.origin.updated_at.millis(),
    })
    .to_string()
}

fn decode(text: &str) -> Option<PlaybackState> {
    let value: Value = serde_json::from_str(text).ok()?;
    let millis = |name: &str| value.get(name)?.as_u64();
    Some(PlaybackState {
        position: Position::from_millis(millis("position_ms")?)?,
        duration: match value.get("duration_ms")? {
            Value::Null => None,
            other => Some(Position::from_millis(other.as_u64()?)?),
        },
        hidden: value.get("hidden")?.as_bool()?,
        origin: Origin {
            device: DeviceId::parse(value.get("device_id")?.as_str()?).ok()?,
            seq: Seq::new(millis("seq")?)?,
            updated_at: Stamp::from_millis(millis("updated_at")?),
        },
    })
}

impl Cache {
    async fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> Result<Option<PlaybackState>, CacheError> {
        let mut connection = self.connection.clone();
        let (state, expires_at): (Option<String>, Option<u64>) = bounded(
            self.settings.timeout,
            redis::cmd("HMGET")
                .arg(cache_key(key))
                .arg("state")
                .arg("expires_at")
                .query_async(&mut connection),
        )
        .await?;
        let Some(state) = state else {
            return Ok(None);
        };
        // An entry past its table expiry is a miss: the database decides what is live.
        if expires_at.is_some_and(|e| e != 0 && e <= now.epoch_seconds()) {
            return Ok(None);
        }
        decode(&state).map(Some).ok_or(CacheError::Invalid)
    }

    /// Moves the cached state forward to `state` (never backward); `expires_at` 0 when unknown.
    async fn put(
        &self,
        key: &PlaybackKey,
        state: &PlaybackState,
        expires_at: u64,
        now: Stamp,
    ) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let ttl = u64::try_from(self.settings.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        bounded(
            self.settings.timeout,
            self.script
                .key(cache_key(key))
                .arg(state.origin.updated_at.millis())
                .arg(encode(state))
                .arg(expires_at)
                .arg(now.epoch_seconds())
                .arg(ttl)
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(|_| ())
    }
}

impl<S: PlaybackStore> PlaybackStore for CachedStore<S> {
    async fn apply(&self, update: &PlaybackUpdate) -> Result<WriteResult, StoreError> {
        // The database first: an acknowledged write is durable whatever the cache does next.
        let result = self.inner.apply(update).await?;
        if let Some(cache) = &self.cache {
            let stored = match &result {
                WriteResult::Applied { state } => Some((state, update.expires_at)),
                // The winner came back with the rejection: a free refresh (its expiry unknown).
                WriteResult::Rejected { winner } => Some((winner, 0)),
                WriteResult::Missing => None,
            };
            if let Some((state, expires_at)) = stored {
                if let Err(err) = cache.put(&update.key, state, expires_at, update.now).await {
                    tracing::warn!(error = %err, "cache update failed; it catches up on the next write or after its TTL");
                }
            }
        }
        Ok(result)
    }

    async fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> Result<Option<PlaybackState>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.inner.get(key, now).await;
        };
        match cache.get(key, now).await {
            Ok(Some(state)) => return Ok(Some(state)),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "cache read failed; reading the database"),
        }
        let state = self.inner.get(key, now).await?;
        if let Some(state) = &state {
            if let Err(err) = cache.put(key, state, 0, now).await {
                tracing::warn!(error = %err, "cache repopulation failed");
            }
        }
        Ok(state)
    }

    fn list(
        &self,
        profile: &ProfileKey,
        now: Stamp,
    ) -> impl Future<Output = Result<Vec<(VideoId, PlaybackState)>, StoreError>> + Send {
        self.inner.list(profile, now)
    }

    fn batch_get(
        &self,
        profile: &ProfileKey,
        videos: &[VideoId],
        now: Stamp,
    ) -> impl Future<Output = Result<Vec<(VideoId, PlaybackState)>, StoreError>> + Send {
        self.inner.batch_get(profile, videos, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_state_round_trips() {
        let state = PlaybackState {
            position: Position::from_seconds(1200.5).unwrap(),
            duration: Some(Position::from_seconds(3600.0).unwrap()),
            hidden: true,
            origin: Origin {
                device: DeviceId::parse("tv").unwrap(),
                seq: Seq::new(42).unwrap(),
                updated_at: Stamp::from_millis(1_796_418_552_345),
            },
        };
        assert_eq!(decode(&encode(&state)), Some(state.clone()));
        let no_duration = PlaybackState {
            duration: None,
            ..state
        };
        assert_eq!(decode(&encode(&no_duration)), Some(no_duration));
        assert_eq!(decode("{}"), None);
        assert_eq!(decode("not json"), None);
    }

    #[test]
    fn keys_keep_a_profile_in_one_cluster_slot() {
        let key = PlaybackKey {
            account: crate::domain::AccountId::parse("a").unwrap(),
            profile: crate::domain::ProfileId::parse("p").unwrap(),
            video: VideoId::parse("v").unwrap(),
        };
        assert_eq!(cache_key(&key), "playback:{a#p}:v");
    }
}
