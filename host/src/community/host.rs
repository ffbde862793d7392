//! `hutong:platform/data`: the community data model, read within the
//! install's scope, masked by the host unless the install holds
//! `read-personal-fields`, and every call recorded in the access log.
//!
//! Nothing is handed to an app unless its access was logged first: if the
//! log cannot be written, the call fails as `unavailable`.

use std::future::Future;
use std::sync::Arc;

use crate::accounts::Role;
use crate::community;
use crate::community::store::{HouseholdRow, ListFilter, ResidentFilter};
use crate::community::wit::resident_to_wit;
use crate::kernel::app_state::AppState;
use crate::kernel::grant::{Access, Grant};
use crate::kernel::manifest::Permission;
use crate::kernel::store::{Page, Store, StoreError};
use crate::kernel::wit::WitError;
use crate::kernel::wit::hutong::platform::data::{
    Building, BuildingPage, Host, Household, HouseholdPage, Member, MemberPage, Organisation,
    OrganisationKind, OrganisationPage, Resident, ResidentPage, ResidentQuery,
};

/// Most residents one page may hold.
pub use crate::kernel::store::MAX_PAGE;

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
    /// The district's turn at the database, for the whole call.
    _turn: Option<crate::kernel::app_state::DatabaseTurn>,
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
    ///
    /// `named` is the record a `get-*` call asked for by id: a denial
    /// records it when it is a well-formed id, so a resident learns of a
    /// refused attempt to read them too.
    async fn data_grant(
        &mut self,
        operation: &str,
        permission: Permission,
        named: Option<&str>,
    ) -> Result<DataCall, WitError> {
        // Reads, and the log of a denial, wait for the district's turn at
        // the database like kv does: a district's flood of reads leaves the
        // rest of the pool to the others.
        let turn = self.database_turn().await;
        if let Err(denied) = self.grant.require(permission) {
            let named: Vec<String> = named
                .filter(|id| crate::kernel::ids::record_id_problem("id", id).is_none())
                .map(|id| vec![id.to_owned()])
                .unwrap_or_default();
            self.grant
                .audit(
                    &self.store,
                    &self.request_id,
                    Access::denied_naming(operation, permission, &named),
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
            _turn: turn,
        })
    }
}

fn check_id(what: &str, id: &str) -> Result<(), WitError> {
    match crate::kernel::ids::record_id_problem(what, id) {
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

/// One kind of community record an app reads by id or a page at a time:
/// households, buildings and organisations are read the same way.
trait Record {
    /// The record as the store returns it.
    type Row: Send;
    /// The record as the app receives it.
    type Wit: From<Self::Row>;
    /// What reading it takes.
    const PERMISSION: Permission;
    /// What its id is called in a refusal.
    const ID: &'static str;

    /// Its id, as written in the access log and used as the cursor.
    fn id(row: &Self::Row) -> &str;

    /// The district's records the filter admits (only `id`, when given).
    fn list(
        store: &Store,
        district: &str,
        id: Option<&str>,
        filter: &ListFilter<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
}

/// A [`Record`] kind: its name, its row and WIT types, the permission, what
/// its id is called, the store's listing, and the id of a row.
macro_rules! record {
    ($kind:ident, $row:ty => $wit:ty, $permission:ident, $id_name:literal, $list:ident, |$r:ident| $id:expr) => {
        struct $kind;

        impl Record for $kind {
            type Row = $row;
            type Wit = $wit;
            const PERMISSION: Permission = Permission::$permission;
            const ID: &'static str = $id_name;

            fn id($r: &$row) -> &str {
                $id
            }

            fn list(
                store: &Store,
                district: &str,
                id: Option<&str>,
                filter: &ListFilter<'_>,
            ) -> impl Future<Output = Result<Vec<$row>, StoreError>> + Send {
                store.$list(district, id, filter)
            }
        }
    };
}

record!(Households, HouseholdRow => Household, ReadHouseholds, "household id", list_households, |r| &r.household.id);
record!(Buildings, community::Building => Building, ReadBuildings, "building id", list_buildings, |r| &r.id);
record!(Organisations, community::Organisation => Organisation, ReadOrganisations, "organisation id", list_organisations, |r| &r.id);

/// The ids of the rows handed over, for the access log.
fn ids_of<R>(rows: &[R], id: impl Fn(&R) -> &str) -> Vec<String> {
    rows.iter().map(|r| id(r).to_owned()).collect()
}

impl AppState {
    /// `get-*` for one kind of record: the record with `id` if it is in
    /// the install's scope, else not-found.
    async fn get_record<K: Record>(&mut self, op: &str, id: String) -> Result<K::Wit, WitError> {
        let call = self.data_grant(op, K::PERMISSION, Some(&id)).await?;
        check_id(K::ID, &id)?;
        let filter = ListFilter {
            scope: call.scope(),
            limit: 1,
            ..ListFilter::default()
        };
        let rows = K::list(&call.store, call.district(), Some(&id), &filter)
            .await
            .map_err(unavailable)?;
        call.record(op, K::PERMISSION, &ids_of(&rows, K::id), "")
            .await?;
        rows.into_iter()
            .next()
            .map(K::Wit::from)
            .ok_or(WitError::NotFound)
    }

    /// `list-*` for one kind of record: a page of what `filter` (the
    /// listing's own conditions) admits in the install's scope, after
    /// `cursor`. `ids` are the listing's id arguments, checked after the
    /// limit and before the cursor.
    async fn list_records<K: Record>(
        &mut self,
        op: &str,
        ids: &[(&str, Option<&str>)],
        filter: ListFilter<'_>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<K::Wit, String>, WitError> {
        let call = self.data_grant(op, K::PERMISSION, None).await?;
        check_limit(limit)?;
        check_ids(ids)?;
        check_ids(&[("cursor", cursor)])?;
        let filter = ListFilter {
            scope: call.scope(),
            after: cursor,
            limit: limit + 1,
            ..filter
        };
        let rows = K::list(&call.store, call.district(), None, &filter)
            .await
            .map_err(unavailable)?;
        let page = Page::cut(rows, limit, |r| K::id(r).to_owned());
        call.record(op, K::PERMISSION, &ids_of(&page.items, K::id), "")
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(K::Wit::from).collect(),
            next: page.next,
        })
    }
}

impl Host for AppState {
    async fn get_household(&mut self, id: String) -> Result<Household, WitError> {
        self.get_record::<Households>("get-household", id).await
    }

    async fn list_households(
        &mut self,
        building_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HouseholdPage, WitError> {
        let filter = ListFilter {
            building_id: Some(&building_id),
            ..ListFilter::default()
        };
        let page = self
            .list_records::<Households>(
                "list-households",
                &[("building id", Some(&building_id))],
                filter,
                cursor.as_deref(),
                limit,
            )
            .await?;
        Ok(HouseholdPage {
            households: page.items,
            next_cursor: page.next,
        })
    }

    async fn get_building(&mut self, id: String) -> Result<Building, WitError> {
        self.get_record::<Buildings>("get-building", id).await
    }

    async fn list_buildings(
        &mut self,
        community_id: Option<String>,
        grid_id: Option<String>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<BuildingPage, WitError> {
        let filter = ListFilter {
            community_id: community_id.as_deref(),
            grid_id: grid_id.as_deref(),
            ..ListFilter::default()
        };
        let page = self
            .list_records::<Buildings>(
                "list-buildings",
                &[
                    ("community id", community_id.as_deref()),
                    ("grid id", grid_id.as_deref()),
                ],
                filter,
                cursor.as_deref(),
                limit,
            )
            .await?;
        Ok(BuildingPage {
            buildings: page.items,
            next_cursor: page.next,
        })
    }

    async fn get_organisation(&mut self, id: String) -> Result<Organisation, WitError> {
        self.get_record::<Organisations>("get-organisation", id)
            .await
    }

    async fn list_organisations(
        &mut self,
        kind: Option<OrganisationKind>,
        community_id: Option<String>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<OrganisationPage, WitError> {
        let filter = ListFilter {
            community_id: community_id.as_deref(),
            kind: kind.map(|k| community::OrganisationKind::from(k).as_str()),
            ..ListFilter::default()
        };
        let page = self
            .list_records::<Organisations>(
                "list-organisations",
                &[("community id", community_id.as_deref())],
                filter,
                cursor.as_deref(),
                limit,
            )
            .await?;
        Ok(OrganisationPage {
            organisations: page.items,
            next_cursor: page.next,
        })
    }

    async fn worker_grids(&mut self, account_id: String) -> Result<Vec<String>, WitError> {
        const OP: &str = "worker-grids";
        let call = self.data_grant(OP, Permission::ReadResidents, None).await?;
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
        let call = self
            .data_grant(OP, Permission::ReadOrganisations, None)
            .await?;
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
        let page = Page::cut(rows, limit, |m| m.resident_id.clone());
        call.record(
            OP,
            Permission::ReadOrganisations,
            &ids_of(&page.items, |m| &m.resident_id),
            "",
        )
        .await?;
        if !visible {
            return Err(WitError::NotFound);
        }
        Ok(MemberPage {
            members: page.items.into_iter().map(Member::from).collect(),
            next_cursor: page.next,
        })
    }

    async fn get_resident(&mut self, id: String) -> Result<Resident, WitError> {
        const OP: &str = "get-resident";
        let call = self
            .data_grant(OP, Permission::ReadResidents, Some(&id))
            .await?;
        check_id("resident id", &id)?;
        let row = call
            .store
            .get_resident(call.district(), &id)
            .await
            .map_err(unavailable)?
            .filter(|row| call.grant.in_scope(&row.community_id));
        let ids = ids_of(row.as_slice(), |r| &r.resident.id);
        call.record(OP, Permission::ReadResidents, &ids, call.field_class())
            .await?;
        row.map(|r| resident_to_wit(r, call.personal))
            .ok_or(WitError::NotFound)
    }

    async fn query_residents(&mut self, query: ResidentQuery) -> Result<ResidentPage, WitError> {
        const OP: &str = "query-residents";
        let call = self.data_grant(OP, Permission::ReadResidents, None).await?;
        check_limit(query.limit)?;
        check_ids(&[
            ("grid id", query.grid_id.as_deref()),
            ("community id", query.community_id.as_deref()),
            ("household id", query.household_id.as_deref()),
            ("cursor", query.cursor.as_deref()),
        ])?;
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
        let rows = call
            .store
            .query_residents(call.district(), &filter)
            .await
            .map_err(unavailable)?;
        let page = Page::cut(rows, query.limit, |r| r.resident.id.clone());
        let ids = ids_of(&page.items, |r| &r.resident.id);
        call.record(OP, Permission::ReadResidents, &ids, call.field_class())
            .await?;
        Ok(ResidentPage {
            residents: page
                .items
                .into_iter()
                .map(|r| resident_to_wit(r, call.personal))
                .collect(),
            next_cursor: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernel::grant::tests::{grant, store};

    #[tokio::test]
    async fn a_read_waits_for_its_districts_turn_at_the_database() {
        let (_dir, store) = store().await;
        let share = Arc::new(tokio::sync::Semaphore::new(1));
        let mut app = AppState::new(
            Arc::new(grant(&[Permission::ReadResidents])),
            "req-1".to_owned(),
            store.clone(),
            64 << 20,
        );
        app.database = Some(share.clone());
        // Another call of the district holds its one turn.
        let held = share.clone().acquire_owned().await.expect("turn");
        let read = app.get_resident("r-0001".to_owned());
        tokio::pin!(read);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), &mut read).await;
        assert!(waited.is_err(), "the read waited for the district's turn");
        drop(held);
        // In its turn it runs (the resident does not exist: not-found).
        let answer = read.await;
        assert!(matches!(answer, Err(WitError::NotFound)), "{answer:?}");
        assert_eq!(share.available_permits(), 1, "the turn ends with the read");
    }

    #[test]
    fn years_before_keeps_month_and_day() {
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        assert_eq!(years_before(day(2026, 11, 22), 60), "1966-11-22");
        assert_eq!(years_before(day(2024, 2, 29), 1), "2023-02-28");
        assert_eq!(years_before(day(2024, 2, 29), 4), "2020-02-29");
    }
}
