//! Scenarios for creating users, operators and devices.

use natter_accounts::{AuthOutcome, Error, Identity, Role, add_device, authenticate};
use natter_entities::{devices, users};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait, PaginatorTrait,
};
use secrecy::ExposeSecret;

/// Authenticates `credentials` as their device would.
pub(crate) async fn login(
    db: &DatabaseConnection,
    credentials: &natter_accounts::Credentials,
) -> AuthOutcome {
    authenticate(
        db,
        &credentials.mqtt_username,
        credentials.mqtt_password.expose_secret().as_bytes(),
    )
    .await
    .expect("authenticating")
}

/// Marks user `user_id` deleted.
pub(crate) async fn soft_delete_user(db: &DatabaseConnection, user_id: i64) {
    users::ActiveModel {
        id: Set(user_id),
        deleted_at: Set(Some(natter_accounts::now_ms())),
        ..Default::default()
    }
    .update(db)
    .await
    .expect("deleting the user");
}

pub(crate) async fn created_user_gets_working_credentials(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    assert_eq!(ada.role, Role::User);
    assert_eq!(ada.mqtt_username, format!("d{}", ada.device_id));
    assert_eq!(ada.mqtt_password.expose_secret().len(), 43);
    let expected = Identity {
        user_id: ada.user_id,
        device_id: ada.device_id,
        role: Role::User,
    };
    assert_eq!(login(&db, &ada).await, AuthOutcome::Accepted(expected));
    let device = devices::Entity::find_by_id(ada.device_id)
        .one(&db)
        .await
        .expect("reading the device")
        .expect("the device exists");
    assert_eq!(device.user_id, ada.user_id);
    assert_eq!(
        (
            device.name.as_str(),
            device.platform.as_str(),
            device.role.as_str()
        ),
        ("primary", "admin", "user")
    );
    assert_eq!(device.revoked_at, None);
}

pub(crate) async fn phone_numbers_are_stored_in_e164(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, " +1 (555) 123-0001", "Ada")
        .await
        .expect("creating ada");

    let user = users::Entity::find_by_id(ada.user_id)
        .one(&db)
        .await
        .expect("reading the user")
        .expect("the user exists");
    assert_eq!(user.phone.as_deref(), Some("+15551230001"));
    assert_eq!(user.display_name, "Ada");
    assert_eq!(user.deleted_at, None);
}

pub(crate) async fn invalid_phone_numbers_are_rejected(db: DatabaseConnection) {
    for input in ["5551230001", "+1 555", "not a phone", ""] {
        let outcome = natter_accounts::create_user(&db, input, "Ada").await;
        match outcome {
            Err(Error::InvalidPhone { input: reported }) => assert_eq!(reported, input),
            other => panic!("{input:?}: expected InvalidPhone, got {other:?}"),
        }
    }

    let n_users = users::Entity::find().count(&db).await.expect("counting");
    assert_eq!(n_users, 0);
}

pub(crate) async fn duplicate_phone_numbers_are_rejected(db: DatabaseConnection) {
    natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    let again = natter_accounts::create_user(&db, "+1 555 123 0001", "Eve").await;

    match again {
        Err(Error::PhoneTaken { phone }) => assert_eq!(phone, "+15551230001"),
        other => panic!("expected PhoneTaken, got {other:?}"),
    }
    // The failed registration left nothing behind.
    let n_users = users::Entity::find().count(&db).await.expect("counting");
    let n_devices = devices::Entity::find().count(&db).await.expect("counting");
    assert_eq!((n_users, n_devices), (1, 1));
}

pub(crate) async fn operators_need_no_phone_number(db: DatabaseConnection) {
    let ops = natter_accounts::create_operator(&db, "ops")
        .await
        .expect("creating an operator");
    let oncall = natter_accounts::create_operator(&db, "oncall")
        .await
        .expect("creating a second operator");

    assert_eq!(ops.role, Role::Operator);
    assert_ne!(ops.user_id, oncall.user_id);
    let user = users::Entity::find_by_id(ops.user_id)
        .one(&db)
        .await
        .expect("reading the user")
        .expect("the operator's user exists");
    assert_eq!(user.phone, None);
    assert_eq!(user.display_name, "ops");
    let expected = Identity {
        user_id: ops.user_id,
        device_id: ops.device_id,
        role: Role::Operator,
    };
    assert_eq!(login(&db, &ops).await, AuthOutcome::Accepted(expected));
}

pub(crate) async fn added_devices_get_their_own_credentials(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");

    let sensor = add_device(&db, ada.user_id, "Kitchen sensor", "device", Role::Device)
        .await
        .expect("adding a device");

    assert_eq!(sensor.user_id, ada.user_id);
    assert_ne!(sensor.device_id, ada.device_id);
    assert_eq!(sensor.mqtt_username, format!("d{}", sensor.device_id));
    assert_ne!(
        sensor.mqtt_password.expose_secret(),
        ada.mqtt_password.expose_secret()
    );
    let expected = Identity {
        user_id: ada.user_id,
        device_id: sensor.device_id,
        role: Role::Device,
    };
    assert_eq!(login(&db, &sensor).await, AuthOutcome::Accepted(expected));
    assert!(matches!(login(&db, &ada).await, AuthOutcome::Accepted(_)));
    let device = devices::Entity::find_by_id(sensor.device_id)
        .one(&db)
        .await
        .expect("reading the device")
        .expect("the device exists");
    assert_eq!(
        (
            device.name.as_str(),
            device.platform.as_str(),
            device.role.as_str()
        ),
        ("Kitchen sensor", "device", "device")
    );
}

pub(crate) async fn devices_of_unknown_or_deleted_users_are_refused(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");
    soft_delete_user(&db, ada.user_id).await;

    let for_deleted = add_device(&db, ada.user_id, "Tablet", "android", Role::User).await;
    let for_unknown = add_device(&db, 999_999, "Tablet", "android", Role::User).await;

    assert!(
        matches!(for_deleted, Err(Error::UnknownUser { user_id }) if user_id == ada.user_id),
        "{for_deleted:?}"
    );
    assert!(
        matches!(for_unknown, Err(Error::UnknownUser { user_id: 999_999 })),
        "{for_unknown:?}"
    );
    let n_devices = devices::Entity::find().count(&db).await.expect("counting");
    assert_eq!(n_devices, 1);
}
