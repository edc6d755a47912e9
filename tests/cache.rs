//! The optional read cache against a real redis-server and DynamoDB Local: reads served from the
//! cache, misses repopulated, writes moving it forward only, and a cache that is down, slow or wrong
//! never failing a request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use playback::domain::{
    AccountId, Change, PlaybackKey, PlaybackState, PlaybackUpdate, ProfileId, ProfileKey, Rules,
    Stamp, VideoId,
};
use playback::store::{
    CacheSettings, CachedStore, DynamoStore, PlaybackStore, StoreError, WriteResult,
};
use playback::App;
use playback_tests::{
    get_resume, json_body, now_millis, post_update, redis_url, report_at, silent_address,
    update_body, RoundTrips, TestTable,
};
use serde_json::json;
use tokio::sync::Notify;

fn settings(url: &str) -> CacheSettings {
    CacheSettings {
        url: url.to_owned(),
        timeout: Duration::from_millis(200),
        ttl: Duration::from_secs(60),
    }
}

/// A cached store over a counted DynamoDB store, with a key prefix of its own (a fresh table name).
fn cached(table: &TestTable) -> (CachedStore<DynamoStore>, RoundTrips) {
    let (store, trips) = table.counted_store();
    (
        CachedStore::with_cache(store, settings(&redis_url())).unwrap(),
        trips,
    )
}

fn key(table: &TestTable, video: &str) -> PlaybackKey {
    // Each test's table name makes its keys unique in the shared redis-server.
    PlaybackKey {
        account: AccountId::parse(&table.name).unwrap(),
        profile: ProfileId::parse("alice").unwrap(),
        video: VideoId::parse(video).unwrap(),
    }
}

fn now() -> Stamp {
    Stamp::from_millis(now_millis())
}

/// The position (seconds) `store` resumes `key` from now; panics if there is none.
async fn seconds_at(store: &impl PlaybackStore, key: &PlaybackKey) -> f64 {
    store
        .get(key, now())
        .await
        .unwrap()
        .expect("a saved position")
        .position
        .seconds()
}

#[tokio::test]
async fn written_state_is_served_from_the_cache_without_a_database_read() {
    let table = TestTable::new().await;
    let (store, trips) = cached(&table);
    let k = key(&table, "v1");
    let t = now_millis();
    store
        .apply(&report_at(&k, "tv", 1, t, 600.0))
        .await
        .unwrap();
    assert_eq!(trips.take(), ["UpdateItem"]);
    let state = store.get(&k, now()).await.unwrap().unwrap();
    assert_eq!(state.position.seconds(), 600.0);
    assert_eq!(
        trips.take(),
        Vec::<String>::new(),
        "a hit does not touch DynamoDB"
    );
}

#[tokio::test]
async fn miss_reads_the_database_once_and_repopulates() {
    let table = TestTable::new().await;
    let k = key(&table, "v1");
    table
        .store()
        .apply(&report_at(&k, "tv", 1, now_millis(), 700.0))
        .await
        .unwrap(); // bypasses the cache
    let (store, trips) = cached(&table);
    assert_eq!(seconds_at(&store, &k).await, 700.0);
    assert_eq!(trips.take(), ["GetItem"]);
    assert_eq!(seconds_at(&store, &k).await, 700.0);
    assert_eq!(trips.take(), Vec::<String>::new());
    assert_eq!(store.get(&key(&table, "never"), now()).await.unwrap(), None);
}

#[tokio::test]
async fn cached_reads_follow_every_accepted_write_and_ignore_rejected_ones() {
    let table = TestTable::new().await;
    let (store, _) = cached(&table);
    let plain = table.store();
    let k = key(&table, "v1");
    let t = now_millis();
    let steps = [
        report_at(&k, "tv", 1, t, 100.0),
        report_at(&k, "phone", 1, t + 10, 200.0),
        report_at(&k, "tv", 2, t + 5, 50.0), // older by stamp: rejected
        report_at(&k, "tv", 1, t + 20, 10.0), // stale seq of the tv: rejected
        report_at(&k, "tv", 3, t + 30, 300.0),
    ];
    for update in &steps {
        store.apply(update).await.unwrap();
        assert_eq!(
            store.get(&k, now()).await.unwrap(),
            plain.get(&k, now()).await.unwrap()
        );
    }
    let mut remove = report_at(&k, "phone", 2, t + 40, 0.0);
    remove.change = Change::Remove;
    store.apply(&remove).await.unwrap();
    assert!(
        store.get(&k, now()).await.unwrap().unwrap().hidden,
        "a removal reaches the cache too"
    );
}

/// A store whose reads fetch the database, then wait for a signal before answering: a slow
/// (or eventually consistent) read that returns after a newer write has landed.
struct LateReads {
    inner: DynamoStore,
    release: Arc<Notify>,
}

impl PlaybackStore for LateReads {
    async fn apply(&self, update: &PlaybackUpdate) -> Result<WriteResult, StoreError> {
        self.inner.apply(update).await
    }
    async fn get(
        &self,
        key: &PlaybackKey,
        now: Stamp,
    ) -> Result<Option<PlaybackState>, StoreError> {
        let state = self.inner.get(key, now).await;
        self.release.notified().await;
        state
    }
    async fn list(
        &self,
        p: &ProfileKey,
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        self.inner.list(p, now).await
    }
    async fn batch_get(
        &self,
        p: &ProfileKey,
        v: &[VideoId],
        now: Stamp,
    ) -> Result<Vec<(VideoId, PlaybackState)>, StoreError> {
        self.inner.batch_get(p, v, now).await
    }
}

#[tokio::test]
async fn a_late_repopulation_never_replaces_a_newer_cached_state() {
    let table = TestTable::new().await;
    let k = key(&table, "v1");
    let t = now_millis();
    table
        .store()
        .apply(&report_at(&k, "tv", 1, t, 100.0))
        .await
        .unwrap();
    let release = Arc::new(Notify::new());
    let late = LateReads {
        inner: table.store(),
        release: release.clone(),
    };
    let reader = Arc::new(CachedStore::with_cache(late, settings(&redis_url())).unwrap());
    let writer = CachedStore::with_cache(table.store(), settings(&redis_url())).unwrap();

    // The reader misses the cache and reads 100 s from DynamoDB, but answers late...
    let pending = {
        let reader = Arc::clone(&reader);
        let k = k.clone();
        tokio::spawn(async move { reader.get(&k, Stamp::from_millis(t + 1)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...after the phone's newer report went to DynamoDB and the cache.
    writer
        .apply(&report_at(&k, "phone", 1, t + 50, 900.0))
        .await
        .unwrap();
    release.notify_one();
    let stale = pending.await.unwrap().unwrap().unwrap();
    assert_eq!(
        stale.position.seconds(),
        100.0,
        "the reader answers what it read"
    );
    let cached = writer.get(&k, now()).await.unwrap().unwrap();
    assert_eq!(
        cached.position.seconds(),
        900.0,
        "the older state did not overwrite the newer one"
    );
}

#[tokio::test]
async fn expired_entries_are_not_served_from_the_cache() {
    let table = TestTable::new().await;
    let (store, _) = cached(&table);
    let k = key(&table, "v1");
    let t = now_millis();
    let mut short = report_at(&k, "tv", 1, t, 100.0);
    short.expires_at = t / 1000 + 5;
    store.apply(&short).await.unwrap();
    assert!(store
        .get(&k, Stamp::from_millis(t + 1_000))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.get(&k, Stamp::from_millis(t + 6_000)).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_cache_that_is_down_or_hung_never_fails_a_request() {
    let table = TestTable::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("redis://127.0.0.1:{closed}"),
        format!("redis://{}", silent_address().await),
    ] {
        let store = CachedStore::with_cache(table.store(), settings(&url)).unwrap();
        store.warm_up().await;
        let app = App::new(store, Rules::default());
        let started = Instant::now();
        let written = app
            .update(post_update(&update_body(json!({ "seq": now_millis() }))))
            .await;
        assert_eq!(written.status(), StatusCode::OK, "{url}");
        let read = app
            .resume(get_resume(
                "account_id=acct-1&profile_id=alice&video_id=tt0111161",
            ))
            .await;
        assert_eq!(read.status(), StatusCode::OK, "{url}");
        assert_eq!(json_body(&read)["playback"]["position"], 1200.5);
        // Bounded by the cache budget (200 ms a call), not hung (slack for a busy CI host).
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn garbage_in_the_cache_falls_back_to_the_database() {
    let table = TestTable::new().await;
    let k = key(&table, "v1");
    table
        .store()
        .apply(&report_at(&k, "tv", 1, now_millis(), 321.0))
        .await
        .unwrap();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let cache_key = format!("playback:{{{}}}:{}", k.partition_key(), k.video);
    redis::cmd("HSET")
        .arg(&cache_key)
        .arg("stamp")
        .arg(1)
        .arg("state")
        .arg("{not json")
        .arg("expires_at")
        .arg(0)
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
    let (store, trips) = cached(&table);
    assert_eq!(seconds_at(&store, &k).await, 321.0);
    assert_eq!(trips.take(), ["GetItem"]);
    assert_eq!(seconds_at(&store, &k).await, 321.0);
    assert_eq!(
        trips.take(),
        Vec::<String>::new(),
        "the repopulation replaced the garbage"
    );
}

#[tokio::test]
async fn handlers_resume_through_the_cache() {
    let table = TestTable::new().await;
    let (store, trips) = cached(&table);
    let app = App::new(store, Rules::default());
    let body = update_body(json!({ "account_id": "acct-1", "seq": now_millis() }));
    assert_eq!(
        app.update(post_update(&body)).await.status(),
        StatusCode::OK
    );
    trips.take();
    for _ in 0..3 {
        let read = app
            .resume(get_resume(
                "account_id=acct-1&profile_id=alice&video_id=tt0111161",
            ))
            .await;
        assert_eq!(json_body(&read)["playback"]["position"], 1200.5);
    }
    assert_eq!(
        trips.take(),
        Vec::<String>::new(),
        "three resumes, no DynamoDB read"
    );
}
