//! Sends: a resent id makes no second message, and in a batch only the bad request is
//! refused.

use natter_chat::{Address, Out, Refusal};
use natter_entities::messages;
use natter_proto::envelope::Target;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};

use crate::harness::{messages, refusal, send, sent, world};

#[tokio::test]
async fn a_resent_id_stores_one_message_and_answers_sent_again() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);

    let first = world.one(ann, send("m1", Target::User(bob.user))).await;
    let again = world.one(ann, send("m1", Target::User(bob.user))).await;

    let server_id = sent(&first).expect("the first send is sent");
    assert_eq!(
        sent(&again),
        Some(server_id),
        "the resend is answered with the same message"
    );
    assert_eq!(
        messages(&first),
        vec![
            (server_id, Address::CallerOtherDevices),
            (server_id, Address::User(bob.user))
        ],
        "ann's other devices get her copy, bob the message, once"
    );
    assert!(
        messages(&again).is_empty(),
        "the resend delivers nothing new"
    );
    let stored = messages::Entity::find()
        .count(&world.db)
        .await
        .expect("counting");
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_resent_id_within_one_batch_is_one_message() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);

    let outcomes = world
        .batch(vec![
            (ann, send("m1", Target::User(bob.user))),
            (ann, send("m1", Target::User(bob.user))),
        ])
        .await;

    assert_eq!(sent(&outcomes[0]), sent(&outcomes[1]));
    assert!(sent(&outcomes[0]).is_some());
    let stored = messages::Entity::find()
        .count(&world.db)
        .await
        .expect("counting");
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn a_refused_send_in_a_batch_costs_only_itself() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);

    let outcomes = world
        .batch(vec![
            (ann, send("a", Target::User(bob.user))),
            (ann, send("b", Target::User(999_999))),
            (ann, send("", Target::User(bob.user))),
            (ann, send("c", Target::User(bob.user))),
        ])
        .await;

    assert!(sent(&outcomes[0]).is_some());
    assert_eq!(refusal(&outcomes[1]), Some(&Refusal::UnknownRecipient));
    assert_eq!(refusal(&outcomes[2]), Some(&Refusal::BadId));
    assert!(sent(&outcomes[3]).is_some());
    let stored = messages::Entity::find()
        .count(&world.db)
        .await
        .expect("counting");
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn a_batch_that_fails_in_the_database_is_retried_one_by_one() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);
    // One send the database itself rejects: the batch's transaction fails as a whole.
    world
        .db
        .execute_unprepared(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON messages \
             WHEN NEW.client_msg_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .await
        .expect("creating the trigger");

    let outcomes = world
        .batch(vec![
            (ann, send("a", Target::User(bob.user))),
            (ann, send("boom", Target::User(bob.user))),
            (ann, send("c", Target::User(bob.user))),
        ])
        .await;

    assert!(sent(&outcomes[0]).is_some(), "{:?}", outcomes[0]);
    assert!(sent(&outcomes[2]).is_some(), "{:?}", outcomes[2]);
    match &outcomes[1][..] {
        [Out::Refused(refused)] => {
            assert_eq!(refused.id.as_deref(), Some("boom"));
            assert_eq!(refused.refusal.code(), "unavailable");
            assert!(
                matches!(
                    refused.refusal,
                    Refusal::Unavailable {
                        retry_after_ms: Some(_),
                        ..
                    }
                ),
                "an unavailable carries a retry hint: {refused:?}"
            );
        }
        other => panic!("expected unavailable for the bad send, got {other:?}"),
    }
    let stored = messages::Entity::find()
        .count(&world.db)
        .await
        .expect("counting");
    assert_eq!(stored, 2);
}
