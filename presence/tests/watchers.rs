//! `watchers::of` answers, for every candidate at once, exactly what
//! `natter_accounts::privacy::may_see(owner, viewer, LastSeen)` answers one by one.

use natter_accounts::privacy::{Visible, may_see};
use natter_entities::{blocks, contacts, users};
use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, Set};

async fn database() -> anyhow::Result<DatabaseConnection> {
    let db = Database::connect("sqlite::memory:").await?;
    natter_entities::migrate(&db).await?;
    Ok(db)
}

async fn contact(db: &DatabaseConnection, owner: i64, contact: i64) -> anyhow::Result<()> {
    contacts::ActiveModel {
        owner_id: Set(owner),
        phone: Set(format!("+1555000{contact:04}")),
        contact_user_id: Set(Some(contact)),
        created_at: Set(0),
    }
    .insert(db)
    .await?;
    Ok(())
}

async fn block(db: &DatabaseConnection, blocker: i64, blocked: i64) -> anyhow::Result<()> {
    blocks::ActiveModel {
        blocker_id: Set(blocker),
        blocked_id: Set(blocked),
        created_at: Set(0),
    }
    .insert(db)
    .await?;
    Ok(())
}

#[tokio::test]
async fn watchers_are_exactly_the_contacts_may_see_allows() -> anyhow::Result<()> {
    let db = database().await?;
    let mut ids = Vec::new();
    for n in 0..8 {
        let user = natter_accounts::create_user(&db, &format!("+1555000{n:04}"), "u").await?;
        ids.push(user.user_id);
    }
    let owner = ids[0];
    let (mutual, one_way, blocked_by_owner, blocking_owner, stranger, owner_only, other_mutual) =
        (ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7]);
    for viewer in [mutual, blocked_by_owner, blocking_owner, other_mutual] {
        contact(&db, owner, viewer).await?;
        contact(&db, viewer, owner).await?;
    }
    contact(&db, one_way, owner).await?; // has the owner's number; the owner lacks theirs
    contact(&db, owner, owner_only).await?; // the owner has theirs; they lack the owner's
    block(&db, owner, blocked_by_owner).await?;
    block(&db, blocking_owner, owner).await?;
    let _ = stranger;

    for audience in ["everyone", "contacts", "nobody", "garbage"] {
        users::ActiveModel {
            id: Set(owner),
            last_seen_privacy: Set(audience.to_owned()),
            ..Default::default()
        }
        .update(&db)
        .await?;
        let watchers = natter_presence::watchers::of(&db, owner).await?;
        let mut expected = Vec::new();
        for viewer in ids.iter().copied().filter(|id| *id != owner) {
            let has_owner = natter_accounts::privacy::has_contact(&db, viewer, owner).await?;
            if has_owner && may_see(&db, owner, viewer, Visible::LastSeen).await? {
                expected.push(viewer);
            }
        }
        assert_eq!(watchers, expected, "audience {audience}");
    }
    // Sanity: with "contacts", only the mutual contacts who do not block watch.
    users::ActiveModel {
        id: Set(owner),
        last_seen_privacy: Set("contacts".to_owned()),
        ..Default::default()
    }
    .update(&db)
    .await?;
    assert_eq!(
        natter_presence::watchers::of(&db, owner).await?,
        vec![mutual, other_mutual]
    );
    Ok(())
}
