//! Runs the accounts scenarios against a real database: SQLite in memory always, and
//! PostgreSQL when `NATTER_TEST_POSTGRES_URL` is set (a fresh `natter_t_<uuid>` database per
//! test, dropped afterwards; a set variable whose server is unreachable fails the test).
//!
//! Each scenario is an `async fn(DatabaseConnection)` on a migrated, empty database; the
//! `scenarios!` list turns it into one test per backend, `on_sqlite::…` and `on_postgres::…`.

mod authentication;
mod harness;
mod membership;
mod provisioning;
mod registration;

/// Declares one `#[tokio::test]` per backend for each `module::scenario`.
macro_rules! scenarios {
    ($($module:ident :: $scenario:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    crate::harness::on_sqlite(crate::$module::$scenario).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    crate::harness::on_postgres(crate::$module::$scenario).await;
                }
            )*
        }
    };
}

scenarios![
    provisioning::created_user_gets_working_credentials,
    provisioning::phone_numbers_are_stored_in_e164,
    provisioning::invalid_phone_numbers_are_rejected,
    provisioning::duplicate_phone_numbers_are_rejected,
    provisioning::operators_need_no_phone_number,
    provisioning::added_devices_get_their_own_credentials,
    provisioning::devices_of_unknown_or_deleted_users_are_refused,
    authentication::wrong_passwords_are_rejected,
    authentication::unknown_usernames_are_rejected,
    authentication::revoked_devices_are_rejected,
    authentication::devices_of_deleted_users_are_rejected,
    authentication::the_stored_hash_is_not_the_password,
    membership::members_of_live_groups_are_members,
    registration::a_code_that_could_not_be_sent_is_forgotten,
    registration::one_code_verified_twice_at_once_makes_one_device,
    registration::numbers_added_again_count_against_the_daily_limit,
    registration::a_number_gets_a_limited_number_of_codes_per_day,
];
