//! Configuration, read once from the environment at init. Defaults are documented in the README.

use std::time::Duration;

use crate::domain::{Completion, Guardrails, Rules};
use crate::store::{CacheSettings, StoreSettings};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub store: StoreSettings,
    /// The optional read cache; `None` without `PLAYBACK_CACHE_URL`.
    pub cache: Option<CacheSettings>,
    pub rules: Rules,
    pub auth: Auth,
}

/// Where the caller's account comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The claim of the API Gateway-verified JWT that names the account.
    pub account_claim: String,
    /// Local development only (`PLAYBACK_AUTH_MODE=local-dev`): without an authorizer context the
    /// account is taken from the request. Never set by the SAM template.
    pub allow_unauthenticated: bool,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            account_claim: "sub".into(),
            allow_unauthenticated: false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} must be {expected}, got {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let whole =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                let Some(raw) = lookup(name) else {
                    return Ok(default);
                };
                raw.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or(ConfigError::Invalid {
                        name,
                        expected: match (min, max) {
                            (0, _) => "a whole number (0 or more)",
                            (1, 100) => "a whole number from 1 to 100",
                            _ => "a positive whole number",
                        },
                        value: raw,
                    })
            };
        let positive = |name, default| whole(name, default, 1, u64::MAX);
        let seconds = |name, default| whole(name, default, 0, u64::MAX).map(Duration::from_secs);
        let table = lookup("PLAYBACK_TABLE")
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing("PLAYBACK_TABLE"))?;
        let consistent_reads = match lookup("PLAYBACK_CONSISTENT_READS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "PLAYBACK_CONSISTENT_READS",
                    expected: "true or false",
                    value: other.to_owned(),
                })
            }
        };
        let allow_unauthenticated = match lookup("PLAYBACK_AUTH_MODE").as_deref() {
            None | Some("jwt") => false,
            Some("local-dev") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "PLAYBACK_AUTH_MODE",
                    expected: "jwt or local-dev",
                    value: other.to_owned(),
                })
            }
        };
        let account_claim = lookup("PLAYBACK_ACCOUNT_CLAIM").unwrap_or_else(|| "sub".into());
        if account_claim.trim().is_empty() {
            return Err(ConfigError::Invalid {
                name: "PLAYBACK_ACCOUNT_CLAIM",
                expected: "a claim name",
                value: account_claim,
            });
        }
        let cache = match lookup("PLAYBACK_CACHE_URL").filter(|url| !url.trim().is_empty()) {
            None => None,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Some(CacheSettings {
                    url,
                    timeout: Duration::from_millis(positive("PLAYBACK_CACHE_TIMEOUT_MS", 20)?),
                    ttl: Duration::from_secs(positive("PLAYBACK_CACHE_TTL_SECONDS", 300)?),
                })
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "PLAYBACK_CACHE_URL",
                    expected: "a redis:// or rediss:// URL",
                    value: other,
                })
            }
        };
        Ok(Self {
            cache,
            auth: Auth {
                account_claim,
                allow_unauthenticated,
            },
            store: StoreSettings {
                table,
                read_timeout: Duration::from_millis(positive("PLAYBACK_READ_TIMEOUT_MS", 150)?),
                write_timeout: Duration::from_millis(positive("PLAYBACK_WRITE_TIMEOUT_MS", 500)?),
                list_timeout: Duration::from_millis(positive("PLAYBACK_LIST_TIMEOUT_MS", 300)?),
                consistent_reads,
            },
            rules: Rules {
                retention: Duration::from_secs(positive("PLAYBACK_RETENTION_DAYS", 180)? * 86_400),
                max_offline_age: Duration::from_secs(
                    positive("PLAYBACK_MAX_OFFLINE_AGE_HOURS", 168)? * 3600,
                ),
                completion: Completion {
                    finished_percent: whole("PLAYBACK_FINISHED_PERCENT", 90, 1, 100)? as f64,
                    finished_remaining: seconds("PLAYBACK_FINISHED_REMAINING_SECONDS", 120)?,
                    min_resume: seconds("PLAYBACK_MIN_RESUME_SECONDS", 30)?,
                },
                guardrails: Guardrails {
                    tolerance: seconds("PLAYBACK_GUARD_TOLERANCE_SECONDS", 15)?,
                    max_backward: seconds("PLAYBACK_GUARD_MAX_BACKWARD_SECONDS", 300)?,
                    max_forward: seconds("PLAYBACK_GUARD_MAX_FORWARD_SECONDS", 600)?,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_follow_the_article_budgets() {
        let config = Config::from_lookup(lookup(&[("PLAYBACK_TABLE", "t")])).unwrap();
        assert_eq!(config.store.read_timeout, Duration::from_millis(150));
        assert_eq!(config.store.write_timeout, Duration::from_millis(500));
        assert_eq!(config.store.list_timeout, Duration::from_millis(300));
        assert!(!config.store.consistent_reads);
        assert_eq!(config.rules, Rules::default());
        assert_eq!(
            config.auth,
            Auth::default(),
            "JWT required unless local-dev is asked for"
        );
    }

    #[test]
    fn cache_is_configured_by_url() {
        let config = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_CACHE_URL", "rediss://cache.example:6379"),
            ("PLAYBACK_CACHE_TTL_SECONDS", "60"),
        ]))
        .unwrap();
        let cache = config.cache.unwrap();
        assert_eq!(cache.timeout, Duration::from_millis(20));
        assert_eq!(cache.ttl, Duration::from_secs(60));
        let empty = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_CACHE_URL", ""),
        ]))
        .unwrap();
        assert_eq!(
            empty.cache, None,
            "the template passes an empty URL when the cache is off"
        );
        let err = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_CACHE_URL", "http://x"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("PLAYBACK_CACHE_URL"), "{err}");
    }

    #[test]
    fn auth_mode_and_claim_are_read() {
        let config = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_AUTH_MODE", "local-dev"),
            ("PLAYBACK_ACCOUNT_CLAIM", "custom:account_id"),
        ]))
        .unwrap();
        assert!(config.auth.allow_unauthenticated);
        assert_eq!(config.auth.account_claim, "custom:account_id");
        let err = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_AUTH_MODE", "none"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("PLAYBACK_AUTH_MODE"), "{err}");
    }

    #[test]
    fn table_is_required() {
        assert_eq!(
            Config::from_lookup(lookup(&[])).unwrap_err(),
            ConfigError::Missing("PLAYBACK_TABLE")
        );
    }

    #[test]
    fn settings_are_read_and_bad_values_named() {
        let config = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_RETENTION_DAYS", "30"),
            ("PLAYBACK_CONSISTENT_READS", "true"),
        ]))
        .unwrap();
        assert_eq!(config.rules.retention, Duration::from_secs(30 * 86_400));
        assert!(config.store.consistent_reads);
        let err = Config::from_lookup(lookup(&[
            ("PLAYBACK_TABLE", "t"),
            ("PLAYBACK_WRITE_TIMEOUT_MS", "0"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("PLAYBACK_WRITE_TIMEOUT_MS"),
            "{err}"
        );
    }
}
