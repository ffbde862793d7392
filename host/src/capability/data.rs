//! `hutong:platform/data`: the community data model, read within the
//! install's scope, masked by the host unless the install holds
//! `read-personal-fields`, and every call recorded in the access log.
//!
//! Nothing is handed to an app unless its access was logged first: if the
//! log cannot be written, the call fails as `unavailable`.

use crate::bindings::WitError;
use crate::bindings::hutong::platform::data::{
    Building, BuildingPage, FieldClass, Host, Household, HouseholdPage, Member, MemberPage,
    Organisation, OrganisationKind, OrganisationPage, Resident, ResidentPage, ResidentQuery,
};
use crate::community;
use crate::community::mask;
use crate::identity::Role;
use crate::manifest::Permission;
use crate::runtime::AppState;
use crate::store::{HouseholdRow, ListFilter, NewAccess, ResidentFilter, ResidentRow, StoreError};

/// Most residents one page may hold.
pub const MAX_PAGE: u32 = 500;

/// What a granted install may see.
struct Grant {
    personal: bool,
    scope: Option<Vec<String>>,
}

impl Grant {
    fn field_class(&self) -> &'static str {
        if self.personal { "personal" } else { "masked" }
    }

    fn in_scope(&self, community: &str) -> bool {
        self.scope
            .as_ref()
            .is_none_or(|s| s.iter().any(|c| c == community))
    }
}

fn unavailable(err: StoreError) -> WitError {
    tracing::error!(error = %err, "data access failed");
    WitError::Unavailable("community data is unavailable; try again later".to_owned())
}

/// Writes access-log entries for one call; owns what it needs so no
/// borrow of the (non-`Sync`) store data is held across an await.
struct AccessLog {
    store: crate::store::Store,
    call: std::sync::Arc<crate::runtime::InstallIdentity>,
    request_id: String,
}

impl AccessLog {
    async fn record(
        &self,
        operation: &str,
        permission: Permission,
        allowed: bool,
        ids: &[String],
        field_class: &str,
    ) -> Result<(), WitError> {
        self.store
            .log_access(NewAccess {
                district: &self.call.district,
                app: &self.call.app,
                version: &self.call.version,
                request_id: &self.request_id,
                operation,
                permission: permission.name(),
                allowed,
                record_ids: ids,
                field_class,
            })
            .await
            .map_err(unavailable)
    }
}

impl AppState {
    fn access_log(&self) -> AccessLog {
        AccessLog {
            store: self.store.clone(),
            call: self.call.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// The allow-check for every data call: the one place it is decided.
    /// A denial is recorded in the access log like any other call.
    async fn data_grant(
        &mut self,
        operation: &str,
        permission: Permission,
    ) -> Result<(Grant, AccessLog), WitError> {
        let log = self.access_log();
        if let Err(denied) = self.call.require(permission) {
            log.record(operation, permission, false, &[], "").await?;
            return Err(denied);
        }
        let grant = Grant {
            personal: self.call.granted.contains(&Permission::ReadPersonalFields),
            scope: self.call.scope.clone(),
        };
        Ok((grant, log))
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

fn to_wit(row: ResidentRow, personal: bool) -> Resident {
    let r = row.resident;
    let birth_year = r.birth_date.as_deref().and_then(mask::birth_year);
    if personal {
        Resident {
            id: r.id,
            household_id: r.household_id,
            building_id: row.building_id,
            grid_id: r.grid_id,
            community_id: row.community_id,
            tags: r.tags,
            name: r.name,
            phone: r.phone,
            id_number: r.id_number,
            birth_year,
            birth_date: r.birth_date,
            address: r.address,
            family_contact_name: r.family_contact_name,
            family_contact_phone: r.family_contact_phone,
            field_class: FieldClass::Personal,
        }
    } else {
        Resident {
            id: r.id,
            household_id: r.household_id,
            building_id: row.building_id,
            grid_id: r.grid_id,
            community_id: row.community_id,
            tags: r.tags,
            name: mask::name(&r.name),
            phone: r.phone.as_deref().map(mask::phone),
            id_number: r.id_number.as_deref().map(mask::id_number),
            birth_year,
            birth_date: None,
            address: row.building_name,
            family_contact_name: None,
            family_contact_phone: None,
            field_class: FieldClass::Masked,
        }
    }
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

fn household_to_wit(row: HouseholdRow) -> Household {
    Household {
        id: row.household.id,
        building_id: row.household.building_id,
        grid_id: row.grid_id,
        community_id: row.community_id,
        unit: row.household.unit,
        room: row.household.room,
    }
}

fn building_to_wit(b: community::Building) -> Building {
    Building {
        id: b.id,
        community_id: b.community_id,
        grid_id: b.grid_id,
        name: b.name,
    }
}

fn kind_to_wit(kind: community::OrganisationKind) -> OrganisationKind {
    match kind {
        community::OrganisationKind::PartyBranch => OrganisationKind::PartyBranch,
        community::OrganisationKind::SocialOrganisation => OrganisationKind::SocialOrganisation,
        community::OrganisationKind::PropertyCompany => OrganisationKind::PropertyCompany,
    }
}

fn kind_from_wit(kind: OrganisationKind) -> community::OrganisationKind {
    match kind {
        OrganisationKind::PartyBranch => community::OrganisationKind::PartyBranch,
        OrganisationKind::SocialOrganisation => community::OrganisationKind::SocialOrganisation,
        OrganisationKind::PropertyCompany => community::OrganisationKind::PropertyCompany,
    }
}

fn organisation_to_wit(o: community::Organisation) -> Organisation {
    Organisation {
        id: o.id,
        community_id: o.community_id,
        kind: kind_to_wit(o.kind),
        name: o.name,
    }
}

impl Host for AppState {
    async fn get_household(&mut self, id: String) -> Result<Household, WitError> {
        const OP: &str = "get-household";
        let (grant, log) = self.data_grant(OP, Permission::ReadHouseholds).await?;
        check_id("household id", &id)?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_households(&log.call.district, Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|r| r.household.id.clone()).collect();
        log.record(OP, Permission::ReadHouseholds, true, &ids, "")
            .await?;
        rows.into_iter()
            .next()
            .map(household_to_wit)
            .ok_or(WitError::NotFound)
    }

    async fn list_households(
        &mut self,
        building_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HouseholdPage, WitError> {
        const OP: &str = "list-households";
        let (grant, log) = self.data_grant(OP, Permission::ReadHouseholds).await?;
        check_limit(limit)?;
        check_ids(&[
            ("building id", Some(&building_id)),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            building_id: Some(&building_id),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_households(&log.call.district, None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |r| r.household.id.clone());
        let ids: Vec<String> = rows.iter().map(|r| r.household.id.clone()).collect();
        log.record(OP, Permission::ReadHouseholds, true, &ids, "")
            .await?;
        Ok(HouseholdPage {
            households: rows.into_iter().map(household_to_wit).collect(),
            next_cursor,
        })
    }

    async fn get_building(&mut self, id: String) -> Result<Building, WitError> {
        const OP: &str = "get-building";
        let (grant, log) = self.data_grant(OP, Permission::ReadBuildings).await?;
        check_id("building id", &id)?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_buildings(&log.call.district, Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|b| b.id.clone()).collect();
        log.record(OP, Permission::ReadBuildings, true, &ids, "")
            .await?;
        rows.into_iter()
            .next()
            .map(building_to_wit)
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
        let (grant, log) = self.data_grant(OP, Permission::ReadBuildings).await?;
        check_limit(limit)?;
        check_ids(&[
            ("community id", community_id.as_deref()),
            ("grid id", grid_id.as_deref()),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            community_id: community_id.as_deref(),
            grid_id: grid_id.as_deref(),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_buildings(&log.call.district, None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |b| b.id.clone());
        let ids: Vec<String> = rows.iter().map(|b| b.id.clone()).collect();
        log.record(OP, Permission::ReadBuildings, true, &ids, "")
            .await?;
        Ok(BuildingPage {
            buildings: rows.into_iter().map(building_to_wit).collect(),
            next_cursor,
        })
    }

    async fn get_organisation(&mut self, id: String) -> Result<Organisation, WitError> {
        const OP: &str = "get-organisation";
        let (grant, log) = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_id("organisation id", &id)?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_organisations(&log.call.district, Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        log.record(OP, Permission::ReadOrganisations, true, &ids, "")
            .await?;
        rows.into_iter()
            .next()
            .map(organisation_to_wit)
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
        let (grant, log) = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_limit(limit)?;
        check_ids(&[
            ("community id", community_id.as_deref()),
            ("cursor", cursor.as_deref()),
        ])?;
        let filter = ListFilter {
            scope: grant.scope.as_deref(),
            community_id: community_id.as_deref(),
            kind: kind.map(|k| kind_from_wit(k).as_str()),
            after: cursor.as_deref(),
            limit: limit + 1,
            ..ListFilter::default()
        };
        let rows = log
            .store
            .list_organisations(&log.call.district, None, &filter)
            .await
            .map_err(unavailable)?;
        let (rows, next_cursor) = page(rows, limit, |o| o.id.clone());
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        log.record(OP, Permission::ReadOrganisations, true, &ids, "")
            .await?;
        Ok(OrganisationPage {
            organisations: rows.into_iter().map(organisation_to_wit).collect(),
            next_cursor,
        })
    }

    async fn worker_grids(&mut self, account_id: String) -> Result<Vec<String>, WitError> {
        const OP: &str = "worker-grids";
        let (grant, log) = self.data_grant(OP, Permission::ReadResidents).await?;
        check_id("account id", &account_id)?;
        let account = match log.store.get_account(&account_id).await {
            Ok(account) => Some(account),
            Err(StoreError::NotFound(_)) => None,
            Err(err) => return Err(unavailable(err)),
        };
        let worker = account.filter(|a| {
            a.role == Role::Worker
                && a.district.as_deref() == Some(log.call.district.as_str())
                && a.disabled_at.is_none()
        });
        let Some(worker) = worker else {
            log.record(OP, Permission::ReadResidents, true, &[], "")
                .await?;
            return Err(WitError::NotFound);
        };
        let communities = log
            .store
            .grid_communities(&log.call.district)
            .await
            .map_err(unavailable)?;
        let grids: Vec<String> = worker
            .grids
            .into_iter()
            .filter(|g| communities.get(g).is_some_and(|c| grant.in_scope(c)))
            .collect();
        log.record(
            OP,
            Permission::ReadResidents,
            true,
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
        let (grant, log) = self.data_grant(OP, Permission::ReadOrganisations).await?;
        check_limit(limit)?;
        check_ids(&[
            ("organisation id", Some(&organisation_id)),
            ("cursor", cursor.as_deref()),
        ])?;
        // The organisation must be in scope, or it does not exist for the app.
        let scoped = ListFilter {
            scope: grant.scope.as_deref(),
            limit: 1,
            ..ListFilter::default()
        };
        let visible = !log
            .store
            .list_organisations(&log.call.district, Some(&organisation_id), &scoped)
            .await
            .map_err(unavailable)?
            .is_empty();
        let rows = if visible {
            log.store
                .list_members(
                    &log.call.district,
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
        log.record(OP, Permission::ReadOrganisations, true, &ids, "")
            .await?;
        if !visible {
            return Err(WitError::NotFound);
        }
        Ok(MemberPage {
            members: rows
                .into_iter()
                .map(|m| Member {
                    resident_id: m.resident_id,
                    role: m.role,
                })
                .collect(),
            next_cursor,
        })
    }

    async fn get_resident(&mut self, id: String) -> Result<Resident, WitError> {
        const OP: &str = "get-resident";
        let (grant, log) = self.data_grant(OP, Permission::ReadResidents).await?;
        check_id("resident id", &id)?;
        let row = log
            .store
            .get_resident(&log.call.district, &id)
            .await
            .map_err(unavailable)?
            .filter(|row| grant.in_scope(&row.community_id));
        let ids: Vec<String> = row.iter().map(|r| r.resident.id.clone()).collect();
        log.record(
            OP,
            Permission::ReadResidents,
            true,
            &ids,
            grant.field_class(),
        )
        .await?;
        row.map(|r| to_wit(r, grant.personal))
            .ok_or(WitError::NotFound)
    }

    async fn query_residents(&mut self, query: ResidentQuery) -> Result<ResidentPage, WitError> {
        const OP: &str = "query-residents";
        let (grant, log) = self.data_grant(OP, Permission::ReadResidents).await?;
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
        let today = community::today();
        let filter = ResidentFilter {
            scope: grant.scope.as_deref(),
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
        let mut rows = log
            .store
            .query_residents(&log.call.district, &filter)
            .await
            .map_err(unavailable)?;
        let next_cursor = if rows.len() > query.limit as usize {
            rows.truncate(query.limit as usize);
            rows.last().map(|r| r.resident.id.clone())
        } else {
            None
        };
        let ids: Vec<String> = rows.iter().map(|r| r.resident.id.clone()).collect();
        log.record(
            OP,
            Permission::ReadResidents,
            true,
            &ids,
            grant.field_class(),
        )
        .await?;
        Ok(ResidentPage {
            residents: rows
                .into_iter()
                .map(|r| to_wit(r, grant.personal))
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
