//! App key-value data, one keyspace per (district, app).

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// One page of keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys in ascending byte order.
    pub keys: Vec<String>,
    /// The cursor for the next page; none on the last page.
    pub next_cursor: Option<String>,
}

/// The smallest string greater than every string starting with `prefix`, if
/// there is one. Keys sort bytewise on both back ends, and UTF-8 byte order is
/// code-point order, so `prefix <= key < upper` selects exactly the keys that
/// start with `prefix` while letting the primary-key index bound the scan.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Store {
    /// The value under `key`.
    pub async fn kv_get(
        &self,
        district: &str,
        app: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM kv WHERE district = $1 AND app = $2 AND key = $3")
            .bind(district)
            .bind(app)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("value")?),
            None => None,
        })
    }

    /// Store `value` under `key`, replacing any previous value.
    pub async fn kv_set(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO kv (district, app, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (district, app, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(district)
        .bind(app)
        .bind(key)
        .bind(value)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Store `value` under `key` only if absent; true when this call stored it.
    /// Atomic on both back ends: the primary key decides the one winner.
    pub async fn kv_insert_if_absent(
        &self,
        district: &str,
        app: &str,
        key: &str,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO kv (district, app, key, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (district, app, key) DO NOTHING",
        )
        .bind(district)
        .bind(app)
        .bind(key)
        .bind(value)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Remove `key`; true when it existed.
    pub async fn kv_delete(
        &self,
        district: &str,
        app: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM kv WHERE district = $1 AND app = $2 AND key = $3")
            .bind(district)
            .bind(app)
            .bind(key)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    /// Keys starting with `prefix`, after `cursor`, at most `limit`.
    pub async fn kv_list(
        &self,
        district: &str,
        app: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KeyPage, StoreError> {
        // Start strictly after the cursor, or at the prefix itself.
        let (lower, lower_op) = match cursor {
            Some(c) if c >= prefix => (c, ">"),
            _ => (prefix, ">="),
        };
        let upper = prefix_upper_bound(prefix);
        let fetch = i64::from(limit) + 1;
        let rows = match &upper {
            Some(upper) => {
                sqlx::query(&format!(
                    "SELECT key FROM kv WHERE district = $1 AND app = $2 AND key {lower_op} $3 \
                     AND key < $4 ORDER BY key LIMIT $5"
                ))
                .bind(district)
                .bind(app)
                .bind(lower)
                .bind(upper.as_str())
                .bind(fetch)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT key FROM kv WHERE district = $1 AND app = $2 AND key {lower_op} $3 \
                     ORDER BY key LIMIT $4"
                ))
                .bind(district)
                .bind(app)
                .bind(lower)
                .bind(fetch)
                .fetch_all(self.pool())
                .await?
            }
        };
        let mut keys = rows
            .iter()
            .map(|r| r.try_get::<String, _>("key"))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if keys.len() > limit as usize {
            keys.truncate(limit as usize);
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn upper_bound_increments_last_char() {
        assert_eq!(prefix_upper_bound("user:"), Some("user;".to_owned()));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_upper_bound("\u{D7FF}"), Some("\u{E000}".to_owned()));
    }
}
