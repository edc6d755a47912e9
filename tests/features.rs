//! What player apps expect beyond one position: duration and completion, continue watching with
//! pagination, batch lookups, remove and unwatch, and resume guardrails. Through both handlers with
//! real API Gateway events, against DynamoDB Local.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::StatusCode;
use playback::domain::Rules;
use playback::store::DynamoStore;
use playback::App;
use playback_tests::{
    apigw_event_json, json_body, now_millis, request_from_event, TestClock, TestTable,
};
use serde_json::{json, Value};

type TestApp = App<DynamoStore>;

const PROFILE: &str = "account_id=acct-1&profile_id=alice";

fn body(video: &str, device: &str, seq: u64, extra: Value) -> Value {
    let mut body = json!({
        "account_id": "acct-1", "profile_id": "alice", "video_id": video, "device_id": device, "seq": seq
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Sends a write (`update`, `remove`, `unwatch`) and returns status and JSON body.
async fn write(app: &TestApp, route: &str, body: Value) -> (StatusCode, Value) {
    let event = apigw_event_json(
        "POST",
        &format!("/playback/{route}"),
        "",
        &[],
        Some(&body.to_string()),
    );
    let response = app.update(request_from_event(&event)).await;
    (response.status(), json_body(&response))
}

async fn report(
    app: &TestApp,
    video: &str,
    device: &str,
    seq: u64,
    position: f64,
    duration: Option<f64>,
) -> Value {
    let mut extra = json!({ "position": position });
    if let Some(duration) = duration {
        extra["duration"] = duration.into();
    }
    let (status, body) = write(app, "update", body(video, device, seq, extra)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn resume(app: &TestApp, query: &str) -> (StatusCode, Value) {
    let event = apigw_event_json("GET", "/playback/resume", query, &[], None);
    let response = app.resume(request_from_event(&event)).await;
    (response.status(), json_body(&response))
}

async fn batch(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let event = apigw_event_json(
        "POST",
        "/playback/resume/batch",
        "",
        &[],
        Some(&body.to_string()),
    );
    let response = app.resume(request_from_event(&event)).await;
    (response.status(), json_body(&response))
}

fn videos(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["video_id"].as_str().unwrap().to_owned())
        .collect()
}

fn clocked(table: &TestTable) -> (TestApp, Arc<TestClock>) {
    let clock = TestClock::at(now_millis());
    (table.app().with_clock(clock.clone()), clock)
}

#[tokio::test]
async fn duration_is_kept_and_percent_reported() {
    let table = TestTable::new().await;
    let app = table.app();
    let first = report(&app, "v1", "tv", 1, 1200.0, Some(3600.0)).await;
    let playback = &first["playback"];
    assert_eq!(
        (
            &playback["duration"],
            &playback["percent"],
            &playback["status"],
            &playback["resume_from"]
        ),
        (
            &json!(3600.0),
            &json!(33.3),
            &json!("in_progress"),
            &json!(1200.0)
        )
    );
    // A report without duration keeps the stored one, in the write's answer and in resume.
    let second = report(&app, "v1", "phone", 1, 1800.0, None).await;
    assert_eq!(second["playback"]["duration"], 3600.0);
    assert_eq!(second["playback"]["percent"], 50.0);
    let (_, resumed) = resume(&app, &format!("{PROFILE}&video_id=v1")).await;
    assert_eq!(resumed["playback"]["duration"], 3600.0);
    let (status, error) = write(
        &app,
        "update",
        body("v1", "tv", 2, json!({ "position": 1, "duration": -1 })),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("duration"))
    );
}

#[tokio::test]
async fn finished_video_resumes_from_start_and_unstarted_one_too() {
    let table = TestTable::new().await;
    let app = table.app();
    report(&app, "finished", "tv", 1, 3500.0, Some(3600.0)).await;
    report(&app, "barely", "tv", 2, 10.0, Some(3600.0)).await;
    let (_, finished) = resume(&app, &format!("{PROFILE}&video_id=finished")).await;
    let playback = &finished["playback"];
    assert_eq!(
        (&playback["status"], &playback["resume_from"]),
        (&json!("finished"), &json!(0.0))
    );
    assert_eq!(
        playback["position"], 3500.0,
        "the saved position itself is kept"
    );
    let (_, barely) = resume(&app, &format!("{PROFILE}&video_id=barely")).await;
    assert_eq!(
        (
            &barely["playback"]["status"],
            &barely["playback"]["resume_from"]
        ),
        (&json!("not_started"), &json!(0.0))
    );
}

#[tokio::test]
async fn continue_watching_lists_unfinished_most_recent_first_across_pages() {
    let table = TestTable::new().await;
    let (app, clock) = clocked(&table);
    // An entry written 200 days ago with the default 180-day retention is expired but still stored.
    clock.advance(0);
    let long_ago = TestClock::at(now_millis() - 200 * 86_400_000);
    report(
        &table.app().with_clock(long_ago),
        "expired",
        "tv",
        1,
        600.0,
        Some(3600.0),
    )
    .await;
    let mut expected = Vec::new();
    for i in 0..25u64 {
        clock.advance(1_000);
        let video = format!("v{i:02}");
        report(&app, &video, "tv", 10 + i, 600.0 + i as f64, Some(3600.0)).await;
        expected.insert(0, video);
    }
    clock.advance(1_000);
    report(&app, "finished", "tv", 100, 3590.0, Some(3600.0)).await;
    report(&app, "barely", "tv", 101, 3.0, Some(3600.0)).await;
    report(&app, "removed", "tv", 102, 900.0, Some(3600.0)).await;
    clock.advance(1_000);
    assert_eq!(
        write(&app, "remove", body("removed", "tv", 103, json!({})))
            .await
            .0,
        StatusCode::OK
    );
    let other = json!({ "account_id": "acct-1", "profile_id": "bob", "video_id": "bobs", "device_id": "tv",
                        "seq": 1, "position": 900 });
    assert_eq!(write(&app, "update", other).await.0, StatusCode::OK);

    let (trips_store, trips) = table.counted_store();
    let counted = App::new(trips_store, Rules::default()).with_clock(clock.clone());
    let mut seen = Vec::new();
    let mut query = format!("{PROFILE}&limit=10");
    let mut pages = 0;
    loop {
        let (status, page) = resume(&counted, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            trips.take(),
            ["Query"],
            "one Query per page for a small profile"
        );
        pages += 1;
        seen.extend(videos(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("{PROFILE}&limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, expected,
        "newest first, no gaps, no repeats, nothing finished/unstarted/removed/expired"
    );

    let (_, default_page) = resume(&app, PROFILE).await;
    assert_eq!(videos(&default_page).len(), 20, "default page size");
    let (_, empty) = resume(&app, "account_id=acct-1&profile_id=nobody").await;
    assert_eq!(empty, json!({ "items": [], "next_cursor": null }));
}

#[tokio::test]
async fn continue_watching_parameters_are_validated() {
    let table = TestTable::new().await;
    let app = table.app();
    for (query, field) in [
        ("&limit=0", "limit"),
        ("&limit=101", "limit"),
        ("&limit=ten", "limit"),
        ("&cursor=zz", "cursor"),
        ("&cursor=3a", "cursor"),
        ("&limit=5&limit=6", "limit"),
    ] {
        let (status, body) = resume(&app, &format!("{PROFILE}{query}")).await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (StatusCode::BAD_REQUEST, &json!(field)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn batch_lookup_returns_found_in_request_order_and_names_missing() {
    let table = TestTable::new().await;
    let app = table.app();
    let long_ago = TestClock::at(now_millis() - 200 * 86_400_000);
    report(
        &table.app().with_clock(long_ago),
        "expired",
        "tv",
        1,
        600.0,
        None,
    )
    .await;
    report(&app, "v1", "tv", 2, 100.0, None).await;
    report(&app, "v2", "tv", 3, 200.0, None).await;
    report(&app, "v3", "tv", 4, 3590.0, Some(3600.0)).await;
    let bobs = json!({ "account_id": "acct-1", "profile_id": "bob", "video_id": "v9", "device_id": "tv",
                       "seq": 1, "position": 900 });
    write(&app, "update", bobs).await;

    let (store, trips) = table.counted_store();
    let counted = App::new(store, Rules::default());
    let ids = json!(["v3", "unknown", "v1", "v1", "expired", "v2", "v9"]);
    let (status, answer) = batch(
        &counted,
        json!({ "account_id": "acct-1", "profile_id": "alice", "video_ids": ids }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(videos(&answer), ["v3", "v1", "v2"]);
    assert_eq!(answer["missing"], json!(["unknown", "expired", "v9"]));
    assert_eq!(answer["items"][0]["status"], "finished");
    assert_eq!(trips.take(), ["BatchGetItem"]);
}

#[tokio::test]
async fn batch_lookup_limits_are_enforced() {
    let table = TestTable::new().await;
    let app = table.app();
    let request =
        |ids: Value| json!({ "account_id": "acct-1", "profile_id": "alice", "video_ids": ids });
    let hundred_and_one: Vec<String> = (0..101).map(|i| format!("v{i}")).collect();
    let hundred: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
    for (ids, rule) in [
        (json!(hundred_and_one), "must name 1 to 100 videos"),
        (json!([]), "must name 1 to 100 videos"),
        (json!("v1"), "must be an array of video ids"),
        (json!(["v1", 7]), "[1] must be a string"),
        (json!(["v1", "a#b"]), "[1] may only contain"),
    ] {
        let (status, body) = batch(&app, request(ids)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["field"], "video_ids");
        assert!(
            body["error"]["rule"].as_str().unwrap().starts_with(rule),
            "{body}"
        );
    }
    let (status, body) = batch(&app, request(json!(hundred))).await;
    assert_eq!(
        (status, body["missing"].as_array().unwrap().len()),
        (StatusCode::OK, 100)
    );
}

#[tokio::test]
async fn batch_lookup_retries_unprocessed_keys() {
    let table = TestTable::new().await;
    let app = table.app();
    let ids: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        report(&app, id, "tv", i as u64 + 1, 100.0 + i as f64, None).await;
    }
    let (store, batches) = table.store_with_unprocessed_keys();
    let flaky = App::new(store, Rules::default());
    let (status, answer) = batch(
        &flaky,
        json!({ "account_id": "acct-1", "profile_id": "alice", "video_ids": ids }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        videos(&answer),
        ids,
        "every video, although half came back unprocessed at first"
    );
    assert_eq!(answer["missing"], json!([]));
    assert_eq!(
        batches.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one retry for the unprocessed keys"
    );
}

#[tokio::test]
async fn removed_video_leaves_continue_watching_until_watched_again() {
    let table = TestTable::new().await;
    let (app, clock) = clocked(&table);
    report(&app, "v1", "tv", 1, 600.0, None).await;
    clock.advance(1_000);
    report(&app, "v2", "tv", 2, 600.0, None).await;
    clock.advance(1_000);
    let (status, removed) = write(&app, "remove", body("v1", "phone", 1, json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(
        (&removed["applied"], &removed["playback"]["hidden"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(videos(&resume(&app, PROFILE).await.1), ["v2"]);
    let (status, one) = resume(&app, &format!("{PROFILE}&video_id=v1")).await;
    assert_eq!(
        (status, &one["playback"]["position"]),
        (StatusCode::OK, &json!(600.0)),
        "position kept"
    );
    let (_, retried) = write(&app, "remove", body("v1", "phone", 1, json!({}))).await;
    assert_eq!(
        retried["applied"], true,
        "a retried removal is acknowledged"
    );
    clock.advance(1_000);
    report(&app, "v1", "tv", 3, 700.0, None).await;
    assert_eq!(
        videos(&resume(&app, PROFILE).await.1),
        ["v1", "v2"],
        "watching again brings it back"
    );
}

#[tokio::test]
async fn removal_that_loses_to_a_newer_update_does_not_erase_it() {
    let table = TestTable::new().await;
    let (app, clock) = clocked(&table);
    // The viewer removed it on the phone 5 s ago; meanwhile the TV reported; the removal arrives last.
    report(&app, "v1", "tv", 5, 900.0, None).await;
    clock.advance(1_000);
    let (status, late) = write(
        &app,
        "remove",
        body("v1", "phone", 1, json!({ "age_ms": 5_000 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(late["applied"], false);
    assert_eq!(
        (&late["playback"]["device_id"], &late["playback"]["hidden"]),
        (&json!("tv"), &json!(false))
    );
    // The TV's own delayed removal with an older seq loses too.
    let (_, stale) = write(&app, "remove", body("v1", "tv", 4, json!({}))).await;
    assert_eq!(stale["applied"], false);
    assert_eq!(videos(&resume(&app, PROFILE).await.1), ["v1"]);
}

#[tokio::test]
async fn remove_or_unwatch_of_unknown_video_is_404_and_writes_nothing() {
    let table = TestTable::new().await;
    let app = table.app();
    for route in ["remove", "unwatch"] {
        let (status, body) = write(&app, route, body("never", "tv", 1, json!({}))).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("no_playback")),
            "{route}"
        );
        let (status, body) = write(&app, route, json!({ "account_id": "acct-1" })).await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (StatusCode::BAD_REQUEST, &json!("profile_id"))
        );
    }
    assert!(table.items().await.is_empty());
}

#[tokio::test]
async fn unwatch_resets_to_start_and_leaves_the_list() {
    let table = TestTable::new().await;
    let (app, clock) = clocked(&table);
    report(&app, "v1", "tv", 1, 3500.0, Some(3600.0)).await;
    clock.advance(1_000);
    // A stale unwatch (recorded before the report) is rejected; the finished state stays.
    let (_, stale) = write(
        &app,
        "unwatch",
        body("v1", "phone", 1, json!({ "age_ms": 10_000 })),
    )
    .await;
    assert_eq!(
        (&stale["applied"], &stale["playback"]["position"]),
        (&json!(false), &json!(3500.0))
    );
    let (status, unwatched) = write(&app, "unwatch", body("v1", "phone", 2, json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let playback = &unwatched["playback"];
    assert_eq!(
        (
            &unwatched["applied"],
            &playback["position"],
            &playback["status"],
            &playback["duration"]
        ),
        (
            &json!(true),
            &json!(0.0),
            &json!("not_started"),
            &json!(3600.0)
        )
    );
    assert_eq!(videos(&resume(&app, PROFILE).await.1), Vec::<String>::new());
    clock.advance(1_000);
    report(&app, "v1", "tv", 2, 120.0, None).await;
    assert_eq!(videos(&resume(&app, PROFILE).await.1), ["v1"]);
}

#[tokio::test]
async fn resume_advises_jump_stay_or_ask_against_the_local_position() {
    let table = TestTable::new().await;
    let app = table.app();
    report(&app, "v1", "tv", 1, 3000.0, Some(7200.0)).await;
    let cases = [
        (
            "local_position=600&device_id=phone",
            "ask",
            "far_ahead",
            Some("Resume from 50:00?"),
        ),
        (
            "local_position=2990&device_id=phone",
            "stay",
            "within_tolerance",
            None,
        ),
        ("local_position=2800", "jump", "moved_ahead", None),
        (
            "local_position=3200&device_id=tv",
            "stay",
            "own_older_checkpoint",
            None,
        ),
        (
            "local_position=3200&device_id=phone",
            "stay",
            "small_regression",
            None,
        ),
        (
            "local_position=4000&device_id=phone",
            "ask",
            "far_behind",
            Some("Resume from 50:00?"),
        ),
    ];
    for (query, action, reason, prompt) in cases {
        let (status, body) = resume(&app, &format!("{PROFILE}&video_id=v1&{query}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let guardrail = &body["guardrail"];
        assert_eq!(
            (&guardrail["action"], &guardrail["reason"]),
            (&json!(action), &json!(reason)),
            "{query}"
        );
        assert_eq!(guardrail["prompt"].as_str(), prompt, "{query}");
    }
    let (_, plain) = resume(&app, &format!("{PROFILE}&video_id=v1")).await;
    assert!(plain.get("guardrail").is_none());
    for bad in [
        "local_position=abc",
        "local_position=-5",
        "local_position=1e9",
        "device_id=a%23b&local_position=1",
    ] {
        let (status, body) = resume(&app, &format!("{PROFILE}&video_id=v1&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn thresholds_come_from_the_rules() {
    let table = TestTable::new().await;
    let mut rules = Rules::default();
    rules.completion.finished_percent = 50.0;
    rules.guardrails.max_forward = Duration::from_secs(10_000);
    let app = App::new(table.store(), rules);
    report(&app, "v1", "tv", 1, 1700.0, Some(3600.0)).await; // 47 %
    let (_, body) = resume(&app, &format!("{PROFILE}&video_id=v1")).await;
    assert_eq!(body["playback"]["status"], "in_progress");
    report(&app, "v1", "tv", 2, 1800.0, Some(3600.0)).await; // 50 %
    let (_, body) = resume(&app, &format!("{PROFILE}&video_id=v1&local_position=0")).await;
    assert_eq!(body["playback"]["status"], "finished");
    assert_eq!(
        body["guardrail"]["action"], "stay",
        "finished: resume from 0, where the player is"
    );
}
