//! Typed ids: a district, an app, a community record, a case.
//!
//! Each is checked once, where it enters the host ([`FromStr`], and
//! `Deserialize` for JSON bodies), so code that holds one never checks it
//! again. A refusal says what was wrong and what is allowed, in the words
//! the HTTP API and the CLI have always used.
//!
//! The design decision to know: the text ids deref to `str`, so storage
//! and logging code takes `&str` and a typed id passes where a string did.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The rule for district ids, app names, account ids and schedule names,
/// as every refusal states it.
pub const SLUG_RULE: &str = "use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter";

/// Longest community record id, in characters.
pub const MAX_RECORD_ID_CHARS: usize = 64;

/// A malformed id: which kind of id, the value (cut short) and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{value}` is invalid: {rule}")]
pub struct InvalidId {
    /// What the id names ("district id", "app name", …).
    pub what: &'static str,
    /// The value as given, cut to 64 characters.
    pub value: String,
    /// What is allowed.
    pub rule: String,
}

impl InvalidId {
    fn new(what: &'static str, value: &str, rule: impl Into<String>) -> Self {
        InvalidId {
            what,
            value: shown(value),
            rule: rule.into(),
        }
    }
}

/// Whether `s` is a slug: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting with a letter, so it is safe in URLs, logs and metric labels.
pub fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 63
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// Check `s` as a slug naming `what`.
pub fn slug(what: &'static str, s: &str) -> Result<(), InvalidId> {
    if is_slug(s) {
        Ok(())
    } else {
        Err(InvalidId::new(what, s, SLUG_RULE))
    }
}

/// What is wrong with `id` as a community record id named `field`, if
/// anything: the one rule for record ids, shared by imports, edits and
/// apps' queries.
pub fn record_id_problem(field: &str, id: &str) -> Option<String> {
    let count = id.chars().count();
    let problem = if id.is_empty() {
        format!("{field} is empty")
    } else if count > MAX_RECORD_ID_CHARS {
        format!("{field} is {count} characters long")
    } else if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        format!("{field} `{}` contains {}", shown(id), describe_char(c))
    } else {
        return None;
    };
    Some(format!(
        "{problem}; ids are 1 to {MAX_RECORD_ID_CHARS} characters of letters A-Z a-z, digits and _ . : -"
    ))
}

/// A character as a message names it.
pub(crate) fn describe_char(c: char) -> String {
    if c.is_whitespace() {
        "a space".to_owned()
    } else {
        format!("`{c}`")
    }
}

/// A value to quote in a message, cut short so one huge value cannot make
/// a huge message.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut cut: String = value.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}

/// A text id: checked on the way in, then read as a `str`.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this id names, as messages say it.
            pub const WHAT: &'static str = $what;

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), InvalidId> = $check;
                check(s)?;
                Ok($name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(s: String) -> Result<Self, InvalidId> {
                let check: fn(&str) -> Result<(), InvalidId> = $check;
                check(&s)?;
                Ok($name(s))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .try_into()
                    .map_err(serde::de::Error::custom)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

text_id!(
    /// A district's id (`east`, `xicheng-2`): a slug.
    DistrictId,
    "district id",
    |s| slug("district id", s)
);

text_id!(
    /// An app's name, as its manifest gives it: a slug.
    AppName,
    "app name",
    |s| slug("app name", s)
);

text_id!(
    /// The id of a community record (resident, building, grid, …): 1 to 64
    /// characters of letters, digits and `_ . : -`.
    RecordId,
    "record id",
    |s| match record_id_problem("id", s) {
        None => Ok(()),
        Some(problem) => Err(InvalidId {
            what: "record id",
            value: shown(s),
            rule: problem,
        }),
    }
);

/// A case's id: a positive number, given by the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(i64);

impl CaseId {
    /// A case id from a number; none unless it is positive.
    pub fn new(id: i64) -> Option<Self> {
        (id > 0).then_some(CaseId(id))
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl FromStr for CaseId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        s.parse::<i64>()
            .ok()
            .and_then(CaseId::new)
            .ok_or_else(|| InvalidId::new("case id", s, "case ids are numbers"))
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<CaseId> for i64 {
    fn from(id: CaseId) -> i64 {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_start_with_a_letter_and_hold_at_most_63_characters() {
        assert!(is_slug("east-1"));
        assert!(!is_slug("1east"));
        assert!(!is_slug(""));
        assert!(!is_slug("East"));
        assert!(is_slug(&"a".repeat(63)));
        assert!(!is_slug(&"a".repeat(64)));
    }

    #[test]
    fn a_malformed_district_id_is_refused_with_the_rule() {
        let err = "East".parse::<DistrictId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "district id `East` is invalid: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
        );
        assert_eq!("east".parse::<DistrictId>().unwrap(), "east");
    }

    #[test]
    fn json_ids_are_checked_when_read() {
        let ok: AppName = serde_json::from_str(r#""hello""#).unwrap();
        assert_eq!(ok.as_str(), "hello");
        let err = serde_json::from_str::<AppName>(r#""Hello World""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("app name `Hello World` is invalid"),
            "{err}"
        );
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#""hello""#);
    }

    #[test]
    fn record_ids_allow_dots_colons_and_capitals_but_not_spaces() {
        assert!("R-1.a:b_C".parse::<RecordId>().is_ok());
        let err = "r 1".parse::<RecordId>().unwrap_err();
        assert!(
            err.rule.contains("id `r 1` contains a space"),
            "{}",
            err.rule
        );
        let long = "a".repeat(65);
        assert!(long.parse::<RecordId>().is_err());
    }

    #[test]
    fn case_ids_are_positive_numbers() {
        assert_eq!("42".parse::<CaseId>().unwrap().get(), 42);
        assert!("0".parse::<CaseId>().is_err());
        assert!("-3".parse::<CaseId>().is_err());
        assert!("x".parse::<CaseId>().is_err());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let err = "A".repeat(500).parse::<DistrictId>().unwrap_err();
        assert!(err.value.chars().count() <= 65);
    }
}
