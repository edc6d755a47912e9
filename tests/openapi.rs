//! Keeps `openapi.yaml` true: every route and status the handlers produce is documented, nothing
//! documented is never produced, every documented header is sent, and every response body matches
//! its documented schema. Scenarios run through both handlers against DynamoDB Local.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Response};
use playback::domain::Rules;
use playback::store::DynamoStore;
use playback::App;
use playback_tests::{
    apigw_event_json, now_millis, request_from_event, silent_address, store_at, with_claims,
    without_authorizer, TestTable,
};
use serde_json::{json, Value};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("openapi.yaml"))
        .expect("valid YAML")
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').expect("local reference");
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => node,
    }
}

/// The subset of JSON Schema (OpenAPI 3.0 flavour) the document uses.
fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|o| validate(spec, o, value, at).is_ok())
            .count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{at}: matches {matching} of oneOf"))
        };
    }
    if value.is_null() && schema["nullable"] == true {
        return Ok(());
    }
    let fail = |why: &str| Err(format!("{at}: {why}, got {value}"));
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            return fail("not in enum");
        }
    }
    let number_in_range = |n: f64| {
        schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_none_or(|min| n >= min)
            && schema
                .get("maximum")
                .and_then(Value::as_f64)
                .is_none_or(|max| n <= max)
    };
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(object) = value.as_object() else {
                return fail("not an object");
            };
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !object.contains_key(required.as_str().unwrap()) {
                    return fail(&format!("missing {required}"));
                }
            }
            for (key, item) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => validate(spec, property, item, &format!("{at}.{key}"))?,
                    None if schema["additionalProperties"] == false => {
                        return fail(&format!("undocumented {key}"))
                    }
                    None => {}
                }
            }
            Ok(())
        }
        Some("array") => {
            let Some(items) = value.as_array() else {
                return fail("not an array");
            };
            if schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|max| items.len() as u64 > max)
            {
                return fail("too many items");
            }
            items.iter().enumerate().try_for_each(|(i, item)| {
                validate(spec, &schema["items"], item, &format!("{at}[{i}]"))
            })
        }
        Some("string") if !value.is_string() => fail("not a string"),
        Some("boolean") if !value.is_boolean() => fail("not a boolean"),
        Some("integer") if !(value.is_u64() && number_in_range(value.as_f64().unwrap())) => {
            fail("not an integer in range")
        }
        Some("number") if !value.as_f64().is_some_and(number_in_range) => {
            fail("not a number in range")
        }
        _ => Ok(()),
    }
}

/// Every (operation method, path, status) the document declares.
fn documented(spec: &Value) -> BTreeSet<(String, String, u16)> {
    let mut all = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for status in operation["responses"].as_object().unwrap().keys() {
                all.insert((method.to_uppercase(), path.clone(), status.parse().unwrap()));
            }
        }
    }
    all
}

/// Runs scenarios and checks each answer against the document, collecting what was produced.
struct Checker {
    spec: Value,
    produced: BTreeSet<(String, String, u16)>,
}

impl Checker {
    /// Records `response` as an answer of the operation at `path` (whatever method was sent).
    fn check(&mut self, path: &str, response: Response<Body>) {
        let status = response.status().as_u16();
        let operations = self.spec["paths"][path]
            .as_object()
            .unwrap_or_else(|| panic!("{path} undocumented"));
        let (method, operation) = operations.iter().next().unwrap();
        let declared = resolve(&self.spec, &operation["responses"][status.to_string()]);
        assert!(
            !declared.is_null(),
            "{method} {path} answered {status}, which openapi.yaml does not document"
        );
        for header in declared
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|h| h.0)
        {
            assert!(
                response.headers().contains_key(header.as_str()),
                "{path} {status} lacks header {header}"
            );
        }
        let body: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON body");
        let schema = &declared["content"]["application/json"]["schema"];
        validate(
            &self.spec,
            schema,
            &body,
            &format!("{method} {path} {status}"),
        )
        .unwrap();
        self.produced
            .insert((method.to_uppercase(), path.to_owned(), status));
    }
}

fn event(
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    body: Option<&str>,
) -> lambda_http::Request {
    request_from_event(&apigw_event_json(
        method,
        path,
        query,
        &[("content-type", content_type)],
        body,
    ))
}

fn json_event(method: &str, path: &str, body: Value) -> lambda_http::Request {
    event(
        method,
        path,
        "",
        "application/json",
        Some(&body.to_string()),
    )
}

/// Accepts connections and never answers: the dependency failure behind every 503.
async fn silent_store() -> DynamoStore {
    let budget = Duration::from_millis(200);
    store_at(
        &format!("http://{}", silent_address().await),
        "t",
        budget,
        budget,
    )
    .await
}

/// An entry whose duration is not a number: reading it back is an internal error.
async fn put_corrupt(table: &TestTable, video: &str) {
    let now = now_millis();
    table
        .client
        .put_item()
        .table_name(&table.name)
        .item("pk", AttributeValue::S("acct-1#alice".into()))
        .item("sk", AttributeValue::S(video.into()))
        .item("position_ms", AttributeValue::N("1000".into()))
        .item("duration_ms", AttributeValue::S("long".into()))
        .item("device_id", AttributeValue::S("tv".into()))
        .item("seq", AttributeValue::N("1".into()))
        .item("updated_at", AttributeValue::N((now - 60_000).to_string()))
        .item(
            "expires_at",
            AttributeValue::N((now / 1000 + 3600).to_string()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn every_route_and_status_is_documented_and_every_answer_matches_its_schema() {
    let spec = spec();
    let table = TestTable::new().await;
    let app = table.app();
    let down = App::new(silent_store().await, Rules::default());
    put_corrupt(&table, "corrupt").await;
    let mut checker = Checker {
        spec: spec.clone(),
        produced: BTreeSet::new(),
    };

    let change = |video: &str, seq: u64| json!({ "account_id": "acct-1", "profile_id": "alice", "video_id": video, "device_id": "tv", "seq": seq });
    let mut report = change("v1", 1);
    report["position"] = 1200.into();
    report["duration"] = 3600.into();
    let oversize = json!({ "pad": "x".repeat(playback::http::MAX_BODY_BYTES) }).to_string();

    // Writes.
    for (path, valid) in [
        ("/playback/update", report.clone()),
        ("/playback/remove", change("v1", 2)),
        ("/playback/unwatch", change("v1", 3)),
    ] {
        checker.check(
            path,
            app.update(json_event("POST", path, valid.clone())).await,
        );
        checker.check(
            path,
            app.update(json_event("POST", path, json!({ "account_id": 1 })))
                .await,
        );
        checker.check(
            path,
            app.update(json_event("GET", path, valid.clone())).await,
        );
        checker.check(
            path,
            app.update(event("POST", path, "", "application/json", Some(&oversize)))
                .await,
        );
        checker.check(
            path,
            app.update(event("POST", path, "", "application/xml", Some("<a/>")))
                .await,
        );
        checker.check(
            path,
            down.update(json_event("POST", path, valid.clone())).await,
        );
        let mut on_corrupt = valid.clone();
        on_corrupt["video_id"] = "corrupt".into();
        on_corrupt["seq"] = 50.into();
        on_corrupt.as_object_mut().unwrap().remove("duration");
        checker.check(path, app.update(json_event("POST", path, on_corrupt)).await);
        if path != "/playback/update" {
            checker.check(
                path,
                app.update(json_event("POST", path, change("never-watched", 9)))
                    .await,
            );
        }
    }

    // Reads.
    let resume = "/playback/resume";
    let read = |query: &str| event("GET", resume, query, "application/json", None);
    for query in [
        "account_id=acct-1&profile_id=alice&video_id=v1",
        "account_id=acct-1&profile_id=alice&video_id=v1&local_position=3000&device_id=phone",
        "account_id=acct-1&profile_id=alice&limit=1",
        "account_id=acct-1&profile_id=alice&video_id=unknown",
        "account_id=acct-1&profile_id=alice&video_id=corrupt",
        "account_id=acct-1",
    ] {
        checker.check(resume, app.resume(read(query)).await);
    }
    report["video_id"] = "v2".into();
    app.update(json_event("POST", "/playback/update", report))
        .await;
    checker.check(
        resume,
        app.resume(read("account_id=acct-1&profile_id=alice")).await,
    );
    checker.check(
        resume,
        app.resume(event("POST", resume, "", "application/json", Some("{}")))
            .await,
    );
    checker.check(
        resume,
        down.resume(read("account_id=acct-1&profile_id=alice&video_id=v1"))
            .await,
    );

    let batch = "/playback/resume/batch";
    let lookup =
        |ids: Value| json!({ "account_id": "acct-1", "profile_id": "alice", "video_ids": ids });
    checker.check(
        batch,
        app.resume(json_event("POST", batch, lookup(json!(["v1", "nope"]))))
            .await,
    );
    checker.check(
        batch,
        app.resume(json_event("POST", batch, lookup(json!([]))))
            .await,
    );
    checker.check(
        batch,
        app.resume(json_event("GET", batch, lookup(json!(["v1"]))))
            .await,
    );
    checker.check(
        batch,
        app.resume(event(
            "POST",
            batch,
            "",
            "application/json",
            Some(&oversize),
        ))
        .await,
    );
    checker.check(
        batch,
        app.resume(event("POST", batch, "", "text/csv", Some("v1")))
            .await,
    );
    checker.check(
        batch,
        app.resume(json_event("POST", batch, lookup(json!(["corrupt"]))))
            .await,
    );
    checker.check(
        batch,
        down.resume(json_event("POST", batch, lookup(json!(["v1"]))))
            .await,
    );

    // Identity, on every route: no token, and a request naming another account.
    for (method, path, query, body) in [
        (
            "POST",
            "/playback/update",
            "",
            Some(json!({ "account_id": "acct-2" })),
        ),
        (
            "POST",
            "/playback/remove",
            "",
            Some(json!({ "account_id": "acct-2" })),
        ),
        (
            "POST",
            "/playback/unwatch",
            "",
            Some(json!({ "account_id": "acct-2" })),
        ),
        ("GET", resume, "account_id=acct-2&profile_id=alice", None),
        ("POST", batch, "", Some(json!({ "account_id": "acct-2" }))),
    ] {
        let body = body.map(|b| b.to_string());
        let envelope = apigw_event_json(method, path, query, &[], body.as_deref());
        let handle = |event: Value| {
            let request = request_from_event(&event);
            let writes = method == "POST" && !path.starts_with(resume);
            let app = &app;
            async move {
                if writes {
                    app.update(request).await
                } else {
                    app.resume(request).await
                }
            }
        };
        checker.check(path, handle(without_authorizer(envelope.clone())).await);
        checker.check(path, handle(envelope.clone()).await);
        checker.check(
            path,
            handle(with_claims(envelope, json!({ "sub": "not a valid id" }))).await,
        );
    }

    let documented = documented(&spec);
    let never_produced: Vec<_> = documented.difference(&checker.produced).collect();
    assert!(
        never_produced.is_empty(),
        "documented but never produced: {never_produced:?}"
    );
    assert_eq!(checker.produced, documented);
}

#[test]
fn validator_rejects_what_the_document_forbids() {
    let spec = spec();
    let playback = json!({ "$ref": "#/components/schemas/Playback" });
    let good = json!({
        "account_id": "a", "profile_id": "p", "video_id": "v", "position": 1.0, "duration": null,
        "percent": null, "status": "in_progress", "resume_from": 1.0, "hidden": false, "device_id": "tv",
        "seq": 1, "updated_at": "2026-12-04T21:00:00.000Z"
    });
    assert_eq!(validate(&spec, &playback, &good, "p"), Ok(()));
    for (key, bad) in [
        ("status", json!("paused")),
        ("seq", json!(-1)),
        ("hidden", json!("no")),
        ("extra", json!(1)),
    ] {
        let mut wrong = good.clone();
        wrong[key] = bad;
        assert!(validate(&spec, &playback, &wrong, "p").is_err(), "{key}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("resume_from");
    assert!(validate(&spec, &playback, &missing, "p").is_err());
}
