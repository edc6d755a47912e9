//! The `events/*.json` fixtures that `sam local invoke` takes, fed through the handlers in-process
//! (lambda_http parses them exactly as in Lambda), so the files and the path they cover stay true.

use lambda_http::http::StatusCode;
use playback_tests::{json_body, request_from_event, TestTable};
use serde_json::Value;

fn fixture(name: &str) -> lambda_http::Request {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    let event: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"));
    assert_eq!(
        event["version"], "2.0",
        "{name} must be an HTTP API payload 2.0 event"
    );
    request_from_event(&event)
}

#[tokio::test]
async fn update_fixture_is_stored_and_resume_fixture_reads_it_back() {
    let table = TestTable::new().await;
    let app = table.app();
    let response = app.update(fixture("update.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_body(&response)["applied"], true);

    let response = app.resume(fixture("resume.json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let playback = &json_body(&response)["playback"];
    assert_eq!(playback["position"], 1200.0);
    assert_eq!(playback["duration"], 3600.0);
    assert_eq!(playback["device_id"], "tv-living-room");
    assert_eq!(playback["seq"], 42);
}

#[tokio::test]
async fn list_batch_and_guardrail_fixtures_read_what_update_wrote() {
    let table = TestTable::new().await;
    let app = table.app();
    app.update(fixture("update.json")).await;

    let list = json_body(&app.resume(fixture("resume-list.json")).await);
    assert_eq!(list["items"][0]["video_id"], "v1");

    let batch = app.resume(fixture("resume-batch.json")).await;
    assert_eq!(batch.status(), StatusCode::OK);
    let batch = json_body(&batch);
    assert_eq!(batch["items"][0]["video_id"], "v1");
    assert_eq!(batch["missing"], serde_json::json!(["v2", "v3"]));

    let advice = json_body(&app.resume(fixture("resume-guardrail.json")).await);
    assert_eq!(advice["guardrail"]["action"], "ask", "{advice}");
    assert_eq!(advice["guardrail"]["prompt"], "Resume from 20:00?");
}

#[tokio::test]
async fn remove_and_unwatch_fixtures_change_what_update_wrote() {
    let table = TestTable::new().await;
    let app = table.app();
    app.update(fixture("update.json")).await;
    let removed = json_body(&app.update(fixture("remove.json")).await);
    assert_eq!(
        (&removed["applied"], &removed["playback"]["hidden"]),
        (&true.into(), &true.into())
    );
    let unwatched = json_body(&app.update(fixture("unwatch.json")).await);
    assert_eq!(unwatched["playback"]["position"], 0.0);
}

#[tokio::test]
async fn other_profile_fixture_sees_nothing() {
    let table = TestTable::new().await;
    let app = table.app();
    app.update(fixture("update.json")).await;
    assert_eq!(
        app.resume(fixture("resume-other-profile.json"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn invalid_fixture_is_rejected_naming_position() {
    let table = TestTable::new().await;
    let response = table.app().update(fixture("update-invalid.json")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(&response)["error"]["field"], "position");
    assert!(table.items().await.is_empty());
}

#[tokio::test]
async fn every_fixture_parses_as_an_api_gateway_v2_request() {
    let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") && name != "env.json" {
            let request = fixture(&name);
            assert!(request.uri().path().starts_with("/playback/"), "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 9, "fixtures missing from {dir}");
}
