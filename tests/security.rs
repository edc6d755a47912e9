//! Identity and abuse: the account comes from the verified token, no request reaches another
//! household's data, and failures never tell callers more than they need.

use std::sync::{Arc, Mutex};

use lambda_http::http::StatusCode;
use lambda_http::{Context, RequestExt};
use playback::config::Auth;
use playback::domain::Rules;
use playback::store::DynamoStore;
use playback::App;
use playback_tests::{
    apigw_event_json, json_body, request_from_event, with_claims, without_authorizer, TestTable,
    TOKEN_ACCOUNT,
};
use serde_json::{json, Value};

/// Every route, with a valid request for the token's account (`acct-1`) naming `account`.
fn requests(account: Option<&str>) -> Vec<(&'static str, &'static str, String, Option<String>)> {
    let mut change =
        json!({ "profile_id": "alice", "video_id": "v1", "device_id": "tv", "seq": 1 });
    let mut report = change.clone();
    report["position"] = 600.into();
    let mut batch = json!({ "profile_id": "alice", "video_ids": ["v1"] });
    let mut query = "profile_id=alice&video_id=v1".to_owned();
    let mut list = "profile_id=alice".to_owned();
    if let Some(account) = account {
        for body in [&mut change, &mut report, &mut batch] {
            body["account_id"] = account.into();
        }
        query = format!("account_id={account}&{query}");
        list = format!("account_id={account}&{list}");
    }
    vec![
        (
            "POST",
            "/playback/update",
            String::new(),
            Some(report.to_string()),
        ),
        (
            "POST",
            "/playback/remove",
            String::new(),
            Some(change.to_string()),
        ),
        (
            "POST",
            "/playback/unwatch",
            String::new(),
            Some(change.to_string()),
        ),
        ("GET", "/playback/resume", query, None),
        ("GET", "/playback/resume", list, None),
        (
            "POST",
            "/playback/resume/batch",
            String::new(),
            Some(batch.to_string()),
        ),
    ]
}

async fn send(app: &App<DynamoStore>, event: Value) -> (StatusCode, Value) {
    let is_write = matches!(
        event["rawPath"].as_str(),
        Some("/playback/update" | "/playback/remove" | "/playback/unwatch")
    );
    let request = request_from_event(&event);
    let response = if is_write {
        app.update(request).await
    } else {
        app.resume(request).await
    };
    (response.status(), json_body(&response))
}

fn event(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    apigw_event_json(
        method,
        path,
        query,
        &[("content-type", "application/json")],
        body,
    )
}

#[tokio::test]
async fn every_route_refuses_a_request_without_a_verified_token() {
    let table = TestTable::new().await;
    let (store, trips) = table.counted_store();
    let app = App::new(store, Rules::default());
    for (method, path, query, body) in requests(Some(TOKEN_ACCOUNT)) {
        let (status, error) = send(
            &app,
            without_authorizer(event(method, path, &query, body.as_deref())),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {error}");
        assert_eq!(error["error"]["code"], "unauthorized");
    }
    let request = request_from_event(&without_authorizer(event(
        "GET",
        "/playback/resume",
        "profile_id=a",
        None,
    )));
    assert_eq!(
        app.resume(request).await.headers()["www-authenticate"],
        "Bearer"
    );
    assert_eq!(
        trips.take(),
        Vec::<String>::new(),
        "no DynamoDB call for an anonymous caller"
    );
}

#[tokio::test]
async fn local_dev_mode_takes_the_account_from_the_request_and_still_honours_tokens() {
    let table = TestTable::new().await;
    let dev = table.app().with_auth(Auth {
        allow_unauthenticated: true,
        ..Auth::default()
    });
    for (method, path, query, body) in requests(Some("acct-dev")) {
        let (status, body) = send(
            &dev,
            without_authorizer(event(method, path, &query, body.as_deref())),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
    }
    let (status, error) = send(
        &dev,
        without_authorizer(event("GET", "/playback/resume", "profile_id=alice", None)),
    )
    .await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("account_id"))
    );
    // A token, when present, still decides: naming another account is refused in dev mode too.
    let (status, _) = send(
        &dev,
        event(
            "GET",
            "/playback/resume",
            "account_id=acct-dev&profile_id=alice",
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn naming_another_account_is_refused_on_every_route_and_parameter() {
    let table = TestTable::new().await;
    let (store, trips) = table.counted_store();
    let app = App::new(store, Rules::default());
    for (method, path, query, body) in requests(Some("acct-2")) {
        let (status, error) = send(&app, event(method, path, &query, body.as_deref())).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} {query}: {error}"
        );
        assert_eq!(
            (&error["error"]["code"], &error["error"]["field"]),
            (&json!("forbidden"), &json!("account_id"))
        );
    }
    assert_eq!(
        trips.take(),
        Vec::<String>::new(),
        "nothing read or written for another account"
    );
    // Naming the token's own account is fine, and so is leaving it out.
    for account in [Some(TOKEN_ACCOUNT), None] {
        for (method, path, query, body) in requests(account) {
            let (status, body) = send(&app, event(method, path, &query, body.as_deref())).await;
            assert!(
                status.is_success() || status == StatusCode::NOT_FOUND,
                "{method} {path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn one_household_never_sees_or_changes_anothers_progress() {
    let table = TestTable::new().await;
    let app = table.app();
    let as_account = |account: &str, method: &str, path: &str, query: &str, body: Option<&str>| {
        with_claims(event(method, path, query, body), json!({ "sub": account }))
    };
    let report = json!({ "profile_id": "alice", "video_id": "v1", "device_id": "tv", "seq": 1, "position": 900 });
    let (status, _) = send(
        &app,
        as_account(
            "acct-2",
            "POST",
            "/playback/update",
            "",
            Some(&report.to_string()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The same profile and video names in acct-1 are another slot entirely.
    let (status, _) = send(
        &app,
        as_account(
            "acct-1",
            "GET",
            "/playback/resume",
            "profile_id=alice&video_id=v1",
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = send(
        &app,
        as_account(
            "acct-1",
            "GET",
            "/playback/resume",
            "profile_id=alice",
            None,
        ),
    )
    .await;
    assert_eq!(list["items"], json!([]));
    let lookup = json!({ "profile_id": "alice", "video_ids": ["v1"] }).to_string();
    let (_, found) = send(
        &app,
        as_account(
            "acct-1",
            "POST",
            "/playback/resume/batch",
            "",
            Some(&lookup),
        ),
    )
    .await;
    assert_eq!(found["missing"], json!(["v1"]));
    let remove =
        json!({ "profile_id": "alice", "video_id": "v1", "device_id": "tv", "seq": 2 }).to_string();
    let (status, _) = send(
        &app,
        as_account("acct-1", "POST", "/playback/remove", "", Some(&remove)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "acct-1 cannot remove acct-2's entry"
    );

    let (_, theirs) = send(
        &app,
        as_account(
            "acct-2",
            "GET",
            "/playback/resume",
            "profile_id=alice&video_id=v1",
            None,
        ),
    )
    .await;
    assert_eq!(
        (
            &theirs["playback"]["position"],
            &theirs["playback"]["hidden"]
        ),
        (&json!(900.0), &json!(false))
    );
    assert_eq!(table.items().await.len(), 1);
}

#[tokio::test]
async fn ids_built_to_collide_after_joining_are_refused() {
    let table = TestTable::new().await;
    let app = table.app();
    // ("a", "b#c") and ("a#b", "c") would both join to "a#b#c".
    let report = json!({ "profile_id": "b#c", "video_id": "v1", "device_id": "tv", "seq": 1, "position": 1 });
    let collide = with_claims(
        event("POST", "/playback/update", "", Some(&report.to_string())),
        json!({ "sub": "a" }),
    );
    let (status, error) = send(&app, collide).await;
    assert_eq!(
        (status, &error["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("profile_id"))
    );
    let report =
        json!({ "profile_id": "c", "video_id": "v1", "device_id": "tv", "seq": 1, "position": 1 });
    let collide = with_claims(
        event("POST", "/playback/update", "", Some(&report.to_string())),
        json!({ "sub": "a#b" }),
    );
    let (status, error) = send(&app, collide).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let query = with_claims(
        event(
            "GET",
            "/playback/resume",
            "profile_id=b%23c&video_id=v1",
            None,
        ),
        json!({ "sub": "a" }),
    );
    assert_eq!(send(&app, query).await.0, StatusCode::BAD_REQUEST);
    assert!(table.items().await.is_empty());
}

#[tokio::test]
async fn token_without_a_usable_account_claim_is_refused() {
    let table = TestTable::new().await;
    let app = table.app();
    let long = "x".repeat(200);
    for claims in [
        json!({}),
        json!({ "sub": "" }),
        json!({ "sub": "a b" }),
        json!({ "sub": long }),
        json!({ "email": "a@b.c" }),
    ] {
        let request = with_claims(
            event("GET", "/playback/resume", "profile_id=alice", None),
            claims.clone(),
        );
        let (status, error) = send(&app, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{claims}: {error}");
    }
}

#[tokio::test]
async fn the_account_claim_is_configurable() {
    let table = TestTable::new().await;
    let app = table.app().with_auth(Auth {
        account_claim: "custom:account_id".into(),
        allow_unauthenticated: false,
    });
    let claims = json!({ "sub": "user-7", "custom:account_id": "household-9" });
    let (_, list) = send(
        &app,
        with_claims(
            event("GET", "/playback/resume", "profile_id=alice", None),
            claims.clone(),
        ),
    )
    .await;
    assert_eq!(list["items"], json!([]));
    let request = with_claims(
        event(
            "GET",
            "/playback/resume",
            "account_id=user-7&profile_id=alice",
            None,
        ),
        claims,
    );
    assert_eq!(
        send(&app, request).await.0,
        StatusCode::FORBIDDEN,
        "sub is not the account here"
    );
}

/// A writer the JSON subscriber appends to, for reading back what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> playback::telemetry::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn internal_causes_reach_the_logs_with_request_ids_but_never_the_caller() {
    let table = TestTable::new().await;
    let store = table.store_for_table("playback-secret-table");
    let app = App::new(store, Rules::default());
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(playback::telemetry::subscriber(captured.clone()));
    let mut lambda_context = Context::default();
    lambda_context.request_id = "lambda-req-42".into();
    let request = request_from_event(&event(
        "GET",
        "/playback/resume",
        "profile_id=alice&video_id=v1",
        None,
    ))
    .with_lambda_context(lambda_context);
    let response = app.resume(request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let answer = String::from_utf8(response.body().to_vec()).unwrap();
    for secret in [
        "playback-secret-table",
        "ResourceNotFound",
        "dynamodb",
        "127.0.0.1",
    ] {
        assert!(
            !answer.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} leaked: {answer}"
        );
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|l: &Value| l["fields"]["message"] == "failed")
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    let fields = &line["fields"];
    assert_eq!(
        (&line["level"], &fields["status"]),
        (&json!("ERROR"), &json!(503))
    );
    assert_eq!(fields["request_id"], "lambda-req-42");
    assert_eq!(fields["apigw_request_id"], "test-request");
    assert!(
        fields["error"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFound"),
        "{line}"
    );
}
