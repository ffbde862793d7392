//! Reports per branch per month, quarter or year: activities held against
//! what is required, attendance per member, volunteer hours and the points
//! ranking.
//!
//! A report is computed from index keys alone (see `records.rs`): per month
//! of the period one scan of the branch's activities, attendance marks,
//! confirmed hours and ledger entries, 1,000 keys a page. Nothing per record
//! is read, except the members' names (and activity titles) in a single
//! branch's report, so a report over every branch of a district stays a few
//! host calls per branch.
//!
//! **Held** means started by the time of the report. **Expected** at an
//! activity are the branch's current members it is for (committee meetings:
//! members holding a role; themed days and volunteer activities: in-service
//! members too). The **attendance rate** is present ÷ expected; leave
//! (approved, or recorded by the secretary) is counted apart from absence
//! but, like absence, is not presence.
//!
//! **Compliance**: a kind required per month is checked in every month of
//! the period (`periods_met` of `periods`); a kind required per quarter or
//! year, in a report over a shorter period, is checked over the quarter or
//! year holding it, as held so far.

use std::collections::{BTreeMap, HashMap};

use hutong_sdk::data::FieldClass;
use hutong_sdk::{Error, data, kv};
use serde::Serialize;

use crate::access::{Branch, Roster};
use crate::ledger::{points_of, tenths_to_f64};
use crate::records::{Kind, Mark, MemberId, Status, resolve};
use crate::settings::Settings;
use crate::time::{Month, Period, Unit};

/// One activity of the branch, from its index key.
#[derive(Clone, Debug)]
struct Indexed {
    month: Month,
    start: i64,
    id: String,
    kind: Kind,
}

/// One kind's compliance.
#[derive(Clone, Debug, Serialize)]
pub struct Compliance {
    /// The kind.
    pub kind: Kind,
    /// Required per this unit.
    pub per: Unit,
    /// This many.
    pub count: u32,
    /// The period checked (the report's, or the quarter or year holding it).
    pub window: String,
    /// Activities required over the window.
    pub required: u32,
    /// Activities held over the window.
    pub held: u32,
    /// Units in the window.
    pub periods: u32,
    /// Units in which at least `count` were held.
    pub periods_met: u32,
    /// Whether every unit met its requirement.
    pub met: bool,
}

/// One member's figures.
#[derive(Clone, Debug, Serialize)]
pub struct MemberRow {
    /// The member.
    pub member: MemberId,
    /// `member` (a resident in the branch) or `in-service`.
    pub kind: &'static str,
    /// Their role in the branch; empty for none.
    pub role: String,
    /// Their name (masked unless the app may read personal fields); only in
    /// a single branch's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Their work unit, for in-service members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work_unit: Option<String>,
    /// Activities held they were expected at.
    pub expected: u32,
    /// Present.
    pub present: u32,
    /// On leave.
    pub leave: u32,
    /// Absent.
    pub absent: u32,
    /// Present ÷ expected; none when nothing was expected.
    pub attendance_rate: Option<f64>,
    /// Confirmed hours of volunteer service.
    pub volunteer_hours: f64,
    /// Points earned in the period.
    pub points: f64,
    /// Place in the branch's points ranking (1 is the most; ties share).
    pub rank: u32,
    #[serde(skip)]
    points_tenths: i64,
    #[serde(skip)]
    hours_tenths: i64,
}

/// One activity held or planned in the period.
#[derive(Clone, Debug, Serialize)]
pub struct ActivityRow {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// Its title (single-branch reports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its start, local time.
    pub starts_at: String,
    /// Whether it had started by the report.
    pub held: bool,
    /// Expected.
    pub expected: u32,
    /// Present.
    pub present: u32,
    /// On leave.
    pub leave: u32,
    /// Absent.
    pub absent: u32,
}

/// The branch's totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Resident members.
    pub members: u32,
    /// In-service members.
    pub in_service: u32,
    /// Activities held.
    pub activities_held: u32,
    /// Activities planned (not started yet).
    pub activities_planned: u32,
    /// Attendances expected.
    pub expected: u32,
    /// Present.
    pub present: u32,
    /// On leave.
    pub leave: u32,
    /// Absent.
    pub absent: u32,
    /// Present ÷ expected.
    pub attendance_rate: Option<f64>,
    /// Confirmed hours.
    pub volunteer_hours: f64,
    /// Points earned.
    pub points: f64,
}

/// A branch's report.
#[derive(Clone, Debug, Serialize)]
pub struct BranchReport {
    /// The branch.
    pub branch: Branch,
    /// The period.
    pub period: String,
    /// Whether every required kind was met.
    pub compliant: bool,
    /// Per required kind.
    pub compliance: Vec<Compliance>,
    /// The totals.
    pub totals: Totals,
    /// `full` or `masked`: how names show (single-branch reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<&'static str>,
    /// The activities of the period (single-branch reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activities: Option<Vec<ActivityRow>>,
    /// Per member, by rank (single-branch reports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<MemberRow>>,
}

fn rate(present: u32, expected: u32) -> Option<f64> {
    (expected > 0).then(|| (f64::from(present) / f64::from(expected) * 10_000.0).round() / 10_000.0)
}

/// The keys under `prefix`, with the prefix taken off.
fn scan(prefix: &str) -> Result<Vec<String>, Error> {
    kv::keys(prefix)
        .map(|k| k.map(|k| k[prefix.len()..].to_owned()))
        .collect()
}

/// The branch's indexed activities in `months`.
fn activities(branch: &str, months: &[Month]) -> Result<Vec<Indexed>, Error> {
    let mut out = Vec::new();
    for month in months {
        for rest in scan(&format!("bact/{branch}/{}/", month.key()))? {
            let mut parts = rest.split('/');
            let (Some(start), Some(id), Some(kind)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(start), Ok(kind)) = (start.parse(), kind.parse::<Kind>()) else {
                continue;
            };
            out.push(Indexed {
                month: *month,
                start,
                id: id.to_owned(),
                kind,
            });
        }
    }
    Ok(out)
}

/// Mask a name the app stores itself (an in-service member's) the way the
/// host masks residents' names: `张三丰` → `张**`, `John Smith` → `J***`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let cjk = matches!(first as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF);
    if cjk {
        format!("{first}{}", "*".repeat(chars.count().max(1)))
    } else {
        format!("{first}***")
    }
}

/// The report of one branch over `period`, as of `now_ms`; with the members'
/// names and the activities' titles when `detailed`.
pub fn branch_report(
    settings: &Settings,
    branch: Branch,
    roster: &Roster,
    period: Period,
    now_ms: i64,
    detailed: bool,
) -> Result<BranchReport, Error> {
    let b = branch.id.as_str();
    let months = period.months();
    // The months the activity scan must cover: the period's, and those of the
    // quarter or year holding it for kinds required that rarely.
    let mut scan_months = months.clone();
    for req in settings.required.values() {
        if req.per > period.unit() {
            for m in Period::of(req.per, months[0]).months() {
                if !scan_months.contains(&m) {
                    scan_months.push(m);
                }
            }
        }
    }
    scan_months.sort();
    let all = activities(b, &scan_months)?;
    let held_in = |p: Period, kind: Kind| -> u32 {
        let ms = p.months();
        all.iter()
            .filter(|a| a.kind == kind && a.start <= now_ms && ms.contains(&a.month))
            .count() as u32
    };

    let mut compliance = Vec::new();
    for (kind, req) in &settings.required {
        let row = if req.per <= period.unit() {
            let units = period.split(req.per);
            let held: Vec<u32> = units.iter().map(|u| held_in(*u, *kind)).collect();
            let periods_met = held.iter().filter(|h| **h >= req.count).count() as u32;
            Compliance {
                kind: *kind,
                per: req.per,
                count: req.count,
                window: period.to_string(),
                required: req.count * units.len() as u32,
                held: held.iter().sum(),
                periods: units.len() as u32,
                periods_met,
                met: periods_met == units.len() as u32,
            }
        } else {
            let window = Period::of(req.per, months[0]);
            let held = held_in(window, *kind);
            Compliance {
                kind: *kind,
                per: req.per,
                count: req.count,
                window: window.to_string(),
                required: req.count,
                held,
                periods: 1,
                periods_met: u32::from(held >= req.count),
                met: held >= req.count,
            }
        };
        compliance.push(row);
    }

    // Attendance marks, volunteer hours and points of the period's months.
    let mut marks: HashMap<(String, String), Vec<Mark>> = HashMap::new();
    let mut hours: HashMap<String, i64> = HashMap::new();
    let mut points: HashMap<String, i64> = HashMap::new();
    for month in &months {
        let mk = month.key();
        for rest in scan(&format!("att/{b}/{mk}/"))? {
            let mut parts = rest.splitn(3, '/');
            let (Some(activity), Some(member), Some(mark)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let Some(mark) = Mark::parse(mark) {
                marks
                    .entry((activity.to_owned(), member.to_owned()))
                    .or_default()
                    .push(mark);
            }
        }
        for rest in scan(&format!("bvolc/{b}/{mk}/"))? {
            let mut parts = rest.split('/');
            let (Some(_log), Some(member), Some(tenths)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            *hours.entry(member.to_owned()).or_default() += tenths.parse::<i64>().unwrap_or(0);
        }
        for rest in scan(&format!("pts/{b}/{mk}/"))? {
            if let Some((member, _)) = rest.split_once('/') {
                *points.entry(member.to_owned()).or_default() += points_of(&rest);
            }
        }
    }

    // Every current member, then their attendance.
    let mut rows = roster_rows(roster);
    for r in &mut rows {
        r.points_tenths = points.get(&r.member.0).copied().unwrap_or(0);
        r.hours_tenths = hours.get(&r.member.0).copied().unwrap_or(0);
        r.points = tenths_to_f64(r.points_tenths);
        r.volunteer_hours = tenths_to_f64(r.hours_tenths);
    }
    let index: HashMap<MemberId, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.member.clone(), i))
        .collect();

    let mut totals = Totals {
        members: roster.members.len() as u32,
        in_service: roster.in_service.len() as u32,
        ..Totals::default()
    };
    let mut activity_rows = Vec::new();
    let mut in_period: Vec<&Indexed> = all.iter().filter(|a| months.contains(&a.month)).collect();
    in_period.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    for activity in in_period {
        let held = activity.start <= now_ms;
        let mut row = ActivityRow {
            id: activity.id.clone(),
            kind: activity.kind,
            title: None,
            starts_at: settings.offset.show(activity.start),
            held,
            expected: 0,
            present: 0,
            leave: 0,
            absent: 0,
        };
        if !held {
            totals.activities_planned += 1;
            activity_rows.push(row);
            continue;
        }
        totals.activities_held += 1;
        for member in roster.audience(activity.kind) {
            let standing = resolve(
                marks
                    .get(&(activity.id.clone(), member.0.clone()))
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            let Some(&i) = index.get(&member) else {
                continue;
            };
            let r = &mut rows[i];
            r.expected += 1;
            row.expected += 1;
            match standing.status {
                Status::Present => {
                    r.present += 1;
                    row.present += 1;
                }
                Status::Leave => {
                    r.leave += 1;
                    row.leave += 1;
                }
                Status::Absent => {
                    r.absent += 1;
                    row.absent += 1;
                }
            }
        }
        totals.expected += row.expected;
        totals.present += row.present;
        totals.leave += row.leave;
        totals.absent += row.absent;
        activity_rows.push(row);
    }
    totals.attendance_rate = rate(totals.present, totals.expected);
    totals.volunteer_hours = tenths_to_f64(rows.iter().map(|r| r.hours_tenths).sum());
    totals.points = tenths_to_f64(rows.iter().map(|r| r.points_tenths).sum());

    for r in &mut rows {
        r.attendance_rate = rate(r.present, r.expected);
    }
    rows.sort_by(|a, b| {
        b.points_tenths
            .cmp(&a.points_tenths)
            .then(a.member.cmp(&b.member))
    });
    let mut previous: Option<(i64, u32)> = None;
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = match previous {
            Some((p, rank)) if p == r.points_tenths => rank,
            _ => i as u32 + 1,
        };
        previous = Some((r.points_tenths, r.rank));
    }

    let compliant = compliance.iter().all(|c| c.met);
    let mut report = BranchReport {
        branch,
        period: period.to_string(),
        compliant,
        compliance,
        totals,
        names: None,
        activities: None,
        members: None,
    };
    if detailed {
        let names = name_members(&mut rows, roster)?;
        for row in &mut activity_rows {
            if let Some(a) = kv::get_json::<crate::records::Activity>(&format!("act/{}", row.id))? {
                row.title = Some(a.title);
            }
        }
        report.names = Some(names);
        report.activities = Some(activity_rows);
        report.members = Some(rows);
    }
    Ok(report)
}

/// One empty row per current member: resident members, then in-service
/// members.
pub fn roster_rows(roster: &Roster) -> Vec<MemberRow> {
    roster
        .members
        .iter()
        .map(|m| {
            (
                MemberId::resident(&m.resident_id),
                "member",
                m.role.clone(),
                None,
            )
        })
        .chain(roster.in_service.iter().map(|s| {
            (
                MemberId::account(&s.account),
                "in-service",
                String::new(),
                Some(s.work_unit.clone()),
            )
        }))
        .map(|(member, kind, role, work_unit)| MemberRow {
            member,
            kind,
            role,
            name: None,
            work_unit,
            expected: 0,
            present: 0,
            leave: 0,
            absent: 0,
            attendance_rate: None,
            volunteer_hours: 0.0,
            points: 0.0,
            rank: 0,
            points_tenths: 0,
            hours_tenths: 0,
        })
        .collect()
}

/// Put names on the rows: residents' from the community data (masked by
/// the host unless the install may read personal fields; only the name is
/// taken), in-service members' as they gave it, masked the same way unless
/// the host shows residents' names in full. Returns `full` or `masked`.
pub fn name_members(rows: &mut [MemberRow], roster: &Roster) -> Result<&'static str, Error> {
    let mut full = false;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for m in &roster.members {
        match data::resident(&m.resident_id) {
            Ok(r) => {
                full |= r.field_class == FieldClass::Personal;
                names.insert(m.resident_id.clone(), r.name);
            }
            // A member whose record is outside the install's communities
            // stays nameless rather than failing the whole report.
            Err(Error::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    for row in rows.iter_mut() {
        row.name = match (row.member.resident_id(), row.member.account_id()) {
            (Some(r), _) => names.get(r).cloned(),
            (_, Some(a)) => roster.in_service.iter().find(|s| s.account == a).map(|s| {
                if full {
                    s.name.clone()
                } else {
                    mask_name(&s.name)
                }
            }),
            _ => None,
        };
    }
    Ok(if full { "full" } else { "masked" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_like_the_host_masks_them() {
        assert_eq!(mask_name("周服务"), "周**");
        assert_eq!(mask_name("王一"), "王*");
        assert_eq!(mask_name("John Smith"), "J***");
        assert_eq!(mask_name(""), "");
    }
}
