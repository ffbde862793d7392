//! Cases, their history, and what shapes them (categories, departments,
//! deadlines, the district's case policy), plus the outbox of changes to be
//! told to the apps that opened cases.
//!
//! A change to a case is one transaction: a compare-and-set of the case row
//! on its `version`, its history entry, and (for a case an app opened) the
//! notice to that app. So a change is never half made, never made twice by
//! two racing workers, and never lost on its way to the app.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

mod lite;

use crate::cases::{Assignee, CaseState, Priority, Reporter, Tier};
use crate::kernel::outbox::store::OutboxTable;
use crate::kernel::store::{
    Page, PageItems, Sql, Store, StoreError, corrupt, from_json, parse_column,
};

/// A case as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseRow {
    /// The case id (unique in the city).
    pub id: i64,
    /// Its district.
    pub district: String,
    /// Category code.
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// Lifecycle state.
    pub state: CaseState,
    /// The tier it sits at.
    pub tier: Tier,
    /// Where: grid, with its community and street.
    pub grid_id: Option<String>,
    /// The grid's community.
    pub community_id: Option<String>,
    /// The community's street.
    pub street_id: Option<String>,
    /// The building, if known.
    pub building_id: Option<String>,
    /// A free-text address, as reported.
    pub address: Option<String>,
    /// Latitude, as reported.
    pub lat: Option<f64>,
    /// Longitude, as reported.
    pub lon: Option<f64>,
    /// What the problem is.
    pub description: String,
    /// The resident concerned, if any.
    pub resident_id: Option<String>,
    /// Who reported it.
    pub reporter: Reporter,
    /// Who has it.
    pub assignee: Option<Assignee>,
    /// Attachments, by reference.
    pub attachments: Vec<String>,
    /// When the running time limit runs out.
    pub deadline_at: Option<i64>,
    /// Whether a time limit was missed in the current phase.
    pub overdue: bool,
    /// The reporter's rating, 1–5.
    pub satisfaction: Option<i64>,
    /// The reporter's comment with the rating.
    pub evaluation: Option<String>,
    /// The token an Open311 client can look the case up by.
    pub token: String,
    /// Bumped by every change.
    pub version: i64,
    /// Reported at (ms).
    pub created_at: i64,
    /// Last changed at (ms).
    pub updated_at: i64,
    /// Last closed at (ms).
    pub closed_at: Option<i64>,
    /// Opened by an app on behalf of the resident it concerns
    /// (`resident_id`): that resident follows it as their own report.
    pub for_resident: bool,
}

impl CaseRow {
    /// The id of the unit the case's tier names (its grid, community or
    /// street), or none at the district and city tiers.
    pub fn unit(&self) -> Option<&str> {
        match self.tier {
            Tier::Grid => self.grid_id.as_deref(),
            Tier::Community => self.community_id.as_deref(),
            Tier::Street => self.street_id.as_deref(),
            Tier::District | Tier::City => None,
        }
    }
}

/// One entry of a case's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Entry id (increasing).
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// When (ms).
    pub at: i64,
    /// Who: `account:<id>`, `app:<name>` or `system`.
    pub actor: String,
    /// What was done (`report`, an action name, `overdue`).
    pub action: String,
    /// State before.
    pub from_state: CaseState,
    /// State after.
    pub to_state: CaseState,
    /// Tier before.
    pub from_tier: Tier,
    /// Tier after.
    pub to_tier: Tier,
    /// The note, reason or feedback.
    pub note: Option<String>,
}

/// A case to create.
#[derive(Clone, Debug)]
pub struct NewCase {
    /// District.
    pub district: String,
    /// Category code.
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// Starting tier.
    pub tier: Tier,
    /// Grid, community, street and building (resolved by the caller).
    pub location: Location,
    /// Free-text address.
    pub address: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lon: Option<f64>,
    /// Description.
    pub description: String,
    /// The resident concerned.
    pub resident_id: Option<String>,
    /// Reporter.
    pub reporter: Reporter,
    /// Opened on behalf of the resident it concerns.
    pub for_resident: bool,
    /// Photos, checked and cleaned ([`crate::cases::photos::clean`]).
    pub photos: Vec<crate::cases::photos::Photo>,
    /// Actor label for the history.
    pub actor: String,
    /// Attachments.
    pub attachments: Vec<String>,
    /// When acceptance is due.
    pub deadline_at: Option<i64>,
    /// Open311 token.
    pub token: String,
    /// What a service request carried beside its description.
    pub intake: Option<crate::cases::intake::CaseIntake>,
    /// Now.
    pub at: i64,
}

/// Where in the district a case is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// Grid.
    pub grid_id: Option<String>,
    /// Community of the grid.
    pub community_id: Option<String>,
    /// Street of the community.
    pub street_id: Option<String>,
    /// Building.
    pub building_id: Option<String>,
}

/// A change to apply to a case read at `version`.
#[derive(Clone, Debug)]
pub struct CaseChange {
    /// The history's action name.
    pub action: String,
    /// Who.
    pub actor: String,
    /// New state.
    pub state: CaseState,
    /// New tier.
    pub tier: Tier,
    /// New assignee.
    pub assignee: Option<Assignee>,
    /// New deadline.
    pub deadline_at: Option<i64>,
    /// New overdue flag.
    pub overdue: bool,
    /// New rating and comment.
    pub satisfaction: Option<i64>,
    /// New evaluation.
    pub evaluation: Option<String>,
    /// New closing time.
    pub closed_at: Option<i64>,
    /// The history note.
    pub note: Option<String>,
    /// Whether the app that opened the case is told.
    pub notify_app: bool,
    /// Now.
    pub at: i64,
}

impl CaseChange {
    /// `case` as it is once this change is applied: exactly what
    /// [`UPDATE_CASE`] writes, so it need not be read back.
    pub(super) fn applied_to(&self, case: &CaseRow) -> CaseRow {
        CaseRow {
            state: self.state,
            tier: self.tier,
            assignee: self.assignee.clone(),
            deadline_at: self.deadline_at,
            overdue: self.overdue,
            satisfaction: self.satisfaction,
            evaluation: self.evaluation.clone(),
            closed_at: self.closed_at,
            updated_at: self.at,
            version: case.version + 1,
            ..case.clone()
        }
    }

    /// A change that keeps everything of `case` as it is; the caller then
    /// sets what changes.
    pub fn of(case: &CaseRow, action: &str, actor: &str, at: i64) -> Self {
        CaseChange {
            action: action.to_owned(),
            actor: actor.to_owned(),
            state: case.state,
            tier: case.tier,
            assignee: case.assignee.clone(),
            deadline_at: case.deadline_at,
            overdue: case.overdue,
            satisfaction: case.satisfaction,
            evaluation: case.evaluation.clone(),
            closed_at: case.closed_at,
            note: None,
            notify_app: false,
            at,
        }
    }
}

/// Filters for a case listing; empty filters match every case of the
/// district.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    /// Only this state.
    pub state: Option<CaseState>,
    /// Only this tier.
    pub tier: Option<Tier>,
    /// Only overdue (true) or not overdue (false) cases.
    pub overdue: Option<bool>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this grid.
    pub grid_id: Option<String>,
    /// Only cases assigned to this.
    pub assignee: Option<Assignee>,
    /// Only cases reported by this.
    pub reporter: Option<Reporter>,
    /// Only a resident's own cases: those their account reported, and
    /// those apps opened on behalf of their resident record.
    pub own: Option<OwnCases>,
    /// Only cases apps opened on behalf of this resident.
    pub for_resident: Option<String>,
    /// Only cases this worker may see.
    pub visible_to: Option<WorkerView>,
    /// Only finished (closed or rejected: true) or unfinished (false) cases.
    pub finished: Option<bool>,
    /// Only cases reported at or after this time (ms).
    pub created_from: Option<i64>,
    /// Only cases reported before this time (ms).
    pub created_to: Option<i64>,
    /// Only these ids (empty: any).
    pub ids: Vec<i64>,
    /// Only cases of these categories (empty: any).
    pub categories: Vec<String>,
    /// Only cases that may be shown to anyone: none that concerns a
    /// resident (such a case is about a person, whoever reported it).
    pub public_only: bool,
    /// Cases with ids below this (the previous page's cursor).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// A resident's own cases ([`CaseFilter::own`]).
#[derive(Clone, Debug, Default)]
pub struct OwnCases {
    /// Their account: the cases it reported.
    pub account_id: String,
    /// Their resident record: the cases apps opened on its behalf.
    pub resident_id: Option<String>,
}

/// What a worker sees: the cases of their grids, of the units their
/// departments serve, assigned to them or their departments, or reported by
/// them.
#[derive(Clone, Debug, Default)]
pub struct WorkerView {
    /// The account.
    pub account_id: String,
    /// Their grids.
    pub grids: Vec<String>,
    /// Communities their departments serve.
    pub communities: Vec<String>,
    /// Streets their departments serve.
    pub streets: Vec<String>,
    /// Their departments.
    pub departments: Vec<String>,
}

/// A page of cases, newest first: `{"cases": [...], "next": …}`, where
/// `next` is passed as `before` for the next page.
pub type CasePage = Page<CaseRow>;

impl PageItems for CaseRow {
    const FIELD: &'static str = "cases";
}

/// A category of cases (an Open311 service).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Category {
    /// Code (the Open311 `service_code`).
    pub code: String,
    /// Name.
    pub name: String,
    /// What it covers.
    #[serde(default)]
    pub description: String,
    /// A group for display (the Open311 `group`).
    #[serde(default)]
    pub group: String,
}

/// A department cases can be dispatched to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Department {
    /// Id within the district.
    pub id: String,
    /// Name.
    pub name: String,
    /// The tier it works at.
    pub tier: Tier,
    /// The grid, community or street it serves (none at the district and
    /// city tiers).
    #[serde(default)]
    pub unit_id: Option<String>,
    /// The worker accounts in it.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Time limits, in minutes, for one category (or `*`) and priority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    /// Category code, or `*` for every category without its own.
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// From report to acceptance.
    pub accept_minutes: i64,
    /// From acceptance to handled.
    pub handle_minutes: i64,
    /// From handled to closed.
    pub verify_minutes: i64,
}

/// A district's case policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasePolicy {
    /// How many days after closing a case may be reopened.
    pub reopen_days: i64,
    /// Whether an overdue case escalates one tier by itself.
    pub auto_escalate: bool,
}

impl Default for CasePolicy {
    fn default() -> Self {
        CasePolicy {
            reopen_days: 7,
            auto_escalate: false,
        }
    }
}

/// A district's case figures.
#[derive(Clone, Debug, Serialize)]
pub struct CaseFigures {
    /// Cases not yet closed or rejected, by state.
    pub open_by_state: Vec<(CaseState, i64)>,
    /// Open cases flagged overdue.
    pub overdue: i64,
    /// Cases closed.
    pub closed: i64,
    /// Median time from report to close, in milliseconds.
    pub median_close_ms: Option<i64>,
    /// Evaluations received.
    pub evaluations: i64,
    /// Their mean satisfaction (1–5).
    pub mean_satisfaction: Option<f64>,
}

/// A change waiting to be told to the app that opened the case.
#[derive(Clone, Debug)]
pub struct CaseNotice {
    /// Notice id.
    pub id: i64,
    /// District.
    pub district: String,
    /// App.
    pub app: String,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The change.
    pub change: HistoryEntry,
}

const CASE_COLUMNS: &str = "id, district, category, priority, state, tier, grid_id, community_id, \
     street_id, building_id, address, lat, lon, description, resident_id, reporter_kind, \
     reporter_id, assignee_kind, assignee_id, attachments, deadline_at, overdue, satisfaction, \
     evaluation, token, version, created_at, updated_at, closed_at, for_resident";

const HISTORY_COLUMNS: &str =
    "id, case_id, at, actor, action, from_state, to_state, from_tier, to_tier, note";

/// The update of a case read at `version` (`$11`, `$12`); `$1` to `$10`
/// are what `bind_change!` binds. A macro, so that the statement that
/// writes a whole change at once on PostgreSQL is built from the same text.
macro_rules! update_case {
    () => {
        "UPDATE cases SET state = $1, tier = $2, assignee_kind = $3, assignee_id = $4, \
         deadline_at = $5, overdue = $6, satisfaction = $7, evaluation = $8, closed_at = $9, \
         updated_at = $10, version = version + 1 WHERE id = $11 AND version = $12"
    };
}

/// The update of a case, if nobody changed it since it was read.
pub(super) const UPDATE_CASE: &str = update_case!();

/// A case's history entry; returns its id.
pub(super) const INSERT_HISTORY: &str = "INSERT INTO case_history (case_id, at, actor, action, from_state, to_state, from_tier, \
     to_tier, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";

/// A transition to tell the app that opened the case.
pub(super) const INSERT_NOTICE: &str = "INSERT INTO case_notices (district, app, case_id, history_id, attempts, next_at, \
     claimed_until, last_error, dead) VALUES ($1, $2, $3, $4, 0, $5, 0, NULL, 0)";

/// On PostgreSQL, [`UPDATE_CASE`], [`INSERT_HISTORY`] and
/// [`INSERT_NOTICE`] as one statement: the history entry and the notice
/// are written only if the update found the case at its version, and the
/// notice only with an app (`$18`). Binds the update's twelve, then the
/// actor, the action, the state and tier before, the note and the app.
/// Returns the history entry's id, or no row when the case had changed.
const APPLY_CHANGE_AT_ONCE: &str = concat!(
    "WITH changed AS (",
    update_case!(),
    " RETURNING id, district), \
     entry AS (INSERT INTO case_history (case_id, at, actor, action, from_state, to_state, \
       from_tier, to_tier, note) \
       SELECT id, $10, $13, $14, $15, $1, $16, $2, $17 FROM changed RETURNING id), \
     notice AS (INSERT INTO case_notices (district, app, case_id, history_id, attempts, \
       next_at, claimed_until, last_error, dead) \
       SELECT changed.district, $18, changed.id, entry.id, 0, $10, 0, NULL, 0 \
       FROM changed, entry WHERE $18::text IS NOT NULL) \
     SELECT id FROM entry"
);

/// Bind [`UPDATE_CASE`]'s parameters for `$change` to `$case` to an sqlx
/// query or scalar query (a macro: the two are different types).
macro_rules! bind_change {
    ($query:expr, $case:expr, $change:expr) => {{
        let (assignee_kind, assignee_id) = assignee_parts(&$change.assignee);
        $query
            .bind($change.state.as_str())
            .bind($change.tier.as_str())
            .bind(assignee_kind)
            .bind(assignee_id)
            .bind($change.deadline_at)
            .bind(i64::from($change.overdue))
            .bind($change.satisfaction)
            .bind($change.evaluation.as_deref())
            .bind($change.closed_at)
            .bind($change.at)
            .bind($case.id)
            .bind($case.version)
    }};
}

/// A case row as the database returns it.
#[derive(sqlx::FromRow)]
struct CaseRecord {
    id: i64,
    district: String,
    category: String,
    priority: String,
    state: String,
    tier: String,
    grid_id: Option<String>,
    community_id: Option<String>,
    street_id: Option<String>,
    building_id: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    description: String,
    resident_id: Option<String>,
    reporter_kind: String,
    reporter_id: String,
    assignee_kind: Option<String>,
    assignee_id: Option<String>,
    attachments: String,
    deadline_at: Option<i64>,
    overdue: i64,
    satisfaction: Option<i64>,
    evaluation: Option<String>,
    token: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    closed_at: Option<i64>,
    for_resident: i64,
}

impl TryFrom<CaseRecord> for CaseRow {
    type Error = StoreError;

    fn try_from(r: CaseRecord) -> Result<Self, StoreError> {
        let reporter = match r.reporter_kind.as_str() {
            "app" => Reporter::App(r.reporter_id),
            "account" => Reporter::Account(r.reporter_id),
            other => return Err(corrupt("case reporter", other)),
        };
        let assignee = match (r.assignee_kind.as_deref(), r.assignee_id) {
            (Some("department"), Some(id)) => Some(Assignee::Department(id)),
            (Some("worker"), Some(id)) => Some(Assignee::Worker(id)),
            (None, _) => None,
            (Some(other), _) => return Err(corrupt("case assignee", other)),
        };
        Ok(CaseRow {
            id: r.id,
            district: r.district,
            category: r.category,
            priority: parse_column("case priority", &r.priority)?,
            state: parse_column("case state", &r.state)?,
            tier: parse_column("case tier", &r.tier)?,
            grid_id: r.grid_id,
            community_id: r.community_id,
            street_id: r.street_id,
            building_id: r.building_id,
            address: r.address,
            lat: r.lat,
            lon: r.lon,
            description: r.description,
            resident_id: r.resident_id,
            reporter,
            assignee,
            attachments: from_json("case attachments", &r.attachments)?,
            deadline_at: r.deadline_at,
            overdue: r.overdue != 0,
            satisfaction: r.satisfaction,
            evaluation: r.evaluation,
            token: r.token,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            closed_at: r.closed_at,
            for_resident: r.for_resident != 0,
        })
    }
}

/// A history row as the database returns it.
#[derive(sqlx::FromRow)]
struct HistoryRecord {
    id: i64,
    case_id: i64,
    at: i64,
    actor: String,
    action: String,
    from_state: String,
    to_state: String,
    from_tier: String,
    to_tier: String,
    note: Option<String>,
}

impl TryFrom<HistoryRecord> for HistoryEntry {
    type Error = StoreError;

    fn try_from(r: HistoryRecord) -> Result<Self, StoreError> {
        Ok(HistoryEntry {
            id: r.id,
            case_id: r.case_id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            from_state: parse_column("case state", &r.from_state)?,
            to_state: parse_column("case state", &r.to_state)?,
            from_tier: parse_column("case tier", &r.from_tier)?,
            to_tier: parse_column("case tier", &r.to_tier)?,
            note: r.note,
        })
    }
}

/// A category row.
#[derive(sqlx::FromRow)]
struct CategoryRecord {
    code: String,
    name: String,
    description: String,
    category_group: String,
}

impl From<CategoryRecord> for Category {
    fn from(r: CategoryRecord) -> Self {
        Category {
            code: r.code,
            name: r.name,
            description: r.description,
            group: r.category_group,
        }
    }
}

/// A department row.
#[derive(sqlx::FromRow)]
struct DepartmentRecord {
    id: String,
    name: String,
    tier: String,
    unit_id: Option<String>,
    members: String,
}

impl TryFrom<DepartmentRecord> for Department {
    type Error = StoreError;

    fn try_from(r: DepartmentRecord) -> Result<Self, StoreError> {
        Ok(Department {
            id: r.id,
            name: r.name,
            tier: parse_column("department tier", &r.tier)?,
            unit_id: r.unit_id,
            members: from_json("department members", &r.members)?,
        })
    }
}

/// A time-limit row.
#[derive(sqlx::FromRow)]
struct DeadlineRecord {
    category: String,
    priority: String,
    accept_minutes: i64,
    handle_minutes: i64,
    verify_minutes: i64,
}

impl TryFrom<DeadlineRecord> for Deadline {
    type Error = StoreError;

    fn try_from(r: DeadlineRecord) -> Result<Self, StoreError> {
        Ok(Deadline {
            category: r.category,
            priority: parse_column("deadline priority", &r.priority)?,
            accept_minutes: r.accept_minutes,
            handle_minutes: r.handle_minutes,
            verify_minutes: r.verify_minutes,
        })
    }
}

fn case_from_row(row: &AnyRow) -> Result<CaseRow, StoreError> {
    CaseRecord::from_row(row)?.try_into()
}

fn history_from_row(row: &AnyRow) -> Result<HistoryEntry, StoreError> {
    HistoryRecord::from_row(row)?.try_into()
}

fn assignee_parts(a: &Option<Assignee>) -> (Option<&'static str>, Option<&str>) {
    match a {
        Some(Assignee::Department(id)) => (Some("department"), Some(id)),
        Some(Assignee::Worker(id)) => (Some("worker"), Some(id)),
        None => (None, None),
    }
}

impl Store {
    /// Create a case with its first history entry (`report`).
    pub async fn create_case(&self, new: &NewCase) -> Result<CaseRow, StoreError> {
        let mut tx = self.begin().await?;
        let attachments =
            serde_json::to_string(&new.attachments).map_err(|e| corrupt("case attachments", e))?;
        let row = sqlx::query(&format!(
            "INSERT INTO cases (district, category, priority, state, tier, grid_id, community_id, \
             street_id, building_id, address, lat, lon, description, resident_id, reporter_kind, \
             reporter_id, assignee_kind, assignee_id, attachments, deadline_at, overdue, \
             satisfaction, evaluation, token, version, created_at, updated_at, closed_at, \
             for_resident) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CAST($11 AS DOUBLE PRECISION), \
             CAST($12 AS DOUBLE PRECISION), $13, $14, $15, $16, \
             NULL, NULL, $17, $18, 0, NULL, NULL, $19, 1, $20, $20, NULL, $21) RETURNING {CASE_COLUMNS}"
        ))
        .bind(&new.district)
        .bind(&new.category)
        .bind(new.priority.as_str())
        .bind(CaseState::Reported.as_str())
        .bind(new.tier.as_str())
        .bind(new.location.grid_id.as_deref())
        .bind(new.location.community_id.as_deref())
        .bind(new.location.street_id.as_deref())
        .bind(new.location.building_id.as_deref())
        .bind(new.address.as_deref())
        // Coordinates go as text: through sqlx's Any driver a NULL f64 is
        // sent to PostgreSQL as a float4 parameter, and the statement cached
        // with that type then refuses the next case's float8 coordinates.
        // Text has one type whether present or not; the CAST restores it.
        .bind(new.lat.map(|v| v.to_string()))
        .bind(new.lon.map(|v| v.to_string()))
        .bind(&new.description)
        .bind(new.resident_id.as_deref())
        .bind(new.reporter.kind())
        .bind(new.reporter.id())
        .bind(attachments)
        .bind(new.deadline_at)
        .bind(&new.token)
        .bind(new.at)
        .bind(i64::from(new.for_resident))
        .fetch_one(&mut *tx)
        .await?;
        let case = case_from_row(&row)?;
        for photo in &new.photos {
            sqlx::query(
                "INSERT INTO case_photos (case_id, content_type, bytes, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(case.id)
            .bind(photo.content_type)
            .bind(photo.bytes.as_slice())
            .bind(new.at)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(intake) = new.intake.as_ref().filter(|i| !i.is_empty()) {
            crate::cases::intake::insert_intake(&mut tx, case.id, intake).await?;
        }
        insert_history(
            &mut tx,
            &case,
            &HistoryInsert {
                at: new.at,
                actor: &new.actor,
                action: "report",
                from: (CaseState::Reported, case.tier),
                to: (CaseState::Reported, case.tier),
                note: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    /// The ids of a case's photos, in the order they were attached.
    pub async fn case_photo_ids(&self, case_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM case_photos WHERE case_id = $1 ORDER BY id")
                .bind(case_id)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// One photo of a case: its type and bytes; none if the case has no
    /// photo `id`.
    pub async fn case_photo(
        &self,
        case_id: i64,
        id: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT content_type, bytes FROM case_photos WHERE case_id = $1 AND id = $2",
        )
        .bind(case_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Apply `change` to `case` if nobody changed the case since it was
    /// read; otherwise [`StoreError::Conflict`] and nothing changes. The
    /// case's update, its history entry and, for a transition of a case an
    /// app opened, the notice to that app are written together:
    ///
    /// - on SQLite in a file, as one transaction on the short path
    ///   ([`lite`](crate::kernel::store::lite)), one hop however many
    ///   statements;
    /// - on PostgreSQL, as one statement whose parts are data-modifying
    ///   `WITH` queries: one round trip, atomic without a transaction
    ///   around it;
    /// - on SQLite in memory, as a transaction of the same statements.
    ///
    /// On the first two, a change sent is carried through even when the
    /// caller stops waiting (an app call past its deadline, a client gone):
    /// the caller then sees an error while the change, its history and its
    /// notice are stored, whole. Trying again is refused as a conflict,
    /// since the case moved on; reading it shows the change.
    pub async fn apply_case_change(
        &self,
        case: &CaseRow,
        change: &CaseChange,
    ) -> Result<(CaseRow, HistoryEntry), StoreError> {
        let notice_app = match (&case.reporter, change.notify_app) {
            (Reporter::App(app), true) => Some(app.clone()),
            _ => None,
        };
        let history_id = if let Some(lite) = self.lite() {
            let turn = self.write_turn().await?;
            let (case, change) = (case.clone(), change.clone());
            lite.run(turn, move |conn| {
                lite::apply_change(conn, &case, &change, notice_app.as_deref())
            })
            .await?
        } else if self.backend() == crate::kernel::store::Backend::Postgres {
            bind_change!(sqlx::query_scalar(APPLY_CHANGE_AT_ONCE), case, change)
                .bind(&change.actor)
                .bind(&change.action)
                .bind(case.state.as_str())
                .bind(case.tier.as_str())
                .bind(change.note.as_deref())
                .bind(notice_app.as_deref())
                .fetch_optional(self.pool())
                .await?
        } else {
            self.apply_change_in_transaction(case, change, notice_app.as_deref())
                .await?
        };
        let Some(history_id) = history_id else {
            return Err(StoreError::Conflict(format!(
                "case {} was changed by someone else meanwhile; read it again and retry",
                case.id
            )));
        };
        let updated = change.applied_to(case);
        let history = HistoryEntry {
            id: history_id,
            case_id: updated.id,
            at: change.at,
            actor: change.actor.clone(),
            action: change.action.clone(),
            from_state: case.state,
            to_state: updated.state,
            from_tier: case.tier,
            to_tier: updated.tier,
            note: change.note.clone(),
        };
        Ok((updated, history))
    }

    /// [`Store::apply_case_change`]'s writes as a transaction through sqlx:
    /// the history entry's id, or none when the case was changed meanwhile
    /// (and nothing was written).
    async fn apply_change_in_transaction(
        &self,
        case: &CaseRow,
        change: &CaseChange,
        notice_app: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = bind_change!(sqlx::query(UPDATE_CASE), case, change)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            // Rolled back before the next writer's turn.
            tx.rollback().await?;
            return Ok(None);
        }
        let entry = HistoryInsert {
            at: change.at,
            actor: &change.actor,
            action: &change.action,
            from: (case.state, case.tier),
            to: (change.state, change.tier),
            note: change.note.as_deref(),
        };
        let history_id = insert_history(&mut tx, case, &entry).await?;
        if let Some(app) = notice_app {
            sqlx::query(INSERT_NOTICE)
                .bind(&case.district)
                .bind(app)
                .bind(case.id)
                .bind(history_id)
                .bind(change.at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(history_id))
    }

    /// One case of a district.
    pub async fn case(&self, district: &str, id: i64) -> Result<Option<CaseRow>, StoreError> {
        sqlx::query_as::<_, CaseRecord>(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE district = $1 AND id = $2"
        ))
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(CaseRow::try_from)
        .transpose()
    }

    /// One case of a district, with the time limits that apply to its
    /// category and priority now (as [`Store::deadline_for`] finds them),
    /// in one statement: a change that starts a new phase needs both.
    pub async fn case_with_limits(
        &self,
        district: &str,
        id: i64,
    ) -> Result<Option<(CaseRow, Option<Deadline>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let limit = |column: &str| {
                format!(
                    "(SELECT d.{column} FROM case_deadlines d WHERE d.district = cases.district \
                     AND d.priority = cases.priority \
                     AND (d.category = cases.category OR d.category = '*') \
                     ORDER BY d.category = '*' LIMIT 1) AS limit_{column}"
                )
            };
            format!(
                "SELECT {CASE_COLUMNS}, {}, {}, {}, {} FROM cases WHERE district = $1 AND id = $2",
                limit("category"),
                limit("accept_minutes"),
                limit("handle_minutes"),
                limit("verify_minutes"),
            )
        });
        let Some(row) = sqlx::query(&SQL)
            .bind(district)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let case = case_from_row(&row)?;
        let limits = match row.try_get::<Option<String>, _>("limit_category")? {
            None => None,
            Some(category) => Some(Deadline {
                category,
                priority: case.priority,
                accept_minutes: row.try_get("limit_accept_minutes")?,
                handle_minutes: row.try_get("limit_handle_minutes")?,
                verify_minutes: row.try_get("limit_verify_minutes")?,
            }),
        };
        Ok(Some((case, limits)))
    }

    /// The case an Open311 token names.
    pub async fn case_by_token(
        &self,
        district: &str,
        token: &str,
    ) -> Result<Option<CaseRow>, StoreError> {
        sqlx::query_as::<_, CaseRecord>(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE district = $1 AND token = $2"
        ))
        .bind(district)
        .bind(token)
        .fetch_optional(self.pool())
        .await?
        .map(CaseRow::try_from)
        .transpose()
    }

    /// A case's history, oldest first.
    pub async fn case_history(&self, case_id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        sqlx::query_as::<_, HistoryRecord>(&format!(
            "SELECT {HISTORY_COLUMNS} FROM case_history WHERE case_id = $1 ORDER BY id"
        ))
        .bind(case_id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(HistoryEntry::try_from)
        .collect()
    }

    /// The note of each of `case_ids`' latest history entry, for those
    /// whose latest entry has one, in one query: a listing shows the note
    /// of the step a case is at, and an earlier step's note (an escalation's
    /// reason, say) does not stick to the steps after it.
    pub async fn latest_case_notes(
        &self,
        case_ids: &[i64],
    ) -> Result<HashMap<i64, String>, StoreError> {
        if case_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Sql::new(
            "SELECT case_id, note FROM case_history WHERE id IN \
             (SELECT MAX(id) FROM case_history WHERE case_id IN (",
        );
        let list = q.list(case_ids.iter().copied());
        q.push(&list)
            .push(") GROUP BY case_id) AND note IS NOT NULL");
        let notes: Vec<(i64, String)> = q.fetch_as(self.pool()).await?;
        Ok(notes.into_iter().collect())
    }

    /// A page of a district's cases, newest first (keyset paging on the id,
    /// so a page costs the same however deep it is).
    pub async fn list_cases(
        &self,
        district: &str,
        filter: &CaseFilter,
    ) -> Result<CasePage, StoreError> {
        let limit = filter.limit.max(1);
        let Some(own) = &filter.own else {
            let cases = self.case_rows(district, filter).await?;
            return Ok(Page::cut(cases, limit, |c| c.id));
        };
        // A resident's own cases are the ones their account reported and
        // the ones opened for their record: each read newest first along
        // its own index, then merged (one query with OR would read and
        // sort every one of them).
        let mut cases = self
            .case_rows(
                district,
                &CaseFilter {
                    own: None,
                    reporter: Some(Reporter::Account(own.account_id.clone())),
                    ..filter.clone()
                },
            )
            .await?;
        if let Some(resident) = &own.resident_id {
            cases.extend(
                self.case_rows(
                    district,
                    &CaseFilter {
                        own: None,
                        for_resident: Some(resident.clone()),
                        ..filter.clone()
                    },
                )
                .await?,
            );
            cases.sort_by_key(|c| std::cmp::Reverse(c.id));
            cases.dedup_by_key(|c| c.id);
            cases.truncate(limit as usize + 1);
        }
        Ok(Page::cut(cases, limit, |c| c.id))
    }

    /// One query of [`Store::list_cases`]: at most `limit + 1` rows, newest
    /// first; `filter.own` is not read here.
    async fn case_rows(
        &self,
        district: &str,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let mut q = Sql::new(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE district = "
        ));
        q.push_bind(district);
        q.and("state", "=", filter.state.map(CaseState::as_str));
        q.and("tier", "=", filter.tier.map(Tier::as_str));
        q.and("overdue", "=", filter.overdue.map(i64::from));
        q.and("category", "=", filter.category.as_deref());
        if !filter.categories.is_empty() {
            let list = q.list(filter.categories.iter().map(String::as_str));
            q.push(&format!(" AND category IN ({list})"));
        }
        if filter.public_only {
            q.push(" AND resident_id IS NULL");
        }
        q.and("grid_id", "=", filter.grid_id.as_deref());
        if let Some(a) = &filter.assignee {
            let (kind, id) = match a {
                Assignee::Department(id) => ("department", id),
                Assignee::Worker(id) => ("worker", id),
            };
            q.and("assignee_id", "=", Some(id.as_str()));
            q.and("assignee_kind", "=", Some(kind));
        }
        if let Some(r) = &filter.reporter {
            q.and("reporter_kind", "=", Some(r.kind()));
            q.and("reporter_id", "=", Some(r.id()));
        }
        if let Some(resident) = &filter.for_resident {
            q.and("resident_id", "=", Some(resident.as_str()));
            q.push(" AND for_resident = 1");
        }
        if let Some(view) = &filter.visible_to {
            let mut any = Vec::new();
            for (column, units) in [
                ("grid_id", &view.grids),
                ("community_id", &view.communities),
                ("street_id", &view.streets),
            ] {
                if !units.is_empty() {
                    any.push(format!(
                        "{column} IN ({})",
                        q.list(units.iter().map(String::as_str))
                    ));
                }
            }
            if !view.departments.is_empty() {
                let list = q.list(view.departments.iter().map(String::as_str));
                any.push(format!(
                    "(assignee_kind = 'department' AND assignee_id IN ({list}))"
                ));
            }
            let me = q.bind(view.account_id.as_str());
            any.push(format!("(assignee_kind = 'worker' AND assignee_id = {me})"));
            any.push(format!(
                "(reporter_kind = 'account' AND reporter_id = {me})"
            ));
            q.push(&format!(" AND ({})", any.join(" OR ")));
        }
        if let Some(finished) = filter.finished {
            q.push(if finished {
                " AND state IN ('closed', 'rejected')"
            } else {
                " AND state NOT IN ('closed', 'rejected')"
            });
        }
        q.and("created_at", ">=", filter.created_from);
        q.and("created_at", "<", filter.created_to);
        if !filter.ids.is_empty() {
            let list = q.list(filter.ids.iter().copied());
            q.push(&format!(" AND id IN ({list})"));
        }
        q.and("id", "<", filter.before);
        let limit = filter.limit.max(1);
        q.push(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        q.fetch_as::<CaseRecord, _>(self.pool())
            .await?
            .into_iter()
            .map(CaseRow::try_from)
            .collect()
    }

    /// Open cases whose running time limit ran out by `now`, oldest
    /// deadline first.
    pub async fn cases_past_deadline(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<CaseRow>, StoreError> {
        sqlx::query_as::<_, CaseRecord>(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE deadline_at IS NOT NULL AND deadline_at <= $1 \
             ORDER BY deadline_at LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(CaseRow::try_from)
        .collect()
    }

    /// A district's figures.
    pub async fn case_figures(&self, district: &str) -> Result<CaseFigures, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) AS n FROM cases WHERE district = $1 GROUP BY state",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        let mut open_by_state = Vec::new();
        let mut closed = 0;
        for (state, n) in rows {
            let state: CaseState = parse_column("case state", &state)?;
            if state == CaseState::Closed {
                closed = n;
            }
            if !state.is_final() {
                open_by_state.push((state, n));
            }
        }
        open_by_state.sort();
        let overdue: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) AS n FROM cases WHERE district = $1 AND overdue = 1 \
             AND state NOT IN ('closed', 'rejected')",
        )
        .bind(district)
        .fetch_one(self.pool())
        .await?;
        let median_close_ms = if closed > 0 {
            sqlx::query_scalar(
                "SELECT closed_at - created_at AS d FROM cases \
                 WHERE district = $1 AND state = 'closed' ORDER BY d LIMIT 1 OFFSET $2",
            )
            .bind(district)
            .bind(closed / 2)
            .fetch_optional(self.pool())
            .await?
        } else {
            None
        };
        let (evaluations, total): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(satisfaction) AS n, CAST(SUM(satisfaction) AS BIGINT) AS total FROM cases \
             WHERE district = $1 AND satisfaction IS NOT NULL",
        )
        .bind(district)
        .fetch_one(self.pool())
        .await?;
        Ok(CaseFigures {
            open_by_state,
            overdue,
            closed,
            median_close_ms,
            evaluations,
            mean_satisfaction: total
                .filter(|_| evaluations > 0)
                .map(|t| t as f64 / evaluations as f64),
        })
    }

    /// Where a grid is: its community and street.
    pub async fn locate_grid(
        &self,
        district: &str,
        grid: &str,
    ) -> Result<Option<Location>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT g.community_id, c.street_id FROM grids g \
             JOIN communities c ON c.district = g.district AND c.id = g.community_id \
             WHERE g.district = $1 AND g.id = $2",
        )
        .bind(district)
        .bind(grid)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(community, street)| Location {
            grid_id: Some(grid.to_owned()),
            community_id: Some(community),
            street_id: Some(street),
            building_id: None,
        }))
    }

    /// Where a building is: its grid, community and street.
    pub async fn locate_building(
        &self,
        district: &str,
        building: &str,
    ) -> Result<Option<Location>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT b.grid_id, b.community_id, c.street_id FROM buildings b \
             JOIN communities c ON c.district = b.district AND c.id = b.community_id \
             WHERE b.district = $1 AND b.id = $2",
        )
        .bind(district)
        .bind(building)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(grid, community, street)| Location {
            grid_id: Some(grid),
            community_id: Some(community),
            street_id: Some(street),
            building_id: Some(building.to_owned()),
        }))
    }

    /// Where a community is: its street.
    pub async fn locate_community(
        &self,
        district: &str,
        community: &str,
    ) -> Result<Option<Location>, StoreError> {
        let street: Option<String> =
            sqlx::query_scalar("SELECT street_id FROM communities WHERE district = $1 AND id = $2")
                .bind(district)
                .bind(community)
                .fetch_optional(self.pool())
                .await?;
        Ok(street.map(|street| Location {
            grid_id: None,
            community_id: Some(community.to_owned()),
            street_id: Some(street),
            building_id: None,
        }))
    }

    /// Whether a street exists in the district.
    pub async fn street_exists(&self, district: &str, street: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM streets WHERE district = $1 AND id = $2")
                .bind(district)
                .bind(street)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// Whether a resident exists in the district, and their community.
    pub async fn resident_community(
        &self,
        district: &str,
        resident: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar(
                "SELECT community_id FROM residents WHERE district = $1 AND id = $2",
            )
            .bind(district)
            .bind(resident)
            .fetch_optional(self.pool())
            .await?,
        )
    }

    /// Create or replace a category.
    pub async fn put_category(&self, district: &str, c: &Category) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_categories (district, code, name, description, category_group, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (district, code) DO UPDATE SET \
             name = excluded.name, description = excluded.description, \
             category_group = excluded.category_group, updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(&c.code)
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.group)
        .bind(self.clock().now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A district's categories, by code.
    pub async fn categories(&self, district: &str) -> Result<Vec<Category>, StoreError> {
        Ok(sqlx::query_as::<_, CategoryRecord>(
            "SELECT code, name, description, category_group FROM case_categories \
             WHERE district = $1 ORDER BY code",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Category::from)
        .collect())
    }

    /// Create or replace a department.
    pub async fn put_department(&self, district: &str, d: &Department) -> Result<(), StoreError> {
        let members =
            serde_json::to_string(&d.members).map_err(|e| corrupt("department members", e))?;
        sqlx::query(
            "INSERT INTO departments (district, id, name, tier, unit_id, members, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (district, id) DO UPDATE SET \
             name = excluded.name, tier = excluded.tier, unit_id = excluded.unit_id, \
             members = excluded.members, updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(&d.id)
        .bind(&d.name)
        .bind(d.tier.as_str())
        .bind(d.unit_id.as_deref())
        .bind(members)
        .bind(self.clock().now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A district's departments, by id.
    pub async fn departments(&self, district: &str) -> Result<Vec<Department>, StoreError> {
        sqlx::query_as::<_, DepartmentRecord>(
            "SELECT id, name, tier, unit_id, members FROM departments WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Department::try_from)
        .collect()
    }

    /// Replace a district's time limits.
    pub async fn set_deadlines(&self, district: &str, all: &[Deadline]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM case_deadlines WHERE district = $1")
            .bind(district)
            .execute(&mut *tx)
            .await?;
        for d in all {
            sqlx::query(
                "INSERT INTO case_deadlines (district, category, priority, accept_minutes, \
                 handle_minutes, verify_minutes) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(district)
            .bind(&d.category)
            .bind(d.priority.as_str())
            .bind(d.accept_minutes)
            .bind(d.handle_minutes)
            .bind(d.verify_minutes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A district's time limits.
    pub async fn deadlines(&self, district: &str) -> Result<Vec<Deadline>, StoreError> {
        sqlx::query_as::<_, DeadlineRecord>(
            "SELECT category, priority, accept_minutes, handle_minutes, verify_minutes \
             FROM case_deadlines WHERE district = $1 ORDER BY category, priority",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Deadline::try_from)
        .collect()
    }

    /// The time limits for a category and priority: the category's own, else
    /// the district's `*` row.
    pub async fn deadline_for(
        &self,
        district: &str,
        category: &str,
        priority: Priority,
    ) -> Result<Option<Deadline>, StoreError> {
        sqlx::query_as::<_, DeadlineRecord>(
            "SELECT category, priority, accept_minutes, handle_minutes, verify_minutes \
             FROM case_deadlines WHERE district = $1 AND priority = $2 \
             AND (category = $3 OR category = '*') ORDER BY category = '*' LIMIT 1",
        )
        .bind(district)
        .bind(priority.as_str())
        .bind(category)
        .fetch_optional(self.pool())
        .await?
        .map(Deadline::try_from)
        .transpose()
    }

    /// Set a district's case policy.
    pub async fn set_case_policy(&self, district: &str, p: &CasePolicy) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO case_policies (district, reopen_days, auto_escalate, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (district) DO UPDATE SET \
             reopen_days = excluded.reopen_days, auto_escalate = excluded.auto_escalate, \
             updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(p.reopen_days)
        .bind(i64::from(p.auto_escalate))
        .bind(self.clock().now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A district's case policy (the defaults until one is set).
    pub async fn case_policy(&self, district: &str) -> Result<CasePolicy, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT reopen_days, auto_escalate FROM case_policies WHERE district = $1",
        )
        .bind(district)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((reopen_days, auto_escalate)) => CasePolicy {
                reopen_days,
                auto_escalate: auto_escalate != 0,
            },
            None => CasePolicy::default(),
        })
    }

    /// Claim up to `limit` due notices for `lease_ms`, at most one per case
    /// (the oldest undelivered), so each case's changes arrive in order and a
    /// failing one holds up only its own case. Another process skips claimed
    /// notices until the lease runs out.
    pub async fn claim_case_notices(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<CaseNotice>, StoreError> {
        let candidates = sqlx::query(&format!(
            "SELECT n.id FROM case_notices n WHERE n.dead = 0 AND n.next_at <= $1 \
             AND n.claimed_until <= $1 AND NOT EXISTS (SELECT 1 FROM case_notices e \
             WHERE e.case_id = n.case_id AND e.id < n.id AND e.dead = 0) \
             ORDER BY n.id LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for row in &candidates {
            let id: i64 = row.try_get("id")?;
            // The claim itself is the compare-and-set: whoever moves
            // claimed_until first owns the notice for the lease.
            let won = sqlx::query(
                "UPDATE case_notices SET claimed_until = $1 WHERE id = $2 AND claimed_until <= $3 \
                 AND dead = 0",
            )
            .bind(now + lease_ms)
            .bind(id)
            .bind(now)
            .execute(&mut *self.writer().await?)
            .await?
            .rows_affected()
                == 1;
            if !won {
                continue;
            }
            let row = sqlx::query(&format!(
                "SELECT n.district, n.app, n.attempts, {} FROM case_notices n \
                 JOIN case_history h ON h.id = n.history_id WHERE n.id = $1",
                HISTORY_COLUMNS
                    .split(", ")
                    .map(|c| format!("h.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
            claimed.push(CaseNotice {
                id,
                district: row.try_get("district")?,
                app: row.try_get("app")?,
                attempts: row.try_get("attempts")?,
                change: history_from_row(&row)?,
            });
        }
        Ok(claimed)
    }

    /// Notices that are still waiting (pending) and given up on (dead) for
    /// a district.
    pub async fn case_notice_counts(&self, district: &str) -> Result<(i64, i64), StoreError> {
        self.outbox_counts(OutboxTable::CaseNotices, district).await
    }
}

struct HistoryInsert<'a> {
    at: i64,
    actor: &'a str,
    action: &'a str,
    from: (CaseState, Tier),
    to: (CaseState, Tier),
    note: Option<&'a str>,
}

async fn insert_history(
    conn: &mut sqlx::AnyConnection,
    case: &CaseRow,
    h: &HistoryInsert<'_>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(INSERT_HISTORY)
        .bind(case.id)
        .bind(h.at)
        .bind(h.actor)
        .bind(h.action)
        .bind(h.from.0.as_str())
        .bind(h.to.0.as_str())
        .bind(h.from.1.as_str())
        .bind(h.to.1.as_str())
        .bind(h.note)
        .fetch_one(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::{CaseChange, NewCase};
    use crate::cases::{CaseState, Priority, Reporter, Tier};
    use crate::kernel::store::{Store, StoreError};

    /// A change to a case on SQLite in a file (the short path) and in
    /// memory (a transaction through sqlx): the answer is the case as
    /// stored, the history entry and the app's notice are written with it,
    /// and a change to a case read before it changed is refused and writes
    /// nothing. (PostgreSQL's one statement, and the short path again, are
    /// checked through the API by the case tests on both back ends; only
    /// this test reaches the sqlx path.)
    #[tokio::test]
    async fn a_change_is_written_whole_once_and_a_stale_one_writes_nothing() {
        let (_dir, in_file) = crate::kernel::grant::tests::store().await;
        assert!(in_file.lite().is_some(), "a file takes the short path");
        // A database in memory that the pool's connections share.
        let in_memory = Store::open("sqlite:file:changes?mode=memory&cache=shared")
            .await
            .expect("store");
        assert!(in_memory.lite().is_none(), "memory keeps the sqlx path");
        for store in [in_file, in_memory] {
            store
                .create_district("east", "East")
                .await
                .expect("district");
            let case = store
                .create_case(&NewCase {
                    district: "east".into(),
                    category: "road".into(),
                    priority: Priority::Normal,
                    tier: Tier::District,
                    location: Default::default(),
                    address: None,
                    lat: None,
                    lon: None,
                    description: "pothole".into(),
                    resident_id: None,
                    reporter: Reporter::App("fixit".into()),
                    for_resident: false,
                    photos: Vec::new(),
                    actor: "app:fixit".into(),
                    attachments: Vec::new(),
                    deadline_at: None,
                    token: "t1".into(),
                    intake: None,
                    at: 1_000,
                })
                .await
                .expect("case");
            let mut change = CaseChange::of(&case, "accept", "w1", 2_000);
            change.state = CaseState::Accepted;
            change.deadline_at = Some(9_000);
            change.note = Some("on my way".into());
            change.notify_app = true;
            let (updated, entry) = store
                .apply_case_change(&case, &change)
                .await
                .expect("apply");
            let stored = store.case("east", case.id).await.expect("read");
            assert_eq!(
                stored.as_ref(),
                Some(&updated),
                "the answer is what was stored"
            );
            assert_eq!(
                (updated.version, updated.updated_at),
                (case.version + 1, 2_000)
            );
            let history = store.case_history(case.id).await.expect("history");
            assert_eq!(history.last(), Some(&entry));
            assert_eq!(
                store.case_notice_counts("east").await.expect("notices").0,
                1
            );

            let stale = store.apply_case_change(&case, &change).await;
            assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
            assert_eq!(store.case("east", case.id).await.expect("read"), stored);
            assert_eq!(store.case_history(case.id).await.expect("history"), history);
            assert_eq!(
                store.case_notice_counts("east").await.expect("notices").0,
                1
            );
            store.close().await;
        }
    }
}
