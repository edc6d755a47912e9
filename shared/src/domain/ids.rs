//! Identifiers that cannot be invalid once constructed.
//!
//! The table's partition key joins account and profile with [`KEY_SEPARATOR`]. Ids are restricted to a
//! character set that excludes it, so `("a#b", "c")` and `("a", "b#c")` can never name the same row:
//! such ids are rejected at the edge instead of being escaped silently.

use std::fmt;

use super::InvalidField;

/// Joins account and profile in the partition key.
pub const KEY_SEPARATOR: char = '#';
/// Longest id accepted, in bytes (ids are ASCII, so also characters).
pub const MAX_ID_LEN: usize = 128;

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Checks an id against the shared rule: 1..=128 characters of `A-Z a-z 0-9 - _ . :`.
fn parse_id(field: &'static str, raw: &str) -> Result<String, InvalidField> {
    if raw.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(InvalidField::new(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if !raw.chars().all(is_id_char) {
        return Err(InvalidField::new(
            field,
            "may only contain letters, digits, '-', '_', '.' and ':'",
        ));
    }
    Ok(raw.to_owned())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The request field this id is read from, used in error messages.
            pub const FIELD: &'static str = $field;

            pub fn parse(raw: &str) -> Result<Self, InvalidField> {
                parse_id(Self::FIELD, raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The household's account.
    AccountId,
    "account_id"
);
id_type!(
    /// One viewer within an account; progress is kept per profile.
    ProfileId,
    "profile_id"
);
id_type!(
    /// The catalogue item being watched.
    VideoId,
    "video_id"
);
id_type!(
    /// The player install sending updates (TV, phone, browser...).
    DeviceId,
    "device_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_typical_ids() {
        for raw in [
            "123",
            "acct-9f2c",
            "profile_A",
            "tt0111161",
            "urn:video:42",
            "v1.2",
        ] {
            assert_eq!(VideoId::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn empty_id_is_rejected_naming_the_field() {
        let err = ProfileId::parse("").unwrap_err();
        assert_eq!(err.field, "profile_id");
        assert!(err.rule.contains("empty"), "{}", err.rule);
    }

    #[test]
    fn oversize_id_is_rejected() {
        assert!(AccountId::parse(&"a".repeat(MAX_ID_LEN)).is_ok());
        let err = AccountId::parse(&"a".repeat(MAX_ID_LEN + 1)).unwrap_err();
        assert!(err.rule.contains("at most 128"), "{}", err.rule);
    }

    #[test]
    fn separator_in_id_is_rejected_so_keys_cannot_collide() {
        let err = AccountId::parse("a#b").unwrap_err();
        assert_eq!(err.field, "account_id");
        assert!(ProfileId::parse("b#c").is_err());
    }

    #[test]
    fn whitespace_unicode_and_control_characters_are_rejected() {
        for raw in ["a b", "é", "a\n", "a/b", "a\u{0}", "ｆｕｌｌ"] {
            assert!(DeviceId::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }
}
