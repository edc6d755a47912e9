//! Both handlers in-process, fed real API Gateway HTTP API (payload 2.0) events, against DynamoDB Local.

use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use playback::domain::Rules;
use playback::App;
use playback_tests::{
    apigw_event_json, base64, get_resume, json_body, post_update, request_from_event,
    silent_address, store_at, update_body, TestTable,
};
use serde_json::{json, Value};

const RESUME_QUERY: &str = "account_id=acct-1&profile_id=alice&video_id=tt0111161";

#[tokio::test]
async fn update_then_resume_returns_the_saved_position() {
    let table = TestTable::new().await;
    let app = table.app();
    let response = app.update(post_update(&update_body(json!({})))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_body(&response);
    assert_eq!(body["applied"], true);
    assert_eq!(body["playback"]["position"], 1200.5);

    let response = app.resume(get_resume(RESUME_QUERY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let playback = &json_body(&response)["playback"];
    assert_eq!(playback["account_id"], "acct-1");
    assert_eq!(playback["profile_id"], "alice");
    assert_eq!(playback["video_id"], "tt0111161");
    assert_eq!(playback["position"], 1200.5);
    assert_eq!(playback["device_id"], "tv-living-room");
    assert_eq!(playback["seq"], 1);
    assert!(playback["updated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn resume_without_saved_position_is_404_json() {
    let table = TestTable::new().await;
    let response = table.app().resume(get_resume(RESUME_QUERY)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(&response)["error"]["code"], "no_playback");
}

#[tokio::test]
async fn update_from_another_device_moves_the_position() {
    let table = TestTable::new().await;
    let app = table.app();
    app.update(post_update(&update_body(json!({})))).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let phone = update_body(json!({ "device_id": "phone", "position": 1300, "seq": 1 }));
    assert_eq!(
        json_body(&app.update(post_update(&phone)).await)["applied"],
        true
    );
    let playback = &json_body(&app.resume(get_resume(RESUME_QUERY)).await)["playback"];
    assert_eq!(
        (playback["device_id"].clone(), playback["position"].clone()),
        (json!("phone"), json!(1300.0))
    );
}

#[tokio::test]
async fn stale_report_answers_200_not_applied_with_the_winner() {
    let table = TestTable::new().await;
    let app = table.app();
    app.update(post_update(&update_body(json!({ "seq": 5 }))))
        .await;
    // The same device's older report arrives late: it must not move the position back.
    let late = update_body(json!({ "seq": 4, "position": 10 }));
    let response = app.update(post_update(&late)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json_body(&response);
    assert_eq!(body["applied"], false);
    assert_eq!(body["playback"]["position"], 1200.5);
    assert_eq!(body["playback"]["seq"], 5);
}

#[tokio::test]
async fn retried_update_is_acknowledged_again_without_a_second_write() {
    let table = TestTable::new().await;
    let app = table.app();
    let body = update_body(json!({ "seq": 3 }));
    let first = json_body(&app.update(post_update(&body)).await);
    let retry = json_body(&app.update(post_update(&body)).await);
    assert_eq!(retry["applied"], true);
    assert_eq!(
        retry["playback"], first["playback"],
        "the stored state, stamp included, is unchanged"
    );
}

#[tokio::test]
async fn base64_and_text_plain_bodies_are_accepted() {
    let table = TestTable::new().await;
    let app = table.app();
    let body = update_body(json!({}));
    let mut event = apigw_event_json("POST", "/playback/update", "", &[], None);
    event["body"] = Value::String(base64(body.as_bytes()));
    event["isBase64Encoded"] = true.into();
    assert_eq!(
        app.update(request_from_event(&event)).await.status(),
        StatusCode::OK
    );
    // navigator.sendBeacon, used by web players when a tab closes, sends text/plain.
    let beacon = apigw_event_json(
        "POST",
        "/playback/update",
        "",
        &[("content-type", "text/plain;charset=UTF-8")],
        Some(&update_body(json!({ "seq": 2 }))),
    );
    assert_eq!(
        app.update(request_from_event(&beacon)).await.status(),
        StatusCode::OK
    );
}

/// Sends `event` to `update` and asserts a 4xx naming `field`, with nothing written.
async fn assert_update_rejected(
    table: &TestTable,
    event: Value,
    status: StatusCode,
    field: Option<&str>,
) -> Value {
    let response = table.app().update(request_from_event(&event)).await;
    let body = json_body(&response);
    assert_eq!(response.status(), status, "{body}");
    assert_eq!(body["error"]["field"].as_str(), field, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        table.items().await.is_empty(),
        "a rejected request wrote something: {body}"
    );
    body
}

fn update_event(body: &str) -> Value {
    apigw_event_json(
        "POST",
        "/playback/update",
        "",
        &[("content-type", "application/json")],
        Some(body),
    )
}

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_body() {
    let table = TestTable::new().await;
    for body in [
        "{\"account_id\":",
        "not json",
        "[1,2]",
        "\"text\"",
        "",
        "   ",
        "{\"position\": NaN}",
    ] {
        assert_update_rejected(
            &table,
            update_event(body),
            StatusCode::BAD_REQUEST,
            Some("body"),
        )
        .await;
    }
    let mut no_body = update_event("");
    no_body["body"] = Value::Null;
    assert_update_rejected(&table, no_body, StatusCode::BAD_REQUEST, Some("body")).await;
}

#[tokio::test]
async fn each_missing_field_is_named() {
    let table = TestTable::new().await;
    // account_id may be left out: the verified token names the account (see tests/identity.rs).
    for field in ["profile_id", "video_id", "device_id", "position", "seq"] {
        let body = update_body(json!({ field: null }));
        let error = assert_update_rejected(
            &table,
            update_event(&body),
            StatusCode::BAD_REQUEST,
            Some(field),
        )
        .await;
        assert_eq!(error["error"]["rule"], "is required");
    }
}

#[tokio::test]
async fn wrongly_typed_fields_are_named_with_the_expected_type() {
    let table = TestTable::new().await;
    let cases = [
        (
            json!({ "account_id": 123 }),
            "account_id",
            "must be a string",
        ),
        (json!({ "video_id": ["a"] }), "video_id", "must be a string"),
        (
            json!({ "position": "1200" }),
            "position",
            "must be a number",
        ),
        (json!({ "position": true }), "position", "must be a number"),
        (json!({ "seq": "1" }), "seq", "must be a number"),
        (json!({ "age_ms": {} }), "age_ms", "must be a number"),
    ];
    for (overrides, field, rule) in cases {
        let body = update_body(overrides);
        let error = assert_update_rejected(
            &table,
            update_event(&body),
            StatusCode::BAD_REQUEST,
            Some(field),
        )
        .await;
        assert_eq!(error["error"]["rule"], rule);
    }
}

#[tokio::test]
async fn out_of_range_numbers_are_rejected() {
    let table = TestTable::new().await;
    let cases = [
        (json!({ "position": -1 }), "position"),
        (json!({ "position": 1e12 }), "position"),
        (json!({ "position": 604_801 }), "position"),
        (json!({ "seq": -1 }), "seq"),
        (json!({ "seq": 1.5 }), "seq"),
        (json!({ "seq": 1e300 }), "seq"),
        (json!({ "age_ms": -5 }), "age_ms"),
    ];
    for (overrides, field) in cases {
        let body = update_body(overrides);
        assert_update_rejected(
            &table,
            update_event(&body),
            StatusCode::BAD_REQUEST,
            Some(field),
        )
        .await;
    }
    // A number JSON cannot hold in a double is malformed JSON, not a crash.
    let huge = update_body(json!({})).replace("1200.5", "1e400");
    assert_update_rejected(
        &table,
        update_event(&huge),
        StatusCode::BAD_REQUEST,
        Some("body"),
    )
    .await;
}

#[tokio::test]
async fn empty_oversize_and_separator_ids_are_rejected() {
    let table = TestTable::new().await;
    let long = "x".repeat(129);
    let cases = [
        (json!({ "account_id": "" }), "account_id"),
        (json!({ "profile_id": long }), "profile_id"),
        (json!({ "account_id": "a#b" }), "account_id"),
        (json!({ "profile_id": "b#c" }), "profile_id"),
        (json!({ "video_id": "a b" }), "video_id"),
        (json!({ "device_id": "tv\u{0}" }), "device_id"),
    ];
    for (overrides, field) in cases {
        let body = update_body(overrides);
        assert_update_rejected(
            &table,
            update_event(&body),
            StatusCode::BAD_REQUEST,
            Some(field),
        )
        .await;
    }
}

#[tokio::test]
async fn oversize_body_is_413() {
    let table = TestTable::new().await;
    let padding = "x".repeat(playback::http::MAX_BODY_BYTES);
    let body = update_body(json!({ "note": padding }));
    assert_update_rejected(
        &table,
        update_event(&body),
        StatusCode::PAYLOAD_TOO_LARGE,
        Some("body"),
    )
    .await;
}

#[tokio::test]
async fn form_content_type_is_415() {
    let table = TestTable::new().await;
    let event = apigw_event_json(
        "POST",
        "/playback/update",
        "",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&update_body(json!({}))),
    );
    assert_update_rejected(
        &table,
        event,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some("content-type"),
    )
    .await;
}

#[tokio::test]
async fn wrong_method_is_405_and_wrong_path_is_404() {
    let table = TestTable::new().await;
    let body = update_body(json!({}));
    for method in ["GET", "PUT", "DELETE"] {
        let event = apigw_event_json(method, "/playback/update", "", &[], Some(&body));
        let response = table.app().update(request_from_event(&event)).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
    }
    let event = apigw_event_json("POST", "/playback/resume", "", &[], Some(&body));
    assert_eq!(
        table
            .app()
            .resume(request_from_event(&event))
            .await
            .status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    for path in ["/playback", "/playback/update/extra", "/other"] {
        let event = apigw_event_json("POST", path, "", &[], Some(&body));
        let response = table.app().update(request_from_event(&event)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_body(&response)["error"]["code"], "route_not_found");
    }
    assert!(table.items().await.is_empty());
}

#[tokio::test]
async fn routes_behind_a_stage_or_base_path_are_served() {
    let table = TestTable::new().await;
    let event = apigw_event_json(
        "POST",
        "/v1/playback/update",
        "",
        &[],
        Some(&update_body(json!({}))),
    );
    assert_eq!(
        table
            .app()
            .update(request_from_event(&event))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn resume_query_errors_name_the_parameter() {
    let table = TestTable::new().await;
    let cases = [
        ("account_id=acct-1&video_id=v", "profile_id", "is required"),
        ("profile_id=p&video_id=", "video_id", "must not be empty"),
        (
            "profile_id=p&profile_id=q&video_id=v",
            "profile_id",
            "must be given once",
        ),
        (
            "account_id=acct-1&account_id=acct-1&profile_id=p&video_id=v",
            "account_id",
            "must be given once",
        ),
        (
            "account_id=a%23b&profile_id=p&video_id=v",
            "account_id",
            "may only contain",
        ),
        (
            "account_id=&profile_id=p&video_id=v",
            "account_id",
            "must not be empty",
        ),
        (
            "profile_id=p&video_id=v&local_position=x",
            "local_position",
            "must be a number",
        ),
    ];
    for (query, field, rule) in cases {
        let response = table.app().resume(get_resume(query)).await;
        let body = json_body(&response);
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{query}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{query}");
        assert!(
            body["error"]["rule"].as_str().unwrap().starts_with(rule),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn hung_database_gives_503_with_retry_hint_within_the_budget() {
    let store = store_at(
        &format!("http://{}", silent_address().await),
        "playback-internal-name",
        Duration::from_millis(150),
        Duration::from_millis(500),
    )
    .await;
    let app = App::new(store, Rules::default());
    for (response, budget) in [
        (app.update(post_update(&update_body(json!({})))).await, 500),
        (app.resume(get_resume(RESUME_QUERY)).await, 150),
    ] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(
            !text.contains("playback-internal-name") && !text.contains(&budget.to_string()),
            "{text}"
        );
        assert_eq!(json_body(&response)["error"]["code"], "unavailable");
    }
    let started = Instant::now();
    app.resume(get_resume(RESUME_QUERY)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn missing_table_gives_503_without_naming_it() {
    let table = TestTable::new().await;
    let store = table.store_for_table("playback-missing-table");
    let response = App::new(store, Rules::default())
        .update(post_update(&update_body(json!({}))))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(
        !text.contains("playback-missing-table") && !text.contains("ResourceNotFound"),
        "{text}"
    );
}
