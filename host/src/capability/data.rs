//! `hutong:platform/data`: the community data model, read within the
//! install's scope, masked by the host unless the install holds
//! `read-personal-fields`, and every call recorded in the access log.
//!
//! Nothing is handed to an app unless its access was logged first: if the
//! log cannot be written, the call fails as `unavailable`.

use std::sync::Arc;

use crate::bindings::WitError;
use crate::bindings::hutong::platform::data::{
    Building, BuildingPage, Host, Household, HouseholdPage, Member, MemberPage, Organisation,
    OrganisationKind, OrganisationPage, Resident, ResidentPage, ResidentQuery,
};
use crate::bindings::resident_to_wit;
use crate::capability::AppState;
use crate::community;
use crate::grant::{Access, Grant};
use crate::identity::Role;
use crate::manifest::Permission;
use crate::store::{ListFilter, ResidentFilter, Store, StoreError};

/// Most residents one page may hold.
pub use crate::store::MAX_PAGE;

fn unavailable(err: StoreError) -> WitError {
    tracing::error!(error = %err, "data access failed");
    WitError::Unavailable("community data is unavailable; try again later".to_owned())
}

/// One granted data call: what it may see, and where its access-log
/// entries go. Owns what it needs so no borrow of the (non-`Sync`) store
/// data is held across an await.
struct DataCall {
    store: Store,
    grant: Arc<Grant>,
    request_id: String,
    /// Whether the install holds `read-personal-fields`.
    personal: bool,
}

impl DataCall {
    fn field_class(&self) -> &'static str {
        if self.personal { "personal" } else { "masked" }
    }

    fn district(&self) -> &str {
        &self.grant.district
    }

    fn scope(&self) -> Option<&[String]> {
        self.grant.scope.as_deref()
    }

    /// Record a read before anything is handed over; without the entry,
    /// the call fails.
    async fn record(
        &self,
        operation: &str,
        permission: Permission,
        ids: &[String],
        field_class: &str,
    ) -> Result<(), WitError> {
        let access = Access::allowed(operation, permission, ids, field_class);
        self.grant
            .audit(&self.store, &self.request_id, access)
            .await
            .map_err(unavailable)
    }
}

impl AppState {
    /// The allow-check for every data call: the one place it is decided.
    /// A denial is recorded in the access log like any other call.
    async fn data_grant(
        &mut self,
        operation: &str,
        permission: Permission,
    ) -> Result<DataCall, WitError> {
        if let Err(denied) = self.grant.require(permission) {
            self.grant
                .audit(
                    &self.store,
                    &self.request_id,
                    Access::denied(operation, permission),
                )
                .await
                .map_err(unavailable)?;
            return Err(denied);
        }
        Ok(DataCall {
            store: self.store.clone(),
            grant: self.grant.clone(),
            request_id: self.request_id.clone(),
            personal: self.grant.holds(Permission::ReadPersonalFields),
        })
    }
}

fn check_id(what: &str, id: &str) -> Result<(), WitError> {
    match community::import::check_id(what, id) {
        Some(problem) => Err(WitError::InvalidArgument(problem)),
        None => Ok(()),
    }
}

/// The date `years` before `today`, as `YYYY-MM-DD` (29 February becomes
/// the 28th in other years).
fn years_before(today: chrono::NaiveDate, years: u32) -> String {
    today
        .checked_sub_months(chrono::Months::new(12 * years))
        .unwrap_or(chrono::NaiveDate::MIN)
        .format("%Y-%m-%d")
        .to_string()
}

fn check_limit(limit: u32) -> Result<(), WitError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(WitError::InvalidArgument(format!(
            "limit must be 1..={MAX_PAGE}, got {limit}"
        )));
    }
    Ok(())
}

fn check_ids(ids: &[(&str, Option<&str>)]) -> Result<(), WitError> {
    for (what, id) in ids {
        if let Some(id) = id {
            check_id(what, id)?;
        }
    }
    Ok(())
}

/// Cut a page fetched with one extra row; the cursor is the last id kept.
fn page<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        let next = rows.last().map(&id);
        (rows, next)
    } else {
        (rows, None)
    }
}

impl Host for AppState {
    async fn get_household(&mut self, id: String) -> Result<Household, WitError> {
        const OP: &str = "get-household";
        let call = self.data_grant(OP, Permission::ReadHouseholds).await?;
        check_id("household id", &id)?;
        let filter = ListFilter {
            scope: call.scope(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_households(call.district(), Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|r| r.household.id.clone()).collect();
        call.record(OP, Permission::ReadHouseholds, &ids, "")
            .await?;
        rows.into_iter()
            .next()
            .map(Household::from)
            .ok_or(WitError::NotFound)
    }

    async fn list_households(
        &mut self,
        building_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HouseholdPage, WitError> {
        const OP: &str = "list-households";
        let call = self.data_grant(OP, Permission::ReadHouseholds).await?;
        check_limit(limit)?;
        check_ids(&[
            ("building id", Some(&building_id)),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: call.scope(),
            building_id: Some(&building_id),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_households(call.district(), None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |r| r.household.id.clone());
        let ids: Vec<String> = rows.iter().map(|r| r.household.id.clone()).collect();
        call.record(OP, Permission::ReadHouseholds, &ids, "")
            .await?;
        Ok(HouseholdPage {
            households: rows.into_iter().map(Household::from).collect(),
            next_cursor,
        })
    }

    async fn get_building(&mut self, id: String) -> Result<Building, WitError> {
        const OP: &str = "get-building";
        let call = self.data_grant(OP, Permission::ReadBuildings).await?;
        check_id("building id", &id)?;
        let filter = ListFilter {
            scope: call.scope(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_buildings(call.district(), Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|b| b.id.clone()).collect();
        call.record(OP, Permission::ReadBuildings, &ids, "").await?;
        rows.into_iter()
            .next()
            .map(Building::from)
            .ok_or(WitError::NotFound)
    }

    async fn list_buildings(
        &mut self,
        community_id: Option<String>,
        grid_id: Option<String>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<BuildingPage, WitError> {
        const OP: &str = "list-buildings";
        let call = self.data_grant(OP, Permission::ReadBuildings).await?;
        check_limit(limit)?;
        check_ids(&[
            ("community id", community_id.as_deref()),
            ("grid id", grid_id.as_deref()),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: call.scope(),
            community_id: community_id.as_deref(),
            grid_id: grid_id.as_deref(),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_buildings(call.district(), None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |b| b.id.clone());
        let ids: Vec<String> = rows.iter().map(|b| b.id.clone()).collect();
        call.record(OP, Permission::ReadBuildings, &ids, "").await?;
        Ok(BuildingPage {
            buildings: rows.into_iter().map(Building::from).collect(),
            next_cursor,
        })
    }

    async fn get_organisation(&mut self, id: String) -> Result<Organisation, WitError> {
        const OP: &str = "get-organisation";
        let call = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_id("organisation id", &id)?;
        let filter = ListFilter {
            scope: call.scope(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_organisations(call.district(), Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        call.record(OP, Permission::ReadOrganisations, &ids, "")
            .await?;
        rows.into_iter()
            .next()
            .map(Organisation::from)
            .ok_or(WitError::NotFound)
    }

    async fn list_organisations(
        &mut self,
        kind: Option<OrganisationKind>,
        community_id: Option<String>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<OrganisationPage, WitError> {
        const OP: &str = "list-organisations";
        let call = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_limit(limit)?;
        check_ids(&[
            ("community id", community_id.as_deref()),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: call.scope(),
            community_id: community_id.as_deref(),
            kind: kind.map(|k| community::OrganisationKind::from(k).as_str()),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = call
            .store
            .list_organisations(call.district(), None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |o| o.id.clone());
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        call.record(OP, Permission::ReadOrganisations, &ids, "")
            .await?;
        Ok(OrganisationPage {
            organisations: rows.into_iter().map(Organisation::from).collect(),
            next_cursor,
        })
    }

    async fn worker_grids(&mut self, account_id: String) -> Result<Vec<String>, WitError> {
        const OP: &str = "worker-grids";
        let call = self.data_grant(OP, Permission::ReadResidents).await?;
        check_id("account id", &account_id)?;
        let account = match call.store.get_account(&account_id).await {
            Ok(account) => Some(account),
            Err(StoreError::NotFound(_)) => None,
            Err(err) => return Err(unavailable(err)),
        };
        let worker = account.filter(|a| {
            a.role == Role::Worker
                && a.district.as_deref() == Some(call.district())
                && a.disabled_at.is_none()
        });
        let Some(worker) = worker else {
            call.record(OP, Permission::ReadResidents, &[], "").await?;
            return Err(WitError::NotFound);
        };
        let communities = call
            .store
            .grid_communities(call.district())
            .await
            .map_err(unavailable)?;
        let grids: Vec<String> = worker
            .grids
            .into_iter()
            .filter(|g| communities.get(g).is_some_and(|c| call.grant.in_scope(c)))
            .collect();
        call.record(
            OP,
            Permission::ReadResidents,
            &[format!("account:{account_id}")],
            "",
        )
        .await?;
        Ok(grids)
    }

    async fn list_members(
        &mut self,
        organisation_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<MemberPage, WitError> {
        const OP: &str = "list-members";
        let call = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_limit(limit)?;
        check_ids(&[
            ("organisation id", Some(&organisation_id)),
            ("cursor", cursor.as_deref()),
        ])?;
        // The organisation must be in scope, or it does not exist for the app.
        let scoped = ListFilter {
            scope: call.scope(),
            limit: 1,
            ..ListFilter::default()
        };
        let visible = !call
            .store
            .list_organisations(call.district(), Some(&organisation_id), &scoped)
            .await
            .map_err(unavailable)?
            .is_empty();
        let rows = if visible {
            call.store
                .list_members(
                    call.district(),
                    &organisation_id,
                    cursor.as_deref(),
                    limit + 1,
                )
                .await
                .map_err(unavailable)?
        } else {
            Vec::new()
        };
        let (rows, next_cursor) = page(rows, limit, |m| m.resident_id.clone());
        let ids: Vec<String> = rows.iter().map(|m| m.resident_id.clone()).collect();
        call.record(OP, Permission::ReadOrganisations, &ids, "")
            .await?;
        if !visible {
            return Err(WitError::NotFound);
        }
        Ok(MemberPage {
            members: rows.into_iter().map(Member::from).collect(),
            next_cursor,
        })
    }

    async fn get_resident(&mut self, id: String) -> Result<Resident, WitError> {
        const OP: &str = "get-resident";
        let call = self.data_grant(OP, Permission::ReadResidents).await?;
        check_id("resident id", &id)?;
        let row = call
            .store
            .get_resident(call.district(), &id)
            .await
            .map_err(unavailable)?
            .filter(|row| call.grant.in_scope(&row.community_id));
        let ids: Vec<String> = row.iter().map(|r| r.resident.id.clone()).collect();
        call.record(OP, Permission::ReadResidents, &ids, call.field_class())
            .await?;
        row.map(|r| resident_to_wit(r, call.personal))
            .ok_or(WitError::NotFound)
    }

    async fn query_residents(&mut self, query: ResidentQuery) -> Result<ResidentPage, WitError> {
        const OP: &str = "query-residents";
        let call = self.data_grant(OP, Permission::ReadResidents).await?;
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(WitError::InvalidArgument(format!(
                "limit must be 1..={MAX_PAGE}, got {}",
                query.limit
            )));
        }
        for (what, id) in [
            ("grid id", query.grid_id.as_deref()),
            ("community id", query.community_id.as_deref()),
            ("household id", query.household_id.as_deref()),
            ("cursor", query.cursor.as_deref()),
        ] {
            if let Some(id) = id {
                check_id(what, id)?;
            }
        }
        // Tags end up in a LIKE pattern: only the import's slugs pass.
        if let Some(problem) = community::import::check_tags(&query.tags)
            .into_iter()
            .next()
        {
            return Err(WitError::InvalidArgument(problem));
        }
        if let (Some(min), Some(max)) = (query.min_age, query.max_age)
            && min > max
        {
            return Err(WitError::InvalidArgument(format!(
                "min-age {min} is greater than max-age {max}"
            )));
        }
        let today = call.store.clock().today();
        let filter = ResidentFilter {
            scope: call.scope(),
            grids: None,
            grid_id: query.grid_id.as_deref(),
            community_id: query.community_id.as_deref(),
            household_id: query.household_id.as_deref(),
            tags: &query.tags,
            born_on_or_before: query.min_age.map(|a| years_before(today, u32::from(a))),
            born_after: query.max_age.map(|a| years_before(today, u32::from(a) + 1)),
            after: query.cursor.as_deref(),
            limit: query.limit + 1,
        };
        let mut rows = call
            .store
            .query_residents(call.district(), &filter)
            .await
            .map_err(unavailable)?;
        let next_cursor = if rows.len() > query.limit as usize {
            rows.truncate(query.limit as usize);
            rows.last().map(|r| r.resident.id.clone())
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|r| r.resident.id.clone()).collect();
        call.record(OP, Permission::ReadResidents, &ids, call.field_class())
            .await?;
        Ok(ResidentPage {
            residents: rows
                .into_iter()
                .map(|r| resident_to_wit(r, call.personal))
                .collect(),
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_before_keeps_month_and_day() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(years_before(day(2026, 11, 22), 60), "1966-11-22");
        assert_eq!(years_before(day(2024, 2, 29), 1), "2023-02-28");
        assert_eq!(years_before(day(2024, 2, 29), 4), "2020-02-29");
    }
}
