//! Open311 GeoReport v2 for cases, so existing Open311 clients and
//! 12345-style hotline intake systems can file and follow a district's
//! cases. Each district has its own endpoint, `/d/{district}/open311/v2/`:
//!
//! | Method | Path                              | What                       |
//! |--------|-----------------------------------|----------------------------|
//! | GET    | `services.{json,xml}`             | the service list (public)  |
//! | GET    | `services/{service_code}.{fmt}`   | a service definition       |
//! | POST   | `requests.{fmt}`                  | file a service request     |
//! | GET    | `requests.{fmt}`                  | service requests, filtered |
//! | GET    | `requests/{service_request_id}.{fmt}` | one service request    |
//! | GET    | `tokens/{token}.{fmt}`            | the request id of a token  |
//!
//! A service is a case category; a service request is a case; `address_id`
//! is a building id. Open311 knows two statuses: `closed` stands for our
//! closed and rejected states, `open` for every other, and `status_notes`
//! carries the detailed state, tier and latest note.
//!
//! The design decision to know: **this module is a thin adapter.** Who may
//! file or see which case is decided by the platform
//! ([`Cases::report_case`](crate::cases::ops::Cases::report_case),
//! [`Cases::list_cases`](crate::cases::ops::Cases::list_cases),
//! [`Cases::case_for`](crate::cases::ops::Cases::case_for)) exactly as for
//! every other channel; here we only translate names, formats and errors.
//!
//! Two deliberate deviations from the letter of GeoReport v2, both for
//! privacy (cases can hold personal data): reading service requests needs
//! an `api_key` (a Hutong token) just like filing one, and each caller sees
//! only the cases their role allows (a resident or an intake system its own
//! reports, a worker those of their grids and departments, administrators
//! and auditors the district's). Errors are answered the Open311 way, as a
//! list of `{code, description}` in the requested format.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::accounts;
use crate::accounts::{AuthError, Caller};
use crate::api::auth::bearer;
use crate::api::shared::ApiState;
use crate::cases::ops::{CaseActor, CaseReport};
use crate::cases::parse_time;
use crate::cases::store::{CaseFilter, CaseRow, Category};
use crate::error::PlatformError;
use crate::kernel::clock::now_ms;
use crate::kernel::store::MAX_PAGE;

/// Largest form body of a service request. Its fields are bounded (a
/// description of 4000 bytes, one media URL), so a bigger body is not a
/// service request and is refused before it is read into memory.
const MAX_BODY: usize = 64 << 10;
/// Most service requests one listing returns, as GeoReport v2 suggests.
const MAX_RESULTS: usize = 1000;
/// The date window of a listing when none is given, and the widest one
/// allowed, as GeoReport v2 suggests: 90 days.
const WINDOW_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Query parameters every endpoint accepts.
const COMMON: &[&str] = &["jurisdiction_id", "api_key"];
/// Filters of the request listing.
const LIST_FILTERS: &[&str] = &[
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
];
/// Fields of a new service request (besides `attribute[…]`).
const POST_FIELDS: &[&str] = &[
    "jurisdiction_id",
    "api_key",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
];

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
const INTERNAL: &str = "the host hit an internal error; the details are in its log";

pub(crate) fn router() -> Router<ApiState> {
    Router::new().nest(
        "/d/{district}/open311/v2",
        Router::new()
            .route("/{file}", get(get_top).post(post_top))
            .route("/services/{file}", get(service_definition))
            .route("/requests/{file}", get(one_request))
            .route("/tokens/{file}", get(token))
            .method_not_allowed_fallback(wrong_method)
            .fallback(no_such_endpoint)
            .layer(DefaultBodyLimit::max(MAX_BODY)),
    )
}

/// The response format, chosen by the path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }

    /// The format a path asks for, for answering errors in it; JSON when it
    /// names none.
    fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }
}

/// Split `requests.json` into its name and format.
fn split(file: &str) -> Result<(&str, Format), Fail> {
    match file.rsplit_once('.') {
        Some((name, "json")) => Ok((name, Format::Json)),
        Some((name, "xml")) => Ok((name, Format::Xml)),
        Some((name, other)) => Err(Fail::bad_request(format!(
            "format `{other}` is not supported; end the path in `{name}.json` or `{name}.xml`"
        ))),
        None => Err(Fail::bad_request(format!(
            "the path names no format; end it in `{file}.json` or `{file}.xml`"
        ))),
    }
}

/// An Open311 error answer: a status and what the client can do about it.
#[derive(Debug)]
struct Fail {
    status: StatusCode,
    description: String,
}

impl Fail {
    fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Fail {
            status,
            description: description.into(),
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Fail::new(StatusCode::BAD_REQUEST, description)
    }

    fn not_found(description: impl Into<String>) -> Self {
        Fail::new(StatusCode::NOT_FOUND, description)
    }

    fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Open311 request failed inside the host");
        Fail::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    }

    fn render(self, format: Format) -> Response {
        let status = self.status;
        let mut response = list(
            format,
            status,
            "errors",
            "error",
            &[ErrorBody {
                code: status.as_u16(),
                description: self.description,
            }],
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<PlatformError> for Fail {
    fn from(e: PlatformError) -> Self {
        let message = e.to_string();
        match e {
            PlatformError::UnknownDistrict(_) | PlatformError::NotFound(_) => {
                Fail::not_found(message)
            }
            PlatformError::Invalid(_) | PlatformError::InvalidDistrictId(_) => {
                Fail::bad_request(message)
            }
            PlatformError::Forbidden(_) => Fail::new(StatusCode::FORBIDDEN, message),
            PlatformError::Conflict(_) => Fail::new(StatusCode::CONFLICT, message),
            // Install-time refusals and failures of the host itself: nothing
            // an Open311 client caused or can fix.
            other => Fail::internal(other),
        }
    }
}

/// One Open311 error.
#[derive(Serialize)]
struct ErrorBody {
    code: u16,
    description: String,
}

/// Serializes as one XML element per item, named `name`, inside the root
/// (`<service_requests><request>…</request>…</service_requests>`).
struct Items<'a, T> {
    name: &'static str,
    items: &'a [T],
}

impl<T: Serialize> Serialize for Items<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Items", 1)?;
        st.serialize_field(self.name, self.items)?;
        st.end()
    }
}

/// A JSON or XML answer; `root` names the XML document's root element.
fn respond(
    format: Format,
    status: StatusCode,
    json: &impl Serialize,
    root: &str,
    xml: &impl Serialize,
) -> Response {
    let body = match format {
        Format::Json => serde_json::to_string(json).map_err(|e| e.to_string()),
        Format::Xml => quick_xml::se::to_string_with_root(root, xml)
            .map(|doc| format!("{XML_DECLARATION}{}", xml_chars(doc)))
            .map_err(|e| e.to_string()),
    };
    match body {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, format.content_type())],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an Open311 answer");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, Format::Json.content_type())],
                format!(r#"[{{"code":500,"description":"{INTERNAL}"}}]"#),
            )
                .into_response()
        }
    }
}

/// `doc` with every character XML 1.0 cannot carry (most control
/// characters, which a description may hold) replaced by U+FFFD, so a client
/// never gets a document its parser refuses.
fn xml_chars(doc: String) -> String {
    // XML 1.0's `Char` production (a Rust char is never a surrogate).
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..);
    if doc.chars().all(allowed) {
        return doc;
    }
    doc.chars()
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// A list: a JSON array, or XML items under `root`.
fn list<T: Serialize>(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &'static str,
    items: &[T],
) -> Response {
    respond(format, status, &items, root, &Items { name: item, items })
}

/// Query or form fields, checked: no unknown or repeated names. Empty
/// values count as absent, as HTML forms send them.
#[derive(Debug, Default)]
struct Params {
    values: HashMap<String, String>,
    /// `attribute[…]` fields of a new request.
    attributes: Vec<String>,
}

impl Params {
    /// Check `pairs` against the `allowed` names; `attribute[…]` names are
    /// collected when `attributes` says they may appear.
    fn parse(
        pairs: Vec<(String, String)>,
        allowed: &[&[&str]],
        attributes: bool,
        what: &str,
    ) -> Result<Self, Fail> {
        let mut params = Params::default();
        for (name, value) in pairs {
            if attributes && name.starts_with("attribute[") {
                params.attributes.push(name);
                continue;
            }
            if !allowed.iter().any(|a| a.contains(&name.as_str())) {
                let names: Vec<&str> = allowed.iter().flat_map(|a| a.iter().copied()).collect();
                return Err(Fail::bad_request(format!(
                    "unknown {what} `{name}`; allowed: {}",
                    names.join(", ")
                )));
            }
            let value = value.trim().to_owned();
            if params.values.contains_key(&name) {
                return Err(Fail::bad_request(format!(
                    "{what} `{name}` is given twice; give it once (lists are comma-separated)"
                )));
            }
            if !value.is_empty() {
                params.values.insert(name, value);
            }
        }
        Ok(params)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Add `other`'s values; a name given in both must have the same value.
    fn merge(&mut self, other: Params) -> Result<(), Fail> {
        for (name, value) in other.values {
            match self.values.get(&name) {
                Some(v) if *v != value => {
                    return Err(Fail::bad_request(format!(
                        "`{name}` is given in both the query and the body with different values; give it once"
                    )));
                }
                _ => {
                    self.values.insert(name, value);
                }
            }
        }
        Ok(())
    }

    /// A given `jurisdiction_id` must name this endpoint's district.
    fn check_jurisdiction(&self, district: &str) -> Result<(), Fail> {
        match self.get("jurisdiction_id") {
            Some(j) if j != district => Err(Fail::bad_request(format!(
                "jurisdiction_id `{j}` is not served here: this endpoint serves district `{district}`; send jurisdiction_id={district} or leave it out"
            ))),
            _ => Ok(()),
        }
    }
}

fn query_params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    allowed: &[&[&str]],
) -> Result<Params, Fail> {
    let Query(pairs) = query.map_err(|e| {
        Fail::bad_request(format!("the query string is malformed: {}", e.body_text()))
    })?;
    Params::parse(pairs, allowed, false, "query parameter")
}

fn path_parts(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), Fail> {
    path.map(|Path(parts)| parts)
        .map_err(|e| Fail::bad_request(format!("the path is malformed: {}", e.body_text())))
}

/// The caller, from `api_key` or an `Authorization: Bearer` header.
async fn authenticate(
    state: &ApiState,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Caller, Fail> {
    let header = bearer(headers).map_err(|e| Fail::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
    let token = match (params.get("api_key"), header) {
        (Some(key), Some(h)) if key != h => {
            return Err(Fail::bad_request(
                "api_key and the Authorization header name different tokens; send one of them",
            ));
        }
        (Some(key), _) => key,
        (None, Some(h)) => h,
        (None, None) => {
            return Err(Fail::new(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs credentials: send api_key=<token> (or `Authorization: Bearer <token>`); \
                 service requests can hold personal data, so they are not served anonymously",
            ));
        }
    };
    accounts::authenticate(state.platform.store(), token, now_ms())
        .await
        .map_err(|e| match e {
            AuthError::Store(err) => Fail::internal(err),
            AuthError::Malformed => Fail::new(
                StatusCode::FORBIDDEN,
                "api_key is malformed; Hutong tokens look like htk_<id>_<secret>",
            ),
            refusal => Fail::new(StatusCode::FORBIDDEN, format!("api_key refused: {refusal}")),
        })
}

/// The district, the resource and the format a path names; a failure is
/// answered in JSON, since no format could be read.
fn resource(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String, Format), Fail> {
    let (district, file) = path_parts(path)?;
    let (name, format) = split(&file)?;
    Ok((district, name.to_owned(), format))
}

/// GET `services.{fmt}` or `requests.{fmt}`.
async fn get_top(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (district, name, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let name = name.as_str();
    let result = match name {
        "services" => match query_params(query, &[COMMON]) {
            Ok(params) => services(&state, &district, &params, format).await,
            Err(f) => Err(f),
        },
        "requests" => match query_params(query, &[COMMON, LIST_FILTERS]) {
            Ok(params) => requests(&state, &district, &params, &headers, format).await,
            Err(f) => Err(f),
        },
        other => Err(unknown_resource(other)),
    };
    result.unwrap_or_else(|f| f.render(format))
}

/// POST `requests.{fmt}`.
async fn post_top(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (district, name, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let name = name.as_str();
    let result = match name {
        "requests" => create(&state, &district, query, &headers, form, format).await,
        "services" => Err(Fail::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "services are read-only here: use GET; administrators set them up as case categories",
        )),
        other => Err(unknown_resource(other)),
    };
    result.unwrap_or_else(|f| f.render(format))
}

fn unknown_resource(name: &str) -> Fail {
    Fail::not_found(format!(
        "there is no `{name}` here; GeoReport v2 serves services, services/{{service_code}}, requests, requests/{{service_request_id}} and tokens/{{token}}, each ending in .json or .xml"
    ))
}

async fn no_such_endpoint(uri: Uri) -> Response {
    unknown_resource(uri.path().rsplit('/').next().unwrap_or_default())
        .render(Format::of_path(uri.path()))
}

async fn wrong_method(uri: Uri) -> Response {
    Fail::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: only requests.{json,xml} takes POST; everything else is GET",
    )
    .render(Format::of_path(uri.path()))
}

/// A service of the list.
#[derive(Serialize)]
struct Service<'a> {
    service_code: &'a str,
    service_name: &'a str,
    description: &'a str,
    /// Whether the service has attributes; categories have none.
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    group: &'a str,
}

async fn services(
    state: &ApiState,
    district: &str,
    params: &Params,
    format: Format,
) -> Result<Response, Fail> {
    params.check_jurisdiction(district)?;
    let categories = state.platform.cases().categories(district).await?;
    let services: Vec<Service<'_>> = categories
        .iter()
        .map(|c| Service {
            service_code: &c.code,
            service_name: &c.name,
            description: &c.description,
            metadata: false,
            // A request becomes a case the moment it is posted.
            kind: "realtime",
            group: &c.group,
        })
        .collect();
    Ok(list(
        format,
        StatusCode::OK,
        "services",
        "service",
        &services,
    ))
}

/// A service definition in JSON: no attributes.
#[derive(Serialize)]
struct Definition<'a> {
    service_code: &'a str,
    attributes: [(); 0],
}

/// A service definition in XML: an empty `<attributes/>`.
#[derive(Serialize)]
struct XmlDefinition<'a> {
    service_code: &'a str,
    attributes: NoAttributes,
}

#[derive(Serialize)]
struct NoAttributes {}

/// GET `services/{service_code}.{fmt}`.
async fn service_definition(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let (district, code, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let code = code.as_str();
    let result = async {
        let params = query_params(query, &[COMMON])?;
        params.check_jurisdiction(&district)?;
        let categories = state.platform.cases().categories(&district).await?;
        let category = find_service(&categories, code, &district, StatusCode::NOT_FOUND)?;
        Ok(respond(
            format,
            StatusCode::OK,
            &Definition {
                service_code: &category.code,
                attributes: [],
            },
            "service_definition",
            &XmlDefinition {
                service_code: &category.code,
                attributes: NoAttributes {},
            },
        ))
    }
    .await;
    result.unwrap_or_else(|f: Fail| f.render(format))
}

fn find_service<'a>(
    categories: &'a [Category],
    code: &str,
    district: &str,
    status: StatusCode,
) -> Result<&'a Category, Fail> {
    categories.iter().find(|c| c.code == code).ok_or_else(|| {
        let codes: Vec<&str> = categories.iter().map(|c| c.code.as_str()).collect();
        Fail::new(
            status,
            format!(
                "service_code `{code}` is not a service of district `{district}`; use one of: {} (services.json lists them)",
                if codes.is_empty() { "none yet".to_owned() } else { codes.join(", ") }
            ),
        )
    })
}

/// What a new request's POST answers.
#[derive(Serialize)]
struct Created {
    service_request_id: i64,
    token: String,
    service_notice: Option<String>,
    account_id: String,
}

/// A number field of the form (`lat`, `long`).
fn coordinate(params: &Params, name: &str, example: &str) -> Result<Option<f64>, Fail> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(Fail::bad_request(format!(
            "{name} `{text}` is not a number; give decimal degrees (WGS 84) like {name}={example}"
        ))),
    }
}

/// POST `requests.{fmt}`: file a case.
async fn create(
    state: &ApiState,
    district: &str,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
    format: Format,
) -> Result<Response, Fail> {
    let Form(pairs) = form.map_err(|e| match e {
        FormRejection::InvalidFormContentType(_) => Fail::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the fields as application/x-www-form-urlencoded, as GeoReport v2 requires",
        ),
        e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Fail::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the form is larger than {MAX_BODY} bytes; a service request is far smaller"),
        ),
        e => Fail::bad_request(format!("the form is malformed: {}", e.body_text())),
    })?;
    let mut params = Params::parse(pairs, &[POST_FIELDS], true, "field")?;
    // Some clients put the key (or the jurisdiction) in the query string.
    params.merge(query_params(query, &[COMMON])?)?;
    params.check_jurisdiction(district)?;
    let caller = authenticate(state, &params, headers).await?;

    let categories = state.platform.cases().categories(district).await?;
    let Some(code) = params.get("service_code") else {
        return Err(Fail::bad_request(
            "service_code is required: name the kind of problem (services.json lists the codes)",
        ));
    };
    let category = find_service(&categories, code, district, StatusCode::BAD_REQUEST)?;
    if let Some(a) = params.attributes.first() {
        return Err(Fail::bad_request(format!(
            "service `{code}` has no attributes (its metadata is false), so `{a}` cannot be stored; leave attribute[…] fields out"
        )));
    }

    let lat = coordinate(&params, "lat", "39.9042")?;
    let lon = coordinate(&params, "long", "116.4074")?;
    if lat.is_some() != lon.is_some() {
        return Err(Fail::bad_request(
            "give both lat and long, or neither (and another location instead)",
        ));
    }
    let address = params.get("address_string").map(str::to_owned);
    let building = params.get("address_id").map(str::to_owned);
    if lat.is_none() && address.is_none() && building.is_none() {
        return Err(Fail::bad_request(
            "a service request needs a location: lat and long, address_string, or address_id (a building id of the district)",
        ));
    }
    let media = params.get("media_url").map(str::to_owned);
    if let Some(url) = &media
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(Fail::bad_request(
            "media_url must be an http:// or https:// URL of the photo or file",
        ));
    }

    // Open311 makes the description optional; a case needs one, and the
    // service's name is what the reporter chose.
    let mut description = params
        .get("description")
        .unwrap_or(category.name.as_str())
        .to_owned();
    // An intake system files for a caller; the handler needs to reach them,
    // and a case has no contact fields of its own.
    let name = [params.get("first_name"), params.get("last_name")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let contact: Vec<&str> = [
        Some(name.as_str()),
        params.get("phone"),
        params.get("email"),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect();
    if !contact.is_empty() {
        description.push_str(&format!("\n\nContact: {}", contact.join(", ")));
    }

    let report = CaseReport {
        category: category.code.clone(),
        building_id: building,
        address,
        lat,
        lon,
        description,
        attachments: media.into_iter().collect(),
        ..CaseReport::default()
    };
    let account_id = caller.account_id.clone();
    let case = state
        .platform
        .cases()
        .report_case(district, &CaseActor::Person(caller), report)
        .await?;
    Ok(list(
        format,
        StatusCode::CREATED,
        "service_requests",
        "request",
        &[Created {
            service_request_id: case.id,
            token: case.token,
            service_notice: None,
            account_id,
        }],
    ))
}

/// A service request as GET answers it.
#[derive(Serialize)]
struct ServiceRequest {
    service_request_id: i64,
    status: &'static str,
    status_notes: String,
    service_name: String,
    service_code: String,
    description: String,
    agency_responsible: Option<String>,
    service_notice: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: Option<String>,
    address: Option<String>,
    address_id: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    media_url: Option<String>,
}

impl ServiceRequest {
    fn of(case: CaseRow, categories: &[Category], note: Option<&String>) -> Self {
        let status = if case.state.is_final() {
            "closed"
        } else {
            "open"
        };
        let mut status_notes = format!("{} at the {} tier", case.state, case.tier);
        if case.overdue {
            status_notes.push_str(", overdue");
        }
        if let Some(note) = note {
            status_notes.push_str(": ");
            status_notes.push_str(note);
        }
        let service_name = categories
            .iter()
            .find(|c| c.code == case.category)
            .map_or_else(|| case.category.clone(), |c| c.name.clone());
        ServiceRequest {
            service_request_id: case.id,
            status,
            status_notes,
            service_name,
            service_code: case.category,
            description: case.description,
            agency_responsible: case.assignee.map(|a| a.label()),
            service_notice: None,
            requested_datetime: crate::cases::format_ms(case.created_at),
            updated_datetime: crate::cases::format_ms(case.updated_at),
            expected_datetime: case.deadline_at.map(crate::cases::format_ms),
            address: case.address,
            address_id: case.building_id,
            lat: case.lat,
            long: case.lon,
            media_url: case.attachments.into_iter().next(),
        }
    }
}

/// Service requests answered with their names and latest notes.
async fn render_requests(
    state: &ApiState,
    categories: &[Category],
    cases: Vec<CaseRow>,
    format: Format,
) -> Result<Response, Fail> {
    let notes = state.platform.cases().latest_case_notes(&cases).await?;
    let requests: Vec<ServiceRequest> = cases
        .into_iter()
        .map(|c| {
            let note = notes.get(&c.id);
            ServiceRequest::of(c, categories, note)
        })
        .collect();
    Ok(list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &requests,
    ))
}

/// Comma-separated values, trimmed, empty ones dropped.
fn comma_list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `status=open`, `closed` or `open,closed`: whether to list only finished
/// (closed or rejected) or unfinished cases.
fn finished_filter(status: Option<&str>) -> Result<Option<bool>, Fail> {
    let Some(text) = status else {
        return Ok(None);
    };
    let (mut open, mut closed) = (false, false);
    for s in comma_list(text) {
        match s {
            "open" => open = true,
            "closed" => closed = true,
            other => {
                return Err(Fail::bad_request(format!(
                    "status `{other}` is not an Open311 status; use open, closed or open,closed (status_notes has the detailed state)"
                )));
            }
        }
    }
    Ok(match (open, closed) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    })
}

/// The reporting-time window of a listing, `[from, to)` in milliseconds:
/// the last 90 days by default, 90 days from `start_date` or up to
/// `end_date` when one is given, and never wider than 90 days.
fn window(start: Option<&str>, end: Option<&str>, now: i64) -> Result<(i64, i64), Fail> {
    let parse = |name: &str, text: Option<&str>| {
        text.map(|t| parse_time(t).map_err(|e| Fail::bad_request(format!("{name}: {e}"))))
            .transpose()
    };
    let start = parse("start_date", start)?;
    let end = parse("end_date", end)?;
    let (from, to) = match (start, end) {
        (None, None) => (now - WINDOW_MS, now),
        (Some(s), None) => (s, s.saturating_add(WINDOW_MS)),
        (None, Some(e)) => (e.saturating_sub(WINDOW_MS), e),
        (Some(s), Some(e)) => {
            if e < s {
                return Err(Fail::bad_request(
                    "end_date is before start_date; give the earlier time as start_date",
                ));
            }
            if e - s > WINDOW_MS {
                return Err(Fail::bad_request(
                    "start_date to end_date spans more than 90 days; ask for 90 days or less at a time",
                ));
            }
            (s, e)
        }
    };
    // end_date is the latest time to include.
    Ok((from, to.saturating_add(1)))
}

/// GET `requests.{fmt}`.
async fn requests(
    state: &ApiState,
    district: &str,
    params: &Params,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, Fail> {
    params.check_jurisdiction(district)?;
    let caller = authenticate(state, params, headers).await?;
    let actor = CaseActor::Person(caller);
    let categories = state.platform.cases().categories(district).await?;

    // Ids override every other filter, as GeoReport v2 says.
    if let Some(text) = params.get("service_request_id") {
        let mut ids = Vec::new();
        for s in comma_list(text) {
            ids.push(s.parse::<i64>().map_err(|_| {
                Fail::bad_request(format!(
                    "service_request_id `{s}` is not a request id; ids are numbers, comma-separated"
                ))
            })?);
        }
        if ids.len() > MAX_PAGE as usize {
            return Err(Fail::bad_request(format!(
                "{} service_request_ids given; ask for at most {MAX_PAGE} at a time",
                ids.len()
            )));
        }
        let cases = if ids.is_empty() {
            Vec::new()
        } else {
            let filter = CaseFilter {
                limit: ids.len() as u32,
                ids,
                ..CaseFilter::default()
            };
            state
                .platform
                .cases()
                .list_cases(district, &actor, filter)
                .await?
                .items
        };
        return render_requests(state, &categories, cases, format).await;
    }

    let finished = finished_filter(params.get("status"))?;
    let now = state.platform.store().clock().now_ms();
    let (from, to) = window(params.get("start_date"), params.get("end_date"), now)?;
    let codes: Vec<Option<String>> = match params.get("service_code") {
        Some(text) => {
            let mut codes = Vec::new();
            for code in comma_list(text) {
                find_service(&categories, code, district, StatusCode::BAD_REQUEST)?;
                codes.push(Some(code.to_owned()));
            }
            codes
        }
        None => vec![None],
    };
    let mut cases = Vec::new();
    for category in codes {
        let filter = CaseFilter {
            category,
            finished,
            created_from: Some(from),
            created_to: Some(to),
            ..CaseFilter::default()
        };
        cases.extend(newest(state, district, &actor, filter).await?);
    }
    cases.sort_by_key(|c| std::cmp::Reverse(c.id));
    cases.dedup_by_key(|c| c.id);
    cases.truncate(MAX_RESULTS);
    render_requests(state, &categories, cases, format).await
}

/// Up to [`MAX_RESULTS`] of the newest cases a filter matches, a page at a
/// time.
async fn newest(
    state: &ApiState,
    district: &str,
    actor: &CaseActor,
    mut filter: CaseFilter,
) -> Result<Vec<CaseRow>, Fail> {
    let mut cases = Vec::new();
    loop {
        filter.limit = (MAX_RESULTS - cases.len()).min(MAX_PAGE as usize) as u32;
        let page = state
            .platform
            .cases()
            .list_cases(district, actor, filter.clone())
            .await?;
        cases.extend(page.items);
        match page.next {
            Some(next) if cases.len() < MAX_RESULTS => filter.before = Some(next),
            _ => return Ok(cases),
        }
    }
}

/// GET `requests/{service_request_id}.{fmt}`.
async fn one_request(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (district, id, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let id = id.as_str();
    let result = async {
        let params = query_params(query, &[COMMON])?;
        params.check_jurisdiction(&district)?;
        let caller = authenticate(&state, &params, &headers).await?;
        let not_found = || {
            Fail::not_found(format!(
                "service request `{id}` does not exist in district `{district}` or is not yours to see"
            ))
        };
        let number = id.parse::<i64>().map_err(|_| not_found())?;
        let case = match state
            .platform
            .cases().case_for(&district, number, &CaseActor::Person(caller))
            .await
        {
            Err(PlatformError::NotFound(_)) => return Err(not_found()),
            other => other?,
        };
        let categories = state.platform.cases().categories(&district).await?;
        render_requests(&state, &categories, vec![case], format).await
    }
    .await;
    result.unwrap_or_else(|f| f.render(format))
}

/// What GET `tokens/{token}` answers.
#[derive(Serialize)]
struct TokenAnswer {
    service_request_id: i64,
    token: String,
}

/// GET `tokens/{token}.{fmt}`.
async fn token(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (district, token, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let token = token.as_str();
    let result = async {
        let params = query_params(query, &[COMMON])?;
        params.check_jurisdiction(&district)?;
        let caller = authenticate(&state, &params, &headers).await?;
        let case = match state
            .platform
            .cases().case_for_token(&district, token, &CaseActor::Person(caller))
            .await
        {
            Err(PlatformError::NotFound(_)) => {
                return Err(Fail::not_found(format!(
                    "token `{token}` names no service request of district `{district}` that you may see"
                )));
            }
            other => other?,
        };
        Ok(list(
            format,
            StatusCode::OK,
            "service_requests",
            "request",
            &[TokenAnswer {
                service_request_id: case.id,
                token: case.token,
            }],
        ))
    }
    .await;
    result.unwrap_or_else(|f: Fail| f.render(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn errors_are_a_list_of_code_and_description_in_either_format() {
        let json = body(Fail::bad_request("no <good> & bad").render(Format::Json)).await;
        assert_eq!(json, r#"[{"code":400,"description":"no <good> & bad"}]"#);
        let xml = body(Fail::bad_request("no <good> & bad").render(Format::Xml)).await;
        assert_eq!(
            xml,
            format!(
                "{XML_DECLARATION}<errors><error><code>400</code><description>no &lt;good&gt; &amp; bad</description></error></errors>"
            )
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(xml_chars("a\tb\nc".into()), "a\tb\nc");
        assert_eq!(xml_chars("bell\u{7}\u{0}".into()), "bell\u{FFFD}\u{FFFD}");
        assert_eq!(xml_chars("路灯\u{FFFE}".into()), "路灯\u{FFFD}");
    }

    #[tokio::test]
    async fn an_unauthenticated_answer_names_the_scheme() {
        let r = Fail::new(StatusCode::UNAUTHORIZED, "who are you").render(Format::Json);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers().get(header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Bearer"))
        );
    }

    #[tokio::test]
    async fn a_definition_without_attributes_is_an_empty_list_or_element() {
        let json = body(respond(
            Format::Json,
            StatusCode::OK,
            &Definition {
                service_code: "lamp",
                attributes: [],
            },
            "service_definition",
            &XmlDefinition {
                service_code: "lamp",
                attributes: NoAttributes {},
            },
        ))
        .await;
        assert_eq!(json, r#"{"service_code":"lamp","attributes":[]}"#);
        let xml = body(respond(
            Format::Xml,
            StatusCode::OK,
            &Definition {
                service_code: "lamp",
                attributes: [],
            },
            "service_definition",
            &XmlDefinition {
                service_code: "lamp",
                attributes: NoAttributes {},
            },
        ))
        .await;
        assert_eq!(
            xml,
            format!(
                "{XML_DECLARATION}<service_definition><service_code>lamp</service_code><attributes/></service_definition>"
            )
        );
    }

    #[tokio::test]
    async fn an_empty_list_is_an_empty_root() {
        let none: [TokenAnswer; 0] = [];
        let xml = body(list(
            Format::Xml,
            StatusCode::OK,
            "service_requests",
            "request",
            &none,
        ))
        .await;
        assert_eq!(xml, format!("{XML_DECLARATION}<service_requests/>"));
    }

    #[test]
    fn the_extension_picks_the_format_and_nothing_else_is_accepted() {
        assert_eq!(split("requests.json").ok().map(|s| s.1), Some(Format::Json));
        assert_eq!(split("requests.xml").ok().map(|s| s.1), Some(Format::Xml));
        let bad = split("requests.html").err().map(|f| f.description);
        assert!(bad.is_some_and(|d| d.contains("requests.json")));
        assert!(split("requests").is_err());
    }

    #[test]
    fn status_accepts_open_closed_and_both() {
        assert_eq!(finished_filter(Some("open")).ok(), Some(Some(false)));
        assert_eq!(finished_filter(Some("closed")).ok(), Some(Some(true)));
        assert_eq!(finished_filter(Some("open,closed")).ok(), Some(None));
        assert_eq!(finished_filter(None).ok(), Some(None));
        assert!(finished_filter(Some("in-progress")).is_err());
    }

    #[test]
    fn the_window_defaults_to_90_days_and_refuses_wider_or_backwards_ranges() {
        let now = 200 * 24 * 60 * 60 * 1000;
        assert_eq!(
            window(None, None, now).ok(),
            Some((now - WINDOW_MS, now + 1))
        );
        let start = parse_time("1970-01-02T00:00:00Z").unwrap_or_default();
        assert_eq!(
            window(Some("1970-01-02T00:00:00Z"), None, now).ok(),
            Some((start, start + WINDOW_MS + 1))
        );
        assert!(
            window(
                Some("1970-01-02T00:00:00Z"),
                Some("1970-06-02T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(
            window(
                Some("1970-01-03T00:00:00Z"),
                Some("1970-01-02T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(window(Some("yesterday"), None, now).is_err());
    }

    #[test]
    fn unknown_and_repeated_fields_are_refused() {
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        assert!(
            Params::parse(pairs(&[("descripton", "x")]), &[POST_FIELDS], true, "field").is_err()
        );
        assert!(
            Params::parse(
                pairs(&[("lat", "1"), ("lat", "2")]),
                &[POST_FIELDS],
                true,
                "field"
            )
            .is_err()
        );
        let ok = Params::parse(
            pairs(&[("description", "  "), ("attribute[x]", "1")]),
            &[POST_FIELDS],
            true,
            "field",
        );
        let ok = ok.ok();
        assert_eq!(ok.as_ref().and_then(|p| p.get("description")), None);
        assert_eq!(ok.map(|p| p.attributes.len()), Some(1));
        // attribute[…] is a POST field only.
        assert!(
            Params::parse(
                pairs(&[("attribute[x]", "1")]),
                &[COMMON],
                false,
                "query parameter"
            )
            .is_err()
        );
    }
}
