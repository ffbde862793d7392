//! Who is calling: the identity the host establishes for a request and hands
//! to apps. Apps never see credentials, only this.

use serde::{Deserialize, Serialize};

use crate::bindings::hutong::platform::types;

/// An account's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the city's host.
    PlatformAdmin,
    /// Administers one district.
    DistrictAdmin,
    /// Reads audits; changes nothing.
    Auditor,
    /// Grid worker or department staff.
    Worker,
    /// A resident.
    Resident,
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
}

impl Caller {
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
