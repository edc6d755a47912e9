//! Shared by the criterion benchmarks and the load driver: API Gateway events as Lambda receives
//! them, for an account named by the token.

use lambda_http::Request;
use serde_json::{json, Value};

/// An API Gateway HTTP API (2.0) event with a verified JWT whose `sub` is `account`, as JSON text:
/// what the Lambda runtime hands lambda_http on every invocation.
pub fn event_json(
    account: &str,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
) -> String {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "content-type": "application/json",
            "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.bench.signature",
            "user-agent": "playback-bench"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "playback-bench" },
            "requestId": "bench",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "04/Dec/2026:21:00:00 +0000",
            "timeEpoch": 1796418000000u64,
            "authorizer": { "jwt": { "claims": { "sub": account }, "scopes": null } }
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
    .to_string()
}

/// Parses an event exactly as lambda_http does in Lambda.
pub fn request(event: &str) -> Request {
    lambda_http::request::from_str(event).expect("valid API Gateway event")
}

/// A small, fast, deterministic generator (xorshift64*): reproducible load without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
