//! Accounts and tokens: validated creation, token issue and revocation.

use crate::accounts;
use crate::accounts::store::{Account, NewAccount, TokenRecord};
use crate::accounts::{IssuedToken, Role};
use crate::error::PlatformError;
use crate::kernel::clock::now_ms;
use crate::kernel::store::StoreError;
use crate::platform::Platform;

/// Longest token lifetime, in days: tokens are meant to be rotated.
pub const MAX_TOKEN_DAYS: u32 = 365;
/// Token lifetime when none is asked for, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;

/// What to create.
#[derive(Clone, Debug)]
pub struct AccountRequest {
    /// Id (a-z, 0-9, '-'; starts with a letter).
    pub id: String,
    /// Role.
    pub role: Role,
    /// District; required for every role but platform administrator, which
    /// must have none.
    pub district: Option<String>,
    /// Display name (the id when empty).
    pub display_name: String,
    /// Linked resident record, for residents.
    pub resident_id: Option<String>,
    /// Grids a worker serves.
    pub grids: Vec<String>,
    /// A phone number for SMS and voice notifications: digits, optionally
    /// after a `+`, 5 to 20 characters.
    pub phone: Option<String>,
}

/// A phone number as accounts hold it: `+` optional, then 5 to 20 digits.
pub fn check_phone(phone: &str) -> Result<(), PlatformError> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "phone `{}` is invalid: give 5 to 20 digits, optionally after a `+` (for example +8613812345678)",
            phone.chars().take(40).collect::<String>()
        )))
    }
}

impl Platform {
    /// Create an account after checking its role and district agree.
    pub async fn create_account(&self, req: AccountRequest) -> Result<Account, PlatformError> {
        crate::kernel::ids::slug("account id", &req.id)
            .map_err(|e| PlatformError::Invalid(e.to_string()))?;
        match (req.role, req.district.as_deref()) {
            (Role::PlatformAdmin, Some(_)) => {
                return Err(PlatformError::Invalid(
                    "a platform administrator belongs to no district; leave the district out"
                        .into(),
                ));
            }
            (Role::PlatformAdmin, None) => {}
            (role, None) => {
                return Err(PlatformError::Invalid(format!(
                    "a {role} account belongs to a district; name it"
                )));
            }
            (_, Some(district)) => match self.store().get_district(district).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    return Err(PlatformError::UnknownDistrict(district.to_owned()));
                }
                Err(e) => return Err(e.into()),
            },
        }
        if req.role != Role::Worker && !req.grids.is_empty() {
            return Err(PlatformError::Invalid(
                "only worker accounts serve grids".into(),
            ));
        }
        if req.role != Role::Resident && req.resident_id.is_some() {
            return Err(PlatformError::Invalid(
                "only resident accounts link a resident record".into(),
            ));
        }
        if let (Some(district), false) = (req.district.as_deref(), req.grids.is_empty()) {
            let known = self.store().existing_ids(district).await?.grids;
            if let Some(unknown) = req.grids.iter().find(|g| !known.contains(*g)) {
                return Err(PlatformError::Invalid(format!(
                    "grid `{unknown}` is not in district `{district}`; import the district's data first"
                )));
            }
        }
        if let Some(phone) = &req.phone {
            check_phone(phone)?;
        }
        let display_name = if req.display_name.trim().is_empty() {
            req.id.as_str()
        } else {
            req.display_name.trim()
        };
        let account = self
            .store()
            .create_account(NewAccount {
                id: &req.id,
                role: req.role,
                district: req.district.as_deref(),
                display_name,
                resident_id: req.resident_id.as_deref(),
                grids: &req.grids,
                phone: req.phone.as_deref(),
            })
            .await?;
        tracing::info!(account = %account.id, role = %account.role, district = ?account.district, "created account");
        Ok(account)
    }

    /// Set (or with `None` clear) an account's phone number.
    pub async fn set_account_phone(
        &self,
        id: &str,
        phone: Option<&str>,
    ) -> Result<Account, PlatformError> {
        if let Some(phone) = phone {
            check_phone(phone)?;
        }
        self.store().get_account(id).await?;
        Ok(self.store().set_account_phone(id, phone).await?)
    }

    /// Issue a token for an enabled account, valid for `days` (1..=365).
    pub async fn issue_token(
        &self,
        account_id: &str,
        label: &str,
        days: u32,
    ) -> Result<IssuedToken, PlatformError> {
        if days == 0 || days > MAX_TOKEN_DAYS {
            return Err(PlatformError::Invalid(format!(
                "a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}"
            )));
        }
        let account = self.store().get_account(account_id).await?;
        if account.disabled_at.is_some() {
            return Err(PlatformError::Conflict(format!(
                "account `{account_id}` is disabled; it cannot get tokens"
            )));
        }
        let expires_at = now_ms() + i64::from(days) * 86_400_000;
        let issued = accounts::issue_token(self.store(), account_id, label, expires_at).await?;
        tracing::info!(account = account_id, token = %issued.record.id, days, "issued token");
        Ok(issued)
    }

    /// Revoke a token; it stops working at once.
    pub async fn revoke_token(&self, token_id: &str) -> Result<TokenRecord, PlatformError> {
        let record = self.store().revoke_token(token_id).await?;
        tracing::info!(token = token_id, account = %record.account_id, "revoked token");
        Ok(record)
    }

    /// Disable an account and so all of its tokens and sessions.
    pub async fn disable_account(&self, account_id: &str) -> Result<Account, PlatformError> {
        let account = self.store().disable_account(account_id).await?;
        self.sign_in()
            .end_sessions(account_id, "account disabled")
            .await?;
        tracing::info!(account = account_id, "disabled account");
        Ok(account)
    }
}
