//! The statements behind signing in: passwords, set-password codes,
//! sessions and the count of failed sign-ins. The rules are in
//! [`sign_in`](crate::accounts::sign_in).

use crate::accounts::store::Account;
use crate::kernel::store::{Store, StoreError};

/// A session as stored; the secret itself is never kept.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRecord {
    /// The account signed in.
    pub account_id: String,
    /// The session's CSRF token, which every form of the session carries.
    pub csrf: String,
    /// Signed in, ms.
    pub created_at: i64,
    /// Last request, ms (kept to the minute).
    pub seen_at: i64,
    /// Absolute expiry, ms.
    pub expires_at: i64,
    /// Ended, ms.
    pub ended_at: Option<i64>,
}

/// A set-password code as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct CodeRecord {
    pub(crate) account_id: String,
    pub(crate) expires_at: i64,
    pub(crate) used_at: Option<i64>,
}

/// A new session.
pub(crate) struct NewSession<'a> {
    pub(crate) id_sha256: &'a str,
    pub(crate) account_id: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) expires_at: i64,
    pub(crate) address: &'a str,
}

impl Store {
    /// An account's password hash, if it has one.
    pub(crate) async fn password_hash(
        &self,
        account_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT password_hash FROM accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(self.pool())
        .await?
        .flatten())
    }

    /// Record a set-password code for `account_id`, ending its earlier
    /// unused ones.
    pub(crate) async fn create_password_code(
        &self,
        code_sha256: &str,
        account_id: &str,
        issued_by: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE password_codes SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_codes (code_sha256, account_id, issued_by, created_at, expires_at, used_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code_sha256)
        .bind(account_id)
        .bind(issued_by)
        .bind(now)
        .bind(expires_at)
        .bind(None::<i64>)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A set-password code's record.
    pub(crate) async fn password_code(
        &self,
        code_sha256: &str,
    ) -> Result<Option<CodeRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account_id, expires_at, used_at FROM password_codes WHERE code_sha256 = $1",
        )
        .bind(code_sha256)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Use a code to set its account's password, once: the code is marked
    /// used, the password set and every session of the account ended, in
    /// one transaction. False if the code was used meanwhile.
    pub(crate) async fn redeem_password_code(
        &self,
        code_sha256: &str,
        account_id: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock().now_ms();
        let mut tx = self.begin_write().await?;
        let used = sqlx::query(
            "UPDATE password_codes SET used_at = $1 WHERE code_sha256 = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(code_sha256)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        set_password(&mut tx, account_id, password_hash, now).await?;
        end_sessions(&mut tx, account_id, "password set", now).await?;
        tx.commit().await?;
        self.credentials_changed();
        Ok(true)
    }

    /// Set an account's password and end all of its sessions, in one
    /// transaction.
    pub(crate) async fn change_password(
        &self,
        account_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        let mut tx = self.begin_write().await?;
        set_password(&mut tx, account_id, password_hash, now).await?;
        end_sessions(&mut tx, account_id, "password changed", now).await?;
        tx.commit().await?;
        self.credentials_changed();
        Ok(())
    }

    /// Record a new session.
    pub(crate) async fn create_session(&self, new: NewSession<'_>) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        sqlx::query(
            "INSERT INTO sessions (id_sha256, account_id, csrf, created_at, seen_at, expires_at, \
             ended_at, ended_why, address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new.id_sha256)
        .bind(new.account_id)
        .bind(new.csrf)
        .bind(now)
        .bind(now)
        .bind(new.expires_at)
        .bind(None::<i64>)
        .bind(None::<String>)
        .bind(new.address)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A session and its account.
    pub(crate) async fn session(
        &self,
        id_sha256: &str,
    ) -> Result<Option<(SessionRecord, Account)>, StoreError> {
        let Some(session) = sqlx::query_as::<_, SessionRecord>(
            "SELECT account_id, csrf, created_at, seen_at, expires_at, ended_at FROM sessions \
             WHERE id_sha256 = $1",
        )
        .bind(id_sha256)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let account = self.get_account(&session.account_id).await?;
        Ok(Some((session, account)))
    }

    /// Note that a session was used at `now`.
    pub(crate) async fn touch_session(&self, id_sha256: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET seen_at = $1 WHERE id_sha256 = $2 AND seen_at < $1")
            .bind(now)
            .bind(id_sha256)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// End one session (sign-out, or found expired). Like every change
    /// that ends sessions here, it moves the revision of the credentials
    /// (through the database's triggers, and at once for this process), so
    /// no process keeps the session open.
    pub(crate) async fn end_session(&self, id_sha256: &str, why: &str) -> Result<(), StoreError> {
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $1, ended_why = $2 WHERE id_sha256 = $3 AND ended_at IS NULL",
        )
        .bind(self.clock().now_ms())
        .bind(why)
        .bind(id_sha256)
        .execute(self.pool())
        .await?
        .rows_affected();
        if ended > 0 {
            self.credentials_changed();
        }
        Ok(())
    }

    /// End every open session of an account; how many were open.
    pub(crate) async fn end_account_sessions(
        &self,
        account_id: &str,
        why: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = end_sessions(&mut tx, account_id, why, self.clock().now_ms()).await?;
        tx.commit().await?;
        if ended > 0 {
            self.credentials_changed();
        }
        Ok(ended)
    }

    /// Record a one-time pass that hands the session `session_sha256` over
    /// to `app` of `district` on the app's own origin.
    pub(crate) async fn create_app_pass(
        &self,
        pass_sha256: &str,
        session_sha256: &str,
        district: &str,
        app: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO app_sessions (pass_sha256, secret_sha256, session_sha256, district, app, \
             created_at, entered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(pass_sha256)
        .bind(None::<String>)
        .bind(session_sha256)
        .bind(district)
        .bind(app)
        .bind(self.clock().now_ms())
        .bind(None::<i64>)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Use a pass for `app` of `district` issued after `issued_after`, once:
    /// the pass is cleared and the app session's secret recorded. The
    /// console session's digest, or `None` if no such pass is unused.
    pub(crate) async fn enter_app(
        &self,
        pass_sha256: &str,
        secret_sha256: &str,
        district: &str,
        app: &str,
        issued_after: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE app_sessions SET pass_sha256 = NULL, secret_sha256 = $1, entered_at = $2 \
             WHERE pass_sha256 = $3 AND district = $4 AND app = $5 AND created_at > $6 \
             RETURNING session_sha256",
        )
        .bind(secret_sha256)
        .bind(self.clock().now_ms())
        .bind(pass_sha256)
        .bind(district)
        .bind(app)
        .bind(issued_after)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The app session an app cookie's secret names: (console session
    /// digest, district, app).
    pub(crate) async fn app_session(
        &self,
        secret_sha256: &str,
    ) -> Result<Option<(String, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT session_sha256, district, app FROM app_sessions WHERE secret_sha256 = $1",
        )
        .bind(secret_sha256)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The failures counted against `subject` in the window that starts
    /// after `since`: (failures, window start).
    pub(crate) async fn sign_in_failures(
        &self,
        subject: &str,
        since: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT failures, window_start FROM sign_in_failures WHERE subject = $1 AND window_start > $2",
        )
        .bind(subject)
        .bind(since)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Count a failed sign-in against `subject`: one more in its window, or
    /// the first of a new window if the last began at or before `since`.
    pub(crate) async fn count_sign_in_failure(
        &self,
        subject: &str,
        since: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sign_in_failures (subject, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (subject) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.window_start <= $3 THEN 1 \
                        ELSE sign_in_failures.failures + 1 END, \
             window_start = CASE WHEN sign_in_failures.window_start <= $3 THEN $2 \
                            ELSE sign_in_failures.window_start END",
        )
        .bind(subject)
        .bind(self.clock().now_ms())
        .bind(since)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forget the failures counted against `subject` (after a sign-in).
    pub(crate) async fn clear_sign_in_failures(&self, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_failures WHERE subject = $1")
            .bind(subject)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

async fn set_password(
    tx: &mut crate::kernel::store::WriteTx,
    account_id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    let changed =
        sqlx::query("UPDATE accounts SET password_hash = $1, password_set_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(account_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound(format!("account `{account_id}`")));
    }
    Ok(())
}

async fn end_sessions(
    tx: &mut crate::kernel::store::WriteTx,
    account_id: &str,
    why: &str,
    now: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE sessions SET ended_at = $1, ended_why = $2 WHERE account_id = $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(why)
    .bind(account_id)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}
