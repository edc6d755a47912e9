//! Hostile input at both handlers, in-process, inside real API Gateway HTTP API (2.0) envelopes:
//! arbitrary bytes, JSON of any shape, unicode, huge and odd numbers, query strings, paths, methods,
//! content types and token claims. Whatever arrives: no panic, never a 5xx for client input, a JSON
//! error body on every rejection, and nothing written when the request is rejected.
//!
//! `PLAYBACK_FUZZ_CASES` sets the number of cases (default 384, kept small for CI).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

use playback_tests::{apigw_event_json, base64, with_claims, without_authorizer, TestTable};

const FIELDS: &[&str] = &[
    "account_id",
    "profile_id",
    "video_id",
    "device_id",
    "position",
    "duration",
    "seq",
    "age_ms",
    "video_ids",
    "local_position",
    "limit",
    "cursor",
];
const PATHS: &[&str] = &[
    "/playback/update",
    "/playback/remove",
    "/playback/unwatch",
    "/playback/resume",
    "/playback/resume/batch",
];

#[derive(Debug, Clone)]
enum Payload {
    None,
    Bytes(Vec<u8>),
    Json(Value),
    /// A valid-looking body with raw text spliced in where a value goes (numbers JSON can't hold...).
    Raw(String),
}

#[derive(Debug, Clone)]
struct Input {
    method: &'static str,
    path: String,
    query: String,
    content_type: Option<String>,
    payload: Payload,
    base64: bool,
    claims: Option<Value>,
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9_.:-]{1,12}",
        "\\PC{0,40}",
        "[#/ %&=?\u{0}\u{202e}\u{feff}]{1,6}",
        Just("x".repeat(129)),
        Just("acct-1".to_owned()),
        Just("alice".to_owned()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON numbers are finite", |f| serde_json::Number::from_f64(
            f
        )
        .map(Value::Number)),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1e308),
            Just(5e-324),
            Just(604_800.0),
            Just(9_007_199_254_740_993.0)
        ]
        .prop_map(|f| json!(f)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(FIELDS)
                        .prop_map(str::to_owned)
                        .boxed()
                        .prop_union(text().boxed()),
                    inner
                ),
                0..8
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Mostly-valid bodies with one field replaced: the inputs that get furthest into the handlers.
fn near_valid_body() -> impl Strategy<Value = Value> {
    (prop::sample::select(FIELDS), json_value(), any::<bool>()).prop_map(|(field, value, drop)| {
        let mut body = json!({
            "account_id": "acct-1", "profile_id": "alice", "video_id": "v1", "device_id": "tv",
            "seq": 1, "position": 600, "duration": 3600, "video_ids": ["v1", "v2"]
        });
        if drop {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        body
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::None),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Payload::Bytes),
        (1usize..3).prop_map(|k| Payload::Bytes(vec![b'{'; k * 9000])),
        json_value().prop_map(Payload::Json),
        near_valid_body().prop_map(Payload::Json),
        near_valid_body().prop_map(Payload::Json),
        (prop::sample::select(&["position", "seq", "age_ms", "duration"][..]),
         prop::sample::select(&["1e400", "-1e400", "123456789012345678901234567890", "NaN", "Infinity", "-0", "0x10", "1_000", "\"12\""][..]))
            .prop_map(|(field, raw)| Payload::Raw(format!(
                r#"{{"profile_id":"alice","video_id":"v1","device_id":"tv","seq":1,"position":1,"{field}":{raw}}}"#
            ))),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(FIELDS)
                .prop_map(str::to_owned)
                .boxed()
                .prop_union(text().boxed()),
            text(),
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{}={}", percent_encode(&k), percent_encode(&v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn input() -> impl Strategy<Value = Input> {
    let route = prop_oneof![
        // The route's own method most of the time: the interesting inputs are past the 405.
        6 => prop::sample::select(PATHS).prop_map(|path| {
            (if path == "/playback/resume" { "GET" } else { "POST" }, path.to_owned())
        }),
        1 => (
            prop::sample::select(&["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"][..]),
            prop_oneof![
                prop::sample::select(PATHS).prop_map(str::to_owned),
                text().prop_map(|t| format!("/playback/{}", percent_encode(&t))),
            ],
        ),
    ];
    (
        route,
        prop_oneof![
            query(),
            Just("profile_id=alice&video_id=v1".to_owned()),
            Just("profile_id=alice".to_owned())
        ],
        prop_oneof![
            3 => Just(None),
            3 => Just(Some("application/json".to_owned())),
            1 => Just(Some("text/plain;charset=UTF-8".to_owned())),
            1 => Just(Some("application/x-www-form-urlencoded".to_owned())),
            1 => "[ -~]{0,30}".prop_map(Some),
        ],
        payload(),
        prop::bool::weighted(0.2),
        prop_oneof![
            6 => Just(Some(json!({ "sub": "acct-1" }))),
            1 => Just(None),
            1 => text().prop_map(|sub| Some(json!({ "sub": sub }))),
            1 => Just(Some(json!({ "email": "someone@example.com" }))),
        ],
    )
        .prop_map(
            |((method, path), query, content_type, payload, base64, claims)| Input {
                method,
                path,
                query,
                content_type,
                payload,
                base64,
                claims,
            },
        )
}

fn envelope(input: &Input) -> Value {
    let headers: Vec<(&str, &str)> = input
        .content_type
        .iter()
        .map(|c| ("content-type", c.as_str()))
        .collect();
    let mut event = apigw_event_json(input.method, &input.path, &input.query, &headers, None);
    let bytes = match &input.payload {
        Payload::None => None,
        Payload::Bytes(bytes) => Some(bytes.clone()),
        Payload::Json(value) => Some(value.to_string().into_bytes()),
        Payload::Raw(text) => Some(text.clone().into_bytes()),
    };
    if let Some(bytes) = bytes {
        match String::from_utf8(bytes.clone()) {
            Ok(text) if !input.base64 => event["body"] = text.into(),
            _ => {
                event["body"] = base64(&bytes).into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    match &input.claims {
        Some(claims) => with_claims(event, claims.clone()),
        None => without_authorizer(event),
    }
}

#[test]
fn hostile_requests_never_panic_never_5xx_and_never_write_when_rejected() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let table = runtime.block_on(TestTable::new());
    let app = table.app();
    let cases = std::env::var("PLAYBACK_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(384);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::new());
    runner
        .run(&input(), |input| {
            let event = envelope(&input);
            let before = runtime.block_on(table.items());
            // What lambda_http itself cannot parse never reaches a handler, in Lambda either.
            let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
                return Ok(());
            };
            let is_write = matches!(
                PATHS.iter().find(|p| input.path.ends_with(*p)),
                Some(&"/playback/update" | &"/playback/remove" | &"/playback/unwatch")
            );
            let response = runtime.block_on(async {
                if is_write {
                    app.update(request).await
                } else {
                    app.resume(request).await
                }
            });
            let status = response.status();
            *seen.borrow_mut().entry(status.as_u16()).or_insert(0) += 1;
            prop_assert!(!status.is_server_error(), "{status} for {input:?}");
            let body: Value = serde_json::from_slice(response.body().as_ref())
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}) for {input:?}")))?;
            if status.is_client_error() {
                prop_assert!(
                    body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                    "{body}"
                );
                let after = runtime.block_on(table.items());
                prop_assert_eq!(
                    before,
                    after,
                    "a rejected request changed the table: {:?}",
                    input
                );
            }
            Ok(())
        })
        .unwrap();
    // The generator must reach past validation, or the run proves little.
    let seen = seen.into_inner();
    assert!(
        seen.get(&200).copied().unwrap_or(0) >= cases as usize / 20,
        "too few accepted requests: {seen:?}"
    );
    for status in [400, 401, 403] {
        assert!(
            seen.contains_key(&status),
            "never produced {status}: {seen:?}"
        );
    }
    println!("fuzz statuses over {cases} cases: {seen:?}");
}
