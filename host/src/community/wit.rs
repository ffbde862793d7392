//! WIT ⇄ host conversions for community data.

use crate::community::store::{HouseholdRow, ResidentRow};
use crate::community::{self, mask};
use crate::kernel::wit::hutong::platform::data;
use crate::kernel::wit::same_variants;

/// A resident as the install may see them: every field with
/// `read-personal-fields` (`personal`), otherwise masked by the host.
pub(crate) fn resident_to_wit(row: ResidentRow, personal: bool) -> data::Resident {
    let r = row.resident;
    let birth_year = r.birth_date.as_deref().and_then(mask::birth_year);
    if personal {
        data::Resident {
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
            field_class: data::FieldClass::Personal,
        }
    } else {
        data::Resident {
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
            field_class: data::FieldClass::Masked,
        }
    }
}

impl From<HouseholdRow> for data::Household {
    fn from(row: HouseholdRow) -> Self {
        data::Household {
            id: row.household.id,
            building_id: row.household.building_id,
            grid_id: row.grid_id,
            community_id: row.community_id,
            unit: row.household.unit,
            room: row.household.room,
        }
    }
}

impl From<community::Building> for data::Building {
    fn from(b: community::Building) -> Self {
        data::Building {
            id: b.id,
            community_id: b.community_id,
            grid_id: b.grid_id,
            name: b.name,
        }
    }
}

same_variants!(both community::OrganisationKind, data::OrganisationKind {
    PartyBranch, SocialOrganisation, PropertyCompany,
});

impl From<community::Organisation> for data::Organisation {
    fn from(o: community::Organisation) -> Self {
        data::Organisation {
            id: o.id,
            community_id: o.community_id,
            kind: o.kind.into(),
            name: o.name,
        }
    }
}

impl From<community::Membership> for data::Member {
    fn from(m: community::Membership) -> Self {
        data::Member {
            resident_id: m.resident_id,
            role: m.role,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_kinds_map_both_ways() {
        for kind in [
            community::OrganisationKind::PartyBranch,
            community::OrganisationKind::SocialOrganisation,
            community::OrganisationKind::PropertyCompany,
        ] {
            assert_eq!(
                community::OrganisationKind::from(data::OrganisationKind::from(kind)),
                kind
            );
        }
    }
}
