//! An invented district for demos, tests and trying apps out: one street,
//! two communities with their grids, buildings and households, about 300
//! residents, and the communities' organisations with their members.
//!
//! Every name, phone number and ID number is made up from short lists and a
//! seeded generator; none belongs to a real person. The same seed always
//! gives the same district, so demos and tests are repeatable. The records
//! pass [`validate`](super::import::validate) against an empty district and
//! come parents first, so they can also be imported in order.

use super::import::{days_in_month, id_check_char};
use super::{
    Building, Community, Grid, Household, Membership, Organisation, OrganisationKind, Record,
    Resident, Street,
};

/// The year ages are counted from, fixed so that the `elderly` tag does not
/// change with the calendar.
const REFERENCE_YEAR: i32 = 2026;
/// The age from which a resident is tagged `elderly`.
const ELDERLY_AGE: i32 = 60;
/// The birth years residents are spread over.
const BIRTH_YEARS: (i32, i32) = (1935, 2015);

/// A community to invent.
struct CommunitySpec {
    id: &'static str,
    name: &'static str,
    social_organisation: &'static str,
}

const COMMUNITIES: [CommunitySpec; 2] = [
    CommunitySpec {
        id: "c-xingfu",
        name: "幸福社区",
        social_organisation: "幸福社区志愿者协会",
    },
    CommunitySpec {
        id: "c-heping",
        name: "和平社区",
        social_organisation: "和平社区老年协会",
    },
];

const GRID_NAMES: [&str; 3] = ["第一网格", "第二网格", "第三网格"];
const BUILDINGS_PER_COMMUNITY: u32 = 6;
const UNITS_PER_BUILDING: u32 = 2;
const FLOORS_PER_BUILDING: u32 = 3;
const ROOMS_PER_FLOOR: u32 = 2;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN_CHARS: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "建", "国", "志", "红",
];
const REGION_CODES: &[&str] = &["110105", "110108", "110101", "110102"];
const PHONE_PREFIXES: &[&str] = &["13", "15", "18"];

/// A small deterministic generator (SplitMix64); demo data needs no more.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: i32, high: i32) -> i32 {
        low + self.below(high.abs_diff(low) + 1) as i32
    }

    fn percent(&mut self, chance: u32) -> bool {
        self.below(100) < chance
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items
            .get(self.below(items.len() as u32) as usize)
            .copied()
            .unwrap_or_default()
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    fn name(&mut self, surname: &str) -> String {
        let mut name = surname.to_owned();
        for _ in 0..=self.below(2) {
            name.push_str(self.pick(GIVEN_CHARS));
        }
        name
    }

    fn phone(&mut self) -> String {
        format!(
            "{}{}{}",
            self.pick(PHONE_PREFIXES),
            self.below(10),
            self.digits(8)
        )
    }
}

/// The records of an invented district, by kind, in the order they are made.
#[derive(Default)]
struct District {
    streets: Vec<Street>,
    communities: Vec<Community>,
    grids: Vec<Grid>,
    buildings: Vec<Building>,
    households: Vec<Household>,
    residents: Vec<Resident>,
    organisations: Vec<Organisation>,
    memberships: Vec<Membership>,
}

impl District {
    fn into_records(self) -> Vec<Record> {
        let District {
            streets,
            communities,
            grids,
            buildings,
            households,
            residents,
            organisations,
            memberships,
        } = self;
        streets
            .into_iter()
            .map(Record::Street)
            .chain(communities.into_iter().map(Record::Community))
            .chain(grids.into_iter().map(Record::Grid))
            .chain(buildings.into_iter().map(Record::Building))
            .chain(households.into_iter().map(Record::Household))
            .chain(residents.into_iter().map(Record::Resident))
            .chain(organisations.into_iter().map(Record::Organisation))
            .chain(memberships.into_iter().map(Record::Membership))
            .collect()
    }
}

/// An invented district, the same for the same `seed`, parents before
/// children: streets, communities, grids, buildings, households, residents,
/// organisations, memberships.
pub fn sample_district(seed: u64) -> Vec<Record> {
    let mut rng = SplitMix(seed);
    let mut district = District::default();
    let street_id = "s-donghu";
    district.streets.push(Street {
        id: street_id.to_owned(),
        name: "东湖街道".to_owned(),
    });
    for spec in &COMMUNITIES {
        add_community(&mut rng, &mut district, street_id, spec);
    }
    district.organisations.push(Organisation {
        id: "o-anju-property".to_owned(),
        community_id: COMMUNITIES[0].id.to_owned(),
        kind: OrganisationKind::PropertyCompany,
        name: "安居物业服务有限公司".to_owned(),
    });
    district.into_records()
}

fn add_community(
    rng: &mut SplitMix,
    district: &mut District,
    street_id: &str,
    spec: &CommunitySpec,
) {
    district.communities.push(Community {
        id: spec.id.to_owned(),
        street_id: street_id.to_owned(),
        name: spec.name.to_owned(),
    });
    let grid_ids: Vec<String> = (1..=GRID_NAMES.len())
        .map(|n| format!("{}-g{n}", spec.id))
        .collect();
    for (grid_id, name) in grid_ids.iter().zip(GRID_NAMES) {
        district.grids.push(Grid {
            id: grid_id.clone(),
            community_id: spec.id.to_owned(),
            name: name.to_owned(),
        });
    }

    let first_resident = district.residents.len();
    for number in 1..=BUILDINGS_PER_COMMUNITY {
        // Two neighbouring buildings per grid.
        let grid_index =
            ((number - 1) as usize * grid_ids.len()) / BUILDINGS_PER_COMMUNITY as usize;
        let grid_id = grid_ids.get(grid_index).cloned().unwrap_or_default();
        let building = Building {
            id: format!("{}-b{number}", spec.id),
            community_id: spec.id.to_owned(),
            grid_id,
            name: format!("{number}号楼"),
        };
        for unit in 1..=UNITS_PER_BUILDING {
            for floor in 1..=FLOORS_PER_BUILDING {
                for room in 1..=ROOMS_PER_FLOOR {
                    let household = Household {
                        id: format!("{}-{unit}-{floor}{room:02}", building.id),
                        building_id: building.id.clone(),
                        unit: format!("{unit}单元"),
                        room: format!("{floor}{room:02}"),
                    };
                    let address = format!(
                        "{}{}{}{}",
                        spec.name, building.name, household.unit, household.room
                    );
                    add_residents(rng, district, &building, &household, &address);
                    district.households.push(household);
                }
            }
        }
        district.buildings.push(building);
    }

    add_organisations(rng, district, spec, first_resident);
}

fn add_residents(
    rng: &mut SplitMix,
    district: &mut District,
    building: &Building,
    household: &Household,
    address: &str,
) {
    // Sizes 1–4, mostly couples and singles: about 2.1 residents a household.
    let size = match rng.below(100) {
        0..30 => 1,
        30..70 => 2,
        70..90 => 3,
        _ => 4,
    };
    let surname = rng.pick(SURNAMES);
    for member in 0..size {
        let year = if size == 1 && rng.percent(60) {
            // Many one-person households are older people living alone.
            rng.between(BIRTH_YEARS.0, REFERENCE_YEAR - ELDERLY_AGE - 5)
        } else {
            rng.between(BIRTH_YEARS.0, BIRTH_YEARS.1)
        };
        let month = rng.between(1, 12) as u32;
        let day = rng.between(1, days_in_month(year, month) as i32) as u32;
        let age = REFERENCE_YEAR - year;

        let mut tags = Vec::new();
        if age >= ELDERLY_AGE {
            tags.push("elderly".to_owned());
            if size == 1 {
                tags.push("living-alone".to_owned());
            }
        }
        if rng.percent(3) {
            tags.push("disabled".to_owned());
        }
        if age >= 18 && rng.percent(9) {
            tags.push("party-member".to_owned());
        }

        let own_surname = if member == 0 || rng.percent(50) {
            surname
        } else {
            rng.pick(SURNAMES)
        };
        let first17 = format!(
            "{}{year:04}{month:02}{day:02}{}",
            rng.pick(REGION_CODES),
            rng.digits(3)
        );
        let id_number = id_check_char(&first17).map(|check| format!("{first17}{check}"));
        let (family_contact_name, family_contact_phone) = if age >= ELDERLY_AGE {
            let contact_surname = rng.pick(SURNAMES);
            (Some(rng.name(contact_surname)), Some(rng.phone()))
        } else {
            (None, None)
        };
        let number = district.residents.len() + 1;
        district.residents.push(Resident {
            id: format!("r-{number:04}"),
            household_id: Some(household.id.clone()),
            grid_id: building.grid_id.clone(),
            tags,
            name: rng.name(own_surname),
            phone: (age >= 16).then(|| rng.phone()),
            id_number,
            birth_date: Some(format!("{year:04}-{month:02}-{day:02}")),
            address: Some(address.to_owned()),
            family_contact_name,
            family_contact_phone,
        });
    }
}

fn add_organisations(
    rng: &mut SplitMix,
    district: &mut District,
    spec: &CommunitySpec,
    first_resident: usize,
) {
    let branch_id = format!("{}-party", spec.id);
    let social_id = format!("{}-social", spec.id);
    district.organisations.push(Organisation {
        id: branch_id.clone(),
        community_id: spec.id.to_owned(),
        kind: OrganisationKind::PartyBranch,
        name: format!("{}党支部", spec.name),
    });
    district.organisations.push(Organisation {
        id: social_id.clone(),
        community_id: spec.id.to_owned(),
        kind: OrganisationKind::SocialOrganisation,
        name: spec.social_organisation.to_owned(),
    });

    let residents = district.residents.get(first_resident..).unwrap_or_default();
    let mut secretary_named = false;
    let mut memberships = Vec::new();
    for resident in residents {
        if resident.tags.iter().any(|t| t == "party-member") {
            let role = if secretary_named { "" } else { "secretary" };
            secretary_named = true;
            memberships.push(Membership {
                organisation_id: branch_id.clone(),
                resident_id: resident.id.clone(),
                role: role.to_owned(),
            });
        }
    }
    for resident in residents {
        let adult = resident
            .birth_date
            .as_deref()
            .and_then(|d| d.get(0..4))
            .and_then(|y| y.parse::<i32>().ok())
            .is_some_and(|year| REFERENCE_YEAR - year >= 18);
        if adult && rng.percent(10) {
            memberships.push(Membership {
                organisation_id: social_id.clone(),
                resident_id: resident.id.clone(),
                role: String::new(),
            });
        }
    }
    district.memberships.extend(memberships);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::import::{ExistingIds, Format, RecordKind, parse, to_csv, validate};

    const TODAY: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();

    fn residents(records: &[Record]) -> Vec<&Resident> {
        records
            .iter()
            .filter_map(|r| match r {
                Record::Resident(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sample_district_validates_against_an_empty_district() {
        let records = sample_district(1);
        let rows = parse(
            &crate::community::import::to_json_lines(&records),
            Format::JsonLines,
        )
        .unwrap();
        validate(&rows, &ExistingIds::default(), TODAY).unwrap();
    }

    #[test]
    fn sample_district_validates_for_many_seeds() {
        for seed in 0..20 {
            let rows: Vec<_> = sample_district(seed)
                .into_iter()
                .enumerate()
                .map(|(i, record)| crate::community::import::Numbered {
                    line: i + 1,
                    record,
                })
                .collect();
            validate(&rows, &ExistingIds::default(), TODAY).unwrap();
        }
    }

    #[test]
    fn sample_district_has_about_300_residents_in_both_communities() {
        let records = sample_district(1);
        let residents = residents(&records);
        assert!(
            (250..=350).contains(&residents.len()),
            "{}",
            residents.len()
        );
        let communities: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                Record::Community(c) => Some(c.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(communities, ["幸福社区", "和平社区"]);
        for community in COMMUNITIES {
            assert!(
                residents
                    .iter()
                    .any(|r| r.grid_id.starts_with(community.id)),
                "no residents in {}",
                community.name
            );
        }
    }

    #[test]
    fn sample_district_is_deterministic_per_seed() {
        assert_eq!(sample_district(1), sample_district(1));
        assert_ne!(sample_district(1), sample_district(2));
    }

    #[test]
    fn residents_have_consistent_personal_fields_and_tags() {
        let records = sample_district(1);
        let residents = residents(&records);
        for r in &residents {
            let birth = r.birth_date.as_deref().unwrap();
            let id_number = r.id_number.as_deref().unwrap();
            assert_eq!(id_number.len(), 18);
            assert_eq!(&id_number[6..14], birth.replace('-', ""));
            let year: i32 = birth[..4].parse().unwrap();
            assert!((1935..=2015).contains(&year));
            let elderly = r.tags.iter().any(|t| t == "elderly");
            assert_eq!(elderly, REFERENCE_YEAR - year >= 60, "{}", r.id);
            assert_eq!(elderly, r.family_contact_name.is_some());
            if r.tags.iter().any(|t| t == "living-alone") {
                assert!(elderly);
            }
            if let Some(phone) = &r.phone {
                assert_eq!(phone.len(), 11);
                assert!(["13", "15", "18"].contains(&&phone[..2]));
            }
            let address = r.address.as_deref().unwrap();
            assert!(
                address.contains("号楼") && address.contains("单元"),
                "{address}"
            );
        }
        let count = |tag: &str| {
            residents
                .iter()
                .filter(|r| r.tags.iter().any(|t| t == tag))
                .count()
        };
        assert!(count("living-alone") > 0);
        assert!(count("disabled") > 0);
        let party = count("party-member");
        assert!(
            (residents.len() * 3 / 100..=residents.len() * 15 / 100).contains(&party),
            "{party}"
        );
    }

    #[test]
    fn every_party_member_is_in_their_branch_with_one_secretary_each() {
        let records = sample_district(1);
        let memberships: Vec<&Membership> = records
            .iter()
            .filter_map(|r| match r {
                Record::Membership(m) => Some(m),
                _ => None,
            })
            .collect();
        for r in residents(&records) {
            if r.tags.iter().any(|t| t == "party-member") {
                let community = r.grid_id.rsplit_once("-g").unwrap().0;
                let branch = format!("{community}-party");
                assert!(
                    memberships
                        .iter()
                        .any(|m| m.resident_id == r.id && m.organisation_id == branch),
                    "{} is not in {branch}",
                    r.id
                );
            }
        }
        for community in COMMUNITIES {
            let branch = format!("{}-party", community.id);
            let secretaries = memberships
                .iter()
                .filter(|m| m.organisation_id == branch && m.role == "secretary")
                .count();
            assert_eq!(secretaries, 1, "{branch}");
            let social = format!("{}-social", community.id);
            assert!(memberships.iter().any(|m| m.organisation_id == social));
        }
    }

    #[test]
    fn sample_district_round_trips_through_csv() {
        let records = sample_district(3);
        for &kind in RecordKind::ALL {
            let of_kind: Vec<Record> = records
                .iter()
                .filter(|r| r.kind() == kind)
                .cloned()
                .collect();
            let parsed: Vec<Record> = parse(&to_csv(kind, &records), Format::Csv(kind))
                .unwrap()
                .into_iter()
                .map(|n| n.record)
                .collect();
            assert_eq!(parsed, of_kind, "{kind}");
        }
    }
}
