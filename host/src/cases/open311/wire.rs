//! Open311's two wire formats: answers and errors in JSON or XML, chosen
//! by the path's extension, and the documents GeoReport v2 defines.
//!
//! JSON and XML differ in one way clients rely on: in XML an element
//! without a value is left out (the spec's examples, and parsers such as
//! `xmltodict` that turn an empty element into `None` but a missing one
//! into "not sent"), while JSON sends `null`. Each document below says so
//! once, through [`field`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::cases::intake::{AttributeValue, ServiceAttribute};
use crate::error::PlatformError;

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
const INTERNAL: &str = "the host hit an internal error; the details are in its log";

/// The response format, chosen by the path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
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
    pub(super) fn of_path(path: &str) -> Format {
        if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }

    fn omits_empty(self) -> bool {
        self == Format::Xml
    }
}

/// Split `requests.json` into its name and format.
pub(super) fn split(file: &str) -> Result<(&str, Format), Fail> {
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
pub(super) struct Fail {
    pub(super) status: StatusCode,
    pub(super) description: String,
}

impl Fail {
    pub(super) fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Fail {
            status,
            description: description.into(),
        }
    }

    pub(super) fn bad_request(description: impl Into<String>) -> Self {
        Fail::new(StatusCode::BAD_REQUEST, description)
    }

    pub(super) fn forbidden(description: impl Into<String>) -> Self {
        Fail::new(StatusCode::FORBIDDEN, description)
    }

    pub(super) fn not_found(description: impl Into<String>) -> Self {
        Fail::new(StatusCode::NOT_FOUND, description)
    }

    pub(super) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Open311 request failed inside the host");
        Fail::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
    }

    pub(super) fn render(self, format: Format) -> Response {
        let status = self.status;
        list(
            format,
            status,
            "errors",
            "error",
            &[ErrorBody {
                code: status.as_u16(),
                description: self.description,
            }],
        )
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
            PlatformError::Forbidden(_) => Fail::forbidden(message),
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
pub(super) struct Items<'a, T> {
    pub(super) name: &'static str,
    pub(super) items: &'a [T],
}

impl<T: Serialize> Serialize for Items<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Items", 1)?;
        st.serialize_field(self.name, self.items)?;
        st.end()
    }
}

/// A JSON or XML answer; `root` names the XML document's root element.
pub(super) fn respond(
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
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            )],
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
pub(super) fn list<T: Serialize>(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &'static str,
    items: &[T],
) -> Response {
    respond(format, status, &items, root, &Items { name: item, items })
}

/// Serialize an optional field: `null` in JSON, left out in XML.
fn field<S: SerializeStruct, T: Serialize>(
    st: &mut S,
    format: Format,
    name: &'static str,
    value: &Option<T>,
) -> Result<(), S::Error> {
    match value {
        None if format.omits_empty() => st.skip_field(name),
        value => st.serialize_field(name, value),
    }
}

/// A service of the list.
pub(super) struct Service<'a> {
    pub(super) format: Format,
    pub(super) service_code: &'a str,
    pub(super) service_name: &'a str,
    pub(super) description: Option<&'a str>,
    /// Whether the service has attributes (`services/{code}` lists them).
    pub(super) metadata: bool,
    pub(super) keywords: Option<String>,
    pub(super) group: Option<&'a str>,
}

impl Serialize for Service<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.format;
        let mut st = s.serialize_struct("service", 7)?;
        st.serialize_field("service_code", self.service_code)?;
        st.serialize_field("service_name", self.service_name)?;
        field(&mut st, f, "description", &self.description)?;
        st.serialize_field("metadata", &self.metadata)?;
        // A request becomes a case the moment it is posted.
        st.serialize_field("type", "realtime")?;
        field(&mut st, f, "keywords", &self.keywords)?;
        field(&mut st, f, "group", &self.group)?;
        st.end()
    }
}

/// A service definition: its attributes, in the order clients show them.
pub(super) struct Definition<'a> {
    pub(super) format: Format,
    pub(super) service_code: &'a str,
    pub(super) attributes: &'a [ServiceAttribute],
}

impl Serialize for Definition<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("service_definition", 2)?;
        st.serialize_field("service_code", self.service_code)?;
        let mut attributes: Vec<Attribute<'_>> = self
            .attributes
            .iter()
            .map(|a| Attribute {
                format: self.format,
                a,
            })
            .collect();
        attributes.sort_by_key(|a| a.a.order);
        match self.format {
            Format::Json => st.serialize_field("attributes", &attributes)?,
            Format::Xml => st.serialize_field(
                "attributes",
                &Items {
                    name: "attribute",
                    items: &attributes,
                },
            )?,
        }
        st.end()
    }
}

/// One attribute of a definition.
struct Attribute<'a> {
    format: Format,
    a: &'a ServiceAttribute,
}

impl Serialize for Attribute<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (f, a) = (self.format, self.a);
        let mut st = s.serialize_struct("attribute", 8)?;
        st.serialize_field("variable", &a.variable)?;
        st.serialize_field("code", &a.code)?;
        st.serialize_field("datatype", a.datatype.as_str())?;
        st.serialize_field("required", &a.required)?;
        let help = Some(a.datatype_description.as_str()).filter(|d| !d.is_empty());
        field(&mut st, f, "datatype_description", &help)?;
        st.serialize_field("order", &a.order)?;
        st.serialize_field("description", &a.description)?;
        match f {
            Format::Json => st.serialize_field("values", &a.values)?,
            Format::Xml if a.values.is_empty() => st.skip_field("values")?,
            Format::Xml => st.serialize_field(
                "values",
                &Items::<AttributeValue> {
                    name: "value",
                    items: &a.values,
                },
            )?,
        }
        st.end()
    }
}

/// A service request as GET answers it.
pub(super) struct ServiceRequest {
    pub(super) format: Format,
    pub(super) service_request_id: i64,
    pub(super) status: &'static str,
    pub(super) status_notes: String,
    pub(super) service_name: String,
    pub(super) service_code: String,
    pub(super) description: String,
    pub(super) agency_responsible: Option<String>,
    pub(super) requested_datetime: String,
    pub(super) updated_datetime: String,
    pub(super) expected_datetime: Option<String>,
    pub(super) address: Option<String>,
    pub(super) address_id: Option<String>,
    pub(super) lat: Option<f64>,
    pub(super) long: Option<f64>,
    pub(super) media_url: Option<String>,
}

impl Serialize for ServiceRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.format;
        let mut st = s.serialize_struct("request", 17)?;
        st.serialize_field("service_request_id", &self.service_request_id)?;
        st.serialize_field("status", self.status)?;
        st.serialize_field("status_notes", &self.status_notes)?;
        st.serialize_field("service_name", &self.service_name)?;
        st.serialize_field("service_code", &self.service_code)?;
        st.serialize_field("description", &self.description)?;
        field(&mut st, f, "agency_responsible", &self.agency_responsible)?;
        // Hutong has no notices for a request beyond its status notes.
        field(&mut st, f, "service_notice", &None::<String>)?;
        st.serialize_field("requested_datetime", &self.requested_datetime)?;
        st.serialize_field("updated_datetime", &self.updated_datetime)?;
        field(&mut st, f, "expected_datetime", &self.expected_datetime)?;
        field(&mut st, f, "address", &self.address)?;
        field(&mut st, f, "address_id", &self.address_id)?;
        // The community data model has no postal codes.
        field(&mut st, f, "zipcode", &None::<String>)?;
        field(&mut st, f, "lat", &self.lat)?;
        field(&mut st, f, "long", &self.long)?;
        field(&mut st, f, "media_url", &self.media_url)?;
        st.end()
    }
}

/// What a new request's POST answers.
#[derive(Serialize)]
pub(super) struct Created {
    pub(super) service_request_id: i64,
    pub(super) token: String,
    pub(super) account_id: String,
}

/// What GET `tokens/{token}` answers.
#[derive(Serialize)]
pub(super) struct TokenAnswer {
    pub(super) service_request_id: i64,
    pub(super) token: String,
}

/// The date of the last change to what this endpoint implements
/// (discovery's `changeset`).
pub(super) const CHANGESET: &str = "2026-12-07T00:00:00Z";

/// The discovery document: where the district's GeoReport v2 endpoint is.
pub(super) struct Discovery {
    pub(super) format: Format,
    pub(super) url: String,
    pub(super) district: String,
    /// Whether reading needs no key (the district's policy).
    pub(super) public_reads: bool,
}

impl Serialize for Discovery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let endpoint = Endpoint {
            format: self.format,
            url: &self.url,
        };
        let mut st = s.serialize_struct("discovery", 4)?;
        st.serialize_field("changeset", CHANGESET)?;
        st.serialize_field(
            "contact",
            &format!(
                "The administrators of district {} (区), through the city's Hutong host",
                self.district
            ),
        )?;
        let reading = if self.public_reads {
            "Reading the requests of public services needs no key."
        } else {
            "Reading requests needs a key."
        };
        st.serialize_field(
            "key_service",
            &format!(
                "{reading} For a key, ask district {}'s administrators for an account and an api_key (a Hutong token: hutong token issue --account <id>)",
                self.district
            ),
        )?;
        match self.format {
            Format::Json => st.serialize_field("endpoints", &[endpoint])?,
            Format::Xml => st.serialize_field(
                "endpoints",
                &Items {
                    name: "endpoint",
                    items: &[endpoint],
                },
            )?,
        }
        st.end()
    }
}

struct Endpoint<'a> {
    format: Format,
    url: &'a str,
}

impl Serialize for Endpoint<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const FORMATS: [&str; 2] = ["text/xml", "application/json"];
        let mut st = s.serialize_struct("endpoint", 5)?;
        st.serialize_field("specification", "http://wiki.open311.org/GeoReport_v2")?;
        st.serialize_field("url", self.url)?;
        st.serialize_field("changeset", CHANGESET)?;
        st.serialize_field("type", "production")?;
        match self.format {
            Format::Json => st.serialize_field("formats", &FORMATS)?,
            Format::Xml => st.serialize_field(
                "formats",
                &Items {
                    name: "format",
                    items: &FORMATS,
                },
            )?,
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::intake::Datatype;

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

    fn definition(format: Format, attributes: &[ServiceAttribute]) -> Response {
        let d = Definition {
            format,
            service_code: "lamp",
            attributes,
        };
        respond(format, StatusCode::OK, &d, "service_definition", &d)
    }

    #[tokio::test]
    async fn a_definition_lists_its_attributes_in_order_in_either_format() {
        assert_eq!(
            body(definition(Format::Json, &[])).await,
            r#"{"service_code":"lamp","attributes":[]}"#
        );
        assert_eq!(
            body(definition(Format::Xml, &[])).await,
            format!(
                "{XML_DECLARATION}<service_definition><service_code>lamp</service_code><attributes/></service_definition>"
            )
        );
        let attributes = [
            ServiceAttribute {
                code: "kind".into(),
                datatype: Datatype::Singlevaluelist,
                required: false,
                description: "种类".into(),
                datatype_description: String::new(),
                order: 2,
                variable: true,
                values: vec![AttributeValue {
                    key: "pole".into(),
                    name: "灯杆".into(),
                }],
            },
            ServiceAttribute {
                code: "floor".into(),
                datatype: Datatype::Number,
                required: true,
                description: "哪一层".into(),
                datatype_description: "1-33".into(),
                order: 1,
                variable: true,
                values: Vec::new(),
            },
        ];
        let xml = body(definition(Format::Xml, &attributes)).await;
        assert_eq!(
            xml,
            format!(
                "{XML_DECLARATION}<service_definition><service_code>lamp</service_code><attributes>\
                 <attribute><variable>true</variable><code>floor</code><datatype>number</datatype><required>true</required><datatype_description>1-33</datatype_description><order>1</order><description>哪一层</description></attribute>\
                 <attribute><variable>true</variable><code>kind</code><datatype>singlevaluelist</datatype><required>false</required><order>2</order><description>种类</description><values><value><key>pole</key><name>灯杆</name></value></values></attribute>\
                 </attributes></service_definition>"
            )
        );
        let json = body(definition(Format::Json, &attributes)).await;
        assert!(json.starts_with(r#"{"service_code":"lamp","attributes":[{"variable":true,"code":"floor","datatype":"number","required":true,"datatype_description":"1-33","order":1"#), "{json}");
        assert!(json.contains(r#""datatype_description":null,"order":2,"description":"种类","values":[{"key":"pole","name":"灯杆"}]"#), "{json}");
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

    #[tokio::test]
    async fn fields_without_a_value_are_null_in_json_and_left_out_in_xml() {
        let request = |format| ServiceRequest {
            format,
            service_request_id: 7,
            status: "open",
            status_notes: "reported at the grid tier".into(),
            service_name: "路灯".into(),
            service_code: "lamp".into(),
            description: "灯不亮".into(),
            agency_responsible: None,
            requested_datetime: "2026-12-07T01:00:00Z".into(),
            updated_datetime: "2026-12-07T01:00:00Z".into(),
            expected_datetime: None,
            address: Some("幸福路1号".into()),
            address_id: None,
            lat: None,
            long: None,
            media_url: None,
        };
        let xml = body(list(
            Format::Xml,
            StatusCode::OK,
            "service_requests",
            "request",
            &[request(Format::Xml)],
        ))
        .await;
        assert!(
            !xml.contains("agency_responsible")
                && !xml.contains("zipcode")
                && !xml.contains("<lat"),
            "{xml}"
        );
        assert!(xml.contains("<address>幸福路1号</address>"), "{xml}");
        let json = body(list(
            Format::Json,
            StatusCode::OK,
            "service_requests",
            "request",
            &[request(Format::Json)],
        ))
        .await;
        assert!(
            json.contains(r#""agency_responsible":null"#) && json.contains(r#""zipcode":null"#),
            "{json}"
        );
    }

    #[test]
    fn the_extension_picks_the_format_and_nothing_else_is_accepted() {
        assert_eq!(split("requests.json").ok().map(|s| s.1), Some(Format::Json));
        assert_eq!(split("requests.xml").ok().map(|s| s.1), Some(Format::Xml));
        let bad = split("requests.html").err().map(|f| f.description);
        assert!(bad.is_some_and(|d| d.contains("requests.json")));
        assert!(split("requests").is_err());
    }
}
