//! The community data model every app reads (人、地、物、情、事、组织、房屋):
//! the hierarchy district → street → community → grid, buildings with their
//! households, residents, and organisations with their members.
//!
//! Records carry stable external ids (from the district's own systems), so a
//! re-import updates them in place instead of duplicating. Personal fields of
//! a resident (name, phone, ID number, birth date, exact address, family
//! contact) form a protected field class: apps see them masked (see
//! [`mask`]) unless granted the personal-fields permission.

pub mod api;
pub mod cli;
pub(crate) mod host;
pub mod import;
pub mod mask;
pub mod ops;
pub mod residents_api;
pub mod sample;
pub mod store;
mod wit;

use serde::{Deserialize, Serialize};

/// A street (街道) of a district.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Street {
    /// Stable id within the district.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A community (社区) of a street.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Community {
    /// Stable id within the district.
    pub id: String,
    /// The street it belongs to.
    pub street_id: String,
    /// Name.
    pub name: String,
}

/// A grid (网格) of a community: the unit a grid worker serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Stable id within the district.
    pub id: String,
    /// The community it belongs to.
    pub community_id: String,
    /// Name.
    pub name: String,
}

/// A building, in a community and a grid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Building {
    /// Stable id within the district.
    pub id: String,
    /// The community it stands in.
    pub community_id: String,
    /// The grid it belongs to.
    pub grid_id: String,
    /// Name or number (for example "3号楼").
    pub name: String,
}

/// A household (户): a dwelling in a building.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    /// Stable id within the district.
    pub id: String,
    /// The building.
    pub building_id: String,
    /// Unit (单元), if the building has units.
    #[serde(default)]
    pub unit: String,
    /// Room number.
    pub room: String,
}

/// A resident. The fields from `name` on are personal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    /// Stable id within the district.
    pub id: String,
    /// The household they live in, if registered to one.
    #[serde(default)]
    pub household_id: Option<String>,
    /// The grid responsible for them.
    pub grid_id: String,
    /// Tags such as `elderly`, `living-alone`, `disabled`, `party-member`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Full name (personal).
    pub name: String,
    /// Phone number (personal).
    #[serde(default)]
    pub phone: Option<String>,
    /// ID card number (personal).
    #[serde(default)]
    pub id_number: Option<String>,
    /// Birth date, `YYYY-MM-DD` (personal; apps see the year only).
    #[serde(default)]
    pub birth_date: Option<String>,
    /// Exact address (personal; apps see the building only).
    #[serde(default)]
    pub address: Option<String>,
    /// Emergency or family contact's name (personal).
    #[serde(default)]
    pub family_contact_name: Option<String>,
    /// Emergency or family contact's phone (personal).
    #[serde(default)]
    pub family_contact_phone: Option<String>,
}

/// What kind of organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[derive(strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "kebab-case")]
pub enum OrganisationKind {
    /// A party branch (党支部).
    PartyBranch,
    /// A social organisation (社会组织).
    SocialOrganisation,
    /// A property-management company (物业公司).
    PropertyCompany,
}

impl OrganisationKind {
    /// Every kind.
    pub const ALL: &'static [OrganisationKind] =
        <OrganisationKind as strum::VariantArray>::VARIANTS;

    /// The kind's name in files, the API and the database.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::str::FromStr for OrganisationKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrganisationKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown organisation kind `{s}`; kinds: {}",
                    OrganisationKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

/// An organisation of a community.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Stable id within the district.
    pub id: String,
    /// The community it belongs to.
    pub community_id: String,
    /// Its kind. Named `organisation_kind` in JSON, where `kind` says which
    /// record it is.
    #[serde(rename = "organisation_kind")]
    pub kind: OrganisationKind,
    /// Name.
    pub name: String,
}

/// A resident's membership of an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The organisation.
    pub organisation_id: String,
    /// The member.
    pub resident_id: String,
    /// Their role in it (for example "secretary"; empty for members).
    #[serde(default)]
    pub role: String,
}

/// One record of any kind, as imported and exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// A street.
    Street(Street),
    /// A community.
    Community(Community),
    /// A grid.
    Grid(Grid),
    /// A building.
    Building(Building),
    /// A household.
    Household(Household),
    /// A resident.
    Resident(Resident),
    /// An organisation.
    Organisation(Organisation),
    /// A membership.
    Membership(Membership),
}

/// The UTC date of `ms` since the Unix epoch.
pub fn date_of_ms(ms: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::date_of_ms;

    #[test]
    fn dates_of_instants() {
        let date = |ms: i64| date_of_ms(ms).format("%Y-%m-%d").to_string();
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(19_723 * 86_400_000), "2024-01-01");
        assert_eq!(date(20_414 * 86_400_000 + 86_399_999), "2025-11-22");
        assert_eq!(date(-1), "1969-12-31");
    }
}
