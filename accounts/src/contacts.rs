//! Contact discovery: a device uploads address-book numbers (normalised here to E.164) and
//! learns which belong to natter users, with their public profiles. The stored rows
//! (`contacts`) are the contact graph that `contacts` privacy and presence use.
//!
//! Syncs are incremental (`add`, `remove`). Against enumeration, each account may look up at
//! most `accounts.contacts_daily_limit` numbers *new to its address book* per UTC day
//! (counted in `contact_lookups`; a number removed and added again counts again), and one
//! request may name at most [`MAX_NUMBERS_PER_SYNC`] numbers. Re-syncing numbers already
//! stored is free. `contact_user_id` is kept right by registration (a number that registers
//! later is linked) and account deletion (unlinked).

use std::collections::{BTreeMap, BTreeSet};

use natter_config::AccountsSettings;
use natter_entities::{contacts, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::clock::now_ms;
use crate::error::{Error, Result, db_error};
use crate::limits::count_lookups;
use crate::phone;
use crate::profile::{PublicProfile, public_of};

/// Most numbers (`add` and `remove` together) one sync may name.
pub const MAX_NUMBERS_PER_SYNC: usize = 5000;

/// Numbers per `IN (...)` list, well below SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 500;

/// `POST /v1/contacts/sync`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Numbers to add to the address book, as typed (international format).
    #[serde(default)]
    pub add: Vec<String>,
    /// Numbers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A number of the request that is a natter user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactMatch {
    /// The number, E.164.
    pub phone: String,
    /// What the user sees of its owner.
    pub user: PublicProfile,
}

/// A number that could not be read as an international number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidNumber {
    /// The number as given.
    pub input: String,
    /// Why it was refused.
    pub message: String,
}

/// The answer to a sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The added numbers that belong to natter users.
    pub matches: Vec<ContactMatch>,
    /// Numbers that were skipped because they are not valid.
    pub invalid: Vec<InvalidNumber>,
    /// How many numbers were new to the address book.
    pub added: usize,
    /// How many numbers were removed from it.
    pub removed: usize,
}

/// One stored contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The number, E.164.
    pub phone: String,
    /// The natter user with that number, if any.
    pub user: Option<PublicProfile>,
}

/// The caller's address book.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactList {
    /// Every stored number, sorted.
    pub contacts: Vec<Contact>,
}

/// Applies `request` to the caller's address book and reports which added numbers are users.
///
/// # Errors
/// [`Error::TooManyContacts`], [`Error::RateLimited`] (nothing is changed then),
/// [`Error::CheckPrivacy`], [`Error::Database`].
pub async fn sync(
    db: &DatabaseConnection,
    settings: &AccountsSettings,
    caller: &Identity,
    request: SyncRequest,
) -> Result<SyncResponse> {
    let db_error = db_error("sync contacts");
    if request.add.len() + request.remove.len() > MAX_NUMBERS_PER_SYNC {
        return Err(Error::TooManyContacts {
            max: MAX_NUMBERS_PER_SYNC,
        });
    }
    let mut invalid = Vec::new();
    let to_add = normalize_all(&request.add, &mut invalid);
    let to_remove: BTreeSet<String> = normalize_all(&request.remove, &mut invalid)
        .into_iter()
        .filter(|number| !to_add.contains(number))
        .collect();
    let now = now_ms();
    let tx = db.begin().await.map_err(db_error)?;

    let mut removed = 0;
    for chunk in chunks(&to_remove) {
        let result = contacts::Entity::delete_many()
            .filter(contacts::Column::OwnerId.eq(caller.user_id))
            .filter(contacts::Column::Phone.is_in(chunk))
            .exec(&tx)
            .await
            .map_err(db_error)?;
        removed += usize::try_from(result.rows_affected).unwrap_or(usize::MAX);
    }

    let mut known = BTreeSet::new();
    let mut users_by_phone = BTreeMap::new();
    for chunk in chunks(&to_add) {
        let stored = contacts::Entity::find()
            .filter(contacts::Column::OwnerId.eq(caller.user_id))
            .filter(contacts::Column::Phone.is_in(chunk.clone()))
            .all(&tx)
            .await
            .map_err(db_error)?;
        known.extend(stored.into_iter().map(|contact| contact.phone));
        let found = users::Entity::find()
            .filter(users::Column::Phone.is_in(chunk))
            .filter(users::Column::DeletedAt.is_null())
            .all(&tx)
            .await
            .map_err(db_error)?;
        for user in found {
            if let Some(phone) = user.phone.clone() {
                users_by_phone.insert(phone, user);
            }
        }
    }
    let new_numbers: Vec<&String> = to_add.iter().filter(|n| !known.contains(*n)).collect();
    if !new_numbers.is_empty() {
        count_lookups(&tx, settings, caller.user_id, new_numbers.len(), now).await?;
        let rows = new_numbers.iter().map(|phone| contacts::ActiveModel {
            owner_id: Set(caller.user_id),
            phone: Set((*phone).clone()),
            contact_user_id: Set(users_by_phone.get(*phone).map(|user| user.id)),
            created_at: Set(now),
        });
        let rows: Vec<_> = rows.collect();
        for chunk in rows.chunks(CHUNK) {
            contacts::Entity::insert_many(chunk.to_vec())
                .on_conflict_do_nothing_on([contacts::Column::OwnerId, contacts::Column::Phone])
                .exec(&tx)
                .await
                .map_err(db_error)?;
        }
    }
    // Numbers stored before their owner registered get linked on the way.
    for (phone, user) in &users_by_phone {
        contacts::Entity::update_many()
            .col_expr(contacts::Column::ContactUserId, Expr::value(user.id))
            .filter(contacts::Column::OwnerId.eq(caller.user_id))
            .filter(contacts::Column::Phone.eq(phone))
            .filter(contacts::Column::ContactUserId.is_null())
            .exec(&tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;

    let mut matches = Vec::with_capacity(users_by_phone.len());
    for (phone, user) in users_by_phone {
        matches.push(ContactMatch {
            phone,
            user: public_of(db, caller.user_id, user).await?,
        });
    }
    Ok(SyncResponse {
        matches,
        invalid,
        added: new_numbers.len(),
        removed,
    })
}

/// The caller's stored address book, with the users behind the numbers.
///
/// # Errors
/// [`Error::CheckPrivacy`], [`Error::Database`].
pub async fn list<C: ConnectionTrait>(db: &C, caller: &Identity) -> Result<ContactList> {
    let rows = contacts::Entity::find()
        .filter(contacts::Column::OwnerId.eq(caller.user_id))
        .order_by_asc(contacts::Column::Phone)
        .find_also_related_via_contact_user()
        .all(db)
        .await
        .map_err(db_error("list contacts"))?;
    let mut contacts = Vec::with_capacity(rows.len());
    for (contact, user) in rows {
        let user = match user.filter(|user| user.deleted_at.is_none()) {
            Some(user) => Some(public_of(db, caller.user_id, user).await?),
            None => None,
        };
        contacts.push(Contact {
            phone: contact.phone,
            user,
        });
    }
    Ok(ContactList { contacts })
}

/// Normalises each number, collecting the invalid ones; duplicates collapse.
fn normalize_all(inputs: &[String], invalid: &mut Vec<InvalidNumber>) -> BTreeSet<String> {
    let mut numbers = BTreeSet::new();
    for input in inputs {
        match phone::normalize(input) {
            Ok(number) => {
                numbers.insert(number);
            }
            Err(err) => invalid.push(InvalidNumber {
                input: input.clone(),
                message: err.to_string(),
            }),
        }
    }
    numbers
}

fn chunks(numbers: &BTreeSet<String>) -> Vec<Vec<String>> {
    let all: Vec<String> = numbers.iter().cloned().collect();
    all.chunks(CHUNK).map(<[String]>::to_vec).collect()
}

/// `find_also_related` through the `ContactUser` relation (contacts has two relations to
/// users, so there is no `Related` impl to pick one).
trait ContactUserJoin {
    fn find_also_related_via_contact_user(
        self,
    ) -> sea_orm::SelectTwo<contacts::Entity, users::Entity>;
}

impl ContactUserJoin for sea_orm::Select<contacts::Entity> {
    fn find_also_related_via_contact_user(
        self,
    ) -> sea_orm::SelectTwo<contacts::Entity, users::Entity> {
        use sea_orm::{QuerySelect, RelationTrait};
        self.join(
            sea_orm::JoinType::LeftJoin,
            contacts::Relation::ContactUser.def(),
        )
        .select_also(users::Entity)
    }
}
