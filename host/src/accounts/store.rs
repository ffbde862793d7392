//! Accounts and API tokens.

use serde::Serialize;

use crate::accounts::Role;
use crate::kernel::store::{Sql, Store, StoreError, corrupt, from_json, is_unique_violation};

/// A person or service that calls the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Stable id (also the login name).
    pub id: String,
    /// What the account may do.
    pub role: Role,
    /// Its district; none for a platform administrator.
    pub district: Option<String>,
    /// Name shown to people.
    pub display_name: String,
    /// The resident record of a resident account.
    pub resident_id: Option<String>,
    /// The grids a worker serves.
    pub grids: Vec<String>,
    /// A phone number for SMS and voice notifications (workers); residents'
    /// phones come from the community data.
    pub phone: Option<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
    /// When it was disabled; a disabled account's tokens stop working.
    pub disabled_at: Option<i64>,
}

/// A new account.
#[derive(Clone, Debug)]
pub struct NewAccount<'a> {
    /// Id.
    pub id: &'a str,
    /// Role.
    pub role: Role,
    /// District (none only for platform administrators).
    pub district: Option<&'a str>,
    /// Display name.
    pub display_name: &'a str,
    /// Resident record, for residents.
    pub resident_id: Option<&'a str>,
    /// Grids served, for workers.
    pub grids: &'a [String],
    /// Phone number for notifications.
    pub phone: Option<&'a str>,
}

/// An API token's record (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    /// Public id, the part of the token before the secret.
    pub id: String,
    /// Whose it is.
    pub account_id: String,
    /// What it is for.
    pub label: String,
    /// Issue time, ms.
    pub created_at: i64,
    /// Expiry time, ms.
    pub expires_at: i64,
    /// Revocation time, ms.
    pub revoked_at: Option<i64>,
}

const ACCOUNT_COLUMNS: &str =
    "id, role, district, display_name, resident_id, grids, created_at, disabled_at, phone";
const TOKEN_COLUMNS: &str = "id, account_id, label, created_at, expires_at, revoked_at";

/// An account row; its role is text and its grids a JSON list.
#[derive(sqlx::FromRow)]
struct AccountRecord {
    id: String,
    role: String,
    district: Option<String>,
    display_name: String,
    resident_id: Option<String>,
    grids: String,
    created_at: i64,
    disabled_at: Option<i64>,
    phone: Option<String>,
}

impl TryFrom<AccountRecord> for Account {
    type Error = StoreError;

    fn try_from(r: AccountRecord) -> Result<Self, StoreError> {
        Ok(Account {
            role: r
                .role
                .parse()
                .map_err(|_| corrupt("account role", &r.role))?,
            id: r.id,
            district: r.district,
            display_name: r.display_name,
            resident_id: r.resident_id,
            grids: from_json("account grids", &r.grids)?,
            created_at: r.created_at,
            disabled_at: r.disabled_at,
            phone: r.phone,
        })
    }
}

/// What authentication reads in one query: the token's secret hash, its
/// record and its account.
#[derive(sqlx::FromRow)]
struct AuthRecord {
    secret_sha256: String,
    token_id: String,
    account_id: String,
    label: String,
    token_created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    #[sqlx(flatten)]
    account: AccountRecord,
}

impl Store {
    /// Create an account; an existing id is a conflict.
    pub async fn create_account(&self, new: NewAccount<'_>) -> Result<Account, StoreError> {
        let created_at = self.clock().now_ms();
        let grids = serde_json::to_string(new.grids).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(new.id)
        .bind(new.role.as_str())
        .bind(new.district)
        .bind(new.display_name)
        .bind(new.resident_id)
        .bind(grids)
        .bind(created_at)
        .bind(None::<i64>)
        .bind(new.phone)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("account `{}` already exists", new.id))
            } else {
                e.into()
            }
        })?;
        self.get_account(new.id).await
    }

    /// One account, or `NotFound`.
    pub async fn get_account(&self, id: &str) -> Result<Account, StoreError> {
        sqlx::query_as::<_, AccountRecord>(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account `{id}`")))?
        .try_into()
    }

    /// Accounts, of one district or all.
    pub async fn list_accounts(&self, district: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let mut q = Sql::new(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"));
        if let Some(district) = district {
            q.push(" WHERE district = ").push_bind(district);
        }
        q.push(" ORDER BY id");
        q.fetch_as::<AccountRecord, _>(self.pool())
            .await?
            .into_iter()
            .map(Account::try_from)
            .collect()
    }

    /// Set or clear an account's phone number.
    pub async fn set_account_phone(
        &self,
        id: &str,
        phone: Option<&str>,
    ) -> Result<Account, StoreError> {
        sqlx::query("UPDATE accounts SET phone = $1 WHERE id = $2")
            .bind(phone)
            .bind(id)
            .execute(self.pool())
            .await?;
        self.get_account(id).await
    }

    /// Disable an account: its tokens stop working at once.
    pub async fn disable_account(&self, id: &str) -> Result<Account, StoreError> {
        let changed = sqlx::query(
            "UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
        )
        .bind(self.clock().now_ms())
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        self.credentials_changed();
        let account = self.get_account(id).await?;
        if changed == 0 && account.disabled_at.is_none() {
            return Err(StoreError::NotFound(format!("account `{id}`")));
        }
        Ok(account)
    }

    /// Record a token by its public id and the sha256 of its secret.
    pub async fn create_token(
        &self,
        id: &str,
        account_id: &str,
        secret_sha256: &str,
        label: &str,
        expires_at: i64,
    ) -> Result<TokenRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, account_id, secret_sha256, label, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(account_id)
        .bind(secret_sha256)
        .bind(label)
        .bind(self.clock().now_ms())
        .bind(expires_at)
        .bind(None::<i64>)
        .execute(self.pool())
        .await?;
        self.get_token(id).await
    }

    /// A token's record, or `NotFound`.
    pub async fn get_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("token `{id}`")))
    }

    /// An account's tokens, newest first.
    pub async fn list_tokens(&self, account_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE account_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revoke a token; revoking twice keeps the first time.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenRecord, StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(self.clock().now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        self.credentials_changed();
        self.get_token(id).await
    }

    /// The token's secret hash and its account, for authentication.
    pub(crate) async fn token_for_auth(
        &self,
        id: &str,
    ) -> Result<Option<(String, TokenRecord, Account)>, StoreError> {
        let row = sqlx::query_as::<_, AuthRecord>(
            "SELECT t.secret_sha256, t.id AS token_id, t.account_id, t.label, t.created_at AS token_created_at, \
             t.expires_at, t.revoked_at, a.id, a.role, a.district, a.display_name, a.resident_id, a.grids, \
             a.created_at, a.disabled_at, a.phone \
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let token = TokenRecord {
            id: row.token_id,
            account_id: row.account_id,
            label: row.label,
            created_at: row.token_created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        };
        Ok(Some((row.secret_sha256, token, row.account.try_into()?)))
    }
}
