//! playback-resume: the domain, DynamoDB store and HTTP mapping shared by the `update` and `resume`
//! Lambdas. Entry points in `functions/` only build an [`App`] at init and hand it requests.

pub mod config;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;

pub use http::App;
