//! WIT ⇄ host conversions for notifications.

use crate::kernel::wit::hutong::platform::notify;
use crate::kernel::wit::same_variants;
use crate::notify::ops::{Audience, Channel, Recipient};

same_variants!(notify::Channel => Channel { Inbox, Sms, Voice, Webhook });

same_variants!(notify::Audience => Audience { Workers, Residents });

impl From<notify::Recipient> for Recipient {
    fn from(recipient: notify::Recipient) -> Self {
        match recipient {
            notify::Recipient::Resident(id) => Recipient::Resident(id),
            notify::Recipient::Worker(id) => Recipient::Worker(id),
            notify::Recipient::RoleInGrid(r) => Recipient::RoleInGrid(r.audience.into(), r.place),
            notify::Recipient::RoleInCommunity(r) => {
                Recipient::RoleInCommunity(r.audience.into(), r.place)
            }
            notify::Recipient::OrganisationMembers(id) => Recipient::OrganisationMembers(id),
        }
    }
}
