//! A district's community data (`/data`): import a file, export it all.
//!
//! For the district's administrators (the data holds personal fields in
//! full). An import is a JSON-lines file or a CSV file of one kind of
//! record, uploaded as a form; it is checked whole before anything is
//! written, so a file with a bad line changes nothing, and the page lists
//! each bad line with what was wrong (at most the first
//! [`MAX_ROW_ERRORS`](crate::community::import::MAX_ROW_ERRORS)). The
//! export downloads every record as JSON lines, or one kind as CSV.

use axum::extract::{Multipart, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, Text};
use super::pages::{self, Notice};
use super::session::{Visitor, same_origin, same_token};
use super::{
    DistrictPage, DistrictQuery, Language, PageError, failed, not_found, refusal, refused_form,
    see_other,
};
use crate::accounts::sign_in::Session;
use crate::api::shared::ApiState;
use crate::community::import::{self, Format, ImportError, RecordKind, RowError};
use crate::community::store::ImportSummary;
use crate::error::PlatformError;
use crate::kernel::access_log::Reader;

/// Largest file an import takes, as over the API.
pub use crate::community::api::MAX_IMPORT_BODY;

/// What an import came to, to show.
enum Outcome {
    Imported(ImportSummary),
    Rows(Vec<RowError>),
    Refused(String),
}

/// The district a signed-in administrator manages, or the answer to give.
fn administered(
    lang: Lang,
    session: &Session,
    asked: Option<String>,
) -> Result<String, Box<Response>> {
    DistrictPage::change(lang, Some(session.clone()), asked).map(|page| page.district)
}

/// `GET /data`.
pub(super) async fn data_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<DistrictQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let district = match administered(lang, &session, q.district) {
        Ok(district) => district,
        Err(answer) => return Ok(*answer),
    };
    let counts = counts(&state, &district).await?;
    Ok(render(lang, &session, &district, &counts, None).into_response())
}

/// How many records of each kind the district holds.
async fn counts(state: &ApiState, district: &str) -> Result<Vec<(RecordKind, usize)>, PageError> {
    let ids = state
        .platform
        .store()
        .existing_ids(district)
        .await
        .map_err(failed)?;
    Ok(vec![
        (RecordKind::Street, ids.streets.len()),
        (RecordKind::Community, ids.communities.len()),
        (RecordKind::Grid, ids.grids.len()),
        (RecordKind::Building, ids.buildings.len()),
        (RecordKind::Household, ids.households.len()),
        (RecordKind::Resident, ids.residents.len()),
        (RecordKind::Organisation, ids.organisations.len()),
    ])
}

/// The form's parts: its token, the format and the file.
#[derive(Default)]
struct Upload {
    csrf: String,
    format: String,
    file: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, String> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        match field.name().unwrap_or_default() {
            "csrf" => upload.csrf = field.text().await.map_err(|e| e.body_text())?,
            "format" => upload.format = field.text().await.map_err(|e| e.body_text())?,
            "file" => upload.file = field.bytes().await.map_err(|e| e.body_text())?.to_vec(),
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /data`: import the uploaded file.
pub(super) async fn import(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Query(q): Query<DistrictQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let district = match administered(lang, &session, q.district) {
        Ok(district) => district,
        Err(answer) => return Ok(*answer),
    };
    let upload = match multipart {
        Ok(multipart) => read_upload(multipart).await,
        Err(rejection) => Err(rejection.body_text()),
    };
    let outcome = match upload {
        Err(why) => {
            // Neither the token nor the origin could be read: nothing is
            // changed, and the page says why the file did not arrive.
            if !same_origin(&headers) {
                return Ok(refused_form(lang));
            }
            tracing::warn!(district, error = %why, "an import upload could not be read");
            Outcome::Refused(format!(
                "the file did not arrive whole (at most {} MiB): {why}",
                MAX_IMPORT_BODY >> 20
            ))
        }
        Ok(upload) => {
            if !same_origin(&headers) || !same_token(&session.csrf, &upload.csrf) {
                return Ok(refused_form(lang));
            }
            match (format_of(&upload.format), std::str::from_utf8(&upload.file)) {
                (None, _) => Outcome::Refused(format!(
                    "`{}` is not a format: choose JSON lines or CSV of one kind of record",
                    upload.format.chars().take(40).collect::<String>()
                )),
                (_, Err(_)) => Outcome::Refused("the file must be UTF-8 text".into()),
                (Some(format), Ok(text)) => {
                    match state.platform.import_data(&district, text, format).await {
                        Ok(summary) => {
                            tracing::info!(
                                district,
                                by = %session.caller.account_id,
                                created = summary.created,
                                updated = summary.updated,
                                "community data imported in the console"
                            );
                            Outcome::Imported(summary)
                        }
                        Err(PlatformError::Import(ImportError::Rows(rows))) => Outcome::Rows(rows),
                        Err(err) => Outcome::Refused(refusal(err)?),
                    }
                }
            }
        }
    };
    let status = match outcome {
        Outcome::Imported(_) => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let counts = counts(&state, &district).await?;
    Ok((
        status,
        render(lang, &session, &district, &counts, Some(&outcome)),
    )
        .into_response())
}

/// `jsonl`, or `csv:<kind>`.
fn format_of(value: &str) -> Option<Format> {
    match value.split_once(':') {
        None if value == "jsonl" => Some(Format::JsonLines),
        Some(("csv", kind)) => kind.parse().ok().map(Format::Csv),
        _ => None,
    }
}

#[derive(Deserialize)]
pub(super) struct ExportQuery {
    #[serde(default)]
    district: Option<String>,
    /// `jsonl` or `csv:<kind>`.
    #[serde(default)]
    format: Option<String>,
}

/// `GET /data/export`: every record as JSON lines, or one kind as CSV.
pub(super) async fn export(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<ExportQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let district = match administered(lang, &session, q.district) {
        Ok(district) => district,
        Err(answer) => return Ok(*answer),
    };
    let Some(format) = format_of(q.format.as_deref().unwrap_or("jsonl")) else {
        return Ok(not_found(lang));
    };
    let reader = Reader::Account {
        id: &session.caller.account_id,
        role: session.caller.role.as_str(),
    };
    let records = state
        .platform
        .export_data(&district, reader, "console")
        .await
        .map_err(failed)?;
    // The export holds personal fields in full: say who took it.
    tracing::info!(
        district,
        by = %session.caller.account_id,
        records = records.len(),
        "community data exported in the console"
    );
    let (kind, body, name) = match format {
        Format::JsonLines => (
            "application/x-ndjson; charset=utf-8",
            import::to_json_lines(&records),
            format!("{district}.jsonl"),
        ),
        Format::Csv(kind) => (
            "text/csv; charset=utf-8",
            import::to_csv(kind, &records),
            format!("{district}-{}.csv", kind.as_str()),
        ),
    };
    Ok((
        [
            (CONTENT_TYPE, kind.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn render(
    lang: Lang,
    session: &Session,
    district: &str,
    counts: &[(RecordKind, usize)],
    outcome: Option<&Outcome>,
) -> Markup {
    let query = match session.caller.district {
        Some(_) => String::new(),
        None => format!("?district={district}"),
    };
    let export = |format: &str| match session.caller.district {
        Some(_) => format!("/data/export?format={format}"),
        None => format!("/data/export?district={district}&format={format}"),
    };
    pages::page(
        lang,
        "/data",
        Text::CommunityData,
        html! {
            h1 { (lang.t(Text::CommunityData)) " · " (district) }
            @match outcome {
                Some(Outcome::Imported(summary)) => {
                    p.done role="status" #imported {
                        (lang.t(Text::Imported)) " "
                        (lang.t(Text::Created)) " " (summary.created) ", "
                        (lang.t(Text::Updated)) " " (summary.updated)
                    }
                }
                Some(Outcome::Rows(rows)) => {
                    (pages::notice(lang, Some(Notice::Error(Text::ImportRefused)), None))
                    table #bad-lines {
                        thead { tr { th scope="col" { (lang.t(Text::Line)) } th scope="col" { (lang.t(Text::WhatIsWrong)) } } }
                        tbody {
                            @for row in rows {
                                tr {
                                    td data-label=(lang.t(Text::Line)) { (row.line) }
                                    td data-label=(lang.t(Text::WhatIsWrong)) lang="en" { (row.message) }
                                }
                            }
                        }
                    }
                }
                Some(Outcome::Refused(why)) => {
                    (pages::notice(lang, Some(Notice::Error(Text::ImportRefused)), Some(why.clone())))
                }
                None => {}
            }
            table {
                thead { tr { th scope="col" { (lang.t(Text::RecordKindColumn)) } th scope="col" { (lang.t(Text::Count)) } th scope="col" { (lang.t(Text::ExportCsv)) } } }
                tbody {
                    @for (kind, count) in counts {
                        tr {
                            td data-label=(lang.t(Text::RecordKindColumn)) { code { (kind.as_str()) } }
                            td data-label=(lang.t(Text::Count)) { (count) }
                            td data-label=(lang.t(Text::ExportCsv)) {
                                a href=(export(&format!("csv:{}", kind.as_str()))) download { (kind.as_str()) ".csv" }
                            }
                        }
                    }
                }
            }
            p { a href=(export("jsonl")) download { (lang.t(Text::ExportAll)) } }
            p.hint { (lang.t(Text::ExportHoldsPersonal)) }
            h2 { (lang.t(Text::ImportFile)) }
            form method="post" action=(format!("/data{query}")) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="format" { (lang.t(Text::FileFormat)) }
                select id="format" name="format" {
                    option value="jsonl" { (lang.t(Text::JsonLines)) }
                    @for kind in RecordKind::ALL {
                        option value=(format!("csv:{}", kind.as_str())) { "CSV · " (kind.as_str()) }
                    }
                }
                label for="file" { (lang.t(Text::File)) }
                input id="file" name="file" type="file" required accept=".jsonl,.json,.csv,.txt";
                p.hint { (lang.t(Text::ImportAllOrNothing)) }
                button type="submit" { (lang.t(Text::Import)) }
            }
            p { a href="/" { (lang.t(Text::BackHome)) } }
        },
    )
}
