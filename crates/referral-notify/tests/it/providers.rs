//! The exact requests each provider receives, against local wiremock servers, and the
//! mailbox files written when no provider is configured.

use referral_notify::transport::{SendGrid, Stripe, Twilio};
use referral_notify::{
    Channel, Delivered, Notifier, NotifyError, Outgoing, ProviderConfig, Transport,
};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn invitation() -> Value {
    json!({"referrer_name": "Alice", "referee_name": null, "referral_message": null,
           "referee_reward_type": "credit", "referee_reward_value": "10.00", "expiry_days": 30,
           "register_url": "http://portal.test/register?ref=X", "unsubscribe_url": "http://api.test/api/unsubscribe/t",
           "postal_address": "100 Main St, Springfield, IL 62701"})
}

/// reqwest's blocking client must not run on the async test runtime's thread.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap()
}

fn deliver(
    transport: Transport,
    channel: Channel,
    id: Uuid,
    recipient: &'static str,
    template: &'static str,
    payload: Value,
) -> Result<Delivered, NotifyError> {
    on_thread(move || {
        Notifier::new(transport).unwrap().deliver(&Outgoing {
            message_id: id,
            channel,
            recipient,
            template,
            payload: &payload,
            idempotency_key: "invitation:1:email",
        })
    })
}

fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

#[tokio::test]
async fn sendgrid_gets_bearer_auth_both_parts_and_the_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header("authorization", "Bearer sg-key"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let transport = Transport::Providers(ProviderConfig {
        sendgrid: Some(SendGrid {
            api_key: "sg-key".into(),
            from_email: "hello@zappy.test".into(),
            base_url: server.uri(),
        }),
        ..Default::default()
    });
    let result = deliver(
        transport,
        Channel::Email,
        Uuid::new_v4(),
        "bob@example.com",
        "referral_invitation",
        invitation(),
    );
    assert_eq!(result.unwrap(), Delivered::Provider);
    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body["personalizations"][0]["to"][0]["email"],
        "bob@example.com"
    );
    assert_eq!(
        body["personalizations"][0]["custom_args"]["idempotency_key"],
        "invitation:1:email"
    );
    assert_eq!(body["from"]["email"], "hello@zappy.test");
    assert_eq!(body["subject"], "Alice thinks you'd love Zappy Health");
    assert_eq!(body["content"][0]["type"], "text/plain");
    assert_eq!(body["content"][1]["type"], "text/html");
    assert!(body["content"][1]["value"]
        .as_str()
        .unwrap()
        .contains("$10.00 account credit"));
    assert_eq!(
        body["headers"]["List-Unsubscribe"],
        "<http://api.test/api/unsubscribe/t>"
    );
    // RFC 8058 one-click, and the sender's postal address (CAN-SPAM).
    assert_eq!(
        body["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(body["content"][0]["value"]
        .as_str()
        .unwrap()
        .contains("100 Main St, Springfield, IL 62701"));
}

#[tokio::test]
async fn twilio_gets_a_form_with_basic_auth_and_server_errors_are_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC1/Messages.json"))
        // base64("AC1:tok")
        .and(header("authorization", "Basic QUMxOnRvaw=="))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(503).set_body_string("try later"))
        .expect(1)
        .mount(&server)
        .await;
    let transport = Transport::Providers(ProviderConfig {
        twilio: Some(Twilio {
            account_sid: "AC1".into(),
            auth_token: "tok".into(),
            from_number: "+15550000000".into(),
            base_url: server.uri(),
        }),
        ..Default::default()
    });
    let err = deliver(
        transport,
        Channel::Sms,
        Uuid::new_v4(),
        "+14155550100",
        "referral_invitation",
        invitation(),
    )
    .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(err, NotifyError::Rejected { status: 503, .. }));
    let requests = server.received_requests().await.unwrap();
    let fields = form(&requests[0]);
    assert!(fields.contains(&("To".into(), "+14155550100".into())));
    assert!(fields.contains(&("From".into(), "+15550000000".into())));
    let body = &fields.iter().find(|(k, _)| k == "Body").unwrap().1;
    assert!(
        body.starts_with("Alice invited you to try Zappy Health!"),
        "{body}"
    );
}

#[tokio::test]
async fn stripe_gets_the_outbox_id_as_idempotency_key_and_a_4xx_is_final_with_its_reason() {
    let server = MockServer::start().await;
    let id = Uuid::new_v4();
    Mock::given(method("POST"))
        .and(path("/v1/transfers"))
        .and(header("authorization", "Bearer sk_test"))
        .and(header("idempotency-key", id.to_string().as_str()))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string(r#"{"error":{"message":"No such destination"}}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let transport = Transport::Providers(ProviderConfig {
        stripe: Some(Stripe {
            api_key: "sk_test".into(),
            base_url: server.uri(),
        }),
        ..Default::default()
    });
    let payload = json!({"amount": "50.00", "currency": "usd", "reward_id": "00000000-0000-4000-8000-00000000a0a1", "patient_id": "00000000-0000-4000-8000-00000000b0b1", "stripe_account": "acct_1"});
    let err = deliver(transport, Channel::Payout, id, "p1", "cash_payout", payload).unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("400") && err.to_string().contains("No such destination"),
        "{err}"
    );
    let requests = server.received_requests().await.unwrap();
    let fields = form(&requests[0]);
    for expected in [
        ("amount", "5000"),
        ("currency", "usd"),
        ("destination", "acct_1"),
        (
            "metadata[reward_id]",
            "00000000-0000-4000-8000-00000000a0a1",
        ),
        ("metadata[patient_id]", "p1"),
    ] {
        assert!(
            fields.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {fields:?}"
        );
    }
}

#[test]
fn a_payout_without_an_account_is_incomplete_and_never_sent() {
    let transport = Transport::Providers(ProviderConfig {
        stripe: Some(Stripe {
            api_key: "sk".into(),
            base_url: "http://127.0.0.1:9".into(),
        }),
        ..Default::default()
    });
    let payload = json!({"amount": "50.00", "currency": "usd", "reward_id": "00000000-0000-4000-8000-00000000a0a1", "patient_id": "00000000-0000-4000-8000-00000000b0b1"});
    let err = deliver(
        transport,
        Channel::Payout,
        Uuid::new_v4(),
        "p1",
        "cash_payout",
        payload,
    )
    .unwrap_err();
    assert!(matches!(err, NotifyError::Incomplete("stripe_account")));
    assert!(!err.is_retryable());
}

#[test]
fn an_unreachable_or_missing_provider_is_retryable() {
    let transport = Transport::Providers(ProviderConfig {
        sendgrid: Some(SendGrid {
            api_key: "k".into(),
            from_email: "a@b.test".into(),
            base_url: "http://127.0.0.1:9".into(),
        }),
        ..Default::default()
    });
    let err = deliver(
        transport.clone(),
        Channel::Email,
        Uuid::new_v4(),
        "bob@example.com",
        "referral_invitation",
        invitation(),
    )
    .unwrap_err();
    assert!(matches!(err, NotifyError::Network) && err.is_retryable());
    let err = deliver(
        transport,
        Channel::Sms,
        Uuid::new_v4(),
        "+14155550100",
        "referral_invitation",
        invitation(),
    )
    .unwrap_err();
    assert!(matches!(err, NotifyError::NotConfigured("sms")) && err.is_retryable());
}

#[test]
fn the_mailbox_holds_each_message_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Transport::Mailbox(dir.path().join("outbox"));
    let email_id = Uuid::new_v4();
    let Delivered::Mailbox(eml) = deliver(
        transport.clone(),
        Channel::Email,
        email_id,
        "bob@example.com",
        "referral_invitation",
        invitation(),
    )
    .unwrap() else {
        panic!("not the mailbox");
    };
    assert_eq!(
        eml,
        dir.path().join("outbox").join(format!("{email_id}.eml"))
    );
    let text = std::fs::read_to_string(&eml).unwrap();
    assert!(
        text.starts_with(
            "To: bob@example.com\r\nSubject: Alice thinks you'd love Zappy Health\r\n"
        ),
        "{text}"
    );
    assert!(text.contains("Content-Type: text/plain") && text.contains("Content-Type: text/html"));
    assert!(text.contains("List-Unsubscribe: <http://api.test/api/unsubscribe/t>"));
    assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));

    let sms_id = Uuid::new_v4();
    let Delivered::Mailbox(sms) = deliver(
        transport.clone(),
        Channel::Sms,
        sms_id,
        "+14155550100",
        "referral_invitation",
        invitation(),
    )
    .unwrap() else {
        panic!("not the mailbox");
    };
    assert!(sms.to_string_lossy().ends_with(".sms.txt"));
    assert!(std::fs::read_to_string(&sms)
        .unwrap()
        .starts_with("To: +14155550100\n\nAlice invited you"));

    let payout_id = Uuid::new_v4();
    let payload = json!({"amount": "50.00", "currency": "usd", "reward_id": "00000000-0000-4000-8000-00000000a0a1", "patient_id": "00000000-0000-4000-8000-00000000b0b1"});
    let Delivered::Mailbox(payout) = deliver(
        transport,
        Channel::Payout,
        payout_id,
        "p1",
        "cash_payout",
        payload,
    )
    .unwrap() else {
        panic!("not the mailbox");
    };
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&payout).unwrap()).unwrap();
    assert_eq!(json["amount_cents"], 5000);
    assert_eq!(json["idempotency_key"], payout_id.to_string());
    // Only whole files: no partial file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_message_that_does_not_render_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let err = deliver(
        Transport::Mailbox(dir.path().to_owned()),
        Channel::Email,
        Uuid::new_v4(),
        "bob@example.com",
        "referral_invitation",
        json!({"referrer_name": "A"}),
    )
    .unwrap_err();
    assert!(matches!(err, NotifyError::Template(_)) && !err.is_retryable());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// #30: a receiver's error answer is read to at most 1 KiB: one that announces 600 MB and
/// keeps the connection open costs the worker a kilobyte and no wait, and only a short
/// excerpt is kept.
#[test]
fn a_huge_error_answer_is_read_to_one_kilobyte() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        stream
            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 600000000\r\n\r\n")
            .unwrap();
        // Far more than a kilobyte, then nothing for longer than the client's timeout.
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..4 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_secs(15));
    });
    let started = std::time::Instant::now();
    let secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()];
    let result = referral_notify::webhook::send(&referral_notify::webhook::WebhookDelivery {
        url: &url,
        secrets: &secrets,
        webhook_id: "msg_1",
        timestamp: 1_700_000_000,
        body: "{}",
        allow_private: true,
        hosts: &referral_domain::webhook::WebhookHosts::any(),
    });
    let took = started.elapsed();
    match result {
        Err(NotifyError::Rejected { status, detail, .. }) => {
            assert_eq!(status, 500);
            assert!(detail.chars().count() <= 200, "{detail}");
        }
        other => panic!("expected a rejection: {other:?}"),
    }
    assert!(took < std::time::Duration::from_secs(5), "waited {took:?}");
    drop(server);
}
