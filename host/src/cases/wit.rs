//! WIT ⇄ host conversions for cases.

use crate::cases::store::{CaseRow, HistoryEntry};
use crate::cases::{CaseState, Priority, Tier};
use crate::kernel::wit::case_types::{
    CaseChange, CaseState as WitState, Priority as WitPriority, Tier as WitTier,
};
use crate::kernel::wit::hutong::platform::cases as wit_cases;
use crate::kernel::wit::{ms, same_variants};

same_variants!(both CaseState, WitState {
    Reported, Rejected, Accepted, Dispatched, InProgress, Handled, Verified, Closed,
});

same_variants!(both Priority, WitPriority { Low, Normal, High, Urgent });

same_variants!(Tier => WitTier { Grid, Community, Street, District, City });

impl From<CaseRow> for wit_cases::CaseInfo {
    fn from(case: CaseRow) -> Self {
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
}
