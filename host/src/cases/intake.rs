//! What Open311 needs beyond a case: whether a district publishes its
//! service requests, each service's keywords and attributes, and what a
//! service request carried beside its description (the caller's contact and
//! the `attribute[…]` answers).
//!
//! The design decision to know: **these live beside the case, not in it.**
//! A case's description is what the problem is; a caller's phone number is
//! personal data that only those handling the case may see, so it is kept
//! in `case_intake`, written in the case's own transaction, and no public
//! or Open311 read ever returns it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Any;

use crate::kernel::store::{Store, StoreError, corrupt, from_json};

/// Whether a district's service requests can be read without a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open311Policy {
    /// Service requests of public services are readable without a key
    /// (what GeoReport v2 expects; the default).
    pub public_reads: bool,
}

impl Default for Open311Policy {
    fn default() -> Self {
        Open311Policy { public_reads: true }
    }
}

/// A service's Open311 settings, beside its case category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Its service requests may be read without a key (when the district
    /// publishes any).
    #[serde(default = "yes")]
    pub public: bool,
    /// Search words for clients (`keywords` of the service list).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// What a request of this service may or must tell, beyond the
    /// description (GeoReport v2 attributes).
    #[serde(default)]
    pub attributes: Vec<ServiceAttribute>,
}

fn yes() -> bool {
    true
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            public: true,
            keywords: Vec::new(),
            attributes: Vec::new(),
        }
    }
}

/// A change to a service's settings: what is given replaces, what is left
/// out stays as it is (so adding keywords never makes a private service
/// public).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettingsChange {
    /// Public or not.
    #[serde(default)]
    pub public: Option<bool>,
    /// The keywords, all of them.
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    /// The attributes, all of them.
    #[serde(default)]
    pub attributes: Option<Vec<ServiceAttribute>>,
}

impl ServiceSettingsChange {
    /// `current` with this change made.
    pub fn apply(self, current: ServiceSettings) -> ServiceSettings {
        ServiceSettings {
            public: self.public.unwrap_or(current.public),
            keywords: self.keywords.unwrap_or(current.keywords),
            attributes: self.attributes.unwrap_or(current.attributes),
        }
    }
}

/// The most keywords of a service, and the longest one, in characters.
pub const MAX_KEYWORDS: usize = 20;
const MAX_KEYWORD: usize = 50;
/// The most attributes a service defines, or a request carries.
pub const MAX_ATTRIBUTES: usize = 50;
/// The longest attribute code, in characters.
pub const MAX_ATTRIBUTE_CODE: usize = 100;
/// The longest attribute answer, in characters.
pub const MAX_ATTRIBUTE_VALUE: usize = 4000;
/// The most choices of a list attribute.
const MAX_VALUES: usize = 200;

/// A GeoReport v2 attribute of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAttribute {
    /// Its code: the `…` of `attribute[…]`.
    pub code: String,
    /// What kind of answer it takes.
    pub datatype: Datatype,
    /// Whether a request must answer it.
    #[serde(default)]
    pub required: bool,
    /// The question, as a client shows it.
    pub description: String,
    /// How to answer, for clients that show help.
    #[serde(default)]
    pub datatype_description: String,
    /// Where a client shows it among the others.
    #[serde(default)]
    pub order: u32,
    /// Whether it asks for an answer (`false`: it is only text shown to
    /// the person filing).
    #[serde(default = "yes")]
    pub variable: bool,
    /// The choices of a list attribute.
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

/// A choice of a list attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeValue {
    /// What a request sends.
    pub key: String,
    /// What a person sees.
    pub name: String,
}

/// The kinds of answer GeoReport v2 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Datatype {
    /// A line of text.
    String,
    /// A number.
    Number,
    /// An RFC 3339 date-time.
    Datetime,
    /// Longer text.
    Text,
    /// One of the values.
    Singlevaluelist,
    /// Any of the values.
    Multivaluelist,
}

impl Datatype {
    /// The name GeoReport v2 uses.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn is_list(self) -> bool {
        matches!(self, Datatype::Singlevaluelist | Datatype::Multivaluelist)
    }
}

/// A code, key or keyword: not empty, at most `max` characters, no control
/// characters.
fn check_word(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(format!(
            "{what} `{text}` is invalid: give 1 to {max} characters without control characters"
        ));
    }
    Ok(())
}

impl ServiceSettings {
    /// Whether these settings can be saved; the error says what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(format!(
                "{} keywords given; at most {MAX_KEYWORDS} are allowed",
                self.keywords.len()
            ));
        }
        for k in &self.keywords {
            check_word("keyword", k, MAX_KEYWORD)?;
            if k.contains(',') {
                return Err(format!(
                    "keyword `{k}` holds a comma; Open311 sends keywords comma-separated, so give each on its own"
                ));
            }
        }
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(format!(
                "{} attributes given; at most {MAX_ATTRIBUTES} are allowed",
                self.attributes.len()
            ));
        }
        let mut codes = std::collections::HashSet::new();
        for a in &self.attributes {
            check_word("attribute code", &a.code, MAX_ATTRIBUTE_CODE)?;
            if a.code.contains(['[', ']']) {
                return Err(format!(
                    "attribute code `{}` holds a bracket; it is sent as attribute[{}], so leave brackets out",
                    a.code, a.code
                ));
            }
            if !codes.insert(a.code.as_str()) {
                return Err(format!("attribute `{}` is defined twice", a.code));
            }
            if a.description.trim().is_empty() {
                return Err(format!(
                    "attribute `{}` needs a description: the question clients show",
                    a.code
                ));
            }
            if a.datatype.is_list() && a.values.is_empty() {
                return Err(format!(
                    "attribute `{}` is a {} and needs values to choose from",
                    a.code,
                    a.datatype.as_str()
                ));
            }
            if !a.datatype.is_list() && !a.values.is_empty() {
                return Err(format!(
                    "attribute `{}` is a {}; only singlevaluelist and multivaluelist take values",
                    a.code,
                    a.datatype.as_str()
                ));
            }
            if a.values.len() > MAX_VALUES {
                return Err(format!(
                    "attribute `{}` has {} values; at most {MAX_VALUES} are allowed",
                    a.code,
                    a.values.len()
                ));
            }
            let mut keys = std::collections::HashSet::new();
            for v in &a.values {
                check_word("value key", &v.key, MAX_ATTRIBUTE_CODE)?;
                check_word("value name", &v.name, MAX_ATTRIBUTE_CODE)?;
                if !keys.insert(v.key.as_str()) {
                    return Err(format!(
                        "attribute `{}` has value `{}` twice",
                        a.code, v.key
                    ));
                }
            }
        }
        Ok(())
    }

    /// Check a request's `attribute[…]` answers against these definitions:
    /// every required one answered, each answer of the defined kind. Answers
    /// to codes the service does not define are kept as sent (clients such
    /// as FixMyStreet add their own to every report), within the limits.
    pub fn check_answers(&self, service: &str, answers: &[AttributeAnswer]) -> Result<(), String> {
        if answers.len() > MAX_ATTRIBUTES {
            return Err(format!(
                "{} attributes given; at most {MAX_ATTRIBUTES} are kept with a request",
                answers.len()
            ));
        }
        for answer in answers {
            check_word("attribute code", &answer.code, MAX_ATTRIBUTE_CODE)?;
            if answer.values.len() > MAX_VALUES {
                return Err(format!(
                    "attribute[{}] is given {} times; at most {MAX_VALUES} values are kept",
                    answer.code,
                    answer.values.len()
                ));
            }
            if let Some(v) = answer
                .values
                .iter()
                .find(|v| v.chars().count() > MAX_ATTRIBUTE_VALUE)
            {
                return Err(format!(
                    "attribute[{}] is {} characters long; at most {MAX_ATTRIBUTE_VALUE} are allowed",
                    answer.code,
                    v.chars().count()
                ));
            }
        }
        for a in self.attributes.iter().filter(|a| a.variable) {
            let given = answers
                .iter()
                .find(|g| g.code == a.code)
                .map(|g| g.values.as_slice())
                .unwrap_or_default();
            if given.is_empty() {
                if a.required {
                    return Err(format!(
                        "attribute[{}] is required for service `{service}` ({}); services/{service}.json defines it",
                        a.code, a.description
                    ));
                }
                continue;
            }
            let keys = || {
                a.values
                    .iter()
                    .map(|v| v.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match a.datatype {
                Datatype::String | Datatype::Text | Datatype::Number | Datatype::Datetime
                    if given.len() > 1 =>
                {
                    return Err(format!(
                        "attribute[{}] takes one value, {} were given",
                        a.code,
                        given.len()
                    ));
                }
                Datatype::Number => {
                    if !given[0].parse::<f64>().is_ok_and(f64::is_finite) {
                        return Err(format!(
                            "attribute[{}] `{}` is not a number; give digits like 12 or 3.5",
                            a.code, given[0]
                        ));
                    }
                }
                Datatype::Datetime => {
                    if let Err(e) = crate::cases::parse_time(&given[0]) {
                        return Err(format!("attribute[{}]: {e}", a.code));
                    }
                }
                Datatype::String | Datatype::Text => {}
                Datatype::Singlevaluelist if given.len() > 1 => {
                    return Err(format!(
                        "attribute[{}] takes one of: {}; {} were given",
                        a.code,
                        keys(),
                        given.len()
                    ));
                }
                Datatype::Singlevaluelist | Datatype::Multivaluelist => {
                    if let Some(bad) = given
                        .iter()
                        .find(|g| !a.values.iter().any(|v| &v.key == *g))
                    {
                        return Err(format!(
                            "attribute[{}] `{bad}` is not one of its values; use {}",
                            a.code,
                            keys()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A request's answer to one attribute: a code and its values (one, or
/// several for a multivaluelist).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeAnswer {
    /// The attribute's code.
    pub code: String,
    /// What was sent.
    pub values: Vec<String>,
}

/// How to reach the person a request was filed for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The contact as one line, as an earlier version kept it (appended to
    /// the description); moved here by migration 0022.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<String>,
}

impl Contact {
    /// Nothing to reach anyone by.
    pub fn is_empty(&self) -> bool {
        *self == Contact::default()
    }

    /// The contact with its name, phone and email masked (`王*`,
    /// `138****0000`, `***@example.org`), for readers who may know there is
    /// one but not whom.
    pub fn masked(&self) -> Contact {
        Contact {
            first_name: self.first_name.as_deref().map(crate::community::mask::name),
            last_name: self.last_name.as_deref().map(crate::community::mask::name),
            phone: self.phone.as_deref().map(crate::community::mask::phone),
            email: self.email.as_deref().map(|e| match e.split_once('@') {
                Some((_, domain)) => format!("***@{domain}"),
                None => "***".to_owned(),
            }),
            earlier: self.earlier.as_ref().map(|_| "***".to_owned()),
        }
    }

    /// One line for a person handling the case: `王 芳, 13800000000`.
    pub fn line(&self) -> String {
        let name = [self.last_name.as_deref(), self.first_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        [
            Some(name.as_str()),
            self.phone.as_deref(),
            self.email.as_deref(),
            self.earlier.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// What a service request carried beside its description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseIntake {
    /// The caller's contact.
    pub contact: Contact,
    /// The `attribute[…]` answers, in the order sent.
    pub attributes: Vec<AttributeAnswer>,
}

impl CaseIntake {
    /// Nothing worth a row.
    pub fn is_empty(&self) -> bool {
        self.contact.is_empty() && self.attributes.is_empty()
    }
}

/// Write a new case's intake in the case's transaction.
pub(crate) async fn insert_intake(
    tx: &mut sqlx::Transaction<'static, Any>,
    case_id: i64,
    intake: &CaseIntake,
) -> Result<(), StoreError> {
    let contact = serde_json::to_string(&intake.contact).map_err(|e| corrupt("case contact", e))?;
    let attributes =
        serde_json::to_string(&intake.attributes).map_err(|e| corrupt("case attributes", e))?;
    sqlx::query("INSERT INTO case_intake (case_id, contact, attributes) VALUES ($1, $2, $3)")
        .bind(case_id)
        .bind(contact)
        .bind(attributes)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// A district's Open311 policy (the default when it set none).
    pub async fn open311_policy(&self, district: &str) -> Result<Open311Policy, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT public_reads FROM open311_policies WHERE district = $1")
                .bind(district)
                .fetch_optional(self.pool())
                .await?;
        Ok(
            row.map_or_else(Open311Policy::default, |(public,)| Open311Policy {
                public_reads: public != 0,
            }),
        )
    }

    /// Set a district's Open311 policy.
    pub async fn set_open311_policy(
        &self,
        district: &str,
        policy: &Open311Policy,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO open311_policies (district, public_reads, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (district) DO UPDATE SET public_reads = excluded.public_reads, \
             updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(i64::from(policy.public_reads))
        .bind(self.clock().now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The Open311 settings of a district's services that have any, by code.
    pub async fn service_settings(
        &self,
        district: &str,
    ) -> Result<HashMap<String, ServiceSettings>, StoreError> {
        let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
            "SELECT code, public, keywords, attributes FROM open311_services WHERE district = $1",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(code, public, keywords, attributes)| {
                Ok((
                    code,
                    ServiceSettings {
                        public: public != 0,
                        keywords: from_json("service keywords", &keywords)?,
                        attributes: from_json("service attributes", &attributes)?,
                    },
                ))
            })
            .collect()
    }

    /// Set a service's Open311 settings (its category must exist).
    pub async fn put_service_settings(
        &self,
        district: &str,
        code: &str,
        settings: &ServiceSettings,
    ) -> Result<(), StoreError> {
        let keywords = serde_json::to_string(&settings.keywords)
            .map_err(|e| corrupt("service keywords", e))?;
        let attributes = serde_json::to_string(&settings.attributes)
            .map_err(|e| corrupt("service attributes", e))?;
        sqlx::query(
            "INSERT INTO open311_services (district, code, public, keywords, attributes, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (district, code) DO UPDATE SET \
             public = excluded.public, keywords = excluded.keywords, \
             attributes = excluded.attributes, updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(code)
        .bind(i64::from(settings.public))
        .bind(keywords)
        .bind(attributes)
        .bind(self.clock().now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// What case `case_id`'s service request carried beside its
    /// description, if anything.
    pub async fn case_intake(&self, case_id: i64) -> Result<Option<CaseIntake>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT contact, attributes FROM case_intake WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(self.pool())
                .await?;
        row.map(|(contact, attributes)| {
            Ok(CaseIntake {
                contact: from_json("case contact", &contact)?,
                attributes: from_json("case attributes", &attributes)?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(attributes: serde_json::Value) -> ServiceSettings {
        serde_json::from_value(serde_json::json!({ "attributes": attributes })).unwrap_or_default()
    }

    fn answer(code: &str, values: &[&str]) -> AttributeAnswer {
        AttributeAnswer {
            code: code.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn answers_are_checked_against_their_definitions_and_others_kept() {
        let s = settings(serde_json::json!([
            {"code": "floor", "datatype": "number", "required": true, "description": "哪一层"},
            {"code": "kind", "datatype": "singlevaluelist", "description": "种类",
             "values": [{"key": "lamp", "name": "路灯"}, {"key": "pole", "name": "灯杆"}]},
        ]));
        assert_eq!(s.check(), Ok(()));
        assert!(
            s.check_answers("light", &[])
                .is_err_and(|e| e.contains("attribute[floor] is required"))
        );
        assert!(
            s.check_answers("light", &[answer("floor", &["三"])])
                .is_err_and(|e| e.contains("not a number"))
        );
        assert!(
            s.check_answers(
                "light",
                &[answer("floor", &["3"]), answer("kind", &["tree"])]
            )
            .is_err_and(|e| e.contains("lamp, pole"))
        );
        assert!(
            s.check_answers(
                "light",
                &[answer("floor", &["3"]), answer("kind", &["lamp", "pole"])]
            )
            .is_err()
        );
        // FixMyStreet's own attributes are kept as sent.
        assert_eq!(
            s.check_answers(
                "light",
                &[
                    answer("floor", &["3"]),
                    answer("report_url", &["https://fms.example/r/1"])
                ]
            ),
            Ok(())
        );
    }

    #[test]
    fn definitions_that_clients_could_not_use_are_refused() {
        let list_without_values = settings(serde_json::json!([
            {"code": "kind", "datatype": "multivaluelist", "description": "种类"}
        ]));
        assert!(
            list_without_values
                .check()
                .is_err_and(|e| e.contains("needs values"))
        );
        let twice = settings(serde_json::json!([
            {"code": "a", "datatype": "string", "description": "x"},
            {"code": "a", "datatype": "text", "description": "y"}
        ]));
        assert!(twice.check().is_err_and(|e| e.contains("defined twice")));
        let bracket = settings(serde_json::json!([
            {"code": "a[b]", "datatype": "string", "description": "x"}
        ]));
        assert!(bracket.check().is_err());
        let comma = ServiceSettings {
            keywords: vec!["路灯,照明".into()],
            ..ServiceSettings::default()
        };
        assert!(comma.check().is_err_and(|e| e.contains("comma")));
    }

    #[test]
    fn a_change_keeps_what_it_leaves_out() {
        let private = ServiceSettings {
            public: false,
            keywords: vec!["路灯".into()],
            attributes: Vec::new(),
        };
        let changed = ServiceSettingsChange {
            keywords: Some(vec!["照明".into()]),
            ..ServiceSettingsChange::default()
        }
        .apply(private);
        assert!(!changed.public);
        assert_eq!(changed.keywords, ["照明"]);
    }

    #[test]
    fn a_contact_reads_as_one_line() {
        let c = Contact {
            first_name: Some("芳".into()),
            last_name: Some("王".into()),
            phone: Some("13800000000".into()),
            email: None,
            earlier: None,
        };
        assert_eq!(c.line(), "王 芳, 13800000000");
        assert_eq!(c.masked().line(), "王* 芳*, 138****0000");
        assert!(Contact::default().is_empty());
        let moved: Contact =
            serde_json::from_str(r#"{"earlier": "三 张, 13800001111"}"#).unwrap_or_default();
        assert_eq!(moved.line(), "三 张, 13800001111");
        assert_eq!(moved.masked().line(), "***");
    }
}
