//! A poll as its creator defines it, its lifecycle state, and where each
//! record lives in the install's `kv`.

use hutong_evote::Ciphertext;
use hutong_sdk::kv;
use serde::{Deserialize, Serialize};

use crate::{Fail, now};

/// How many options a voter may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Exactly one option.
    Single,
    /// One up to `max_choices` options.
    Multiple,
    /// Any number of options, at least one (approve each one you accept).
    Approval,
}

/// When the bulletin board is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Board {
    /// Only once the poll is closed (the default).
    #[default]
    AfterClose,
    /// While the poll is open too.
    Live,
}

/// How each voter's credential reaches them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// A text message to the resident's phone from the community data (the
    /// default): an account someone else makes for the resident does not
    /// receive it. Needs `notify-sms`.
    #[default]
    Sms,
    /// The resident's inbox: every account linked to the resident reads
    /// it, so an administrator who links an account of their own to a
    /// resident receives the credential too. Needs `notify-inbox`.
    Inbox,
    /// Made outside the platform by a credential authority (the account in
    /// `credential_authority`): it reads the frozen roll, makes one
    /// credential per voting unit with `hutong-evote credentials`, hands
    /// them out on paper and uploads only their public keys. Nothing of a
    /// credential's text ever reaches the platform.
    Authority,
}

/// Who may vote: the residents of one place, optionally adults only, and
/// optionally one vote per household.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// The residents of this community.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// The residents of this building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building: Option<String>,
    /// The residents of this grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<String>,
    /// Only residents aged 18 or more when the roll is frozen.
    #[serde(default)]
    pub adults_only: bool,
    /// One credential per household, sent to every member: the last ballot
    /// cast with it counts; residents with no household are not on the roll.
    #[serde(default)]
    pub per_household: bool,
}

/// The body of `POST /polls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPoll {
    title: String,
    #[serde(default)]
    description: String,
    kind: Kind,
    #[serde(default)]
    max_choices: Option<u32>,
    options: Vec<String>,
    eligibility: Eligibility,
    opens_at_ms: i64,
    closes_at_ms: i64,
    #[serde(default)]
    quorum_percent: u8,
    #[serde(default)]
    board: Board,
    /// The accounts of the trustees who hold the election key: 2..=10.
    trustees: Vec<String>,
    #[serde(default)]
    credentials: Delivery,
    /// With `"credentials": "authority"`: the account that uploads the
    /// credentials' public keys.
    #[serde(default)]
    credential_authority: Option<String>,
}

/// A poll, as stored under `poll/{id}`; never changed once created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Poll {
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    /// The most options one ballot may choose.
    pub max_choices: u32,
    pub options: Vec<String>,
    pub eligibility: Eligibility,
    /// The grid of `eligibility.building`, found when the poll was created
    /// (the roll of a building is read from its grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building_grid: Option<String>,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    pub quorum_percent: u8,
    pub board: Board,
    /// The accounts that each upload one trustee key, in this order.
    pub trustees: Vec<String>,
    /// How credentials reach voters.
    pub credentials: Delivery,
    /// The credential authority's account, for [`Delivery::Authority`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_authority: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_OPTIONS: u32 = hutong_evote::ballot::MAX_OPTIONS;
const MAX_OPTION: usize = 200;
/// Every trustee is needed to decrypt; at least two, so no one alone can.
const MIN_TRUSTEES: usize = 2;
const MAX_TRUSTEES: usize = 10;

/// Whether `id` can name a place or poll inside a kv key: 1..=64 of
/// `a-z A-Z 0-9 - _ .` (the host's ids are slugs).
pub fn is_slug(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl NewPoll {
    /// Check every field and make the poll; the message of a refusal says
    /// what was wrong and what is allowed.
    pub fn validate(self, id: String, created_by: String) -> Result<Poll, Fail> {
        let bad = Fail::invalid;
        let title = self.title.trim().to_owned();
        if title.is_empty() || title.len() > MAX_TITLE {
            return Err(bad(format!(
                "title must be 1..={MAX_TITLE} bytes, got {}",
                title.len()
            )));
        }
        if self.description.len() > MAX_DESCRIPTION {
            return Err(bad(format!(
                "description must be at most {MAX_DESCRIPTION} bytes, got {}",
                self.description.len()
            )));
        }
        if self.options.len() < 2 || self.options.len() > MAX_OPTIONS as usize {
            return Err(bad(format!(
                "a poll has 2..={MAX_OPTIONS} options, got {}",
                self.options.len()
            )));
        }
        for (i, option) in self.options.iter().enumerate() {
            if option.trim().is_empty() || option.len() > MAX_OPTION {
                return Err(bad(format!("option {i} must be 1..={MAX_OPTION} bytes")));
            }
            if self.options[..i].contains(option) {
                return Err(bad(format!("option {i} ({option:?}) appears twice")));
            }
        }
        let count = u32::try_from(self.options.len()).unwrap_or(u32::MAX);
        let max_choices = match (self.kind, self.max_choices) {
            (Kind::Single, None | Some(1)) => 1,
            (Kind::Single, Some(_)) => {
                return Err(bad(
                    "a single-choice poll takes no max_choices other than 1".into(),
                ));
            }
            (Kind::Multiple, Some(n)) if (2..=count).contains(&n) => n,
            (Kind::Multiple, _) => {
                return Err(bad(format!(
                    "a multiple-choice poll needs max_choices in 2..={count}"
                )));
            }
            (Kind::Approval, None) => count,
            (Kind::Approval, Some(_)) => {
                return Err(bad(
                    "an approval poll takes no max_choices: every option may be approved".into(),
                ));
            }
        };
        let e = &self.eligibility;
        let places = [&e.community, &e.building, &e.grid]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if places != 1 {
            return Err(bad(
                "eligibility names exactly one of community, building or grid".into(),
            ));
        }
        if let Some(place) = e.community.iter().chain(&e.building).chain(&e.grid).next()
            && !is_slug(place)
        {
            return Err(bad(format!(
                "{place:?} is not a place id (1..=64 of a-z A-Z 0-9 - _ .)"
            )));
        }
        if self.closes_at_ms <= self.opens_at_ms {
            return Err(bad("closes_at_ms must be after opens_at_ms".into()));
        }
        if self.closes_at_ms <= now() {
            return Err(bad("closes_at_ms is already past".into()));
        }
        let distinct: std::collections::BTreeSet<_> = self.trustees.iter().collect();
        if !(MIN_TRUSTEES..=MAX_TRUSTEES).contains(&self.trustees.len())
            || distinct.len() != self.trustees.len()
            || !self.trustees.iter().all(|t| is_slug(t))
        {
            return Err(bad(format!(
                "trustees names {MIN_TRUSTEES}..={MAX_TRUSTEES} different account ids, each of whom makes a key with `hutong-evote trustee new`; got {:?}",
                self.trustees
            )));
        }
        match (self.credentials, &self.credential_authority) {
            (Delivery::Authority, Some(a)) if is_slug(a) => {}
            (Delivery::Authority, _) => {
                return Err(bad(
                    "\"credentials\": \"authority\" needs credential_authority, the account id that uploads the credentials' public keys".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(bad(
                    "credential_authority goes with \"credentials\": \"authority\" only".into(),
                ));
            }
            (_, None) => {}
        }
        if self.quorum_percent > 100 {
            return Err(bad(format!(
                "quorum_percent is a share of the roll, 0..=100, got {}",
                self.quorum_percent
            )));
        }
        Ok(Poll {
            id,
            title,
            description: self.description,
            kind: self.kind,
            max_choices,
            options: self.options,
            eligibility: self.eligibility,
            building_grid: None,
            opens_at_ms: self.opens_at_ms,
            closes_at_ms: self.closes_at_ms,
            quorum_percent: self.quorum_percent,
            board: self.board,
            trustees: self.trustees,
            credentials: self.credentials,
            credential_authority: self.credential_authority,
            created_by,
            created_at_ms: now(),
        })
    }
}

/// Where a poll is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Before `opens_at_ms`.
    Scheduled,
    /// Past `opens_at_ms`, the roll being read page by page; voting opens
    /// when it is complete.
    Freezing,
    /// Accepting votes.
    Open,
    /// Past `closes_at_ms`: no more ballots; every ballot is checked
    /// again and added up, page by page.
    Closing,
    /// The tally is published; waiting for each trustee's share of its
    /// decryption.
    Decrypting,
    /// The result is published.
    Closed,
    /// The close came before every trustee's key: the poll never opened.
    Cancelled,
}

/// A poll's lifecycle, under `state/{id}`. Every change is a
/// compare-and-swap on the whole value, so two processes advancing the same
/// poll never both make the same step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub phase: Phase,
    /// Where reading the roll continues (a `data` cursor).
    #[serde(default)]
    pub cursor: Option<String>,
    /// Whether every page of the roll has been read.
    #[serde(default)]
    pub roll_complete: bool,
    /// The running roll fingerprint (residents and their units).
    pub chain: String,
    /// Residents on the roll so far.
    pub residents: u64,
    /// Voting units (residents, or households) on the roll: one credential
    /// each.
    pub units: u64,
    /// The roll's fingerprint, published when the poll opens.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// The digest of the roll's credential keys, published when it opens.
    #[serde(default)]
    pub credentials_digest: Option<String>,
    #[serde(default)]
    pub opened_at_ms: Option<i64>,
    #[serde(default)]
    pub closed_at_ms: Option<i64>,
    /// Credentials' public keys the credential authority uploaded.
    #[serde(default)]
    pub credentials_uploaded: u64,
    /// Credentials sent, and residents the channel could not reach.
    #[serde(default)]
    pub credentials_sent: u64,
    #[serde(default)]
    pub credentials_unreachable: u64,
    /// Whether the households' credentials, kept while the roll is read so
    /// that every member gets the same one, have been removed.
    #[serde(default)]
    pub household_credentials_removed: bool,
    /// How many have been removed so far: each step changes the state, so
    /// its compare-and-swap lets only one process make it.
    #[serde(default)]
    pub household_credentials_dropped: u64,
    /// Whether the eligible voters were told the poll is open.
    #[serde(default)]
    pub open_notice_sent: bool,
    /// Whether they were told the results are out.
    #[serde(default)]
    pub result_notice_sent: bool,
    /// Whether notices go grid by grid (the community was too large for
    /// one message, or for the district's rate in one minute).
    #[serde(default)]
    pub notices_by_grid: bool,
    /// Whether the credential keys were moved onto the roll in key order
    /// (from `made/` to `cred/`), which the opening waits for, and how
    /// many have been moved so far (so that each step changes the state,
    /// and its compare-and-swap lets only one process make it).
    #[serde(default)]
    pub credentials_placed: bool,
    #[serde(default)]
    pub credentials_moved: u64,
    /// The recount after the close: where it continues, the sums so far,
    /// the ballots counted and those that no longer verify.
    #[serde(default)]
    pub recount: Option<Recount>,
}

/// The recount of the stored ballots after the close, page by page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recount {
    pub cursor: Option<String>,
    pub sums: Vec<Ciphertext>,
    pub ballots: u64,
    pub invalid: u64,
    /// Whether it moves each ballot that verifies to `counted/` (every
    /// recount begun since it does), where the board then reads them.
    #[serde(default)]
    pub moves: bool,
}

impl State {
    /// The state of a poll just created.
    pub fn new(poll_id: &str) -> Self {
        State {
            phase: Phase::Scheduled,
            cursor: None,
            roll_complete: false,
            chain: crate::ballot::roll_chain_start(poll_id),
            residents: 0,
            units: 0,
            fingerprint: None,
            credentials_digest: None,
            opened_at_ms: None,
            closed_at_ms: None,
            credentials_uploaded: 0,
            credentials_sent: 0,
            credentials_unreachable: 0,
            household_credentials_removed: false,
            household_credentials_dropped: 0,
            open_notice_sent: false,
            result_notice_sent: false,
            notices_by_grid: false,
            credentials_placed: false,
            credentials_moved: 0,
            recount: None,
        }
    }

    /// The value stored for this state. Serializing plain fields cannot
    /// fail, so there is no error to pass on.
    pub fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The keys of one poll's records. Every key starts with a kind and the poll
/// id, so one prefix lists one kind of record of one poll.
pub struct Keys<'a>(pub &'a str);

impl Keys<'_> {
    /// The poll's definition.
    pub fn poll(&self) -> String {
        format!("poll/{}", self.0)
    }
    /// Its lifecycle [`State`].
    pub fn state(&self) -> String {
        format!("state/{}", self.0)
    }
    /// Present exactly while ballots are accepted; every ballot requires it.
    pub fn open(&self) -> String {
        format!("open/{}", self.0)
    }
    /// Trustee `index`'s public key and proof, once uploaded.
    pub fn trustee(&self, index: usize) -> String {
        format!("trustee/{}/{index:02}", self.0)
    }
    /// The election parameters and key, from the opening.
    pub fn election(&self) -> String {
        format!("election/{}", self.0)
    }
    /// A resident on the roll; the value is their voting unit.
    pub fn roll(&self, resident: &str) -> String {
        format!("roll/{}/{resident}", self.0)
    }
    /// The prefix of the roll.
    pub fn roll_prefix(&self) -> String {
        format!("roll/{}/", self.0)
    }
    /// A credential public key on the roll (hex); no value, and nothing
    /// says whose it is.
    pub fn credential(&self, public: &str) -> String {
        format!("cred/{}/{public}", self.0)
    }
    /// The prefix of the credential keys.
    pub fn credential_prefix(&self) -> String {
        format!("cred/{}/", self.0)
    }
    /// A credential public key made at the freeze (or uploaded by the
    /// authority), until it is moved onto the roll before the opening.
    pub fn made(&self, public: &str) -> String {
        format!("made/{}/{public}", self.0)
    }
    /// The prefix of the credential keys not yet on the roll.
    pub fn made_prefix(&self) -> String {
        format!("made/{}/", self.0)
    }
    /// A credential waiting to be sent to a resident; removed once sent.
    pub fn outgoing(&self, resident: &str) -> String {
        format!("deliver/{}/{resident}", self.0)
    }
    /// The prefix of the credentials waiting to be sent.
    pub fn outgoing_prefix(&self) -> String {
        format!("deliver/{}/", self.0)
    }
    /// A household's credential while the roll is read.
    pub fn household(&self, unit: &str) -> String {
        format!("hcred/{}/{unit}", self.0)
    }
    /// The prefix of the households' credentials.
    pub fn household_prefix(&self) -> String {
        format!("hcred/{}/", self.0)
    }
    /// The ballot cast with a credential (hex of its public key): a new
    /// ballot with that credential replaces it.
    pub fn ballot(&self, credential: &str) -> String {
        format!("ballot/{}/{credential}", self.0)
    }
    /// The prefix of the ballots.
    pub fn ballot_prefix(&self) -> String {
        format!("ballot/{}/", self.0)
    }
    /// A ballot that verified at the recount, moved here (in key order)
    /// from where it was cast.
    pub fn counted(&self, credential: &str) -> String {
        format!("counted/{}/{credential}", self.0)
    }
    /// Where the board's ballots are: as cast until the close, then where
    /// the recount moved them; `None` while it moves them.
    pub fn board_prefix(&self, state: &State) -> Option<String> {
        match &state.recount {
            Some(r) if r.moves && state.phase == Phase::Closing => None,
            Some(r) if r.moves => Some(format!("counted/{}/", self.0)),
            _ => Some(self.ballot_prefix()),
        }
    }
    /// The tally: the sum of the ballots, per option.
    pub fn tally(&self) -> String {
        format!("tally/{}", self.0)
    }
    /// Trustee `index`'s share of the decryption of the tally.
    pub fn decryption(&self, index: usize) -> String {
        format!("decryption/{}/{index:02}", self.0)
    }
    /// That a trustee uploaded this key (hex), so no two trustees share one.
    pub fn trustee_key(&self, key: &str) -> String {
        format!("trustee-key/{}/{key}", self.0)
    }
    /// A stored ballot that no longer verified at the recount, moved off
    /// the board.
    pub fn rejected(&self, credential: &str) -> String {
        format!("rejected/{}/{credential}", self.0)
    }
    /// The published result.
    pub fn result(&self) -> String {
        format!("result/{}", self.0)
    }
}

/// The poll under `id`, or a 404.
pub fn load_poll(id: &str) -> Result<Poll, Fail> {
    if !is_slug(id) {
        return Err(Fail::not_found(format!("no poll {id:?}")));
    }
    kv::get_json::<Poll>(&Keys(id).poll())?
        .ok_or_else(|| Fail::not_found(format!("no poll {id:?}")))
}

/// The poll's state and its stored bytes (for the next compare-and-swap).
pub fn load_state(id: &str) -> Result<(State, Vec<u8>), Fail> {
    let raw =
        kv::get(&Keys(id).state())?.ok_or_else(|| Fail::not_found(format!("no poll {id:?}")))?;
    let state = serde_json::from_slice(&raw).map_err(|e| {
        Fail::Host(hutong_sdk::Error::Internal(format!(
            "state of poll {id} does not parse: {e}"
        )))
    })?;
    Ok((state, raw))
}
