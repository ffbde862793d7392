//! Import and export of community records (CSV and JSON Lines).
//!
//! An import runs in two passes. [`parse`] turns a file into records and
//! refuses what is wrong with its shape (bad JSON, a CSV header that does
//! not fit the kind, an unknown organisation kind). [`validate`] then checks
//! every record against the rules and resolves its references against the
//! same file and the ids already in the district ([`ExistingIds`]).
//!
//! Both passes collect every bad row instead of stopping at the first, so
//! whoever prepared the spreadsheet can fix it in one round. Messages name
//! the line, the field, what was wrong and what is allowed, but never echo
//! the value of a personal field (phone, ID number, birth date): import
//! errors end up in logs and in the browser of whoever ran the import.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::kernel::ids::{describe_char, record_id_problem, shown};
use chrono::NaiveDate;

use super::{
    Building, Community, Grid, Household, Membership, Organisation, Record, Resident, Street,
};

/// The kind of a [`Record`]; a CSV file holds records of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum RecordKind {
    /// A [`Street`].
    Street,
    /// A [`Community`].
    Community,
    /// A [`Grid`].
    Grid,
    /// A [`Building`].
    Building,
    /// A [`Household`].
    Household,
    /// A [`Resident`].
    Resident,
    /// An [`Organisation`].
    Organisation,
    /// A [`Membership`].
    Membership,
}

impl RecordKind {
    /// Every kind, parents before children.
    pub const ALL: &'static [RecordKind] = <RecordKind as strum::VariantArray>::VARIANTS;

    /// The kind's name: the `kind` tag in JSON Lines, also used in the API.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The CSV columns of this kind: the record's field names, in field order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            RecordKind::Street => &["id", "name"],
            RecordKind::Community => &["id", "street_id", "name"],
            RecordKind::Grid => &["id", "community_id", "name"],
            RecordKind::Building => &["id", "community_id", "grid_id", "name"],
            RecordKind::Household => &["id", "building_id", "unit", "room"],
            RecordKind::Resident => &[
                "id",
                "household_id",
                "grid_id",
                "tags",
                "name",
                "phone",
                "id_number",
                "birth_date",
                "address",
                "family_contact_name",
                "family_contact_phone",
            ],
            RecordKind::Organisation => &["id", "community_id", "organisation_kind", "name"],
            RecordKind::Membership => &["organisation_id", "resident_id", "role"],
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown record kind `{}`; kinds: {}", shown(s), kind_list()))
    }
}

fn kind_list() -> String {
    RecordKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Street(_) => RecordKind::Street,
            Record::Community(_) => RecordKind::Community,
            Record::Grid(_) => RecordKind::Grid,
            Record::Building(_) => RecordKind::Building,
            Record::Household(_) => RecordKind::Household,
            Record::Resident(_) => RecordKind::Resident,
            Record::Organisation(_) => RecordKind::Organisation,
            Record::Membership(_) => RecordKind::Membership,
        }
    }

    /// The record's id; a membership, which has none of its own, is
    /// identified as `organisation_id/resident_id`.
    pub fn id(&self) -> String {
        match self {
            Record::Membership(m) => format!("{}/{}", m.organisation_id, m.resident_id),
            other => own_id(other).unwrap_or_default().to_owned(),
        }
    }
}

/// The id of a record that has one (every kind but memberships).
fn own_id(record: &Record) -> Option<&str> {
    match record {
        Record::Street(r) => Some(&r.id),
        Record::Community(r) => Some(&r.id),
        Record::Grid(r) => Some(&r.id),
        Record::Building(r) => Some(&r.id),
        Record::Household(r) => Some(&r.id),
        Record::Resident(r) => Some(&r.id),
        Record::Organisation(r) => Some(&r.id),
        Record::Membership(_) => None,
    }
}

/// The format of an import file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV holding records of one kind; the first line is a header naming
    /// exactly that kind's [columns](RecordKind::columns), in any order.
    /// Empty cells are absent values; `tags` cells are `;`-separated.
    Csv(RecordKind),
    /// One JSON object per line, each with a `kind` field; blank lines are
    /// ignored.
    JsonLines,
}

/// A parsed record with the line of the file it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    /// 1-based line number; in CSV the header is line 1.
    pub line: usize,
    /// The record.
    pub record: Record,
}

/// What is wrong with one row of an import file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number the row starts on.
    pub line: usize,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// How many bad rows an import collects before it stops looking: enough to
/// fix a file in one round, without holding a message per row of a file
/// that is wrong throughout (for example, the wrong kind chosen).
pub const MAX_ROW_ERRORS: usize = 1000;

/// How many bad rows the error's one-line summary shows.
const SUMMARY_ROWS: usize = 20;

/// Why an import was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows that are malformed or break a rule; at most [`MAX_ROW_ERRORS`].
    #[error("{}", summarize(.0))]
    Rows(Vec<RowError>),
    /// The CSV header does not fit the kind, or the file is empty.
    #[error("bad CSV header: {0}")]
    Header(String),
}

fn summarize(rows: &[RowError]) -> String {
    let mut out = match rows.len() {
        1 => "1 bad row: ".to_owned(),
        n if n >= MAX_ROW_ERRORS => format!("at least {n} bad rows: "),
        n => format!("{n} bad rows: "),
    };
    let shown: Vec<String> = rows
        .iter()
        .take(SUMMARY_ROWS)
        .map(|r| r.to_string())
        .collect();
    out.push_str(&shown.join("; "));
    if rows.len() > SUMMARY_ROWS {
        let _ = write!(out, "; and {} more", rows.len() - SUMMARY_ROWS);
    }
    out
}

/// Bad rows found so far, capped at [`MAX_ROW_ERRORS`].
#[derive(Default)]
struct Problems(Vec<RowError>);

impl Problems {
    fn add(&mut self, line: usize, message: String) {
        if !self.full() {
            self.0.push(RowError { line, message });
        }
    }

    fn full(&self) -> bool {
        self.0.len() >= MAX_ROW_ERRORS
    }

    fn finish(self) -> Result<(), ImportError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ImportError::Rows(self.0))
        }
    }
}

/// Parses an import file into records, checking syntax and shape only; run
/// [`validate`] on the result before storing it.
pub fn parse(text: &str, format: Format) -> Result<Vec<Numbered>, ImportError> {
    // Spreadsheet programs often start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Csv(kind) => parse_csv(text, kind),
        Format::JsonLines => parse_json_lines(text),
    }
}

fn parse_json_lines(text: &str) -> Result<Vec<Numbered>, ImportError> {
    let mut rows = Vec::new();
    let mut problems = Problems::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match record_from_json(line) {
            Ok(record) => rows.push(Numbered {
                line: index + 1,
                record,
            }),
            Err(message) => problems.add(index + 1, message),
        }
        if problems.full() {
            break;
        }
    }
    problems.finish()?;
    Ok(rows)
}

/// The field holding an organisation's kind, in CSV as in JSON Lines, where
/// `kind` already names the kind of record.
const ORGANISATION_KIND_FIELD: &str = "organisation_kind";

fn record_from_json(line: &str) -> Result<Record, String> {
    use serde_json::Value;

    let value: Value = serde_json::from_str(line).map_err(|e| json_message(&e))?;
    if !value.is_object() {
        return Err(format!(
            "not a JSON object; each line must be one record object with a `kind`: {}",
            kind_list()
        ));
    }
    serde_json::from_value(value).map_err(|e| json_message(&e))
}

/// serde_json's message without its "at line 1 column N" (every JSON Lines
/// record is line 1 to serde_json), plus the list of kinds when the `kind`
/// field is missing.
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let mut out = match full.rsplit_once(" at line ") {
        Some((message, _)) if e.line() > 0 => {
            format!("not a valid record: {message} (column {})", e.column())
        }
        _ => format!("not a valid record: {full}"),
    };
    if full.contains("missing field `kind`") {
        let _ = write!(out, "; every line needs a `kind`: {}", kind_list());
    }
    out
}

fn parse_csv(text: &str, kind: RecordKind) -> Result<Vec<Numbered>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Rows with the wrong number of cells are reported per row below.
        .flexible(true)
        .trim(csv::Trim::Headers)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| ImportError::Header(format!("cannot read the header: {e}")))?
        .clone();
    let positions = column_positions(&header, kind)?;

    let mut rows = Vec::new();
    let mut problems = Problems::default();
    for result in reader.records() {
        match result {
            Err(e) => {
                let line = e.position().map_or(0, |p| start_line(text, p));
                problems.add(line, format!("unreadable CSV: {e}"));
            }
            Ok(cells) => {
                let line = cells.position().map_or(0, |p| start_line(text, p));
                if cells.len() != header.len() {
                    problems.add(
                        line,
                        format!(
                            "{} cells, but the header has {} columns; quote cells that contain commas",
                            cells.len(),
                            header.len()
                        ),
                    );
                } else {
                    let row = CsvRow {
                        kind,
                        cells: &cells,
                        positions: &positions,
                    };
                    match row.record() {
                        Ok(record) => rows.push(Numbered { line, record }),
                        Err(message) => problems.add(line, message),
                    }
                }
            }
        }
        if problems.full() {
            break;
        }
    }
    problems.finish()?;
    Ok(rows)
}

/// The line a record starts on. The csv crate reports where it began
/// reading the record, which is before any blank lines it then skipped.
fn start_line(text: &str, position: &csv::Position) -> usize {
    let start = usize::try_from(position.byte()).unwrap_or(usize::MAX);
    let skipped = text
        .as_bytes()
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .filter(|&&b| b == b'\n')
        .count();
    usize::try_from(position.line())
        .unwrap_or(usize::MAX)
        .saturating_add(skipped)
}

/// Where each of the kind's columns is in the header, in column order.
fn column_positions(
    header: &csv::StringRecord,
    kind: RecordKind,
) -> Result<Vec<usize>, ImportError> {
    let expected = kind.columns();
    if header.iter().all(str::is_empty) {
        return Err(ImportError::Header(format!(
            "the file is empty; its first line must be the header `{}`",
            expected.join(",")
        )));
    }
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (position, name) in header.iter().enumerate() {
        if !expected.contains(&name) {
            problems.push(format!("unknown column `{}`", shown(name)));
        } else if seen.insert(name, position).is_some() {
            problems.push(format!("column `{name}` appears twice"));
        }
    }
    let mut positions = Vec::with_capacity(expected.len());
    for name in expected {
        match seen.get(name) {
            Some(&position) => positions.push(position),
            None => problems.push(format!("missing column `{name}`")),
        }
    }
    if problems.is_empty() {
        return Ok(positions);
    }
    let mut message = format!(
        "{}; a {kind} file needs exactly the columns {} (in any order)",
        problems.join(", "),
        expected.join(",")
    );
    let names: HashSet<&str> = header.iter().collect();
    if let Some(other) = RecordKind::ALL
        .iter()
        .find(|k| k.columns().len() == names.len() && k.columns().iter().all(|c| names.contains(c)))
    {
        let _ = write!(message, "; this header is that of a {other} file");
    }
    Err(ImportError::Header(message))
}

/// One CSV row, read by column name.
struct CsvRow<'a> {
    kind: RecordKind,
    cells: &'a csv::StringRecord,
    positions: &'a [usize],
}

impl CsvRow<'_> {
    fn cell(&self, column: &str) -> &str {
        self.kind
            .columns()
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.positions.get(i))
            .and_then(|&p| self.cells.get(p))
            .unwrap_or("")
    }

    fn text(&self, column: &str) -> String {
        self.cell(column).to_owned()
    }

    fn optional(&self, column: &str) -> Option<String> {
        let cell = self.cell(column);
        (!cell.trim().is_empty()).then(|| cell.to_owned())
    }

    fn tags(&self, column: &str) -> Vec<String> {
        self.cell(column)
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn record(&self) -> Result<Record, String> {
        Ok(match self.kind {
            RecordKind::Street => Record::Street(Street {
                id: self.text("id"),
                name: self.text("name"),
            }),
            RecordKind::Community => Record::Community(Community {
                id: self.text("id"),
                street_id: self.text("street_id"),
                name: self.text("name"),
            }),
            RecordKind::Grid => Record::Grid(Grid {
                id: self.text("id"),
                community_id: self.text("community_id"),
                name: self.text("name"),
            }),
            RecordKind::Building => Record::Building(Building {
                id: self.text("id"),
                community_id: self.text("community_id"),
                grid_id: self.text("grid_id"),
                name: self.text("name"),
            }),
            RecordKind::Household => Record::Household(Household {
                id: self.text("id"),
                building_id: self.text("building_id"),
                unit: self.text("unit"),
                room: self.text("room"),
            }),
            RecordKind::Resident => Record::Resident(Resident {
                id: self.text("id"),
                household_id: self.optional("household_id"),
                grid_id: self.text("grid_id"),
                tags: self.tags("tags"),
                name: self.text("name"),
                phone: self.optional("phone"),
                id_number: self.optional("id_number"),
                birth_date: self.optional("birth_date"),
                address: self.optional("address"),
                family_contact_name: self.optional("family_contact_name"),
                family_contact_phone: self.optional("family_contact_phone"),
            }),
            RecordKind::Organisation => Record::Organisation(Organisation {
                id: self.text("id"),
                community_id: self.text("community_id"),
                kind: self
                    .cell(ORGANISATION_KIND_FIELD)
                    .trim()
                    .parse()
                    .map_err(|e| format!("kind: {e}"))?,
                name: self.text("name"),
            }),
            RecordKind::Membership => Record::Membership(Membership {
                organisation_id: self.text("organisation_id"),
                resident_id: self.text("resident_id"),
                role: self.text("role"),
            }),
        })
    }
}

/// Ids already in the district's database, by kind; references in an import
/// may point at these as well as at records in the same file.
#[derive(Debug, Default, Clone)]
pub struct ExistingIds {
    /// Street ids.
    pub streets: HashSet<String>,
    /// Community ids.
    pub communities: HashSet<String>,
    /// Grid ids.
    pub grids: HashSet<String>,
    /// Building ids.
    pub buildings: HashSet<String>,
    /// Household ids.
    pub households: HashSet<String>,
    /// Resident ids.
    pub residents: HashSet<String>,
    /// Organisation ids.
    pub organisations: HashSet<String>,
}

impl ExistingIds {
    fn contains(&self, kind: RecordKind, id: &str) -> bool {
        let ids = match kind {
            RecordKind::Street => &self.streets,
            RecordKind::Community => &self.communities,
            RecordKind::Grid => &self.grids,
            RecordKind::Building => &self.buildings,
            RecordKind::Household => &self.households,
            RecordKind::Resident => &self.residents,
            RecordKind::Organisation => &self.organisations,
            RecordKind::Membership => return false,
        };
        ids.contains(id)
    }
}

/// The longest text field (name, room, address…), in characters.
const MAX_TEXT_CHARS: usize = 200;
/// The longest tag, in characters.
const MAX_TAG_CHARS: usize = 32;
/// The most tags a resident may carry.
const MAX_TAGS: usize = 32;
/// The earliest birth year accepted; earlier ones are typing mistakes.
const MIN_BIRTH_YEAR: i32 = 1900;

/// Checks parsed records against every rule: id and text formats, phone
/// numbers, ID numbers, birth dates (a birth date after `today` is refused), tags, duplicates within the file, and that
/// every reference names a record of the right kind in the file (in any
/// order) or in `existing`.
pub fn validate(
    rows: &[Numbered],
    existing: &ExistingIds,
    today: NaiveDate,
) -> Result<(), ImportError> {
    let mut first_ids: HashMap<(RecordKind, &str), usize> = HashMap::new();
    let mut first_pairs: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, row) in rows.iter().enumerate() {
        match &row.record {
            Record::Membership(m) => {
                first_pairs
                    .entry((&m.organisation_id, &m.resident_id))
                    .or_insert(index);
            }
            record => {
                if let Some(id) = own_id(record) {
                    first_ids.entry((record.kind(), id)).or_insert(index);
                }
            }
        }
    }
    let checker = Checker {
        in_file: &first_ids,
        existing,
        today,
    };

    let mut problems = Problems::default();
    for (index, row) in rows.iter().enumerate() {
        let kind = row.record.kind();
        let first = match &row.record {
            Record::Membership(m) => first_pairs.get(&(&m.organisation_id, &m.resident_id)),
            record => own_id(record).and_then(|id| first_ids.get(&(kind, id))),
        };
        if let Some(&first) = first.filter(|&&first| first != index) {
            let first_line = rows.get(first).map_or(0, |r| r.line);
            let message = match &row.record {
                Record::Membership(m) => format!(
                    "resident `{}` is already listed as a member of organisation `{}` on line {first_line}; list each membership once",
                    shown(&m.resident_id),
                    shown(&m.organisation_id)
                ),
                _ => format!(
                    "{kind} id `{}` is already used on line {first_line}; each {kind} needs its own id",
                    shown(&row.record.id())
                ),
            };
            problems.add(row.line, message);
        }
        let subject = format!("{kind} `{}`", shown(&row.record.id()));
        for message in checker.check(&row.record) {
            problems.add(row.line, format!("{subject}: {message}"));
        }
        if problems.full() {
            break;
        }
    }
    problems.finish()
}

/// The rules for one record, with what it may refer to.
struct Checker<'a> {
    in_file: &'a HashMap<(RecordKind, &'a str), usize>,
    existing: &'a ExistingIds,
    today: NaiveDate,
}

impl Checker<'_> {
    fn check(&self, record: &Record) -> Vec<String> {
        let mut found = Vec::new();
        match record {
            Record::Street(s) => {
                found.extend(record_id_problem("id", &s.id));
                found.extend(check_text("name", &s.name));
            }
            Record::Community(c) => {
                found.extend(record_id_problem("id", &c.id));
                found.extend(self.check_reference("street_id", &c.street_id, RecordKind::Street));
                found.extend(check_text("name", &c.name));
            }
            Record::Grid(g) => {
                found.extend(record_id_problem("id", &g.id));
                found.extend(self.check_reference(
                    "community_id",
                    &g.community_id,
                    RecordKind::Community,
                ));
                found.extend(check_text("name", &g.name));
            }
            Record::Building(b) => {
                found.extend(record_id_problem("id", &b.id));
                found.extend(self.check_reference(
                    "community_id",
                    &b.community_id,
                    RecordKind::Community,
                ));
                found.extend(self.check_reference("grid_id", &b.grid_id, RecordKind::Grid));
                found.extend(check_text("name", &b.name));
            }
            Record::Household(h) => {
                found.extend(record_id_problem("id", &h.id));
                found.extend(self.check_reference(
                    "building_id",
                    &h.building_id,
                    RecordKind::Building,
                ));
                found.extend(check_length("unit", &h.unit));
                found.extend(check_text("room", &h.room));
            }
            Record::Resident(r) => {
                found.extend(record_id_problem("id", &r.id));
                if let Some(household_id) = &r.household_id {
                    found.extend(self.check_reference(
                        "household_id",
                        household_id,
                        RecordKind::Household,
                    ));
                }
                found.extend(self.check_reference("grid_id", &r.grid_id, RecordKind::Grid));
                found.extend(check_tags(&r.tags));
                found.extend(check_text("name", &r.name));
                if let Some(phone) = &r.phone {
                    found.extend(check_phone("phone", phone));
                }
                if let Some(id_number) = &r.id_number {
                    found.extend(check_id_number(id_number));
                }
                if let Some(birth_date) = &r.birth_date {
                    found.extend(check_birth_date(birth_date, self.today));
                }
                if let Some(address) = &r.address {
                    found.extend(check_optional_text("address", address));
                }
                if let Some(name) = &r.family_contact_name {
                    found.extend(check_optional_text("family_contact_name", name));
                }
                if let Some(phone) = &r.family_contact_phone {
                    found.extend(check_phone("family_contact_phone", phone));
                }
            }
            Record::Organisation(o) => {
                found.extend(record_id_problem("id", &o.id));
                found.extend(self.check_reference(
                    "community_id",
                    &o.community_id,
                    RecordKind::Community,
                ));
                found.extend(check_text("name", &o.name));
            }
            Record::Membership(m) => {
                found.extend(self.check_reference(
                    "organisation_id",
                    &m.organisation_id,
                    RecordKind::Organisation,
                ));
                found.extend(self.check_reference(
                    "resident_id",
                    &m.resident_id,
                    RecordKind::Resident,
                ));
                found.extend(check_length("role", &m.role));
            }
        }
        found
    }

    fn check_reference(&self, field: &str, id: &str, target: RecordKind) -> Option<String> {
        if let Some(problem) = record_id_problem(field, id) {
            return Some(problem);
        }
        if self.in_file.contains_key(&(target, id)) || self.existing.contains(target, id) {
            return None;
        }
        Some(format!(
            "{field} `{id}` matches no {target} in this file or in the district; add the {target} to the file or correct the id"
        ))
    }
}

/// A required text field: not blank, at most [`MAX_TEXT_CHARS`].
fn check_text(field: &str, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(format!(
            "{field} is empty; it is required (up to {MAX_TEXT_CHARS} characters)"
        ));
    }
    check_length(field, value)
}

/// An optional text field that is present: not blank (absent would say
/// so), at most [`MAX_TEXT_CHARS`].
fn check_optional_text(field: &str, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(format!("{field} is blank; leave it out or fill it in"));
    }
    check_length(field, value)
}

/// A text field that may be empty: at most [`MAX_TEXT_CHARS`].
fn check_length(field: &str, value: &str) -> Option<String> {
    let count = value.chars().count();
    (count > MAX_TEXT_CHARS).then(|| {
        format!("{field} is {count} characters long; at most {MAX_TEXT_CHARS} are allowed")
    })
}

fn check_phone(field: &str, phone: &str) -> Option<String> {
    let number = phone.strip_prefix('+').unwrap_or(phone);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let problem = if let Some(c) = number
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, ' ' | '-')))
    {
        format!("{field} contains {}", describe_char(c))
    } else if !(5..=15).contains(&digits) {
        format!("{field} has {digits} digits")
    } else {
        return None;
    };
    Some(format!(
        "{problem}; a phone number is an optional leading +, then 5 to 15 digits (spaces and - may separate them)"
    ))
}

/// The weights of the first 17 digits of an 18-character ID number (GB 11643).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each weighted sum modulo 11 (GB 11643).
const ID_CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The check character of an 18-character ID number whose first 17
/// characters are `first17`, or `None` if they are not 17 digits.
pub(crate) fn id_check_char(first17: &str) -> Option<char> {
    if first17.len() != ID_WEIGHTS.len() {
        return None;
    }
    let mut sum = 0;
    for (c, weight) in first17.chars().zip(ID_WEIGHTS) {
        sum += c.to_digit(10)? * weight;
    }
    ID_CHECK_CHARS
        .get(usize::try_from(sum % 11).ok()?)
        .map(|&b| char::from(b))
}

fn check_id_number(id_number: &str) -> Option<String> {
    const ALLOWED: &str =
        "an ID number is 18 characters (17 digits, then a digit or X) or a legacy 15-digit number";
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let count = id_number.chars().count();
    if count == 15 && all_digits(id_number) {
        return None;
    }
    if count != 18 {
        return Some(format!("id_number is {count} characters long; {ALLOWED}"));
    }
    // Not a char boundary means a non-ASCII character, so not a digit.
    let checked = id_number
        .split_at_checked(17)
        .and_then(|(first17, last)| Some((id_check_char(first17)?, last)));
    match checked {
        None => Some(format!(
            "id_number has a non-digit among its first 17 characters; {ALLOWED}"
        )),
        Some((expected, last)) if last.eq_ignore_ascii_case(&expected.to_string()) => None,
        Some((_, last)) if !(all_digits(last) || last.eq_ignore_ascii_case("x")) => Some(format!(
            "id_number ends in a character other than a digit or X; {ALLOWED}"
        )),
        Some(_) => Some(
            "id_number's check character does not match its first 17 digits (GB 11643); a digit is probably mistyped"
                .to_owned(),
        ),
    }
}

/// The number of days in `month` of `year` (Gregorian), 0 for no such month.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    (28..=31)
        .rev()
        .find(|&day| NaiveDate::from_ymd_opt(year, month, day).is_some())
        .unwrap_or(0)
}

fn check_birth_date(date: &str, today: NaiveDate) -> Option<String> {
    let Some((year, month, day)) = split_date(date) else {
        return Some(
            "birth_date is not a date written YYYY-MM-DD (for example 1956-03-08)".to_owned(),
        );
    };
    if !(1..=12).contains(&month) {
        return Some(
            "birth_date is not a real calendar date: the month must be 01 to 12".to_owned(),
        );
    }
    let Some(born) = NaiveDate::from_ymd_opt(year, month, day) else {
        return Some(
            "birth_date is not a real calendar date: its day does not exist in its month (mind February and leap years)"
                .to_owned(),
        );
    };
    if year < MIN_BIRTH_YEAR {
        return Some(format!(
            "birth_date is before {MIN_BIRTH_YEAR}; check the year"
        ));
    }
    if born > today {
        return Some(format!(
            "birth_date is in the future; it must be on or before today ({})",
            today.format("%Y-%m-%d")
        ));
    }
    None
}

/// `YYYY-MM-DD` into its numbers, if it has that shape.
fn split_date(date: &str) -> Option<(i32, u32, u32)> {
    let bytes = date.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    Some((
        date.get(0..4)?.parse().ok()?,
        date.get(5..7)?.parse().ok()?,
        date.get(8..10)?.parse().ok()?,
    ))
}

/// What is wrong with a list of tags, if anything: the one rule for tags,
/// shared by imports, edits and apps' queries.
pub(crate) fn check_tags(tags: &[String]) -> Vec<String> {
    let allowed = format!(
        "tags are 1 to {MAX_TAG_CHARS} characters of lowercase a-z, digits and - (for example living-alone)"
    );
    let mut found = Vec::new();
    if tags.len() > MAX_TAGS {
        found.push(format!(
            "{} tags; at most {MAX_TAGS} are allowed",
            tags.len()
        ));
    }
    for tag in tags {
        let ok = (1..=MAX_TAG_CHARS).contains(&tag.chars().count())
            && tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            found.push(format!("tag `{}` is not allowed; {allowed}", shown(tag)));
        }
    }
    found
}

/// Writes the records of `kind` as CSV: a header of the kind's
/// [columns](RecordKind::columns), then one row per record; records of other
/// kinds are skipped. Tags are joined with `;`. [`parse`] reads it back.
pub fn to_csv(kind: RecordKind, records: &[Record]) -> String {
    match write_csv(kind, records) {
        Ok(text) => text,
        // The writer writes into memory, every row has the header's length
        // and every cell is UTF-8, so writing cannot fail.
        Err(e) => unreachable!("writing CSV to memory failed: {e}"),
    }
}

fn write_csv(kind: RecordKind, records: &[Record]) -> Result<String, Box<dyn std::error::Error>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(kind.columns())?;
    for record in records.iter().filter(|r| r.kind() == kind) {
        writer.write_record(csv_cells(record))?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    Ok(String::from_utf8(bytes)?)
}

/// A record's cells, in [`RecordKind::columns`] order.
fn csv_cells(record: &Record) -> Vec<String> {
    let optional = |value: &Option<String>| value.clone().unwrap_or_default();
    match record {
        Record::Street(s) => vec![s.id.clone(), s.name.clone()],
        Record::Community(c) => vec![c.id.clone(), c.street_id.clone(), c.name.clone()],
        Record::Grid(g) => vec![g.id.clone(), g.community_id.clone(), g.name.clone()],
        Record::Building(b) => vec![
            b.id.clone(),
            b.community_id.clone(),
            b.grid_id.clone(),
            b.name.clone(),
        ],
        Record::Household(h) => vec![
            h.id.clone(),
            h.building_id.clone(),
            h.unit.clone(),
            h.room.clone(),
        ],
        Record::Resident(r) => vec![
            r.id.clone(),
            optional(&r.household_id),
            r.grid_id.clone(),
            r.tags.join(";"),
            r.name.clone(),
            optional(&r.phone),
            optional(&r.id_number),
            optional(&r.birth_date),
            optional(&r.address),
            optional(&r.family_contact_name),
            optional(&r.family_contact_phone),
        ],
        Record::Organisation(o) => vec![
            o.id.clone(),
            o.community_id.clone(),
            o.kind.as_str().to_owned(),
            o.name.clone(),
        ],
        Record::Membership(m) => vec![
            m.organisation_id.clone(),
            m.resident_id.clone(),
            m.role.clone(),
        ],
    }
}

/// Writes records as JSON Lines, one object per line with its `kind`; an
/// organisation's own kind goes in `organisation_kind`. [`parse`] reads it
/// back.
pub fn to_json_lines(records: &[Record]) -> String {
    let mut out = String::new();
    for record in records {
        match serde_json::to_string(record) {
            Ok(line) => out.push_str(&line),
            // Records are plain strings and enums: serialising cannot fail.
            Err(e) => unreachable!("serialising a record failed: {e}"),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::community::OrganisationKind;

    const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    const RESIDENT_HEADER: &str = "id,household_id,grid_id,tags,name,phone,id_number,birth_date,address,family_contact_name,family_contact_phone";

    /// A valid 18-character ID number for a birth date written YYYYMMDD.
    fn id_number(birth: &str) -> String {
        let first17 = format!("110105{birth}123");
        let check = id_check_char(&first17).unwrap();
        format!("{first17}{check}")
    }

    fn resident(id: &str) -> Resident {
        Resident {
            id: id.to_owned(),
            household_id: Some("h1".to_owned()),
            grid_id: "g1".to_owned(),
            tags: vec!["elderly".to_owned(), "living-alone".to_owned()],
            name: "测试人".to_owned(),
            phone: Some("+86 138-0000-0000".to_owned()),
            id_number: Some(id_number("19500101")),
            birth_date: Some("1950-01-01".to_owned()),
            address: Some("幸福社区3号楼2单元501".to_owned()),
            family_contact_name: Some("测试亲属".to_owned()),
            family_contact_phone: Some("13900000000".to_owned()),
        }
    }

    /// A small district with every kind, parents before children.
    fn district() -> Vec<Record> {
        vec![
            Record::Street(Street {
                id: "s1".to_owned(),
                name: "东湖街道".to_owned(),
            }),
            Record::Community(Community {
                id: "c1".to_owned(),
                street_id: "s1".to_owned(),
                name: "幸福社区".to_owned(),
            }),
            Record::Grid(Grid {
                id: "g1".to_owned(),
                community_id: "c1".to_owned(),
                name: "第一网格".to_owned(),
            }),
            Record::Building(Building {
                id: "b1".to_owned(),
                community_id: "c1".to_owned(),
                grid_id: "g1".to_owned(),
                name: "3号楼".to_owned(),
            }),
            Record::Household(Household {
                id: "h1".to_owned(),
                building_id: "b1".to_owned(),
                unit: "2单元".to_owned(),
                room: "501".to_owned(),
            }),
            Record::Resident(resident("r1")),
            Record::Organisation(Organisation {
                id: "o1".to_owned(),
                community_id: "c1".to_owned(),
                kind: OrganisationKind::PartyBranch,
                name: "幸福社区党支部".to_owned(),
            }),
            Record::Membership(Membership {
                organisation_id: "o1".to_owned(),
                resident_id: "r1".to_owned(),
                role: "secretary".to_owned(),
            }),
        ]
    }

    fn numbered(records: Vec<Record>) -> Vec<Numbered> {
        records
            .into_iter()
            .enumerate()
            .map(|(i, record)| Numbered {
                line: i + 1,
                record,
            })
            .collect()
    }

    fn rows(error: ImportError) -> Vec<RowError> {
        match error {
            ImportError::Rows(rows) => rows,
            other => panic!("expected bad rows, got {other}"),
        }
    }

    /// The messages of validating the district with `change` applied to its resident.
    fn resident_problems(change: impl FnOnce(&mut Resident)) -> Vec<String> {
        let mut records = district();
        if let Some(Record::Resident(r)) = records.get_mut(5) {
            change(r);
        }
        match validate(&numbered(records), &ExistingIds::default(), TODAY) {
            Ok(()) => Vec::new(),
            Err(e) => rows(e).into_iter().map(|r| r.message).collect(),
        }
    }

    fn refused(problems: &[String], needle: &str) {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected a problem mentioning {needle:?}, got {problems:?}"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for &kind in RecordKind::ALL {
            assert_eq!(kind.as_str().parse::<RecordKind>(), Ok(kind));
        }
        let error = "person".parse::<RecordKind>().unwrap_err();
        assert!(error.contains("person") && error.contains("resident, organisation"));
    }

    #[test]
    fn columns_are_the_serde_field_names() {
        for record in district() {
            let serde_json::Value::Object(object) = serde_json::to_value(&record).unwrap() else {
                panic!("not an object");
            };
            let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
            let mut columns = record.kind().columns().to_vec();
            fields.retain(|f| *f != "kind");
            fields.sort_unstable();
            columns.sort_unstable();
            assert_eq!(fields, columns, "{}", record.kind());
        }
    }

    #[test]
    fn record_kind_and_id() {
        let records = district();
        let ids: Vec<String> = records.iter().map(Record::id).collect();
        assert_eq!(ids, ["s1", "c1", "g1", "b1", "h1", "r1", "o1", "o1/r1"]);
        let kinds: Vec<RecordKind> = records.iter().map(Record::kind).collect();
        assert_eq!(kinds, RecordKind::ALL);
    }

    #[test]
    fn csv_reads_records_with_their_line_numbers() {
        let text = format!(
            "{RESIDENT_HEADER}\nr1,h1,g1,elderly;living-alone,张三,,,,,,\n\nr2,,g1,,李四,13800000000,,1980-02-29,,,\n"
        );
        let rows = parse(&text, Format::Csv(RecordKind::Resident)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[1].line, 4);
        let Record::Resident(first) = &rows[0].record else {
            panic!("not a resident");
        };
        assert_eq!(first.tags, ["elderly", "living-alone"]);
        assert_eq!(first.household_id.as_deref(), Some("h1"));
        assert_eq!(first.phone, None);
        let Record::Resident(second) = &rows[1].record else {
            panic!("not a resident");
        };
        assert_eq!(second.household_id, None);
        assert!(second.tags.is_empty());
        assert_eq!(second.birth_date.as_deref(), Some("1980-02-29"));
    }

    #[test]
    fn csv_columns_may_come_in_any_order_after_a_byte_order_mark() {
        let text =
            "\u{feff}name,organisation_kind,community_id,id\n\"党支部, 第一\",party-branch,c1,o1\n";
        let rows = parse(text, Format::Csv(RecordKind::Organisation)).unwrap();
        assert_eq!(
            rows[0].record,
            Record::Organisation(Organisation {
                id: "o1".to_owned(),
                community_id: "c1".to_owned(),
                kind: OrganisationKind::PartyBranch,
                name: "党支部, 第一".to_owned(),
            })
        );
    }

    #[test]
    fn csv_bad_row_after_a_multi_line_cell_reports_its_starting_line() {
        let text = "id,street_id,name\nc1,s1,\"幸福\n社区\"\nc2,s1,和平社区,extra\nc3,s1,\"多\n行\"\nc4,s1\n";
        let error = parse(text, Format::Csv(RecordKind::Community)).unwrap_err();
        let rows = rows(error);
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [4, 7], "{rows:?}");
        assert!(
            rows[0]
                .message
                .contains("4 cells, but the header has 3 columns")
        );
    }

    #[test]
    fn csv_lines_count_blank_lines_and_crlf() {
        let text = "id,name\r\n\r\ns1,东湖\r\n\r\n\r\ns2,西湖,extra\r\ns3,南湖\r\n";
        let rows = rows(parse(text, Format::Csv(RecordKind::Street)).unwrap_err());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 6);
        let rows = parse("id,name\n\n\ns1,东湖\n", Format::Csv(RecordKind::Street)).unwrap();
        assert_eq!(rows[0].line, 4);
    }

    #[test]
    fn csv_records_after_a_multi_line_cell_keep_their_lines() {
        let text = "id,street_id,name\nc1,s1,\"幸福\n社区\"\nc2,s1,和平社区\n";
        let rows = parse(text, Format::Csv(RecordKind::Community)).unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn csv_unknown_organisation_kind_is_a_bad_row() {
        let text =
            "id,community_id,organisation_kind,name\no1,c1,party-branch,支部\no2,c1,club,俱乐部\n";
        let rows = rows(parse(text, Format::Csv(RecordKind::Organisation)).unwrap_err());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 3);
        assert!(rows[0].message.contains("unknown organisation kind `club`"));
        assert!(rows[0].message.contains("party-branch"));
    }

    #[test]
    fn csv_header_with_unknown_or_missing_columns_is_refused() {
        let error = parse("id,name,colour\n", Format::Csv(RecordKind::Grid)).unwrap_err();
        let ImportError::Header(message) = error else {
            panic!("expected a header error, got {error}");
        };
        assert!(message.contains("unknown column `colour`"), "{message}");
        assert!(
            message.contains("missing column `community_id`"),
            "{message}"
        );
        assert!(message.contains("id,community_id,name"), "{message}");
    }

    #[test]
    fn csv_header_of_another_kind_is_named() {
        let error = parse(
            "id,street_id,name\nc1,s1,幸福社区\n",
            Format::Csv(RecordKind::Grid),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("that of a community file"),
            "{error}"
        );
    }

    #[test]
    fn csv_header_with_a_repeated_column_is_refused() {
        let error = parse("id,id,name\n", Format::Csv(RecordKind::Street)).unwrap_err();
        assert!(
            error.to_string().contains("column `id` appears twice"),
            "{error}"
        );
    }

    #[test]
    fn empty_csv_is_refused_with_the_expected_header() {
        let error = parse("", Format::Csv(RecordKind::Street)).unwrap_err();
        assert!(
            matches!(&error, ImportError::Header(m) if m.contains("`id,name`")),
            "{error}"
        );
    }

    #[test]
    fn json_lines_read_records_and_skip_blank_lines() {
        let text = "{\"kind\":\"street\",\"id\":\"s1\",\"name\":\"东湖街道\"}\n\n  \n{\"kind\":\"membership\",\"organisation_id\":\"o1\",\"resident_id\":\"r1\"}\n";
        let rows = parse(text, Format::JsonLines).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 1);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].record.id(), "o1/r1");
    }

    #[test]
    fn json_lines_collect_every_bad_line() {
        let text = [
            r#"{"kind":"street","id":"s1","name":"东湖街道"}"#,
            r#"{"kind":"street","id":"s2""#,
            r#"{"kind":"person","id":"p1"}"#,
            r#"{"id":"s3","name":"无"}"#,
            r#"{"kind":"grid","id":"g1","name":"第一网格"}"#,
            r#"{"kind":"organisation","id":"o1","community_id":"c1","organisation_kind":"club","name":"俱乐部"}"#,
            r#"[1,2]"#,
        ]
        .join("\n");
        let rows = rows(parse(&text, Format::JsonLines).unwrap_err());
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7], "{rows:?}");
        assert!(
            rows[1].message.contains("unknown variant `person`"),
            "{rows:?}"
        );
        assert!(rows[2].message.contains("needs a `kind`"), "{rows:?}");
        assert!(
            rows[3].message.contains("missing field `community_id`"),
            "{rows:?}"
        );
        assert!(
            rows[4].message.contains("unknown variant `club`"),
            "{rows:?}"
        );
        assert!(!rows[0].message.contains("at line"), "{rows:?}");
    }

    #[test]
    fn json_lines_organisation_without_its_kind_is_refused() {
        let text = r#"{"kind":"organisation","id":"o1","community_id":"c1","name":"支部"}"#;
        let rows = rows(parse(text, Format::JsonLines).unwrap_err());
        assert!(rows[0].message.contains("organisation_kind"), "{rows:?}");
    }

    #[test]
    fn bad_rows_summary_shows_twenty_then_counts_the_rest() {
        let errors: Vec<RowError> = (1..=25)
            .map(|line| RowError {
                line,
                message: "bad".to_owned(),
            })
            .collect();
        let text = ImportError::Rows(errors).to_string();
        assert!(
            text.starts_with("25 bad rows: line 1: bad; line 2: bad;"),
            "{text}"
        );
        assert!(text.contains("line 20: bad; and 5 more"), "{text}");
        assert!(!text.contains("line 21"), "{text}");
        let one = ImportError::Rows(vec![RowError {
            line: 4,
            message: "bad".to_owned(),
        }]);
        assert_eq!(one.to_string(), "1 bad row: line 4: bad");
    }

    #[test]
    fn bad_rows_are_capped() {
        let text: String = (0..MAX_ROW_ERRORS + 50).map(|_| "{}\n").collect();
        let rows = rows(parse(&text, Format::JsonLines).unwrap_err());
        assert_eq!(rows.len(), MAX_ROW_ERRORS);
        assert!(
            ImportError::Rows(rows)
                .to_string()
                .starts_with("at least 1000 bad rows")
        );
    }

    #[test]
    fn valid_district_is_accepted() {
        validate(&numbered(district()), &ExistingIds::default(), TODAY).unwrap();
    }

    #[test]
    fn references_resolve_in_any_order() {
        let mut records = district();
        records.reverse();
        validate(&numbered(records), &ExistingIds::default(), TODAY).unwrap();
    }

    #[test]
    fn references_resolve_from_existing_ids() {
        let records: Vec<Record> = district().into_iter().skip(5).collect();
        let existing = ExistingIds {
            grids: ["g1".to_owned()].into(),
            households: ["h1".to_owned()].into(),
            communities: ["c1".to_owned()].into(),
            ..ExistingIds::default()
        };
        validate(&numbered(records.clone()), &existing, TODAY).unwrap();

        let problems =
            rows(validate(&numbered(records), &ExistingIds::default(), TODAY).unwrap_err());
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 3, "{messages:?}");
        assert!(messages[0].contains("household_id `h1` matches no household"));
        assert!(messages[1].contains("grid_id `g1` matches no grid"));
        assert!(messages[2].contains("community_id `c1` matches no community"));
    }

    #[test]
    fn reference_to_a_record_of_another_kind_is_refused() {
        let mut records = district();
        if let Some(Record::Building(b)) = records.get_mut(3) {
            b.grid_id = "c1".to_owned();
        }
        let problems =
            rows(validate(&numbered(records), &ExistingIds::default(), TODAY).unwrap_err());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 4);
        assert!(
            problems[0]
                .message
                .starts_with("building `b1`: grid_id `c1` matches no grid")
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        refused(
            &resident_problems(|r| r.id = "r 1".to_owned()),
            "id `r 1` contains a space",
        );
        refused(&resident_problems(|r| r.id = String::new()), "id is empty");
        refused(
            &resident_problems(|r| r.id = "r".repeat(65)),
            "id is 65 characters long",
        );
        refused(
            &resident_problems(|r| r.grid_id = "网格".to_owned()),
            "grid_id `网格` contains `网`",
        );
        let problems = resident_problems(|r| r.id = "r-1_a.b:C".to_owned());
        // Only the membership, which still names `r1`, is left wrong.
        assert_eq!(problems.len(), 1, "{problems:?}");
        refused(&problems, "resident_id `r1` matches no resident");
    }

    #[test]
    fn required_text_is_refused_when_blank_or_too_long() {
        refused(
            &resident_problems(|r| r.name = "  ".to_owned()),
            "name is empty",
        );
        refused(
            &resident_problems(|r| r.name = "名".repeat(201)),
            "name is 201 characters long",
        );
        refused(
            &resident_problems(|r| r.address = Some(" ".to_owned())),
            "address is blank",
        );
        assert!(resident_problems(|r| r.name = "名".repeat(200)).is_empty());
    }

    #[test]
    fn duplicate_ids_are_reported_at_the_second_occurrence() {
        let mut records = district();
        records.push(Record::Resident(resident("r1")));
        records.push(Record::Membership(Membership {
            organisation_id: "o1".to_owned(),
            resident_id: "r1".to_owned(),
            role: String::new(),
        }));
        // The same id in another kind is no duplicate.
        records.push(Record::Grid(Grid {
            id: "r1".to_owned(),
            community_id: "c1".to_owned(),
            name: "网格".to_owned(),
        }));
        let problems =
            rows(validate(&numbered(records), &ExistingIds::default(), TODAY).unwrap_err());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].line, 9);
        assert!(
            problems[0]
                .message
                .contains("resident id `r1` is already used on line 6")
        );
        assert_eq!(problems[1].line, 10);
        assert!(
            problems[1]
                .message
                .contains("already listed as a member of organisation `o1` on line 8")
        );
    }

    #[test]
    fn bad_phones_are_refused() {
        refused(
            &resident_problems(|r| r.phone = Some("1234".to_owned())),
            "phone has 4 digits",
        );
        refused(
            &resident_problems(|r| r.phone = Some("1".repeat(16))),
            "phone has 16 digits",
        );
        refused(
            &resident_problems(|r| r.phone = Some("138x0000000".to_owned())),
            "phone contains `x`",
        );
        refused(
            &resident_problems(|r| r.family_contact_phone = Some("++8613800000000".to_owned())),
            "family_contact_phone contains `+`",
        );
        assert!(resident_problems(|r| r.phone = Some("12345".to_owned())).is_empty());
    }

    #[test]
    fn id_numbers_are_checked() {
        let good = id_number("19500101");
        let last = good.chars().last().unwrap();
        let wrong = if last == '0' { '1' } else { '0' };
        let bad = format!("{}{wrong}", &good[..17]);
        refused(
            &resident_problems(|r| r.id_number = Some(bad)),
            "check character does not match",
        );
        refused(
            &resident_problems(|r| r.id_number = Some("1101051950".to_owned())),
            "is 10 characters long",
        );
        refused(
            &resident_problems(|r| r.id_number = Some("11010519500A011234".to_owned())),
            "non-digit among its first 17",
        );
        refused(
            &resident_problems(|r| r.id_number = Some(format!("{}Y", &good[..17]))),
            "other than a digit or X",
        );
        refused(
            &resident_problems(|r| r.id_number = Some("1101051949123100中X".to_owned())),
            "non-digit among its first 17",
        );
        assert!(resident_problems(|r| r.id_number = Some("110105500101123".to_owned())).is_empty());
        // The published example number of GB 11643 ends in X, also accepted in lowercase.
        assert!(
            resident_problems(|r| r.id_number = Some("11010519491231002X".to_owned())).is_empty()
        );
        assert!(
            resident_problems(|r| r.id_number = Some("11010519491231002x".to_owned())).is_empty()
        );
    }

    #[test]
    fn id_numbers_do_not_appear_in_messages() {
        let problems = resident_problems(|r| r.id_number = Some("110105194912310021".to_owned()));
        refused(&problems, "check character");
        assert!(problems.iter().all(|p| !p.contains("1949")), "{problems:?}");
    }

    #[test]
    fn birth_dates_are_checked() {
        let set = |date: &str| {
            let date = date.to_owned();
            resident_problems(move |r| r.birth_date = Some(date))
        };
        refused(&set("2023-02-30"), "not a real calendar date");
        refused(&set("2023-02-29"), "not a real calendar date");
        refused(&set("1900-02-29"), "not a real calendar date");
        refused(&set("2023-13-01"), "month must be 01 to 12");
        refused(&set("2026-11-23"), "in the future");
        refused(&set("1899-12-31"), "before 1900");
        refused(&set("1950/01/01"), "YYYY-MM-DD");
        refused(&set("1950-1-1"), "YYYY-MM-DD");
        assert!(set("2024-02-29").is_empty());
        assert!(set("2000-02-29").is_empty());
        assert!(set("2026-11-22").is_empty());
        assert!(set("1900-01-01").is_empty());
    }

    #[test]
    fn tags_are_checked() {
        let set = |tags: &[&str]| {
            let tags = tags.iter().map(|t| t.to_string()).collect();
            resident_problems(move |r| r.tags = tags)
        };
        refused(&set(&["Elderly"]), "tag `Elderly` is not allowed");
        refused(&set(&["living alone"]), "tag `living alone` is not allowed");
        refused(&set(&[""]), "tag `` is not allowed");
        refused(&set(&[&"a".repeat(33)]), "is not allowed");
        let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        refused(&set(&many), "33 tags; at most 32");
        assert!(set(&many[..32]).is_empty());
        assert!(set(&["party-member", "a1", &"b".repeat(32)]).is_empty());
    }

    #[test]
    fn every_bad_row_is_reported() {
        let mut records = district();
        records.push(Record::Resident(Resident {
            phone: Some("1".to_owned()),
            ..resident("r2")
        }));
        records.push(Record::Resident(Resident {
            birth_date: Some("2030-01-01".to_owned()),
            ..resident("r3")
        }));
        let problems =
            rows(validate(&numbered(records), &ExistingIds::default(), TODAY).unwrap_err());
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [9, 10]);
        assert!(problems[0].message.starts_with("resident `r2`: phone"));
    }

    #[test]
    fn csv_round_trips_every_kind() {
        let mut records = district();
        records.push(Record::Resident(Resident {
            household_id: None,
            tags: Vec::new(),
            name: "名字, 带\"引号\"\n和换行".to_owned(),
            phone: None,
            id_number: None,
            birth_date: None,
            address: None,
            family_contact_name: None,
            family_contact_phone: None,
            ..resident("r2")
        }));
        for &kind in RecordKind::ALL {
            let text = to_csv(kind, &records);
            assert!(text.starts_with(&kind.columns().join(",")), "{text}");
            let parsed: Vec<Record> = parse(&text, Format::Csv(kind))
                .unwrap()
                .into_iter()
                .map(|n| n.record)
                .collect();
            let expected: Vec<Record> = records
                .iter()
                .filter(|r| r.kind() == kind)
                .cloned()
                .collect();
            assert_eq!(parsed, expected, "{kind}");
        }
    }

    #[test]
    fn json_lines_round_trip_every_kind() {
        let records = district();
        let text = to_json_lines(&records);
        assert_eq!(text.lines().count(), records.len());
        assert!(
            text.contains(r#""organisation_kind":"party-branch""#),
            "{text}"
        );
        let parsed: Vec<Record> = parse(&text, Format::JsonLines)
            .unwrap()
            .into_iter()
            .map(|n| n.record)
            .collect();
        assert_eq!(parsed, records);
    }
}
