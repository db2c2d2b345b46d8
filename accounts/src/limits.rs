//! Counters against abuse: codes sent per phone number per day (guessing across many codes,
//! SMS pumping), code requests per client address and per block of numbers per hour (one
//! client asking for codes to many numbers), and new numbers looked up per account per day
//! (contact enumeration). Days are UTC; each counter is one database row per key and period,
//! incremented with an upsert and read back, so that concurrent requests (on any node) see
//! each other's counts.

use std::net::IpAddr;

use natter_config::AccountsSettings;
use natter_entities::{code_requests, code_sends, contact_lookups};
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

/// Milliseconds in an hour.
const HOUR_MS: i64 = 3_600_000;

/// Counts one code request from `source` (a client address, when known) for `phone` this
/// hour, per address and per block of numbers, refusing when either passes its hourly limit
/// (`accounts.code_hourly_limit_per_ip`, `accounts.code_hourly_limit_per_prefix`). A refused
/// request still counts: a client that keeps asking stays refused.
///
/// # Errors
/// [`Error::TooManyCodeRequests`], [`Error::Database`].
pub(crate) async fn count_code_request<C: ConnectionTrait>(
    db: &C,
    settings: &AccountsSettings,
    source: Option<IpAddr>,
    phone: &str,
    now: i64,
) -> Result<()> {
    let hour = now.div_euclid(HOUR_MS);
    let retry_after_secs = seconds_until((hour + 1) * HOUR_MS, now);
    if let Some(source) = source {
        let limit = settings.code_hourly_limit_per_ip;
        if count_this_hour(db, "ip", &address_key(source), hour).await? > i64::from(limit) {
            return Err(Error::TooManyCodeRequests {
                source_kind: "this address",
                limit,
                retry_after_secs,
            });
        }
    }
    let limit = settings.code_hourly_limit_per_prefix;
    let prefix = number_prefix(phone, settings.code_prefix_block_digits);
    if count_this_hour(db, "prefix", prefix, hour).await? > i64::from(limit) {
        return Err(Error::TooManyCodeRequests {
            source_kind: "these numbers",
            limit,
            retry_after_secs,
        });
    }
    Ok(())
}

/// Adds one to the (`scope`, `key`) counter of `hour` and returns the new count.
async fn count_this_hour<C: ConnectionTrait>(
    db: &C,
    scope: &str,
    key: &str,
    hour: i64,
) -> Result<i64> {
    let db_error = db_error("count code requests");
    code_requests::Entity::insert(code_requests::ActiveModel {
        scope: Set(scope.to_owned()),
        key: Set(key.to_owned()),
        hour: Set(hour),
        n_requests: Set(1),
    })
    .on_conflict(
        OnConflict::columns([
            code_requests::Column::Scope,
            code_requests::Column::Key,
            code_requests::Column::Hour,
        ])
        .value(
            code_requests::Column::NRequests,
            Expr::col((code_requests::Entity, code_requests::Column::NRequests)).add(1),
        )
        .to_owned(),
    )
    .exec(db)
    .await
    .map_err(db_error)?;
    let counted = code_requests::Entity::find_by_id((scope.to_owned(), key.to_owned(), hour))
        .one(db)
        .await
        .map_err(db_error)?
        .map_or(0, |row| row.n_requests);
    Ok(counted)
}

/// The counter key of a client address: an IPv4 address as is, an IPv6 address as its /64
/// (one subscriber usually holds a whole /64).
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    }
}

/// `phone` (E.164) without its last `block_digits` digits: the block of numbers it is in.
fn number_prefix(phone: &str, block_digits: u32) -> &str {
    let keep = phone
        .len()
        .saturating_sub(usize::try_from(block_digits).unwrap_or(usize::MAX));
    // E.164 is ASCII, so every byte index is a character boundary; `get` keeps that a check.
    phone.get(..keep.max(1)).unwrap_or(phone)
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

    #[test]
    fn addresses_and_numbers_are_grouped() {
        assert_eq!(
            address_key("203.0.113.7".parse().expect("ip")),
            "203.0.113.7"
        );
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6".parse().expect("ip")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("::ffff:203.0.113.7".parse().expect("ip")),
            "203.0.113.7"
        );
        assert_eq!(number_prefix("+15551230001", 3), "+15551230");
        assert_eq!(number_prefix("+15551230001", 0), "+15551230001");
        assert_eq!(number_prefix("+1555", 30), "+");
    }
}
