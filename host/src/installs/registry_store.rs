//! Registry installs' state: the publisher keys each district trusts, the
//! registries it installs from, and the last log head this host saw from
//! each registry.

use serde::Serialize;

use crate::kernel::store::{Store, StoreError, is_unique_violation};

/// A publisher key a district trusts, or did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TrustedKeyRow {
    /// The district.
    pub district: String,
    /// The key's id (16 hex digits).
    pub key_id: String,
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// Who it belongs to, for administrators.
    pub name: String,
    /// When it was trusted, ms since the Unix epoch.
    pub added_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A registry a district installs from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DistrictRegistry {
    /// The district.
    pub district: String,
    /// The registry's URL.
    pub location: String,
    /// Who added it.
    pub added_by: String,
    /// When, ms since the Unix epoch.
    pub added_at: i64,
}

impl Store {
    /// Add a registry to a district's list; adding one twice is a conflict.
    pub async fn add_district_registry(
        &self,
        district: &str,
        location: &str,
        added_by: &str,
    ) -> Result<DistrictRegistry, StoreError> {
        let row = DistrictRegistry {
            district: district.to_owned(),
            location: location.to_owned(),
            added_by: added_by.to_owned(),
            added_at: self.clock().now_ms(),
        };
        let inserted = sqlx::query(
            "INSERT INTO district_registries (district, location, added_by, added_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.district)
        .bind(&row.location)
        .bind(&row.added_by)
        .bind(row.added_at)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(row),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "district `{district}` already installs from `{location}`"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A district's registries, by location.
    pub async fn district_registries(
        &self,
        district: &str,
    ) -> Result<Vec<DistrictRegistry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT district, location, added_by, added_at FROM district_registries \
             WHERE district = $1 ORDER BY location",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?)
    }

    /// Take a registry off a district's list.
    pub async fn remove_district_registry(
        &self,
        district: &str,
        location: &str,
    ) -> Result<(), StoreError> {
        let removed =
            sqlx::query("DELETE FROM district_registries WHERE district = $1 AND location = $2")
                .bind(district)
                .bind(location)
                .execute(self.pool())
                .await?
                .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound(format!(
                "registry `{location}` of district `{district}`"
            )));
        }
        Ok(())
    }

    /// Trust a key in a district. Trusting a revoked key again is a
    /// conflict: revocation is kept on record; it cannot be undone silently.
    pub async fn trust_key(
        &self,
        district: &str,
        key_id: &str,
        public_key: &str,
        name: &str,
    ) -> Result<TrustedKeyRow, StoreError> {
        let now = self.clock().now_ms();
        sqlx::query(
            "INSERT INTO trusted_keys (district, key_id, public_key, name, added_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(district)
        .bind(key_id)
        .bind(public_key)
        .bind(name)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!(
                    "district `{district}` already has key {key_id} on record (trusted or revoked); see `hutong registry keys --district {district}`"
                ))
            } else {
                e.into()
            }
        })?;
        Ok(TrustedKeyRow {
            district: district.to_owned(),
            key_id: key_id.to_owned(),
            public_key: public_key.to_owned(),
            name: name.to_owned(),
            added_at: now,
            revoked_at: None,
        })
    }

    /// A district's keys, trusted and revoked, oldest first.
    pub async fn trusted_keys(&self, district: &str) -> Result<Vec<TrustedKeyRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT district, key_id, public_key, name, added_at, revoked_at FROM trusted_keys \
             WHERE district = $1 ORDER BY added_at, key_id",
        )
        .bind(district)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revoke a trusted key; `NotFound` if the district never trusted it or
    /// already revoked it.
    pub async fn revoke_key(&self, district: &str, key_id: &str) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE trusted_keys SET revoked_at = $1 \
             WHERE district = $2 AND key_id = $3 AND revoked_at IS NULL",
        )
        .bind(self.clock().now_ms())
        .bind(district)
        .bind(key_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound(format!(
                "a trusted key {key_id} in district `{district}`"
            )));
        }
        Ok(())
    }

    /// The last log head this host saw from `registry`: (size, hash).
    pub async fn registry_head(&self, registry: &str) -> Result<Option<(u64, String)>, StoreError> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT size, head FROM registry_heads WHERE registry = $1")
                .bind(registry)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(size, head)| (size.max(0) as u64, head)))
    }

    /// Move the remembered head of `registry` from `seen` (none: no head
    /// yet) to `new`. False, changing nothing, if another process moved it
    /// first: the caller checks the log again against the newer head.
    pub async fn advance_registry_head(
        &self,
        registry: &str,
        seen: Option<(u64, &str)>,
        new: (u64, &str),
    ) -> Result<bool, StoreError> {
        let now = self.clock().now_ms();
        let size = i64::try_from(new.0).unwrap_or(i64::MAX);
        let changed = match seen {
            None => sqlx::query(
                "INSERT INTO registry_heads (registry, size, head, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (registry) DO NOTHING",
            )
            .bind(registry)
            .bind(size)
            .bind(new.1)
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected(),
            Some((old_size, old_head)) => sqlx::query(
                "UPDATE registry_heads SET size = $1, head = $2, updated_at = $3 \
                 WHERE registry = $4 AND size = $5 AND head = $6",
            )
            .bind(size)
            .bind(new.1)
            .bind(now)
            .bind(registry)
            .bind(i64::try_from(old_size).unwrap_or(i64::MAX))
            .bind(old_head)
            .execute(self.pool())
            .await?
            .rows_affected(),
        };
        Ok(changed == 1)
    }
}
