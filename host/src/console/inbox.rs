//! A signed-in person's inbox (`/inbox`): the messages apps and the host
//! sent to their account, newest first, each marked read with a button.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::Text;
use super::pages;
use super::session::Visitor;
use super::{Language, PageError, TokenForm, failed, not_found, see_other, signed_form};
use crate::api::shared::ApiState;
use crate::error::PlatformError;

/// Messages on one page of the inbox.
pub const MESSAGES_PER_PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(crate) struct InboxQuery {
    #[serde(default)]
    before: Option<i64>,
}

/// `GET /inbox`.
pub(super) async fn inbox_page(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let Some(session) = visitor.session else {
        return Ok(see_other("/sign-in"));
    };
    let page = state
        .platform
        .inbox(
            &session.caller.account_id,
            false,
            q.before,
            MESSAGES_PER_PAGE,
        )
        .await
        .map_err(failed)?;
    let body = html! {
        h1 { (lang.t(Text::Inbox)) }
        @if page.items.is_empty() {
            p { (lang.t(Text::NoMessages)) }
        }
        ul.inbox {
            @for m in &page.items {
                li id=(format!("message-{}", m.id)) class=(if m.read_at.is_none() { "unread" } else { "read" }) {
                    strong { (m.subject) }
                    " " small { (pages::when(m.created_at)) " · " (lang.t(Text::From)) " " (m.app) }
                    p { (m.body) }
                    @match m.read_at {
                        None => {
                            span.error { (lang.t(Text::Unread)) } " "
                            form.inline method="post" action=(format!("/inbox/{}/read", m.id)) {
                                input type="hidden" name="csrf" value=(session.csrf);
                                button type="submit" { (lang.t(Text::MarkRead)) }
                            }
                        }
                        Some(at) => { small { (lang.t(Text::ReadOn)) " " (pages::when(at)) } }
                    }
                }
            }
        }
        @if let Some(next) = page.next {
            p { a href=(format!("/inbox?before={next}")) { (lang.t(Text::Older)) } }
        }
        p { a href="/" { (lang.t(Text::BackHome)) } }
    };
    Ok(pages::page(lang, "/inbox", Text::Inbox, body).into_response())
}

/// `POST /inbox/{id}/read`.
pub(super) async fn mark_read(
    State(state): State<ApiState>,
    Language(lang): Language,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, PageError> {
    let (session, _) = match signed_form(lang, visitor.session, &headers, form) {
        Ok(checked) => checked,
        Err(answer) => return Ok(*answer),
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(not_found(lang));
    };
    match state
        .platform
        .mark_read(&session.caller.account_id, id)
        .await
    {
        Ok(()) => Ok(see_other(&format!("/inbox#message-{id}"))),
        Err(PlatformError::NotFound(_)) => Ok(not_found(lang)),
        Err(err) => Err(failed(err)),
    }
}
