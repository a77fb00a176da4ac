//! `candor sites ...`, `candor tokens ...` and `candor import ...`: thin clients of a running
//! server's admin API.

use std::path::Path;

use anyhow::Context;
use serde_json::{json, Value};

use crate::cli::{ImportCommand, ServerArgs, SitesCommand, TokensCommand};

pub async fn sites(server: ServerArgs, command: SitesCommand) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    match command {
        SitesCommand::Add {
            domain,
            timezone,
            retention_days,
            allowed_origins,
        } => {
            let mut body = json!({"domain": domain});
            if let Some(tz) = timezone {
                body["timezone"] = json!(tz);
            }
            if let Some(days) = retention_days {
                body["retention_days"] = json!(days);
            }
            if !allowed_origins.is_empty() {
                body["allowed_origins"] = json!(allowed_origins);
            }
            let site = api
                .send(reqwest::Method::POST, "/api/v1/sites", Some(body))
                .await?;
            println!(
                "{}  timezone={}  retention_days={}",
                site["domain"].as_str().unwrap_or(""),
                site["timezone"].as_str().unwrap_or(""),
                site["retention_days"]
            );
        }
        SitesCommand::List => {
            let out = api
                .send(reqwest::Method::GET, "/api/v1/sites", None)
                .await?;
            for s in out["sites"].as_array().into_iter().flatten() {
                println!(
                    "{}  timezone={}  retention_days={}",
                    s["domain"].as_str().unwrap_or(""),
                    s["timezone"].as_str().unwrap_or(""),
                    s["retention_days"]
                );
            }
        }
    }
    Ok(())
}

/// `candor backup <dir>`: the running server writes the backup on its machine.
pub async fn backup(server: ServerArgs, dir: String) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let out = api
        .send(
            reqwest::Method::POST,
            "/api/v1/backup",
            Some(json!({ "dir": dir })),
        )
        .await?;
    println!(
        "backup written to {} in {:.1} s",
        out["dir"].as_str().unwrap_or(""),
        out["seconds"].as_f64().unwrap_or(0.0)
    );
    println!(
        "server key: {}",
        out["manifest"]["server_key"].as_str().unwrap_or("")
    );
    Ok(())
}

pub async fn tokens(server: ServerArgs, command: TokensCommand) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    match command {
        TokensCommand::Create {
            name,
            scopes,
            sites,
        } => {
            let out = api
                .send(
                    reqwest::Method::POST,
                    "/api/v1/tokens",
                    Some(json!({"name": name, "scopes": scopes, "sites": sites})),
                )
                .await?;
            println!("id:    {}", out["id"].as_str().unwrap_or(""));
            println!("token: {}", out["token"].as_str().unwrap_or(""));
            eprintln!("(the token is shown only now; store it somewhere safe)");
        }
        TokensCommand::Revoke { id } => {
            api.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                None,
            )
            .await?;
            println!("revoked {id}");
        }
        TokensCommand::List => {
            let out = api
                .send(reqwest::Method::GET, "/api/v1/tokens", None)
                .await?;
            for t in out["tokens"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  scopes={}  sites={}",
                    t["id"].as_str().unwrap_or(""),
                    t["name"].as_str().unwrap_or(""),
                    t["scopes"],
                    t["sites"]
                );
            }
        }
    }
    Ok(())
}

pub async fn import(server: ServerArgs, command: ImportCommand) -> anyhow::Result<()> {
    let api = Api::new(server)?;
    let line = |i: &Value| {
        format!(
            "{}  {} to {}  rows={}  files={}",
            i["id"].as_str().unwrap_or(""),
            i["start_date"].as_str().unwrap_or(""),
            i["end_date"].as_str().unwrap_or(""),
            i["rows"],
            i["files"].as_array().map(Vec::len).unwrap_or(0)
        )
    };
    match command {
        ImportCommand::Plausible { path, site } => {
            let zip = export_zip(&path)?;
            let out = api
                .upload(&format!("/api/v1/sites/{site}/imports"), zip)
                .await?;
            if out["created"] == json!(true) {
                println!("imported {}", line(&out["import"]));
            } else {
                println!(
                    "already imported, nothing changed: {}",
                    line(&out["import"])
                );
            }
        }
        ImportCommand::List { site } => {
            let out = api
                .send(
                    reqwest::Method::GET,
                    &format!("/api/v1/sites/{site}/imports"),
                    None,
                )
                .await?;
            for i in out["imports"].as_array().into_iter().flatten() {
                println!("{}", line(i));
            }
        }
        ImportCommand::Delete { id, site } => {
            api.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/sites/{site}/imports/{id}"),
                None,
            )
            .await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

/// The export as a zip: the file itself, or a directory's `*.csv` files packed into one.
fn export_zip(path: &Path) -> anyhow::Result<Vec<u8>> {
    if !path.is_dir() {
        return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    }
    let mut files = Vec::new();
    for entry in
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".csv") && entry.path().is_file() {
            let content = std::fs::read(entry.path())
                .with_context(|| format!("cannot read {}", entry.path().display()))?;
            files.push((name, content));
        }
    }
    if files.is_empty() {
        anyhow::bail!("{} holds no .csv file", path.display());
    }
    files.sort();
    Ok(crate::imports::to_zip(&files)?)
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: ServerArgs) -> anyhow::Result<Api> {
        let token = server
            .token
            .or_else(|| std::env::var("CANDOR_ADMIN_TOKEN").ok())
            .ok_or_else(|| anyhow::anyhow!("no admin token: pass --token or set CANDOR_TOKEN"))?;
        Ok(Api {
            http: reqwest::Client::new(),
            base: server.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Uploads a zip archive.
    async fn upload(&self, path: &str, zip: Vec<u8>) -> anyhow::Result<Value> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/zip")
            .body(zip);
        self.answer(req).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.answer(req).await
    }

    /// Sends a request; its JSON answer, or the server's error message.
    async fn answer(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let msg = value["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            anyhow::bail!("{status}: {msg}");
        }
        Ok(value)
    }
}
