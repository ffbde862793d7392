//! Notifications: send a message to a resident, a worker, the workers or
//! residents of a grid or community, or an organisation's members, on one
//! channel. The host finds the recipients and their contact details (their
//! inbox accounts, their phone numbers), so the app never sees them.
//!
//! Each channel needs its permission, which the manifest declares with a
//! reason and the district grants:
//!
//! | permission | channel |
//! |---|---|
//! | `notify-inbox` | [`Channel::Inbox`]: the recipient's inbox in the host |
//! | `notify-sms` | [`Channel::Sms`]: a text message through the district's SMS gateway |
//! | `notify-voice` | [`Channel::Voice`]: an automated call (智能外呼) through the voice gateway |
//! | `notify-webhook` | [`Channel::Webhook`]: a signed POST to the district's webhook |
//!
//! A [`send`] is durable once it returns: the host delivers it, retrying
//! while a gateway is down. Give every message its own idempotency key and
//! reuse it when sending again after a failure: the host then returns the
//! first receipt and delivers nothing twice.
//!
//! ```no_run
//! use hutong_sdk::notify::{self, Channel, Message, Recipient};
//!
//! # fn main() -> Result<(), hutong_sdk::Error> {
//! // A door sensor saw no movement for two days: call the resident's
//! // grid workers.
//! let receipt = notify::send(&Message::new(
//!     Recipient::workers_of_grid("c-xingfu-g1"),
//!     Channel::Sms,
//!     "Door sensor alert",
//!     "No door movement at 3-2-501 for 48 hours; please visit.",
//!     "door-alert:3-2-501:2026-11-22",
//! ))?;
//! println!("message {} to {} people", receipt.message_id, receipt.recipients);
//! # Ok(())
//! # }
//! ```
//!
//! Errors: [`Error::Denied`] naming the channel's permission;
//! [`Error::NotFound`] for a recipient outside the install's district or
//! communities; [`Error::InvalidArgument`] for an empty or too long subject
//! or body, a malformed key, or a key already used for another message;
//! [`Error::LimitExceeded`] when the install used up its per-minute
//! allowance (other apps are unaffected; try again later); and
//! [`Error::Unavailable`] when the host cannot store the message (send again
//! with the same key).

use crate::Error;
use crate::bindings::hutong::platform::notify as wit;
// In WebAssembly the host's functions; outside it (an app's `cargo test`)
// the SDK's in-memory test host, so that calls never abort.
#[cfg(target_arch = "wasm32")]
use crate::bindings::hutong::platform::notify as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::notify as host;

pub use wit::{Audience, Channel, Message, Recipient, RoleInPlace, SendReceipt};

/// The longest subject, in bytes.
pub const MAX_SUBJECT: usize = 200;

/// The longest body, in bytes.
pub const MAX_BODY: usize = 2000;

/// The longest idempotency key, in bytes.
pub const MAX_KEY: usize = 128;

impl Message {
    /// A message to `recipient` on `channel`, under the app's
    /// `idempotency_key` (1..=[`MAX_KEY`] bytes of `A-Z a-z 0-9 - _ . :`).
    pub fn new(
        recipient: Recipient,
        channel: Channel,
        subject: impl Into<String>,
        body: impl Into<String>,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Message {
            recipient,
            channel,
            subject: subject.into(),
            body: body.into(),
            idempotency_key: idempotency_key.into(),
        }
    }
}

impl Recipient {
    /// The grid workers serving a grid.
    pub fn workers_of_grid(grid: impl Into<String>) -> Self {
        Recipient::RoleInGrid(RoleInPlace {
            audience: Audience::Workers,
            place: grid.into(),
        })
    }

    /// The residents living in a grid.
    pub fn residents_of_grid(grid: impl Into<String>) -> Self {
        Recipient::RoleInGrid(RoleInPlace {
            audience: Audience::Residents,
            place: grid.into(),
        })
    }

    /// The grid workers serving any grid of a community.
    pub fn workers_of_community(community: impl Into<String>) -> Self {
        Recipient::RoleInCommunity(RoleInPlace {
            audience: Audience::Workers,
            place: community.into(),
        })
    }

    /// The residents living in a community.
    pub fn residents_of_community(community: impl Into<String>) -> Self {
        Recipient::RoleInCommunity(RoleInPlace {
            audience: Audience::Residents,
            place: community.into(),
        })
    }
}

/// Send a message to the family contact (家属联系人) of resident
/// `resident_id`, as the community data records them; the host looks the
/// contact up, so the app never sees their name or number. Durable once it
/// returns, like [`send`], with the same channel permission, text and
/// idempotency-key rules (keys are shared with [`send`]'s).
///
/// A family contact has a phone only: [`Channel::Sms`] and
/// [`Channel::Voice`] reach them, [`Channel::Webhook`] posts naming the
/// recipient `family`/`resident_id`, and [`Channel::Inbox`] reaches no one
/// (counted in [`SendReceipt::unreachable`], as is a resident with no family
/// phone on record). [`Error::NotFound`] for a resident outside the
/// install's district or communities.
///
/// ```no_run
/// use hutong_sdk::notify::{self, Channel};
///
/// # fn main() -> Result<(), hutong_sdk::Error> {
/// notify::send_to_family_contact(
///     "r-0042",
///     Channel::Sms,
///     "Smoke alarm at home",
///     "The smoke alarm at your relative's home went off; the grid worker is on the way.",
///     "alarm:9001:family-sms",
/// )?;
/// # Ok(())
/// # }
/// ```
pub fn send_to_family_contact(
    resident_id: &str,
    channel: Channel,
    subject: &str,
    body: &str,
    idempotency_key: &str,
) -> Result<SendReceipt, Error> {
    Ok(host::send_to_family_contact(
        resident_id,
        channel,
        subject,
        body,
        idempotency_key,
    )?)
}

/// Send a message; durable once it returns. The receipt counts the
/// deliveries written and the recipients the channel cannot reach (no phone
/// on record, no inbox account), and never holds contact details.
pub fn send(message: &Message) -> Result<SendReceipt, Error> {
    Ok(host::send(message)?)
}

/// Send a message only its recipients may read (a one-time code, a voting
/// credential): as [`send`], but no staff view of the host shows its body,
/// and on SMS, voice and webhook the host erases the body once every
/// delivery has gone through. On the inbox the body stays, for its
/// recipients alone.
pub fn send_confidential(message: &Message) -> Result<SendReceipt, Error> {
    Ok(host::send_confidential(message)?)
}
