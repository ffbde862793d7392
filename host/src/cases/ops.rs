//! Case operations shared by the HTTP API, Open311, the CLI and apps:
//! reporting, the lifecycle actions, deadlines and their sweep, and the
//! district's case set-up (categories, departments, time limits, policy).
//!
//! Who may do what to a case is decided here, in `Authority`, and nowhere
//! else: the API only establishes who the caller is and which district they
//! act in.
//!
//! The operations are on [`Cases`], which holds only the [`Store`]: an
//! app's host call uses them without reaching the runtime or the install
//! lifecycle; the API and the CLI reach them through
//! [`Platform::cases`](crate::platform::Platform::cases).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::accounts::{Caller, Role};
use crate::cases::store::{
    CaseChange, CaseFigures, CaseFilter, CasePage, CasePolicy, CaseRow, Category, Deadline,
    Department, HistoryEntry, Location, NewCase, WorkerView,
};
use crate::cases::{
    Action, Assignee, CaseState, MAX_ATTACHMENT, MAX_ATTACHMENTS, MAX_TEXT, Priority, Reporter,
    Tier, is_valid_code,
};
use crate::error::PlatformError;
use crate::kernel::store::MAX_PAGE;
use crate::kernel::store::{Store, StoreError};

/// Who acts on a case.
#[derive(Clone, Debug)]
pub enum CaseActor {
    /// A signed-in person, or an intake system's account.
    Person(Caller),
    /// An installed app of the case's district.
    App(String),
    /// The host itself (the deadline sweep).
    System,
}

impl CaseActor {
    /// How the history names the actor.
    pub fn label(&self) -> String {
        match self {
            CaseActor::Person(c) => format!("account:{}", c.account_id),
            CaseActor::App(app) => format!("app:{app}"),
            CaseActor::System => "system".to_owned(),
        }
    }
}

/// A new case, as reported.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseReport {
    /// Category code (one of the district's categories).
    pub category: String,
    /// Priority; `normal` when left out.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// The grid, when known.
    #[serde(default)]
    pub grid_id: Option<String>,
    /// The building, when known (its grid is then implied).
    #[serde(default)]
    pub building_id: Option<String>,
    /// A free-text address.
    #[serde(default)]
    pub address: Option<String>,
    /// Latitude.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub lon: Option<f64>,
    /// What is wrong.
    pub description: String,
    /// The resident concerned.
    #[serde(default)]
    pub resident_id: Option<String>,
    /// Attachments by reference (URLs or storage keys).
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Opened by an app on behalf of `resident_id`, who then follows,
    /// evaluates and reopens it as their own report. Only an app sets it
    /// (`cases.open-for-resident`); it is not read from a request.
    #[serde(skip)]
    pub for_resident: bool,
    /// Photos the host stores with the case, already checked and cleaned
    /// ([`crate::cases::photos::clean`]); at most
    /// [`crate::cases::photos::MAX_PHOTOS`]. Sent by the console's form,
    /// not read from a JSON request.
    #[serde(skip)]
    pub photos: Vec<crate::cases::photos::Photo>,
    /// What an Open311 service request carried beside its description (the
    /// caller's contact, its attribute answers); kept apart from the case.
    #[serde(skip)]
    pub intake: Option<crate::cases::intake::CaseIntake>,
}

/// An action on a case.
#[derive(Clone, Debug)]
pub struct CaseCommand {
    /// What to do.
    pub action: Action,
    /// The note, reason or feedback (required by some actions).
    pub note: Option<String>,
    /// Who gets the case (dispatch and reassign).
    pub assignee: Option<Assignee>,
    /// The rating (evaluate).
    pub satisfaction: Option<i64>,
}

/// A case with its history and what the viewer may do next.
#[derive(Clone, Debug, Serialize)]
pub struct CaseView {
    /// The case.
    #[serde(flatten)]
    pub case: CaseRow,
    /// Its history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The actions the lifecycle allows from the current state.
    pub allowed_actions: Vec<Action>,
    /// Of those, the ones the viewer may take (an evaluation only while
    /// there is none).
    pub my_actions: Vec<Action>,
    /// What its Open311 service request carried beside the description
    /// (the caller's contact, attribute answers), when the channel asked
    /// for it through [`Cases::case_intake`], which masks and logs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake: Option<crate::cases::intake::CaseIntake>,
}

/// What one deadline sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Cases newly flagged overdue.
    pub flagged: u64,
    /// Cases escalated because they were overdue.
    pub escalated: u64,
}

/// How many past-deadline cases one sweep round reads.
const SWEEP_BATCH: u32 = 200;

/// What an actor may do to the cases of one district.
struct Authority {
    actor: CaseActor,
    /// Administers the district (district or platform administrator).
    admin: bool,
    /// Reads everything and changes nothing (auditor).
    reads_all: bool,
    account: Option<String>,
    grids: Vec<String>,
    departments: Vec<Department>,
}

impl Authority {
    /// Holds the case at its current tier: may accept, dispatch, verify and
    /// close it.
    fn holds(&self, case: &CaseRow) -> bool {
        self.admin
            || (case.tier == Tier::Grid
                && case
                    .grid_id
                    .as_ref()
                    .is_some_and(|g| self.grids.contains(g)))
            || self.departments.iter().any(|d| {
                d.tier == case.tier && (!d.tier.has_unit() || d.unit_id.as_deref() == case.unit())
            })
    }

    /// Has the case assigned to them or their department.
    fn is_assignee(&self, case: &CaseRow) -> bool {
        match &case.assignee {
            Some(Assignee::Worker(id)) => self.account.as_deref() == Some(id),
            Some(Assignee::Department(id)) => self.departments.iter().any(|d| &d.id == id),
            None => false,
        }
    }

    /// Reported the case, or is the resident an app opened it for: the
    /// one who follows, evaluates and reopens it.
    fn is_reporter(&self, case: &CaseRow) -> bool {
        match (&self.actor, &case.reporter) {
            (CaseActor::Person(c), Reporter::Account(id)) => &c.account_id == id,
            (CaseActor::Person(c), Reporter::App(_)) => {
                case.for_resident
                    && c.role == Role::Resident
                    && c.resident_id.is_some()
                    && c.resident_id == case.resident_id
            }
            (CaseActor::App(app), Reporter::App(id)) => app == id,
            _ => false,
        }
    }

    /// May read the case.
    fn sees(&self, case: &CaseRow) -> bool {
        self.admin
            || self.reads_all
            || self.is_reporter(case)
            || self.holds(case)
            || self.is_assignee(case)
            || case
                .grid_id
                .as_ref()
                .is_some_and(|g| self.grids.contains(g))
            || self.departments.iter().any(|d| covers(d, case))
    }

    /// Why the actor may not do `action` to `case`, if they may not.
    fn refuses(&self, case: &CaseRow, action: Action) -> Option<String> {
        if matches!(self.actor, CaseActor::System) {
            return None;
        }
        if let CaseActor::App(_) = self.actor {
            return (action != Action::Comment)
                .then(|| format!("an app may only comment on the cases it opened, not {action}"));
        }
        if self.reads_all && !self.admin {
            return Some("auditors read cases but change nothing".into());
        }
        let allowed = match action {
            Action::Accept
            | Action::Reject
            | Action::Dispatch
            | Action::Reassign
            | Action::Verify
            | Action::FailVerification
            | Action::Close => self.holds(case),
            Action::Start | Action::Handle => self.admin || self.is_assignee(case),
            Action::Escalate => self.holds(case) || self.is_assignee(case),
            Action::Reopen => self.is_reporter(case) || self.holds(case),
            Action::Comment => self.sees(case),
            Action::Evaluate => self.is_reporter(case),
        };
        if allowed {
            return None;
        }
        let who = match action {
            Action::Start | Action::Handle => "the worker or department it is assigned to".into(),
            Action::Evaluate => {
                "the person who reported it (or the resident an app opened it for)".into()
            }
            Action::Reopen => format!("its reporter or whoever holds it at the {} tier", case.tier),
            Action::Escalate => format!(
                "whoever holds it at the {} tier or the worker it is assigned to",
                case.tier
            ),
            _ => format!(
                "whoever holds it at the {} tier{} (its grid workers or a department of that tier) and district administrators",
                case.tier,
                case.unit().map(|u| format!(" `{u}`")).unwrap_or_default()
            ),
        };
        Some(format!("only {who} may {action} case {}", case.id))
    }
}

/// Whether a department's unit contains the case's location.
fn covers(d: &Department, case: &CaseRow) -> bool {
    let unit = d.unit_id.as_deref();
    match d.tier {
        Tier::Grid => case.grid_id.as_deref() == unit && unit.is_some(),
        Tier::Community => case.community_id.as_deref() == unit && unit.is_some(),
        Tier::Street => case.street_id.as_deref() == unit && unit.is_some(),
        Tier::District | Tier::City => true,
    }
}

pub(super) fn check_text(what: &str, text: &str, required: bool) -> Result<(), PlatformError> {
    if required && text.trim().is_empty() {
        return Err(PlatformError::Invalid(format!("{what} must not be empty")));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT {
        return Err(PlatformError::Invalid(format!(
            "{what} is {chars} characters long; at most {MAX_TEXT} are allowed"
        )));
    }
    Ok(())
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let all: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 12];
    // Falls back to the clock only if the OS has no randomness at all; a
    // token collision is then still caught by the unique index.
    if getrandom::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&crate::kernel::clock::now_ms().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// When the running time limit of `state` ends for a case entering it at
/// `now`, under `limits` (its category's and priority's), if any.
fn deadline_under(limits: Option<&Deadline>, state: CaseState, now: i64) -> Option<i64> {
    let limits = limits?;
    let minutes = match state.phase()? {
        crate::cases::Phase::Accept => limits.accept_minutes,
        crate::cases::Phase::Handle => limits.handle_minutes,
        crate::cases::Phase::Verify => limits.verify_minutes,
    };
    Some(now + minutes * 60_000)
}

/// The case operations, over the store alone.
#[derive(Clone, Copy)]
pub struct Cases<'a> {
    pub(super) store: &'a Store,
}

impl<'a> Cases<'a> {
    /// The case operations over `store`.
    pub fn new(store: &'a Store) -> Self {
        Cases { store }
    }

    pub(super) async fn require_district(&self, district: &str) -> Result<(), PlatformError> {
        crate::error::require_district(self.store, district).await
    }

    async fn authority(
        &self,
        district: &str,
        actor: &CaseActor,
    ) -> Result<Authority, PlatformError> {
        let (auth, worker) = Self::authority_before_departments(district, actor)?;
        self.with_departments(district, auth, worker).await
    }

    /// The actor's authority as far as it is known without reading the
    /// database, and, for a worker, the account whose departments it still
    /// needs ([`Cases::with_departments`]). A person of another district is
    /// refused here, before anything is read.
    fn authority_before_departments<'c>(
        district: &str,
        actor: &'c CaseActor,
    ) -> Result<(Authority, Option<&'c str>), PlatformError> {
        let mut auth = Authority {
            actor: actor.clone(),
            admin: false,
            reads_all: false,
            account: None,
            grids: Vec::new(),
            departments: Vec::new(),
        };
        match actor {
            CaseActor::System => auth.admin = true,
            CaseActor::App(_) => {}
            CaseActor::Person(caller) => {
                if !caller.in_district(district) {
                    return Err(PlatformError::Forbidden(format!(
                        "you act for district `{}` only, not `{district}`",
                        caller.district.as_deref().unwrap_or("none")
                    )));
                }
                auth.account = Some(caller.account_id.clone());
                match caller.role {
                    Role::PlatformAdmin | Role::DistrictAdmin => auth.admin = true,
                    Role::Auditor => auth.reads_all = true,
                    Role::Worker => {
                        auth.grids = caller.grids.clone();
                        return Ok((auth, Some(&caller.account_id)));
                    }
                    Role::Resident => {}
                }
            }
        }
        Ok((auth, None))
    }

    /// `auth` with the departments of `district` that `worker` is a member
    /// of; as it is without a worker.
    async fn with_departments(
        &self,
        district: &str,
        mut auth: Authority,
        worker: Option<&str>,
    ) -> Result<Authority, PlatformError> {
        if let Some(worker) = worker {
            auth.departments = self
                .store
                .departments(district)
                .await?
                .into_iter()
                .filter(|d| d.members.iter().any(|m| m == worker))
                .collect();
        }
        Ok(auth)
    }

    /// The actor's authority, and case `id` if they may see it; otherwise
    /// not-found, exactly as for a case that does not exist. A worker's
    /// departments and the case are independent reads, so both are sent
    /// to the database at once: one wait for the two. `with_limits` reads
    /// the case's time limits along with it (for a change).
    async fn authority_and_case(
        &self,
        district: &str,
        id: i64,
        actor: &CaseActor,
        with_limits: bool,
    ) -> Result<(Authority, CaseRow, Option<Deadline>), PlatformError> {
        let (auth, worker) = Self::authority_before_departments(district, actor)?;
        let (auth, case) =
            tokio::try_join!(self.with_departments(district, auth, worker), async {
                Ok(match with_limits {
                    true => self.store.case_with_limits(district, id).await?,
                    false => self.store.case(district, id).await?.map(|c| (c, None)),
                })
            })?;
        match case {
            Some((case, limits)) if auth.sees(&case) => Ok((auth, case, limits)),
            _ => Err(PlatformError::NotFound(format!(
                "case {id} in district `{district}`"
            ))),
        }
    }

    /// When the running time limit of `state` ends for a case entering it
    /// at `now`, if the district set one.
    async fn deadline(
        &self,
        district: &str,
        category: &str,
        priority: Priority,
        state: CaseState,
        now: i64,
    ) -> Result<Option<i64>, PlatformError> {
        if state.phase().is_none() {
            return Ok(None);
        }
        let limits = self
            .store
            .deadline_for(district, category, priority)
            .await?;
        Ok(deadline_under(limits.as_ref(), state, now))
    }

    /// Resolve a report's location: a building implies its grid; a grid is
    /// checked; with neither, the case starts at the district tier.
    async fn locate(&self, district: &str, report: &CaseReport) -> Result<Location, PlatformError> {
        let by_building =
            match &report.building_id {
                Some(b) => Some(self.store.locate_building(district, b).await?.ok_or_else(
                    || {
                        PlatformError::Invalid(format!(
                            "building `{b}` does not exist in district `{district}`"
                        ))
                    },
                )?),
                None => None,
            };
        let by_grid = match &report.grid_id {
            Some(g) => Some(self.store.locate_grid(district, g).await?.ok_or_else(|| {
                PlatformError::Invalid(format!(
                    "grid `{g}` does not exist in district `{district}`"
                ))
            })?),
            None => None,
        };
        match (by_building, by_grid) {
            (Some(b), Some(g)) if b.grid_id != g.grid_id => Err(PlatformError::Invalid(format!(
                "building `{}` is in grid `{}`, not `{}`; give one or make them agree",
                b.building_id.unwrap_or_default(),
                b.grid_id.unwrap_or_default(),
                g.grid_id.unwrap_or_default()
            ))),
            (Some(b), _) => Ok(b),
            (None, Some(g)) => Ok(g),
            (None, None) => Ok(Location::default()),
        }
    }

    /// Report a case. It starts `reported` at the tier of its location (its
    /// grid, or the district when no grid or building is known).
    pub async fn report_case(
        &self,
        district: &str,
        actor: &CaseActor,
        report: CaseReport,
    ) -> Result<CaseRow, PlatformError> {
        self.require_district(district).await?;
        let auth = self.authority(district, actor).await?;
        if auth.reads_all && !auth.admin {
            return Err(PlatformError::Forbidden(
                "auditors read cases but change nothing".into(),
            ));
        }
        let reporter = match actor {
            CaseActor::Person(c) => Reporter::Account(c.account_id.clone()),
            CaseActor::App(app) => Reporter::App(app.clone()),
            CaseActor::System => {
                return Err(PlatformError::Invalid(
                    "a case needs a reporter: an account or an app".into(),
                ));
            }
        };
        let categories = self.store.categories(district).await?;
        if !categories.iter().any(|c| c.code == report.category) {
            return Err(PlatformError::Invalid(format!(
                "category `{}` is not one of district `{district}`'s categories ({})",
                report.category,
                list(categories.iter().map(|c| c.code.as_str()))
            )));
        }
        check_text("description", &report.description, true)?;
        if let Some(a) = &report.address {
            check_text("address", a, false)?;
        }
        if report.attachments.len() > MAX_ATTACHMENTS {
            return Err(PlatformError::Invalid(format!(
                "{} attachments given; at most {MAX_ATTACHMENTS} are allowed",
                report.attachments.len()
            )));
        }
        if let Some(a) = report
            .attachments
            .iter()
            .find(|a| a.is_empty() || a.len() > MAX_ATTACHMENT)
        {
            return Err(PlatformError::Invalid(format!(
                "attachment reference `{}` is invalid: give 1 to {MAX_ATTACHMENT} bytes (a URL or storage key)",
                a.chars().take(80).collect::<String>()
            )));
        }
        match (report.lat, report.lon) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) => {}
            (None, None) => {}
            _ => {
                return Err(PlatformError::Invalid(
                    "give both lat (-90..=90) and long (-180..=180), or neither".into(),
                ));
            }
        }
        if report.photos.len() > crate::cases::photos::MAX_PHOTOS {
            return Err(PlatformError::Invalid(format!(
                "{} photos given; at most {} are allowed",
                report.photos.len(),
                crate::cases::photos::MAX_PHOTOS
            )));
        }
        if report.for_resident && report.resident_id.is_none() {
            return Err(PlatformError::Invalid(
                "a case opened for a resident needs the resident's id".into(),
            ));
        }
        if let Some(r) = &report.resident_id
            && self.store.resident_community(district, r).await?.is_none()
        {
            return Err(PlatformError::Invalid(format!(
                "resident `{r}` does not exist in district `{district}`"
            )));
        }
        let location = self.locate(district, &report).await?;
        let tier = if location.grid_id.is_some() {
            Tier::Grid
        } else {
            Tier::District
        };
        let priority = report.priority.unwrap_or(Priority::Normal);
        let now = self.store.clock().now_ms();
        let deadline_at = self
            .deadline(
                district,
                &report.category,
                priority,
                CaseState::Reported,
                now,
            )
            .await?;
        let new = NewCase {
            district: district.to_owned(),
            category: report.category,
            priority,
            tier,
            location,
            address: report.address,
            lat: report.lat,
            lon: report.lon,
            description: report.description,
            resident_id: report.resident_id,
            reporter,
            for_resident: report.for_resident && matches!(actor, CaseActor::App(_)),
            photos: report.photos,
            actor: actor.label(),
            attachments: report.attachments,
            deadline_at,
            token: random_token(),
            intake: report.intake,
            at: now,
        };
        let case = self.store.create_case(&new).await?;
        tracing::info!(district, case = case.id, category = %case.category, actor = %new.actor, "case reported");
        Ok(case)
    }

    /// A case the actor may see, or not-found (an actor cannot tell a case
    /// they may not see from one that does not exist).
    pub async fn case_for(
        &self,
        district: &str,
        id: i64,
        actor: &CaseActor,
    ) -> Result<CaseRow, PlatformError> {
        Ok(self.authority_and_case(district, id, actor, false).await?.1)
    }

    /// A case with its history, as the actor may see it.
    pub async fn view_case(
        &self,
        district: &str,
        id: i64,
        actor: &CaseActor,
    ) -> Result<CaseView, PlatformError> {
        let (auth, case, _) = self.authority_and_case(district, id, actor, false).await?;
        let history = self.store.case_history(case.id).await?;
        let allowed_actions = Action::allowed_from(case.state);
        let my_actions = allowed_actions
            .iter()
            .copied()
            .filter(|a| auth.refuses(&case, *a).is_none())
            .filter(|a| *a != Action::Evaluate || case.satisfaction.is_none())
            .collect();
        Ok(CaseView {
            allowed_actions,
            my_actions,
            case,
            history,
            intake: None,
        })
    }

    /// The case an Open311 token names, if the actor may see it; otherwise
    /// not-found, as for [`Cases::case_for`].
    pub async fn case_for_token(
        &self,
        district: &str,
        token: &str,
        actor: &CaseActor,
    ) -> Result<CaseRow, PlatformError> {
        let auth = self.authority(district, actor).await?;
        match self.store.case_by_token(district, token).await? {
            Some(case) if auth.sees(&case) => Ok(case),
            _ => Err(PlatformError::NotFound(format!(
                "case with token `{token}` in district `{district}`"
            ))),
        }
    }

    /// The latest history note of each of `cases` that has one, by case id.
    /// Takes cases the caller already read through [`Cases::case_for`] or
    /// [`Cases::list_cases`], so it reveals nothing those did not allow.
    pub async fn latest_case_notes(
        &self,
        cases: &[CaseRow],
    ) -> Result<HashMap<i64, String>, PlatformError> {
        let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
        Ok(self.store.latest_case_notes(&ids).await?)
    }

    /// A district's categories, by code (public: they are what residents
    /// may report).
    pub async fn categories(&self, district: &str) -> Result<Vec<Category>, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store.categories(district).await?)
    }

    /// A page of the cases the actor may see, filtered.
    pub async fn list_cases(
        &self,
        district: &str,
        actor: &CaseActor,
        mut filter: CaseFilter,
    ) -> Result<CasePage, PlatformError> {
        self.require_district(district).await?;
        if filter.limit == 0 || filter.limit > MAX_PAGE {
            return Err(PlatformError::Invalid(format!(
                "limit {} is out of range: allowed 1..={MAX_PAGE}",
                filter.limit
            )));
        }
        let auth = self.authority(district, actor).await?;
        match actor {
            CaseActor::App(app) => filter.reporter = Some(Reporter::App(app.clone())),
            CaseActor::Person(c) if !auth.admin && !auth.reads_all => {
                if c.role == Role::Worker && !auth.departments.iter().any(|d| !d.tier.has_unit()) {
                    let unit = |t: Tier| -> Vec<String> {
                        auth.departments
                            .iter()
                            .filter(|d| d.tier == t)
                            .filter_map(|d| d.unit_id.clone())
                            .collect()
                    };
                    let mut grids = auth.grids.clone();
                    grids.extend(unit(Tier::Grid));
                    filter.visible_to = Some(WorkerView {
                        account_id: c.account_id.clone(),
                        grids,
                        communities: unit(Tier::Community),
                        streets: unit(Tier::Street),
                        departments: auth.departments.iter().map(|d| d.id.clone()).collect(),
                    });
                } else if c.role == Role::Resident {
                    filter.own = Some(crate::cases::store::OwnCases {
                        account_id: c.account_id.clone(),
                        resident_id: c.resident_id.clone(),
                    });
                } else if c.role != Role::Worker {
                    filter.reporter = Some(Reporter::Account(c.account_id.clone()));
                }
            }
            _ => {}
        }
        Ok(self.store.list_cases(district, &filter).await?)
    }

    /// Do `command` to a case. The lifecycle's transition table decides
    /// whether it is allowed from the current state; `Authority` decides
    /// whether this actor may; the store applies it only if nobody changed
    /// the case meanwhile. Refusals change nothing.
    pub async fn act_on_case(
        &self,
        district: &str,
        id: i64,
        actor: &CaseActor,
        command: CaseCommand,
    ) -> Result<(CaseRow, HistoryEntry), PlatformError> {
        let (auth, case, limits) = self.authority_and_case(district, id, actor, true).await?;
        let action = command.action;
        let Some(next) = action.next(case.state) else {
            return Err(PlatformError::Conflict(format!(
                "cannot {action} case {id}: it is {}; from {} the allowed actions are: {}",
                case.state,
                case.state,
                list(Action::allowed_from(case.state).iter().map(|a| a.as_str()))
            )));
        };
        if let Some(why) = auth.refuses(&case, action) {
            return Err(PlatformError::Forbidden(why));
        }
        let note = command
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if action.needs_note() && note.is_none() {
            let what = match action {
                Action::Handle => "feedback on what was done",
                Action::Comment => "the comment's text",
                _ => "a reason",
            };
            return Err(PlatformError::Invalid(format!(
                "{action} needs a note: give {what}"
            )));
        }
        if let Some(n) = &note {
            check_text("note", n, false)?;
        }
        let now = self.store.clock().now_ms();
        let mut change = CaseChange::of(&case, action.as_str(), &actor.label(), now);
        change.state = next;
        change.note = note;
        change.notify_app = action.is_transition();
        match action {
            Action::Dispatch | Action::Reassign => {
                let Some(target) = command.assignee else {
                    return Err(PlatformError::Invalid(format!(
                        "{action} needs an assignee: `department:<id>` or `worker:<account-id>`"
                    )));
                };
                self.check_assignee(&case, &target).await?;
                if action == Action::Reassign && case.assignee.as_ref() == Some(&target) {
                    return Err(PlatformError::Invalid(format!(
                        "case {id} is already assigned to {}",
                        target.label()
                    )));
                }
                change.assignee = Some(target);
            }
            Action::Escalate => {
                let Some(up) = case.tier.up() else {
                    return Err(PlatformError::Conflict(format!(
                        "case {id} is already at the city tier, the top; nothing is above it"
                    )));
                };
                change.tier = up;
                if next == CaseState::Accepted {
                    change.assignee = None;
                }
            }
            Action::Reopen => {
                let policy = self.store.case_policy(district).await?;
                let closed_at = case.closed_at.unwrap_or(case.updated_at);
                let window = policy.reopen_days * 86_400_000;
                if now - closed_at > window {
                    return Err(PlatformError::Conflict(format!(
                        "case {id} was closed more than {} days ago; district `{district}` allows reopening within {} days",
                        policy.reopen_days, policy.reopen_days
                    )));
                }
                change.assignee = None;
            }
            Action::Close => change.closed_at = Some(now),
            Action::Evaluate => {
                if case.satisfaction.is_some() {
                    return Err(PlatformError::Conflict(format!(
                        "case {id} has already been evaluated"
                    )));
                }
                let score = command.satisfaction.ok_or_else(|| {
                    PlatformError::Invalid("evaluate needs a satisfaction from 1 to 5".into())
                })?;
                if !(1..=5).contains(&score) {
                    return Err(PlatformError::Invalid(format!(
                        "satisfaction {score} is out of range: allowed 1..=5"
                    )));
                }
                change.satisfaction = Some(score);
                change.evaluation = change.note.clone();
            }
            _ => {}
        }
        // A new phase (or a new tier) starts its own clock.
        if case.state.phase() != next.phase() || change.tier != case.tier {
            change.deadline_at = deadline_under(limits.as_ref(), next, now);
            change.overdue = false;
        }
        let (updated, entry) = self.store.apply_case_change(&case, &change).await?;
        tracing::info!(district, case = id, action = %action, actor = %change.actor, from = %case.state, to = %updated.state, "case changed");
        Ok((updated, entry))
    }

    /// Check that `target` may be given `case`: it exists in the district
    /// and works under the case's tier.
    async fn check_assignee(&self, case: &CaseRow, target: &Assignee) -> Result<(), PlatformError> {
        let district = case.district.as_str();
        match target {
            Assignee::Department(id) => {
                let departments = self.store.departments(district).await?;
                let Some(d) = departments.iter().find(|d| &d.id == id) else {
                    return Err(PlatformError::Invalid(format!(
                        "department `{id}` does not exist in district `{district}` (departments: {})",
                        list(departments.iter().map(|d| d.id.as_str()))
                    )));
                };
                if !self.department_under(d, case).await? {
                    return Err(PlatformError::Invalid(format!(
                        "department `{id}` works at the {} tier{} and is not under case {}'s {} tier{}; dispatch to a department at or below it",
                        d.tier,
                        d.unit_id
                            .as_deref()
                            .map(|u| format!(" `{u}`"))
                            .unwrap_or_default(),
                        case.id,
                        case.tier,
                        case.unit().map(|u| format!(" `{u}`")).unwrap_or_default(),
                    )));
                }
            }
            Assignee::Worker(id) => {
                let account = match self.store.get_account(id).await {
                    Ok(a) => a,
                    Err(StoreError::NotFound(_)) => {
                        return Err(PlatformError::Invalid(format!(
                            "worker `{id}` does not exist"
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                if account.role != Role::Worker
                    || account.district.as_deref() != Some(district)
                    || account.disabled_at.is_some()
                {
                    return Err(PlatformError::Invalid(format!(
                        "account `{id}` is not an active worker of district `{district}`"
                    )));
                }
                if case.tier.has_unit() {
                    let mut under = false;
                    for g in &account.grids {
                        if let Some(l) = self.store.locate_grid(district, g).await? {
                            under |= within(&l, case);
                        }
                    }
                    if !under {
                        for d in self.store.departments(district).await? {
                            if d.members.contains(id) && self.department_under(&d, case).await? {
                                under = true;
                            }
                        }
                    }
                    if !under {
                        return Err(PlatformError::Invalid(format!(
                            "worker `{id}` does not work under case {}'s {} tier `{}`; assign a worker of its grids or departments",
                            case.id,
                            case.tier,
                            case.unit().unwrap_or_default()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a department works at or below the case's tier, inside its
    /// unit.
    async fn department_under(
        &self,
        d: &Department,
        case: &CaseRow,
    ) -> Result<bool, PlatformError> {
        if d.tier > case.tier {
            return Ok(false);
        }
        let district = case.district.as_str();
        let location = match (d.tier, d.unit_id.as_deref()) {
            (Tier::Grid, Some(g)) => self.store.locate_grid(district, g).await?,
            (Tier::Community, Some(c)) => self.store.locate_community(district, c).await?,
            (Tier::Street, Some(s)) => Some(Location {
                street_id: Some(s.to_owned()),
                ..Location::default()
            }),
            _ => Some(Location::default()),
        };
        Ok(location.is_some_and(|l| within(&l, case)))
    }

    /// Flag cases whose time limit ran out and, where the district's policy
    /// says so, escalate them one tier. Safe to run from several processes
    /// at once: each change is a compare-and-set, so a case is flagged and
    /// escalated once.
    pub async fn sweep_case_deadlines(&self) -> Result<SweepReport, PlatformError> {
        let mut report = SweepReport::default();
        let mut policies: HashMap<String, CasePolicy> = HashMap::new();
        for _round in 0..50 {
            let now = self.store.clock().now_ms();
            let due = self.store.cases_past_deadline(now, SWEEP_BATCH).await?;
            let full = due.len() == SWEEP_BATCH as usize;
            let mut progressed = false;
            for case in due {
                let policy = match policies.get(&case.district) {
                    Some(p) => p.clone(),
                    None => {
                        let p = self.store.case_policy(&case.district).await?;
                        policies.insert(case.district.clone(), p.clone());
                        p
                    }
                };
                match self.sweep_one(case, &policy, now, &mut report).await {
                    Ok(()) => progressed = true,
                    Err(PlatformError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            if !full || !progressed {
                break;
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                flagged = report.flagged,
                escalated = report.escalated,
                "case deadlines swept"
            );
        }
        Ok(report)
    }

    async fn sweep_one(
        &self,
        mut case: CaseRow,
        policy: &CasePolicy,
        now: i64,
        report: &mut SweepReport,
    ) -> Result<(), PlatformError> {
        let phase = case.state.phase().map(|p| p.as_str()).unwrap_or("current");
        let escalate_to = if policy.auto_escalate && Action::Escalate.next(case.state).is_some() {
            case.tier.up()
        } else {
            None
        };
        if !case.overdue {
            let mut flag = CaseChange::of(&case, "overdue", "system", now);
            flag.overdue = true;
            flag.note = Some(format!(
                "the {phase} time limit ran out at {}",
                crate::cases::format_ms(case.deadline_at.unwrap_or(now))
            ));
            if escalate_to.is_none() {
                flag.deadline_at = None;
            }
            case = self.store.apply_case_change(&case, &flag).await?.0;
            report.flagged += 1;
        }
        if let Some(up) = escalate_to {
            let next = Action::Escalate.next(case.state).unwrap_or(case.state);
            let mut esc = CaseChange::of(&case, Action::Escalate.as_str(), "system", now);
            esc.tier = up;
            esc.state = next;
            if next == CaseState::Accepted {
                esc.assignee = None;
            }
            esc.note = Some(format!(
                "escalated automatically from the {} to the {up} tier: the {phase} time limit ran out",
                case.tier
            ));
            esc.deadline_at = self
                .deadline(&case.district, &case.category, case.priority, next, now)
                .await?;
            esc.notify_app = true;
            self.store.apply_case_change(&case, &esc).await?;
            report.escalated += 1;
        } else if case.deadline_at.is_some() {
            // Flagged earlier while escalation was on; nothing more to do.
            let mut stop = CaseChange::of(&case, "overdue", "system", now);
            stop.deadline_at = None;
            stop.note = Some(format!("still overdue; the {phase} time limit ran out"));
            self.store.apply_case_change(&case, &stop).await?;
        }
        Ok(())
    }

    /// A district's case figures.
    pub async fn case_figures(&self, district: &str) -> Result<CaseFigures, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store.case_figures(district).await?)
    }

    /// Create or replace a category.
    pub async fn put_category(
        &self,
        district: &str,
        c: Category,
    ) -> Result<Category, PlatformError> {
        self.require_district(district).await?;
        if !is_valid_code(&c.code) {
            return Err(PlatformError::Invalid(format!(
                "category code `{}` is invalid: use 1 to 63 characters of a-z, 0-9, '-' and '_'",
                c.code
            )));
        }
        check_text("category name", &c.name, true)?;
        check_text("category description", &c.description, false)?;
        check_text("category group", &c.group, false)?;
        self.store.put_category(district, &c).await?;
        Ok(c)
    }

    /// Create or replace a department, checking its unit and members.
    pub async fn put_department(
        &self,
        district: &str,
        d: Department,
    ) -> Result<Department, PlatformError> {
        self.require_district(district).await?;
        if !is_valid_code(&d.id) {
            return Err(PlatformError::Invalid(format!(
                "department id `{}` is invalid: use 1 to 63 characters of a-z, 0-9, '-' and '_'",
                d.id
            )));
        }
        check_text("department name", &d.name, true)?;
        let unit_ok = match (d.tier, d.unit_id.as_deref()) {
            (Tier::Grid, Some(u)) => self.store.locate_grid(district, u).await?.is_some(),
            (Tier::Community, Some(u)) => self.store.locate_community(district, u).await?.is_some(),
            (Tier::Street, Some(u)) => self.store.street_exists(district, u).await?,
            (Tier::District | Tier::City, None) => true,
            _ => false,
        };
        if !unit_ok {
            return Err(PlatformError::Invalid(match d.unit_id.as_deref() {
                Some(u) if d.tier.has_unit() => {
                    format!("{} `{u}` does not exist in district `{district}`", d.tier)
                }
                Some(_) => format!(
                    "a {}-tier department serves the whole {}; leave unit_id out",
                    d.tier, d.tier
                ),
                None => format!(
                    "a {}-tier department needs the unit_id of its {}",
                    d.tier, d.tier
                ),
            }));
        }
        for m in &d.members {
            let ok = match self.store.get_account(m).await {
                Ok(a) => a.role == Role::Worker && a.district.as_deref() == Some(district),
                Err(StoreError::NotFound(_)) => false,
                Err(e) => return Err(e.into()),
            };
            if !ok {
                return Err(PlatformError::Invalid(format!(
                    "member `{m}` is not a worker account of district `{district}`"
                )));
            }
        }
        self.store.put_department(district, &d).await?;
        Ok(d)
    }

    /// Replace a district's time limits.
    pub async fn set_deadlines(
        &self,
        district: &str,
        all: Vec<Deadline>,
    ) -> Result<Vec<Deadline>, PlatformError> {
        self.require_district(district).await?;
        let categories = self.store.categories(district).await?;
        let mut seen = std::collections::HashSet::new();
        for d in &all {
            if d.category != "*" && !categories.iter().any(|c| c.code == d.category) {
                return Err(PlatformError::Invalid(format!(
                    "deadline for unknown category `{}`; use `*` or one of: {}",
                    d.category,
                    list(categories.iter().map(|c| c.code.as_str()))
                )));
            }
            for (name, m) in [
                ("accept_minutes", d.accept_minutes),
                ("handle_minutes", d.handle_minutes),
                ("verify_minutes", d.verify_minutes),
            ] {
                if !(1..=525_600).contains(&m) {
                    return Err(PlatformError::Invalid(format!(
                        "{name} = {m} for `{}`/{} is out of range: allowed 1..=525600 (a year)",
                        d.category, d.priority
                    )));
                }
            }
            if !seen.insert((d.category.clone(), d.priority)) {
                return Err(PlatformError::Invalid(format!(
                    "two time limits for `{}`/{}; give one",
                    d.category, d.priority
                )));
            }
        }
        self.store.set_deadlines(district, &all).await?;
        Ok(all)
    }

    /// Set a district's case policy.
    pub async fn set_case_policy(
        &self,
        district: &str,
        policy: CasePolicy,
    ) -> Result<CasePolicy, PlatformError> {
        self.require_district(district).await?;
        if !(0..=365).contains(&policy.reopen_days) {
            return Err(PlatformError::Invalid(format!(
                "reopen_days = {} is out of range: allowed 0..=365",
                policy.reopen_days
            )));
        }
        self.store.set_case_policy(district, &policy).await?;
        Ok(policy)
    }
}

/// Whether a unit located at `l` lies within the case's unit.
fn within(l: &Location, case: &CaseRow) -> bool {
    match case.tier {
        Tier::Grid => l.grid_id.is_some() && l.grid_id == case.grid_id,
        Tier::Community => l.community_id.is_some() && l.community_id == case.community_id,
        Tier::Street => l.street_id.is_some() && l.street_id == case.street_id,
        Tier::District | Tier::City => true,
    }
}
