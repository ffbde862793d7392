//! Who is calling: accounts, their roles and bearer API tokens, and the
//! identity the host hands to apps. Apps never see credentials, only a
//! [`Caller`].
//!
//! A token reads `htk_{id}_{secret}`: the id finds the record, and only the
//! sha256 of the secret is stored, so a database dump hands out no working
//! credentials. Tokens expire and can be revoked; disabling an account stops
//! all of its tokens.

pub mod api;
pub mod cli;
pub mod kept;
pub mod ops;
pub mod session_cache;
pub mod sign_in;
pub mod sign_in_store;
pub mod store;
pub mod token_cache;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::accounts::store::{Account, TokenRecord};
use crate::kernel::store::{Store, StoreError};
use crate::kernel::wit::hutong::platform::types;

/// An account's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum Role {
    /// Runs the city's host: creates districts, sees everything.
    PlatformAdmin,
    /// Installs, configures and grants apps in one district.
    DistrictAdmin,
    /// Reads installs, grants and audits of one district; changes nothing.
    Auditor,
    /// Grid worker or department staff.
    Worker,
    /// A resident.
    Resident,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = <Role as strum::VariantArray>::VARIANTS;

    /// The role's name in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so width and alignment work in tables.
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role `{s}`; roles: {}",
                    Role::ALL
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Stable account id.
    pub account_id: String,
    /// Role.
    pub role: Role,
    /// The account's district (none for platform administrators).
    pub district: Option<String>,
    /// Linked resident record, for residents.
    pub resident_id: Option<String>,
    /// The grids a worker serves.
    #[serde(default)]
    pub grids: Vec<String>,
}

impl Caller {
    /// The caller an account authenticates as.
    pub fn of(account: &Account) -> Self {
        Caller {
            account_id: account.id.clone(),
            role: account.role,
            district: account.district.clone(),
            resident_id: account.resident_id.clone(),
            grids: account.grids.clone(),
        }
    }

    /// Whether this caller belongs to `district` (platform administrators
    /// belong everywhere).
    pub fn in_district(&self, district: &str) -> bool {
        self.role == Role::PlatformAdmin || self.district.as_deref() == Some(district)
    }

    pub(crate) fn into_wit(self) -> types::Caller {
        types::Caller {
            account_id: self.account_id,
            role: match self.role {
                Role::PlatformAdmin => types::Role::PlatformAdmin,
                Role::DistrictAdmin => types::Role::DistrictAdmin,
                Role::Auditor => types::Role::Auditor,
                Role::Worker => types::Role::Worker,
                Role::Resident => types::Role::Resident,
            },
            district: self.district,
            resident_id: self.resident_id,
        }
    }
}

/// Why a bearer token was refused. Each is answered with 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not of the form `htk_{id}_{secret}`.
    #[error("the bearer token is malformed; tokens look like htk_<id>_<secret>")]
    Malformed,
    /// No such token, or the secret does not match.
    #[error("the bearer token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the bearer token expired; ask an administrator for a new one")]
    Expired,
    /// Revoked.
    #[error("the bearer token was revoked")]
    Revoked,
    /// Its account is disabled.
    #[error("the account of this bearer token is disabled")]
    Disabled,
    /// The database failed.
    #[error("could not check the token: {0}")]
    Store(#[from] StoreError),
}

/// A freshly issued token: the secret is shown once and never stored.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedToken {
    /// The bearer token to hand to the account holder.
    pub token: String,
    /// Its record.
    pub record: TokenRecord,
}

const TOKEN_PREFIX: &str = "htk_";

fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Corrupt {
        what: "random source",
        detail: e.to_string(),
    })?;
    Ok(hex::encode(buf))
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compare without an early exit, so timing says nothing about how much of
/// a guessed secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Issue a new token for `account_id`, valid until `expires_at` (ms).
pub async fn issue_token(
    store: &Store,
    account_id: &str,
    label: &str,
    expires_at: i64,
) -> Result<IssuedToken, StoreError> {
    let id = random_hex(8)?;
    let secret = random_hex(32)?;
    let record = store
        .create_token(&id, account_id, &sha256_hex(&secret), label, expires_at)
        .await?;
    Ok(IssuedToken {
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
        record,
    })
}

/// A token's id and secret, if it has the shape of one.
fn parse_token(token: &str) -> Result<(&str, &str), AuthError> {
    token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| {
            id.len() == 16
                && secret.len() == 64
                && id
                    .bytes()
                    .chain(secret.bytes())
                    .all(|b| b.is_ascii_hexdigit())
        })
        .ok_or(AuthError::Malformed)
}

/// What the database says of one token, as far as authenticating goes.
#[derive(Debug)]
struct Known {
    secret_sha256: String,
    revoked: bool,
    expires_at: i64,
    disabled: bool,
    caller: Caller,
}

impl Known {
    /// The token `id`'s record and account; none for an unknown id.
    async fn look_up(store: &Store, id: &str) -> Result<Option<Known>, StoreError> {
        Ok(store
            .token_for_auth(id)
            .await?
            .map(|(secret_sha256, record, account)| Known {
                secret_sha256,
                revoked: record.revoked_at.is_some(),
                expires_at: record.expires_at,
                disabled: account.disabled_at.is_some(),
                caller: Caller::of(&account),
            }))
    }

    /// The caller, if `secret` is the token's and it is valid at `now_ms`.
    fn verdict(&self, secret: &str, now_ms: i64) -> Result<Caller, AuthError> {
        if !constant_time_eq(self.secret_sha256.as_bytes(), sha256_hex(secret).as_bytes()) {
            return Err(AuthError::Invalid);
        }
        if self.revoked {
            return Err(AuthError::Revoked);
        }
        if self.expires_at <= now_ms {
            return Err(AuthError::Expired);
        }
        if self.disabled {
            return Err(AuthError::Disabled);
        }
        Ok(self.caller.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_roles_name_the_known_ones() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        let err = "mayor".parse::<Role>().unwrap_err();
        assert!(err.contains("district-admin"), "{err}");
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn platform_admins_belong_to_every_district() {
        let mut caller = Caller {
            account_id: "a".into(),
            role: Role::PlatformAdmin,
            district: None,
            resident_id: None,
            grids: vec![],
        };
        assert!(caller.in_district("east"));
        caller.role = Role::DistrictAdmin;
        caller.district = Some("west".into());
        assert!(!caller.in_district("east"));
        assert!(caller.in_district("west"));
    }
}
