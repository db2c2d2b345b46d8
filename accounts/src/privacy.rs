//! Who may see what of a user: last seen and online status, the profile photo. One rule for
//! every reader (profiles over HTTP and MQTT, presence events and queries).
//!
//! - A user always sees their own.
//! - A block in either direction hides everything (WhatsApp's behaviour: blocking someone
//!   also stops you seeing theirs).
//! - Otherwise the owner's setting decides: `everyone`, `contacts` (people in the owner's
//!   own address book, `contacts.owner_id = owner`) or `nobody`.

use std::fmt;
use std::str::FromStr;

use natter_entities::{blocks, contacts, users};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::error::{Error, Result};

/// Who a privacy setting lets see something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Every user who is not blocked (`"everyone"`).
    Everyone,
    /// The owner's contacts (`"contacts"`, the default).
    Contacts,
    /// Nobody but the owner (`"nobody"`).
    Nobody,
}

impl Audience {
    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Everyone => "everyone",
            Audience::Contacts => "contacts",
            Audience::Nobody => "nobody",
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Audience {
    type Err = Error;

    fn from_str(input: &str) -> Result<Audience> {
        match input {
            "everyone" => Ok(Audience::Everyone),
            "contacts" => Ok(Audience::Contacts),
            "nobody" => Ok(Audience::Nobody),
            _ => Err(Error::InvalidAudience {
                input: input.to_owned(),
            }),
        }
    }
}

/// What is being looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Visible {
    /// Online status and last-seen time (`users.last_seen_privacy`).
    LastSeen,
    /// The profile photo (`users.photo_privacy`).
    ProfilePhoto,
}

/// Whether `viewer_id` may see `what` of `owner_id`. A deleted or unknown owner shows nothing.
///
/// # Errors
/// [`Error::CheckPrivacy`] when the database cannot be read. A stored setting that is not an
/// [`Audience`] counts as `nobody` (the safe reading).
pub async fn may_see<C: ConnectionTrait>(
    db: &C,
    owner_id: i64,
    viewer_id: i64,
    what: Visible,
) -> Result<bool> {
    if owner_id == viewer_id {
        return Ok(true);
    }
    let db_error = |source| Error::CheckPrivacy {
        owner_id,
        viewer_id,
        source,
    };
    let Some(owner) = users::Entity::find_by_id(owner_id)
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(false);
    };
    if owner.deleted_at.is_some() {
        return Ok(false);
    }
    let setting = match what {
        Visible::LastSeen => &owner.last_seen_privacy,
        Visible::ProfilePhoto => &owner.photo_privacy,
    };
    let audience = setting.parse().unwrap_or(Audience::Nobody);
    if audience == Audience::Nobody || is_blocked_between(db, owner_id, viewer_id).await? {
        return Ok(false);
    }
    match audience {
        Audience::Everyone => Ok(true),
        Audience::Contacts => has_contact(db, owner_id, viewer_id).await,
        Audience::Nobody => Ok(false),
    }
}

/// Whether either user blocks the other.
///
/// # Errors
/// [`Error::CheckPrivacy`] when the database cannot be read.
pub async fn is_blocked_between<C: ConnectionTrait>(db: &C, a: i64, b: i64) -> Result<bool> {
    let n_rows = blocks::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(blocks::Column::BlockerId.eq(a))
                        .add(blocks::Column::BlockedId.eq(b)),
                )
                .add(
                    Condition::all()
                        .add(blocks::Column::BlockerId.eq(b))
                        .add(blocks::Column::BlockedId.eq(a)),
                ),
        )
        .limit(1)
        .count(db)
        .await
        .map_err(|source| Error::CheckPrivacy {
            owner_id: a,
            viewer_id: b,
            source,
        })?;
    Ok(n_rows > 0)
}

/// Whether `owner_id`'s address book holds `contact_id` (a registered user).
///
/// # Errors
/// [`Error::CheckPrivacy`] when the database cannot be read.
pub async fn has_contact<C: ConnectionTrait>(
    db: &C,
    owner_id: i64,
    contact_id: i64,
) -> Result<bool> {
    let n_rows = contacts::Entity::find()
        .filter(contacts::Column::OwnerId.eq(owner_id))
        .filter(contacts::Column::ContactUserId.eq(contact_id))
        .limit(1)
        .count(db)
        .await
        .map_err(|source| Error::CheckPrivacy {
            owner_id,
            viewer_id: contact_id,
            source,
        })?;
    Ok(n_rows > 0)
}
