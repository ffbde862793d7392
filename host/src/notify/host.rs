//! `hutong:platform/notify`: an app sends a message to residents or workers
//! on a channel; the host resolves who they are and how to reach them, so
//! no contact detail ever reaches the app.
//!
//! One permission per channel (`notify-inbox`, `notify-sms`, `notify-voice`,
//! `notify-webhook`); [`AppState::notify_grant`] is the one place a send's
//! permission is decided. The message rules, recipient resolution, rate
//! limit and outbox are the platform's
//! ([`Sends::send_notification`], over the store alone);
//! this module speaks for the install (its district and scope) and turns
//! the answers into WIT.
//!
//! `send-to-family-contact` goes the same way, with the resident's family
//! contact (from the community data) as the one recipient, and so does
//! `send-confidential`, marking the message as its recipients' alone.
//!
//! Every send is recorded in the access log with the records it reached
//! (`resident:<id>`, `account:<id>`, `family:<resident-id>`; field class
//! `contact`, as the host used their contact details on the app's behalf);
//! so are denials and sends
//! refused as `not-found`. The entry is written after the send, which is
//! durable by then: if the entry cannot be written the app is still told
//! the send succeeded (it would otherwise send again), and the outbox holds
//! the record.

use crate::error::PlatformError;
use crate::kernel::app_state::AppState;
use crate::kernel::grant::Access;
use crate::kernel::manifest::Permission;
use crate::kernel::wit::WitError;
use crate::kernel::wit::hutong::platform::notify::{
    Channel as WitChannel, Host, Message as WitMessage, SendReceipt,
};
use crate::notify::ops::{Channel, Message, Recipient, Sender, Sends};

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

impl AppState {
    /// The allow-check for a send on `channel`: the one place it is
    /// decided. A denial is recorded in the access log.
    async fn notify_grant(&mut self, channel: Channel) -> Result<Permission, WitError> {
        let permission = permission_for(channel);
        if let Err(denied) = self.grant.require(permission) {
            self.log_send(Access::denied(OPERATION, permission)).await;
            return Err(denied);
        }
        Ok(permission)
    }

    /// Record a send (or its refusal) in the access log. The send is
    /// durable by then, so a failure to write the entry is only logged.
    /// (`&mut`: the state is not `Sync`, and a host call's future must be
    /// `Send`.)
    async fn log_send(&mut self, access: Access<'_>) {
        let grant = &self.grant;
        if let Err(err) = grant.audit(&self.store, &self.request_id, access).await {
            tracing::error!(
                district = %grant.district,
                app = %grant.app,
                error = %err,
                "could not record a notification send in the access log; the outbox holds it"
            );
        }
    }
}

/// The platform's message for an app's.
fn message_of(message: WitMessage, confidential: bool) -> Message {
    Message {
        recipient: message.recipient.into(),
        channel: message.channel.into(),
        subject: message.subject,
        body: message.body,
        idempotency_key: message.idempotency_key,
        confidential,
    }
}

/// An allowed send that reached `ids`.
fn sent(permission: Permission, ids: &[String]) -> Access<'_> {
    let field_class = if ids.is_empty() { "" } else { FIELD_CLASS };
    Access::allowed(OPERATION, permission, ids, field_class)
}

impl Host for AppState {
    async fn send(&mut self, message: WitMessage) -> Result<SendReceipt, WitError> {
        self.send_message(message_of(message, false)).await
    }

    async fn send_confidential(&mut self, message: WitMessage) -> Result<SendReceipt, WitError> {
        self.send_message(message_of(message, true)).await
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
            channel: channel.into(),
            subject,
            body,
            idempotency_key,
            confidential: false,
        })
        .await
    }
}

impl AppState {
    /// Both sends: the grant, the platform's send, the access log.
    /// Like kv writes and data reads, a send waits for the district's
    /// turn at the database, and holds it through its access-log entry.
    async fn send_message(&mut self, message: Message) -> Result<SendReceipt, WitError> {
        let _turn = self.database_turn().await;
        let permission = self.notify_grant(message.channel).await?;
        let grant = self.grant.clone();
        let sender = Sender {
            district: &grant.district,
            app: &grant.app,
            scope: grant.scope.as_deref(),
        };
        let result = Sends::new(&self.store)
            .send_notification(sender, message)
            .await;
        match result {
            Ok(receipt) => {
                self.log_send(sent(permission, &receipt.reached)).await;
                Ok(SendReceipt {
                    message_id: receipt.message_id.to_string(),
                    recipients: receipt.recipients,
                    unreachable: receipt.unreachable,
                    replayed: receipt.replayed,
                })
            }
            Err(PlatformError::NotFound(_)) => {
                self.log_send(sent(permission, &[])).await;
                Err(WitError::NotFound)
            }
            Err(PlatformError::Invalid(message)) => Err(WitError::InvalidArgument(message)),
            Err(PlatformError::TooMany(message)) => Err(WitError::LimitExceeded(message)),
            Err(other) => {
                tracing::error!(
                    district = %grant.district,
                    app = %grant.app,
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

    use std::sync::Arc;

    use crate::kernel::grant::tests::{grant, store};

    #[tokio::test]
    async fn a_send_waits_for_its_districts_turn_at_the_database() {
        let (_dir, store) = store().await;
        let share = Arc::new(tokio::sync::Semaphore::new(1));
        let mut app = AppState::new(
            Arc::new(grant(&[Permission::NotifyInbox])),
            "req-1".to_owned(),
            store.clone(),
            64 << 20,
        );
        app.database = Some(share.clone());
        // Another call of the district holds its one turn.
        let held = share.clone().acquire_owned().await.expect("turn");
        let send = app.send_message(Message {
            recipient: Recipient::Resident("r-0001".to_owned()),
            channel: Channel::Inbox,
            subject: "停水通知".to_owned(),
            body: "明天 9 点到 12 点停水".to_owned(),
            idempotency_key: "water-1".to_owned(),
            confidential: false,
        });
        tokio::pin!(send);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), &mut send).await;
        assert!(waited.is_err(), "the send waited for the district's turn");
        drop(held);
        // In its turn it runs (the resident does not exist: not-found).
        let answer = send.await;
        assert!(matches!(answer, Err(WitError::NotFound)), "{answer:?}");
        assert_eq!(share.available_permits(), 1, "the turn ends with the send");
    }

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
