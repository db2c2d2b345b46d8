//! Receipts only move forward: pending → delivered → read.

use natter_chat::{Address, Out, Request};
use natter_entities::deliveries;
use natter_proto::envelope::{Event, ReceiptStatus, Target};
use sea_orm::EntityTrait;

use crate::harness::{send, sent, world};

fn receipt(status: ReceiptStatus, ids: Vec<i64>) -> Request {
    Request::Receipt { status, ids }
}

#[tokio::test]
async fn a_delivered_receipt_after_read_leaves_the_message_read() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);
    let message =
        sent(&world.one(ann, send("m1", Target::User(bob.user))).await).expect("the send is sent");

    let read = world
        .one(bob, receipt(ReceiptStatus::Read, vec![message]))
        .await;
    let late = world
        .one(bob, receipt(ReceiptStatus::Delivered, vec![message]))
        .await;

    assert!(
        read.contains(&Out::Event(
            Address::User(ann.user),
            Event::Receipt {
                status: ReceiptStatus::Read,
                ids: vec![message],
                by: bob.user
            }
        )),
        "ann learns that bob read it: {read:?}"
    );
    assert!(late.is_empty(), "nothing moved, nobody is told: {late:?}");
    let delivery = deliveries::Entity::find_by_id((message, bob.user))
        .one(&world.db)
        .await
        .expect("reading the delivery")
        .expect("bob has a delivery");
    assert_eq!(delivery.status, deliveries::STATUS_READ);
    assert!(delivery.delivered_at.is_some(), "read implies delivered");
}

#[tokio::test]
async fn a_receipt_for_too_many_ids_is_refused() {
    let mut world = world().await;
    let bob = world.user().await;

    let outcome = world
        .one(bob, receipt(ReceiptStatus::Read, (1..=1001).collect()))
        .await;

    assert_eq!(
        crate::harness::refusal(&outcome).map(|refusal| refusal.code()),
        Some("too_many_ids")
    );
}
