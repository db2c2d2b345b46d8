//! Group management: create, update, add and remove members, admins, leave, invite links.
//! Every change appends a system event to the group's conversation (kind `system`, body a
//! JSON object), delivered to the members (and to whoever was removed or left) like any
//! message. A removal also tells every edge, so the removed member stops receiving at once.

use natter_entities::{blocks, group_members, groups, users};
use natter_proto::call::{GroupCreate, GroupJoin, GroupRef, GroupUpdate, GroupUser, GroupUsers};
use natter_proto::topics::ControlTopic;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde_json::{Value, json};

use crate::calls::{Answer, Ctx, Failure};
use crate::refusal::Refusal;
use crate::request::Out;
use crate::store;

/// The role of a group admin.
pub(crate) const ADMIN: &str = "admin";
/// The role of an ordinary member.
pub(crate) const MEMBER: &str = "member";
/// Longest group name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// Longest group description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 2048;
/// Most users one add or remove may name.
const MAX_USERS_PER_CALL: usize = 256;

pub(crate) async fn create(ctx: &Ctx<'_>, params: GroupCreate) -> Result<Answer, Failure> {
    let name = checked_text(&params.name, "name", MAX_NAME_CHARS, false)?;
    let description = checked_text(
        &params.description,
        "description",
        MAX_DESCRIPTION_CHARS,
        true,
    )?;
    let me = ctx.caller.user;
    let mut members: Vec<i64> = params.members.into_iter().filter(|m| *m != me).collect();
    members.sort_unstable();
    members.dedup();
    let limit = ctx.settings.group_member_limit;
    if members.len() + 1 > limit as usize {
        return Err(over_limit(limit));
    }
    let txn = ctx.db.begin().await?;
    let (addable, skipped) = addable(&txn, me, &members).await?;
    let now = ctx.caller.now;
    let group = groups::ActiveModel {
        name: Set(name.clone()),
        description: Set(description),
        avatar_media_id: Set(params.avatar),
        created_by: Set(me),
        member_limit: Set(i32::try_from(limit).unwrap_or(i32::MAX)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    insert_member(&txn, group.id, me, ADMIN, now).await?;
    for &user in &addable {
        insert_member(&txn, group.id, user, MEMBER, now).await?;
    }
    let event = json!({"event": "created", "by": me, "name": name, "users": addable});
    let outs = system_event(ctx, &txn, group.id, event, &[]).await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"group": group.id, "added": addable, "skipped": skipped}),
        outs,
    })
}

pub(crate) async fn info(ctx: &Ctx<'_>, params: GroupRef) -> Result<Answer, Failure> {
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    let members = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group.id))
        .order_by_asc(group_members::Column::JoinedAt)
        .order_by_asc(group_members::Column::UserId)
        .all(&txn)
        .await?;
    let me = members.iter().find(|m| m.user_id == ctx.caller.user);
    let Some(me) = me else {
        return Err(not_a_member());
    };
    let is_admin = me.role == ADMIN;
    txn.commit().await?;
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({"user": m.user_id, "role": m.role, "joined_at": m.joined_at}))
        .collect();
    let mut result = json!({
        "group": group.id,
        "name": group.name,
        "description": group.description,
        "avatar": group.avatar_media_id,
        "created_by": group.created_by,
        "created_at": group.created_at,
        "member_limit": group.member_limit,
        "members": members,
    });
    if is_admin && let Some(object) = result.as_object_mut() {
        object.insert("invite_token".into(), json!(group.invite_token));
    }
    Ok(Answer::only(result))
}

pub(crate) async fn update(ctx: &Ctx<'_>, params: GroupUpdate) -> Result<Answer, Failure> {
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    let mut change = serde_json::Map::new();
    let mut update: groups::ActiveModel = group.clone().into();
    if let Some(name) = &params.name {
        let name = checked_text(name, "name", MAX_NAME_CHARS, false)?;
        change.insert("name".into(), json!(name));
        update.name = Set(name);
    }
    if let Some(description) = &params.description {
        let description = checked_text(description, "description", MAX_DESCRIPTION_CHARS, true)?;
        change.insert("description".into(), json!(description));
        update.description = Set(description);
    }
    if let Some(avatar) = params.avatar {
        change.insert("avatar".into(), json!(avatar));
        update.avatar_media_id = Set(Some(avatar));
    }
    if change.is_empty() {
        return Err(bad_params(
            "nothing to change: give name, description or avatar",
        ));
    }
    update.update(&txn).await?;
    change.insert("event".into(), json!("updated"));
    change.insert("by".into(), json!(ctx.caller.user));
    let outs = system_event(ctx, &txn, group.id, Value::Object(change), &[]).await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"group": group.id}),
        outs,
    })
}

pub(crate) async fn add(ctx: &Ctx<'_>, params: GroupUsers) -> Result<Answer, Failure> {
    check_user_count(&params.users)?;
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    let mut wanted = Vec::new();
    for &user in &params.users {
        if group_members::Entity::find_by_id((group.id, user))
            .one(&txn)
            .await?
            .is_none()
            && !wanted.contains(&user)
        {
            wanted.push(user);
        }
    }
    let (addable, skipped) = addable(&txn, ctx.caller.user, &wanted).await?;
    let count = member_count(&txn, group.id).await?;
    let limit = u64::try_from(group.member_limit).unwrap_or(0);
    if count + addable.len() as u64 > limit {
        return Err(over_limit(u32::try_from(limit).unwrap_or(u32::MAX)));
    }
    for &user in &addable {
        insert_member(&txn, group.id, user, MEMBER, ctx.caller.now).await?;
    }
    let mut outs = Vec::new();
    if !addable.is_empty() {
        let event = json!({"event": "added", "by": ctx.caller.user, "users": addable});
        outs = system_event(ctx, &txn, group.id, event, &[]).await?;
    }
    txn.commit().await?;
    Ok(Answer {
        result: json!({"group": group.id, "added": addable, "skipped": skipped}),
        outs,
    })
}

pub(crate) async fn remove(ctx: &Ctx<'_>, params: GroupUsers) -> Result<Answer, Failure> {
    check_user_count(&params.users)?;
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    let mut removed = Vec::new();
    for &user in &params.users {
        if user == ctx.caller.user {
            return Err(bad_params("use group.leave to leave a group"));
        }
        if let Some(member) = group_members::Entity::find_by_id((group.id, user))
            .one(&txn)
            .await?
        {
            member.delete(&txn).await?;
            removed.push(user);
        }
    }
    let mut outs = Vec::new();
    if !removed.is_empty() {
        let event = json!({"event": "removed", "by": ctx.caller.user, "users": removed});
        outs = system_event(ctx, &txn, group.id, event, &removed).await?;
    }
    txn.commit().await?;
    outs.extend(removed.iter().map(|&user_id| {
        Out::Control(ControlTopic::MemberRemoved {
            group_id: group.id,
            user_id,
        })
    }));
    Ok(Answer {
        result: json!({"group": group.id, "removed": removed}),
        outs,
    })
}

pub(crate) async fn set_role(
    ctx: &Ctx<'_>,
    params: GroupUser,
    role: &'static str,
) -> Result<Answer, Failure> {
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    let Some(member) = group_members::Entity::find_by_id((group.id, params.user))
        .one(&txn)
        .await?
    else {
        return Err(Refusal::NotInGroup(params.user).into());
    };
    if member.role == role {
        return Ok(Answer::only(
            json!({"group": group.id, "user": params.user, "role": role}),
        ));
    }
    if role == MEMBER && admin_count(&txn, group.id).await? <= 1 {
        return Err(Refusal::LastAdmin.into());
    }
    let mut update: group_members::ActiveModel = member.into();
    update.role = Set(role.to_owned());
    update.update(&txn).await?;
    let name = if role == ADMIN { "promoted" } else { "demoted" };
    let event = json!({"event": name, "by": ctx.caller.user, "users": [params.user]});
    let outs = system_event(ctx, &txn, group.id, event, &[]).await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"group": group.id, "user": params.user, "role": role}),
        outs,
    })
}

pub(crate) async fn leave(ctx: &Ctx<'_>, params: GroupRef) -> Result<Answer, Failure> {
    let me = ctx.caller.user;
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    let Some(member) = group_members::Entity::find_by_id((group.id, me))
        .one(&txn)
        .await?
    else {
        return Err(not_a_member());
    };
    let was_admin = member.role == ADMIN;
    member.delete(&txn).await?;
    let mut outs = system_event(
        ctx,
        &txn,
        group.id,
        json!({"event": "left", "by": me}),
        &[me],
    )
    .await?;
    // The last admin leaving hands the group to the longest-standing member.
    if was_admin && admin_count(&txn, group.id).await? == 0 {
        let heir = group_members::Entity::find()
            .filter(group_members::Column::GroupId.eq(group.id))
            .order_by_asc(group_members::Column::JoinedAt)
            .order_by_asc(group_members::Column::UserId)
            .one(&txn)
            .await?;
        match heir {
            Some(heir) => {
                let user = heir.user_id;
                let mut update: group_members::ActiveModel = heir.into();
                update.role = Set(ADMIN.to_owned());
                update.update(&txn).await?;
                let event = json!({"event": "promoted", "by": me, "users": [user]});
                outs.extend(system_event(ctx, &txn, group.id, event, &[]).await?);
            }
            None => {
                let mut update: groups::ActiveModel = group.clone().into();
                update.deleted_at = Set(Some(ctx.caller.now));
                update.invite_token = Set(None);
                update.update(&txn).await?;
            }
        }
    }
    txn.commit().await?;
    outs.push(Out::Control(ControlTopic::MemberRemoved {
        group_id: group.id,
        user_id: me,
    }));
    Ok(Answer {
        result: json!({"group": group.id}),
        outs,
    })
}

pub(crate) async fn invite(ctx: &Ctx<'_>, params: GroupRef) -> Result<Answer, Failure> {
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    // A new token replaces (and so revokes) the previous one.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let mut update: groups::ActiveModel = group.clone().into();
    update.invite_token = Set(Some(token.clone()));
    update.update(&txn).await?;
    txn.commit().await?;
    Ok(Answer::only(json!({"group": group.id, "token": token})))
}

pub(crate) async fn revoke_invite(ctx: &Ctx<'_>, params: GroupRef) -> Result<Answer, Failure> {
    let txn = ctx.db.begin().await?;
    let group = live_group(&txn, params.group).await?;
    require_admin(&txn, group.id, ctx.caller.user).await?;
    let mut update: groups::ActiveModel = group.clone().into();
    update.invite_token = Set(None);
    update.update(&txn).await?;
    txn.commit().await?;
    Ok(Answer::only(json!({"group": group.id})))
}

pub(crate) async fn join(ctx: &Ctx<'_>, params: GroupJoin) -> Result<Answer, Failure> {
    let me = ctx.caller.user;
    let invalid = || Failure(Refusal::InvalidInvite);
    if params.token.is_empty() || params.token.len() > 64 {
        return Err(invalid());
    }
    let txn = ctx.db.begin().await?;
    let group = groups::Entity::find()
        .filter(groups::Column::InviteToken.eq(params.token.as_str()))
        .filter(groups::Column::DeletedAt.is_null())
        .one(&txn)
        .await?
        .ok_or_else(invalid)?;
    if group_members::Entity::find_by_id((group.id, me))
        .one(&txn)
        .await?
        .is_some()
    {
        return Ok(Answer::only(json!({"group": group.id})));
    }
    let limit = u64::try_from(group.member_limit).unwrap_or(0);
    if member_count(&txn, group.id).await? + 1 > limit {
        return Err(over_limit(u32::try_from(limit).unwrap_or(u32::MAX)));
    }
    insert_member(&txn, group.id, me, MEMBER, ctx.caller.now).await?;
    let outs = system_event(
        ctx,
        &txn,
        group.id,
        json!({"event": "joined", "by": me}),
        &[],
    )
    .await?;
    txn.commit().await?;
    Ok(Answer {
        result: json!({"group": group.id}),
        outs,
    })
}

/// Appends a system event to the group's conversation, delivered to every current member
/// (the actor's other devices too) and to `also` (people who just left or were removed).
async fn system_event(
    ctx: &Ctx<'_>,
    txn: &DatabaseTransaction,
    group_id: i64,
    event: Value,
    also: &[i64],
) -> Result<Vec<Out>, Failure> {
    let conversation = store::conversation_of_group(txn, group_id, ctx.caller.now).await?;
    let mut recipients: Vec<i64> = group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    recipients.extend_from_slice(also);
    recipients.sort_unstable();
    recipients.dedup();
    crate::calls::system_entry(txn, &conversation, ctx.caller, &event, &recipients).await
}

/// Of `users`, those who exist and do not block `actor`; and the others.
async fn addable(
    txn: &impl ConnectionTrait,
    actor: i64,
    users: &[i64],
) -> Result<(Vec<i64>, Vec<i64>), Failure> {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for &user in users {
        let live = users::Entity::find_by_id(user)
            .one(txn)
            .await?
            .is_some_and(|u| u.deleted_at.is_none() && u.phone.is_some());
        let blocks_actor = blocks::Entity::find_by_id((user, actor))
            .one(txn)
            .await?
            .is_some();
        if live && !blocks_actor {
            ok.push(user);
        } else {
            skipped.push(user);
        }
    }
    Ok((ok, skipped))
}

async fn insert_member(
    txn: &impl ConnectionTrait,
    group_id: i64,
    user_id: i64,
    role: &str,
    now: i64,
) -> Result<(), Failure> {
    group_members::ActiveModel {
        group_id: Set(group_id),
        user_id: Set(user_id),
        role: Set(role.to_owned()),
        joined_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

async fn live_group(txn: &impl ConnectionTrait, group_id: i64) -> Result<groups::Model, Failure> {
    groups::Entity::find_by_id(group_id)
        .one(txn)
        .await?
        .filter(|group| group.deleted_at.is_none())
        .ok_or(Failure(Refusal::UnknownGroup(group_id)))
}

async fn require_admin(
    txn: &impl ConnectionTrait,
    group_id: i64,
    user: i64,
) -> Result<(), Failure> {
    match group_members::Entity::find_by_id((group_id, user))
        .one(txn)
        .await?
    {
        Some(member) if member.role == ADMIN => Ok(()),
        Some(_) => Err(Refusal::NotAnAdmin.into()),
        None => Err(not_a_member()),
    }
}

async fn member_count(txn: &impl ConnectionTrait, group_id: i64) -> Result<u64, Failure> {
    Ok(group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .count(txn)
        .await?)
}

async fn admin_count(txn: &impl ConnectionTrait, group_id: i64) -> Result<u64, Failure> {
    Ok(group_members::Entity::find()
        .filter(group_members::Column::GroupId.eq(group_id))
        .filter(group_members::Column::Role.eq(ADMIN))
        .count(txn)
        .await?)
}

fn check_user_count(users: &[i64]) -> Result<(), Failure> {
    if users.is_empty() || users.len() > MAX_USERS_PER_CALL {
        return Err(bad_params("name 1 to 256 users"));
    }
    Ok(())
}

/// `text` trimmed, at most `max` characters, no control characters; empty only if allowed.
fn checked_text(
    text: &str,
    field: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<String, Failure> {
    let text = text.trim();
    if (!may_be_empty && text.is_empty())
        || text.chars().count() > max
        || text.chars().any(|c| c.is_control() && c != '\n')
    {
        let empty = if may_be_empty { "" } else { "1 to " };
        return Err(bad_params(format!(
            "{field} must have {empty}{max} characters and no control characters"
        )));
    }
    Ok(text.to_owned())
}

fn not_a_member() -> Failure {
    Failure(Refusal::NotAMember)
}

fn over_limit(limit: u32) -> Failure {
    Failure(Refusal::GroupFull(limit))
}

fn bad_params(message: impl Into<String>) -> Failure {
    Failure(Refusal::BadParams(message.into()))
}
