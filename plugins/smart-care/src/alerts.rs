//! Raising, telling, resolving and escalating alerts.
//!
//! An alert's id names its episode (`silence.<resident>.<last activity>`,
//! `alarm.<device>.<event>`, `fault.<device>.<event>`,
//! `check-in.<resident>.<date>`), so raising it again (a retried event, the
//! next tick while the silence goes on) finds the one already raised instead
//! of a second. It is created with `insert-if-absent`; the workers are told
//! under idempotency keys derived from the id, and the alert is marked told
//! only after the sends succeeded, so a failed send is tried again and never
//! delivered twice.

use hutong_sdk::cases::{self, CaseReport, Priority};
use hutong_sdk::notify::{self, Channel, Message, Recipient};
use hutong_sdk::{Error, kv, log};

use crate::settings::Checked;
use crate::state::{self, Ack, Alert, Resolution};
use crate::time::MINUTE_MS;

/// Raise `alert` unless its episode already has one, and tell the grid's
/// workers unless they were told; the stored alert.
pub fn raise(alert: Alert) -> Result<Alert, Error> {
    let key = state::alert(&alert.id);
    let mut stored = match kv::get_json::<Alert>(&key)? {
        Some(existing) => existing,
        None if state::insert_json(&key, &alert)? => {
            kv::set(
                &state::open(&alert.id),
                alert.grid.as_deref().unwrap_or("").as_bytes(),
            )?;
            log::info(
                "alert raised",
                &[("alert", &alert.id), ("kind", alert.kind.title())],
            );
            alert
        }
        // Another caller raised it between the two calls.
        None => kv::get_json::<Alert>(&key)?
            .ok_or_else(|| Error::Internal(format!("alert {} vanished", alert.id)))?,
    };
    if !stored.notified {
        tell_workers(&stored)?;
        stored.notified = true;
        kv::set_json(&key, &stored)?;
    }
    Ok(stored)
}

/// Tell the grid's workers of `alert`: their inbox, and a text message
/// unless it is a device fault (which can wait for the inbox).
fn tell_workers(alert: &Alert) -> Result<(), Error> {
    let Some(grid) = alert.grid.as_deref().filter(|g| !g.is_empty()) else {
        log::warn(
            "alert without a grid: no worker to tell",
            &[("alert", &alert.id)],
        );
        return Ok(());
    };
    let mut channels = vec![(Channel::Inbox, "inbox")];
    if alert.kind != state::Kind::DeviceOffline {
        channels.push((Channel::Sms, "sms"));
    }
    let body = format!(
        "{} Acknowledge alert {} in the smart-care worker view.",
        alert.detail, alert.id
    );
    for (channel, name) in channels {
        send(Message::new(
            Recipient::workers_of_grid(grid),
            channel,
            alert.kind.title(),
            body.clone(),
            format!("{}:{name}", alert.id),
        ))?;
    }
    Ok(())
}

/// Send one message. A channel the district did not grant is logged and
/// skipped, not retried for ever; other failures are the caller's to retry.
pub fn send(message: Message) -> Result<(), Error> {
    match notify::send(&message) {
        Ok(_) => Ok(()),
        Err(Error::Denied { permission }) => {
            log::warn(
                "notification channel not granted; skipped",
                &[
                    ("permission", &permission),
                    ("key", &message.idempotency_key),
                ],
            );
            Ok(())
        }
        Err(other) => Err(other),
    }
}

/// Mark an alert over.
pub fn resolve(id: &str, at: i64, why: &str) -> Result<(), Error> {
    state::insert_json(
        &state::resolved(id),
        &Resolution {
            at,
            why: why.to_owned(),
        },
    )?;
    kv::delete(&state::open(id))?;
    log::info("alert resolved", &[("alert", id), ("why", why)]);
    Ok(())
}

/// Acknowledge an alert for `by`; whether this call did it (false: it was
/// acknowledged before).
pub fn acknowledge(id: &str, by: &str, at: i64) -> Result<bool, Error> {
    state::insert_json(
        &state::ack(id),
        &Ack {
            by: by.to_owned(),
            at,
        },
    )
}

/// What `case/<alert>` holds while its case is being opened.
pub const OPENING: &[u8] = b"opening";

/// How many of its newest cases the app looks through for a case it opened
/// but did not get to record.
const RECONCILE_PAGE: u32 = 100;

/// The case of an alert, opening it (its category from the settings) unless
/// it was opened before; the case id and whether this call opened it.
///
/// Opening a case is not idempotent in the host, so the alert is marked
/// `opening` first and every case names its alert in its description: if
/// the app stopped between opening the case and recording it, the next try
/// finds the case among the app's newest instead of opening a second.
pub fn open_case(
    cfg: &Checked,
    alert: &Alert,
    priority: Priority,
    description: String,
) -> Result<(String, bool), Error> {
    let key = state::case(&alert.id);
    let tag = format!("(smart-care alert {})", alert.id);
    match kv::get(&key)? {
        Some(id) if id != OPENING => {
            return Ok((String::from_utf8_lossy(&id).into_owned(), false));
        }
        Some(_) => {
            let page = cases::list(None, None, RECONCILE_PAGE)?;
            if let Some(found) = page.cases.iter().find(|c| c.description.ends_with(&tag)) {
                record_case(&alert.id, &found.id)?;
                return Ok((found.id.clone(), false));
            }
        }
        None => kv::set(&key, OPENING)?,
    }
    let report = CaseReport {
        priority,
        grid_id: alert.grid.clone().filter(|g| !g.is_empty()),
        resident_id: alert.resident.clone(),
        ..CaseReport::new(
            cfg.settings.case_category.clone(),
            format!("{description} {tag}"),
        )
    };
    // An alert about a known resident is theirs to follow too: they (or
    // whoever signs in for them) see its handling and evaluate it.
    let id = if report.resident_id.is_some() {
        cases::open_for_resident(&report)?
    } else {
        cases::open(&report)?
    };
    record_case(&alert.id, &id)?;
    log::info(
        "case opened for alert",
        &[("alert", &alert.id), ("case", &id)],
    );
    Ok((id, true))
}

fn record_case(alert: &str, case: &str) -> Result<(), Error> {
    kv::set(&state::case_alert(case), alert.as_bytes())?;
    kv::set(&state::case(alert), case.as_bytes())
}

/// The case id of an alert, once its case is opened and recorded.
pub fn case_of(alert: &str) -> Result<Option<String>, Error> {
    Ok(kv::get(&state::case(alert))?
        .filter(|id| id != OPENING)
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}

/// Escalate `alert` to a case if it is of a kind that escalates, nobody
/// acknowledged it within the window and it has no case yet; whether it
/// did.
pub fn escalate_if_unacknowledged(cfg: &Checked, alert: &Alert, now: i64) -> Result<bool, Error> {
    let window = i64::from(cfg.settings.ack_window_minutes) * MINUTE_MS;
    if !alert.kind.escalates() || now < alert.raised_at + window {
        return Ok(false);
    }
    if kv::get(&state::ack(&alert.id))?.is_some() || case_of(&alert.id)?.is_some() {
        return Ok(false);
    }
    let description = format!(
        "{} Nobody acknowledged the alert within {} minutes; please visit.",
        alert.detail, cfg.settings.ack_window_minutes
    );
    let (_, opened) = open_case(cfg, alert, Priority::High, description)?;
    Ok(opened)
}
