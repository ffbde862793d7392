//! Talking to a poll over HTTP (with the `cli` feature): download its whole
//! board (head, then every page of credentials and of ballots: the `fetch`
//! command), and, as a credential authority, read its frozen roll, make one
//! credential per unit and upload their public keys (`credentials`).

use anyhow::{Context, bail};

use crate::{Ballot, Board, Point};

/// GET `url` with the token; the JSON answer, or the server's error.
fn get(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<serde_json::Value> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let text = response.text().with_context(|| format!("reading {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("GET {url}: the answer is not JSON"))
}

/// The whole board of the poll at `poll_url`: its head, then every page of
/// credentials and of ballots.
pub fn board(poll_url: &str, token: &str) -> anyhow::Result<Board> {
    let client = client()?;
    let head = get(&client, &format!("{poll_url}/board"), token)?;
    let mut board = Board {
        format: head["format"].as_str().unwrap_or_default().to_owned(),
        election: serde_json::from_value(head["election"].clone())
            .context("the board's election")?,
        trustees: serde_json::from_value(head["trustees"].clone())
            .context("the board's trustees")?,
        credentials: Vec::new(),
        ballots: Vec::new(),
        tally: serde_json::from_value(head["tally"].clone()).context("the board's tally")?,
        decryptions: serde_json::from_value(head["decryptions"].clone())
            .context("the board's shares")?,
        result: serde_json::from_value(head["result"].clone()).context("the board's result")?,
    };
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{poll_url}/board/credentials?cursor={c}"),
            None => format!("{poll_url}/board/credentials"),
        };
        let page = get(&client, &url, token)?;
        let keys: Vec<Point> =
            serde_json::from_value(page["credentials"].clone()).context("a page of credentials")?;
        board.credentials.extend(keys);
        cursor = next(&page, cursor)?;
        if cursor.is_none() {
            break;
        }
    }
    // The pages must add up to the roll the head describes.
    let digest = crate::board::roll_digest(
        &board.election.poll,
        board.credentials.iter().map(Point::as_bytes),
    );
    if head["credentials_count"].as_u64() != Some(board.credentials.len() as u64)
        || head["credentials_digest"].as_str() != Some(digest.as_str())
    {
        bail!(
            "the pages hold {} credentials (digest {digest}), the board's head says {} ({})",
            board.credentials.len(),
            head["credentials_count"],
            head["credentials_digest"]
        );
    }
    // Between the close and the tally the server checks, counts and moves
    // the ballots: a board fetched then would hold none of them.
    if head["phase"] == "closing" {
        bail!(
            "the poll has closed and its ballots are being counted; fetch the board again in a minute"
        );
    }
    if head["ballots_published"] == true {
        loop {
            let url = match &cursor {
                Some(c) => format!("{poll_url}/board/ballots?cursor={c}"),
                None => format!("{poll_url}/board/ballots"),
            };
            let page = get(&client, &url, token)?;
            let ballots: Vec<Ballot> =
                serde_json::from_value(page["ballots"].clone()).context("a page of ballots")?;
            board.ballots.extend(ballots);
            cursor = next(&page, cursor)?;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok(board)
}

/// The page's next cursor; an error if it does not move past `previous`
/// (a server that would keep a reader going round forever).
fn next(page: &serde_json::Value, previous: Option<String>) -> anyhow::Result<Option<String>> {
    let next = page["next_cursor"].as_str().map(str::to_owned);
    if let (Some(n), Some(p)) = (&next, &previous)
        && n <= p
    {
        bail!("the server's next page ({n}) does not come after the last ({p})");
    }
    Ok(next)
}

/// One voting unit's credential, as a credential authority prints it.
#[derive(Debug)]
pub struct Letter {
    /// The unit (`r-<resident>` or `h-<household>`).
    pub unit: String,
    /// The residents of the unit on the roll.
    pub residents: Vec<String>,
    pub credential: crate::Credential,
}

/// As a credential authority: read the frozen roll of the poll at
/// `poll_url` and make one credential per voting unit.
pub fn make_credentials(poll_url: &str, token: &str) -> anyhow::Result<Vec<Letter>> {
    let client = client()?;
    let mut units: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut poll;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{poll_url}/roll?cursor={c}"),
            None => format!("{poll_url}/roll"),
        };
        let page = get(&client, &url, token)?;
        poll = page["poll"].as_str().unwrap_or_default().to_owned();
        for entry in page["entries"].as_array().into_iter().flatten() {
            let (Some(resident), Some(unit)) = (entry["resident"].as_str(), entry["unit"].as_str())
            else {
                bail!("a roll entry without resident and unit: {entry}");
            };
            units
                .entry(unit.to_owned())
                .or_default()
                .push(resident.to_owned());
        }
        cursor = next(&page, cursor)?;
        if cursor.is_none() {
            break;
        }
    }
    if poll.is_empty() {
        bail!("{poll_url}/roll does not name its poll");
    }
    let mut rng = rand_core::OsRng;
    Ok(units
        .into_iter()
        .map(|(unit, residents)| Letter {
            unit,
            residents,
            credential: crate::Credential::generate(&poll, &mut rng),
        })
        .collect())
}

/// As a credential authority: upload the credentials' public keys, in
/// ascending order (so nothing follows the roll's order), 999 a request.
pub fn upload_credentials(poll_url: &str, token: &str, letters: &[Letter]) -> anyhow::Result<()> {
    let client = client()?;
    let mut keys: Vec<Point> = letters.iter().map(|l| *l.credential.public()).collect();
    keys.sort();
    for page in keys.chunks(999) {
        let url = format!("{poll_url}/credentials");
        let response = client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "credentials": page }).to_string())
            .send()
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().unwrap_or_default();
            bail!("POST {url}: {status}: {text}");
        }
    }
    Ok(())
}

fn client() -> anyhow::Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}
