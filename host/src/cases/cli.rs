//! `hutong case …`: list, view, report and move cases, and set up a
//! district's categories, departments, time limits and policy.
//!
//! Reading needs no account (the operator at the CLI holds the database
//! anyway); changing a case needs `--as <account>`, so its history names a
//! person and the same rules apply as through the API.

use crate::PlatformError;
use crate::accounts::Caller;
use crate::cases::intake::{Open311Policy, ServiceSettingsChange};
use crate::cases::ops::{CaseActor, CaseCommand, CaseReport};
use crate::cases::store::{CaseFilter, CasePolicy, CaseRow, Category, Deadline, Department};
use crate::cases::{Action, Assignee, CaseState, Priority, Tier, format_ms};
use crate::server::Opened;
use anyhow::{Context, Result, bail};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum CaseCommandLine {
    /// List a district's cases, newest first.
    List {
        #[arg(long)]
        district: String,
        #[arg(long)]
        state: Option<CaseState>,
        #[arg(long)]
        tier: Option<Tier>,
        /// Only overdue cases.
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        grid: Option<String>,
        /// `department:<id>` or `worker:<account>`.
        #[arg(long)]
        assignee: Option<Assignee>,
        /// See the list as this account sees it.
        #[arg(long = "as")]
        as_account: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The `next` cursor a previous page printed.
        #[arg(long)]
        before: Option<i64>,
    },
    /// Show a case with its history as JSON.
    Show {
        #[arg(long)]
        district: String,
        id: i64,
        #[arg(long = "as")]
        as_account: Option<String>,
    },
    /// Report a case as an account.
    Report {
        #[arg(long)]
        district: String,
        #[arg(long = "as")]
        as_account: String,
        #[arg(long)]
        category: String,
        #[arg(long)]
        priority: Option<Priority>,
        #[arg(long)]
        grid: Option<String>,
        #[arg(long)]
        building: Option<String>,
        /// The resident concerned.
        #[arg(long)]
        resident: Option<String>,
        #[arg(long)]
        description: String,
    },
    /// Do something to a case: accept, reject, dispatch, reassign, start,
    /// handle, verify, fail-verification, close, reopen, escalate, comment,
    /// evaluate.
    Act {
        #[arg(long)]
        district: String,
        id: i64,
        action: Action,
        #[arg(long = "as")]
        as_account: String,
        /// The reason, feedback or comment.
        #[arg(long)]
        note: Option<String>,
        /// Who gets it (dispatch, reassign): `department:<id>` or `worker:<account>`.
        #[arg(long)]
        to: Option<Assignee>,
        /// The rating (evaluate), 1–5.
        #[arg(long)]
        satisfaction: Option<i64>,
    },
    /// Open cases by state, overdue, median time to close, satisfaction.
    Figures {
        #[arg(long)]
        district: String,
    },
    /// Create or change a category (an Open311 service).
    Category {
        #[arg(long)]
        district: String,
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long, default_value = "")]
        group: String,
    },
    /// Create or change a department cases can be dispatched to.
    Department {
        #[arg(long)]
        district: String,
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        tier: Tier,
        /// Its grid, community or street (not for district or city).
        #[arg(long)]
        unit: Option<String>,
        /// A worker account in it (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Set the time limits (minutes) for a category (or `*`) and priority.
    Deadline {
        #[arg(long)]
        district: String,
        #[arg(long, default_value = "*")]
        category: String,
        #[arg(long)]
        priority: Priority,
        #[arg(long)]
        accept: i64,
        #[arg(long)]
        handle: i64,
        #[arg(long)]
        verify: i64,
    },
    /// Set the reopen window and whether overdue cases escalate by themselves.
    Policy {
        #[arg(long)]
        district: String,
        #[arg(long)]
        reopen_days: i64,
        #[arg(long)]
        auto_escalate: bool,
    },
    /// Flag overdue cases (and escalate them where the policy says so) now,
    /// instead of waiting for a serving host's sweep.
    Sweep,
    /// Set whether the district's Open311 service requests can be read
    /// without a key (true by default, as GeoReport v2 expects).
    Open311 {
        #[arg(long)]
        district: String,
        /// `true`: anyone reads the requests of public services; `false`:
        /// only callers with a key, each what their role may see.
        #[arg(long, action = clap::ArgAction::Set)]
        public_reads: bool,
    },
    /// Change a category's Open311 service settings: public or not,
    /// keywords, and the attributes a request answers. What is not given
    /// stays as it is.
    Service {
        #[arg(long)]
        district: String,
        /// The category's code.
        code: String,
        /// `false` keeps its requests out of reads without a key.
        #[arg(long, action = clap::ArgAction::Set)]
        public: Option<bool>,
        /// A search word for clients (repeatable; replaces all keywords).
        #[arg(long = "keyword")]
        keywords: Vec<String>,
        /// Remove every keyword.
        #[arg(long, conflicts_with = "keywords")]
        no_keywords: bool,
        /// A JSON file with the GeoReport v2 attribute definitions: a list
        /// of {"code", "datatype", "required", "description", "order",
        /// "values": [{"key", "name"}]} (docs/open311.md).
        #[arg(long)]
        attributes: Option<std::path::PathBuf>,
    },
}

async fn actor(opened: &Opened, account: Option<&str>) -> Result<CaseActor> {
    let Some(id) = account else {
        return Ok(CaseActor::System);
    };
    let account = opened
        .platform
        .store()
        .get_account(id)
        .await
        .map_err(PlatformError::from)
        .with_context(|| format!("no account `{id}`"))?;
    if account.disabled_at.is_some() {
        bail!("account `{id}` is disabled");
    }
    Ok(CaseActor::Person(Caller::of(&account)))
}

fn line(c: &CaseRow) -> String {
    format!(
        "{:>8}  {:<11} {:<9} {:<7} {:<16} {:<12} {}{}  {}",
        c.id,
        c.state,
        c.tier,
        c.priority,
        c.category,
        c.grid_id.as_deref().unwrap_or("-"),
        c.assignee
            .as_ref()
            .map(Assignee::label)
            .unwrap_or_else(|| "-".into()),
        if c.overdue { "  OVERDUE" } else { "" },
        c.description.chars().take(40).collect::<String>(),
    )
}

pub async fn run(opened: &Opened, command: CaseCommandLine) -> Result<()> {
    let platform = &opened.platform;
    match command {
        CaseCommandLine::List {
            district,
            state,
            tier,
            overdue,
            category,
            grid,
            assignee,
            as_account,
            limit,
            before,
        } => {
            let filter = CaseFilter {
                state,
                tier,
                overdue: overdue.then_some(true),
                category,
                grid_id: grid,
                assignee,
                before,
                limit,
                ..CaseFilter::default()
            };
            let who = actor(opened, as_account.as_deref()).await?;
            let page = platform.cases().list_cases(&district, &who, filter).await?;
            println!(
                "{:>8}  {:<11} {:<9} {:<7} {:<16} {:<12} assignee  description",
                "id", "state", "tier", "prio", "category", "grid"
            );
            for c in &page.items {
                println!("{}", line(c));
            }
            if let Some(next) = page.next {
                println!("more: --before {next}");
            }
        }
        CaseCommandLine::Show {
            district,
            id,
            as_account,
        } => {
            let who = actor(opened, as_account.as_deref()).await?;
            let view = platform.cases().view_case(&district, id, &who).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        CaseCommandLine::Report {
            district,
            as_account,
            category,
            priority,
            grid,
            building,
            resident,
            description,
        } => {
            let who = actor(opened, Some(&as_account)).await?;
            let report = CaseReport {
                category,
                priority,
                grid_id: grid,
                building_id: building,
                resident_id: resident,
                description,
                ..CaseReport::default()
            };
            let case = platform
                .cases()
                .report_case(&district, &who, report)
                .await?;
            println!("reported case {} at the {} tier", case.id, case.tier);
        }
        CaseCommandLine::Act {
            district,
            id,
            action,
            as_account,
            note,
            to,
            satisfaction,
        } => {
            let who = actor(opened, Some(&as_account)).await?;
            let command = CaseCommand {
                action,
                note,
                assignee: to,
                satisfaction,
            };
            let (case, change) = platform
                .cases()
                .act_on_case(&district, id, &who, command)
                .await?;
            println!(
                "case {}: {} → {} ({} tier) at {}",
                case.id,
                change.from_state,
                change.to_state,
                case.tier,
                format_ms(change.at)
            );
        }
        CaseCommandLine::Figures { district } => {
            let f = platform.cases().case_figures(&district).await?;
            for (state, n) in &f.open_by_state {
                println!("open {state:<11} {n}");
            }
            println!("overdue          {}", f.overdue);
            println!("closed           {}", f.closed);
            match f.median_close_ms {
                Some(ms) => println!("median to close  {:.1} h", ms as f64 / 3_600_000.0),
                None => println!("median to close  -"),
            }
            match f.mean_satisfaction {
                Some(s) => println!(
                    "satisfaction     {s:.2} of 5 ({} evaluations)",
                    f.evaluations
                ),
                None => println!("satisfaction     - (no evaluations)"),
            }
        }
        CaseCommandLine::Category {
            district,
            code,
            name,
            description,
            group,
        } => {
            let c = platform
                .cases()
                .put_category(
                    &district,
                    Category {
                        code,
                        name,
                        description,
                        group,
                    },
                )
                .await?;
            println!("category {} ({}) saved in {district}", c.code, c.name);
        }
        CaseCommandLine::Department {
            district,
            id,
            name,
            tier,
            unit,
            members,
        } => {
            let d = platform
                .cases()
                .put_department(
                    &district,
                    Department {
                        id,
                        name,
                        tier,
                        unit_id: unit,
                        members,
                    },
                )
                .await?;
            println!("department {} ({} tier) saved in {district}", d.id, d.tier);
        }
        CaseCommandLine::Deadline {
            district,
            category,
            priority,
            accept,
            handle,
            verify,
        } => {
            let mut all = platform
                .store()
                .deadlines(&district)
                .await
                .map_err(PlatformError::from)?;
            all.retain(|d| !(d.category == category && d.priority == priority));
            all.push(Deadline {
                category: category.clone(),
                priority,
                accept_minutes: accept,
                handle_minutes: handle,
                verify_minutes: verify,
            });
            platform.cases().set_deadlines(&district, all).await?;
            println!(
                "time limits for {category}/{priority} in {district}: accept {accept} min, handle {handle} min, verify {verify} min"
            );
        }
        CaseCommandLine::Policy {
            district,
            reopen_days,
            auto_escalate,
        } => {
            let p = platform
                .cases()
                .set_case_policy(
                    &district,
                    CasePolicy {
                        reopen_days,
                        auto_escalate,
                    },
                )
                .await?;
            println!(
                "{district}: reopen within {} days; overdue cases {}",
                p.reopen_days,
                if p.auto_escalate {
                    "escalate by themselves"
                } else {
                    "are flagged only"
                }
            );
        }
        CaseCommandLine::Open311 {
            district,
            public_reads,
        } => {
            let p = platform
                .cases()
                .set_open311_policy(&district, Open311Policy { public_reads })
                .await?;
            println!(
                "{district}: Open311 service requests {}",
                if p.public_reads {
                    "of public services can be read without a key"
                } else {
                    "can be read only with a key"
                }
            );
        }
        CaseCommandLine::Service {
            district,
            code,
            public,
            keywords,
            no_keywords,
            attributes,
        } => {
            let attributes = match attributes {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Some(serde_json::from_str(&text).with_context(|| {
                        format!(
                            "{} is not a JSON list of attribute definitions (see docs/open311.md)",
                            path.display()
                        )
                    })?)
                }
            };
            let keywords = if no_keywords {
                Some(Vec::new())
            } else {
                Some(keywords).filter(|k| !k.is_empty())
            };
            let s = platform
                .cases()
                .change_service_settings(
                    &district,
                    &code,
                    ServiceSettingsChange {
                        public,
                        keywords,
                        attributes,
                    },
                )
                .await?;
            println!(
                "service {code} of {district}: {}, {} keywords, {} attributes",
                if s.public { "public" } else { "private" },
                s.keywords.len(),
                s.attributes.len()
            );
        }
        CaseCommandLine::Sweep => {
            let r = platform.cases().sweep_case_deadlines().await?;
            println!(
                "{} cases newly overdue, {} escalated",
                r.flagged, r.escalated
            );
        }
    }
    Ok(())
}

/// Give a demo district categories, departments, time limits, a policy and
/// (if it has none) one reported case; returns a case id to try things on.
pub async fn demo_set_up(opened: &Opened, district: &str) -> Result<i64> {
    let platform = &opened.platform;
    for (code, name, group) in [
        ("road", "道路破损 Road damage", "城市管理"),
        ("noise", "噪音扰民 Noise", "城市管理"),
        ("sanitation", "环境卫生 Sanitation", "城市管理"),
        ("elderly-care", "养老服务 Elderly care", "民生服务"),
    ] {
        platform
            .cases()
            .put_category(
                district,
                Category {
                    code: code.into(),
                    name: name.into(),
                    description: String::new(),
                    group: group.into(),
                },
            )
            .await?;
    }
    for (id, name, tier, unit, members) in [
        (
            "xingfu-g1-team",
            "幸福社区第一网格",
            Tier::Grid,
            Some("c-xingfu-g1"),
            vec!["demo-worker".to_owned()],
        ),
        (
            "xingfu-office",
            "幸福社区居委会",
            Tier::Community,
            Some("c-xingfu"),
            vec![],
        ),
        (
            "donghu-office",
            "东湖街道办",
            Tier::Street,
            Some("s-donghu"),
            vec![],
        ),
        (
            "city-management",
            "区城市管理局",
            Tier::District,
            None,
            vec![],
        ),
    ] {
        platform
            .cases()
            .put_department(
                district,
                Department {
                    id: id.into(),
                    name: name.into(),
                    tier,
                    unit_id: unit.map(str::to_owned),
                    members,
                },
            )
            .await?;
    }
    let mut limits = Vec::new();
    for (priority, accept, handle, verify) in [
        (Priority::Low, 240, 7 * 1440, 2 * 1440),
        (Priority::Normal, 120, 3 * 1440, 1440),
        (Priority::High, 30, 1440, 720),
        (Priority::Urgent, 15, 240, 120),
    ] {
        limits.push(Deadline {
            category: "*".into(),
            priority,
            accept_minutes: accept,
            handle_minutes: handle,
            verify_minutes: verify,
        });
    }
    platform.cases().set_deadlines(district, limits).await?;
    platform
        .cases()
        .set_case_policy(
            district,
            CasePolicy {
                reopen_days: 7,
                auto_escalate: true,
            },
        )
        .await?;
    let existing = platform
        .cases()
        .list_cases(
            district,
            &CaseActor::System,
            CaseFilter {
                state: Some(CaseState::Reported),
                limit: 1,
                ..CaseFilter::default()
            },
        )
        .await?;
    if let Some(case) = existing.items.first() {
        return Ok(case.id);
    }
    let resident = actor(opened, Some("demo-resident")).await?;
    let case = platform
        .cases()
        .report_case(
            district,
            &resident,
            CaseReport {
                category: "road".into(),
                building_id: Some("c-xingfu-b1".into()),
                description: "1号楼门口路面塌陷，老人出行不便".into(),
                ..CaseReport::default()
            },
        )
        .await?;
    Ok(case.id)
}
