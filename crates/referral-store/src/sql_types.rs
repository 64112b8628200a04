//! SQL types that are native on PostgreSQL and portable text on SQLite.
//!
//! Diesel's `MultiConnection` cannot carry `Uuid`, `Timestamptz`, `Jsonb`, `Array` or `Inet`
//! columns. Each type here is the native type on PostgreSQL (by oid) and `TEXT` on SQLite,
//! with `ToSql`/`FromSql` for both backends and for the multi backend, so that one schema
//! and one query serve both databases.
//!
//! The Rust side of each type is a small local newtype (`DbUuid`, `DbTime`, ...): Diesel's
//! `AsExpression` cannot be implemented for foreign types such as `uuid::Uuid` here.

use crate::conn::MultiBackend;
use chrono::{DateTime, Utc};
use diesel::deserialize::FromSqlRow;
use diesel::deserialize::{self, FromSql};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{HasSqlType, SqlType};
use diesel::sqlite::Sqlite;
use std::net::IpAddr;
use uuid::Uuid;

/// `uuid` on PostgreSQL, `TEXT` (hyphenated, lower-case) on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableUuid;

/// `timestamptz` on PostgreSQL, `TEXT` (RFC 3339, UTC, microseconds) on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableTimestamptz;

/// `jsonb` on PostgreSQL, `TEXT` holding JSON on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableJson;

/// `text[]` on PostgreSQL, `TEXT` holding a JSON array of strings on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1009, array_oid = 1009))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableTextArray;

/// `inet` on PostgreSQL, `TEXT` on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 869, array_oid = 1041))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableInet;

/// A UUID bound to or read from a [`PortableUuid`] column.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, AsExpression, FromSqlRow, serde::Deserialize,
)]
#[serde(transparent)]
#[diesel(sql_type = PortableUuid)]
pub struct DbUuid(pub Uuid);

/// An instant bound to or read from a [`PortableTimestamptz`] column.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow, serde::Deserialize,
)]
#[serde(transparent)]
#[diesel(sql_type = PortableTimestamptz)]
pub struct DbTime(pub DateTime<Utc>);

/// A JSON document bound to or read from a [`PortableJson`] column.
#[derive(Debug, Clone, PartialEq, AsExpression, FromSqlRow, serde::Deserialize)]
#[serde(transparent)]
#[diesel(sql_type = PortableJson)]
pub struct DbJson(pub serde_json::Value);

/// A list of strings bound to or read from a [`PortableTextArray`] column.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow, serde::Deserialize)]
#[serde(transparent)]
#[diesel(sql_type = PortableTextArray)]
pub struct DbTextList(pub Vec<String>);

/// An IP address bound to or read from a [`PortableInet`] column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = PortableInet)]
pub struct DbInet(pub IpAddr);

impl<T: Into<Uuid>> From<T> for DbUuid {
    fn from(id: T) -> Self {
        DbUuid(id.into())
    }
}

/// The multi-backend half that every portable type shares: metadata lookup, binding and
/// reading dispatch to the backend in use.
macro_rules! multi_backend_impls {
    ($sql_type:ty, $rust_type:ty) => {
        impl HasSqlType<$sql_type> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql_type>(lookup)
            }
        }

        impl ToSql<$sql_type, MultiBackend> for $rust_type {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value((<$sql_type>::default(), self));
                Ok(IsNull::No)
            }
        }

        impl FromSql<$sql_type, MultiBackend> for $rust_type {
            fn from_sql(
                bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, $sql_type>()
            }
        }
    };
}

/// SQLite stores the portable types as text; these read and write that text.
fn sqlite_text(
    bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
) -> deserialize::Result<String> {
    <String as FromSql<diesel::sql_types::Text, Sqlite>>::from_sql(bytes)
}

// --- uuid -------------------------------------------------------------------------------

impl ToSql<PortableUuid, Pg> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Uuid as ToSql<diesel::sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableUuid, Pg> for DbUuid {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <Uuid as FromSql<diesel::sql_types::Uuid, Pg>>::from_sql(bytes).map(DbUuid)
    }
}
impl ToSql<PortableUuid, Sqlite> for DbUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PortableUuid, Sqlite> for DbUuid {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(DbUuid(Uuid::parse_str(&sqlite_text(bytes)?)?))
    }
}
multi_backend_impls!(PortableUuid, DbUuid);

// --- timestamptz ------------------------------------------------------------------------

/// SQLite text format: fixed width, so text order is time order.
const SQLITE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl ToSql<PortableTimestamptz, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<diesel::sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableTimestamptz, Pg> for DbTime {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<diesel::sql_types::Timestamptz, Pg>>::from_sql(bytes).map(DbTime)
    }
}
impl ToSql<PortableTimestamptz, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.format(SQLITE_TIME_FORMAT).to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PortableTimestamptz, Sqlite> for DbTime {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(DbTime(
            DateTime::parse_from_rfc3339(&sqlite_text(bytes)?)?.with_timezone(&Utc),
        ))
    }
}
multi_backend_impls!(PortableTimestamptz, DbTime);

// --- jsonb ------------------------------------------------------------------------------

impl ToSql<PortableJson, Pg> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<diesel::sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableJson, Pg> for DbJson {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<diesel::sql_types::Jsonb, Pg>>::from_sql(bytes).map(DbJson)
    }
}
impl ToSql<PortableJson, Sqlite> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
impl FromSql<PortableJson, Sqlite> for DbJson {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(DbJson(serde_json::from_str(&sqlite_text(bytes)?)?))
    }
}
multi_backend_impls!(PortableJson, DbJson);

// --- text[] -----------------------------------------------------------------------------

type PgTextArray = diesel::sql_types::Array<diesel::sql_types::Text>;

impl ToSql<PortableTextArray, Pg> for DbTextList {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <Vec<String> as ToSql<PgTextArray, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableTextArray, Pg> for DbTextList {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <Vec<String> as FromSql<PgTextArray, Pg>>::from_sql(bytes).map(DbTextList)
    }
}
impl ToSql<PortableTextArray, Sqlite> for DbTextList {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
impl FromSql<PortableTextArray, Sqlite> for DbTextList {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(DbTextList(serde_json::from_str(&sqlite_text(bytes)?)?))
    }
}
multi_backend_impls!(PortableTextArray, DbTextList);

// --- inet -------------------------------------------------------------------------------

impl ToSql<PortableInet, Pg> for DbInet {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let network = ipnet::IpNet::from(self.0);
        <ipnet::IpNet as ToSql<diesel::sql_types::Inet, Pg>>::to_sql(&network, &mut out.reborrow())
    }
}
impl FromSql<PortableInet, Pg> for DbInet {
    fn from_sql(bytes: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        let network = <ipnet::IpNet as FromSql<diesel::sql_types::Inet, Pg>>::from_sql(bytes)?;
        Ok(DbInet(network.addr()))
    }
}
impl ToSql<PortableInet, Sqlite> for DbInet {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PortableInet, Sqlite> for DbInet {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        Ok(DbInet(sqlite_text(bytes)?.parse()?))
    }
}
multi_backend_impls!(PortableInet, DbInet);
