//! A change to a case on SQLite's short path
//! ([`lite`](crate::kernel::store::lite)): the update, the history entry
//! and the app's notice as one transaction, with the same statements as
//! the sqlx path beside it.

use rusqlite::{Connection, TransactionBehavior, params};

use super::{CaseChange, CaseRow, INSERT_HISTORY, INSERT_NOTICE, UPDATE_CASE, assignee_parts};
use crate::kernel::store::StoreError;
use crate::kernel::store::lite::statement;

/// [`Store::apply_case_change`](crate::kernel::store::Store::apply_case_change)'s
/// writes: the history entry's id, or none when the case was changed
/// since it was read, and then nothing is written.
pub(super) fn apply_change(
    conn: &mut Connection,
    case: &CaseRow,
    change: &CaseChange,
    notice_app: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (assignee_kind, assignee_id) = assignee_parts(&change.assignee);
    let updated = statement(&tx, UPDATE_CASE)?.execute(params![
        change.state.as_str(),
        change.tier.as_str(),
        assignee_kind,
        assignee_id,
        change.deadline_at,
        i64::from(change.overdue),
        change.satisfaction,
        change.evaluation,
        change.closed_at,
        change.at,
        case.id,
        case.version,
    ])?;
    if updated == 0 {
        // Dropping the transaction rolls it back.
        return Ok(None);
    }
    let history_id: i64 = statement(&tx, INSERT_HISTORY)?.query_row(
        params![
            case.id,
            change.at,
            change.actor,
            change.action,
            case.state.as_str(),
            change.state.as_str(),
            case.tier.as_str(),
            change.tier.as_str(),
            change.note,
        ],
        |row| row.get(0),
    )?;
    if let Some(app) = notice_app {
        statement(&tx, INSERT_NOTICE)?.execute(params![
            case.district,
            app,
            case.id,
            history_id,
            change.at,
        ])?;
    }
    tx.commit()?;
    Ok(Some(history_id))
}
