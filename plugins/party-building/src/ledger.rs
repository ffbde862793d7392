//! The points ledger: append-only.
//!
//! Every entry is written with insert-if-absent under a key no other entry
//! has, and the app has no route that changes or removes one: a mistake is
//! put right by a correcting entry (`POST /branches/{b}/ledger/corrections`),
//! so the ledger keeps the whole story. Entries the app derives itself have
//! ids fixed by what caused them (`att.{activity}`, `vol.{log}`), so a
//! retried request never awards twice.

use hutong_sdk::{Error, kv};

use crate::records::{LedgerEntry, MemberId, Standing, Status, key};
use crate::settings::Settings;

/// Add an entry; `false` if an entry with that key was already there.
pub fn append(branch: &str, month_key: &str, entry: &LedgerEntry) -> Result<bool, Error> {
    let key = key::ledger(
        branch,
        month_key,
        &entry.member,
        &entry.entry,
        entry.points_tenths,
    );
    let value = serde_json::to_vec(entry)
        .map_err(|e| Error::Internal(format!("could not encode a ledger entry: {e}")))?;
    kv::insert_if_absent(&key, &value)
}

/// The points (tenths) and number of entries of `member` in a month whose
/// entry ids start with `entry_prefix`.
pub fn sum(
    branch: &str,
    month_key: &str,
    member: &MemberId,
    entry_prefix: &str,
) -> Result<(i64, usize), Error> {
    let prefix = format!("pts/{branch}/{month_key}/{member}/{entry_prefix}");
    let mut total = 0;
    let mut count = 0;
    for key in kv::keys(&prefix) {
        total += points_of(&key?);
        count += 1;
    }
    Ok((total, count))
}

/// The signed tenths at the end of a ledger key.
pub fn points_of(key: &str) -> i64 {
    key.rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Bring a member's attendance points for an activity in line with how
/// they stand: the points for one attendance when present, none otherwise.
/// Writes one entry for the difference, if there is one: the first award is
/// `att.{activity}` (so two check-ins at once award once), a later change
/// `att.{activity}.{stamp}`, stamped with the record by hand that caused it.
pub struct Settle<'a> {
    /// The activity's branch.
    pub branch: &'a str,
    /// The activity's month key.
    pub month_key: &'a str,
    /// The month, `YYYY-MM`.
    pub month: &'a str,
    /// The activity.
    pub activity: &'a str,
    /// Its title, for the reason.
    pub title: &'a str,
    /// Whose points.
    pub member: &'a MemberId,
    /// How they stand now.
    pub standing: Standing,
    /// Who caused the change.
    pub by: &'a str,
    /// Now.
    pub now_ms: i64,
    /// The record by hand's stamp, when one caused it.
    pub stamp: Option<i64>,
}

impl Settle<'_> {
    /// Write the difference; returns it (tenths).
    pub fn run(&self, settings: &Settings) -> Result<i64, Error> {
        let target = if self.standing.status == Status::Present {
            settings.attendance_tenths()
        } else {
            0
        };
        let entry_base = format!("att.{}", self.activity);
        let (current, count) = sum(self.branch, self.month_key, self.member, &entry_base)?;
        let delta = target - current;
        if delta == 0 {
            return Ok(0);
        }
        let entry = match (count, self.stamp) {
            (0, _) => entry_base,
            (_, Some(stamp)) => format!("{entry_base}.{stamp:013}"),
            (_, None) => format!("{entry_base}.{:013}", self.now_ms),
        };
        let reason = if delta > 0 {
            format!("attended: {}", self.title)
        } else {
            format!(
                "attendance changed to {}: {}",
                self.standing.status.as_str(),
                self.title
            )
        };
        append(
            self.branch,
            self.month_key,
            &LedgerEntry {
                entry,
                member: self.member.clone(),
                month: self.month.to_owned(),
                points_tenths: delta,
                reason,
                corrects: None,
                by: self.by.to_owned(),
                at_ms: self.now_ms,
            },
        )?;
        Ok(delta)
    }
}

/// Tenths as a number for people: `2`, `2.5`, `-0.5`.
pub fn tenths_to_f64(tenths: i64) -> f64 {
    tenths as f64 / 10.0
}

/// A decimal with at most one digit after the point, as tenths; what was
/// wrong otherwise.
pub fn to_tenths(value: f64, what: &str) -> Result<i64, String> {
    let scaled = value * 10.0;
    let rounded = scaled.round();
    if !value.is_finite() || (scaled - rounded).abs() > 1e-6 || rounded.abs() > 1e9 {
        return Err(format!(
            "{what} must be a number with at most one digit after the point, got {value}"
        ));
    }
    Ok(rounded as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_are_exact_or_refused() {
        assert_eq!(to_tenths(2.5, "hours"), Ok(25));
        assert_eq!(to_tenths(-0.1, "points"), Ok(-1));
        assert!(to_tenths(1.25, "hours").unwrap_err().contains("hours"));
        assert!(to_tenths(f64::NAN, "hours").is_err());
        assert_eq!(points_of("pts/b/202603/r.x/att.a/+20"), 20);
        assert_eq!(points_of("pts/b/202603/r.x/cor.a/-5"), -5);
    }
}
