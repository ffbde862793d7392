//! `hutong demo`: a demo district with the example app, the district apps
//! and an account per role, served at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::serve;
use crate::PlatformError;
use crate::accounts::cli::demo_accounts;
use crate::api::app_origin::AppsDomain;
use crate::community::import::{self, Format};
use crate::community::sample;
use crate::installs::cli::{Grants, InstallFiles, install, print_install_summary};
use crate::installs::store::Install;
use crate::server::Opened;

/// The district apps of `plugins/` the demo installs, by name, with the file
/// cargo writes for each.
const DEMO_APPS: &[(&str, &str)] = &[
    ("smart-care", "smart_care.wasm"),
    ("e-voting", "e_voting.wasm"),
    ("party-building", "party_building.wasm"),
];

/// Install `app` afresh in the demo district (its data dropped with any
/// previous install), granting all it asks for.
async fn reinstall(
    opened: &Opened,
    app: &str,
    manifest: &Path,
    component: &Path,
    config: Option<PathBuf>,
) -> Result<Install> {
    match opened.platform.uninstall("demo", app, false).await {
        Ok(()) | Err(PlatformError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    install(
        opened,
        "demo",
        InstallFiles {
            manifest,
            component,
            config,
        },
        Grants {
            grants: vec![],
            grant_all: true,
            communities: None,
        },
    )
    .await
}

/// Install (afresh) each district app built into `apps_dir`, granting all it
/// asks for; returns the names installed. An app not built is left out with
/// a note, so the demo still runs with only the example.
pub(crate) async fn demo_apps(opened: &Opened, apps_dir: &Path) -> Result<Vec<String>> {
    let mut installed = Vec::new();
    for (name, wasm) in DEMO_APPS {
        let component = apps_dir.join(wasm);
        if !component.exists() {
            println!(
                "{name} is not built ({} is missing); `bash scripts/build-apps` builds it",
                component.display()
            );
            continue;
        }
        let manifest = PathBuf::from(format!("plugins/{name}/hutong.toml"));
        let install = reinstall(opened, name, &manifest, &component, None).await?;
        print_install_summary(&install);
        installed.push(install.app);
    }
    Ok(installed)
}

/// The district `demo`, with the sample community data (invented people)
/// imported once.
pub(crate) async fn demo_district(opened: &Opened) -> Result<()> {
    let platform = &opened.platform;
    match platform.create_district("demo", "Demo District").await {
        Ok(_) | Err(PlatformError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if platform
        .store()
        .existing_ids("demo")
        .await
        .map_err(PlatformError::from)?
        .residents
        .is_empty()
    {
        let sample = import::to_json_lines(&sample::sample_district(1));
        let summary = platform
            .import_data("demo", &sample, Format::JsonLines)
            .await?;
        println!(
            "imported {} sample records (invented people) into demo",
            summary.created
        );
    }
    Ok(())
}

/// Build and install (afresh) the app in each of `dirs`, with every
/// permission its manifest declares and its folder's `config.json`.
async fn own_apps(opened: &Opened, dirs: &[PathBuf]) -> Result<Vec<Install>> {
    let mut installed = Vec::new();
    for dir in dirs {
        let folder = super::dev::AppFolder::find(dir)?;
        println!("building {} …", dir.display());
        let component = folder
            .build()
            .await
            .map_err(|printed| anyhow::anyhow!("building {} failed:\n{printed}", dir.display()))?;
        let manifest = dir.join("hutong.toml");
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("could not read {}", manifest.display()))?;
        let name = crate::kernel::manifest::Manifest::from_toml(&text)
            .map_err(PlatformError::from)?
            .name;
        let config = Some(dir.join("config.json")).filter(|c| c.is_file());
        let install = reinstall(opened, &name, &manifest, &component, config).await?;
        print_install_summary(&install);
        installed.push(install);
    }
    Ok(installed)
}

pub(crate) async fn demo(
    opened: &Opened,
    listen: SocketAddr,
    apps_domain: Option<AppsDomain>,
    component: &Path,
    manifest: &Path,
    apps_dir: &Path,
    own: &[PathBuf],
) -> Result<()> {
    if !component.exists() {
        bail!(
            "the example app is not built ({} is missing); run `bash scripts/build-apps` first",
            component.display()
        );
    }
    demo_district(opened).await?;
    // Start from the example as it is now built.
    let installed = reinstall(opened, "hello", manifest, component, None).await?;
    print_install_summary(&installed);
    let apps = demo_apps(opened, apps_dir).await?;
    let own = own_apps(opened, own).await?;
    let tokens = demo_accounts(opened).await?;
    let first_case = crate::cases::cli::demo_set_up(opened, "demo").await?;
    let base = format!("http://{listen}");
    println!();
    println!("Hutong demo is serving on {base}. Try:");
    println!("  curl {base}/d/demo/apps/hello/");
    println!("  curl {base}/d/demo/apps/hello/greet/ana");
    println!("  curl {base}/d/demo/apps/hello/greet/ana   # visits go up: kept in the app's kv");
    println!("  curl {base}/d/demo/apps/hello/visits");
    println!("  curl {base}/d/demo/apps/hello/whoami        # 401: not a public route");
    println!();
    println!("In a browser, each person sets a password with their link, then signs in at {base}/");
    for (account, who) in [
        (
            "demo-district-admin",
            "the district administrator: apps, accounts, data, cases",
        ),
        (
            "demo-worker",
            "a grid worker: the case queue and smart care's page",
        ),
        (
            "demo-resident",
            "a resident: report a problem, my cases, who read my data",
        ),
    ] {
        let code = opened
            .platform
            .sign_in()
            .issue_code(account, "demo")
            .await?;
        println!("  {account} ({who}):");
        println!("    {base}/set-password?code={}", code.code);
    }
    println!();
    println!("Tokens for each role (valid 7 days):");
    for (role, token) in &tokens {
        println!("  {role:<15} {token}");
    }
    let admin = &tokens[1].1;
    let resident = &tokens[4].1;
    println!();
    println!("  curl -H 'Authorization: Bearer {resident}' {base}/d/demo/apps/hello/whoami");
    println!("  curl -H 'Authorization: Bearer {admin}' {base}/api/v1/districts/demo/installs");
    let worker = &tokens[3].1;
    println!(
        "  curl -H 'Authorization: Bearer {worker}' '{base}/api/v1/districts/demo/residents?limit=3'"
    );
    println!();
    println!("Cases (work orders): the worker's list, accepting one, and Open311 intake:");
    println!("  curl -H 'Authorization: Bearer {worker}' {base}/api/v1/districts/demo/cases");
    println!(
        "  curl -X POST -H 'Authorization: Bearer {worker}' {base}/api/v1/districts/demo/cases/{first_case}/accept"
    );
    println!(
        "  curl -H 'Authorization: Bearer {resident}' -H 'content-type: application/json' -d '{{\"category\": \"noise\", \"building_id\": \"c-xingfu-b2\", \"description\": \"装修噪音到深夜\"}}' {base}/api/v1/districts/demo/cases"
    );
    println!("  curl {base}/d/demo/open311/v2/services.json");
    println!("  curl -H 'Authorization: Bearer {admin}' {base}/api/v1/districts/demo/case-figures");
    println!("  curl {base}/metrics");
    if !apps.is_empty() {
        println!();
        println!("District apps ({}):", apps.join(", "));
    }
    for app in &apps {
        match app.as_str() {
            "smart-care" => println!(
                "  curl -H 'Authorization: Bearer {worker}' {base}/d/demo/apps/smart-care/api/residents   # filled by its first five-minute watch"
            ),
            "e-voting" => println!(
                "  curl -H 'Authorization: Bearer {resident}' {base}/d/demo/apps/e-voting/polls"
            ),
            "party-building" => println!(
                "  curl -H 'Authorization: Bearer {admin}' {base}/d/demo/apps/party-building/branches"
            ),
            _ => {}
        }
    }
    if !own.is_empty() {
        println!();
        println!("Your apps:");
    }
    for install in &own {
        let app = format!("{base}/d/demo/apps/{}", install.app);
        let public = &install.manifest.http.public;
        match public.iter().find(|r| !r.ends_with('*')) {
            Some(route) => println!("  curl {app}{route}"),
            None => {
                println!("  curl -H 'Authorization: Bearer {resident}' {app}/   # no public route")
            }
        }
        if !public.is_empty() {
            println!("    public routes: {}", public.join(", "));
        }
    }
    if let Some(domain) = &apps_domain {
        println!(
            "In a browser, each app has an origin of its own, e.g. http://{}:{}/d/demo/apps/hello/",
            domain.app_host("demo", "hello"),
            listen.port()
        );
    }
    println!("Ctrl-C stops it.");
    serve(opened, listen, apps_domain).await
}
