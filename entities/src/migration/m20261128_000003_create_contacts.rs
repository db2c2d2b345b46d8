//! Creates `contacts`, keyed by (`owner_id`, `phone`) and indexed by `contact_user_id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite has transactional DDL too; without this a failed step leaves half a schema.
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(big_integer(Contacts::OwnerId))
                    .col(string(Contacts::Phone))
                    .col(big_integer_null(Contacts::ContactUserId))
                    .col(big_integer(Contacts::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_contacts")
                            .col(Contacts::OwnerId)
                            .col(Contacts::Phone),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_owner_id")
                            .from(Contacts::Table, Contacts::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_contact_user_id")
                            .from(Contacts::Table, Contacts::ContactUserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_contacts_contact_user_id")
                    .table(Contacts::Table)
                    .col(Contacts::ContactUserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Contacts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    OwnerId,
    Phone,
    ContactUserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
