//! Group rules: only admins add and remove, a removed member cannot send, and the last admin
//! leaving hands the group to the longest-standing member (the last member leaving ends it).

use natter_chat::{Caller, Out, Refusal, Request};
use natter_proto::Call;
use natter_proto::call::{GroupCreate, GroupRef, GroupUser, GroupUsers};
use natter_proto::envelope::Target;
use natter_proto::topics::ControlTopic;

use crate::harness::{World, refusal, result, send, sent, world};

fn call(call: Call) -> Request {
    Request::Call {
        rid: "r1".to_owned(),
        call,
    }
}

/// A group created by `admin` with `members`; its id.
async fn group(world: &mut World, admin: Caller, members: &[Caller]) -> i64 {
    let create = Call::GroupCreate(GroupCreate {
        name: "friends".to_owned(),
        description: String::new(),
        avatar: None,
        members: members.iter().map(|member| member.user).collect(),
    });
    let outcome = world.one(admin, call(create)).await;
    result(&outcome)
        .and_then(|result| result["group"].as_i64())
        .expect("the group is created")
}

/// `user`'s role in `group`, as `group.info` shows it to `viewer`.
async fn role(world: &mut World, viewer: Caller, group: i64, user: i64) -> Option<String> {
    let outcome = world
        .one(viewer, call(Call::GroupInfo(GroupRef { group })))
        .await;
    let members = result(&outcome)?["members"].as_array()?.clone();
    members
        .iter()
        .find(|member| member["user"].as_i64() == Some(user))
        .and_then(|member| member["role"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn only_admins_add_and_remove_members() {
    let mut world = world().await;
    let (ann, bob, carl, dana) = (
        world.user().await,
        world.user().await,
        world.user().await,
        world.user().await,
    );
    let group = group(&mut world, ann, &[bob, carl]).await;

    let add = Call::GroupAdd(GroupUsers {
        group,
        users: vec![dana.user],
    });
    let remove = Call::GroupRemove(GroupUsers {
        group,
        users: vec![carl.user],
    });
    let by_member_add = world.one(bob, call(add.clone())).await;
    let by_member_remove = world.one(bob, call(remove.clone())).await;
    let by_admin_add = world.one(ann, call(add)).await;
    let by_admin_remove = world.one(ann, call(remove)).await;

    assert_eq!(refusal(&by_member_add), Some(&Refusal::NotAnAdmin));
    assert_eq!(refusal(&by_member_remove), Some(&Refusal::NotAnAdmin));
    assert!(result(&by_admin_add).is_some(), "{by_admin_add:?}");
    assert!(
        by_admin_remove.contains(&Out::Control(ControlTopic::MemberRemoved {
            group_id: group,
            user_id: carl.user
        })),
        "every edge is told to cut carl off: {by_admin_remove:?}"
    );
    assert_eq!(
        role(&mut world, ann, group, dana.user).await.as_deref(),
        Some("member")
    );
    assert_eq!(role(&mut world, ann, group, carl.user).await, None);
}

#[tokio::test]
async fn a_removed_member_cannot_send_to_the_group() {
    let mut world = world().await;
    let (ann, bob) = (world.user().await, world.user().await);
    let group = group(&mut world, ann, &[bob]).await;
    let before = world.one(bob, send("m1", Target::Group(group))).await;

    let remove = Call::GroupRemove(GroupUsers {
        group,
        users: vec![bob.user],
    });
    world.one(ann, call(remove)).await;
    let after = world.one(bob, send("m2", Target::Group(group))).await;

    assert!(sent(&before).is_some(), "a member sends: {before:?}");
    assert_eq!(refusal(&after), Some(&Refusal::NotAMember));
}

#[tokio::test]
async fn the_last_admin_leaving_promotes_the_longest_standing_member() {
    let mut world = world().await;
    let (ann, bob, carl) = (world.user().await, world.user().await, world.user().await);
    let group = group(&mut world, ann, &[bob, carl]).await;

    let demote_last = Call::GroupDemote(GroupUser {
        group,
        user: ann.user,
    });
    let refused = world.one(ann, call(demote_last)).await;
    let left = world
        .one(ann, call(Call::GroupLeave(GroupRef { group })))
        .await;

    assert_eq!(refusal(&refused), Some(&Refusal::LastAdmin));
    assert!(result(&left).is_some(), "{left:?}");
    // Bob and Carl joined together; the lower user id (Bob, created first) inherits.
    assert_eq!(
        role(&mut world, bob, group, bob.user).await.as_deref(),
        Some("admin")
    );
    assert_eq!(
        role(&mut world, bob, group, carl.user).await.as_deref(),
        Some("member")
    );
    let gone = world.one(ann, send("m1", Target::Group(group))).await;
    assert_eq!(refusal(&gone), Some(&Refusal::NotAMember));
}

#[tokio::test]
async fn the_last_member_leaving_ends_the_group() {
    let mut world = world().await;
    let ann = world.user().await;
    let group = group(&mut world, ann, &[]).await;

    world
        .one(ann, call(Call::GroupLeave(GroupRef { group })))
        .await;
    let rejoin = world
        .one(ann, call(Call::GroupInfo(GroupRef { group })))
        .await;

    assert_eq!(refusal(&rejoin), Some(&Refusal::UnknownGroup(group)));
}
