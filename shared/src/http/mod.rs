//! HTTP edge of both Lambdas: request in, domain call, response out.

mod error;
mod parse;

use std::sync::Arc;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

pub use error::ApiError;
pub use parse::{MAX_BODY_BYTES, RESUME_PATH, UPDATE_PATH};

use crate::config::{Config, ConfigError};
use crate::domain::ordering::WriteOutcome;
use crate::domain::{Clock, PlaybackKey, PlaybackState, Rules, SystemClock};
use crate::store::{DynamoStore, PlaybackStore, WriteResult};

/// Everything a handler needs, built once at init and shared by every invocation.
pub struct App<S> {
    store: S,
    rules: Rules,
    clock: Arc<dyn Clock>,
}

impl App<DynamoStore> {
    /// Reads the configuration and connects to DynamoDB: the whole init phase of both Lambdas.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        Ok(Self::new(
            DynamoStore::connect(config.store).await,
            config.rules,
        ))
    }
}

impl<S: PlaybackStore> App<S> {
    pub fn new(store: S, rules: Rules) -> Self {
        Self {
            store,
            rules,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the server clock (tests model skewed Lambda hosts with this).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// `POST /playback/update`: records a position report under last-write-wins.
    pub async fn update(&self, req: Request) -> Response<Body> {
        let result = async {
            parse::expect_route(&req, Method::POST, UPDATE_PATH)?;
            let report = parse::position_report(&req)?;
            let key = report.key.clone();
            let update = report.stamp(self.clock.now(), &self.rules);
            let outcome = match self.store.apply(&update).await? {
                WriteResult::Applied => WriteOutcome::Applied(update.state),
                WriteResult::Rejected { winner } => WriteOutcome::rejected(&update.state, winner),
            };
            let body = json!({ "applied": outcome.applied(), "playback": playback_json(&key, outcome.state()) });
            Ok(json_response(StatusCode::OK, &body))
        }
        .await;
        finish("update", &req, result)
    }

    /// `GET /playback/resume`: the saved position for one video of one profile.
    pub async fn resume(&self, req: Request) -> Response<Body> {
        let result = async {
            parse::expect_route(&req, Method::GET, RESUME_PATH)?;
            let key = parse::playback_key(&req)?;
            let state = self
                .store
                .get(&key, self.clock.now())
                .await?
                .ok_or(ApiError::NoPlayback)?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "playback": playback_json(&key, &state) }),
            ))
        }
        .await;
        finish("resume", &req, result)
    }
}

/// Logs the outcome with the request id (internal causes only here, never in the response).
fn finish(
    route: &'static str,
    req: &Request,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.as_str())
        .unwrap_or("-");
    match result {
        Ok(response) => {
            tracing::info!(
                route,
                request_id,
                status = response.status().as_u16(),
                "handled"
            );
            response
        }
        Err(err) => {
            let status = err.status().as_u16();
            if status >= 500 {
                tracing::error!(route, request_id, status, error = %err, "failed");
            } else {
                tracing::info!(route, request_id, status, error = %err, "rejected");
            }
            err.into_response()
        }
    }
}

fn playback_json(key: &PlaybackKey, state: &PlaybackState) -> Value {
    json!({
        "account_id": key.account.as_str(),
        "profile_id": key.profile.as_str(),
        "video_id": key.video.as_str(),
        "position": state.position.seconds(),
        "device_id": state.device.as_str(),
        "seq": state.seq.get(),
        "updated_at": state.updated_at.to_string(),
    })
}

/// A JSON response that no client or proxy caches: positions change every few seconds.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
