//! Host bindings for the `hutong:platform/app` world, generated once from
//! `wit/`, and every conversion between the generated WIT types and the
//! host's own. Kept private to the crate: the rest of the host speaks its own
//! types, and the capabilities convert at the edge with what is here, so
//! their modules hold only their `Host` impls and checks.
//!
//! Conversions are `From` impls where they are total; the few that take a
//! decision as well (which fields of a resident the install may see, which
//! ids go with an event) are functions that take that decision as an
//! argument, made by the capability's check.

wasmtime::component::bindgen!({
    world: "app",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use exports::hutong::platform::http_handler;
pub(crate) use hutong::platform::case_types;
pub(crate) use hutong::platform::types::Error as WitError;

use crate::cases::{CaseState, Priority, Tier};
use crate::community::{self, mask};
use crate::platform::notifications::{Audience, Channel, Recipient};
use crate::store::{HistoryEntry, HouseholdRow, KvOp, ResidentRow, StoredEvent};
use case_types::{CaseChange, CaseState as WitState, Priority as WitPriority, Tier as WitTier};
use exports::hutong::platform::event_handler::DeviceEvent;
use hutong::platform::{cases as wit_cases, data, kv, notify};

/// Longest error message kept from an app's export: the message is
/// guest-controlled and stored with the notice or the event's record.
pub(crate) const MAX_APP_ERROR: usize = 1000;

/// Milliseconds since the epoch as WIT carries them; times before the epoch
/// do not occur on the host's clock, so they clamp to 0.
fn ms(at: i64) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// `From` between a host enum and its WIT twin, variant for variant:
/// `A => B` one way, `both A, B` both ways. A variant added on one side and
/// not the other fails to compile.
macro_rules! same_variants {
    (both $a:ty, $b:ty { $($variant:ident),+ $(,)? }) => {
        same_variants!($a => $b { $($variant),+ });
        same_variants!($b => $a { $($variant),+ });
    };
    ($from:ty => $to:ty { $($variant:ident),+ $(,)? }) => {
        impl From<$from> for $to {
            fn from(value: $from) -> Self {
                type Source = $from;
                match value {
                    $(Source::$variant => Self::$variant,)+
                }
            }
        }
    };
}

// ---- errors ----

impl WitError {
    /// An app's error result, for the record and the log; capped, as the app
    /// wrote it.
    pub(crate) fn describe(&self) -> String {
        let text = match self {
            WitError::Denied(permission) => format!("denied: {permission}"),
            WitError::NotFound => "not-found".to_owned(),
            WitError::InvalidArgument(m) => format!("invalid-argument: {m}"),
            WitError::LimitExceeded(m) => format!("limit-exceeded: {m}"),
            WitError::Unavailable(m) => format!("unavailable: {m}"),
        };
        if text.len() <= MAX_APP_ERROR {
            return text;
        }
        let mut end = MAX_APP_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

// ---- cases ----

same_variants!(both CaseState, WitState {
    Reported, Rejected, Accepted, Dispatched, InProgress, Handled, Verified, Closed,
});

same_variants!(both Priority, WitPriority { Low, Normal, High, Urgent });

same_variants!(Tier => WitTier { Grid, Community, Street, District, City });

impl From<crate::store::CaseRow> for wit_cases::CaseInfo {
    fn from(case: crate::store::CaseRow) -> Self {
        wit_cases::CaseInfo {
            id: case.id.to_string(),
            category: case.category,
            priority: case.priority.into(),
            state: case.state.into(),
            tier: case.tier.into(),
            grid_id: case.grid_id,
            building_id: case.building_id,
            description: case.description,
            resident_id: case.resident_id,
            assignee: case.assignee.map(|a| a.label()),
            overdue: case.overdue,
            created_at_ms: ms(case.created_at),
            updated_at_ms: ms(case.updated_at),
            closed_at_ms: case.closed_at.map(ms),
            satisfaction: case.satisfaction.and_then(|s| u8::try_from(s).ok()),
        }
    }
}

impl From<HistoryEntry> for wit_cases::CaseEvent {
    fn from(entry: HistoryEntry) -> Self {
        wit_cases::CaseEvent {
            at_ms: ms(entry.at),
            actor: entry.actor,
            action: entry.action,
            from_state: entry.from_state.into(),
            to_state: entry.to_state.into(),
            from_tier: entry.from_tier.into(),
            to_tier: entry.to_tier.into(),
            note: entry.note,
        }
    }
}

/// A transition as the `case-watcher` export receives it.
impl From<&HistoryEntry> for CaseChange {
    fn from(entry: &HistoryEntry) -> Self {
        CaseChange {
            case_id: entry.case_id.to_string(),
            from_state: entry.from_state.into(),
            to_state: entry.to_state.into(),
            actor: entry.actor.clone(),
            note: entry.note.clone(),
            at_ms: ms(entry.at),
        }
    }
}

// ---- notify ----

same_variants!(notify::Channel => Channel { Inbox, Sms, Voice, Webhook });

same_variants!(notify::Audience => Audience { Workers, Residents });

impl From<notify::Recipient> for Recipient {
    fn from(recipient: notify::Recipient) -> Self {
        match recipient {
            notify::Recipient::Resident(id) => Recipient::Resident(id),
            notify::Recipient::Worker(id) => Recipient::Worker(id),
            notify::Recipient::RoleInGrid(r) => Recipient::RoleInGrid(r.audience.into(), r.place),
            notify::Recipient::RoleInCommunity(r) => {
                Recipient::RoleInCommunity(r.audience.into(), r.place)
            }
            notify::Recipient::OrganisationMembers(id) => Recipient::OrganisationMembers(id),
        }
    }
}

// ---- kv ----

impl From<kv::Op> for KvOp {
    fn from(op: kv::Op) -> Self {
        match op {
            kv::Op::Insert(e) => KvOp::Insert {
                key: e.key,
                value: e.value,
            },
            kv::Op::Set(e) => KvOp::Set {
                key: e.key,
                value: e.value,
            },
            kv::Op::Swap(e) => KvOp::Swap {
                key: e.key,
                expected: e.expected,
                value: e.value,
            },
            kv::Op::Remove(key) => KvOp::Remove { key },
            kv::Op::Require(key) => KvOp::Require { key },
        }
    }
}

impl From<crate::store::KeyPage> for kv::KeyPage {
    fn from(page: crate::store::KeyPage) -> Self {
        kv::KeyPage {
            keys: page.items,
            next_cursor: page.next,
        }
    }
}

impl From<crate::store::EntryPage> for kv::EntryPage {
    fn from(page: crate::store::EntryPage) -> Self {
        kv::EntryPage {
            entries: page.items,
            next_cursor: page.next,
        }
    }
}

// ---- data ----

/// A resident as the install may see them: every field with
/// `read-personal-fields` (`personal`), otherwise masked by the host.
pub(crate) fn resident_to_wit(row: ResidentRow, personal: bool) -> data::Resident {
    let r = row.resident;
    let birth_year = r.birth_date.as_deref().and_then(mask::birth_year);
    if personal {
        data::Resident {
            id: r.id,
            household_id: r.household_id,
            building_id: row.building_id,
            grid_id: r.grid_id,
            community_id: row.community_id,
            tags: r.tags,
            name: r.name,
            phone: r.phone,
            id_number: r.id_number,
            birth_year,
            birth_date: r.birth_date,
            address: r.address,
            family_contact_name: r.family_contact_name,
            family_contact_phone: r.family_contact_phone,
            field_class: data::FieldClass::Personal,
        }
    } else {
        data::Resident {
            id: r.id,
            household_id: r.household_id,
            building_id: row.building_id,
            grid_id: r.grid_id,
            community_id: row.community_id,
            tags: r.tags,
            name: mask::name(&r.name),
            phone: r.phone.as_deref().map(mask::phone),
            id_number: r.id_number.as_deref().map(mask::id_number),
            birth_year,
            birth_date: None,
            address: row.building_name,
            family_contact_name: None,
            family_contact_phone: None,
            field_class: data::FieldClass::Masked,
        }
    }
}

impl From<HouseholdRow> for data::Household {
    fn from(row: HouseholdRow) -> Self {
        data::Household {
            id: row.household.id,
            building_id: row.household.building_id,
            grid_id: row.grid_id,
            community_id: row.community_id,
            unit: row.household.unit,
            room: row.household.room,
        }
    }
}

impl From<community::Building> for data::Building {
    fn from(b: community::Building) -> Self {
        data::Building {
            id: b.id,
            community_id: b.community_id,
            grid_id: b.grid_id,
            name: b.name,
        }
    }
}

same_variants!(both community::OrganisationKind, data::OrganisationKind {
    PartyBranch, SocialOrganisation, PropertyCompany,
});

impl From<community::Organisation> for data::Organisation {
    fn from(o: community::Organisation) -> Self {
        data::Organisation {
            id: o.id,
            community_id: o.community_id,
            kind: o.kind.into(),
            name: o.name,
        }
    }
}

impl From<community::Membership> for data::Member {
    fn from(m: community::Membership) -> Self {
        data::Member {
            resident_id: m.resident_id,
            role: m.role,
        }
    }
}

// ---- events ----

/// A device event as the `event-handler` export receives it, with the
/// household and resident ids the install may be handed.
pub(crate) fn device_event_to_wit(
    event: &StoredEvent,
    household_id: Option<String>,
    resident_id: Option<String>,
) -> DeviceEvent {
    DeviceEvent {
        event_id: event.id.to_string(),
        device_id: event.device_id.clone(),
        device_kind: event.device_kind.clone(),
        event_type: event.event_type.clone(),
        occurred_at_ms: ms(event.occurred_at),
        payload: event.payload.clone(),
        household_id,
        resident_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_priority_maps_both_ways() {
        for &state in CaseState::ALL {
            assert_eq!(CaseState::from(WitState::from(state)), state);
        }
        for &priority in Priority::ALL {
            assert_eq!(Priority::from(WitPriority::from(priority)), priority);
        }
    }

    #[test]
    fn an_app_error_is_kept_short() {
        let long = WitError::Unavailable("é".repeat(5_000));
        let text = long.describe();
        assert!(text.starts_with("unavailable: é"));
        assert!(text.len() <= MAX_APP_ERROR + '…'.len_utf8());
    }

    #[test]
    fn organisation_kinds_map_both_ways() {
        for kind in [
            community::OrganisationKind::PartyBranch,
            community::OrganisationKind::SocialOrganisation,
            community::OrganisationKind::PropertyCompany,
        ] {
            assert_eq!(
                community::OrganisationKind::from(data::OrganisationKind::from(kind)),
                kind
            );
        }
    }
}
