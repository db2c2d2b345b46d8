//! Scenarios for one-time codes, their senders, and the contact lookup limit, at the level of
//! the accounts functions (the HTTP routes over them are tested end to end in natter-tests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use natter_accounts::contacts::{self, SyncRequest};
use natter_accounts::registration::{self, RegisterRequest, VerifyRequest};
use natter_accounts::sms::{CodeMessage, SmsError, SmsSender};
use natter_accounts::{Error, Identity, Role};
use natter_config::AccountsSettings;
use sea_orm::DatabaseConnection;

/// Records what it is asked to send; fails while `failing` is set.
#[derive(Default)]
struct TestSender {
    sent: Mutex<Vec<CodeMessage>>,
    failing: Mutex<bool>,
}

impl TestSender {
    fn last_code(&self) -> String {
        let sent = self
            .sent
            .lock()
            .expect("invariant: the lock is never poisoned");
        sent.last()
            .map(|message| message.code.clone())
            .expect("a code was sent")
    }

    fn fail(&self, failing: bool) {
        *self
            .failing
            .lock()
            .expect("invariant: the lock is never poisoned") = failing;
    }
}

impl SmsSender for TestSender {
    fn send<'a>(
        &'a self,
        message: &'a CodeMessage,
    ) -> Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>> {
        let failing = *self
            .failing
            .lock()
            .expect("invariant: the lock is never poisoned");
        if !failing {
            self.sent
                .lock()
                .expect("invariant: the lock is never poisoned")
                .push(message.clone());
        }
        Box::pin(async move {
            match failing {
                true => Err(SmsError::Status { status: 503 }),
                false => Ok(()),
            }
        })
    }
}

fn verify_request(phone: &str, code: &str) -> VerifyRequest {
    VerifyRequest {
        phone: phone.to_owned(),
        code: code.to_owned(),
        device_name: "Pixel 8".to_owned(),
        platform: "android".to_owned(),
    }
}

async fn request(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    sender: &TestSender,
    phone: &str,
) -> Result<registration::CodeSent, Error> {
    let request = RegisterRequest {
        phone: phone.to_owned(),
    };
    registration::request_code(db, settings, sender, request, None).await
}

pub(crate) async fn a_code_that_could_not_be_sent_is_forgotten(db: DatabaseConnection) {
    let settings = AccountsSettings::default();
    let sender = TestSender::default();
    sender.fail(true);
    let failed = request(&db, &settings, &sender, "+15551230001").await;
    assert!(matches!(failed, Err(Error::SendSms(_))), "{failed:?}");

    // Nobody received it, so the cooldown does not apply and verifying finds nothing.
    let refused =
        registration::verify(&db, &settings, verify_request("+15551230001", "123456")).await;
    assert!(
        matches!(refused, Err(Error::CodeNotPending { .. })),
        "{refused:?}"
    );
    sender.fail(false);
    request(&db, &settings, &sender, "+15551230001")
        .await
        .expect("asking again at once");
    let again = request(&db, &settings, &sender, "+15551230001").await;
    assert!(
        matches!(again, Err(Error::ResendTooSoon { retry_after_secs, .. }) if retry_after_secs <= 60),
        "{again:?}"
    );
}

pub(crate) async fn one_code_verified_twice_at_once_makes_one_device(db: DatabaseConnection) {
    let settings = AccountsSettings::default();
    let sender = TestSender::default();
    request(&db, &settings, &sender, "+15551230001")
        .await
        .expect("requesting a code");
    let code = sender.last_code();
    let (first, second) = tokio::join!(
        registration::verify(&db, &settings, verify_request("+15551230001", &code)),
        registration::verify(&db, &settings, verify_request("+15551230001", &code)),
    );
    let n_ok = [first.is_ok(), second.is_ok()]
        .into_iter()
        .filter(|ok| *ok)
        .count();
    assert_eq!(n_ok, 1, "{first:?} / {second:?}");
    for outcome in [first, second] {
        if let Err(err) = outcome {
            assert_eq!(err.code(), "code_invalid", "{err:?}");
        }
    }
}

pub(crate) async fn numbers_added_again_count_against_the_daily_limit(db: DatabaseConnection) {
    let settings = AccountsSettings {
        contacts_daily_limit: 2,
        ..AccountsSettings::default()
    };
    let sender = TestSender::default();
    request(&db, &settings, &sender, "+15551230001")
        .await
        .expect("requesting a code");
    let verified = registration::verify(
        &db,
        &settings,
        verify_request("+15551230001", &sender.last_code()),
    )
    .await
    .expect("verifying");
    let ada = Identity {
        user_id: verified.response.user_id,
        device_id: verified.response.device_id,
        role: Role::User,
    };
    let sync = |add: &[&str], remove: &[&str]| SyncRequest {
        add: add.iter().map(|n| (*n).to_owned()).collect(),
        remove: remove.iter().map(|n| (*n).to_owned()).collect(),
    };
    let first = contacts::sync(
        &db,
        &settings,
        &ada,
        sync(&["+15551230101", "+15551230102"], &[]),
    )
    .await
    .expect("two new numbers");
    assert_eq!(first.added, 2);
    let removed = contacts::sync(&db, &settings, &ada, sync(&[], &["+15551230101"]))
        .await
        .expect("removing one");
    assert_eq!(removed.removed, 1);
    let refused = contacts::sync(&db, &settings, &ada, sync(&["+15551230101"], &[])).await;
    assert!(
        matches!(refused, Err(Error::RateLimited { limit: 2, .. })),
        "{refused:?}"
    );
    let listed = contacts::list(&db, &ada).await.expect("listing");
    assert_eq!(listed.contacts.len(), 1, "a refused sync changes nothing");
}

pub(crate) async fn a_number_gets_a_limited_number_of_codes_per_day(db: DatabaseConnection) {
    let settings = AccountsSettings {
        code_resend_cooldown_secs: 0,
        code_daily_limit: 2,
        ..AccountsSettings::default()
    };
    let sender = TestSender::default();
    for _ in 0..2 {
        request(&db, &settings, &sender, "+15551230001")
            .await
            .expect("a code within the limit");
    }
    let refused = request(&db, &settings, &sender, "+15551230001").await;
    assert!(
        matches!(&refused, Err(err @ Error::TooManyCodes { limit: 2, .. }) if err.code() == "rate_limited" && err.retry_after_secs().is_some()),
        "{refused:?}"
    );
    assert_eq!(
        sender
            .sent
            .lock()
            .expect("invariant: the lock is never poisoned")
            .len(),
        2
    );
    request(&db, &settings, &sender, "+15551230002")
        .await
        .expect("other numbers have their own limit");
}
