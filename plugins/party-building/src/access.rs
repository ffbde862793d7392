//! Who the caller is to a branch, from the host's word for who they are
//! ([`Caller`]) and the community data: the one place the app decides who
//! may do what.
//!
//! - A **branch member** is a resident in the branch's membership (the
//!   organisation of kind `party-branch` in the data model); the caller is
//!   one when their account is linked to that resident.
//! - The **secretary** is the member whose role is `secretary`.
//! - An **in-service member** (在职党员) is known by their Hutong account of
//!   this district, registered with the app (`POST /in-service`): they need
//!   not be a resident of the branch's community, nor have a resident record
//!   at all.
//! - The district's administrators (and platform administrators) may do
//!   whatever a secretary may, for any branch; auditors may read reports.

use hutong_sdk::data::{self, Member, OrganisationKind};
use hutong_sdk::{Caller, Error, Role, kv};

use crate::Fail;
use crate::records::{InService, Kind, MemberId};

/// A party branch.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Branch {
    /// Its organisation id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its community.
    pub community_id: String,
}

/// The branch `id`, or 404 if there is no such party branch.
pub fn branch(id: &str) -> Result<Branch, Fail> {
    match data::organisation(id) {
        Ok(org) if org.kind == OrganisationKind::PartyBranch => Ok(Branch {
            id: org.id,
            name: org.name,
            community_id: org.community_id,
        }),
        Ok(_) | Err(Error::NotFound) => Err(Fail::NotFound(format!(
            "no party branch `{id}` in this district"
        ))),
        Err(Error::InvalidArgument(_)) => Err(Fail::NotFound(format!(
            "no party branch `{id}` in this district"
        ))),
        Err(other) => Err(other.into()),
    }
}

/// The branch's resident members with their roles, by resident id.
pub fn members(branch: &str) -> Result<Vec<Member>, Error> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = data::members(branch, cursor.as_deref(), data::MAX_PAGE)?;
        out.extend(page.members);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// The in-service members registered with the branch, by account.
pub fn in_service(branch: &str) -> Result<Vec<InService>, Error> {
    let mut out = Vec::new();
    for key in kv::keys(&format!("bsvc/{branch}/")) {
        if let Some(record) = kv::get_json::<InService>(&key?)? {
            out.push(record);
        }
    }
    Ok(out)
}

/// Everyone of a branch, as the app counts them.
pub struct Roster {
    /// The resident members.
    pub members: Vec<Member>,
    /// The in-service members.
    pub in_service: Vec<InService>,
}

impl Roster {
    /// The branch's roster.
    pub fn of(branch: &str) -> Result<Roster, Error> {
        Ok(Roster {
            members: members(branch)?,
            in_service: in_service(branch)?,
        })
    }

    /// The role of a resident member, if they are one.
    pub fn role(&self, member: &MemberId) -> Option<&str> {
        let resident = member.resident_id()?;
        self.members
            .iter()
            .find(|m| m.resident_id == resident)
            .map(|m| m.role.as_str())
    }

    /// Whether `member` belongs to the branch at all.
    pub fn contains(&self, member: &MemberId) -> bool {
        match (member.resident_id(), member.account_id()) {
            (Some(_), _) => self.role(member).is_some(),
            (_, Some(account)) => self.in_service.iter().any(|s| s.account == account),
            _ => false,
        }
    }

    /// Whether `member` is expected at an activity of `kind`.
    pub fn expected(&self, member: &MemberId, kind: Kind) -> bool {
        match self.role(member) {
            Some(role) => !kind.committee_only() || !role.is_empty(),
            None => kind.open_to_in_service() && self.contains(member),
        }
    }

    /// Everyone expected at an activity of `kind`, in a stable order.
    pub fn audience(&self, kind: Kind) -> Vec<MemberId> {
        let mut out: Vec<MemberId> = self
            .members
            .iter()
            .filter(|m| !kind.committee_only() || !m.role.is_empty())
            .map(|m| MemberId::resident(&m.resident_id))
            .collect();
        if kind.open_to_in_service() {
            out.extend(
                self.in_service
                    .iter()
                    .map(|s| MemberId::account(&s.account)),
            );
        }
        out
    }

    /// The member the caller is in this branch, if any.
    pub fn member_of(&self, caller: &Caller) -> Option<MemberId> {
        if let Some(resident) = caller
            .resident_id
            .as_deref()
            .filter(|_| caller.role == Role::Resident)
        {
            let id = MemberId::resident(resident);
            if self.role(&id).is_some() {
                return Some(id);
            }
        }
        let id = MemberId::account(&caller.account_id);
        self.contains(&id).then_some(id)
    }

    /// Whether the caller is the branch's secretary.
    pub fn is_secretary(&self, caller: &Caller) -> bool {
        caller.role == Role::Resident
            && caller.resident_id.as_deref().is_some_and(|resident| {
                self.members
                    .iter()
                    .any(|m| m.resident_id == resident && m.role == "secretary")
            })
    }
}

/// The caller, or 401.
pub fn caller(req: &hutong_sdk::Request) -> Result<&Caller, Fail> {
    req.caller().ok_or(Fail::Unauthenticated)
}

/// Whether the caller administers the district.
pub fn is_admin(caller: &Caller) -> bool {
    matches!(caller.role, Role::DistrictAdmin | Role::PlatformAdmin)
}

/// The secretary of the branch, or an administrator; 403 otherwise.
pub fn require_organiser(caller: &Caller, branch: &str, roster: &Roster) -> Result<(), Fail> {
    if is_admin(caller) || roster.is_secretary(caller) {
        Ok(())
    } else {
        Err(Fail::Forbidden(format!(
            "only the secretary of branch `{branch}` or a district administrator may do this"
        )))
    }
}

/// Whether the caller may read the branch's reports: its secretary, an
/// administrator or an auditor.
pub fn may_read_reports(caller: &Caller, roster: &Roster) -> bool {
    is_admin(caller) || caller.role == Role::Auditor || roster.is_secretary(caller)
}
