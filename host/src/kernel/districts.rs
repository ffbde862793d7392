//! Districts: the unit an administrator manages and apps are installed into.

use serde::Serialize;

use crate::kernel::store::{Store, StoreError, is_unique_violation};

/// A district (区).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct District {
    /// Stable identifier used in URLs (`/d/{id}/…`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
    /// The most calls of its apps alive at once, as the platform
    /// administrator set it; none for the host's default share.
    pub max_calls: Option<i64>,
}

impl Store {
    /// Create a district; a second district with the same id is a conflict.
    pub async fn create_district(&self, id: &str, name: &str) -> Result<District, StoreError> {
        let created_at = self.clock().now_ms();
        sqlx::query("INSERT INTO districts (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(created_at)
            .execute(self.pool())
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("district `{id}` already exists"))
                } else {
                    e.into()
                }
            })?;
        Ok(District {
            id: id.to_owned(),
            name: name.to_owned(),
            created_at,
            max_calls: None,
        })
    }

    /// All districts, by id.
    pub async fn list_districts(&self) -> Result<Vec<District>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at, max_calls FROM districts ORDER BY id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Set the most calls of `id`'s apps alive at once (none: the host's
    /// default).
    pub async fn set_district_calls(
        &self,
        id: &str,
        max_calls: Option<i64>,
    ) -> Result<District, StoreError> {
        sqlx::query("UPDATE districts SET max_calls = $1 WHERE id = $2")
            .bind(max_calls)
            .bind(id)
            .execute(self.pool())
            .await?;
        self.get_district(id).await
    }

    /// Whether district `id` exists. Every request scoped to a district
    /// asks, so a district once found is remembered: nothing in the host
    /// deletes a district (and the tables of its accounts, installs,
    /// community data and cases refer to it), so what was seen to exist,
    /// in this process or another, still does. One not found is asked
    /// again each time, and the set grows only with the districts table.
    /// A district removed by hand from the database stays known to running
    /// processes until they restart.
    pub async fn district_exists(&self, id: &str) -> Result<bool, StoreError> {
        if self
            .known_districts()
            .read()
            .is_ok_and(|known| known.contains(id))
        {
            return Ok(true);
        }
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM districts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        if found.is_some()
            && let Ok(mut known) = self.known_districts().write()
        {
            known.insert(id.into());
        }
        Ok(found.is_some())
    }

    /// One district, or `NotFound`.
    pub async fn get_district(&self, id: &str) -> Result<District, StoreError> {
        sqlx::query_as("SELECT id, name, created_at, max_calls FROM districts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("district `{id}`")))
    }
}
