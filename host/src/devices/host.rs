//! Handing device events to an app's `event-handler` export: the one place
//! that decides whether an install hears an event and what it learns of the
//! household and resident the device is bound to.
//!
//! An install hears an event while it holds `receive-events` and its
//! manifest subscribes to the event's type. The binding goes with the event
//! only as the install's grants allow: the household's id needs
//! `read-households`, the resident's id `read-residents`, and either is left
//! out when the binding's community is outside the install's scope, exactly
//! as the `data` interface would answer `not-found` for it. What is handed
//! over is written to the access log first, like any data read; if the entry
//! cannot be written the event is not delivered (and is retried).

use crate::devices::store::StoredEvent;
use crate::devices::wit::device_event_to_wit;
use crate::kernel::grant::{Access, Grant};
use crate::kernel::manifest::Permission;
use crate::kernel::store::{Store, StoreError};
use crate::kernel::wit::exports::hutong::platform::event_handler::DeviceEvent;

/// The operation access-log entries of a delivery name.
pub const OPERATION: &str = "event-handler.on-event";

/// Decide whether `grant`'s install hears `event` and build what it is
/// handed: the WIT event, or the permission it lacks (not granted, or not
/// subscribed).
pub(crate) async fn admit_event(
    store: &Store,
    grant: &Grant,
    subscribed: &[String],
    request_id: &str,
    event: &StoredEvent,
) -> Result<Result<DeviceEvent, Permission>, StoreError> {
    if !grant.holds(Permission::ReceiveEvents) || !subscribed.contains(&event.event_type) {
        return Ok(Err(Permission::ReceiveEvents));
    }
    let in_scope = event
        .community_id
        .as_deref()
        .is_some_and(|c| grant.in_scope(c));
    let share = |id: &Option<String>, permission: Permission| {
        id.clone().filter(|_| in_scope && grant.holds(permission))
    };
    let household_id = share(&event.household_id, Permission::ReadHouseholds);
    let resident_id = share(&event.resident_id, Permission::ReadResidents);
    for (id, permission) in [
        (&household_id, Permission::ReadHouseholds),
        (&resident_id, Permission::ReadResidents),
    ] {
        if let Some(id) = id {
            // Only the id is handed over, never a personal field.
            let access = Access::allowed(OPERATION, permission, std::slice::from_ref(id), "masked");
            grant.audit(store, request_id, access).await?;
        }
    }
    Ok(Ok(device_event_to_wit(event, household_id, resident_id)))
}
