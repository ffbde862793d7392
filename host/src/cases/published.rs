//! What anyone may read of a district's cases without signing in, and the
//! Open311 set-up that decides it: the district's policy, each service's
//! settings, and what a reader is told about a case beyond its row (who
//! has it, when it is expected to be closed, what the request carried).
//!
//! The design decision to know: **a case is public only when three things
//! hold, checked here and nowhere else**: the district publishes service
//! requests ([`Open311Policy::public_reads`], on unless an administrator
//! turns it off), the case's service is public
//! ([`ServiceSettings::public`]), and the case concerns no resident (a case
//! an app opened about a person, a fall alert say, is about that person
//! whoever reported it). A public read never names a worker and never
//! carries the caller's contact, which stays in `case_intake` for those
//! handling the case.

use std::collections::HashMap;

use crate::accounts::Role;
use crate::cases::intake::{CaseIntake, Open311Policy, ServiceSettings, ServiceSettingsChange};
use crate::cases::ops::{CaseActor, Cases, check_text};
use crate::cases::store::{CaseFilter, CasePage, CaseRow, Category};
use crate::cases::{Assignee, Priority, Reporter};
use crate::error::PlatformError;
use crate::kernel::access_log::{Reader as AccessReader, STAFF_READ_CASE_CONTACT, StaffRead};
use crate::kernel::store::Page;

/// What a district publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Service requests can be read without a key.
    pub public_reads: bool,
    /// The codes of the services whose requests are public (none when
    /// `public_reads` is off).
    pub services: Vec<String>,
}

impl Published {
    /// What a district with `policy` and `services` publishes (for a
    /// caller that has read its services already).
    pub fn of(policy: Open311Policy, services: &[Service]) -> Self {
        if !policy.public_reads {
            return Published::default();
        }
        Published {
            public_reads: true,
            services: services
                .iter()
                .filter(|s| s.settings.public)
                .map(|s| s.category.code.clone())
                .collect(),
        }
    }

    /// Whether anyone may read `case`.
    pub fn shows(&self, case: &CaseRow) -> bool {
        self.public_reads && case.resident_id.is_none() && self.services.contains(&case.category)
    }
}

/// A service: its case category and its Open311 settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The category.
    pub category: Category,
    /// Its settings (the defaults when none were set).
    pub settings: ServiceSettings,
}

impl Cases<'_> {
    /// A district's Open311 policy.
    pub async fn open311_policy(&self, district: &str) -> Result<Open311Policy, PlatformError> {
        self.require_district(district).await?;
        Ok(self.store.open311_policy(district).await?)
    }

    /// Set a district's Open311 policy.
    pub async fn set_open311_policy(
        &self,
        district: &str,
        policy: Open311Policy,
    ) -> Result<Open311Policy, PlatformError> {
        self.require_district(district).await?;
        self.store.set_open311_policy(district, &policy).await?;
        tracing::info!(
            district,
            public_reads = policy.public_reads,
            "Open311 policy set"
        );
        Ok(policy)
    }

    /// A district's services: its categories, each with its settings.
    pub async fn services(&self, district: &str) -> Result<Vec<Service>, PlatformError> {
        let categories = self.categories(district).await?;
        let mut settings = self.store.service_settings(district).await?;
        Ok(categories
            .into_iter()
            .map(|category| Service {
                settings: settings.remove(&category.code).unwrap_or_default(),
                category,
            })
            .collect())
    }

    /// Change a service's Open311 settings: what `change` gives replaces,
    /// the rest stays. The category must exist.
    pub async fn change_service_settings(
        &self,
        district: &str,
        code: &str,
        change: ServiceSettingsChange,
    ) -> Result<ServiceSettings, PlatformError> {
        let current = self
            .services(district)
            .await?
            .into_iter()
            .find(|s| s.category.code == code)
            .ok_or_else(|| {
                PlatformError::NotFound(format!("category `{code}` in district `{district}`"))
            })?;
        self.put_service_settings(district, code, change.apply(current.settings))
            .await
    }

    /// Set a service's Open311 settings, all of them; the category must
    /// exist.
    pub async fn put_service_settings(
        &self,
        district: &str,
        code: &str,
        settings: ServiceSettings,
    ) -> Result<ServiceSettings, PlatformError> {
        let categories = self.categories(district).await?;
        if !categories.iter().any(|c| c.code == code) {
            return Err(PlatformError::NotFound(format!(
                "category `{code}` in district `{district}`"
            )));
        }
        settings.check().map_err(PlatformError::Invalid)?;
        for a in &settings.attributes {
            check_text("attribute description", &a.description, true)?;
            check_text(
                "attribute datatype_description",
                &a.datatype_description,
                false,
            )?;
        }
        self.store
            .put_service_settings(district, code, &settings)
            .await?;
        tracing::info!(
            district,
            service = code,
            public = settings.public,
            keywords = settings.keywords.len(),
            attributes = settings.attributes.len(),
            "Open311 service settings set"
        );
        Ok(settings)
    }

    /// What a district publishes.
    pub async fn published(&self, district: &str) -> Result<Published, PlatformError> {
        let policy = self.open311_policy(district).await?;
        if !policy.public_reads {
            return Ok(Published::default());
        }
        Ok(Published::of(policy, &self.services(district).await?))
    }

    fn not_published(district: &str) -> PlatformError {
        PlatformError::Forbidden(format!(
            "district `{district}` does not publish its service requests; send an api_key (a Hutong token) to read those your account may see"
        ))
    }

    /// A page of the cases anyone may read, filtered; refused when the
    /// district publishes none.
    pub async fn public_cases(
        &self,
        district: &str,
        filter: CaseFilter,
    ) -> Result<CasePage, PlatformError> {
        let published = self.published(district).await?;
        self.public_page(district, &published, filter).await
    }

    /// [`Cases::public_cases`] with what the district publishes already
    /// read (a listing reads it once, not once a page).
    pub async fn public_page(
        &self,
        district: &str,
        published: &Published,
        mut filter: CaseFilter,
    ) -> Result<CasePage, PlatformError> {
        if !published.public_reads {
            return Err(Self::not_published(district));
        }
        filter.public_only = true;
        filter.categories = if filter.categories.is_empty() {
            published.services.clone()
        } else {
            filter
                .categories
                .into_iter()
                .filter(|c| published.services.contains(c))
                .collect()
        };
        if filter.categories.is_empty()
            || filter
                .category
                .as_ref()
                .is_some_and(|c| !filter.categories.contains(c))
        {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        self.list_cases(district, &CaseActor::System, filter).await
    }

    /// Case `id` if anyone may read it; otherwise not-found, as for a case
    /// that does not exist.
    pub async fn public_case(&self, district: &str, id: i64) -> Result<CaseRow, PlatformError> {
        let published = self.published(district).await?;
        if !published.public_reads {
            return Err(Self::not_published(district));
        }
        match self.store.case(district, id).await? {
            Some(case) if published.shows(&case) => Ok(case),
            _ => Err(PlatformError::NotFound(format!(
                "case {id} in district `{district}`"
            ))),
        }
    }

    /// The case an Open311 token names, if anyone may read it.
    pub async fn public_case_for_token(
        &self,
        district: &str,
        token: &str,
    ) -> Result<CaseRow, PlatformError> {
        let published = self.published(district).await?;
        if !published.public_reads {
            return Err(Self::not_published(district));
        }
        match self.store.case_by_token(district, token).await? {
            Some(case) if published.shows(&case) => Ok(case),
            _ => Err(PlatformError::NotFound(format!(
                "case with token `{token}` in district `{district}`"
            ))),
        }
    }

    /// What case `id`'s service request carried beside its description,
    /// as `actor` may see it: the reporter and the workers and
    /// administrators who may see the case get the caller's contact and the
    /// attribute answers in full (a staff member's look is logged as
    /// [`STAFF_READ_CASE_CONTACT`], naming `case:<id>`, with `channel`:
    /// `api` or `console`); auditors get them masked; apps get nothing.
    pub async fn case_intake(
        &self,
        district: &str,
        id: i64,
        actor: &CaseActor,
        channel: &str,
    ) -> Result<Option<CaseIntake>, PlatformError> {
        let case = self.case_for(district, id, actor).await?;
        let CaseActor::Person(caller) = actor else {
            return Ok(None);
        };
        let Some(mut intake) = self.store.case_intake(case.id).await? else {
            return Ok(None);
        };
        let own = case.reporter == Reporter::Account(caller.account_id.clone());
        match caller.role {
            // Attribute answers are whatever the district asked for, so
            // they are treated as the contact is.
            Role::Auditor => {
                intake.contact = intake.contact.masked();
                for answer in &mut intake.attributes {
                    answer.values = vec!["***".to_owned()];
                }
            }
            Role::Resident => {}
            Role::Worker | Role::DistrictAdmin | Role::PlatformAdmin if own => {}
            Role::Worker | Role::DistrictAdmin | Role::PlatformAdmin => {
                let record = format!("case:{}", case.id);
                self.store
                    .log_staff_read(StaffRead {
                        district,
                        reader: AccessReader::Account {
                            id: &caller.account_id,
                            role: caller.role.as_str(),
                        },
                        request_id: channel,
                        operation: STAFF_READ_CASE_CONTACT,
                        record_ids: std::slice::from_ref(&record),
                        field_class: "personal",
                    })
                    .await?;
            }
        }
        Ok(Some(intake))
    }

    /// When each of `cases` is expected to be closed: reported at plus the
    /// time limits of its category and priority for acceptance, handling
    /// and verification, where the district set them.
    pub async fn expected_close(
        &self,
        district: &str,
        cases: &[CaseRow],
    ) -> Result<HashMap<i64, i64>, PlatformError> {
        let mut limits: HashMap<(String, Priority), Option<i64>> = HashMap::new();
        let mut expected = HashMap::new();
        for case in cases {
            let key = (case.category.clone(), case.priority);
            let minutes = match limits.get(&key) {
                Some(m) => *m,
                None => {
                    let m = self
                        .store
                        .deadline_for(district, &case.category, case.priority)
                        .await?
                        .map(|d| d.accept_minutes + d.handle_minutes + d.verify_minutes);
                    limits.insert(key, m);
                    m
                }
            };
            if let Some(m) = minutes {
                expected.insert(case.id, case.created_at.saturating_add(m * 60_000));
            }
        }
        Ok(expected)
    }

    /// Who has each of `cases`, as a reader is told: a department by its
    /// name; a worker by their name for readers with a key (who may see
    /// the case), and as "工作人员 (staff)" in a public read, which names no
    /// one.
    pub async fn agencies(
        &self,
        district: &str,
        cases: &[CaseRow],
        public: bool,
    ) -> Result<HashMap<i64, String>, PlatformError> {
        if cases.iter().all(|c| c.assignee.is_none()) {
            return Ok(HashMap::new());
        }
        let departments: HashMap<String, String> = self
            .store
            .departments(district)
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let mut workers: HashMap<String, String> = HashMap::new();
        let mut agencies = HashMap::new();
        for case in cases {
            let name = match &case.assignee {
                None => continue,
                Some(Assignee::Department(id)) => {
                    departments.get(id).cloned().unwrap_or_else(|| id.clone())
                }
                Some(Assignee::Worker(_)) if public => "工作人员 (staff)".to_owned(),
                Some(Assignee::Worker(id)) => match workers.get(id) {
                    Some(n) => n.clone(),
                    None => {
                        let name = match self.store.get_account(id).await {
                            Ok(a) if !a.display_name.is_empty() => a.display_name,
                            _ => id.clone(),
                        };
                        workers.insert(id.clone(), name.clone());
                        name
                    }
                },
            };
            agencies.insert(case.id, name);
        }
        Ok(agencies)
    }
}
