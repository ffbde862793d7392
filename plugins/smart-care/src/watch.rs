//! The periodic watch (every five minutes): refresh the watch list, find
//! residents whose door has been quiet too long, place and check the daily
//! check-in calls, and follow the open alerts (resolve the ones activity
//! ended, escalate the ones nobody acknowledged).
//!
//! It reads its state a page at a time (`kv::entries`): a few calls per
//! thousand residents, whatever their number, rather than one call each.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hutong_sdk::data::{self, ResidentQuery};
use hutong_sdk::notify::{Channel, Message, Recipient};
use hutong_sdk::{Error, kv, log};

use crate::alerts;
use crate::settings::Checked;
use crate::state::{self, Activity, Alert, Call, Kind, OptIn, RosterMeta, SensorState, Watched};
use crate::time::{self, HOUR_MS, MINUTE_MS};

/// Most roster writes one tick makes: a district's first load of ten
/// thousand residents is spread over a few ticks instead of running past
/// the deadline.
pub const ROSTER_WRITES_PER_TICK: usize = 2000;

/// What one watch did, for the log and the tests.
#[derive(Debug, Default)]
pub struct Report {
    /// Residents on the watch list.
    pub watched: usize,
    /// Alerts raised or still going on.
    pub firing: usize,
    /// Check-in calls placed.
    pub calls: usize,
    /// Alerts escalated to cases.
    pub escalated: usize,
}

/// Run the watch at `now`.
pub fn run(cfg: &Checked, now: i64) -> Result<Report, Error> {
    refresh_roster(cfg, now)?;
    let roster: BTreeMap<String, Watched> = state::scan("roster/")?.into_iter().collect();
    let acts: HashMap<String, Activity> = state::scan("act/")?.into_iter().collect();
    let outs: HashMap<String, SensorState> = state::scan("out/")?.into_iter().collect();
    let mut report = Report {
        watched: roster.len(),
        ..Report::default()
    };
    for (resident, watched) in &roster {
        match silence(
            cfg,
            now,
            resident,
            watched,
            acts.get(resident),
            outs.get(resident),
        ) {
            Ok(true) => report.firing += 1,
            Ok(false) => {}
            // One resident's failure (a send the gateway refused for now)
            // must not keep the others unwatched; the next tick retries.
            Err(error) => log::warn(
                "could not check a resident",
                &[("resident", resident), ("error", &error.to_string())],
            ),
        }
    }
    report.calls = check_ins(cfg, now, &roster, &acts)?;
    report.escalated = follow_open_alerts(cfg, now, &acts)?;
    log::info(
        "watch done",
        &[
            ("watched", &report.watched.to_string()),
            ("firing", &report.firing.to_string()),
            ("calls", &report.calls.to_string()),
            ("escalated", &report.escalated.to_string()),
        ],
    );
    Ok(report)
}

/// Read the watch list again from the community data when it is due (or a
/// previous read left writes over), and write what changed.
fn refresh_roster(cfg: &Checked, now: i64) -> Result<(), Error> {
    let meta: RosterMeta = kv::get_json("roster-meta")?.unwrap_or_default();
    let every = i64::from(cfg.settings.roster_refresh_minutes) * MINUTE_MS;
    if !meta.pending && meta.synced_at > 0 && now < meta.synced_at + every {
        return Ok(());
    }
    let mut wanted: BTreeMap<String, Watched> = BTreeMap::new();
    for tag in &cfg.settings.monitored_tags {
        let query = ResidentQuery {
            tags: vec![tag.clone()],
            ..ResidentQuery::default()
        };
        for resident in data::residents(query) {
            let r = resident?;
            wanted.insert(
                r.id,
                Watched {
                    grid: r.grid_id,
                    household: r.household_id,
                    name: r.name,
                    tags: r.tags,
                },
            );
        }
    }
    let existing: BTreeMap<String, Watched> = state::scan("roster/")?.into_iter().collect();
    let mut writes = 0;
    let mut pending = false;
    for (resident, old) in &existing {
        if !wanted.contains_key(resident) {
            kv::delete(&state::roster(resident))?;
            if let Some(household) = &old.household {
                kv::delete(&state::home(household, resident))?;
            }
            writes += 2;
        }
    }
    for (resident, watched) in &wanted {
        let old = existing.get(resident);
        if old == Some(watched) {
            continue;
        }
        if writes >= ROSTER_WRITES_PER_TICK {
            pending = true;
            break;
        }
        if let Some(old_home) = old.and_then(|o| o.household.as_ref())
            && Some(old_home) != watched.household.as_ref()
        {
            kv::delete(&state::home(old_home, resident))?;
        }
        // The household index first: a crash between the two leaves the
        // resident to be written again next time, never unindexed.
        if let Some(household) = &watched.household {
            kv::set(&state::home(household, resident), b"")?;
        }
        kv::set_json(&state::roster(resident), watched)?;
        writes += 2;
    }
    kv::set_json(
        "roster-meta",
        &RosterMeta {
            synced_at: now,
            pending,
        },
    )?;
    log::info(
        "watch list refreshed",
        &[
            ("residents", &wanted.len().to_string()),
            ("writes", &writes.to_string()),
            ("pending", if pending { "true" } else { "false" }),
        ],
    );
    Ok(())
}

/// Which silence rule, if any, `resident` has broken at `now`, given the
/// last activity: a night-time door event followed by `night_absence_hours`
/// of quiet (久出不归), or `inactivity_hours` of quiet (长久不出). Both count
/// from the same moment, so one quiet stretch is one episode and raises one
/// alert, whichever rule fires first.
pub fn broken_rule(cfg: &Checked, now: i64, since: i64) -> Option<Kind> {
    let quiet = now - since;
    let at_night = time::within(
        time::minute_of_day(since, cfg.settings.utc_offset_minutes),
        cfg.night_start,
        cfg.night_end,
    );
    if at_night && quiet >= i64::from(cfg.settings.night_absence_hours) * HOUR_MS {
        Some(Kind::NightAbsence)
    } else if quiet >= i64::from(cfg.settings.inactivity_hours) * HOUR_MS {
        Some(Kind::Inactivity)
    } else {
        None
    }
}

/// Check one resident's silence; whether an alert is going on.
fn silence(
    cfg: &Checked,
    now: i64,
    resident: &str,
    watched: &Watched,
    act: Option<&Activity>,
    sensor: Option<&SensorState>,
) -> Result<bool, Error> {
    if sensor.is_some_and(|s| s.offline) {
        // The sensor is down: its silence says nothing about the resident,
        // and the fault was reported as such.
        return Ok(false);
    }
    // Quiet counts from the last door event, or from the sensor's return
    // after a fault; a resident whose sensor never reported is not judged.
    let Some(since) = act
        .map(|a| a.at)
        .into_iter()
        .chain(sensor.and_then(|s| s.back_at))
        .max()
    else {
        return Ok(false);
    };
    let Some(kind) = broken_rule(cfg, now, since) else {
        return Ok(false);
    };
    let hours = (now - since) / HOUR_MS;
    let detail = match kind {
        Kind::NightAbsence => format!(
            "{} ({resident}, grid {}): the door was used at night and not again for {hours} hours.",
            watched.name, watched.grid
        ),
        _ => format!(
            "{} ({resident}, grid {}): no door activity for {hours} hours.",
            watched.name, watched.grid
        ),
    };
    alerts::raise(Alert {
        id: format!("silence.{resident}.{since}"),
        kind,
        resident: Some(resident.to_owned()),
        grid: Some(watched.grid.clone()),
        device: None,
        since,
        raised_at: now,
        detail,
        notified: false,
    })?;
    Ok(true)
}

/// Place today's check-in calls while the call window is open, and once it
/// has closed raise an alert for each call nobody answered (an answer
/// through the app, or any door activity after the call, counts); the
/// calls placed.
fn check_ins(
    cfg: &Checked,
    now: i64,
    roster: &BTreeMap<String, Watched>,
    acts: &HashMap<String, Activity>,
) -> Result<usize, Error> {
    let offset = cfg.settings.utc_offset_minutes;
    let call_at = time::local_midnight(now, offset) + i64::from(cfg.check_in) * MINUTE_MS;
    let answer_by = call_at + i64::from(cfg.settings.check_in_answer_minutes) * MINUTE_MS;
    if now < call_at {
        return Ok(0);
    }
    let date = time::local_date(now, offset);
    let calls: BTreeMap<String, Call> =
        state::scan(&format!("call/{date}/"))?.into_iter().collect();
    let mut placed = 0;
    if now < answer_by {
        let opted: Vec<(String, OptIn)> = state::scan("check-in/")?;
        for (resident, _) in opted {
            if calls.contains_key(&resident) || !roster.contains_key(&resident) {
                continue;
            }
            let sent = alerts::send(Message::new(
                Recipient::Resident(resident.clone()),
                Channel::Voice,
                "Daily check-in (每日问候)",
                "Good morning from your community. Please answer this call, or open the door, so we know you are well.",
                format!("check-in.{resident}.{date}"),
            ));
            if let Err(error) = sent {
                log::warn(
                    "could not place a check-in call",
                    &[("resident", &resident), ("error", &error.to_string())],
                );
                continue;
            }
            kv::set_json(&state::call(&date, &resident), &Call { called_at: now })?;
            placed += 1;
        }
        return Ok(placed);
    }
    let answered: BTreeSet<String> = kv::keys(&format!("answer/{date}/"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|k| k.rsplit('/').next().map(str::to_owned))
        .collect();
    for (resident, call) in &calls {
        let active = acts.get(resident).is_some_and(|a| a.at >= call.called_at);
        if answered.contains(resident) || active {
            continue;
        }
        let Some(watched) = roster.get(resident) else {
            continue;
        };
        alerts::raise(Alert {
            id: format!("check-in.{resident}.{date}"),
            kind: Kind::MissedCheckIn,
            resident: Some(resident.clone()),
            grid: Some(watched.grid.clone()),
            device: None,
            since: call.called_at,
            raised_at: now,
            detail: format!(
                "{} ({resident}, grid {}): the daily check-in call was not answered, and the door has not been used since.",
                watched.name, watched.grid
            ),
            notified: false,
        })?;
    }
    Ok(placed)
}

/// Resolve open alerts that activity ended, and escalate the ones nobody
/// acknowledged in time; how many were escalated.
fn follow_open_alerts(
    cfg: &Checked,
    now: i64,
    acts: &HashMap<String, Activity>,
) -> Result<usize, Error> {
    let open: Vec<String> = kv::keys("open/")
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter_map(|k| k.strip_prefix("open/").map(str::to_owned))
        .collect();
    let mut escalated = 0;
    for id in open {
        let Some(alert) = kv::get_json::<Alert>(&state::alert(&id))? else {
            kv::delete(&state::open(&id))?;
            continue;
        };
        let later = alert
            .resident
            .as_ref()
            .and_then(|r| acts.get(r))
            .filter(|a| a.at > alert.since);
        if let (Some(act), Kind::Inactivity | Kind::NightAbsence | Kind::MissedCheckIn) =
            (later, alert.kind)
        {
            // A new door event ends the episode.
            alerts::resolve(&id, now, &format!("door activity at {}", act.at))?;
            continue;
        }
        if let Kind::MissedCheckIn = alert.kind
            && let Some(resident) = &alert.resident
        {
            let date = time::local_date(alert.since, cfg.settings.utc_offset_minutes);
            if kv::get(&state::answer(&date, resident))?.is_some() {
                alerts::resolve(&id, now, "check-in answered late")?;
                continue;
            }
        }
        match alerts::escalate_if_unacknowledged(cfg, &alert, now) {
            Ok(true) => escalated += 1,
            Ok(false) => {}
            Err(error) => log::warn(
                "could not escalate an alert",
                &[("alert", &id), ("error", &error.to_string())],
            ),
        }
    }
    Ok(escalated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn cfg() -> Checked {
        Settings {
            inactivity_hours: 12,
            night_absence_hours: 3,
            utc_offset_minutes: 0,
            ..Settings::default()
        }
        .check()
        .expect("valid")
    }

    #[test]
    fn a_quiet_day_is_inactivity_and_a_quiet_night_is_absence() {
        let cfg = cfg();
        let midnight = 1_767_225_600_000;
        let noon = midnight + 12 * HOUR_MS;
        assert_eq!(broken_rule(&cfg, noon + 11 * HOUR_MS, noon), None);
        assert_eq!(
            broken_rule(&cfg, noon + 12 * HOUR_MS, noon),
            Some(Kind::Inactivity)
        );
        let late = midnight + 23 * HOUR_MS;
        assert_eq!(broken_rule(&cfg, late + 2 * HOUR_MS, late), None);
        assert_eq!(
            broken_rule(&cfg, late + 3 * HOUR_MS, late),
            Some(Kind::NightAbsence)
        );
    }
}
