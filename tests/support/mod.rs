//! Shared harness of the integration tests: a real DynamoDB Local (started by `scripts/test.sh`,
//! reached over HTTP with the real SDK), a fresh table per test, and real API Gateway HTTP API
//! (payload 2.0) events parsed by lambda_http exactly as in Lambda.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use lambda_http::{Body, Request, Response};
use playback::domain::{
    Change, Clock, DeviceId, Origin, PlaybackKey, PlaybackUpdate, Position, Rules, Seq, Stamp,
};
use playback::store::{create_table, DynamoStore, StoreSettings};
use playback::App;
use serde_json::{json, Value};

pub const ENDPOINT_VAR: &str = "PLAYBACK_TEST_DYNAMODB_ENDPOINT";
pub const REDIS_VAR: &str = "PLAYBACK_TEST_REDIS_URL";

/// The redis-server `scripts/test.sh` starts for the cache tests.
pub fn redis_url() -> String {
    std::env::var(REDIS_VAR).unwrap_or_else(|_| {
        panic!(
            "{REDIS_VAR} is not set: run the tests with scripts/test.sh, which starts redis-server"
        )
    })
}

/// DynamoDB Local's address, as `scripts/test.sh` exports it.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| {
        panic!("{ENDPOINT_VAR} is not set: run the tests with scripts/test.sh, which starts DynamoDB Local")
    })
}

/// An SDK client for `endpoint` with dummy credentials, as a developer machine would have.
pub async fn client_for(endpoint: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await;
    Client::new(&config)
}

/// A store talking to `endpoint` (a hung or closed port, in failure tests) with these budgets;
/// lists and batches get the write budget.
pub async fn store_at(endpoint: &str, table: &str, read: Duration, write: Duration) -> DynamoStore {
    DynamoStore::new(
        client_for(endpoint).await,
        StoreSettings {
            table: table.into(),
            read_timeout: read,
            write_timeout: write,
            list_timeout: write,
            consistent_reads: false,
        },
    )
}

/// A table of its own for one test, so tests run in parallel without seeing each other.
pub struct TestTable {
    pub name: String,
    pub client: Client,
}

impl TestTable {
    pub async fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "playback-test-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let client = client_for(&endpoint()).await;
        create_table(&client, &name)
            .await
            .expect("create test table");
        Self { name, client }
    }

    /// Budgets generous enough for a shared 2-core CI machine: these tests pin behaviour, not speed.
    pub fn settings(&self) -> StoreSettings {
        StoreSettings {
            table: self.name.clone(),
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            list_timeout: Duration::from_secs(5),
            consistent_reads: true,
        }
    }

    pub fn store(&self) -> DynamoStore {
        DynamoStore::new(self.client.clone(), self.settings())
    }

    /// A store on this test's client but another table (one that does not exist, say).
    pub fn store_for_table(&self, table: &str) -> DynamoStore {
        DynamoStore::new(
            self.client.clone(),
            StoreSettings {
                table: table.into(),
                ..self.settings()
            },
        )
    }

    pub fn app(&self) -> App<DynamoStore> {
        App::new(self.store(), Rules::default())
    }

    /// Every item in the table, raw, to prove what was (or was not) written.
    pub async fn items(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        let out = self
            .client
            .scan()
            .table_name(&self.name)
            .consistent_read(true)
            .send()
            .await
            .expect("scan test table");
        out.items.unwrap_or_default()
    }

    pub async fn raw_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<std::collections::HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get raw item")
            .item
    }
}

/// A clock the test sets and moves.
#[derive(Debug, Default)]
pub struct TestClock(std::sync::atomic::AtomicU64);

impl TestClock {
    pub fn at(millis: u64) -> Arc<Self> {
        Arc::new(Self(millis.into()))
    }

    pub fn set(&self, millis: u64) {
        self.0.store(millis, Ordering::SeqCst);
    }

    pub fn advance(&self, millis: u64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Stamp {
        Stamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// The current wall clock in milliseconds, for tests whose data must not be expired on arrival.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The account in the `sub` claim of the token every test event carries unless told otherwise.
pub const TOKEN_ACCOUNT: &str = "acct-1";

/// What API Gateway's JWT authorizer puts in the event after verifying a token with these claims.
pub fn jwt_authorizer(claims: Value) -> Value {
    let mut claims = claims;
    claims["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example".into();
    claims["aud"] = "playback-players".into();
    json!({ "jwt": { "claims": claims, "scopes": null } })
}

/// The event as API Gateway sends it with no authorizer on the route (and as `cargo lambda watch` does).
pub fn without_authorizer(mut event: Value) -> Value {
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    event
}

/// The event as sent with a token carrying these claims.
pub fn with_claims(mut event: Value, claims: Value) -> Value {
    event["requestContext"]["authorizer"] = jwt_authorizer(claims);
    event
}

/// An API Gateway HTTP API (payload format 2.0) event, as JSON, the way API Gateway sends it after
/// its JWT authorizer verified a token whose `sub` is [`TOKEN_ACCOUNT`].
pub fn apigw_event_json(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert(
        "host".into(),
        "abc123.execute-api.us-east-1.amazonaws.com".into(),
    );
    header_map.insert("user-agent".into(), "player/1.0".into());
    for (name, value) in headers {
        header_map.insert(name.to_string(), Value::String(value.to_string()));
    }
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "player/1.0"
            },
            "requestId": "test-request",
            "authorizer": jwt_authorizer(json!({ "sub": TOKEN_ACCOUNT })),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "04/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1796418000000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Parses an event the way the Lambda runtime does for lambda_http.
pub fn request_from_event(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event")
}

pub fn post_update(body: &str) -> Request {
    request_from_event(&apigw_event_json(
        "POST",
        "/playback/update",
        "",
        &[("content-type", "application/json")],
        Some(body),
    ))
}

pub fn get_resume(raw_query: &str) -> Request {
    request_from_event(&apigw_event_json(
        "GET",
        "/playback/resume",
        raw_query,
        &[],
        None,
    ))
}

/// A valid update body with the given fields replaced (`Value::Null` removes a field).
pub fn update_body(overrides: Value) -> String {
    let mut body = json!({
        "account_id": "acct-1",
        "profile_id": "alice",
        "video_id": "tt0111161",
        "position": 1200.5,
        "device_id": "tv-living-room",
        "seq": 1
    });
    for (key, value) in overrides.as_object().expect("overrides are an object") {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value.clone();
        }
    }
    body.to_string()
}

pub fn json_body(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref())
        .unwrap_or_else(|err| panic!("response body is not JSON ({err}): {:?}", response.body()))
}

/// Records the DynamoDB operation of every HTTP request the SDK sends (retries included), so tests
/// can prove how many round trips a call costs.
#[derive(Debug, Clone, Default)]
pub struct RoundTrips(Arc<std::sync::Mutex<Vec<String>>>);

impl RoundTrips {
    /// Operation names (`UpdateItem`, `GetItem`...) since the last call, in order.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl aws_sdk_dynamodb::config::Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.0.lock().unwrap().push(operation);
        Ok(())
    }
}

impl TestTable {
    /// A store on this table whose every request to DynamoDB is recorded.
    pub fn counted_store(&self) -> (DynamoStore, RoundTrips) {
        let trips = RoundTrips::default();
        let config = self
            .client
            .config()
            .to_builder()
            .interceptor(trips.clone())
            .build();
        (
            DynamoStore::new(Client::from_conf(config), self.settings()),
            trips,
        )
    }
}

/// An HTTP connector that hands the SDK DynamoDB Local's real answers, except that the first
/// BatchGetItem answer loses every other item to `UnprocessedKeys`, as DynamoDB does when throttled
/// or past its 16 MB response limit. Counts the BatchGetItem calls it forwards.
#[derive(Debug, Clone)]
struct UnprocessedKeysOnce {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    faked: Arc<std::sync::atomic::AtomicBool>,
    batches: Arc<AtomicU32>,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for UnprocessedKeysOnce {
    fn call(
        &self,
        request: aws_sdk_dynamodb::config::http::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let is_batch = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|target| target.ends_with(".BatchGetItem"));
        let request_json: Option<Value> = if is_batch {
            request
                .body()
                .bytes()
                .and_then(|bytes| serde_json::from_slice(bytes).ok())
        } else {
            None
        };
        let this = self.clone();
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let response = this.inner.call(request).await?;
            let Some(request_json) = request_json else {
                return Ok(response);
            };
            this.batches.fetch_add(1, Ordering::SeqCst);
            if this.faked.swap(true, Ordering::SeqCst) {
                return Ok(response);
            }
            let status = response.status();
            let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|err| ConnectorError::other(err.into(), None))?
                .into_bytes();
            let mut answer: Value =
                serde_json::from_slice(&body).expect("BatchGetItem answers JSON");
            let (table, requested) = request_json["RequestItems"]
                .as_object()
                .and_then(|items| items.iter().next())
                .map(|(table, keys)| (table.clone(), keys.clone()))
                .expect("one table per batch");
            let items = answer["Responses"][&table]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let (mut kept, mut unprocessed) = (Vec::new(), Vec::new());
            for (i, item) in items.into_iter().enumerate() {
                if i % 2 == 0 {
                    let key = requested["Keys"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|key| key["sk"] == item["sk"])
                        .expect("an answered item was asked for")
                        .clone();
                    unprocessed.push(key);
                } else {
                    kept.push(item);
                }
            }
            answer["Responses"][&table] = Value::Array(kept);
            if !unprocessed.is_empty() {
                let mut retry = requested.clone();
                retry["Keys"] = Value::Array(unprocessed);
                answer["UnprocessedKeys"] = json!({ table: retry });
            }
            let body = serde_json::to_vec(&answer).unwrap();
            let mut rewritten = aws_sdk_dynamodb::config::http::HttpResponse::new(
                status,
                aws_smithy_types::body::SdkBody::from(body),
            );
            rewritten
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            Ok(rewritten)
        })
    }
}

impl TestTable {
    /// A store whose first BatchGetItem answer comes back partly unprocessed; the counter tells how
    /// many BatchGetItem calls were made.
    pub fn store_with_unprocessed_keys(&self) -> (DynamoStore, Arc<AtomicU32>) {
        // DynamoDB Local speaks plain HTTP.
        let inner = aws_smithy_http_client::Builder::new().build_http();
        let faked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let batches = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&batches);
        let http =
            aws_smithy_runtime_api::client::http::http_client_fn(move |settings, components| {
                aws_smithy_runtime_api::client::http::SharedHttpConnector::new(
                    UnprocessedKeysOnce {
                        inner: aws_smithy_runtime_api::client::http::HttpClient::http_connector(
                            &inner, settings, components,
                        ),
                        faked: Arc::clone(&faked),
                        batches: Arc::clone(&counter),
                    },
                )
            });
        let config = self.client.config().to_builder().http_client(http).build();
        (
            DynamoStore::new(Client::from_conf(config), self.settings()),
            batches,
        )
    }
}

/// Standard base64 with padding, as API Gateway encodes binary bodies (`isBase64Encoded`).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A TCP server that accepts connections and never answers: the worst dependency failure (a hung
/// database or cache). Lives as long as the test's runtime.
pub async fn silent_address() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    address
}

/// A position report of `seconds` from `device` (its `seq`), stamped and written at server time
/// `stamp_ms`, living an hour: the store-level update most tests need.
pub fn report_at(
    key: &PlaybackKey,
    device: &str,
    seq: u64,
    stamp_ms: u64,
    seconds: f64,
) -> PlaybackUpdate {
    PlaybackUpdate {
        key: key.clone(),
        origin: Origin {
            device: DeviceId::parse(device).unwrap(),
            seq: Seq::new(seq).unwrap(),
            updated_at: Stamp::from_millis(stamp_ms),
        },
        change: Change::Report {
            position: Position::from_seconds(seconds).unwrap(),
            duration: None,
        },
        now: Stamp::from_millis(stamp_ms),
        expires_at: stamp_ms / 1000 + 3600,
    }
}
