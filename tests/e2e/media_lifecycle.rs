//! Media lifecycle: the collector removes uploads no message refers to once the grace period
//! has passed, media whose every message is gone, and abandoned resumable uploads (rows and
//! objects); profile photos follow the owner's privacy setting.

use std::time::Duration;

use natter_entities::{media, media_uploads, messages, users};
use natter_tests::{TestApp, scenario, spawn_app};
use natter_workers::media_gc::MediaGc;
use natter_workers::{Outcome, WorkersContext};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::media::{answer, as_device, describe, id_of, jpeg, phone, send_media, upload};

/// A workers context whose media collector has no grace period. Stray upload objects are
/// left alone for an hour: the S3 bucket is shared with tests running at the same time.
async fn collector(app: &TestApp) -> anyhow::Result<WorkersContext> {
    collector_with(app, Duration::from_secs(3600)).await
}

async fn collector_with(app: &TestApp, stray_age: Duration) -> anyhow::Result<WorkersContext> {
    let mut ctx = WorkersContext::new(app.db().await?, &app.settings.workers);
    let store = natter_api::storage::build(&app.settings.storage, &app.settings.data_dir)?;
    ctx.media = Some(MediaGc {
        store,
        grace: Duration::ZERO,
        stray_age,
    });
    Ok(ctx)
}

/// Runs the collector until it is idle; returns how many items it removed.
async fn collect(ctx: &WorkersContext) -> anyhow::Result<u64> {
    let mut total = 0;
    // Far enough ahead that everything uploaded so far is older than the grace period.
    let now = natter_workers::now_ms() + 1000;
    while let Outcome::Worked(n) = natter_workers::media_gc::run_once(ctx, now).await? {
        total += n;
    }
    Ok(total)
}

/// Whether the object `key` exists in the app's store.
async fn stored(app: &TestApp, key: &str) -> anyhow::Result<bool> {
    let store = natter_api::storage::build(&app.settings.storage, &app.settings.data_dir)?;
    match store.head(&ObjectPath::from(key)).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

scenario!(unreferenced_and_orphaned_media_are_collected, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let db = app.db().await?;
    let ada = app.create_user("+15551260001").await?;
    let bob = app.create_user("+15551260002").await?;
    let (_, unsent) = upload(&app, &ada, "kind=image", jpeg(64, 64)?).await?;
    let (_, sent) = upload(&app, &ada, "kind=image", jpeg(65, 64)?).await?;
    let (unsent_id, sent_id) = (id_of(&unsent)?, id_of(&sent)?);
    let mut ada_phone = phone(&app, &ada).await?;
    let answer_to_send = send_media(&mut ada_phone, &ada, bob.user_id, "m1", sent_id).await?;
    assert_eq!(answer_to_send["type"], "sent", "{answer_to_send}");
    let unsent_row = media::Entity::find_by_id(unsent_id).one(&db).await?;
    let unsent_row = unsent_row.ok_or_else(|| anyhow::anyhow!("no row"))?;
    assert!(stored(&app, &unsent_row.storage_key).await?);

    // A resumable upload abandoned after one chunk, already past its expiry.
    let response = as_device(&app, reqwest::Method::POST, "/v1/media/uploads", &ada)
        .json(&json!({"size": 1000, "kind": "file"}))
        .send()
        .await?;
    let (_, started) = answer(response).await?;
    let upload_id = started["upload_id"].as_str().unwrap_or_default().to_owned();
    let response = as_device(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/media/uploads/{upload_id}"),
        &ada,
    )
    .header("upload-offset", "0")
    .body(vec![7u8; 500])
    .send()
    .await?;
    assert_eq!(response.status(), StatusCode::OK);
    media_uploads::Entity::update_many()
        .col_expr(media_uploads::Column::ExpiresAt, Expr::value(0i64))
        .filter(media_uploads::Column::Id.eq(upload_id.as_str()))
        .exec(&db)
        .await?;

    let ctx = collector(&app).await?;
    assert_eq!(
        collect(&ctx).await?,
        2,
        "the unsent photo and the abandoned upload"
    );
    assert!(
        media::Entity::find_by_id(unsent_id)
            .one(&db)
            .await?
            .is_none()
    );
    assert!(
        !stored(&app, &unsent_row.storage_key).await?,
        "object left behind"
    );
    assert!(
        media_uploads::Entity::find_by_id(upload_id)
            .one(&db)
            .await?
            .is_none()
    );
    let (status, _) = describe(&app, &bob, sent_id).await?;
    assert_eq!(status, StatusCode::OK, "the sent photo must stay");

    // The only message carrying it is deleted: the photo goes too.
    messages::Entity::update_many()
        .col_expr(
            messages::Column::DeletedAt,
            Expr::value(natter_workers::now_ms()),
        )
        .filter(messages::Column::MediaId.eq(sent_id))
        .exec(&db)
        .await?;
    assert_eq!(collect(&ctx).await?, 1);
    let (status, _) = describe(&app, &ada, sent_id).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An object under uploads/ with no upload row (a presigned PUT replayed after completion)
    // goes once it is old enough. Only where the store is this app's own directory.
    if services.s3.is_none() {
        let store = natter_api::storage::build(&app.settings.storage, &app.settings.data_dir)?;
        let stray = ObjectPath::from("uploads/0123456789abcdef/direct");
        store.put(&stray, b"late".to_vec().into()).await?;
        assert_eq!(collect(&ctx).await?, 0, "too young to go");
        assert_eq!(
            collect(&collector_with(&app, Duration::ZERO).await?).await?,
            1
        );
        assert!(!stored(&app, "uploads/0123456789abcdef/direct").await?);
    }
    db.close().await?;
    app.stop().await
});

scenario!(a_profile_photo_follows_the_privacy_setting, |services| {
    let app = spawn_app(&services).await?;
    app.wait_healthy().await?;
    let db = app.db().await?;
    let ada = app.create_user("+15551260011").await?;
    let eve = app.create_user("+15551260012").await?;
    let (_, avatar) = upload(&app, &ada, "kind=image", jpeg(128, 128)?).await?;
    let avatar_id = id_of(&avatar)?;
    let set_photo = |privacy: &'static str| {
        users::Entity::update_many()
            .col_expr(users::Column::AvatarMediaId, Expr::value(avatar_id))
            .col_expr(users::Column::PhotoPrivacy, Expr::value(privacy))
            .filter(users::Column::Id.eq(ada.user_id))
            .exec(&db)
    };
    set_photo("everyone").await?;
    let (status, _) = describe(&app, &eve, avatar_id).await?;
    assert_eq!(status, StatusCode::OK);
    set_photo("nobody").await?;
    let (status, _) = describe(&app, &eve, avatar_id).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A profile photo is never collected while it is one.
    let ctx = collector(&app).await?;
    assert_eq!(collect(&ctx).await?, 0);
    db.close().await?;
    app.stop().await
});
