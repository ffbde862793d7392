//! Installs: an app version installed into a district, with its grants, and
//! the components they run, stored by content digest.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::kernel::limits::Limits;
use crate::kernel::manifest::{Manifest, Permission};
use crate::kernel::store::{
    Backend, Sql, Store, StoreError, corrupt, from_json, from_json_opt, is_unique_violation,
};

/// Whether an install answers calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallStatus {
    /// Serving.
    Active,
    /// Stopped after repeated failures or by an administrator; answers 503
    /// until resumed.
    Suspended,
}

impl InstallStatus {
    fn as_str(self) -> &'static str {
        match self {
            InstallStatus::Active => "active",
            InstallStatus::Suspended => "suspended",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(InstallStatus::Active),
            "suspended" => Ok(InstallStatus::Suspended),
            other => Err(corrupt("install status", other)),
        }
    }
}

/// An installed app.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Install {
    /// The district it is installed in.
    pub district: String,
    /// The app's name (from its manifest).
    pub app: String,
    /// The installed version.
    pub version: String,
    /// sha256 of the component, hex.
    pub digest: String,
    /// The manifest it was installed with.
    pub manifest: Manifest,
    /// The permissions the district granted (a subset of the declared ones).
    pub granted: BTreeSet<Permission>,
    /// The limits its calls run under.
    pub limits: Limits,
    /// Install configuration (a JSON object).
    pub config: serde_json::Value,
    /// The communities the install may see data of; none for the whole
    /// district.
    pub scope: Option<Vec<String>>,
    /// Active or suspended.
    pub status: InstallStatus,
    /// Why it is suspended, when it is.
    pub status_reason: Option<String>,
    /// When a suspension after repeated failures is tried again (ms since
    /// the Unix epoch); none when active or suspended by an administrator.
    pub retry_at: Option<i64>,
    /// When it was installed, ms since the Unix epoch.
    pub installed_at: i64,
    /// When its row last changed, ms since the Unix epoch.
    pub updated_at: i64,
    /// Where it came from, when from a registry.
    pub source: Option<InstallSource>,
}

/// Where a registry install came from: enough to find the release again and
/// to show which log the host checked it against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSource {
    /// The registry's URL or directory.
    pub registry: String,
    /// The log entry that published the release.
    pub log_index: u64,
    /// The log's size when the release was checked.
    pub log_size: u64,
    /// The log's head hash then.
    pub log_head: String,
    /// The id of the publisher key that signed it.
    pub key_id: String,
    /// Whether the release was yanked (installed by an exact pin).
    pub yanked: bool,
}

/// A version an install ran before an upgrade, kept for rollback.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PreviousVersion {
    /// The version.
    pub version: String,
    /// sha256 of its component, hex.
    pub digest: String,
    /// What it had granted.
    pub granted: BTreeSet<Permission>,
    /// Where it came from.
    pub source: Option<InstallSource>,
    /// When it was installed.
    pub installed_at: i64,
    /// When an upgrade replaced it.
    pub replaced_at: i64,
}

/// What [`Store::replace_install`] puts in place of an install's version.
#[derive(Clone, Debug)]
pub struct Replacement<'a> {
    /// The district.
    pub district: &'a str,
    /// The version being replaced (the upgrade was planned against it).
    pub from_version: &'a str,
    /// Its digest.
    pub from_digest: &'a str,
    /// The new, validated manifest.
    pub manifest: &'a Manifest,
    /// sha256 of `component`, hex.
    pub digest: &'a str,
    /// The new component's bytes.
    pub component: &'a [u8],
    /// The grants after the upgrade.
    pub granted: &'a BTreeSet<Permission>,
    /// Effective limits of the new version.
    pub limits: Limits,
    /// Where it came from.
    pub source: Option<&'a InstallSource>,
    /// A new install configuration; none keeps the one it has.
    pub config: Option<&'a serde_json::Value>,
}

/// What [`Store::create_install`] records.
#[derive(Clone, Debug)]
pub struct NewInstall<'a> {
    /// Target district.
    pub district: &'a str,
    /// Validated manifest.
    pub manifest: &'a Manifest,
    /// sha256 of `component`, hex.
    pub digest: &'a str,
    /// The component's bytes.
    pub component: &'a [u8],
    /// Granted permissions.
    pub granted: &'a BTreeSet<Permission>,
    /// Effective limits.
    pub limits: Limits,
    /// Install configuration.
    pub config: &'a serde_json::Value,
    /// Communities the install is narrowed to.
    pub scope: Option<&'a [String]>,
    /// Where it came from, when from a registry.
    pub source: Option<&'a InstallSource>,
}

const INSTALL_COLUMNS: &str = "district, app, version, digest, manifest, granted, limits, config, status, status_reason, installed_at, updated_at, scope, source";

/// What a read of an install selects: its columns and the breaker's retry
/// time.
const INSTALL_READ: &str = "district, app, version, digest, manifest, granted, limits, config, status, status_reason, installed_at, updated_at, scope, source, retry_at";

/// The new `updated_at` of a changed install row: now, but always later
/// than before, so every host process's refresher sees the change.
const BUMP_UPDATED_AT: &str = "CASE WHEN $1 > updated_at THEN $1 ELSE updated_at + 1 END";

/// An install row; its manifest, grants, limits, configuration, scope and
/// source are JSON text.
#[derive(sqlx::FromRow)]
struct InstallRecord {
    district: String,
    app: String,
    version: String,
    digest: String,
    manifest: String,
    granted: String,
    limits: String,
    config: String,
    status: String,
    status_reason: Option<String>,
    installed_at: i64,
    updated_at: i64,
    scope: Option<String>,
    source: Option<String>,
    retry_at: Option<i64>,
}

impl TryFrom<InstallRecord> for Install {
    type Error = StoreError;

    fn try_from(r: InstallRecord) -> Result<Self, StoreError> {
        Ok(Install {
            district: r.district,
            app: r.app,
            version: r.version,
            digest: r.digest,
            manifest: from_json("install manifest", &r.manifest)?,
            granted: from_json("install grants", &r.granted)?,
            limits: from_json("install limits", &r.limits)?,
            config: from_json("install config", &r.config)?,
            scope: from_json_opt("install scope", r.scope.as_deref())?,
            status: InstallStatus::parse(&r.status)?,
            status_reason: r.status_reason,
            retry_at: r.retry_at,
            installed_at: r.installed_at,
            updated_at: r.updated_at,
            source: from_json_opt("install source", r.source.as_deref())?,
        })
    }
}

/// The columns of [`HistoryRecord`].
const HISTORY_COLUMNS: &str =
    "id, version, digest, manifest, granted, limits, source, installed_at, replaced_at";

/// A row of an install's history: a version it ran before.
#[derive(sqlx::FromRow)]
struct HistoryRecord {
    id: i64,
    version: String,
    digest: String,
    manifest: String,
    granted: String,
    limits: String,
    source: Option<String>,
    installed_at: i64,
    replaced_at: i64,
}

impl TryFrom<HistoryRecord> for PreviousVersion {
    type Error = StoreError;

    fn try_from(r: HistoryRecord) -> Result<Self, StoreError> {
        Ok(PreviousVersion {
            version: r.version,
            digest: r.digest,
            granted: from_json("install grants", &r.granted)?,
            source: from_json_opt("install source", r.source.as_deref())?,
            installed_at: r.installed_at,
            replaced_at: r.replaced_at,
        })
    }
}

/// Store a component's bytes under their digest, once: an install of an
/// app version that another install already runs adds no second copy.
async fn store_component(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    digest: &str,
    bytes: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO components (digest, bytes, size, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(bytes)
    .bind(bytes.len() as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An install's version as an upgrade or a rollback sets it, each field as
/// stored (JSON text).
struct VersionColumns<'a> {
    version: &'a str,
    digest: &'a str,
    manifest: &'a str,
    granted: &'a str,
    limits: &'a str,
    source: Option<&'a str>,
    installed_at: i64,
}

/// Put `columns` in place of an install's version at `now`, in `tx`; its
/// status, configuration, scope and data stay.
async fn set_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    district: &str,
    app: &str,
    now: i64,
    columns: VersionColumns<'_>,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE installs SET version = $2, digest = $3, manifest = $4, granted = $5, limits = $6, source = $7, \
         installed_at = $8, updated_at = {BUMP_UPDATED_AT} WHERE district = $9 AND app = $10"
    ))
    .bind(now)
    .bind(columns.version)
    .bind(columns.digest)
    .bind(columns.manifest)
    .bind(columns.granted)
    .bind(columns.limits)
    .bind(columns.source)
    .bind(columns.installed_at)
    .bind(district)
    .bind(app)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

impl Store {
    /// Record an install and store its component (once per digest), in one
    /// transaction. A second install of the same app in a district is a
    /// conflict and changes nothing.
    pub async fn create_install(&self, new: NewInstall<'_>) -> Result<Install, StoreError> {
        let now = self.clock().now_ms();
        let mut tx = self.begin().await?;
        store_component(&mut tx, new.digest, new.component, now).await?;
        let install = Install {
            district: new.district.to_owned(),
            app: new.manifest.name.clone(),
            version: new.manifest.version.to_string(),
            digest: new.digest.to_owned(),
            manifest: new.manifest.clone(),
            granted: new.granted.clone(),
            limits: new.limits,
            config: new.config.clone(),
            scope: new.scope.map(<[String]>::to_vec),
            status: InstallStatus::Active,
            status_reason: None,
            retry_at: None,
            installed_at: now,
            updated_at: now,
            source: new.source.cloned(),
        };
        sqlx::query(&format!(
            "INSERT INTO installs ({INSTALL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&install.district)
        .bind(&install.app)
        .bind(&install.version)
        .bind(&install.digest)
        .bind(to_json(&install.manifest))
        .bind(to_json(&install.granted))
        .bind(to_json(&install.limits))
        .bind(to_json(&install.config))
        .bind(install.status.as_str())
        .bind(None::<String>)
        .bind(now)
        .bind(now)
        .bind(install.scope.as_ref().map(to_json))
        .bind(install.source.as_ref().map(to_json))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "app `{}` is already installed in district `{}`",
                    install.app, install.district
                ))
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        Ok(install)
    }

    /// Installs, by district and app; all districts when `district` is none.
    pub async fn list_installs(&self, district: Option<&str>) -> Result<Vec<Install>, StoreError> {
        let mut q = Sql::new(format!("SELECT {INSTALL_READ} FROM installs"));
        if let Some(district) = district {
            q.push(" WHERE district = ").push_bind(district);
        }
        q.push(" ORDER BY district, app");
        q.fetch_as::<InstallRecord, _>(self.pool())
            .await?
            .into_iter()
            .map(Install::try_from)
            .collect()
    }

    /// Every install's (district, app, last change in ms): what a host
    /// process compares to see which installs others changed.
    pub async fn install_stamps(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT district, app, updated_at FROM installs")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// One install, or `NotFound`.
    pub async fn get_install(&self, district: &str, app: &str) -> Result<Install, StoreError> {
        sqlx::query_as::<_, InstallRecord>(&format!(
            "SELECT {INSTALL_READ} FROM installs WHERE district = $1 AND app = $2"
        ))
        .bind(district)
        .bind(app)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("app `{app}` in district `{district}`")))?
        .try_into()
    }

    /// Remove an install and, unless `keep_data`, the app's data in that
    /// district, in one transaction.
    pub async fn delete_install(
        &self,
        district: &str,
        app: &str,
        keep_data: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM installs WHERE district = $1 AND app = $2")
            .bind(district)
            .bind(app)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound(format!(
                "app `{app}` in district `{district}`"
            )));
        }
        sqlx::query("DELETE FROM install_history WHERE district = $1 AND app = $2")
            .bind(district)
            .bind(app)
            .execute(&mut *tx)
            .await?;
        if !keep_data {
            for table in ["kv", "kv_usage"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE district = $1 AND app = $2"
                ))
                .bind(district)
                .bind(app)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        if !keep_data && self.backend() == Backend::Sqlite {
            // Return the pages the app's data took to the file system
            // (PostgreSQL's autovacuum reuses them on its own).
            if let Err(err) = sqlx::query("PRAGMA incremental_vacuum")
                .execute(self.pool())
                .await
            {
                tracing::warn!(district, app, error = %err, "could not return freed pages");
            }
        }
        Ok(())
    }

    /// Suspend or resume an install, recording why.
    pub async fn set_install_status(
        &self,
        district: &str,
        app: &str,
        status: InstallStatus,
        reason: Option<&str>,
    ) -> Result<Install, StoreError> {
        self.set_install_status_until(district, app, status, reason, None)
            .await
    }

    /// Set an install's status, with the time a suspension after repeated
    /// failures is tried again (`retry_at`, ms; none for an administrator's
    /// suspension or an active install).
    pub async fn set_install_status_until(
        &self,
        district: &str,
        app: &str,
        status: InstallStatus,
        reason: Option<&str>,
        retry_at: Option<i64>,
    ) -> Result<Install, StoreError> {
        let changed = sqlx::query(
            "UPDATE installs SET status = $1, status_reason = $2, updated_at = $3, retry_at = $4 \
             WHERE district = $5 AND app = $6",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(self.clock().now_ms())
        .bind(retry_at)
        .bind(district)
        .bind(app)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "app `{app}` in district `{district}`"
            )));
        }
        self.get_install(district, app).await
    }

    /// Replace an install's version (an upgrade), keeping the version it
    /// replaces in its history, in one transaction. Status, scope and data
    /// stay, and the configuration unless a new one is given. A conflict, changing nothing, if the install is
    /// no longer at `from_version` (another upgrade or a rollback won).
    pub async fn replace_install(&self, new: Replacement<'_>) -> Result<Install, StoreError> {
        let app = new.manifest.name.as_str();
        let now = self.clock().now_ms();
        let mut tx = self.begin().await?;
        store_component(&mut tx, new.digest, new.component, now).await?;
        let kept = sqlx::query(
            "INSERT INTO install_history (district, app, version, digest, manifest, granted, limits, source, installed_at, replaced_at) \
             SELECT district, app, version, digest, manifest, granted, limits, source, installed_at, $1 \
             FROM installs WHERE district = $2 AND app = $3 AND version = $4 AND digest = $5",
        )
        .bind(now)
        .bind(new.district)
        .bind(app)
        .bind(new.from_version)
        .bind(new.from_digest)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if kept == 0 {
            return Err(StoreError::Conflict(format!(
                "app `{app}` in district `{}` is no longer at version {}: it changed while the upgrade was checked; look at it again and retry",
                new.district, new.from_version
            )));
        }
        let source = new.source.map(to_json);
        set_version(
            &mut tx,
            new.district,
            app,
            now,
            VersionColumns {
                version: &new.manifest.version.to_string(),
                digest: new.digest,
                manifest: &to_json(new.manifest),
                granted: &to_json(new.granted),
                limits: &to_json(&new.limits),
                source: source.as_deref(),
                installed_at: now,
            },
        )
        .await?;
        if let Some(config) = new.config {
            sqlx::query("UPDATE installs SET config = $1 WHERE district = $2 AND app = $3")
                .bind(to_json(config))
                .bind(new.district)
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.get_install(new.district, app).await
    }

    /// Put an install back to the version before its last upgrade, with
    /// that version's grants, in one transaction; the app's data stays.
    pub async fn rollback_install(&self, district: &str, app: &str) -> Result<Install, StoreError> {
        let mut tx = self.begin().await?;
        let last = sqlx::query_as::<_, HistoryRecord>(&format!(
            "SELECT {HISTORY_COLUMNS} FROM install_history WHERE district = $1 AND app = $2 \
             ORDER BY id DESC LIMIT 1"
        ))
        .bind(district)
        .bind(app)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "an earlier version of app `{app}` in district `{district}` (it was never upgraded, or was rolled back as far as it goes)"
            ))
        })?;
        // Taking the row is the claim: of two rollbacks at once, one wins.
        let taken = sqlx::query("DELETE FROM install_history WHERE id = $1")
            .bind(last.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            return Err(StoreError::Conflict(format!(
                "app `{app}` in district `{district}` is being rolled back by another request"
            )));
        }
        set_version(
            &mut tx,
            district,
            app,
            self.clock().now_ms(),
            VersionColumns {
                version: &last.version,
                digest: &last.digest,
                manifest: &last.manifest,
                granted: &last.granted,
                limits: &last.limits,
                source: last.source.as_deref(),
                installed_at: last.installed_at,
            },
        )
        .await?;
        tx.commit().await?;
        self.get_install(district, app).await
    }

    /// The district's apps that have a version to roll back to, with that
    /// version.
    pub async fn apps_with_history(
        &self,
        district: &str,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT h.app, h.version FROM install_history h WHERE h.district = $1 AND h.id = \
             (SELECT MAX(id) FROM install_history n WHERE n.district = h.district AND n.app = h.app)",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The versions an install ran before, newest first.
    pub async fn install_history(
        &self,
        district: &str,
        app: &str,
    ) -> Result<Vec<PreviousVersion>, StoreError> {
        sqlx::query_as::<_, HistoryRecord>(&format!(
            "SELECT {HISTORY_COLUMNS} FROM install_history WHERE district = $1 AND app = $2 \
             ORDER BY id DESC"
        ))
        .bind(district)
        .bind(app)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(PreviousVersion::try_from)
        .collect()
    }

    /// Whether any install, or any version an install may roll back to,
    /// uses the component `digest`.
    pub async fn component_in_use(&self, digest: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM installs WHERE digest = $1 \
             UNION ALL SELECT 1 FROM install_history WHERE digest = $1 LIMIT 1",
        )
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// A component's bytes by digest.
    pub async fn get_component(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM components WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("component {digest}")))
    }

    /// How many rows each core table holds; used to show that a refused
    /// operation changed nothing.
    pub async fn row_counts(&self) -> Result<[i64; 4], StoreError> {
        let mut out = [0; 4];
        for (i, table) in ["districts", "components", "installs", "kv"]
            .iter()
            .enumerate()
        {
            out[i] = sqlx::query_scalar(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .fetch_one(self.pool())
                .await?;
        }
        Ok(out)
    }
}
