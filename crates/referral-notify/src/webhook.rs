//! Outbound webhooks signed as Standard Webhooks specifies, with its reference library
//! (`standardwebhooks`): `webhook-id` (the same on every retry), `webhook-timestamp` and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, once per secret
//! while a rotated-out secret still signs). The host is resolved here and every address
//! checked (no private, loopback or link-local address outside development), the request
//! pinned to the checked addresses, and redirects not followed.

use crate::NotifyError;
use referral_domain::webhook::address_allowed;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// How long a webhook endpoint has to accept the connection.
pub const CONNECT_TIMEOUT_SECONDS: u64 = 3;

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone)]
pub struct WebhookDelivery<'a> {
    /// The endpoint.
    pub url: &'a str,
    /// The secrets that sign (`whsec_...`): the current one, and a rotated-out one for a
    /// day.
    pub secrets: &'a [String],
    /// `msg_...`, the same on every retry.
    pub webhook_id: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The JSON body.
    pub body: &'a str,
    /// Development only: allow `http://` and private addresses.
    pub allow_private: bool,
    /// The hosts endpoints may name (`--webhook-hosts`; every public host when empty).
    pub hosts: &'a referral_domain::webhook::WebhookHosts,
}

/// The `webhook-signature` header of `body`: one `v1,...` per secret, space-separated.
///
/// # Errors
/// [`NotifyError::Incomplete`] for a secret that is not base64.
pub fn signature(
    secrets: &[String],
    webhook_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, NotifyError> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let signer = standardwebhooks::Webhook::new(secret)
            .map_err(|_| NotifyError::Incomplete("a webhook secret in whsec_ base64 form"))?;
        signatures.push(
            signer
                .sign(webhook_id, timestamp, body.as_bytes())
                .map_err(|_| NotifyError::Incomplete("a webhook body in UTF-8"))?,
        );
    }
    Ok(signatures.join(" "))
}

/// Sends one delivery; the endpoint's status on success (2xx).
///
/// # Errors
/// [`NotifyError::Rejected`] for another status (retryable: every failure of an endpoint
/// is retried with the outbox's backoff) or a refused address (not retryable);
/// [`NotifyError::Network`] when the endpoint cannot be reached.
pub fn send(delivery: &WebhookDelivery<'_>) -> Result<u16, NotifyError> {
    // The same parse and rules as at the endpoint's creation, again: a rule that changed
    // since, or a row written by hand, is refused here too.
    if let Err(e) = referral_domain::webhook::check_endpoint(
        delivery.url,
        delivery.allow_private,
        delivery.hosts,
    ) {
        return Err(NotifyError::Rejected {
            status: 0,
            retryable: false,
            detail: e.to_string(),
        });
    }
    let url = reqwest::Url::parse(delivery.url)
        .map_err(|_| NotifyError::Incomplete("an endpoint URL"))?;
    let host = url
        .host_str()
        .ok_or(NotifyError::Incomplete("an endpoint URL with a host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|_| NotifyError::Network)?
        .collect();
    if addresses.is_empty()
        || addresses
            .iter()
            .any(|a| !address_allowed(a.ip(), delivery.allow_private))
    {
        return Err(NotifyError::Rejected {
            status: 0,
            retryable: false,
            detail: "the endpoint resolves to a private, loopback or link-local address".into(),
        });
    }
    let mut client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // An endpoint that does not answer the handshake is down: a few seconds, not the
        // whole send's budget, so that its lane moves on.
        .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECONDS))
        .timeout(Duration::from_secs(10));
    // Pinned to the addresses just checked: no second lookup can point elsewhere.
    if host.parse::<std::net::IpAddr>().is_err() {
        client = client.resolve_to_addrs(&host, &addresses);
    }
    let client = client.build().map_err(|_| NotifyError::Network)?;
    let signature = signature(
        delivery.secrets,
        delivery.webhook_id,
        delivery.timestamp,
        delivery.body,
    )?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", delivery.webhook_id)
        .header("webhook-timestamp", delivery.timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.body.to_owned())
        .send()
        .map_err(|_| NotifyError::Network)?;
    let status = response.status().as_u16();
    if response.status().is_success() {
        return Ok(status);
    }
    let detail = crate::transport::excerpt(response);
    Err(NotifyError::Rejected {
        status,
        retryable: true,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_test_vector_signs_and_a_rotation_signs_twice() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = r#"{"test": 2432232314}"#;
        let one = signature(
            std::slice::from_ref(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        )
        .unwrap();
        assert_eq!(one, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let other = "whsec_".to_owned() + "c2Vjb25kLXNlY3JldC1zZWNvbmQtc2VjcmV0";
        let two = signature(
            &[secret, other],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        )
        .unwrap();
        assert!(two.starts_with(&one) && two.split(' ').count() == 2);
        assert!(signature(&["whsec_***".to_owned()], "msg_x", 1, "{}").is_err());
    }

    #[test]
    fn the_rust_reference_library_verifies_what_we_sign_with_either_secret() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let new = "whsec_c2Vjb25kLXNlY3JldC1zZWNvbmQtc2VjcmV0".to_owned();
        let body = r#"{"type":"referral.created","timestamp":"2026-11-30T00:00:00Z","data":{}}"#;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        let signed = signature(&[new.clone(), old.clone()], "msg_1", now, body).unwrap();
        headers.insert("webhook-signature", signed.parse().unwrap());
        for secret in [&old, &new] {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(body.as_bytes(), &headers)
                .unwrap();
        }
        // Another body, or another secret, does not verify.
        assert!(standardwebhooks::Webhook::new(&old)
            .unwrap()
            .verify(b"{}", &headers)
            .is_err());
        assert!(
            standardwebhooks::Webhook::new("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==")
                .unwrap()
                .verify(body.as_bytes(), &headers)
                .is_err()
        );
    }

    #[test]
    fn private_addresses_are_refused_before_anything_is_sent() {
        let delivery = WebhookDelivery {
            url: "https://127.0.0.1:9/hook",
            secrets: &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
            webhook_id: "msg_1",
            timestamp: 1,
            body: "{}",
            allow_private: false,
            hosts: &referral_domain::webhook::WebhookHosts::any(),
        };
        match send(&delivery) {
            Err(NotifyError::Rejected {
                retryable: false, ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
