//! Requests to domain values: everything past this module is already valid.

use lambda_http::http::{header, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};

use super::ApiError;
use crate::config::Auth;
use crate::domain::listing::{Cursor, PageSize, VideoBatch};
use crate::domain::{
    AccountId, Age, Change, DeviceId, InvalidField, PlaybackKey, Position, ProfileId, ProfileKey,
    Report, Seq, VideoId,
};

/// Largest body accepted. A report is about 200 bytes and a full batch of 100 ids under 14 KB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every route of the API and the function that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Update,
    Remove,
    Unwatch,
    Resume,
    ResumeBatch,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Update,
        Route::Remove,
        Route::Unwatch,
        Route::Resume,
        Route::ResumeBatch,
    ];
    /// Routes served by the update function (writes).
    pub const WRITES: [Route; 3] = [Route::Update, Route::Remove, Route::Unwatch];
    /// Routes served by the resume function (reads).
    pub const READS: [Route; 2] = [Route::Resume, Route::ResumeBatch];

    pub fn method(self) -> Method {
        match self {
            Self::Resume => Method::GET,
            _ => Method::POST,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::Update => "/playback/update",
            Self::Remove => "/playback/remove",
            Self::Unwatch => "/playback/unwatch",
            Self::Resume => "/playback/resume",
            Self::ResumeBatch => "/playback/resume/batch",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Remove => "remove",
            Self::Unwatch => "unwatch",
            Self::Resume => "resume",
            Self::ResumeBatch => "resume_batch",
        }
    }
}

/// Which of `served` the request is for: its path (optionally behind a stage or base path) picks
/// the route, then the method must match.
pub fn route(req: &Request, served: &[Route]) -> Result<Route, ApiError> {
    let raw = req.raw_http_path();
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    let route = served
        .iter()
        .copied()
        .find(|route| raw.ends_with(route.path()))
        .ok_or(ApiError::RouteNotFound)?;
    if req.method() != route.method() {
        return Err(ApiError::MethodNotAllowed {
            allowed: route.method(),
        });
    }
    Ok(route)
}

/// Who is calling, as API Gateway's JWT authorizer verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The account named by the token's account claim.
    Account(AccountId),
    /// No authorizer context, accepted only in local development mode.
    Unauthenticated,
}

/// Resolves the caller before anything else is read, so an anonymous caller learns nothing more.
pub fn caller(req: &Request, auth: &Auth) -> Result<Caller, ApiError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    match claims {
        Some(claims) => claims
            .get(&auth.account_claim)
            .and_then(|raw| AccountId::parse(raw).ok())
            .map(Caller::Account)
            .ok_or_else(|| ApiError::UnusableToken {
                claim: auth.account_claim.clone(),
            }),
        None if auth.allow_unauthenticated => Ok(Caller::Unauthenticated),
        None => Err(ApiError::Unauthorized),
    }
}

impl Caller {
    /// The account a request acts on: the token's. A request may name it (`account_id`), but then it
    /// must be a valid id and the same account; naming another one is refused, never ignored.
    fn account(&self, requested: Option<&str>) -> Result<AccountId, ApiError> {
        match (self, requested) {
            (Self::Account(account), None) => Ok(account.clone()),
            (Self::Account(account), Some(raw)) => {
                let asked = AccountId::parse(raw)?;
                if &asked == account {
                    Ok(asked)
                } else {
                    Err(ApiError::OtherAccount)
                }
            }
            (Self::Unauthenticated, Some(raw)) => Ok(AccountId::parse(raw)?),
            (Self::Unauthenticated, None) => Err(required(AccountId::FIELD).into()),
        }
    }
}

/// The body of a write route: the key, who sends it, and the change the route makes.
pub fn report(req: &Request, caller: &Caller, route: Route) -> Result<Report, ApiError> {
    let body = json_object(req)?;
    let key = PlaybackKey {
        account: caller.account(optional_string_field(&body, AccountId::FIELD)?)?,
        profile: ProfileId::parse(string_field(&body, ProfileId::FIELD)?)?,
        video: VideoId::parse(string_field(&body, VideoId::FIELD)?)?,
    };
    let device = DeviceId::parse(string_field(&body, DeviceId::FIELD)?)?;
    let seq = Seq::parse(required_number(&body, Seq::FIELD)?)?;
    let age = number_field(&body, Age::FIELD)?
        .map(Age::parse_millis)
        .transpose()?
        .unwrap_or_default();
    let change = match route {
        Route::Remove => Change::Remove,
        Route::Unwatch => Change::Unwatch,
        _ => Change::Report {
            position: Position::from_seconds(required_number(&body, Position::FIELD)?)?,
            duration: number_field(&body, "duration")?
                .map(|seconds| Position::parse_seconds("duration", seconds))
                .transpose()?,
        },
    };
    Ok(Report {
        key,
        device,
        seq,
        age,
        change,
    })
}

/// `GET /playback/resume`: one video, or the profile's continue-watching list.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumeQuery {
    One {
        key: PlaybackKey,
        /// The player's own position, for guardrail advice.
        local: Option<Position>,
        device: Option<DeviceId>,
    },
    List {
        profile: ProfileKey,
        cursor: Option<Cursor>,
        size: PageSize,
    },
}

pub fn resume_query(req: &Request, caller: &Caller) -> Result<ResumeQuery, ApiError> {
    let query = req.query_string_parameters();
    let param = |field: &'static str| -> Result<Option<String>, InvalidField> {
        match query.all(field).as_deref() {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some((*one).to_owned())),
            Some(_) => Err(InvalidField::new(field, "must be given once")),
        }
    };
    let required = |field: &'static str| param(field)?.ok_or_else(|| required(field));
    let profile = ProfileKey {
        account: caller.account(param(AccountId::FIELD)?.as_deref())?,
        profile: ProfileId::parse(&required(ProfileId::FIELD)?)?,
    };
    let Some(video) = param(VideoId::FIELD)? else {
        return Ok(ResumeQuery::List {
            profile,
            cursor: param(Cursor::FIELD)?
                .as_deref()
                .map(Cursor::decode)
                .transpose()?,
            size: param(PageSize::FIELD)?
                .as_deref()
                .map(PageSize::parse)
                .transpose()?
                .unwrap_or(PageSize::DEFAULT),
        });
    };
    let local = match param("local_position")? {
        None => None,
        Some(raw) => {
            let seconds = raw
                .parse::<f64>()
                .map_err(|_| InvalidField::new("local_position", "must be a number of seconds"))?;
            Some(Position::parse_seconds("local_position", seconds)?)
        }
    };
    Ok(ResumeQuery::One {
        key: profile.video(VideoId::parse(&video)?),
        local,
        device: param(DeviceId::FIELD)?
            .as_deref()
            .map(DeviceId::parse)
            .transpose()?,
    })
}

/// `POST /playback/resume/batch` body: a profile and the videos to look up.
pub fn batch(req: &Request, caller: &Caller) -> Result<(ProfileKey, VideoBatch), ApiError> {
    let body = json_object(req)?;
    let profile = ProfileKey {
        account: caller.account(optional_string_field(&body, AccountId::FIELD)?)?,
        profile: ProfileId::parse(string_field(&body, ProfileId::FIELD)?)?,
    };
    let field = VideoBatch::FIELD;
    let items = match body.get(field) {
        None | Some(Value::Null) => return Err(required(field).into()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(InvalidField::new(field, "must be an array of video ids").into()),
    };
    if items.len() > crate::domain::listing::MAX_BATCH {
        // Checked before parsing so a huge array costs nothing more.
        return Err(VideoBatch::new(Vec::new()).unwrap_err().into());
    }
    let ids = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(raw) => VideoId::parse(raw)
                .map_err(|e| InvalidField::new(field, format!("[{i}] {}", e.rule))),
            _ => Err(InvalidField::new(field, format!("[{i}] must be a string"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((profile, VideoBatch::new(ids)?))
}

fn required(field: &'static str) -> InvalidField {
    InvalidField::new(field, "is required")
}

/// JSON bodies are accepted as `application/json` (or `+json`), `text/plain` (what `navigator.sendBeacon`
/// sends when a browser tab closes) or without a content type.
fn acceptable_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let media_type = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json") || media_type == "text/plain"
}

fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    if !acceptable_content_type(req) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("body is empty".into()));
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::NotAnObject),
        Err(err) => Err(ApiError::MalformedJson(err.to_string())),
    }
}

fn string_field<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, InvalidField> {
    match body.get(field) {
        None | Some(Value::Null) => Err(required(field)),
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(InvalidField::new(field, "must be a string")),
    }
}

fn optional_string_field<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, InvalidField> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(InvalidField::new(field, "must be a string")),
    }
}

fn number_field(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<f64>, InvalidField> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => number
            .as_f64()
            .map(Some)
            .ok_or_else(|| InvalidField::new(field, "must be a number")),
        Some(_) => Err(InvalidField::new(field, "must be a number")),
    }
}

fn required_number(body: &Map<String, Value>, field: &'static str) -> Result<f64, InvalidField> {
    number_field(body, field)?.ok_or_else(|| required(field))
}
