//! HTTP edge of both Lambdas: request in, domain call, response out.

mod error;
mod parse;

use std::sync::Arc;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

pub use error::ApiError;
pub use parse::{Caller, Route, MAX_BODY_BYTES};

use crate::config::{Auth, Config, ConfigError};
use crate::domain::listing::continue_watching;
use crate::domain::ordering::WriteOutcome;
use crate::domain::{Clock, PlaybackKey, PlaybackState, Rules, SystemClock};
use crate::store::{CachedStore, DynamoStore, PlaybackStore, WriteResult};
use parse::ResumeQuery;

/// Everything a handler needs, built once at init and shared by every invocation.
pub struct App<S> {
    store: S,
    rules: Rules,
    auth: Auth,
    clock: Arc<dyn Clock>,
}

impl App<CachedStore<DynamoStore>> {
    /// Reads the configuration, builds the DynamoDB client and (if configured) opens the cache: the
    /// whole init phase of both Lambdas.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let dynamo = DynamoStore::connect(config.store).await;
        let store = match config.cache {
            None => CachedStore::without_cache(dynamo),
            Some(settings) => {
                let url = settings.url.clone();
                let store = CachedStore::with_cache(dynamo, settings).map_err(|_| {
                    ConfigError::Invalid {
                        name: "PLAYBACK_CACHE_URL",
                        expected: "a valid redis:// or rediss:// URL",
                        value: url,
                    }
                })?;
                store.warm_up().await;
                store
            }
        };
        Ok(Self::new(store, config.rules).with_auth(config.auth))
    }
}

impl<S: PlaybackStore> App<S> {
    /// An app that requires API Gateway's JWT authorizer, the account in the `sub` claim.
    pub fn new(store: S, rules: Rules) -> Self {
        Self {
            store,
            rules,
            auth: Auth::default(),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Replaces the server clock (tests model skewed Lambda hosts with this).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The update function: `POST /playback/update`, `/playback/remove`, `/playback/unwatch`.
    pub async fn update(&self, req: Request) -> Response<Body> {
        let (route, result) = match parse::route(&req, &Route::WRITES) {
            Ok(route) => (route.name(), self.write(&req, route).await),
            Err(err) => ("update", Err(err)),
        };
        finish(route, &req, result)
    }

    /// The resume function: `GET /playback/resume` (one video, or continue watching) and
    /// `POST /playback/resume/batch`.
    pub async fn resume(&self, req: Request) -> Response<Body> {
        let (route, result) = match parse::route(&req, &Route::READS) {
            Ok(Route::ResumeBatch) => (Route::ResumeBatch.name(), self.batch(&req).await),
            Ok(route) => (route.name(), self.read(&req).await),
            Err(err) => ("resume", Err(err)),
        };
        finish(route, &req, result)
    }

    async fn write(&self, req: &Request, route: Route) -> Result<Response<Body>, ApiError> {
        let caller = parse::caller(req, &self.auth)?;
        let report = parse::report(req, &caller, route)?;
        let key = report.key.clone();
        let update = report.stamp(self.clock.now(), &self.rules);
        let outcome = match self.store.apply(&update).await? {
            WriteResult::Applied { state } => WriteOutcome::Applied(state),
            WriteResult::Rejected { winner } => WriteOutcome::rejected(&update.origin, winner),
            WriteResult::Missing => return Err(ApiError::NoPlayback),
        };
        let body = json!({ "applied": outcome.applied(), "playback": self.playback_json(&key, outcome.state()) });
        Ok(json_response(StatusCode::OK, &body))
    }

    async fn read(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let caller = parse::caller(req, &self.auth)?;
        let now = self.clock.now();
        match parse::resume_query(req, &caller)? {
            ResumeQuery::One { key, local, device } => {
                let state = self
                    .store
                    .get(&key, now)
                    .await?
                    .ok_or(ApiError::NoPlayback)?;
                let mut body = json!({ "playback": self.playback_json(&key, &state) });
                if let Some(local) = local {
                    let target = self.rules.completion.resume_from(&state);
                    let guidance =
                        self.rules
                            .guardrails
                            .advise(local, device.as_ref(), &state, target);
                    body["guardrail"] =
                        json!({ "action": guidance.advice.as_str(), "reason": guidance.reason });
                    if guidance.advice == crate::domain::Advice::Ask {
                        body["guardrail"]["prompt"] =
                            format!("Resume from {}?", target.clock_face()).into();
                    }
                }
                Ok(json_response(StatusCode::OK, &body))
            }
            ResumeQuery::List {
                profile,
                cursor,
                size,
            } => {
                let entries = self.store.list(&profile, now).await?;
                let page =
                    continue_watching(entries, &self.rules.completion, cursor.as_ref(), size);
                let items: Vec<Value> = page
                    .entries
                    .into_iter()
                    .map(|(video, state)| self.playback_json(&profile.video(video), &state))
                    .collect();
                let next = page.next.map(|cursor| cursor.encode());
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "items": items, "next_cursor": next }),
                ))
            }
        }
    }

    async fn batch(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let caller = parse::caller(req, &self.auth)?;
        let (profile, batch) = parse::batch(req, &caller)?;
        let mut found = self
            .store
            .batch_get(&profile, batch.ids(), self.clock.now())
            .await?;
        let (mut items, mut missing) = (Vec::new(), Vec::new());
        for video in batch.ids() {
            match found.iter().position(|(v, _)| v == video) {
                Some(i) => {
                    let (video, state) = found.swap_remove(i);
                    items.push(self.playback_json(&profile.video(video), &state));
                }
                None => missing.push(video.as_str()),
            }
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({ "items": items, "missing": missing }),
        ))
    }

    fn playback_json(&self, key: &PlaybackKey, state: &PlaybackState) -> Value {
        let completion = &self.rules.completion;
        json!({
            "account_id": key.account.as_str(),
            "profile_id": key.profile.as_str(),
            "video_id": key.video.as_str(),
            "position": state.position.seconds(),
            "duration": state.duration.map(|d| d.seconds()),
            "percent": crate::domain::percent(state),
            "status": completion.status(state).as_str(),
            "resume_from": completion.resume_from(state).seconds(),
            "hidden": state.hidden,
            "device_id": state.origin.device.as_str(),
            "seq": state.origin.seq.get(),
            "updated_at": state.origin.updated_at.to_string(),
        })
    }
}

/// Logs the outcome with Lambda's and API Gateway's request ids. Internal causes go only here, never
/// into the response.
fn finish(
    route: &'static str,
    req: &Request,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.as_str())
        .unwrap_or("-");
    let apigw_request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref().unwrap_or("-"),
        _ => "-",
    };
    match result {
        Ok(response) => {
            let status = response.status().as_u16();
            tracing::info!(route, request_id, apigw_request_id, status, "handled");
            response
        }
        Err(err) => {
            let status = err.status().as_u16();
            if status >= 500 {
                tracing::error!(route, request_id, apigw_request_id, status, error = %err, "failed");
            } else {
                tracing::info!(route, request_id, apigw_request_id, status, error = %err, "rejected");
            }
            err.into_response()
        }
    }
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
