//! Inserts the rows the checks need, asserting uniqueness rules along the way.

use natter_entities::{
    conversations, deliveries, devices, group_members, groups, identity_keys, messages,
    one_time_keys, push_tokens, users,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};

use crate::constraints::{expect_fk_violation, expect_unique_violation};

/// The timestamp every fixture uses, unix milliseconds.
pub(crate) const NOW: i64 = 1_795_000_000_000;

/// Publishes Bob's phone's keys and push token; checks the (device, key) and (provider, token)
/// unique keys.
pub(crate) async fn insert_keys_and_tokens(
    db: &DatabaseConnection,
    alice_phone: &devices::Model,
    bob_phone: &devices::Model,
) {
    identity_keys::ActiveModel {
        device_id: Set(bob_phone.id),
        identity_key: Set("aWRlbnRpdHk=".to_owned()),
        signed_prekey: Set("cHJla2V5".to_owned()),
        signed_prekey_signature: Set("c2lnbmF0dXJl".to_owned()),
        updated_at: Set(NOW),
    }
    .insert(db)
    .await
    .expect("inserting identity keys");
    let one_time_key = |key_id: i64| one_time_keys::ActiveModel {
        device_id: Set(bob_phone.id),
        key_id: Set(key_id),
        public_key: Set("b3Rr".to_owned()),
        created_at: Set(NOW),
        ..Default::default()
    };
    one_time_key(1).insert(db).await.expect("inserting a key");
    one_time_key(2).insert(db).await.expect("inserting a key");
    expect_unique_violation(
        one_time_key(1).insert(db).await,
        "one_time_keys (device_id, key_id)",
    );
    let push_token = |device_id: i64| push_tokens::ActiveModel {
        device_id: Set(device_id),
        provider: Set("fcm".to_owned()),
        token: Set("fcm-token-1".to_owned()),
        created_at: Set(NOW),
        updated_at: Set(NOW),
        ..Default::default()
    };
    push_token(bob_phone.id)
        .insert(db)
        .await
        .expect("inserting a push token");
    expect_unique_violation(
        push_token(alice_phone.id).insert(db).await,
        "push_tokens (provider, token)",
    );
}

/// Creates a group with both users and its chat, and their direct chat; returns
/// (direct, group). Checks the invite-token, group-chat and direct-pair unique keys.
pub(crate) async fn insert_conversations(
    db: &DatabaseConnection,
    alice: &users::Model,
    bob: &users::Model,
) -> (conversations::Model, conversations::Model) {
    let group = groups::ActiveModel {
        name: Set("Climbing".to_owned()),
        created_by: Set(alice.id),
        invite_token: Set(Some("invite-1".to_owned())),
        created_at: Set(NOW),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("inserting a group");
    assert_eq!(group.member_limit, 1024);
    assert_eq!(group.description, "");
    let same_invite = groups::ActiveModel {
        name: Set("Other".to_owned()),
        created_by: Set(bob.id),
        invite_token: Set(Some("invite-1".to_owned())),
        created_at: Set(NOW),
        ..Default::default()
    };
    expect_unique_violation(same_invite.insert(db).await, "groups.invite_token");

    for (user, role) in [(alice, Some("admin")), (bob, None)] {
        let mut member = group_members::ActiveModel {
            group_id: Set(group.id),
            user_id: Set(user.id),
            joined_at: Set(NOW),
            ..Default::default()
        };
        if let Some(role) = role {
            member.role = Set(role.to_owned());
        }
        let member = member.insert(db).await.expect("inserting a member");
        assert_eq!(member.role, role.unwrap_or("member"));
    }

    let group_chat = || conversations::ActiveModel {
        kind: Set("group".to_owned()),
        group_id: Set(Some(group.id)),
        created_at: Set(NOW),
        ..Default::default()
    };
    let group_conversation = group_chat().insert(db).await.expect("inserting a chat");
    assert_eq!(group_conversation.last_seq, 0);
    expect_unique_violation(group_chat().insert(db).await, "conversations.group_id");

    let direct_chat = || conversations::ActiveModel {
        kind: Set("direct".to_owned()),
        user_low: Set(Some(alice.id.min(bob.id))),
        user_high: Set(Some(alice.id.max(bob.id))),
        disappearing_secs: Set(Some(86_400)),
        created_at: Set(NOW),
        ..Default::default()
    };
    let direct = direct_chat().insert(db).await.expect("inserting a chat");
    expect_unique_violation(
        direct_chat().insert(db).await,
        "conversations (user_low, user_high)",
    );
    (direct, group_conversation)
}

/// Puts one message in each chat and a delivery for Bob; checks both message unique keys
/// and the conversation foreign key.
pub(crate) async fn insert_messages(
    db: &DatabaseConnection,
    alice: &users::Model,
    bob: &users::Model,
    alice_phone: &devices::Model,
    direct: &conversations::Model,
    group: &conversations::Model,
) {
    let message = |conversation_id: i64, seq: i64, sender_user_id: i64, client_msg_id: &str| {
        messages::ActiveModel {
            conversation_id: Set(conversation_id),
            seq: Set(seq),
            sender_user_id: Set(sender_user_id),
            sender_device_id: Set(alice_phone.id),
            client_msg_id: Set(client_msg_id.to_owned()),
            kind: Set("text".to_owned()),
            // Not valid UTF-8: the column must be binary, not text.
            body: Set(vec![0x00, 0x9f, 0x92, 0x96, 0xff]),
            created_at: Set(NOW),
            expires_at: Set(Some(NOW + 86_400_000)),
            ..Default::default()
        }
    };
    let first = message(direct.id, 1, alice.id, "c-1")
        .insert(db)
        .await
        .expect("inserting a message");
    assert_eq!(first.body, vec![0x00, 0x9f, 0x92, 0x96, 0xff]);
    expect_unique_violation(
        message(direct.id, 1, alice.id, "c-2").insert(db).await,
        "messages (conversation_id, seq)",
    );
    expect_unique_violation(
        message(group.id, 1, alice.id, "c-1").insert(db).await,
        "messages (sender_user_id, client_msg_id)",
    );
    // Another sender may reuse a client id, and another conversation a sequence number.
    message(group.id, 1, bob.id, "c-1")
        .insert(db)
        .await
        .expect("inserting a message");
    expect_fk_violation(
        message(999_999, 1, alice.id, "c-3").insert(db).await,
        "messages.conversation_id",
    );

    let delivery = deliveries::ActiveModel {
        message_id: Set(first.id),
        recipient_user_id: Set(bob.id),
        created_at: Set(NOW),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("inserting a delivery");
    assert_eq!(delivery.status, "pending");
    let n_pending = deliveries::Entity::find()
        .filter(deliveries::Column::RecipientUserId.eq(bob.id))
        .filter(deliveries::Column::Status.eq("pending"))
        .count(db)
        .await
        .expect("counting pending deliveries");
    assert_eq!(n_pending, 1);
}

/// Inserts a user with only the required columns and a phone number set.
pub(crate) async fn insert_user(
    db: &DatabaseConnection,
    phone: &str,
) -> Result<users::Model, DbErr> {
    users::ActiveModel {
        phone: Set(Some(phone.to_owned())),
        created_at: Set(NOW),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Inserts an Android device of `user_id` logging in as `mqtt_username`.
pub(crate) async fn insert_device(
    db: &DatabaseConnection,
    user_id: i64,
    mqtt_username: &str,
) -> Result<devices::Model, DbErr> {
    devices::ActiveModel {
        user_id: Set(user_id),
        name: Set("Pixel".to_owned()),
        platform: Set("android".to_owned()),
        role: Set("user".to_owned()),
        mqtt_username: Set(mqtt_username.to_owned()),
        secret_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        created_at: Set(NOW),
        ..Default::default()
    }
    .insert(db)
    .await
}
