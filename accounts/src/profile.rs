//! Profiles: the caller's own (name, about, photo, privacy settings) and what others see of
//! a user, filtered by [`crate::privacy::may_see`] on every read.
//!
//! Limits: a display name has at most [`DISPLAY_NAME_MAX_CHARS`] characters and an about
//! text at most [`ABOUT_MAX_CHARS`] (WhatsApp's), counted as Unicode scalar values; neither
//! may hold control characters (newlines included). The photo is a media id that the media
//! part stored for this user, an image; this module only checks that.

use natter_entities::{media, users};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Deserializer, Serialize};

use crate::auth::Identity;
use crate::error::{Error, Result, db_error};
use crate::privacy::{Audience, Visible, may_see};

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 25;
/// Longest about text, in characters.
pub const ABOUT_MAX_CHARS: usize = 139;

/// The caller's own profile, with everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnProfile {
    /// The account.
    pub user_id: i64,
    /// The registered number, E.164 (`None` for operators).
    pub phone: Option<String>,
    /// Name shown to others.
    pub display_name: String,
    /// Status line.
    pub about: String,
    /// Media id of the profile photo.
    pub avatar_media_id: Option<i64>,
    /// Who sees last seen and online: `everyone`, `contacts` or `nobody`.
    pub last_seen_privacy: String,
    /// Who sees the profile photo: `everyone`, `contacts` or `nobody`.
    pub photo_privacy: String,
    /// Registration time, unix milliseconds.
    pub created_at: i64,
}

/// What another user sees: photo and last seen only when the owner's settings allow it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicProfile {
    /// The account.
    pub user_id: i64,
    /// Name the owner chose.
    pub display_name: String,
    /// Status line.
    pub about: String,
    /// Media id of the profile photo; `None` when unset or not visible to the viewer.
    pub avatar_media_id: Option<i64>,
    /// Last seen, unix milliseconds; `None` when unknown or not visible to the viewer.
    pub last_seen_at: Option<i64>,
}

/// `PATCH /v1/profile`: absent fields stay as they are; `avatar_media_id: null` removes the
/// photo.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New about text (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// New photo (`Some(None)`: remove it).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub avatar_media_id: Option<Option<i64>>,
    /// `everyone`, `contacts` or `nobody`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_privacy: Option<String>,
    /// `everyone`, `contacts` or `nobody`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_privacy: Option<String>,
}

/// The caller's own profile.
///
/// # Errors
/// [`Error::UnknownUser`] when the account is gone, [`Error::Database`].
pub async fn get<C: ConnectionTrait>(db: &C, caller: &Identity) -> Result<OwnProfile> {
    let user = live_user(db, caller.user_id).await?;
    Ok(own(user))
}

/// Changes the caller's profile; validates every field before changing any.
///
/// # Errors
/// [`Error::InvalidDisplayName`], [`Error::InvalidAbout`], [`Error::InvalidAudience`],
/// [`Error::MediaNotFound`], [`Error::UnknownUser`], [`Error::Database`].
pub async fn update<C: ConnectionTrait>(
    db: &C,
    caller: &Identity,
    update: ProfileUpdate,
) -> Result<OwnProfile> {
    let db_error = db_error("update a profile");
    if let Some(name) = &update.display_name {
        check_text(name, DISPLAY_NAME_MAX_CHARS)
            .map_err(|reason| Error::InvalidDisplayName { reason })?;
    }
    if let Some(about) = &update.about {
        check_text(about, ABOUT_MAX_CHARS).map_err(|reason| Error::InvalidAbout { reason })?;
    }
    let last_seen: Option<Audience> = update
        .last_seen_privacy
        .as_deref()
        .map(str::parse)
        .transpose()?;
    let photo: Option<Audience> = update
        .photo_privacy
        .as_deref()
        .map(str::parse)
        .transpose()?;
    if let Some(Some(media_id)) = update.avatar_media_id {
        check_avatar(db, caller.user_id, media_id).await?;
    }
    live_user(db, caller.user_id).await?;
    let mut statement = users::Entity::update_many()
        .filter(users::Column::Id.eq(caller.user_id))
        .filter(users::Column::DeletedAt.is_null());
    let mut changed = false;
    if let Some(name) = update.display_name {
        statement = statement.col_expr(users::Column::DisplayName, Expr::value(name));
        changed = true;
    }
    if let Some(about) = update.about {
        statement = statement.col_expr(users::Column::About, Expr::value(about));
        changed = true;
    }
    if let Some(avatar) = update.avatar_media_id {
        statement = statement.col_expr(users::Column::AvatarMediaId, Expr::value(avatar));
        changed = true;
    }
    if let Some(audience) = last_seen {
        statement = statement.col_expr(
            users::Column::LastSeenPrivacy,
            Expr::value(audience.as_str()),
        );
        changed = true;
    }
    if let Some(audience) = photo {
        statement = statement.col_expr(users::Column::PhotoPrivacy, Expr::value(audience.as_str()));
        changed = true;
    }
    if changed {
        statement.exec(db).await.map_err(db_error)?;
    }
    get(db, caller).await
}

/// What `viewer_id` sees of user `user_id`.
///
/// # Errors
/// [`Error::UnknownUser`] when there is no such live user, [`Error::CheckPrivacy`],
/// [`Error::Database`].
pub async fn public<C: ConnectionTrait>(
    db: &C,
    viewer_id: i64,
    user_id: i64,
) -> Result<PublicProfile> {
    let user = live_user(db, user_id).await?;
    public_of(db, viewer_id, user).await
}

/// What `viewer_id` sees of the already loaded `user`.
pub(crate) async fn public_of<C: ConnectionTrait>(
    db: &C,
    viewer_id: i64,
    user: users::Model,
) -> Result<PublicProfile> {
    let sees_photo = may_see(db, user.id, viewer_id, Visible::ProfilePhoto).await?;
    let sees_last_seen = may_see(db, user.id, viewer_id, Visible::LastSeen).await?;
    Ok(PublicProfile {
        user_id: user.id,
        display_name: user.display_name,
        about: user.about,
        avatar_media_id: user.avatar_media_id.filter(|_| sees_photo),
        last_seen_at: user.last_seen_at.filter(|_| sees_last_seen),
    })
}

/// The live user `user_id`.
pub(crate) async fn live_user<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<users::Model> {
    users::Entity::find_by_id(user_id)
        .filter(users::Column::DeletedAt.is_null())
        .one(db)
        .await
        .map_err(db_error("read a profile"))?
        .ok_or(Error::UnknownUser { user_id })
}

fn own(user: users::Model) -> OwnProfile {
    OwnProfile {
        user_id: user.id,
        phone: user.phone,
        display_name: user.display_name,
        about: user.about,
        avatar_media_id: user.avatar_media_id,
        last_seen_privacy: user.last_seen_privacy,
        photo_privacy: user.photo_privacy,
        created_at: user.created_at,
    }
}

/// Checks a profile text: at most `max_chars` characters, no control characters.
fn check_text(text: &str, max_chars: usize) -> Result<(), String> {
    if text.chars().count() > max_chars {
        return Err(format!("at most {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks included)".to_owned());
    }
    Ok(())
}

/// Checks that `media_id` is a live image that `user_id` uploaded.
async fn check_avatar<C: ConnectionTrait>(db: &C, user_id: i64, media_id: i64) -> Result<()> {
    let found = media::Entity::find_by_id(media_id)
        .filter(media::Column::OwnerUserId.eq(user_id))
        .filter(media::Column::DeletedAt.is_null())
        .one(db)
        .await
        .map_err(db_error("check a profile photo"))?;
    match found {
        Some(item) if item.mime.starts_with("image/") => Ok(()),
        _ => Err(Error::MediaNotFound { media_id }),
    }
}

/// Deserializes a field that is present (possibly `null`) as `Some(value)`; with
/// `#[serde(default)]` an absent field stays `None`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_counted_in_characters() {
        assert!(check_text(&"é".repeat(25), DISPLAY_NAME_MAX_CHARS).is_ok());
        assert!(check_text(&"é".repeat(26), DISPLAY_NAME_MAX_CHARS).is_err());
        assert!(check_text("", DISPLAY_NAME_MAX_CHARS).is_ok());
        assert!(check_text("a\u{7}b", ABOUT_MAX_CHARS).is_err());
        assert!(check_text("two\nlines", ABOUT_MAX_CHARS).is_err());
    }

    #[test]
    fn a_null_photo_differs_from_an_absent_one() -> Result<(), serde_json::Error> {
        let absent: ProfileUpdate = serde_json::from_str("{}")?;
        let removed: ProfileUpdate = serde_json::from_str(r#"{"avatar_media_id": null}"#)?;
        let set: ProfileUpdate = serde_json::from_str(r#"{"avatar_media_id": 7}"#)?;
        assert_eq!(absent.avatar_media_id, None);
        assert_eq!(removed.avatar_media_id, Some(None));
        assert_eq!(set.avatar_media_id, Some(Some(7)));
        Ok(())
    }
}
