//! "Latest progress wins" under skewed clocks, retries, reordering, offline devices and concurrency,
//! against DynamoDB Local. Each test names the property (README, "Conflict rules") it pins.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::StatusCode;
use playback::domain::{
    AccountId, Change, PlaybackKey, PlaybackState, PlaybackUpdate, Position, ProfileId, Rules,
    Stamp, VideoId,
};
use playback::store::{MemoryStore, PlaybackStore};
use playback::App;
use playback_tests::{
    get_resume, json_body, now_millis, post_update, report_at, update_body, TestClock, TestTable,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const QUERY: &str = "account_id=acct-1&profile_id=alice&video_id=tt0111161";

fn app_at(table: &TestTable, clock: &Arc<TestClock>) -> App<playback::store::DynamoStore> {
    table.app().with_clock(clock.clone())
}

async fn send(app: &App<playback::store::DynamoStore>, overrides: Value) -> Value {
    let response = app.update(post_update(&update_body(overrides))).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_body(&response)
}

async fn resumed(app: &App<playback::store::DynamoStore>) -> Value {
    json_body(&app.resume(get_resume(QUERY)).await)["playback"].clone()
}

// Property 1: ordering never depends on a device's wall clock.
#[tokio::test]
async fn device_clock_hours_ahead_neither_blocks_others_nor_wins_by_it() {
    let table = TestTable::new().await;
    let clock = TestClock::at(now_millis());
    let app = app_at(&table, &clock);
    // The TV's clock is 5 hours ahead and it says so; the service does not read device time at all.
    let tv_says = json!({ "device_id": "tv", "seq": 1, "position": 600, "updated_at": "2099-01-01T00:00:00Z",
                          "client_time_ms": 4_070_908_800_000u64 });
    assert_eq!(send(&app, tv_says).await["applied"], true);
    clock.advance(10_000);
    let phone = send(
        &app,
        json!({ "device_id": "phone", "seq": 1, "position": 900 }),
    )
    .await;
    assert_eq!(
        phone["applied"], true,
        "a fast device clock must not block the phone"
    );
    clock.advance(10_000);
    // A TV whose clock runs hours behind still moves the position when it reports later.
    let tv_later = send(
        &app,
        json!({ "device_id": "tv", "seq": 2, "position": 1000, "client_time_ms": 0 }),
    )
    .await;
    assert_eq!(
        tv_later["applied"], true,
        "a slow device clock must not lose the TV's progress"
    );
    assert_eq!(resumed(&app).await["position"], 1000.0);
}

// Property 2: a retried or delayed request never overwrites a newer update of the same device,
// even when another device wrote in between.
#[tokio::test]
async fn delayed_request_of_same_device_never_overwrites_its_newer_update() {
    let table = TestTable::new().await;
    let clock = TestClock::at(now_millis());
    let app = app_at(&table, &clock);
    send(
        &app,
        json!({ "device_id": "tv", "seq": 7, "position": 700 }),
    )
    .await;
    clock.advance(1_000);
    send(
        &app,
        json!({ "device_id": "phone", "seq": 3, "position": 800 }),
    )
    .await;
    clock.advance(1_000);
    // The TV's seq 6 was stuck in a queue; it arrives last, stamped later than everything.
    let late = send(
        &app,
        json!({ "device_id": "tv", "seq": 6, "position": 100 }),
    )
    .await;
    assert_eq!(late["applied"], false);
    assert_eq!(
        late["playback"]["device_id"], "phone",
        "the winner comes back with the rejection"
    );
    assert_eq!(resumed(&app).await["position"], 800.0);
    clock.advance(1_000);
    assert_eq!(
        send(
            &app,
            json!({ "device_id": "tv", "seq": 8, "position": 900 })
        )
        .await["applied"],
        true
    );
}

// Property 2, other device: a retry that recomputes age_ms keeps its original place in time.
#[tokio::test]
async fn retried_request_never_overwrites_a_newer_update_from_another_device() {
    let table = TestTable::new().await;
    let clock = TestClock::at(now_millis());
    let app = app_at(&table, &clock);
    // The phone records 300 s at t; its request times out client-side and is retried 8 s later.
    clock.advance(5_000);
    send(
        &app,
        json!({ "device_id": "tv", "seq": 1, "position": 500 }),
    )
    .await; // t + 5 s
    clock.advance(3_000);
    let retry = send(
        &app,
        json!({ "device_id": "phone", "seq": 1, "position": 300, "age_ms": 8_000 }),
    )
    .await;
    assert_eq!(retry["applied"], false);
    assert_eq!(resumed(&app).await["device_id"], "tv");
}

// Property 3: offline reports are ordered by when they happened, without the device's wall clock.
#[tokio::test]
async fn offline_report_sent_later_is_ordered_by_when_it_happened() {
    let table = TestTable::new().await;
    let clock = TestClock::at(now_millis());
    let app = app_at(&table, &clock);
    // The phone watched live 10 minutes ago; the TV watched offline 30 minutes ago and syncs now.
    clock.advance(20 * 60_000);
    send(
        &app,
        json!({ "device_id": "phone", "seq": 1, "position": 2000 }),
    )
    .await;
    clock.advance(10 * 60_000);
    let tv = send(
        &app,
        json!({ "device_id": "tv", "seq": 1, "position": 900, "age_ms": 30 * 60_000 }),
    )
    .await;
    assert_eq!(
        tv["applied"], false,
        "older offline progress must not replace newer live progress"
    );
    // An offline session that ended 5 minutes ago is newer than the phone's and wins.
    let tv = send(
        &app,
        json!({ "device_id": "tv", "seq": 2, "position": 2400, "age_ms": 5 * 60_000 }),
    )
    .await;
    assert_eq!(tv["applied"], true);
    let stored = resumed(&app).await;
    assert_eq!(stored["position"], 2400.0);
    let five_minutes_ago = Stamp::from_millis(clock_millis(&clock) - 5 * 60_000).to_string();
    assert_eq!(
        stored["updated_at"], five_minutes_ago,
        "stamped when it happened, not when it arrived"
    );
}

fn clock_millis(clock: &TestClock) -> u64 {
    use playback::domain::Clock;
    clock.now().millis()
}

#[tokio::test]
async fn offline_age_cannot_reach_back_past_the_bound() {
    let table = TestTable::new().await;
    let clock = TestClock::at(now_millis());
    let rules = Rules {
        max_offline_age: Duration::from_secs(3600),
        ..Rules::default()
    };
    let app = App::new(table.store(), rules).with_clock(clock.clone());
    clock.advance(3 * 3_600_000);
    send(
        &app,
        json!({ "device_id": "phone", "seq": 1, "position": 100, "age_ms": 90 * 60_000 }),
    )
    .await;
    // Both claim more than the 1 h bound and are placed exactly 1 h ago: equal stamps never overwrite.
    let capped = send(
        &app,
        json!({ "device_id": "tv", "seq": 1, "position": 200, "age_ms": 36_000_000 }),
    )
    .await;
    assert_eq!(capped["applied"], false);
    clock.advance(1);
    let capped = send(
        &app,
        json!({ "device_id": "tv", "seq": 2, "position": 200, "age_ms": 36_000_000 }),
    )
    .await;
    assert_eq!(
        capped["applied"], true,
        "placed at now - 1 h, after the phone's now - 1 h - 1 ms"
    );
    let stamp = Stamp::from_millis(clock_millis(&clock) - 3_600_000).to_string();
    assert_eq!(resumed(&app).await["updated_at"], stamp);
}

// Property 4: strictly increasing stamps per item, even across instances with skewed clocks.
#[tokio::test]
async fn same_stamp_is_never_written_twice_even_from_two_instances() {
    let table = TestTable::new().await;
    let t = now_millis();
    // Two Lambda instances whose clocks read the same millisecond for different reports.
    let instance_a = app_at(&table, &TestClock::at(t));
    let instance_b = app_at(&table, &TestClock::at(t));
    assert_eq!(
        send(&instance_a, json!({ "device_id": "tv", "seq": 1 })).await["applied"],
        true
    );
    let b = send(
        &instance_b,
        json!({ "device_id": "phone", "seq": 1, "position": 5 }),
    )
    .await;
    assert_eq!(b["applied"], false, "an equal stamp must not overwrite");
    // Instance B's clock is 3 ms behind: its report is older by server time and is rejected too.
    let behind = app_at(&table, &TestClock::at(t - 3));
    assert_eq!(
        send(&behind, json!({ "device_id": "phone", "seq": 2 })).await["applied"],
        false
    );
}

#[tokio::test]
async fn concurrent_instances_with_skewed_clocks_store_strictly_increasing_stamps() {
    let table = TestTable::new().await;
    let t = now_millis();
    let mut tasks = Vec::new();
    for (i, skew) in [0u64, 2, 5, 1].into_iter().enumerate() {
        let clock = TestClock::at(t + skew);
        let app = Arc::new(app_at(&table, &clock));
        tasks.push(tokio::spawn(async move {
            let mut applied = Vec::new();
            for seq in 1..=15u64 {
                clock.advance(1 + (seq * 7 + i as u64) % 3);
                let body = send(&app, json!({ "device_id": format!("dev-{i}"), "seq": seq })).await;
                if body["applied"] == true {
                    applied.push(body["playback"]["updated_at"].as_str().unwrap().to_owned());
                }
            }
            applied
        }));
    }
    let mut stamps = Vec::new();
    for task in tasks {
        stamps.extend(task.await.unwrap());
    }
    let unique: std::collections::HashSet<_> = stamps.iter().collect();
    assert_eq!(
        unique.len(),
        stamps.len(),
        "a stamp was written twice: {stamps:?}"
    );
    let stored = table.app().resume(get_resume(QUERY)).await;
    let final_stamp = json_body(&stored)["playback"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        Some(&final_stamp),
        stamps.iter().max(),
        "the stored stamp is the greatest applied"
    );
}

// Property 6: exactly one conditional write per update, no read before it, none after a rejection.
#[tokio::test]
async fn one_round_trip_per_update_applied_or_rejected() {
    let table = TestTable::new().await;
    let (store, trips) = table.counted_store();
    let clock = TestClock::at(now_millis());
    let app = App::new(store, Rules::default()).with_clock(clock.clone());
    send(&app, json!({ "device_id": "tv", "seq": 2 })).await;
    assert_eq!(trips.take(), ["UpdateItem"]);
    clock.advance(10);
    let rejected = send(&app, json!({ "device_id": "tv", "seq": 1 })).await;
    assert_eq!(rejected["applied"], false);
    assert_eq!(
        rejected["playback"]["seq"], 2,
        "the winner arrived with the rejection"
    );
    assert_eq!(trips.take(), ["UpdateItem"]);
    app.resume(get_resume(QUERY)).await;
    assert_eq!(trips.take(), ["GetItem"]);
}

// Property 5: N writers on one item from several devices with random delays end with the winner
// the rules name, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_always_leave_the_latest_update() {
    let table = TestTable::new().await;
    let store = Arc::new(table.store());
    let base = now_millis();
    let key = key();
    for round in 0..5u64 {
        // 4 devices x 12 reports, stamps unique and rising with each device's seq; retries of earlier
        // reports (same seq, same recomputed stamp) are mixed in and sent out of order.
        let mut reports = Vec::new();
        for device in 0..4u64 {
            // Devices keep counting across rounds: a seq once stored for a device is used up.
            for seq in round * 12 + 1..=round * 12 + 12 {
                let stamp = base + seq * 40 + device * 7 + (seq * device) % 5;
                let update = report_at(
                    &key,
                    &format!("dev-{device}"),
                    seq,
                    stamp,
                    (stamp % 7_000) as f64,
                );
                reports.push(update.clone());
                if seq % 4 == 0 {
                    reports.push(update);
                }
            }
        }
        let expected = reported(reports.iter().max_by_key(|u| u.origin.updated_at).unwrap());
        let mut tasks = Vec::new();
        for (i, update) in reports.into_iter().enumerate() {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros(
                    (i as u64 * 7_919 + round * 31) % 3_000,
                ))
                .await;
                store.apply(&update).await.unwrap()
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let stored = store.get(&key, Stamp::from_millis(base)).await.unwrap();
        assert_eq!(stored, Some(expected), "round {round}");
    }
}

fn key() -> PlaybackKey {
    PlaybackKey {
        account: AccountId::parse("acct-1").unwrap(),
        profile: ProfileId::parse("alice").unwrap(),
        video: VideoId::parse("tt0111161").unwrap(),
    }
}

/// The state a position report stores when nothing else was stored before.
fn reported(update: &PlaybackUpdate) -> PlaybackState {
    let Change::Report { position, duration } = update.change else {
        panic!("not a report")
    };
    PlaybackState {
        position,
        duration,
        hidden: false,
        origin: update.origin.clone(),
    }
}

/// One report in a generated history: which device, its seq, when (offsets in ms) and lifetime.
#[derive(Debug, Clone)]
struct Op {
    device: usize,
    seq: u64,
    stamp_offset: u64,
    now_offset: u64,
    lifetime_s: u64,
    /// 0-5: a report (with a duration when even), 6: remove, 7: unwatch.
    kind: u8,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..3usize,
        1..6u64,
        0..20_000u64,
        0..5_000u64,
        prop_oneof![Just(3u64), Just(3600u64)],
        0..8u8,
    )
        .prop_map(|(device, seq, stamp_offset, lag, lifetime_s, kind)| Op {
            device,
            seq,
            stamp_offset,
            now_offset: stamp_offset + lag,
            lifetime_s,
            kind,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random interleavings of reports, removals and unwatches (duplicates, stale seqs, equal stamps,
    /// expiries) give the same answers and states from DynamoDB as from the reference store, which
    /// applies `ordering::supersedes` directly.
    #[test]
    fn store_agrees_with_the_reference_model(ops in prop::collection::vec(op(), 1..24)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let table = TestTable::new().await;
            let store = table.store();
            let key = key();
            let base = now_millis() - 60_000;
            let reference = MemoryStore::new();
            for op in &ops {
                let mut update = report_at(&key, ["tv", "phone", "tablet"][op.device], op.seq,
                    base + op.stamp_offset, (op.stamp_offset % 5_000) as f64);
                update.now = Stamp::from_millis(base + op.now_offset);
                update.change = match op.kind {
                    6 => Change::Remove,
                    7 => Change::Unwatch,
                    k => Change::Report {
                        position: Position::from_seconds((op.stamp_offset % 5_000) as f64).unwrap(),
                        duration: (k % 2 == 0).then(|| Position::from_seconds(5_000.0 + f64::from(k)).unwrap()),
                    },
                };
                update.expires_at = (base + op.now_offset) / 1000 + op.lifetime_s;
                let expected = reference.apply_now(&update);
                let actual = store.apply(&update).await.unwrap();
                prop_assert_eq!(actual, expected, "op {:?}", op);
            }
            for live_at in [base + 10_000, base + 30_000].map(Stamp::from_millis) {
                prop_assert_eq!(store.get(&key, live_at).await.unwrap(), reference.get(&key, live_at).await.unwrap());
                let profile = key.profile_key();
                prop_assert_eq!(store.list(&profile, live_at).await.unwrap(), reference.list(&profile, live_at).await.unwrap());
            }
            Ok(())
        })?;
    }
}
