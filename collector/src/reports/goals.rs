//! Goals: a custom event name or a page path (with `*`/`**` wildcards) whose visitors count
//! as conversions. Kept in the store (`goals`, one version per change) and cached here;
//! every collector reloads the cache with its other caches.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::store::{fetch, insert_rows, InsertOptions, Params, Store, StoreError};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Goal {
    pub id: String,
    pub site: String,
    /// `event` or `page`.
    pub goal_type: &'static str,
    /// Set for event goals.
    pub event_name: Option<String>,
    /// Set for page goals.
    pub page_path: Option<String>,
    /// What reports call it: the event name, or `Visit <path>`.
    pub display_name: String,
    pub created_at: u32,
}

/// What an admin sends: exactly one of `event_name` and `page_path`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalRequest {
    pub event_name: Option<String>,
    pub page_path: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct GoalRow {
    site: String,
    id: String,
    event_name: String,
    page_path: String,
    display_name: String,
    created_at: u32,
    deleted: u8,
    version: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GoalError {
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> GoalError {
    GoalError::Invalid {
        field,
        message: message.into(),
    }
}

pub struct Goals {
    store: Arc<dyn Store>,
    cache: RwLock<BTreeMap<String, Vec<Goal>>>,
}

impl Goals {
    pub async fn load(store: Arc<dyn Store>) -> Result<Goals, StoreError> {
        let goals = Goals {
            store,
            cache: RwLock::new(BTreeMap::new()),
        };
        goals.refresh().await?;
        Ok(goals)
    }

    pub async fn refresh(&self) -> Result<(), StoreError> {
        let rows: Vec<GoalRow> = fetch(
            self.store.as_ref(),
            "SELECT site, id, event_name, page_path, display_name, toUnixTimestamp(created_at) AS created_at, deleted, version
             FROM goals FINAL WHERE deleted = 0 ORDER BY site, created_at, id",
            &Params::new(),
        )
        .await?;
        let mut map: BTreeMap<String, Vec<Goal>> = BTreeMap::new();
        for r in rows {
            map.entry(r.site.clone()).or_default().push(goal_from(r));
        }
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    pub fn list(&self, site: &str) -> Vec<Goal> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(site)
            .cloned()
            .unwrap_or_default()
    }

    pub async fn create(&self, site: &str, req: GoalRequest) -> Result<Goal, GoalError> {
        let (event_name, page_path) = match (req.event_name, req.page_path) {
            (Some(e), None) => {
                let e = e.trim().to_string();
                if e.is_empty() || e.chars().count() > 120 || e == "pageview" {
                    return Err(invalid(
                        "event_name",
                        "event_name must be 1 to 120 characters and not \"pageview\" (use page_path)",
                    ));
                }
                (e, String::new())
            }
            (None, Some(p)) => {
                let p = p.trim().to_string();
                if !p.starts_with('/') || p.chars().count() > 2048 {
                    return Err(invalid(
                        "page_path",
                        "page_path must start with / (wildcards * and ** allowed)",
                    ));
                }
                (String::new(), p)
            }
            _ => {
                return Err(invalid(
                    "event_name",
                    "give exactly one of event_name and page_path",
                ))
            }
        };
        let display_name = match req.display_name.map(|d| d.trim().to_string()) {
            Some(d) if d.is_empty() || d.chars().count() > 120 => {
                return Err(invalid(
                    "display_name",
                    "display_name must be 1 to 120 characters",
                ))
            }
            Some(d) => d,
            None if !event_name.is_empty() => event_name.clone(),
            None => format!("Visit {page_path}"),
        };
        let existing = self.list(site);
        if existing.iter().any(|g| g.display_name == display_name) {
            return Err(invalid(
                "display_name",
                format!("the site already has a goal named {display_name:?}"),
            ));
        }
        let row = GoalRow {
            site: site.to_string(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            event_name,
            page_path,
            display_name,
            created_at: clock::unix_seconds(),
            deleted: 0,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "goals",
            &[&row],
            &InsertOptions::default(),
        )
        .await?;
        let goal = goal_from(row);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(site.to_string())
            .or_default()
            .push(goal.clone());
        Ok(goal)
    }

    /// Deletes a goal; false when the site has no goal with that id.
    pub async fn delete(&self, site: &str, id: &str) -> Result<bool, GoalError> {
        let Some(goal) = self.list(site).into_iter().find(|g| g.id == id) else {
            return Ok(false);
        };
        let row = GoalRow {
            site: goal.site.clone(),
            id: goal.id.clone(),
            event_name: goal.event_name.clone().unwrap_or_default(),
            page_path: goal.page_path.clone().unwrap_or_default(),
            display_name: goal.display_name.clone(),
            created_at: goal.created_at,
            deleted: 1,
            version: clock::version(),
        };
        insert_rows(
            self.store.as_ref(),
            "goals",
            &[&row],
            &InsertOptions::default(),
        )
        .await?;
        if let Some(list) = self
            .cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(site)
        {
            list.retain(|g| g.id != id);
        }
        Ok(true)
    }
}

fn goal_from(r: GoalRow) -> Goal {
    let is_event = !r.event_name.is_empty();
    Goal {
        id: r.id,
        site: r.site,
        goal_type: if is_event { "event" } else { "page" },
        event_name: is_event.then_some(r.event_name),
        page_path: (!is_event).then_some(r.page_path),
        display_name: r.display_name,
        created_at: r.created_at,
    }
}
