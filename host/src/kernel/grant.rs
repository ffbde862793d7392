//! The grant: what the district allowed an install, and the one place a
//! capability is checked against it and its use written to the access log.
//!
//! Deny by default: a permission is held only if the district granted it
//! ([`holds`]). `Grant::require` is the check a host call makes (a refusal
//! is logged and answered with a typed `WitError::Denied`, never a trap);
//! `Grant::holds` is the same rule without the log, for filters such as
//! which installs hear an event; `Grant::in_scope` says which communities'
//! data the install may see; `Grant::audit` writes one access-log entry for
//! a use of a capability, allowed or denied.
//!
//! A grant is built once when an install is loaded and shared by every call
//! to it, so it holds the install's configuration already serialized.

use std::collections::BTreeSet;

use crate::kernel::access_log::NewAccess;
use crate::kernel::limits::KvQuota;
use crate::kernel::manifest::Permission;
use crate::kernel::store::{Store, StoreError};
use crate::kernel::wit::WitError;

/// Whether `permission` is among `granted`: the rule every check applies,
/// for code that holds an install's record rather than its `Grant` (such
/// as a filter over a district's installs).
pub fn holds(granted: &BTreeSet<Permission>, permission: Permission) -> bool {
    granted.contains(&permission)
}

/// The install a call runs for, with what the district granted it.
#[derive(Debug)]
pub(crate) struct Grant {
    pub(crate) district: String,
    pub(crate) app: String,
    pub(crate) version: String,
    pub(crate) granted: BTreeSet<Permission>,
    /// The communities the install may see; none for the whole district.
    pub(crate) scope: Option<Vec<String>>,
    /// The install's configuration as JSON text, serialized once at load
    /// for `hutong:platform/config`.
    pub(crate) config: String,
    /// What the install, and its district, may keep in kv.
    pub(crate) kv_quota: KvQuota,
}

/// One use of a capability, as the access log records it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access<'a> {
    /// The host function or export (`get-resident`, `cases.open`, …).
    pub(crate) operation: &'a str,
    /// The permission it used or lacked.
    pub(crate) permission: Permission,
    pub(crate) allowed: bool,
    /// The records it reached.
    pub(crate) record_ids: &'a [String],
    /// What kind of fields were handed over or used (`masked`, `personal`,
    /// `case`, `contact`), or empty when none were.
    pub(crate) field_class: &'a str,
}

impl<'a> Access<'a> {
    /// A use refused for want of `permission`: no records, no fields.
    pub(crate) fn denied(operation: &'a str, permission: Permission) -> Self {
        Access {
            operation,
            permission,
            allowed: false,
            record_ids: &[],
            field_class: "",
        }
    }

    /// A use refused for want of `permission` that asked for the records
    /// `named` (by id): the record learns that someone tried.
    pub(crate) fn denied_naming(
        operation: &'a str,
        permission: Permission,
        named: &'a [String],
    ) -> Self {
        Access {
            record_ids: named,
            ..Access::denied(operation, permission)
        }
    }

    /// An allowed use that reached `record_ids`, handing over or using
    /// fields of `field_class`.
    pub(crate) fn allowed(
        operation: &'a str,
        permission: Permission,
        record_ids: &'a [String],
        field_class: &'a str,
    ) -> Self {
        Access {
            operation,
            permission,
            allowed: true,
            record_ids,
            field_class,
        }
    }
}

impl Grant {
    /// The check every host call goes through: deny by default. A refusal
    /// is logged and answered with the permission that is missing.
    pub(crate) fn require(&self, permission: Permission) -> Result<(), WitError> {
        if self.holds(permission) {
            Ok(())
        } else {
            tracing::warn!(
                district = %self.district,
                app = %self.app,
                permission = permission.name(),
                "denied: permission not granted"
            );
            Err(WitError::Denied(permission.name().to_owned()))
        }
    }

    /// Whether the install holds `permission`, without logging anything:
    /// for deciding what an install hears or is handed, not for refusing a
    /// call.
    pub(crate) fn holds(&self, permission: Permission) -> bool {
        holds(&self.granted, permission)
    }

    /// Whether the install may see data of `community`.
    pub(crate) fn in_scope(&self, community: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|scope| scope.iter().any(|c| c == community))
    }

    /// Write one use of a capability by this install to the access log: the
    /// one place an app's use is recorded. What a failure to write means
    /// (refuse the read, or only log it after a durable write) is the
    /// caller's to decide.
    pub(crate) async fn audit(
        &self,
        store: &Store,
        request_id: &str,
        access: Access<'_>,
    ) -> Result<(), StoreError> {
        store
            .log_access(NewAccess {
                district: &self.district,
                app: &self.app,
                version: &self.version,
                request_id,
                operation: access.operation,
                permission: access.permission.name(),
                allowed: access.allowed,
                record_ids: access.record_ids,
                field_class: access.field_class,
            })
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An install of `app` in district `d1` holding `granted`.
    pub(crate) fn grant(granted: &[Permission]) -> Grant {
        Grant {
            district: "d1".to_owned(),
            app: "app".to_owned(),
            version: "1.0.0".to_owned(),
            granted: granted.iter().copied().collect(),
            scope: None,
            config: "{}".to_owned(),
            kv_quota: crate::kernel::limits::PlatformLimits::default()
                .kv_quota(&crate::kernel::limits::PlatformLimits::default().default),
        }
    }

    /// A SQLite store in a fresh directory (kept alive by the returned
    /// guard).
    pub(crate) async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_data_dir(dir.path()).await.expect("store");
        (dir, store)
    }

    #[test]
    fn a_granted_permission_is_allowed() {
        assert!(grant(&[Permission::Kv]).require(Permission::Kv).is_ok());
    }

    #[test]
    fn a_permission_not_granted_is_a_typed_denial() {
        let denied = grant(&[Permission::Kv]).require(Permission::ReadResidents);
        assert!(
            matches!(&denied, Err(WitError::Denied(p)) if p == "read-residents"),
            "{denied:?}"
        );
    }

    #[test]
    fn holds_answers_without_refusing() {
        let g = grant(&[Permission::ReceiveEvents]);
        assert!(g.holds(Permission::ReceiveEvents));
        assert!(!g.holds(Permission::ReadHouseholds));
        assert!(
            !grant(&[]).holds(Permission::Kv),
            "nothing is held by default"
        );
    }

    #[test]
    fn a_scope_narrows_communities() {
        let mut g = grant(&[]);
        assert!(g.in_scope("c1"), "no scope: the whole district");
        g.scope = Some(vec!["c1".to_owned()]);
        assert!(g.in_scope("c1"));
        assert!(!g.in_scope("c2"));
    }

    #[tokio::test]
    async fn audit_writes_one_entry() {
        let (_dir, store) = store().await;
        let g = grant(&[Permission::ReadResidents]);
        let ids = ["r1".to_owned()];
        g.audit(
            &store,
            "req-1",
            Access::allowed("get-resident", Permission::ReadResidents, &ids, "masked"),
        )
        .await
        .expect("audit");
        g.audit(&store, "req-2", Access::denied("kv.get", Permission::Kv))
            .await
            .expect("audit");
        let entries = store
            .list_access("d1", None, None, 10)
            .await
            .expect("read log");
        assert_eq!(entries.len(), 2, "{entries:?}");
        let allowed = entries
            .iter()
            .find(|e| e.request_id == "req-1")
            .expect("req-1");
        assert_eq!(
            (
                allowed.app.as_str(),
                allowed.version.as_str(),
                allowed.operation.as_str(),
                allowed.permission.as_str(),
                allowed.outcome.as_str(),
                allowed.record_ids.as_slice(),
                allowed.field_class.as_str(),
            ),
            (
                "app",
                "1.0.0",
                "get-resident",
                "read-residents",
                "allowed",
                &ids[..],
                "masked"
            )
        );
        let denied = entries
            .iter()
            .find(|e| e.request_id == "req-2")
            .expect("req-2");
        assert_eq!(
            (
                denied.outcome.as_str(),
                denied.record_count,
                denied.field_class.as_str()
            ),
            ("denied", 0, "")
        );
    }
}
