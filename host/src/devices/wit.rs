//! WIT ⇄ host conversions for device events.

use crate::devices::store::StoredEvent;
use crate::kernel::wit::exports::hutong::platform::event_handler::DeviceEvent;
use crate::kernel::wit::ms;

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
