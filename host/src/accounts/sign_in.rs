//! Signing in with a password, for people in the browser (bearer tokens
//! stay for the API and devices).
//!
//! - **Passwords** are stored as argon2id hashes. A person sets theirs by
//!   redeeming a one-time **set-password code** an administrator issued
//!   (valid [`SignInPolicy::code_valid`], the last one issued only); the
//!   same code resets a forgotten password. Setting or changing a password
//!   ends every session of the account.
//! - **Sessions** live in the database, so every host process sees them.
//!   The browser holds a random secret; only its sha256 is kept. A session
//!   ends after [`SignInPolicy::session_idle`] without a request, at
//!   [`SignInPolicy::session_max`] after sign-in, and when ended: sign-out,
//!   password change, account disabled, or revoked by an administrator.
//!   Each session has a CSRF token that its forms carry. Open sessions are
//!   kept in memory between requests by the platform's
//!   [`SessionCache`](crate::accounts::session_cache::SessionCache).
//! - **Failed sign-ins** are counted in the database per account id (as
//!   typed, whether or not it exists) and per address. Past
//!   [`SignInPolicy::account_failures`] or [`SignInPolicy::address_failures`]
//!   in [`SignInPolicy::failure_window`], sign-in is refused until the
//!   window ends, even with the right password. A wrong id and a wrong
//!   password get the same answer.
//! - **App sessions.** Apps are served to browsers on origins of their
//!   own, which never see the console's cookie. A signed-in person is
//!   handed over to an app with a one-time pass ([`SignIn::pass_to_app`],
//!   valid [`APP_PASS_VALID`]); entering with it ([`SignIn::enter_app`])
//!   gives the app's origin a secret of its own, which names the person
//!   for that one app only, and only while the console session is open.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::accounts::session_cache::{OpenSession, SessionCache};
use crate::accounts::sign_in_store::{NewSession, SessionRecord};
use crate::accounts::store::Account;
use crate::accounts::{Caller, random_hex, sha256_hex};
use crate::error::PlatformError;
use crate::kernel::store::{Store, StoreError};

/// How long sessions and codes last, and when failed sign-ins are
/// throttled.
#[derive(Clone, Copy, Debug)]
pub struct SignInPolicy {
    /// A session not used for this long has ended.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub session_max: Duration,
    /// A set-password code works for this long.
    pub code_valid: Duration,
    /// Failed sign-ins are counted in windows of this length.
    pub failure_window: Duration,
    /// Failed sign-ins of one account id a window allows.
    pub account_failures: i64,
    /// Failed sign-ins from one address a window allows.
    pub address_failures: i64,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        SignInPolicy {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            code_valid: Duration::from_secs(72 * 3600),
            failure_window: Duration::from_secs(15 * 60),
            account_failures: 5,
            address_failures: 30,
        }
    }
}

/// How long a pass handing a console session over to an app's origin
/// works: the browser uses it at once, in a redirect.
pub const APP_PASS_VALID: Duration = Duration::from_secs(60);

/// Shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password, in bytes: hashing is deliberately slow, so what it
/// hashes is bounded.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// A freshly issued set-password code: shown once, never stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct IssuedCode {
    /// The account it sets the password of.
    pub account_id: String,
    /// The code, to hand to the person.
    pub code: String,
    /// Until when it works, ms.
    pub expires_at: i64,
}

/// A session just begun: the secret goes into the browser's cookie.
#[derive(Clone, Debug)]
pub struct Begun {
    /// The cookie's value.
    pub secret: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Who signed in.
    pub caller: Caller,
}

/// A session a request carries, still open.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who it is.
    pub caller: Caller,
    /// Its display name.
    pub display_name: String,
    /// The token its forms must carry.
    pub csrf: String,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong id or password, a disabled account or one without a password:
    /// one answer for all, so that nobody learns which ids exist.
    #[error("wrong account id or password")]
    Wrong,
    /// Too many failures lately, for this account id or this address.
    #[error("too many failed sign-ins; try again in {minutes} minutes")]
    Throttled {
        /// When sign-in is allowed again, in whole minutes from now.
        minutes: u64,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a password was not set or changed; nothing changed in each case.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The set-password code is wrong, used or expired (or its account is
    /// disabled).
    #[error(
        "this set-password code does not work: it is wrong, used or expired; ask an administrator for a new one"
    )]
    CodeRefused,
    /// The current password given to change it is wrong.
    #[error("the current password is wrong; nothing was changed")]
    CurrentWrong,
    /// The new password breaks the rule.
    #[error("{0}")]
    Rule(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PasswordError> for PlatformError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Store(err) => err.into(),
            other => PlatformError::Invalid(other.to_string()),
        }
    }
}

/// A hash to verify against when the account has none, so that a missing
/// account takes as long to refuse as a wrong password.
static DECOY: LazyLock<String> =
    LazyLock::new(|| hash_password("decoy password, never a real one").unwrap_or_default());

fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Corrupt {
        what: "random source",
        detail: e.to_string(),
    })?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Corrupt {
        what: "password salt",
        detail: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt {
            what: "password hash",
            detail: e.to_string(),
        })
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Hashing takes tens of milliseconds on purpose: off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// A password a person may choose: long enough, not too long, not the
/// account id.
pub fn check_password(account_id: &str, password: &str) -> Result<(), PlatformError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PlatformError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few words make a good one)"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PlatformError::Invalid(format!(
            "the password is too long: use at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.trim().eq_ignore_ascii_case(account_id) {
        return Err(PlatformError::Invalid(
            "the password must not be the account id".into(),
        ));
    }
    Ok(())
}

/// Normalise a typed code: letters upper case, without spaces or dashes.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Letters of a code: no 0/O, 1/I/L, so that it can be read out and typed.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A new code: 20 letters (about 99 bits), in groups of four.
fn new_code() -> Result<String, StoreError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt {
        what: "random source",
        detail: e.to_string(),
    })?;
    let letters: Vec<char> = bytes
        .iter()
        .map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char)
        .collect();
    Ok(letters
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Signing in, over the store alone.
#[derive(Clone, Copy)]
pub struct SignIn<'a> {
    store: &'a Store,
    policy: SignInPolicy,
    /// Where open sessions are kept between requests, if anywhere.
    kept: Option<&'a SessionCache>,
}

impl<'a> SignIn<'a> {
    /// Sign-in over `store` under `policy`, every session looked up in the
    /// database.
    pub fn new(store: &'a Store, policy: SignInPolicy) -> Self {
        SignIn {
            store,
            policy,
            kept: None,
        }
    }

    /// The same, keeping open sessions in `kept` between requests (see
    /// [`session_cache`](crate::accounts::session_cache)).
    pub fn keeping(mut self, kept: &'a SessionCache) -> Self {
        self.kept = Some(kept);
        self
    }

    /// The policy sessions and codes are held to.
    pub fn policy(&self) -> SignInPolicy {
        self.policy
    }

    fn now(&self) -> i64 {
        self.store.clock().now_ms()
    }

    /// Issue a set-password code for `account_id` (ending its earlier
    /// ones), on behalf of `issued_by`. Who may issue it is the caller's
    /// check.
    pub async fn issue_code(
        &self,
        account_id: &str,
        issued_by: &str,
    ) -> Result<IssuedCode, PlatformError> {
        let account = self.store.get_account(account_id).await?;
        if account.disabled_at.is_some() {
            return Err(PlatformError::Invalid(format!(
                "account `{account_id}` is disabled; a disabled account cannot sign in"
            )));
        }
        let code = new_code()?;
        let expires_at = self.now() + self.policy.code_valid.as_millis() as i64;
        self.store
            .create_password_code(
                &sha256_hex(&normalise_code(&code)),
                account_id,
                issued_by,
                expires_at,
            )
            .await?;
        tracing::info!(account = account_id, issued_by, "set-password code issued");
        Ok(IssuedCode {
            account_id: account_id.to_owned(),
            code,
            expires_at,
        })
    }

    /// Set the password of the code's account; the code then no longer
    /// works, and the account's sessions end. The account's id.
    pub async fn redeem_code(&self, code: &str, password: &str) -> Result<String, PasswordError> {
        let digest = sha256_hex(&normalise_code(code));
        let record = self
            .store
            .password_code(&digest)
            .await?
            .ok_or(PasswordError::CodeRefused)?;
        if record.used_at.is_some() || record.expires_at <= self.now() {
            return Err(PasswordError::CodeRefused);
        }
        let account = self.store.get_account(&record.account_id).await?;
        if account.disabled_at.is_some() {
            return Err(PasswordError::CodeRefused);
        }
        check_password(&account.id, password).map_err(|e| PasswordError::Rule(e.to_string()))?;
        let owned = password.to_owned();
        let hash = blocking(move || hash_password(&owned)).await?;
        if !self
            .store
            .redeem_password_code(&digest, &account.id, &hash)
            .await?
        {
            return Err(PasswordError::CodeRefused);
        }
        tracing::info!(account = %account.id, "password set with a code");
        Ok(account.id)
    }

    /// Sign `account_id` in with `password` from `address`.
    pub async fn sign_in(
        &self,
        account_id: &str,
        password: &str,
        address: &str,
    ) -> Result<Begun, SignInError> {
        let typed = account_id.trim().to_ascii_lowercase();
        let subjects = [format!("account:{typed}"), format!("address:{address}")];
        let now = self.now();
        let window = self.policy.failure_window.as_millis() as i64;
        let limits = [self.policy.account_failures, self.policy.address_failures];
        for (subject, limit) in subjects.iter().zip(limits) {
            if let Some((failures, start)) =
                self.store.sign_in_failures(subject, now - window).await?
                && failures >= limit
            {
                let wait_ms = (start + window - now).max(0) as u64;
                tracing::warn!(subject, failures, "sign-in throttled");
                return Err(SignInError::Throttled {
                    minutes: wait_ms.div_ceil(60_000).max(1),
                });
            }
        }
        let hash = match password.len() <= MAX_PASSWORD_BYTES {
            true => self.store.password_hash(&typed).await?,
            false => None,
        };
        let account = match self.store.get_account(&typed).await {
            Ok(account) => Some(account),
            Err(StoreError::NotFound(_)) => None,
            Err(err) => return Err(err.into()),
        };
        let candidate = password.to_owned();
        let matches = blocking(move || match hash {
            Some(hash) => verify_password(&candidate, &hash),
            None => {
                verify_password(&candidate, &DECOY);
                false
            }
        })
        .await;
        let account = match account {
            Some(account) if matches && account.disabled_at.is_none() => account,
            _ => {
                for subject in &subjects {
                    self.store
                        .count_sign_in_failure(subject, now - window)
                        .await?;
                }
                tracing::warn!(account = %typed, address, "sign-in refused");
                return Err(SignInError::Wrong);
            }
        };
        self.store.clear_sign_in_failures(&subjects[0]).await?;
        let begun = self.begin(&account, address).await?;
        tracing::info!(account = %account.id, address, "signed in");
        Ok(begun)
    }

    /// Open a session for `account`.
    async fn begin(&self, account: &Account, address: &str) -> Result<Begun, StoreError> {
        let secret = format!("hss_{}", random_hex(32)?);
        let csrf = random_hex(32)?;
        self.store
            .create_session(NewSession {
                id_sha256: &sha256_hex(&secret),
                account_id: &account.id,
                csrf: &csrf,
                expires_at: self.now() + self.policy.session_max.as_millis() as i64,
                address,
            })
            .await?;
        Ok(Begun {
            secret,
            csrf,
            caller: Caller::of(account),
        })
    }

    /// The open session `secret` names, if any; using it keeps it from
    /// going idle. A session found expired or idle is ended.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        if !secret.starts_with("hss_") || secret.len() > 100 {
            return Ok(None);
        }
        self.session_by_digest(&sha256_hex(secret)).await
    }

    /// The open session whose secret's sha256 is `digest`: kept from an
    /// earlier request while still open by the clock, else read.
    async fn session_by_digest(&self, digest: &str) -> Result<Option<Session>, StoreError> {
        let now = self.now();
        // Read before the session: a change committed after this read moves
        // the revision past it, so what is read next is not kept for long.
        let revision = self.kept.and_then(|_| self.store.credentials_revision());
        let kept = match (self.kept, revision) {
            (Some(kept), Some(revision)) => kept.session(digest, revision),
            _ => None,
        };
        // Whether `open` is newer than anything kept (read from the
        // database, or touched just now), and so to be kept.
        let mut fresh = false;
        let mut open = match kept {
            Some(open) if self.closed(&open.session, &open.account, now).is_none() => open,
            // Nothing kept, or kept and closed by the clock: then it may
            // only look idle (another process may have used it since), so
            // the database decides.
            _ => {
                let Some((session, account)) = self.store.session(digest).await? else {
                    return Ok(None);
                };
                if let Some(why) = self.closed(&session, &account, now) {
                    if let Some(kept) = self.kept {
                        kept.forget_session(digest);
                    }
                    if session.ended_at.is_none() {
                        self.store.end_session(digest, why).await?;
                    }
                    return Ok(None);
                }
                fresh = true;
                Arc::new(OpenSession { session, account })
            }
        };
        // Written at most once a minute per session: reads stay reads.
        if now - open.session.seen_at >= 60_000 {
            self.store.touch_session(digest, now).await?;
            let mut session = open.session.clone();
            session.seen_at = now;
            open = Arc::new(OpenSession {
                session,
                account: open.account.clone(),
            });
            fresh = true;
        }
        if fresh && let (Some(kept), Some(revision)) = (self.kept, revision) {
            kept.keep_session(digest, revision, open.clone());
        }
        Ok(Some(Session {
            caller: Caller::of(&open.account),
            display_name: open.account.display_name.clone(),
            csrf: open.session.csrf.clone(),
        }))
    }

    /// A one-time pass that hands the open session `secret` names over to
    /// `app` of `district` on the app's own origin (see
    /// [`enter_app`](Self::enter_app)); `None` if the session is not open.
    pub async fn pass_to_app(
        &self,
        secret: &str,
        district: &str,
        app: &str,
    ) -> Result<Option<String>, StoreError> {
        if self.session(secret).await?.is_none() {
            return Ok(None);
        }
        let pass = format!("hap_{}", random_hex(32)?);
        self.store
            .create_app_pass(&sha256_hex(&pass), &sha256_hex(secret), district, app)
            .await?;
        Ok(Some(pass))
    }

    /// Enter `app` of `district` with a pass from
    /// [`pass_to_app`](Self::pass_to_app), once and within
    /// [`APP_PASS_VALID`]: the secret of the new app session, for the app
    /// origin's cookie; `None` for a pass that is unknown, used, late or
    /// for another app, or whose console session has ended.
    pub async fn enter_app(
        &self,
        pass: &str,
        district: &str,
        app: &str,
    ) -> Result<Option<String>, StoreError> {
        if !pass.starts_with("hap_") || pass.len() > 100 {
            return Ok(None);
        }
        let secret = format!("has_{}", random_hex(32)?);
        let issued_after = self.now() - APP_PASS_VALID.as_millis() as i64;
        let Some(console) = self
            .store
            .enter_app(
                &sha256_hex(pass),
                &sha256_hex(&secret),
                district,
                app,
                issued_after,
            )
            .await?
        else {
            return Ok(None);
        };
        match self.session_by_digest(&console).await? {
            Some(_) => Ok(Some(secret)),
            None => Ok(None),
        }
    }

    /// The person an app cookie's `secret` signs in to `app` of
    /// `district`, while the console session it came from is open; a
    /// secret of another app is nobody.
    pub async fn app_session(
        &self,
        secret: &str,
        district: &str,
        app: &str,
    ) -> Result<Option<Session>, StoreError> {
        if !secret.starts_with("has_") || secret.len() > 100 {
            return Ok(None);
        }
        let digest = sha256_hex(secret);
        let revision = self.kept.and_then(|_| self.store.credentials_revision());
        let kept = match (self.kept, revision) {
            (Some(kept), Some(revision)) => kept.app(&digest, revision),
            _ => None,
        };
        let entered = match kept {
            Some(entered) => entered,
            None => {
                let Some(entered) = self.store.app_session(&digest).await? else {
                    return Ok(None);
                };
                let entered = Arc::new(entered);
                if let (Some(kept), Some(revision)) = (self.kept, revision) {
                    kept.keep_app(&digest, revision, entered.clone());
                }
                entered
            }
        };
        match &*entered {
            (console, d, a) if d == district && a == app => self.session_by_digest(console).await,
            _ => Ok(None),
        }
    }

    /// Why a session no longer works, if it does not.
    fn closed(&self, session: &SessionRecord, account: &Account, now: i64) -> Option<&'static str> {
        if session.ended_at.is_some() {
            Some("ended")
        } else if account.disabled_at.is_some() {
            Some("account disabled")
        } else if now >= session.expires_at {
            Some("expired")
        } else if now - session.seen_at >= self.policy.session_idle.as_millis() as i64 {
            Some("idle")
        } else {
            None
        }
    }

    /// End the session `secret` names (sign-out).
    pub async fn sign_out(&self, secret: &str) -> Result<(), StoreError> {
        self.store
            .end_session(&sha256_hex(secret), "signed out")
            .await
    }

    /// Change a signed-in person's password, after checking the current
    /// one; every session of the account ends, and a new one begins for
    /// the browser that changed it.
    pub async fn change_password(
        &self,
        account_id: &str,
        current: &str,
        new: &str,
        address: &str,
    ) -> Result<Begun, PasswordError> {
        let account = self.store.get_account(account_id).await?;
        let hash = self.store.password_hash(account_id).await?;
        let candidate = current.to_owned();
        let matches = blocking(move || hash.is_some_and(|h| verify_password(&candidate, &h))).await;
        if !matches {
            return Err(PasswordError::CurrentWrong);
        }
        check_password(account_id, new).map_err(|e| PasswordError::Rule(e.to_string()))?;
        let owned = new.to_owned();
        let hash = blocking(move || hash_password(&owned)).await?;
        self.store.change_password(account_id, &hash).await?;
        tracing::info!(account = account_id, "password changed");
        Ok(self.begin(&account, address).await?)
    }

    /// End every session of `account_id` (revocation, or a disabled
    /// account); how many were open.
    pub async fn end_sessions(&self, account_id: &str, why: &str) -> Result<u64, StoreError> {
        self.store.end_account_sessions(account_id, why).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_typed_loosely() {
        let code = new_code().expect("code");
        assert_eq!(code.len(), 24, "{code}");
        assert!(code.split('-').all(|g| g.len() == 4), "{code}");
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        let typed = code.to_ascii_lowercase().replace('-', " ");
        assert_eq!(normalise_code(&typed), normalise_code(&code));
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn short_long_and_id_passwords_are_refused_with_the_rule() {
        let short = check_password("wang-li", "short").unwrap_err().to_string();
        assert!(short.contains("at least 10 characters"), "{short}");
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(check_password("wang-li", &long).is_err());
        assert!(check_password("wang-li-east", "WANG-LI-EAST").is_err());
        check_password("wang-li", "a few words together").expect("fine");
    }
}
