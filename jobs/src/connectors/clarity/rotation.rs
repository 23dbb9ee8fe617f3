//! Webhook secret rotation (spec §4): Clarity issues a new signing secret and
//! keeps signing with the old one beside it for an overlap, so a receiver that
//! stores the new secret while still accepting the old loses no delivery.

use reqwest::Method;
use secrecy::SecretString;

use super::client::{Call, ClarityClient};
use super::wire::Webhook;
use crate::connectors::ConnectorError;

/// How long Clarity signs with both secrets after a rotation (spec §4).
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl ClarityClient {
    /// `POST /webhooks/{id}/rotate-secret`: the new secret.
    pub async fn rotate_webhook_secret(
        &self,
        webhook_id: &str,
    ) -> Result<SecretString, ConnectorError> {
        let rotated: Webhook = self
            .send(Call {
                method: Method::POST,
                path: &format!("/webhooks/{webhook_id}/rotate-secret"),
                query: &[],
                body: None,
                idempotency_key: None,
                if_match: None,
            })
            .await?;
        rotated
            .secret
            .map(SecretString::from)
            .ok_or_else(|| ConnectorError::Protocol {
                system: crate::connectors::System::Clarity,
                message: "the rotated webhook came back without a secret".to_owned(),
            })
    }
}
