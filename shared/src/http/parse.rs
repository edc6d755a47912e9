//! Requests to domain values: everything past this module is already valid.

use lambda_http::http::{header, Method};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Map, Value};

use super::ApiError;
use crate::domain::{
    AccountId, Age, DeviceId, InvalidField, PlaybackKey, Position, PositionReport, ProfileId, Seq,
    VideoId,
};

/// Largest update body accepted. A report is about 200 bytes; anything near this is not a report.
pub const MAX_BODY_BYTES: usize = 4096;

pub const UPDATE_PATH: &str = "/playback/update";
pub const RESUME_PATH: &str = "/playback/resume";

/// Accepts the request only on `path` (optionally behind a stage or base path) with `method`.
pub fn expect_route(req: &Request, method: Method, path: &str) -> Result<(), ApiError> {
    let raw = req.raw_http_path();
    let raw = raw.strip_suffix('/').unwrap_or(raw);
    if !raw.ends_with(path) {
        return Err(ApiError::RouteNotFound);
    }
    if req.method() != method {
        return Err(ApiError::MethodNotAllowed { allowed: method });
    }
    Ok(())
}

/// `POST /playback/update` body to a report.
pub fn position_report(req: &Request) -> Result<PositionReport, ApiError> {
    let body = json_object(req)?;
    let text = |field| string_field(&body, field);
    let key = PlaybackKey {
        account: AccountId::parse(text(AccountId::FIELD)?)?,
        profile: ProfileId::parse(text(ProfileId::FIELD)?)?,
        video: VideoId::parse(text(VideoId::FIELD)?)?,
    };
    let device = DeviceId::parse(text(DeviceId::FIELD)?)?;
    let position = Position::from_seconds(
        number_field(&body, Position::FIELD)?.ok_or_else(|| required(Position::FIELD))?,
    )?;
    let seq = Seq::parse(number_field(&body, Seq::FIELD)?.ok_or_else(|| required(Seq::FIELD))?)?;
    let age = number_field(&body, Age::FIELD)?
        .map(Age::parse_millis)
        .transpose()?
        .unwrap_or_default();
    Ok(PositionReport {
        key,
        position,
        device,
        seq,
        age,
    })
}

/// `GET /playback/resume` query to the key it names.
pub fn playback_key(req: &Request) -> Result<PlaybackKey, ApiError> {
    let query = req.query_string_parameters();
    let param = |field: &'static str| -> Result<String, InvalidField> {
        match query.all(field).as_deref() {
            None | Some([]) => Err(required(field)),
            Some([one]) => Ok((*one).to_owned()),
            Some(_) => Err(InvalidField::new(field, "must be given once")),
        }
    };
    Ok(PlaybackKey {
        account: AccountId::parse(&param(AccountId::FIELD)?)?,
        profile: ProfileId::parse(&param(ProfileId::FIELD)?)?,
        video: VideoId::parse(&param(VideoId::FIELD)?)?,
    })
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
        Body::Empty => &[],
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
