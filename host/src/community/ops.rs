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
use crate::kernel::access_log::{EXPORT_OPERATION, Reader, StaffRead};
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

/// Who read a resident's data, as their "who read my data" shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReadBy {
    /// An installed app, with the permission it used (or lacked) and the
    /// reason its manifest gives for it.
    App {
        /// The app.
        app: String,
        /// Its version at the time.
        version: String,
        /// The permission.
        permission: String,
        /// Why the app says it needs it; none once the app is gone.
        reason: Option<String>,
    },
    /// A person, through the API or the console.
    Person {
        /// Their account.
        account: String,
        /// Their role.
        role: String,
    },
    /// The host's operator, on the command line.
    Operator,
}

/// One read of a resident's data.
#[derive(Clone, Debug, Serialize)]
pub struct ResidentRead {
    /// The access-log entry.
    pub entry: AccessEntry,
    /// Who read.
    pub by: ReadBy,
    /// What it named: `resident`, `household` or `district` (an export of
    /// everyone).
    pub through: &'static str,
}

impl crate::kernel::store::PageItems for ResidentRead {
    const FIELD: &'static str = "reads";
}

/// Most reads on one page of "who read my data".
pub const READS_PER_PAGE: u32 = 50;

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

    /// Every record of a district, for `reader`. The export holds every
    /// resident's personal fields, so it is written to the access log
    /// first (as a read of the whole district: every resident's "who read
    /// my data" shows it); without the entry there is no export.
    pub async fn export_data(
        &self,
        district: &str,
        reader: Reader<'_>,
        via: &str,
    ) -> Result<Vec<Record>, PlatformError> {
        self.require_district(district).await?;
        self.store()
            .log_staff_read(StaffRead {
                district,
                reader,
                request_id: via,
                operation: EXPORT_OPERATION,
                record_ids: &[],
                field_class: "personal",
            })
            .await?;
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

impl Platform {
    /// Who read resident `resident` of `district` (and their household),
    /// newest first, a page before `before`: apps with the permission and
    /// its reason, people, the operator; allowed and denied; through the
    /// resident's record, their household or an export of the district.
    /// Whoever asks must have been checked to see this resident.
    pub async fn resident_reads(
        &self,
        district: &str,
        resident: &str,
        before: Option<i64>,
    ) -> Result<crate::kernel::store::Page<ResidentRead>, PlatformError> {
        self.require_district(district).await?;
        let household = self
            .store()
            .get_resident(district, resident)
            .await?
            .and_then(|r| r.resident.household_id);
        let page = self
            .store()
            .reads_of_resident(
                district,
                resident,
                household.as_deref(),
                before,
                READS_PER_PAGE,
            )
            .await?;
        let mut reasons: BTreeMap<String, Option<crate::installs::store::Install>> =
            BTreeMap::new();
        let mut items = Vec::with_capacity(page.items.len());
        for entry in page.items {
            let by = match Reader::of_entry(&entry) {
                Some(Reader::Account { id, role }) => ReadBy::Person {
                    account: id.to_owned(),
                    role: role.to_owned(),
                },
                Some(Reader::CommandLine) => ReadBy::Operator,
                None => {
                    if !reasons.contains_key(&entry.app) {
                        let install = match self.store().get_install(district, &entry.app).await {
                            Ok(install) => Some(install),
                            Err(crate::kernel::store::StoreError::NotFound(_)) => None,
                            Err(e) => return Err(e.into()),
                        };
                        reasons.insert(entry.app.clone(), install);
                    }
                    let reason =
                        reasons
                            .get(&entry.app)
                            .and_then(Option::as_ref)
                            .and_then(|install| {
                                let permission = entry.permission.parse().ok()?;
                                install.manifest.permissions.get(&permission).cloned()
                            });
                    ReadBy::App {
                        app: entry.app.clone(),
                        version: entry.version.clone(),
                        permission: entry.permission.clone(),
                        reason,
                    }
                }
            };
            let through = crate::kernel::access_log::subjects(&entry.operation, &entry.record_ids)
                .into_iter()
                .find_map(|(kind, id)| match kind {
                    "resident" if id == resident => Some("resident"),
                    "household" if Some(id) == household.as_deref() => Some("household"),
                    "district" => Some("district"),
                    _ => None,
                })
                .unwrap_or("resident");
            items.push(ResidentRead { entry, by, through });
        }
        Ok(crate::kernel::store::Page {
            items,
            next: page.next,
        })
    }
}
