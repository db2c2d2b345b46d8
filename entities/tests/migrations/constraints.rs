//! Row-level checks: defaults, unique keys, foreign keys and ON DELETE behaviour, exercised
//! through the entities so that the entities and the migrations are checked against each other.

use std::fmt::Debug;

use natter_entities::{
    blocks, contacts, deliveries, group_members, identity_keys, media, messages, one_time_keys,
    otp_codes, push_tokens, users,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    ModelTrait, PaginatorTrait, QueryFilter, SqlErr,
};

use crate::fixtures::{
    NOW, insert_conversations, insert_device, insert_keys_and_tokens, insert_messages, insert_user,
};

/// Inserts a row in every table and checks what the database accepts and rejects.
pub(crate) async fn check_rows_and_constraints(db: &DatabaseConnection) {
    // Users: database defaults fill what the application leaves out.
    let alice = insert_user(db, "+15550000001")
        .await
        .expect("inserting alice");
    let bob = insert_user(db, "+15550000002")
        .await
        .expect("inserting bob");
    assert_eq!(alice.display_name, "");
    assert_eq!(alice.last_seen_privacy, "contacts");
    assert_eq!(alice.photo_privacy, "contacts");
    expect_unique_violation(insert_user(db, "+15550000001").await, "users.phone");
    // Operators have no phone number, and any number of them may exist.
    for _ in 0..2 {
        users::ActiveModel {
            phone: Set(None),
            created_at: Set(NOW),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("inserting a user without a phone number");
    }

    // Devices and their keys.
    let alice_phone = insert_device(db, alice.id, "alice-phone")
        .await
        .expect("inserting a device");
    let bob_phone = insert_device(db, bob.id, "bob-phone")
        .await
        .expect("inserting a device");
    expect_unique_violation(
        insert_device(db, bob.id, "alice-phone").await,
        "devices.mqtt_username",
    );
    expect_fk_violation(insert_device(db, 999_999, "ghost").await, "devices.user_id");
    insert_keys_and_tokens(db, &alice_phone, &bob_phone).await;

    // Address book and blocks.
    let contact = contacts::ActiveModel {
        owner_id: Set(alice.id),
        phone: Set("+15550000002".to_owned()),
        contact_user_id: Set(Some(bob.id)),
        created_at: Set(NOW),
    };
    contact
        .clone()
        .insert(db)
        .await
        .expect("inserting a contact");
    expect_unique_violation(contact.insert(db).await, "contacts primary key");
    let block = blocks::ActiveModel {
        blocker_id: Set(alice.id),
        blocked_id: Set(bob.id),
        created_at: Set(NOW),
    };
    block.insert(db).await.expect("inserting a block");

    // Media.
    let photo = media::ActiveModel {
        owner_user_id: Set(bob.id),
        sha256: Set("ab".repeat(32)),
        mime: Set("image/jpeg".to_owned()),
        size_bytes: Set(5_000_000_000),
        storage_key: Set("media/bob/1".to_owned()),
        created_at: Set(NOW),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("inserting media");
    assert!(!photo.encrypted);
    assert_eq!(photo.size_bytes, 5_000_000_000);

    let (direct, group) = insert_conversations(db, &alice, &bob).await;
    insert_messages(db, &alice, &bob, &alice_phone, &direct, &group).await;

    // Deleting a device takes its keys and push tokens with it.
    bob_phone
        .clone()
        .delete(db)
        .await
        .expect("deleting a device");
    let n_tokens = push_tokens::Entity::find()
        .filter(push_tokens::Column::DeviceId.eq(bob_phone.id))
        .count(db)
        .await
        .expect("counting push tokens");
    assert_eq!(n_tokens, 0);
    let identity = identity_keys::Entity::find_by_id(bob_phone.id)
        .one(db)
        .await
        .expect("reading identity keys");
    assert!(identity.is_none());
    let n_one_time = one_time_keys::Entity::find()
        .filter(one_time_keys::Column::DeviceId.eq(bob_phone.id))
        .count(db)
        .await
        .expect("counting one-time keys");
    assert_eq!(n_one_time, 0);

    // Deleting a conversation takes its messages and their deliveries with it.
    direct
        .clone()
        .delete(db)
        .await
        .expect("deleting a conversation");
    let n_messages = messages::Entity::find().count(db).await.expect("counting");
    let n_deliveries = deliveries::Entity::find()
        .count(db)
        .await
        .expect("counting");
    assert_eq!((n_messages, n_deliveries), (1, 0));

    // A user's media must be purged first; then the user's rows go or are unlinked.
    expect_fk_violation(bob.clone().delete(db).await, "media.owner_user_id");
    photo.delete(db).await.expect("deleting media");
    bob.delete(db).await.expect("deleting bob");
    let contact = contacts::Entity::find_by_id((alice.id, "+15550000002".to_owned()))
        .one(db)
        .await
        .expect("reading the contact")
        .expect("alice's contact row stays");
    assert_eq!(contact.contact_user_id, None);
    assert_eq!(blocks::Entity::find().count(db).await.expect("counting"), 0);
    let n_members = group_members::Entity::find()
        .count(db)
        .await
        .expect("counting");
    assert_eq!(n_members, 1);

    // Login codes.
    let code = otp_codes::ActiveModel {
        phone: Set("+15550000003".to_owned()),
        code_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        expires_at: Set(NOW + 300_000),
        last_sent_at: Set(NOW),
        created_at: Set(NOW),
        ..Default::default()
    };
    let stored = code.clone().insert(db).await.expect("inserting a code");
    assert_eq!(stored.attempts, 0);
    expect_unique_violation(code.insert(db).await, "otp_codes.phone");
}

/// Asserts that `result` failed on a unique key.
pub(crate) fn expect_unique_violation<T: Debug>(result: Result<T, DbErr>, what: &str) {
    match result {
        Ok(row) => panic!("{what}: duplicate accepted: {row:?}"),
        Err(err) => assert!(
            matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            "{what}: expected a unique violation, got {err}"
        ),
    }
}

/// Asserts that `result` failed on a foreign key.
pub(crate) fn expect_fk_violation<T: Debug>(result: Result<T, DbErr>, what: &str) {
    match result {
        Ok(row) => panic!("{what}: dangling reference accepted: {row:?}"),
        Err(err) => assert!(
            matches!(
                err.sql_err(),
                Some(SqlErr::ForeignKeyConstraintViolation(_))
            ),
            "{what}: expected a foreign-key violation, got {err}"
        ),
    }
}
