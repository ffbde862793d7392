//! In-service members, community tasks and volunteer hours, the ledger's
//! routes, and the report routes.
//!
//! **In-service members** (在职党员到社区报到) register themselves with the
//! branch of the community they report to, with their name and work unit.
//! The app knows them by their Hutong account (an account of this
//! district: the host hands an app only callers of its own district), so
//! they need not live in the branch's community nor have a resident record.
//! One account registers with one branch.
//!
//! **Hours.** A member of a branch (resident or in-service) logs hours of
//! service against one of its community tasks; the secretary confirms or
//! refuses them, once. Confirmed hours earn `points.volunteer_hour` points
//! an hour (pro rata to the tenth) in the ledger.

use hutong_sdk::{Error, Params, Request, Response, Role, kv};
use serde::Deserialize;

use crate::access::{self, Roster};
use crate::csv::Csv;
use crate::ledger::{self, tenths_to_f64, to_tenths};
use crate::records::{Decision, HoursLog, InService, LedgerEntry, MemberId, Task, new_id};
use crate::report::{self, BranchReport};
use crate::settings::Settings;
use crate::time::{Month, parse_date};
use crate::{Fail, period, text};

/// The most branches one page of `GET /reports` covers.
const MAX_REPORT_PAGE: u32 = 200;

/// The most hours one log may hold.
const MAX_HOURS_TENTHS: i64 = 240;

/// The largest correction, in points.
const MAX_CORRECTION_TENTHS: i64 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    branch: String,
    name: String,
    work_unit: String,
}

pub fn register(req: &Request, _: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    if !matches!(caller.role, Role::Resident | Role::Worker) {
        return Err(Fail::Forbidden(
            "in-service members register with their own resident or worker account".into(),
        ));
    }
    let body: Registration = req.json()?;
    let branch = access::branch(&body.branch)?;
    let name = text(&body.name, "name", 1, 50)?;
    let work_unit = text(&body.work_unit, "work_unit", 1, 200)?;
    let roster = Roster::of(&branch.id)?;
    if let Some(member) = roster.member_of(caller) {
        return Err(Fail::Conflict(format!(
            "you are already {member} of branch `{}`",
            branch.id
        )));
    }
    let record = InService {
        account: caller.account_id.clone(),
        branch: branch.id.clone(),
        name,
        work_unit,
        resident_id: caller.resident_id.clone(),
        registered_at_ms: hutong_sdk::now_ms(),
    };
    let bytes = serde_json::to_vec(&record)
        .map_err(|e| Error::Internal(format!("could not encode a registration: {e}")))?;
    if !kv::insert_if_absent(&format!("svc/{}", caller.account_id), &bytes)? {
        let earlier = kv::get_json::<InService>(&format!("svc/{}", caller.account_id))?;
        if let Some(earlier) = earlier {
            // Finish an earlier registration a crash cut short.
            kv::set(
                &format!("bsvc/{}/{}", earlier.branch, earlier.account),
                &serde_json::to_vec(&earlier).unwrap_or_default(),
            )?;
            return Err(Fail::Conflict(format!(
                "your account is already registered with branch `{}`",
                earlier.branch
            )));
        }
    }
    kv::set(&format!("bsvc/{}/{}", branch.id, caller.account_id), &bytes)?;
    Ok(Response::json(
        201,
        &serde_json::json!({ "member": MemberId::account(&caller.account_id), "registration": record }),
    ))
}

/// An in-service member ends their registration (they move, or stop
/// reporting to this community). What they did stays in the ledger and the
/// branch's records; reports count current members only, so they drop out
/// of them. They may then register with another branch.
pub fn unregister(req: &Request, _: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let key = format!("svc/{}", caller.account_id);
    let Some(record) = kv::get_json::<InService>(&key)? else {
        return Err(Fail::NotFound(
            "your account is not registered as an in-service member".into(),
        ));
    };
    // The branch's list first: a crash in between leaves the registration,
    // which the next attempt removes.
    kv::delete(&format!("bsvc/{}/{}", record.branch, record.account))?;
    kv::delete(&key)?;
    Ok(Response::json(
        200,
        &serde_json::json!({ "member": MemberId::account(&record.account), "left": record.branch }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTask {
    title: String,
    #[serde(default)]
    description: String,
}

pub fn create_task(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    access::require_organiser(caller, &branch.id, &roster)?;
    let body: NewTask = req.json()?;
    let now = hutong_sdk::now_ms();
    let mut task = Task {
        id: String::new(),
        branch: branch.id.clone(),
        title: text(&body.title, "title", 1, 200)?,
        description: text(&body.description, "description", 0, 2000)?,
        created_by: caller.account_id.clone(),
        created_at_ms: now,
    };
    loop {
        task.id = new_id(now);
        let bytes = serde_json::to_vec(&task)
            .map_err(|e| Error::Internal(format!("could not encode a task: {e}")))?;
        if kv::insert_if_absent(&format!("task/{}", task.id), &bytes)? {
            break;
        }
    }
    kv::set(&format!("btask/{}/{}", branch.id, task.id), b"")?;
    Ok(Response::json(201, &task))
}

pub fn list_tasks(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    if roster.member_of(caller).is_none() {
        access::require_organiser(caller, &branch.id, &roster)?;
    }
    let mut tasks = Vec::new();
    let prefix = format!("btask/{}/", branch.id);
    for k in kv::keys(&prefix) {
        let k = k?;
        if let Some(task) = kv::get_json::<Task>(&format!("task/{}", &k[prefix.len()..]))? {
            tasks.push(task);
        }
    }
    Ok(Response::json(200, &serde_json::json!({ "tasks": tasks })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewHours {
    hours: f64,
    date: String,
    #[serde(default)]
    note: String,
}

pub fn log_hours(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let task_id = params.get("task").unwrap_or_default();
    let task = kv::get_json::<Task>(&format!("task/{task_id}"))?
        .ok_or_else(|| Fail::NotFound(format!("no task `{task_id}`")))?;
    let roster = Roster::of(&task.branch)?;
    let member = roster.member_of(caller).ok_or_else(|| {
        Fail::Forbidden(format!(
            "you are not a member of branch `{}`, which organises this task",
            task.branch
        ))
    })?;
    let settings = Settings::load()?;
    let body: NewHours = req.json()?;
    let tenths = to_tenths(body.hours, "hours").map_err(Fail::Invalid)?;
    if !(1..=MAX_HOURS_TENTHS).contains(&tenths) {
        return Err(Fail::Invalid(format!(
            "`hours` must be 0.1 to {} for one day, got {}",
            MAX_HOURS_TENTHS / 10,
            body.hours
        )));
    }
    let now = hutong_sdk::now_ms();
    let date = parse_date(&body.date).ok_or_else(|| {
        Fail::Invalid(format!(
            "`date` `{}` is not a date like 2026-03-07",
            body.date
        ))
    })?;
    if settings.offset.midnight(date) > now {
        return Err(Fail::Invalid(
            "`date` is in the future: log hours once they are served".into(),
        ));
    }
    let mut log = HoursLog {
        id: String::new(),
        branch: task.branch.clone(),
        task: task.id.clone(),
        member,
        hours_tenths: tenths,
        date: body.date.clone(),
        note: text(&body.note, "note", 0, 500)?,
        logged_at_ms: now,
    };
    loop {
        log.id = new_id(now);
        let bytes = serde_json::to_vec(&log)
            .map_err(|e| Error::Internal(format!("could not encode hours: {e}")))?;
        if kv::insert_if_absent(&format!("vol/{}", log.id), &bytes)? {
            break;
        }
    }
    let month = Month::of(date);
    kv::set(
        &format!("bvol/{}/{}/{}", log.branch, month.key(), log.id),
        b"",
    )?;
    Ok(Response::json(
        201,
        &serde_json::json!({ "log": log, "status": "pending" }),
    ))
}

pub fn decide_hours(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let confirmed = match params.get("decision") {
        Some("confirm") => true,
        Some("refuse") => false,
        _ => return Err(Fail::NotFound("decide with `confirm` or `refuse`".into())),
    };
    let id = params.get("log").unwrap_or_default();
    let log = kv::get_json::<HoursLog>(&format!("vol/{id}"))?
        .ok_or_else(|| Fail::NotFound(format!("no hours `{id}`")))?;
    let roster = Roster::of(&log.branch)?;
    access::require_organiser(caller, &log.branch, &roster)?;
    let settings = Settings::load()?;
    let decision = Decision {
        confirmed,
        by: caller.account_id.clone(),
        at_ms: hutong_sdk::now_ms(),
        note: crate::activities::note(req)?,
    };
    let bytes = serde_json::to_vec(&decision)
        .map_err(|e| Error::Internal(format!("could not encode a decision: {e}")))?;
    let first = kv::insert_if_absent(&format!("vold/{id}"), &bytes)?;
    let decision = if first {
        decision
    } else {
        kv::get_json::<Decision>(&format!("vold/{id}"))?
            .ok_or_else(|| Error::Unavailable("the decision vanished; try again".into()))?
    };
    // Write what the decision implies every time (idempotently), so a
    // decision a crash cut short is completed by the next attempt.
    if decision.confirmed {
        let month = Month::of(parse_date(&log.date).unwrap_or_default());
        kv::set(
            &format!(
                "bvolc/{}/{}/{}/{}/{}",
                log.branch,
                month.key(),
                log.id,
                log.member,
                log.hours_tenths
            ),
            b"",
        )?;
        ledger::append(
            &log.branch,
            &month.key(),
            &LedgerEntry {
                entry: format!("vol.{}", log.id),
                member: log.member.clone(),
                month: month.to_string(),
                points_tenths: settings.volunteer_tenths(log.hours_tenths),
                reason: format!(
                    "{} hours of volunteer service on {}",
                    tenths_to_f64(log.hours_tenths),
                    log.date
                ),
                corrects: None,
                by: decision.by.clone(),
                at_ms: decision.at_ms,
            },
        )?;
    }
    if !first {
        return Err(Fail::Conflict(format!(
            "these hours were already {}",
            if decision.confirmed {
                "confirmed"
            } else {
                "refused"
            }
        )));
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "log": log, "decision": decision }),
    ))
}

/// The caller's view of a branch: all of it for its organisers, their own
/// records for a member.
enum View {
    All,
    Own(MemberId),
}

fn view_of(req: &Request, branch: &str, roster: &Roster) -> Result<View, Fail> {
    let caller = access::caller(req)?;
    if access::is_admin(caller) || roster.is_secretary(caller) || caller.role == Role::Auditor {
        return Ok(View::All);
    }
    roster
        .member_of(caller)
        .map(View::Own)
        .ok_or_else(|| Fail::Forbidden(format!("you are not a member of branch `{branch}`")))
}

pub fn list_hours(req: &Request, params: &Params) -> Result<Response, Fail> {
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    let view = view_of(req, &branch.id, &roster)?;
    let settings = Settings::load()?;
    let period = period(req, &settings, hutong_sdk::now_ms())?;
    let mut out = Vec::new();
    for month in period.months() {
        let prefix = format!("bvol/{}/{}/", branch.id, month.key());
        for k in kv::keys(&prefix) {
            let k = k?;
            let id = &k[prefix.len()..];
            let Some(log) = kv::get_json::<HoursLog>(&format!("vol/{id}"))? else {
                continue;
            };
            if let View::Own(me) = &view
                && &log.member != me
            {
                continue;
            }
            let decision = kv::get_json::<Decision>(&format!("vold/{id}"))?;
            let status = match &decision {
                None => "pending",
                Some(d) if d.confirmed => "confirmed",
                Some(_) => "refused",
            };
            out.push(serde_json::json!({ "log": log, "status": status, "decision": decision }));
        }
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "branch": branch.id, "period": period.to_string(), "hours": out }),
    ))
}

pub fn ledger(req: &Request, params: &Params) -> Result<Response, Fail> {
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    let view = view_of(req, &branch.id, &roster)?;
    let settings = Settings::load()?;
    let period = period(req, &settings, hutong_sdk::now_ms())?;
    let only = match (view, req.query_param("member")) {
        (View::Own(me), _) => Some(me),
        (View::All, Some(m)) => Some(MemberId::parse(&m).map_err(Fail::Invalid)?),
        (View::All, None) => None,
    };
    let mut entries = Vec::new();
    let mut total = 0;
    for month in period.months() {
        let prefix = match &only {
            Some(m) => format!("pts/{}/{}/{m}/", branch.id, month.key()),
            None => format!("pts/{}/{}/", branch.id, month.key()),
        };
        for k in kv::keys(&prefix) {
            let k = k?;
            if let Some(entry) = kv::get_json::<LedgerEntry>(&k)? {
                total += entry.points_tenths;
                entries.push(entry);
            }
        }
    }
    entries.sort_by(|a, b| (a.at_ms, &a.entry).cmp(&(b.at_ms, &b.entry)));
    let shown: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "entry": e.entry, "member": e.member, "month": e.month,
                "points": tenths_to_f64(e.points_tenths), "reason": e.reason,
                "corrects": e.corrects, "by": e.by, "at_ms": e.at_ms,
            })
        })
        .collect();
    Ok(Response::json(
        200,
        &serde_json::json!({
            "branch": branch.id, "period": period.to_string(), "member": only,
            "total": tenths_to_f64(total), "entries": shown,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Correction {
    member: String,
    points: f64,
    reason: String,
    /// The month it counts in, `YYYY-MM`; the current month by default.
    #[serde(default)]
    month: Option<String>,
    /// The entry it corrects, if one.
    #[serde(default)]
    corrects: Option<String>,
}

pub fn correct(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    access::require_organiser(caller, &branch.id, &roster)?;
    let settings = Settings::load()?;
    let body: Correction = req.json()?;
    let member = MemberId::parse(&body.member).map_err(Fail::Invalid)?;
    if !roster.contains(&member) {
        return Err(Fail::Invalid(format!(
            "{member} is not a member of branch `{}`",
            branch.id
        )));
    }
    let tenths = to_tenths(body.points, "points").map_err(Fail::Invalid)?;
    if tenths == 0 || tenths.abs() > MAX_CORRECTION_TENTHS {
        return Err(Fail::Invalid(format!(
            "`points` must be non-zero and at most {} either way",
            MAX_CORRECTION_TENTHS / 10
        )));
    }
    let reason = text(&body.reason, "reason", 1, 500)?;
    let now = hutong_sdk::now_ms();
    let month = match &body.month {
        None => settings.offset.month(now),
        Some(m) => match crate::time::Period::parse(m) {
            Ok(crate::time::Period::Month(month)) => month,
            _ => {
                return Err(Fail::Invalid(format!(
                    "`month` `{m}` is not a month like 2026-03"
                )));
            }
        },
    };
    if let Some(corrected) = &body.corrects {
        let (_, count) = ledger::sum(&branch.id, &month.key(), &member, &format!("{corrected}/"))?;
        if count == 0 {
            return Err(Fail::Invalid(format!(
                "`corrects`: {member} has no entry `{corrected}` in {month}"
            )));
        }
    }
    let entry = LedgerEntry {
        entry: format!("cor.{now:013}{}", &new_id(now)[8..]),
        member,
        month: month.to_string(),
        points_tenths: tenths,
        reason,
        corrects: body.corrects.clone(),
        by: caller.account_id.clone(),
        at_ms: now,
    };
    if !ledger::append(&branch.id, &month.key(), &entry)? {
        return Err(Fail::Sdk(Error::Unavailable(
            "could not add the correction; try again".into(),
        )));
    }
    Ok(Response::json(
        201,
        &serde_json::json!({
            "entry": entry.entry, "member": entry.member, "month": entry.month,
            "points": tenths_to_f64(entry.points_tenths), "reason": entry.reason,
            "corrects": entry.corrects, "by": entry.by, "at_ms": entry.at_ms,
        }),
    ))
}

fn rate_text(rate: Option<f64>) -> String {
    rate.map(|r| format!("{r:.4}")).unwrap_or_default()
}

fn csv_response(name: &str, body: String) -> Response {
    Response::new(200)
        .with_header("content-type", "text/csv; charset=utf-8")
        .with_header(
            "content-disposition",
            &format!("attachment; filename=\"{name}\""),
        )
        .with_body(body)
}

pub fn branch_report(req: &Request, params: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    let branch = access::branch(params.get("branch").unwrap_or_default())?;
    let roster = Roster::of(&branch.id)?;
    if !access::may_read_reports(caller, &roster) {
        return Err(Fail::Forbidden(format!(
            "reports of branch `{}` are for its secretary, the district's administrators and auditors",
            branch.id
        )));
    }
    let settings = Settings::load()?;
    let now = hutong_sdk::now_ms();
    let period = period(req, &settings, now)?;
    let report = report::branch_report(&settings, branch, &roster, period, now, true)?;
    match req.query_param("format").as_deref() {
        None | Some("json") => Ok(Response::json(200, &report)),
        Some("csv") => match req.query_param("table").as_deref() {
            None | Some("members") => Ok(csv_response(
                &format!("{}-{}-members.csv", report.branch.id, report.period),
                members_csv(&report),
            )),
            Some("compliance") => Ok(csv_response(
                &format!("{}-{}-compliance.csv", report.branch.id, report.period),
                compliance_csv(std::slice::from_ref(&report)),
            )),
            Some(other) => Err(Fail::Invalid(format!(
                "table `{other}` is unknown; tables: members, compliance"
            ))),
        },
        Some(other) => Err(Fail::Invalid(format!(
            "format `{other}` is unknown; formats: json, csv"
        ))),
    }
}

fn members_csv(report: &BranchReport) -> String {
    let mut csv = Csv::new(&[
        "branch",
        "period",
        "rank",
        "member",
        "name",
        "kind",
        "role",
        "work_unit",
        "expected",
        "present",
        "leave",
        "absent",
        "attendance_rate",
        "volunteer_hours",
        "points",
    ]);
    for m in report.members.iter().flatten() {
        csv.row([
            report.branch.id.clone(),
            report.period.clone(),
            m.rank.to_string(),
            m.member.0.clone(),
            m.name.clone().unwrap_or_default(),
            m.kind.to_owned(),
            m.role.clone(),
            m.work_unit.clone().unwrap_or_default(),
            m.expected.to_string(),
            m.present.to_string(),
            m.leave.to_string(),
            m.absent.to_string(),
            rate_text(m.attendance_rate),
            m.volunteer_hours.to_string(),
            m.points.to_string(),
        ]);
    }
    csv.finish()
}

/// One row per branch and required kind.
fn compliance_csv(reports: &[BranchReport]) -> String {
    let mut csv = Csv::new(&[
        "branch",
        "name",
        "period",
        "kind",
        "per",
        "count",
        "window",
        "required",
        "held",
        "periods",
        "periods_met",
        "met",
    ]);
    for r in reports {
        for c in &r.compliance {
            csv.row([
                r.branch.id.clone(),
                r.branch.name.clone(),
                r.period.clone(),
                c.kind.as_str().to_owned(),
                format!("{:?}", c.per).to_lowercase(),
                c.count.to_string(),
                c.window.clone(),
                c.required.to_string(),
                c.held.to_string(),
                c.periods.to_string(),
                c.periods_met.to_string(),
                c.met.to_string(),
            ]);
        }
    }
    csv.finish()
}

fn summary_csv(reports: &[BranchReport]) -> String {
    let mut csv = Csv::new(&[
        "branch",
        "name",
        "community",
        "period",
        "compliant",
        "kinds_met",
        "kinds_required",
        "members",
        "in_service",
        "activities_held",
        "expected",
        "present",
        "leave",
        "absent",
        "attendance_rate",
        "volunteer_hours",
        "points",
    ]);
    for r in reports {
        let t = &r.totals;
        csv.row([
            r.branch.id.clone(),
            r.branch.name.clone(),
            r.branch.community_id.clone(),
            r.period.clone(),
            r.compliant.to_string(),
            r.compliance.iter().filter(|c| c.met).count().to_string(),
            r.compliance.len().to_string(),
            t.members.to_string(),
            t.in_service.to_string(),
            t.activities_held.to_string(),
            t.expected.to_string(),
            t.present.to_string(),
            t.leave.to_string(),
            t.absent.to_string(),
            rate_text(t.attendance_rate),
            t.volunteer_hours.to_string(),
            t.points.to_string(),
        ]);
    }
    csv.finish()
}

pub fn all_reports(req: &Request, _: &Params) -> Result<Response, Fail> {
    let caller = access::caller(req)?;
    if !(access::is_admin(caller) || caller.role == Role::Auditor) {
        return Err(Fail::Forbidden(
            "the report over every branch is for the district's administrators and auditors; a secretary reads their branch's at /branches/{branch}/report".into(),
        ));
    }
    let settings = Settings::load()?;
    let now = hutong_sdk::now_ms();
    let period = period(req, &settings, now)?;
    let limit = match req.query_param("limit") {
        None => MAX_REPORT_PAGE,
        Some(l) => match l.parse::<u32>() {
            Ok(l) if (1..=MAX_REPORT_PAGE).contains(&l) => l,
            _ => {
                return Err(Fail::Invalid(format!(
                    "`limit` must be 1 to {MAX_REPORT_PAGE} branches, got `{l}`"
                )));
            }
        },
    };
    let cursor = req.query_param("cursor");
    let page = hutong_sdk::data::organisations(
        Some(hutong_sdk::data::OrganisationKind::PartyBranch),
        None,
        cursor.as_deref(),
        limit,
    )?;
    let mut reports = Vec::new();
    for org in page.organisations {
        let branch = access::Branch {
            id: org.id,
            name: org.name,
            community_id: org.community_id,
        };
        let roster = Roster::of(&branch.id)?;
        reports.push(report::branch_report(
            &settings, branch, &roster, period, now, false,
        )?);
    }
    match req.query_param("format").as_deref() {
        None | Some("json") => Ok(Response::json(
            200,
            &serde_json::json!({
                "period": period.to_string(),
                "branches": reports,
                "compliant": reports.iter().filter(|r| r.compliant).count(),
                "next_cursor": page.next_cursor,
            }),
        )),
        Some("csv") => {
            let mut response = match req.query_param("table").as_deref() {
                None | Some("branches") => {
                    csv_response(&format!("branches-{period}.csv"), summary_csv(&reports))
                }
                Some("compliance") => csv_response(
                    &format!("compliance-{period}.csv"),
                    compliance_csv(&reports),
                ),
                Some(other) => {
                    return Err(Fail::Invalid(format!(
                        "table `{other}` is unknown; tables: branches, compliance"
                    )));
                }
            };
            if let Some(next) = page.next_cursor {
                response = response.with_header("x-next-cursor", &next);
            }
            Ok(response)
        }
        Some(other) => Err(Fail::Invalid(format!(
            "format `{other}` is unknown; formats: json, csv"
        ))),
    }
}
