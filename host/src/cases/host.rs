//! `hutong:platform/cases`: an app opens cases (work orders), reads and
//! comments on the cases it opened, and is told about their transitions
//! through its `case-watcher` export.
//!
//! Permissions: `open-cases` for `open`, `read-own-cases` for `get`,
//! `history`, `list` and for being told about changes, `comment-cases` for
//! `comment`. [`AppState::case_desk`] is the one place a call's permission is
//! decided, and [`admit_watcher`] the one place a change's delivery is.
//!
//! The case rules themselves (what a report must hold, who sees which case,
//! what an app may do to one) are the platform's, shared with workers,
//! residents and Open311: this module only speaks for the app
//! ([`CaseActor::App`]), keeps its reports inside the install's scope, and
//! turns the platform's answers into WIT. An app sees only its own cases;
//! any other is `not-found`, exactly like one that does not exist.
//!
//! Every call is recorded in the access log (field class `case`), denials
//! included. Reads are recorded before anything is handed to the app, so a
//! read whose entry cannot be written fails as `unavailable`. An `open` or a
//! `comment` is recorded after it is made: the case's own history names the
//! app as its actor in the same transaction, so if the entry cannot be
//! written the write is still on record there, and the app is not told it
//! failed (it would open the case again).

use std::sync::Arc;

use crate::cases::ops::{CaseActor, CaseCommand, CaseReport, Cases};
use crate::cases::store::CaseFilter;
use crate::cases::{Action, CaseState};
use crate::error::PlatformError;
use crate::kernel::app_state::AppState;
use crate::kernel::grant::{Access, Grant};
use crate::kernel::manifest::Permission;
use crate::kernel::store::MAX_PAGE;
use crate::kernel::store::{Store, StoreError};
use crate::kernel::wit::WitError;
use crate::kernel::wit::case_types::CaseState as WitState;
use crate::kernel::wit::hutong::platform::cases::{
    CaseEvent, CaseInfo, CasePage, CaseReport as WitReport, Host,
};

/// The access log's field class for case records.
pub const FIELD_CLASS: &str = "case";

/// How often a comment is retried when a worker changes the case at the
/// same moment (a comment does not depend on the case's state).
const COMMENT_TRIES: usize = 3;

/// What a granted call works with: the case operations over the store,
/// acting as the app, and the access log.
struct CaseDesk {
    store: Store,
    grant: Arc<Grant>,
    request_id: String,
    operation: &'static str,
    permission: Permission,
    /// The district's turn at the database, for the whole call.
    _turn: Option<crate::kernel::app_state::DatabaseTurn>,
}

impl CaseDesk {
    fn cases(&self) -> Cases<'_> {
        Cases::new(&self.store)
    }

    fn district(&self) -> &str {
        &self.grant.district
    }

    fn actor(&self) -> CaseActor {
        CaseActor::App(self.grant.app.clone())
    }

    async fn log(&self, allowed: bool, ids: &[String]) -> Result<(), StoreError> {
        let access = case_access(self.operation, self.permission, allowed, ids);
        self.grant
            .audit(&self.store, &self.request_id, access)
            .await
    }

    /// Record a read before its result reaches the app; without the entry,
    /// nothing is handed over.
    async fn log_read(&self, ids: &[String]) -> Result<(), WitError> {
        self.log(true, ids).await.map_err(unavailable)
    }

    /// Record a write already made (and on record in the case's history).
    async fn log_write(&self, ids: &[String]) {
        if let Err(err) = self.log(true, ids).await {
            tracing::error!(
                operation = self.operation,
                cases = ?ids,
                error = %err,
                "could not record an app's case write in the access log; the case history holds it"
            );
        }
    }

    /// The platform's refusal as the app sees it.
    fn refusal(&self, err: PlatformError) -> WitError {
        match err {
            PlatformError::NotFound(_) => WitError::NotFound,
            PlatformError::Invalid(message) => WitError::InvalidArgument(message),
            PlatformError::Forbidden(why) => {
                tracing::warn!(operation = self.operation, why, "case operation refused");
                WitError::Denied(self.permission.name().to_owned())
            }
            PlatformError::Conflict(message) => WitError::Unavailable(message),
            other => {
                tracing::error!(operation = self.operation, error = %other, "case operation failed");
                WitError::Unavailable("cases are unavailable; try again later".to_owned())
            }
        }
    }
}

/// A use of `cases` as the access log records it: field class `case` when
/// it reached cases.
fn case_access<'a>(
    operation: &'a str,
    permission: Permission,
    allowed: bool,
    ids: &'a [String],
) -> Access<'a> {
    if allowed {
        let field_class = if ids.is_empty() { "" } else { FIELD_CLASS };
        Access::allowed(operation, permission, ids, field_class)
    } else {
        Access::denied(operation, permission)
    }
}

fn unavailable(err: StoreError) -> WitError {
    tracing::error!(error = %err, "case access failed");
    WitError::Unavailable("cases are unavailable; try again later".to_owned())
}

impl AppState {
    /// The allow-check for every `cases` call: the one place it is decided.
    /// A denial is recorded in the access log like any other call.
    async fn case_desk(
        &mut self,
        operation: &'static str,
        permission: Permission,
    ) -> Result<CaseDesk, WitError> {
        let turn = self.database_turn();
        let desk = CaseDesk {
            store: self.store.clone(),
            grant: self.grant.clone(),
            request_id: self.request_id.clone(),
            operation,
            permission,
            _turn: turn.await,
        };
        if let Err(denied) = self.grant.require(permission) {
            desk.log(false, &[]).await.map_err(unavailable)?;
            return Err(denied);
        }
        Ok(desk)
    }
}

/// Whether an install may be told about a change of a case it opened: the
/// one place that decides (it needs `read-own-cases`, the permission to read
/// the case at all). The delivery, or its refusal, is recorded in the access
/// log before anything reaches the app. `Ok(Err(permission))` names the
/// permission the install lacks.
pub(crate) async fn admit_watcher(
    store: &Store,
    grant: &Grant,
    request_id: &str,
    case_id: i64,
) -> Result<Result<(), Permission>, StoreError> {
    const OPERATION: &str = "case-watcher.on-case-changed";
    let permission = Permission::ReadOwnCases;
    let granted = grant.require(permission).is_ok();
    let ids = if granted {
        vec![case_id.to_string()]
    } else {
        Vec::new()
    };
    let access = case_access(OPERATION, permission, granted, &ids);
    grant.audit(store, request_id, access).await?;
    Ok(if granted { Ok(()) } else { Err(permission) })
}

/// A case id as the app gives it: the decimal number `open` returned.
fn case_id(id: &str) -> Result<i64, WitError> {
    let parsed = (!id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()))
        .then(|| id.parse::<i64>().ok())
        .flatten()
        .filter(|n| *n > 0);
    parsed.ok_or_else(|| {
        WitError::InvalidArgument(format!(
            "case id `{}` is invalid: give the decimal number `open` returned (for example `42`)",
            id.chars().take(40).collect::<String>()
        ))
    })
}

fn check_id(what: &str, id: &str) -> Result<(), WitError> {
    match crate::kernel::ids::record_id_problem(what, id) {
        Some(problem) => Err(WitError::InvalidArgument(problem)),
        None => Ok(()),
    }
}

/// Refuse a report whose grid, building or resident lies outside the
/// communities the install was narrowed to, with the very words the
/// platform uses for one that does not exist: an app cannot tell the two
/// apart, as with the data it reads.
async fn check_scope(store: &Store, grant: &Grant, report: &WitReport) -> Result<(), WitError> {
    if grant.scope.is_none() {
        return Ok(());
    }
    let district = grant.district.as_str();
    let in_scope = |community: Option<&str>| community.is_some_and(|c| grant.in_scope(c));
    if let Some(grid) = &report.grid_id
        && let Some(location) = store
            .locate_grid(district, grid)
            .await
            .map_err(unavailable)?
        && !in_scope(location.community_id.as_deref())
    {
        return Err(WitError::InvalidArgument(format!(
            "grid `{grid}` does not exist in district `{district}`"
        )));
    }
    if let Some(building) = &report.building_id
        && let Some(location) = store
            .locate_building(district, building)
            .await
            .map_err(unavailable)?
        && !in_scope(location.community_id.as_deref())
    {
        return Err(WitError::InvalidArgument(format!(
            "building `{building}` does not exist in district `{district}`"
        )));
    }
    if let Some(resident) = &report.resident_id
        && let Some(community) = store
            .resident_community(district, resident)
            .await
            .map_err(unavailable)?
        && !in_scope(Some(&community))
    {
        return Err(WitError::InvalidArgument(format!(
            "resident `{resident}` does not exist in district `{district}`"
        )));
    }
    Ok(())
}

impl AppState {
    /// `open` and `open-for-resident`: the same checks and the same log;
    /// `for_resident` marks the case as the resident's own to follow.
    async fn open_case(
        &mut self,
        operation: &'static str,
        report: WitReport,
        for_resident: bool,
    ) -> Result<String, WitError> {
        let desk = self.case_desk(operation, Permission::OpenCases).await?;
        for (what, id) in [
            ("grid id", report.grid_id.as_deref()),
            ("building id", report.building_id.as_deref()),
            ("resident id", report.resident_id.as_deref()),
        ] {
            if let Some(id) = id {
                check_id(what, id)?;
            }
        }
        if for_resident && report.resident_id.is_none() {
            return Err(WitError::InvalidArgument(
                "open-for-resident needs `resident-id`: the resident the case is opened for".into(),
            ));
        }
        check_scope(&desk.store, &desk.grant, &report).await?;
        let case = desk
            .cases()
            .report_case(
                desk.district(),
                &desk.actor(),
                CaseReport {
                    category: report.category,
                    priority: Some(report.priority.into()),
                    grid_id: report.grid_id,
                    building_id: report.building_id,
                    description: report.description,
                    resident_id: report.resident_id,
                    attachments: report.attachments,
                    for_resident,
                    ..CaseReport::default()
                },
            )
            .await
            .map_err(|e| desk.refusal(e))?;
        let id = case.id.to_string();
        desk.log_write(std::slice::from_ref(&id)).await;
        Ok(id)
    }
}

impl Host for AppState {
    async fn open(&mut self, report: WitReport) -> Result<String, WitError> {
        self.open_case("cases.open", report, false).await
    }

    async fn open_for_resident(&mut self, report: WitReport) -> Result<String, WitError> {
        self.open_case("cases.open-for-resident", report, true)
            .await
    }

    async fn get(&mut self, id: String) -> Result<CaseInfo, WitError> {
        let desk = self
            .case_desk("cases.get", Permission::ReadOwnCases)
            .await?;
        let id = case_id(&id)?;
        match desk
            .cases()
            .case_for(desk.district(), id, &desk.actor())
            .await
        {
            Ok(case) => {
                desk.log_read(&[case.id.to_string()]).await?;
                Ok(CaseInfo::from(case))
            }
            Err(PlatformError::NotFound(_)) => {
                desk.log_read(&[]).await?;
                Err(WitError::NotFound)
            }
            Err(e) => Err(desk.refusal(e)),
        }
    }

    async fn history(&mut self, id: String) -> Result<Vec<CaseEvent>, WitError> {
        let desk = self
            .case_desk("cases.history", Permission::ReadOwnCases)
            .await?;
        let id = case_id(&id)?;
        match desk
            .cases()
            .view_case(desk.district(), id, &desk.actor())
            .await
        {
            Ok(view) => {
                desk.log_read(&[view.case.id.to_string()]).await?;
                Ok(view.history.into_iter().map(CaseEvent::from).collect())
            }
            Err(PlatformError::NotFound(_)) => {
                desk.log_read(&[]).await?;
                Err(WitError::NotFound)
            }
            Err(e) => Err(desk.refusal(e)),
        }
    }

    async fn list(
        &mut self,
        state: Option<WitState>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<CasePage, WitError> {
        let desk = self
            .case_desk("cases.list", Permission::ReadOwnCases)
            .await?;
        if limit == 0 || limit > MAX_PAGE {
            return Err(WitError::InvalidArgument(format!(
                "limit must be 1..={MAX_PAGE}, got {limit}"
            )));
        }
        let before = match cursor.as_deref() {
            Some(c) => Some(case_id(c).map_err(|_| {
                WitError::InvalidArgument(format!(
                    "cursor `{}` is invalid: pass the next-cursor of the previous page",
                    c.chars().take(40).collect::<String>()
                ))
            })?),
            None => None,
        };
        // The platform narrows an app's listing to the cases it reported.
        let filter = CaseFilter {
            state: state.map(CaseState::from),
            before,
            limit,
            ..CaseFilter::default()
        };
        let page = desk
            .cases()
            .list_cases(desk.district(), &desk.actor(), filter)
            .await
            .map_err(|e| desk.refusal(e))?;
        let ids: Vec<String> = page.items.iter().map(|c| c.id.to_string()).collect();
        desk.log_read(&ids).await?;
        Ok(CasePage {
            cases: page.items.into_iter().map(CaseInfo::from).collect(),
            next_cursor: page.next.map(|n| n.to_string()),
        })
    }

    async fn comment(&mut self, id: String, text: String) -> Result<(), WitError> {
        let desk = self
            .case_desk("cases.comment", Permission::CommentCases)
            .await?;
        let id = case_id(&id)?;
        let mut tries = 0;
        loop {
            tries += 1;
            let command = CaseCommand {
                action: Action::Comment,
                note: Some(text.clone()),
                assignee: None,
                satisfaction: None,
            };
            match desk
                .cases()
                .act_on_case(desk.district(), id, &desk.actor(), command)
                .await
            {
                Ok(_) => {
                    desk.log_write(&[id.to_string()]).await;
                    return Ok(());
                }
                Err(PlatformError::Conflict(_)) if tries < COMMENT_TRIES => continue,
                Err(PlatformError::NotFound(_)) => {
                    desk.log_read(&[]).await?;
                    return Err(WitError::NotFound);
                }
                Err(e) => return Err(desk.refusal(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_positive_decimal_numbers() {
        assert_eq!(case_id("42").ok(), Some(42));
        for bad in ["", "0", "-1", "+5", "4 2", "x", "99999999999999999999"] {
            assert!(
                matches!(case_id(bad), Err(WitError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
