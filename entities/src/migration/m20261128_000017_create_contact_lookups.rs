//! Creates `contact_lookups`: how many new numbers each account looked up per UTC day (the
//! contact-discovery rate limit), keyed by (`owner_id`, `day`), cascading from `users`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ContactLookups::Table)
                    .col(big_integer(ContactLookups::OwnerId))
                    .col(big_integer(ContactLookups::Day))
                    .col(big_integer(ContactLookups::NNumbers).default(0))
                    .primary_key(
                        Index::create()
                            .name("pk_contact_lookups")
                            .col(ContactLookups::OwnerId)
                            .col(ContactLookups::Day),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contact_lookups_owner_id")
                            .from(ContactLookups::Table, ContactLookups::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ContactLookups::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ContactLookups {
    Table,
    OwnerId,
    Day,
    NNumbers,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
