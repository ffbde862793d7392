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

use crate::bindings::exports::hutong::platform::event_handler::DeviceEvent;
use crate::manifest::Permission;
use crate::runtime::InstallIdentity;
use crate::store::{NewAccess, Store, StoreError, StoredEvent};

/// The operation access-log entries of a delivery name.
pub const OPERATION: &str = "event-handler.on-event";

/// Decide whether `call` hears `event` and build what it is handed: the
/// WIT event, or the permission it lacks (not granted, or not subscribed).
pub(crate) async fn admit_event(
    store: &Store,
    call: &InstallIdentity,
    subscribed: &[String],
    request_id: &str,
    event: &StoredEvent,
) -> Result<Result<DeviceEvent, Permission>, StoreError> {
    if !call.granted.contains(&Permission::ReceiveEvents) || !subscribed.contains(&event.event_type)
    {
        return Ok(Err(Permission::ReceiveEvents));
    }
    let in_scope = event.community_id.as_deref().is_some_and(|c| {
        call.scope
            .as_ref()
            .is_none_or(|scope| scope.iter().any(|s| s == c))
    });
    let share = |id: &Option<String>, permission: Permission| {
        id.clone()
            .filter(|_| in_scope && call.granted.contains(&permission))
    };
    let household_id = share(&event.household_id, Permission::ReadHouseholds);
    let resident_id = share(&event.resident_id, Permission::ReadResidents);
    for (id, permission) in [
        (&household_id, Permission::ReadHouseholds),
        (&resident_id, Permission::ReadResidents),
    ] {
        if let Some(id) = id {
            store
                .log_access(NewAccess {
                    district: &call.district,
                    app: &call.app,
                    version: &call.version,
                    request_id,
                    operation: OPERATION,
                    permission: permission.name(),
                    allowed: true,
                    record_ids: std::slice::from_ref(id),
                    // Only the id is handed over, never a personal field.
                    field_class: "masked",
                })
                .await?;
        }
    }
    Ok(Ok(DeviceEvent {
        event_id: event.id.to_string(),
        device_id: event.device_id.clone(),
        device_kind: event.device_kind.clone(),
        event_type: event.event_type.clone(),
        occurred_at_ms: u64::try_from(event.occurred_at).unwrap_or(0),
        payload: event.payload.clone(),
        household_id,
        resident_id,
    }))
}
