//! The console's pages, rendered on the host (maud: checked at compile
//! time, every value escaped). Each takes the language and says every
//! word through the catalogue.

use maud::{DOCTYPE, Markup, html};

use crate::accounts::Role;
use crate::accounts::sign_in::Session;
use crate::console::i18n::{Lang, Text};
use crate::installs::store::{Install, InstallStatus};

/// A notice at the top of a form.
#[derive(Clone, Copy, Debug)]
pub enum Notice {
    /// Something went wrong; the form is shown again.
    Error(Text),
    /// Something went right.
    Done(Text),
}

/// The frame of every page: title, language switch, and the body.
pub fn page(lang: Lang, here: &str, title: Text, body: Markup) -> Markup {
    let switch = format!(
        "/lang?to={}&back={}",
        lang.other().tag(),
        percent_path(here)
    );
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t(title)) " · " (lang.t(Text::Product)) }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                header {
                    a.product href="/" { (lang.t(Text::Product)) }
                    a.switch href=(switch) lang=(lang.other().tag()) { (lang.t(Text::SwitchTo)) }
                }
                main { (body) }
            }
        }
    }
}

/// A moment as people in the district read it: Beijing time (UTC+8, the
/// time zone of every Chinese city), to the minute, with the exact UTC
/// time in the element's `datetime`.
pub fn when(ms: i64) -> Markup {
    let utc = crate::cases::format_ms(ms);
    let local = chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| utc.clone());
    html! { time datetime=(utc) { (local) } }
}

/// `path` safe to put in a query: only the characters a local path needs.
fn percent_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) fn notice(lang: Lang, notice: Option<Notice>, extra: Option<String>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Error(text)) => {
                p.error role="alert" { (lang.t(text)) @if let Some(extra) = &extra { " " (extra) } }
            }
            Some(Notice::Done(text)) => { p.done role="status" { (lang.t(text)) } }
            None => {}
        }
    }
}

/// The sign-in form, bound to the browser by `form_token`.
pub fn sign_in(
    lang: Lang,
    form_token: &str,
    account: &str,
    shown: Option<Notice>,
    extra: Option<String>,
) -> Markup {
    page(
        lang,
        "/sign-in",
        Text::SignInTitle,
        html! {
            h1 { (lang.t(Text::SignInTitle)) }
            (notice(lang, shown, extra))
            form method="post" action="/sign-in" {
                input type="hidden" name="form" value=(form_token);
                label for="account" { (lang.t(Text::AccountId)) }
                input #account name="account" type="text" value=(account)
                    autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus;
                label for="password" { (lang.t(Text::Password)) }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (lang.t(Text::SignIn)) }
            }
            p { a href="/set-password" { (lang.t(Text::HaveACode)) } }
        },
    )
}

/// The set-password form (a code and the new password twice).
pub fn set_password(lang: Lang, form_token: &str, code: &str, shown: Option<Notice>) -> Markup {
    page(
        lang,
        "/set-password",
        Text::SetPasswordTitle,
        html! {
            h1 { (lang.t(Text::SetPasswordTitle)) }
            p { (lang.t(Text::SetPasswordHelp)) }
            (notice(lang, shown, None))
            form method="post" action="/set-password" {
                input type="hidden" name="form" value=(form_token);
                label for="code" { (lang.t(Text::Code)) }
                input #code name="code" type="text" value=(code) autocomplete="one-time-code"
                    autocapitalize="characters" spellcheck="false" required;
                label for="password" { (lang.t(Text::NewPassword)) }
                input #password name="password" type="password" autocomplete="new-password" minlength="10" required;
                label for="repeat" { (lang.t(Text::RepeatPassword)) }
                input #repeat name="repeat" type="password" autocomplete="new-password" minlength="10" required;
                button type="submit" { (lang.t(Text::SetPassword)) }
            }
        },
    )
}

pub(crate) fn role_text(role: Role) -> Text {
    match role {
        Role::PlatformAdmin => Text::RolePlatformAdmin,
        Role::DistrictAdmin => Text::RoleDistrictAdmin,
        Role::Auditor => Text::RoleAuditor,
        Role::Worker => Text::RoleWorker,
        Role::Resident => Text::RoleResident,
    }
}

/// The sign-out button, carrying the session's token.
fn sign_out(lang: Lang, session: &Session) -> Markup {
    html! {
        form.inline method="post" action="/sign-out" {
            input type="hidden" name="csrf" value=(session.csrf);
            button type="submit" { (lang.t(Text::SignOut)) }
        }
    }
}

/// The start page of a signed-in person: what their role works with;
/// for a worker, `apps` are the app pages (district, app) they can open.
pub fn home(
    lang: Lang,
    session: &Session,
    apps: &[(String, String)],
    shown: Option<Notice>,
) -> Markup {
    let caller = &session.caller;
    page(
        lang,
        "/",
        Text::Welcome,
        html! {
            h1 { (lang.t(Text::Welcome)) (lang.t(Text::Comma)) (session.display_name) }
            (notice(lang, shown, None))
            dl {
                dt { (lang.t(Text::AccountId)) } dd { (caller.account_id) }
                dt { (lang.t(Text::Role)) } dd { (lang.t(role_text(caller.role))) }
                dt { (lang.t(Text::District)) }
                dd { @match &caller.district { Some(d) => (d), None => (lang.t(Text::WholeCity)) } }
            }
            @match caller.role {
                Role::PlatformAdmin => {
                    nav { a href="/city" { (lang.t(Text::City)) } }
                }
                Role::DistrictAdmin | Role::Auditor => {
                    nav {
                        a href="/apps" { (lang.t(Text::Apps)) }
                        a href="/cases" { (lang.t(Text::CasesAll)) }
                        a href="/accounts" { (lang.t(Text::Accounts)) }
                        @if caller.role == Role::DistrictAdmin {
                            a href="/data" { (lang.t(Text::CommunityData)) }
                        }
                        a href="/reads" { (lang.t(Text::ReadsOfResident)) }
                        a href="/settings" { (lang.t(Text::Settings)) }
                        a href="/inbox" { (lang.t(Text::Inbox)) }
                    }
                }
                Role::Worker => {
                    nav {
                        a href="/cases" { (lang.t(Text::CasesForWorker)) }
                        a href="/report" { (lang.t(Text::ReportProblem)) }
                        a href="/inbox" { (lang.t(Text::Inbox)) }
                    }
                    @if !apps.is_empty() {
                        h2 { (lang.t(Text::AppPages)) }
                        nav.apps {
                            @for (district, app) in apps {
                                a href=(format!("/d/{district}/apps/{app}/")) { (app) }
                            }
                        }
                    }
                }
                Role::Resident => {
                    nav {
                        a href="/report" { (lang.t(Text::ReportProblem)) }
                        a href="/cases" { (lang.t(Text::CasesMine)) }
                        a href="/inbox" { (lang.t(Text::Inbox)) }
                        a href="/my-data" { (lang.t(Text::WhoReadMyData)) }
                    }
                }
            }
            nav {
                a href="/password" { (lang.t(Text::ChangePasswordTitle)) }
                (sign_out(lang, session))
            }
        },
    )
}

/// The change-password form of a signed-in person.
pub fn change_password(lang: Lang, session: &Session, shown: Option<Notice>) -> Markup {
    page(
        lang,
        "/password",
        Text::ChangePasswordTitle,
        html! {
            h1 { (lang.t(Text::ChangePasswordTitle)) }
            (notice(lang, shown, None))
            form method="post" action="/password" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="current" { (lang.t(Text::CurrentPassword)) }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="password" { (lang.t(Text::NewPassword)) }
                input #password name="password" type="password" autocomplete="new-password" minlength="10" required;
                label for="repeat" { (lang.t(Text::RepeatPassword)) }
                input #repeat name="repeat" type="password" autocomplete="new-password" minlength="10" required;
                button type="submit" { (lang.t(Text::ChangePassword)) }
            }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}

/// A page that only says what went wrong.
pub fn problem(lang: Lang, text: Text) -> Markup {
    page(
        lang,
        "/",
        text,
        html! {
            p.error role="alert" { (lang.t(text)) }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}

/// The consent screen for the newest release of `app` in `registry`.
fn upgrade_link(district: &str, registry: &str, app: &str) -> String {
    reqwest::Url::parse_with_params(
        "http://console.invalid/install",
        [
            ("district", district),
            ("registry", registry),
            ("package", &format!("{app}@*")),
        ],
    )
    .map(|url| format!("/install?{}", url.query().unwrap_or_default()))
    .unwrap_or_else(|_| "/install".to_owned())
}

/// A refusal a person can act on: the lead in their language, and the
/// host's detail (in English) below it.
pub fn problem_with(lang: Lang, text: Text, detail: &str) -> Markup {
    page(
        lang,
        "/",
        text,
        html! {
            p.error role="alert" { (lang.t(text)) }
            p lang="en" { (detail) }
            p { a href="/apps" { (lang.t(Text::Apps)) } " · " a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}

/// A district's installed apps: version and status; for its
/// administrators, installing, and for each app suspend or resume, a look
/// for an upgrade and a rollback to the version before (`rollbacks`: the
/// apps that have one, with its version).
#[expect(
    clippy::too_many_arguments,
    reason = "one page's parts, each shown in its own column"
)]
pub fn apps(
    lang: Lang,
    session: &Session,
    district: &str,
    installs: &[Install],
    (at_page, pages_count): (usize, usize),
    rollbacks: &std::collections::BTreeMap<String, String>,
    figures: &std::collections::BTreeMap<String, crate::kernel::metrics::CallFigures>,
    may_change: bool,
    shown: Option<Notice>,
) -> Markup {
    page(
        lang,
        "/apps",
        Text::Apps,
        html! {
            h1 { (lang.t(Text::Apps)) " · " (district) }
            (notice(lang, shown, None))
            @if may_change {
                nav {
                    a href=(format!("/catalogue?district={district}")) { (lang.t(Text::Catalogue)) }
                    a href=(format!("/install?district={district}")) { (lang.t(Text::InstallApp)) }
                }
            }
            @if installs.is_empty() {
                p { (lang.t(Text::NoApps)) }
            } @else {
                table {
                    thead {
                        tr {
                            th scope="col" { (lang.t(Text::App)) }
                            th scope="col" { (lang.t(Text::Version)) }
                            th scope="col" { (lang.t(Text::Status)) }
                            @if may_change { th scope="col" { (lang.t(Text::Actions)) } }
                        }
                    }
                    tbody {
                        @for install in installs {
                            tr id=(format!("app-{}", install.app)) {
                                td data-label=(lang.t(Text::App)) {
                                    (install.app) " "
                                    // On the app's own origin (the host sends the browser there).
                                    a href=(format!("/d/{district}/apps/{}/", install.app)) { (lang.t(Text::OpenApp)) }
                                    " · "
                                    a href=(format!("/audit/{}?district={district}", install.app)) { (lang.t(Text::Audit)) }
                                }
                                td data-label=(lang.t(Text::Version)) { (install.version) }
                                td data-label=(lang.t(Text::Status)) {
                                    @match install.status {
                                        InstallStatus::Active => span.ok { (lang.t(Text::Active)) },
                                        InstallStatus::Suspended => {
                                            span.error { (lang.t(Text::Suspended)) }
                                            @if let Some(reason) = &install.status_reason {
                                                br; small { (reason) }
                                            }
                                            @if let Some(at) = install.retry_at {
                                                br; small { (lang.t(Text::TrialAfter)) " " (when(at)) }
                                            }
                                        }
                                    }
                                    @if let Some(f) = figures.get(&install.app) {
                                        br;
                                        small.figures {
                                            (lang.t(Text::CallsSinceStart)) " " (f.calls)
                                            @if !f.failures.is_empty() {
                                                " · " span.error {
                                                    (lang.t(Text::FailedCalls)) " " (f.failures.values().sum::<u64>())
                                                    " (" (f.failures.iter().map(|(cause, n)| format!("{cause} {n}")).collect::<Vec<_>>().join(", ")) ")"
                                                }
                                            }
                                        }
                                    }
                                }
                                @if may_change {
                                    td data-label=(lang.t(Text::Actions)) {
                                        @let (action, label) = match install.status {
                                            InstallStatus::Active => ("suspend", Text::Suspend),
                                            InstallStatus::Suspended => ("resume", Text::Resume),
                                        };
                                        form.inline method="post" action=(format!("/apps/{}/{action}?district={district}", install.app)) {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button type="submit" { (lang.t(label)) }
                                        }
                                        @if let Some(source) = &install.source {
                                            " "
                                            a.upgrade href=(upgrade_link(district, &source.registry, &install.app)) { (lang.t(Text::UpgradeLink)) }
                                        }
                                        " "
                                        a.uninstall href=(format!("/apps/{}/uninstall?district={district}", install.app)) { (lang.t(Text::Uninstall)) }
                                        @if let Some(previous) = rollbacks.get(&install.app) {
                                            " "
                                            form.inline.rollback method="post" action=(format!("/apps/{}/rollback?district={district}", install.app)) {
                                                input type="hidden" name="csrf" value=(session.csrf);
                                                button type="submit" { (lang.t(Text::Rollback)) " " (previous) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if pages_count > 1 {
                nav aria-label=(lang.t(Text::Pages)) {
                    @if at_page > 0 { a href=(format!("/apps?district={district}&page={}", at_page - 1)) { (lang.t(Text::PreviousPage)) } }
                    span { (at_page + 1) " / " (pages_count) }
                    @if at_page + 1 < pages_count { a href=(format!("/apps?district={district}&page={}", at_page + 1)) { (lang.t(Text::NextPage)) } }
                }
            }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
