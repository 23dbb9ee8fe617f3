//! The pair's simulators through their own APIs, as a client other than the
//! product would reach them: to change data on one side and read the other.

use std::sync::Arc;

use connect_jobs::connectors::OpenGate;
use connect_jobs::connectors::clarity::{ClarityClient, ClarityConfig};
use connect_jobs::connectors::intacct::{IntacctClient, IntacctConfig};
use connect_jobs::connectors::sagepro::{SageProClient, SageProConfig};
use secrecy::SecretString;
use serde_json::Value;

use super::Api;

pub struct Sims {
    pub clarity: ClarityClient,
    pub intacct: IntacctClient,
    pub sagepro: SageProClient,
}

impl Sims {
    pub async fn of(api: &Api, token: &str, pair: &str) -> Sims {
        let info = api
            .call(
                "GET",
                &format!("/api/v1/pairs/{pair}/sandbox"),
                Some(token),
                None,
                200,
            )
            .await;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let secret = |v: &Value| SecretString::from(text(v));
        let http = || connect_jobs::connectors::http::client(Default::default());
        let c = &info["clarity"];
        let i = &info["intacct"];
        let s = &info["sagepro"];
        Sims {
            clarity: ClarityClient::new(
                ClarityConfig::new(
                    &text(&c["base_url"]),
                    &text(&c["client_id"]),
                    secret(&c["client_secret"]),
                ),
                http(),
                Arc::new(OpenGate),
            ),
            intacct: IntacctClient::new(
                IntacctConfig {
                    endpoint_url: text(&i["endpoint_url"]),
                    sender_id: text(&i["sender_id"]),
                    sender_password: secret(&i["sender_password"]),
                    company_id: text(&i["company_id"]),
                    user_id: text(&i["user_id"]),
                    user_password: secret(&i["user_password"]),
                    entity_id: None,
                },
                http(),
                Arc::new(OpenGate),
            ),
            sagepro: SageProClient::new(
                SageProConfig {
                    base_url: text(&s["base_url"]),
                    api_key: secret(&s["api_key"]),
                    company: None,
                },
                http(),
                Arc::new(OpenGate),
            ),
        }
    }
}
