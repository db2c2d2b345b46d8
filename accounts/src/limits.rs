//! Daily counters against abuse: codes sent per phone number (guessing across many codes, SMS
//! pumping) and new numbers looked up per account (contact enumeration). Days are UTC; each
//! counter is one row per key and day, incremented with an upsert and read back, so that
//! concurrent requests see each other's counts.

use natter_config::AccountsSettings;
use natter_entities::{code_sends, contact_lookups};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::error::{Error, Result, db_error};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// Counts one code for `phone` today, refusing when that passes `accounts.code_daily_limit`.
///
/// # Errors
/// [`Error::TooManyCodes`], [`Error::Database`].
pub(crate) async fn count_code<C: ConnectionTrait>(
    db: &C,
    settings: &AccountsSettings,
    phone: &str,
    now: i64,
) -> Result<()> {
    let db_error = db_error("count one-time codes");
    let day = now.div_euclid(DAY_MS);
    code_sends::Entity::insert(code_sends::ActiveModel {
        phone: Set(phone.to_owned()),
        day: Set(day),
        n_sent: Set(1),
    })
    .on_conflict(
        OnConflict::columns([code_sends::Column::Phone, code_sends::Column::Day])
            .value(
                code_sends::Column::NSent,
                Expr::col((code_sends::Entity, code_sends::Column::NSent)).add(1),
            )
            .to_owned(),
    )
    .exec(db)
    .await
    .map_err(db_error)?;
    let counted = code_sends::Entity::find_by_id((phone.to_owned(), day))
        .one(db)
        .await
        .map_err(db_error)?
        .map_or(0, |row| row.n_sent);
    if counted > i64::from(settings.code_daily_limit) {
        return Err(Error::TooManyCodes {
            phone: phone.to_owned(),
            limit: settings.code_daily_limit,
            retry_after_secs: seconds_until((day + 1) * DAY_MS, now),
        });
    }
    Ok(())
}

/// Adds `n_new` to today's lookups of `owner_id`, refusing when that passes
/// `accounts.contacts_daily_limit`.
///
/// # Errors
/// [`Error::RateLimited`], [`Error::Database`].
pub(crate) async fn count_lookups<C: ConnectionTrait>(
    db: &C,
    settings: &AccountsSettings,
    owner_id: i64,
    n_new: usize,
    now: i64,
) -> Result<()> {
    let db_error = db_error("count contact lookups");
    let day = now.div_euclid(DAY_MS);
    let limit = i64::from(settings.contacts_daily_limit);
    let n_new = i64::try_from(n_new).unwrap_or(i64::MAX);
    let refused = || Error::RateLimited {
        limit: settings.contacts_daily_limit,
        retry_after_secs: seconds_until((day + 1) * DAY_MS, now),
    };
    if n_new > limit {
        return Err(refused());
    }
    contact_lookups::Entity::insert(contact_lookups::ActiveModel {
        owner_id: Set(owner_id),
        day: Set(day),
        n_numbers: Set(n_new),
    })
    .on_conflict(
        OnConflict::columns([
            contact_lookups::Column::OwnerId,
            contact_lookups::Column::Day,
        ])
        .value(
            contact_lookups::Column::NNumbers,
            Expr::col((contact_lookups::Entity, contact_lookups::Column::NNumbers)).add(n_new),
        )
        .to_owned(),
    )
    .exec(db)
    .await
    .map_err(db_error)?;
    // Read back after the write: with the row locked until commit, concurrent syncs of one
    // account see each other's counts.
    let counted = contact_lookups::Entity::find_by_id((owner_id, day))
        .one(db)
        .await
        .map_err(db_error)?
        .map_or(0, |row| row.n_numbers);
    if counted > limit {
        return Err(refused());
    }
    Ok(())
}

/// Whole seconds from `now` until `at` (unix milliseconds), rounded up, at least 1.
pub(crate) fn seconds_until(at: i64, now: i64) -> u64 {
    let millis = Ord::max(at.saturating_sub(now), 1);
    u64::try_from(millis).unwrap_or(1).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(seconds_until(10_000, 0), 10);
        assert_eq!(seconds_until(10_001, 0), 11);
        assert_eq!(seconds_until(0, 5), 1);
    }
}
