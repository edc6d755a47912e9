//! `App::from_env`, the whole init phase of both functions, applies every group of settings: the
//! store (table, endpoint), the rules (completion thresholds) and identity (the account claim).

use lambda_http::http::StatusCode;
use playback::App;
use playback_tests::{
    apigw_event_json, endpoint, json_body, request_from_event, with_claims, TestTable,
};
use serde_json::json;

#[tokio::test]
async fn app_from_env_applies_store_rules_and_auth_settings() {
    let table = TestTable::new().await;
    for (name, value) in [
        ("PLAYBACK_TABLE", table.name.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint().as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("PLAYBACK_READ_TIMEOUT_MS", "5000"),
        ("PLAYBACK_WRITE_TIMEOUT_MS", "5000"),
        ("PLAYBACK_FINISHED_PERCENT", "50"),
        ("PLAYBACK_ACCOUNT_CLAIM", "custom:account_id"),
    ] {
        std::env::set_var(name, value);
    }
    let app = App::from_env().await.expect("configuration is valid");
    let claims = json!({ "sub": "user-1", "custom:account_id": "household-1" });
    let report = json!({ "profile_id": "p", "video_id": "v", "device_id": "tv", "seq": 1, "position": 60, "duration": 100 });
    let event = apigw_event_json(
        "POST",
        "/playback/update",
        "",
        &[],
        Some(&report.to_string()),
    );
    let response = app
        .update(request_from_event(&with_claims(event, claims)))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the account claim setting is applied"
    );
    let body = json_body(&response);
    assert_eq!(body["playback"]["account_id"], "household-1");
    assert_eq!(
        body["playback"]["status"], "finished",
        "60 % is finished at PLAYBACK_FINISHED_PERCENT=50"
    );
    assert_eq!(
        table.raw_item("household-1#p", "v").await.map(|_| ()),
        Some(()),
        "written to PLAYBACK_TABLE"
    );

    std::env::set_var("PLAYBACK_AUTH_MODE", "local-dev");
    let app = App::from_env().await.unwrap();
    let anonymous = playback_tests::without_authorizer(apigw_event_json(
        "GET",
        "/playback/resume",
        "account_id=household-1&profile_id=p&video_id=v",
        &[],
        None,
    ));
    assert_eq!(
        app.resume(request_from_event(&anonymous)).await.status(),
        StatusCode::OK,
        "local-dev mode is applied"
    );
}
