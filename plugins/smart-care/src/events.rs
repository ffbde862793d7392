//! Device events: door activity, smoke and gas alarms, and devices going
//! offline and coming back.
//!
//! Events arrive at least once and in order per device, so each handler is
//! idempotent: door activity only moves forward, an alarm's episode is
//! claimed with `insert-if-absent` under the device, and every message goes
//! out under an idempotency key derived from the event.

use hutong_sdk::cases::Priority;
use hutong_sdk::data::ResidentQuery;
use hutong_sdk::notify::{self, Channel, Message, Recipient};
use hutong_sdk::{DeviceEvent, Error, data, kv, log};

use crate::alerts;
use crate::settings::Settings;
use crate::state::{self, Activity, AlarmEpisode, Alert, Kind, SensorState, Watched};

/// Handle one event.
pub fn handle(event: DeviceEvent) -> Result<(), Error> {
    match event.event_type.as_str() {
        "door.open" | "door.close" => door(&event),
        "smoke.alarm" | "gas.alarm" => alarm(&event),
        "smoke.clear" | "gas.clear" => {
            // The episode is over; the next alarm is a new one. Its case
            // stays with the workers.
            kv::delete(&state::alarm(&event.device_id))?;
            Ok(())
        }
        "device.offline" => offline(&event),
        "device.online" => online(&event),
        _ => Ok(()),
    }
}

/// The watched residents an event concerns: the device's resident, or the
/// watched residents of its household.
fn residents(event: &DeviceEvent) -> Result<Vec<String>, Error> {
    if let Some(resident) = &event.resident_id {
        return Ok(vec![resident.clone()]);
    }
    let Some(household) = &event.household_id else {
        return Ok(Vec::new());
    };
    let prefix = format!("home/{household}/");
    kv::keys(&prefix)
        .map(|key| key.map(|k| k.get(prefix.len()..).unwrap_or_default().to_owned()))
        .collect()
}

/// A door opened or closed: the residents are active now.
fn door(event: &DeviceEvent) -> Result<(), Error> {
    let at = i64::try_from(event.occurred_at_ms).unwrap_or(i64::MAX);
    for resident in residents(event)? {
        let key = state::act(&resident);
        // Only forward: a household with two sensors must not move a
        // resident's activity back.
        if kv::get_json::<Activity>(&key)?.is_some_and(|a| a.at >= at) {
            continue;
        }
        kv::set_json(
            &key,
            &Activity {
                at,
                event: event.event_id.clone(),
            },
        )?;
    }
    Ok(())
}

/// Where the workers of an event's residents are: the first watched
/// resident's grid, else the grid of the device's household.
fn grid_of(event: &DeviceEvent, residents: &[String]) -> Result<Option<String>, Error> {
    for resident in residents {
        if let Some(w) = kv::get_json::<Watched>(&state::roster(resident))? {
            return Ok(Some(w.grid));
        }
    }
    if let Some(resident) = &event.resident_id {
        match data::resident(resident) {
            Ok(r) => return Ok(Some(r.grid_id)),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(household) = &event.household_id {
        match data::household(household) {
            Ok(h) => return Ok(Some(h.grid_id)),
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Smoke or gas: at once an urgent case, and a voice call and a text
/// message to the grid's workers and to each resident's family contact.
/// Repeated alarms of one episode (until the device clears) add nothing.
fn alarm(event: &DeviceEvent) -> Result<(), Error> {
    let what = if event.event_type.starts_with("gas") {
        "Gas alarm (燃气报警)"
    } else {
        "Smoke alarm (烟雾报警)"
    };
    let alert_id = format!("alarm.{}.{}", event.device_id, event.event_id);
    let episode_key = state::alarm(&event.device_id);
    let episode = AlarmEpisode {
        event: event.event_id.clone(),
        alert: alert_id.clone(),
    };
    if !state::insert_json(&episode_key, &episode)? {
        let current: Option<AlarmEpisode> = kv::get_json(&episode_key)?;
        // Another event's episode is going on: this one adds nothing. The
        // same event told again carries on below, where it left off.
        if current.is_some_and(|c| c.event != event.event_id) {
            log::info(
                "alarm repeats within its episode",
                &[("device", &event.device_id), ("event", &event.event_id)],
            );
            return Ok(());
        }
    }
    let mut residents = residents(event)?;
    // Everyone of the household matters in a fire, watched or not: their
    // family contacts are called too.
    if let Some(household) = &event.household_id {
        let query = ResidentQuery {
            household_id: Some(household.clone()),
            ..ResidentQuery::default()
        };
        for resident in data::residents(query) {
            let id = resident?.id;
            if !residents.contains(&id) {
                residents.push(id);
            }
        }
    }
    let grid = grid_of(event, &residents)?;
    let place = event
        .household_id
        .as_deref()
        .map(|h| format!("household {h}"))
        .unwrap_or_else(|| format!("device {}", event.device_id));
    let detail = format!(
        "{what} at {place}{}: device {}.",
        if residents.is_empty() {
            String::new()
        } else {
            format!(" (residents {})", residents.join(", "))
        },
        event.device_id
    );
    let alert = Alert {
        id: alert_id.clone(),
        kind: Kind::Alarm,
        resident: residents.first().cloned(),
        grid: grid.clone(),
        device: Some(event.device_id.clone()),
        since: i64::try_from(event.occurred_at_ms).unwrap_or(i64::MAX),
        raised_at: hutong_sdk::now_ms(),
        detail: detail.clone(),
        // Alarms are told below, by voice and text, not as other alerts.
        notified: true,
    };
    if state::insert_json(&state::alert(&alert_id), &alert)? {
        kv::set(
            &state::open(&alert_id),
            grid.as_deref().unwrap_or("").as_bytes(),
        )?;
    }
    if alerts::case_of(&alert_id)?.is_none() {
        let cfg = Settings::load()?;
        alerts::open_case(
            &cfg,
            &alert,
            Priority::Urgent,
            format!("{detail} Go at once; the fire brigade may be needed."),
        )?;
    }
    for (channel, name) in [(Channel::Voice, "voice"), (Channel::Sms, "sms")] {
        if let Some(grid) = &grid {
            alerts::send(Message::new(
                Recipient::workers_of_grid(grid.clone()),
                channel,
                what,
                detail.clone(),
                format!("{alert_id}:workers-{name}"),
            ))?;
        }
        for resident in &residents {
            let key = format!("{alert_id}:family-{resident}-{name}");
            match notify::send_to_family_contact(
                resident,
                channel,
                what,
                &format!("{what} at your family member's home. The grid worker has been called."),
                &key,
            ) {
                Ok(_) | Err(Error::NotFound) => {}
                Err(Error::Denied { permission }) => log::warn(
                    "notification channel not granted; skipped",
                    &[("permission", &permission), ("key", &key)],
                ),
                Err(other) => return Err(other),
            }
        }
    }
    Ok(())
}

/// A device went silent past its heartbeat interval: a device fault for the
/// worker to fix, not a welfare alert. A silent door sensor's residents are
/// not judged by their door until it is back.
fn offline(event: &DeviceEvent) -> Result<(), Error> {
    let since = i64::try_from(event.occurred_at_ms).unwrap_or(i64::MAX);
    let residents = residents(event)?;
    if event.device_kind == "door-sensor" {
        for resident in &residents {
            kv::set_json(
                &state::out(resident),
                &SensorState {
                    device: event.device_id.clone(),
                    offline: true,
                    offline_since: since,
                    back_at: None,
                },
            )?;
        }
    }
    let grid = grid_of(event, &residents)?;
    let id = format!("fault.{}.{}", event.device_id, event.event_id);
    kv::set(&state::fault(&event.device_id), id.as_bytes())?;
    alerts::raise(Alert {
        id,
        kind: Kind::DeviceOffline,
        resident: residents.first().cloned(),
        grid,
        device: Some(event.device_id.clone()),
        since,
        raised_at: hutong_sdk::now_ms(),
        detail: format!(
            "Device fault: the {} {} has sent nothing for longer than its heartbeat interval. Check its battery and connection; this says nothing about the residents' welfare.",
            event.device_kind, event.device_id
        ),
        notified: false,
    })?;
    Ok(())
}

/// A device reported offline is back: its fault is over, and its residents'
/// quiet counts from now.
fn online(event: &DeviceEvent) -> Result<(), Error> {
    let at = i64::try_from(event.occurred_at_ms).unwrap_or(i64::MAX);
    if event.device_kind == "door-sensor" {
        for resident in residents(event)? {
            let key = state::out(&resident);
            if let Some(mut s) = kv::get_json::<SensorState>(&key)? {
                s.offline = false;
                s.back_at = Some(at);
                kv::set_json(&key, &s)?;
            }
        }
    }
    let key = state::fault(&event.device_id);
    if let Some(id) = kv::get(&key)? {
        let id = String::from_utf8_lossy(&id).into_owned();
        alerts::resolve(&id, at, "the device is back online")?;
        kv::delete(&key)?;
    }
    Ok(())
}
