//! The district's community data: residents of the install's scope.
//!
//! Reading residents needs the `read-residents` permission; households,
//! buildings and organisations need `read-households`, `read-buildings` and
//! `read-organisations`. Their personal
//! fields (name, phone, ID number, birth date, address, family contact) come
//! masked by the host — `张*`, `138****5678`, the birth year only, the
//! building instead of the address — unless the install was also granted
//! `read-personal-fields`; [`Resident::field_class`] says which. Every call
//! is recorded in the district's access log.
//!
//! ```no_run
//! use hutong_sdk::data::{self, ResidentQuery};
//!
//! # fn main() -> Result<(), hutong_sdk::Error> {
//! let query = ResidentQuery {
//!     tags: vec!["elderly".into(), "living-alone".into()],
//!     ..ResidentQuery::default()
//! };
//! for resident in data::residents(query) {
//!     let resident = resident?;
//!     println!("{} in grid {}", resident.name, resident.grid_id);
//! }
//! # Ok(())
//! # }
//! ```

use crate::Error;
use crate::bindings::hutong::platform::data as wit;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::data as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::data as host;

pub use wit::{
    Building, BuildingPage, FieldClass, Household, HouseholdPage, Member, MemberPage, Organisation,
    OrganisationKind, OrganisationPage, Resident,
};

/// The most residents one page holds.
pub const MAX_PAGE: u32 = 500;

/// Which residents to list; filters combine. `Default` lists the whole scope,
/// [`MAX_PAGE`] at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentQuery {
    /// Only this grid.
    pub grid_id: Option<String>,
    /// Only this community.
    pub community_id: Option<String>,
    /// Only the members of this household.
    pub household_id: Option<String>,
    /// Only residents carrying every one of these tags.
    pub tags: Vec<String>,
    /// Only residents at least this old.
    pub min_age: Option<u8>,
    /// Only residents at most this old.
    pub max_age: Option<u8>,
    /// Continue after this cursor.
    pub cursor: Option<String>,
    /// Residents per page, 1..=[`MAX_PAGE`].
    pub limit: u32,
}

impl Default for ResidentQuery {
    fn default() -> Self {
        ResidentQuery {
            grid_id: None,
            community_id: None,
            household_id: None,
            tags: Vec::new(),
            min_age: None,
            max_age: None,
            cursor: None,
            limit: MAX_PAGE,
        }
    }
}

/// One page of residents.
#[derive(Debug, Clone)]
pub struct ResidentPage {
    /// The residents on this page, by id.
    pub residents: Vec<Resident>,
    /// The cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One resident by id ([`Error::NotFound`] outside the install's scope too).
pub fn resident(id: &str) -> Result<Resident, Error> {
    Ok(host::get_resident(id)?)
}

/// One page of residents matching `query`.
pub fn query_residents(query: &ResidentQuery) -> Result<ResidentPage, Error> {
    let page = host::query_residents(&wit::ResidentQuery {
        grid_id: query.grid_id.clone(),
        community_id: query.community_id.clone(),
        household_id: query.household_id.clone(),
        tags: query.tags.clone(),
        min_age: query.min_age,
        max_age: query.max_age,
        cursor: query.cursor.clone(),
        limit: query.limit,
    })?;
    Ok(ResidentPage {
        residents: page.residents,
        next_cursor: page.next_cursor,
    })
}

/// Every resident matching `query`, fetching page after page; stops after
/// the first error.
pub fn residents(query: ResidentQuery) -> Residents {
    Residents {
        query,
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator [`residents`] returns.
pub struct Residents {
    query: ResidentQuery,
    page: std::vec::IntoIter<Resident>,
    done: bool,
}

impl Iterator for Residents {
    type Item = Result<Resident, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.page.next() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match query_residents(&self.query) {
                Ok(page) => {
                    self.done = page.next_cursor.is_none();
                    self.query.cursor = page.next_cursor;
                    self.page = page.residents.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The grids the worker account `account_id` of the install's district
/// serves, within the install's communities. A request's
/// [`Caller`](crate::Caller) names the account; this says what it is
/// responsible for, so an app can show a worker their own grids' residents.
/// Needs `read-residents`; [`Error::NotFound`] for an account that is not an
/// enabled worker of the district.
///
/// ```no_run
/// # fn main() -> Result<(), hutong_sdk::Error> {
/// let grids = hutong_sdk::data::worker_grids("wang-li")?;
/// println!("wang-li serves {}", grids.join(", "));
/// # Ok(())
/// # }
/// ```
pub fn worker_grids(account_id: &str) -> Result<Vec<String>, Error> {
    Ok(host::worker_grids(account_id)?)
}

/// One household by id.
pub fn household(id: &str) -> Result<Household, Error> {
    Ok(host::get_household(id)?)
}

/// One page of a building's households.
pub fn households(
    building_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<HouseholdPage, Error> {
    Ok(host::list_households(building_id, cursor, limit)?)
}

/// One building by id.
pub fn building(id: &str) -> Result<Building, Error> {
    Ok(host::get_building(id)?)
}

/// One page of buildings, optionally of one community or grid.
pub fn buildings(
    community_id: Option<&str>,
    grid_id: Option<&str>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<BuildingPage, Error> {
    Ok(host::list_buildings(community_id, grid_id, cursor, limit)?)
}

/// One organisation by id.
pub fn organisation(id: &str) -> Result<Organisation, Error> {
    Ok(host::get_organisation(id)?)
}

/// One page of organisations, optionally of one kind or community.
pub fn organisations(
    kind: Option<OrganisationKind>,
    community_id: Option<&str>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<OrganisationPage, Error> {
    Ok(host::list_organisations(kind, community_id, cursor, limit)?)
}

/// One page of an organisation's members.
pub fn members(
    organisation_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<MemberPage, Error> {
    Ok(host::list_members(organisation_id, cursor, limit)?)
}
