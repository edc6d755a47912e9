//! DynamoStore against DynamoDB Local: the conditional write, the winner returned on rejection, TTL,
//! per-profile isolation and failure modes.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use playback::domain::{
    AccountId, Change, DeviceId, Origin, PlaybackKey, PlaybackState, PlaybackUpdate, Position,
    ProfileId, Seq, Stamp, VideoId,
};
use playback::store::{PlaybackStore, StoreError, WriteResult};
use playback_tests::{now_millis, silent_address, store_at, TestTable};

fn key(account: &str, profile: &str, video: &str) -> PlaybackKey {
    PlaybackKey {
        account: AccountId::parse(account).unwrap(),
        profile: ProfileId::parse(profile).unwrap(),
        video: VideoId::parse(video).unwrap(),
    }
}

fn state(device: &str, seq: u64, at: u64, seconds: f64) -> PlaybackState {
    PlaybackState {
        position: Position::from_seconds(seconds).unwrap(),
        duration: None,
        hidden: false,
        origin: Origin {
            device: DeviceId::parse(device).unwrap(),
            seq: Seq::new(seq).unwrap(),
            updated_at: Stamp::from_millis(at),
        },
    }
}

/// A position report of `state`, written at server time `state.updated_at`, that lives for a day.
fn update(key: &PlaybackKey, state: PlaybackState) -> PlaybackUpdate {
    let at = state.origin.updated_at;
    PlaybackUpdate {
        key: key.clone(),
        origin: state.origin,
        change: Change::Report {
            position: state.position,
            duration: state.duration,
        },
        now: at,
        expires_at: at.saturating_add_millis(86_400_000).epoch_seconds(),
    }
}

fn applied(state: PlaybackState) -> WriteResult {
    WriteResult::Applied { state }
}

fn now() -> Stamp {
    Stamp::from_millis(now_millis())
}

#[tokio::test]
async fn first_update_creates_the_item() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    assert_eq!(
        store
            .apply(&update(&k, state("tv", 1, t, 1200.0)))
            .await
            .unwrap(),
        applied(state("tv", 1, t, 1200.0))
    );
    assert_eq!(
        store.get(&k, now()).await.unwrap(),
        Some(state("tv", 1, t, 1200.0))
    );
}

#[tokio::test]
async fn item_is_keyed_by_account_and_profile_then_video() {
    let table = TestTable::new().await;
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    table
        .store()
        .apply(&update(&k, state("tv", 1, t, 5.0)))
        .await
        .unwrap();
    let item = table
        .raw_item("acct#alice", "v1")
        .await
        .expect("item under the documented key");
    assert_eq!(item["position_ms"], AttributeValue::N("5000".into()));
    assert_eq!(item["updated_at"], AttributeValue::N(t.to_string()));
    assert_eq!(item["device_id"], AttributeValue::S("tv".into()));
}

#[tokio::test]
async fn newer_update_from_other_device_wins() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    store
        .apply(&update(&k, state("tv", 1, t, 100.0)))
        .await
        .unwrap();
    let phone = state("phone", 1, t + 1, 250.0);
    assert_eq!(
        store.apply(&update(&k, phone.clone())).await.unwrap(),
        applied(phone.clone())
    );
    assert_eq!(store.get(&k, now()).await.unwrap(), Some(phone));
}

#[tokio::test]
async fn stale_write_from_other_device_is_rejected_with_the_winner() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    let winner = state("tv", 1, t, 100.0);
    store.apply(&update(&k, winner.clone())).await.unwrap();
    let stale = update(&k, state("phone", 1, t - 1, 50.0));
    assert_eq!(
        store.apply(&stale).await.unwrap(),
        WriteResult::Rejected {
            winner: winner.clone()
        }
    );
    assert_eq!(store.get(&k, now()).await.unwrap(), Some(winner));
}

#[tokio::test]
async fn profiles_of_one_account_keep_separate_positions() {
    let table = TestTable::new().await;
    let store = table.store();
    let t = now_millis();
    let (a, b) = (key("acct", "a", "v1"), key("acct", "b", "v1"));
    store
        .apply(&update(&a, state("tv", 1, t, 1200.0)))
        .await
        .unwrap();
    store
        .apply(&update(&b, state("tv", 2, t + 1, 300.0)))
        .await
        .unwrap();
    assert_eq!(
        store
            .get(&a, now())
            .await
            .unwrap()
            .unwrap()
            .position
            .seconds(),
        1200.0
    );
    assert_eq!(
        store
            .get(&b, now())
            .await
            .unwrap()
            .unwrap()
            .position
            .seconds(),
        300.0
    );
    assert_eq!(
        store.get(&key("other", "a", "v1"), now()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn every_write_refreshes_the_ttl_attribute() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    let mut first = update(&k, state("tv", 1, t, 1.0));
    first.expires_at = t / 1000 + 100;
    store.apply(&first).await.unwrap();
    let mut second = update(&k, state("tv", 2, t + 5000, 2.0));
    second.expires_at = t / 1000 + 500;
    store.apply(&second).await.unwrap();
    let item = table.raw_item("acct#alice", "v1").await.unwrap();
    assert_eq!(
        item["expires_at"],
        AttributeValue::N((t / 1000 + 500).to_string())
    );
}

#[tokio::test]
async fn table_has_ttl_enabled_on_expires_at() {
    let table = TestTable::new().await;
    let ttl = table
        .client
        .describe_time_to_live()
        .table_name(&table.name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(
        ttl.time_to_live_status().map(|s| s.as_str()),
        Some("ENABLED")
    );
}

#[tokio::test]
async fn expired_item_reads_as_absent_before_dynamodb_deletes_it() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    let mut short_lived = update(&k, state("tv", 1, t, 1.0));
    short_lived.expires_at = t / 1000 + 10;
    store.apply(&short_lived).await.unwrap();
    assert!(store
        .get(&k, Stamp::from_millis(t + 9_000))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.get(&k, Stamp::from_millis(t + 10_000)).await.unwrap(),
        None
    );
    assert!(
        table.raw_item("acct#alice", "v1").await.is_some(),
        "still physically present"
    );
}

#[tokio::test]
async fn write_over_an_expired_item_is_applied_even_if_older() {
    let table = TestTable::new().await;
    let store = table.store();
    let k = key("acct", "alice", "v1");
    let t = now_millis();
    let mut expired = update(&k, state("tv", 9, t, 1.0));
    expired.expires_at = t / 1000 - 1;
    store.apply(&expired).await.unwrap();
    // An offline report from before the expired entry's stamp: the expired entry no longer counts.
    let mut late = update(&k, state("phone", 1, t - 60_000, 42.0));
    late.now = Stamp::from_millis(t);
    assert!(matches!(
        store.apply(&late).await.unwrap(),
        WriteResult::Applied { .. }
    ));
    assert_eq!(
        store
            .get(&k, now())
            .await
            .unwrap()
            .unwrap()
            .position
            .seconds(),
        42.0
    );
}

#[tokio::test]
async fn corrupt_item_is_reported_not_guessed() {
    let table = TestTable::new().await;
    table
        .client
        .put_item()
        .table_name(&table.name)
        .item("pk", AttributeValue::S("acct#alice".into()))
        .item("sk", AttributeValue::S("v1".into()))
        .item("position_ms", AttributeValue::S("not a number".into()))
        .item("expires_at", AttributeValue::N("99999999999".into()))
        .send()
        .await
        .unwrap();
    let err = table
        .store()
        .get(&key("acct", "alice", "v1"), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn missing_table_is_unavailable() {
    let table = TestTable::new().await;
    let store = table.store_for_table("no-such-table");
    let err = store.get(&key("a", "b", "c"), now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store
        .apply(&update(
            &key("a", "b", "c"),
            state("tv", 1, now_millis(), 1.0),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn hung_database_times_out_within_the_budget() {
    let budget = Duration::from_millis(300);
    let store = store_at(
        &format!("http://{}", silent_address().await),
        "t",
        budget,
        budget,
    )
    .await;
    let started = std::time::Instant::now();
    let err = store.get(&key("a", "b", "c"), now()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Timeout(b) if b == budget),
        "{err:?}"
    );
    let err = store
        .apply(&update(
            &key("a", "b", "c"),
            state("tv", 1, now_millis(), 1.0),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Timeout(_)), "{err:?}");
    // Bounded by the budget, not by the SDK's own retry schedule (generous slack for a busy CI host).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unreachable_database_fails_fast() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = store_at(
        &format!("http://127.0.0.1:{port}"),
        "t",
        Duration::from_secs(2),
        Duration::from_secs(2),
    )
    .await;
    let err = store.get(&key("a", "b", "c"), now()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(_) | StoreError::Timeout(_)),
        "{err:?}"
    );
}
