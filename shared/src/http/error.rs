//! The one place where failures become HTTP statuses and JSON error bodies.

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::json_response;
use crate::domain::InvalidField;
use crate::store::StoreError;

/// Every way a request can fail, as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    InvalidField(#[from] InvalidField),
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("body must be at most {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    #[error("method not allowed here, use {allowed}")]
    MethodNotAllowed { allowed: Method },
    #[error("no route for this path")]
    RouteNotFound,
    #[error("a bearer token verified by the API's JWT authorizer is required")]
    Unauthorized,
    #[error("the token's {claim} claim is missing or not a valid account id")]
    UnusableToken { claim: String },
    #[error("account_id names another account than the token's")]
    OtherAccount,
    #[error("no saved position for this video")]
    NoPlayback,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField(_) | Self::MalformedJson(_) | Self::NotAnObject => {
                StatusCode::BAD_REQUEST
            }
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RouteNotFound | Self::NoPlayback => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnusableToken { .. } | Self::OtherAccount => StatusCode::FORBIDDEN,
            Self::Store(StoreError::Timeout(_) | StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Store(StoreError::Corrupt(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidField(_) => "invalid_field",
            Self::MalformedJson(_) | Self::NotAnObject => "malformed_body",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RouteNotFound => "route_not_found",
            Self::Unauthorized => "unauthorized",
            Self::UnusableToken { .. } | Self::OtherAccount => "forbidden",
            Self::NoPlayback => "no_playback",
            Self::Store(StoreError::Timeout(_) | StoreError::Unavailable(_)) => "unavailable",
            Self::Store(StoreError::Corrupt(_)) => "internal",
        }
    }

    /// The JSON error body. Store failures say nothing about their cause: that goes to the logs only.
    fn body(&self) -> Value {
        let (field, rule) = match self {
            Self::InvalidField(invalid) => (Some(invalid.field), Some(invalid.rule.as_str())),
            Self::MalformedJson(_) | Self::NotAnObject | Self::BodyTooLarge { .. } => {
                (Some("body"), None)
            }
            Self::UnsupportedMediaType => (Some("content-type"), None),
            Self::Unauthorized => (Some("authorization"), None),
            Self::OtherAccount => (Some("account_id"), None),
            _ => (None, None),
        };
        let message = match self {
            Self::Store(StoreError::Timeout(_) | StoreError::Unavailable(_)) => {
                "temporarily unavailable, retry shortly".to_owned()
            }
            Self::Store(StoreError::Corrupt(_)) => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Some(field) = field {
            error["field"] = field.into();
        }
        if let Some(rule) = rule {
            error["rule"] = rule.into();
        }
        json!({ "error": error })
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = json_response(self.status(), &self.body());
        let headers = response.headers_mut();
        match &self {
            Self::MethodNotAllowed { allowed } => {
                headers.insert(
                    header::ALLOW,
                    HeaderValue::from_str(allowed.as_str())
                        .expect("method names are valid header values"),
                );
            }
            Self::Store(StoreError::Timeout(_) | StoreError::Unavailable(_)) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECONDS),
                );
            }
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn body_of(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn invalid_field_names_field_and_rule() {
        let response =
            ApiError::from(InvalidField::new("position", "must not be negative")).into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_of(&response);
        assert_eq!(body["error"]["field"], "position");
        assert_eq!(body["error"]["rule"], "must not be negative");
        assert_eq!(body["error"]["message"], "position must not be negative");
    }

    #[test]
    fn store_failures_are_503_with_retry_after_and_no_internal_detail() {
        for err in [
            StoreError::Unavailable("ResourceNotFoundException: table playback-secret-name".into()),
            StoreError::Timeout(Duration::from_millis(150)),
        ] {
            let response = ApiError::from(err).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "1");
            let text = String::from_utf8(response.body().to_vec()).unwrap();
            assert!(!text.contains("secret") && !text.contains("150"), "{text}");
        }
    }

    #[test]
    fn corrupt_item_is_500_without_detail() {
        let response = ApiError::from(StoreError::Corrupt("seq is missing".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!String::from_utf8(response.body().to_vec())
            .unwrap()
            .contains("seq"));
    }

    #[test]
    fn missing_identity_is_401_with_a_bearer_challenge_and_other_accounts_403() {
        let response = ApiError::Unauthorized.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response = ApiError::OtherAccount.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(body_of(&response)["error"]["field"], "account_id");
        let response = ApiError::UnusableToken {
            claim: "sub".into(),
        }
        .into_response();
        assert_eq!(body_of(&response)["error"]["code"], "forbidden");
    }

    #[test]
    fn wrong_method_names_the_allowed_one() {
        let response = ApiError::MethodNotAllowed {
            allowed: Method::POST,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
