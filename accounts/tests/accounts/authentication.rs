//! Scenarios for checking CONNECT credentials and revoking devices.

use natter_accounts::{AuthOutcome, Error, Identity, Role, authenticate, revoke_device};
use natter_entities::devices;
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::ExposeSecret;

use crate::provisioning::{login, soft_delete_user};

pub(crate) async fn wrong_passwords_are_rejected(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");
    let bob = natter_accounts::create_user(&db, "+15551230002", "Bob")
        .await
        .expect("creating bob");
    let ada_password = ada.mqtt_password.expose_secret();

    for password in [
        b"".as_slice(),
        b"wrong",
        bob.mqtt_password.expose_secret().as_bytes(),
        &ada_password.as_bytes()[..42],
        format!("{ada_password}x").as_bytes(),
    ] {
        let outcome = authenticate(&db, &ada.mqtt_username, password)
            .await
            .expect("authenticating");
        assert_eq!(outcome, AuthOutcome::BadPassword);
    }
}

pub(crate) async fn unknown_usernames_are_rejected(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");
    let password = ada.mqtt_password.expose_secret().as_bytes();

    for username in ["d999999", "", "+15551230001", "D1", "ada"] {
        let outcome = authenticate(&db, username, password)
            .await
            .expect("authenticating");
        assert_eq!(outcome, AuthOutcome::UnknownUser, "{username:?}");
    }
}

pub(crate) async fn revoked_devices_are_rejected(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    let revoked = revoke_device(&db, ada.device_id)
        .await
        .expect("revoking the device");

    let expected = Identity {
        user_id: ada.user_id,
        device_id: ada.device_id,
        role: Role::User,
    };
    assert_eq!(revoked, expected);
    assert_eq!(login(&db, &ada).await, AuthOutcome::Revoked);
    let first_revoked_at = revoked_at(&db, ada.device_id).await;
    assert!(first_revoked_at.is_some());

    // Revoking again succeeds and keeps the first time.
    let again = revoke_device(&db, ada.device_id)
        .await
        .expect("revoking again");
    assert_eq!(again, expected);
    assert_eq!(revoked_at(&db, ada.device_id).await, first_revoked_at);

    let unknown = revoke_device(&db, 999_999).await;
    assert!(
        matches!(unknown, Err(Error::UnknownDevice { device_id: 999_999 })),
        "{unknown:?}"
    );
}

pub(crate) async fn devices_of_deleted_users_are_rejected(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    soft_delete_user(&db, ada.user_id).await;

    assert_eq!(login(&db, &ada).await, AuthOutcome::Revoked);
}

pub(crate) async fn the_stored_hash_is_not_the_password(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    let device = devices::Entity::find_by_id(ada.device_id)
        .one(&db)
        .await
        .expect("reading the device")
        .expect("the device exists");

    let password = ada.mqtt_password.expose_secret();
    let hex_digest = device
        .secret_hash
        .strip_prefix("sha256:")
        .expect("the hash names its scheme");
    assert_eq!(hex_digest.len(), 64);
    assert!(hex_digest.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!device.secret_hash.contains(password));
    // Presenting the stored hash as the password does not work either.
    let outcome = authenticate(&db, &ada.mqtt_username, device.secret_hash.as_bytes())
        .await
        .expect("authenticating");
    assert_eq!(outcome, AuthOutcome::BadPassword);
}

/// `devices.revoked_at` of `device_id`.
async fn revoked_at(db: &DatabaseConnection, device_id: i64) -> Option<i64> {
    devices::Entity::find_by_id(device_id)
        .one(db)
        .await
        .expect("reading the device")
        .expect("the device exists")
        .revoked_at
}
