//! Scenarios for group membership.

use natter_accounts::is_member;
use natter_entities::{group_members, groups};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection};

pub(crate) async fn members_of_live_groups_are_members(db: DatabaseConnection) {
    let ada = natter_accounts::create_user(&db, "+15551230001", "Ada")
        .await
        .expect("creating ada");
    let bob = natter_accounts::create_user(&db, "+15551230002", "Bob")
        .await
        .expect("creating bob");
    let now = natter_accounts::now_ms();
    let group = groups::ActiveModel {
        name: Set("Climbing".to_owned()),
        created_by: Set(ada.user_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("inserting a group");
    group_members::ActiveModel {
        group_id: Set(group.id),
        user_id: Set(ada.user_id),
        joined_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("adding ada to the group");

    let check = |user_id, group_id| {
        let db = db.clone();
        async move {
            is_member(&db, user_id, group_id)
                .await
                .expect("checking membership")
        }
    };
    assert!(check(ada.user_id, group.id).await);
    assert!(!check(bob.user_id, group.id).await);
    assert!(!check(ada.user_id, 999_999).await);

    let mut deleted: groups::ActiveModel = group.clone().into();
    deleted.deleted_at = Set(Some(now));
    deleted.update(&db).await.expect("deleting the group");
    assert!(!check(ada.user_id, group.id).await);
}
