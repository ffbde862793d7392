//! Open311 GeoReport v2 for cases, so existing Open311 clients (the
//! published Python clients, FixMyStreet, public maps) and 12345-style
//! hotline intake systems can file and follow a district's cases. Each
//! district has its own endpoint, `/d/{district}/open311/v2/`:
//!
//! | Method | Path                              | What                       |
//! |--------|-----------------------------------|----------------------------|
//! | GET    | `discovery.{json,xml}`            | where the endpoint is      |
//! | GET    | `services.{json,xml}`             | the service list           |
//! | GET    | `services/{service_code}.{fmt}`   | a service definition       |
//! | POST   | `requests.{fmt}`                  | file a service request     |
//! | GET    | `requests.{fmt}`                  | service requests, filtered |
//! | GET    | `requests/{service_request_id}.{fmt}` | one service request    |
//! | GET    | `tokens/{token}.{fmt}`            | the request id of a token  |
//!
//! A service is a case category; a service request is a case; `address_id`
//! is a building id. Open311 knows two statuses: `closed` stands for our
//! closed and rejected states, `open` for every other, and `status_notes`
//! carries the detailed state, tier and the note of the current step.
//!
//! The design decision to know: **this module is a thin adapter.** Who may
//! file or see which case is decided by the platform
//! ([`Cases::report_case`](crate::cases::ops::Cases::report_case),
//! [`Cases::list_cases`](crate::cases::ops::Cases::list_cases),
//! [`Cases::public_cases`](crate::cases::ops::Cases::public_cases)) exactly
//! as for every other channel; here we only translate names, formats and
//! errors. Reading needs no key where the district publishes its service
//! requests (the default): anyone then reads the public ones
//! ([`crate::cases::published`] says which), and a caller with a key also
//! those their role may see. Posting always needs a key: a case needs an
//! account that answers for it. Errors are answered the Open311 way, as a
//! list of `{code, description}` in the requested format.

mod params;
mod wire;

use std::collections::HashSet;

use axum::Router;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::accounts::{AuthError, Caller};
use crate::api::auth::bearer;
use crate::api::shared::ApiState;
use crate::cases::intake::{CaseIntake, Contact};
use crate::cases::ops::{CaseActor, CaseReport};
use crate::cases::published::{Published, Service};
use crate::cases::store::{CaseFilter, CaseRow};
use crate::error::PlatformError;
use crate::kernel::store::MAX_PAGE;

use params::{Params, comma_list, finished_filter, paging, window};
use wire::{
    Created, Definition, Discovery, Fail, Format, ServiceRequest, TokenAnswer, list, respond, split,
};

/// Largest form body of a service request. Its fields are bounded (a
/// description of 4000 characters, at most 50 attributes), so a bigger body
/// is not a service request and is refused before it is read into memory.
const MAX_BODY: usize = 256 << 10;

/// Query parameters every endpoint knows.
const COMMON: &[&str] = &["jurisdiction_id", "api_key"];
/// Filters of the request listing.
const LIST_FILTERS: &[&str] = &[
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "page",
    "page_size",
];
/// Fields of a new service request (besides `media_url` and
/// `attribute[…]`, which may repeat).
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
];

pub(crate) fn router() -> Router<ApiState> {
    Router::new().nest(
        "/d/{district}/open311",
        Router::new()
            .route("/{file}", get(discovery_beside))
            .route("/v2/{file}", get(get_top).post(post_top))
            .route("/v2/services/{file}", get(service_definition))
            .route("/v2/requests/{file}", get(one_request))
            .route("/v2/tokens/{file}", get(token))
            .method_not_allowed_fallback(wrong_method)
            .fallback(no_such_endpoint)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(middleware::from_fn(cors)),
    )
}

/// Browsers may read every GET answer from any origin: a public map or
/// dashboard is a page on another site. Only simple requests are allowed
/// (no `Authorization` header across origins), and no cookie is ever
/// involved, so a page elsewhere reads what it could read without a key
/// and nothing more.
async fn cors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == Method::OPTIONS {
        return (
            StatusCode::NO_CONTENT,
            [
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::ACCESS_CONTROL_ALLOW_METHODS, "GET"),
                (header::ACCESS_CONTROL_MAX_AGE, "86400"),
            ],
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    if method == Method::GET || method == Method::HEAD {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

fn query_params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&[&str]],
) -> Result<Params, Fail> {
    let Query(pairs) = query.map_err(|e| {
        Fail::bad_request(format!("the query string is malformed: {}", e.body_text()))
    })?;
    let params = Params::parse(pairs, known)?;
    if !params.ignored.is_empty() {
        tracing::debug!(ignored = ?params.ignored, "Open311 parameters ignored");
    }
    Ok(params)
}

/// The token a request carries, from `api_key` or an `Authorization:
/// Bearer` header, if any. Another scheme (`Basic`, which a proxy in front
/// may add) is not a key and is ignored.
fn credentials<'a>(params: &'a Params, headers: &'a HeaderMap) -> Result<Option<&'a str>, Fail> {
    let header = bearer(headers).ok().flatten();
    match (params.get("api_key"), header.filter(|h| !h.is_empty())) {
        (Some(key), Some(h)) if key != h => Err(Fail::bad_request(
            "api_key and the Authorization header name different tokens; send one of them",
        )),
        (Some(key), _) => Ok(Some(key)),
        (None, h) => Ok(h),
    }
}

/// The account a token belongs to.
async fn caller(state: &ApiState, token: &str) -> Result<Caller, Fail> {
    state
        .platform
        .authenticate(token)
        .await
        .map_err(|e| match e {
            AuthError::Store(err) => Fail::internal(err),
            AuthError::Malformed => {
                Fail::forbidden("api_key is malformed; Hutong tokens look like htk_<id>_<secret>")
            }
            refusal => Fail::forbidden(format!("api_key refused: {refusal}")),
        })
}

/// Who reads: anyone, or a caller with a key.
enum Reader {
    Anyone,
    Person(Caller),
}

/// A key of another district (a city-wide client using one key for every
/// district, say) reads what anyone may: a key never shows less than no
/// key.
async fn reader(
    state: &ApiState,
    district: &str,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Reader, Fail> {
    Ok(match credentials(params, headers)? {
        None => Reader::Anyone,
        Some(token) => {
            let caller = caller(state, token).await?;
            if caller.in_district(district) {
                Reader::Person(caller)
            } else {
                Reader::Anyone
            }
        }
    })
}

/// The district, the resource and the format a path names; a failure is
/// answered in JSON, since no format could be read.
fn resource(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String, Format), Fail> {
    let (district, file) = path
        .map(|Path(parts)| parts)
        .map_err(|e| Fail::bad_request(format!("the path is malformed: {}", e.body_text())))?;
    let (name, format) = split(&file)?;
    Ok((district, name.to_owned(), format))
}

/// GET `discovery.{fmt}` beside `v2/`, where clients also look for it.
async fn discovery_beside(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (district, name, format) = match resource(path) {
        Ok(parts) => parts,
        Err(f) => return f.render(Format::Json),
    };
    let result = match (name.as_str(), query_params(query, &[COMMON])) {
        ("discovery", Ok(params)) => discovery(&state, &district, &params, &headers, format).await,
        ("discovery", Err(f)) => Err(f),
        (other, _) => Err(unknown_resource(other)),
    };
    result.unwrap_or_else(|f| f.render(format))
}

/// GET `services.{fmt}`, `requests.{fmt}` or `discovery.{fmt}`.
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
    let result = match name.as_str() {
        "services" => match query_params(query, &[COMMON]) {
            Ok(params) => services(&state, &district, &params, format).await,
            Err(f) => Err(f),
        },
        "requests" => match query_params(query, &[COMMON, LIST_FILTERS]) {
            Ok(params) => requests(&state, &district, &params, &headers, format).await,
            Err(f) => Err(f),
        },
        "discovery" => match query_params(query, &[COMMON]) {
            Ok(params) => discovery(&state, &district, &params, &headers, format).await,
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
    let result = match name.as_str() {
        "requests" => create(&state, &district, query, &headers, form, format).await,
        "services" | "discovery" => Err(Fail::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "{name} is read-only: use GET; administrators set services up as case categories"
            ),
        )),
        other => Err(unknown_resource(other)),
    };
    result.unwrap_or_else(|f| f.render(format))
}

fn unknown_resource(name: &str) -> Fail {
    Fail::not_found(format!(
        "there is no `{name}` here; GeoReport v2 serves discovery, services, services/{{service_code}}, requests, requests/{{service_request_id}} and tokens/{{token}}, each ending in .json or .xml"
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

/// The absolute URL of the district's endpoint, as the client reached it:
/// the `Host` header, over https when a proxy in front says so.
fn endpoint_url(headers: &HeaderMap, district: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.split(',').next().map(str::trim) == Some("https"));
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}/d/{district}/open311/v2/")
}

/// GET `discovery.{fmt}`.
async fn discovery(
    state: &ApiState,
    district: &str,
    params: &Params,
    headers: &HeaderMap,
    format: Format,
) -> Result<Response, Fail> {
    params.check_jurisdiction(district)?;
    // A district that does not exist has no endpoint to discover.
    let policy = state.platform.cases().open311_policy(district).await?;
    let document = Discovery {
        format,
        url: endpoint_url(headers, district),
        district: district.to_owned(),
        public_reads: policy.public_reads,
    };
    Ok(respond(
        format,
        StatusCode::OK,
        &document,
        "discovery",
        &document,
    ))
}

/// GET `services.{fmt}`.
async fn services(
    state: &ApiState,
    district: &str,
    params: &Params,
    format: Format,
) -> Result<Response, Fail> {
    params.check_jurisdiction(district)?;
    let services = state.platform.cases().services(district).await?;
    let items: Vec<wire::Service<'_>> = services
        .iter()
        .map(|s| wire::Service {
            format,
            service_code: &s.category.code,
            service_name: &s.category.name,
            description: Some(s.category.description.as_str()).filter(|d| !d.is_empty()),
            metadata: !s.settings.attributes.is_empty(),
            keywords: Some(s.settings.keywords.join(", ")).filter(|k| !k.is_empty()),
            group: Some(s.category.group.as_str()).filter(|g| !g.is_empty()),
        })
        .collect();
    Ok(list(format, StatusCode::OK, "services", "service", &items))
}

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
    let result = async {
        let params = query_params(query, &[COMMON])?;
        params.check_jurisdiction(&district)?;
        let services = state.platform.cases().services(&district).await?;
        let service = find_service(&services, &code, &district)?;
        let definition = Definition {
            format,
            service_code: &service.category.code,
            attributes: &service.settings.attributes,
        };
        Ok(respond(
            format,
            StatusCode::OK,
            &definition,
            "service_definition",
            &definition,
        ))
    }
    .await;
    result.unwrap_or_else(|f: Fail| f.render(format))
}

/// The service `code` names, or 404 with the codes there are.
fn find_service<'a>(
    services: &'a [Service],
    code: &str,
    district: &str,
) -> Result<&'a Service, Fail> {
    services
        .iter()
        .find(|s| s.category.code == code)
        .ok_or_else(|| {
            let codes: Vec<&str> = services.iter().map(|s| s.category.code.as_str()).collect();
            Fail::not_found(format!(
                "service_code `{code}` is not a service of district `{district}`; use one of: {} (services.json lists them)",
                if codes.is_empty() { "none yet".to_owned() } else { codes.join(", ") }
            ))
        })
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

/// A contact field: at most 200 characters, no line breaks (it is shown
/// on one line to the person who calls back).
fn contact_field(params: &Params, name: &str) -> Result<Option<String>, Fail> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(Fail::bad_request(format!(
            "{name} is invalid: give at most 200 characters on one line"
        )));
    }
    Ok(Some(value.to_owned()))
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
    let mut params = Params::parse(pairs, &[POST_FIELDS])?;
    if !params.ignored.is_empty() {
        tracing::debug!(ignored = ?params.ignored, "Open311 fields ignored");
    }
    // Some clients put the key (or the jurisdiction) in the query string.
    params.merge(query_params(query, &[COMMON])?)?;
    params.check_jurisdiction(district)?;
    let Some(token) = credentials(&params, headers)? else {
        return Err(Fail::forbidden(
            "posting a service request needs an api_key (a Hutong token; ask the district's administrators for one), \
             sent as the api_key field or as `Authorization: Bearer <token>`: a case needs an account that answers for it",
        ));
    };
    let caller = caller(state, token).await?;

    let services = state.platform.cases().services(district).await?;
    let Some(code) = params.get("service_code") else {
        return Err(Fail::bad_request(
            "service_code is required: name the kind of problem (services.json lists the codes)",
        ));
    };
    let service = find_service(&services, code, district)?;
    service
        .settings
        .check_answers(code, &params.attributes)
        .map_err(Fail::bad_request)?;

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
    if let Some(url) = params
        .media
        .iter()
        .find(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(Fail::bad_request(format!(
            "media_url `{}` must be an http:// or https:// URL of the photo or file",
            url.chars().take(80).collect::<String>()
        )));
    }

    // An intake system files for a caller; the handler needs to reach them.
    // The contact is kept beside the case, apart from its description,
    // which public reads show.
    let contact = Contact {
        first_name: contact_field(&params, "first_name")?,
        last_name: contact_field(&params, "last_name")?,
        phone: contact_field(&params, "phone")?,
        email: contact_field(&params, "email")?,
        earlier: None,
    };
    let report = CaseReport {
        category: service.category.code.clone(),
        building_id: building,
        address,
        lat,
        lon,
        // Open311 makes the description optional; a case needs one, and
        // the service's name is what the reporter chose.
        description: params
            .get("description")
            .unwrap_or(service.category.name.as_str())
            .to_owned(),
        attachments: params.media.clone(),
        intake: Some(CaseIntake {
            contact,
            attributes: params.attributes.clone(),
        }),
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
            account_id,
        }],
    ))
}

/// A case a reader may see, and whether they see it only because it is
/// public (then it names no worker).
struct Seen {
    case: CaseRow,
    public: bool,
}

/// One way of listing cases: as a caller's role allows, or what is public.
enum View<'a> {
    Role(&'a CaseActor),
    Public(&'a Published),
}

/// Up to `want` of the newest cases a filter matches in a view, a page at
/// a time.
async fn newest(
    state: &ApiState,
    district: &str,
    view: &View<'_>,
    mut filter: CaseFilter,
    want: usize,
) -> Result<Vec<CaseRow>, Fail> {
    let cases = state.platform.cases();
    let mut found = Vec::new();
    loop {
        filter.limit = (want - found.len()).min(MAX_PAGE as usize) as u32;
        let page = match view {
            View::Role(actor) => cases.list_cases(district, actor, filter.clone()).await?,
            View::Public(published) => {
                cases
                    .public_page(district, published, filter.clone())
                    .await?
            }
        };
        found.extend(page.items);
        match page.next {
            Some(next) if found.len() < want => filter.before = Some(next),
            _ => return Ok(found),
        }
    }
}

/// Up to `want` of the newest cases a reader may see that `filter`
/// matches: the public ones, and for a caller with a key also those their
/// role allows.
async fn gather(
    state: &ApiState,
    district: &str,
    published: &Published,
    reader: &Reader,
    filter: CaseFilter,
    want: usize,
) -> Result<Vec<Seen>, Fail> {
    let mut seen: Vec<Seen> = Vec::new();
    if let Reader::Person(caller) = reader {
        let actor = CaseActor::Person(caller.clone());
        let mine = newest(state, district, &View::Role(&actor), filter.clone(), want).await?;
        seen.extend(mine.into_iter().map(|case| Seen {
            case,
            public: false,
        }));
        if !published.public_reads {
            return Ok(seen);
        }
    }
    let known: HashSet<i64> = seen.iter().map(|s| s.case.id).collect();
    let public = newest(state, district, &View::Public(published), filter, want).await?;
    seen.extend(
        public
            .into_iter()
            .filter(|c| !known.contains(&c.id))
            .map(|case| Seen { case, public: true }),
    );
    seen.sort_by_key(|s| std::cmp::Reverse(s.case.id));
    seen.truncate(want);
    Ok(seen)
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
    let reader = reader(state, district, params, headers).await?;
    let cases = state.platform.cases();
    let services = cases.services(district).await?;
    let published = Published::of(cases.open311_policy(district).await?, &services);
    let (skip, take) = paging(params.get("page"), params.get("page_size"))?;

    // Ids override every other filter, as GeoReport v2 says.
    let filter = if let Some(text) = params.get("service_request_id") {
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
        if ids.is_empty() {
            return render_requests(state, district, &services, Vec::new(), format).await;
        }
        CaseFilter {
            ids,
            ..CaseFilter::default()
        }
    } else {
        let finished = finished_filter(params.get("status"))?;
        let now = state.platform.store().clock().now_ms();
        let (from, to) = window(params.get("start_date"), params.get("end_date"), now)?;
        let mut categories = Vec::new();
        if let Some(text) = params.get("service_code") {
            for code in comma_list(text) {
                find_service(&services, code, district)?;
                categories.push(code.to_owned());
            }
        }
        CaseFilter {
            categories,
            finished,
            created_from: Some(from),
            created_to: Some(to),
            ..CaseFilter::default()
        }
    };
    let seen = gather(state, district, &published, &reader, filter, skip + take).await?;
    let page: Vec<Seen> = seen.into_iter().skip(skip).take(take).collect();
    render_requests(state, district, &services, page, format).await
}

/// Service requests answered with their names, agencies, expected times
/// and the notes of their current steps.
async fn render_requests(
    state: &ApiState,
    district: &str,
    services: &[Service],
    seen: Vec<Seen>,
    format: Format,
) -> Result<Response, Fail> {
    let cases = state.platform.cases();
    let (public, private): (Vec<&Seen>, Vec<&Seen>) = seen.iter().partition(|s| s.public);
    let rows = |list: &[&Seen]| list.iter().map(|s| s.case.clone()).collect::<Vec<_>>();
    let mut agencies = cases.agencies(district, &rows(&private), false).await?;
    agencies.extend(cases.agencies(district, &rows(&public), true).await?);
    let public: HashSet<i64> = seen
        .iter()
        .filter(|s| s.public)
        .map(|s| s.case.id)
        .collect();
    let all: Vec<CaseRow> = seen.into_iter().map(|s| s.case).collect();
    // A note is free text a worker or the reporter wrote (a name, a phone
    // number, an evaluation): readers with a key see it, a public read only
    // the state.
    let notes = cases.latest_case_notes(&all).await?;
    let expected = cases.expected_close(district, &all).await?;
    let requests: Vec<ServiceRequest> = all
        .into_iter()
        .map(|case| {
            let status = if case.state.is_final() {
                "closed"
            } else {
                "open"
            };
            let mut status_notes = format!("{} at the {} tier", case.state, case.tier);
            if case.overdue {
                status_notes.push_str(", overdue");
            }
            if let Some(note) = notes.get(&case.id).filter(|_| !public.contains(&case.id)) {
                status_notes.push_str(": ");
                status_notes.push_str(note);
            }
            let service_name = services
                .iter()
                .find(|s| s.category.code == case.category)
                .map_or_else(|| case.category.clone(), |s| s.category.name.clone());
            ServiceRequest {
                format,
                service_request_id: case.id,
                status,
                status_notes,
                service_name,
                agency_responsible: agencies.get(&case.id).cloned(),
                requested_datetime: crate::cases::format_ms(case.created_at),
                updated_datetime: crate::cases::format_ms(case.updated_at),
                expected_datetime: expected.get(&case.id).copied().map(crate::cases::format_ms),
                service_code: case.category,
                description: case.description,
                address: case.address,
                address_id: case.building_id,
                lat: case.lat,
                long: case.lon,
                media_url: case.attachments.into_iter().next(),
            }
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

/// One case a reader may see, found by `by_role` for a caller with a key
/// (their role's view) and else by `by_public`; not-found when neither
/// shows it.
async fn one_seen<R, P>(reader: &Reader, by_role: R, by_public: P) -> Result<Seen, PlatformError>
where
    R: AsyncFnOnce(&CaseActor) -> Result<CaseRow, PlatformError>,
    P: AsyncFnOnce() -> Result<CaseRow, PlatformError>,
{
    if let Reader::Person(caller) = reader {
        match by_role(&CaseActor::Person(caller.clone())).await {
            Ok(case) => {
                return Ok(Seen {
                    case,
                    public: false,
                });
            }
            Err(PlatformError::NotFound(what)) => {
                // A caller with a key who cannot see it may still read it
                // if it is public; if the district publishes nothing, it is
                // simply not theirs to see.
                return match by_public().await {
                    Ok(case) => Ok(Seen { case, public: true }),
                    Err(PlatformError::Forbidden(_)) => Err(PlatformError::NotFound(what)),
                    Err(e) => Err(e),
                };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Seen {
        case: by_public().await?,
        public: true,
    })
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
        let reader = reader(&state, &district, &params, &headers).await?;
        let not_found = || {
            Fail::not_found(format!(
                "service request `{id}` does not exist in district `{district}` or is not yours to see"
            ))
        };
        let number = id.parse::<i64>().map_err(|_| not_found())?;
        let cases = state.platform.cases();
        let seen = match one_seen(
            &reader,
            async |actor: &CaseActor| cases.case_for(&district, number, actor).await,
            async || cases.public_case(&district, number).await,
        )
        .await
        {
            Err(PlatformError::NotFound(_)) => return Err(not_found()),
            other => other?,
        };
        let services = cases.services(&district).await?;
        render_requests(&state, &district, &services, vec![seen], format).await
    }
    .await;
    result.unwrap_or_else(|f| f.render(format))
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
        let reader = reader(&state, &district, &params, &headers).await?;
        let cases = state.platform.cases();
        let seen = match one_seen(
            &reader,
            async |actor: &CaseActor| cases.case_for_token(&district, token, actor).await,
            async || cases.public_case_for_token(&district, token).await,
        )
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
                service_request_id: seen.case.id,
                token: seen.case.token,
            }],
        ))
    }
    .await;
    result.unwrap_or_else(|f: Fail| f.render(format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_url_is_the_host_the_client_reached() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("hutong.example:8080"),
        );
        assert_eq!(
            endpoint_url(&headers, "east"),
            "http://hutong.example:8080/d/east/open311/v2/"
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            endpoint_url(&headers, "east"),
            "https://hutong.example:8080/d/east/open311/v2/"
        );
        headers.insert(header::HOST, HeaderValue::from_static("evil.example/<x>"));
        assert_eq!(
            endpoint_url(&headers, "east"),
            "https://localhost/d/east/open311/v2/"
        );
    }
}
