//! `hutong:platform/notify`: an app sends a message to residents or workers
//! on a channel; the host resolves who they are and how to reach them, so
//! no contact detail ever reaches the app.
//!
//! One permission per channel (`notify-inbox`, `notify-sms`, `notify-voice`,
//! `notify-webhook`); [`AppState::notify_grant`] is the one place a send's
//! permission is decided. The message rules, recipient resolution, rate
//! limit and outbox are the platform's
//! ([`Platform::send_notification`](crate::platform::Platform::send_notification));
//! this module speaks for the install (its district and scope) and turns
//! the answers into WIT.
//!
//! `send-to-family-contact` goes the same way, with the resident's family
//! contact (from the community data) as the one recipient.
//!
//! Every send is recorded in the access log with the records it reached
//! (`resident:<id>`, `account:<id>`, `family:<resident-id>`; field class
//! `contact`, as the host used their contact details on the app's behalf);
//! so are denials and sends
//! refused as `not-found`. The entry is written after the send, which is
//! durable by then: if the entry cannot be written the app is still told
//! the send succeeded (it would otherwise send again), and the outbox holds
//! the record.

use crate::bindings::WitError;
use crate::bindings::hutong::platform::notify::{
    Audience as WitAudience, Channel as WitChannel, Host, Message as WitMessage,
    Recipient as WitRecipient, SendReceipt,
};
use crate::manifest::Permission;
use crate::platform::notifications::{Audience, Channel, Message, Recipient, Sender};
use crate::platform::{Platform, PlatformError};
use crate::runtime::{AppState, InstallIdentity};
use crate::store::{NewAccess, Store};

/// The access log's field class for a send: the host used the recipients'
/// contact details.
pub const FIELD_CLASS: &str = "contact";

const OPERATION: &str = "notify.send";

/// The permission each channel needs.
pub(crate) fn permission_for(channel: Channel) -> Permission {
    match channel {
        Channel::Inbox => Permission::NotifyInbox,
        Channel::Sms => Permission::NotifySms,
        Channel::Voice => Permission::NotifyVoice,
        Channel::Webhook => Permission::NotifyWebhook,
    }
}

fn channel_from_wit(channel: WitChannel) -> Channel {
    match channel {
        WitChannel::Inbox => Channel::Inbox,
        WitChannel::Sms => Channel::Sms,
        WitChannel::Voice => Channel::Voice,
        WitChannel::Webhook => Channel::Webhook,
    }
}

fn audience_from_wit(audience: WitAudience) -> Audience {
    match audience {
        WitAudience::Workers => Audience::Workers,
        WitAudience::Residents => Audience::Residents,
    }
}

fn recipient_from_wit(recipient: WitRecipient) -> Recipient {
    match recipient {
        WitRecipient::Resident(id) => Recipient::Resident(id),
        WitRecipient::Worker(id) => Recipient::Worker(id),
        WitRecipient::RoleInGrid(r) => {
            Recipient::RoleInGrid(audience_from_wit(r.audience), r.place)
        }
        WitRecipient::RoleInCommunity(r) => {
            Recipient::RoleInCommunity(audience_from_wit(r.audience), r.place)
        }
        WitRecipient::OrganisationMembers(id) => Recipient::OrganisationMembers(id),
    }
}

impl AppState {
    /// The allow-check for a send on `channel`: the one place it is
    /// decided. A denial is recorded in the access log.
    async fn notify_grant(&mut self, channel: Channel) -> Result<Permission, WitError> {
        let permission = permission_for(channel);
        if let Err(denied) = self.call.require(permission) {
            log_send(
                &self.store,
                &self.call,
                &self.request_id,
                permission,
                false,
                &[],
            )
            .await;
            return Err(denied);
        }
        Ok(permission)
    }
}

/// Record a send (or its refusal) in the access log.
async fn log_send(
    store: &Store,
    call: &InstallIdentity,
    request_id: &str,
    permission: Permission,
    allowed: bool,
    ids: &[String],
) {
    {
        let entry = NewAccess {
            district: &call.district,
            app: &call.app,
            version: &call.version,
            request_id,
            operation: OPERATION,
            permission: permission.name(),
            allowed,
            record_ids: ids,
            field_class: if ids.is_empty() { "" } else { FIELD_CLASS },
        };
        if let Err(err) = store.log_access(entry).await {
            tracing::error!(
                district = %call.district,
                app = %call.app,
                error = %err,
                "could not record a notification send in the access log; the outbox holds it"
            );
        }
    }
}

impl Host for AppState {
    async fn send(&mut self, message: WitMessage) -> Result<SendReceipt, WitError> {
        let channel = channel_from_wit(message.channel);
        self.send_message(Message {
            recipient: recipient_from_wit(message.recipient),
            channel,
            subject: message.subject,
            body: message.body,
            idempotency_key: message.idempotency_key,
        })
        .await
    }

    async fn send_to_family_contact(
        &mut self,
        resident_id: String,
        channel: WitChannel,
        subject: String,
        body: String,
        idempotency_key: String,
    ) -> Result<SendReceipt, WitError> {
        self.send_message(Message {
            recipient: Recipient::FamilyContact(resident_id),
            channel: channel_from_wit(channel),
            subject,
            body,
            idempotency_key,
        })
        .await
    }
}

impl AppState {
    /// Both sends: the grant, the platform's send, the access log.
    async fn send_message(&mut self, message: Message) -> Result<SendReceipt, WitError> {
        let permission = self.notify_grant(message.channel).await?;
        let platform = Platform::new(self.store.clone(), self.runtime.clone());
        let call = self.call.clone();
        let store = self.store.clone();
        let request_id = self.request_id.clone();
        let sender = Sender {
            district: &call.district,
            app: &call.app,
            scope: call.scope.as_deref(),
        };
        let sent = platform.send_notification(sender, message).await;
        match sent {
            Ok(receipt) => {
                log_send(
                    &store,
                    &call,
                    &request_id,
                    permission,
                    true,
                    &receipt.reached,
                )
                .await;
                Ok(SendReceipt {
                    message_id: receipt.message_id.to_string(),
                    recipients: receipt.recipients,
                    unreachable: receipt.unreachable,
                    replayed: receipt.replayed,
                })
            }
            Err(PlatformError::NotFound(_)) => {
                log_send(&store, &call, &request_id, permission, true, &[]).await;
                Err(WitError::NotFound)
            }
            Err(PlatformError::Invalid(message)) => Err(WitError::InvalidArgument(message)),
            Err(PlatformError::TooMany(message)) => Err(WitError::LimitExceeded(message)),
            Err(other) => {
                tracing::error!(
                    district = %call.district,
                    app = %call.app,
                    error = %other,
                    "notification send failed"
                );
                Err(WitError::Unavailable(
                    "notifications are unavailable; try again later with the same idempotency key"
                        .to_owned(),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_needs_its_own_permission() {
        let all = [
            Channel::Inbox,
            Channel::Sms,
            Channel::Voice,
            Channel::Webhook,
        ];
        let permissions: std::collections::BTreeSet<_> =
            all.iter().map(|c| permission_for(*c)).collect();
        assert_eq!(permissions.len(), all.len());
        for c in all {
            assert_eq!(permission_for(c).interface(), "notify");
        }
    }
}
