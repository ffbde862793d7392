//! Branches, activities, attendance and reminders.
//!
//! **Check-in window.** A member checks in with their own identity from
//! `check_in_opens_minutes_before` (30) before the start until
//! `check_in_closes_minutes_after_end` (0) after the end: the window is
//! `[start − opens, end + closes)`, its first millisecond included and its
//! closing one not.
//!
//! **Leave.** A member asks for leave before the activity starts; the
//! branch's secretary (or an administrator) approves or refuses it, once.
//! Approved leave counts as leave, a pending or refused request as absence.
//!
//! **By hand.** The secretary may record any expected member as present, on
//! leave or absent at any time; the record says it was made by hand and by
//! whom, and the latest one overrides check-ins and leave.

use hutong_sdk::notify::{self, Channel, Message, Recipient};
use hutong_sdk::{Error, Params, Request, Response, Tick, data, kv};
use serde::Deserialize;

use crate::access::{self, Roster};
use crate::ledger::Settle;
use crate::records::{Activity, Kind, Mark, MemberId, Standing, Status, key, new_id, resolve};
use crate::report::name_members;
use crate::settings::Settings;
use crate::{Fail, period, text};

/// The longest an activity may last.
const MAX_DURATION_MS: i64 = 24 * 3_600_000;

pub fn list_branches(req: &Request, _: &Params) -> Result<Response, Fail> {
    access::caller(req)?;
    let cursor = req.query_param("cursor");
    let page = data::organisations(
        Some(data::OrganisationKind::PartyBranch),
        None,
        cursor.as_deref(),
        data::MAX_PAGE,
    )?;
    let branches: Vec<serde_json::Value> = page
        .organisations
        .into_iter()
        .map(|o| serde_json::json!({ "id": o.id, "name": o.name, "community_id": o.community_id }))
        .collect();
    Ok(Response::json(
        200,
        &serde_json::json!({ "branches": branches, "next_cursor": page.next_cursor }),
    ))
}

pub fn list_members(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    if roster.member_of(caller).is_none() {
        access::require_organiser(caller, &branch.id, &roster)?;
    }
    let mut rows = crate::report::roster_rows(&roster);
    let names = name_members(&mut rows, &roster)?;
    let members: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "member": r.member, "kind": r.kind, "role": r.role,
                "name": r.name, "work_unit": r.work_unit,
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &serde_json::json!({ "branch": branch, "names": names, "members": members }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewActivity {
    kind: String,
    title: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    agenda: String,
    starts_at_ms: i64,
    ends_at_ms: i64,
}

pub fn create(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    access::require_organiser(caller, &branch.id, &roster)?;
    let settings = Settings::load()?;
    let new: NewActivity = req.json()?;
    let kind: Kind = new.kind.parse().map_err(Fail::Invalid)?;
    let title = text(&new.title, "title", 1, 200)?;
    let place = text(&new.place, "place", 0, 200)?;
    let agenda = text(&new.agenda, "agenda", 0, 4000)?;
    if new.starts_at_ms < 0 || new.ends_at_ms <= new.starts_at_ms {
        return Err(Fail::Invalid(
            "`ends_at_ms` must come after `starts_at_ms` (both milliseconds since the Unix epoch)"
                .into(),
        ));
    }
    if new.ends_at_ms - new.starts_at_ms > MAX_DURATION_MS {
        return Err(Fail::Invalid(
            "an activity lasts at most 24 hours; schedule longer ones day by day".into(),
        ));
    }
    let now = hutong_sdk::now_ms();
    let mut activity = Activity {
        id: String::new(),
        branch: branch.id.clone(),
        kind,
        title,
        place,
        agenda,
        starts_at_ms: new.starts_at_ms,
        ends_at_ms: new.ends_at_ms,
        created_by: caller.account_id.clone(),
        created_at_ms: now,
    };
    insert_new(&mut activity, now)?;
    let month = settings.offset.month(activity.starts_at_ms).key();
    kv::set(
        &key::activity_index(
            &branch.id,
            &month,
            activity.starts_at_ms,
            &activity.id,
            kind.as_str(),
        ),
        b"",
    )?;
    if activity.starts_at_ms > now {
        kv::set(
            &format!("due/{:013}/{}", activity.starts_at_ms, activity.id),
            b"",
        )?;
    }
    Ok(Response::json(201, &view(&activity, &settings)))
}

/// Store a new activity under a fresh id.
fn insert_new(activity: &mut Activity, now: i64) -> Result<(), Error> {
    for _ in 0..8 {
        activity.id = new_id(now);
        let bytes = serde_json::to_vec(activity)
            .map_err(|e| Error::Internal(format!("could not encode an activity: {e}")))?;
        if kv::insert_if_absent(&format!("act/{}", activity.id), &bytes)? {
            return Ok(());
        }
    }
    Err(Error::Unavailable(
        "could not find a free activity id; try again".into(),
    ))
}

fn view(activity: &Activity, settings: &Settings) -> serde_json::Value {
    serde_json::json!({
        "id": activity.id,
        "branch": activity.branch,
        "kind": activity.kind,
        "title": activity.title,
        "place": activity.place,
        "agenda": activity.agenda,
        "starts_at_ms": activity.starts_at_ms,
        "ends_at_ms": activity.ends_at_ms,
        "starts_at": settings.offset.show(activity.starts_at_ms),
        "ends_at": settings.offset.show(activity.ends_at_ms),
        "check_in_opens_at_ms": activity.starts_at_ms - settings.opens_before_ms,
        "check_in_closes_at_ms": activity.ends_at_ms + settings.closes_after_ms,
        "created_by": activity.created_by,
    })
}

pub fn list(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    if roster.member_of(caller).is_none() && caller.role != hutong_sdk::Role::Auditor {
        access::require_organiser(caller, &branch.id, &roster)?;
    }
    let settings = Settings::load()?;
    let period = period(req, &settings, hutong_sdk::now_ms())?;
    let mut out = Vec::new();
    for month in period.months() {
        for key in kv::keys(&format!("bact/{}/{}/", branch.id, month.key())) {
            let key = key?;
            let Some(id) = key.split('/').nth(4) else {
                continue;
            };
            if let Some(activity) = kv::get_json::<Activity>(&format!("act/{id}"))? {
                out.push(view(&activity, &settings));
            }
        }
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "branch": branch.id, "period": period.to_string(), "activities": out }),
    ))
}

/// The activity `id`, its branch's roster and the settings.
fn load(id: &str) -> Result<(Activity, Roster, Settings), Fail> {
    let activity = kv::get_json::<Activity>(&format!("act/{id}"))?
        .ok_or_else(|| Fail::NotFound(format!("no activity `{id}`")))?;
    let roster = Roster::of(&activity.branch)?;
    Ok((activity, roster, Settings::load()?))
}

/// The cancellation of an activity, if it was cancelled.
fn cancellation(id: &str) -> Result<Option<serde_json::Value>, Error> {
    kv::get_json(&format!("cancel/{id}"))
}

fn refuse_cancelled(activity: &Activity) -> Result<(), Fail> {
    match cancellation(&activity.id)? {
        Some(c) => Err(Fail::Conflict(format!(
            "this activity was cancelled: {}",
            c["reason"].as_str().unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancel {
    reason: String,
}

/// Cancel an activity before it starts: it leaves the branch's reports and
/// reminders, and nobody checks in or asks for leave any more. One that has
/// started stays: record its attendance instead.
pub fn cancel(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    access::require_organiser(caller, &activity.branch, &roster)?;
    let body: Cancel = req.json()?;
    let reason = text(&body.reason, "reason", 1, 500)?;
    let now = hutong_sdk::now_ms();
    let earlier = cancellation(&activity.id)?;
    if earlier.is_none() && now >= activity.starts_at_ms {
        return Err(Fail::Conflict(
            "an activity that has started cannot be cancelled; record its attendance instead"
                .into(),
        ));
    }
    let record = serde_json::json!({ "by": caller.account_id, "at_ms": now, "reason": reason });
    let first = earlier.is_none()
        && kv::insert_if_absent(
            &format!("cancel/{}", activity.id),
            record.to_string().as_bytes(),
        )?;
    // Take it out of the indexes every time, so a cancellation a crash cut
    // short is completed by the next attempt.
    let month = settings.offset.month(activity.starts_at_ms).key();
    kv::delete(&key::activity_index(
        &activity.branch,
        &month,
        activity.starts_at_ms,
        &activity.id,
        activity.kind.as_str(),
    ))?;
    kv::delete(&format!(
        "due/{:013}/{}",
        activity.starts_at_ms, activity.id
    ))?;
    if !first {
        return Err(Fail::Conflict("this activity was already cancelled".into()));
    }
    let mut body = view(&activity, &settings);
    body["cancelled"] = record;
    Ok(Response::json(200, &body))
}

/// A member's marks for an activity, and how they resolve.
fn standing(
    activity: &Activity,
    month: &str,
    member: &MemberId,
) -> Result<(Vec<Mark>, Standing), Error> {
    let prefix = key::marks(&activity.branch, month, &activity.id, member);
    let mut marks = Vec::new();
    for k in kv::keys(&prefix) {
        if let Some(mark) = Mark::parse(&k?[prefix.len()..]) {
            marks.push(mark);
        }
    }
    let standing = resolve(&marks);
    Ok((marks, standing))
}

fn standing_json(member: &MemberId, s: &Standing) -> serde_json::Value {
    serde_json::json!({
        "member": member,
        "status": s.status,
        "recorded_by_hand": s.recorded_by_hand,
        "leave": s.leave,
    })
}

pub fn show(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    let month = settings.offset.month(activity.starts_at_ms).key();
    let mut body = view(&activity, &settings);
    body["cancelled"] = cancellation(&activity.id)?.unwrap_or_default();
    if access::is_admin(caller) || roster.is_secretary(caller) {
        let audience = roster.audience(activity.kind);
        let mut rows = crate::report::roster_rows(&roster);
        rows.retain(|r| audience.contains(&r.member));
        let names = name_members(&mut rows, &roster)?;
        let mut sheet = Vec::new();
        for row in &rows {
            let (_, s) = standing(&activity, &month, &row.member)?;
            let mut entry = standing_json(&row.member, &s);
            entry["name"] = serde_json::json!(row.name);
            sheet.push(entry);
        }
        body["names"] = serde_json::json!(names);
        body["attendance"] = serde_json::json!(sheet);
    } else if let Some(member) = roster.member_of(caller) {
        let (_, s) = standing(&activity, &month, &member)?;
        body["mine"] = standing_json(&member, &s);
    } else {
        return Err(Fail::Forbidden(format!(
            "activity `{}` belongs to branch `{}`, which you are not a member of",
            activity.id, activity.branch
        )));
    }
    Ok(Response::json(200, &body))
}

/// The caller as a member expected at the activity, or 403 saying why not.
fn expected_member(
    caller: &hutong_sdk::Caller,
    activity: &Activity,
    roster: &Roster,
) -> Result<MemberId, Fail> {
    let Some(member) = roster.member_of(caller) else {
        return Err(Fail::Forbidden(format!(
            "you are not a member of branch `{}`, which holds activity `{}`",
            activity.branch, activity.id
        )));
    };
    if !roster.expected(&member, activity.kind) {
        return Err(Fail::Forbidden(format!(
            "a {} is not for you: {}",
            activity.kind.as_str(),
            if activity.kind.committee_only() {
                "committee meetings are for members holding a role in the branch"
            } else {
                "in-service members take part in themed days and volunteer activities"
            }
        )));
    }
    Ok(member)
}

pub fn check_in(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    let member = expected_member(caller, &activity, &roster)?;
    refuse_cancelled(&activity)?;
    let now = hutong_sdk::now_ms();
    let opens = activity.starts_at_ms - settings.opens_before_ms;
    let closes = activity.ends_at_ms + settings.closes_after_ms;
    if now < opens || now >= closes {
        return Err(Fail::Conflict(format!(
            "check-in for this activity is open from {} until {} (exclusive); it is {} now",
            settings.offset.show(opens),
            settings.offset.show(closes),
            settings.offset.show(now)
        )));
    }
    let month = settings.offset.month(activity.starts_at_ms);
    let value = serde_json::json!({ "account": caller.account_id, "at_ms": now }).to_string();
    let first = kv::insert_if_absent(
        &key::mark(
            &activity.branch,
            &month.key(),
            &activity.id,
            &member,
            &Mark::CheckIn,
        ),
        value.as_bytes(),
    )?;
    let (_, s) = standing(&activity, &month.key(), &member)?;
    // Settle on every call, not only the first: a check-in whose award was
    // lost to a crash gets it on the retry, and the award's fixed id keeps
    // it from being given twice.
    let awarded = Settle {
        branch: &activity.branch,
        month_key: &month.key(),
        month: &month.to_string(),
        activity: &activity.id,
        title: &activity.title,
        member: &member,
        standing: s,
        by: &caller.account_id,
        now_ms: now,
        stamp: None,
    }
    .run(&settings)?;
    let mut body = standing_json(&member, &s);
    body["already_checked_in"] = serde_json::json!(!first);
    body["points_awarded"] = serde_json::json!(crate::ledger::tenths_to_f64(awarded));
    Ok(Response::json(if first { 201 } else { 200 }, &body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaveRequest {
    reason: String,
}

pub fn request_leave(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    let member = expected_member(caller, &activity, &roster)?;
    refuse_cancelled(&activity)?;
    let body: LeaveRequest = req.json()?;
    let reason = text(&body.reason, "reason", 1, 500)?;
    let now = hutong_sdk::now_ms();
    if now >= activity.starts_at_ms {
        return Err(Fail::Conflict(format!(
            "leave is asked for before the activity starts ({}); ask the branch secretary to record it",
            settings.offset.show(activity.starts_at_ms)
        )));
    }
    let month = settings.offset.month(activity.starts_at_ms).key();
    let value = serde_json::json!({ "account": caller.account_id, "reason": reason, "at_ms": now });
    if !kv::insert_if_absent(
        &key::mark(
            &activity.branch,
            &month,
            &activity.id,
            &member,
            &Mark::LeaveRequested,
        ),
        value.to_string().as_bytes(),
    )? {
        return Err(Fail::Conflict(
            "you have already asked for leave from this activity".into(),
        ));
    }
    let (_, s) = standing(&activity, &month, &member)?;
    Ok(Response::json(201, &standing_json(&member, &s)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Note {
    note: String,
}

pub fn note(req: &Request) -> Result<String, Fail> {
    if req.body().is_empty() {
        return Ok(String::new());
    }
    let n: Note = req.json()?;
    text(&n.note, "note", 0, 500)
}

pub fn decide_leave(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    access::require_organiser(caller, &activity.branch, &roster)?;
    let approve = match params.get("decision") {
        Some("approve") => true,
        Some("refuse") => false,
        _ => return Err(Fail::NotFound("decide with `approve` or `refuse`".into())),
    };
    let member =
        MemberId::parse(params.get("member").unwrap_or_default()).map_err(Fail::Invalid)?;
    let note = note(req)?;
    let month = settings.offset.month(activity.starts_at_ms).key();
    let (marks, _) = standing(&activity, &month, &member)?;
    if !marks.contains(&Mark::LeaveRequested) {
        return Err(Fail::NotFound(format!(
            "{member} has not asked for leave from this activity"
        )));
    }
    let now = hutong_sdk::now_ms();
    let claim = serde_json::json!({ "approved": approve, "by": caller.account_id, "at_ms": now, "note": note });
    let claim_key = key::mark(
        &activity.branch,
        &month,
        &activity.id,
        &member,
        &Mark::DecisionClaim,
    );
    if !kv::insert_if_absent(&claim_key, claim.to_string().as_bytes())? {
        // Decided before: finish writing that decision (in case a crash cut
        // it short) and say so.
        let earlier: serde_json::Value = kv::get_json(&claim_key)?.unwrap_or_default();
        let earlier_approved = earlier["approved"].as_bool().unwrap_or(false);
        kv::set(
            &key::mark(
                &activity.branch,
                &month,
                &activity.id,
                &member,
                &Mark::LeaveDecided(earlier_approved),
            ),
            b"",
        )?;
        return Err(Fail::Conflict(format!(
            "this leave request was already {}",
            if earlier_approved {
                "approved"
            } else {
                "refused"
            }
        )));
    }
    kv::set(
        &key::mark(
            &activity.branch,
            &month,
            &activity.id,
            &member,
            &Mark::LeaveDecided(approve),
        ),
        claim.to_string().as_bytes(),
    )?;
    let (_, s) = standing(&activity, &month, &member)?;
    Ok(Response::json(200, &standing_json(&member, &s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByHand {
    member: String,
    status: Status,
    #[serde(default)]
    note: String,
}

pub fn record(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let (activity, roster, settings) = load(params.get("activity").unwrap_or_default())?;
    access::require_organiser(caller, &activity.branch, &roster)?;
    let body: ByHand = req.json()?;
    let member = MemberId::parse(&body.member).map_err(Fail::Invalid)?;
    if !roster.expected(&member, activity.kind) {
        return Err(Fail::Invalid(format!(
            "{member} is not expected at this {}: record only the branch's members it is for",
            activity.kind.as_str()
        )));
    }
    let note = text(&body.note, "note", 0, 500)?;
    let month = settings.offset.month(activity.starts_at_ms);
    let mut stamp = hutong_sdk::now_ms();
    let value = serde_json::json!({ "by": caller.account_id, "note": note, "status": body.status });
    // Records by hand are ordered by their stamp; two in the same
    // millisecond take the next free one.
    loop {
        let k = key::mark(
            &activity.branch,
            &month.key(),
            &activity.id,
            &member,
            &Mark::Manual(stamp, body.status),
        );
        let mut v = value.clone();
        v["at_ms"] = serde_json::json!(stamp);
        if kv::insert_if_absent(&k, v.to_string().as_bytes())? {
            break;
        }
        stamp += 1;
    }
    let (_, s) = standing(&activity, &month.key(), &member)?;
    let delta = Settle {
        branch: &activity.branch,
        month_key: &month.key(),
        month: &month.to_string(),
        activity: &activity.id,
        title: &activity.title,
        member: &member,
        standing: s,
        by: &caller.account_id,
        now_ms: hutong_sdk::now_ms(),
        stamp: Some(stamp),
    }
    .run(&settings)?;
    let mut out = standing_json(&member, &s);
    out["recorded_by"] = serde_json::json!(caller.account_id);
    out["points_change"] = serde_json::json!(crate::ledger::tenths_to_f64(delta));
    Ok(Response::json(201, &out))
}

/// The reminder tick: remind the members expected at every activity that
/// starts within `reminder_minutes_before`, once. The host's idempotency
/// key (`remind:{activity}`) makes a tick that runs again, or a crash
/// between sending and noting it, send nothing twice.
pub fn remind(now: i64, tick: &Tick) -> Result<(), Error> {
    let settings = Settings::load()?;
    let _ = tick;
    let horizon = now + settings.remind_before_ms;
    let cursor = format!("due/{now:013}");
    let mut cursor = Some(cursor);
    'pages: loop {
        let page = kv::list_keys("due/", cursor.as_deref(), kv::MAX_PAGE)?;
        for k in &page.keys {
            let mut parts = k.split('/').skip(1);
            let (Some(start), Some(id)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(start) = start.parse::<i64>() else {
                continue;
            };
            if start > horizon {
                break 'pages;
            }
            if kv::get(&format!("rem/{id}"))?.is_some() || cancellation(id)?.is_some() {
                continue;
            }
            if let Some(activity) = kv::get_json::<Activity>(&format!("act/{id}"))? {
                send_reminders(&activity, &settings)?;
            }
            kv::set(&format!("rem/{id}"), b"")?;
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(())
}

fn send_reminders(activity: &Activity, settings: &Settings) -> Result<(), Error> {
    let subject = format!("提醒 Reminder: {}", activity.title);
    let body = format!(
        "{} · {} — {}{}",
        activity.kind.as_str(),
        settings.offset.show(activity.starts_at_ms),
        if activity.place.is_empty() {
            ""
        } else {
            &activity.place
        },
        if activity.agenda.is_empty() {
            String::new()
        } else {
            format!(
                "\n{}",
                activity.agenda.chars().take(1500).collect::<String>()
            )
        }
    );
    let roster = Roster::of(&activity.branch)?;
    let mut recipients: Vec<(Recipient, String)> = Vec::new();
    if activity.kind.committee_only() {
        for m in roster.members.iter().filter(|m| !m.role.is_empty()) {
            recipients.push((
                Recipient::Resident(m.resident_id.clone()),
                format!("remind:{}:{}", activity.id, m.resident_id),
            ));
        }
    } else {
        recipients.push((
            Recipient::OrganisationMembers(activity.branch.clone()),
            format!("remind:{}", activity.id),
        ));
    }
    if activity.kind.open_to_in_service() {
        // In-service members are reachable when their account is linked to a
        // resident of the district; others read their activities in the app.
        for s in &roster.in_service {
            if let Some(resident) = &s.resident_id {
                recipients.push((
                    Recipient::Resident(resident.clone()),
                    format!("remind:{}:a.{}", activity.id, s.account),
                ));
            }
        }
    }
    for (recipient, idempotency_key) in recipients {
        match notify::send(&Message::new(
            recipient,
            Channel::Inbox,
            subject.clone(),
            body.clone(),
            idempotency_key,
        )) {
            // A member outside the install's communities cannot be reached;
            // the others still are.
            Ok(_) | Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committee_meetings_are_committee_only() {
        assert!(Kind::CommitteeMeeting.committee_only());
        assert!(!Kind::Lecture.open_to_in_service());
    }
}
