//! Community data: import (validated, all or nothing, updating by stable
//! id), export, and the audit views of what apps did with it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::community::Record;
use crate::community::import;
use crate::community::import::Format;
use crate::community::store::ImportSummary;
use crate::error::PlatformError;
use crate::kernel::access_log::AccessEntry;
use crate::kernel::grant;
use crate::kernel::manifest::Permission;
use crate::platform::Platform;

/// One install's grants, as an auditor sees them.
#[derive(Clone, Debug, Serialize)]
pub struct GrantReport {
    /// The app.
    pub app: String,
    /// Its version.
    pub version: String,
    /// Each declared permission.
    pub permissions: Vec<PermissionReport>,
}

/// One declared permission of an install.
#[derive(Clone, Debug, Serialize)]
pub struct PermissionReport {
    /// The permission.
    pub permission: Permission,
    /// The reason the manifest gives.
    pub reason: String,
    /// Whether the district granted it.
    pub granted: bool,
    /// When the app last used it (ms), if ever; only data and case
    /// permissions are logged per use.
    pub last_used_at: Option<i64>,
    /// Granted, logged per use, and never used: a candidate for revoking.
    pub never_used: bool,
}

impl Platform {
    /// Import records into a district: every row is checked first, and one
    /// bad row refuses the whole file, naming its line. Records with an id
    /// the district already has are updated in place.
    pub async fn import_data(
        &self,
        district: &str,
        text: &str,
        format: Format,
    ) -> Result<ImportSummary, PlatformError> {
        self.require_district(district).await?;
        let rows = import::parse(text, format)?;
        let existing = self.store().existing_ids(district).await?;
        import::validate(&rows, &existing, self.store().clock().today())?;
        let records: Vec<Record> = rows.into_iter().map(|n| n.record).collect();
        let summary = self
            .store()
            .import_records(district, &records, &existing)
            .await?;
        tracing::info!(
            district,
            created = summary.created,
            updated = summary.updated,
            "imported community data"
        );
        Ok(summary)
    }

    /// Change one resident, checked by the same rules as an import.
    pub async fn update_resident(
        &self,
        district: &str,
        resident: crate::community::Resident,
        by: &str,
    ) -> Result<(), PlatformError> {
        let existing = self.store().existing_ids(district).await?;
        let rows = [import::Numbered {
            line: 1,
            record: Record::Resident(resident),
        }];
        import::validate(&rows, &existing, self.store().clock().today()).map_err(|e| match e {
            import::ImportError::Rows(problems) => PlatformError::Invalid(format!(
                "the resident was not changed: {}",
                problems
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            other => other.into(),
        })?;
        let [import::Numbered { record, .. }] = rows;
        self.store()
            .import_records(district, std::slice::from_ref(&record), &existing)
            .await?;
        tracing::info!(district, resident = %record.id(), by, "edited resident");
        Ok(())
    }

    /// Every record of a district.
    pub async fn export_data(&self, district: &str) -> Result<Vec<Record>, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store().export_records(district).await?)
    }

    /// The access log of a district.
    pub async fn access_log(
        &self,
        district: &str,
        app: Option<&str>,
        since: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccessEntry>, PlatformError> {
        self.require_district(district).await?;
        Ok(self
            .store()
            .list_access(district, app, since, limit)
            .await?)
    }

    /// Recompute a district's access-log chain and say whether it holds.
    pub async fn verify_access_log(
        &self,
        district: &str,
    ) -> Result<crate::kernel::access_log::ChainReport, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store().verify_access_log(district).await?)
    }

    /// For each install of a district: its permissions with their reasons,
    /// whether granted, when last used, and grants never used.
    pub async fn grant_report(&self, district: &str) -> Result<Vec<GrantReport>, PlatformError> {
        self.require_district(district).await?;
        let mut out = Vec::new();
        for install in self.store().list_installs(Some(district)).await? {
            out.push(self.install_grant_report(&install).await?);
        }
        Ok(out)
    }

    /// One install's permissions with their reasons, whether granted, when
    /// last used, and grants never used.
    pub async fn install_grant_report(
        &self,
        install: &crate::installs::store::Install,
    ) -> Result<GrantReport, PlatformError> {
        let last_used: BTreeMap<String, i64> = self
            .store()
            .last_used_permissions(
                &install.district,
                &install.app,
                &install
                    .manifest
                    .permissions
                    .keys()
                    .map(|p| p.name())
                    .collect::<Vec<_>>(),
            )
            .await?;
        let permissions = install
            .manifest
            .permissions
            .iter()
            .map(|(permission, reason)| {
                let granted = grant::holds(&install.granted, *permission);
                let last_used_at = last_used.get(permission.name()).copied();
                PermissionReport {
                    permission: *permission,
                    reason: reason.clone(),
                    granted,
                    last_used_at,
                    never_used: granted && is_logged(*permission) && last_used_at.is_none(),
                }
            })
            .collect();
        Ok(GrantReport {
            app: install.app.clone(),
            version: install.version.clone(),
            permissions,
        })
    }
}

/// Whether each use of `permission` is in the access log: `data` and
/// `cases` calls are logged one by one; `kv` calls, sends and the exports
/// the host calls are not, so an unused grant of theirs cannot be told.
pub fn is_logged(permission: Permission) -> bool {
    matches!(permission.interface(), "data" | "cases")
}
