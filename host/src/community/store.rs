//! The community data model: import (upsert by stable id, in one
//! transaction), export, and the reads apps make through
//! `hutong:platform/data` (their access-log entries are written through the
//! grant into `access_log`).

use std::collections::HashSet;

use serde::Serialize;
use sqlx::{Any, Transaction};

use crate::community::import::ExistingIds;
use crate::community::{
    Building, Community, Grid, Household, Membership, Organisation, Record, Resident, Street,
};
use crate::kernel::store::{Sql, Store, StoreError, from_json, parse_column};

/// How many records of each kind an import created and updated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Records that did not exist before.
    pub created: u64,
    /// Records that existed and were updated in place.
    pub updated: u64,
}

/// A resident as stored, with where they live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResidentRow {
    /// The record.
    pub resident: Resident,
    /// Their grid's community.
    pub community_id: String,
    /// Their household's building, if any.
    pub building_id: Option<String>,
    /// That building's name.
    pub building_name: Option<String>,
}

/// A household with where its building stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HouseholdRow {
    /// The record.
    pub household: Household,
    /// Its building's grid.
    pub grid_id: String,
    /// Its building's community.
    pub community_id: String,
}

/// Filters shared by the listings of households, buildings and
/// organisations. Empty filters match everything in scope.
#[derive(Clone, Debug, Default)]
pub struct ListFilter<'a> {
    /// Communities the caller may see; none means the whole district.
    pub scope: Option<&'a [String]>,
    /// Only this community.
    pub community_id: Option<&'a str>,
    /// Only this grid (buildings).
    pub grid_id: Option<&'a str>,
    /// Only this building (households).
    pub building_id: Option<&'a str>,
    /// Only this kind (organisations).
    pub kind: Option<&'a str>,
    /// Start after this id.
    pub after: Option<&'a str>,
    /// Most rows to return.
    pub limit: u32,
}

const HOUSEHOLD_SELECT: &str = "SELECT h.id, h.building_id, h.unit, h.room, b.grid_id, b.community_id \
     FROM households h JOIN buildings b ON b.district = h.district AND b.id = h.building_id \
     WHERE h.district = ";

/// A household row with its building's place.
#[derive(sqlx::FromRow)]
struct HouseholdRecord {
    id: String,
    building_id: String,
    unit: String,
    room: String,
    grid_id: String,
    community_id: String,
}

impl From<HouseholdRecord> for HouseholdRow {
    fn from(r: HouseholdRecord) -> Self {
        HouseholdRow {
            household: Household {
                id: r.id,
                building_id: r.building_id,
                unit: r.unit,
                room: r.room,
            },
            grid_id: r.grid_id,
            community_id: r.community_id,
        }
    }
}

/// A building row: (id, community_id, grid_id, name).
type BuildingRecord = (String, String, String, String);

fn building((id, community_id, grid_id, name): BuildingRecord) -> Building {
    Building {
        id,
        community_id,
        grid_id,
        name,
    }
}

/// An organisation row: (id, community_id, kind, name).
type OrganisationRecord = (String, String, String, String);

fn organisation(
    (id, community_id, kind, name): OrganisationRecord,
) -> Result<Organisation, StoreError> {
    Ok(Organisation {
        id,
        community_id,
        kind: parse_column("organisation kind", &kind)?,
        name,
    })
}

/// A membership row: (organisation_id, resident_id, role).
type MembershipRecord = (String, String, String);

fn membership((organisation_id, resident_id, role): MembershipRecord) -> Membership {
    Membership {
        organisation_id,
        resident_id,
        role,
    }
}

/// Filters for a resident query. Empty filters match everything in scope.
#[derive(Clone, Debug, Default)]
pub struct ResidentFilter<'a> {
    /// Communities the caller may see; none means the whole district.
    pub scope: Option<&'a [String]>,
    /// Grids the caller may see (a worker's); none means no such limit.
    pub grids: Option<&'a [String]>,
    /// Only this grid.
    pub grid_id: Option<&'a str>,
    /// Only this community.
    pub community_id: Option<&'a str>,
    /// Only this household.
    pub household_id: Option<&'a str>,
    /// Residents carrying every one of these tags.
    pub tags: &'a [String],
    /// Born on or before this date (`YYYY-MM-DD`): at least some age.
    pub born_on_or_before: Option<String>,
    /// Born after this date: younger than some age.
    pub born_after: Option<String>,
    /// Start after this resident id.
    pub after: Option<&'a str>,
    /// Most rows to return.
    pub limit: u32,
}

const RESIDENT_SELECT: &str = "SELECT r.id, r.household_id, r.grid_id, r.community_id, r.tags, r.name, r.phone, \
     r.id_number, r.birth_date, r.address, r.family_contact_name, r.family_contact_phone, \
     h.building_id AS building_id, b.name AS building_name \
     FROM residents r \
     LEFT JOIN households h ON h.district = r.district AND h.id = r.household_id \
     LEFT JOIN buildings b ON b.district = h.district AND b.id = h.building_id";

/// A resident row with where they live.
#[derive(sqlx::FromRow)]
struct ResidentRecord {
    id: String,
    household_id: Option<String>,
    grid_id: String,
    community_id: String,
    tags: String,
    name: String,
    phone: Option<String>,
    id_number: Option<String>,
    birth_date: Option<String>,
    address: Option<String>,
    family_contact_name: Option<String>,
    family_contact_phone: Option<String>,
    building_id: Option<String>,
    building_name: Option<String>,
}

impl TryFrom<ResidentRecord> for ResidentRow {
    type Error = StoreError;

    fn try_from(r: ResidentRecord) -> Result<Self, StoreError> {
        Ok(ResidentRow {
            resident: Resident {
                id: r.id,
                household_id: r.household_id,
                grid_id: r.grid_id,
                tags: from_json("resident tags", &r.tags)?,
                name: r.name,
                phone: r.phone,
                id_number: r.id_number,
                birth_date: r.birth_date,
                address: r.address,
                family_contact_name: r.family_contact_name,
                family_contact_phone: r.family_contact_phone,
            },
            community_id: r.community_id,
            building_id: r.building_id,
            building_name: r.building_name,
        })
    }
}

async fn ids(store: &Store, table: &str, district: &str) -> Result<HashSet<String>, StoreError> {
    Ok(
        sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE district = $1"))
            .bind(district)
            .fetch_all(store.pool())
            .await?
            .into_iter()
            .collect(),
    )
}

/// Insert or update one record; true when it was created.
async fn upsert(
    tx: &mut Transaction<'_, Any>,
    district: &str,
    record: &Record,
    existed: bool,
    now: i64,
) -> Result<(), StoreError> {
    match record {
        Record::Street(Street { id, name }) => {
            sqlx::query(
                "INSERT INTO streets (district, id, name, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (district, id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Community(Community {
            id,
            street_id,
            name,
        }) => {
            sqlx::query(
                "INSERT INTO communities (district, id, street_id, name, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (district, id) DO UPDATE SET street_id = excluded.street_id, name = excluded.name, \
                 updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(street_id)
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Grid(Grid {
            id,
            community_id,
            name,
        }) => {
            sqlx::query(
                "INSERT INTO grids (district, id, community_id, name, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (district, id) DO UPDATE SET community_id = excluded.community_id, name = excluded.name, \
                 updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(community_id)
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            if existed {
                // Residents carry their grid's community; keep it true.
                sqlx::query(
                    "UPDATE residents SET community_id = $1 WHERE district = $2 AND grid_id = $3",
                )
                .bind(community_id)
                .bind(district)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
        }
        Record::Building(Building {
            id,
            community_id,
            grid_id,
            name,
        }) => {
            sqlx::query(
                "INSERT INTO buildings (district, id, community_id, grid_id, name, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (district, id) DO UPDATE SET community_id = excluded.community_id, grid_id = excluded.grid_id, \
                 name = excluded.name, updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(community_id)
            .bind(grid_id)
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Household(Household {
            id,
            building_id,
            unit,
            room,
        }) => {
            sqlx::query(
                "INSERT INTO households (district, id, building_id, unit, room, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (district, id) DO UPDATE SET building_id = excluded.building_id, unit = excluded.unit, \
                 room = excluded.room, updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(building_id)
            .bind(unit)
            .bind(room)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Resident(r) => {
            let community: String = sqlx::query_scalar(
                "SELECT community_id FROM grids WHERE district = $1 AND id = $2",
            )
            .bind(district)
            .bind(&r.grid_id)
            .fetch_one(&mut **tx)
            .await?;
            let tags = serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".to_owned());
            sqlx::query(
                "INSERT INTO residents (district, id, household_id, grid_id, community_id, tags, name, phone, id_number, \
                 birth_date, address, family_contact_name, family_contact_phone, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (district, id) DO UPDATE SET household_id = excluded.household_id, grid_id = excluded.grid_id, \
                 community_id = excluded.community_id, tags = excluded.tags, name = excluded.name, phone = excluded.phone, \
                 id_number = excluded.id_number, birth_date = excluded.birth_date, address = excluded.address, \
                 family_contact_name = excluded.family_contact_name, family_contact_phone = excluded.family_contact_phone, \
                 updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(&r.id)
            .bind(&r.household_id)
            .bind(&r.grid_id)
            .bind(community)
            .bind(tags)
            .bind(&r.name)
            .bind(&r.phone)
            .bind(&r.id_number)
            .bind(&r.birth_date)
            .bind(&r.address)
            .bind(&r.family_contact_name)
            .bind(&r.family_contact_phone)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Organisation(Organisation {
            id,
            community_id,
            kind,
            name,
        }) => {
            sqlx::query(
                "INSERT INTO organisations (district, id, community_id, kind, name, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (district, id) DO UPDATE SET community_id = excluded.community_id, kind = excluded.kind, \
                 name = excluded.name, updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(id)
            .bind(community_id)
            .bind(kind.as_str())
            .bind(name)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        Record::Membership(Membership {
            organisation_id,
            resident_id,
            role,
        }) => {
            sqlx::query(
                "INSERT INTO memberships (district, organisation_id, resident_id, role, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (district, organisation_id, resident_id) DO UPDATE SET role = excluded.role, \
                 updated_at = excluded.updated_at",
            )
            .bind(district)
            .bind(organisation_id)
            .bind(resident_id)
            .bind(role)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Parents before children, so every reference exists when it is written.
fn rank(record: &Record) -> u8 {
    match record {
        Record::Street(_) => 0,
        Record::Community(_) => 1,
        Record::Grid(_) => 2,
        Record::Building(_) => 3,
        Record::Household(_) => 4,
        Record::Resident(_) => 5,
        Record::Organisation(_) => 6,
        Record::Membership(_) => 7,
    }
}

fn existed(existing: &ExistingIds, memberships: &HashSet<(String, String)>, r: &Record) -> bool {
    match r {
        Record::Street(x) => existing.streets.contains(&x.id),
        Record::Community(x) => existing.communities.contains(&x.id),
        Record::Grid(x) => existing.grids.contains(&x.id),
        Record::Building(x) => existing.buildings.contains(&x.id),
        Record::Household(x) => existing.households.contains(&x.id),
        Record::Resident(x) => existing.residents.contains(&x.id),
        Record::Organisation(x) => existing.organisations.contains(&x.id),
        Record::Membership(m) => {
            memberships.contains(&(m.organisation_id.clone(), m.resident_id.clone()))
        }
    }
}

impl Store {
    /// A district's communities: (id, name), by id.
    pub async fn list_communities(
        &self,
        district: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, name FROM communities WHERE district = $1 ORDER BY id")
                .bind(district)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The ids a district's data already holds, for validating an import.
    pub async fn existing_ids(&self, district: &str) -> Result<ExistingIds, StoreError> {
        Ok(ExistingIds {
            streets: ids(self, "streets", district).await?,
            communities: ids(self, "communities", district).await?,
            grids: ids(self, "grids", district).await?,
            buildings: ids(self, "buildings", district).await?,
            households: ids(self, "households", district).await?,
            residents: ids(self, "residents", district).await?,
            organisations: ids(self, "organisations", district).await?,
        })
    }

    /// Write validated records in one transaction: all or nothing. Records
    /// with an existing id are updated in place.
    pub async fn import_records(
        &self,
        district: &str,
        records: &[Record],
        existing: &ExistingIds,
    ) -> Result<ImportSummary, StoreError> {
        let memberships: HashSet<(String, String)> = sqlx::query_as(
            "SELECT organisation_id, resident_id FROM memberships WHERE district = $1",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect();
        let mut ordered: Vec<&Record> = records.iter().collect();
        ordered.sort_by_key(|r| rank(r));
        let now = self.clock().now_ms();
        let mut summary = ImportSummary::default();
        let mut tx = self.begin().await?;
        for record in ordered {
            let existed = existed(existing, &memberships, record);
            upsert(&mut tx, district, record, existed, now).await?;
            if existed {
                summary.updated += 1;
            } else {
                summary.created += 1;
            }
        }
        tx.commit().await?;
        Ok(summary)
    }

    /// Every record of a district, parents first.
    pub async fn export_records(&self, district: &str) -> Result<Vec<Record>, StoreError> {
        let pool = self.pool();
        let mut out = Vec::new();
        let streets: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM streets WHERE district = $1 ORDER BY id")
                .bind(district)
                .fetch_all(pool)
                .await?;
        out.extend(
            streets
                .into_iter()
                .map(|(id, name)| Record::Street(Street { id, name })),
        );
        let communities: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, street_id, name FROM communities WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?;
        out.extend(communities.into_iter().map(|(id, street_id, name)| {
            Record::Community(Community {
                id,
                street_id,
                name,
            })
        }));
        let grids: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, community_id, name FROM grids WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?;
        out.extend(grids.into_iter().map(|(id, community_id, name)| {
            Record::Grid(Grid {
                id,
                community_id,
                name,
            })
        }));
        let buildings: Vec<BuildingRecord> = sqlx::query_as(
            "SELECT id, community_id, grid_id, name FROM buildings WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?;
        out.extend(buildings.into_iter().map(|b| Record::Building(building(b))));
        let households: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, building_id, unit, room FROM households WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?;
        out.extend(households.into_iter().map(|(id, building_id, unit, room)| {
            Record::Household(Household {
                id,
                building_id,
                unit,
                room,
            })
        }));
        for r in sqlx::query_as::<_, ResidentRecord>(&format!(
            "{RESIDENT_SELECT} WHERE r.district = $1 ORDER BY r.id"
        ))
        .bind(district)
        .fetch_all(pool)
        .await?
        {
            out.push(Record::Resident(ResidentRow::try_from(r)?.resident));
        }
        for o in sqlx::query_as::<_, OrganisationRecord>(
            "SELECT id, community_id, kind, name FROM organisations WHERE district = $1 ORDER BY id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?
        {
            out.push(Record::Organisation(organisation(o)?));
        }
        let memberships: Vec<MembershipRecord> = sqlx::query_as(
            "SELECT organisation_id, resident_id, role FROM memberships WHERE district = $1 \
             ORDER BY organisation_id, resident_id",
        )
        .bind(district)
        .fetch_all(pool)
        .await?;
        out.extend(
            memberships
                .into_iter()
                .map(|m| Record::Membership(membership(m))),
        );
        Ok(out)
    }

    /// One resident of a district, if it exists.
    pub async fn get_resident(
        &self,
        district: &str,
        id: &str,
    ) -> Result<Option<ResidentRow>, StoreError> {
        sqlx::query_as::<_, ResidentRecord>(&format!(
            "{RESIDENT_SELECT} WHERE r.district = $1 AND r.id = $2"
        ))
        .bind(district)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(ResidentRow::try_from)
        .transpose()
    }

    /// Residents matching `filter`, by id, at most `filter.limit`.
    pub async fn query_residents(
        &self,
        district: &str,
        filter: &ResidentFilter<'_>,
    ) -> Result<Vec<ResidentRow>, StoreError> {
        let mut q = Sql::new(format!("{RESIDENT_SELECT} WHERE r.district = "));
        q.push_bind(district);
        if !q.and_in("r.community_id", filter.scope.map(strs))
            || !q.and_in("r.grid_id", filter.grids.map(strs))
        {
            return Ok(Vec::new());
        }
        q.and("r.grid_id", "=", filter.grid_id);
        q.and("r.community_id", "=", filter.community_id);
        q.and("r.household_id", "=", filter.household_id);
        for tag in filter.tags {
            // Tags are stored as a JSON list of slugs: match one quoted item.
            q.and("r.tags", "LIKE", Some(format!("%\"{tag}\"%")));
        }
        q.and("r.birth_date", "<=", filter.born_on_or_before.as_deref());
        q.and("r.birth_date", ">", filter.born_after.as_deref());
        q.and("r.id", ">", filter.after);
        q.push(&format!(" ORDER BY r.id LIMIT {}", filter.limit));
        q.fetch_as::<ResidentRecord, _>(self.pool())
            .await?
            .into_iter()
            .map(ResidentRow::try_from)
            .collect()
    }

    /// Households matching `filter` (by building, in scope), by id.
    pub async fn list_households(
        &self,
        district: &str,
        id: Option<&str>,
        filter: &ListFilter<'_>,
    ) -> Result<Vec<HouseholdRow>, StoreError> {
        let mut q = Sql::new(HOUSEHOLD_SELECT);
        q.push_bind(district);
        if !q.and_in("b.community_id", filter.scope.map(strs)) {
            return Ok(Vec::new());
        }
        q.and("h.id", "=", id);
        q.and("h.building_id", "=", filter.building_id);
        q.and("h.id", ">", filter.after);
        q.push(&format!(" ORDER BY h.id LIMIT {}", filter.limit));
        let rows: Vec<HouseholdRecord> = q.fetch_as(self.pool()).await?;
        Ok(rows.into_iter().map(HouseholdRow::from).collect())
    }

    /// Buildings matching `filter`, by id.
    pub async fn list_buildings(
        &self,
        district: &str,
        id: Option<&str>,
        filter: &ListFilter<'_>,
    ) -> Result<Vec<Building>, StoreError> {
        let mut q =
            Sql::new("SELECT id, community_id, grid_id, name FROM buildings WHERE district = ");
        q.push_bind(district);
        if !q.and_in("community_id", filter.scope.map(strs)) {
            return Ok(Vec::new());
        }
        q.and("id", "=", id);
        q.and("community_id", "=", filter.community_id);
        q.and("grid_id", "=", filter.grid_id);
        q.and("id", ">", filter.after);
        q.push(&format!(" ORDER BY id LIMIT {}", filter.limit));
        let rows: Vec<BuildingRecord> = q.fetch_as(self.pool()).await?;
        Ok(rows.into_iter().map(building).collect())
    }

    /// Organisations matching `filter`, by id.
    pub async fn list_organisations(
        &self,
        district: &str,
        id: Option<&str>,
        filter: &ListFilter<'_>,
    ) -> Result<Vec<Organisation>, StoreError> {
        let mut q =
            Sql::new("SELECT id, community_id, kind, name FROM organisations WHERE district = ");
        q.push_bind(district);
        if !q.and_in("community_id", filter.scope.map(strs)) {
            return Ok(Vec::new());
        }
        q.and("id", "=", id);
        q.and("community_id", "=", filter.community_id);
        q.and("kind", "=", filter.kind);
        q.and("id", ">", filter.after);
        q.push(&format!(" ORDER BY id LIMIT {}", filter.limit));
        let rows: Vec<OrganisationRecord> = q.fetch_as(self.pool()).await?;
        rows.into_iter().map(organisation).collect()
    }

    /// The members of an organisation, by resident id.
    pub async fn list_members(
        &self,
        district: &str,
        organisation_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Membership>, StoreError> {
        let mut q = Sql::new(
            "SELECT organisation_id, resident_id, role FROM memberships WHERE district = ",
        );
        q.push_bind(district);
        q.and("organisation_id", "=", Some(organisation_id));
        q.and("resident_id", ">", after);
        q.push(&format!(" ORDER BY resident_id LIMIT {limit}"));
        let rows: Vec<MembershipRecord> = q.fetch_as(self.pool()).await?;
        Ok(rows.into_iter().map(membership).collect())
    }
}

/// A scope's ids as the values of an `IN (…)` list.
fn strs(ids: &[String]) -> impl Iterator<Item = &str> {
    ids.iter().map(String::as_str)
}
