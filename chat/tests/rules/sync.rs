//! Sync pages: more than a page says `more`, and the next page goes on without a gap or a
//! repeat.

use std::collections::BTreeSet;

use natter_chat::{Address, Out, Request, SYNC_PAGE_MESSAGES};
use natter_proto::envelope::{Event, Target};

use crate::harness::{send, world};

/// The message ids of one sync page, its `upto` and its `more`.
fn page(outcome: &[Out]) -> (Vec<i64>, i64, bool) {
    let mut ids = Vec::new();
    let mut end = None;
    for out in outcome {
        match out {
            Out::Event(Address::CallerDevice, Event::Message { server_id, .. }) => {
                ids.push(*server_id);
            }
            Out::Event(Address::CallerDevice, Event::Synced { upto, more }) => {
                end = Some((*upto, *more));
            }
            other => panic!("a sync page holds messages and its end only, not {other:?}"),
        }
    }
    let (upto, more) = end.expect("a page ends with synced");
    (ids, upto, more)
}

#[tokio::test]
async fn an_inbox_of_more_than_a_page_is_synced_in_pages_without_gaps_or_repeats() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);
    let total = SYNC_PAGE_MESSAGES + 30;
    let mut sent = BTreeSet::new();
    for chunk in (0..total).collect::<Vec<_>>().chunks(64) {
        let requests = chunk
            .iter()
            .map(|n| (ann, send(&format!("m{n}"), Target::User(bob.user))))
            .collect();
        for outcome in world.batch(requests).await {
            sent.insert(crate::harness::sent(&outcome).expect("every send is sent"));
        }
    }

    let (first, upto, more) = page(&world.one(bob, Request::Sync { after: 0 }).await);
    let (second, last, more_again) = page(&world.one(bob, Request::Sync { after: upto }).await);

    assert_eq!(first.len(), SYNC_PAGE_MESSAGES);
    assert!(more, "a full page says more follow");
    assert_eq!(second.len(), 30);
    assert!(!more_again, "the last page says nothing follows");
    let received: Vec<i64> = first.iter().chain(&second).copied().collect();
    let unique: BTreeSet<i64> = received.iter().copied().collect();
    assert_eq!(unique.len(), received.len(), "no message twice");
    assert_eq!(unique, sent, "every message once");
    let (empty, same, none) = page(&world.one(bob, Request::Sync { after: last }).await);
    assert_eq!((empty.len(), same, none), (0, last, false));
}

#[tokio::test]
async fn an_inbox_of_exactly_a_page_says_nothing_more() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);
    for chunk in (0..SYNC_PAGE_MESSAGES).collect::<Vec<_>>().chunks(64) {
        let requests = chunk
            .iter()
            .map(|n| (ann, send(&format!("m{n}"), Target::User(bob.user))))
            .collect();
        world.batch(requests).await;
    }

    let (ids, _, more) = page(&world.one(bob, Request::Sync { after: 0 }).await);

    assert_eq!(ids.len(), SYNC_PAGE_MESSAGES);
    assert!(!more, "a full page with nothing after it says no more");
}
