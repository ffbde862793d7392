//! The pages residents vote on in a browser, zh-CN first with English:
//! `GET /` lists the polls, `GET /vote/{id}` is a poll's ballot page, and
//! `assets/` serves its scripts, style sheet and the ballot maker.
//!
//! The ballot maker is `evote/web`: the `hutong-evote` crate compiled for
//! browsers, which the build script embeds. The page's script reads the
//! board's head, has the module check the trustees' keys and their sum,
//! shows the options of that checked election, and encrypts, proves and
//! signs the choice with the voter's credential on the device. Before
//! casting, a voter may audit the ballot instead (Benaloh's challenge):
//! the page reveals its randomness for a check on another device
//! (`hutong-evote audit`), and that ballot is never cast.
//!
//! Everything the server renders comes from the poll's record and is
//! escaped; the script builds the options from the checked election with
//! `textContent`. The pages allow scripts only from the app's own origin
//! (and WebAssembly), and connect only to it.

use hutong_sdk::{Request, Response, html_escape};

use crate::lifecycle::Tally;
use crate::model::{Kind, Phase, Poll, State};

/// The ballot maker, built from `evote/web` by `build.rs`.
const EVOTE_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/evote.wasm"));
const VOTE_JS: &str = include_str!("page/vote.js");
const EVOTE_JS: &str = include_str!("page/evote.mjs");
const VOTE_CSS: &str = include_str!("page/vote.css");

/// What the pages may load: scripts and styles of the app's origin (and
/// WebAssembly compiled by them), requests to it, forms posted to it.
const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'";

/// The language of a page: `?lang=en` or `?lang=zh-CN`, else the browser's
/// first preference, else Chinese.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn of(req: &Request) -> Lang {
        if let Some(lang) = req.query_param("lang") {
            return if lang.starts_with("en") {
                Lang::En
            } else {
                Lang::Zh
            };
        }
        let first = req
            .header("accept-language")
            .and_then(|a| a.split(',').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if first.starts_with("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }

    /// The text in this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    fn code(self) -> &'static str {
        self.t("zh-CN", "en")
    }

    /// The query that keeps this language on a link.
    fn query(self) -> &'static str {
        self.t("?lang=zh-CN", "?lang=en")
    }
}

/// The app's address on this host, for links that work whether or not the
/// browser's path ends in a slash: `/d/{district}/apps/e-voting/`. A caller
/// without a district (a platform administrator) gets links relative to
/// `depth` segments below the app's root.
fn base(req: &Request, depth: usize) -> String {
    match req.caller().and_then(|c| c.district.as_deref()) {
        Some(district) => format!("/d/{district}/apps/e-voting/"),
        None if depth == 0 => "./".to_owned(),
        None => "../".repeat(depth),
    }
}

/// A whole page: the head, a header with the language switch, `main`.
fn page(status: u16, lang: Lang, base: &str, title: &str, main: &str) -> Response {
    let other = match lang {
        Lang::Zh => ("?lang=en", "en", "English"),
        Lang::En => ("?lang=zh-CN", "zh-CN", "中文"),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"{code}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {app}</title>\
         <link rel=\"stylesheet\" href=\"{base}assets/vote.css\"></head>\n<body>\
         <header><a class=\"home\" href=\"{base}{q}\">{app}</a>\
         <a class=\"lang\" href=\"{switch}\" hreflang=\"{switch_code}\" lang=\"{switch_code}\">{switch_name}</a></header>\n\
         <main>{main}</main></body></html>\n",
        code = lang.code(),
        title = html_escape(title),
        app = lang.t("社区投票", "Community voting"),
        q = lang.query(),
        switch = other.0,
        switch_code = other.1,
        switch_name = other.2,
    );
    Response::html(status, html)
        .with_header("content-security-policy", CSP)
        .with_header("cache-control", "no-store")
        .with_header("referrer-policy", "no-referrer")
}

/// A page saying what went wrong, with the status of the refusal.
pub fn error_page(req: &Request, status: u16, zh: &str, en: &str) -> Response {
    let lang = Lang::of(req);
    let title = lang.t("无法打开", "Cannot open this page");
    let main = format!(
        "<h1>{title}</h1><p class=\"error\" role=\"alert\">{}</p>",
        html_escape(lang.t(zh, en))
    );
    page(status, lang, &base(req, 0), title, &main)
}

fn phase_name(lang: Lang, phase: Phase) -> &'static str {
    match phase {
        Phase::Scheduled => lang.t("未开始", "Not open yet"),
        Phase::Freezing => lang.t("准备中", "Being prepared"),
        Phase::Open => lang.t("投票中", "Open"),
        Phase::Closing => lang.t("计票中", "Counting"),
        Phase::Decrypting => lang.t("等待监票人解密", "Awaiting the trustees"),
        Phase::Closed => lang.t("结果已公布", "Results published"),
        Phase::Cancelled => lang.t("已取消", "Cancelled"),
    }
}

/// `ms` since the epoch as Beijing time (UTC+8), `2026-12-07 18:30`.
pub fn beijing(ms: i64) -> String {
    let seconds = ms.div_euclid(1000) + 8 * 3600;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

fn when(lang: Lang, poll: &Poll) -> String {
    format!(
        "{} {} – {} ({})",
        lang.t("投票时间", "Voting"),
        beijing(poll.opens_at_ms),
        beijing(poll.closes_at_ms),
        lang.t("北京时间", "Beijing time")
    )
}

/// `GET /`: the district's polls, newest first.
pub fn index(req: &Request, polls: &[(Poll, State)]) -> Response {
    let lang = Lang::of(req);
    let base = base(req, 0);
    let title = lang.t("社区投票", "Community voting");
    let mut main = format!(
        "<h1>{title}</h1><p class=\"intro\">{}</p>",
        lang.t(
            "选票在您自己的设备上加密，平台看不到您选了什么；结果由全部监票人共同解密，任何人都可以核对公告板。",
            "Your ballot is encrypted on your own device: the platform never sees what you chose. All the trustees together decrypt only the total, and anyone can check the bulletin board."
        )
    );
    if polls.is_empty() {
        main.push_str(&format!(
            "<p>{}</p>",
            lang.t("目前没有投票。", "There are no polls yet.")
        ));
    } else {
        main.push_str("<ul class=\"polls\">");
        for (poll, state) in polls {
            let action = if state.phase == Phase::Open {
                lang.t("去投票", "Vote")
            } else {
                lang.t("查看", "View")
            };
            main.push_str(&format!(
                "<li><a href=\"{base}vote/{id}{q}\"><b>{title}</b></a> \
                 <span class=\"phase phase-{phase_code}\">{phase}</span>\
                 <small>{when}</small><a class=\"button\" href=\"{base}vote/{id}{q}\">{action}</a></li>",
                id = html_escape(&poll.id),
                q = lang.query(),
                title = html_escape(&poll.title),
                phase_code = phase_code(state.phase),
                phase = phase_name(lang, state.phase),
                when = html_escape(&when(lang, poll)),
            ));
        }
        main.push_str("</ul>");
    }
    page(200, lang, &base, title, &main)
}

fn phase_code(phase: Phase) -> &'static str {
    match phase {
        Phase::Scheduled => "scheduled",
        Phase::Freezing => "freezing",
        Phase::Open => "open",
        Phase::Closing => "closing",
        Phase::Decrypting => "decrypting",
        Phase::Closed => "closed",
        Phase::Cancelled => "cancelled",
    }
}

/// `GET /vote/{id}`: the poll, and while it is open, the ballot form the
/// script drives; once closed, its result.
pub fn vote(
    req: &Request,
    poll: &Poll,
    state: &State,
    result: Option<(&[String], &Tally)>,
) -> Response {
    let lang = Lang::of(req);
    let base = base(req, 2);
    let id = html_escape(&poll.id);
    let mut main = format!(
        "<h1>{title}</h1>{description}<p class=\"meta\"><span class=\"phase phase-{code}\" id=\"phase\">{phase}</span> {when}</p>",
        title = html_escape(&poll.title),
        description = if poll.description.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"description\">{}</p>",
                html_escape(&poll.description)
            )
        },
        code = phase_code(state.phase),
        phase = phase_name(lang, state.phase),
        when = html_escape(&when(lang, poll)),
    );
    match state.phase {
        Phase::Open => main.push_str(&ballot_form(lang, &base, poll)),
        Phase::Scheduled | Phase::Freezing => main.push_str(&format!(
            "<p>{}</p>",
            lang.t(
                "投票开始后，您会收到投票凭证，届时可在此页投票。",
                "Once the poll opens you receive your voting credential and can vote on this page."
            )
        )),
        Phase::Closing | Phase::Decrypting => main.push_str(&format!(
            "<p>{}</p>",
            lang.t(
                "投票已结束。平台正在核对每张选票并累加，全部监票人解密总数后公布结果。",
                "Voting has ended. Every ballot is being checked again and added up; the result is published once all the trustees have decrypted the total."
            )
        )),
        Phase::Cancelled => main.push_str(&format!(
            "<p>{}</p>",
            lang.t(
                "此投票已取消：截止前未收齐全部监票人的密钥，投票没有开始。",
                "This poll was cancelled: not every trustee's key was in by its close, so it never opened."
            )
        )),
        Phase::Closed => {}
    }
    if let Some((names, tally)) = result {
        main.push_str(&result_table(lang, names, tally));
    }
    if !matches!(
        state.phase,
        Phase::Scheduled | Phase::Freezing | Phase::Cancelled
    ) {
        main.push_str(&format!(
            "<section class=\"board\"><h2>{h}</h2><p>{p}</p><pre>hutong-evote fetch --poll-url {origin_hint}polls/{id} --out board.json\nhutong-evote verify board.json --tracker &lt;{tracker}&gt;</pre>\
             <p><a href=\"{base}polls/{id}/board\">{head}</a></p></section>",
            h = lang.t("公告板", "The bulletin board"),
            p = lang.t(
                "公告板公开每张选票的密文和证明（不含任何姓名）、计票和结果。任何人都可以用 hutong-evote 下载并核对全部内容，也可以确认自己的跟踪码在其中：",
                "The board publishes every ballot's ciphertexts and proofs (no names), the tally and the result. Anyone can download and check all of it with hutong-evote, and find their own tracker on it:"
            ),
            origin_hint = html_escape(&format!("https://<host>{base}")),
            tracker = lang.t("跟踪码", "tracker"),
            head = lang.t("公告板摘要（JSON）", "The board's head (JSON)"),
        ));
    }
    page(200, lang, &base, &poll.title, &main)
}

fn result_table(lang: Lang, names: &[String], tally: &Tally) -> String {
    let mut html = format!(
        "<section class=\"result\"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
        lang.t("结果", "Result"),
        lang.t("选项", "Option"),
        lang.t("票数", "Votes"),
    );
    for (name, count) in names.iter().zip(&tally.counts) {
        html.push_str(&format!(
            "<tr><td>{}</td><td class=\"count\">{count}</td></tr>",
            html_escape(name)
        ));
    }
    let quorum = if tally.quorum_met {
        lang.t("达到法定人数", "quorum reached")
    } else {
        lang.t("未达到法定人数", "quorum not reached")
    };
    let summary = match lang {
        Lang::Zh => format!(
            "有效选票 {} 张 · 投票率 {:.2}% · {quorum}",
            tally.ballots, tally.turnout_percent
        ),
        Lang::En => format!(
            "Ballots counted: {} · turnout {:.2}% · {quorum}",
            tally.ballots, tally.turnout_percent
        ),
    };
    html.push_str(&format!("</tbody></table><p>{summary}</p></section>"));
    html
}

/// The ballot form; the script fills in the options from the checked
/// election and does the rest. Its messages are in `#texts`.
fn ballot_form(lang: Lang, base: &str, poll: &Poll) -> String {
    let choose = match poll.kind {
        Kind::Single => lang.t("请选择 1 项。", "Choose one option.").to_owned(),
        Kind::Multiple => match lang {
            Lang::Zh => format!("最多选择 {} 项。", poll.max_choices),
            Lang::En => format!("Choose up to {} options.", poll.max_choices),
        },
        Kind::Approval => lang
            .t(
                "选择您赞成的每一项（至少 1 项）。",
                "Choose each option you approve of (at least one).",
            )
            .to_owned(),
    };
    let texts = serde_json::json!({
        "loading": lang.t("正在核对选举公钥……", "Checking the election key…"),
        "ready": lang.t("选举公钥已核对：它是全部监票人经证明的公钥之和。", "Election key checked: it is the sum of every trustee's proved key."),
        "encrypting": lang.t("正在本设备上加密……", "Encrypting on this device…"),
        "casting": lang.t("正在投出……", "Casting…"),
        "cast": lang.t("您的选票已投出。", "Your ballot is cast."),
        "replaced": lang.t("它替换了您之前用同一凭证投出的选票：只计最后一张。", "It replaces your earlier ballot with this credential: only the last one counts."),
        "on_board": lang.t("公告板上已有这张选票（跟踪码一致）。", "This ballot is on the board (its tracker matches)."),
        "not_on_board": lang.t("公告板上的选票与此跟踪码不一致！请联系监票人。", "The board's ballot for your credential does not match this tracker! Tell the trustees."),
        "board_later": lang.t("此投票在截止后公布选票；届时可用跟踪码核对。", "This poll publishes its ballots after the close; check your tracker then."),
        "board_recounting": lang.t("投票已截止，选票正在清点；稍后可用跟踪码核对。", "The poll has closed and its ballots are being counted; check your tracker in a minute."),
        "audit_ok": lang.t("本设备核对：这张选票加密的是：", "This device's check: this ballot encrypts: "),
        "audit_none": lang.t("（未选择）", "(nothing)"),
        "err_credential": lang.t("凭证不正确：凭证是 20 个字符（数字和字母，不含 0、O、I、l），请按收到的原样输入。", "That is not a credential: a credential is 20 characters (digits and letters, no 0, O, I or l); type it as you received it."),
        "err_choices": lang.t("所选项数不符合要求。", "The number of options chosen is not allowed."),
        "err_trustees": lang.t("选举公钥不是全部监票人经证明的公钥之和：本页拒绝在此公钥下加密。请联系监票人。", "The election key is not the sum of every trustee's proved key: this page refuses to encrypt under it. Tell the trustees."),
        "err_head": lang.t("公告板的内容无法读取。", "The bulletin board could not be read."),
        "err_audit": lang.t("审计未通过：这张选票与它声称的选择不符。请不要在此设备上投票，并联系监票人。", "The audit fails: this ballot does not encrypt what it claims. Do not vote on this device, and tell the trustees."),
        "err_ballot": lang.t("无法制作选票，请刷新后重试。", "The ballot could not be made; reload the page and try again."),
        "err_request": lang.t("本页出错，请刷新后重试。", "The page went wrong; reload it and try again."),
        "err_module": lang.t("本浏览器无法运行加密模块（需要 WebAssembly）。", "This browser cannot run the encryption module (WebAssembly is needed)."),
        "err_not_on_roll": lang.t("此凭证不在本次投票的名册上：请使用为本次投票收到的凭证。", "This credential is not on this poll's roll: use the credential you received for this poll."),
        "err_closed": lang.t("投票已结束，不再接受选票。", "The poll has closed: no more ballots are taken."),
        "err_not_open": lang.t("投票尚未开始。", "The poll is not open yet."),
        "err_unauthenticated": lang.t("您的登录已失效：请重新登录后再投票。", "You are no longer signed in: sign in again, then vote."),
        "err_network": lang.t("无法连接平台，选票没有投出。请稍后重试。", "Could not reach the platform; the ballot was not cast. Try again."),
        "err_other": lang.t("选票没有投出：", "The ballot was not cast: "),
    });
    format!(
        "<form id=\"ballot\" class=\"ballot\" data-poll=\"{id}\" data-base=\"{base}\" autocomplete=\"off\">\
         <p class=\"status\" id=\"status\" aria-live=\"polite\">{loading}</p>\
         <fieldset id=\"choices\" disabled><legend>{choose_legend}</legend><p class=\"hint\">{choose}</p><div id=\"options\"></div></fieldset>\
         <label for=\"credential\">{credential}</label>\
         <input id=\"credential\" name=\"credential\" autocomplete=\"off\" autocapitalize=\"off\" spellcheck=\"false\" \
          inputmode=\"text\" maxlength=\"40\" required aria-describedby=\"credential-hint\">\
         <p class=\"hint\" id=\"credential-hint\">{credential_hint}</p>\
         <button type=\"submit\" id=\"encrypt\" disabled>{encrypt}</button>\
         <p class=\"error\" id=\"error\" role=\"alert\" hidden></p></form>\
         <section id=\"encrypted\" class=\"step\" hidden><h2>{encrypted_h}</h2>\
          <p>{tracker_label} <code id=\"tracker\"></code></p><p>{encrypted_p}</p>\
          <div class=\"actions\"><button type=\"button\" id=\"cast\">{cast}</button>\
          <button type=\"button\" id=\"audit\" class=\"secondary\">{audit}</button></div></section>\
         <section id=\"audited\" class=\"step\" hidden><h2>{audited_h}</h2><p id=\"audit-result\"></p>\
          <p>{audited_p}</p><textarea id=\"audit-data\" readonly rows=\"6\"></textarea>\
          <pre>hutong-evote audit --election board.json --ballot audit.json</pre>\
          <button type=\"button\" id=\"again\">{again}</button></section>\
         <section id=\"done\" class=\"step\" hidden><h2>{done_h}</h2>\
          <p>{tracker_label} <code id=\"done-tracker\"></code></p><p id=\"done-note\"></p><p id=\"board-check\"></p>\
          <p>{done_p}</p></section>\
         <script type=\"application/json\" id=\"texts\">{texts}</script>\
         <script type=\"module\" src=\"{base}assets/vote.js\"></script>",
        id = html_escape(&poll.id),
        base = html_escape(base),
        loading = lang.t("正在加载……", "Loading…"),
        choose_legend = lang.t("您的选择", "Your choice"),
        credential = lang.t("投票凭证", "Voting credential"),
        credential_hint = lang.t(
            "投票凭证是发给您的 20 个字符，只在本设备上用于签名，不会发送给平台。",
            "The 20 characters you were sent. It signs your ballot on this device and is never sent to the platform."
        ),
        encrypt = lang.t("加密选票", "Encrypt my ballot"),
        encrypted_h = lang.t("选票已在本设备上加密", "Your ballot is encrypted on this device"),
        tracker_label = lang.t("跟踪码：", "Tracker:"),
        encrypted_p = lang.t(
            "您可以直接投出，也可以先审计：审计会公开这张选票的随机数，供您在另一台设备上核对它确实加密了您的选择；审计过的选票作废，您需要重新加密一张再投出。",
            "Cast it, or audit it first: an audit reveals this ballot's randomness so that you can check on another device that it encrypts your choice. An audited ballot is never cast; you then encrypt a new one."
        ),
        cast = lang.t("投出选票", "Cast this ballot"),
        audit = lang.t("审计此选票", "Audit this ballot"),
        audited_h = lang.t("已审计：这张选票不会投出", "Audited: this ballot will not be cast"),
        audited_p = lang.t(
            "把下面的内容保存为 audit.json，把公告板摘要保存为 board.json，在另一台设备上运行：",
            "Save the text below as audit.json and the board's head as board.json, then on another device run:"
        ),
        again = lang.t("重新加密一张选票", "Encrypt a new ballot"),
        done_h = lang.t("已投出", "Cast"),
        done_p = lang.t(
            "请保存跟踪码，用它在公告板上找到您的选票。截止前您可以再次投票，只计最后一张。",
            "Keep the tracker: it finds your ballot on the board. You may vote again before the close; only your last ballot counts."
        ),
        texts = texts.to_string().replace('<', "\\u003c"),
    )
}

/// `GET /assets/{file}`: the page's script, style sheet and module.
pub fn asset(name: &str) -> Response {
    let (body, kind): (&[u8], &str) = match name {
        "vote.js" => (VOTE_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "evote.mjs" => (EVOTE_JS.as_bytes(), "text/javascript; charset=utf-8"),
        "vote.css" => (VOTE_CSS.as_bytes(), "text/css; charset=utf-8"),
        "evote.wasm" => (EVOTE_WASM, "application/wasm"),
        _ => return Response::not_found(),
    };
    Response::new(200)
        .with_header("content-type", kind)
        .with_header("cache-control", "no-cache")
        .with_header("x-content-type-options", "nosniff")
        .with_body(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::beijing;

    #[test]
    fn beijing_time_is_eight_hours_ahead() {
        assert_eq!(beijing(0), "1970-01-01 08:00");
        // 2026-12-07 10:30 UTC.
        assert_eq!(beijing(1_796_639_400_000), "2026-12-07 18:30");
        assert_eq!(beijing(951_825_600_000), "2000-02-29 20:00");
    }
}
